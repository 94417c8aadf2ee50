/* status.c - own status, kept child reports, JSON and metrics. */
#include "status.h"

#include "error.h"
#include "hlc.h"
#include "server.h"
#include "uplink.h"

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

/* Fills self from counters and the store; strings point into srv. */
static int self_status(fs_server *srv, Fs__NodeStatus *n) {
  fs_status *st = &srv->status;
  fs_store *s = &srv->store;
  fs__node_status__init(n);
  MDB_txn *txn;
  int rc = fs_store_begin(s, false, &txn);
  if (rc)
    return rc;
  uint64_t rseq = 0;
  if ((rc = fs_meta_get_u64(s, txn, "record_seq", &rseq)) == 0 &&
      (rc = fs_meta_get_u64(s, txn, "log_seq", &n->log_seq)) == 0 &&
      (rc = fs_store_count(s, txn, s->devices, &n->devices)) == 0 &&
      (rc = fs_store_count(s, txn, s->conflicts, &n->conflicts)) == 0 &&
      (rc = fs_store_count(s, txn, s->quarantine, &n->quarantined)) == 0 &&
      rseq != st->digest_seq) {
    /* The digest is a range scan: redo it only when records changed. */
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
  n->records = st->records;
  n->digest.data = st->digest;
  n->digest.len = sizeof st->digest;
  n->stored = ing->stored;
  n->duplicates = ing->duplicates;
  n->refused = ing->refused;
  n->forks = ing->forks;
  n->held = ing->held;
  n->sessions = srv->nsessions;
  n->reported_ms = fs_hlc_now_ms();
  n->uptime_s = (n->reported_ms - st->started_ms) / 1000;
  n->last_error = st->last_error;
  if (srv->uplink) {
    const fs_uplink_stats *u = fs_uplink_stats_get(srv->uplink);
    n->parent_id = (char *)u->parent_id;
    n->parent_connected = u->connected;
    n->parent_cursor = u->cursor;
    if (u->last_error[0])
      n->last_error = (char *)u->last_error;
  } else {
    n->parent_cursor = n->log_seq; /* the root has nothing to send */
  }
  return 0;
}

/* Calls fn for self and for every node in every kept child report. */
typedef int (*node_fn)(void *arg, const Fs__NodeStatus *n, uint64_t seen_ms);

static int each_node(fs_server *srv, node_fn fn, void *arg) {
  Fs__NodeStatus self;
  int rc = self_status(srv, &self);
  if (rc || (rc = fn(arg, &self, self.reported_ms)))
    return rc;
  fs_status *st = &srv->status;
  for (size_t i = 0; i < st->nchildren; i++) {
    const fs_child_report *c = &st->children[i];
    Fs__StatusReport *r = fs__status_report__unpack(NULL, c->len, c->report);
    if (!r)
      continue;
    for (size_t j = 0; rc == 0 && j < r->n_nodes; j++)
      rc = fn(arg, r->nodes[j], c->seen_ms);
    fs__status_report__free_unpacked(r, NULL);
    if (rc)
      return rc;
  }
  return 0;
}

/* A copy through the wire form: n may live in a report freed right after.
 * NULL when out of memory. */
static Fs__NodeStatus *node_copy(const Fs__NodeStatus *n) {
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
  Fs__NodeStatus *nodes[FS_STATUS_MAX_NODES];
};

static int collect_node(void *arg, const Fs__NodeStatus *n, uint64_t seen_ms) {
  (void)seen_ms;
  struct collect *c = arg;
  if (c->rep.n_nodes >= FS_STATUS_MAX_NODES)
    return 0; /* a bounded report: the deepest nodes are dropped */
  Fs__NodeStatus *copy = node_copy(n);
  if (!copy)
    return FS_ENOMEM;
  c->nodes[c->rep.n_nodes++] = copy;
  return 0;
}

int fs_status_report(fs_server *srv, uint8_t **out, size_t *len) {
  struct collect *c = calloc(1, sizeof *c);
  if (!c)
    return FS_ENOMEM;
  fs__status_report__init(&c->rep);
  c->rep.nodes = c->nodes;
  int rc = each_node(srv, collect_node, c);
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

struct json_ctx {
  fs_strbuf *b;
  size_t n;
  uint64_t now;
};

static int json_node(void *arg, const Fs__NodeStatus *n, uint64_t seen_ms) {
  struct json_ctx *j = arg;
  fs_strbuf *b = j->b;
  if (j->n++)
    fs_strbuf_puts(b, ",\n");
  fs_strbuf_puts(b, "{\"id\":");
  fs_strbuf_json(b, n->node_id);
  fs_strbuf_puts(b, ",\"area\":");
  fs_strbuf_json(b, n->area);
  fs_strbuf_puts(b, ",\"parent\":");
  fs_strbuf_json(b, n->parent_id);
  fs_strbuf_printf(b,
                   ",\"parent_connected\":%s,\"log_seq\":%llu,\"parent_cursor\":%llu,"
                   "\"lag\":%llu,\"records\":%llu,\"digest\":\"",
                   n->parent_connected ? "true" : "false", (unsigned long long)n->log_seq,
                   (unsigned long long)n->parent_cursor,
                   (unsigned long long)(n->log_seq > n->parent_cursor
                                            ? n->log_seq - n->parent_cursor
                                            : 0),
                   (unsigned long long)n->records);
  fs_strbuf_hex(b, n->digest.data, n->digest.len);
  fs_strbuf_printf(
      b,
      "\",\"stored\":%llu,\"duplicates\":%llu,\"refused\":%llu,\"forks\":%llu,"
      "\"held\":%llu,\"sessions\":%llu,\"devices\":%llu,\"conflicts\":%llu,"
      "\"quarantined\":%llu,\"uptime_s\":%llu,\"report_age_ms\":%llu,\"last_error\":",
      (unsigned long long)n->stored, (unsigned long long)n->duplicates,
      (unsigned long long)n->refused, (unsigned long long)n->forks,
      (unsigned long long)n->held, (unsigned long long)n->sessions,
      (unsigned long long)n->devices, (unsigned long long)n->conflicts,
      (unsigned long long)n->quarantined, (unsigned long long)n->uptime_s,
      (unsigned long long)(j->now > seen_ms ? j->now - seen_ms : 0));
  fs_strbuf_json(b, n->last_error);
  fs_strbuf_puts(b, "}");
  return b->err;
}

int fs_status_json(fs_server *srv, fs_strbuf *b) {
  struct json_ctx j = {b, 0, fs_hlc_now_ms()};
  fs_strbuf_puts(b, "{\"node\":");
  fs_strbuf_json(b, srv->cfg->id);
  fs_strbuf_puts(b, ",\"area\":");
  fs_strbuf_json(b, srv->cfg->area);
  fs_strbuf_puts(b, ",\"nodes\":[\n");
  int rc = each_node(srv, json_node, &j);
  fs_strbuf_puts(b, "]}\n");
  return rc ? rc : b->err;
}

int fs_status_metrics(fs_server *srv, fs_strbuf *b) {
  Fs__NodeStatus n;
  int rc = self_status(srv, &n);
  if (rc)
    return rc;
  struct {
    const char *name, *help;
    uint64_t v;
  } m[] = {
      {"fieldsync_log_seq", "change sets in this node's log", n.log_seq},
      {"fieldsync_parent_cursor", "log seq acknowledged by the parent", n.parent_cursor},
      {"fieldsync_records", "merged records of the node's area", n.records},
      {"fieldsync_changesets_stored_total", "change sets newly stored", n.stored},
      {"fieldsync_changesets_duplicate_total", "resends acknowledged again", n.duplicates},
      {"fieldsync_changesets_refused_total", "change sets refused", n.refused},
      {"fieldsync_forks_total", "forked change sets quarantined", n.forks},
      {"fieldsync_held_total", "relayed sets held for an earlier one", n.held},
      {"fieldsync_sessions", "open connections", n.sessions},
      {"fieldsync_devices", "devices with a chain here", n.devices},
      {"fieldsync_conflicts", "concurrent writes recorded for review", n.conflicts},
      {"fieldsync_parent_connected", "1 when the link to the parent is up",
       n.parent_connected},
      {"fieldsync_commits_total", "write transactions committed", srv->ingest.commits},
  };
  for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
    fs_strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s{node=\"%s\"} %llu\n", m[i].name,
                     m[i].help, m[i].name, strstr(m[i].name, "_total") ? "counter" : "gauge",
                     m[i].name, srv->cfg->id, (unsigned long long)m[i].v);
  return b->err;
}

/* ---------------------------------------------------------- text table */

struct text_node {
  Fs__NodeStatus *n;       /* a copy through the wire form */
  uint64_t seen_ms;
  bool printed;
};

struct text_ctx {
  struct text_node *v;
  size_t n, cap;
};

static int text_collect(void *arg, const Fs__NodeStatus *n, uint64_t seen_ms) {
  struct text_ctx *x = arg;
  if (x->n == FS_STATUS_MAX_NODES)
    return 0;
  if (x->n == x->cap) {
    size_t cap = x->cap ? 2 * x->cap : 16;
    struct text_node *nv = realloc(x->v, cap * sizeof *nv);
    if (!nv)
      return FS_ENOMEM;
    x->v = nv;
    x->cap = cap;
  }
  Fs__NodeStatus *copy = node_copy(n);
  if (!copy)
    return FS_ENOMEM;
  x->v[x->n++] = (struct text_node){copy, seen_ms, false};
  return 0;
}

/* Prints node i and, indented, the nodes whose parent it is. */
static void text_row(fs_strbuf *b, struct text_ctx *x, size_t i, int depth, uint64_t now) {
  struct text_node *t = &x->v[i];
  if (t->printed || depth > 16)
    return;
  t->printed = true;
  const Fs__NodeStatus *n = t->n;
  char name[96], link[40], digest[13];
  snprintf(name, sizeof name, "%*s%s", 2 * depth, "", n->node_id);
  snprintf(link, sizeof link, "%s", !n->parent_id[0] ? "root"
                                     : n->parent_connected ? "up" : "DOWN");
  for (int k = 0; k < 6 && (size_t)k < n->digest.len; k++)
    snprintf(digest + 2 * k, 3, "%02x", n->digest.data[k]);
  digest[n->digest.len >= 6 ? 12 : 0] = '\0';
  uint64_t age = now > t->seen_ms ? (now - t->seen_ms) / 1000 : 0;
  fs_strbuf_printf(b, "%-24s %-18s %-5s %6llu %8llu %-12s %8llu %7llu %5llu %6llus  %s\n",
                   name, n->area, link,
                   (unsigned long long)(n->log_seq > n->parent_cursor
                                            ? n->log_seq - n->parent_cursor : 0),
                   (unsigned long long)n->records, digest, (unsigned long long)n->stored,
                   (unsigned long long)n->refused, (unsigned long long)n->forks,
                   (unsigned long long)age, n->last_error);
  for (size_t j = 0; j < x->n; j++)
    if (strcmp(x->v[j].n->parent_id, n->node_id) == 0)
      text_row(b, x, j, depth + 1, now);
}

int fs_status_text(struct fs_server *srv, fs_strbuf *b) {
  struct text_ctx x = {0};
  int rc = each_node(srv, text_collect, &x);
  if (rc == 0) {
    fs_strbuf_printf(b, "%-24s %-18s %-5s %6s %8s %-12s %8s %7s %5s %7s  %s\n", "NODE",
                     "AREA", "LINK", "LAG", "RECORDS", "DIGEST", "STORED", "REFUSED",
                     "FORKS", "REPORT", "LAST ERROR");
    uint64_t now = fs_hlc_now_ms();
    text_row(b, &x, 0, 0, now); /* this node first, its subtree below it */
    for (size_t i = 0; i < x.n; i++)
      text_row(b, &x, i, 0, now); /* nodes whose parent did not report */
  }
  for (size_t i = 0; i < x.n; i++)
    fs__node_status__free_unpacked(x.v[i].n, NULL);
  free(x.v);
  return rc ? rc : b->err;
}
