/* test_lthash.c - LtHash16: the set hash is independent of the order of
 * additions, add then sub is the identity, updating a hash in place gives
 * what hashing the new set from scratch gives, different sets (a changed
 * state, a shifted key/state boundary, an element twice) differ, disjoint
 * sets combine, the encoding round-trips, and known answers computed
 * independently (Python's hashlib and cryptography's ChaCha20) pin the
 * bytes that nodes of different builds compare. */
#include "hex.h"
#include "keys.h"
#include "lthash.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NELEM 16

static fs_lthash g_elem[NELEM]; /* element i: key "KT.A\0r<i>", state "state <i>" */

static void make(fs_lthash *e, const char *key, size_t klen, const char *state) {
  fs_lthash_record(e, (const uint8_t *)key, klen, (const uint8_t *)state, strlen(state));
}

static int setup(void **state) {
  (void)state;
  if (fs_crypto_init() != 0)
    return -1;
  for (int i = 0; i < NELEM; i++) {
    char key[32], st[32];
    int kl = snprintf(key, sizeof key, "KT.A%cr%d", 0, i);
    snprintf(st, sizeof st, "state %d", i);
    make(&g_elem[i], key, (size_t)kl, st);
  }
  return 0;
}

static void digest_hex(const fs_lthash *h, char out[2 * FS_LTHASH_DIGEST + 1]) {
  uint8_t d[FS_LTHASH_DIGEST];
  fs_lthash_finalize(h, d);
  fs_hex_encode(out, d, sizeof d);
}

static void assert_same(const fs_lthash *a, const fs_lthash *b) {
  assert_memory_equal(a->lane, b->lane, sizeof a->lane);
}

static void assert_differ(const fs_lthash *a, const fs_lthash *b) {
  uint8_t da[FS_LTHASH_DIGEST], db[FS_LTHASH_DIGEST];
  fs_lthash_finalize(a, da);
  fs_lthash_finalize(b, db);
  assert_memory_not_equal(da, db, sizeof da);
}

static void test_known_answers(void **state) {
  (void)state;
  fs_lthash h, a, b;
  char hex[2 * FS_LTHASH_DIGEST + 1];
  fs_lthash_init(&h);
  digest_hex(&h, hex); /* BLAKE2b-256 of 2048 zero bytes */
  assert_string_equal(hex, "200823e5158b3774c11b5c61850ada762f8264144a9bebec3ebac5a2adde67b8");
  make(&a, "KT\0r1", 5, "state one");
  assert_int_equal(a.lane[0], 8212);
  assert_int_equal(a.lane[3], 22387);
  digest_hex(&a, hex);
  assert_string_equal(hex, "64bcb927dbe38e5fab67696808bf28772d00c8fda3e9de4d3e8158a07775acb1");
  make(&b, "KT.A\0r2", 7, "state two");
  fs_lthash_add(&h, &a);
  fs_lthash_add(&h, &b);
  digest_hex(&h, hex);
  assert_string_equal(hex, "e432fe52e5bb758d09fee608f7e2c7b3903f704554df50a9001fc9ea96491697");
}

static void test_order_independent(void **state) {
  (void)state;
  fs_lthash fwd, rev, mix;
  fs_lthash_init(&fwd);
  fs_lthash_init(&rev);
  fs_lthash_init(&mix);
  for (int i = 0; i < NELEM; i++) {
    fs_lthash_add(&fwd, &g_elem[i]);
    fs_lthash_add(&rev, &g_elem[NELEM - 1 - i]);
    fs_lthash_add(&mix, &g_elem[(i * 7) % NELEM]); /* 7 is prime to 16 */
  }
  assert_same(&fwd, &rev);
  assert_same(&fwd, &mix);
}

static void test_add_sub_identity(void **state) {
  (void)state;
  fs_lthash h, empty;
  fs_lthash_init(&h);
  fs_lthash_init(&empty);
  fs_lthash_add(&h, &g_elem[0]);
  fs_lthash_add(&h, &g_elem[1]);
  fs_lthash saved = h;
  fs_lthash_add(&h, &g_elem[2]);
  assert_differ(&h, &saved);
  fs_lthash_sub(&h, &g_elem[2]);
  assert_same(&h, &saved);
  fs_lthash_sub(&h, &g_elem[0]);
  fs_lthash_sub(&h, &g_elem[1]);
  assert_same(&h, &empty);
}

/* A store keeps one sum and replaces records in it (sub old, add new):
 * after any sequence of replacements the sum equals the sum of what is
 * there now, computed from nothing. */
static void test_incremental_equals_scratch(void **state) {
  (void)state;
  int held[NELEM / 2]; /* slot s holds element held[s] */
  fs_lthash inc, scratch;
  fs_lthash_init(&inc);
  for (int s = 0; s < NELEM / 2; s++) {
    held[s] = s;
    fs_lthash_add(&inc, &g_elem[s]);
  }
  uint32_t x = 12345;
  for (int round = 0; round < 200; round++) {
    x = x * 1103515245u + 12345u;
    int s = (int)(x >> 16) % (NELEM / 2), to = (int)(x >> 8) % NELEM;
    fs_lthash_sub(&inc, &g_elem[held[s]]);
    fs_lthash_add(&inc, &g_elem[to]);
    held[s] = to;
  }
  fs_lthash_init(&scratch);
  for (int s = 0; s < NELEM / 2; s++)
    fs_lthash_add(&scratch, &g_elem[held[s]]);
  assert_same(&inc, &scratch);
}

static void test_different_sets_differ(void **state) {
  (void)state;
  fs_lthash a, b, e;
  fs_lthash_init(&a);
  fs_lthash_add(&a, &g_elem[0]);
  fs_lthash_add(&a, &g_elem[1]);
  b = a;
  fs_lthash_sub(&b, &g_elem[1]);
  fs_lthash_add(&b, &g_elem[2]);
  assert_differ(&a, &b); /* {0, 1} vs {0, 2} */
  b = a;
  fs_lthash_add(&b, &g_elem[1]);
  assert_differ(&a, &b); /* an element twice is another multiset */
  fs_lthash_init(&b);
  assert_differ(&a, &b); /* vs the empty set */
  /* One byte of state, or the boundary between key and state, changes the
   * element. */
  make(&a, "KT\0r1", 5, "state one");
  make(&b, "KT\0r1", 5, "state onf");
  assert_differ(&a, &b);
  make(&e, "KT\0r1s", 6, "tate one");
  assert_differ(&a, &e);
}

static void test_combine_disjoint(void **state) {
  (void)state;
  fs_lthash left, right, all;
  fs_lthash_init(&left);
  fs_lthash_init(&right);
  fs_lthash_init(&all);
  for (int i = 0; i < NELEM; i++) {
    fs_lthash_add(i < 5 ? &left : &right, &g_elem[i]);
    fs_lthash_add(&all, &g_elem[i]);
  }
  fs_lthash_add(&left, &right);
  assert_same(&left, &all);
}

static void test_encoding(void **state) {
  (void)state;
  fs_lthash h, back;
  fs_lthash_init(&h);
  h.lane[0] = 0x0102;
  h.lane[FS_LTHASH_LANES - 1] = 0xfffe;
  uint8_t enc[FS_LTHASH_BYTES];
  fs_lthash_encode(&h, enc);
  assert_int_equal(enc[0], 0x02); /* little-endian */
  assert_int_equal(enc[1], 0x01);
  assert_int_equal(enc[FS_LTHASH_BYTES - 2], 0xfe);
  fs_lthash_decode(&back, enc);
  assert_same(&h, &back);
  /* Lanes wrap mod 2^16. */
  fs_lthash one;
  fs_lthash_init(&one);
  one.lane[FS_LTHASH_LANES - 1] = 3;
  fs_lthash_add(&h, &one);
  assert_int_equal(h.lane[FS_LTHASH_LANES - 1], 1);
  fs_lthash_sub(&h, &one);
  assert_int_equal(h.lane[FS_LTHASH_LANES - 1], 0xfffe);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_answers),
      cmocka_unit_test(test_order_independent),
      cmocka_unit_test(test_add_sub_identity),
      cmocka_unit_test(test_incremental_equals_scratch),
      cmocka_unit_test(test_different_sets_differ),
      cmocka_unit_test(test_combine_disjoint),
      cmocka_unit_test(test_encoding),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
