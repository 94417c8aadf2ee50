/* status_render.c - the status of a node and its subtree for people and
 * programs: /api/status JSON, the terminal table, Prometheus metrics. */
#include "status.h"

#include "admin.h"
#include "error.h"
#include "hlc.h"
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows copied out of fs_status_each, this node's first. */
struct row {
  Fs__NodeStatus *n;
  uint64_t age_ms;
  bool printed;
};

struct rows {
  struct row *v;
  size_t n, cap;
};

static int rows_take(void *arg, const Fs__NodeStatus *n, uint64_t age_ms) {
  struct rows *x = arg;
  if (x->n == FS_STATUS_MAX_NODES)
    return 0;
  if (x->n == x->cap) {
    size_t cap = x->cap ? 2 * x->cap : 16;
    struct row *nv = realloc(x->v, cap * sizeof *nv);
    if (!nv)
      return FS_ENOMEM;
    x->v = nv;
    x->cap = cap;
  }
  Fs__NodeStatus *copy = fs_status_copy(n);
  if (!copy)
    return FS_ENOMEM;
  x->v[x->n++] = (struct row){copy, age_ms, false};
  return 0;
}

static void rows_free(struct rows *x) {
  for (size_t i = 0; i < x->n; i++)
    fs__node_status__free_unpacked(x->v[i].n, NULL);
  free(x->v);
}

static uint64_t lag_of(const Fs__NodeStatus *n) {
  return n->log_seq > n->parent_cursor ? n->log_seq - n->parent_cursor : 0;
}

/* How long the oldest set waiting to go up has waited, at this viewer. */
static uint64_t lag_ms_of(const Fs__NodeStatus *n, uint64_t age_ms) {
  uint64_t since = fs_status_since(n, age_ms, n->queue_since_ms);
  return lag_of(n) && since != UINT64_MAX ? since : 0;
}

/* ------------------------------------------------------------------ JSON */

static void json_bool(fs_strbuf *b, const char *name, bool v) {
  fs_strbuf_printf(b, ",\"%s\":%s", name, v ? "true" : "false");
}

static void json_u64(fs_strbuf *b, const char *name, uint64_t v) {
  fs_strbuf_printf(b, ",\"%s\":%llu", name, (unsigned long long)v);
}

/* An age in ms, null for never (UINT64_MAX). */
static void json_age(fs_strbuf *b, const char *name, uint64_t v) {
  if (v == UINT64_MAX)
    fs_strbuf_printf(b, ",\"%s\":null", name);
  else
    json_u64(b, name, v);
}

static void json_str(fs_strbuf *b, const char *name, const char *v) {
  fs_strbuf_printf(b, ",\"%s\":", name);
  fs_strbuf_json(b, v);
}

static void json_peer(fs_strbuf *b, const Fs__NodeStatus *n, uint64_t age,
                      const Fs__PeerStatus *p) {
  fs_strbuf_puts(b, "{\"key\":\"");
  fs_strbuf_hex(b, p->key.data, p->key.len);
  fs_strbuf_puts(b, "\"");
  json_str(b, "kind", p->kind);
  json_str(b, "name", p->name);
  json_str(b, "officer_id", p->officer_id);
  json_str(b, "area", p->area);
  json_str(b, "software", p->software);
  json_bool(b, "connected", p->sessions > 0);
  json_u64(b, "sessions", p->sessions);
  json_age(b, "last_contact_age_ms", fs_status_since(n, age, p->last_contact_ms));
  json_u64(b, "cursor", p->cursor);
  json_u64(b, "queue", p->queue);
  json_u64(b, "queue_age_ms", p->queue ? fs_status_since(n, age, p->queue_since_ms) : 0);
  json_u64(b, "sets_in", p->sets_in);
  json_u64(b, "duplicates", p->duplicates);
  json_u64(b, "sets_out", p->sets_out);
  json_u64(b, "records_in", p->records_in);
  json_u64(b, "records_out", p->records_out);
  json_u64(b, "bytes_in", p->bytes_in);
  json_u64(b, "bytes_out", p->bytes_out);
  json_u64(b, "refused", p->refused);
  json_u64(b, "refused_hello", p->refused_hello);
  json_age(b, "last_refusal_age_ms", fs_status_since(n, age, p->last_refusal_ms));
  json_str(b, "last_refusal", p->last_refusal);
  json_u64(b, "forks", p->forks);
  fs_strbuf_puts(b, "}");
}

struct json_ctx {
  fs_strbuf *b;
  size_t n;
  uint64_t stale_ms;
};

/* Every scalar of a node on its first line (line-oriented tools read one
 * node per line), then its peers, one per line. */
static int json_node(void *arg, const Fs__NodeStatus *n, uint64_t age) {
  struct json_ctx *j = arg;
  fs_strbuf *b = j->b;
  if (j->n++)
    fs_strbuf_puts(b, ",\n");
  fs_strbuf_puts(b, "{\"id\":");
  fs_strbuf_json(b, n->node_id);
  json_str(b, "area", n->area);
  json_str(b, "level", n->level);
  json_str(b, "parent", n->parent_id);
  json_bool(b, "has_parent", n->has_parent);
  json_bool(b, "parent_connected", n->parent_connected);
  json_str(b, "software", n->software);
  json_str(b, "state", fs_status_state(n, age, j->stale_ms));
  json_u64(b, "log_seq", n->log_seq);
  json_u64(b, "parent_cursor", n->parent_cursor);
  json_u64(b, "lag", lag_of(n));
  json_u64(b, "lag_ms", lag_ms_of(n, age));
  json_u64(b, "records", n->records);
  fs_strbuf_puts(b, ",\"digest\":\"");
  fs_strbuf_hex(b, n->digest.data, n->digest.len);
  fs_strbuf_puts(b, "\"");
  json_u64(b, "stored", n->stored);
  json_u64(b, "duplicates", n->duplicates);
  json_u64(b, "refused", n->refused);
  json_u64(b, "refused_hello", n->refused_hello);
  json_u64(b, "forks", n->forks);
  json_u64(b, "held", n->held);
  json_u64(b, "sessions", n->sessions);
  json_u64(b, "devices", n->devices);
  json_u64(b, "conflicts", n->conflicts);
  json_u64(b, "quarantined", n->quarantined);
  json_u64(b, "uptime_s", n->uptime_s);
  json_u64(b, "report_age_ms", age);
  json_age(b, "parent_contact_age_ms",
           n->has_parent ? fs_status_since(n, age, n->parent_contact_ms) : UINT64_MAX);
  json_age(b, "last_refusal_age_ms", fs_status_since(n, age, n->last_refusal_ms));
  json_str(b, "last_refusal", n->last_refusal);
  json_str(b, "last_error", n->last_error);
  json_u64(b, "peers_omitted", n->peers_omitted);
  fs_strbuf_puts(b, ",\"peers\":[");
  for (size_t i = 0; i < n->n_peers; i++) {
    fs_strbuf_puts(b, i ? ",\n  " : "\n  ");
    json_peer(b, n, age, n->peers[i]);
  }
  fs_strbuf_puts(b, "]}");
  return b->err;
}

int fs_status_json(fs_server *srv, fs_strbuf *b) {
  struct json_ctx j = {b, 0, srv->cfg->stale_after_ms};
  fs_strbuf_puts(b, "{\"node\":");
  fs_strbuf_json(b, srv->cfg->id);
  json_str(b, "area", srv->cfg->area);
  json_u64(b, "stale_after_s", srv->cfg->stale_after_ms / 1000);
  json_u64(b, "generated_ms", fs_hlc_now_ms());
  fs_strbuf_puts(b, ",\"nodes\":[\n");
  int rc = fs_status_each(srv, json_node, &j);
  fs_strbuf_puts(b, "]}\n");
  return rc ? rc : b->err;
}

/* ------------------------------------------------------------ text table */

static void age_text(char *out, size_t cap, uint64_t ms) {
  uint64_t s = ms / 1000;
  if (ms == UINT64_MAX)
    snprintf(out, cap, "never");
  else if (s < 120)
    snprintf(out, cap, "%llus", (unsigned long long)s);
  else if (s < 7200)
    snprintf(out, cap, "%llum", (unsigned long long)s / 60);
  else if (s < 172800)
    snprintf(out, cap, "%lluh", (unsigned long long)s / 3600);
  else
    snprintf(out, cap, "%llud", (unsigned long long)s / 86400);
}

/* Prints row i and, indented, the rows whose parent it is. */
static void text_row(fs_strbuf *b, struct rows *x, size_t i, int depth, uint64_t stale_ms) {
  struct row *t = &x->v[i];
  if (t->printed || depth > 16)
    return;
  t->printed = true;
  const Fs__NodeStatus *n = t->n;
  char name[96], link[8], digest[13], report[16], lag_s[16];
  snprintf(name, sizeof name, "%*s%s", 2 * depth, "", n->node_id);
  snprintf(link, sizeof link, "%s", !n->has_parent ? "root"
                                     : n->parent_connected ? "up" : "DOWN");
  for (int k = 0; k < 6 && (size_t)k < n->digest.len; k++)
    snprintf(digest + 2 * k, 3, "%02x", n->digest.data[k]);
  digest[n->digest.len >= 6 ? 12 : 0] = '\0';
  age_text(report, sizeof report, t->age_ms);
  if (lag_of(n))
    age_text(lag_s, sizeof lag_s, lag_ms_of(n, t->age_ms));
  else
    snprintf(lag_s, sizeof lag_s, "-");
  fs_strbuf_printf(b, "%-24s %-18s %-9s %-8s %-4s %6llu %5s %8llu %-12s %8llu %7llu %5llu "
                   "%6s  %s\n",
                   name, n->area, n->level, fs_status_state(n, t->age_ms, stale_ms), link,
                   (unsigned long long)lag_of(n), lag_s, (unsigned long long)n->records,
                   digest, (unsigned long long)n->stored,
                   (unsigned long long)(n->refused + n->refused_hello),
                   (unsigned long long)n->forks, report,
                   n->last_refusal_ms && !n->last_error[0] ? n->last_refusal : n->last_error);
  for (size_t j = 0; j < x->n; j++)
    if (strcmp(x->v[j].n->parent_id, n->node_id) == 0)
      text_row(b, x, j, depth + 1, stale_ms);
}

int fs_status_text(fs_server *srv, fs_strbuf *b) {
  struct rows x = {0};
  int rc = fs_status_each(srv, rows_take, &x);
  if (rc == 0) {
    fs_strbuf_printf(b, "%-24s %-18s %-9s %-8s %-4s %6s %5s %8s %-12s %8s %7s %5s %6s  %s\n",
                     "NODE", "AREA", "LEVEL", "STATE", "LINK", "LAG", "LAG_S", "RECORDS",
                     "DIGEST", "STORED", "REFUSED", "FORKS", "REPORT", "LAST ERROR");
    uint64_t stale_ms = srv->cfg->stale_after_ms;
    text_row(b, &x, 0, 0, stale_ms); /* this node first, its subtree below it */
    for (size_t i = 0; i < x.n; i++)
      text_row(b, &x, i, 0, stale_ms); /* rows whose parent did not report */
  }
  rows_free(&x);
  return rc ? rc : b->err;
}

/* --------------------------------------------------------------- metrics */

/* A label value with \, " and newline escaped (the exposition format). */
static void label(fs_strbuf *b, const char *name, const char *v) {
  fs_strbuf_printf(b, "%s=\"", name);
  for (const char *c = v; *c; c++) {
    if (*c == '\\' || *c == '"')
      fs_strbuf_printf(b, "\\%c", *c);
    else if (*c == '\n')
      fs_strbuf_puts(b, "\\n");
    else
      fs_strbuf_add(b, c, 1);
  }
  fs_strbuf_puts(b, "\"");
}

static void family(fs_strbuf *b, const char *name, const char *type, const char *help) {
  fs_strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_node(fs_strbuf *b, const char *name, const char *node, double v) {
  fs_strbuf_printf(b, "%s{", name);
  label(b, "node", node);
  fs_strbuf_printf(b, "} %.17g\n", v);
}

static const char *const states[] = {"in_sync", "lagging", "stale", "refusing", "fork"};

/* One family over every row: value(row). */
typedef double (*row_value)(const struct row *r, uint64_t stale_ms);
static double v_report_age(const struct row *r, uint64_t s) { (void)s; return r->age_ms / 1e3; }
static double v_lag(const struct row *r, uint64_t s) { (void)s; return (double)lag_of(r->n); }
static double v_lag_s(const struct row *r, uint64_t s) {
  (void)s;
  return lag_ms_of(r->n, r->age_ms) / 1e3;
}
static double v_records(const struct row *r, uint64_t s) { (void)s; return (double)r->n->records; }
static double v_refused(const struct row *r, uint64_t s) { (void)s; return (double)r->n->refused; }
static double v_refused_hello(const struct row *r, uint64_t s) {
  (void)s;
  return (double)r->n->refused_hello;
}
static double v_forks(const struct row *r, uint64_t s) { (void)s; return (double)r->n->forks; }
static double v_connected(const struct row *r, uint64_t s) {
  (void)s;
  return r->n->parent_connected;
}

static void peer_sample(fs_strbuf *b, const char *name, const Fs__NodeStatus *n,
                        const Fs__PeerStatus *p, double v) {
  char key[17] = "";
  for (size_t k = 0; k < 8 && k < p->key.len; k++)
    snprintf(key + 2 * k, 3, "%02x", p->key.data[k]);
  fs_strbuf_printf(b, "%s{", name);
  label(b, "node", n->node_id);
  fs_strbuf_puts(b, ",");
  label(b, "peer", key);
  fs_strbuf_puts(b, ",");
  label(b, "kind", p->kind);
  fs_strbuf_puts(b, ",");
  label(b, "name", p->name);
  fs_strbuf_printf(b, "} %.17g\n", v);
}

int fs_status_metrics(fs_server *srv, fs_strbuf *b) {
  struct rows x = {0};
  int rc = fs_status_each(srv, rows_take, &x);
  if (rc || x.n == 0) {
    rows_free(&x);
    return rc ? rc : FS_ESTORE;
  }
  const Fs__NodeStatus *self = x.v[0].n;
  const char *id = srv->cfg->id;
  uint64_t stale_ms = srv->cfg->stale_after_ms;
  unsigned jobs_running, jobs_waiting;
  fs_admin_jobs(srv->admin, &jobs_running, &jobs_waiting);
  struct {
    const char *name, *type, *help;
    double v;
  } own[] = {
      {"fieldsync_log_changesets", "gauge", "change sets in this node's log", self->log_seq},
      {"fieldsync_parent_acknowledged_changesets", "gauge",
       "change sets of the log the parent acknowledged", self->parent_cursor},
      {"fieldsync_queue_changesets", "gauge", "change sets waiting to go up", lag_of(self)},
      {"fieldsync_queue_oldest_age_seconds", "gauge",
       "how long the oldest change set waiting to go up has waited", lag_ms_of(self, 0) / 1e3},
      {"fieldsync_records", "gauge", "merged records of the node's area", self->records},
      {"fieldsync_changesets_stored_total", "counter", "change sets newly stored since start",
       self->stored},
      {"fieldsync_changesets_duplicate_total", "counter",
       "resends acknowledged again since start", self->duplicates},
      {"fieldsync_changesets_refused_total", "counter",
       "change sets refused (durable)", self->refused},
      {"fieldsync_hello_refused_total", "counter",
       "connections refused at Hello since start", self->refused_hello},
      {"fieldsync_forks_total", "counter", "forked change sets refused (durable)", self->forks},
      {"fieldsync_held_total", "counter", "relayed sets held for an earlier one since start",
       self->held},
      {"fieldsync_commits_total", "counter", "write transactions committed since start",
       srv->ingest.commits},
      {"fieldsync_throttled_frames_total", "counter",
       "frames read late because their peer sent over its rate since start", srv->throttled},
      {"fieldsync_sessions", "gauge", "open connections", self->sessions},
      {"fieldsync_devices", "gauge", "devices with a chain here", self->devices},
      {"fieldsync_conflicts", "gauge", "concurrent writes recorded for review", self->conflicts},
      {"fieldsync_quarantined_changesets", "gauge", "forked change sets kept as evidence",
       self->quarantined},
      {"fieldsync_parent_connected", "gauge", "1 when the link to the parent is up",
       self->parent_connected},
      {"fieldsync_uptime_seconds", "gauge", "time since the node started", self->uptime_s},
      {"fieldsync_admin_jobs_running", "gauge",
       "reports and conflict lists being computed on the thread pool", jobs_running},
      {"fieldsync_admin_jobs_waiting", "gauge", "reports and conflict lists waiting for it",
       jobs_waiting},
  };
  for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
    family(b, own[i].name, own[i].type, own[i].help);
    sample_node(b, own[i].name, id, own[i].v);
  }
  /* How long this node's write transactions take: where its disk stands. */
  fs_commit_hist ch;
  fs_ingest_commit_hist(&srv->ingest, &ch);
  family(b, "fieldsync_commit_seconds", "histogram",
         "write transactions from begin to durable commit (fdatasync included)");
  for (size_t i = 0; i < FS_COMMIT_BUCKETS; i++) {
    fs_strbuf_puts(b, "fieldsync_commit_seconds_bucket{");
    label(b, "node", id);
    fs_strbuf_printf(b, ",le=\"%g\"} %llu\n", fs_commit_bounds_ms[i] / 1e3,
                     (unsigned long long)ch.le[i]);
  }
  fs_strbuf_puts(b, "fieldsync_commit_seconds_bucket{");
  label(b, "node", id);
  fs_strbuf_printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)ch.count);
  sample_node(b, "fieldsync_commit_seconds_sum", id, ch.sum_s);
  sample_node(b, "fieldsync_commit_seconds_count", id, (double)ch.count);
  /* Every node this node knows of, itself included, by its node id. */
  family(b, "fieldsync_node_state", "gauge",
         "1 for the state of each node of the subtree (in_sync, lagging, stale, refusing, "
         "fork), 0 for the others");
  for (size_t i = 0; i < x.n; i++) {
    const char *st = fs_status_state(x.v[i].n, x.v[i].age_ms, stale_ms);
    for (size_t k = 0; k < sizeof states / sizeof states[0]; k++) {
      fs_strbuf_puts(b, "fieldsync_node_state{");
      label(b, "node", x.v[i].n->node_id);
      fs_strbuf_puts(b, ",");
      label(b, "state", states[k]);
      fs_strbuf_printf(b, "} %d\n", strcmp(st, states[k]) == 0);
    }
  }
  struct {
    const char *name, *type, *help;
    row_value f;
  } per_node[] = {
      {"fieldsync_node_report_age_seconds", "gauge", "age of the node's latest status here",
       v_report_age},
      {"fieldsync_node_lag_changesets", "gauge", "the node's change sets waiting to go up",
       v_lag},
      {"fieldsync_node_lag_seconds", "gauge", "how long its oldest waiting set has waited",
       v_lag_s},
      {"fieldsync_node_records", "gauge", "merged records of the node's area", v_records},
      {"fieldsync_node_refused_total", "counter", "change sets the node refused", v_refused},
      {"fieldsync_node_hello_refused_total", "counter", "connections the node refused",
       v_refused_hello},
      {"fieldsync_node_forks_total", "counter", "forked change sets the node refused", v_forks},
      {"fieldsync_node_parent_connected", "gauge", "1 when the node's parent link is up",
       v_connected},
  };
  for (size_t f = 0; f < sizeof per_node / sizeof per_node[0]; f++) {
    family(b, per_node[f].name, per_node[f].type, per_node[f].help);
    for (size_t i = 0; i < x.n; i++)
      sample_node(b, per_node[f].name, x.v[i].n->node_id, per_node[f].f(&x.v[i], stale_ms));
  }
  /* This node's own peers. */
  static const struct {
    const char *name, *type, *help;
  } pf[] = {
      {"fieldsync_peer_connected", "gauge", "open connections of the peer"},
      {"fieldsync_peer_last_contact_age_seconds", "gauge", "time since the peer was last heard (-1: never)"},
      {"fieldsync_peer_cursor", "gauge",
       "device: its head seq here; child: its log acknowledged here; parent: ours it holds"},
      {"fieldsync_peer_received_changesets_total", "counter", "change sets stored from it"},
      {"fieldsync_peer_sent_changesets_total", "counter", "change sets pushed to it"},
      {"fieldsync_peer_received_bytes_total", "counter", "bytes received from it"},
      {"fieldsync_peer_sent_bytes_total", "counter", "bytes sent to it"},
      {"fieldsync_peer_refused_total", "counter", "its change sets and connections refused"},
      {"fieldsync_peer_forks_total", "counter", "forked change sets it pushed"},
  };
  for (size_t f = 0; f < sizeof pf / sizeof pf[0]; f++) {
    family(b, pf[f].name, pf[f].type, pf[f].help);
    for (size_t i = 0; i < self->n_peers; i++) {
      const Fs__PeerStatus *p = self->peers[i];
      uint64_t since = fs_status_since(self, 0, p->last_contact_ms);
      double v[] = {p->sessions, since == UINT64_MAX ? -1 : since / 1e3, p->cursor,
                    p->sets_in, p->sets_out, p->bytes_in, p->bytes_out,
                    p->refused + p->refused_hello, p->forks};
      peer_sample(b, pf[f].name, self, p, v[f]);
    }
  }
  rows_free(&x);
  return b->err;
}
