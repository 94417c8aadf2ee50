/* server.c - listener, per-peer sessions, orderly shutdown.
 *
 * A session owns its conn and at most one batch in flight. Its memory is
 * freed when the conn has closed and no batch refers to it any more.
 */
#include "server.h"

#include "admin.h"
#include "conn.h"
#include "error.h"
#include "hex.h"
#include "log.h"
#include "uplink.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { S_CHALLENGED, S_READY } session_state;

struct fs_session {
  fs_conn conn;
  fs_server *srv;
  session_state st;
  uint8_t nonce[FS_NONCE_LEN];
  const fs_peer_conf *peer;
  fs_batch *batch;       /* in flight, or NULL */
  bool conn_closed;
  fs_session *prev, *next;
};

static void session_maybe_free(fs_session *s) {
  if (!s->conn_closed || s->batch)
    return;
  fs_server *srv = s->srv;
  if (s->prev)
    s->prev->next = s->next;
  else
    srv->sessions = s->next;
  if (s->next)
    s->next->prev = s->prev;
  srv->nsessions--;
  free(s);
}

static void on_session_closed(fs_conn *c, int reason) {
  fs_session *s = container_of(c, fs_session, conn);
  fs_log(reason && reason != UV_ECONNRESET ? FS_LOG_INFO : FS_LOG_DEBUG,
         "session.closed", "peer=%s reason=%s frames_in=%llu bytes_in=%llu", c->peer,
         fs_errname(reason), (unsigned long long)c->frames_in,
         (unsigned long long)c->bytes_in);
  s->conn_closed = true;
  session_maybe_free(s);
}

static int send_env(void *arg, const Fs__Envelope *env) {
  fs_session *s = arg;
  int rc = fs_conn_send(&s->conn, env);
  if (rc && rc != UV_ECANCELED)
    fs_conn_close(&s->conn, rc);
  return rc;
}

static void send_challenge(fs_session *s) {
  randombytes_buf(s->nonce, sizeof s->nonce);
  Fs__Challenge ch = FS__CHALLENGE__INIT;
  ch.version = FS_PROTOCOL_VERSION;
  ch.nonce.data = s->nonce;
  ch.nonce.len = sizeof s->nonce;
  ch.server_key.data = s->srv->key.pk;
  ch.server_key.len = FS_PK_LEN;
  ch.node_id = (char *)s->srv->cfg->id;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_CHALLENGE;
  env.challenge = &ch;
  send_env(s, &env);
}

static void on_hello(fs_session *s, const Fs__Hello *h) {
  fs_server *srv = s->srv;
  int rc = fs_hello_verify(h, s->nonce, srv->key.pk);
  if (rc) {
    srv->refused_hello++;
    fs_conn_fail(&s->conn, rc, "hello refused: %s", fs_strerror(rc));
    return;
  }
  char hex[2 * FS_PK_LEN + 1];
  fs_hex_encode(hex, h->key.data, FS_PK_LEN);
  const fs_peer_conf *p = fs_config_peer(srv->cfg, h->key.data);
  bool want_node = strcmp(h->role, "node") == 0;
  if (!p || (p->role == FS_PEER_NODE) != want_node) {
    srv->refused_hello++;
    fs_conn_fail(&s->conn, FS_EUNKNOWN_PEER,
                 "%s key %s is not enrolled at node %s; ask its administrator to add "
                 "it to [peers]",
                 want_node ? "node" : "device", hex, srv->cfg->id);
    return;
  }
  s->peer = p;
  s->st = S_READY;
  s->conn.idle_ms = FS_IDLE_MS;
  MDB_txn *txn;
  uint64_t seq = 0, cursor = 0;
  if ((rc = fs_store_begin(&srv->store, false, &txn)) == 0) {
    rc = fs_meta_get_u64(&srv->store, txn, "record_seq", &seq);
    if (rc == 0 && want_node)
      rc = fs_peer_get_u64(&srv->store, txn, p->key, "cursor", &cursor);
    mdb_txn_abort(txn);
  }
  if (rc) {
    fs_conn_fail(&s->conn, rc, "storage error: %s", fs_strerror(rc));
    return;
  }
  fs_log(FS_LOG_INFO, "session.ready", "peer=%s role=%s key=%.16s area=%s",
         s->conn.peer, want_node ? "node" : "device", hex, p->area);
  Fs__Welcome w = FS__WELCOME__INIT;
  w.server_seq = seq;
  w.peer_cursor = cursor;
  w.area = (char *)s->peer->area;
  w.node_id = (char *)srv->cfg->id;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_WELCOME;
  env.welcome = &w;
  send_env(s, &env);
}

static void on_batch_done(fs_batch *b) {
  fs_session *s = b->data;
  s->batch = NULL;
  if (!s->conn_closed) {
    if (b->rc)
      fs_conn_fail(&s->conn, b->rc, "push not stored: %s; nothing in it was "
                   "acknowledged, sync again later", fs_strerror(b->rc));
    else if (fs_batch_ack(b, send_env, s) == 0 && s->srv->stopping)
      fs_conn_fail(&s->conn, FS_ESHUTDOWN, "server is shutting down; sync again later");
    else
      fs_conn_resume(&s->conn);
  }
  fs_batch_free(b);
  session_maybe_free(s);
}

static void on_push(fs_session *s, Fs__Envelope *env) {
  fs_batch *b;
  int rc = fs_batch_new(&b, env);
  if (rc) {
    fs__envelope__free_unpacked(env, NULL);
    fs_conn_fail(&s->conn, rc, "a push may hold at most %d change sets",
                 FS_PUSH_MAX_SETS);
    return;
  }
  b->from_device = s->peer->role == FS_PEER_DEVICE;
  b->set_cursor = !b->from_device && env->push->log_last > 0;
  b->cursor = env->push->log_last;
  memcpy(b->peer_key, s->peer->key, FS_PK_LEN);
  memcpy(b->scope, s->peer->area, sizeof b->scope);
  b->done = on_batch_done;
  b->data = s;
  if ((rc = fs_ingest_submit(&s->srv->ingest, b))) {
    fs_batch_free(b);
    fs_conn_fail(&s->conn, rc, "cannot queue the push");
    return;
  }
  s->batch = b;
  fs_conn_pause(&s->conn); /* one batch in flight per peer */
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
    rc = fs_store_changes_since(&srv->store, txn, p->cursor, s->peer->area, max,
                                FS_PULL_MAX_BYTES, FS_PULL_MAX_SCAN, take_state, &o,
                                &next, &more);
  if (rc == 0) {
    ProtobufCBinaryData **ptrs = calloc(o.n ? o.n : 1, sizeof *ptrs);
    if (!ptrs) {
      rc = FS_ENOMEM;
    } else {
      for (size_t i = 0; i < o.n; i++)
        ptrs[i] = &o.states[i];
      Fs__Records r = FS__RECORDS__INIT;
      r.n_states = o.n;
      r.states = o.states;
      r.cursor = next;
      r.more = more;
      Fs__Envelope env = FS__ENVELOPE__INIT;
      env.msg_case = FS__ENVELOPE__MSG_RECORDS;
      env.records = &r;
      send_env(s, &env); /* copies the bytes out of the map */
      free(ptrs);
    }
  }
  if (txn)
    mdb_txn_abort(txn);
  free(o.states);
  if (rc)
    fs_conn_fail(&s->conn, rc, "pull failed: %s", fs_strerror(rc));
}

static void on_frame(fs_conn *c, Fs__Envelope *env) {
  fs_session *s = container_of(c, fs_session, conn);
  Fs__Envelope__MsgCase mc = env->msg_case;
  if (mc == FS__ENVELOPE__MSG_ERROR) {
    fs_log(FS_LOG_WARN, "session.peer_error", "peer=%s code=%u msg=\"%.200s\"", c->peer,
           env->error->code, env->error->message);
    fs_conn_close(c, FS_EREFUSED);
  } else if (s->st == S_CHALLENGED && mc == FS__ENVELOPE__MSG_HELLO) {
    on_hello(s, env->hello);
  } else if (s->st == S_READY && mc == FS__ENVELOPE__MSG_PUSH) {
    on_push(s, env);
    return; /* the batch owns env now */
  } else if (s->st == S_READY && mc == FS__ENVELOPE__MSG_PULL) {
    on_pull(s, env->pull);
  } else if (s->st == S_READY && mc == FS__ENVELOPE__MSG_STATUS &&
             s->peer->role == FS_PEER_NODE) {
    int rc = fs_status_keep(&s->srv->status, (size_t)(s->peer - s->srv->cfg->peers),
                            env->status);
    if (rc)
      fs_conn_fail(c, rc, "status report refused: %s", fs_strerror(rc));
    else if (s->srv->uplink)
      fs_uplink_mark_dirty(s->srv->uplink);
  } else if (s->st == S_READY && mc == FS__ENVELOPE__MSG_BYE) {
    fs_conn_finish(c);
  } else {
    fs_conn_fail(c, FS_EPROTOCOL, "message %d is not expected %s", (int)mc,
                 s->st == S_CHALLENGED ? "before Hello" : "here");
  }
  fs__envelope__free_unpacked(env, NULL);
}

static void on_connection(uv_stream_t *listener, int status) {
  fs_server *srv = listener->data;
  if (status < 0) {
    fs_log(FS_LOG_WARN, "server.accept_failed", "err=%s", fs_errname(status));
    return;
  }
  fs_session *s = calloc(1, sizeof *s);
  if (!s)
    return;
  if (fs_conn_init(srv->loop, &s->conn, on_frame, on_session_closed) != 0) {
    free(s);
    return;
  }
  s->srv = srv;
  s->next = srv->sessions;
  if (srv->sessions)
    srv->sessions->prev = s;
  srv->sessions = s;
  srv->nsessions++;
  srv->accepted++;
  int rc = fs_conn_accept(&s->conn, listener, FS_HANDSHAKE_MS);
  if (rc) {
    /* e.g. EMFILE: refuse this one, keep serving the others. */
    fs_log(FS_LOG_WARN, "server.accept_failed", "err=%s", fs_errname(rc));
    fs_conn_close(&s->conn, rc);
    return;
  }
  if (srv->stopping) {
    fs_conn_fail(&s->conn, FS_ESHUTDOWN, "server is shutting down; sync again later");
    return;
  }
  send_challenge(s);
}

static void on_signal(uv_signal_t *sig, int signum) {
  fs_server *srv = sig->data;
  fs_log(FS_LOG_INFO, "server.signal", "signal=%d", signum);
  fs_server_stop(srv);
}

int fs_server_start(fs_server *srv, uv_loop_t *loop, const fs_config *cfg) {
  memset(srv, 0, sizeof *srv);
  srv->loop = loop;
  srv->cfg = cfg;
  int rc = fs_keypair_load(&srv->key, cfg->key);
  if (rc) {
    fs_log(FS_LOG_ERROR, "server.key", "path=%s err=%s msg=\"%s%s\"", cfg->key,
           fs_errname(rc), fs_strerror(rc),
           rc == FS_EKEYPERM ? "; run chmod 600 on it" : "");
    return rc;
  }
  if ((rc = fs_store_open(&srv->store, cfg->data, (size_t)cfg->map_size_mb << 20))) {
    fs_log(FS_LOG_ERROR, "server.store", "path=%s err=%s msg=\"%s\"", cfg->data,
           fs_errname(rc), fs_strerror(rc));
    fs_keypair_free(&srv->key);
    return rc;
  }
  fs_ingest_init(&srv->ingest, loop, &srv->store);
  if ((rc = fs_status_init(&srv->status, cfg->npeers)))
    goto fail_store;
  struct sockaddr_storage addr;
  if ((rc = fs_addr_parse(cfg->listen, &addr)) ||
      (rc = uv_tcp_init(loop, &srv->listener)))
    goto fail_store;
  srv->listener.data = srv;
  if ((rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&addr, 0)) ||
      (rc = uv_listen((uv_stream_t *)&srv->listener, 1024, on_connection))) {
    fs_log(FS_LOG_ERROR, "server.listen", "addr=%s err=%s msg=\"%s\"", cfg->listen,
           fs_errname(rc), fs_strerror(rc));
    uv_close((uv_handle_t *)&srv->listener, NULL);
    goto fail_store;
  }
  uv_signal_init(loop, &srv->sigterm);
  uv_signal_init(loop, &srv->sigint);
  srv->sigterm.data = srv->sigint.data = srv;
  uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
  uv_signal_start(&srv->sigint, on_signal, SIGINT);
  if ((cfg->admin[0] && (rc = fs_admin_start(&srv->admin, srv, cfg->admin))) ||
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
  if (srv->uplink)
    fs_uplink_stop(srv->uplink);
  if (srv->admin)
    fs_admin_stop(srv->admin);
  for (fs_session *s = srv->sessions; s; s = s->next) {
    if (s->batch)
      continue; /* its Ack goes out first, then it is told (on_batch_done) */
    fs_conn_fail(&s->conn, FS_ESHUTDOWN, "server is shutting down; sync again later");
  }
  /* The loop ends once every handle has closed and the pool work in flight
   * (verification, the running commit) has finished. */
}

void fs_server_free(fs_server *srv) {
  fs_status_free(&srv->status);
  fs_store_close(&srv->store);
  fs_keypair_free(&srv->key);
}
