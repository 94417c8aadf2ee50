/* store.c - LMDB environment, merged records, digests and change scans. */
#include "store.h"

#include "changeset.h"
#include "error.h"
#include "hex.h"
#include "log.h"
#include "store_impl.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <uv.h>

#define FS_MAX_AREA_KEY FS_MAX_AREA

void fs_be64_put(uint8_t out[8], uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    out[i] = (uint8_t)v;
    v >>= 8;
  }
}

uint64_t fs_be64_get(const uint8_t in[8]) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | in[i];
  return v;
}

static int open_dbi(MDB_txn *txn, const char *name, MDB_dbi *dbi) {
  return fs_err_from_mdb(mdb_dbi_open(txn, name, MDB_CREATE, dbi));
}

/* Bytes of the map in use and its size. */
static int map_use(fs_store *s, size_t *used, size_t *size) {
  MDB_envinfo info;
  MDB_stat st;
  int rc = fs_err_from_mdb(mdb_env_info(s->env, &info));
  if (rc == 0)
    rc = fs_err_from_mdb(mdb_env_stat(s->env, &st));
  if (rc == 0) {
    *used = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
    *size = info.me_mapsize;
  }
  return rc;
}

bool fs_store_wants_growth(fs_store *s) {
  size_t used, size;
  return map_use(s, &used, &size) == 0 && used > size / 4 * 3 && size < s->map_max;
}

int fs_store_grow(fs_store *s, bool force) {
  size_t used, size;
  int rc = map_use(s, &used, &size);
  if (rc)
    return rc;
  if (!force && used <= size / 4 * 3)
    return 0;
  if (size >= s->map_max)
    return FS_EMAPFULL;
  size_t to = size * 2 > s->map_max ? s->map_max : size * 2;
  if ((rc = fs_err_from_mdb(mdb_env_set_mapsize(s->env, to))))
    return rc;
  fs_log(FS_LOG_INFO, "store.grown", "from_mb=%zu to_mb=%zu used_mb=%zu max_mb=%zu",
         size >> 20, to >> 20, used >> 20, s->map_max >> 20);
  return 1;
}

static int open_store(fs_store *s, const char *dir, size_t mapsize, bool upgrade) {
  memset(s, 0, sizeof *s);
  s->map_max = mapsize > FS_STORE_MAPSIZE_MAX ? mapsize : FS_STORE_MAPSIZE_MAX;
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return -errno;
  int rc = fs_err_from_mdb(mdb_env_create(&s->env));
  if (rc)
    return rc;
  MDB_txn *txn = NULL;
  /* MDB_NOTLS: read transactions are not tied to a thread, so the loop
   * thread and pool threads may each hold one. No NOSYNC: see store.h. */
  if ((rc = fs_err_from_mdb(mdb_env_set_maxdbs(s->env, 24))) ||
      (rc = fs_err_from_mdb(mdb_env_set_mapsize(s->env, mapsize))) ||
      (rc = fs_err_from_mdb(mdb_env_set_maxreaders(s->env, 256))) ||
      (rc = fs_err_from_mdb(mdb_env_open(s->env, dir, MDB_NOTLS, 0600))))
    goto fail;
  if ((rc = fs_err_from_mdb(mdb_txn_begin(s->env, NULL, 0, &txn))))
    goto fail;
  if ((rc = open_dbi(txn, "meta", &s->meta)) ||
      (rc = open_dbi(txn, "log", &s->log)) ||
      (rc = open_dbi(txn, "devices", &s->devices)) ||
      (rc = open_dbi(txn, "devseq", &s->devseq)) ||
      (rc = open_dbi(txn, "records", &s->records)) ||
      (rc = open_dbi(txn, "recseq", &s->recseq)) ||
      (rc = open_dbi(txn, "conflicts", &s->conflicts)) ||
      (rc = open_dbi(txn, "quarantine", &s->quarantine)) ||
      (rc = open_dbi(txn, "held", &s->held)) ||
      (rc = open_dbi(txn, "outbox", &s->outbox)) ||
      (rc = open_dbi(txn, "pending", &s->pending)) ||
      (rc = open_dbi(txn, "peers", &s->peers)) ||
      (rc = open_dbi(txn, "certs", &s->certs)) ||
      (rc = open_dbi(txn, "certlog", &s->certlog)) ||
      (rc = open_dbi(txn, "areasums", &s->areasums)))
    goto fail;
  uint64_t format = 0;
  if ((rc = fs_meta_get_u64(s, txn, "format", &format)))
    goto fail;
  s->found_format = format;
  if (format == 0)
    rc = fs_meta_put_u64(s, txn, "format", FS_STORE_FORMAT);
  else if (format != FS_STORE_FORMAT && !(upgrade && format >= 1 && format < FS_STORE_FORMAT))
    rc = FS_EVERSION;
  if (rc)
    goto fail;
  rc = fs_store_commit(txn); /* the handles stay open for good */
  txn = NULL;
  if (rc == 0 && format == 1)
    rc = fs_store_upgrade_from_1(s);
  if (rc == 0 && (format == 1 || format == 2))
    rc = fs_store_upgrade_from_2(s);
  if (rc == 0 && format >= 1 && format <= 3)
    rc = fs_store_upgrade_from_3(s);
  if (rc)
    goto fail;
  return 0;
fail:
  if (txn)
    mdb_txn_abort(txn);
  mdb_env_close(s->env);
  s->env = NULL;
  return rc;
}

int fs_store_open(fs_store *s, const char *dir, size_t mapsize) {
  return open_store(s, dir, mapsize, false);
}

int fs_store_open_upgrade(fs_store *s, const char *dir, size_t mapsize) {
  return open_store(s, dir, mapsize, true);
}

int fs_store_log_get(fs_store *s, MDB_txn *txn, uint64_t log_seq, MDB_val *set) {
  uint8_t kb[8];
  fs_be64_put(kb, log_seq);
  MDB_val k = {8, kb};
  return fs_err_from_mdb(mdb_get(txn, s->log, &k, set));
}

int fs_store_devseq_get(fs_store *s, MDB_txn *txn, const uint8_t device[FS_PK_LEN],
                        uint64_t seq, uint8_t id[FS_HASH_LEN], uint64_t *log_seq) {
  uint8_t kb[FS_PK_LEN + 8];
  memcpy(kb, device, FS_PK_LEN);
  fs_be64_put(kb + FS_PK_LEN, seq);
  MDB_val k = {sizeof kb, kb}, v;
  int rc = fs_err_from_mdb(mdb_get(txn, s->devseq, &k, &v));
  if (rc)
    return rc;
  if (v.mv_size != FS_HASH_LEN + 8)
    return FS_ESTORE;
  memcpy(id, v.mv_data, FS_HASH_LEN);
  *log_seq = fs_be64_get((const uint8_t *)v.mv_data + FS_HASH_LEN);
  return 0;
}

int fs_store_get_named(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *v,
                       const char *what, const char *named_by, uint64_t at) {
  int rc = fs_err_from_mdb(mdb_get(txn, dbi, key, v));
  if (rc != FS_ENOTFOUND)
    return rc;
  char hex[2 * FS_STORE_KEY_MAX + 1]; /* the longest key named is a record key */
  size_t n = key->mv_size < FS_STORE_KEY_MAX ? key->mv_size : FS_STORE_KEY_MAX;
  fs_hex_encode(hex, key->mv_data, n);
  fs_log(FS_LOG_ERROR, "store.damaged",
         "missing=%s key=%s named_by=%s at=%llu msg=\"%s entry %llu names a %s the store "
         "does not hold: the store is damaged; restore it from a backup\"",
         what, hex, named_by, (unsigned long long)at, named_by, (unsigned long long)at, what);
  return FS_ESTORE;
}

void fs_store_close(fs_store *s) {
  if (s->env)
    mdb_env_close(s->env);
  s->env = NULL;
}

int fs_store_begin(fs_store *s, bool write, MDB_txn **txn) {
  int rc = fs_err_from_mdb(mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, txn));
  if (rc)
    *txn = NULL; /* mdb_txn_begin leaves it as it was */
  return rc;
}

/* LMDB reports a short write as EIO (errno is 0 after it), which is what a
 * full disk gives: tell the two apart by the space left where the store is. */
static bool disk_full(MDB_env *env) {
  const char *path;
  struct statvfs vs;
  if (mdb_env_get_path(env, &path) != 0 || statvfs(path, &vs) != 0)
    return false;
  return (uint64_t)vs.f_bavail * vs.f_frsize < (1u << 20);
}

int fs_store_commit(MDB_txn *txn) {
  MDB_env *env = mdb_txn_env(txn);
  int rc = mdb_txn_commit(txn);
  if ((rc == EIO || rc == ENOSPC) && disk_full(env))
    return UV_ENOSPC;
  return fs_err_from_mdb(rc);
}

int fs_meta_get(fs_store *s, MDB_txn *txn, const char *key, MDB_val *v) {
  MDB_val k = {strlen(key), (void *)key};
  return fs_err_from_mdb(mdb_get(txn, s->meta, &k, v));
}

int fs_meta_put(fs_store *s, MDB_txn *txn, const char *key, const void *p, size_t len) {
  MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)p};
  return fs_err_from_mdb(mdb_put(txn, s->meta, &k, &v, 0));
}

int fs_meta_get_u64(fs_store *s, MDB_txn *txn, const char *key, uint64_t *out) {
  MDB_val v;
  int rc = fs_meta_get(s, txn, key, &v);
  if (rc == FS_ENOTFOUND) {
    *out = 0;
    return 0;
  }
  if (rc)
    return rc;
  if (v.mv_size != 8)
    return FS_ESTORE;
  *out = fs_be64_get(v.mv_data);
  return 0;
}

int fs_meta_put_u64(fs_store *s, MDB_txn *txn, const char *key, uint64_t v) {
  uint8_t b[8];
  fs_be64_put(b, v);
  return fs_meta_put(s, txn, key, b, 8);
}

static int peer_key(uint8_t *out, const uint8_t *key, const char *name) {
  size_t n = strlen(name);
  if (n > 64)
    return FS_EINVAL;
  memcpy(out, key, FS_PK_LEN);
  memcpy(out + FS_PK_LEN, name, n);
  return (int)(FS_PK_LEN + n);
}

int fs_peer_get(fs_store *s, MDB_txn *txn, const uint8_t key[FS_PK_LEN], const char *name,
                MDB_val *v) {
  uint8_t kb[FS_PK_LEN + 64];
  int kl = peer_key(kb, key, name);
  if (kl < 0)
    return kl;
  MDB_val k = {(size_t)kl, kb};
  return fs_err_from_mdb(mdb_get(txn, s->peers, &k, v));
}

int fs_peer_put(fs_store *s, MDB_txn *txn, const uint8_t key[FS_PK_LEN], const char *name,
                const void *p, size_t len) {
  uint8_t kb[FS_PK_LEN + 64];
  int kl = peer_key(kb, key, name);
  if (kl < 0)
    return kl;
  MDB_val k = {(size_t)kl, kb}, v = {len, (void *)p};
  return fs_err_from_mdb(mdb_put(txn, s->peers, &k, &v, 0));
}

int fs_peer_get_u64(fs_store *s, MDB_txn *txn, const uint8_t key[FS_PK_LEN],
                    const char *name, uint64_t *out) {
  MDB_val v;
  int rc = fs_peer_get(s, txn, key, name, &v);
  *out = 0;
  if (rc == FS_ENOTFOUND)
    return 0;
  if (rc == 0 && v.mv_size != 8)
    return FS_ESTORE;
  if (rc == 0)
    *out = fs_be64_get(v.mv_data);
  return rc;
}

int fs_peer_put_u64(fs_store *s, MDB_txn *txn, const uint8_t key[FS_PK_LEN],
                    const char *name, uint64_t val) {
  uint8_t vb[8];
  fs_be64_put(vb, val);
  return fs_peer_put(s, txn, key, name, vb, sizeof vb);
}

int fs_peer_get_id(fs_store *s, MDB_txn *txn, const uint8_t key[FS_PK_LEN],
                   const char *name, uint8_t id[FS_HASH_LEN], bool *found) {
  MDB_val v;
  int rc = fs_peer_get(s, txn, key, name, &v);
  memset(id, 0, FS_HASH_LEN);
  *found = false;
  if (rc == FS_ENOTFOUND)
    return 0;
  if (rc == 0 && v.mv_size != FS_HASH_LEN)
    return FS_ESTORE;
  if (rc == 0) {
    memcpy(id, v.mv_data, FS_HASH_LEN);
    *found = true;
  }
  return rc;
}

int fs_peer_put_id(fs_store *s, MDB_txn *txn, const uint8_t key[FS_PK_LEN],
                   const char *name, const uint8_t id[FS_HASH_LEN]) {
  return fs_peer_put(s, txn, key, name, id, FS_HASH_LEN);
}

/* Record key: area, a 0 byte, id. Returns its length or FS_EINVAL. */
static int record_key(uint8_t *out, size_t cap, const char *area, const char *id) {
  size_t a = strlen(area), i = strlen(id);
  if (a + 1 + i > cap)
    return FS_EINVAL;
  memcpy(out, area, a);
  out[a] = 0;
  memcpy(out + a + 1, id, i);
  return (int)(a + 1 + i);
}

/* The stored value of record (area, id): its record seq, then its state. */
static int record_raw(fs_store *s, MDB_txn *txn, const char *area, const char *id,
                      MDB_val *v) {
  uint8_t kb[FS_STORE_KEY_MAX];
  int kl = record_key(kb, sizeof kb, area, id);
  if (kl < 0)
    return kl;
  MDB_val k = {(size_t)kl, kb};
  return fs_err_from_mdb(mdb_get(txn, s->records, &k, v));
}

int fs_store_record_get(fs_store *s, MDB_txn *txn, const char *area, const char *id,
                        fs_record *r) {
  MDB_val v;
  int rc = record_raw(s, txn, area, id, &v);
  if (rc)
    return rc;
  if (v.mv_size < 8)
    return FS_EDECODE;
  return fs_record_decode(r, (uint8_t *)v.mv_data + 8, v.mv_size - 8);
}

int fs_store_record_exists(fs_store *s, MDB_txn *txn, const char *area, const char *id) {
  MDB_val v;
  int rc = record_raw(s, txn, area, id, &v);
  return rc == 0 ? 1 : rc == FS_ENOTFOUND ? 0 : rc;
}

struct conflict_ctx {
  fs_store *s;
  MDB_txn *txn;
  int rc;
};

static void field_pb(Fs__FieldState *pb, const fs_field *f) {
  fs__field_state__init(pb);
  pb->name = f->name;
  pb->value.data = f->value;
  pb->value.len = f->value_len;
  pb->hlc = f->clock.hlc;
  pb->device.data = (uint8_t *)f->clock.device;
  pb->device.len = FS_PK_LEN;
  pb->base_hlc = f->base_hlc;
}

/* Stores a conflict under a hash of both clocks, so recording it again (a
 * redelivery, another arrival order) is a no-op overwrite. */
static void record_conflict(void *arg, const fs_record *r, const fs_field *winner,
                            const fs_field *loser) {
  struct conflict_ctx *c = arg;
  if (c->rc)
    return;
  Fs__Conflict cf = FS__CONFLICT__INIT;
  Fs__FieldState w, l;
  field_pb(&w, winner);
  field_pb(&l, loser);
  cf.area = r->area;
  cf.record_id = r->id;
  cf.field = winner->name;
  cf.winner = &w;
  cf.loser = &l;
  uint8_t key[FS_HASH_LEN];
  crypto_generichash_state h;
  crypto_generichash_init(&h, NULL, 0, FS_HASH_LEN);
  crypto_generichash_update(&h, (const uint8_t *)r->area, strlen(r->area) + 1);
  crypto_generichash_update(&h, (const uint8_t *)r->id, strlen(r->id) + 1);
  crypto_generichash_update(&h, (const uint8_t *)winner->name, strlen(winner->name) + 1);
  crypto_generichash_update(&h, (const uint8_t *)&winner->clock, sizeof winner->clock);
  crypto_generichash_update(&h, (const uint8_t *)&loser->clock, sizeof loser->clock);
  crypto_generichash_final(&h, key, sizeof key);
  size_t n = fs__conflict__get_packed_size(&cf);
  MDB_val k = {sizeof key, key}, v = {n, NULL};
  c->rc = fs_err_from_mdb(mdb_put(c->txn, c->s->conflicts, &k, &v, MDB_RESERVE));
  if (c->rc == 0)
    fs__conflict__pack(&cf, v.mv_data);
}

int fs_store_record_elem(fs_lthash *elem, const MDB_val *k, const MDB_val *v) {
  if (v->mv_size < 8)
    return FS_ESTORE;
  fs_lthash_record(elem, k->mv_data, k->mv_size, (const uint8_t *)v->mv_data + 8,
                   v->mv_size - 8);
  return 0;
}

int fs_store_sums_put(fs_store *s, MDB_txn *txn, const char *area, size_t alen,
                      uint64_t count, const fs_lthash *sum) {
  MDB_val k = {alen, (void *)area}, v = {FS_STORE_SUMS_LEN, NULL};
  int rc = fs_err_from_mdb(mdb_put(txn, s->areasums, &k, &v, MDB_RESERVE));
  if (rc == 0) {
    fs_be64_put(v.mv_data, count);
    fs_lthash_encode(sum, (uint8_t *)v.mv_data + 8);
  }
  return rc;
}

/* What record writes of one area change in its sums: the records added,
 * and the new states' elements minus the old ones'. A change set's records
 * all lie in its area, so a set of a thousand edits rewrites the area's
 * 2 KiB entry once, not a thousand times; likewise the record seq counter
 * is read at the first write and stored once. */
typedef struct sums_delta {
  uint64_t added;
  bool any;
  uint64_t seq;      /* 0 until the first write reads meta record_seq */
  fs_lthash lanes;
} sums_delta;

static void delta_init(sums_delta *d) {
  d->added = 0;
  d->any = false;
  d->seq = 0;
  fs_lthash_init(&d->lanes);
}

/* Stores the record seq and adds d to area's entry of areasums. */
static int sums_apply(fs_store *s, MDB_txn *txn, const char *area, const sums_delta *d) {
  if (!d->any)
    return 0;
  int rc = fs_meta_put_u64(s, txn, "record_seq", d->seq); /* any: seq was read */
  if (rc)
    return rc;
  size_t alen = strlen(area);
  MDB_val k = {alen, (void *)area}, v;
  fs_lthash sum;
  uint64_t count = 0;
  rc = fs_err_from_mdb(mdb_get(txn, s->areasums, &k, &v));
  if (rc == FS_ENOTFOUND) {
    fs_lthash_init(&sum);
  } else if (rc) {
    return rc;
  } else if (v.mv_size != FS_STORE_SUMS_LEN) {
    return FS_ESTORE;
  } else {
    count = fs_be64_get(v.mv_data);
    fs_lthash_decode(&sum, (const uint8_t *)v.mv_data + 8);
  }
  fs_lthash_add(&sum, &d->lanes);
  return fs_store_sums_put(s, txn, area, alen, count + d->added, &sum);
}

size_t fs_store_recseq_value(uint8_t *out, const uint8_t *key, size_t klen,
                             const fs_record *r) {
  memcpy(out, key, klen);
  if (!fs_record_sole_writer(r, out + klen + 1))
    return klen;
  out[klen] = 0;
  return klen + 1 + FS_PK_LEN;
}

/* Writes r under its key with a new record seq, moving its recseq entry;
 * adds to d what the write changes in the sums of r's area. fresh: the
 * record is not stored (record_load just found none), so there is no old
 * state to look up and replace. */
static int record_put(fs_store *s, MDB_txn *txn, const fs_record *r, bool fresh,
                      sums_delta *d) {
  uint8_t kb[FS_STORE_KEY_MAX];
  int kl = record_key(kb, sizeof kb, r->area, r->id);
  if (kl < 0)
    return kl;
  MDB_val k = {(size_t)kl, kb}, old;
  fs_lthash elem;
  bool replaced = false;
  int rc = fresh ? FS_ENOTFOUND : fs_err_from_mdb(mdb_get(txn, s->records, &k, &old));
  if (rc == 0) {
    /* Hashed now: the writes below may move what old points to. */
    if ((rc = fs_store_record_elem(&elem, &k, &old)))
      return rc;
    replaced = true;
    MDB_val ok = {8, old.mv_data};
    rc = fs_err_from_mdb(mdb_del(txn, s->recseq, &ok, NULL));
    if (rc && rc != FS_ENOTFOUND)
      return rc;
  } else if (rc != FS_ENOTFOUND) {
    return rc;
  }
  if (d->seq == 0 && (rc = fs_meta_get_u64(s, txn, "record_seq", &d->seq)))
    return rc;
  uint64_t seq = ++d->seq; /* never 0 again; stored by sums_apply */
  uint8_t *state;
  size_t len;
  if ((rc = fs_record_encode(r, &state, &len)))
    return rc;
  MDB_val v = {8 + len, NULL};
  rc = fs_err_from_mdb(mdb_put(txn, s->records, &k, &v, MDB_RESERVE));
  if (rc == 0) {
    fs_be64_put(v.mv_data, seq);
    memcpy((uint8_t *)v.mv_data + 8, state, len);
    uint8_t sk[8], rv[FS_STORE_RECSEQ_MAX];
    fs_be64_put(sk, seq);
    MDB_val skv = {8, sk}, rvv = {fs_store_recseq_value(rv, kb, (size_t)kl, r), rv};
    rc = fs_err_from_mdb(mdb_put(txn, s->recseq, &skv, &rvv, 0));
  }
  if (rc == 0) {
    if (replaced)
      fs_lthash_sub(&d->lanes, &elem);
    else
      d->added++;
    fs_lthash_record(&elem, kb, (size_t)kl, state, len);
    fs_lthash_add(&d->lanes, &elem);
    d->any = true;
  }
  free(state);
  return rc;
}

/* Loads the stored record or starts an empty one. */
static int record_load(fs_store *s, MDB_txn *txn, const char *area, const char *id,
                       fs_record *r, bool *fresh) {
  int rc = fs_store_record_get(s, txn, area, id, r);
  *fresh = rc == FS_ENOTFOUND;
  if (*fresh)
    rc = fs_record_init(r, area, id);
  return rc;
}

int fs_store_record_merge(fs_store *s, MDB_txn *txn, const fs_record *delta) {
  fs_record cur;
  bool fresh;
  int rc = record_load(s, txn, delta->area, delta->id, &cur, &fresh);
  if (rc)
    return rc;
  struct conflict_ctx cc = {s, txn, 0};
  rc = fs_record_join(&cur, delta, record_conflict, &cc);
  if (rc == 0 && cc.rc)
    rc = cc.rc;
  if (rc == 1) {
    sums_delta d;
    delta_init(&d);
    int prc = cc.rc ? cc.rc : record_put(s, txn, &cur, fresh, &d);
    if (prc == 0)
      prc = sums_apply(s, txn, cur.area, &d);
    if (prc)
      rc = prc;
  }
  fs_record_free(&cur);
  return rc;
}

static void note_conflict(void *arg, const fs_record *r, const fs_field *winner,
                          const fs_field *loser) {
  (void)r, (void)winner, (void)loser;
  *(bool *)arg = true;
}

int fs_store_record_merge_needed(fs_store *s, MDB_txn *txn, const fs_record *delta,
                                 const uint8_t *state, size_t len) {
  MDB_val v;
  if (state && record_raw(s, txn, delta->area, delta->id, &v) == 0 && v.mv_size == 8 + len &&
      memcmp((const uint8_t *)v.mv_data + 8, state, len) == 0)
    return 0;
  fs_record cur;
  bool fresh;
  int rc = record_load(s, txn, delta->area, delta->id, &cur, &fresh);
  if (rc)
    return rc;
  bool conflict = false;
  rc = fs_record_join(&cur, delta, note_conflict, &conflict);
  fs_record_free(&cur);
  return rc < 0 ? rc : (rc == 1 || conflict);
}

int fs_store_apply_changeset(fs_store *s, MDB_txn *txn, const Fs__ChangeSet *cs) {
  int changed = 0;
  sums_delta d;
  delta_init(&d);
  for (size_t i = 0; i < cs->n_changes; i++) {
    const Fs__Change *ch = cs->changes[i];
    fs_record cur;
    bool fresh;
    int rc = record_load(s, txn, cs->area, ch->record_id, &cur, &fresh);
    if (rc)
      return rc;
    struct conflict_ctx cc = {s, txn, 0};
    rc = fs_record_apply(&cur, cs, ch, record_conflict, &cc);
    if (rc >= 0 && cc.rc)
      rc = cc.rc;
    if (rc == 1) {
      changed++;
      rc = record_put(s, txn, &cur, fresh, &d);
    }
    fs_record_free(&cur);
    if (rc < 0)
      return rc;
  }
  int rc = sums_apply(s, txn, cs->area, &d);
  return rc ? rc : changed;
}

/* Positions cur at the first entry of prefix in dbi (records or
 * areasums); returns the range end key (prefix followed by '/', the byte
 * after '.') in end. Area characters sort after '/' except the 0 separator
 * and '.', so [prefix, prefix"/") holds exactly the records of prefix and
 * below ("KT.KP\0id", "KT.KP.X\0id"), and the same holds for the bare area
 * codes of areasums: "KT.KP" (shorter than the end) and "KT.KP.X" fall
 * inside, "KT.KPL" and "KT.KP_" ('L', '_' > '/') after it. */
typedef struct scan {
  MDB_cursor *cur;
  MDB_val k, v;
  char end[FS_MAX_AREA_KEY + 2];
  size_t end_len;
  size_t plen;
  int rc;
} scan;

static int scan_first(MDB_txn *txn, MDB_dbi dbi, const char *prefix, scan *sc) {
  sc->plen = strlen(prefix);
  if (sc->plen > FS_MAX_AREA_KEY)
    return FS_EINVAL;
  memcpy(sc->end, prefix, sc->plen);
  sc->end[sc->plen] = '/';
  sc->end_len = sc->plen + 1;
  int rc = fs_err_from_mdb(mdb_cursor_open(txn, dbi, &sc->cur));
  if (rc)
    return rc;
  sc->k.mv_size = sc->plen;
  sc->k.mv_data = (void *)prefix;
  sc->rc = fs_err_from_mdb(
      mdb_cursor_get(sc->cur, &sc->k, &sc->v, sc->plen ? MDB_SET_RANGE : MDB_FIRST));
  return 0;
}

/* True while the cursor is on a record within the prefix. */
static bool scan_valid(const scan *sc) {
  if (sc->rc)
    return false;
  if (sc->plen == 0)
    return true;
  size_t n = sc->k.mv_size < sc->end_len ? sc->k.mv_size : sc->end_len;
  int c = memcmp(sc->k.mv_data, sc->end, n);
  return c < 0 || (c == 0 && sc->k.mv_size < sc->end_len);
}

static void scan_next(scan *sc) {
  sc->rc = fs_err_from_mdb(mdb_cursor_get(sc->cur, &sc->k, &sc->v, MDB_NEXT));
}

static int scan_end(scan *sc) {
  mdb_cursor_close(sc->cur);
  return sc->rc == FS_ENOTFOUND ? 0 : sc->rc;
}

/* Adds one entry of a range to a digest: an area's sums, or a record. */
typedef int (*digest_add_fn)(const MDB_val *k, const MDB_val *v, fs_lthash *sum,
                             uint64_t *count);

static int add_area(const MDB_val *k, const MDB_val *v, fs_lthash *sum, uint64_t *count) {
  (void)k;
  if (v->mv_size != FS_STORE_SUMS_LEN)
    return FS_ESTORE;
  fs_lthash area;
  fs_lthash_decode(&area, (const uint8_t *)v->mv_data + 8);
  fs_lthash_add(sum, &area);
  *count += fs_be64_get(v->mv_data);
  return 0;
}

static int add_record(const MDB_val *k, const MDB_val *v, fs_lthash *sum, uint64_t *count) {
  fs_lthash elem;
  int rc = fs_store_record_elem(&elem, k, v);
  if (rc == 0) {
    fs_lthash_add(sum, &elem);
    (*count)++;
  }
  return rc;
}

static int digest_range(MDB_txn *txn, MDB_dbi dbi, const char *prefix, digest_add_fn add,
                        uint8_t out[FS_HASH_LEN], uint64_t *count) {
  scan sc;
  int rc = scan_first(txn, dbi, prefix, &sc);
  if (rc)
    return rc;
  fs_lthash sum;
  fs_lthash_init(&sum);
  uint64_t n = 0;
  for (; scan_valid(&sc); scan_next(&sc))
    if ((sc.rc = add(&sc.k, &sc.v, &sum, &n)))
      break;
  rc = scan_end(&sc);
  fs_lthash_finalize(&sum, out);
  if (count)
    *count = n;
  return rc;
}

int fs_store_digest(fs_store *s, MDB_txn *txn, const char *prefix,
                    uint8_t out[FS_HASH_LEN], uint64_t *count) {
  return digest_range(txn, s->areasums, prefix, add_area, out, count);
}

int fs_store_digest_scan(fs_store *s, MDB_txn *txn, const char *prefix,
                         uint8_t out[FS_HASH_LEN], uint64_t *count) {
  return digest_range(txn, s->records, prefix, add_record, out, count);
}

int fs_store_records_scan(fs_store *s, MDB_txn *txn, const char *prefix,
                          fs_record_visit_fn visit, void *arg) {
  scan sc;
  int rc = scan_first(txn, s->records, prefix, &sc);
  if (rc)
    return rc;
  fs_arena a; /* each record is read in place of the one before */
  fs_arena_init(&a, 0);
  for (; scan_valid(&sc); scan_next(&sc)) {
    fs_record r;
    fs_arena_reset(&a);
    if (sc.v.mv_size < 8 ||
        (rc = fs_record_view(&r, (uint8_t *)sc.v.mv_data + 8, sc.v.mv_size - 8, &a))) {
      sc.rc = rc ? rc : FS_ESTORE;
      break;
    }
    if ((rc = visit(arg, &r))) {
      sc.rc = rc;
      break;
    }
  }
  fs_arena_free(&a);
  return scan_end(&sc);
}

int fs_store_recseq_parse(const MDB_val *v, char area[FS_MAX_AREA + 1], MDB_val *key,
                          const uint8_t **writer) {
  const uint8_t *p = v->mv_data;
  size_t alen = strnlen(v->mv_data, v->mv_size);
  if (alen == v->mv_size || alen > FS_MAX_AREA)
    return FS_ESTORE;
  memcpy(area, p, alen);
  area[alen] = '\0';
  const uint8_t *end = memchr(p + alen + 1, 0, v->mv_size - alen - 1);
  *writer = NULL;
  key->mv_data = v->mv_data;
  key->mv_size = v->mv_size;
  if (end) {
    if ((size_t)(p + v->mv_size - end) != 1 + FS_PK_LEN)
      return FS_ESTORE;
    key->mv_size = (size_t)(end - p);
    *writer = end + 1;
  }
  return key->mv_size > FS_STORE_KEY_MAX ? FS_ESTORE : 0;
}

int fs_store_changes_since(fs_store *s, MDB_txn *txn, uint64_t cursor,
                           const char *scope, const uint8_t *skip_writer,
                           size_t max_records, size_t max_bytes, size_t max_scan,
                           fs_state_take_fn take, void *arg, uint64_t *next, bool *more) {
  MDB_cursor *cur;
  int rc = fs_err_from_mdb(mdb_cursor_open(txn, s->recseq, &cur));
  if (rc)
    return rc;
  uint8_t kb[8];
  fs_be64_put(kb, cursor + 1);
  MDB_val k = {8, kb}, rv;
  size_t taken = 0, bytes = 0, scanned = 0;
  *next = cursor;
  *more = false;
  if (cursor == UINT64_MAX) { /* nothing comes after the end */
    mdb_cursor_close(cur);
    return 0;
  }
  rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &rv, MDB_SET_RANGE));
  while (rc == 0) {
    if (taken >= max_records || bytes >= max_bytes || scanned >= max_scan) {
      *more = true;
      break;
    }
    scanned++;
    char area[FS_MAX_AREA_KEY + 1];
    MDB_val rk, v;
    const uint8_t *writer;
    if (k.mv_size != 8 || fs_store_recseq_parse(&rv, area, &rk, &writer)) {
      rc = FS_ESTORE;
      break;
    }
    bool skip = skip_writer && writer && memcmp(writer, skip_writer, FS_PK_LEN) == 0;
    if (!skip && fs_area_within(area, scope)) {
      if ((rc = fs_store_get_named(txn, s->records, &rk, &v, "record", "recseq",
                                   fs_be64_get(k.mv_data))))
        break;
      if (v.mv_size < 8) {
        rc = FS_ESTORE;
        break;
      }
      if ((rc = take(arg, (uint8_t *)v.mv_data + 8, v.mv_size - 8)))
        break;
      taken++;
      bytes += v.mv_size;
    }
    *next = fs_be64_get(k.mv_data);
    rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &rv, MDB_NEXT));
  }
  mdb_cursor_close(cur);
  return rc == FS_ENOTFOUND ? 0 : rc;
}

int fs_store_count(fs_store *s, MDB_txn *txn, MDB_dbi dbi, uint64_t *n) {
  (void)s;
  MDB_stat st;
  int rc = fs_err_from_mdb(mdb_stat(txn, dbi, &st));
  if (rc == 0)
    *n = st.ms_entries;
  return rc;
}
