/* test_property_merge.c - property test: the merge converges.
 *
 * From one seed (printed; FS_SEED overrides, else time-based), each
 * iteration lets ~6 devices with deterministic keys make random change sets
 * over a small shared pool of records: clocks that collide across devices,
 * concurrent writes, type changes, deletes and later revivals. The sets are
 * sealed and opened for real. Then:
 *   - store level: 20 fresh stores receive the same sets in different random
 *     orders, with some sets delivered twice and random transaction batches;
 *     every store's fs_store_digest("") and digest of an area prefix must be
 *     byte-identical, and equal to the same digests computed from the
 *     records (fs_store_digest_scan: the area sums kept with every write
 *     are right), and store 0's records must equal an in-memory join of
 *     all the changes (so equal digests are not equal by accident).
 *   - join level: random fs_record states joined in random orders and
 *     groupings give identical fs_record_encode bytes, and joining any input
 *     again changes nothing.
 * Honest devices only: a device never reuses a clock, so the same-clock
 * fork case is left to test_merge.c. FS_PROPERTY_ITERS sets the iterations.
 */
#include "error.h"
#include "hlc.h"
#include "store.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#define NDEV 6
#define NSTORES 20
#define MAX_SETS 64
#define MAPSIZE ((size_t)16 << 20)

static uint64_t g_seed;
static int g_iter;

/* What the generator produced, so a run can show it was not vacuous. */
static struct {
  unsigned clashes;  /* change sets of two devices at one hlc */
  unsigned hidden;   /* records hidden by a delete */
  unsigned revived;  /* records deleted and visible again */
} g_stats;

/* Fails the test with the seed, so the run can be repeated. */
#define CHECK(cond, ...)                                                      \
  do {                                                                        \
    if (!(cond)) {                                                            \
      char m_[256];                                                           \
      snprintf(m_, sizeof m_, __VA_ARGS__);                                   \
      fail_msg("%s (reproduce with FS_SEED=%llu, iteration %d)", m_,          \
               (unsigned long long)g_seed, g_iter);                           \
    }                                                                         \
  } while (0)

/* splitmix64: small, fast, and the same on every machine. */
static uint64_t rng_state;
static uint64_t rnd64(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static uint32_t rnd(uint32_t n) { return (uint32_t)(rnd64() % n); }

static void shuffle(size_t *v, size_t n) {
  for (size_t i = n; i > 1; i--) {
    size_t j = rnd((uint32_t)i), t = v[i - 1];
    v[i - 1] = v[j];
    v[j] = t;
  }
}

static const char *const areas[] = {"KT.A", "KT.A.X", "KT.B"};
static const char *const ids[] = {"r0", "r1", "r2", "r3", "r4", "r5"};
static const char *const names[] = {"a", "b", "c", "d", "e"};
static const char *const types[] = {"tip", "incident"};
#define COUNT(a) (sizeof(a) / sizeof *(a))

/* A device whose key comes from the PRNG, so a seed replays exactly. */
static void device_init(tu_device *d) {
  memset(d, 0, sizeof *d);
  uint8_t seed[crypto_sign_SEEDBYTES];
  for (size_t i = 0; i < sizeof seed; i++)
    seed[i] = (uint8_t)rnd64();
  d->kp.sk = sodium_malloc(FS_SK_LEN);
  assert_non_null(d->kp.sk);
  crypto_sign_seed_keypair(d->kp.pk, d->kp.sk, seed);
}

static void random_value(uint8_t *v, size_t *len) {
  *len = rnd(5); /* short values from a tiny alphabet: equal values happen */
  for (size_t i = 0; i < *len; i++)
    v[i] = (uint8_t)('p' + rnd(3));
}

/* One world: the sealed and opened change sets of one iteration. */
typedef struct world {
  tu_sealed sealed[MAX_SETS];
  Fs__ChangeSet *opened[MAX_SETS];
  size_t n;
} world;

static void make_world(world *w) {
  tu_device dev[NDEV];
  uint64_t clock[NDEV] = {0};
  memset(w, 0, sizeof *w);
  for (int i = 0; i < NDEV; i++)
    device_init(&dev[i]);
  size_t total = 18 + rnd(18);
  for (size_t s = 0; s < total; s++) {
    int d = (int)rnd(NDEV);
    /* Wall clocks advance slowly and disagree a little: hlcs collide. */
    uint64_t now = 1000 + s / 4 + rnd(3);
    if (s > 0 && rnd(10) < 3) /* pulled something another device wrote */
      clock[d] = fs_hlc_observe(clock[d], w->opened[rnd((uint32_t)s)]->hlc);
    uint64_t hlc = clock[d] = fs_hlc_tick(clock[d], now);
    Fs__ChangeSet *cs = tu_cs_new(dev[d].kp.pk, 0, NULL, hlc, areas[rnd(COUNT(areas))]);
    size_t pick[COUNT(ids)] = {0, 1, 2, 3, 4, 5};
    shuffle(pick, COUNT(ids));
    size_t nch = 1 + rnd(3);
    for (size_t c = 0; c < nch; c++) {
      bool del = rnd(5) == 0;
      Fs__Change *ch = tu_cs_change(cs, ids[pick[c]], types[rnd(COUNT(types))], del);
      size_t nf = del ? (rnd(4) == 0) : 1 + rnd(3), fpick[COUNT(names)] = {0, 1, 2, 3, 4};
      shuffle(fpick, COUNT(names));
      for (size_t k = 0; k < nf; k++) {
        uint8_t v[8];
        size_t vlen;
        random_value(v, &vlen);
        uint64_t base = rnd(2) ? 0 : rnd64() % hlc;
        tu_change_write(ch, names[fpick[k]], v, vlen, hlc, base);
      }
    }
    tu_device_seal(&dev[d], cs, &w->sealed[w->n]);
    tu_cs_free(cs);
    w->opened[w->n] = tu_open(&w->sealed[w->n]);
    w->n++;
  }
  for (int i = 0; i < NDEV; i++)
    tu_device_free(&dev[i]);
}

static void free_world(world *w) {
  for (size_t i = 0; i < w->n; i++) {
    tu_sealed_free(&w->sealed[i]);
    fs__change_set__free_unpacked(w->opened[i], NULL);
  }
}

/* The expected merged state: every change joined in memory. */
typedef struct refset {
  fs_record r[COUNT(areas) * COUNT(ids)];
  size_t n;
} refset;

static fs_record *ref_find(refset *rs, const char *area, const char *id) {
  for (size_t i = 0; i < rs->n; i++)
    if (!strcmp(rs->r[i].area, area) && !strcmp(rs->r[i].id, id))
      return &rs->r[i];
  return NULL;
}

static void ref_build(refset *rs, const world *w) {
  rs->n = 0;
  for (size_t i = 0; i < w->n; i++) {
    const Fs__ChangeSet *cs = w->opened[i];
    for (size_t c = 0; c < cs->n_changes; c++) {
      fs_record *r = ref_find(rs, cs->area, cs->changes[c]->record_id);
      if (!r) {
        r = &rs->r[rs->n++];
        assert_int_equal(fs_record_init(r, cs->area, cs->changes[c]->record_id), 0);
      }
      assert_true(fs_record_apply(r, cs, cs->changes[c], NULL, NULL) >= 0);
    }
  }
}

static void count_stats(const refset *rs, const world *w) {
  for (size_t i = 0; i < w->n; i++)
    for (size_t j = i + 1; j < w->n; j++)
      if (w->opened[i]->hlc == w->opened[j]->hlc)
        g_stats.clashes++;
  for (size_t i = 0; i < rs->n; i++) {
    if (!fs_record_visible(&rs->r[i]))
      g_stats.hidden++;
    else if (rs->r[i].del_clock.hlc != 0)
      g_stats.revived++;
  }
}

static void ref_free(refset *rs) {
  for (size_t i = 0; i < rs->n; i++)
    fs_record_free(&rs->r[i]);
}

static bool same_encoding(const fs_record *a, const fs_record *b) {
  uint8_t *x, *y;
  size_t nx, ny;
  assert_int_equal(fs_record_encode(a, &x, &nx), 0);
  assert_int_equal(fs_record_encode(b, &y, &ny), 0);
  bool same = nx == ny && memcmp(x, y, nx) == 0;
  free(x);
  free(y);
  return same;
}

typedef struct ref_visit {
  refset *rs;
  size_t seen;
} ref_visit;

static int visit_ref(void *arg, const fs_record *r) {
  ref_visit *v = arg;
  fs_record *want = ref_find(v->rs, r->area, r->id);
  CHECK(want != NULL, "store holds unexpected record %s/%s", r->area, r->id);
  CHECK(same_encoding(r, want), "store state of %s/%s differs from the in-memory join",
        r->area, r->id);
  v->seen++;
  return 0;
}

/* Applies w's sets to a fresh store in a random order with duplicates, in
 * random transaction batches; returns the digests of "" and "KT.A". */
static void fill_store(const char *dir, const world *w, uint8_t all[FS_HASH_LEN],
                       uint8_t ka[FS_HASH_LEN], uint64_t counts[2], refset *check) {
  size_t order[2 * MAX_SETS], n = w->n;
  for (size_t i = 0; i < n; i++)
    order[i] = i;
  shuffle(order, n);
  size_t dups = rnd((uint32_t)(n / 3 + 1));
  for (size_t i = 0; i < dups; i++) { /* redeliver some sets at random points */
    size_t at = rnd((uint32_t)(n + 1));
    memmove(&order[at + 1], &order[at], (n - at) * sizeof *order);
    order[at] = rnd((uint32_t)w->n);
    n++;
  }
  fs_store s;
  CHECK(fs_store_open(&s, dir, MAPSIZE) == 0, "fs_store_open %s", dir);
  for (size_t i = 0; i < n;) {
    MDB_txn *txn;
    assert_int_equal(fs_store_begin(&s, true, &txn), 0);
    for (size_t k = 1 + rnd(4); k > 0 && i < n; k--, i++) {
      int rc = fs_store_apply_changeset(&s, txn, w->opened[order[i]]);
      CHECK(rc >= 0, "apply: %s", fs_errname(rc));
    }
    assert_int_equal(fs_store_commit(txn), 0);
  }
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(&s, false, &txn), 0);
  assert_int_equal(fs_store_digest(&s, txn, "", all, &counts[0]), 0);
  assert_int_equal(fs_store_digest(&s, txn, "KT.A", ka, &counts[1]), 0);
  uint8_t scan[2][FS_HASH_LEN];
  uint64_t nscan[2];
  assert_int_equal(fs_store_digest_scan(&s, txn, "", scan[0], &nscan[0]), 0);
  assert_int_equal(fs_store_digest_scan(&s, txn, "KT.A", scan[1], &nscan[1]), 0);
  CHECK(nscan[0] == counts[0] && memcmp(scan[0], all, FS_HASH_LEN) == 0,
        "digest(\"\") of the sums differs from the records'");
  CHECK(nscan[1] == counts[1] && memcmp(scan[1], ka, FS_HASH_LEN) == 0,
        "digest(\"KT.A\") of the sums differs from the records'");
  if (check) {
    ref_visit v = {check, 0};
    assert_int_equal(fs_store_records_scan(&s, txn, "", visit_ref, &v), 0);
    CHECK(v.seen == check->n, "store has %zu records, expected %zu", v.seen, check->n);
  }
  mdb_txn_abort(txn);
  fs_store_close(&s);
}

static void store_iteration(const char *tmp) {
  world w;
  make_world(&w);
  refset rs;
  ref_build(&rs, &w);
  count_stats(&rs, &w);
  uint8_t all0[FS_HASH_LEN], ka0[FS_HASH_LEN];
  uint64_t counts0[2];
  for (int i = 0; i < NSTORES; i++) {
    char name[64];
    snprintf(name, sizeof name, "it%d-store%d", g_iter, i);
    char *dir = tu_path(tmp, name);
    uint8_t all[FS_HASH_LEN], ka[FS_HASH_LEN];
    uint64_t counts[2];
    fill_store(dir, &w, all, ka, counts, i == 0 ? &rs : NULL);
    if (i == 0) {
      memcpy(all0, all, sizeof all);
      memcpy(ka0, ka, sizeof ka);
      memcpy(counts0, counts, sizeof counts);
      CHECK(counts[0] == rs.n && counts[1] > 0 && counts[1] < counts[0],
            "record counts %llu/%llu", (unsigned long long)counts[0],
            (unsigned long long)counts[1]);
    } else {
      CHECK(counts[0] == counts0[0] && counts[1] == counts0[1],
            "store %d holds another number of records", i);
      CHECK(memcmp(all, all0, FS_HASH_LEN) == 0, "store %d: digest(\"\") differs", i);
      CHECK(memcmp(ka, ka0, FS_HASH_LEN) == 0, "store %d: digest(\"KT.A\") differs", i);
    }
    tu_rmtree(dir);
    free(dir);
  }
  ref_free(&rs);
  free_world(&w);
}

/* A copy of src made by joining it into an empty record. */
static void copy_record(fs_record *dst, const fs_record *src) {
  assert_int_equal(fs_record_init(dst, src->area, src->id), 0);
  assert_true(fs_record_join(dst, src, NULL, NULL) >= 0);
}

/* Random states of one record: writes by NDEV devices at colliding hlcs.
 * base_hlc is a function of (device, hlc), as for an honest device. */
static void random_states(fs_record *st, size_t n) {
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(fs_record_init(&st[i], "KT.A", "r"), 0);
    for (size_t k = 1 + rnd(5); k > 0; k--) {
      uint8_t key[FS_PK_LEN];
      memset(key, (int)(1 + rnd(NDEV)), sizeof key);
      uint64_t hlc = fs_hlc_make(1000 + rnd(4), rnd(2));
      Fs__ChangeSet *cs = tu_cs_new(key, 1, NULL, hlc, "KT.A");
      bool del = rnd(5) == 0;
      Fs__Change *ch = tu_cs_change(cs, "r", types[rnd(COUNT(types))], del);
      for (size_t f = del ? 0 : 1 + rnd(2); f > 0; f--) {
        uint8_t v[8];
        size_t vlen;
        random_value(v, &vlen);
        tu_change_write(ch, names[rnd(COUNT(names))], v, vlen, hlc, (hlc ^ key[0]) % hlc);
      }
      assert_true(fs_record_apply(&st[i], cs, ch, NULL, NULL) >= 0);
      tu_cs_free(cs);
    }
  }
}

/* Joins the states in a random grouping: repeatedly merge two random
 * members of a working list until one is left. */
static void random_join(fs_record *out, const fs_record *st, size_t n) {
  fs_record work[16];
  size_t m = n;
  for (size_t i = 0; i < n; i++)
    copy_record(&work[i], &st[i]);
  while (m > 1) {
    size_t a = rnd((uint32_t)m), b = rnd((uint32_t)(m - 1));
    if (b >= a)
      b++;
    assert_true(fs_record_join(&work[a], &work[b], NULL, NULL) >= 0);
    fs_record_free(&work[b]);
    work[b] = work[--m];
  }
  *out = work[0];
}

static void join_iteration(void) {
  enum { NSTATES = 8, TRIALS = 12 };
  fs_record st[NSTATES], first;
  random_states(st, NSTATES);
  /* Left fold in the given order: the reference. */
  copy_record(&first, &st[0]);
  for (size_t i = 1; i < NSTATES; i++)
    assert_true(fs_record_join(&first, &st[i], NULL, NULL) >= 0);
  for (int t = 0; t < TRIALS; t++) {
    fs_record j;
    random_join(&j, st, NSTATES);
    CHECK(same_encoding(&j, &first), "join trial %d gives other bytes", t);
    CHECK(fs_record_visible(&j) == fs_record_visible(&first), "visibility differs");
    fs_record_free(&j);
  }
  for (size_t i = 0; i < NSTATES; i++) /* everything is already absorbed */
    CHECK(fs_record_join(&first, &st[i], NULL, NULL) == 0, "state %zu not absorbed", i);
  fs_record_free(&first);
  for (size_t i = 0; i < NSTATES; i++)
    fs_record_free(&st[i]);
}

static int env_int(const char *name, int dflt) {
  const char *v = getenv(name);
  return v && *v ? atoi(v) : dflt;
}

/* The stores live in one temporary directory, removed even on failure. */
static int setup(void **state) {
  *state = tu_mkdtemp();
  return 0;
}

static int teardown(void **state) {
  tu_rmtree(*state);
  free(*state);
  return 0;
}

static void test_convergence(void **state) {
  const char *tmp = *state;
  int iters = env_int("FS_PROPERTY_ITERS", 10);
  for (g_iter = 0; g_iter < iters; g_iter++) {
    rng_state = g_seed + (uint64_t)g_iter * 0x100000001b3ull;
    store_iteration(tmp);
    for (int j = 0; j < 20; j++)
      join_iteration();
  }
  printf("property_merge: %d iterations, %u hlc clashes, %u hidden, %u revived\n",
         iters, g_stats.clashes, g_stats.hidden, g_stats.revived);
  if (iters >= 3) /* a few iterations always cover the interesting cases */
    CHECK(g_stats.clashes > 0 && g_stats.hidden > 0 && g_stats.revived > 0,
          "the generator produced no clash, delete or revival");
}

int main(void) {
  if (fs_crypto_init() != 0)
    return 1;
  const char *s = getenv("FS_SEED");
  g_seed = s && *s ? strtoull(s, NULL, 0)
                   : (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
  printf("property_merge: FS_SEED=%llu FS_PROPERTY_ITERS=%d\n",
         (unsigned long long)g_seed, env_int("FS_PROPERTY_ITERS", 10));
  fflush(stdout);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_convergence, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
