/* fsb_ceiling.c - the machine's ceilings, measured on the machine it runs on.
 *
 *   fsb_ceiling --dir TMPDIR [--quick] [--sets N]
 *
 * Prints `name value unit` lines:
 *   ed25519_verify_per_s_core, ed25519_sign_per_s_core  (libsodium, ~600-byte body)
 *   ed25519_verify_per_s_all_cores  (one verifying thread per core, all at
 *                                once: what the cores give together, which
 *                                on a shared VM is less than per-core x cores)
 *   blake2b_mb_s (64 KiB blocks), blake2b_600b_us
 *   lmdb_durable_commits_per_s  (one put per transaction, fsync'ed like the server)
 *   lmdb_batched_puts_per_s     (1,000 puts per durable transaction)
 *   protobuf_decode_per_s       (fs__change_set__unpack of a typical change set)
 *   tcp_loopback_mb_s           (one stream over 127.0.0.1)
 *   node_commit_ms_alone        (a node-shaped durable commit of one set: log
 *                                append, chain index, records, record seq,
 *                                meta, devices, peers; one environment: idle)
 *   node_commit_ms_shared7      (the same with 4 sets a commit, seven
 *                                environments committing at once on the same
 *                                disk: the benchmark tree's seven nodes under
 *                                load share one disk)
 *   ceiling_loop_per_s_core     (decode + BLAKE2b + Ed25519 verify + LMDB put,
 *                                1,000 puts per durable transaction, one thread)
 *   ingest_ceiling_per_s        (that, times the number of cores)
 * and the per-step split of the loop in microseconds. Every loop is bounded
 * by a count and by time. The LMDB files live in TMPDIR (give one on the
 * file system the servers use) and are removed at the end.
 */
#include "fsb.h"

#include "changeset.h"
#include "error.h"
#include "store.h" /* fs_be64_put */

#include <arpa/inet.h>
#include <errno.h>
#include <lmdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static double budget = 1.0; /* seconds per measurement */

/* Runs body until max iterations or budget seconds; returns ops/s. */
#define TIMED(max, ...)                                                      \
  ({                                                                          \
    uint64_t _n = 0;                                                          \
    double _t0 = fsb_now_s(), _t = _t0;                                       \
    while (_n < (max)) {                                                      \
      __VA_ARGS__;                                                            \
      _n++;                                                                   \
      if ((_n & 63) == 0 && (_t = fsb_now_s()) - _t0 > budget)                \
        break;                                                                \
    }                                                                         \
    _t = fsb_now_s();                                                         \
    (double)_n / (_t - _t0);                                                  \
  })

static void die(const char *what, int rc) {
  fprintf(stderr, "fsb_ceiling: %s failed (%d)\n", what, rc);
  exit(2);
}

static MDB_env *open_env(const char *dir, MDB_dbi *dbi) {
  MDB_env *env;
  MDB_txn *txn;
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    die("mkdir", errno);
  int rc;
  if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 4)) ||
      (rc = mdb_env_set_mapsize(env, (size_t)4 << 30)) ||
      (rc = mdb_env_open(env, dir, MDB_NOTLS, 0600)) ||
      (rc = mdb_txn_begin(env, NULL, 0, &txn)) ||
      (rc = mdb_dbi_open(txn, "changesets", MDB_CREATE, dbi)) ||
      (rc = mdb_txn_commit(txn)))
    die("lmdb open", rc);
  return env;
}

static void rm_env(const char *dir) {
  char p[1200];
  snprintf(p, sizeof p, "%s/data.mdb", dir);
  unlink(p);
  snprintf(p, sizeof p, "%s/lock.mdb", dir);
  unlink(p);
  rmdir(dir);
}

/* ------------------------------------------------------------ TCP loopback */

struct sink {
  int lfd;
  uint64_t got;
};

static void *sink_main(void *arg) {
  struct sink *s = arg;
  int fd = accept(s->lfd, NULL, NULL);
  if (fd < 0)
    return NULL;
  static char buf[1 << 16];
  ssize_t r;
  while ((r = read(fd, buf, sizeof buf)) > 0)
    s->got += (uint64_t)r;
  close(fd);
  return NULL;
}

static double tcp_loopback_mb_s(void) {
  struct sink s = {0};
  s.lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  if (bind(s.lfd, (struct sockaddr *)&a, sizeof a) || listen(s.lfd, 1) ||
      getsockname(s.lfd, (struct sockaddr *)&a, &al))
    die("tcp listen", errno);
  pthread_t th;
  pthread_create(&th, NULL, sink_main, &s);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, (struct sockaddr *)&a, sizeof a))
    die("tcp connect", errno);
  static char buf[1 << 16];
  memset(buf, 'x', sizeof buf);
  uint64_t sent = 0, max = (uint64_t)16 << 30;
  double t0 = fsb_now_s();
  while (sent < max && fsb_now_s() - t0 < budget) {
    ssize_t w = write(fd, buf, sizeof buf);
    if (w <= 0)
      break;
    sent += (uint64_t)w;
  }
  close(fd);
  pthread_join(th, NULL);
  double t = fsb_now_s() - t0;
  close(s.lfd);
  return (double)s.got / t / 1e6;
}

/* ------------------------------------------------- verification, all cores */

struct verifier {
  pthread_t th;
  const fsb_set *sets;
  size_t nsets;
  const uint8_t (*pk)[FS_PK_LEN];
  size_t npk;
  double t_end;
  uint64_t done;
  int bad;
};

static void *verifier_main(void *arg) {
  struct verifier *v = arg;
  for (size_t i = 0; fsb_now_s() < v->t_end && i < 100000000; i++)
    for (size_t j = 0; j < 64; j++, v->done++) {
      size_t k = (i * 64 + j) % v->nsets;
      const fsb_set *s = &v->sets[k];
      if (crypto_sign_verify_detached(s->sig, s->body, s->body_len, v->pk[k % v->npk]))
        v->bad++;
    }
  return NULL;
}

/* Verifications per second with `threads` threads verifying at once. */
static double verify_all_cores(int threads, const fsb_set *sets, size_t nsets,
                               const uint8_t (*pk)[FS_PK_LEN], size_t npk) {
  struct verifier v[64];
  if (threads > 64)
    threads = 64;
  double t0 = fsb_now_s();
  for (int i = 0; i < threads; i++) {
    v[i] = (struct verifier){.sets = sets, .nsets = nsets, .pk = pk, .npk = npk,
                             .t_end = t0 + budget};
    pthread_create(&v[i].th, NULL, verifier_main, &v[i]);
  }
  uint64_t done = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(v[i].th, NULL);
    if (v[i].bad)
      die("verify", -1);
    done += v[i].done;
  }
  return (double)done / (fsb_now_s() - t0);
}

/* ----------------------------------------------- node commits, shared disk */

/* What one node's write transaction touches for each set it stores
 * (server/ingest.c accept_set, common/store.c record_put), with keys that
 * land where the server's do: the log and record seq appended, the chain
 * index and records at a few places that move forward. */
#define FSB_NODE_DEVICES 16

struct node_env {
  pthread_t th;
  char dir[1100];
  MDB_env *env;
  MDB_dbi meta, log, devices, devseq, records, recseq, peers;
  int sets;             /* per commit */
  const uint8_t *value; /* a signed set's bytes, reused */
  size_t value_len;
  double t_end;         /* run until then */
  uint64_t commits;
  double secs;
  int rc;
};

static int node_env_open(struct node_env *n) {
  MDB_txn *txn;
  int rc;
  if (mkdir(n->dir, 0700) != 0 && errno != EEXIST)
    return errno;
  if ((rc = mdb_env_create(&n->env)) || (rc = mdb_env_set_maxdbs(n->env, 8)) ||
      (rc = mdb_env_set_mapsize(n->env, (size_t)4 << 30)) ||
      (rc = mdb_env_open(n->env, n->dir, MDB_NOTLS, 0600)) ||
      (rc = mdb_txn_begin(n->env, NULL, 0, &txn)))
    return rc;
  if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &n->meta)) ||
      (rc = mdb_dbi_open(txn, "log", MDB_CREATE, &n->log)) ||
      (rc = mdb_dbi_open(txn, "devices", MDB_CREATE, &n->devices)) ||
      (rc = mdb_dbi_open(txn, "devseq", MDB_CREATE, &n->devseq)) ||
      (rc = mdb_dbi_open(txn, "records", MDB_CREATE, &n->records)) ||
      (rc = mdb_dbi_open(txn, "recseq", MDB_CREATE, &n->recseq)) ||
      (rc = mdb_dbi_open(txn, "peers", MDB_CREATE, &n->peers))) {
    mdb_txn_abort(txn);
    return rc;
  }
  return mdb_txn_commit(txn);
}

static void *node_env_main(void *arg) {
  struct node_env *n = arg;
  uint64_t seq = 0, devseq[FSB_NODE_DEVICES] = {0};
  static const uint8_t record[1100]; /* a merged record's size */
  double t0 = fsb_now_s();
  while (n->rc == 0 && fsb_now_s() < n->t_end && n->commits < 100000) {
    MDB_txn *txn;
    int rc = mdb_txn_begin(n->env, NULL, 0, &txn);
    for (int j = 0; rc == 0 && j < n->sets; j++) {
      uint8_t k8[8], dk[FS_PK_LEN + 8], rk[48];
      seq++;
      int d = (int)(seq * 7 % FSB_NODE_DEVICES);
      devseq[d]++;
      fs_be64_put(k8, seq);
      memset(dk, d + 1, FS_PK_LEN);
      fs_be64_put(dk + FS_PK_LEN, devseq[d]);
      /* Records: ids begin with their time, from four areas' laptops. */
      int rl = snprintf((char *)rk, sizeof rk, "KT.A%d%c%02d%012llx", (int)(seq % 4), 0, d,
                        (unsigned long long)devseq[d]);
      MDB_val lk = {8, k8}, lv = {n->value_len, (void *)n->value}, dkv = {sizeof dk, dk},
              dvv = {40, dk}, devk = {FS_PK_LEN, dk}, rkv = {(size_t)rl, rk},
              rv = {sizeof record, (void *)record};
      if ((rc = mdb_put(txn, n->log, &lk, &lv, MDB_APPEND)) ||
          (rc = mdb_put(txn, n->devseq, &dkv, &dvv, 0)) ||
          (rc = mdb_put(txn, n->devices, &devk, &dvv, 0)) ||
          (rc = mdb_put(txn, n->records, &rkv, &rv, 0)) ||
          (rc = mdb_put(txn, n->recseq, &lk, &rkv, MDB_APPEND)))
        break;
    }
    uint8_t sv[8];
    fs_be64_put(sv, seq);
    MDB_val mk = {7, "log_seq"}, mv = {8, sv}, pk = {10, "peer/stats"};
    if (rc == 0 && !(rc = mdb_put(txn, n->meta, &mk, &mv, 0)) &&
        !(rc = mdb_put(txn, n->peers, &pk, &mv, 0)))
      rc = mdb_txn_commit(txn);
    else if (txn)
      mdb_txn_abort(txn);
    if (rc)
      n->rc = rc;
    else
      n->commits++;
  }
  n->secs = fsb_now_s() - t0;
  return NULL;
}

/* Milliseconds per node-shaped durable commit of `sets` sets with
 * `writers` environments committing at once, each in its own thread (a
 * process of its own costs the disk the same). */
static double node_commit_ms(const char *dir, int writers, int sets, const uint8_t *value,
                             size_t value_len) {
  struct node_env *n = calloc((size_t)writers, sizeof *n);
  if (!n)
    die("calloc", -1);
  for (int i = 0; i < writers; i++) {
    snprintf(n[i].dir, sizeof n[i].dir, "%s/ceiling-node%d", dir, i);
    n[i].sets = sets;
    n[i].value = value;
    n[i].value_len = value_len;
    int rc = node_env_open(&n[i]);
    if (rc)
      die("lmdb node env", rc);
  }
  double t_end = fsb_now_s() + 2 * budget;
  for (int i = 0; i < writers; i++) {
    n[i].t_end = t_end;
    pthread_create(&n[i].th, NULL, node_env_main, &n[i]);
  }
  double ms = 0;
  for (int i = 0; i < writers; i++) {
    pthread_join(n[i].th, NULL);
    if (n[i].rc)
      die("lmdb node commit", n[i].rc);
    ms += n[i].secs * 1e3 / (double)(n[i].commits ? n[i].commits : 1);
    mdb_env_close(n[i].env);
    rm_env(n[i].dir);
  }
  free(n);
  return ms / writers;
}

/* ------------------------------------------------------------------- main */

int main(int argc, char **argv) {
  const char *dir = fsb_opt(argc, argv, "--dir", NULL);
  bool quick = fsb_flag(argc, argv, "--quick");
  if (!dir) {
    fprintf(stderr, "usage: fsb_ceiling --dir TMPDIR [--quick] [--sets N]\n");
    return 1;
  }
  if (sodium_init() < 0)
    die("sodium_init", -1);
  budget = quick ? 0.5 : 1.5;
  long ncores = sysconf(_SC_NPROCESSORS_ONLN);
  size_t nsets = (size_t)atol(fsb_opt(argc, argv, "--sets", quick ? "20000" : "60000"));
  if (nsets < 2000)
    nsets = 2000;
  nsets -= nsets % 1000;

  /* The same change sets the ingest benchmark pushes: 100 devices, one
   * ~600-byte record each. */
  fsb_set *sets = calloc(nsets, sizeof *sets);
  uint8_t **signed_bytes = calloc(nsets, sizeof *signed_bytes);
  size_t *signed_len = calloc(nsets, sizeof *signed_len);
  if (!sets || !signed_bytes || !signed_len)
    die("calloc", -1);
  enum { NDEV = 100 };
  static uint8_t pk[NDEV][FS_PK_LEN], sk[NDEV][FS_SK_LEN], prev[NDEV][FS_HASH_LEN];
  for (int d = 0; d < NDEV; d++)
    fsb_keypair("ceiling", (uint64_t)d, pk[d], sk[d]);
  uint64_t hlc = (uint64_t)1700000000000 << 16;
  double tsign0 = fsb_now_s();
  for (size_t i = 0; i < nsets; i++) {
    int d = (int)(i % NDEV);
    if (fsb_set_make(&sets[i], pk[d], sk[d], i / NDEV + 1, prev[d], ++hlc, "KT.KPL.DAKNEN",
                     i) ||
        fsb_set_signed_bytes(&sets[i], &signed_bytes[i], &signed_len[i]))
      die("seal", -1);
    memcpy(prev[d], sets[i].id, FS_HASH_LEN);
  }
  double sign_s = fsb_now_s() - tsign0;
  size_t body_total = 0;
  for (size_t i = 0; i < nsets; i++)
    body_total += sets[i].body_len;
  fsb_result("changeset_body_bytes", (double)body_total / (double)nsets, "bytes");
  fsb_result("cores", (double)ncores, "cores");

  /* Ed25519 */
  const fsb_set *s0 = &sets[0];
  size_t vi = 0;
  double verify = TIMED(1000000, {
    const fsb_set *s = &sets[vi++ % nsets];
    if (crypto_sign_verify_detached(s->sig, s->body, s->body_len, pk[(vi - 1) % nsets % NDEV]))
      die("verify", -1);
  });
  fsb_result("ed25519_verify_per_s_core", verify, "ops/s");
  fsb_result("ed25519_verify_us", 1e6 / verify, "us");
  fsb_result("ed25519_verify_per_s_all_cores",
             verify_all_cores((int)ncores, sets, nsets, (const uint8_t (*)[FS_PK_LEN])pk, NDEV),
             "ops/s");
  uint8_t sig[FS_SIG_LEN];
  double sign = TIMED(1000000, crypto_sign_detached(sig, NULL, s0->body, s0->body_len, sk[0]));
  fsb_result("ed25519_sign_per_s_core", sign, "ops/s");
  (void)sign_s;

  /* BLAKE2b */
  static uint8_t big[1 << 16], h[FS_HASH_LEN];
  memset(big, 7, sizeof big);
  double blocks = TIMED(1000000, crypto_generichash(h, sizeof h, big, sizeof big, NULL, 0));
  fsb_result("blake2b_mb_s", blocks * sizeof big / 1e6, "MB/s");
  double small = TIMED(10000000, crypto_generichash(h, sizeof h, s0->body, s0->body_len, NULL, 0));
  fsb_result("blake2b_600b_us", 1e6 / small, "us");

  /* protobuf-c decode of a typical change set */
  double decode = TIMED(10000000, {
    Fs__ChangeSet *cs = fs__change_set__unpack(NULL, s0->body_len, s0->body);
    if (!cs)
      die("unpack", -1);
    fs__change_set__free_unpacked(cs, NULL);
  });
  fsb_result("protobuf_decode_per_s", decode, "ops/s");
  fsb_result("protobuf_decode_us", 1e6 / decode, "us");

  /* LMDB durable commits: one put per transaction. */
  char edir[1100];
  snprintf(edir, sizeof edir, "%s/ceiling-commits", dir);
  MDB_dbi dbi;
  MDB_env *env = open_env(edir, &dbi);
  size_t ci = 0;
  double commits = TIMED(50000, {
    MDB_txn *txn;
    const fsb_set *s = &sets[ci % nsets];
    MDB_val k = {FS_HASH_LEN, (void *)s->id}, v = {signed_len[ci % nsets], signed_bytes[ci % nsets]};
    ci++;
    int rc;
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) || (rc = mdb_put(txn, dbi, &k, &v, 0)) ||
        (rc = mdb_txn_commit(txn)))
      die("lmdb commit", rc);
  });
  mdb_env_close(env);
  rm_env(edir);
  fsb_result("lmdb_durable_commits_per_s", commits, "commits/s");

  /* LMDB batched puts: 1,000 per durable transaction. */
  snprintf(edir, sizeof edir, "%s/ceiling-puts", dir);
  env = open_env(edir, &dbi);
  size_t pi = 0;
  double txns = TIMED(nsets / 1000, {
    MDB_txn *txn;
    int rc = mdb_txn_begin(env, NULL, 0, &txn);
    for (int j = 0; rc == 0 && j < 1000; j++, pi++) {
      MDB_val k = {FS_HASH_LEN, sets[pi].id}, v = {signed_len[pi], signed_bytes[pi]};
      rc = mdb_put(txn, dbi, &k, &v, 0);
    }
    if (rc || (rc = mdb_txn_commit(txn)))
      die("lmdb batch", rc);
  });
  mdb_env_close(env);
  rm_env(edir);
  fsb_result("lmdb_batched_puts_per_s", txns * 1000, "puts/s");

  fsb_result("tcp_loopback_mb_s", tcp_loopback_mb_s(), "MB/s");

  fsb_result("node_commit_ms_alone", node_commit_ms(dir, 1, 1, signed_bytes[0], signed_len[0]),
             "ms");
  fsb_result("node_commit_ms_shared7",
             node_commit_ms(dir, 7, 4, signed_bytes[0], signed_len[0]), "ms");

  /* The ceiling loop: decode + BLAKE2b + verify (fs_changeset_open does all
   * three and checks the bounds) + one LMDB put of the signed bytes, 1,000
   * puts per durable transaction, over the same change sets; one thread. */
  snprintf(edir, sizeof edir, "%s/ceiling-loop", dir);
  env = open_env(edir, &dbi);
  double t0 = fsb_now_s(), t_open = 0, t_put = 0;
  size_t done = 0;
  for (size_t b = 0; b < nsets / 1000; b++) {
    MDB_txn *txn;
    int rc = mdb_txn_begin(env, NULL, 0, &txn);
    for (size_t j = 0; rc == 0 && j < 1000; j++, done++) {
      const fsb_set *s = &sets[done];
      Fs__SignedChangeSet *ss =
          fs__signed_change_set__unpack(NULL, signed_len[done], signed_bytes[done]);
      double a = fsb_now_s();
      Fs__ChangeSet *cs;
      uint8_t id[FS_HASH_LEN];
      if (!ss || (rc = fs_changeset_open(ss->body.data, ss->body.len, ss->signature.data,
                                         ss->signature.len, &cs, id)))
        die("open", rc);
      double m = fsb_now_s();
      MDB_val k = {FS_HASH_LEN, id}, v = {signed_len[done], signed_bytes[done]};
      rc = mdb_put(txn, dbi, &k, &v, 0);
      t_open += m - a;
      t_put += fsb_now_s() - m;
      fs__change_set__free_unpacked(cs, NULL);
      fs__signed_change_set__free_unpacked(ss, NULL);
      (void)s;
    }
    double c0 = fsb_now_s();
    if (rc || (rc = mdb_txn_commit(txn)))
      die("lmdb loop", rc);
    t_put += fsb_now_s() - c0;
    if (fsb_now_s() - t0 > 4 * budget + 2)
      break; /* bounded in time too */
  }
  double loop_s = fsb_now_s() - t0;
  mdb_env_close(env);
  rm_env(edir);
  double per_core = (double)done / loop_s;
  fsb_result("ceiling_loop_sets", (double)done, "sets");
  fsb_result("ceiling_loop_open_us", t_open / (double)done * 1e6, "us");
  fsb_result("ceiling_loop_put_commit_us", t_put / (double)done * 1e6, "us");
  fsb_result("ceiling_loop_us", loop_s / (double)done * 1e6, "us");
  fsb_result("ceiling_loop_per_s_core", per_core, "sets/s");
  fsb_result("ingest_ceiling_per_s", per_core * (double)ncores, "sets/s");
  fsb_result("durable_commit_per_set_cap_per_s", commits, "sets/s");

  for (size_t i = 0; i < nsets; i++) {
    fsb_set_free(&sets[i]);
    free(signed_bytes[i]);
  }
  free(sets);
  free(signed_bytes);
  free(signed_len);
  return 0;
}
