/* bconn.c - blocking side of the protocol (tools and tests only). */
#include "bconn.h"

#include "conn.h"
#include "error.h"
#include "hello.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

static int wait_fd(int fd, short ev, int timeout_ms) {
  struct pollfd p = {fd, ev, 0};
  int n;
  do
    n = poll(&p, 1, timeout_ms);
  while (n < 0 && errno == EINTR);
  return n > 0 ? 0 : n == 0 ? FS_ETIMEOUT : -errno;
}

int fs_bconn_write(fs_bconn *b, const uint8_t *p, size_t len) {
  while (len > 0) {
    int rc = wait_fd(b->fd, POLLOUT, b->timeout_ms);
    if (rc)
      return rc;
    ssize_t n = send(b->fd, p, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN)
        continue;
      return -errno;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Reads exactly len bytes. */
static int read_full(fs_bconn *b, uint8_t *p, size_t len) {
  while (len > 0) {
    int rc = wait_fd(b->fd, POLLIN, b->timeout_ms);
    if (rc)
      return rc;
    ssize_t n = recv(b->fd, p, len, 0);
    if (n == 0)
      return UV_EOF;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN)
        continue;
      return -errno;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int fs_bconn_open(fs_bconn *b, const char *addr, const uint8_t netkey[FS_NETKEY_LEN],
                  int timeout_ms) {
  memset(b, 0, sizeof *b);
  b->fd = -1;
  b->timeout_ms = timeout_ms;
  struct sockaddr_storage ss;
  if (fs_addr_parse(addr, &ss) != 0)
    return FS_EINVAL;
  b->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (b->fd < 0)
    return -errno;
  socklen_t sl = ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                         : sizeof(struct sockaddr_in6);
  if (connect(b->fd, (struct sockaddr *)&ss, sl) != 0) {
    int rc = -errno;
    fs_bconn_close(b);
    return rc;
  }
  fs_frame_reader_init(&b->rd, FS_FRAME_MAX + FS_CIPHER_ABYTES);
  fs_hs_init(&b->hs, true, netkey);
  uint8_t hello[FS_HS_HELLO_LEN];
  fs_hs_hello(&b->hs, hello);
  int rc = fs_bconn_write(b, hello, sizeof hello);
  if (rc == 0)
    rc = read_full(b, hello, sizeof hello);
  if (rc == UV_EOF || rc == -ECONNRESET)
    rc = FS_EHANDSHAKE;
  if (rc == 0)
    rc = fs_hs_read_hello(&b->hs, hello) ? FS_EHANDSHAKE : 0;
  if (rc)
    fs_bconn_close(b);
  return rc;
}

int fs_bconn_accept(fs_bconn *b, int fd, const uint8_t netkey[FS_NETKEY_LEN], int timeout_ms,
                    uint8_t reply[FS_HS_HELLO_LEN]) {
  memset(b, 0, sizeof *b);
  b->fd = fd;
  b->timeout_ms = timeout_ms;
  fs_frame_reader_init(&b->rd, FS_FRAME_MAX + FS_CIPHER_ABYTES);
  fs_hs_init(&b->hs, false, netkey);
  uint8_t hello[FS_HS_HELLO_LEN];
  int rc = read_full(b, hello, sizeof hello);
  if (rc == -ECONNRESET)
    return UV_EOF;
  if (rc)
    return rc;
  if (fs_hs_read_hello(&b->hs, hello) != 0)
    return FS_EHANDSHAKE;
  fs_hs_hello(&b->hs, reply);
  return 0;
}

int fs_bconn_seal(fs_bconn *b, const Fs__Envelope *env, uint8_t **out, size_t *len) {
  size_t n = fs__envelope__get_packed_size(env);
  if (n > FS_FRAME_MAX)
    return FS_ETOOBIG;
  size_t clen = n + FS_CIPHER_ABYTES;
  uint8_t *buf = malloc(FS_FRAME_HDR + clen);
  if (!buf)
    return FS_ENOMEM;
  buf[0] = (uint8_t)(clen >> 24);
  buf[1] = (uint8_t)(clen >> 16);
  buf[2] = (uint8_t)(clen >> 8);
  buf[3] = (uint8_t)clen;
  fs__envelope__pack(env, buf + FS_FRAME_HDR);
  fs_cipher_seal(&b->hs.tx, buf + FS_FRAME_HDR, n, buf, FS_FRAME_HDR);
  *out = buf;
  *len = FS_FRAME_HDR + clen;
  return 0;
}

int fs_bconn_send(fs_bconn *b, const Fs__Envelope *env) {
  uint8_t *p;
  size_t len;
  int rc = fs_bconn_seal(b, env, &p, &len);
  if (rc)
    return rc;
  rc = fs_bconn_write(b, p, len);
  free(p);
  return rc;
}

int fs_bconn_recv(fs_bconn *b, Fs__Envelope **env) {
  for (;;) {
    const uint8_t *p;
    size_t len;
    int rc = fs_frame_reader_next(&b->rd, &p, &len);
    if (rc < 0)
      return rc;
    if (rc == 1) {
      size_t plain;
      if (fs_cipher_open(&b->hs.rx, (uint8_t *)p, len, p - FS_FRAME_HDR, FS_FRAME_HDR,
                         &plain) != 0)
        return FS_ECRYPTO;
      return fs_envelope_decode(p, plain, env);
    }
    uint8_t buf[65536];
    if ((rc = wait_fd(b->fd, POLLIN, b->timeout_ms)))
      return rc;
    ssize_t n = recv(b->fd, buf, sizeof buf, 0);
    if (n == 0)
      return UV_EOF;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN)
        continue;
      return errno == ECONNRESET ? UV_EOF : -errno;
    }
    if ((rc = fs_frame_reader_feed(&b->rd, buf, (size_t)n)))
      return rc;
  }
}

int fs_bconn_login(fs_bconn *b, const fs_keypair *me, const char *role,
                   const char *node_id, ProtobufCBinaryData *certs, size_t ncerts,
                   Fs__Hello **server_hello, Fs__Envelope **reply) {
  Fs__Envelope *env;
  int rc = fs_bconn_recv(b, &env);
  if (rc)
    return rc;
  if (env->msg_case != FS__ENVELOPE__MSG_HELLO ||
      fs_hello_check(env->hello, &b->hs) != 0) {
    fs__envelope__free_unpacked(env, NULL);
    return FS_EPROTOCOL;
  }
  Fs__Hello mine;
  uint8_t sig[FS_SIG_LEN];
  fs_hello_fill(&mine, sig, &b->hs, me, role, node_id, certs, ncerts);
  Fs__Envelope out = FS__ENVELOPE__INIT;
  out.msg_case = FS__ENVELOPE__MSG_HELLO;
  out.hello = &mine;
  rc = fs_bconn_send(b, &out);
  if (server_hello) {
    /* Hand over the Hello alone: detach it from its envelope. */
    *server_hello = env->hello;
    env->hello = NULL;
    env->msg_case = FS__ENVELOPE__MSG__NOT_SET;
  }
  fs__envelope__free_unpacked(env, NULL);
  if (rc == 0)
    rc = fs_bconn_recv(b, reply);
  return rc;
}

void fs_bconn_close(fs_bconn *b) {
  if (b->fd >= 0)
    close(b->fd);
  b->fd = -1;
  fs_frame_reader_free(&b->rd);
  fs_hs_wipe(&b->hs);
}
