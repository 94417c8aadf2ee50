/* ingest.c - verify on the pool, then group-commit with chain checks. */
#include "ingest.h"

#include "cert.h"
#include "changeset.h"
#include "conn.h"
#include "error.h"
#include "hex.h"
#include "hlc.h"
#include "log.h"
#include "peers.h"
#include "schema.h" /* records issue: validation at the edge */
#include "trust_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEVICE_VAL_LEN (8 + FS_HASH_LEN) /* head seq || head id */

static const uint8_t zero_hash[FS_HASH_LEN];

static void list_init(fs_batch_list *l) {
  l->head = NULL;
  l->tail = &l->head;
}

static void list_push(fs_batch_list *l, fs_batch *b) {
  b->next = NULL;
  *l->tail = b;
  l->tail = &b->next;
}

static void writer_main(void *arg);
static void on_committed_async(uv_async_t *a);

int fs_ingest_init(fs_ingest *ing, uv_loop_t *loop, fs_store *store,
                   const uint8_t root[FS_PK_LEN]) {
  memset(ing, 0, sizeof *ing);
  ing->store = store;
  ing->root = root;
  list_init(&ing->submitted);
  list_init(&ing->todo);
  list_init(&ing->done);
  int rc = fs_trust_cache_new(&ing->trust);
  if (rc)
    return rc;
  if ((rc = uv_mutex_init(&ing->mu)))
    goto fail_cache;
  if ((rc = uv_cond_init(&ing->wake)))
    goto fail_mutex;
  if ((rc = uv_async_init(loop, &ing->committed_async, on_committed_async)))
    goto fail_cond;
  ing->committed_async.data = ing;
  if ((rc = uv_thread_create(&ing->writer, writer_main, ing))) {
    uv_close((uv_handle_t *)&ing->committed_async, NULL);
    ing->closed = true;
    goto fail_cond;
  }
  ing->loop = loop;
  return 0;
fail_cond:
  uv_cond_destroy(&ing->wake);
fail_mutex:
  uv_mutex_destroy(&ing->mu);
fail_cache:
  fs_trust_cache_free(ing->trust);
  ing->trust = NULL;
  return rc;
}

static void close_writer(fs_ingest *ing) {
  if (ing->closed || !ing->loop)
    return;
  ing->closed = true;
  uv_mutex_lock(&ing->mu);
  ing->quit = true;
  uv_cond_signal(&ing->wake);
  uv_mutex_unlock(&ing->mu);
  uv_thread_join(&ing->writer); /* idle: nothing was in flight */
  uv_close((uv_handle_t *)&ing->committed_async, NULL);
  uv_cond_destroy(&ing->wake);
  uv_mutex_destroy(&ing->mu);
  fs_trust_cache_free(ing->trust);
  ing->trust = NULL;
}

void fs_ingest_stop(fs_ingest *ing) {
  ing->stopping = true;
  if (ing->in_flight == 0)
    close_writer(ing);
}

/* A batch of n items taking env and the memory of *arena, or NULL (then
 * nothing was taken). */
static fs_batch *batch_take(Fs__Envelope *env, fs_arena *arena, size_t n) {
  fs_batch *b = calloc(1, sizeof *b);
  if (!b || !(b->items = calloc(n ? n : 1, sizeof *b->items))) {
    free(b);
    return NULL;
  }
  b->env = env;
  fs_arena_init(&b->env_arena, 0);
  fs_arena_move(&b->env_arena, arena);
  b->n = n;
  return b;
}

int fs_batch_new(fs_batch **out, Fs__Envelope *env, fs_arena *arena) {
  size_t n = env->push->n_sets;
  if (n > FS_PUSH_MAX_SETS || env->push->n_certs > FS_PUSH_MAX_CERTS)
    return FS_ELIMIT;
  fs_batch *b = batch_take(env, arena, n);
  if (!b)
    return FS_ENOMEM;
  b->mem = 2 * b->env_arena.held;
  b->certs = env->push->certs;
  b->n_certs = env->push->n_certs;
  *out = b;
  return 0;
}

int fs_batch_new_certs(fs_batch **out, Fs__Envelope *env, fs_arena *arena,
                       const ProtobufCBinaryData *certs, size_t n, bool *checked) {
  fs_batch *b = batch_take(env, arena, 0);
  if (!b)
    return FS_ENOMEM;
  b->mem = b->env_arena.held;
  b->certs = certs;
  b->n_certs = n;
  b->certs_checked = checked;
  b->unordered = true;
  *out = b;
  return 0;
}

/* ------------------------------------------------------------ verification */

/* One verification job: sets [from, to) of a batch, decoded into arena
 * (its own: jobs run at once on different threads). */
struct fs_verify_chunk {
  uv_work_t work;
  fs_batch *b;
  size_t from, to;
  fs_arena arena;
};

void fs_batch_free(fs_batch *b) {
  if (!b)
    return;
  for (size_t i = 0; i < b->nchunks; i++)
    fs_arena_free(&b->chunks[i].arena);
  free(b->chunks);
  free(b->items);
  free(b->certs_checked);
  fs_arena_free(&b->env_arena);
  free(b);
}

static void verify_work(uv_work_t *w) {
  fs_verify_chunk *c = container_of(w, fs_verify_chunk, work);
  fs_batch *b = c->b;
  for (size_t i = c->from; i < c->to; i++) {
    const Fs__SignedChangeSet *s = b->env->push->sets[i];
    fs_batch_item *it = &b->items[i];
    it->verify_rc = fs_changeset_open_in(s->body.data, s->body.len, s->signature.data,
                                         s->signature.len, &c->arena, &it->cs, it->id);
    if (it->verify_rc)
      fs_changeset_id(s->body.data, s->body.len, it->id);
    /* Records issue: the edge checks every written value against the
     * schema; sets relayed by a node are stored and forwarded whatever
     * types and fields they carry (mixed versions, see schema.h). */
    else if (b->from_device)
      it->verify_rc = fs_schema_check_changeset(it->cs, it->reason, sizeof it->reason);
  }
}

/* Hands the writer every batch at the head of the submission order whose
 * verification has finished: a later batch waits for the earlier ones, so
 * a peer's sets are committed in the order it sent them. */
static void queue_verified(fs_ingest *ing) {
  fs_batch *head = ing->submitted.head;
  if (!head || head->chunks_left > 0)
    return;
  uv_mutex_lock(&ing->mu);
  while ((head = ing->submitted.head) && head->chunks_left == 0) {
    ing->submitted.head = head->next;
    list_push(&ing->todo, head);
  }
  if (!ing->submitted.head)
    ing->submitted.tail = &ing->submitted.head;
  uv_cond_signal(&ing->wake);
  uv_mutex_unlock(&ing->mu);
}

static void verify_done(uv_work_t *w, int status) {
  fs_verify_chunk *c = container_of(w, fs_verify_chunk, work);
  fs_batch *b = c->b;
  if (status != 0 && b->rc == 0)
    b->rc = status; /* cancelled: nothing of the batch is committed */
  b->chunks_left--;
  queue_verified(b->ing);
}

/* The end of the chunk that starts at set from: a few sets or one large
 * one, so that both cores share even a single peer's Push. */
static size_t chunk_end(const fs_batch *b, size_t from, size_t *bytes) {
  size_t to = from;
  *bytes = 0;
  while (to < b->n && to - from < FS_VERIFY_CHUNK && *bytes < FS_VERIFY_CHUNK_BYTES)
    *bytes += b->env->push->sets[to++]->body.len;
  return to;
}

int fs_ingest_submit(fs_ingest *ing, fs_batch *b) {
  if (ing->stopping || ing->closed)
    return FS_ESHUTDOWN;
  b->ing = ing;
  b->rc = 0;
  b->chunks_left = 0;
  if (b->unordered) {
    /* Nothing to verify and no Push of its peer to follow: it goes first
     * into the writer's next transaction, not behind every Push in flight. */
    ing->in_flight++;
    uv_mutex_lock(&ing->mu);
    b->next = ing->todo.head;
    ing->todo.head = b;
    if (ing->todo.tail == &ing->todo.head)
      ing->todo.tail = &b->next;
    uv_cond_signal(&ing->wake);
    uv_mutex_unlock(&ing->mu);
    return 0;
  }
  size_t nchunks = 0, bytes;
  for (size_t from = 0; from < b->n; nchunks++)
    from = chunk_end(b, from, &bytes);
  if (nchunks && !(b->chunks = calloc(nchunks, sizeof *b->chunks)))
    return FS_ENOMEM;
  /* Queued first, then counted, so that a failure to queue leaves only
   * whole jobs to wait for. */
  int rc = 0;
  for (size_t from = 0; from < b->n;) {
    fs_verify_chunk *c = &b->chunks[b->nchunks];
    size_t to = chunk_end(b, from, &bytes);
    *c = (fs_verify_chunk){.b = b, .from = from, .to = to};
    fs_arena_init(&c->arena, fs_changeset_arena_chunk(bytes));
    if ((rc = uv_queue_work(ing->loop, &c->work, verify_work, verify_done)))
      break;
    b->nchunks++;
    b->chunks_left++;
    from = to;
  }
  if (rc && b->chunks_left == 0)
    return rc; /* nothing queued: the caller still owns b */
  if (rc)
    b->rc = rc; /* some chunks run: the batch fails as a whole when they end */
  ing->in_flight++;
  list_push(&ing->submitted, b);
  queue_verified(ing); /* a Push of certificates only */
  return 0;
}

/* ------------------------------------------------------------------ commit */

static void refuse(fs_batch_item *it, Fs__AckStatus st, int code, const char *why) {
  it->status = st;
  snprintf(it->reason, sizeof it->reason, "%s: %.250s", fs_errname(code), why);
}

static int get_head(fs_store *s, MDB_txn *txn, const uint8_t *dev, uint64_t *seq,
                    uint8_t head[FS_HASH_LEN]) {
  MDB_val k = {FS_PK_LEN, (void *)dev}, v;
  int rc = fs_err_from_mdb(mdb_get(txn, s->devices, &k, &v));
  if (rc == FS_ENOTFOUND) {
    *seq = 0;
    memcpy(head, zero_hash, FS_HASH_LEN);
    return 0;
  }
  if (rc)
    return rc;
  if (v.mv_size < DEVICE_VAL_LEN)
    return FS_ESTORE;
  *seq = fs_be64_get(v.mv_data);
  memcpy(head, (uint8_t *)v.mv_data + 8, FS_HASH_LEN);
  return 0;
}

static int put_signed(MDB_txn *txn, MDB_dbi dbi, const uint8_t *key, size_t klen,
                      const Fs__SignedChangeSet *set, unsigned flags) {
  /* Our wrapper around the verbatim body; the body bytes are untouched. */
  Fs__SignedChangeSet copy = FS__SIGNED_CHANGE_SET__INIT;
  copy.body = set->body;
  copy.signature = set->signature;
  MDB_val k = {klen, (void *)key},
          v = {fs__signed_change_set__get_packed_size(&copy), NULL};
  int rc = fs_err_from_mdb(mdb_put(txn, dbi, &k, &v, MDB_RESERVE | flags));
  if (rc == 0)
    fs__signed_change_set__pack(&copy, v.mv_data);
  return rc;
}

/* Stores a new change set at the head of its device's chain: appended to
 * the log (so a commit writes the log's last pages, not pages all over
 * the file), found by device and seq through devseq. */
static int accept_set(fs_store *s, MDB_txn *txn, fs_batch_item *it,
                      const Fs__SignedChangeSet *set) {
  const Fs__ChangeSet *cs = it->cs;
  uint64_t log_seq;
  uint8_t lk[8], dv[DEVICE_VAL_LEN], dsk[FS_PK_LEN + 8], dsv[FS_HASH_LEN + 8];
  int rc;
  if ((rc = fs_meta_get_u64(s, txn, "log_seq", &log_seq)) ||
      (rc = fs_meta_put_u64(s, txn, "log_seq", ++log_seq)))
    return rc;
  fs_be64_put(lk, log_seq);
  if ((rc = put_signed(txn, s->log, lk, sizeof lk, set, MDB_APPEND)))
    return rc;
  fs_be64_put(dv, cs->seq);
  memcpy(dv + 8, it->id, FS_HASH_LEN);
  MDB_val dk = {FS_PK_LEN, cs->device.data}, dval = {sizeof dv, dv};
  if ((rc = fs_err_from_mdb(mdb_put(txn, s->devices, &dk, &dval, 0))))
    return rc;
  memcpy(dsk, cs->device.data, FS_PK_LEN);
  fs_be64_put(dsk + FS_PK_LEN, cs->seq);
  memcpy(dsv, it->id, FS_HASH_LEN);
  memcpy(dsv + FS_HASH_LEN, lk, sizeof lk);
  MDB_val sk = {sizeof dsk, dsk}, sv = {sizeof dsv, dsv};
  if ((rc = fs_err_from_mdb(mdb_put(txn, s->devseq, &sk, &sv, 0))))
    return rc;
  rc = fs_store_apply_changeset(s, txn, cs);
  if (rc < 0)
    return rc;
  it->status = FS__ACK_STATUS__ACK_STORED;
  it->stored = true;
  it->head_seq = cs->seq;
  return 0;
}

/* Keeps a forked set as evidence and refuses it; the peer's forks count
 * and the node's quarantine show the device on the dashboard. */
static int quarantine(fs_store *s, MDB_txn *txn, fs_batch_item *it,
                      const Fs__SignedChangeSet *set, const char *why) {
  int rc = put_signed(txn, s->quarantine, it->id, FS_HASH_LEN, set, 0);
  if (rc == 0)
    refuse(it, FS__ACK_STATUS__ACK_FORK, FS_EFORK, why);
  return rc;
}

/* 1 when the held set v has this id (a resend), 0 when it is another body
 * for the same seq (a fork), FS_ESTORE when v does not decode. */
static int held_is(const MDB_val *v, const uint8_t id[FS_HASH_LEN]) {
  Fs__SignedChangeSet *set = fs__signed_change_set__unpack(NULL, v->mv_size, v->mv_data);
  if (!set)
    return FS_ESTORE;
  uint8_t held[FS_HASH_LEN];
  fs_changeset_id(set->body.data, set->body.len, held);
  fs__signed_change_set__free_unpacked(set, NULL);
  return memcmp(held, id, FS_HASH_LEN) == 0;
}

static void held_key(uint8_t out[FS_PK_LEN + 8], const uint8_t *dev, uint64_t seq) {
  memcpy(out, dev, FS_PK_LEN);
  fs_be64_put(out + FS_PK_LEN, seq);
}

/* Deletes every held set of a revoked device: later than its last_seq, none
 * may ever apply, and keeping them would have the node fetch gaps for them. */
static int drop_held(fs_store *s, MDB_txn *txn, const uint8_t *dev) {
  MDB_cursor *cur;
  int rc = fs_err_from_mdb(mdb_cursor_open(txn, s->held, &cur));
  if (rc)
    return rc;
  uint8_t kb[FS_PK_LEN + 8];
  held_key(kb, dev, 0);
  for (;;) { /* seek again after each delete: simple and bounded by the held count */
    MDB_val k = {sizeof kb, kb}, v;
    rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE));
    if (rc || k.mv_size != sizeof kb || memcmp(k.mv_data, dev, FS_PK_LEN) != 0)
      break;
    if ((rc = fs_err_from_mdb(mdb_cursor_del(cur, 0))))
      break;
  }
  mdb_cursor_close(cur);
  return rc == FS_ENOTFOUND ? 0 : rc;
}

/* After a device's head advanced, applies the sets held for the following
 * sequence numbers, in order, as long as each extends the chain. Returns
 * the number applied or a storage error. */
static int drain_held(fs_store *s, MDB_txn *txn, const uint8_t *root, const uint8_t *dev,
                      uint64_t seq, const uint8_t *head_id) {
  uint8_t head[FS_HASH_LEN];
  memcpy(head, head_id, FS_HASH_LEN);
  int applied = 0;
  for (;;) {
    uint8_t kb[FS_PK_LEN + 8];
    held_key(kb, dev, seq + 1);
    MDB_val k = {sizeof kb, kb}, v;
    int rc = fs_err_from_mdb(mdb_get(txn, s->held, &k, &v));
    if (rc == FS_ENOTFOUND)
      return applied;
    if (rc)
      return rc;
    Fs__SignedChangeSet *set = fs__signed_change_set__unpack(NULL, v.mv_size, v.mv_data);
    if ((rc = fs_err_from_mdb(mdb_del(txn, s->held, &k, NULL)))) {
      if (set)
        fs__signed_change_set__free_unpacked(set, NULL);
      return rc;
    }
    if (!set)
      return FS_ESTORE;
    fs_batch_item it = {0};
    /* Verified when it was held (commit_item): a second Ed25519 check here
     * would stall the writer for nothing. Revocation since is checked below. */
    rc = fs_changeset_open_stored(set->body.data, set->body.len, &it.cs, it.id);
    uint64_t last_seq, from;
    int rev = rc == 0 ? fs_trust_revoked(s, txn, root, dev, &last_seq, &from) : 0;
    if (rev < 0) {
      rc = rev;
    } else if (rev == 1 && it.cs->seq > last_seq) {
      /* Revoked while it waited: refused like any later set of the device. */
      fs_log(FS_LOG_WARN, "ingest.refused", "seq=%llu reason=\"E_REVOKED: held set of a "
             "device revoked after change set %llu\"", (unsigned long long)it.cs->seq,
             (unsigned long long)last_seq);
      rc = drop_held(s, txn, dev);
      if (rc == 0)
        rc = 1; /* stop draining: nothing later of this device may apply */
    } else if (rc == 0 && memcmp(it.cs->prev.data, head, FS_HASH_LEN) == 0) {
      rc = accept_set(s, txn, &it, set);
      if (rc == 0) {
        applied++;
        seq++;
        memcpy(head, it.id, FS_HASH_LEN);
      }
    } else if (rc == 0) {
      /* Held for this seq but not on the chain: a fork, kept as evidence. */
      rc = put_signed(txn, s->quarantine, it.id, FS_HASH_LEN, set, 0);
      fs_log(FS_LOG_WARN, "ingest.fork", "seq=%llu reason=\"held set does not extend the chain\"",
             (unsigned long long)it.cs->seq);
      if (rc == 0)
        rc = 1; /* stop draining */
    } else {
      rc = 0; /* verified when it was held; cannot fail now unless the store lies */
    }
    if (it.cs)
      fs__change_set__free_unpacked(it.cs, NULL);
    fs__signed_change_set__free_unpacked(set, NULL);
    if (rc < 0)
      return rc;
    if (rc == 1)
      return applied;
  }
}

/* The greatest clock a change set carries. */
static uint64_t max_clock(const Fs__ChangeSet *cs) {
  uint64_t m = cs->hlc;
  for (size_t i = 0; i < cs->n_changes; i++)
    for (size_t j = 0; j < cs->changes[i]->n_writes; j++)
      if (cs->changes[i]->writes[j]->hlc > m)
        m = cs->changes[i]->writes[j]->hlc;
  return m;
}

/* Decides one item inside the commit transaction. Returns 0 when the item
 * got a status, or a storage error that aborts the transaction. */
static int commit_item(fs_ingest *ing, MDB_txn *txn, fs_batch *b, fs_batch_item *it,
                       const Fs__SignedChangeSet *set) {
  fs_store *s = ing->store;
  const uint8_t *root = ing->root;
  if (it->verify_rc) {
    char why[sizeof it->reason]; /* records issue: keep the schema's reason */
    snprintf(why, sizeof why, "%s", it->reason[0] ? it->reason : fs_strerror(it->verify_rc));
    refuse(it, FS__ACK_STATUS__ACK_REFUSED, it->verify_rc, why);
    return 0;
  }
  const Fs__ChangeSet *cs = it->cs;
  if (b->from_device && memcmp(cs->device.data, b->peer_key, FS_PK_LEN) != 0) {
    refuse(it, FS__ACK_STATUS__ACK_REFUSED, FS_ESCOPE,
           "a device may push only change sets it signed itself");
    return 0;
  }
  /* A laptop clock far ahead is reported, not refused: a refused set can
   * never leave the laptop's chain, and correcting the clock would not
   * unsign it. Its writes win until the others' clocks catch up. */
  if (b->from_device && fs_hlc_ms(max_clock(cs)) > fs_hlc_now_ms() + FS_HLC_MAX_SKEW_MS)
    it->clock_ahead = true;
  /* The device's own enrolment, wherever the set comes from: a set
   * invented or relayed by a node below is checked like one from a laptop. */
  int trc = fs_trust_cache_find(ing->trust, s, txn, root, cs->device.data,
                                FS__CERT_KIND__CERT_DEVICE, cs->area, fs_hlc_ms(cs->hlc));
  if (trc < 0 && trc != FS_EUNKNOWN_PEER && trc != FS_EEXPIRED &&
      trc != FS_EUNTRUSTED && trc != FS_ESCOPE)
    return trc;
  if (trc) {
    refuse(it, FS__ACK_STATUS__ACK_REFUSED, trc,
           trc == FS_EEXPIRED ? "the device's enrolment was not valid when the set was made"
           : trc == FS_ESCOPE ? "the set's area lies outside the device's enrolment"
                              : "the device has no enrolment certificate here");
    return 0;
  }
  uint64_t last_seq, from;
  trc = fs_trust_cache_revoked(ing->trust, s, txn, root, cs->device.data, &last_seq, &from);
  if (trc < 0)
    return trc;
  if (trc == 1 && cs->seq > last_seq) {
    char why[96];
    snprintf(why, sizeof why, "the device was revoked after change set %llu",
             (unsigned long long)last_seq);
    refuse(it, FS__ACK_STATUS__ACK_REFUSED, FS_EREVOKED, why);
    return 0;
  }
  if (!fs_area_within(cs->area, b->scope)) {
    char why[FS_MAX_AREA * 2 + 64];
    snprintf(why, sizeof why, "area %s lies outside the permitted scope %s", cs->area,
             b->scope);
    refuse(it, FS__ACK_STATUS__ACK_REFUSED, FS_ESCOPE, why);
    return 0;
  }
  uint8_t head[FS_HASH_LEN];
  int rc = get_head(s, txn, cs->device.data, &it->head_seq, head);
  if (rc)
    return rc;
  if (cs->seq <= it->head_seq) { /* this very set again, or a fork (below) */
    uint8_t id[FS_HASH_LEN];
    uint64_t at;
    rc = fs_store_devseq_get(s, txn, cs->device.data, cs->seq, id, &at);
    if (rc == 0 && memcmp(id, it->id, FS_HASH_LEN) == 0) {
      it->status = FS__ACK_STATUS__ACK_DUPLICATE;
      return 0;
    }
    if (rc && rc != FS_ENOTFOUND)
      return rc;
  }
  if (cs->seq > it->head_seq + 1 && (!b->from_device || ing->hold_device_gaps)) {
    /* Relayed from below ahead of an earlier set: keep it durably so the
     * child can move on, apply it once the chain reaches it. From a laptop
     * at a node with a parent, the gap is what this node lost (restored
     * from an older copy): the parent has it and is asked for it. A
     * different body already held at this seq is a fork: the first stays
     * held (the chain decides when it gets there), this one is evidence. */
    uint8_t kb[FS_PK_LEN + 8];
    held_key(kb, cs->device.data, cs->seq);
    MDB_val hk = {sizeof kb, kb}, hv;
    rc = fs_err_from_mdb(mdb_get(txn, s->held, &hk, &hv));
    if (rc == FS_ENOTFOUND)
      rc = put_signed(txn, s->held, kb, sizeof kb, set, 0);
    else if (rc == 0 && (rc = held_is(&hv, it->id)) == 0)
      return quarantine(s, txn, it, set, "another change set is held at this sequence number");
    if (rc < 0)
      return rc;
    it->want_gap = b->from_device;
    it->status = FS__ACK_STATUS__ACK_HELD;
    snprintf(it->reason, sizeof it->reason,
             "held until change sets %llu..%llu of this device arrive",
             (unsigned long long)it->head_seq + 1, (unsigned long long)cs->seq - 1);
    return 0;
  }
  if (cs->seq > it->head_seq + 1) {
    char why[96];
    snprintf(why, sizeof why, "server head is %llu; resend from there",
             (unsigned long long)it->head_seq);
    refuse(it, FS__ACK_STATUS__ACK_GAP, FS_EGAP, why);
    return 0;
  }
  if (cs->seq == it->head_seq + 1 && memcmp(cs->prev.data, head, FS_HASH_LEN) == 0) {
    /* Records issue: at the edge a new record (absent from the store)
     * carries its required fields; an existing record's stored fields are
     * never held against the set (see fs_schema_check_stored). */
    char why[FS_SCHEMA_WHY];
    if (b->from_device && (rc = fs_schema_check_stored(s, txn, cs, why, sizeof why))) {
      if (rc != FS_EINVAL)
        return rc;
      refuse(it, FS__ACK_STATUS__ACK_REFUSED, FS_EINVAL, why);
      return 0;
    }
    if ((rc = accept_set(s, txn, it, set)))
      return rc;
    rc = drain_held(s, txn, root, cs->device.data, cs->seq, it->id);
    if (rc > 0)
      it->head_seq += (uint64_t)rc;
    return rc < 0 ? rc : 0;
  }
  /* A second body for a stored seq, or one that does not extend the head:
   * the device forked. Keep it as evidence, refuse it. */
  return quarantine(s, txn, it, set,
                    cs->seq <= it->head_seq ? "another change set holds this sequence number"
                                            : "prev does not match the hash of the head");
}

/* Applies batches (linked by next) in one write transaction; runs on the
 * writer thread. A batch that failed before (cancelled) is skipped. */
static void commit_batches(fs_ingest *ing, fs_batch *list) {
  fs_store *s = ing->store;
  MDB_txn *txn = NULL; /* stays NULL when the begin fails: nothing to abort */
  int rc = fs_store_begin(s, true, &txn);
  fs_trust_cache_reset(ing->trust); /* it knows this transaction only */
  for (fs_batch *b = list; rc == 0 && b; b = b->next) {
    if (b->rc)
      continue;
    if (b->n_certs) {
      int r = fs_certs_store(s, txn, ing->root, b->certs, b->n_certs, b->certs_checked);
      if (r > 0)
        fs_trust_cache_reset(ing->trust); /* may revoke a key or its issuer */
      rc = r < 0 ? r : 0; /* a storage error aborts */
      uint64_t prev;
      if (rc == 0 && b->cert_cursor &&
          (rc = fs_peer_get_u64(s, txn, b->peer_key, "cert_cursor", &prev)) == 0 &&
          b->cert_cursor > prev)
        rc = fs_peer_put_u64(s, txn, b->peer_key, "cert_cursor", b->cert_cursor);
    }
    for (size_t i = 0; rc == 0 && i < b->n; i++)
      rc = commit_item(ing, txn, b, &b->items[i], b->env->push->sets[i]);
    rc = rc ? rc : fs_peers_persist(s, txn, b); /* per-peer counts, durable with the sets */
    uint64_t prev;
    if (rc == 0 && b->set_cursor && b->n > 0 &&
        (rc = fs_peer_get_u64(s, txn, b->peer_key, "cursor", &prev)) == 0 &&
        b->cursor > prev && (rc = fs_peer_put_u64(s, txn, b->peer_key, "cursor", b->cursor)) == 0)
      rc = fs_peer_put_id(s, txn, b->peer_key, "cursor_id", b->items[b->n - 1].id);
  }
  if (rc == 0)
    rc = fs_store_commit(txn);
  else if (txn)
    mdb_txn_abort(txn);
  for (fs_batch *b = list; b; b = b->next)
    if (b->rc == 0)
      b->rc = rc;
}

/* On the writer thread, holding no transaction: has the loop thread grow
 * the map (store.h: LMDB allows it only while no transaction of the process
 * is active; the loop holds none between callbacks, verification does not
 * touch the store) and waits for it. Returns what fs_store_grow returned. */
static int grow_map(fs_ingest *ing, bool force) {
  uv_mutex_lock(&ing->mu);
  ing->grow = force ? FS_GROW_FORCE : FS_GROW_IF_NEEDED;
  uv_async_send(&ing->committed_async);
  while (ing->grow != FS_GROW_NONE)
    uv_cond_wait(&ing->wake, &ing->mu);
  int rc = ing->grow_rc;
  uv_mutex_unlock(&ing->mu);
  return rc;
}

/* Commits a list of batches; grows the map ahead of need, and when the
 * commit failed for want of room, grows it and runs the commit again,
 * whole (at most until map_max: every round doubles the map). */
static void commit_growing(fs_ingest *ing, fs_batch *list) {
  for (;;) {
    commit_batches(ing, list);
    bool full = false;
    for (fs_batch *b = list; b; b = b->next)
      full |= b->rc == FS_EMAPFULL;
    if (!full && !fs_store_wants_growth(ing->store))
      return;
    int rc = grow_map(ing, full);
    if (rc < 0 && rc != FS_EMAPFULL)
      fs_log(FS_LOG_WARN, "ingest.grow_failed", "err=%s", fs_errname(rc));
    if (!full || rc != 1)
      return;
    fs_log(FS_LOG_INFO, "ingest.commit_retried", "msg=\"the map was full: grown, "
           "committing the same pushes again\"");
    for (fs_batch *b = list; b; b = b->next) {
      if (b->rc != FS_EMAPFULL)
        continue;
      b->rc = 0;
      for (size_t i = 0; i < b->n; i++) { /* what the aborted transaction decided */
        b->items[i].stored = b->items[i].want_gap = b->items[i].clock_ahead = false;
        b->items[i].head_seq = 0;
      }
    }
  }
}

/* The writer thread: takes queued batches up to FS_COMMIT_MAX_SETS and
 * FS_COMMIT_MAX_BYTES (at least one batch) per transaction until told to
 * quit. */
const double fs_commit_bounds_ms[FS_COMMIT_BUCKETS] = {0.5, 1,   2,   5,    10,   20,
                                                       50,  100, 250, 1000, 2500, 10000};

static void commit_hist_add(fs_commit_hist *h, uint64_t ns) {
  double ms = (double)ns / 1e6;
  for (size_t i = 0; i < FS_COMMIT_BUCKETS; i++)
    if (ms <= fs_commit_bounds_ms[i])
      h->le[i]++;
  h->count++;
  h->sum_s += ms / 1e3;
}

void fs_ingest_commit_hist(fs_ingest *ing, fs_commit_hist *out) {
  if (ing->closed || !ing->loop) { /* the mutex is gone or was never made */
    *out = ing->commit_time;
    return;
  }
  uv_mutex_lock(&ing->mu);
  *out = ing->commit_time;
  uv_mutex_unlock(&ing->mu);
}

static void writer_main(void *arg) {
  fs_ingest *ing = arg;
  uv_mutex_lock(&ing->mu);
  for (;;) {
    while (!ing->todo.head && !ing->quit)
      uv_cond_wait(&ing->wake, &ing->mu);
    if (!ing->todo.head)
      break;
    fs_batch *first = ing->todo.head, *last = first;
    size_t sets = first->n, bytes = first->env_arena.held;
    while (last->next && sets + last->next->n <= FS_COMMIT_MAX_SETS &&
           bytes + last->next->env_arena.held <= FS_COMMIT_MAX_BYTES) {
      last = last->next;
      sets += last->n;
      bytes += last->env_arena.held;
    }
    ing->todo.head = last->next;
    if (!ing->todo.head)
      ing->todo.tail = &ing->todo.head;
    last->next = NULL;
    uv_mutex_unlock(&ing->mu);
    uint64_t t0 = uv_hrtime();
    commit_growing(ing, first);
    uint64_t took = uv_hrtime() - t0;
    uv_mutex_lock(&ing->mu);
    commit_hist_add(&ing->commit_time, took);
    for (fs_batch *b = first, *next; b; b = next) {
      next = b->next;
      list_push(&ing->done, b);
    }
    ing->txns++;
    uv_async_send(&ing->committed_async);
  }
  uv_mutex_unlock(&ing->mu);
}

/* Counts and logs what a committed batch's items became. */
static uint64_t tally(fs_ingest *ing, const fs_batch *b) {
  uint64_t stored = 0;
  for (size_t i = 0; b->rc == 0 && i < b->n; i++) {
    const fs_batch_item *it = &b->items[i];
    switch (it->status) {
    case FS__ACK_STATUS__ACK_STORED: stored++; break;
    case FS__ACK_STATUS__ACK_DUPLICATE: ing->duplicates++; break;
    case FS__ACK_STATUS__ACK_GAP: ing->gaps++; break;
    case FS__ACK_STATUS__ACK_HELD: ing->held++; break;
    case FS__ACK_STATUS__ACK_FORK: ing->forks++; break;
    default: ing->refused++; break;
    }
    if (it->clock_ahead) {
      char dev[2 * FS_PK_LEN + 1];
      fs_hex_encode(dev, it->cs->device.data, FS_PK_LEN);
      ing->clock_ahead++;
      fs_log(FS_LOG_WARN, "ingest.clock_ahead", "device=%.16s seq=%llu msg=\"the "
             "laptop's clock runs more than a day ahead; correct its date and time\"",
             dev, (unsigned long long)it->cs->seq);
    }
    if (it->status == FS__ACK_STATUS__ACK_FORK || it->status == FS__ACK_STATUS__ACK_REFUSED) {
      char dev[2 * FS_PK_LEN + 1] = "?";
      if (it->cs)
        fs_hex_encode(dev, it->cs->device.data, FS_PK_LEN);
      fs_log(FS_LOG_WARN, it->status == FS__ACK_STATUS__ACK_FORK ? "ingest.fork" : "ingest.refused",
             "device=%.16s seq=%llu reason=\"%s\"", dev,
             it->cs ? (unsigned long long)it->cs->seq : 0ull, it->reason);
    }
  }
  if (b->rc)
    fs_log(FS_LOG_ERROR, "ingest.commit_failed", "err=%s", fs_errname(b->rc));
  return stored;
}

/* On the loop thread, holding mu: the map growth the writer waits for
 * (holding no transaction). While a report on the pool holds a read
 * transaction, a growth ahead of need is skipped (the writer asks again
 * after its next commit) and a forced one - the map is full - waits until
 * the report ends (fs_ingest_grow_pending). */
static void grow_if_asked(fs_ingest *ing) {
  if (ing->grow == FS_GROW_NONE)
    return;
  bool reading = ing->store->pool_readers > 0;
  if (reading && ing->grow == FS_GROW_FORCE) {
    if (!ing->grow_deferred)
      fs_log(FS_LOG_INFO, "store.grow_deferred", "msg=\"the map is full; it grows when the "
             "report being computed ends\"");
    ing->grow_deferred = true;
    return;
  }
  ing->grow_deferred = false;
  ing->grow_rc = reading ? 0 : fs_store_grow(ing->store, ing->grow == FS_GROW_FORCE);
  ing->grow = FS_GROW_NONE;
  uv_cond_broadcast(&ing->wake);
}

void fs_ingest_grow_pending(fs_ingest *ing) {
  if (!ing->loop || ing->closed)
    return;
  uv_mutex_lock(&ing->mu);
  grow_if_asked(ing);
  uv_mutex_unlock(&ing->mu);
}

/* On the loop thread: the batches the writer committed, in commit order. */
static void on_committed_async(uv_async_t *a) {
  fs_ingest *ing = a->data;
  uv_mutex_lock(&ing->mu);
  grow_if_asked(ing);
  fs_batch *b = ing->done.head;
  list_init(&ing->done);
  ing->commits = ing->txns;
  uv_mutex_unlock(&ing->mu);
  uint64_t stored = 0;
  while (b) {
    fs_batch *next = b->next;
    stored += tally(ing, b);
    ing->in_flight--;
    b->done(b);
    b = next;
  }
  ing->stored += stored;
  if (stored && ing->committed)
    ing->committed(ing->committed_arg, ing->stored);
  if (ing->stopping && ing->in_flight == 0)
    close_writer(ing);
}

int fs_batch_ack(const fs_batch *b, int (*send)(void *arg, const Fs__Envelope *env),
                 void *arg) {
  Fs__AckItem *items = calloc(b->n ? b->n : 1, sizeof *items);
  Fs__AckItem **ptrs = calloc(b->n ? b->n : 1, sizeof *ptrs);
  int rc = FS_ENOMEM;
  if (items && ptrs) {
    for (size_t i = 0; i < b->n; i++) {
      const fs_batch_item *it = &b->items[i];
      fs__ack_item__init(&items[i]);
      items[i].id.data = (uint8_t *)it->id;
      items[i].id.len = FS_HASH_LEN;
      items[i].status = it->status;
      if (it->cs) {
        items[i].device = it->cs->device;
        items[i].seq = it->cs->seq;
      }
      items[i].head_seq = it->head_seq;
      items[i].reason = (char *)it->reason;
      ptrs[i] = &items[i];
    }
    Fs__Ack ack = FS__ACK__INIT;
    ack.n_items = b->n;
    ack.items = ptrs;
    Fs__Envelope env = FS__ENVELOPE__INIT;
    env.msg_case = FS__ENVELOPE__MSG_ACK;
    env.ack = &ack;
    rc = send(arg, &env);
  }
  free(items);
  free(ptrs);
  return rc;
}
