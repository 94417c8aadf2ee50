/* conn.h - one framed TCP connection on the libuv loop.
 *
 * Used by the server for each accepted peer, by the laptop's sync and by a
 * node's link to its parent. The conn is embedded in its owner's struct and
 * recovered with container_of; it owns two handles (the socket and a
 * timer) and the frame reader. fs_conn_close may be called any number of
 * times; on_close runs exactly once, after both handles have closed, and is
 * where the owner frees the memory holding the conn.
 *
 * Every connection is secured first (handshake.h): the client opens with
 * its 64-byte hello, the server answers only when that verifies with the
 * network key, then on_secure runs on both sides and every frame after it
 * is encrypted and authenticated. A frame that fails to decrypt ends the
 * connection. The owner proves identities inside the channel with
 * fs_hs_sign / fs_hs_verify on c->hs.
 *
 * Frames are at most FS_HELLO_FRAME_MAX until the owner calls
 * fs_conn_admitted (the peer's Hello checked, or the server's Welcome
 * received), FS_FRAME_MAX after: a peer that holds only the network key
 * cannot make a server buffer 4 MiB for each connection it opens.
 *
 * Back-pressure: at most one frame is handed to on_frame at a time while the
 * owner is not paused; an owner that starts async work for a frame calls
 * fs_conn_pause and later fs_conn_resume. Output queued beyond queue_max
 * makes fs_conn_send fail with FS_EBACKPRESSURE (the peer does not read).
 *
 * A failed write (the peer reset the connection) does not close at once:
 * frames the peer sent before it went are still handed over, later sends
 * are dropped, and on_close reports the write's error.
 */
#ifndef FS_CONN_H
#define FS_CONN_H

#include "fieldsync.pb-c.h"
#include "frame.h"
#include "handshake.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#endif

#define FS_CONN_QUEUE_MAX (16u << 20)
#define FS_CONN_DRAIN_MS 2000 /* fs_conn_finish: time for queued output, then closed */
#define FS_CONN_LINGER_MS 1000 /* after a failed write: time to read the peer's last words */

typedef struct fs_conn fs_conn;

/* on_frame owns env (free with fs__envelope__free_unpacked). */
typedef void (*fs_conn_frame_cb)(fs_conn *c, Fs__Envelope *env);
/* The alternative for owners that keep a frame past the call or free many
 * (a server's Pushes): env lives in *arena, a fresh arena per frame. The
 * conn frees *arena when the callback returns, unless the callback took it
 * with fs_arena_move; env must not be passed to free_unpacked. */
typedef void (*fs_conn_arena_frame_cb)(fs_conn *c, Fs__Envelope *env, fs_arena *arena);
/* reason: 0 for an orderly close by the peer or us, else the error. */
typedef void (*fs_conn_close_cb)(fs_conn *c, int reason);
typedef void (*fs_conn_connect_cb)(fs_conn *c, int status);
/* The channel is secured: c->hs holds the transcript to sign. */
typedef void (*fs_conn_secure_cb)(fs_conn *c);

struct fs_conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_connect_t connect_req;
  uv_shutdown_t shutdown_req;
  fs_frame_reader rd;
  fs_conn_frame_cb on_frame;
  fs_conn_arena_frame_cb on_arena_frame; /* optional, set after init: replaces on_frame */
  fs_conn_close_cb on_close;
  fs_conn_connect_cb on_connect;
  fs_conn_secure_cb on_secure;
  fs_hs hs;              /* handshake state and frame keys; wiped at close */
  uint8_t hs_buf[FS_HS_HELLO_LEN];
  size_t hs_len;
  void *data;            /* for the owner */
  uint64_t idle_ms;      /* close after this long without input; 0: never */
  size_t queued, queue_max;
  uint64_t bytes_in, bytes_out, frames_in, frames_out;
  int close_reason;
  int open_handles;
  bool reading, paused, closing, draining, in_dispatch, throttled;
  bool write_broken;     /* a write failed: reading the peer's last frames */
  char peer[64];         /* printable address, for logs */
};

/* Initialises both handles on loop; the handshake will use netkey (copied)
 * and call on_secure. on_frame may be NULL when the owner sets
 * on_arena_frame before the connection starts. Returns 0 or a libuv error
 * (then nothing is open and on_close will not run). */
int fs_conn_init(uv_loop_t *loop, fs_conn *c, const uint8_t netkey[FS_NETKEY_LEN],
                 fs_conn_frame_cb on_frame, fs_conn_secure_cb on_secure,
                 fs_conn_close_cb on_close);

/* Accepts a pending connection from server into c and starts reading (the
 * handshake, as the server side). */
int fs_conn_accept(fs_conn *c, uv_stream_t *server, uint64_t idle_ms);

/* Connects to addr; on_connect(c, status) runs once; on status 0 our hello
 * is on its way and reading has started. On failure the owner calls
 * fs_conn_close. */
int fs_conn_connect(fs_conn *c, const struct sockaddr *addr, uint64_t idle_ms,
                    fs_conn_connect_cb on_connect);

/* Queues env as one encrypted frame. Returns 0, FS_EBACKPRESSURE,
 * FS_ETOOBIG, FS_ENOMEM, FS_EPROTOCOL before the channel is secure, or
 * UV_ECANCELED when the conn is closing. */
int fs_conn_send(fs_conn *c, const Fs__Envelope *env);

/* fs_conn_send of a Push whose sets are their stored encodings
 * (EnvelopePacked in fieldsync.proto): the frame holds the same bytes. */
int fs_conn_send_packed(fs_conn *c, const Fs__EnvelopePacked *env);

/* Sends an Error frame (code: a negative project code; the text is the
 * sentence), then closes once it is written; before the channel is secure
 * it just closes (a stranger is told nothing). */
void fs_conn_fail(fs_conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Closes after queued output is written and the peer has closed its side
 * (input meanwhile is discarded), or after FS_CONN_DRAIN_MS. */
void fs_conn_finish(fs_conn *c);

/* True once the conn is closing, failing or finishing (fs_conn_fail,
 * fs_conn_finish) or can no longer write: async work of the owner's that
 * ends now should start nothing on it. */
bool fs_conn_ending(const fs_conn *c);

/* Closes now; queued output is dropped. */
void fs_conn_close(fs_conn *c, int reason);

/* The peer is known: frames up to FS_FRAME_MAX from now on. */
void fs_conn_admitted(fs_conn *c);

/* Changes the idle limit and restarts its timer. */
void fs_conn_set_idle(fs_conn *c, uint64_t idle_ms);

/* Stops reading for ms milliseconds, then reads on (rate limiting: the
 * peer waits in TCP flow control, nothing is dropped). */
void fs_conn_throttle(fs_conn *c, uint64_t ms);

void fs_conn_pause(fs_conn *c);
void fs_conn_resume(fs_conn *c);

/* Parses "host:port" ("127.0.0.1:7401", "[::1]:7401") into out. Returns 0
 * or FS_EINVAL. */
int fs_addr_parse(const char *s, struct sockaddr_storage *out);

#endif
