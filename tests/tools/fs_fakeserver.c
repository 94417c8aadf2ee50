/* fs_fakeserver.c - a scripted, misbehaving commune server for laptop tests.
 *
 * fs_testpeer is the bad laptop the server tests need; this is the bad
 * server the laptop's tests need. It holds a certified node key, so a real
 * `fieldsync sync` admits it, then it answers as its mode says, over a plain
 * blocking socket (common/bconn.h), one connection, and prints one line per
 * thing the laptop did:
 *
 *   listening port=40123
 *   push sets=3 first=1 last=3
 *   pull cursor=0
 *   bye | closed
 *
 * Usage (exit 0: the connection ran its course, whatever the laptop did;
 * 1 usage; 2 a local or I/O failure, with a sentence on stderr):
 *   fs_fakeserver MODE --key NODE.key --cert NODE.cert --network-key FILE
 *                 --area AREA [--server-seq N]
 * MODE:
 *   ok          acknowledges every set STORED, in order, naming its seq, id
 *               and device; answers every Pull with no records
 *   ack-seq     names seq + 1 for every set (the last one was never sent)
 *   ack-order   acknowledges the sets of a Push in reverse order
 *   ack-id      names, at each seq, the id of another set of the Push
 *   ack-device  names another device than the laptop's
 *   more-stuck  answers every Pull with more=1 at the cursor it was given
 *   more-creep  answers every Pull with more=1 one past that cursor
 *   trickle     sends its 64-byte handshake opening a byte a second
 *   blackhole   accepts nothing: its listen queue is full, so the kernel
 *               drops the laptop's SYNs and its connect waits (exits after
 *               BLACKHOLE_S)
 *   future      like ok, but the first Pull brings patrol "far1" whose every
 *               write carries clock --hlc H (a device with a wrong date)
 * Welcome.server_seq is N (default 5), so a laptop that never pulled pulls.
 */
#include "bconn.h"
#include "cert.h"
#include "changeset.h"
#include "error.h"
#include "hello.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define EXIT_USAGE 1
#define EXIT_FAILED 2
#define IO_TIMEOUT_MS 30000
#define BLACKHOLE_S 120

static const char usage_text[] =
    "usage: fs_fakeserver ok|ack-seq|ack-order|ack-id|ack-device|more-stuck|more-creep|\n"
    "                     trickle|blackhole|future|hello-certs --key NODE.key\n"
    "                     --cert NODE.cert --network-key FILE --area AREA [--server-seq N]\n"
    "                     [--hlc H]\n";

typedef enum {
  M_OK, M_ACK_SEQ, M_ACK_ORDER, M_ACK_ID, M_ACK_DEVICE, M_MORE_STUCK, M_MORE_CREEP,
  M_TRICKLE, M_BLACKHOLE, M_FUTURE, M_HELLO_CERTS
} fake_mode;

static const char *const mode_names[] = {"ok",         "ack-seq",    "ack-order",  "ack-id",
                                         "ack-device", "more-stuck", "more-creep", "trickle",
                                         "blackhole",  "future",     "hello-certs"};

typedef struct fake {
  fake_mode mode;
  fs_keypair key;
  fs_certfile certs;
  uint8_t netkey[FS_NETKEY_LEN];
  const char *area;
  uint64_t server_seq;
  uint64_t hlc;           /* future: the clock of far1's writes */
  bool sent_far;
  fs_bconn b;
} fake;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("fs_fakeserver: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(EXIT_FAILED);
}

/* ---------------------------------------------------------------- socket */

/* A socket listening on 127.0.0.1 at a port of the kernel's choosing, *a. */
static int listen_any(int backlog, struct sockaddr_in *a) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  *a = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = 0};
  a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof *a;
  if (fd < 0 || bind(fd, (struct sockaddr *)a, sizeof *a) != 0 || listen(fd, backlog) != 0 ||
      getsockname(fd, (struct sockaddr *)a, &len) != 0)
    die("cannot listen on 127.0.0.1: %s", strerror(errno));
  return fd;
}

/* A server that never answers a SYN: a full accept queue (backlog 0 and
 * two connections of our own in it) makes the kernel drop the rest. */
static int blackhole(void) {
  struct sockaddr_in a;
  int lfd = listen_any(0, &a);
  for (int i = 0; i < 2; i++) {
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c < 0 || (connect(c, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS))
      die("cannot fill the accept queue: %s", strerror(errno));
  }
  usleep(200 * 1000); /* their handshakes complete */
  printf("listening port=%u\n", ntohs(a.sin_port));
  sleep(BLACKHOLE_S);
  close(lfd);
  return 0;
}

static void send_env(fake *f, const Fs__Envelope *env) {
  int rc = fs_bconn_send(&f->b, env);
  if (rc)
    die("cannot send: %s", fs_strerror(rc));
}

/* The next Envelope, or NULL when the laptop closed (then "closed" is
 * printed). */
static Fs__Envelope *recv_env(fake *f) {
  Fs__Envelope *env;
  int rc = fs_bconn_recv(&f->b, &env);
  if (rc == UV_EOF || rc == -ECONNRESET) {
    printf("closed\n");
    return NULL;
  }
  if (rc)
    die("the laptop sent a bad frame: %s", fs_strerror(rc));
  return env;
}

/* The secret handshake, as the server: the laptop's opening, then ours. */
static bool handshake(fake *f, int fd) {
  uint8_t out[FS_HS_HELLO_LEN];
  int rc = fs_bconn_accept(&f->b, fd, f->netkey, IO_TIMEOUT_MS, out);
  if (rc == UV_EOF) {
    printf("closed\n");
    return false;
  }
  if (rc)
    die("the laptop's handshake failed: %s", fs_strerror(rc));
  /* trickle: each byte re-arms the laptop's idle timer, none completes. */
  size_t step = f->mode == M_TRICKLE ? 1 : sizeof out;
  for (size_t i = 0; i < sizeof out; i += step) {
    if (i > 0)
      sleep(1);
    if (fs_bconn_write(&f->b, out + i, step) != 0) {
      printf("closed\n");
      return false;
    }
  }
  return true;
}

/* Our Hello with the node certificate (hello-certs: repeated to one more
 * than a Hello may carry), the laptop's Hello, our Welcome. */
static bool login(fake *f) {
  enum { MANY = FS_CERTS_PER_HELLO + 1 };
  ProtobufCBinaryData items[FS_CERTFILE_MAX > MANY ? FS_CERTFILE_MAX : MANY];
  size_t n = f->mode == M_HELLO_CERTS ? MANY : f->certs.n;
  for (size_t i = 0; i < n; i++) {
    size_t c = i % f->certs.n;
    items[i] = (ProtobufCBinaryData){f->certs.lens[c], f->certs.certs[c]};
  }
  Fs__Hello h;
  uint8_t sig[FS_SIG_LEN];
  fs_hello_fill(&h, sig, &f->b.hs, &f->key, "server", "fake", items, n);
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_HELLO;
  env.hello = &h;
  send_env(f, &env);
  Fs__Envelope *in = recv_env(f);
  if (!in)
    return false;
  bool hello = in->msg_case == FS__ENVELOPE__MSG_HELLO;
  fs__envelope__free_unpacked(in, NULL);
  if (!hello)
    die("the laptop did not answer with its Hello");
  Fs__Welcome w = FS__WELCOME__INIT;
  w.server_seq = f->server_seq;
  w.area = (char *)f->area;
  w.node_id = "fake";
  Fs__Envelope we = FS__ENVELOPE__INIT;
  we.msg_case = FS__ENVELOPE__MSG_WELCOME;
  we.welcome = &w;
  send_env(f, &we);
  return true;
}

/* ------------------------------------------------------------ answers */

/* What the laptop pushed, as the server would read it. */
typedef struct pushed {
  uint64_t seq;
  uint8_t id[FS_HASH_LEN];
  uint8_t device[FS_PK_LEN];
} pushed;

static void read_push(const Fs__Push *p, pushed *out) {
  for (size_t i = 0; i < p->n_sets; i++) {
    const ProtobufCBinaryData *body = &p->sets[i]->body;
    Fs__ChangeSet *cs = fs__change_set__unpack(NULL, body->len, body->data);
    if (!cs || cs->device.len != FS_PK_LEN)
      die("set %zu of the Push does not decode", i);
    out[i].seq = cs->seq;
    memcpy(out[i].device, cs->device.data, FS_PK_LEN);
    fs_changeset_id(body->data, body->len, out[i].id);
    fs__change_set__free_unpacked(cs, NULL);
  }
}

/* Acknowledges a Push as the mode says: every set STORED, each item naming
 * a seq, an id and a device (right in mode ok). */
static void answer_push(fake *f, const Fs__Push *p) {
  size_t n = p->n_sets;
  pushed *sent = calloc(n ? n : 1, sizeof *sent);
  Fs__AckItem *items = calloc(n ? n : 1, sizeof *items);
  Fs__AckItem **ptrs = calloc(n ? n : 1, sizeof *ptrs);
  uint8_t other[FS_PK_LEN];
  if (!sent || !items || !ptrs)
    die("out of memory");
  read_push(p, sent);
  printf("push sets=%zu first=%llu last=%llu\n", n,
         (unsigned long long)(n ? sent[0].seq : 0), (unsigned long long)(n ? sent[n - 1].seq : 0));
  randombytes_buf(other, sizeof other);
  for (size_t i = 0; i < n; i++) {
    pushed *s = &sent[f->mode == M_ACK_ORDER ? n - 1 - i : i]; /* the set named */
    Fs__AckItem *it = &items[i];
    fs__ack_item__init(it);
    it->status = FS__ACK_STATUS__ACK_STORED;
    it->seq = f->mode == M_ACK_SEQ ? s->seq + 1 : s->seq;
    it->id.data = f->mode == M_ACK_ID ? sent[(i + 1) % n].id : s->id;
    it->id.len = FS_HASH_LEN;
    it->device.data = f->mode == M_ACK_DEVICE ? other : s->device;
    it->device.len = FS_PK_LEN;
    it->head_seq = s->seq;
    it->reason = "";
    ptrs[i] = it;
  }
  Fs__Ack ack = FS__ACK__INIT;
  ack.n_items = n;
  ack.items = ptrs;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_ACK;
  env.ack = &ack;
  send_env(f, &env);
  free(ptrs);
  free(items);
  free(sent);
}

/* Patrol far1 as a server stores it: every write at clock f->hlc by a
 * device of its own. Returns the encoding (malloc'ed). */
static ProtobufCBinaryData far_record(const fake *f) {
  static const char *const names[] = {"end", "notes", "route", "start"}; /* sorted */
  static const char *const values[] = {"2026-11-20T23:00", "ghi từ tương lai", "Thôn 5",
                                       "2026-11-20T20:00"};
  Fs__FieldState fs[4], *fp[4];
  Fs__RecordState r = FS__RECORD_STATE__INIT;
  r.area = (char *)f->area;
  r.id = "far1";
  r.type = "patrol";
  r.type_hlc = f->hlc;
  r.type_device = (ProtobufCBinaryData){FS_PK_LEN, (uint8_t *)f->key.pk};
  for (size_t i = 0; i < 4; i++) {
    fs__field_state__init(&fs[i]);
    fs[i].name = (char *)names[i];
    fs[i].value = (ProtobufCBinaryData){strlen(values[i]), (uint8_t *)values[i]};
    fs[i].hlc = f->hlc;
    fs[i].device = r.type_device;
    fp[i] = &fs[i];
  }
  r.n_fields = 4;
  r.fields = fp;
  ProtobufCBinaryData out = {fs__record_state__get_packed_size(&r), NULL};
  if (!(out.data = malloc(out.len)))
    die("out of memory");
  fs__record_state__pack(&r, out.data);
  return out;
}

static void answer_pull(fake *f, const Fs__Pull *p) {
  printf("pull cursor=%llu\n", (unsigned long long)p->cursor);
  Fs__Records r = FS__RECORDS__INIT;
  r.cursor = f->mode == M_MORE_CREEP ? p->cursor + 1 : p->cursor;
  r.more = f->mode == M_MORE_STUCK || f->mode == M_MORE_CREEP;
  ProtobufCBinaryData far = {0, NULL};
  if (f->mode == M_FUTURE && !f->sent_far) {
    far = far_record(f);
    r.n_states = 1;
    r.states = &far;
    r.cursor = p->cursor + 1;
    f->sent_far = true;
  }
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_RECORDS;
  env.records = &r;
  send_env(f, &env);
  free(far.data);
}

/* Answers the laptop until it says Bye or closes. */
static void serve(fake *f) {
  for (;;) {
    Fs__Envelope *env = recv_env(f);
    if (!env)
      return;
    Fs__Envelope__MsgCase mc = env->msg_case;
    if (mc == FS__ENVELOPE__MSG_PUSH)
      answer_push(f, env->push);
    else if (mc == FS__ENVELOPE__MSG_PULL)
      answer_pull(f, env->pull);
    else if (mc == FS__ENVELOPE__MSG_BYE)
      printf("bye\n");
    else
      die("unexpected message %d from the laptop", (int)mc);
    fs__envelope__free_unpacked(env, NULL);
    if (mc == FS__ENVELOPE__MSG_BYE)
      return;
  }
}

static int run(fake *f) {
  if (f->mode == M_BLACKHOLE)
    return blackhole();
  struct sockaddr_in a;
  int lfd = listen_any(4, &a);
  printf("listening port=%u\n", ntohs(a.sin_port));
  int fd = accept(lfd, NULL, NULL);
  if (fd < 0)
    die("accept: %s", strerror(errno));
  close(lfd);
  if (handshake(f, fd) && login(f))
    serve(f);
  fs_bconn_close(&f->b);
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2 || fs_crypto_init() != 0) {
    fputs(usage_text, stderr);
    return EXIT_USAGE;
  }
  fake f = {.server_seq = 5};
  size_t m = 0, nmodes = sizeof mode_names / sizeof mode_names[0];
  while (m < nmodes && strcmp(argv[1], mode_names[m]) != 0)
    m++;
  const char *key = NULL, *cert = NULL, *netkey = NULL;
  for (int i = 2; i + 1 < argc; i += 2) {
    const char *o = argv[i], *v = argv[i + 1];
    if (strcmp(o, "--key") == 0)
      key = v;
    else if (strcmp(o, "--cert") == 0)
      cert = v;
    else if (strcmp(o, "--network-key") == 0)
      netkey = v;
    else if (strcmp(o, "--area") == 0)
      f.area = v;
    else if (strcmp(o, "--server-seq") == 0)
      f.server_seq = strtoull(v, NULL, 10);
    else if (strcmp(o, "--hlc") == 0)
      f.hlc = strtoull(v, NULL, 10);
    else
      m = nmodes;
  }
  if (m == nmodes || argc % 2 != 0 || !key || !cert || !netkey || !f.area) {
    fputs(usage_text, stderr);
    return EXIT_USAGE;
  }
  f.mode = (fake_mode)m;
  int rc;
  if ((rc = fs_keypair_load(&f.key, key)))
    die("cannot load %s: %s", key, fs_strerror(rc));
  if ((rc = fs_certfile_read(&f.certs, cert)))
    die("cannot read %s: %s", cert, fs_strerror(rc));
  if ((rc = fs_netkey_load(f.netkey, netkey)))
    die("cannot load %s: %s", netkey, fs_strerror(rc));
  rc = run(&f);
  fs_certfile_free(&f.certs);
  fs_keypair_free(&f.key);
  return rc;
}
