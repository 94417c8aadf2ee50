/* fs_testpeer.c - a scripted, deliberately misbehaving fieldsync peer.
 *
 * The integration tests (tests/integration/) drive fieldsyncd with real
 * laptops; this program is the peer they cannot be: it speaks the wire
 * protocol over a plain blocking socket (common/bconn.h), so it can forge,
 * replay, fork, tamper and send garbage, and it prints one line per thing
 * the server said:
 *
 *   welcome area=KT.KPL.DAKNEN server_seq=0
 *   ack status=STORED seq=1 head=1 id=ok reason=
 *   error code=E_BADSIG msg=...
 *   closed
 *
 * Scenarios build their own hash chain from seq 1, so give each one a
 * freshly initialised, enrolled device directory that has never synced.
 *
 * Usage (exit 0: the scenario ran, whatever the server answered; 1 usage;
 * 2 a local or I/O failure, with a sentence on stderr):
 *   fs_testpeer freeport                  print a free TCP port on 127.0.0.1
 *   fs_testpeer relay --dir LAPTOP --server HOST:PORT --node-key K --node-cert C
 *               --network-key F --mode verbatim|altered|invented|stream
 *                                         pose as a certified child node and
 *                                         push the laptop's outbox as it is,
 *                                         with one body byte flipped, or a set
 *                                         the node signed itself; stream: each
 *                                         set in a Push of its own, 16 in
 *                                         flight, as a child's link does while
 *                                         sets trickle in, then one line
 *                                         "acks stored=S duplicate=D other=O"
 *   fs_testpeer parent --listen PORT --node-key K --node-cert C --network-key F
 *               --count N          pose as a parent node: accept one
 *                                  connection on 127.0.0.1:PORT, prove the
 *                                  node's key with its certificates repeated
 *                                  to N, print "hello role=R" when the
 *                                  child answers with its Hello, else its
 *                                  Error or "closed"
 *   fs_testpeer edits --dir D --count N [--records R] [--prefix P] [--mode pending]
 *                                         N local edits via fs_device_edit,
 *                                         one change set each, or left
 *                                         pending (patrols PNNNNN, P bulk by
 *                                         default, notes change)
 *   fs_testpeer SCENARIO --dir D --server HOST:PORT
 *     hello     handshake only
 *     forge     seq 1 with one body byte flipped after signing, then the
 *               untouched original
 *     replay    seq 1 pushed twice, again in a second connection, then
 *               seq 2 twice in one push
 *     fork      seq 1, then a different body with seq 1
 *     gap       seq 1, then seq 3
 *     scope     seq 1 for an area outside the device's scope
 *     future    seq 1 with a clock two days ahead, then a normal seq 1
 *     oversize  before Hello, a frame header announcing more than a Hello
 *               may take (FS_HELLO_FRAME_MAX)
 *     oversize-ready  after Welcome, one announcing more than FS_FRAME_MAX
 *     garbage   an encrypted frame whose plaintext is no Envelope, after Welcome
 *     tamper | replay-frame | reorder | truncate
 *               after Welcome, an encrypted frame altered / sent twice / two
 *               sent in swapped order / cut short: prints "closed" when the
 *               server ends the connection
 *     wrong-netkey  the handshake with another network key
 *     hold      handshake and one Pull, print "ready", wait for a line on
 *               stdin, then push seq 1 on the same connection
 *     hold-quiet  the same without the Pull: nothing sent after Hello
 *     hello-replay  send on a second connection the Hello signed for the first
 *     early-push  a Push before Hello
 *     silent    connect and say nothing; print how long the server waited
 *               before closing ("waited N s")
 *     drip      connect without the network key and send one byte of the
 *               opening a second, never all of it: "closed" and "waited N
 *               s" when the server ends it, else "still open after N s"
 *     drip-frame  the same after the handshake: no Hello, a frame whose
 *               bytes come one a second
 *     hello-cert  (needs --cert FILE) handshake presenting, besides the
 *               device's own certificates, those in FILE (an enrolment the
 *               laptop would refuse to install, say): prints the Welcome or
 *               the Error, like hello
 *     hello-certs  (needs --count N) handshake presenting the device's own
 *               certificates, then those of --cert FILE (or its own again)
 *               over and over, N in all: prints the Welcome or the Error,
 *               then how long the answer took ("answered in N ms")
 *     hold-pull  handshake and one Pull, print "ready", wait for a line on
 *               stdin, then Pull again on the same connection (prints the
 *               Records, or the Error or "closed" that came instead)
 *     noread    after Welcome, --count N (default 1000) Pulls of
 *               everything without reading one answer: prints "closed
 *               after K pulls: ERR" when the server drops it, else "ready",
 *               then on a line on stdin "still open" or "closed"
 *     flood     after Welcome, --count N (default 1000) Pulls of one record
 *               sent back to back, then their answers read: prints
 *               "answered K of N" (the server reads a peer over its frame
 *               rate more slowly; it drops nothing)
 *     clear-sealed  seq 1: a tip whose sealed field informant_name is in
 *               clear ("CLEARTEXT-INFORMANT Đinh Văn Lộ"), as a modified
 *               laptop could send it
 */
#include "bconn.h"
#include "cert.h"
#include "changeset.h"
#include "conn.h"
#include "error.h"
#include "frame.h"
#include "hello.h"
#include "hex.h"
#include "hlc.h"
#include "keys.h"
#include "local.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define EXIT_USAGE 1
#define EXIT_FAILED 2
#define IO_TIMEOUT_S 30
#define FS_PUSH_SETS_MAX 512 /* generous for sanitizer builds; never hangs forever */

static const char usage_text[] =
    "usage: fs_testpeer freeport\n"
    "       fs_testpeer relay --dir LAPTOP --server HOST:PORT --node-key KEY --node-cert CERT\n"
    "                   --network-key FILE --mode verbatim|altered|invented|stream\n"
    "       fs_testpeer parent --listen PORT --node-key KEY --node-cert CERT\n"
    "                   --network-key FILE --count N\n"
    "       fs_testpeer edits --dir DIR --count N [--records R] [--prefix P] [--mode pending]\n"
    "       fs_testpeer hello|forge|replay|fork|gap|scope|oversize|oversize-ready|garbage|hold|\n"
    "                   hold-quiet|hello-replay|early-push|silent|future|tamper|\n"
    "                   replay-frame|reorder|truncate|wrong-netkey|clear-sealed|hold-pull|noread|\n"
    "                   drip|drip-frame "
    "--dir DIR --server HOST:PORT\n"
    "       fs_testpeer hello-cert --dir DIR --server HOST:PORT --cert FILE\n"
    "       fs_testpeer hello-certs --dir DIR --server HOST:PORT --count N [--cert FILE]\n"
    "       fs_testpeer noread|flood --dir DIR --server HOST:PORT [--count N]\n";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static long opt_count = -1; /* --count: noread's Pulls, hello-certs' certificates */

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("fs_testpeer: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(EXIT_FAILED);
}

/* ---------------------------------------------------------------- socket */

typedef struct peer {
  fs_bconn b;
  bool open;
  fs_device dev;          /* key, network key, root key, certificates */
  char area[FS_MAX_AREA + 1];
  uint64_t hlc;
} peer;


/* Connects and runs the secret handshake; false (after printing why) when
 * the server closed it. */
static bool connect_to(peer *p, const char *server) {
  int rc = fs_bconn_open(&p->b, server, p->dev.netkey, IO_TIMEOUT_S * 1000);
  if (rc == FS_EHANDSHAKE) {
    printf("closed handshake\n");
    return false;
  }
  if (rc)
    die("cannot connect to %s: %s", server, fs_strerror(rc));
  p->open = true;
  return true;
}

static void send_env(peer *p, const Fs__Envelope *env) {
  int rc = fs_bconn_send(&p->b, env);
  if (rc)
    die("cannot send: %s", fs_strerror(rc));
}

/* The next Envelope, or NULL when the server closed the connection (then
 * "closed" is printed). */
static Fs__Envelope *recv_env(peer *p) {
  Fs__Envelope *env;
  int rc = fs_bconn_recv(&p->b, &env);
  if (rc == UV_EOF || rc == -ECONNRESET) {
    printf("closed\n");
    return NULL;
  }
  if (rc == FS_ETIMEOUT)
    die("the server did not answer within %d s", IO_TIMEOUT_S);
  if (rc)
    die("the server sent a bad frame: %s", fs_strerror(rc));
  return env;
}

/* Prints an Error frame; returns true when env was one. */
static bool print_error(const Fs__Envelope *env) {
  if (env->msg_case != FS__ENVELOPE__MSG_ERROR)
    return false;
  printf("error code=%s msg=%s\n", fs_errname(-(int)env->error->code),
         env->error->message);
  return true;
}

/* Waits for the end of the connection after an Error: prints "closed". */
static void expect_close(peer *p) {
  for (int i = 0; i < 8; i++) {
    Fs__Envelope *env = recv_env(p);
    if (!env)
      return;
    printf("unexpected message %d after the error\n", (int)env->msg_case);
    fs__envelope__free_unpacked(env, NULL);
  }
  die("the server kept talking after an error");
}

/* Reads the server's Hello; false (after printing what came) otherwise. */
static bool read_server_hello(peer *p) {
  Fs__Envelope *env = recv_env(p);
  if (!env)
    return false;
  bool ok = env->msg_case == FS__ENVELOPE__MSG_HELLO &&
            fs_hello_check(env->hello, &p->b.hs) == 0;
  if (!ok && !print_error(env))
    printf("unexpected message %d instead of the server's Hello\n", (int)env->msg_case);
  fs__envelope__free_unpacked(env, NULL);
  return ok;
}

/* Our Hello for the connection b (its transcript), with the laptop's
 * enrolment; certs must be freed by the caller. */
static void fill_hello(peer *p, fs_bconn *b, Fs__Hello *h, uint8_t *sig, fs_certlist *certs) {
  int rc = fs_certlist_collect(certs, &p->dev.store, p->dev.key.pk, FS__CERT_KIND__CERT_DEVICE);
  if (rc)
    die("cannot read the enrolment: %s", fs_strerror(rc));
  fs_hello_fill(h, sig, &b->hs, &p->dev.key, "device", NULL, certs->items, certs->n);
}

/* The answer to our Hello: prints the Welcome, or the Error and waits for
 * the close. Returns true on a Welcome. */
static bool await_welcome(peer *p) {
  Fs__Envelope *w = recv_env(p);
  if (!w)
    return false;
  bool ok = w->msg_case == FS__ENVELOPE__MSG_WELCOME;
  if (ok)
    printf("welcome area=%s server_seq=%llu\n", w->welcome->area,
           (unsigned long long)w->welcome->server_seq);
  else if (!print_error(w))
    printf("unexpected message %d instead of Welcome\n", (int)w->msg_case);
  fs__envelope__free_unpacked(w, NULL);
  if (!ok)
    expect_close(p);
  return ok;
}

/* Connects, proves the device, prints the Welcome or the Error. Returns
 * true when the session is ready for pushes. */
static bool handshake(peer *p, const char *server) {
  if (!connect_to(p, server) || !read_server_hello(p))
    return false;
  Fs__Hello h;
  uint8_t sig[FS_SIG_LEN];
  fs_certlist certs;
  fill_hello(p, &p->b, &h, sig, &certs);
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_HELLO;
  env.hello = &h;
  send_env(p, &env);
  fs_certlist_free(&certs);
  return await_welcome(p);
}

static void hang_up(peer *p) {
  if (p->open) {
    Fs__Bye bye = FS__BYE__INIT;
    Fs__Envelope env = FS__ENVELOPE__INIT;
    env.msg_case = FS__ENVELOPE__MSG_BYE;
    env.bye = &bye;
    fs_bconn_send(&p->b, &env);
    fs_bconn_close(&p->b);
  }
  p->open = false;
}

/* ------------------------------------------------------------ change sets */

typedef struct sset {
  uint8_t *body;
  size_t len;
  uint8_t sig[FS_SIG_LEN];
  uint8_t id[FS_HASH_LEN];
  uint64_t seq;
} sset;

/* Seals one change set of this device: one new citizen tip (the schema's
 * required fields; value is its content). */
static void make_set(peer *p, sset *out, uint64_t seq, const uint8_t prev[FS_HASH_LEN],
                     const char *area, const char *record_id, const char *value) {
  p->hlc = fs_hlc_tick(p->hlc, fs_hlc_now_ms());
  static const char *const names[] = {"received_at", "channel", "content", "status"};
  const char *values[] = {"2026-11-20T08:00", "in_person", value, "received"};
  Fs__FieldWrite fw[4], *fwp[4];
  for (size_t i = 0; i < 4; i++) {
    fs__field_write__init(&fw[i]);
    fw[i].name = (char *)names[i];
    fw[i].value.data = (uint8_t *)values[i];
    fw[i].value.len = strlen(values[i]);
    fw[i].hlc = p->hlc;
    fwp[i] = &fw[i];
  }
  Fs__Change ch = FS__CHANGE__INIT;
  Fs__Change *chp = &ch;
  ch.record_id = (char *)record_id;
  ch.record_type = "tip";
  ch.n_writes = 4;
  ch.writes = fwp;
  Fs__ChangeSet cs = FS__CHANGE_SET__INIT;
  cs.device.data = p->dev.key.pk;
  cs.device.len = FS_PK_LEN;
  cs.seq = seq;
  cs.prev.data = (uint8_t *)prev;
  cs.prev.len = FS_HASH_LEN;
  cs.hlc = p->hlc;
  cs.area = (char *)area;
  cs.n_changes = 1;
  cs.changes = &chp;
  int rc = fs_changeset_seal(&cs, p->dev.key.sk, &out->body, &out->len, out->sig, out->id);
  if (rc)
    die("cannot seal a change set: %s", fs_strerror(rc));
  out->seq = seq;
}

static void free_set(sset *s) {
  free(s->body);
  s->body = NULL;
}

static const char *status_name(Fs__AckStatus st) {
  const ProtobufCEnumValue *v =
      protobuf_c_enum_descriptor_get_value(&fs__ack_status__descriptor, (int)st);
  if (!v)
    return "UNKNOWN";
  return strncmp(v->name, "ACK_", 4) == 0 ? v->name + 4 : v->name;
}

/* Pushes sets[0..n) in one Push and prints the Ack items, or the Error.
 * Returns false when the connection ended. */
static bool push(peer *p, sset *const *sets, size_t n) {
  Fs__SignedChangeSet *ss = calloc(n, sizeof *ss);
  Fs__SignedChangeSet **ptrs = calloc(n, sizeof *ptrs);
  if (!ss || !ptrs)
    die("out of memory");
  for (size_t i = 0; i < n; i++) {
    fs__signed_change_set__init(&ss[i]);
    ss[i].body.data = sets[i]->body;
    ss[i].body.len = sets[i]->len;
    ss[i].signature.data = sets[i]->sig;
    ss[i].signature.len = FS_SIG_LEN;
    ptrs[i] = &ss[i];
  }
  Fs__Push pu = FS__PUSH__INIT;
  pu.n_sets = n;
  pu.sets = ptrs;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_PUSH;
  env.push = &pu;
  send_env(p, &env);
  free(ss);
  free(ptrs);
  Fs__Envelope *a = recv_env(p);
  if (!a)
    return false;
  bool ok = a->msg_case == FS__ENVELOPE__MSG_ACK;
  if (ok) {
    if (a->ack->n_items != n)
      printf("ack count=%zu expected=%zu\n", a->ack->n_items, n);
    for (size_t i = 0; i < a->ack->n_items; i++) {
      const Fs__AckItem *it = a->ack->items[i];
      char idhex[2 * FS_HASH_LEN + 1] = "";
      if (it->id.len == FS_HASH_LEN)
        fs_hex_encode(idhex, it->id.data, FS_HASH_LEN);
      bool id_ok = i < n && it->id.len == FS_HASH_LEN &&
                   memcmp(it->id.data, sets[i]->id, FS_HASH_LEN) == 0;
      printf("ack status=%s seq=%llu head=%llu id=%s reason=%s\n", status_name(it->status),
             (unsigned long long)it->seq, (unsigned long long)it->head_seq,
             id_ok ? "ok" : "MISMATCH", it->reason);
    }
  } else if (!print_error(a)) {
    printf("unexpected message %d instead of Ack\n", (int)a->msg_case);
  }
  fs__envelope__free_unpacked(a, NULL);
  if (!ok)
    expect_close(p);
  return ok;
}

static bool push1(peer *p, sset *s) {
  sset *one[1] = {s};
  return push(p, one, 1);
}

static const uint8_t zero_hash[FS_HASH_LEN];

/* The first occurrence of needle in hay, or NULL. */
static uint8_t *find_bytes(uint8_t *hay, size_t n, const void *needle, size_t m) {
  for (size_t i = 0; m <= n && i <= n - m; i++)
    if (memcmp(hay + i, needle, m) == 0)
      return hay + i;
  return NULL;
}

/* ------------------------------------------------------------- scenarios */

static int scenario_hello(peer *p, const char *server) {
  if (handshake(p, server))
    hang_up(p);
  return 0;
}

static int scenario_forge(peer *p, const char *server) {
  static const char value[] = "forged-value: chuyển 2 khẩu súng";
  sset s;
  make_set(p, &s, 1, zero_hash, p->area, "forge0001", value);
  /* Flip one bit of the value, inside the signed body: it still decodes,
   * but the signature no longer covers these bytes. */
  uint8_t *at = find_bytes(s.body, s.len, value, sizeof value - 1);
  if (!at)
    die("the value is not in the body");
  uint8_t *orig = malloc(s.len);
  if (!orig)
    die("out of memory");
  memcpy(orig, s.body, s.len);
  at[0] ^= 0x01;
  sset forged = s;
  fs_changeset_id(forged.body, forged.len, forged.id);
  if (!handshake(p, server))
    return 0;
  printf("step forged\n");
  if (!push1(p, &forged))
    return 0;
  /* The untouched original proves the forgery left the chain untouched. */
  memcpy(s.body, orig, s.len);
  free(orig);
  printf("step original\n");
  if (push1(p, &s))
    hang_up(p);
  free_set(&s);
  return 0;
}

static int scenario_replay(peer *p, const char *server) {
  sset s1, s2;
  make_set(p, &s1, 1, zero_hash, p->area, "replay0001", "lần đầu");
  make_set(p, &s2, 2, s1.id, p->area, "replay0001", "lần hai");
  if (!handshake(p, server))
    return 0;
  printf("step first\n");
  if (!push1(p, &s1))
    return 0;
  printf("step again\n");
  if (!push1(p, &s1))
    return 0;
  hang_up(p);
  if (!handshake(p, server))
    return 0;
  printf("step new-connection\n");
  if (!push1(p, &s1))
    return 0;
  printf("step twice-in-one-push\n");
  sset *two[2] = {&s2, &s2};
  if (push(p, two, 2))
    hang_up(p);
  free_set(&s1);
  free_set(&s2);
  return 0;
}

static int scenario_fork(peer *p, const char *server) {
  sset a, b;
  make_set(p, &a, 1, zero_hash, p->area, "fork0001", "bản gốc");
  make_set(p, &b, 1, zero_hash, p->area, "fork0001", "bản khác");
  if (!handshake(p, server))
    return 0;
  printf("step first\n");
  if (!push1(p, &a))
    return 0;
  printf("step fork\n");
  if (push1(p, &b))
    hang_up(p);
  free_set(&a);
  free_set(&b);
  return 0;
}

static int scenario_gap(peer *p, const char *server) {
  sset s1, s2, s3;
  make_set(p, &s1, 1, zero_hash, p->area, "gap0001", "một");
  make_set(p, &s2, 2, s1.id, p->area, "gap0001", "hai");
  make_set(p, &s3, 3, s2.id, p->area, "gap0001", "ba");
  if (!handshake(p, server))
    return 0;
  printf("step first\n");
  if (!push1(p, &s1))
    return 0;
  printf("step gap\n");
  if (push1(p, &s3))
    hang_up(p);
  free_set(&s1);
  free_set(&s2);
  free_set(&s3);
  return 0;
}

static int scenario_scope(peer *p, const char *server) {
  char other[FS_MAX_AREA + 1];
  /* A sibling of the device's own area: same parent, different leaf. */
  snprintf(other, sizeof other, "%.100sX", p->area);
  sset s;
  make_set(p, &s, 1, zero_hash, other, "scope0001", "ngoài địa bàn");
  if (!handshake(p, server))
    return 0;
  printf("step outside area=%s\n", other);
  if (push1(p, &s))
    hang_up(p);
  free_set(&s);
  return 0;
}

/* seq 1 written with a clock two days ahead of now, then a normal seq 1:
 * a device must not make its writes win every merge by its clock. */
static int scenario_future(peer *p, const char *server) {
  sset fut, now;
  p->hlc = fs_hlc_make(fs_hlc_now_ms() + 2ull * 24 * 3600 * 1000, 0);
  make_set(p, &fut, 1, zero_hash, p->area, "future0001", "ngày mai");
  p->hlc = 0;
  make_set(p, &now, 1, zero_hash, p->area, "future0001", "hôm nay");
  if (!handshake(p, server))
    return 0;
  printf("step two-days-ahead\n");
  if (!push1(p, &fut))
    return 0;
  printf("step now\n");
  if (push1(p, &now))
    hang_up(p);
  free_set(&fut);
  free_set(&now);
  return 0;
}

/* Sends one Pull from cursor 0 and prints the Records batch it gets. */
static bool pull_once(peer *p) {
  Fs__Pull pl = FS__PULL__INIT;
  pl.cursor = 0;
  pl.max = 1;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_PULL;
  env.pull = &pl;
  send_env(p, &env);
  Fs__Envelope *r = recv_env(p);
  if (!r)
    return false;
  bool ok = r->msg_case == FS__ENVELOPE__MSG_RECORDS;
  if (ok)
    printf("records n=%zu more=%d\n", r->records->n_states, (int)r->records->more);
  else if (!print_error(r))
    printf("unexpected message %d instead of Records\n", (int)r->msg_case);
  fs__envelope__free_unpacked(r, NULL);
  return ok;
}

/* Opens a session (hold: and pulls once, as a laptop would; hold-quiet:
 * says nothing after Hello), prints "ready", then waits (at most
 * IO_TIMEOUT_S * 4) for a line on stdin before pushing seq 1 on that same
 * connection: shows that a session stays served while other connections
 * misbehave, and how long an idle session is kept. */
static int hold(peer *p, const char *server, bool quiet) {
  sset s;
  make_set(p, &s, 1, zero_hash, p->area, "hold0001", "phiên vẫn mở");
  if (!handshake(p, server))
    return 0;
  if (!quiet && !pull_once(p))
    return 0;
  printf("ready\n");
  struct pollfd pfd = {.fd = 0, .events = POLLIN};
  int n = poll(&pfd, 1, IO_TIMEOUT_S * 4 * 1000);
  if (n <= 0)
    die("no go-ahead on stdin within %d s", IO_TIMEOUT_S * 4);
  char line[64];
  if (!fgets(line, sizeof line, stdin))
    die("stdin ended before the go-ahead");
  printf("step push-on-held-connection\n");
  if (push1(p, &s))
    hang_up(p);
  free_set(&s);
  return 0;
}

static int scenario_hold(peer *p, const char *server) { return hold(p, server, false); }
static int scenario_hold_quiet(peer *p, const char *server) { return hold(p, server, true); }

/* Sends on a second connection the Hello signed for the first (a captured
 * proof replayed): it covers the first connection's transcript only. */
static int scenario_hello_replay(peer *p, const char *server) {
  fs_bconn first;
  int rc = fs_bconn_open(&first, server, p->dev.netkey, IO_TIMEOUT_S * 1000);
  if (rc)
    die("cannot connect to %s: %s", server, fs_strerror(rc));
  Fs__Hello h;
  uint8_t sig[FS_SIG_LEN];
  fs_certlist certs;
  fill_hello(p, &first, &h, sig, &certs);
  if (!connect_to(p, server) || !read_server_hello(p))
    return 0;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_HELLO;
  env.hello = &h;
  printf("step replayed-hello\n");
  send_env(p, &env);
  fs_certlist_free(&certs);
  fs_bconn_close(&first);
  Fs__Envelope *e = recv_env(p);
  if (!e)
    return 0;
  if (e->msg_case == FS__ENVELOPE__MSG_WELCOME)
    printf("welcome area=%s\n", e->welcome->area);
  else if (!print_error(e))
    printf("unexpected message %d\n", (int)e->msg_case);
  fs__envelope__free_unpacked(e, NULL);
  expect_close(p);
  return 0;
}

/* Pushes a valid change set before saying Hello. */
static int scenario_early_push(peer *p, const char *server) {
  sset s;
  make_set(p, &s, 1, zero_hash, p->area, "early0001", "chưa chào");
  if (!connect_to(p, server) || !read_server_hello(p))
    return 0;
  printf("step push-before-hello\n");
  push1(p, &s);
  free_set(&s);
  return 0;
}

/* A plain TCP connection to server, nothing sent. */
static int raw_connect(const char *server) {
  struct sockaddr_storage ss;
  if (fs_addr_parse(server, &ss) != 0)
    die("'%s' is not HOST:PORT", server);
  int fd = socket(ss.ss_family, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)) != 0)
    die("cannot connect to %s: %s", server, strerror(errno));
  return fd;
}

/* Opens a TCP connection and says nothing, not even the handshake: prints
 * how long the server waited before closing ("waited N s"). */
static int scenario_silent(peer *p, const char *server) {
  (void)p;
  int fd = raw_connect(server);
  printf("step silent\n");
  uint64_t t0 = fs_hlc_now_ms();
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  char c;
  if (poll(&pfd, 1, IO_TIMEOUT_S * 1000) <= 0)
    die("the server kept a silent connection %d s", IO_TIMEOUT_S);
  ssize_t n = recv(fd, &c, 1, 0);
  printf("%s\n", n > 0 ? "unexpected bytes" : "closed");
  close(fd);
  printf("waited %llu s\n", (unsigned long long)((fs_hlc_now_ms() - t0 + 500) / 1000));
  return 0;
}

#define DRIP_MAX 30 /* bytes (one a second): fewer than any opening or frame needs */

/* Reads what waits on fd; true when the server has closed it. */
static bool server_closed(int fd) {
  uint8_t buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
    ;
  return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

/* Sends fd one junk byte a second, up to DRIP_MAX, until the server closes
 * it: prints "closed" and "waited N s" since t0, or "still open after N s". */
static void drip(int fd, uint64_t t0) {
  bool closed = false;
  for (int i = 0; i < DRIP_MAX && !closed; i++) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    closed = (poll(&pfd, 1, 1000) > 0 && server_closed(fd)) ||
             send(fd, "x", 1, MSG_NOSIGNAL) != 1;
  }
  unsigned long long s = (fs_hlc_now_ms() - t0 + 500) / 1000;
  if (closed)
    printf("closed\nwaited %llu s\n", s);
  else
    printf("still open after %llu s\n", s);
}

/* A stranger (no network key) that keeps its connection busy: one byte of
 * its 64-byte opening a second, never all of it. */
static int scenario_drip(peer *p, const char *server) {
  (void)p;
  uint64_t t0 = fs_hlc_now_ms();
  int fd = raw_connect(server);
  printf("step drip\n");
  drip(fd, t0);
  close(fd);
  return 0;
}

/* The handshake, then no Hello: a frame header and its payload one byte a
 * second, never all of it. */
static int scenario_drip_frame(peer *p, const char *server) {
  uint64_t t0 = fs_hlc_now_ms();
  if (!connect_to(p, server))
    return 0;
  uint8_t hdr[FS_FRAME_HDR] = {0, 0, 4, 0}; /* 1 KiB to come */
  if (fs_bconn_write(&p->b, hdr, sizeof hdr))
    die("cannot send");
  printf("step drip-frame\n");
  drip(p->b.fd, t0);
  return 0;
}

/* Sends a frame header announcing n bytes and prints the Error that
 * answers it. */
static void oversize_header(peer *p, uint32_t n) {
  uint8_t hdr[FS_FRAME_HDR] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                               (uint8_t)n};
  printf("step header length=%u\n", n);
  if (fs_bconn_write(&p->b, hdr, sizeof hdr))
    die("cannot send");
  Fs__Envelope *e = recv_env(p);
  if (!e)
    return;
  if (!print_error(e))
    printf("unexpected message %d instead of Error\n", (int)e->msg_case);
  fs__envelope__free_unpacked(e, NULL);
  expect_close(p);
  hang_up(p);
}

/* After the handshake, before Hello, a frame header announcing more than a
 * Hello may take. */
static int scenario_oversize(peer *p, const char *server) {
  if (connect_to(p, server) && read_server_hello(p))
    oversize_header(p, FS_HELLO_FRAME_MAX + FS_CIPHER_ABYTES + 1);
  return 0;
}

/* After Welcome, a frame header announcing more than any frame may take. */
static int scenario_oversize_ready(peer *p, const char *server) {
  if (handshake(p, server))
    oversize_header(p, FS_FRAME_MAX + FS_CIPHER_ABYTES + 1);
  return 0;
}

/* A correctly encrypted frame whose plaintext is no Envelope. */
static int scenario_garbage(peer *p, const char *server) {
  if (!handshake(p, server))
    return 0;
  /* 0xff bytes: a varint tag that never ends, no Envelope at all. */
  uint8_t frame[FS_FRAME_HDR + 16 + FS_CIPHER_ABYTES];
  memset(frame, 0xff, sizeof frame);
  frame[0] = frame[1] = frame[2] = 0;
  frame[3] = 16 + FS_CIPHER_ABYTES;
  fs_cipher_seal(&p->b.hs.tx, frame + FS_FRAME_HDR, 16, frame, FS_FRAME_HDR);
  printf("step garbage length=16\n");
  if (fs_bconn_write(&p->b, frame, sizeof frame))
    die("cannot send");
  Fs__Envelope *e = recv_env(p);
  if (!e)
    return 0;
  if (!print_error(e))
    printf("unexpected message %d instead of Error\n", (int)e->msg_case);
  fs__envelope__free_unpacked(e, NULL);
  expect_close(p);
  hang_up(p);
  return 0;
}

/* Seals a Pull into a frame without sending it. */
static void sealed_pull(peer *p, uint8_t **f, size_t *n) {
  Fs__Pull pl = FS__PULL__INIT;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_PULL;
  env.pull = &pl;
  if (fs_bconn_seal(&p->b, &env, f, n))
    die("cannot seal a frame");
}

/* Sends frames as given and reports whether the server answered or closed
 * ("answered" / "closed"). */
static void send_frames_and_watch(peer *p, uint8_t *const *frames, const size_t *lens,
                                  size_t n) {
  for (size_t i = 0; i < n; i++)
    if (fs_bconn_write(&p->b, frames[i], lens[i]))
      break;
  for (size_t i = 0; i < n + 1; i++) {
    Fs__Envelope *e;
    int rc = fs_bconn_recv(&p->b, &e);
    if (rc) {
      printf("%s\n", rc == UV_EOF || rc == -ECONNRESET ? "closed" : fs_errname(rc));
      return;
    }
    printf("answered %d\n", (int)e->msg_case);
    fs__envelope__free_unpacked(e, NULL);
  }
}

/* One bit of an encrypted frame flipped in transit. */
static int scenario_tamper(peer *p, const char *server) {
  if (!handshake(p, server))
    return 0;
  uint8_t *f;
  size_t n;
  sealed_pull(p, &f, &n);
  f[n - 3] ^= 0x04;
  printf("step tampered-frame\n");
  send_frames_and_watch(p, &f, &n, 1);
  free(f);
  return 0;
}

/* The same encrypted frame twice (a replay on the wire). */
static int scenario_replay_frame(peer *p, const char *server) {
  if (!handshake(p, server))
    return 0;
  uint8_t *f;
  size_t n;
  sealed_pull(p, &f, &n);
  uint8_t *frames[2] = {f, f};
  size_t lens[2] = {n, n};
  printf("step replayed-frame\n");
  send_frames_and_watch(p, frames, lens, 2);
  free(f);
  return 0;
}

/* Two encrypted frames sent in the opposite order. */
static int scenario_reorder(peer *p, const char *server) {
  if (!handshake(p, server))
    return 0;
  uint8_t *f1, *f2;
  size_t n1, n2;
  sealed_pull(p, &f1, &n1);
  sealed_pull(p, &f2, &n2);
  uint8_t *frames[2] = {f2, f1};
  size_t lens[2] = {n2, n1};
  printf("step reordered-frames\n");
  send_frames_and_watch(p, frames, lens, 2);
  free(f1);
  free(f2);
  return 0;
}

/* An encrypted frame cut short: its header shrunk by 5 bytes, so the tag
 * is wrong and the rest arrives as a new frame. */
static int scenario_truncate(peer *p, const char *server) {
  if (!handshake(p, server))
    return 0;
  uint8_t *f;
  size_t n;
  sealed_pull(p, &f, &n);
  uint32_t clen = (uint32_t)(n - FS_FRAME_HDR - 5);
  f[0] = (uint8_t)(clen >> 24);
  f[1] = (uint8_t)(clen >> 16);
  f[2] = (uint8_t)(clen >> 8);
  f[3] = (uint8_t)clen;
  size_t len = FS_FRAME_HDR + clen;
  printf("step truncated-frame\n");
  send_frames_and_watch(p, &f, &len, 1);
  free(f);
  return 0;
}

/* The handshake with a network key of our own. */
static int scenario_wrong_netkey(peer *p, const char *server) {
  randombytes_buf(p->dev.netkey, sizeof p->dev.netkey);
  printf("step wrong-network-key\n");
  if (connect_to(p, server)) {
    printf("handshake accepted\n");
    hang_up(p);
  }
  return 0;
}

/* ------------------------------------------------- trust tests (issue 4) */

static const char *extra_cert_path; /* --cert, for hello-cert */

/* Sends our Hello with certs[0..n) on the open connection and prints the
 * Welcome or the Error. Returns how long the answer (and a refusal's
 * close) took, in ms. */
static uint64_t present_certs(peer *p, ProtobufCBinaryData *certs, size_t n) {
  printf("step hello certs=%zu\n", n);
  Fs__Hello h;
  uint8_t sig[FS_SIG_LEN];
  fs_hello_fill(&h, sig, &p->b.hs, &p->dev.key, "device", NULL, certs, n);
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_HELLO;
  env.hello = &h;
  send_env(p, &env);
  uint64_t t0 = fs_hlc_now_ms();
  if (await_welcome(p))
    hang_up(p);
  return fs_hlc_now_ms() - t0;
}

/* The handshake presenting the device's certificates and those of
 * extra_cert_path (which the device's store may not hold: fs_certs_accept
 * skips what does not chain to the root). */
static int scenario_hello_cert(peer *p, const char *server) {
  if (!extra_cert_path)
    die("hello-cert needs --cert FILE");
  fs_certfile cf;
  int rc = fs_certfile_read(&cf, extra_cert_path);
  if (rc)
    die("cannot read %s: %s", extra_cert_path, fs_strerror(rc));
  if (!connect_to(p, server) || !read_server_hello(p)) {
    fs_certfile_free(&cf);
    return 0;
  }
  fs_certlist own;
  if ((rc = fs_certlist_collect(&own, &p->dev.store, p->dev.key.pk,
                                FS__CERT_KIND__CERT_DEVICE)))
    die("cannot read the enrolment: %s", fs_strerror(rc));
  ProtobufCBinaryData all[FS_CERTS_PER_HELLO];
  size_t n = 0;
  for (size_t i = 0; i < own.n && n < FS_CERTS_PER_HELLO; i++)
    all[n++] = own.items[i];
  for (size_t i = 0; i < cf.n && n < FS_CERTS_PER_HELLO; i++)
    all[n++] = (ProtobufCBinaryData){cf.lens[i], cf.certs[i]};
  present_certs(p, all, n);
  fs_certlist_free(&own);
  fs_certfile_free(&cf);
  return 0;
}

/* The handshake presenting the device's own certificates, then those of
 * extra_cert_path (or its own again) over and over, opt_count in all: a
 * Hello far over FS_CERTS_PER_HELLO. */
static int scenario_hello_certs(peer *p, const char *server) {
  if (opt_count < 1)
    die("hello-certs needs --count N");
  fs_certfile cf = {.n = 0};
  int rc = extra_cert_path ? fs_certfile_read(&cf, extra_cert_path) : 0;
  if (rc)
    die("cannot read %s: %s", extra_cert_path, fs_strerror(rc));
  if (!connect_to(p, server) || !read_server_hello(p)) {
    fs_certfile_free(&cf);
    return 0;
  }
  fs_certlist own;
  if ((rc = fs_certlist_collect(&own, &p->dev.store, p->dev.key.pk,
                                FS__CERT_KIND__CERT_DEVICE)) || own.n == 0)
    die("cannot read the enrolment: %s", fs_strerror(rc ? rc : FS_ENOTFOUND));
  size_t n = (size_t)opt_count;
  ProtobufCBinaryData *all = calloc(n, sizeof *all);
  if (!all)
    die("out of memory");
  for (size_t i = 0; i < n; i++)
    all[i] = i < own.n || cf.n == 0 ? own.items[i % own.n]
                                    : (ProtobufCBinaryData){cf.lens[i % cf.n], cf.certs[i % cf.n]};
  uint64_t ms = present_certs(p, all, n);
  printf("answered in %llu ms\n", (unsigned long long)ms);
  free(all);
  fs_certlist_free(&own);
  fs_certfile_free(&cf);
  return 0;
}

/* A session that pulls, waits (at most IO_TIMEOUT_S * 4) for a line on
 * stdin, and pulls again on the same connection: what a session opened
 * before a revocation is still given. */
static int scenario_hold_pull(peer *p, const char *server) {
  if (!handshake(p, server) || !pull_once(p))
    return 0;
  printf("ready\n");
  struct pollfd pfd = {.fd = 0, .events = POLLIN};
  if (poll(&pfd, 1, IO_TIMEOUT_S * 4 * 1000) <= 0)
    die("no go-ahead on stdin within %d s", IO_TIMEOUT_S * 4);
  char line[64];
  if (!fgets(line, sizeof line, stdin))
    die("stdin ended before the go-ahead");
  printf("step pull-on-held-connection\n");
  if (pull_once(p))
    hang_up(p);
  return 0;
}

/* A peer that asks and never reads: after Welcome, up to --count Pulls of
 * everything (cursor 0), not one answer read. Prints "sent N pulls" and
 * then either "closed after N pulls: ERR" (the server dropped it: a write
 * failed) or "ready" followed, after a line on stdin, by "still open" or
 * "closed" (whether the server ended it meanwhile). */
static int scenario_noread(peer *p, const char *server) {
  if (!handshake(p, server))
    return 0;
  p->b.timeout_ms = 5000; /* a server that stopped reading us is a result too */
  Fs__Pull pl = FS__PULL__INIT;
  pl.max = 512;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_PULL;
  env.pull = &pl;
  long n = 0;
  int rc = 0;
  long pulls = opt_count >= 0 ? opt_count : 1000;
  for (; n < pulls && (rc = fs_bconn_send(&p->b, &env)) == 0; n++)
    ;
  printf("sent %ld pulls\n", n);
  if (rc) {
    printf("closed after %ld pulls: %s\n", n, fs_errname(rc));
    return 0;
  }
  printf("ready\n");
  struct pollfd pfd = {.fd = 0, .events = POLLIN};
  if (poll(&pfd, 1, IO_TIMEOUT_S * 4 * 1000) > 0) {
    char line[64];
    if (!fgets(line, sizeof line, stdin))
      line[0] = 0;
  }
  /* Did the server end it? Read (and drop) what it queued for us: an end
   * of stream or a reset says closed, running dry says still open. */
  static uint8_t sink[65536];
  ssize_t got;
  while ((got = recv(p->b.fd, sink, sizeof sink, MSG_DONTWAIT)) > 0)
    ;
  printf("%s\n", got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? "still open" : "closed");
  return 0;
}

/* --count N Pulls of one record each, all sent before any answer is read
 * (a laptop's sync sends one at a time): more frames than a laptop may
 * send at once, so the server reads the rest at its rate. */
static int scenario_flood(peer *p, const char *server) {
  if (!handshake(p, server))
    return 0;
  Fs__Pull pl = FS__PULL__INIT;
  pl.max = 1;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_PULL;
  env.pull = &pl;
  long pulls = opt_count >= 0 ? opt_count : 1000, answered = 0;
  for (long n = 0; n < pulls; n++)
    send_env(p, &env);
  for (; answered < pulls; answered++) {
    Fs__Envelope *r = recv_env(p);
    if (!r)
      break;
    bool ok = r->msg_case == FS__ENVELOPE__MSG_RECORDS;
    if (!ok && !print_error(r))
      printf("unexpected message %d instead of Records\n", (int)r->msg_case);
    fs__envelope__free_unpacked(r, NULL);
    if (!ok)
      break;
  }
  printf("answered %ld of %ld\n", answered, pulls);
  return 0;
}

/* seq 1: a tip whose sealed informant_name travels in clear. */
static int scenario_clear_sealed(peer *p, const char *server) {
  static const char *const names[] = {"received_at", "channel", "content", "status",
                                      "informant_name"};
  const char *values[] = {"2026-11-20T08:00", "in_person", "tin báo thử", "received",
                          "CLEARTEXT-INFORMANT Đinh Văn Lộ"};
  p->hlc = fs_hlc_tick(p->hlc, fs_hlc_now_ms());
  Fs__FieldWrite fw[5], *fwp[5];
  for (size_t i = 0; i < 5; i++) {
    fs__field_write__init(&fw[i]);
    fw[i].name = (char *)names[i];
    fw[i].value.data = (uint8_t *)values[i];
    fw[i].value.len = strlen(values[i]);
    fw[i].hlc = p->hlc;
    fwp[i] = &fw[i];
  }
  Fs__Change ch = FS__CHANGE__INIT;
  Fs__Change *chp = &ch;
  ch.record_id = "clear0001";
  ch.record_type = "tip";
  ch.n_writes = 5;
  ch.writes = fwp;
  Fs__ChangeSet cs = FS__CHANGE_SET__INIT;
  cs.device.data = p->dev.key.pk;
  cs.device.len = FS_PK_LEN;
  cs.seq = 1;
  cs.prev.data = (uint8_t *)zero_hash;
  cs.prev.len = FS_HASH_LEN;
  cs.hlc = p->hlc;
  cs.area = p->area;
  cs.n_changes = 1;
  cs.changes = &chp;
  sset s;
  int rc = fs_changeset_seal(&cs, p->dev.key.sk, &s.body, &s.len, s.sig, s.id);
  if (rc)
    die("cannot seal a change set: %s", fs_strerror(rc));
  s.seq = 1;
  if (!handshake(p, server))
    return 0;
  printf("step informant-in-clear\n");
  if (push1(p, &s))
    hang_up(p);
  free_set(&s);
  return 0;
}

/* ------------------------------------------------------------ a fake node */

/* Prints the Ack of a node's push (sets in order) or the Error. */
static void print_ack_or_error(Fs__Envelope *a) {
  if (a->msg_case == FS__ENVELOPE__MSG_ACK) {
    for (size_t i = 0; i < a->ack->n_items; i++) {
      const Fs__AckItem *it = a->ack->items[i];
      printf("ack status=%s seq=%llu head=%llu reason=%s\n", status_name(it->status),
             (unsigned long long)it->seq, (unsigned long long)it->head_seq, it->reason);
    }
  } else if (!print_error(a)) {
    printf("unexpected message %d\n", (int)a->msg_case);
  }
}

/* Poses as a child node (its real key and certificate) and pushes a
 * laptop's outbox to the server: verbatim (a relay), altered (one body
 * byte flipped, the laptop's signature kept) or invented (a set the node
 * signed itself as if it were a device). */
/* A node's key, the network key and the node's certificate file. */
static void load_node(const char *nodekey, const char *nodecert, const char *netkey_path,
                      fs_keypair *kp, uint8_t netkey[FS_NETKEY_LEN], fs_certfile *cf) {
  int rc;
  if ((rc = fs_keypair_load(kp, nodekey)) || (rc = fs_netkey_load(netkey, netkey_path)) ||
      (rc = fs_certfile_read(cf, nodecert)))
    die("cannot load the node's key, network key or certificate: %s", fs_strerror(rc));
}

/* Pushes sets[0..n) one per Push, up to 16 in flight (a parent reads that
 * many of a child's before it stops), and counts the Acks. */
static void relay_stream(fs_bconn *b, Fs__SignedChangeSet **sets, size_t n) {
  enum { WINDOW = 16 };
  size_t sent = 0, acked = 0, stored = 0, dup = 0, other = 0;
  while (acked < n) {
    for (; sent < n && sent - acked < WINDOW; sent++) {
      Fs__Push pu = FS__PUSH__INIT;
      pu.n_sets = 1;
      pu.sets = &sets[sent];
      pu.log_last = sent + 1;
      Fs__Envelope env = FS__ENVELOPE__INIT;
      env.msg_case = FS__ENVELOPE__MSG_PUSH;
      env.push = &pu;
      int rc = fs_bconn_send(b, &env);
      if (rc)
        die("cannot push: %s", fs_strerror(rc));
    }
    Fs__Envelope *a;
    if (fs_bconn_recv(b, &a) != 0) {
      printf("closed after %zu acks\n", acked);
      break;
    }
    if (a->msg_case != FS__ENVELOPE__MSG_ACK || a->ack->n_items != 1) {
      print_ack_or_error(a);
      fs__envelope__free_unpacked(a, NULL);
      break;
    }
    Fs__AckStatus st = a->ack->items[0]->status;
    stored += st == FS__ACK_STATUS__ACK_STORED;
    dup += st == FS__ACK_STATUS__ACK_DUPLICATE;
    other += st != FS__ACK_STATUS__ACK_STORED && st != FS__ACK_STATUS__ACK_DUPLICATE;
    acked++;
    fs__envelope__free_unpacked(a, NULL);
  }
  printf("acks stored=%zu duplicate=%zu other=%zu\n", stored, dup, other);
}

static int cmd_relay(const char *nodekey, const char *nodecert, const char *netkey_path,
                     const char *server, const char *devdir, const char *mode) {
  fs_keypair kp;
  uint8_t netkey[FS_NETKEY_LEN];
  fs_certfile cf;
  int rc;
  load_node(nodekey, nodecert, netkey_path, &kp, netkey, &cf);
  ProtobufCBinaryData certs[FS_CERTFILE_MAX];
  for (size_t i = 0; i < cf.n; i++)
    certs[i] = (ProtobufCBinaryData){cf.lens[i], cf.certs[i]};
  fs_device dev;
  if ((rc = fs_device_open(&dev, devdir)))
    die("cannot open the device in %s: %s", devdir, fs_strerror(rc));
  /* The laptop's signed sets, as a commune would hold them in its log. */
  /* One Push carries at most FS_PUSH_SETS_MAX; a stream any number. */
  size_t cap = strcmp(mode, "stream") == 0 ? 8192 : FS_PUSH_SETS_MAX, n = 0;
  Fs__SignedChangeSet **sets = calloc(cap, sizeof *sets);
  if (!sets)
    die("out of memory");
  MDB_txn *txn;
  MDB_cursor *cur;
  MDB_val k, v;
  if (fs_store_begin(&dev.store, false, &txn) != 0 ||
      mdb_cursor_open(txn, dev.store.outbox, &cur) != 0)
    die("cannot read the outbox");
  for (int r = mdb_cursor_get(cur, &k, &v, MDB_FIRST); r == 0 && n < cap;
       r = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    if ((sets[n] = fs__signed_change_set__unpack(NULL, v.mv_size, v.mv_data)))
      n++;
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  sset invented = {0};
  Fs__SignedChangeSet inv = FS__SIGNED_CHANGE_SET__INIT;
  if (strcmp(mode, "altered") == 0) {
    for (size_t i = 0; i < n; i++)
      sets[i]->body.data[sets[i]->body.len - 1] ^= 0x01;
  } else if (strcmp(mode, "invented") == 0) {
    peer p = {.open = false};
    p.dev.key = kp; /* the node signs "as a device" */
    if ((rc = fs_device_area(&dev, p.area)))
      die("cannot read the device's area");
    make_set(&p, &invented, 1, zero_hash, p.area, "invented0001", "bịa đặt");
    inv.body = (ProtobufCBinaryData){invented.len, invented.body};
    inv.signature = (ProtobufCBinaryData){FS_SIG_LEN, invented.sig};
  } else if (strcmp(mode, "verbatim") != 0 && strcmp(mode, "stream") != 0) {
    die("mode must be verbatim, altered, invented or stream");
  }
  fs_bconn b;
  if ((rc = fs_bconn_open(&b, server, netkey, IO_TIMEOUT_S * 1000))) {
    printf("closed handshake\n");
    return 0;
  }
  Fs__Envelope *reply;
  if ((rc = fs_bconn_login(&b, &kp, "node", "fake-node", certs, cf.n, NULL, &reply)))
    die("login failed: %s", fs_strerror(rc));
  if (reply->msg_case == FS__ENVELOPE__MSG_WELCOME && strcmp(mode, "stream") == 0) {
    printf("welcome area=%s\n", reply->welcome->area);
    relay_stream(&b, sets, n);
  } else if (reply->msg_case == FS__ENVELOPE__MSG_WELCOME) {
    printf("welcome area=%s\n", reply->welcome->area);
    Fs__SignedChangeSet *one[1] = {&inv};
    Fs__Push pu = FS__PUSH__INIT;
    pu.n_sets = invented.body ? 1 : n;
    pu.sets = invented.body ? one : sets;
    pu.log_last = pu.n_sets;
    Fs__Envelope env = FS__ENVELOPE__INIT;
    env.msg_case = FS__ENVELOPE__MSG_PUSH;
    env.push = &pu;
    if ((rc = fs_bconn_send(&b, &env)))
      die("cannot push: %s", fs_strerror(rc));
    Fs__Envelope *a;
    if ((rc = fs_bconn_recv(&b, &a)) == 0) {
      print_ack_or_error(a);
      fs__envelope__free_unpacked(a, NULL);
    } else {
      printf("closed\n");
    }
  } else {
    print_ack_or_error(reply);
  }
  fs__envelope__free_unpacked(reply, NULL);
  fs_bconn_close(&b);
  for (size_t i = 0; i < n; i++)
    fs__signed_change_set__free_unpacked(sets[i], NULL);
  free(sets);
  free_set(&invented);
  fs_device_close(&dev);
  fs_certfile_free(&cf);
  fs_keypair_free(&kp);
  return 0;
}

/* ---------------------------------------------------------- a fake parent */

/* Accepts one connection on 127.0.0.1:port within IO_TIMEOUT_S. */
static int accept_one(const char *port) {
  int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 4) != 0)
    die("cannot listen on 127.0.0.1:%s: %s", port, strerror(errno));
  printf("listening\n");
  struct pollfd pfd = {.fd = lfd, .events = POLLIN};
  if (poll(&pfd, 1, IO_TIMEOUT_S * 1000) <= 0)
    die("no child connected within %d s", IO_TIMEOUT_S);
  int fd = accept(lfd, NULL, NULL);
  if (fd < 0)
    die("accept: %s", strerror(errno));
  close(lfd);
  return fd;
}

/* Poses as a child node's parent (the parent's real key and certificate):
 * the server side of the handshake, then the parent's Hello with its
 * certificates repeated to count; prints what the child answers. */
static int cmd_parent(const char *port, const char *nodekey, const char *nodecert,
                      const char *netkey_path, long count) {
  fs_keypair kp;
  uint8_t netkey[FS_NETKEY_LEN];
  fs_certfile cf;
  load_node(nodekey, nodecert, netkey_path, &kp, netkey, &cf);
  if (cf.n == 0)
    die("%s holds no certificate", nodecert);
  fs_bconn b;
  uint8_t hs[FS_HS_HELLO_LEN];
  if (fs_bconn_accept(&b, accept_one(port), netkey, IO_TIMEOUT_S * 1000, hs) != 0)
    die("the child's handshake failed");
  if (fs_bconn_write(&b, hs, sizeof hs) != 0)
    die("cannot answer the child's handshake");
  ProtobufCBinaryData *certs = calloc((size_t)count, sizeof *certs);
  if (!certs)
    die("out of memory");
  for (long i = 0; i < count; i++)
    certs[i] = (ProtobufCBinaryData){cf.lens[i % cf.n], cf.certs[i % cf.n]};
  printf("step hello certs=%ld\n", count);
  Fs__Hello h;
  uint8_t sig[FS_SIG_LEN];
  fs_hello_fill(&h, sig, &b.hs, &kp, "server", "fake-parent", certs, (size_t)count);
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_HELLO;
  env.hello = &h;
  int rc = fs_bconn_send(&b, &env);
  if (rc)
    die("cannot send the Hello: %s", fs_strerror(rc));
  for (int i = 0; i < 8; i++) {
    Fs__Envelope *e;
    if ((rc = fs_bconn_recv(&b, &e))) {
      printf("closed\n");
      break;
    }
    if (e->msg_case == FS__ENVELOPE__MSG_HELLO)
      printf("hello role=%s\n", e->hello->role);
    else if (!print_error(e))
      printf("message %d\n", (int)e->msg_case);
    bool hello = e->msg_case == FS__ENVELOPE__MSG_HELLO;
    fs__envelope__free_unpacked(e, NULL);
    if (hello)
      break;
  }
  fs_bconn_close(&b);
  free(certs);
  fs_certfile_free(&cf);
  fs_keypair_free(&kp);
  return 0;
}

/* ------------------------------------------------------------ local tools */

static int cmd_freeport(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    die("socket: %s", strerror(errno));
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0)
    die("cannot bind 127.0.0.1:0: %s", strerror(errno));
  printf("%u\n", ntohs(a.sin_port));
  close(fd);
  return 0;
}

/* N edits through the client library, as fieldsync edit would make them,
 * each sealed at once into its own change set (`fieldsync seal` after
 * every edit): the tests want many sets in the outbox, not one; with
 * pending, left pending (a patrol's edits, sealed by the sync). No fsync
 * each: MDB_NOSYNC while editing, one sync at the end (a crash of this
 * helper is not what the tests examine). */
static int cmd_edits(const char *dir, long count, long records, const char *prefix,
                     bool pending) {
  fs_device d;
  int rc = fs_device_open(&d, dir);
  if (rc)
    die("cannot open the device in %s: %s", dir, fs_strerror(rc));
  char area[FS_MAX_AREA + 1];
  if ((rc = fs_device_area(&d, area)))
    die("cannot read the device's area: %s", fs_strerror(rc));
  if ((rc = mdb_env_set_flags(d.store.env, MDB_NOSYNC, 1)))
    die("mdb_env_set_flags: %s", mdb_strerror(rc));
  for (long i = 0; i < count; i++) {
    char id[48], val[64];
    snprintf(id, sizeof id, "%.16s%05ld", prefix, i % records);
    snprintf(val, sizeof val, "lượt tuần tra %ld", i);
    /* A patrol with its required fields (schema.h), notes changing. */
    static const char start[] = "2026-11-20T20:00", end[] = "2026-11-20T23:30",
                      route[] = "Thôn 1 → Thôn 3 → chợ Đắk Nên";
    fs_write w[4] = {{"start", (const uint8_t *)start, sizeof start - 1},
                     {"end", (const uint8_t *)end, sizeof end - 1},
                     {"route", (const uint8_t *)route, sizeof route - 1},
                     {"notes", (const uint8_t *)val, strlen(val)}};
    fs_seal_result sealed;
    if ((rc = fs_device_edit(&d, area, id, "patrol", w, 4, false)) ||
        (!pending && (rc = fs_device_seal(&d, 0, &sealed))))
      die("edit %ld failed: %s", i, fs_strerror(rc));
  }
  if ((rc = mdb_env_sync(d.store.env, 1)))
    die("mdb_env_sync: %s", mdb_strerror(rc));
  fs_device_close(&d);
  printf("%ld\n", count);
  return 0;
}

static void load_device(peer *p, const char *dir) {
  int rc = fs_device_open(&p->dev, dir);
  if (rc)
    die("cannot open the device in %s: %s", dir, fs_strerror(rc));
  if (!p->dev.has_netkey)
    die("the device in %s has no network.key", dir);
  if ((rc = fs_device_area(&p->dev, p->area)))
    die("cannot read the device's area: %s", fs_strerror(rc));
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) {
    fputs(usage_text, stderr);
    return EXIT_USAGE;
  }
  if (fs_crypto_init() != 0)
    die("libsodium failed to initialise");
  const char *cmd = argv[1], *dir = NULL, *server = NULL, *node_key = NULL,
             *node_cert = NULL, *netkey = NULL, *mode = NULL, *listen_port = NULL, *prefix = "bulk";
  long count = -1, records = 100;
  for (int i = 2; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(argv[i], "--dir") == 0 && v)
      dir = v;
    else if (strcmp(argv[i], "--server") == 0 && v)
      server = v;
    else if (strcmp(argv[i], "--node-key") == 0 && v)
      node_key = v;
    else if (strcmp(argv[i], "--node-cert") == 0 && v)
      node_cert = v;
    else if (strcmp(argv[i], "--network-key") == 0 && v)
      netkey = v;
    else if (strcmp(argv[i], "--mode") == 0 && v)
      mode = v;
    else if (strcmp(argv[i], "--listen") == 0 && v)
      listen_port = v;
    else if (strcmp(argv[i], "--cert") == 0 && v)
      extra_cert_path = v;
    else if (strcmp(argv[i], "--count") == 0 && v)
      count = opt_count = strtol(v, NULL, 10);
    else if (strcmp(argv[i], "--records") == 0 && v)
      records = strtol(v, NULL, 10);
    else if (strcmp(argv[i], "--prefix") == 0 && v)
      prefix = v;
    else {
      fprintf(stderr, "fs_testpeer: bad argument '%s'\n%s", argv[i], usage_text);
      return EXIT_USAGE;
    }
    i++;
  }
  if (strcmp(cmd, "freeport") == 0)
    return cmd_freeport();
  if (strcmp(cmd, "relay") == 0) {
    if (!dir || !server || !node_key || !node_cert || !netkey || !mode) {
      fputs(usage_text, stderr);
      return EXIT_USAGE;
    }
    return cmd_relay(node_key, node_cert, netkey, server, dir, mode);
  }
  if (strcmp(cmd, "parent") == 0) {
    if (!listen_port || !node_key || !node_cert || !netkey || count < 1) {
      fputs(usage_text, stderr);
      return EXIT_USAGE;
    }
    return cmd_parent(listen_port, node_key, node_cert, netkey, count);
  }
  if (strcmp(cmd, "edits") == 0) {
    if (!dir || count < 0 || records < 1 || (mode && strcmp(mode, "pending") != 0)) {
      fputs(usage_text, stderr);
      return EXIT_USAGE;
    }
    return cmd_edits(dir, count, records, prefix, mode != NULL);
  }
  static const struct {
    const char *name;
    int (*run)(peer *, const char *);
  } scenarios[] = {{"hello", scenario_hello},       {"forge", scenario_forge},
                   {"replay", scenario_replay},     {"fork", scenario_fork},
                   {"gap", scenario_gap},           {"scope", scenario_scope},
                   {"oversize", scenario_oversize}, {"garbage", scenario_garbage},
                   {"oversize-ready", scenario_oversize_ready},
                   {"hold", scenario_hold},         {"hello-replay", scenario_hello_replay},
                   {"early-push", scenario_early_push}, {"silent", scenario_silent},
                   {"hold-quiet", scenario_hold_quiet}, {"future", scenario_future},
                   {"tamper", scenario_tamper},     {"replay-frame", scenario_replay_frame},
                   {"reorder", scenario_reorder},   {"truncate", scenario_truncate},
                   {"wrong-netkey", scenario_wrong_netkey},
                   {"hello-cert", scenario_hello_cert}, {"hello-certs", scenario_hello_certs},
                   {"clear-sealed", scenario_clear_sealed},
                   {"hold-pull", scenario_hold_pull}, {"noread", scenario_noread},
                   {"drip", scenario_drip},         {"drip-frame", scenario_drip_frame},
                   {"flood", scenario_flood}};
  for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
    if (strcmp(cmd, scenarios[i].name) != 0)
      continue;
    if (!dir || !server) {
      fputs(usage_text, stderr);
      return EXIT_USAGE;
    }
    peer p = {.open = false};
    load_device(&p, dir);
    int rc = scenarios[i].run(&p, server);
    if (p.open)
      fs_bconn_close(&p.b);
    fs_device_close(&p.dev);
    return rc;
  }
  fprintf(stderr, "fs_testpeer: unknown command '%s'\n%s", cmd, usage_text);
  return EXIT_USAGE;
}
