/* conn.c - framed TCP connection: reading, bounded writing, closing. */
#include "conn.h"

#include "error.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A write request and its buffer in one allocation. */
typedef struct write_req {
  uv_write_t req;
  size_t len;
  uint8_t data[];
} write_req;

static void on_handle_closed(uv_handle_t *h) {
  fs_conn *c = h->data;
  if (--c->open_handles == 0) {
    fs_frame_reader_free(&c->rd);
    fs_hs_wipe(&c->hs);
    if (c->on_close)
      c->on_close(c, c->close_reason);
  }
}

int fs_conn_init(uv_loop_t *loop, fs_conn *c, const uint8_t netkey[FS_NETKEY_LEN],
                 fs_conn_frame_cb on_frame, fs_conn_secure_cb on_secure,
                 fs_conn_close_cb on_close) {
  memset(c, 0, sizeof *c);
  int rc = uv_tcp_init(loop, &c->tcp);
  if (rc)
    return rc;
  rc = uv_timer_init(loop, &c->timer);
  if (rc) {
    /* Nothing was ever started on the socket: close it with no callback
     * to the owner. */
    c->tcp.data = NULL;
    uv_close((uv_handle_t *)&c->tcp, NULL);
    return rc;
  }
  c->tcp.data = c;
  c->timer.data = c;
  c->open_handles = 2;
  c->on_frame = on_frame;
  c->on_secure = on_secure;
  c->on_close = on_close;
  c->queue_max = FS_CONN_QUEUE_MAX;
  fs_hs_init(&c->hs, false, netkey); /* the side is set by accept/connect */
  fs_frame_reader_init(&c->rd, FS_HELLO_FRAME_MAX + FS_CIPHER_ABYTES);
  snprintf(c->peer, sizeof c->peer, "?");
  return 0;
}

void fs_conn_close(fs_conn *c, int reason) {
  if (c->closing)
    return;
  c->closing = true;
  c->close_reason = reason;
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_idle(uv_timer_t *t) {
  fs_conn *c = t->data;
  fs_log(FS_LOG_WARN, "conn.idle", "peer=%s", c->peer);
  fs_conn_close(c, FS_ETIMEOUT);
}

static void arm_idle(fs_conn *c) {
  if (c->idle_ms && !c->closing && !c->throttled && !c->draining && !c->write_broken)
    uv_timer_start(&c->timer, on_idle, c->idle_ms, 0);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h;
  (void)hint;
  static __thread char slab[65536]; /* copied into the frame reader at once */
  buf->base = slab;
  buf->len = sizeof slab;
}

void fs_conn_admitted(fs_conn *c) { c->rd.max = FS_FRAME_MAX + FS_CIPHER_ABYTES; }

/* The reader refused a frame header (FS_ETOOBIG) or could not grow. */
static void fail_too_big(fs_conn *c, int rc) {
  size_t max = c->rd.max - FS_CIPHER_ABYTES;
  if (rc != FS_ETOOBIG)
    fs_conn_fail(c, rc, "cannot buffer the next frame: %s", fs_strerror(rc));
  else if (max < FS_FRAME_MAX)
    fs_conn_fail(c, rc, "a frame before the hello is checked may be at most %zu bytes", max);
  else
    fs_conn_fail(c, rc, "frame exceeds the limit of %zu bytes", max);
}

/* Hands buffered frames to the owner until paused, closing or empty. */
static void dispatch(fs_conn *c) {
  if (c->in_dispatch)
    return;
  c->in_dispatch = true;
  while (!c->closing && !c->paused && !c->throttled && !c->draining) {
    const uint8_t *p;
    size_t len;
    int rc = fs_frame_reader_next(&c->rd, &p, &len);
    if (rc == 0)
      break;
    if (rc < 0) {
      fail_too_big(c, rc);
      break;
    }
    /* Decrypt in place: the payload lives in our own reader buffer, and the
     * 4 length bytes before it are the associated data. */
    size_t plain;
    if (fs_cipher_open(&c->hs.rx, (uint8_t *)p, len, p - FS_FRAME_HDR, FS_FRAME_HDR,
                       &plain) != 0) {
      fs_log(FS_LOG_WARN, "conn.bad_frame", "peer=%s msg=\"frame fails to decrypt: "
             "altered, replayed or reordered\"", c->peer);
      fs_conn_close(c, FS_ECRYPTO);
      break;
    }
    Fs__Envelope *env;
    fs_arena arena;
    fs_arena_init(&arena, fs_envelope_arena_chunk(plain));
    if ((rc = c->on_arena_frame ? fs_envelope_decode_in(p, plain, &arena, &env)
                                : fs_envelope_decode(p, plain, &env))) {
      fs_arena_free(&arena);
      fs_conn_fail(c, rc, "frame is not a valid Envelope");
      break;
    }
    c->frames_in++;
    if (c->on_arena_frame)
      c->on_arena_frame(c, env, &arena);
    else
      c->on_frame(c, env);
    fs_arena_free(&arena); /* nothing when unused or taken */
  }
  fs_frame_reader_trim(&c->rd);
  c->in_dispatch = false;
}

static int write_raw(fs_conn *c, const uint8_t *p, size_t len);

/* The peer's hello is complete: verify it, answer it (server side), derive
 * the keys. A hello that does not verify closes the connection without a
 * word: whoever sent it does not hold the network key. */
static int read_hello(fs_conn *c) {
  int rc = fs_hs_read_hello(&c->hs, c->hs_buf);
  if (rc == 0 && !c->hs.client) {
    uint8_t hello[FS_HS_HELLO_LEN];
    fs_hs_hello(&c->hs, hello);
    rc = write_raw(c, hello, sizeof hello);
  }
  if (rc) {
    fs_log(FS_LOG_WARN, "conn.handshake_failed", "peer=%s err=%s", c->peer,
           fs_errname(rc));
    fs_conn_close(c, FS_EHANDSHAKE);
    return rc;
  }
  if (c->on_secure)
    c->on_secure(c);
  return c->closing ? -1 : 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  fs_conn *c = s->data;
  if (n < 0) {
    /* After a failed write or our own end, the first error stands. */
    int why = c->draining || c->write_broken ? c->close_reason
              : n == UV_EOF                  ? 0
                                             : (int)n;
    fs_conn_close(c, why);
    return;
  }
  if (n == 0)
    return;
  c->bytes_in += (uint64_t)n;
  if (c->draining)
    return; /* finishing: input is read only so that closing sends no reset */
  arm_idle(c);
  const uint8_t *data = (const uint8_t *)buf->base;
  size_t len = (size_t)n;
  if (!c->hs.done) {
    size_t take = FS_HS_HELLO_LEN - c->hs_len;
    if (take > len)
      take = len;
    memcpy(c->hs_buf + c->hs_len, data, take);
    c->hs_len += take;
    data += take;
    len -= take;
    if (c->hs_len < FS_HS_HELLO_LEN)
      return;
    if (read_hello(c) != 0)
      return;
  }
  int rc = fs_frame_reader_feed(&c->rd, data, len);
  if (rc) {
    fail_too_big(c, rc);
    return;
  }
  dispatch(c);
}

static int start_reading(fs_conn *c) {
  if (c->reading || c->paused || c->throttled || c->closing || c->draining)
    return 0;
  int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (rc == 0)
    c->reading = true;
  return rc;
}

static void set_peer_name(fs_conn *c) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
    return;
  char host[48] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    uv_ip4_name(a, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    uv_ip6_name(a, host, sizeof host);
    port = ntohs(a->sin6_port);
  }
  snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
}

int fs_conn_accept(fs_conn *c, uv_stream_t *server, uint64_t idle_ms) {
  int rc = uv_accept(server, (uv_stream_t *)&c->tcp);
  if (rc)
    return rc;
  uv_tcp_nodelay(&c->tcp, 1);
  set_peer_name(c);
  c->idle_ms = idle_ms;
  arm_idle(c);
  return start_reading(c);
}

static void on_connected(uv_connect_t *req, int status) {
  fs_conn *c = req->data;
  if (status == 0 && !c->closing) {
    uv_tcp_nodelay(&c->tcp, 1);
    set_peer_name(c);
    arm_idle(c);
    uint8_t hello[FS_HS_HELLO_LEN];
    fs_hs_hello(&c->hs, hello);
    status = write_raw(c, hello, sizeof hello);
    if (status == 0)
      status = start_reading(c);
  }
  if (status == UV_ECANCELED && c->closing)
    return; /* the owner closed us already */
  c->on_connect(c, status);
}

int fs_conn_connect(fs_conn *c, const struct sockaddr *addr, uint64_t idle_ms,
                    fs_conn_connect_cb on_connect) {
  c->hs.client = true;
  c->idle_ms = idle_ms;
  c->on_connect = on_connect;
  c->connect_req.data = c;
  return uv_tcp_connect(&c->connect_req, &c->tcp, addr, on_connected);
}

static void on_drain_timeout(uv_timer_t *t) {
  fs_conn *c = t->data;
  fs_conn_close(c, c->close_reason ? c->close_reason : FS_ETIMEOUT);
}

/* A write failed: the peer reset the connection. It may have said why in a
 * frame that is still in our receive buffer (a server that stops sends an
 * Error, then closes on our unread input), so read on until the end or
 * FS_CONN_LINGER_MS before closing with the write's error. */
static void write_broken(fs_conn *c, int status) {
  if (c->closing || c->write_broken)
    return;
  if (!c->reading || c->draining) {
    fs_conn_close(c, status);
    return;
  }
  c->write_broken = true;
  c->close_reason = status;
  uv_timer_start(&c->timer, on_drain_timeout, FS_CONN_LINGER_MS, 0);
}

static void on_written(uv_write_t *req, int status) {
  write_req *w = container_of(req, write_req, req);
  fs_conn *c = req->handle->data;
  c->queued -= w->len;
  free(w);
  if (status < 0 && status != UV_ECANCELED)
    write_broken(c, status);
}

static int queue_write(fs_conn *c, write_req *w) {
  uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)w->len);
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_written);
  if (rc) {
    free(w);
    return rc;
  }
  c->queued += w->len;
  c->bytes_out += w->len;
  return 0;
}

static int write_raw(fs_conn *c, const uint8_t *p, size_t len) {
  write_req *w = malloc(sizeof *w + len);
  if (!w)
    return FS_ENOMEM;
  w->len = len;
  memcpy(w->data, p, len);
  return queue_write(c, w);
}

/* Packs m (an Envelope, or a message of the same wire form) into a frame. */
static int send_message(fs_conn *c, const ProtobufCMessage *m) {
  if (c->closing || c->draining)
    return UV_ECANCELED;
  if (c->write_broken)
    return 0; /* dropped, like everything queued: on_close reports the error */
  if (!c->hs.done)
    return FS_EPROTOCOL;
  size_t n = protobuf_c_message_get_packed_size(m);
  if (n > FS_FRAME_MAX)
    return FS_ETOOBIG;
  if (c->queued + n > c->queue_max)
    return FS_EBACKPRESSURE;
  size_t clen = n + FS_CIPHER_ABYTES;
  write_req *w = malloc(sizeof *w + FS_FRAME_HDR + clen);
  if (!w)
    return FS_ENOMEM;
  w->len = FS_FRAME_HDR + clen;
  w->data[0] = (uint8_t)(clen >> 24);
  w->data[1] = (uint8_t)(clen >> 16);
  w->data[2] = (uint8_t)(clen >> 8);
  w->data[3] = (uint8_t)clen;
  protobuf_c_message_pack(m, w->data + FS_FRAME_HDR);
  fs_cipher_seal(&c->hs.tx, w->data + FS_FRAME_HDR, n, w->data, FS_FRAME_HDR);
  int rc = queue_write(c, w);
  if (rc == 0)
    c->frames_out++;
  return rc;
}

int fs_conn_send(fs_conn *c, const Fs__Envelope *env) {
  return send_message(c, &env->base);
}

int fs_conn_send_packed(fs_conn *c, const Fs__EnvelopePacked *env) {
  return send_message(c, &env->base);
}

/* Our output is all sent and our FIN is out: close when the peer's end
 * arrives (on_read), or now if we are not reading. */
static void on_shutdown(uv_shutdown_t *req, int status) {
  fs_conn *c = req->data;
  if (status < 0 || !c->reading)
    fs_conn_close(c, c->close_reason);
}

bool fs_conn_ending(const fs_conn *c) {
  return c->closing || c->draining || c->write_broken;
}

void fs_conn_finish(fs_conn *c) {
  if (c->closing || c->draining)
    return;
  c->draining = true;
  /* Read on, discarding: closing a socket with unread input makes the
   * kernel send a reset, which can destroy our last frame (an Error that
   * says why) before the peer has read it. A peer that neither reads nor
   * closes holds the last frames, and a stopping node, for at most
   * FS_CONN_DRAIN_MS. */
  c->throttled = false;
  c->paused = false;
  if (!c->reading && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
    c->reading = true;
  uv_timer_start(&c->timer, on_drain_timeout, FS_CONN_DRAIN_MS, 0);
  c->shutdown_req.data = c;
  if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
    fs_conn_close(c, c->close_reason);
}

void fs_conn_fail(fs_conn *c, int code, const char *fmt, ...) {
  if (c->closing || c->draining)
    return;
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  fs_log(FS_LOG_WARN, "conn.error", "peer=%s code=%s msg=\"%s\"", c->peer,
         fs_errname(code), text);
  Fs__Error err = FS__ERROR__INIT;
  err.code = (uint32_t)(code < 0 ? -code : code);
  err.message = text;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_ERROR;
  env.error = &err;
  c->close_reason = code;
  if (!c->hs.done || fs_conn_send(c, &env) != 0) {
    fs_conn_close(c, code);
    return;
  }
  fs_conn_finish(c);
}

static void read_on(fs_conn *c);

static void on_throttle_end(uv_timer_t *t) {
  fs_conn *c = t->data;
  c->throttled = false;
  arm_idle(c); /* the same timer serves both: back to the idle limit */
  read_on(c);
}

void fs_conn_throttle(fs_conn *c, uint64_t ms) {
  if (c->closing || c->throttled || c->draining || c->write_broken)
    return;
  c->throttled = true;
  if (c->reading)
    uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = false;
  uv_timer_start(&c->timer, on_throttle_end, ms, 0);
}

void fs_conn_set_idle(fs_conn *c, uint64_t idle_ms) {
  c->idle_ms = idle_ms;
  arm_idle(c);
}

/* Reading stops while paused, so a peer that pipelines frames waits in the
 * kernel's buffers rather than in ours. */
void fs_conn_pause(fs_conn *c) {
  if (c->draining || c->write_broken)
    return; /* reading on to the end, see fs_conn_finish and write_broken */
  c->paused = true;
  if (c->reading && !c->closing)
    uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = false;
}

/* Hands over what is buffered and reads again, unless still held back by
 * the owner (paused) or the rate limit (throttled). */
static void read_on(fs_conn *c) {
  if (c->closing || c->paused || c->throttled)
    return;
  dispatch(c);
  int rc;
  if (!c->paused && !c->throttled && !c->closing && (rc = start_reading(c)) != 0)
    fs_conn_close(c, rc);
}

void fs_conn_resume(fs_conn *c) {
  if (!c->paused || c->closing)
    return;
  c->paused = false;
  read_on(c);
}

int fs_addr_parse(const char *s, struct sockaddr_storage *out) {
  char host[64];
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s)
    return FS_EINVAL;
  size_t hl = (size_t)(colon - s);
  const char *h = s;
  if (s[0] == '[') {
    if (hl < 2 || s[hl - 1] != ']')
      return FS_EINVAL;
    h = s + 1;
    hl -= 2;
  }
  if (hl >= sizeof host)
    return FS_EINVAL;
  memcpy(host, h, hl);
  host[hl] = '\0';
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end != '\0' || colon[1] == '\0' || port < 0 || port > 65535)
    return FS_EINVAL;
  memset(out, 0, sizeof *out);
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0)
    return 0;
  if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) == 0)
    return 0;
  return FS_EINVAL;
}
