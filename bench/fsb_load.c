/* fsb_load.c - a load generator that speaks the fieldsync protocol directly.
 *
 * Many simulated laptops in one process on one libuv loop. Each runs the
 * real client side of a session (common/conn.c: secret handshake with the
 * network key, encrypted frames; then the server's Hello is checked and the
 * laptop's Hello with its enrolment certificate is sent, as client/sync.c
 * does), then pushes change sets sealed with fs_changeset_seal before the
 * clock starts, so signing costs nothing while the server is measured.
 * Device keys are derived from (tag, index); each laptop's enrolment
 * (CERT_DEVICE) is issued here with the deployment's root key, exactly as
 * `fieldsyncd admin enrol` issues it. Every command that connects takes
 *   --netkey NETWORK_KEY_FILE --root-key ROOT_SECRET_KEY_FILE
 *
 *   fsb_load ingest --server ADDR --tag T --laptops N --sets M --batch B
 *       --area A [--pid SERVER_PID] [--name PREFIX] [--timeout S]
 *       N laptops push M sets each, B per Push, all at once; durable sets/s,
 *       send->Ack p50/p99, server CPU per set and peak RSS
 *   fsb_load tree --servers A1,A2,... --areas a1,a2,... --tag T
 *       --laptops-per-server L --rate R --seconds S --watch PROVINCE_DATA
 *       [--idle K] [--timeout S]
 *       K single sets one at a time (idle), then R sets/s for S seconds
 *       falling due round robin over the laptops (open loop: a laptop
 *       pushes everything due, up to 64 sets, whenever its previous Push
 *       is acknowledged); the time from the commune's Ack to the
 *       province's commit (seen by reading the province's LMDB log)
 *   fsb_load conns --server ADDR --tag T --count C --area A --pid SERVER_PID
 *       [--window W] [--timeout S]
 *       C laptops connect and complete the handshake, then idle; time to
 *       accept them all and the server's memory per idle connection
 *   fsb_load waitlog --data DIR --count N [--pid PID] [--timeout S] [--name P]
 *       waits until the node at DIR has N sets in its log; prints the time
 *       and PID's peak memory meanwhile (catch-up)
 *
 * Every phase is bounded by --timeout (and every loop by a count); the
 * process ends by itself. Servers are only ever reached on the address
 * given, which bench/run sets to 127.0.0.1.
 */
#include "fsb.h"

#include "changeset.h"
#include "conn.h"
#include "error.h"
#include "frame.h"
#include "hello.h"
#include "hex.h"
#include "hlc.h"
#include "store.h"
#include "sync.h" /* FS_SYNC_PIPELINE: Pushes in flight, as a laptop keeps them */

#include <errno.h>
#include <lmdb.h>
#include <signal.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

static double self_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

#include "cert.h"

#include <stdarg.h>
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("fsb_load: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

/* ------------------------------------------------------------------ state */

typedef struct set_meta {
  uint8_t id[FS_HASH_LEN];
  uint64_t t_due, t_send, t_ack, t_prov; /* ns, 0: not yet */
} set_meta;

typedef struct frame {
  uint32_t first_set, nsets;
  uint64_t t_send, t_ack;
} frame;

enum { L_IDLE, L_CONNECTING, L_SECURING, L_CHALLENGE, L_WELCOME, L_READY, L_CLOSED };

typedef struct laptop {
  fs_conn conn;
  uint32_t idx;
  int state;
  bool busy, inited;
  uint8_t pk[FS_PK_LEN], sk[FS_SK_LEN];
  struct sockaddr_storage addr;
  char area[FS_MAX_AREA + 1];
  uint8_t *cert; /* this laptop's enrolment, a packed SignedCert */
  size_t cert_len;
  uint32_t first_frame, nframes, next_frame, acked_frame; /* ingest: sent, acked */
  /* tree: sets become due at the offered rate and wait at the laptop, as
   * edits wait in an outbox; a free laptop pushes all that are due (at most
   * FSB_TREE_MAX_PUSH) in one Push. */
  uint32_t first_set, nsets_total, next_set, due, infl_first, infl_n;
} laptop;

#define FSB_TREE_MAX_PUSH 64

typedef struct gen {
  uv_loop_t loop;
  laptop *lap;
  size_t nlap;
  frame *frames;
  size_t nframes;
  set_meta *sets;
  size_t nsets;
  fsb_set *bodies;  /* the sealed sets; Pushes are built from them on demand */
  uint8_t netkey[FS_NETKEY_LEN];
  fs_keypair root;  /* issues the laptops' enrolments */
  const char *tag;
  /* counters */
  size_t ready, closed, connected_total, started_connects;
  uint64_t stored, dups, other, acked_frames;
  char first_other[400];
  /* phase control */
  int mode;            /* 0 ingest, 1 tree, 2 conns */
  bool go;             /* ingest: pushing started */
  uint64_t t_go, t_last_ack;
  uv_timer_t deadline, tick;
  bool timed_out;
  /* tree */
  double rate;
  double seconds;
  size_t per_server;
  uint64_t t_load0;
  size_t sent_load, rr, deferred_ticks;
  int idle_left, idle_total;
  bool idle_waiting;
  uint32_t idle_set;
  uint64_t idle_next_at;
  uv_async_t wake;
  bool loading, load_done;
  /* conns */
  size_t window;
  int server_pid;
  /* memory samples of the server (ingest) */
  uv_timer_t sample;
  long peak_anon_kb;
} gen;

static gen G;

/* ---------------------------------------------------------- pre-generation */

typedef struct gen_job {
  size_t from, to;  /* laptops */
  size_t batch;
  uint32_t sets_per_laptop;
} gen_job;

static void *gen_thread(void *arg) {
  gen_job *j = arg;
  for (size_t l = j->from; l < j->to; l++) {
    laptop *lp = &G.lap[l];
    uint8_t prev[FS_HASH_LEN] = {0};
    uint64_t hlc = fs_hlc_make(fs_hlc_now_ms(), 0);
    size_t nb = j->batch;
    fsb_set *buf = calloc(nb, sizeof *buf);
    uint32_t s0 = lp->idx * j->sets_per_laptop;
    for (uint32_t f = 0; f < lp->nframes; f++) {
      frame *fr = &G.frames[lp->first_frame + f];
      fr->first_set = s0 + f * (uint32_t)nb;
      fr->nsets = (uint32_t)nb;
      for (size_t k = 0; k < nb; k++) {
        uint32_t seq = f * (uint32_t)nb + (uint32_t)k + 1;
        if (fsb_set_make(&buf[k], lp->pk, lp->sk, seq, prev, ++hlc, lp->area,
                         (uint64_t)lp->idx * 1000000u + seq))
          die("cannot seal a change set");
        memcpy(prev, buf[k].id, FS_HASH_LEN);
        memcpy(G.sets[fr->first_set + k].id, buf[k].id, FS_HASH_LEN);
      }
      for (size_t k = 0; k < nb; k++)
        G.bodies[fr->first_set + k] = buf[k]; /* kept: Pushes built later */
    }
    free(buf);
  }
  return NULL;
}

/* Laptops get keys (tag, base+i) and the area of their server. */
static void make_laptops(size_t n, const char **areas, size_t per_server,
                         const struct sockaddr_storage *addrs) {
  G.lap = calloc(n, sizeof *G.lap);
  G.nlap = n;
  if (!G.lap)
    die("out of memory");
  for (size_t i = 0; i < n; i++) {
    laptop *lp = &G.lap[i];
    lp->idx = (uint32_t)i;
    fsb_keypair(G.tag, i, lp->pk, lp->sk);
    size_t s = per_server ? i / per_server : 0;
    lp->addr = addrs[s];
    snprintf(lp->area, sizeof lp->area, "%s", areas[s]);
    /* The enrolment `fieldsyncd admin enrol` would issue. */
    char officer[64], officer_id[32];
    snprintf(officer, sizeof officer, "Cán bộ %zu", i);
    snprintf(officer_id, sizeof officer_id, "BENCH-%zu", i);
    Fs__Cert c = FS__CERT__INIT;
    c.kind = FS__CERT_KIND__CERT_DEVICE;
    c.subject.data = lp->pk;
    c.subject.len = FS_PK_LEN;
    c.area = lp->area;
    c.officer = officer;
    c.officer_id = officer_id;
    c.valid_from = fs_hlc_now_ms() - 86400000ull;
    c.valid_until = fs_hlc_now_ms() + 365 * 86400000ull;
    if (fs_cert_issue(&c, &G.root, &lp->cert, &lp->cert_len))
      die("cannot issue an enrolment");
  }
}

/* --netkey and --root-key: the deployment every laptop belongs to. */
static void load_deployment(int argc, char **argv) {
  const char *nk = fsb_opt(argc, argv, "--netkey", NULL);
  const char *rk = fsb_opt(argc, argv, "--root-key", NULL);
  int rc;
  if (!nk || !rk)
    die("--netkey NETWORK_KEY_FILE and --root-key ROOT_KEY_FILE are required");
  if ((rc = fs_netkey_load(G.netkey, nk)))
    die("cannot read the network key %s: %s", nk, fs_strerror(rc));
  if ((rc = fs_keypair_load(&G.root, rk)))
    die("cannot read the root key %s: %s", rk, fs_strerror(rc));
}

static void make_sets(uint32_t sets_per_laptop, size_t batch) {
  if (batch == 0 || sets_per_laptop % batch)
    die("--sets must be a multiple of --batch");
  uint32_t fpl = sets_per_laptop / (uint32_t)batch;
  G.nframes = G.nlap * fpl;
  G.nsets = G.nlap * sets_per_laptop;
  G.frames = calloc(G.nframes, sizeof *G.frames);
  G.sets = calloc(G.nsets, sizeof *G.sets);
  if (!G.frames || !G.sets)
    die("out of memory");
  if (!(G.bodies = calloc(G.nsets, sizeof *G.bodies)))
    die("out of memory");
  for (size_t i = 0; i < G.nlap; i++) {
    G.lap[i].first_frame = (uint32_t)i * fpl;
    G.lap[i].nframes = fpl;
    G.lap[i].first_set = (uint32_t)i * sets_per_laptop;
    G.lap[i].nsets_total = sets_per_laptop;
  }
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  size_t nth = ncpu > 1 ? (size_t)ncpu : 1;
  if (nth > G.nlap)
    nth = G.nlap;
  pthread_t th[16];
  gen_job jobs[16];
  if (nth > 16)
    nth = 16;
  double t0 = fsb_now_s();
  for (size_t t = 0; t < nth; t++) {
    jobs[t] = (gen_job){G.nlap * t / nth, G.nlap * (t + 1) / nth, batch, sets_per_laptop};
    pthread_create(&th[t], NULL, gen_thread, &jobs[t]);
  }
  for (size_t t = 0; t < nth; t++)
    pthread_join(th[t], NULL);
  fprintf(stderr, "fsb_load: sealed %zu change sets for %zu laptops in %.1f s\n", G.nsets,
          G.nlap, fsb_now_s() - t0);
}

/* --------------------------------------------------------------- protocol */

/* Sends sets [first, first+n) as one Push over lp's encrypted channel (the
 * signed bytes are referenced, not copied, until fs_conn_send packs them). */
static void send_push(laptop *lp, uint32_t first, uint32_t n) {
  enum { MAXN = 512 };
  static Fs__SignedChangeSet ss[MAXN], *ptrs[MAXN];
  if (n > MAXN)
    die("push too large");
  for (uint32_t i = 0; i < n; i++) {
    const fsb_set *b = &G.bodies[first + i];
    fs__signed_change_set__init(&ss[i]);
    ss[i].body.data = b->body;
    ss[i].body.len = b->body_len;
    ss[i].signature.data = (uint8_t *)b->sig;
    ss[i].signature.len = FS_SIG_LEN;
    ptrs[i] = &ss[i];
  }
  Fs__Push push = FS__PUSH__INIT;
  push.n_sets = n;
  push.sets = ptrs;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_PUSH;
  env.push = &push;
  int rc = fs_conn_send(&lp->conn, &env);
  if (rc) {
    fprintf(stderr, "fsb_load: laptop %u cannot send: %s\n", lp->idx, fs_errname(rc));
    fs_conn_close(&lp->conn, rc);
  }
}

/* Ingest: sends this laptop's next frames until FS_SYNC_PIPELINE are in
 * flight, as `fieldsync sync` does. */
static void send_frames(laptop *lp) {
  while (lp->next_frame < lp->nframes && lp->next_frame - lp->acked_frame < FS_SYNC_PIPELINE) {
    frame *fr = &G.frames[lp->first_frame + lp->next_frame++];
    uint64_t now = fsb_now_ns();
    fr->t_send = now;
    for (uint32_t k = 0; k < fr->nsets; k++)
      G.sets[fr->first_set + k].t_send = now;
    lp->busy = true;
    send_push(lp, fr->first_set, fr->nsets);
  }
}

static void start_connect(laptop *lp);
static void maybe_finish(void);
static void close_all(void);
static bool finished;

static void tree_send(laptop *lp);

static void count_item(const Fs__AckItem *it) {
  if (it->status == FS__ACK_STATUS__ACK_STORED)
    G.stored++;
  else if (it->status == FS__ACK_STATUS__ACK_DUPLICATE)
    G.dups++;
  else {
    if (!G.other)
      snprintf(G.first_other, sizeof G.first_other, "status %d seq %llu: %s",
               (int)it->status, (unsigned long long)it->seq, it->reason);
    G.other++;
  }
}

static void on_ack(laptop *lp, const Fs__Ack *ack) {
  if (G.mode == 1) {
    uint64_t now = fsb_now_ns();
    for (size_t i = 0; i < ack->n_items && i < lp->infl_n; i++) {
      G.sets[lp->infl_first + i].t_ack = now;
      count_item(ack->items[i]);
    }
    lp->infl_n = 0;
    lp->busy = false;
    G.acked_frames++;
    if (lp->due)
      tree_send(lp);
    return;
  }
  if (lp->acked_frame >= lp->next_frame) {
    fprintf(stderr, "fsb_load: laptop %u: an Ack for no Push\n", lp->idx);
    fs_conn_close(&lp->conn, FS_EPROTOCOL);
    return;
  }
  frame *fr = &G.frames[lp->first_frame + lp->acked_frame++];
  uint64_t now = fsb_now_ns();
  fr->t_ack = now;
  G.t_last_ack = now;
  G.acked_frames++;
  for (size_t i = 0; i < ack->n_items && i < fr->nsets; i++) {
    G.sets[fr->first_set + i].t_ack = now;
    count_item(ack->items[i]);
  }
  lp->busy = lp->acked_frame < lp->next_frame;
  if (G.mode == 0)
    send_frames(lp);
  maybe_finish();
}

static void on_frame(fs_conn *c, Fs__Envelope *env) {
  laptop *lp = container_of(c, laptop, conn);
  switch (env->msg_case) {
  case FS__ENVELOPE__MSG_HELLO: {
    /* The server proves its key first (we trust the bench's own servers:
     * the check of its certificate chain is the laptop's business, not
     * the server's cost being measured). */
    if (lp->state != L_CHALLENGE || fs_hello_check(env->hello, &c->hs) != 0 ||
        strcmp(env->hello->role, "server") != 0) {
      fprintf(stderr, "fsb_load: laptop %u: the server's Hello does not verify\n", lp->idx);
      fs_conn_close(c, FS_EBADSIG);
      break;
    }
    Fs__Hello h;
    uint8_t sig[FS_SIG_LEN];
    fs_keypair kp = {.sk = lp->sk};
    memcpy(kp.pk, lp->pk, FS_PK_LEN);
    ProtobufCBinaryData cert = {lp->cert_len, lp->cert};
    fs_hello_fill(&h, sig, &c->hs, &kp, "device", NULL, &cert, 1);
    Fs__Envelope out = FS__ENVELOPE__INIT;
    out.msg_case = FS__ENVELOPE__MSG_HELLO;
    out.hello = &h;
    if (fs_conn_send(c, &out) != 0)
      fs_conn_close(c, FS_EPROTOCOL);
    lp->state = L_WELCOME;
    break;
  }
  case FS__ENVELOPE__MSG_WELCOME:
    fs_conn_admitted(&lp->conn); /* Acks of 512 refused sets exceed the Hello limit */
    lp->state = L_READY;
    G.ready++;
    G.connected_total++;
    if (G.mode == 2) {
      /* next connection of the window */
      if (G.started_connects < G.nlap)
        start_connect(&G.lap[G.started_connects]);
      maybe_finish();
    } else if (G.mode == 0 && G.ready == G.nlap) {
      G.go = true;
      G.t_go = fsb_now_ns();
      for (size_t i = 0; i < G.nlap; i++)
        send_frames(&G.lap[i]);
    }
    break;
  case FS__ENVELOPE__MSG_ACK:
    on_ack(lp, env->ack);
    break;
  case FS__ENVELOPE__MSG_ERROR:
    fprintf(stderr, "fsb_load: laptop %u: server error %s: %s\n", lp->idx,
            fs_errname(-(int)env->error->code), env->error->message);
    fs_conn_close(c, FS_EREFUSED);
    break;
  default:
    break;
  }
  fs__envelope__free_unpacked(env, NULL);
}

static void on_closed(fs_conn *c, int reason) {
  laptop *lp = container_of(c, laptop, conn);
  if (lp->state != L_CLOSED && reason && !G.timed_out && G.mode != 2)
    fprintf(stderr, "fsb_load: laptop %u closed: %s\n", lp->idx, fs_errname(reason));
  if (lp->state == L_READY && G.ready)
    G.ready--;
  lp->state = L_CLOSED;
  G.closed++;
  /* Every laptop gone (the server stopped or refused them): report what
   * completed instead of waiting for the time limit. */
  if (!finished && G.mode != 2 && G.closed == G.started_connects) {
    fprintf(stderr, "fsb_load: every connection closed; reporting what completed\n");
    G.timed_out = true;
    finished = true;
    close_all();
  }
}

static void on_connected(fs_conn *c, int status) {
  laptop *lp = container_of(c, laptop, conn);
  if (status) {
    fprintf(stderr, "fsb_load: laptop %u cannot connect: %s\n", lp->idx, fs_errname(status));
    fs_conn_close(c, status);
    return;
  }
  lp->state = L_SECURING;
}

/* The handshake is done: the server's Hello comes next. */
static void on_secure(fs_conn *c) {
  laptop *lp = container_of(c, laptop, conn);
  lp->state = L_CHALLENGE;
}

static void start_connect(laptop *lp) {
  G.started_connects++;
  if (fs_conn_init(&G.loop, &lp->conn, G.netkey, on_frame, on_secure, on_closed) != 0)
    die("fs_conn_init failed (file descriptors? ulimit -n)");
  lp->inited = true;
  lp->state = L_CONNECTING;
  int rc = fs_conn_connect(&lp->conn, (struct sockaddr *)&lp->addr, 0, on_connected);
  if (rc) {
    fprintf(stderr, "fsb_load: connect: %s\n", fs_errname(rc));
    fs_conn_close(&lp->conn, rc);
  }
}

static void watch_stop(void);

static void close_all(void) {
  if (G.mode == 1)
    watch_stop();
  uv_timer_stop(&G.deadline);
  uv_timer_stop(&G.tick);
  uv_close((uv_handle_t *)&G.deadline, NULL);
  uv_close((uv_handle_t *)&G.tick, NULL);
  if (G.mode == 1)
    uv_close((uv_handle_t *)&G.wake, NULL);
  for (size_t i = 0; i < G.nlap; i++)
    if (G.lap[i].inited && G.lap[i].state != L_CLOSED)
      fs_conn_close(&G.lap[i].conn, 0);
}

static void maybe_finish(void) {
  if (finished)
    return;
  bool done = false;
  if (G.mode == 0)
    done = G.acked_frames == G.nframes;
  else if (G.mode == 1)
    done = G.load_done;
  else if (G.mode == 2)
    done = G.connected_total == G.nlap;
  if (done) {
    finished = true;
    if (G.mode != 2)
      close_all();
    else
      uv_stop(&G.loop); /* conns: measured with the connections open */
  }
}

static void on_deadline(uv_timer_t *t) {
  (void)t;
  fprintf(stderr, "fsb_load: time limit reached; reporting what completed\n");
  G.timed_out = true;
  finished = true;
  if (G.mode == 2)
    uv_stop(&G.loop);
  else
    close_all();
}

static void parse_addr(const char *s, struct sockaddr_storage *a) {
  if (fs_addr_parse(s, a) != 0)
    die("'%s' is not HOST:PORT", s);
}

/* ----------------------------------------------------------------- ingest */

/* Heap memory is what grows with a group commit (LMDB's dirty pages);
 * VmHWM also counts the map's file pages the server has read. */
static void on_sample(uv_timer_t *t) {
  long a = fsb_proc_status_kb(G.server_pid, "RssAnon");
  if (a > G.peak_anon_kb)
    G.peak_anon_kb = a;
  if (finished)
    uv_close((uv_handle_t *)t, NULL);
}

static int cmd_ingest(int argc, char **argv) {
  G.mode = 0;
  load_deployment(argc, argv);
  G.tag = fsb_opt(argc, argv, "--tag", "bench");
  size_t n = (size_t)atol(fsb_opt(argc, argv, "--laptops", "1"));
  uint32_t m = (uint32_t)atol(fsb_opt(argc, argv, "--sets", "1000"));
  size_t batch = (size_t)atol(fsb_opt(argc, argv, "--batch", "50"));
  const char *area = fsb_opt(argc, argv, "--area", "KT.KPL.DAKNEN");
  const char *name = fsb_opt(argc, argv, "--name", "ingest");
  int pid = atoi(fsb_opt(argc, argv, "--pid", "0"));
  double timeout = atof(fsb_opt(argc, argv, "--timeout", "120"));
  struct sockaddr_storage addr;
  parse_addr(fsb_opt(argc, argv, "--server", "127.0.0.1:7401"), &addr);
  if (n == 0 || n > 100000 || m == 0)
    die("bad --laptops or --sets");
  make_laptops(n, &area, 0, &addr);
  make_sets(m, batch);
  uv_loop_init(&G.loop);
  uv_timer_init(&G.loop, &G.deadline);
  uv_timer_init(&G.loop, &G.tick);
  uv_timer_start(&G.deadline, on_deadline, (uint64_t)(timeout * 1000), 0);
  for (size_t i = 0; i < n; i++)
    start_connect(&G.lap[i]);
  double cpu0 = 0;
  /* Run until every laptop is ready, take the CPU reading, then go on. */
  while (!G.go && !finished && uv_run(&G.loop, UV_RUN_ONCE))
    ;
  cpu0 = pid ? fsb_proc_cpu_s(pid) : 0;
  double self0 = self_cpu_s();
  G.server_pid = pid;
  if (pid) {
    uv_timer_init(&G.loop, &G.sample);
    uv_timer_start(&G.sample, on_sample, 0, 50);
  }
  uv_run(&G.loop, UV_RUN_DEFAULT);
  double cpu1 = pid ? fsb_proc_cpu_s(pid) : 0, self1 = self_cpu_s();
  uv_loop_close(&G.loop);
  double el = G.t_last_ack > G.t_go ? (double)(G.t_last_ack - G.t_go) / 1e9 : 0;
  double *lat = malloc((G.nframes ? G.nframes : 1) * sizeof *lat);
  size_t nl = 0;
  for (size_t i = 0; i < G.nframes; i++)
    if (G.frames[i].t_ack)
      lat[nl++] = (double)(G.frames[i].t_ack - G.frames[i].t_send) / 1e6;
  char key[160];
#define R(suffix, v, unit)                                                    \
  do {                                                                        \
    snprintf(key, sizeof key, "%s_%s", name, suffix);                         \
    fsb_result(key, v, unit);                                                 \
  } while (0)
  R("stored", (double)G.stored, "sets");
  R("sets_per_s", el > 0 ? (double)G.stored / el : 0, "sets/s");
  R("ack_p50_ms", fsb_percentile(lat, nl, 50), "ms");
  R("ack_p99_ms", fsb_percentile(lat, nl, 99), "ms");
  if (pid) {
    R("cpu_us_per_set", G.stored ? (cpu1 - cpu0) / (double)G.stored * 1e6 : 0, "us");
    R("server_cpu_util", el > 0 ? (cpu1 - cpu0) / el : 0, "cores");
    R("server_peak_rss_mb", (double)fsb_proc_status_kb(pid, "VmHWM") / 1024, "MB");
    R("server_peak_heap_mb", (double)G.peak_anon_kb / 1024, "MB");
  }
  R("generator_cpu_us_per_set", G.stored ? (self1 - self0) / (double)G.stored * 1e6 : 0, "us");
#undef R
  if (G.other)
    fprintf(stderr, "fsb_load: %llu sets not stored, first: %s\n",
            (unsigned long long)G.other, G.first_other);
  if (G.dups)
    fprintf(stderr, "fsb_load: %llu duplicates\n", (unsigned long long)G.dups);
  free(lat);
  return G.stored == G.nsets ? 0 : 3;
}

/* ------------------------------------------------------------------- tree */

typedef struct watch {
  const char *dir;
  pthread_t th;
  bool running;
  atomic_bool stop;
  atomic_ulong seen;
  uint64_t next_seq;
  /* sorted (id, index) for lookups */
  uint32_t *order;
  double deadline;
} watch;

static watch W;

static int cmp_id(const void *a, const void *b) {
  return memcmp(G.sets[*(const uint32_t *)a].id, G.sets[*(const uint32_t *)b].id, FS_HASH_LEN);
}

static long find_set(const uint8_t *id) {
  size_t lo = 0, hi = G.nsets;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = memcmp(G.sets[W.order[mid]].id, id, FS_HASH_LEN);
    if (c == 0)
      return W.order[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

/* Reads the province's log as it grows: the moment a set appears there,
 * the province's write transaction holding it has committed. */
static void *watch_main(void *arg) {
  (void)arg;
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  int rc;
  if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 16)) ||
      (rc = mdb_env_set_mapsize(env, (size_t)1 << 33)) ||
      (rc = mdb_env_open(env, W.dir, MDB_RDONLY | MDB_NOTLS, 0600)) ||
      (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) ||
      (rc = mdb_dbi_open(txn, "log", 0, &dbi)) || (rc = mdb_txn_commit(txn)) ||
      (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)))
    die("cannot read the province store %s: %s", W.dir, mdb_strerror(rc));
  mdb_txn_reset(txn); /* the dbi handle outlives its txn only once committed */
  W.next_seq = 1;
  while (!atomic_load(&W.stop) && fsb_now_s() < W.deadline) {
    if ((rc = mdb_txn_renew(txn)))
      die("txn renew: %s", mdb_strerror(rc));
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, dbi, &cur)))
      die("cursor: %s", mdb_strerror(rc));
    uint8_t kb[8];
    fs_be64_put(kb, W.next_seq);
    MDB_val k = {8, kb}, v;
    uint64_t now = fsb_now_ns();
    size_t found = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && found < 100000;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      W.next_seq = fs_be64_get(k.mv_data) + 1;
      found++;
      /* The log holds each set as stored (store.h); its id is the hash of
       * the body. */
      Fs__SignedChangeSet *set = fs__signed_change_set__unpack(NULL, v.mv_size, v.mv_data);
      if (!set)
        continue;
      uint8_t id[FS_HASH_LEN];
      fs_changeset_id(set->body.data, set->body.len, id);
      fs__signed_change_set__free_unpacked(set, NULL);
      long i = find_set(id);
      if (i >= 0 && G.sets[i].t_prov == 0) {
        G.sets[i].t_prov = now;
        atomic_fetch_add(&W.seen, 1);
      }
    }
    mdb_cursor_close(cur);
    mdb_txn_reset(txn);
    if (found)
      uv_async_send(&G.wake);
    else
      usleep(200);
  }
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return NULL;
}

static void watch_stop(void) {
  if (!W.running)
    return;
  atomic_store(&W.stop, true);
  pthread_join(W.th, NULL);
  W.running = false;
}

/* Pushes every set due at laptop lp (at most FSB_TREE_MAX_PUSH) at once. */
static void tree_send(laptop *lp) {
  if (lp->state != L_READY || lp->busy || lp->due == 0)
    return;
  uint32_t k = lp->due < FSB_TREE_MAX_PUSH ? lp->due : FSB_TREE_MAX_PUSH;
  uint32_t first = lp->first_set + lp->next_set;
  uint64_t now = fsb_now_ns();
  for (uint32_t i = 0; i < k; i++)
    G.sets[first + i].t_send = now;
  lp->infl_first = first;
  lp->infl_n = k;
  lp->next_set += k;
  lp->due -= k;
  lp->busy = true;
  send_push(lp, first, k);
}

/* Makes one more set due at lp; false when lp has none left. */
static bool tree_make_due(laptop *lp, uint64_t now) {
  if (lp->next_set + lp->due >= lp->nsets_total)
    return false;
  G.sets[lp->first_set + lp->next_set + lp->due].t_due = now;
  lp->due++;
  return true;
}

static void on_tick(uv_timer_t *t) {
  (void)t;
  uint64_t now = fsb_now_ns();
  if (G.idle_left > 0 || G.idle_waiting) {
    /* Idle phase: one set at a time, the next only after the province
     * committed the previous one and a short pause. */
    if (G.idle_waiting) {
      if (G.sets[G.idle_set].t_prov && G.sets[G.idle_set].t_ack) {
        G.idle_waiting = false;
        G.idle_next_at = now + 20000000; /* 20 ms pause */
      } else {
        return;
      }
    }
    if (G.idle_left > 0 && now >= G.idle_next_at) {
      size_t k = (size_t)(G.idle_total - G.idle_left), ns = G.nlap / G.per_server;
      laptop *lp = &G.lap[(k % ns) * G.per_server + (k / ns) % G.per_server];
      if (lp->busy || lp->state != L_READY)
        return;
      G.idle_set = lp->first_set + lp->next_set;
      if (!tree_make_due(lp, now))
        die("no set left for the idle phase");
      tree_send(lp);
      G.idle_left--;
      G.idle_waiting = true;
    }
    return;
  }
  if (!G.loading) {
    G.loading = true;
    G.t_load0 = now;
  }
  double el = (double)(now - G.t_load0) / 1e9;
  if (el >= G.seconds) {
    /* Load phase over: wait until everything due was pushed, acked and
     * seen at the province. */
    for (size_t i = 0; i < G.nlap; i++)
      tree_send(&G.lap[i]);
    size_t sent = 0;
    for (size_t i = 0; i < G.nsets; i++)
      if (G.sets[i].t_send)
        sent++;
    bool acked_all = true;
    for (size_t i = 0; i < G.nlap; i++)
      if (G.lap[i].busy || G.lap[i].due)
        acked_all = false;
    if (acked_all && atomic_load(&W.seen) >= sent) {
      G.load_done = true;
      maybe_finish();
    }
    return;
  }
  /* Open loop: sets fall due at the offered rate, round robin over the
   * laptops, whether or not the servers keep up. */
  size_t due = (size_t)(G.rate * el), tries = 0;
  while (G.sent_load < due && tries < G.nlap) {
    laptop *lp = &G.lap[G.rr++ % G.nlap];
    if (tree_make_due(lp, now)) {
      G.sent_load++;
      tries = 0;
    } else {
      tries++;
    }
  }
  if (G.sent_load < due)
    G.deferred_ticks++; /* ran out of pre-sealed sets */
  for (size_t i = 0; i < G.nlap; i++)
    tree_send(&G.lap[i]);
}

static void on_wake(uv_async_t *a) {
  (void)a;
  on_tick(NULL);
}

static size_t split(char *s, const char **out, size_t max) {
  size_t n = 0;
  for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ","))
    out[n++] = tok;
  return n;
}

static int cmd_tree(int argc, char **argv) {
  G.mode = 1;
  load_deployment(argc, argv);
  G.tag = fsb_opt(argc, argv, "--tag", "tree");
  char *servers = strdup(fsb_opt(argc, argv, "--servers", ""));
  char *areas_s = strdup(fsb_opt(argc, argv, "--areas", ""));
  const char *srv[64], *areas[64];
  size_t ns = split(servers, srv, 64), na = split(areas_s, areas, 64);
  if (ns == 0 || ns != na)
    die("--servers and --areas must list as many entries");
  size_t per = (size_t)atol(fsb_opt(argc, argv, "--laptops-per-server", "4"));
  G.rate = atof(fsb_opt(argc, argv, "--rate", "1000"));
  G.seconds = atof(fsb_opt(argc, argv, "--seconds", "5"));
  G.idle_total = G.idle_left = atoi(fsb_opt(argc, argv, "--idle", "20"));
  double timeout = atof(fsb_opt(argc, argv, "--timeout", "120"));
  W.dir = fsb_opt(argc, argv, "--watch", NULL);
  if (!W.dir || per == 0 || G.rate <= 0 || G.seconds <= 0)
    die("tree needs --watch DIR, --laptops-per-server, --rate and --seconds");
  struct sockaddr_storage addrs[64];
  for (size_t i = 0; i < ns; i++)
    parse_addr(srv[i], &addrs[i]);
  size_t n = ns * per;
  G.per_server = per;
  make_laptops(n, areas, per, addrs);
  uint32_t spl = (uint32_t)((G.rate * G.seconds + G.idle_total) / (double)n * 1.5 + 8);
  make_sets(spl, 1);
  W.order = malloc(G.nsets * sizeof *W.order);
  for (size_t i = 0; i < G.nsets; i++)
    W.order[i] = (uint32_t)i;
  qsort(W.order, G.nsets, sizeof *W.order, cmp_id);
  W.deadline = fsb_now_s() + timeout + 5;
  uv_loop_init(&G.loop);
  uv_timer_init(&G.loop, &G.deadline);
  uv_timer_init(&G.loop, &G.tick);
  uv_async_init(&G.loop, &G.wake, on_wake);
  uv_timer_start(&G.deadline, on_deadline, (uint64_t)(timeout * 1000), 0);
  for (size_t i = 0; i < n; i++)
    start_connect(&G.lap[i]);
  /* Every laptop is welcomed before the phases start; one that closed
   * first (its reason is on stderr) would leave them waiting to the time
   * limit with nothing measured, so the run ends here instead. */
  while (G.ready < n && G.closed == 0 && !finished && uv_run(&G.loop, UV_RUN_ONCE))
    ;
  if (G.ready < n) {
    fprintf(stderr, "fsb_load: only %zu of %zu laptops were welcomed; no tree figures\n",
            G.ready, n);
    return 3;
  }
  pthread_create(&W.th, NULL, watch_main, NULL);
  W.running = true;
  usleep(20000);
  uv_timer_start(&G.tick, on_tick, 1, 1);
  uv_run(&G.loop, UV_RUN_DEFAULT);
  watch_stop();
  uv_loop_close(&G.loop);
  /* Idle sets: the first idle_total sent; then the load. */
  size_t cap = G.nsets ? G.nsets : 1;
  double *idle = malloc(cap * sizeof(double)), *load = malloc(cap * sizeof(double)),
         *e2e = malloc(cap * sizeof(double)), *ack = malloc(cap * sizeof(double));
  size_t ni = 0, nl = 0, ne = 0, sent = 0, missing = 0, in_load = 0;
  uint64_t tl0 = G.t_load0 ? G.t_load0 : UINT64_MAX;
  uint64_t t_first = UINT64_MAX, t_last = 0;
  for (size_t i = 0; i < G.nsets; i++) {
    set_meta *s = &G.sets[i];
    if (!s->t_send)
      continue;
    sent++;
    if (!s->t_ack || !s->t_prov) {
      missing++;
      continue;
    }
    double lag = s->t_prov > s->t_ack ? (double)(s->t_prov - s->t_ack) / 1e6 : 0;
    if (s->t_send < tl0) {
      idle[ni++] = lag;
    } else {
      load[nl] = lag;
      ack[nl++] = (double)(s->t_ack - s->t_due) / 1e6;
      e2e[ne++] = (double)(s->t_prov - s->t_due) / 1e6;
      in_load++;
      if (s->t_send < t_first)
        t_first = s->t_send;
      if (s->t_prov > t_last)
        t_last = s->t_prov;
    }
  }
  fsb_result("tree_idle_sets", (double)ni, "sets");
  fsb_result("tree_idle_lag_p50_ms", fsb_percentile(idle, ni, 50), "ms");
  fsb_result("tree_idle_lag_p99_ms", fsb_percentile(idle, ni, 99), "ms");
  fsb_result("tree_idle_lag_max_ms", ni ? idle[ni - 1] : 0, "ms");
  fsb_result("tree_load_sets", (double)nl, "sets");
  fsb_result("tree_load_offered_per_s", G.rate, "sets/s");
  fsb_result("tree_load_achieved_per_s",
             t_last > t_first ? (double)in_load / ((double)(t_last - t_first) / 1e9) : 0,
             "sets/s");
  fsb_result("tree_lag_p50_ms", fsb_percentile(load, nl, 50), "ms");
  fsb_result("tree_lag_p99_ms_load", fsb_percentile(load, nl, 99), "ms");
  fsb_result("tree_lag_max_ms", nl ? load[nl - 1] : 0, "ms");
  fsb_result("tree_commune_ack_p50_ms", fsb_percentile(ack, nl, 50), "ms");
  fsb_result("tree_commune_ack_p99_ms", fsb_percentile(ack, nl, 99), "ms");
  fsb_result("tree_edit_to_province_p50_ms", fsb_percentile(e2e, ne, 50), "ms");
  fsb_result("tree_edit_to_province_p99_ms", fsb_percentile(e2e, ne, 99), "ms");
  fsb_result("tree_load_pushes", (double)G.acked_frames, "pushes");
  fsb_result("tree_missing_sets", (double)missing, "sets");
  if (G.deferred_ticks)
    fprintf(stderr, "fsb_load: ran out of sealed sets on %zu ticks\n", G.deferred_ticks);
  if (G.other)
    fprintf(stderr, "fsb_load: %llu sets not stored, first: %s\n",
            (unsigned long long)G.other, G.first_other);
  free(idle);
  free(load);
  free(e2e);
  free(ack);
  return missing == 0 ? 0 : 3;
}

/* ------------------------------------------------------------------ conns */

static int cmd_conns(int argc, char **argv) {
  G.mode = 2;
  load_deployment(argc, argv);
  G.tag = fsb_opt(argc, argv, "--tag", "conns");
  size_t n = (size_t)atol(fsb_opt(argc, argv, "--count", "1000"));
  const char *area = fsb_opt(argc, argv, "--area", "KT.KPL.DAKNEN");
  int pid = atoi(fsb_opt(argc, argv, "--pid", "0"));
  size_t window = (size_t)atol(fsb_opt(argc, argv, "--window", "256"));
  double timeout = atof(fsb_opt(argc, argv, "--timeout", "120"));
  double hold = atof(fsb_opt(argc, argv, "--hold", "1"));
  struct sockaddr_storage addr;
  parse_addr(fsb_opt(argc, argv, "--server", "127.0.0.1:7401"), &addr);
  if (n == 0 || n > 100000 || !pid)
    die("conns needs --count and --pid");
  make_laptops(n, &area, 0, &addr);
  uv_loop_init(&G.loop);
  uv_timer_init(&G.loop, &G.deadline);
  uv_timer_init(&G.loop, &G.tick);
  uv_timer_start(&G.deadline, on_deadline, (uint64_t)(timeout * 1000), 0);
  long rss0 = fsb_proc_status_kb(pid, "VmRSS");
  long anon0 = fsb_proc_status_kb(pid, "RssAnon");
  double cpu0 = fsb_proc_cpu_s(pid);
  uint64_t t0 = fsb_now_ns();
  for (size_t i = 0; i < n && i < window; i++)
    start_connect(&G.lap[i]);
  uv_run(&G.loop, UV_RUN_DEFAULT);
  double el = (double)(fsb_now_ns() - t0) / 1e9;
  double cpu1 = fsb_proc_cpu_s(pid);
  size_t connected = G.ready;
  /* Hold them open, idle, then read the server's memory. */
  usleep((useconds_t)(hold * 1e6));
  long rss1 = fsb_proc_status_kb(pid, "VmRSS");
  long anon1 = fsb_proc_status_kb(pid, "RssAnon");
  fsb_result("conns_connected", (double)connected, "connections");
  fsb_result("conns_accept_s", el, "s");
  fsb_result("conns_accept_per_s", el > 0 ? (double)connected / el : 0, "connections/s");
  fsb_result("conns_server_cpu_us_per_conn",
             connected ? (cpu1 - cpu0) / (double)connected * 1e6 : 0, "us");
  fsb_result("conns_server_rss_mb", (double)rss1 / 1024, "MB");
  fsb_result("conns_kb_per_idle_conn",
             connected ? (double)(rss1 - rss0) / (double)connected : 0, "KiB");
  fsb_result("conns_anon_kb_per_idle_conn",
             connected ? (double)(anon1 - anon0) / (double)connected : 0, "KiB");
  finished = true; /* closing now: on_closed must not close again */
  close_all();
  uv_run(&G.loop, UV_RUN_DEFAULT);
  uv_loop_close(&G.loop);
  return connected == n ? 0 : 3;
}

/* ---------------------------------------------------------------- waitlog */

static int cmd_waitlog(int argc, char **argv) {
  const char *dir = fsb_opt(argc, argv, "--data", NULL);
  uint64_t want = (uint64_t)atoll(fsb_opt(argc, argv, "--count", "0"));
  int pid = atoi(fsb_opt(argc, argv, "--pid", "0"));
  int pid2 = atoi(fsb_opt(argc, argv, "--pid2", "0"));
  double timeout = atof(fsb_opt(argc, argv, "--timeout", "600"));
  const char *name = fsb_opt(argc, argv, "--name", "catchup");
  if (!dir || !want)
    die("waitlog needs --data DIR --count N");
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi meta;
  int rc;
  double t0 = fsb_now_s();
  /* The node may still be creating its store. */
  for (int i = 0; i < 500; i++) {
    char p[1200];
    snprintf(p, sizeof p, "%s/data.mdb", dir);
    if (access(p, R_OK) == 0)
      break;
    usleep(10000);
  }
  if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 16)) ||
      (rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600)))
    die("cannot open %s: %s", dir, mdb_strerror(rc));
  /* The node created its store before it listened (bench/run waits). */
  if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) ||
      (rc = mdb_dbi_open(txn, "meta", 0, &meta)) || (rc = mdb_txn_commit(txn)) ||
      (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)))
    die("no meta database in %s: %s", dir, mdb_strerror(rc));
  mdb_txn_reset(txn);
  long peak_anon = 0, peak_rss = 0;
  uint64_t have = 0, start_have = UINT64_MAX;
  double t_first = 0;
  double cpu0 = pid2 ? fsb_proc_cpu_s(pid2) : 0, cpu_p0 = pid ? fsb_proc_cpu_s(pid) : 0;
  while (fsb_now_s() - t0 < timeout) {
    mdb_txn_renew(txn);
    MDB_val k = {7, (void *)"log_seq"}, v;
    if (mdb_get(txn, meta, &k, &v) == 0 && v.mv_size == 8)
      have = fs_be64_get(v.mv_data);
    mdb_txn_reset(txn);
    if (start_have == UINT64_MAX)
      start_have = have;
    if (have > start_have && t_first == 0)
      t_first = fsb_now_s();
    if (pid) {
      long a = fsb_proc_status_kb(pid, "RssAnon"), r = fsb_proc_status_kb(pid, "VmRSS");
      if (a > peak_anon)
        peak_anon = a;
      if (r > peak_rss)
        peak_rss = r;
    }
    if (have >= want)
      break;
    usleep(20000);
  }
  double el = fsb_now_s() - t0;
  mdb_txn_abort(txn);
  mdb_env_close(env);
  char key[160];
#define R(suffix, val, unit)                                                  \
  do {                                                                        \
    snprintf(key, sizeof key, "%s_%s", name, suffix);                         \
    fsb_result(key, val, unit);                                               \
  } while (0)
  R("sets", (double)have, "sets");
  R("s", el, "s");
  R("sets_per_s", el > 0 ? (double)have / el : 0, "sets/s");
  if (pid) {
    R("sender_peak_anon_mb", (double)peak_anon / 1024, "MB");
    R("sender_peak_rss_mb", (double)peak_rss / 1024, "MB");
    R("sender_cpu_s", fsb_proc_cpu_s(pid) - cpu_p0, "s");
  }
  if (pid2)
    R("receiver_cpu_s", fsb_proc_cpu_s(pid2) - cpu0, "s");
#undef R
  return have >= want ? 0 : 3;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: fsb_load ingest|tree|conns|waitlog [options] "
                    "(see the comment at the top of bench/fsb_load.c)\n");
    return 1;
  }
  if (fs_crypto_init() != 0)
    die("libsodium failed to initialise");
  signal(SIGPIPE, SIG_IGN);
  const char *cmd = argv[1];
  if (strcmp(cmd, "ingest") == 0)
    return cmd_ingest(argc, argv);
  if (strcmp(cmd, "tree") == 0)
    return cmd_tree(argc, argv);
  if (strcmp(cmd, "conns") == 0)
    return cmd_conns(argc, argv);
  if (strcmp(cmd, "waitlog") == 0)
    return cmd_waitlog(argc, argv);
  fprintf(stderr, "fsb_load: unknown command %s\n", cmd);
  return 1;
}
