/* test_trust_cache.c - the writer's per-transaction trust cache answers
 * every lookup exactly as fs_trust_find and fs_trust_revoked do: over
 * devices with several enrolments (from the root and from a delegated
 * administrator), every area and time around their bounds, asked in a
 * scrambled order; again after a revocation of the administrator and of a
 * device is stored and the cache reset; and with more keys than it holds. */
#include "cert.h"
#include "error.h"
#include "testutil.h"
#include "trust_cache.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#define MAPSIZE (16u << 20)
#define NDEV 3

typedef struct fixture {
  char *tmp;
  fs_store s;
  fs_keypair root, admin, dev[NDEV];
} fixture;

/* Issues a certificate and stores it in txn; returns fs_cert_store's code. */
static int store_cert(fixture *f, MDB_txn *txn, const fs_keypair *issuer, Fs__CertKind kind,
                      const uint8_t *subject, const char *area, uint64_t from, uint64_t until,
                      uint64_t issued_at, uint64_t last_seq) {
  return tu_cert_store(&f->s, txn, f->root.pk, issuer, kind, subject, area, from, until,
                       issued_at, last_seq);
}

static int setup(void **state) {
  if (fs_crypto_init() != 0)
    return -1;
  fixture *f = calloc(1, sizeof *f);
  if (!f)
    return -1;
  if (tu_store_open_temp(&f->s, MAPSIZE, &f->tmp) != 0 || fs_keypair_generate(&f->root) ||
      fs_keypair_generate(&f->admin))
    return -1;
  for (int i = 0; i < NDEV; i++)
    if (fs_keypair_generate(&f->dev[i]))
      return -1;
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(&f->s, true, &txn), 0);
  const Fs__CertKind D = FS__CERT_KIND__CERT_DEVICE;
  /* The administrator may enrol below KT.KPL. */
  assert_int_equal(store_cert(f, txn, &f->root, FS__CERT_KIND__CERT_DELEGATION, f->admin.pk,
                              "KT.KPL", 0, 0, 10, 0), 1);
  /* dev 0: the root's enrolment for a commune, then the administrator's
   * for the district, overlapping in time; dev 1: the administrator's,
   * no end; dev 2: none. */
  assert_int_equal(store_cert(f, txn, &f->root, D, f->dev[0].pk, "KT.KPL.DAKNEN", 1000, 5000,
                              20, 0), 1);
  assert_int_equal(store_cert(f, txn, &f->admin, D, f->dev[0].pk, "KT.KPL", 4000, 9000, 4700,
                              0), 1);
  assert_int_equal(store_cert(f, txn, &f->admin, D, f->dev[1].pk, "KT.KPL.X", 0, 0, 30, 0), 1);
  assert_int_equal(fs_store_commit(txn), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  tu_store_close_temp(&f->s, f->tmp);
  fs_keypair_free(&f->root);
  fs_keypair_free(&f->admin);
  for (int i = 0; i < NDEV; i++)
    fs_keypair_free(&f->dev[i]);
  free(f);
  return 0;
}

static const char *areas[] = {"KT", "KT.KPL", "KT.KPL.DAKNEN", "KT.KPL.DAKNEN.T3",
                              "KT.KPL.X", "KT.KPLX", NULL};
static const uint64_t times[] = {0, 999, 1000, 3000, 4000, 4500, 4700, 5000, 5001, 9000, 9001};
#define NAREA (sizeof areas / sizeof areas[0])
#define NTIME (sizeof times / sizeof times[0])
#define NQ (NDEV * NAREA * NTIME)

/* Asks every (device, area, time) through c in a scrambled order (each
 * query several times) and compares with the uncached lookups; returns how
 * many verdicts were 0 (so a caller sees the store changed something). */
static int compare_all(fixture *f, MDB_txn *txn, fs_trust_cache *c, int *verdicts) {
  int ok = 0;
  for (size_t round = 0; round < 3; round++)
    for (size_t k = 0; k < NQ; k++) {
      size_t q = (k * 37 + round * 11) % NQ; /* 37 is prime to NQ = 231 */
      const fs_keypair *d = &f->dev[q % NDEV];
      const char *area = areas[q / NDEV % NAREA];
      uint64_t at = times[q / NDEV / NAREA];
      fs_grant g;
      int want = fs_trust_find(&f->s, txn, f->root.pk, d->pk, FS__CERT_KIND__CERT_DEVICE, area,
                               at, &g);
      int got = fs_trust_cache_find(c, &f->s, txn, f->root.pk, d->pk,
                                    FS__CERT_KIND__CERT_DEVICE, area, at);
      if (got != want)
        fail_msg("dev %zu area %s at %llu: cached %s, uncached %s", q % NDEV,
                 area ? area : "(any)", (unsigned long long)at, fs_errname(got),
                 fs_errname(want));
      if (round == 0 && verdicts)
        verdicts[q] = want;
      ok += want == 0;
      uint64_t l1, f1, l2, f2;
      int r1 = fs_trust_revoked(&f->s, txn, f->root.pk, d->pk, &l1, &f1);
      int r2 = fs_trust_cache_revoked(c, &f->s, txn, f->root.pk, d->pk, &l2, &f2);
      assert_int_equal(r1, r2);
      if (r1 == 1) {
        assert_int_equal(l1, l2);
        assert_int_equal(f1, f2);
      }
    }
  return ok;
}

static void test_same_verdicts(void **state) {
  fixture *f = *state;
  fs_trust_cache *c;
  assert_int_equal(fs_trust_cache_new(&c), 0);
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(&f->s, true, &txn), 0);
  static int before[NQ], after[NQ];
  assert_true(compare_all(f, txn, c, before) > 0);

  /* The administrator is revoked from 4600 on (its enrolment of dev 0,
   * issued at 4700, no longer counts; dev 1's, issued at 30, still does),
   * and dev 1 after its set 7: stored in the same transaction, then the
   * cache is reset, as commit_batches does. */
  assert_int_equal(store_cert(f, txn, &f->root, FS__CERT_KIND__CERT_REVOCATION, f->admin.pk,
                              "KT.KPL", 4600, 0, 4600, 0), 1);
  assert_int_equal(store_cert(f, txn, &f->root, FS__CERT_KIND__CERT_REVOCATION, f->dev[1].pk,
                              "KT.KPL.X", 5000, 0, 5000, 7), 1);
  fs_trust_cache_reset(c);
  compare_all(f, txn, c, after);
  int changed = 0;
  for (size_t q = 0; q < NQ; q++)
    changed += before[q] != after[q];
  assert_true(changed > 0); /* the revocation mattered: the reset was needed */
  uint64_t last, from;
  assert_int_equal(fs_trust_cache_revoked(c, &f->s, txn, f->root.pk, f->dev[1].pk, &last, &from), 1);
  assert_int_equal(last, 7);
  mdb_txn_abort(txn);
  fs_trust_cache_free(c);
}

/* More keys than the cache holds: the rest are answered uncached, the
 * same way. */
static void test_full_cache(void **state) {
  fixture *f = *state;
  fs_trust_cache *c;
  assert_int_equal(fs_trust_cache_new(&c), 0);
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(&f->s, false, &txn), 0);
  for (uint32_t i = 0; i < FS_TRUST_CACHE_KEYS + 100; i++) {
    uint8_t key[FS_PK_LEN] = {0};
    memcpy(key, &i, sizeof i);
    assert_int_equal(fs_trust_cache_find(c, &f->s, txn, f->root.pk, key,
                                         FS__CERT_KIND__CERT_DEVICE, "KT", 3000),
                     FS_EUNKNOWN_PEER);
  }
  compare_all(f, txn, c, NULL); /* the devices come after the cache filled */
  fs_trust_cache_reset(c);
  compare_all(f, txn, c, NULL);
  mdb_txn_abort(txn);
  fs_trust_cache_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_same_verdicts, setup, teardown),
      cmocka_unit_test_setup_teardown(test_full_cache, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
