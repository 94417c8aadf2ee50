/* test_digest.c - the state digest kept in areasums (store format 3):
 *   - after random writes, merges, same-clock ties, conflicts, deletes and
 *     replacements, in sets of one change and of many (one record twice
 *     among them) and transactions of every size (aborted ones too),
 *     fs_store_digest equals fs_store_digest_scan, digest and count, for
 *     every prefix;
 *   - a prefix takes exactly its areas ("KT.KP" and "KT.KP.X", never
 *     "KT.KPL" or "KT.KP_"), and its digest is that of its records alone;
 *   - a format 2 store is converted by its writer, in transactions that end
 *     at an area's end, resumed where a crash left it, and started over
 *     when records changed in between.
 * Change sets are applied opened (fs_store_apply_changeset), unsigned: the
 * store trusts what ingest verified. test_store.c and test_property_merge.c
 * compare digests of stores built in different orders. */
#include "error.h"
#include "store.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MAPSIZE ((size_t)256 << 20)
#define NDEV 4

typedef struct fixture {
  char *tmp, *dir;
  fs_store s;
  uint8_t dev[NDEV][FS_PK_LEN];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f || fs_crypto_init() != 0)
    return -1;
  f->tmp = tu_mkdtemp();
  f->dir = tu_path(f->tmp, "node");
  for (int i = 0; i < NDEV; i++)
    memset(f->dev[i], 0x11 * (i + 1), FS_PK_LEN);
  *state = f;
  return fs_store_open_upgrade(&f->s, f->dir, MAPSIZE) == 0 ? 0 : -1;
}

static int teardown(void **state) {
  fixture *f = *state;
  fs_store_close(&f->s);
  tu_rmtree(f->tmp);
  free(f->dir);
  free(f->tmp);
  free(f);
  return 0;
}

/* Applies, in txn, device dev writing field=value to record (area, id)
 * at hlc (base_hlc base), or deleting it. */
static void write1(fs_store *s, MDB_txn *txn, const uint8_t *dev, const char *area,
                   const char *id, const char *field, const char *value, uint64_t hlc,
                   uint64_t base, bool del) {
  Fs__ChangeSet *cs = tu_cs_new(dev, 0, NULL, hlc, area);
  Fs__Change *ch = tu_cs_change(cs, id, "incident", del);
  if (!del)
    tu_change_write_str(ch, field, value, hlc, base);
  assert_true(fs_store_apply_changeset(s, txn, cs) >= 0);
  tu_cs_free(cs);
}

/* Digest and count of prefix, from the sums and from the records. */
static void both(fs_store *s, MDB_txn *txn, const char *prefix, uint8_t sums[FS_HASH_LEN],
                 uint64_t *nsums, uint8_t scan[FS_HASH_LEN], uint64_t *nscan) {
  assert_int_equal(fs_store_digest(s, txn, prefix, sums, nsums), 0);
  assert_int_equal(fs_store_digest_scan(s, txn, prefix, scan, nscan), 0);
}

static const char *const g_prefixes[] = {"",       "KT",      "KT.A",    "KT.AB",
                                         "KT.A.X", "KT.KP",   "KT.KPL",  "KT.KP.X",
                                         "KT.B",   "KT.Z",    "KT.KP_"};
#define NPREFIX (sizeof g_prefixes / sizeof *g_prefixes)

/* Sums and scan agree for every prefix, in txn (which may be the write
 * transaction that just wrote). */
static void agree(fixture *f, MDB_txn *txn, const char *when) {
  for (size_t i = 0; i < NPREFIX; i++) {
    uint8_t a[FS_HASH_LEN], b[FS_HASH_LEN];
    uint64_t na, nb;
    both(&f->s, txn, g_prefixes[i], a, &na, b, &nb);
    if (na != nb || memcmp(a, b, FS_HASH_LEN) != 0)
      fail_msg("%s: prefix '%s': sums say %llu records, the records %llu%s", when,
               g_prefixes[i], (unsigned long long)na, (unsigned long long)nb,
               na == nb ? " (digests differ)" : "");
  }
}

static void agree_committed(fixture *f, const char *when) {
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(&f->s, false, &txn), 0);
  agree(f, txn, when);
  mdb_txn_abort(txn);
}

static uint32_t g_rnd = 20261125;
static uint32_t rnd(uint32_t n) {
  g_rnd = g_rnd * 1103515245u + 12345u;
  return (g_rnd >> 8) % n;
}

static void test_sums_agree_with_scan(void **state) {
  fixture *f = *state;
  static const char *const areas[] = {"KT",    "KT.A",    "KT.AB",  "KT.A.X", "KT.A0",
                                      "KT.KP", "KT.KPL",  "KT.KP.X", "KT.KP_", "KT.B"};
  static const char *const fields[] = {"status", "note", "count"};
  char when[64];
  agree_committed(f, "empty");
  for (int t = 0; t < 60; t++) {
    MDB_txn *txn;
    assert_int_equal(fs_store_begin(&f->s, true, &txn), 0);
    uint32_t n = 1 + rnd(t % 3 == 0 ? 300 : 8);
    for (uint32_t i = 0; i < n; i++) {
      char id[16], value[16];
      snprintf(id, sizeof id, "r%u", rnd(25));
      snprintf(value, sizeof value, "v%u", rnd(1000));
      uint64_t hlc = 1000 + rnd(200); /* clocks collide: ties, stale writes, conflicts */
      write1(&f->s, txn, f->dev[rnd(NDEV)], areas[rnd(10)], id, fields[rnd(3)], value, hlc,
             rnd(4) ? hlc - rnd(50) : 0, rnd(20) == 0);
    }
    if (t % 4 == 1) {
      /* One set of many changes, some to one record twice: its area's sums
       * are written once, at the set's end. */
      Fs__ChangeSet *cs = tu_cs_new(f->dev[rnd(NDEV)], 0, NULL, 1100, areas[rnd(10)]);
      for (uint32_t i = 0, m = 2 + rnd(40); i < m; i++) {
        char id[16], value[16];
        snprintf(id, sizeof id, "r%u", rnd(25));
        snprintf(value, sizeof value, "s%u", rnd(1000));
        Fs__Change *ch = tu_cs_change(cs, id, "incident", rnd(15) == 0);
        tu_change_write_str(ch, fields[rnd(3)], value, 1100 + i, rnd(2) ? 1000 : 0);
      }
      assert_true(fs_store_apply_changeset(&f->s, txn, cs) >= 0);
      tu_cs_free(cs);
    }
    if (t % 7 == 3) {
      /* Merging a stored record into itself writes nothing. */
      fs_record r;
      if (fs_store_record_get(&f->s, txn, "KT.A", "r1", &r) == 0) {
        assert_int_equal(fs_store_record_merge(&f->s, txn, &r), 0);
        fs_record_free(&r);
      }
    }
    snprintf(when, sizeof when, "transaction %d, before its commit", t);
    agree(f, txn, when);
    if (t % 5 == 4) {
      mdb_txn_abort(txn); /* nothing of it stays, sums included */
    } else {
      assert_int_equal(fs_store_commit(txn), 0);
    }
    snprintf(when, sizeof when, "after transaction %d", t);
    agree_committed(f, when);
  }
  uint64_t n;
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(&f->s, false, &txn), 0);
  assert_int_equal(fs_store_count(&f->s, txn, f->s.records, &n), 0);
  uint8_t d[FS_HASH_LEN];
  uint64_t all;
  assert_int_equal(fs_store_digest(&f->s, txn, "", d, &all), 0);
  assert_int_equal(all, n);
  assert_true(n > 100); /* most of 10 areas x 25 ids */
  assert_int_equal(fs_store_count(&f->s, txn, f->s.areasums, &n), 0);
  assert_int_equal(n, 10);
  mdb_txn_abort(txn);
}

/* One record in each area, each area's records also in a store of their
 * own: a prefix's digest is its records' alone. */
static void test_prefix_takes_its_areas(void **state) {
  fixture *f = *state;
  static const char *const areas[] = {"KT.K", "KT.KP", "KT.KP.X", "KT.KPL", "KT.KP_",
                                      "KT.KP0", "KT.KP.X.Y"};
  static const struct {
    const char *prefix;
    uint64_t n;
    unsigned mask; /* the areas it takes */
  } want[] = {{"KT.KP", 3, 0x46}, {"KT.KP.X", 2, 0x44}, {"KT.KPL", 1, 0x08},
              {"KT.K", 1, 0x01},  {"KT", 7, 0x7f},      {"KT.KP.X.Y", 1, 0x40},
              {"KT.KPLX", 0, 0},  {"", 7, 0x7f}};
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(&f->s, true, &txn), 0);
  for (int i = 0; i < 7; i++)
    write1(&f->s, txn, f->dev[0], areas[i], "r", "status", areas[i], 100, 0, false);
  assert_int_equal(fs_store_commit(txn), 0);
  for (size_t w = 0; w < sizeof want / sizeof *want; w++) {
    char name[32];
    snprintf(name, sizeof name, "only%zu", w);
    char *dir = tu_path(f->tmp, name);
    fs_store only;
    MDB_txn *ot;
    assert_int_equal(fs_store_open(&only, dir, MAPSIZE), 0);
    assert_int_equal(fs_store_begin(&only, true, &ot), 0);
    for (int i = 0; i < 7; i++)
      if (want[w].mask & 1u << i)
        write1(&only, ot, f->dev[0], areas[i], "r", "status", areas[i], 100, 0, false);
    assert_int_equal(fs_store_commit(ot), 0);
    uint8_t a[FS_HASH_LEN], b[FS_HASH_LEN], o[FS_HASH_LEN];
    uint64_t na, nb, no;
    assert_int_equal(fs_store_begin(&f->s, false, &txn), 0);
    both(&f->s, txn, want[w].prefix, a, &na, b, &nb);
    mdb_txn_abort(txn);
    assert_int_equal(fs_store_begin(&only, false, &ot), 0);
    assert_int_equal(fs_store_digest(&only, ot, "", o, &no), 0);
    mdb_txn_abort(ot);
    fs_store_close(&only);
    free(dir);
    if (na != want[w].n || nb != want[w].n)
      fail_msg("prefix '%s': %llu records by the sums, %llu by the records, want %llu",
               want[w].prefix, (unsigned long long)na, (unsigned long long)nb,
               (unsigned long long)want[w].n);
    assert_memory_equal(a, b, FS_HASH_LEN);
    assert_memory_equal(a, o, FS_HASH_LEN);
  }
}

/* Records per area for the upgrade: KT.A and KT.B each more than one
 * conversion transaction takes (4,096), so the conversion stops at area
 * ends and goes on from there. */
static const struct {
  const char *area;
  int n;
} g_fill[] = {{"KT.A", 5000}, {"KT.B", 4200}, {"KT.C", 3}, {"KT.C.X", 500}, {"KT.D", 1}};
#define NFILL (sizeof g_fill / sizeof *g_fill)

static void fill(fixture *f) {
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(&f->s, true, &txn), 0);
  for (size_t a = 0; a < NFILL; a++) {
    Fs__ChangeSet *cs = tu_cs_new(f->dev[0], 0, NULL, 500, g_fill[a].area);
    for (int i = 0; i < g_fill[a].n; i++) {
      char id[16];
      snprintf(id, sizeof id, "r%05d", i);
      Fs__Change *ch = tu_cs_change(cs, id, "incident", false);
      tu_change_write_str(ch, "status", g_fill[a].area, 500, 0);
    }
    assert_int_equal(fs_store_apply_changeset(&f->s, txn, cs), g_fill[a].n);
    tu_cs_free(cs);
  }
  assert_int_equal(fs_store_commit(txn), 0);
}

/* Makes the store look as format 2 left it, or as a cut-short conversion
 * did: format 2, areasums as edit leaves them. */
typedef void (*edit_fn)(fixture *f, MDB_txn *txn);

static void to_format2(fixture *f, edit_fn edit) {
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(&f->s, true, &txn), 0);
  assert_int_equal(fs_meta_put_u64(&f->s, txn, "format", 2), 0);
  edit(f, txn);
  assert_int_equal(fs_store_commit(txn), 0);
  fs_store_close(&f->s);
  assert_int_equal(fs_store_open(&f->s, f->dir, MAPSIZE), FS_EVERSION);
  assert_int_equal(f->s.found_format, 2);
  assert_int_equal(fs_store_open_upgrade(&f->s, f->dir, MAPSIZE), 0);
  MDB_txn *rt;
  uint64_t format;
  MDB_val v;
  assert_int_equal(fs_store_begin(&f->s, false, &rt), 0);
  assert_int_equal(fs_meta_get_u64(&f->s, rt, "format", &format), 0);
  assert_int_equal(format, FS_STORE_FORMAT);
  assert_int_equal(fs_meta_get(&f->s, rt, "sums_next", &v), FS_ENOTFOUND);
  mdb_txn_abort(rt);
}

static void no_sums(fixture *f, MDB_txn *txn) {
  assert_int_equal(mdb_drop(txn, f->s.areasums, 0), 0);
}

static void put_sums_next(fixture *f, MDB_txn *txn, uint64_t seq, const char *area) {
  uint8_t v[64];
  fs_be64_put(v, seq);
  memcpy(v + 8, area, strlen(area));
  assert_int_equal(fs_meta_put(&f->s, txn, "sums_next", v, 8 + strlen(area)), 0);
}

/* What a conversion cut short after its first transaction leaves: KT.A
 * summed (here wrongly, by 1000 records, so that the test sees whether it
 * is kept), the rest not yet (KT.B's entry garbage, as if half written:
 * it never is, the transaction commits whole, but the conversion must
 * overwrite, not add), and where to go on. */
static void cut_short(fixture *f, MDB_txn *txn, uint64_t seq_delta) {
  MDB_val k = {4, "KT.A"}, v;
  assert_int_equal(mdb_get(txn, f->s.areasums, &k, &v), 0);
  uint8_t a[8 + 2048];
  assert_int_equal(v.mv_size, sizeof a);
  memcpy(a, v.mv_data, sizeof a);
  fs_be64_put(a, fs_be64_get(a) + 1000);
  MDB_val av = {sizeof a, a};
  assert_int_equal(mdb_drop(txn, f->s.areasums, 0), 0);
  assert_int_equal(mdb_put(txn, f->s.areasums, &k, &av, 0), 0);
  memset(a, 0x5a, sizeof a);
  MDB_val bk = {4, "KT.B"};
  assert_int_equal(mdb_put(txn, f->s.areasums, &bk, &av, 0), 0);
  uint64_t seq;
  assert_int_equal(fs_meta_get_u64(&f->s, txn, "record_seq", &seq), 0);
  put_sums_next(f, txn, seq - seq_delta, "KT.B");
}

static void cut_short_now(fixture *f, MDB_txn *txn) {
  cut_short(f, txn, 0);
}

/* The same, but the previous build then wrote records (record_seq moved
 * on since "sums_next" was written). */
static void cut_short_then_written(fixture *f, MDB_txn *txn) {
  cut_short(f, txn, 1);
}

static void test_format2_upgrade(void **state) {
  fixture *f = *state;
  fill(f);
  uint8_t before[NFILL + 1][FS_HASH_LEN], d[FS_HASH_LEN];
  uint64_t n;
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(&f->s, false, &txn), 0);
  assert_int_equal(fs_store_digest(&f->s, txn, "", before[NFILL], &n), 0);
  assert_int_equal(n, 9704);
  for (size_t a = 0; a < NFILL; a++)
    assert_int_equal(fs_store_digest(&f->s, txn, g_fill[a].area, before[a], NULL), 0);
  mdb_txn_abort(txn);

  /* Format 2: no sums at all. */
  to_format2(f, no_sums);
  agree_committed(f, "converted from format 2");
  assert_int_equal(fs_store_begin(&f->s, false, &txn), 0);
  assert_int_equal(fs_store_digest(&f->s, txn, "", d, &n), 0);
  assert_int_equal(n, 9704);
  assert_memory_equal(d, before[NFILL], FS_HASH_LEN);
  for (size_t a = 0; a < NFILL; a++) {
    assert_int_equal(fs_store_digest(&f->s, txn, g_fill[a].area, d, NULL), 0);
    assert_memory_equal(d, before[a], FS_HASH_LEN);
  }
  assert_int_equal(fs_store_count(&f->s, txn, f->s.areasums, &n), 0);
  assert_int_equal(n, NFILL);
  mdb_txn_abort(txn);

  /* Cut short: KT.A is kept as the first transaction left it, the rest
   * is summed. */
  to_format2(f, cut_short_now);
  assert_int_equal(fs_store_begin(&f->s, false, &txn), 0);
  assert_int_equal(fs_store_digest(&f->s, txn, "KT.A", d, &n), 0);
  assert_int_equal(n, 6000);
  assert_memory_equal(d, before[0], FS_HASH_LEN);
  for (size_t a = 1; a < NFILL; a++) {
    assert_int_equal(fs_store_digest(&f->s, txn, g_fill[a].area, d, &n), 0);
    assert_memory_equal(d, before[a], FS_HASH_LEN);
  }
  mdb_txn_abort(txn);

  /* Cut short and records written since: started over, all correct. */
  to_format2(f, cut_short_then_written);
  agree_committed(f, "converted again after records changed");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_sums_agree_with_scan),
      T(test_prefix_takes_its_areas),
      T(test_format2_upgrade),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
