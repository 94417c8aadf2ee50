/* fs_relay.c - a TCP relay the integration tests put in a replication link
 * so they can cut it.
 *
 * Listens on 127.0.0.1:PORT and forwards every connection, byte for byte in
 * both directions, to 127.0.0.1:TARGET. It knows nothing of fieldsync: the
 * frames it carries are encrypted end to end.
 *
 *   fs_relay --listen PORT --target PORT [--cut-bytes BYTES] [--cut-after BYTES]
 *
 * PORT 0 picks a free port. When listening it prints one line on stdout:
 *   listening 127.0.0.1:PORT
 * and then logs what happens on stderr, one line each, e.g.
 *   fs_relay: accepted conn=3 open=1
 *   fs_relay: cut conns=1 up=123456 down=789 reason=signal
 *
 * Control, by signal:
 *   SIGUSR1  cut: reset (RST) every open connection and refuse new ones (the
 *            listening socket is closed, so connecting gets ECONNREFUSED)
 *   SIGUSR2  resume: listen again on the same port and forward as before
 *            (also ends a stall and disarms a cut armed by SIGHUP)
 *   SIGWINCH stall: a silent link; connections stay open and new ones are
 *            accepted, but no byte is forwarded either way until SIGUSR2
 *   SIGHUP   arm a cut in the middle of traffic: once BYTES more bytes
 *            (--cut-bytes, default 65536) have been forwarded from clients
 *            to the target, cut as SIGUSR1 does (the cut lands mid-frame)
 *   SIGTERM, SIGINT  exit 0
 * --cut-after BYTES arms such a cut at start.
 *
 * Counters since start: up (client -> target) and down bytes, connections
 * accepted, cuts. Exit status: 0 after SIGTERM, 1 usage, 2 failure.
 *
 * One thread, poll(2), non-blocking sockets, at most MAX_PAIRS connections
 * (more are closed at once); signals reach the loop through a self-pipe.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAIRS 64
#define BUF_SIZE (64 * 1024)
#define DEFAULT_CUT_AFTER 65536

/* One direction of a connection: bytes read from `from`, not yet written
 * to `to`. */
typedef struct half {
  char buf[BUF_SIZE];
  size_t len;
  bool eof;      /* `from` has no more to send */
  bool shut;     /* shutdown(to, SHUT_WR) done after the eof was flushed */
} half;

typedef struct pair {
  bool used;
  bool connecting; /* non-blocking connect to the target in progress */
  int cfd, tfd;    /* client side, target side */
  half up;         /* client -> target */
  half down;       /* target -> client */
  unsigned id;
} pair;

static pair pairs[MAX_PAIRS];
static int listen_fd = -1;
static uint16_t listen_port, target_port;
static bool refusing;
static bool stalled;
static long long cut_after = DEFAULT_CUT_AFTER;
static long long armed_left = -1; /* bytes up until the armed cut; -1: none */
static unsigned long long total_up, total_down, accepted, cuts;
static int sig_pipe[2];

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  localtime_r(&ts.tv_sec, &tm);
  char line[512];
  int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld fs_relay: ", tm.tm_hour, tm.tm_min,
                   tm.tm_sec, ts.tv_nsec / 1000000);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s\n", line);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("fs_relay: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

static void on_signal(int sig) {
  int saved = errno;
  unsigned char c = (unsigned char)sig;
  if (write(sig_pipe[1], &c, 1) < 0) {
    /* the pipe is full: signals are already pending */
  }
  errno = saved;
}

static void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    die("fcntl: %s", strerror(errno));
}

static struct sockaddr_in loopback(uint16_t port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

/* Binds and listens on listen_port (0 the first time: any free port).
 * Returns 0 or an errno. */
static int open_listener(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return errno;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = loopback(listen_port);
  socklen_t len = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 64) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    int e = errno;
    close(fd);
    return e;
  }
  set_nonblock(fd);
  listen_port = ntohs(a.sin_port);
  listen_fd = fd;
  return 0;
}

static size_t open_pairs(void) {
  size_t n = 0;
  for (size_t i = 0; i < MAX_PAIRS; i++)
    n += pairs[i].used;
  return n;
}

/* Closes a connection; hard: with RST on both sides (a cut link). */
static void close_pair(pair *p, bool hard) {
  struct linger lg = {1, 0};
  if (hard) {
    setsockopt(p->cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    setsockopt(p->tfd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  close(p->cfd);
  close(p->tfd);
  p->used = false;
}

static void cut(const char *reason) {
  size_t n = 0;
  for (size_t i = 0; i < MAX_PAIRS; i++)
    if (pairs[i].used) {
      close_pair(&pairs[i], true);
      n++;
    }
  if (listen_fd >= 0) {
    close(listen_fd);
    listen_fd = -1;
  }
  refusing = true;
  armed_left = -1;
  cuts++;
  logf_("cut conns=%zu up=%llu down=%llu reason=%s refusing", n, total_up, total_down, reason);
}

static void resume(void) {
  if (armed_left >= 0) { /* a restored link stays restored */
    armed_left = -1;
    logf_("disarmed");
  }
  if (stalled) {
    stalled = false;
    logf_("resumed forwarding after a stall, open=%zu", open_pairs());
  }
  if (!refusing)
    return;
  /* The port was ours a moment ago; SO_REUSEADDR makes this immediate, but
   * try a few times in case the kernel is slow to let go. */
  int e = 0;
  for (int i = 0; i < 50; i++) {
    if ((e = open_listener()) == 0)
      break;
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  if (e)
    die("cannot listen again on 127.0.0.1:%u: %s", listen_port, strerror(e));
  refusing = false;
  logf_("resumed listening 127.0.0.1:%u", listen_port);
}

static void accept_one(void) {
  int cfd = accept(listen_fd, NULL, NULL);
  if (cfd < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      logf_("accept failed: %s", strerror(errno));
    return;
  }
  pair *p = NULL;
  for (size_t i = 0; i < MAX_PAIRS && !p; i++)
    if (!pairs[i].used)
      p = &pairs[i];
  if (!p) {
    logf_("too many connections (%d): closing a new one", MAX_PAIRS);
    close(cfd);
    return;
  }
  int tfd = socket(AF_INET, SOCK_STREAM, 0);
  if (tfd < 0) {
    logf_("socket: %s", strerror(errno));
    close(cfd);
    return;
  }
  set_nonblock(cfd);
  set_nonblock(tfd);
  int one = 1;
  setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(tfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = loopback(target_port);
  bool connecting = false;
  if (connect(tfd, (struct sockaddr *)&a, sizeof a) != 0) {
    if (errno != EINPROGRESS) {
      logf_("connect to 127.0.0.1:%u failed: %s; closing the client", target_port,
            strerror(errno));
      close(tfd);
      close(cfd);
      return;
    }
    connecting = true;
  }
  memset(p, 0, sizeof *p);
  p->used = true;
  p->connecting = connecting;
  p->cfd = cfd;
  p->tfd = tfd;
  p->id = (unsigned)++accepted;
  logf_("accepted conn=%u open=%zu", p->id, open_pairs());
}

/* Reads what `from` has into h (as room allows); false when the pair must
 * close (an error). */
static bool fill(pair *p, half *h, int from, bool is_up) {
  if (h->eof || h->len == BUF_SIZE)
    return true;
  size_t room = BUF_SIZE - h->len;
  if (is_up && armed_left >= 0 && (long long)room > armed_left)
    room = armed_left > 0 ? (size_t)armed_left : 1;
  ssize_t n = read(from, h->buf + h->len, room);
  if (n > 0) {
    h->len += (size_t)n;
    if (is_up) {
      total_up += (unsigned long long)n;
      if (armed_left >= 0)
        armed_left = armed_left > n ? armed_left - n : 0;
    } else {
      total_down += (unsigned long long)n;
    }
    return true;
  }
  if (n == 0) {
    h->eof = true;
    return true;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
    return true;
  logf_("conn=%u read (%s) failed: %s", p->id, is_up ? "client" : "target", strerror(errno));
  return false;
}

static bool flush(pair *p, half *h, int to, bool is_up) {
  if (h->len > 0) {
    ssize_t n = write(to, h->buf, h->len);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return true;
      logf_("conn=%u write (%s) failed: %s", p->id, is_up ? "target" : "client",
            strerror(errno));
      return false;
    }
    memmove(h->buf, h->buf + n, h->len - (size_t)n);
    h->len -= (size_t)n;
  }
  if (h->eof && h->len == 0 && !h->shut) {
    shutdown(to, SHUT_WR);
    h->shut = true;
  }
  return true;
}

static void handle_signals(bool *quit) {
  unsigned char c[64];
  ssize_t n = read(sig_pipe[0], c, sizeof c);
  for (ssize_t i = 0; i < n; i++) {
    switch (c[i]) {
    case SIGUSR1:
      cut("signal");
      break;
    case SIGUSR2:
      resume();
      break;
    case SIGWINCH:
      stalled = true;
      logf_("stalled: open=%zu up=%llu down=%llu", open_pairs(), total_up, total_down);
      break;
    case SIGHUP:
      armed_left = cut_after;
      logf_("armed: cut after %lld more bytes up (up=%llu so far)", cut_after, total_up);
      break;
    default:
      *quit = true;
    }
  }
}

int main(int argc, char **argv) {
  long lport = -1, tport = -1;
  bool arm = false;
  for (int i = 1; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    char *end = NULL;
    if (strcmp(argv[i], "--listen") == 0 && v)
      lport = strtol(v, &end, 10);
    else if (strcmp(argv[i], "--target") == 0 && v)
      tport = strtol(v, &end, 10);
    else if (strcmp(argv[i], "--cut-bytes") == 0 && v)
      cut_after = strtoll(v, &end, 10);
    else if (strcmp(argv[i], "--cut-after") == 0 && v) {
      armed_left = strtoll(v, &end, 10);
      arm = true;
    } else {
      fprintf(stderr, "usage: fs_relay --listen PORT --target PORT [--cut-bytes BYTES] [--cut-after BYTES]\n");
      return 1;
    }
    if (!end || *end) {
      fprintf(stderr, "fs_relay: '%s' is not a number\n", v);
      return 1;
    }
    i++;
  }
  if (lport < 0 || lport > 65535 || tport < 1 || tport > 65535 || cut_after < 1 ||
      (arm && armed_left < 1)) {
    fprintf(stderr, "usage: fs_relay --listen PORT --target PORT [--cut-bytes BYTES] [--cut-after BYTES]\n");
    return 1;
  }
  listen_port = (uint16_t)lport;
  target_port = (uint16_t)tport;
  if (pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
    die("pipe: %s", strerror(errno));
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  int sigs[] = {SIGUSR1, SIGUSR2, SIGHUP, SIGWINCH, SIGTERM, SIGINT};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    sigaction(sigs[i], &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  int e = open_listener();
  if (e)
    die("cannot listen on 127.0.0.1:%ld: %s", lport, strerror(e));
  printf("listening 127.0.0.1:%u\n", listen_port);
  fflush(stdout);
  logf_("listening 127.0.0.1:%u target 127.0.0.1:%u%s", listen_port, target_port,
        arm ? " (cut armed)" : "");

  bool quit = false;
  struct pollfd pfd[2 + 2 * MAX_PAIRS];
  int slot[2 + 2 * MAX_PAIRS]; /* pair index of each fd entry, -1: none */
  while (!quit) {
    nfds_t n = 0;
    pfd[n] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
    slot[n++] = -1;
    if (listen_fd >= 0) {
      pfd[n] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
      slot[n++] = -1;
    }
    for (int i = 0; i < MAX_PAIRS; i++) {
      pair *p = &pairs[i];
      if (!p->used || stalled)
        continue;
      short ce = 0, te = 0;
      if (p->connecting) {
        te = POLLOUT;
      } else {
        if (!p->up.eof && p->up.len < BUF_SIZE)
          ce |= POLLIN;
        if (p->down.len > 0)
          ce |= POLLOUT;
        if (!p->down.eof && p->down.len < BUF_SIZE)
          te |= POLLIN;
        if (p->up.len > 0)
          te |= POLLOUT;
      }
      pfd[n] = (struct pollfd){.fd = p->cfd, .events = ce};
      slot[n++] = i;
      pfd[n] = (struct pollfd){.fd = p->tfd, .events = te};
      slot[n++] = i;
    }
    int r = poll(pfd, n, 1000);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      die("poll: %s", strerror(errno));
    }
    if (pfd[0].revents & POLLIN) {
      handle_signals(&quit);
      continue; /* the fd set may have changed */
    }
    if (listen_fd >= 0 && n > 1 && pfd[1].fd == listen_fd && (pfd[1].revents & POLLIN))
      accept_one();
    for (nfds_t k = 0; k < n; k++) {
      int i = slot[k];
      if (i < 0 || !pairs[i].used || pfd[k].revents == 0)
        continue;
      pair *p = &pairs[i];
      bool ok = true;
      if (p->connecting) {
        if (pfd[k].fd != p->tfd)
          continue;
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(p->tfd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
          logf_("conn=%u connect to 127.0.0.1:%u failed: %s; closing the client", p->id,
                target_port, strerror(err));
          close_pair(p, false);
          continue;
        }
        p->connecting = false;
        continue;
      }
      if (pfd[k].fd == p->cfd) {
        if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
          ok = fill(p, &p->up, p->cfd, true);
        if (ok && (pfd[k].revents & POLLOUT))
          ok = flush(p, &p->down, p->cfd, false);
      } else {
        if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
          ok = fill(p, &p->down, p->tfd, false);
        if (ok && (pfd[k].revents & POLLOUT))
          ok = flush(p, &p->up, p->tfd, true);
      }
      /* Forward what was just read without waiting for the next poll. */
      if (ok)
        ok = flush(p, &p->up, p->tfd, true) && flush(p, &p->down, p->cfd, false);
      /* Both directions of one end are gone (POLLHUP after its EOF, or an
       * error): nothing more can be delivered to it. */
      if (ok && (pfd[k].revents & (POLLHUP | POLLERR)) &&
          (pfd[k].fd == p->cfd ? p->up.eof : p->down.eof)) {
        close_pair(p, false);
        logf_("conn=%u closed (%s hung up), open=%zu", p->id,
              pfd[k].fd == p->cfd ? "client" : "target", open_pairs());
      } else if (!ok) {
        close_pair(p, true);
        logf_("conn=%u closed after an error, open=%zu", p->id, open_pairs());
      } else if (p->up.shut && p->down.shut) {
        close_pair(p, false);
        logf_("conn=%u closed by its ends, open=%zu", p->id, open_pairs());
      }
      if (armed_left == 0) {
        cut("armed");
        break;
      }
    }
  }
  for (int i = 0; i < MAX_PAIRS; i++)
    if (pairs[i].used)
      close_pair(&pairs[i], false);
  if (listen_fd >= 0)
    close(listen_fd);
  logf_("exit up=%llu down=%llu accepted=%llu cuts=%llu", total_up, total_down, accepted,
        cuts);
  return 0;
}
