/* local.c - laptop identity, offline edits and the outbox. */
#include "local.h"

#include "arena.h"
#include "cert.h"
#include "changeset.h"
#include "error.h"
#include "hex.h"
#include "handshake.h"
#include "hlc.h"
#include "schema.h"
#include "seal.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int dir_path(char *out, size_t cap, const char *dir, const char *name) {
  return snprintf(out, cap, "%s/%s", dir, name) < (int)cap ? 0 : FS_EINVAL;
}

/* Puts the officer's area (and name) into the store at path, creating it.
 * FS_EINVAL when the store holds an area already: it is a device's. */
static int store_init(const char *path, const char *area, const char *officer) {
  fs_store s;
  int rc = fs_store_open(&s, path, FS_STORE_MAPSIZE_DEFAULT);
  if (rc)
    return rc == FS_EVERSION ? FS_EINVAL : rc; /* an older build's device */
  MDB_txn *txn;
  MDB_val v;
  if ((rc = fs_store_begin(&s, true, &txn)) == 0) {
    rc = fs_meta_get(&s, txn, "area", &v);
    if (rc == 0)
      rc = FS_EINVAL;
    else if (rc == FS_ENOTFOUND)
      rc = fs_meta_put(&s, txn, "area", area, strlen(area));
    if (rc == 0 && officer)
      rc = fs_meta_put(&s, txn, "officer", officer, strlen(officer));
    if (rc == 0)
      rc = fs_store_commit(txn);
    else
      mdb_txn_abort(txn);
  }
  fs_store_close(&s);
  return rc;
}

int fs_device_create(const char *dir, const char *area, const char *officer,
                     uint8_t pk[FS_PK_LEN]) {
  char keypath[1100], pubpath[1100], storepath[1100];
  if (!fs_area_valid(area))
    return FS_ESCOPE;
  if (dir_path(keypath, sizeof keypath, dir, "device.key") ||
      dir_path(pubpath, sizeof pubpath, dir, "device.key.pub") ||
      dir_path(storepath, sizeof storepath, dir, "store"))
    return FS_EINVAL;
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return -errno;
  /* A key already there is kept: an init that failed or was cut short
   * after writing it is finished with it, never given another. */
  struct stat st;
  bool fresh = stat(keypath, &st) != 0;
  if (fresh && stat(pubpath, &st) == 0)
    return FS_EKEYFILE; /* the rest of a device whose key is gone */
  fs_keypair kp;
  int rc = fresh ? fs_keypair_generate(&kp) : fs_keypair_load(&kp, keypath);
  if (rc)
    return rc;
  char comment[160];
  snprintf(comment, sizeof comment, "fieldsync device of %.100s", officer ? officer : "?");
  if (fresh && (rc = fs_keypair_save(&kp, keypath, comment))) {
    fs_keypair_free(&kp);
    return rc;
  }
  memcpy(pk, kp.pk, FS_PK_LEN);
  fs_keypair_free(&kp);
  rc = store_init(storepath, area, officer);
  if (rc && fresh) {
    /* Else the directory would hold a key no command can use. */
    unlink(keypath);
    unlink(pubpath);
    if (rc == FS_EINVAL)
      rc = FS_EKEYFILE; /* a device's store whose key is gone */
  }
  return rc;
}

int fs_device_open(fs_device *d, const char *dir) {
  memset(d, 0, sizeof *d);
  char keypath[1100], storepath[1100];
  if (snprintf(d->dir, sizeof d->dir, "%s", dir) >= (int)sizeof d->dir ||
      dir_path(keypath, sizeof keypath, dir, "device.key") ||
      dir_path(storepath, sizeof storepath, dir, "store"))
    return FS_EINVAL;
  int rc = fs_keypair_load(&d->key, keypath);
  if (rc)
    return rc;
  struct stat st;
  if (stat(storepath, &st) != 0) {
    fs_keypair_free(&d->key);
    return FS_ENOTFOUND;
  }
  if ((rc = fs_store_open_upgrade(&d->store, storepath, FS_STORE_MAPSIZE_DEFAULT))) {
    fs_keypair_free(&d->key);
    return rc;
  }
  /* Enrolment is optional for offline work, required for sync. */
  char netpath[1100];
  MDB_txn *txn;
  MDB_val v;
  if (dir_path(netpath, sizeof netpath, dir, "network.key") == 0 &&
      (d->netkey_rc = fs_netkey_load(d->netkey, netpath)) == 0 &&
      (d->has_netkey = true) && fs_store_begin(&d->store, false, &txn) == 0) {
    if (fs_meta_get(&d->store, txn, "root", &v) == 0 && v.mv_size == FS_PK_LEN) {
      memcpy(d->root, v.mv_data, FS_PK_LEN);
      d->enrolled = true;
    }
    if (fs_meta_get(&d->store, txn, "seal_pk", &v) == 0 && v.mv_size == 32) {
      memcpy(d->seal_pk, v.mv_data, 32);
      d->has_seal_pk = true;
    }
    mdb_txn_abort(txn);
  }
  return 0;
}

int fs_device_enrol(fs_device *d, const char *certfile, const char *netkey_path,
                    const uint8_t root[FS_PK_LEN], const uint8_t *seal_pk,
                    char *officer_out, size_t cap) {
  uint8_t netkey[FS_NETKEY_LEN];
  int rc = fs_netkey_load(netkey, netkey_path);
  if (rc)
    return rc;
  fs_certfile f;
  if ((rc = fs_certfile_read(&f, certfile))) {
    sodium_memzero(netkey, sizeof netkey);
    return rc;
  }
  ProtobufCBinaryData items[FS_CERTFILE_MAX];
  for (size_t i = 0; i < f.n; i++) {
    items[i].data = f.certs[i];
    items[i].len = f.lens[i];
  }
  rc = fs_certs_accept(&d->store, root, items, f.n);
  fs_certfile_free(&f);
  char area[FS_MAX_AREA + 1];
  fs_grant g;
  MDB_txn *txn;
  if (rc >= 0 && (rc = fs_device_area(d, area)) == 0 &&
      (rc = fs_store_begin(&d->store, true, &txn)) == 0) {
    /* The enrolment must cover the area this laptop records in. */
    rc = fs_trust_find(&d->store, txn, root, d->key.pk, FS__CERT_KIND__CERT_DEVICE, area,
                       fs_hlc_now_ms(), &g);
    if (rc == 0)
      rc = fs_meta_put(&d->store, txn, "root", root, FS_PK_LEN);
    if (rc == 0 && seal_pk)
      rc = fs_meta_put(&d->store, txn, "seal_pk", seal_pk, 32);
    if (rc == 0)
      rc = fs_store_commit(txn);
    else
      mdb_txn_abort(txn);
  }
  char netpath[1100];
  if (rc == 0 && (rc = dir_path(netpath, sizeof netpath, d->dir, "network.key")) == 0) {
    unlink(netpath); /* re-enrolment replaces it */
    rc = fs_netkey_save(netkey, netpath);
  }
  if (rc == 0) {
    memcpy(d->netkey, netkey, sizeof netkey);
    memcpy(d->root, root, FS_PK_LEN);
    d->enrolled = true;
    if (seal_pk) {
      memcpy(d->seal_pk, seal_pk, 32);
      d->has_seal_pk = true;
    }
    snprintf(officer_out, cap, "%s", g.officer);
  }
  sodium_memzero(netkey, sizeof netkey);
  return rc;
}

void fs_device_close(fs_device *d) {
  sodium_memzero(d->netkey, sizeof d->netkey);
  fs_store_close(&d->store);
  fs_keypair_free(&d->key);
}

static int area_in(fs_device *d, MDB_txn *txn, char *out) {
  MDB_val v;
  int rc = fs_meta_get(&d->store, txn, "area", &v);
  if (rc)
    return rc;
  if (v.mv_size == 0 || v.mv_size > FS_MAX_AREA)
    return FS_ESTORE;
  memcpy(out, v.mv_data, v.mv_size);
  out[v.mv_size] = '\0';
  return 0;
}

int fs_device_area(fs_device *d, char *out) {
  MDB_txn *txn;
  int rc = fs_store_begin(&d->store, false, &txn);
  if (rc)
    return rc;
  rc = area_in(d, txn, out);
  mdb_txn_abort(txn);
  return rc;
}

void fs_record_id_new(char out[33]) {
  /* The time first: a laptop's records sort in the order they were made,
   * and a node stores a batch of new ones side by side instead of on pages
   * all over its records (bench/NOTES.md). The random tail tells records
   * of the same moment apart, and fs_device_find accepts it alone. */
  uint8_t b[16];
  uint64_t ms = fs_hlc_now_ms();
  for (int i = 0; i < 6; i++)
    b[i] = (uint8_t)(ms >> (40 - 8 * i));
  randombytes_buf(b + 6, sizeof b - 6);
  fs_hex_encode(out, b, sizeof b);
}

/* Keeps the edit cs (one change) as a pending change and applies it to the
 * local records, inside txn: sealed into a signed set at the next sync. */
static int keep_pending(fs_device *d, MDB_txn *txn, const Fs__ChangeSet *cs) {
  size_t n = fs__change_set__get_packed_size(cs);
  if (n > FS_SEAL_BODY_MAX)
    return FS_ETOOBIG; /* could never be sealed, even alone */
  uint64_t num;
  uint8_t key[8];
  int rc = fs_meta_get_u64(&d->store, txn, "pending_n", &num);
  if (rc == 0)
    rc = fs_meta_put_u64(&d->store, txn, "pending_n", ++num);
  if (rc)
    return rc;
  fs_be64_put(key, num);
  MDB_val k = {8, key}, v = {n, NULL};
  if ((rc = fs_err_from_mdb(mdb_put(txn, d->store.pending, &k, &v, MDB_RESERVE))))
    return rc;
  fs__change_set__pack(cs, v.mv_data);
  if ((rc = fs_meta_put_u64(&d->store, txn, "hlc", cs->hlc)))
    return rc;
  rc = fs_store_apply_changeset(&d->store, txn, cs);
  return rc < 0 ? rc : 0;
}

/* Signs the changes of one area as the next set of the chain and puts it
 * in the outbox. */
static int seal_group(fs_device *d, MDB_txn *txn, const char *area, Fs__Change **changes,
                      size_t n, uint64_t *seq, uint8_t head[FS_HASH_LEN],
                      fs_seal_result *out) {
  Fs__ChangeSet cs = FS__CHANGE_SET__INIT;
  cs.device.data = d->key.pk;
  cs.device.len = FS_PK_LEN;
  cs.seq = *seq + 1;
  cs.prev.data = head;
  cs.prev.len = FS_HASH_LEN;
  cs.area = (char *)area;
  cs.n_changes = n;
  cs.changes = changes;
  for (size_t i = 0; i < n; i++)
    if (changes[i]->hlc > cs.hlc)
      cs.hlc = changes[i]->hlc;
  uint8_t *body = NULL, sig[FS_SIG_LEN], id[FS_HASH_LEN], seqk[8];
  size_t blen;
  int rc = fs_changeset_seal(&cs, d->key.sk, &body, &blen, sig, id);
  if (rc)
    return rc;
  Fs__SignedChangeSet sset = FS__SIGNED_CHANGE_SET__INIT;
  sset.body.data = body;
  sset.body.len = blen;
  sset.signature.data = sig;
  sset.signature.len = FS_SIG_LEN;
  fs_be64_put(seqk, cs.seq);
  MDB_val k = {8, seqk}, v = {fs__signed_change_set__get_packed_size(&sset), NULL};
  rc = fs_err_from_mdb(mdb_put(txn, d->store.outbox, &k, &v, MDB_RESERVE));
  if (rc == 0) {
    fs__signed_change_set__pack(&sset, v.mv_data);
    *seq = cs.seq;
    memcpy(head, id, FS_HASH_LEN);
    out->sets++;
    out->bytes += v.mv_size;
  }
  free(body);
  return rc;
}

#define FS_SEAL_ARENA_CHUNK (256u << 10)

/* One round of pending edits, decoded, with the order they are sealed in:
 * by area (a set holds one area), in edit order within an area. */
typedef struct seal_key {
  const char *area;
  size_t edit;             /* index into edits: the edit order */
} seal_key;

typedef struct seal_round {
  Fs__ChangeSet *edits[FS_SEAL_ROUND];
  size_t sizes[FS_SEAL_ROUND];
  seal_key order[FS_SEAL_ROUND];
  Fs__Change *changes[FS_MAX_CHANGES];
  size_t n;
  fs_arena arena; /* owns the decoded edits: one reset, not a free per field */
} seal_round;

static int by_area_then_edit(const void *x, const void *y) {
  const seal_key *a = x, *b = y;
  int c = strcmp(a->area, b->area);
  return c ? c : (a->edit > b->edit) - (a->edit < b->edit);
}

static void round_clear(seal_round *r) {
  fs_arena_reset(&r->arena);
  r->n = 0;
}

/* Reads up to max (at most FS_SEAL_ROUND) pending edits from the first,
 * deleting them. */
static int round_read(fs_device *d, MDB_txn *txn, seal_round *r, size_t max) {
  MDB_cursor *cur;
  int rc = fs_err_from_mdb(mdb_cursor_open(txn, d->store.pending, &cur));
  if (rc)
    return rc;
  MDB_val k, v;
  ProtobufCAllocator alloc = fs_arena_allocator(&r->arena);
  rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_FIRST));
  while (rc == 0 && r->n < max) {
    Fs__ChangeSet *e = fs__change_set__unpack(&alloc, v.mv_size, v.mv_data);
    if (!e || e->n_changes != 1) {
      rc = FS_ESTORE;
      break;
    }
    r->edits[r->n] = e;
    r->sizes[r->n] = v.mv_size;
    r->order[r->n] = (seal_key){e->area, r->n};
    r->n++;
    if ((rc = fs_err_from_mdb(mdb_cursor_del(cur, 0))) == 0)
      rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_FIRST));
  }
  mdb_cursor_close(cur);
  return rc == FS_ENOTFOUND ? 0 : rc;
}

/* Seals a round into sets of one area, at most FS_MAX_CHANGES changes and
 * FS_SEAL_BODY_MAX bytes each. */
static int round_seal(fs_device *d, MDB_txn *txn, seal_round *r, uint64_t *seq,
                      uint8_t head[FS_HASH_LEN], fs_seal_result *out) {
  qsort(r->order, r->n, sizeof r->order[0], by_area_then_edit);
  size_t n = 0, bytes = 0;
  const char *area = NULL;
  for (size_t i = 0; i <= r->n; i++) {
    const Fs__ChangeSet *e = i < r->n ? r->edits[r->order[i].edit] : NULL;
    size_t size = i < r->n ? r->sizes[r->order[i].edit] : 0;
    if (n > 0 && (!e || n == FS_MAX_CHANGES || strcmp(area, e->area) != 0 ||
                  bytes + size > FS_SEAL_BODY_MAX)) {
      int rc = seal_group(d, txn, area, r->changes, n, seq, head, out);
      if (rc)
        return rc;
      n = bytes = 0;
    }
    if (!e)
      break;
    area = e->area;
    r->changes[n++] = e->changes[0];
    bytes += size;
  }
  return 0;
}

int fs_device_seal(fs_device *d, size_t max_edits, fs_seal_result *out) {
  *out = (fs_seal_result){0};
  size_t left = max_edits ? max_edits : SIZE_MAX;
  seal_round *r = calloc(1, sizeof *r);
  if (!r)
    return FS_ENOMEM;
  fs_arena_init(&r->arena, FS_SEAL_ARENA_CHUNK);
  MDB_txn *txn;
  uint64_t seq;
  uint8_t head[FS_HASH_LEN] = {0};
  MDB_val hv;
  int rc = fs_store_begin(&d->store, true, &txn);
  if (rc) {
    free(r);
    return rc;
  }
  if ((rc = fs_meta_get_u64(&d->store, txn, "seq", &seq)))
    goto out;
  rc = fs_meta_get(&d->store, txn, "head", &hv);
  if (rc == 0 && hv.mv_size == FS_HASH_LEN)
    memcpy(head, hv.mv_data, FS_HASH_LEN);
  else if (rc != FS_ENOTFOUND)
    goto out;
  /* Rounds bound the memory; each round's sets extend the chain. */
  for (;;) {
    size_t max = left < FS_SEAL_ROUND ? left : FS_SEAL_ROUND;
    if ((rc = round_read(d, txn, r, max)) || (rc = round_seal(d, txn, r, &seq, head, out)))
      break;
    left -= r->n;
    if (r->n < max || left == 0) {
      out->more = r->n == max; /* perhaps: the next call may find none */
      break;
    }
    round_clear(r);
  }
  if (rc == 0 && out->sets > 0 &&
      (rc = fs_meta_put(&d->store, txn, "head", head, FS_HASH_LEN)) == 0)
    rc = fs_meta_put_u64(&d->store, txn, "seq", seq);
out:
  fs_arena_free(&r->arena);
  free(r);
  if (rc == 0 && out->sets > 0)
    return fs_store_commit(txn);
  mdb_txn_abort(txn);
  if (rc)
    *out = (fs_seal_result){0};
  return rc;
}

const char fs_edit_clock_why[] =
    "the record holds a write stamped more than a day ahead of this laptop's clock, which an "
    "edit made now could not beat; check this laptop's date and time, and if they are right, "
    "tell the administrator: the device that wrote it has a wrong date";

uint64_t fs_device_observe(uint64_t clock, const fs_record *r, uint64_t now_ms) {
  clock = fs_hlc_observe_bounded(clock, r->type_clock.hlc, now_ms);
  clock = fs_hlc_observe_bounded(clock, r->del_clock.hlc, now_ms);
  for (size_t i = 0; i < r->nfields; i++)
    clock = fs_hlc_observe_bounded(clock, r->fields[i].clock.hlc, now_ms);
  return clock;
}

/* Whether an edit at clock hlc would lose to what cur holds (registers
 * stamped beyond fs_device_observe's bound): the fields it writes, or any
 * write at all for a delete. */
static bool edit_loses(const fs_record *cur, uint64_t hlc, const fs_write *writes,
                       size_t nwrites, bool deleted) {
  if (deleted && fs_record_max_hlc(cur) >= hlc)
    return true;
  for (size_t i = 0; i < nwrites; i++) {
    const fs_field *f = fs_record_field(cur, writes[i].name);
    if (f && f->clock.hlc >= hlc)
      return true;
  }
  return false;
}

/* One edit as one pending change, inside the write transaction txn. */
static int edit_in(fs_device *d, MDB_txn *txn, const char *area, const char *id,
                   const char *type, const fs_write *writes, size_t nwrites, bool deleted) {
  if (nwrites > FS_MAX_WRITES)
    return FS_ELIMIT;
  int rc = 0;
  char scope[FS_MAX_AREA + 1];
  uint64_t hlc;
  uint8_t prev[FS_HASH_LEN] = {0}; /* placeholders until sealed */
  fs_record cur;
  bool have_cur = false;
  Fs__FieldWrite *fw = calloc(nwrites ? nwrites : 1, sizeof *fw);
  Fs__FieldWrite **fwp = calloc(nwrites ? nwrites : 1, sizeof *fwp);
  uint8_t **sealed = calloc(nwrites ? nwrites : 1, sizeof *sealed);
  if (!fw || !fwp || !sealed) {
    rc = FS_ENOMEM;
    goto out;
  }
  if ((rc = area_in(d, txn, scope)))
    goto out;
  if (!fs_area_valid(area) || !fs_area_within(area, scope)) {
    rc = FS_ESCOPE;
    goto out;
  }
  if ((rc = fs_meta_get_u64(&d->store, txn, "hlc", &hlc)))
    goto out;
  rc = fs_store_record_get(&d->store, txn, area, id, &cur);
  if (rc == 0)
    have_cur = true;
  else if (rc != FS_ENOTFOUND)
    goto out;
  /* The new clock is after everything this laptop has seen of the record,
   * but for writes of a device whose date is wrong: those it cannot beat. */
  uint64_t now = fs_hlc_now_ms();
  if (have_cur)
    hlc = fs_device_observe(hlc, &cur, now);
  hlc = fs_hlc_tick(hlc, now);
  if (have_cur && edit_loses(&cur, hlc, writes, nwrites, deleted)) {
    rc = FS_ECLOCK;
    goto out;
  }
  const char *rtype = type ? type : (have_cur ? cur.type : NULL);
  const fs_type_def *tdef = rtype ? fs_schema_type(rtype) : NULL;
  for (size_t i = 0; i < nwrites; i++) {
    fs__field_write__init(&fw[i]);
    fw[i].name = (char *)writes[i].name;
    fw[i].value.data = (uint8_t *)writes[i].value;
    fw[i].value.len = writes[i].len;
    const fs_field_def *fd = tdef ? fs_schema_field(tdef, writes[i].name, NULL) : NULL;
    if (fd && (fd->flags & FS_FIELD_SEALED) && writes[i].len > 0) {
      /* Sealed before it is signed: the plaintext never leaves the laptop. */
      if (!d->has_seal_pk) {
        rc = FS_ENOSEALKEY;
        goto out;
      }
      if ((rc = fs_seal(d->seal_pk, writes[i].value, writes[i].len, &sealed[i],
                        &fw[i].value.len)))
        goto out;
      fw[i].value.data = sealed[i];
    }
    fw[i].hlc = hlc;
    const fs_field *f = have_cur ? fs_record_field(&cur, writes[i].name) : NULL;
    fw[i].base_hlc = f ? f->clock.hlc : 0;
    fwp[i] = &fw[i];
  }
  Fs__Change ch = FS__CHANGE__INIT;
  Fs__Change *chp = &ch;
  ch.record_id = (char *)id;
  ch.record_type = (char *)(type ? type : (have_cur && cur.type ? cur.type : ""));
  ch.n_writes = nwrites;
  ch.writes = fwp;
  ch.deleted = deleted;
  ch.hlc = hlc;
  Fs__ChangeSet cs = FS__CHANGE_SET__INIT;
  cs.device.data = d->key.pk;
  cs.device.len = FS_PK_LEN;
  cs.seq = 1;
  cs.prev.data = prev;
  cs.prev.len = FS_HASH_LEN;
  cs.hlc = hlc;
  cs.area = (char *)area;
  cs.n_changes = 1;
  cs.changes = &chp;
  if (ch.record_type[0] == '\0') {
    rc = FS_EINVAL;
    goto out;
  }
  /* Refused now, not at sync: a pending edit that cannot be sealed would
   * hold back every later one. */
  if ((rc = fs_changeset_check(&cs)) == 0)
    rc = keep_pending(d, txn, &cs);
out:
  if (have_cur)
    fs_record_free(&cur);
  for (size_t i = 0; sealed && i < nwrites; i++)
    free(sealed[i]);
  free(sealed);
  free(fw);
  free(fwp);
  return rc;
}

int fs_device_edit(fs_device *d, const char *area, const char *id, const char *type,
                   const fs_write *writes, size_t nwrites, bool deleted) {
  fs_edit e = {area, id, type, writes, nwrites, deleted};
  return fs_device_edit_all(d, &e, 1, NULL);
}

int fs_device_edit_all(fs_device *d, const fs_edit *edits, size_t n, size_t *failed) {
  MDB_txn *txn = NULL;
  int rc = fs_store_begin(&d->store, true, &txn);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const fs_edit *e = &edits[i];
    rc = edit_in(d, txn, e->area, e->id, e->type, e->writes, e->nwrites, e->deleted);
    if (rc && failed)
      *failed = i;
  }
  if (rc == 0)
    return fs_store_commit(txn);
  if (txn)
    mdb_txn_abort(txn);
  return rc;
}

struct find_ctx {
  const char *part; /* the beginning or the end of an id */
  size_t plen;
  fs_record *out;
  int found;
};

static int find_visit(void *arg, const fs_record *r) {
  struct find_ctx *f = arg;
  /* Below 4 characters only an exact id matches: a part that short would
   * pick a record by accident. */
  size_t len = strlen(r->id);
  bool hit = f->plen < 4 ? strcmp(r->id, f->part) == 0
                         : strncmp(r->id, f->part, f->plen) == 0 ||
                               (len >= f->plen &&
                                memcmp(r->id + len - f->plen, f->part, f->plen) == 0);
  if (!hit)
    return 0;
  if (++f->found > 1)
    return FS_EINVAL;
  /* Keep a copy: r is freed after the visit. */
  int rc = fs_record_init(f->out, r->area, r->id);
  if (rc == 0 && (rc = fs_record_join(f->out, r, NULL, NULL)) > 0)
    rc = 0;
  return rc;
}

int fs_device_find(fs_device *d, const char *id_part, fs_record *r) {
  size_t plen = strlen(id_part);
  if (plen == 0 || plen > FS_MAX_ID)
    return FS_EINVAL;
  MDB_txn *txn;
  int rc = fs_store_begin(&d->store, false, &txn);
  if (rc)
    return rc;
  struct find_ctx f = {id_part, plen, r, 0};
  /* A laptop holds its area's records only: a full scan is small. */
  rc = fs_store_records_scan(&d->store, txn, "", find_visit, &f);
  mdb_txn_abort(txn);
  if (rc && f.found >= 1)
    fs_record_free(r);
  if (rc)
    return rc;
  return f.found ? 0 : FS_ENOTFOUND;
}
