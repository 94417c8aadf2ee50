/* status.c - this node's row, kept child reports, ages and states. */
#include "status.h"

#include "error.h"
#include "cert.h"
#include "hlc.h"
#include "peers.h"
#include "server.h"
#include "uplink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fs_status_init(fs_status *st) {
  memset(st, 0, sizeof *st);
  st->started_ms = fs_hlc_now_ms();
  st->digest_seq = UINT64_MAX;
  return 0;
}

void fs_status_free(fs_status *st) {
  for (size_t i = 0; i < st->nchildren; i++)
    free(st->children[i].report);
  free(st->children);
  memset(st, 0, sizeof *st);
}

int fs_status_keep(fs_status *st, const uint8_t key[32], const Fs__StatusReport *r) {
  if (r->n_nodes > FS_STATUS_MAX_NODES)
    return FS_ELIMIT;
  fs_child_report *c = NULL;
  for (size_t i = 0; i < st->nchildren && !c; i++)
    if (memcmp(st->children[i].key, key, 32) == 0)
      c = &st->children[i];
  if (!c) {
    if (st->nchildren == FS_STATUS_MAX_CHILDREN)
      return FS_ELIMIT;
    if (st->nchildren == st->cap) {
      size_t cap = st->cap ? 2 * st->cap : 8;
      fs_child_report *nc = realloc(st->children, cap * sizeof *nc);
      if (!nc)
        return FS_ENOMEM;
      st->children = nc;
      st->cap = cap;
    }
    c = &st->children[st->nchildren++];
    memset(c, 0, sizeof *c);
    memcpy(c->key, key, 32);
  }
  size_t n = fs__status_report__get_packed_size(r);
  uint8_t *b = malloc(n ? n : 1);
  if (!b)
    return FS_ENOMEM;
  fs__status_report__pack(r, b);
  free(c->report);
  c->report = b;
  c->len = n;
  c->seen_ms = fs_hlc_now_ms();
  return 0;
}

/* This node's row and the peer rows it points to. */
typedef struct self_row {
  Fs__NodeStatus n;
  Fs__PeerStatus *pv;        /* owned */
  Fs__PeerStatus **pp;       /* owned */
} self_row;

static void self_row_free(self_row *r) {
  free(r->pv);
  free(r->pp);
}

static const char *our_level(fs_server *srv, MDB_txn *txn) {
  fs_status *st = &srv->status;
  fs_grant g;
  if (!st->level_read && fs_cert_latest(&srv->store, txn, srv->key.pk,
                                        FS__CERT_KIND__CERT_NODE, &g) == 0) {
    snprintf(st->level, sizeof st->level, "%s", g.level);
    st->level_read = true;
  }
  return st->level;
}

/* Problems first, then connected peers, then the most recently heard. */
static int peer_order(const void *a, const void *b) {
  const fs_peer *x = *(fs_peer *const *)a, *y = *(fs_peer *const *)b;
  uint64_t now = fs_hlc_now_ms();
  bool ax = fs_peer_alarming(x, now, FS_STATUS_REFUSING_MS),
       ay = fs_peer_alarming(y, now, FS_STATUS_REFUSING_MS);
  if (ax != ay)
    return ax ? -1 : 1;
  if ((x->sessions > 0) != (y->sessions > 0))
    return x->sessions > 0 ? -1 : 1;
  if (x->last_contact_ms != y->last_contact_ms)
    return x->last_contact_ms > y->last_contact_ms ? -1 : 1;
  return memcmp(x->key, y->key, 32);
}

static void peer_row(Fs__PeerStatus *ps, const fs_peer *e) {
  fs__peer_status__init(ps);
  ps->key.data = (uint8_t *)e->key;
  ps->key.len = 32;
  ps->kind = e->kind == FS_PEER_CHILD ? "child" : "device";
  ps->name = (char *)e->name;
  ps->officer_id = (char *)e->officer_id;
  ps->area = (char *)e->area;
  ps->software = (char *)e->software;
  ps->sessions = e->sessions;
  ps->last_contact_ms = e->last_contact_ms;
  ps->cursor = e->cursor;
  ps->sets_in = e->sets_in;
  ps->duplicates = e->duplicates;
  ps->records_out = e->records_out;
  fs_peer_bytes(e, &ps->bytes_in, &ps->bytes_out);
  ps->refused = e->refused;
  ps->refused_hello = e->refused_hello;
  ps->last_refusal_ms = e->last_refusal_ms;
  ps->last_refusal = (char *)e->last_refusal;
  ps->forks = e->forks;
}

static void parent_row(Fs__PeerStatus *ps, fs_server *srv, const Fs__NodeStatus *n) {
  const fs_uplink_stats *u = fs_uplink_stats_get(srv->uplink);
  static const uint8_t none[32];
  fs__peer_status__init(ps);
  if (memcmp(u->parent_key, none, 32) != 0) {
    ps->key.data = (uint8_t *)u->parent_key;
    ps->key.len = 32;
  }
  ps->kind = "parent";
  ps->name = (char *)u->parent_id;
  ps->software = (char *)u->parent_software;
  ps->sessions = u->connected;
  ps->last_contact_ms = u->last_contact_ms;
  ps->cursor = u->cursor;
  ps->queue = n->log_seq > n->parent_cursor ? n->log_seq - n->parent_cursor : 0;
  ps->queue_since_ms = n->queue_since_ms;
  ps->sets_out = u->pushed;
  ps->duplicates = u->duplicates;
  ps->records_in = u->pulled;
  ps->sets_in = u->fetched;
  fs_uplink_traffic(srv->uplink, &ps->bytes_in, &ps->bytes_out);
  ps->refused = u->refused;
  if (u->refused)
    ps->last_refusal = (char *)u->last_error;
}

/* The peer rows of this node: the parent first, then the table's, sorted
 * and bounded. Sums the durable counts into n. */
static int peer_rows(fs_server *srv, self_row *r) {
  fs_peers *p = &srv->peers;
  Fs__NodeStatus *n = &r->n;
  size_t cap = (srv->uplink ? 1 : 0) + (p->n < FS_STATUS_MAX_PEERS ? p->n : FS_STATUS_MAX_PEERS);
  fs_peer **sorted = malloc((p->n ? p->n : 1) * sizeof *sorted);
  r->pv = calloc(cap ? cap : 1, sizeof *r->pv);
  r->pp = calloc(cap ? cap : 1, sizeof *r->pp);
  if (!sorted || !r->pv || !r->pp) {
    free(sorted);
    return FS_ENOMEM;
  }
  for (size_t i = 0; i < p->n; i++) {
    n->refused += p->v[i]->refused;
    n->forks += p->v[i]->forks;
    sorted[i] = p->v[i];
  }
  qsort(sorted, p->n, sizeof *sorted, peer_order);
  size_t k = 0;
  if (srv->uplink)
    parent_row(&r->pv[k++], srv, n);
  for (size_t i = 0; i < p->n && k < cap; i++)
    peer_row(&r->pv[k++], sorted[i]);
  free(sorted);
  for (size_t i = 0; i < k; i++)
    r->pp[i] = &r->pv[i];
  n->peers = r->pp;
  n->n_peers = k;
  n->peers_omitted = (uint32_t)(p->n - (k - (srv->uplink ? 1 : 0)));
  return 0;
}

/* Fills this node's row from counters, the peer table and the store;
 * strings point into srv. Free with self_row_free. */
static int self_status(fs_server *srv, self_row *r) {
  fs_status *st = &srv->status;
  fs_store *s = &srv->store;
  Fs__NodeStatus *n = &r->n;
  memset(r, 0, sizeof *r);
  fs__node_status__init(n);
  MDB_txn *txn;
  int rc = fs_store_begin(s, false, &txn);
  if (rc)
    return rc;
  uint64_t rseq = 0;
  n->level = (char *)our_level(srv, txn);
  if ((rc = fs_meta_get_u64(s, txn, "record_seq", &rseq)) == 0 &&
      (rc = fs_meta_get_u64(s, txn, "log_seq", &n->log_seq)) == 0 &&
      (rc = fs_store_count(s, txn, s->devices, &n->devices)) == 0 &&
      (rc = fs_store_count(s, txn, s->conflicts, &n->conflicts)) == 0 &&
      (rc = fs_store_count(s, txn, s->quarantine, &n->quarantined)) == 0 &&
      rseq != st->digest_seq) {
    /* One areasums entry per area below ours (store.h): cheap, but still
     * redone only when records changed. */
    rc = fs_store_digest(s, txn, srv->cfg->area, st->digest, &st->records);
    if (rc == 0)
      st->digest_seq = rseq;
  }
  mdb_txn_abort(txn);
  if (rc)
    return rc;
  const fs_ingest *ing = &srv->ingest;
  n->node_id = (char *)srv->cfg->id;
  n->area = (char *)srv->cfg->area;
  n->software = FS_SOFTWARE_VERSION;
  n->records = st->records;
  n->digest.data = st->digest;
  n->digest.len = sizeof st->digest;
  n->stored = ing->stored;
  n->duplicates = ing->duplicates;
  n->held = ing->held;
  n->sessions = srv->nsessions;
  n->reported_ms = fs_hlc_now_ms();
  n->uptime_s = (n->reported_ms - st->started_ms) / 1000;
  n->last_error = st->last_error;
  n->refused_hello = srv->peers.refused_hello;
  n->last_refusal_ms = srv->peers.last_refusal_ms;
  n->last_refusal = srv->peers.last_refusal;
  n->has_parent = srv->uplink != NULL;
  if (srv->uplink) {
    const fs_uplink_stats *u = fs_uplink_stats_get(srv->uplink);
    n->parent_id = (char *)u->parent_id;
    n->parent_connected = u->connected;
    n->parent_cursor = u->cursor;
    n->parent_contact_ms = u->last_contact_ms;
    if (u->last_error[0])
      n->last_error = (char *)u->last_error;
    n->queue_since_ms =
        fs_peers_queue_since(&srv->peers, n->log_seq, n->parent_cursor, n->reported_ms);
  } else {
    n->parent_cursor = n->log_seq; /* the root has nothing to send */
  }
  return peer_rows(srv, r);
}

int fs_status_each(fs_server *srv, fs_status_fn fn, void *arg) {
  self_row self;
  int rc = self_status(srv, &self);
  if (rc == 0)
    rc = fn(arg, &self.n, 0);
  self_row_free(&self);
  if (rc)
    return rc;
  fs_status *st = &srv->status;
  uint64_t now = fs_hlc_now_ms();
  for (size_t i = 0; i < st->nchildren; i++) {
    const fs_child_report *c = &st->children[i];
    Fs__StatusReport *r = fs__status_report__unpack(NULL, c->len, c->report);
    if (!r)
      continue;
    uint64_t held = now > c->seen_ms ? now - c->seen_ms : 0;
    for (size_t j = 0; rc == 0 && j < r->n_nodes; j++)
      rc = fn(arg, r->nodes[j], r->nodes[j]->age_ms + held);
    fs__status_report__free_unpacked(r, NULL);
    if (rc)
      return rc;
  }
  return 0;
}

uint64_t fs_status_since(const Fs__NodeStatus *n, uint64_t age_ms, uint64_t t) {
  if (t == 0)
    return UINT64_MAX;
  return age_ms + (n->reported_ms > t ? n->reported_ms - t : 0);
}

const char *fs_status_state(const Fs__NodeStatus *n, uint64_t age_ms, uint64_t stale_ms) {
  if (age_ms > stale_ms)
    return "stale";
  if (n->forks > 0 || n->quarantined > 0)
    return "fork";
  if (n->last_refusal_ms && n->reported_ms - n->last_refusal_ms < FS_STATUS_REFUSING_MS)
    return "refusing";
  if (n->has_parent && (!n->parent_connected || n->log_seq > n->parent_cursor))
    return "lagging";
  return "in_sync";
}

Fs__NodeStatus *fs_status_copy(const Fs__NodeStatus *n) {
  size_t len = fs__node_status__get_packed_size(n);
  uint8_t *b = malloc(len ? len : 1);
  if (!b)
    return NULL;
  fs__node_status__pack(n, b);
  Fs__NodeStatus *copy = fs__node_status__unpack(NULL, len, b);
  free(b);
  return copy;
}

struct collect {
  Fs__StatusReport rep;
  size_t bytes;
  Fs__NodeStatus *nodes[FS_STATUS_MAX_NODES];
};

static int collect_node(void *arg, const Fs__NodeStatus *n, uint64_t age_ms) {
  struct collect *c = arg;
  size_t len = fs__node_status__get_packed_size(n);
  /* A bounded report: the rows past either bound (the deepest) are dropped. */
  if (c->rep.n_nodes >= FS_STATUS_MAX_NODES || c->bytes + len > FS_STATUS_MAX_BYTES)
    return 0;
  Fs__NodeStatus *copy = fs_status_copy(n);
  if (!copy)
    return FS_ENOMEM;
  copy->age_ms = age_ms;
  c->bytes += len + 8;
  c->nodes[c->rep.n_nodes++] = copy;
  return 0;
}

int fs_status_report(fs_server *srv, uint8_t **out, size_t *len) {
  struct collect *c = calloc(1, sizeof *c);
  if (!c)
    return FS_ENOMEM;
  fs__status_report__init(&c->rep);
  c->rep.nodes = c->nodes;
  int rc = fs_status_each(srv, collect_node, c);
  if (rc == 0) {
    *len = fs__status_report__get_packed_size(&c->rep);
    *out = malloc(*len ? *len : 1);
    if (*out)
      fs__status_report__pack(&c->rep, *out);
    else
      rc = FS_ENOMEM;
  }
  for (size_t i = 0; i < c->rep.n_nodes; i++)
    fs__node_status__free_unpacked(c->nodes[i], NULL);
  free(c);
  return rc;
}
