/* server.c - listener, per-peer sessions, orderly shutdown.
 *
 * A session owns its conn, its handshake deadline timer and up to
 * FS_SESSION_PUSHES(_NODE) batches in flight. Its memory is freed when the
 * conn and the timer have closed and no batch refers to it any more.
 */
#include "server.h"

#include "admin.h"
#include "arena.h"
#include "cert.h"
#include "conn.h"
#include "error.h"
#include "hex.h"
#include "hlc.h"
#include "log.h"
#include "uplink.h"

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* S_ADMITTING: the Hello's new certificates are being stored (the ingest
 * writer's), nothing is read meanwhile and any frame is refused. */
typedef enum { S_HANDSHAKE, S_HELLO, S_ADMITTING, S_READY, S_REFUSED } session_state;

struct fs_session {
  fs_conn conn;
  /* From accept to admission, FS_HANDSHAKE_MS at most: the conn's idle
   * timer restarts at every read, so a byte now and then would hold it. */
  uv_timer_t deadline;
  bool deadline_closed;  /* its close callback ran (or it never opened) */
  fs_server *srv;
  session_state st;
  bool is_node;          /* a child node, else a device */
  uint8_t peer_key[FS_PK_LEN];
  char area[FS_MAX_AREA + 1]; /* what its certificate grants */
  char peer_id[128];
  unsigned batches;      /* Pushes in flight, verifying or committing, or
                          * the Hello's certificates being stored */
  fs_peer *peer;         /* its row of srv->peers once ready, or NULL */
  double tokens;         /* rate limit: frames this peer may still send now */
  uint64_t tokens_ms;    /* when tokens was last refilled */
  bool throttle_logged;  /* its first frame over its rate was logged */
  bool conn_closed;
  bool mem_paused;       /* paused by the node's Push memory budget */
  fs_session *prev, *next;
};

/* A session counts as its key's (FS_SESSIONS_PER_KEY) until it is freed:
 * one that hung up with Pushes still committing holds its place. */
static void session_maybe_free(fs_session *s) {
  if (!s->conn_closed || !s->deadline_closed || s->batches)
    return;
  fs_server *srv = s->srv;
  if (s->peer)
    fs_peers_closed(s->peer, &s->conn);
  else if (s->st == S_READY)
    srv->untracked--;
  if (s->prev)
    s->prev->next = s->next;
  else
    srv->sessions = s->next;
  if (s->next)
    s->next->prev = s->prev;
  srv->nsessions--;
  free(s);
}

static void on_deadline_closed(uv_handle_t *h) {
  fs_session *s = container_of((uv_timer_t *)h, fs_session, deadline);
  s->deadline_closed = true;
  session_maybe_free(s);
}

static void on_deadline(uv_timer_t *t) {
  fs_session *s = container_of(t, fs_session, deadline);
  fs_conn_fail(&s->conn, FS_ETIMEOUT, "no hello admitted within %d s of connecting",
               FS_HANDSHAKE_MS / 1000);
}

static void on_session_closed(fs_conn *c, int reason) {
  fs_session *s = container_of(c, fs_session, conn);
  /* Connections refused at accept are counted by accept_failed instead. */
  bool noisy = reason && reason != UV_ECONNRESET && s->st != S_REFUSED;
  fs_log(noisy ? FS_LOG_INFO : FS_LOG_DEBUG, "session.closed",
         "peer=%s reason=%s frames_in=%llu bytes_in=%llu", c->peer, fs_errname(reason),
         (unsigned long long)c->frames_in, (unsigned long long)c->bytes_in);
  s->conn_closed = true;
  if (!s->deadline_closed)
    uv_close((uv_handle_t *)&s->deadline, on_deadline_closed);
  session_maybe_free(s);
}

static int send_env(void *arg, const Fs__Envelope *env) {
  fs_session *s = arg;
  int rc = fs_conn_send(&s->conn, env);
  if (rc && rc != UV_ECANCELED)
    fs_conn_close(&s->conn, rc);
  return rc;
}

/* The channel is secure: prove who we are, with our certificates. */
static void on_secure(fs_conn *c) {
  fs_session *s = container_of(c, fs_session, conn);
  fs_server *srv = s->srv;
  s->st = S_HELLO;
  fs_certlist certs;
  int rc = fs_certlist_collect(&certs, &srv->store, srv->key.pk, FS__CERT_KIND__CERT_NODE);
  if (rc) {
    fs_conn_close(c, rc);
    return;
  }
  Fs__Hello h;
  uint8_t sig[FS_SIG_LEN];
  fs_hello_fill(&h, sig, &c->hs, &srv->key, "server", srv->cfg->id, certs.items, certs.n);
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_HELLO;
  env.hello = &h;
  send_env(s, &env);
  fs_certlist_free(&certs);
}

/* Refuses a peer at Hello: tells it why, counts it against its key (NULL:
 * it proved none). Returns code. */
static int refuse_hello(fs_session *s, const uint8_t *key, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int refuse_hello(fs_session *s, const uint8_t *key, int code, const char *fmt, ...) {
  char why[FS_PEER_REASON_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  s->srv->refused_hello++;
  fs_peers_refused_hello(&s->srv->peers, key, s->is_node, why);
  fs_conn_fail(&s->conn, code, "%s", why);
  return code;
}

/* Decides whether the peer's key may talk to us, from the certificates we
 * hold (and those it presented); *g gets its grant. Returns 0 or fails the
 * conn with why. */
static int admit(fs_session *s, const Fs__Hello *h, fs_grant *g_out) {
  fs_server *srv = s->srv;
  const fs_config *cfg = srv->cfg;
  char hex[2 * FS_PK_LEN + 1];
  fs_hex_encode(hex, h->key.data, FS_PK_LEN);
  fs_grant *gp = g_out, g;
  uint64_t last_seq, from;
  MDB_txn *txn;
  int rc = fs_store_begin(&srv->store, false, &txn);
  if (rc) {
    fs_conn_fail(&s->conn, rc, "storage error: %s", fs_strerror(rc));
    return rc;
  }
  Fs__CertKind kind = s->is_node ? FS__CERT_KIND__CERT_NODE : FS__CERT_KIND__CERT_DEVICE;
  rc = fs_trust_find(&srv->store, txn, cfg->root_key, h->key.data, kind, NULL,
                     fs_hlc_now_ms(), &g);
  int revoked = rc == 0 ? fs_trust_revoked(&srv->store, txn, cfg->root_key, h->key.data,
                                           &last_seq, &from)
                        : 0;
  mdb_txn_abort(txn);
  const char *what = s->is_node ? "node" : "device";
  const uint8_t *key = h->key.data;
  if (rc)
    return refuse_hello(s, key, rc,
                        "%s key %s has no valid %s certificate here (%s); enrol it with "
                        "fieldsyncd admin %s",
                        what, hex, what, fs_strerror(rc),
                        s->is_node ? "certify-node" : "enrol");
  if (revoked > 0)
    return refuse_hello(s, key, FS_EREVOKED, "%s key %s was revoked", what, hex);
  if (!fs_area_within(g.area, cfg->area))
    return refuse_hello(s, key, FS_ESCOPE, "%s area %s lies outside node %s's area %s",
                        what, g.area, cfg->id, cfg->area);
  if (s->is_node && (!g.has_parent || sodium_memcmp(g.parent, srv->key.pk, FS_PK_LEN) != 0))
    return refuse_hello(s, key, FS_ESCOPE, "node %s is certified under another parent",
                        g.node_id);
  /* The peer table counts a key's open sessions; only those it had no
   * room for (more than FS_PEERS_MAX known peers) are looked for here. */
  unsigned same = fs_peers_sessions(&srv->peers, h->key.data);
  for (fs_session *o = srv->untracked ? srv->sessions : NULL; o; o = o->next)
    if (o != s && o->st == S_READY && !o->peer &&
        memcmp(o->peer_key, h->key.data, FS_PK_LEN) == 0)
      same++;
  if (same >= FS_SESSIONS_PER_KEY)
    return refuse_hello(s, key, FS_ELIMIT, "%s key %s already has %u open sessions here",
                        what, hex, same);
  *gp = g;
  memcpy(s->peer_key, h->key.data, FS_PK_LEN);
  memcpy(s->area, g.area, sizeof s->area);
  snprintf(s->peer_id, sizeof s->peer_id, "%s", s->is_node ? g.node_id : g.officer);
  return 0;
}

/* The node's Push memory is over its budget (push_memory_changed): no
 * ready session reads until it is down again, one just admitted included. */
static void pause_for_memory(fs_session *s) {
  fs_conn_pause(&s->conn);
  s->mem_paused = true;
}

/* The certificates of the Hello are stored: decides on the peer, and
 * welcomes it. */
static void hello_admit(fs_session *s, const Fs__Hello *h) {
  fs_server *srv = s->srv;
  fs_grant g;
  if (admit(s, h, &g) != 0)
    return;
  s->st = S_READY;
  uv_timer_stop(&s->deadline);
  fs_conn_admitted(&s->conn);
  if (srv->push_full) /* the others were paused when the budget was reached */
    pause_for_memory(s);
  s->peer = fs_peers_opened(&srv->peers, s->peer_key, &g, h->software, &s->conn);
  if (!s->peer)
    srv->untracked++;
  fs_conn_set_idle(&s->conn, FS_IDLE_MS);
  MDB_txn *txn;
  uint64_t seq = 0, cursor = 0, cert_cursor = 0;
  uint8_t cursor_id[FS_HASH_LEN];
  bool has_id = false;
  int rc = fs_store_begin(&srv->store, false, &txn);
  if (rc == 0) {
    rc = fs_meta_get_u64(&srv->store, txn, "record_seq", &seq);
    if (rc == 0 && s->is_node)
      rc = fs_peer_get_u64(&srv->store, txn, s->peer_key, "cursor", &cursor);
    if (rc == 0 && s->is_node)
      rc = fs_peer_get_u64(&srv->store, txn, s->peer_key, "cert_cursor", &cert_cursor);
    if (rc == 0 && s->is_node)
      rc = fs_peer_get_id(&srv->store, txn, s->peer_key, "cursor_id", cursor_id, &has_id);
    mdb_txn_abort(txn);
  }
  if (rc) {
    fs_conn_fail(&s->conn, rc, "storage error: %s", fs_strerror(rc));
    return;
  }
  char hex[2 * FS_PK_LEN + 1];
  fs_hex_encode(hex, s->peer_key, FS_PK_LEN);
  fs_log(FS_LOG_INFO, "session.ready", "peer=%s role=%s key=%.16s who=\"%s\" area=%s",
         s->conn.peer, s->is_node ? "node" : "device", hex, s->peer_id, s->area);
  Fs__Welcome w = FS__WELCOME__INIT;
  w.server_seq = seq;
  w.area = s->area;
  w.node_id = (char *)srv->cfg->id;
  w.peer_cursor = cursor;
  w.peer_cert_cursor = cert_cursor;
  if (has_id) {
    w.peer_cursor_id.data = cursor_id;
    w.peer_cursor_id.len = FS_HASH_LEN;
  }
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_WELCOME;
  env.welcome = &w;
  send_env(s, &env);
}

static void on_hello_certs_stored(fs_batch *b) {
  fs_session *s = b->data;
  s->batches--;
  /* A session that timed out or hung up meanwhile starts nothing. */
  if (!s->conn_closed && !fs_conn_ending(&s->conn)) {
    if (b->rc) {
      fs_conn_fail(&s->conn, b->rc, "cannot store certificates: %s", fs_strerror(b->rc));
    } else if (s->srv->stopping) {
      fs_conn_fail(&s->conn, FS_ESHUTDOWN, "server is shutting down; sync again later");
    } else {
      hello_admit(s, b->env->hello); /* before reading on: a Push may follow the Hello */
      if (s->st == S_READY && !s->mem_paused)
        fs_conn_resume(&s->conn);
    }
  }
  fs_batch_free(b);
  session_maybe_free(s); /* s may be gone now */
}

/* New certificates in a Hello (a laptop's first contact, a renewed
 * enrolment) are stored by the ingest writer in its next transaction, with
 * the Pushes in it: the loop never waits for the writer's lock or a disk
 * flush, and first contacts arriving together share one commit. Their
 * signatures are checked here, in a read transaction, and not again. The
 * session reads nothing until they are stored. Returns false when none
 * needs storing (the common case: a laptop presents its enrolment at every
 * sync). */
static bool hello_store_certs(fs_session *s, Fs__Envelope *env, fs_arena *arena) {
  fs_server *srv = s->srv;
  const Fs__Hello *h = env->hello;
  if (h->n_certs == 0)
    return false;
  bool *checked = calloc(h->n_certs, sizeof *checked); /* NULL: the writer checks them */
  if (!fs_certs_storable(&srv->store, srv->cfg->root_key, h->certs, h->n_certs, checked)) {
    free(checked);
    return false;
  }
  fs_batch *b;
  int rc = fs_batch_new_certs(&b, env, arena, h->certs, h->n_certs, checked);
  if (rc) {
    free(checked);
    fs_conn_fail(&s->conn, rc, "cannot store certificates: %s", fs_strerror(rc));
    return true;
  }
  b->done = on_hello_certs_stored;
  b->data = s;
  if ((rc = fs_ingest_submit(&srv->ingest, b))) {
    fs_batch_free(b); /* and the Hello with it */
    fs_conn_fail(&s->conn, rc, "%s", rc == FS_ESHUTDOWN
                                         ? "server is shutting down; sync again later"
                                         : "cannot queue the certificates");
    return true;
  }
  s->batches++;
  s->st = S_ADMITTING;
  fs_conn_pause(&s->conn);
  /* The key is proven and its new certificates checked: the node's own
   * commit is not the peer's delay, and must not fail its handshake. */
  uv_timer_stop(&s->deadline);
  fs_conn_set_idle(&s->conn, FS_IDLE_MS);
  return true;
}

/* env lives in arena, which a batch takes when the Hello's certificates
 * are to be stored. */
static void on_hello(fs_session *s, Fs__Envelope *env, fs_arena *arena) {
  const Fs__Hello *h = env->hello;
  int rc = fs_hello_check(h, &s->conn.hs);
  if (rc) {
    refuse_hello(s, NULL, rc, "hello refused: %s", fs_strerror(rc));
    return;
  }
  if (strcmp(h->role, "node") != 0 && strcmp(h->role, "device") != 0) {
    fs_conn_fail(&s->conn, FS_EPROTOCOL, "role must be device or node");
    return;
  }
  s->is_node = strcmp(h->role, "node") == 0;
  s->tokens_ms = 0; /* its rate bucket starts over, full, for its role */
  /* Each certificate costs signature checks on the loop thread: a Hello
   * carrying more than a peer ever needs is refused before any. */
  if (h->n_certs > FS_CERTS_PER_HELLO) {
    refuse_hello(s, h->key.data, FS_ELIMIT,
                 "a hello may carry at most %d certificates; this one has %zu",
                 FS_CERTS_PER_HELLO, h->n_certs);
    return;
  }
  if (!hello_store_certs(s, env, arena))
    hello_admit(s, h);
}

static unsigned push_limit(const fs_session *s) {
  return s->is_node ? FS_SESSION_PUSHES_NODE : FS_SESSION_PUSHES;
}

/* Reads on, unless its own Pushes in flight or the node's Push memory
 * hold it back. */
static void session_read_on(fs_session *s) {
  if (s->batches >= push_limit(s))
    return;
  if (s->srv->push_full) {
    s->mem_paused = true;
    return;
  }
  fs_conn_resume(&s->conn);
}

/* Decoded Pushes in flight went up (on_push) or down (on_batch_done). Over
 * the budget, no ready session reads its next frame: each may have had one
 * more Push on its way, and a thousand laptops with four in flight each
 * would otherwise hold gigabytes. Below 3/4 of it they read on. */
static void push_memory_changed(fs_server *srv) {
  if (!srv->push_full && srv->push_bytes > srv->push_budget) {
    srv->push_full = true;
    srv->push_full_times++;
    unsigned n = 0;
    for (fs_session *o = srv->sessions; o; o = o->next)
      if (o->st == S_READY && !o->conn_closed) {
        pause_for_memory(o);
        n++;
      }
    fs_log(FS_LOG_INFO, "server.push_memory_full", "held_mb=%zu budget_mb=%zu sessions=%u "
           "times=%llu msg=\"reading paused until the Pushes in flight commit\"",
           srv->push_bytes >> 20, srv->push_budget >> 20, n,
           (unsigned long long)srv->push_full_times);
  } else if (srv->push_full && srv->push_bytes <= srv->push_budget / 4 * 3) {
    srv->push_full = false;
    for (fs_session *o = srv->sessions; o; o = o->next)
      if (o->mem_paused) {
        o->mem_paused = false;
        if (!o->conn_closed && !srv->stopping)
          session_read_on(o);
      }
  }
}

static void on_batch_done(fs_batch *b) {
  fs_session *s = b->data;
  s->batches--;
  s->srv->push_bytes -= b->mem;
  fs_peers_batch_done(&s->srv->peers, s->peer, b);
  /* Laptop sets held ahead of a gap this node lost: ask the parent. */
  for (size_t i = 0; b->rc == 0 && s->srv->uplink && i < b->n; i++) {
    const fs_batch_item *it = &b->items[i];
    if (it->want_gap && it->status == FS__ACK_STATUS__ACK_HELD)
      fs_uplink_fetch(s->srv->uplink, it->cs->device.data, it->head_seq + 1, it->cs->seq - 1);
  }
  if (!s->conn_closed) {
    if (b->rc)
      fs_conn_fail(&s->conn, b->rc, "push not stored: %s; nothing in it was "
                   "acknowledged, sync again later", fs_strerror(b->rc));
    else if (fs_batch_ack(b, send_env, s) != 0 || !s->srv->stopping)
      session_read_on(s);
    else if (s->batches == 0) /* its last Ack is out */
      fs_conn_fail(&s->conn, FS_ESHUTDOWN, "server is shutting down; sync again later");
  }
  fs_server *srv = s->srv;
  fs_batch_free(b);
  session_maybe_free(s); /* s may be gone now */
  push_memory_changed(srv);
}

static void on_push(fs_session *s, Fs__Envelope *env, fs_arena *arena) {
  fs_batch *b;
  int rc = fs_batch_new(&b, env, arena);
  if (rc) {
    fs_conn_fail(&s->conn, rc, "a push may hold at most %d change sets",
                 FS_PUSH_MAX_SETS);
    return;
  }
  b->from_device = !s->is_node;
  if (b->from_device)
    b->n_certs = 0; /* a laptop's certificates come in its Hello */
  b->set_cursor = s->is_node && env->push->log_last > 0;
  b->cursor = env->push->log_last;
  b->cert_cursor = s->is_node ? env->push->cert_last : 0;
  memcpy(b->peer_key, s->peer_key, FS_PK_LEN);
  memcpy(b->scope, s->area, sizeof b->scope);
  b->done = on_batch_done;
  b->data = s;
  size_t mem = b->mem; /* b is the ingest's once submitted */
  if ((rc = fs_ingest_submit(&s->srv->ingest, b))) {
    fs_batch_free(b);
    fs_conn_fail(&s->conn, rc, "%s", rc == FS_ESHUTDOWN
                                         ? "server is shutting down; sync again later"
                                         : "cannot queue the push");
    return;
  }
  /* A few Pushes in flight per peer: the next is verified while one
   * commits; acks go out in order (ingest.h). Beyond that, stop reading. */
  if (++s->batches >= push_limit(s))
    fs_conn_pause(&s->conn);
  s->srv->push_bytes += mem;
  push_memory_changed(s->srv);
}

struct pull_out {
  ProtobufCBinaryData *states;
  size_t n, cap;
};

static int take_state(void *arg, const uint8_t *p, size_t len) {
  struct pull_out *o = arg;
  if (o->n == o->cap)
    return FS_ELIMIT;
  o->states[o->n].data = (uint8_t *)p;
  o->states[o->n].len = len;
  o->n++;
  return 0;
}

static void on_pull(fs_session *s, const Fs__Pull *p) {
  fs_server *srv = s->srv;
  size_t max = p->max && p->max < FS_PULL_MAX_RECORDS ? p->max : FS_PULL_MAX_RECORDS;
  struct pull_out o = {calloc(max, sizeof *o.states), 0, max};
  MDB_txn *txn = NULL;
  uint64_t next = p->cursor;
  bool more = false;
  int rc = o.states ? fs_store_begin(&srv->store, false, &txn) : FS_ENOMEM;
  if (rc == 0)
    rc = fs_store_changes_since(&srv->store, txn, p->cursor, s->area,
                                s->is_node ? NULL : s->peer_key, max, FS_PULL_MAX_BYTES,
                                FS_PULL_MAX_SCAN, take_state, &o, &next, &more);
  /* Certificates flow down to child nodes (revocations above all). */
  struct pull_out co = {NULL, 0, 0};
  uint64_t cert_next = p->cert_cursor;
  bool cert_more = false;
  if (rc == 0 && s->is_node) {
    co.cap = FS_PULL_MAX_CERTS;
    co.states = calloc(co.cap, sizeof *co.states);
    rc = co.states ? fs_cert_log_since(&srv->store, txn, p->cert_cursor, co.cap,
                                       FS_PULL_MAX_BYTES, take_state, &co, &cert_next,
                                       &cert_more)
                   : FS_ENOMEM;
  }
  if (rc == 0) {
    Fs__Records r = FS__RECORDS__INIT;
    r.n_states = o.n;
    r.states = o.states;
    r.cursor = next;
    r.more = more || cert_more;
    r.n_certs = co.n;
    r.certs = co.states;
    r.cert_cursor = cert_next;
    Fs__Envelope env = FS__ENVELOPE__INIT;
    env.msg_case = FS__ENVELOPE__MSG_RECORDS;
    env.records = &r;
    if (send_env(s, &env) == 0 && s->peer) /* copies the bytes out of the map */
      s->peer->records_out += o.n;
  }
  if (txn)
    mdb_txn_abort(txn);
  free(o.states);
  free(co.states);
  if (rc)
    fs_conn_fail(&s->conn, rc, "pull failed: %s", fs_strerror(rc));
}

/* A token bucket per connection: a peer sending frames faster than a
 * laptop or a child node ever needs is slowed down by not reading it. The
 * bucket starts over, full, at the Hello that says which it is. */
static void rate_limit(fs_session *s) {
  uint64_t now = uv_now(s->srv->loop);
  double rate = s->is_node ? FS_RATE_FRAMES_PER_S_NODE : FS_RATE_FRAMES_PER_S;
  double burst = s->is_node ? FS_RATE_BURST_NODE : FS_RATE_BURST;
  if (s->tokens_ms == 0) {
    s->tokens = burst;
    s->tokens_ms = now;
  }
  s->tokens += (double)(now - s->tokens_ms) * rate / 1000.0;
  if (s->tokens > burst)
    s->tokens = burst;
  s->tokens_ms = now;
  s->tokens -= 1;
  if (s->tokens < 0) {
    s->srv->throttled++;
    if (!s->throttle_logged) {
      s->throttle_logged = true;
      fs_log(FS_LOG_WARN, "session.throttled", "peer=%s id=%s role=%s limit=%.0f msg=\"sends "
             "more frames a second than its role needs: read more slowly from now on\"",
             s->conn.peer, s->peer_id[0] ? s->peer_id : "-", s->is_node ? "node" : "device",
             rate);
    }
    fs_conn_throttle(&s->conn, (uint64_t)(-s->tokens * 1000.0 / rate) + 1);
  }
}

/* A child lacks some change sets of a device (it was restored from an older
 * copy): send those we hold, in seq order, within its area, from the first
 * up to FS_FETCH_MAX sets or FS_FETCH_MAX_BYTES; the child asks for the
 * rest of its range after a shorter answer. */
static void on_fetch(fs_session *s, const Fs__Fetch *f) {
  fs_store *st = &s->srv->store;
  if (f->device.len != FS_PK_LEN || f->from_seq == 0 || f->to_seq < f->from_seq) {
    fs_conn_fail(&s->conn, FS_EPROTOCOL, "fetch needs a device key and a seq range");
    return;
  }
  Fs__SignedChangeSet *sets[FS_FETCH_MAX];
  size_t n = 0, bytes = 0;
  MDB_txn *txn;
  int rc = fs_store_begin(st, false, &txn);
  for (uint64_t seq = f->from_seq;
       rc == 0 && seq <= f->to_seq && n < FS_FETCH_MAX && bytes < FS_FETCH_MAX_BYTES; seq++) {
    uint8_t id[FS_HASH_LEN];
    uint64_t at;
    MDB_val v;
    if (fs_store_devseq_get(st, txn, f->device.data, seq, id, &at) != 0)
      break; /* the rest would not extend the chain anyway */
    uint8_t kb[8];
    fs_be64_put(kb, at);
    MDB_val k = {8, kb};
    /* A seq we hold whose set is missing: a damaged store, said so. */
    if ((rc = fs_store_get_named(txn, st->log, &k, &v, "log entry", "devseq", seq)))
      break;
    Fs__SignedChangeSet *set = fs__signed_change_set__unpack(NULL, v.mv_size, v.mv_data);
    Fs__ChangeSet *cs = set ? fs__change_set__unpack(NULL, set->body.len, set->body.data) : NULL;
    bool mine = cs && fs_area_within(cs->area, s->area);
    if (cs)
      fs__change_set__free_unpacked(cs, NULL);
    if (!mine) {
      if (set)
        fs__signed_change_set__free_unpacked(set, NULL);
      break;
    }
    sets[n++] = set;
    bytes += v.mv_size;
  }
  if (txn)
    mdb_txn_abort(txn);
  Fs__Push p = FS__PUSH__INIT;
  p.n_sets = n;
  p.sets = sets;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_FETCHED;
  env.fetched = &p;
  if (rc == 0)
    send_env(s, &env);
  else
    fs_conn_fail(&s->conn, rc, "fetch failed: %s", fs_strerror(rc));
  fs_log(FS_LOG_INFO, "session.fetch", "peer=%s from=%llu to=%llu sent=%zu", s->conn.peer,
         (unsigned long long)f->from_seq, (unsigned long long)f->to_seq, n);
  for (size_t i = 0; i < n; i++)
    fs__signed_change_set__free_unpacked(sets[i], NULL);
}

/* A session opened before its key was revoked ends at its next frame:
 * a stolen laptop cannot keep reading its area on an old connection. */
static bool revoked_now(fs_session *s) {
  fs_server *srv = s->srv;
  MDB_txn *txn;
  uint64_t last, from;
  int rev = 0;
  if (fs_store_begin(&srv->store, false, &txn) == 0) {
    rev = fs_trust_revoked(&srv->store, txn, srv->cfg->root_key, s->peer_key, &last, &from);
    mdb_txn_abort(txn);
  }
  if (rev != 1)
    return false;
  fs_conn_fail(&s->conn, FS_EREVOKED, "this key was revoked");
  return true;
}

/* env lives in arena, which the conn frees after this returns unless a
 * batch took it. */
static void on_frame(fs_conn *c, Fs__Envelope *env, fs_arena *arena) {
  fs_session *s = container_of(c, fs_session, conn);
  rate_limit(s);
  if (s->peer)
    s->peer->last_contact_ms = fs_hlc_now_ms();
  if (s->st == S_READY && env->msg_case == FS__ENVELOPE__MSG_PULL && revoked_now(s))
    return;
  Fs__Envelope__MsgCase mc = env->msg_case;
  if (mc == FS__ENVELOPE__MSG_ERROR) {
    fs_log(FS_LOG_WARN, "session.peer_error", "peer=%s code=%u msg=\"%.200s\"", c->peer,
           env->error->code, env->error->message);
    fs_conn_close(c, FS_EREFUSED);
  } else if (s->st == S_HELLO && mc == FS__ENVELOPE__MSG_HELLO) {
    on_hello(s, env, arena);
  } else if (s->st == S_READY && mc == FS__ENVELOPE__MSG_PUSH) {
    on_push(s, env, arena);
  } else if (s->st == S_READY && mc == FS__ENVELOPE__MSG_PULL) {
    on_pull(s, env->pull);
  } else if (s->st == S_READY && mc == FS__ENVELOPE__MSG_STATUS && s->is_node) {
    int rc = fs_status_keep(&s->srv->status, s->peer_key, env->status);
    if (rc)
      fs_conn_fail(c, rc, "status report refused: %s", fs_strerror(rc));
    else if (s->srv->uplink)
      fs_uplink_mark_dirty(s->srv->uplink);
  } else if (s->st == S_READY && mc == FS__ENVELOPE__MSG_FETCH && s->is_node) {
    on_fetch(s, env->fetch);
  } else if (s->st == S_READY && mc == FS__ENVELOPE__MSG_BYE) {
    fs_conn_finish(c);
  } else {
    fs_conn_fail(c, FS_EPROTOCOL, "message %d is not expected %s", (int)mc,
                 s->st == S_ADMITTING ? "before the Welcome"
                 : s->st != S_READY   ? "before Hello"
                                      : "here");
  }
}

/* Near the file-descriptor limit new connections are refused (closed at
 * once) so that FS_FD_RESERVE descriptors stay for the link to the parent,
 * the admin port and LMDB; at the limit itself libuv accepts and closes them
 * on a descriptor it keeps in reserve, so the loop never spins. One log line
 * a second says so, with how many were turned away. */
static void accept_failed(fs_server *srv, int err) {
  uint64_t now = uv_now(srv->loop);
  srv->accept_failures++;
  if (srv->accept_failed_logged && now - srv->accept_failed_ms < 1000)
    return;
  fs_log(FS_LOG_WARN, "server.accept_failed", "err=%s refused=%llu msg=\"%s%s\"",
         fs_errname(err), (unsigned long long)srv->accept_failures, fs_strerror(err),
         err == UV_EMFILE || err == UV_ENFILE
             ? ": new connections are refused, open ones are served; raise the limit "
               "(LimitNOFILE=) if this lasts"
             : "");
  srv->accept_failed_ms = now;
  srv->accept_failed_logged = true;
}

static void on_connection(uv_stream_t *listener, int status) {
  fs_server *srv = listener->data;
  if (status < 0) {
    accept_failed(srv, status);
    return;
  }
  fs_session *s = calloc(1, sizeof *s);
  if (!s)
    return;
  if (fs_conn_init(srv->loop, &s->conn, srv->netkey, NULL, on_secure,
                   on_session_closed) != 0) {
    free(s);
    return;
  }
  s->conn.on_arena_frame = on_frame; /* a Push is kept in its arena */
  s->srv = srv;
  s->next = srv->sessions;
  if (srv->sessions)
    srv->sessions->prev = s;
  srv->sessions = s;
  srv->nsessions++;
  srv->accepted++;
  int rc = uv_timer_init(srv->loop, &s->deadline);
  s->deadline_closed = rc != 0; /* nothing to close then */
  if (rc == 0 && (rc = fs_conn_accept(&s->conn, listener, FS_HANDSHAKE_MS)) == 0)
    rc = uv_timer_start(&s->deadline, on_deadline, FS_HANDSHAKE_MS, 0);
  if (rc) {
    /* e.g. EMFILE: refuse this one, keep serving the others. */
    accept_failed(srv, rc);
    s->st = S_REFUSED;
    fs_conn_close(&s->conn, rc);
    return;
  }
  uv_os_fd_t fd;
  if (srv->fd_limit && uv_fileno((uv_handle_t *)&s->conn.tcp, &fd) == 0 &&
      (uint64_t)fd + FS_FD_RESERVE >= srv->fd_limit) {
    /* Descriptors are allocated lowest first: fd is about how many are open. */
    accept_failed(srv, UV_EMFILE);
    s->st = S_REFUSED;
    fs_conn_close(&s->conn, UV_EMFILE);
    return;
  }
  if (srv->stopping)
    fs_conn_close(&s->conn, FS_ESHUTDOWN);
  /* The client speaks first (handshake.h); on_secure continues. */
}

static int install_own_cert(fs_server *srv);

/* The data directory (made if missing) must be writable by this process:
 * LMDB alone would say only "storage error". Returns 0 or a uv error. */
static int check_data_dir(const char *dir) {
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return -errno;
  return access(dir, R_OK | W_OK | X_OK) == 0 ? 0 : -errno;
}

/* SIGHUP: re-read the certificate file (a renewed node certificate) and
 * the log level (a --log-level flag still wins); other options need a
 * restart, which systemd makes cheap. */
static void reload(fs_server *srv) {
  fs_config fresh;
  int rc = srv->config_path ? fs_config_load(&fresh, srv->config_path, srv->flags)
                            : FS_ECONFIG;
  if (rc) {
    fs_log(FS_LOG_ERROR, "server.reload_failed", "msg=\"%s\"",
           rc == FS_ECONFIG ? fresh.error : fs_strerror(rc));
    return;
  }
  fs_log_setup(fresh.log_level, srv->cfg->id);
  rc = install_own_cert(srv);
  fs_log(rc ? FS_LOG_ERROR : FS_LOG_INFO, "server.reloaded", "cert=%s err=%s",
         srv->cfg->cert, fs_errname(rc));
}

static void on_signal(uv_signal_t *sig, int signum) {
  fs_server *srv = sig->data;
  fs_log(FS_LOG_INFO, "server.signal", "signal=%d", signum);
  if (signum == SIGHUP)
    reload(srv);
  else
    fs_server_stop(srv);
}

/* Stores this node's certificate file (its chain first) and checks that it
 * certifies our key for our area, now. */
static int install_own_cert(fs_server *srv) {
  const fs_config *cfg = srv->cfg;
  fs_certfile f;
  int rc = fs_certfile_read(&f, cfg->cert);
  if (rc) {
    fs_log(FS_LOG_ERROR, "server.cert", "path=%s err=%s msg=\"cannot read the node "
           "certificate; ask the administrator for it (fieldsyncd admin certify-node) or "
           "correct cert = in the configuration\"", cfg->cert, fs_errname(rc));
    return rc;
  }
  ProtobufCBinaryData items[FS_CERTFILE_MAX];
  for (size_t i = 0; i < f.n; i++) {
    items[i].data = f.certs[i];
    items[i].len = f.lens[i];
  }
  rc = fs_certs_accept(&srv->store, cfg->root_key, items, f.n);
  fs_certfile_free(&f);
  fs_grant g;
  MDB_txn *txn;
  if (rc >= 0 && (rc = fs_store_begin(&srv->store, false, &txn)) == 0) {
    rc = fs_trust_find(&srv->store, txn, cfg->root_key, srv->key.pk,
                       FS__CERT_KIND__CERT_NODE, cfg->area, fs_hlc_now_ms(), &g);
    mdb_txn_abort(txn);
  }
  if (rc)
    fs_log(FS_LOG_ERROR, "server.cert", "path=%s err=%s msg=\"%s: the certificate must "
           "be issued for this node's key and area %s by the deployment root or a "
           "delegate\"", cfg->cert, fs_errname(rc), fs_strerror(rc), cfg->area);
  return rc;
}

int fs_server_start(fs_server *srv, uv_loop_t *loop, const fs_config *cfg) {
  const char *config_path = srv->config_path;
  const fs_config_flags *flags = srv->flags;
  memset(srv, 0, sizeof *srv);
  srv->config_path = config_path;
  srv->flags = flags;
  srv->loop = loop;
  srv->cfg = cfg;
  int rc = fs_keypair_load(&srv->key, cfg->key);
  if (rc) {
    fs_log(FS_LOG_ERROR, "server.key", "path=%s err=%s msg=\"%s; %s\"", cfg->key,
           fs_errname(rc), fs_strerror(rc),
           rc == FS_EKEYPERM ? "run chmod 600 on it"
                             : "make it with fieldsyncd keygen --key, or correct key = in "
                               "the configuration");
    return rc;
  }
  if ((rc = fs_netkey_load(srv->netkey, cfg->network_key))) {
    fs_log(FS_LOG_ERROR, "server.network_key", "path=%s err=%s msg=\"%s; %s\"",
           cfg->network_key, fs_errname(rc), fs_strerror(rc),
           rc == FS_EKEYPERM ? "run chmod 600 on it"
                             : "copy the deployment's network.key (made by fieldsyncd "
                               "admin init) there");
    fs_keypair_free(&srv->key);
    return rc;
  }
  if ((rc = check_data_dir(cfg->data)) ||
      (rc = fs_store_open_upgrade(&srv->store, cfg->data, (size_t)cfg->map_size_mb << 20))) {
    if (rc == FS_EVERSION)
      fs_log(FS_LOG_ERROR, "server.store", "path=%s err=%s format=%llu supported=%d "
             "msg=\"the store was written in on-disk format %llu; this fieldsyncd reads "
             "format %d: run the build that wrote it, or restore a backup made by this "
             "one\"", cfg->data, fs_errname(rc),
             (unsigned long long)srv->store.found_format, FS_STORE_FORMAT,
             (unsigned long long)srv->store.found_format, FS_STORE_FORMAT);
    else
      fs_log(FS_LOG_ERROR, "server.store", "path=%s err=%s msg=\"%s%s\"", cfg->data,
             fs_errname(rc), fs_strerror(rc),
             rc == UV_EACCES || rc == UV_EROFS || rc == UV_EPERM
                 ? "; the data directory must be writable by the user the node runs as "
                   "(chown -R fieldsync:fieldsync it)"
                 : "");
    fs_keypair_free(&srv->key);
    return rc;
  }
  /* The configured map is where it starts; it grows up to map_max_mb. */
  srv->store.map_max = (size_t)cfg->map_max_mb << 20;
  srv->push_budget = (size_t)cfg->push_memory_mb << 20;
  if ((rc = fs_store_grow(&srv->store, false)) < 0 && rc != FS_EMAPFULL)
    goto fail_store;
  if ((rc = install_own_cert(srv)))
    goto fail_store;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    srv->fd_limit = rl.rlim_cur;
  fs_peers_init(&srv->peers, &srv->store);
  if ((rc = fs_peers_load(&srv->peers, srv->key.pk))) {
    fs_log(FS_LOG_ERROR, "server.peers", "err=%s msg=\"cannot read the peers database: %s\"",
           fs_errname(rc), fs_strerror(rc));
    goto fail_store;
  }
  if ((rc = fs_ingest_init(&srv->ingest, loop, &srv->store, cfg->root_key))) {
    fs_log(FS_LOG_ERROR, "server.ingest", "err=%s msg=\"cannot start the writer thread\"",
           fs_errname(rc));
    goto fail_store;
  }
  srv->ingest.hold_device_gaps = cfg->parent[0] != '\0';
  if ((rc = fs_status_init(&srv->status)))
    goto fail_store;
  struct sockaddr_storage addr;
  if ((rc = fs_addr_parse(cfg->listen, &addr)) ||
      (rc = uv_tcp_init(loop, &srv->listener)))
    goto fail_store;
  srv->listener.data = srv;
  if ((rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&addr, 0)) ||
      (rc = uv_listen((uv_stream_t *)&srv->listener, 1024, on_connection))) {
    fs_log(FS_LOG_ERROR, "server.listen", "addr=%s err=%s msg=\"%s%s\"", cfg->listen,
           fs_errname(rc), fs_strerror(rc),
           rc == UV_EADDRINUSE ? "; another process listens there (ss -ltnp shows which): "
                                 "stop it or choose another listen ="
                               : "");
    uv_close((uv_handle_t *)&srv->listener, NULL);
    goto fail_store;
  }
  uv_signal_init(loop, &srv->sigterm);
  uv_signal_init(loop, &srv->sigint);
  uv_signal_init(loop, &srv->sighup);
  srv->sigterm.data = srv->sigint.data = srv->sighup.data = srv;
  uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
  uv_signal_start(&srv->sigint, on_signal, SIGINT);
  uv_signal_start(&srv->sighup, on_signal, SIGHUP);
  if ((cfg->admin[0] && (rc = fs_admin_start(&srv->admin, srv, cfg->admin,
                                           cfg->admin_token_file))) ||
      (cfg->parent[0] && (rc = fs_uplink_start(&srv->uplink, srv)))) {
    fs_server_stop(srv);
    return rc;
  }
  char hex[2 * FS_PK_LEN + 1];
  fs_hex_encode(hex, srv->key.pk, FS_PK_LEN);
  fs_log(FS_LOG_INFO, "server.started", "id=%s area=%s listen=%s key=%s", cfg->id,
         cfg->area, cfg->listen, hex);
  return 0;
fail_store:
  fs_ingest_stop(&srv->ingest); /* nothing in flight yet: ends its thread */
  fs_peers_free(&srv->peers);
  fs_status_free(&srv->status);
  fs_store_close(&srv->store);
  fs_keypair_free(&srv->key);
  return rc;
}

void fs_server_stop(fs_server *srv) {
  if (srv->stopping)
    return;
  srv->stopping = true;
  uv_close((uv_handle_t *)&srv->listener, NULL);
  uv_close((uv_handle_t *)&srv->sigterm, NULL);
  uv_close((uv_handle_t *)&srv->sigint, NULL);
  uv_close((uv_handle_t *)&srv->sighup, NULL);
  /* The uplink frees itself once its handles have closed, while pushes
   * from below may still finish (on_batch_done): forget it now. */
  if (srv->uplink)
    fs_uplink_stop(srv->uplink);
  srv->uplink = NULL;
  if (srv->admin)
    fs_admin_stop(srv->admin);
  fs_ingest_stop(&srv->ingest); /* its writer ends once the last Ack is out */
  for (fs_session *s = srv->sessions; s; s = s->next) {
    if (s->batches) {
      /* Read nothing more: its Acks go out first, then the last one's
       * on_batch_done tells it the server stops. */
      fs_conn_pause(&s->conn);
      continue;
    }
    fs_conn_fail(&s->conn, FS_ESHUTDOWN, "server is shutting down; sync again later");
  }
  /* The loop ends once every handle has closed, the pool's verification
   * jobs have finished and the writer has committed what was in flight. */
}

void fs_server_free(fs_server *srv) {
  sodium_memzero(srv->netkey, sizeof srv->netkey);
  fs_status_free(&srv->status);
  fs_peers_free(&srv->peers);
  fs_store_close(&srv->store);
  fs_keypair_free(&srv->key);
}
