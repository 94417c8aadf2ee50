/* uplink.c - child -> parent replication link with resumable cursor. */
#include "uplink.h"

#include "cert.h"
#include "conn.h"
#include "error.h"
#include "hello.h"
#include "hex.h"
#include "hlc.h"
#include "ingest.h"
#include "log.h"
#include "server.h"
#include "status.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { U_IDLE, U_CONNECTING, U_HANDSHAKE, U_HELLO, U_WELCOME, U_READY } uplink_state;

struct fs_uplink {
  fs_server *srv;
  fs_conn *conn;          /* current connection, or NULL; freed in its close cb */
  uv_timer_t retry;       /* backoff, then keepalive pulls while connected */
  struct sockaddr_storage addr;
  uplink_state st;
  uint64_t backoff_ms;
  /* Pushes in flight, oldest first: the parent acknowledges them in order,
   * and verifies the next while it commits one. */
  struct in_flight {
    uint64_t last;        /* log seq of its last set */
    uint64_t cert_last;   /* cert log seq of its last cert */
    size_t n;
  } flight[FS_UPLINK_PIPELINE];
  size_t nflight, flight_head;
  uint64_t send_cursor, send_cert_cursor; /* what the pushes sent reach */
  uint64_t cert_cursor;   /* our cert log acknowledged by the parent */
  uint64_t pull_cert_cursor; /* the parent's cert log we hold */
  bool pulling, more_to_pull, stopping;
  uint64_t pull_cursor;
  uint64_t status_sent_ms;
  uint64_t keepalive_ms;  /* last keepalive pull */
  struct want {
    uint8_t device[32];
    uint64_t from, to;
  } wants[FS_UPLINK_WANTS];  /* gaps to fetch from the parent, oldest first */
  size_t nwants;
  bool fetching;
  uint64_t keepalives;
  bool status_dirty;      /* send a report on the next tick */
  fs_uplink_stats stats;
};

/* The conn is allocated per attempt so a late callback of an old attempt
 * can never touch a new one. */
typedef struct uplink_conn {
  fs_conn conn;
  fs_uplink *u;
} uplink_conn;

static void schedule_retry(fs_uplink *u);

static void on_retry_closed(uv_handle_t *h) { free(h->data); }
static void push_next(fs_uplink *u);
static void on_timer(uv_timer_t *t);
static void send_status(fs_uplink *u);
static void fetch_next(fs_uplink *u);
static void rescan_held(fs_uplink *u);

/* Keeps why the link fails (monitoring), logs it and closes the link; tell:
 * with an Error frame that says so to the parent first. */
static void link_fail(fs_uplink *u, int rc, bool tell, const char *fmt, va_list ap) {
  vsnprintf(u->stats.last_error, sizeof u->stats.last_error, fmt, ap);
  u->stats.failures++;
  fs_log(FS_LOG_WARN, "uplink.error", "parent=%s err=%s msg=\"%s\"", u->srv->cfg->parent,
         fs_errname(rc), u->stats.last_error);
  if (u->conn && tell)
    fs_conn_fail(u->conn, rc, "%s", u->stats.last_error);
  else if (u->conn)
    fs_conn_close(u->conn, rc);
}

static void link_error(fs_uplink *u, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void refuse_parent(fs_uplink *u, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void link_error(fs_uplink *u, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  link_fail(u, rc, false, fmt, ap);
  va_end(ap);
}

/* Bad input from the parent: link_error, and the parent is told why. */
static void refuse_parent(fs_uplink *u, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  link_fail(u, rc, true, fmt, ap);
  va_end(ap);
}

static int send_env(fs_uplink *u, const Fs__Envelope *env) {
  int rc = fs_conn_send(u->conn, env);
  if (rc)
    link_error(u, rc, "cannot send to the parent: %s", fs_strerror(rc));
  return rc;
}

static int send_packed(fs_uplink *u, const Fs__EnvelopePacked *env) {
  int rc = fs_conn_send_packed(u->conn, env);
  if (rc)
    link_error(u, rc, "cannot send to the parent: %s", fs_strerror(rc));
  return rc;
}

static void send_pull(fs_uplink *u) {
  if (u->pulling || u->st != U_READY)
    return;
  Fs__Pull p = FS__PULL__INIT;
  p.cursor = u->pull_cursor;
  p.cert_cursor = u->pull_cert_cursor;
  p.max = 512;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_PULL;
  env.pull = &p;
  if (send_env(u, &env) == 0)
    u->pulling = true;
}

struct cert_out {
  ProtobufCBinaryData items[FS_UPLINK_BATCH_CERTS];
  size_t n;
};

/* Points into the map: the Push is packed before the transaction ends. */
static int take_cert(void *arg, const uint8_t *p, size_t len) {
  struct cert_out *o = arg;
  if (o->n == FS_UPLINK_BATCH_CERTS)
    return FS_ELIMIT;
  o->items[o->n].data = (uint8_t *)p;
  o->items[o->n].len = len;
  o->n++;
  return 0;
}

/* Reads the next batch of our log (and certificates) after what was sent
 * and pushes it. Returns 1 when a Push went out, 0 when nothing is left,
 * or an error (the link is closed). */
static int push_one(fs_uplink *u) {
  fs_store *s = &u->srv->store;
  ProtobufCBinaryData sets[FS_UPLINK_BATCH_SETS];
  size_t n = 0, bytes = 0;
  uint64_t last = u->send_cursor;
  MDB_txn *txn;
  MDB_cursor *cur = NULL;
  int rc = fs_store_begin(s, false, &txn);
  if (rc) {
    link_error(u, rc, "cannot read the log: %s", fs_strerror(rc));
    return rc;
  }
  rc = fs_meta_get_u64(s, txn, "log_seq", &u->stats.log_seq);
  if (rc == 0)
    rc = fs_err_from_mdb(mdb_cursor_open(txn, s->log, &cur));
  uint8_t kb[8];
  fs_be64_put(kb, u->send_cursor + 1);
  MDB_val k = {8, kb}, v;
  if (rc == 0)
    rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE));
  while (rc == 0 && n < FS_UPLINK_BATCH_SETS && bytes < FS_UPLINK_BATCH_BYTES) {
    if (k.mv_size != 8 || v.mv_size == 0) {
      rc = FS_ESTORE;
      break;
    }
    /* As stored, from the map (EnvelopePacked): packed before txn ends. */
    sets[n] = (ProtobufCBinaryData){v.mv_size, v.mv_data};
    bytes += v.mv_size;
    last = fs_be64_get(k.mv_data);
    n++;
    rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_NEXT));
  }
  if (cur)
    mdb_cursor_close(cur);
  /* Certificates we hold that the parent may not: enrolments made here,
   * revocations installed here, read in the same snapshot as the log. */
  struct cert_out co;
  co.n = 0;
  uint64_t cert_last = u->send_cert_cursor;
  bool cert_more = false;
  if (rc == 0 || rc == FS_ENOTFOUND)
    rc = fs_cert_log_since(s, txn, u->send_cert_cursor, FS_UPLINK_BATCH_CERTS,
                           FS_UPLINK_BATCH_BYTES, take_cert, &co, &cert_last, &cert_more);
  /* A set goes up only with, or after, its device's certificate: the parent
   * refuses a set it cannot trace to an enrolment, for good. The cert log
   * is read in the log's snapshot, so when this Push takes all of it, it
   * holds the certificate of every set read; when more certificates are
   * waiting, they go first, alone. */
  if (cert_more && co.n > 0) {
    n = 0;
    last = u->send_cursor;
  }
  int sent = 0;
  if (rc && rc != FS_ENOTFOUND) {
    link_error(u, rc, "cannot read the log: %s", fs_strerror(rc));
    sent = rc;
  } else if (n > 0 || co.n > 0) {
    Fs__PushPacked push = FS__PUSH_PACKED__INIT;
    push.n_sets = n;
    push.sets = sets;
    push.log_last = n ? last : 0;
    push.n_certs = co.n;
    push.certs = co.items;
    push.cert_last = co.n ? cert_last : 0;
    Fs__EnvelopePacked env = FS__ENVELOPE_PACKED__INIT;
    env.push = &push;
    if ((sent = send_packed(u, &env)) == 0) {
      struct in_flight *f = &u->flight[(u->flight_head + u->nflight) % FS_UPLINK_PIPELINE];
      f->last = last;
      f->cert_last = co.n ? cert_last : u->send_cert_cursor;
      f->n = n;
      u->nflight++;
      u->send_cursor = last;
      u->send_cert_cursor = f->cert_last;
      sent = 1;
    }
  }
  mdb_txn_abort(txn);
  return sent;
}

/* Keeps Pushes in flight: up to FS_UPLINK_PIPELINE_SHALLOW of any size,
 * more (to FS_UPLINK_PIPELINE) only while a full one is waiting. A backlog
 * keeps the parent's cores verifying while it commits; a trickle stays
 * shallow, so what arrives meanwhile travels in the next Push together
 * rather than in many small ones queued behind each other. */
static void push_next(fs_uplink *u) {
  int sent = 1;
  while (sent == 1 && u->st == U_READY && u->conn && u->nflight < FS_UPLINK_PIPELINE &&
         (u->nflight < FS_UPLINK_PIPELINE_SHALLOW ||
          u->stats.log_seq >= u->send_cursor + FS_UPLINK_BATCH_SETS))
    sent = push_one(u);
}

/* The parent's cursors are what it acknowledged: the next Push starts there. */
static void reset_flight(fs_uplink *u) {
  u->nflight = 0;
  u->send_cursor = u->stats.cursor;
  u->send_cert_cursor = u->cert_cursor;
}

static void on_ack(fs_uplink *u, const Fs__Ack *ack) {
  struct in_flight *f = &u->flight[u->flight_head];
  if (u->nflight == 0 || ack->n_items != f->n) {
    link_error(u, FS_EPROTOCOL, "parent acknowledged %zu sets, %zu were pushed",
               ack->n_items, u->nflight ? f->n : 0);
    return;
  }
  for (size_t i = 0; i < ack->n_items; i++) {
    const Fs__AckItem *it = ack->items[i];
    switch (it->status) {
    case FS__ACK_STATUS__ACK_STORED: u->stats.stored++; break;
    case FS__ACK_STATUS__ACK_DUPLICATE: u->stats.duplicates++; break;
    case FS__ACK_STATUS__ACK_HELD: u->stats.held++; break;
    default: {
      /* Refused above: visible here and at the parent; the cursor moves on
       * because sending it again cannot change the verdict. */
      char dev[2 * FS_PK_LEN + 1] = "?";
      if (it->device.len == FS_PK_LEN)
        fs_hex_encode(dev, it->device.data, FS_PK_LEN);
      u->stats.refused++;
      snprintf(u->stats.last_error, sizeof u->stats.last_error,
               "parent refused device %.16s seq %llu: %s", dev,
               (unsigned long long)it->seq, it->reason);
      fs_log(FS_LOG_WARN, "uplink.refused", "device=%.16s seq=%llu reason=\"%s\"", dev,
             (unsigned long long)it->seq, it->reason);
    }
    }
  }
  u->stats.pushed += ack->n_items;
  u->stats.cursor = f->last;
  u->cert_cursor = f->cert_last;
  u->stats.last_ack_ms = fs_hlc_now_ms();
  u->flight_head = (u->flight_head + 1) % FS_UPLINK_PIPELINE;
  u->nflight--;
  push_next(u);
  if (u->nflight == 0) {
    /* Caught up: tell the parent on the next tick, see what came down. */
    u->status_dirty = true;
    send_pull(u);
  }
}

static void on_records(fs_uplink *u, const Fs__Records *r) {
  fs_store *s = &u->srv->store;
  MDB_txn *txn;
  u->pulling = false;
  if (r->n_certs > FS_PULL_MAX_CERTS) {
    link_error(u, FS_ELIMIT, "parent sent %zu certificates in one batch", r->n_certs);
    return;
  }
  int crc = fs_certs_accept(s, u->srv->cfg->root_key, r->certs, r->n_certs);
  if (crc < 0) {
    link_error(u, crc, "cannot store certificates from the parent: %s", fs_strerror(crc));
    return;
  }
  if (crc > 0)
    fs_log(FS_LOG_INFO, "uplink.certs", "stored=%d from=parent", crc);
  u->pull_cert_cursor = r->cert_cursor;
  if (r->n_states == 0) {
    u->pull_cursor = r->cursor;
    if (r->more)
      send_pull(u);
    return;
  }
  /* Records from above are joined like a laptop's pull; they are states,
   * not change sets, so they never enter our log and never go back up.
   * Most are what we pushed up ourselves, coming back: a read transaction
   * finds those (the very bytes we hold: compared, not decoded), and only
   * records that change something take a write transaction on the loop
   * thread (which waits while the writer commits). Each state is read in
   * place, in one arena for the page. */
  fs_record *recs = calloc(r->n_states, sizeof *recs);
  bool *need = calloc(r->n_states, sizeof *need);
  size_t nrec = 0, nneed = 0;
  fs_arena arena;
  fs_arena_init(&arena, 0);
  int rc = recs && need ? fs_store_begin(s, false, &txn) : FS_ENOMEM;
  if (rc == 0) {
    while (rc == 0 && nrec < r->n_states) {
      fs_record *rec = &recs[nrec];
      const ProtobufCBinaryData *st = &r->states[nrec];
      if ((rc = fs_record_view(rec, st->data, st->len, &arena)))
        break;
      nrec++;
      if (!fs_area_within(rec->area, u->srv->cfg->area)) {
        rc = FS_ESCOPE;
      } else if ((rc = fs_store_record_merge_needed(s, txn, rec, st->data, st->len)) > 0) {
        need[nrec - 1] = true;
        nneed++;
        rc = 0;
      }
    }
    mdb_txn_abort(txn);
  }
  if (rc == 0 && nneed > 0 && (rc = fs_store_begin(s, true, &txn)) == 0) {
    for (size_t i = 0; rc == 0 && i < nrec; i++)
      if (need[i] && (rc = fs_store_record_merge(s, txn, &recs[i])) > 0)
        rc = 0;
    if (rc == 0)
      rc = fs_store_commit(txn);
    else
      mdb_txn_abort(txn);
  }
  fs_arena_free(&arena); /* the views in recs */
  free(recs);
  free(need);
  if (rc) {
    link_error(u, rc, "cannot store records from the parent: %s", fs_strerror(rc));
    return;
  }
  u->stats.pulled += r->n_states;
  u->pull_cursor = r->cursor;
  if (r->more)
    send_pull(u);
}

/* The parent proved its key: check it is the node we are certified under,
 * then prove ours. */
static void on_server_hello(fs_uplink *u, const Fs__Hello *h) {
  fs_server *srv = u->srv;
  const fs_config *cfg = srv->cfg;
  int rc = fs_hello_check(h, &u->conn->hs);
  if (rc || strcmp(h->role, "server") != 0) {
    link_error(u, rc ? rc : FS_EPROTOCOL, "the parent's hello does not verify");
    return;
  }
  /* As a server does with ours (server.c admit): none is checked then. */
  if (h->n_certs > FS_CERTS_PER_HELLO) {
    refuse_parent(u, FS_ELIMIT, "the parent's hello carries %zu certificates, at most %d "
                  "are allowed", h->n_certs, FS_CERTS_PER_HELLO);
    return;
  }
  if ((rc = fs_certs_accept(&srv->store, cfg->root_key, h->certs, h->n_certs)) < 0) {
    link_error(u, rc, "cannot store the parent's certificates: %s", fs_strerror(rc));
    return;
  }
  fs_grant parent, self;
  uint64_t last, from;
  MDB_txn *txn;
  if ((rc = fs_store_begin(&srv->store, false, &txn)) == 0) {
    rc = fs_trust_find(&srv->store, txn, cfg->root_key, h->key.data,
                       FS__CERT_KIND__CERT_NODE, cfg->area, fs_hlc_now_ms(), &parent);
    if (rc == 0)
      rc = fs_trust_find(&srv->store, txn, cfg->root_key, srv->key.pk,
                         FS__CERT_KIND__CERT_NODE, cfg->area, fs_hlc_now_ms(), &self);
    if (rc == 0 && fs_trust_revoked(&srv->store, txn, cfg->root_key, h->key.data, &last,
                                    &from) == 1)
      rc = FS_EREVOKED;
    mdb_txn_abort(txn);
  }
  if (rc) {
    link_error(u, rc, "the server at %s is not a certified node above %s: %s",
               cfg->parent, cfg->area, fs_strerror(rc));
    return;
  }
  memcpy(u->stats.parent_key, h->key.data, FS_PK_LEN); /* monitoring */
  snprintf(u->stats.parent_software, sizeof u->stats.parent_software, "%s", h->software);
  /* A node pushes only to the parent its own certificate names (and, when
   * configured, the pinned key). */
  if ((self.has_parent && sodium_memcmp(self.parent, h->key.data, FS_PK_LEN) != 0) ||
      (cfg->has_parent_key && sodium_memcmp(cfg->parent_key, h->key.data, FS_PK_LEN) != 0)) {
    link_error(u, FS_EUNKNOWN_PEER, "node %s at %s is not this node's certified parent",
               parent.node_id, cfg->parent);
    return;
  }
  fs_certlist certs;
  if ((rc = fs_certlist_collect(&certs, &srv->store, srv->key.pk,
                                FS__CERT_KIND__CERT_NODE))) {
    link_error(u, rc, "cannot read our certificate: %s", fs_strerror(rc));
    return;
  }
  Fs__Hello mine;
  uint8_t sig[FS_SIG_LEN];
  fs_hello_fill(&mine, sig, &u->conn->hs, &srv->key, "node", cfg->id, certs.items, certs.n);
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_HELLO;
  env.hello = &mine;
  if (send_env(u, &env) == 0)
    u->st = U_WELCOME;
  fs_certlist_free(&certs);
}

static void on_welcome(fs_uplink *u, const Fs__Welcome *w) {
  fs_store *s = &u->srv->store;
  MDB_txn *txn;
  uint64_t log_seq = 0;
  fs_conn_admitted(u->conn);
  int rc = fs_store_begin(s, false, &txn);
  if (rc == 0) {
    rc = fs_meta_get_u64(s, txn, "log_seq", &log_seq);
    mdb_txn_abort(txn);
  }
  if (rc) {
    link_error(u, rc, "cannot read the log: %s", fs_strerror(rc));
    return;
  }
  u->stats.cursor = w->peer_cursor;
  u->cert_cursor = w->peer_cert_cursor;
  reset_flight(u);
  /* The parent names the set at its cursor: if our log holds another one
   * there (or none), this store was restored from an older copy and our log
   * diverged from what the parent acknowledged. */
  bool same = w->peer_cursor == 0;
  if (!same && w->peer_cursor <= log_seq && w->peer_cursor_id.len == FS_HASH_LEN) {
    MDB_txn *t2;
    MDB_val v;
    if (fs_store_begin(s, false, &t2) == 0) {
      Fs__SignedChangeSet *set = NULL;
      if (fs_store_log_get(s, t2, w->peer_cursor, &v) == 0 &&
          (set = fs__signed_change_set__unpack(NULL, v.mv_size, v.mv_data))) {
        uint8_t id[FS_HASH_LEN];
        fs_changeset_id(set->body.data, set->body.len, id);
        same = memcmp(id, w->peer_cursor_id.data, FS_HASH_LEN) == 0;
        fs__signed_change_set__free_unpacked(set, NULL);
      }
      mdb_txn_abort(t2);
    }
  }
  if (!same) {
    /* Resend everything; what the parent holds is acknowledged as a
     * duplicate and stored once. */
    fs_log(FS_LOG_WARN, "uplink.cursor_reset", "parent_cursor=%llu log_seq=%llu "
           "msg=\"our log differs from what the parent acknowledged: resending it\"",
           (unsigned long long)w->peer_cursor, (unsigned long long)log_seq);
    u->stats.cursor = 0;
    reset_flight(u);
  }
  u->st = U_READY;
  snprintf(u->stats.parent_id, sizeof u->stats.parent_id, "%s", w->node_id);
  u->stats.connected = true;
  u->stats.connects++;
  u->backoff_ms = 0;
  u->stats.last_error[0] = '\0';
  fs_log(FS_LOG_INFO, "uplink.ready", "parent=%s parent_id=%s cursor=%llu log_seq=%llu",
         u->srv->cfg->parent, w->node_id, (unsigned long long)u->stats.cursor,
         (unsigned long long)log_seq);
  uv_timer_start(&u->retry, on_timer, FS_UPLINK_TICK_MS, FS_UPLINK_TICK_MS);
  send_status(u);
  push_next(u);
  if (u->conn && u->nflight == 0)
    send_pull(u);
  if (u->conn)
    rescan_held(u);
  if (u->conn)
    fetch_next(u);
}

/* Sends the oldest wanted gap, one Fetch at a time. */
static void fetch_next(fs_uplink *u) {
  if (u->st != U_READY || u->fetching || u->nwants == 0)
    return;
  Fs__Fetch f = FS__FETCH__INIT;
  f.device.data = u->wants[0].device;
  f.device.len = 32;
  f.from_seq = u->wants[0].from;
  f.to_seq = u->wants[0].to;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_FETCH;
  env.fetch = &f;
  if (send_env(u, &env) == 0)
    u->fetching = true;
}

void fs_uplink_fetch(fs_uplink *u, const uint8_t device[32], uint64_t from_seq,
                     uint64_t to_seq) {
  if (to_seq < from_seq || u->stopping)
    return;
  for (size_t i = 0; i < u->nwants; i++)
    if (memcmp(u->wants[i].device, device, 32) == 0)
      return; /* asked already; the answer fills from its start */
  if (u->nwants == FS_UPLINK_WANTS)
    return;
  memcpy(u->wants[u->nwants].device, device, 32);
  u->wants[u->nwants].from = from_seq;
  u->wants[u->nwants].to = to_seq;
  u->nwants++;
  fs_log(FS_LOG_INFO, "uplink.fetch", "from=%llu to=%llu msg=\"asking the parent for change "
         "sets this node lacks\"", (unsigned long long)from_seq, (unsigned long long)to_seq);
  fetch_next(u);
}

/* Finds the devices whose held sets wait behind a gap (a restart lost the
 * in-memory list, or it was full) and asks for those gaps again. */
static void rescan_held(fs_uplink *u) {
  fs_store *s = &u->srv->store;
  MDB_txn *txn;
  MDB_cursor *cur;
  if (fs_store_begin(s, false, &txn) != 0)
    return;
  if (mdb_cursor_open(txn, s->held, &cur) == 0) {
    MDB_val k, v;
    uint8_t last[FS_PK_LEN] = {0};
    int n = 0;
    for (int r = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
         r == 0 && n < FS_UPLINK_WANTS && u->nwants < FS_UPLINK_WANTS;
         r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      if (k.mv_size != FS_PK_LEN + 8 || memcmp(k.mv_data, last, FS_PK_LEN) == 0)
        continue; /* the first (lowest) held seq of each device is enough */
      memcpy(last, k.mv_data, FS_PK_LEN);
      uint64_t seq = fs_be64_get((uint8_t *)k.mv_data + FS_PK_LEN), head = 0;
      MDB_val dk = {FS_PK_LEN, last}, dv;
      if (mdb_get(txn, s->devices, &dk, &dv) == 0 && dv.mv_size >= 8)
        head = fs_be64_get(dv.mv_data);
      if (seq > head + 1) {
        fs_uplink_fetch(u, last, head + 1, seq - 1);
        n++;
      }
    }
    mdb_cursor_close(cur);
  }
  mdb_txn_abort(txn);
}

static void on_fetched_done(fs_batch *b) {
  if (b->rc)
    fs_log(FS_LOG_WARN, "uplink.fetched_failed", "err=%s", fs_errname(b->rc));
  fs_batch_free(b);
}

/* The parent's answer: ingest it like a push from a node below (so every
 * check applies), which also applies the sets held behind the gap. */
static void on_fetched(fs_uplink *u, Fs__Envelope *env, fs_arena *arena) {
  u->fetching = false;
  size_t n = env->fetched->n_sets;
  if (u->nwants > 0) {
    struct want w = u->wants[0];
    memmove(&u->wants[0], &u->wants[1], (u->nwants - 1) * sizeof u->wants[0]);
    u->nwants--;
    /* Shorter than the range (the parent's count or byte bound, or it
     * lacks the next set): ask for the rest at once. Each round takes a set
     * at least, and an empty answer ends the want, so rounds are bounded. */
    if (n > 0 && n <= w.to - w.from)
      fs_uplink_fetch(u, w.device, w.from + n, w.to);
  }
  u->stats.fetched += n;
  env->msg_case = FS__ENVELOPE__MSG_PUSH; /* same message, same union slot */
  fs_batch *b;
  int rc = fs_batch_new(&b, env, arena);
  if (rc) {
    link_error(u, rc, "cannot take the fetched change sets: %s", fs_strerror(rc));
    return;
  }
  b->from_device = false;
  memcpy(b->peer_key, u->srv->key.pk, FS_PK_LEN);
  snprintf(b->scope, sizeof b->scope, "%s", u->srv->cfg->area);
  b->done = on_fetched_done;
  if ((rc = fs_ingest_submit(&u->srv->ingest, b))) {
    fs_batch_free(b);
    link_error(u, rc, "cannot queue the fetched change sets");
    return;
  }
  fs_log(FS_LOG_INFO, "uplink.fetched", "sets=%zu", n);
  fetch_next(u);
}

/* env lives in arena, which the conn frees after this returns unless a
 * batch took it. */
static void on_frame(fs_conn *c, Fs__Envelope *env, fs_arena *arena) {
  uplink_conn *uc = container_of(c, uplink_conn, conn);
  fs_uplink *u = uc->u;
  u->stats.last_contact_ms = fs_hlc_now_ms(); /* monitoring */
  Fs__Envelope__MsgCase mc = env->msg_case;
  if (mc == FS__ENVELOPE__MSG_ERROR) {
    link_error(u, FS_EREFUSED, "parent says: %s", env->error->message);
  } else if (u->st == U_HELLO && mc == FS__ENVELOPE__MSG_HELLO) {
    on_server_hello(u, env->hello);
  } else if (u->st == U_WELCOME && mc == FS__ENVELOPE__MSG_WELCOME) {
    on_welcome(u, env->welcome);
  } else if (u->st == U_READY && mc == FS__ENVELOPE__MSG_ACK) {
    on_ack(u, env->ack);
  } else if (u->st == U_READY && mc == FS__ENVELOPE__MSG_FETCHED && u->fetching) {
    on_fetched(u, env, arena);
  } else if (u->st == U_READY && mc == FS__ENVELOPE__MSG_RECORDS && u->pulling) {
    on_records(u, env->records);
  } else {
    link_error(u, FS_EPROTOCOL, "unexpected message %d from the parent", (int)mc);
  }
}

static void on_conn_closed(fs_conn *c, int reason) {
  uplink_conn *uc = container_of(c, uplink_conn, conn);
  fs_uplink *u = uc->u;
  u->stats.bytes_in += c->bytes_in; /* monitoring */
  u->stats.bytes_out += c->bytes_out;
  free(uc);
  u->conn = NULL;
  u->st = U_IDLE;
  u->pulling = u->fetching = false;
  reset_flight(u);
  u->stats.connected = false;
  if (u->stopping) {
    uv_close((uv_handle_t *)&u->retry, on_retry_closed);
    return;
  }
  fs_log(FS_LOG_INFO, "uplink.closed", "parent=%s reason=%s", u->srv->cfg->parent,
         fs_errname(reason));
  schedule_retry(u);
}

static void on_connect(fs_conn *c, int status) {
  uplink_conn *uc = container_of(c, uplink_conn, conn);
  fs_uplink *u = uc->u;
  if (status) {
    link_error(u, status, "cannot reach the parent at %s: %s", u->srv->cfg->parent,
               fs_strerror(status));
    return;
  }
  u->st = U_HANDSHAKE;
}

static void on_secure(fs_conn *c) {
  uplink_conn *uc = container_of(c, uplink_conn, conn);
  uc->u->st = U_HELLO; /* the server proves itself first */
}

static void connect_now(fs_uplink *u) {
  uplink_conn *uc = calloc(1, sizeof *uc);
  if (!uc) {
    schedule_retry(u);
    return;
  }
  uc->u = u;
  int rc = fs_conn_init(u->srv->loop, &uc->conn, u->srv->netkey, NULL, on_secure,
                        on_conn_closed);
  if (rc) {
    free(uc);
    schedule_retry(u);
    return;
  }
  uc->conn.on_arena_frame = on_frame; /* fetched sets are kept in their arena */
  u->conn = &uc->conn;
  u->st = U_CONNECTING;
  /* Keepalive pulls get an answer every FS_UPLINK_KEEPALIVE_MS, so a link
   * silent for longer than the idle limit has stalled: close and retry. */
  uv_tcp_keepalive(&uc->conn.tcp, 1, 30);
  if ((rc = fs_conn_connect(&uc->conn, (struct sockaddr *)&u->addr,
                            FS_UPLINK_IDLE_MS, on_connect)))
    link_error(u, rc, "cannot connect to %s: %s", u->srv->cfg->parent, fs_strerror(rc));
  else /* the handshake's deadline; the Welcome turns this timer into the tick */
    uv_timer_start(&u->retry, on_timer, FS_UPLINK_HANDSHAKE_MS, 0);
}

/* Sends this node's status and its subtree's upward. */
static void send_status(fs_uplink *u) {
  uint8_t *packed;
  size_t len;
  int rc = fs_status_report(u->srv, &packed, &len);
  if (rc) {
    fs_log(FS_LOG_WARN, "uplink.status_failed", "err=%s", fs_errname(rc));
    return;
  }
  Fs__StatusReport *r = fs__status_report__unpack(NULL, len, packed);
  free(packed);
  if (!r)
    return;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_STATUS;
  env.status = r;
  send_env(u, &env);
  fs__status_report__free_unpacked(r, NULL);
  u->status_sent_ms = fs_hlc_now_ms();
  u->status_dirty = false;
}

/* One timer: the backoff before a reconnect, the deadline of a handshake,
 * then, while connected, a one-second tick that sends a status report when something changed (or
 * every report_interval_s anyway) and a pull every keepalive period: the
 * keepalive that also fetches what came down. */
static void on_timer(uv_timer_t *t) {
  fs_uplink *u = t->data;
  if (u->stopping)
    return;
  if (!u->conn) {
    connect_now(u);
    return;
  }
  if (u->st != U_READY) {
    /* A parent that sends its handshake a byte at a time would hold the
     * link for ever under the idle limit, which every byte restarts. */
    if (!u->conn->closing)
      link_error(u, FS_ETIMEOUT, "the parent at %s did not complete the handshake within %d s",
                 u->srv->cfg->parent, FS_UPLINK_HANDSHAKE_MS / 1000);
    return;
  }
  uint64_t now = fs_hlc_now_ms();
  /* Its own clock: status reports sent for changes below must not put the
   * keepalive pull off for ever. */
  bool keepalive = now - u->keepalive_ms >= FS_UPLINK_KEEPALIVE_MS;
  if (keepalive)
    u->keepalive_ms = now;
  if (u->status_dirty || keepalive ||
      now - u->status_sent_ms >= u->srv->cfg->report_interval_ms)
    send_status(u);
  if (u->conn && keepalive)
    push_next(u); /* certificates installed here meanwhile */
  if (u->conn && keepalive && ++u->keepalives % 6 == 0)
    rescan_held(u); /* every 30 s: gaps a full list or a restart dropped */
  if (keepalive && u->conn && u->nflight == 0)
    send_pull(u);
}

/* Exponential backoff with full jitter, so a parent coming back is not hit
 * by every child at the same instant. */
static void schedule_retry(fs_uplink *u) {
  u->backoff_ms = u->backoff_ms ? u->backoff_ms * 2 : FS_UPLINK_BACKOFF_MIN_MS;
  if (u->backoff_ms > FS_UPLINK_BACKOFF_MAX_MS)
    u->backoff_ms = FS_UPLINK_BACKOFF_MAX_MS;
  uint64_t delay = u->backoff_ms / 2 + randombytes_uniform((uint32_t)(u->backoff_ms / 2 + 1));
  uv_timer_start(&u->retry, on_timer, delay, 0);
}

static void on_committed(void *arg, uint64_t stored) {
  (void)stored;
  push_next(arg);
}

int fs_uplink_start(fs_uplink **out, fs_server *srv) {
  fs_uplink *u = calloc(1, sizeof *u);
  if (!u)
    return FS_ENOMEM;
  u->srv = srv;
  int rc = fs_addr_parse(srv->cfg->parent, &u->addr);
  if (rc == 0)
    rc = uv_timer_init(srv->loop, &u->retry);
  if (rc) {
    free(u);
    return rc;
  }
  u->retry.data = u;
  srv->ingest.committed = on_committed;
  srv->ingest.committed_arg = u;
  *out = u;
  connect_now(u);
  return 0;
}

void fs_uplink_mark_dirty(fs_uplink *u) { u->status_dirty = true; }

void fs_uplink_stop(fs_uplink *u) {
  if (u->stopping)
    return;
  u->stopping = true;
  u->srv->ingest.committed = NULL;
  uv_timer_stop(&u->retry);
  if (u->conn && u->st == U_READY) {
    /* Tell the parent: a Bye, then close once it is written (or after
     * FS_CONN_DRAIN_MS). A Push in flight stays unacknowledged here and is
     * sent again from the parent's durable cursor after the restart. */
    Fs__Bye bye = FS__BYE__INIT;
    Fs__Envelope env = FS__ENVELOPE__INIT;
    env.msg_case = FS__ENVELOPE__MSG_BYE;
    env.bye = &bye;
    u->conn->close_reason = FS_ESHUTDOWN;
    if (fs_conn_send(u->conn, &env) == 0)
      fs_conn_finish(u->conn); /* the close callback frees u */
    else
      fs_conn_close(u->conn, FS_ESHUTDOWN);
  } else if (u->conn)
    fs_conn_close(u->conn, FS_ESHUTDOWN); /* the close callback frees u */
  else
    uv_close((uv_handle_t *)&u->retry, on_retry_closed);
}

const fs_uplink_stats *fs_uplink_stats_get(const fs_uplink *u) { return &u->stats; }

void fs_uplink_traffic(const fs_uplink *u, uint64_t *in, uint64_t *out) {
  *in = u->stats.bytes_in + (u->conn ? u->conn->bytes_in : 0);
  *out = u->stats.bytes_out + (u->conn ? u->conn->bytes_out : 0);
}
