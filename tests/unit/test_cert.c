/* test_cert.c - revocations that name each other (common/cert.c): a key
 * that revokes itself is revoked and every lookup ends; of two keys that
 * revoke each other the earlier revocation stands; a revocation by an
 * administrator revoked from before it is void; a ring of administrators
 * each revoking the next ends; a damaged certificate log is an error; a
 * Hello's certificates that would not be stored take no write lock; the
 * read pass checks each new signature and the write pass trusts its marks
 * and stores a chain in any order. */
#include "cert.h"
#include "error.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#define MAPSIZE (16u << 20)
#define NADMIN 12

static const Fs__CertKind DELEG = FS__CERT_KIND__CERT_DELEGATION;
static const Fs__CertKind DEV = FS__CERT_KIND__CERT_DEVICE;
static const Fs__CertKind REVOKE = FS__CERT_KIND__CERT_REVOCATION;

typedef struct fixture {
  char *tmp;
  fs_store s;
  MDB_txn *txn;
  fs_keypair root, admin[NADMIN], dev;
} fixture;

/* Stores a certificate that must be new (and so trusted when stored). */
static void cert(fixture *f, const fs_keypair *issuer, Fs__CertKind kind, const uint8_t *subject,
                 const char *area, uint64_t from, uint64_t issued_at) {
  assert_int_equal(tu_cert_store(&f->s, f->txn, f->root.pk, issuer, kind, subject, area, from, 0,
                                 issued_at, 0),
                   1);
}

/* 1: revoked, with *from; 0: not; fails the test on an error. */
static int revoked(fixture *f, const uint8_t *key, uint64_t *from) {
  uint64_t last;
  int rc = fs_trust_revoked(&f->s, f->txn, f->root.pk, key, &last, from);
  assert_true(rc == 0 || rc == 1);
  return rc;
}

static int device_trust(fixture *f, uint64_t at) {
  fs_grant g;
  return fs_trust_find(&f->s, f->txn, f->root.pk, f->dev.pk, DEV, "KT.KPL.DAKNEN", at, &g);
}

/* Every administrator may enrol below KT.KPL from time 0; admin 0 enrols
 * the device at 100. */
static int setup(void **state) {
  if (fs_crypto_init() != 0)
    return -1;
  fixture *f = calloc(1, sizeof *f);
  if (!f)
    return -1;
  if (tu_store_open_temp(&f->s, MAPSIZE, &f->tmp) != 0 || fs_keypair_generate(&f->root) ||
      fs_keypair_generate(&f->dev))
    return -1;
  for (int i = 0; i < NADMIN; i++)
    if (fs_keypair_generate(&f->admin[i]))
      return -1;
  if (fs_store_begin(&f->s, true, &f->txn) != 0)
    return -1;
  for (int i = 0; i < NADMIN; i++)
    cert(f, &f->root, DELEG, f->admin[i].pk, "KT.KPL", 0, 10);
  cert(f, &f->admin[0], DEV, f->dev.pk, "KT.KPL.DAKNEN", 0, 100);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  mdb_txn_abort(f->txn);
  tu_store_close_temp(&f->s, f->tmp);
  fs_keypair_free(&f->root);
  fs_keypair_free(&f->dev);
  for (int i = 0; i < NADMIN; i++)
    fs_keypair_free(&f->admin[i]);
  free(f);
  return 0;
}

/* An administrator whose key leaked revokes it itself from 5000: it is
 * revoked (the lookup used to recurse until the stack overflowed), what it
 * enrolled before stays, and it can enrol nothing after. */
static void test_self_revocation(void **state) {
  fixture *f = *state;
  const fs_keypair *a = &f->admin[0];
  cert(f, a, REVOKE, a->pk, "KT.KPL", 5000, 5000);
  uint64_t from = 0;
  assert_int_equal(revoked(f, a->pk, &from), 1);
  assert_int_equal(from, 5000);
  assert_int_equal(device_trust(f, 6000), 0); /* enrolled at 100 */
  fs_keypair late;
  assert_int_equal(fs_keypair_generate(&late), 0);
  assert_int_equal(tu_cert_store(&f->s, f->txn, f->root.pk, a, DEV, late.pk, "KT.KPL.DAKNEN", 0,
                                 0, 6000, 0),
                   FS_EUNTRUSTED);
  fs_keypair_free(&late);
  /* Nor revoke anything after. */
  assert_int_equal(tu_cert_store(&f->s, f->txn, f->root.pk, a, REVOKE, f->dev.pk,
                                 "KT.KPL.DAKNEN", 7000, 0, 7000, 0),
                   FS_EUNTRUSTED);
  assert_int_equal(revoked(f, f->dev.pk, &from), 0);
}

/* Admin 1 revokes admin 2 at 5000, admin 2 revokes admin 1 at 6000, and
 * this node hears of the later one first (so it stores both): admin 2 was
 * revoked when it revoked admin 1, so admin 2 is revoked and admin 1 is
 * not, asked either way round. */
static void test_mutual_revocation(void **state) {
  fixture *f = *state;
  const fs_keypair *a = &f->admin[1], *b = &f->admin[2];
  cert(f, b, REVOKE, a->pk, "KT.KPL", 6000, 6000);
  cert(f, a, REVOKE, b->pk, "KT.KPL", 5000, 5000);
  uint64_t from = 0;
  assert_int_equal(revoked(f, b->pk, &from), 1);
  assert_int_equal(from, 5000);
  assert_int_equal(revoked(f, a->pk, &from), 0);
  assert_int_equal(revoked(f, b->pk, &from), 1);
}

/* Admin 0 revokes the device at 5000, and the root then revokes admin 0
 * from 1000 (its key leaked then): the device's revocation is void, the
 * device's own enrolment by admin 0 at 100 stands. */
static void test_revoked_revoker(void **state) {
  fixture *f = *state;
  const fs_keypair *a = &f->admin[0];
  uint64_t from = 0;
  cert(f, a, REVOKE, f->dev.pk, "KT.KPL.DAKNEN", 5000, 5000);
  assert_int_equal(revoked(f, f->dev.pk, &from), 1);
  cert(f, &f->root, REVOKE, a->pk, "KT.KPL", 1000, 9000);
  assert_int_equal(revoked(f, f->dev.pk, &from), 0);
  assert_int_equal(device_trust(f, 6000), 0); /* enrolled at 100, before 1000 */
}

/* Admin i revokes admin i+1 at 1000 + i, all the way round to admin 0,
 * stored latest first (each valid when stored): every lookup ends. The first revocation, by admin 0, stands when its
 * own revocation (the last one, at 1000 + NADMIN - 1) is left out as the
 * key weighed: admin 1 is revoked; then admin 2 is not (its revoker was
 * revoked first), admin 3 is, and so on while the walk is within
 * FS_CERT_DEPTH. */
static void test_revocation_ring(void **state) {
  fixture *f = *state;
  for (int i = NADMIN - 1; i >= 0; i--)
    cert(f, &f->admin[i], REVOKE, f->admin[(i + 1) % NADMIN].pk, "KT.KPL", 1000 + i, 1000 + i);
  uint64_t from;
  for (int i = 0; i < NADMIN; i++)
    (void)revoked(f, f->admin[i].pk, &from); /* ends, 0 or 1 */
  assert_int_equal(revoked(f, f->admin[1].pk, &from), 1);
  assert_int_equal(from, 1000);
  assert_int_equal(revoked(f, f->admin[2].pk, &from), 0);
}

static int take_none(void *arg, const uint8_t *p, size_t len) {
  (void)p;
  (void)len;
  ++*(int *)arg;
  return 0;
}

/* A certlog entry whose certificate the store lacks is a damaged store
 * (E_STORE), not the end of the log: the certificates after it, maybe
 * revocations, would never reach the parent. */
static void test_cert_log_damaged(void **state) {
  fixture *f = *state;
  uint64_t next;
  bool more;
  int n = 0;
  assert_int_equal(fs_cert_log_since(&f->s, f->txn, 0, 100, 1u << 20, take_none, &n, &next,
                                     &more), 0);
  assert_int_equal(n, NADMIN + 1);
  MDB_cursor *cur;
  assert_int_equal(mdb_cursor_open(f->txn, f->s.certs, &cur), 0);
  MDB_val k, v;
  assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
  assert_int_equal(mdb_cursor_del(cur, 0), 0);
  mdb_cursor_close(cur);
  n = 0;
  assert_int_equal(fs_cert_log_since(&f->s, f->txn, 0, 100, 1u << 20, take_none, &n, &next,
                                     &more), FS_ESTORE);
}

/* What a Hello presents that would not be stored - another deployment's
 * chain, certificates held already - is checked in a read transaction:
 * the loop thread must not wait for the write lock, which the ingest
 * writer holds while it commits. Here this thread holds it, so taking it
 * again would hang (the alarm ends the test); what is new and chains is
 * still stored. */
static void test_accept_without_write_lock(void **state) {
  fixture *f = *state;
  assert_int_equal(fs_store_commit(f->txn), 0);
  fs_keypair other_root, other_admin, newdev;
  assert_int_equal(fs_keypair_generate(&other_root), 0);
  assert_int_equal(fs_keypair_generate(&other_admin), 0);
  assert_int_equal(fs_keypair_generate(&newdev), 0);
  ProtobufCBinaryData foreign[2] = {
      tu_cert_issue(&other_root, DELEG, other_admin.pk, "KT.KPL", 0, 0, 10, 0),
      tu_cert_issue(&other_admin, DEV, f->dev.pk, "KT.KPL.DAKNEN", 0, 0, 100, 0)};
  /* as setup stored it */
  ProtobufCBinaryData held[1] = {tu_cert_issue(&f->admin[0], DEV, f->dev.pk, "KT.KPL.DAKNEN", 0, 0,
                                               100, 0)};
  ProtobufCBinaryData fresh[1] = {tu_cert_issue(&f->admin[1], DEV, newdev.pk, "KT.KPL.DAKNEN", 0,
                                                0, 200, 0)};

  assert_int_equal(fs_store_begin(&f->s, true, &f->txn), 0); /* the write lock, held */
  alarm(20);
  assert_int_equal(fs_certs_accept(&f->s, f->root.pk, foreign, 2), 0);
  assert_int_equal(fs_certs_accept(&f->s, f->root.pk, held, 1), 0);
  alarm(0);
  mdb_txn_abort(f->txn);
  assert_int_equal(fs_certs_accept(&f->s, f->root.pk, fresh, 1), 1);
  assert_int_equal(fs_certs_accept(&f->s, f->root.pk, foreign, 2), 0); /* still not stored */
  assert_int_equal(fs_store_begin(&f->s, false, &f->txn), 0);
  fs_grant g;
  assert_int_equal(fs_trust_find(&f->s, f->txn, f->root.pk, newdev.pk, DEV, "KT.KPL.DAKNEN", 300,
                                 &g), 0);
  free(foreign[0].data);
  free(foreign[1].data);
  free(held[0].data);
  free(fresh[0].data);
  fs_keypair_free(&other_root);
  fs_keypair_free(&other_admin);
  fs_keypair_free(&newdev);
}

/* fs_certs_storable checks the signatures of what is new (and marks them),
 * not of what is held; fs_certs_store stores a delegation and the
 * enrolment it vouches for in either order, skips a forged certificate,
 * and checks no signature the read pass marked. */
static void test_read_then_write_pass(void **state) {
  fixture *f = *state;
  assert_int_equal(fs_store_commit(f->txn), 0);
  fs_keypair admin, dev, dev2;
  assert_int_equal(fs_keypair_generate(&admin), 0);
  assert_int_equal(fs_keypair_generate(&dev), 0);
  assert_int_equal(fs_keypair_generate(&dev2), 0);
  /* The enrolment first, the delegation it needs after it. */
  ProtobufCBinaryData chain[2] = {
      tu_cert_issue(&admin, DEV, dev.pk, "KT.KPL.DAKNEN", 0, 0, 200, 0),
      tu_cert_issue(&f->root, DELEG, admin.pk, "KT.KPL", 0, 0, 150, 0)};
  ProtobufCBinaryData forged = tu_cert_issue(&admin, DEV, dev2.pk, "KT.KPL.DAKNEN", 0, 0, 210, 0);
  forged.data[forged.len - 1] ^= 1; /* the signature is the SignedCert's last field */

  bool checked[2] = {false, false};
  assert_true(fs_certs_storable(&f->s, f->root.pk, chain, 2, checked));
  assert_true(checked[0] && checked[1]); /* both new: both signatures checked */
  bool forged_checked = false;
  assert_false(fs_certs_storable(&f->s, f->root.pk, &forged, 1, &forged_checked));
  assert_false(forged_checked);

  assert_int_equal(fs_store_begin(&f->s, true, &f->txn), 0);
  assert_int_equal(fs_certs_store(&f->s, f->txn, f->root.pk, &forged, 1, NULL), 0);
  assert_int_equal(fs_certs_store(&f->s, f->txn, f->root.pk, chain, 2, checked), 2);
  assert_int_equal(fs_certs_store(&f->s, f->txn, f->root.pk, chain, 2, NULL), 0); /* held */
  fs_grant g;
  assert_int_equal(fs_trust_find(&f->s, f->txn, f->root.pk, dev.pk, DEV, "KT.KPL.DAKNEN", 300, &g),
                   0);
  assert_int_not_equal(fs_trust_find(&f->s, f->txn, f->root.pk, dev2.pk, DEV, "KT.KPL.DAKNEN",
                                     300, &g),
                       0);
  /* A mark is the caller's word that these very bytes were checked. */
  forged_checked = true;
  assert_int_equal(fs_certs_store(&f->s, f->txn, f->root.pk, &forged, 1, &forged_checked), 1);
  mdb_txn_abort(f->txn);

  bool held_checked[2] = {false, false};
  assert_int_equal(fs_certs_accept(&f->s, f->root.pk, chain, 2), 2);
  assert_false(fs_certs_storable(&f->s, f->root.pk, chain, 2, held_checked));
  assert_false(held_checked[0] || held_checked[1]); /* held: no signature checked */
  assert_int_equal(fs_store_begin(&f->s, false, &f->txn), 0); /* for teardown */
  free(chain[0].data);
  free(chain[1].data);
  free(forged.data);
  fs_keypair_free(&admin);
  fs_keypair_free(&dev);
  fs_keypair_free(&dev2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_self_revocation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mutual_revocation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_revoked_revoker, setup, teardown),
      cmocka_unit_test_setup_teardown(test_revocation_ring, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cert_log_damaged, setup, teardown),
      cmocka_unit_test_setup_teardown(test_accept_without_write_lock, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_then_write_pass, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
