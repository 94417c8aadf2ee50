/* bconn.h - a blocking connection, for tools, tests and benchmarks.
 *
 * The same wire as conn.h (secret handshake, encrypted frames, Hello) over a
 * plain blocking socket with timeouts, so a test peer or a load generator
 * can speak the protocol in a few lines and also misbehave on purpose: it
 * can seal a frame without sending it, then alter, repeat or reorder it.
 */
#ifndef FS_BCONN_H
#define FS_BCONN_H

#include "fieldsync.pb-c.h"
#include "frame.h"
#include "handshake.h"
#include "keys.h"

#include <stddef.h>
#include <stdint.h>

typedef struct fs_bconn {
  int fd;
  fs_hs hs;
  fs_frame_reader rd;
  int timeout_ms;
} fs_bconn;

/* Connects to addr ("127.0.0.1:7401") and runs the handshake with netkey.
 * Returns 0, FS_EINVAL (address), FS_EHANDSHAKE (the server closed: wrong
 * network key), FS_ETIMEOUT or a negative errno. */
int fs_bconn_open(fs_bconn *b, const char *addr, const uint8_t netkey[FS_NETKEY_LEN],
                  int timeout_ms);

/* The server side of the handshake on an accepted socket fd, for test
 * servers: reads the client's opening, checks it with netkey and leaves
 * ours in reply, for the caller to send with fs_bconn_write (at once, or
 * slowly on purpose). Returns 0, UV_EOF (the client closed first),
 * FS_EHANDSHAKE (its opening does not verify with netkey), FS_ETIMEOUT or
 * a negative errno; b owns fd either way. */
int fs_bconn_accept(fs_bconn *b, int fd, const uint8_t netkey[FS_NETKEY_LEN], int timeout_ms,
                    uint8_t reply[FS_HS_HELLO_LEN]);

/* Receives the server's Hello (checked against the transcript; the caller
 * owns *server_hello if not NULL), sends ours for role with certs, and
 * returns the server's answer in *reply (a Welcome or an Error; the caller
 * frees it). */
int fs_bconn_login(fs_bconn *b, const fs_keypair *me, const char *role,
                   const char *node_id, ProtobufCBinaryData *certs, size_t ncerts,
                   Fs__Hello **server_hello, Fs__Envelope **reply);

/* Seals env as one encrypted frame into *out (malloc'ed), advancing the
 * send counter, without sending it. */
int fs_bconn_seal(fs_bconn *b, const Fs__Envelope *env, uint8_t **out, size_t *len);

/* Sends bytes as they are. */
int fs_bconn_write(fs_bconn *b, const uint8_t *p, size_t len);

/* Seals and sends. */
int fs_bconn_send(fs_bconn *b, const Fs__Envelope *env);

/* Receives and decrypts one frame; *env is the caller's. Returns 0,
 * FS_ETIMEOUT, UV_EOF (closed), FS_ECRYPTO or FS_EDECODE. */
int fs_bconn_recv(fs_bconn *b, Fs__Envelope **env);

void fs_bconn_close(fs_bconn *b);

#endif
