/* test_hlc.c - hybrid logical clocks: tick never goes backwards whatever the
 * wall clock does, a full counter borrows the next millisecond, observe
 * absorbs received clocks, and a laptop's bounded observe leaves out those
 * beyond its wall clock + FS_HLC_MAX_SKEW_MS. */
#include "hlc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

static void test_layout(void **state) {
  (void)state;
  uint64_t c = fs_hlc_make(1700000000123ull, 42);
  assert_int_equal(fs_hlc_ms(c), 1700000000123ull);
  assert_int_equal(fs_hlc_logical(c), 42);
  /* Integer order is (ms, logical) order. */
  assert_true(fs_hlc_make(1000, FS_HLC_LOGICAL_MAX) < fs_hlc_make(1001, 0));
  assert_true(fs_hlc_make(1000, 1) < fs_hlc_make(1000, 2));
}

static void test_tick_wall_clock_advances(void **state) {
  (void)state;
  assert_int_equal(fs_hlc_tick(fs_hlc_make(1000, 5), 2000), fs_hlc_make(2000, 0));
  assert_int_equal(fs_hlc_tick(0, 1), fs_hlc_make(1, 0));
}

static void test_tick_wall_clock_stands_still(void **state) {
  (void)state;
  uint64_t c = fs_hlc_make(1000, 5);
  for (int i = 0; i < 100; i++) {
    uint64_t n = fs_hlc_tick(c, 1000);
    assert_true(n > c);
    assert_int_equal(fs_hlc_ms(n), 1000);
    c = n;
  }
  assert_int_equal(c, fs_hlc_make(1000, 105));
}

static void test_tick_wall_clock_goes_backwards(void **state) {
  (void)state;
  uint64_t c = fs_hlc_make(5000, 7);
  uint64_t n = fs_hlc_tick(c, 1000); /* clock set back 4 s */
  assert_int_equal(n, fs_hlc_make(5000, 8));
  n = fs_hlc_tick(n, 0);
  assert_int_equal(n, fs_hlc_make(5000, 9));
  /* When the wall clock catches up, it takes over again. */
  assert_int_equal(fs_hlc_tick(n, 5001), fs_hlc_make(5001, 0));
}

static void test_tick_random_walk(void **state) {
  (void)state;
  srand(12345);
  uint64_t wall = 1700000000000ull, c = 0;
  for (int i = 0; i < 200000; i++) {
    int step = rand() % 7 - 3; /* backwards, still or forwards */
    if (rand() % 1000 == 0)
      step = -100000; /* an NTP step back */
    wall = (uint64_t)((int64_t)wall + step);
    uint64_t n = fs_hlc_tick(c, wall);
    assert_true(n > c);
    /* Never behind the wall clock, never ahead of it by more than a borrow. */
    uint64_t hi = fs_hlc_ms(c) + 1 > wall ? fs_hlc_ms(c) + 1 : wall;
    assert_true(fs_hlc_ms(n) >= wall);
    assert_true(fs_hlc_ms(n) <= hi);
    c = n;
  }
}

static void test_logical_overflow_borrows(void **state) {
  (void)state;
  uint64_t full = fs_hlc_make(1000, FS_HLC_LOGICAL_MAX);
  assert_int_equal(fs_hlc_tick(full, 1000), fs_hlc_make(1001, 0));
  assert_int_equal(fs_hlc_tick(full, 10), fs_hlc_make(1001, 0));
  /* 70000 events in one millisecond run over into the following ones. */
  uint64_t c = fs_hlc_make(1000, 0);
  for (int i = 0; i < 70000; i++) {
    uint64_t n = fs_hlc_tick(c, 1000);
    assert_true(n > c);
    c = n;
  }
  assert_int_equal(c, fs_hlc_make(1001, 70000 - 65536));
}

static void test_observe(void **state) {
  (void)state;
  uint64_t a = fs_hlc_make(2000, 3), b = fs_hlc_make(1000, 9);
  assert_int_equal(fs_hlc_observe(a, b), a);
  assert_int_equal(fs_hlc_observe(b, a), a);
  assert_int_equal(fs_hlc_observe(a, a), a);
  srand(777);
  for (int i = 0; i < 10000; i++) {
    uint64_t l = fs_hlc_make((uint64_t)(rand() % 5000), (uint32_t)rand());
    uint64_t r = fs_hlc_make((uint64_t)(rand() % 5000), (uint32_t)rand());
    uint64_t o = fs_hlc_observe(l, r);
    assert_true(o >= l && o >= r);
    /* The next local event is later than anything seen, even with a wall
     * clock far behind. */
    assert_true(fs_hlc_tick(o, 1) > r);
  }
}

static void test_observe_bounded(void **state) {
  (void)state;
  const uint64_t now = 1700000000000ull, day = FS_HLC_MAX_SKEW_MS;
  const uint64_t local = fs_hlc_make(now - 5000, 3), bound = fs_hlc_make(now + day, 0xffff);
  /* Within the skew: taken as fs_hlc_observe takes it. */
  uint64_t soon = fs_hlc_make(now + 3600 * 1000, 7);
  assert_int_equal(fs_hlc_observe_bounded(local, soon, now), soon);
  assert_int_equal(fs_hlc_observe_bounded(local, bound, now), bound);
  /* Beyond: left out, however far. */
  assert_int_equal(fs_hlc_observe_bounded(local, bound + 1, now), local);
  assert_int_equal(fs_hlc_observe_bounded(local, fs_hlc_make(now + 365 * day, 0), now), local);
  assert_int_equal(fs_hlc_observe_bounded(local, FS_HLC_LIMIT - 1, now), local);
  /* Never backwards, also for a clock already beyond the bound. */
  assert_int_equal(fs_hlc_observe_bounded(soon, local, now), soon);
  uint64_t ahead = fs_hlc_make(now + 2 * day, 0);
  assert_int_equal(fs_hlc_observe_bounded(ahead, FS_HLC_LIMIT - 1, now), ahead);
  assert_int_equal(fs_hlc_observe_bounded(ahead, soon, now), ahead);
  srand(4242);
  for (int i = 0; i < 10000; i++) {
    uint64_t l = fs_hlc_make(now - day + (uint64_t)(rand() % (int)(2 * day)), (uint32_t)rand());
    uint64_t r = rand() % 4 == 0 ? FS_HLC_LIMIT - 1 - (uint64_t)rand()
                                 : fs_hlc_make(now - day + (uint64_t)(rand() % (int)(3 * day)),
                                               (uint32_t)rand());
    uint64_t o = fs_hlc_observe_bounded(l, r, now);
    assert_true(o == (r > l && r <= bound ? r : l));
    /* The next edit is after the last, near the wall clock, never near the
     * limit: what a laptop stamps stays within the skew. */
    uint64_t next = fs_hlc_tick(o, now);
    assert_true(next > o && next > l);
    assert_true(fs_hlc_ms(next) <= now + day + 1);
  }
}

static void test_now(void **state) {
  (void)state;
  uint64_t a = fs_hlc_now_ms(), b = fs_hlc_now_ms();
  assert_true(a > 1577836800000ull); /* after 2020-01-01 */
  assert_true(a < 4102444800000ull); /* before 2100-01-01 */
  assert_true(b >= a - 1000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_layout),
      cmocka_unit_test(test_tick_wall_clock_advances),
      cmocka_unit_test(test_tick_wall_clock_stands_still),
      cmocka_unit_test(test_tick_wall_clock_goes_backwards),
      cmocka_unit_test(test_tick_random_walk),
      cmocka_unit_test(test_logical_overflow_borrows),
      cmocka_unit_test(test_observe),
      cmocka_unit_test(test_observe_bounded),
      cmocka_unit_test(test_now),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
