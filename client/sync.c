/* sync.c - the laptop side of the sync protocol, on a private libuv loop. */
#include "sync.h"

#include "cert.h"
#include "changeset.h"
#include "conn.h"
#include "error.h"
#include "hello.h"
#include "hex.h"
#include "hlc.h"
#include "log.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
  ST_CONNECTING, ST_HANDSHAKE, ST_HELLO, ST_WELCOME, ST_PUSHING, ST_PULLING, ST_DONE
} sync_state;

/* A Push awaiting its Ack: the outbox entries first .. first + n - 1. */
typedef struct sync_flight {
  uint64_t first;
  size_t n, bytes;
} sync_flight;

typedef struct sync_ctx {
  fs_conn conn;
  fs_device *d;
  const char *server;     /* "host:port", for messages */
  const uint8_t *server_key;
  bool progress;
  sync_state st;
  int rc;
  uint64_t server_seq, cursor;
  unsigned pulls;         /* Pulls sent in this sync */
  char granted[FS_MAX_AREA + 1];  /* the scope the server granted us */
  /* Pushes awaiting their Acks, oldest first (acknowledged in order): the
   * server verifies the next while it commits one. */
  sync_flight flight[FS_SYNC_PIPELINE];
  size_t nflight, flight_head;
  uint64_t sent_seq;      /* the last seq sent in a Push */
  /* Sealing the rest of the pending edits, one step an idle turn of the
   * loop, while the server verifies and commits the sets already pushed. */
  uv_idle_t sealer;
  bool sealing;
  /* From the connect to the Welcome: conn's idle timer starts only once
   * TCP is up and every byte re-arms it. */
  uv_timer_t deadline;
  /* Progress on a terminal: what the outbox held at the start, what is
   * done, since when. */
  uint64_t t0_ns, out_sets, out_bytes, acked_bytes;
  fs_sync_result *res;
} sync_ctx;

static void fail(sync_ctx *x, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(sync_ctx *x, int rc, const char *fmt, ...) {
  if (x->rc == 0) {
    x->rc = rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->res->error, sizeof x->res->error, fmt, ap);
    va_end(ap);
  }
  fs_conn_close(&x->conn, rc);
}

static void send_or_fail(sync_ctx *x, const Fs__Envelope *env) {
  int rc = fs_conn_send(&x->conn, env);
  if (rc)
    fail(x, rc, "cannot send to the server: %s", fs_strerror(rc));
}

static void finish(sync_ctx *x) {
  x->st = ST_DONE;
  Fs__Bye bye = FS__BYE__INIT;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_BYE;
  env.bye = &bye;
  send_or_fail(x, &env);
  fs_conn_finish(&x->conn);
}

static void send_pull(sync_ctx *x) {
  x->st = ST_PULLING;
  x->pulls++;
  Fs__Pull p = FS__PULL__INIT;
  p.cursor = x->cursor;
  p.max = 512;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_PULL;
  env.pull = &p;
  send_or_fail(x, &env);
}

/* Sends the outbox after what was sent, one bounded Push of consecutive
 * seqs at a time (so its Ack is checked item by item), until
 * FS_SYNC_PIPELINE are in flight. Returns 1 when a Push went out, 0 when
 * nothing is left to send, or an error (the sync failed). */
static int push_one(sync_ctx *x) {
  fs_store *s = &x->d->store;
  MDB_txn *txn = NULL;
  MDB_cursor *cur = NULL;
  ProtobufCBinaryData sets[FS_SYNC_BATCH_SETS];
  size_t n = 0, bytes = 0;
  uint64_t first = 0, last = x->sent_seq;
  uint8_t from[8];
  fs_be64_put(from, x->sent_seq + 1);
  int rc = fs_store_begin(s, false, &txn);
  if (rc == 0)
    rc = fs_err_from_mdb(mdb_cursor_open(txn, s->outbox, &cur));
  MDB_val k = {8, from}, v;
  int mrc = rc ? rc : fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE));
  while (mrc == 0 && n < FS_SYNC_BATCH_SETS &&
         (n == 0 || bytes + v.mv_size <= FS_SYNC_BATCH_BYTES)) {
    if (k.mv_size != 8 || v.mv_size == 0) {
      mrc = FS_ESTORE;
      break;
    }
    if (n > 0 && fs_be64_get(k.mv_data) != last + 1)
      break; /* a hole in the chain: the next Push starts after it */
    /* The stored encoding goes out as it is (EnvelopePacked), from the map:
     * the Push is packed below, before the transaction ends. */
    sets[n] = (ProtobufCBinaryData){v.mv_size, v.mv_data};
    bytes += v.mv_size;
    last = fs_be64_get(k.mv_data);
    if (n++ == 0)
      first = last;
    mrc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_NEXT));
  }
  if (cur)
    mdb_cursor_close(cur);
  int sent = 0;
  if (mrc != 0 && mrc != FS_ENOTFOUND) {
    fail(x, mrc, "cannot read the outbox: %s", fs_strerror(mrc));
    sent = mrc;
  } else if (n > 0) {
    Fs__PushPacked push = FS__PUSH_PACKED__INIT;
    push.n_sets = n;
    push.sets = sets;
    Fs__EnvelopePacked env = FS__ENVELOPE_PACKED__INIT;
    env.push = &push;
    x->st = ST_PUSHING;
    x->flight[(x->flight_head + x->nflight) % FS_SYNC_PIPELINE] =
        (sync_flight){first, n, bytes};
    x->nflight++;
    x->sent_seq = last;
    if ((rc = fs_conn_send_packed(&x->conn, &env)))
      fail(x, rc, "cannot send to the server: %s", fs_strerror(rc));
    sent = x->rc ? x->rc : 1;
  }
  if (txn)
    mdb_txn_abort(txn);
  return sent;
}

/* Keeps the outbox flowing; with nothing left in flight, moves on to
 * pulling (or ends, when nothing is new either way). */
static void push_next(sync_ctx *x) {
  int sent = 1;
  while (sent == 1 && x->nflight < FS_SYNC_PIPELINE)
    sent = push_one(x);
  if (sent < 0 || x->nflight > 0 || x->sealing)
    return; /* the next Ack, or the next sealed step, comes back here */
  if (x->cursor >= x->server_seq && x->res->pushed == 0)
    finish(x); /* nothing new either way */
  else
    send_pull(x);
}

/* Seals the next step of pending edits and sends what it made. */
static void on_seal_step(uv_idle_t *h) {
  sync_ctx *x = container_of(h, sync_ctx, sealer);
  fs_seal_result r = {0};
  int rc = x->rc ? x->rc : fs_device_seal(x->d, FS_SYNC_SEAL_STEP, &r);
  x->out_sets += r.sets;
  x->out_bytes += r.bytes;
  if (rc || !r.more) {
    uv_idle_stop(h);
    x->sealing = false;
  }
  if (rc && x->rc == 0)
    fail(x, rc, "cannot seal the pending edits: %s", fs_strerror(rc));
  else if (rc == 0)
    push_next(x); /* started at the Welcome; pushing until sealing ends */
}

/* One progress line on stderr (a terminal): sets and bytes pushed and
 * pulled, the rate, and the time left while it can be estimated. */
static void show_progress(sync_ctx *x) {
  if (!x->progress)
    return;
  double s = (double)(uv_hrtime() - x->t0_ns) / 1e9, mb = 1048576.0;
  double moved = (double)(x->acked_bytes + x->conn.bytes_in);
  double rate = s > 0 ? moved / s : 0; /* bytes/s */
  double left = -1;
  if (rate > 0 && x->res->pushed < x->out_sets)
    left = (double)(x->out_bytes > x->acked_bytes ? x->out_bytes - x->acked_bytes : 0) / rate;
  else if (rate > 0 && x->res->pulled > 0 && x->server_seq > x->cursor)
    left = (double)(x->server_seq - x->cursor) * ((double)x->conn.bytes_in / (double)x->res->pulled) / rate;
  char eta[32] = "";
  if (left >= 1)
    snprintf(eta, sizeof eta, ", about %.0f s left", left + 0.5);
  else if (left >= 0)
    snprintf(eta, sizeof eta, ", under 1 s left");
  fprintf(stderr, "\rpushed %llu/%llu change sets (%.1f/%.1f MB), pulled %llu records (%.1f MB), "
          "%.1f MB/s%s   ", (unsigned long long)x->res->pushed, (unsigned long long)x->out_sets,
          (double)x->acked_bytes / mb, (double)x->out_bytes / mb,
          (unsigned long long)x->res->pulled, (double)x->conn.bytes_in / mb, rate / mb, eta);
}

static bool ack_keeps(const Fs__AckItem *it) {
  /* HELD is durably stored too: the server fills the gap before it from
   * its parent and applies the set then. */
  return it->status == FS__ACK_STATUS__ACK_STORED ||
         it->status == FS__ACK_STATUS__ACK_DUPLICATE || it->status == FS__ACK_STATUS__ACK_HELD;
}

/* Whether item it of an Ack names the outbox entry seq: that seq (a refused
 * set the server could not decode names none), and, where it carries them,
 * the id of the body sent and this laptop's key. A server that names
 * anything else does not know what it stored, so nothing may leave the
 * outbox on its word. Returns 0, FS_EPROTOCOL with why filled, or a
 * storage error. */
static int ack_item_check(sync_ctx *x, MDB_txn *txn, uint64_t seq, const Fs__AckItem *it,
                          char *why, size_t cap) {
  if (it->seq != seq && !(it->seq == 0 && !ack_keeps(it))) {
    snprintf(why, cap, "change set %llu where %llu was sent", (unsigned long long)it->seq,
             (unsigned long long)seq);
    return FS_EPROTOCOL;
  }
  if (it->device.len != 0 &&
      (it->device.len != FS_PK_LEN || memcmp(it->device.data, x->d->key.pk, FS_PK_LEN) != 0)) {
    snprintf(why, cap, "change set %llu of another device", (unsigned long long)seq);
    return FS_EPROTOCOL;
  }
  if (it->id.len == 0)
    return 0;
  uint8_t k8[8], id[FS_HASH_LEN];
  fs_be64_put(k8, seq);
  MDB_val k = {8, k8}, v;
  int rc = fs_err_from_mdb(mdb_get(txn, x->d->store.outbox, &k, &v));
  if (rc)
    return rc == FS_ENOTFOUND ? FS_ESTORE : rc; /* sent, so still there */
  Fs__SignedChangeSet *ss = fs__signed_change_set__unpack(NULL, v.mv_size, v.mv_data);
  if (!ss)
    return FS_ESTORE;
  fs_changeset_id(ss->body.data, ss->body.len, id);
  fs__signed_change_set__free_unpacked(ss, NULL);
  if (it->id.len != FS_HASH_LEN || memcmp(it->id.data, id, FS_HASH_LEN) != 0) {
    snprintf(why, cap, "another body than change set %llu", (unsigned long long)seq);
    return FS_EPROTOCOL;
  }
  return 0;
}

/* Removes from the outbox, in txn, the sets of Push f the Ack says are
 * stored, up to the first it refuses (*bad, its index; n_items if none).
 * Checks every item first: on a mismatch (FS_EPROTOCOL, why filled)
 * nothing is removed. */
static int ack_apply(sync_ctx *x, MDB_txn *txn, const sync_flight *f, const Fs__Ack *ack,
                     size_t *bad, char *why, size_t cap) {
  for (size_t i = 0; i < ack->n_items; i++) {
    int rc = ack_item_check(x, txn, f->first + i, ack->items[i], why, cap);
    if (rc)
      return rc;
  }
  for (*bad = 0; *bad < ack->n_items && ack_keeps(ack->items[*bad]); (*bad)++) {
    uint8_t k8[8];
    fs_be64_put(k8, f->first + *bad);
    MDB_val k = {8, k8};
    int rc = fs_err_from_mdb(mdb_del(txn, x->d->store.outbox, &k, NULL));
    if (rc)
      return rc;
    x->res->pushed++;
    if (ack->items[*bad]->status == FS__ACK_STATUS__ACK_STORED)
      x->res->stored++;
  }
  return 0;
}

static void on_ack(sync_ctx *x, const Fs__Ack *ack) {
  const sync_flight *f = x->nflight ? &x->flight[x->flight_head] : NULL;
  if (!f || ack->n_items != f->n) {
    fail(x, FS_EPROTOCOL, "server acknowledged %zu of %zu change sets", ack->n_items,
         f ? f->n : 0);
    return;
  }
  x->acked_bytes += f->bytes;
  x->flight_head = (x->flight_head + 1) % FS_SYNC_PIPELINE;
  x->nflight--;
  MDB_txn *txn;
  size_t bad = ack->n_items;
  char why[128] = "";
  int rc = fs_store_begin(&x->d->store, true, &txn);
  if (rc == 0) {
    if ((rc = ack_apply(x, txn, f, ack, &bad, why, sizeof why)) == 0)
      rc = fs_store_commit(txn);
    else
      mdb_txn_abort(txn);
  }
  if (rc == FS_EPROTOCOL) {
    fail(x, rc, "the server acknowledged %s; nothing left the outbox (the server is "
         "broken: tell its administrator)", why);
  } else if (rc) {
    fail(x, rc, "cannot update the outbox: %s", fs_strerror(rc));
  } else if (bad < ack->n_items) {
    fail(x, FS_EREFUSED, "the server refused change set %llu: %s",
         (unsigned long long)(f->first + bad), ack->items[bad]->reason);
  } else {
    show_progress(x);
    push_next(x);
  }
}

static int apply_records(sync_ctx *x, const Fs__Records *r) {
  fs_store *s = &x->d->store;
  MDB_txn *txn;
  int rc = fs_store_begin(s, true, &txn);
  if (rc)
    return rc;
  uint64_t local, now = fs_hlc_now_ms();
  rc = fs_meta_get_u64(s, txn, "hlc", &local);
  for (size_t i = 0; rc == 0 && i < r->n_states; i++) {
    fs_record rec;
    rc = fs_record_decode(&rec, r->states[i].data, r->states[i].len);
    if (rc)
      break;
    if (!fs_area_within(rec.area, x->granted))
      rc = FS_ESCOPE; /* a server sending other areas' records is broken */
    /* Stored as it came (the merge is the same everywhere); only the
     * laptop's own clock leaves out a write stamped far ahead. */
    local = fs_device_observe(local, &rec, now);
    if (rc == 0 && (rc = fs_store_record_merge(s, txn, &rec)) > 0)
      rc = 0;
    fs_record_free(&rec);
  }
  if (rc == 0 && (rc = fs_meta_put_u64(s, txn, "hlc", local)) == 0)
    rc = fs_meta_put_u64(s, txn, "pull_cursor", r->cursor);
  if (rc == 0)
    return fs_store_commit(txn);
  mdb_txn_abort(txn);
  return rc;
}

static void on_records(sync_ctx *x, const Fs__Records *r) {
  if (r->cursor < x->cursor) {
    fail(x, FS_EPROTOCOL, "server moved the pull cursor backwards");
    return;
  }
  /* More at the same cursor would be the same Pull again, for ever. */
  if (r->more && r->cursor == x->cursor) {
    fail(x, FS_EPROTOCOL, "the server says it has more records but does not move past "
         "record %llu (the server is broken: tell its administrator)",
         (unsigned long long)x->cursor);
    return;
  }
  int rc = apply_records(x, r);
  if (rc) {
    fail(x, rc, "cannot store pulled records: %s", fs_strerror(rc));
    return;
  }
  x->cursor = r->cursor;
  x->res->pulled += r->n_states;
  show_progress(x);
  if (!r->more)
    finish(x);
  else if (x->pulls < FS_SYNC_PULL_ROUNDS)
    send_pull(x);
  else
    fail(x, FS_ELIMIT, "the server still has more records after %u pulls; what came is "
         "kept: sync again to pull the rest (if this repeats, the server is broken)",
         x->pulls);
}

/* The server proved its key: it must be a certified node whose area holds
 * ours (and the pinned key, if one was given). Then we prove ours. */
static void on_server_hello(sync_ctx *x, const Fs__Hello *h) {
  fs_device *d = x->d;
  int rc = fs_hello_check(h, &x->conn.hs);
  if (rc || strcmp(h->role, "server") != 0) {
    fail(x, rc ? rc : FS_EPROTOCOL, "the server's identity proof does not verify");
    return;
  }
  if (x->server_key && sodium_memcmp(h->key.data, x->server_key, FS_PK_LEN) != 0) {
    fail(x, FS_EUNKNOWN_PEER, "the server did not present the expected key");
    return;
  }
  if (h->n_certs > FS_CERTS_PER_HELLO) { /* each costs signature checks */
    fail(x, FS_ELIMIT, "the server's hello carries %zu certificates; at most %d are allowed",
         h->n_certs, FS_CERTS_PER_HELLO);
    return;
  }
  if ((rc = fs_certs_accept(&d->store, d->root, h->certs, h->n_certs)) < 0) {
    fail(x, rc, "cannot store the server's certificates: %s", fs_strerror(rc));
    return;
  }
  char area[FS_MAX_AREA + 1];
  fs_grant g;
  uint64_t last, from;
  MDB_txn *txn;
  if ((rc = fs_device_area(d, area)) == 0 &&
      (rc = fs_store_begin(&d->store, false, &txn)) == 0) {
    rc = fs_trust_find(&d->store, txn, d->root, h->key.data, FS__CERT_KIND__CERT_NODE,
                       area, fs_hlc_now_ms(), &g);
    if (rc == 0 &&
        fs_trust_revoked(&d->store, txn, d->root, h->key.data, &last, &from) == 1)
      rc = FS_EREVOKED;
    mdb_txn_abort(txn);
  }
  if (rc) {
    fail(x, rc, "the server is not a certified node for area %s (%s); check the "
         "address", area, fs_strerror(rc));
    return;
  }
  snprintf(x->res->server_id, sizeof x->res->server_id, "%s", g.node_id);
  fs_certlist certs;
  if ((rc = fs_certlist_collect(&certs, &d->store, d->key.pk, FS__CERT_KIND__CERT_DEVICE))) {
    fail(x, rc, "cannot read this laptop's enrolment: %s", fs_strerror(rc));
    return;
  }
  Fs__Hello mine;
  uint8_t sig[FS_SIG_LEN];
  fs_hello_fill(&mine, sig, &x->conn.hs, &d->key, "device", NULL, certs.items, certs.n);
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_HELLO;
  env.hello = &mine;
  x->st = ST_WELCOME;
  send_or_fail(x, &env);
  fs_certlist_free(&certs);
}

static void on_frame(fs_conn *c, Fs__Envelope *env) {
  sync_ctx *x = container_of(c, sync_ctx, conn);
  Fs__Envelope__MsgCase mc = env->msg_case;
  if (mc == FS__ENVELOPE__MSG_ERROR) {
    fail(x, FS_EREFUSED, "server says: %s (%s)", env->error->message,
         fs_errname(-(int)env->error->code));
  } else if (x->st == ST_HELLO && mc == FS__ENVELOPE__MSG_HELLO) {
    on_server_hello(x, env->hello);
  } else if (x->st == ST_WELCOME && mc == FS__ENVELOPE__MSG_WELCOME) {
    const Fs__Welcome *w = env->welcome;
    uv_timer_stop(&x->deadline);
    fs_conn_admitted(&x->conn);
    x->server_seq = w->server_seq;
    if (!fs_area_valid(w->area)) {
      fail(x, FS_EPROTOCOL, "the server granted an invalid area");
    } else {
      snprintf(x->granted, sizeof x->granted, "%s", w->area);
      push_next(x);
      /* Not before: each step would hold up a step of the handshake. */
      if (x->sealing && x->rc == 0)
        uv_idle_start(&x->sealer, on_seal_step);
    }
  } else if (x->st == ST_PUSHING && mc == FS__ENVELOPE__MSG_ACK) {
    on_ack(x, env->ack);
  } else if (x->st == ST_PULLING && mc == FS__ENVELOPE__MSG_RECORDS) {
    on_records(x, env->records);
  } else {
    fail(x, FS_EPROTOCOL, "unexpected message %d from the server", (int)mc);
  }
  fs__envelope__free_unpacked(env, NULL);
}

static void on_closed(fs_conn *c, int reason) {
  sync_ctx *x = container_of(c, sync_ctx, conn);
  uv_timer_stop(&x->deadline); /* else the loop would wait for it */
  x->res->bytes_in = c->bytes_in;
  x->res->bytes_out = c->bytes_out;
  if (x->st != ST_DONE && x->rc == 0) {
    x->rc = reason ? reason : FS_EPROTOCOL;
    if (x->st <= ST_HANDSHAKE)
      snprintf(x->res->error, sizeof x->res->error,
               "the server closed the connection during the secure handshake: it is "
               "refusing connections (busy: try again later) or this laptop's network "
               "key is not the deployment's (then re-enrol it)");
    else
      snprintf(x->res->error, sizeof x->res->error,
               "the connection ended before the sync finished (%s)",
               reason ? fs_strerror(reason) : "closed by the server");
  }
}

static void on_connect(fs_conn *c, int status) {
  sync_ctx *x = container_of(c, sync_ctx, conn);
  if (status) {
    fail(x, status, "cannot reach the server: %s", fs_strerror(status));
    return;
  }
  x->st = ST_HANDSHAKE;
}

/* No Welcome in time: an address that does not answer (the kernel's SYN
 * retries last about two minutes), or a server that sends a byte at a time. */
static void on_deadline(uv_timer_t *t) {
  sync_ctx *x = container_of(t, sync_ctx, deadline);
  if (x->st == ST_CONNECTING)
    fail(x, FS_ETIMEOUT, "cannot reach the server at %s within %d s; check the address "
         "and the network, then sync again", x->server, FS_SYNC_WELCOME_MS / 1000);
  else
    fail(x, FS_ETIMEOUT, "the server at %s did not complete the handshake within %d s "
         "(overloaded or broken); sync again later", x->server, FS_SYNC_WELCOME_MS / 1000);
}

static void on_secure(fs_conn *c) {
  sync_ctx *x = container_of(c, sync_ctx, conn);
  x->st = ST_HELLO; /* the server proves itself first */
}

int fs_sync_run(fs_device *d, const char *server, const uint8_t *server_key,
                bool progress, fs_sync_result *res) {
  memset(res, 0, sizeof *res);
  struct sockaddr_storage addr;
  if (fs_addr_parse(server, &addr) != 0) {
    snprintf(res->error, sizeof res->error,
             "server address '%s' is not host:port (like 127.0.0.1:7401)", server);
    return FS_EINVAL;
  }
  MDB_txn *txn;
  uint64_t cursor = 0;
  MDB_stat ob = {0};
  fs_seal_result sealed;
  int rc = fs_device_seal(d, FS_SYNC_SEAL_STEP, &sealed);
  if (rc) {
    snprintf(res->error, sizeof res->error, "cannot seal the pending edits: %s",
             fs_strerror(rc));
    return rc;
  }
  if ((rc = fs_store_begin(&d->store, false, &txn)) == 0) {
    if ((rc = fs_meta_get_u64(&d->store, txn, "pull_cursor", &cursor)) == 0)
      rc = fs_err_from_mdb(mdb_stat(txn, d->store.outbox, &ob));
    mdb_txn_abort(txn);
  }
  if (rc) {
    snprintf(res->error, sizeof res->error, "cannot read the local store: %s",
             fs_strerror(rc));
    return rc;
  }
  uv_loop_t loop;
  if ((rc = uv_loop_init(&loop)))
    return rc;
  /* The outbox's pages: its size, near enough for a time-left estimate. */
  sync_ctx x = {.d = d, .server = server, .server_key = server_key, .progress = progress,
                .cursor = cursor, .res = res, .t0_ns = uv_hrtime(),
                .out_sets = ob.ms_entries,
                .out_bytes = (uint64_t)(ob.ms_leaf_pages + ob.ms_overflow_pages) * ob.ms_psize};
  uv_idle_init(&loop, &x.sealer);
  uv_timer_init(&loop, &x.deadline);
  x.sealing = sealed.more; /* the sealer starts at the Welcome */
  if ((rc = fs_conn_init(&loop, &x.conn, d->netkey, on_frame, on_secure, on_closed)) == 0) {
    uv_timer_start(&x.deadline, on_deadline, FS_SYNC_WELCOME_MS, 0);
    if ((rc = fs_conn_connect(&x.conn, (struct sockaddr *)&addr, FS_SYNC_IDLE_MS,
                              on_connect)))
      fail(&x, rc, "cannot connect to %s: %s", server, fs_strerror(rc));
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = x.rc;
  } else {
    snprintf(res->error, sizeof res->error, "cannot create a socket: %s",
             fs_strerror(rc));
  }
  uv_close((uv_handle_t *)&x.sealer, NULL);
  uv_close((uv_handle_t *)&x.deadline, NULL);
  uv_run(&loop, UV_RUN_DEFAULT); /* runs the closes */
  uv_loop_close(&loop);
  if (progress && (res->pushed || res->pulled))
    fputc('\n', stderr);
  if (rc == 0 && fs_store_begin(&d->store, true, &txn) == 0) {
    /* When the last sync succeeded, for `fieldsync status`. */
    if (fs_meta_put_u64(&d->store, txn, "last_sync_ms", fs_hlc_now_ms()) == 0)
      fs_store_commit(txn);
    else
      mdb_txn_abort(txn);
  }
  if (fs_store_begin(&d->store, false, &txn) == 0) {
    fs_store_count(&d->store, txn, d->store.outbox, &res->outbox_left);
    mdb_txn_abort(txn);
  }
  return rc;
}
