/* peers.c - the per-peer table: lookups, counts, durable counters. */
#include "peers.h"

#include "cert.h"
#include "error.h"
#include "hlc.h"
#include "ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Names of the durable counters in the peers database (beside the child's
 * "cursor", "cert_cursor" and "cursor_id" the ingest keeps). */
#define P_SETS "sets_in"
#define P_DUPS "duplicates"
#define P_REFUSED "refused"
#define P_FORKS "forks"
#define P_CONTACT "contact_ms"
#define P_REFUSAL "refusal" /* ms(8) || reason */

void fs_peers_init(fs_peers *p, fs_store *store) {
  memset(p, 0, sizeof *p);
  p->store = store;
}

void fs_peers_free(fs_peers *p) {
  for (size_t i = 0; i < p->n; i++)
    free(p->v[i]);
  free(p->v);
  memset(p, 0, sizeof *p);
}

/* Index of key, or -(insertion point)-1. */
static long find(const fs_peers *p, const uint8_t *key) {
  size_t lo = 0, hi = p->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = memcmp(p->v[mid]->key, key, FS_PK_LEN);
    if (c == 0)
      return (long)mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -(long)lo - 1;
}

/* Frees the longest-silent stranger with no session; false if none. */
static bool evict_stranger(fs_peers *p) {
  size_t best = SIZE_MAX;
  for (size_t i = 0; i < p->n; i++) {
    const fs_peer *e = p->v[i];
    if (e->stranger && e->sessions == 0 &&
        (best == SIZE_MAX || e->last_contact_ms < p->v[best]->last_contact_ms))
      best = i;
  }
  if (best == SIZE_MAX)
    return false;
  free(p->v[best]);
  memmove(&p->v[best], &p->v[best + 1], (p->n - best - 1) * sizeof *p->v);
  p->n--;
  return true;
}

/* Names e from its certificate (node first, then device), when it has one. */
static void name_from_cert(fs_peers *p, MDB_txn *txn, fs_peer *e) {
  fs_grant g;
  if (fs_cert_latest(p->store, txn, e->key, FS__CERT_KIND__CERT_NODE, &g) == 0) {
    e->kind = FS_PEER_CHILD;
    snprintf(e->name, sizeof e->name, "%s", g.node_id);
  } else if (fs_cert_latest(p->store, txn, e->key, FS__CERT_KIND__CERT_DEVICE, &g) == 0) {
    snprintf(e->name, sizeof e->name, "%s", g.officer);
    snprintf(e->officer_id, sizeof e->officer_id, "%s", g.officer_id);
  } else {
    e->stranger = true;
    return;
  }
  e->stranger = false;
  snprintf(e->area, sizeof e->area, "%s", g.area);
}

/* The entry of key, created (named from its certificate, in a read
 * transaction of its own when txn is NULL) when missing; NULL when full. */
static fs_peer *get(fs_peers *p, MDB_txn *txn, const uint8_t *key, bool node) {
  long i = find(p, key);
  if (i >= 0)
    return p->v[i];
  if (p->n >= FS_PEERS_MAX) {
    if (!evict_stranger(p))
      return NULL;
    i = find(p, key); /* the insertion point moved */
  }
  if (p->n == p->cap) {
    size_t cap = p->cap ? 2 * p->cap : 16;
    fs_peer **nv = realloc(p->v, cap * sizeof *nv);
    if (!nv)
      return NULL;
    p->v = nv;
    p->cap = cap;
  }
  fs_peer *e = calloc(1, sizeof *e);
  if (!e)
    return NULL;
  memcpy(e->key, key, FS_PK_LEN);
  e->kind = node ? FS_PEER_CHILD : FS_PEER_DEVICE;
  MDB_txn *own = NULL;
  if (txn || fs_store_begin(p->store, false, &own) == 0) {
    name_from_cert(p, txn ? txn : own, e);
    if (own)
      mdb_txn_abort(own);
  } else {
    e->stranger = true;
  }
  size_t at = (size_t)(-i - 1);
  memmove(&p->v[at + 1], &p->v[at], (p->n - at) * sizeof *p->v);
  p->v[at] = e;
  p->n++;
  return e;
}

static void set_refusal(fs_peers *p, fs_peer *e, uint64_t ms, const char *why) {
  if (e) {
    e->last_refusal_ms = ms;
    snprintf(e->last_refusal, sizeof e->last_refusal, "%s", why);
  }
  if (ms >= p->last_refusal_ms) {
    p->last_refusal_ms = ms;
    snprintf(p->last_refusal, sizeof p->last_refusal, "%s", why);
  }
}

/* Reads e's durable counters. */
static int load_one(fs_peers *p, MDB_txn *txn, fs_peer *e) {
  fs_store *s = p->store;
  uint64_t cursor = 0;
  MDB_val v;
  int rc;
  if ((rc = fs_peer_get_u64(s, txn, e->key, P_SETS, &e->sets_in)) ||
      (rc = fs_peer_get_u64(s, txn, e->key, P_DUPS, &e->duplicates)) ||
      (rc = fs_peer_get_u64(s, txn, e->key, P_REFUSED, &e->refused)) ||
      (rc = fs_peer_get_u64(s, txn, e->key, P_FORKS, &e->forks)) ||
      (rc = fs_peer_get_u64(s, txn, e->key, P_CONTACT, &e->last_contact_ms)) ||
      (rc = fs_peer_get_u64(s, txn, e->key, "cursor", &cursor)))
    return rc;
  if (e->kind == FS_PEER_CHILD) {
    e->cursor = cursor;
  } else {
    MDB_val dk = {FS_PK_LEN, e->key}, dv;
    if (mdb_get(txn, s->devices, &dk, &dv) == 0 && dv.mv_size >= 8)
      e->cursor = fs_be64_get(dv.mv_data);
  }
  rc = fs_peer_get(s, txn, e->key, P_REFUSAL, &v);
  if (rc == 0 && v.mv_size > 8 && v.mv_size - 8 < FS_PEER_REASON_MAX) {
    char why[FS_PEER_REASON_MAX];
    memcpy(why, (uint8_t *)v.mv_data + 8, v.mv_size - 8);
    why[v.mv_size - 8] = '\0';
    set_refusal(p, e, fs_be64_get(v.mv_data), why);
  }
  return rc == FS_ENOTFOUND ? 0 : rc;
}

int fs_peers_load(fs_peers *p, const uint8_t self[FS_PK_LEN]) {
  MDB_txn *txn;
  MDB_cursor *cur;
  int rc = fs_store_begin(p->store, false, &txn);
  if (rc)
    return rc;
  if ((rc = fs_err_from_mdb(mdb_cursor_open(txn, p->store->peers, &cur)))) {
    mdb_txn_abort(txn);
    return rc;
  }
  uint8_t last[FS_PK_LEN];
  bool any = false;
  MDB_val k, v;
  for (rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_FIRST)); rc == 0;
       rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_NEXT))) {
    if (k.mv_size <= FS_PK_LEN || (any && memcmp(k.mv_data, last, FS_PK_LEN) == 0))
      continue;
    memcpy(last, k.mv_data, FS_PK_LEN);
    any = true;
    if (memcmp(last, self, FS_PK_LEN) == 0)
      continue; /* sets fetched from the parent are ingested under our key */
    fs_peer *e = get(p, txn, last, false);
    if (!e)
      break; /* full: the rest stay on disk and count again when they connect */
    if ((rc = load_one(p, txn, e)))
      break;
  }
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  return rc == FS_ENOTFOUND ? 0 : rc;
}

fs_peer *fs_peers_opened(fs_peers *p, const uint8_t key[FS_PK_LEN], const fs_grant *g,
                         const char *software, const fs_conn *c) {
  bool node = g->kind == FS__CERT_KIND__CERT_NODE;
  fs_peer *e = get(p, NULL, key, node);
  if (!e)
    return NULL;
  e->stranger = false;
  e->kind = node ? FS_PEER_CHILD : FS_PEER_DEVICE;
  snprintf(e->name, sizeof e->name, "%s", node ? g->node_id : g->officer);
  snprintf(e->officer_id, sizeof e->officer_id, "%s", node ? "" : g->officer_id);
  snprintf(e->area, sizeof e->area, "%s", g->area);
  snprintf(e->software, sizeof e->software, "%s", software);
  e->last_contact_ms = fs_hlc_now_ms();
  for (size_t i = 0; i < FS_PEER_LIVE_MAX; i++)
    if (!e->live[i]) {
      e->live[i] = c;
      e->sessions++;
      break;
    }
  return e;
}

unsigned fs_peers_sessions(const fs_peers *p, const uint8_t key[FS_PK_LEN]) {
  long i = find(p, key);
  return i < 0 ? 0 : p->v[i]->sessions;
}

void fs_peers_closed(fs_peer *e, const fs_conn *c) {
  for (size_t i = 0; i < FS_PEER_LIVE_MAX; i++)
    if (e->live[i] == c) {
      e->live[i] = NULL;
      e->sessions--;
      e->bytes_in += c->bytes_in;
      e->bytes_out += c->bytes_out;
      e->last_contact_ms = fs_hlc_now_ms();
    }
}

void fs_peers_refused_hello(fs_peers *p, const uint8_t *key, bool node, const char *why) {
  uint64_t now = fs_hlc_now_ms();
  p->refused_hello++;
  fs_peer *e = key ? get(p, NULL, key, node) : NULL;
  if (e) {
    e->refused_hello++;
    e->last_contact_ms = now;
  }
  set_refusal(p, e, now, why);
}

/* What one batch adds to its pusher's counts. */
struct tally {
  uint64_t stored, dups, refused, forks;
  const char *why; /* the last refusal's reason, or NULL */
};

static void tally(const fs_batch *b, struct tally *t) {
  memset(t, 0, sizeof *t);
  for (size_t i = 0; i < b->n; i++) {
    const fs_batch_item *it = &b->items[i];
    switch (it->status) {
    case FS__ACK_STATUS__ACK_STORED: t->stored++; break;
    case FS__ACK_STATUS__ACK_DUPLICATE: t->dups++; break;
    case FS__ACK_STATUS__ACK_REFUSED: t->refused++; t->why = it->reason; break;
    case FS__ACK_STATUS__ACK_FORK: t->forks++; t->why = it->reason; break;
    default: break; /* a gap or a held set is the protocol at work */
    }
  }
}

/* The batch's pusher, or NULL for sets this node fetched from its parent
 * (ingested under its own key, with no cursor). */
static const uint8_t *pusher(const fs_batch *b) {
  return b->from_device || b->set_cursor ? b->peer_key : NULL;
}

static int add_u64(fs_store *s, MDB_txn *txn, const uint8_t *key, const char *name,
                   uint64_t n) {
  uint64_t v;
  int rc = n ? fs_peer_get_u64(s, txn, key, name, &v) : 0;
  return rc == 0 && n ? fs_peer_put_u64(s, txn, key, name, v + n) : rc;
}

int fs_peers_persist(fs_store *s, MDB_txn *txn, const fs_batch *b) {
  const uint8_t *key = pusher(b);
  if (!key)
    return 0;
  struct tally t;
  tally(b, &t);
  uint64_t now = fs_hlc_now_ms();
  int rc;
  if ((rc = add_u64(s, txn, key, P_SETS, t.stored)) ||
      (rc = add_u64(s, txn, key, P_DUPS, t.dups)) ||
      (rc = add_u64(s, txn, key, P_REFUSED, t.refused)) ||
      (rc = add_u64(s, txn, key, P_FORKS, t.forks)) ||
      (rc = fs_peer_put_u64(s, txn, key, P_CONTACT, now)))
    return rc;
  if (!t.why)
    return 0;
  uint8_t v[8 + FS_PEER_REASON_MAX];
  size_t n = strnlen(t.why, FS_PEER_REASON_MAX - 1);
  fs_be64_put(v, now);
  memcpy(v + 8, t.why, n);
  return fs_peer_put(s, txn, key, P_REFUSAL, v, 8 + n);
}

void fs_peers_batch_done(fs_peers *p, fs_peer *e, const fs_batch *b) {
  if (!e || b->rc || !pusher(b))
    return;
  struct tally t;
  tally(b, &t);
  e->sets_in += t.stored;
  e->duplicates += t.dups;
  e->refused += t.refused;
  e->forks += t.forks;
  uint64_t now = fs_hlc_now_ms();
  e->last_contact_ms = now;
  if (t.why)
    set_refusal(p, e, now, t.why);
  if (b->set_cursor && b->cursor > e->cursor)
    e->cursor = b->cursor;
  for (size_t i = 0; b->from_device && i < b->n; i++) {
    const fs_batch_item *it = &b->items[i];
    if (it->cs && it->head_seq > e->cursor &&
        memcmp(it->cs->device.data, e->key, FS_PK_LEN) == 0)
      e->cursor = it->head_seq;
  }
}

void fs_peer_bytes(const fs_peer *e, uint64_t *in, uint64_t *out) {
  *in = e->bytes_in;
  *out = e->bytes_out;
  for (size_t i = 0; i < FS_PEER_LIVE_MAX; i++)
    if (e->live[i]) {
      *in += e->live[i]->bytes_in;
      *out += e->live[i]->bytes_out;
    }
}

uint64_t fs_peers_queue_since(fs_peers *p, uint64_t log_seq, uint64_t cursor, uint64_t now) {
  fs_queue *q = &p->queue;
  size_t drop = 0;
  while (drop < q->n && q->s[drop].seq <= cursor)
    drop++; /* acknowledged */
  memmove(&q->s[0], &q->s[drop], (q->n - drop) * sizeof q->s[0]);
  q->n -= drop;
  if (log_seq <= cursor)
    return 0;
  if (q->n == 0 || log_seq > q->s[q->n - 1].seq) {
    if (q->n == FS_QUEUE_SAMPLES)
      q->s[q->n - 1].seq = log_seq; /* full: the oldest keep their times */
    else
      q->s[q->n++] = (fs_queue_sample){log_seq, now};
  }
  return q->s[0].ms;
}

bool fs_peer_alarming(const fs_peer *e, uint64_t now, uint64_t window_ms) {
  return e->forks > 0 || (e->last_refusal_ms && now - e->last_refusal_ms < window_ms);
}
