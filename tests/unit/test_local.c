/* test_local.c - the laptop's pending edits and sealing them into signed
 * change sets: grouped by area, edit order kept within an area, bounded
 * sets, an unbroken chain, nothing left pending, nothing sealed twice; and
 * creating a device: a failed init leaves no key, an interrupted one is
 * finished with its key, a key is never replaced; and a record stamped far
 * ahead by another device does not carry the laptop's clock along. */
#include "changeset.h"
#include "error.h"
#include "hlc.h"
#include "keys.h"
#include "local.h"
#include "testutil.h"
#include "tu_laptop.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#define SCOPE "KT.KPL.DAKNEN"

typedef tu_laptop fixture;

static int setup(void **state) {
  *state = tu_laptop_new(SCOPE);
  return *state ? 0 : -1;
}

static int teardown(void **state) {
  tu_laptop_free(*state);
  return 0;
}

/* A patrol record i in village (i % 3), or an edit of its notes. */
static void patrol(fs_device *d, unsigned i, const char *notes) {
  char area[64], id[32];
  snprintf(area, sizeof area, SCOPE ".T%u", i % 3);
  snprintf(id, sizeof id, "p%05u", i);
  fs_write w[4] = {{"start", (const uint8_t *)"2026-11-20T20:00", 16},
                   {"end", (const uint8_t *)"2026-11-20T23:00", 16},
                   {"route", (const uint8_t *)"Thôn 1 → Thôn 3", strlen("Thôn 1 → Thôn 3")},
                   {"notes", (const uint8_t *)notes, strlen(notes)}};
  if (strcmp(notes, "created") == 0)
    assert_int_equal(fs_device_edit(d, area, id, "patrol", w, 4, false), 0);
  else
    assert_int_equal(fs_device_edit(d, area, id, NULL, &w[3], 1, false), 0);
}

static uint64_t count(fs_device *d, MDB_dbi dbi) {
  MDB_txn *txn;
  uint64_t n = 0;
  assert_int_equal(fs_store_begin(&d->store, false, &txn), 0);
  assert_int_equal(fs_store_count(&d->store, txn, dbi, &n), 0);
  mdb_txn_abort(txn);
  return n;
}

/* Walks the outbox: a chain of valid signed sets, one area each, edit order
 * within the area (clocks only grow, across sets too). Returns the changes
 * it holds. */
static uint64_t outbox_chain_changes(fixture *f) {
  MDB_txn *txn;
  MDB_cursor *cur;
  MDB_val k, v;
  assert_int_equal(fs_store_begin(&f->d.store, false, &txn), 0);
  assert_int_equal(mdb_cursor_open(txn, f->d.store.outbox, &cur), 0);
  uint8_t prev[FS_HASH_LEN] = {0};
  uint64_t seq = 0, changes = 0, last_hlc[3] = {0};
  int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
  while (rc == 0) {
    Fs__SignedChangeSet *ss = fs__signed_change_set__unpack(NULL, v.mv_size, v.mv_data);
    assert_non_null(ss);
    Fs__ChangeSet *cs;
    uint8_t id[FS_HASH_LEN];
    assert_int_equal(fs_changeset_open(ss->body.data, ss->body.len, ss->signature.data,
                                       ss->signature.len, &cs, id),
                     0);
    assert_int_equal(cs->seq, ++seq);
    assert_memory_equal(cs->prev.data, prev, FS_HASH_LEN);
    memcpy(prev, id, FS_HASH_LEN);
    assert_true(cs->n_changes <= FS_MAX_CHANGES);
    for (size_t i = 0; i < cs->n_changes; i++) {
      const Fs__Change *ch = cs->changes[i];
      unsigned num = (unsigned)strtoul(ch->record_id + 1, NULL, 10);
      char want[64];
      snprintf(want, sizeof want, SCOPE ".T%u", num % 3);
      assert_string_equal(cs->area, want);
      assert_true(ch->hlc > last_hlc[num % 3]); /* edit order: clocks only grow */
      assert_true(ch->hlc <= cs->hlc);
      last_hlc[num % 3] = ch->hlc;
      changes++;
    }
    fs__change_set__free_unpacked(cs, NULL);
    fs__signed_change_set__free_unpacked(ss, NULL);
    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
  }
  assert_int_equal(rc, MDB_NOTFOUND);
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  return changes;
}

static void test_seal_groups_by_area_in_edit_order(void **state) {
  fixture *f = *state;
  const unsigned n = 2500; /* 834 + 833 + 833 per village, each under 1,024 */
  for (unsigned i = 0; i < n; i++)
    patrol(&f->d, i, "created");
  patrol(&f->d, 4, "second visit"); /* village T1, after its creation */
  assert_int_equal(count(&f->d, f->d.store.pending), n + 1);
  assert_int_equal(count(&f->d, f->d.store.outbox), 0);

  fs_seal_result sealed;
  assert_int_equal(fs_device_seal(&f->d, 0, &sealed), 0);
  assert_int_equal(sealed.sets, 3); /* one per village: 834, 834 (with the edit), 833 */
  assert_false(sealed.more);
  assert_true(sealed.bytes > 2501 * 100);
  assert_int_equal(count(&f->d, f->d.store.pending), 0);
  assert_int_equal(count(&f->d, f->d.store.outbox), 3);
  assert_int_equal(outbox_chain_changes(f), n + 1); /* every edit exactly once */

  /* Nothing pending: sealing again makes nothing; the next edit extends
   * the chain. */
  assert_int_equal(fs_device_seal(&f->d, 0, &sealed), 0);
  assert_int_equal(sealed.sets, 0);
  patrol(&f->d, 7, "third visit");
  assert_int_equal(fs_device_seal(&f->d, 0, &sealed), 0);
  assert_int_equal(sealed.sets, 1);
  assert_int_equal(count(&f->d, f->d.store.outbox), 4);
  assert_int_equal(outbox_chain_changes(f), n + 2);
}

/* A sync seals in steps (the oldest edits first) to push while it seals:
 * the steps make one chain holding every edit once, in edit order. */
static void test_seal_in_steps(void **state) {
  fixture *f = *state;
  const unsigned n = 2000;
  for (unsigned i = 0; i < n; i++)
    patrol(&f->d, i, "created");
  patrol(&f->d, 4, "second visit");
  fs_seal_result sealed;
  uint64_t sets = 0, steps = 0;
  do {
    assert_int_equal(fs_device_seal(&f->d, 700, &sealed), 0);
    sets += sealed.sets;
    assert_int_equal(count(&f->d, f->d.store.outbox), sets);
    assert_true(++steps <= 4);
  } while (sealed.more);
  assert_int_equal(steps, 3); /* 700, 700, 601 */
  assert_int_equal(sets, 9);  /* three villages a step */
  assert_int_equal(count(&f->d, f->d.store.pending), 0);
  assert_int_equal(outbox_chain_changes(f), n + 1);
}

static void test_seal_bounds_each_set(void **state) {
  fixture *f = *state;
  /* 3,000 edits in one village: at most 1,024 changes a set. */
  for (unsigned i = 0; i < 3000; i++)
    patrol(&f->d, i * 3, "created");
  fs_seal_result sealed;
  assert_int_equal(fs_device_seal(&f->d, 0, &sealed), 0);
  assert_int_equal(sealed.sets, 3); /* 1,024 + 1,024 + 952 */
  assert_int_equal(count(&f->d, f->d.store.pending), 0);
}

static void test_refused_edit_leaves_nothing_pending(void **state) {
  fixture *f = *state;
  char big[FS_MAX_VALUE + 2];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  fs_write w = {"notes", (const uint8_t *)big, strlen(big)};
  assert_int_equal(fs_device_edit(&f->d, SCOPE, "p1", "patrol", &w, 1, false), FS_ELIMIT);
  assert_int_equal(fs_device_edit(&f->d, "KT.OTHER", "p1", "patrol", &w, 1, false), FS_ESCOPE);
  assert_int_equal(count(&f->d, f->d.store.pending), 0);
  assert_int_equal(count(&f->d, f->d.store.records), 0);
}

/* New ids begin with the time they were made: ids made one after the
 * other sort in that order, and share their beginning; a record is found
 * by the end of its id, by its beginning while that is unique, never by
 * a part that two ids share, never by a short one. */
static void test_ids_sort_by_time_and_are_found_by_their_end(void **state) {
  fixture *f = *state;
  char a[33], b[33];
  fs_record_id_new(a);
  fs_record_id_new(b);
  assert_int_equal(strlen(a), 32);
  assert_true(strspn(a, "0123456789abcdef") == 32);
  assert_true(strcmp(a, b) < 0 || strncmp(a, b, 12) == 0); /* same ms: random tails */
  uint64_t ms = 0;
  for (int i = 0; i < 12; i++)
    ms = ms << 4 | (uint64_t)(a[i] <= '9' ? a[i] - '0' : a[i] - 'a' + 10);
  assert_true(ms + 60000 > fs_hlc_now_ms() && ms <= fs_hlc_now_ms());
  fs_write w = {"notes", (const uint8_t *)"x", 1};
  assert_int_equal(fs_device_edit(&f->d, SCOPE, a, "patrol", &w, 1, false), 0);
  assert_int_equal(fs_device_edit(&f->d, SCOPE, b, "patrol", &w, 1, false), 0);
  fs_record r;
  assert_int_equal(fs_device_find(&f->d, a + 24, &r), 0); /* the last 8 */
  assert_string_equal(r.id, a);
  fs_record_free(&r);
  assert_int_equal(fs_device_find(&f->d, b + 28, &r), 0); /* the last 4 */
  assert_string_equal(r.id, b);
  fs_record_free(&r);
  assert_int_equal(fs_device_find(&f->d, b, &r), 0); /* the whole id */
  assert_string_equal(r.id, b);
  fs_record_free(&r);
  char start[9];
  memcpy(start, a, 8);
  start[8] = '\0';
  assert_int_equal(fs_device_find(&f->d, start, &r), FS_EINVAL); /* both begin so */
  assert_int_equal(fs_device_find(&f->d, a + 29, &r), FS_ENOTFOUND); /* 3: too short */
}

/* Stores, as a pull does, patrol id written at clock hlc by another device. */
static void pulled(fs_device *d, const char *id, uint64_t hlc) {
  uint8_t other[FS_PK_LEN];
  randombytes_buf(other, sizeof other);
  Fs__ChangeSet *cs = tu_cs_new(other, 1, NULL, hlc, SCOPE);
  Fs__Change *ch = tu_cs_change(cs, id, "patrol", false);
  ch->hlc = hlc;
  tu_change_write_str(ch, "start", "2026-11-20T20:00", hlc, 0);
  tu_change_write_str(ch, "end", "2026-11-20T23:00", hlc, 0);
  tu_change_write_str(ch, "route", "Thôn 2", hlc, 0);
  fs_record r;
  assert_int_equal(fs_record_init(&r, SCOPE, id), 0);
  assert_int_equal(fs_record_apply(&r, cs, ch, NULL, NULL), 1);
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(&d->store, true, &txn), 0);
  assert_true(fs_store_record_merge(&d->store, txn, &r) >= 0);
  assert_int_equal(fs_store_commit(txn), 0);
  fs_record_free(&r);
  tu_cs_free(cs);
}

/* The clock of field name of record id on the laptop. */
static uint64_t clock_of(fs_device *d, const char *id, const char *name) {
  fs_record r;
  assert_int_equal(fs_device_find(d, id, &r), 0);
  const fs_field *f = fs_record_field(&r, name);
  assert_non_null(f);
  uint64_t hlc = f->clock.hlc;
  fs_record_free(&r);
  return hlc;
}

/* A record stamped far ahead (by a device whose date is wrong, here at the
 * very limit and a year on) is kept as it came, but the laptop's clock does
 * not follow it: its own edits stay near its wall clock, each later than
 * the last, and only an edit that could not beat such a write is refused. */
static void test_far_clock_is_not_taken(void **state) {
  fixture *f = *state;
  const uint64_t year = 365 * 24 * 3600 * 1000ull;
  const uint64_t far[] = {FS_HLC_LIMIT - 1, fs_hlc_make(fs_hlc_now_ms() + year, 0)};
  fs_write notes = {"notes", (const uint8_t *)"đã kiểm tra", strlen("đã kiểm tra")};
  patrol(&f->d, 0, "created");
  uint64_t last = clock_of(&f->d, "p00000", "notes");
  for (int k = 0; k < 2; k++) {
    const char *id = k ? "far_year" : "far_limit";
    pulled(&f->d, id, far[k]);
    assert_int_equal(clock_of(&f->d, id, "route"), far[k]); /* stored as it came */
    /* Its fields and its deletion cannot be beaten now: refused. */
    fs_write route = {"route", (const uint8_t *)"Thôn 4", 7};
    assert_int_equal(fs_device_edit(&f->d, SCOPE, id, NULL, &route, 1, false), FS_ECLOCK);
    assert_int_equal(fs_device_edit(&f->d, SCOPE, id, NULL, NULL, 0, true), FS_ECLOCK);
    /* A field it lacks, and other records, take clocks of this laptop. */
    assert_int_equal(fs_device_edit(&f->d, SCOPE, id, NULL, &notes, 1, false), 0);
    uint64_t c = clock_of(&f->d, id, "notes");
    assert_true(c > last && fs_hlc_ms(c) <= fs_hlc_now_ms() + 1);
    patrol(&f->d, 0, k ? "third visit" : "second visit");
    uint64_t next = clock_of(&f->d, "p00000", "notes");
    assert_true(next > c && fs_hlc_ms(next) <= fs_hlc_now_ms() + 1);
    last = next;
  }
  assert_int_equal(count(&f->d, f->d.store.pending), 5); /* no refused edit kept */
  fs_seal_result sealed;
  assert_int_equal(fs_device_seal(&f->d, 0, &sealed), 0); /* every edit sealable */
  assert_int_equal(sealed.sets, 2);                      /* SCOPE and SCOPE.T0 */
  assert_int_equal(count(&f->d, f->d.store.pending), 0);
}

static bool exists(const char *dir, const char *name) {
  char *p = tu_path(dir, name);
  struct stat st;
  bool yes = stat(p, &st) == 0;
  free(p);
  return yes;
}

/* The store cannot be made (its path is a file): no key is left behind, so
 * the next init, once the cause is gone, makes a whole device. */
static void test_create_failure_leaves_no_key(void **state) {
  fixture *f = *state;
  char *dir = tu_path(f->tmp, "failed"), *store = tu_path(dir, "store");
  uint8_t pk[FS_PK_LEN];
  assert_int_equal(mkdir(dir, 0700), 0);
  FILE *fp = fopen(store, "w");
  assert_non_null(fp);
  fclose(fp);
  assert_int_not_equal(fs_device_create(dir, SCOPE, "An", pk), 0);
  assert_false(exists(dir, "device.key"));
  assert_false(exists(dir, "device.key.pub"));
  assert_int_equal(unlink(store), 0);
  assert_int_equal(fs_device_create(dir, SCOPE, "An", pk), 0);
  fs_device d;
  assert_int_equal(fs_device_open(&d, dir), 0);
  assert_memory_equal(d.key.pk, pk, FS_PK_LEN);
  fs_device_close(&d);
  free(store);
  free(dir);
}

/* A key written, its store missing or without its area (an init cut
 * short): init finishes the device with that key. */
static void test_create_finishes_with_the_key(void **state) {
  fixture *f = *state;
  char *store = tu_path(f->dir, "store");
  uint8_t pk[FS_PK_LEN], again[FS_PK_LEN];
  memcpy(pk, f->d.key.pk, FS_PK_LEN);
  fs_device_close(&f->d);
  tu_rmtree(store);
  assert_int_equal(fs_device_create(f->dir, SCOPE ".T1", "An", again), 0);
  assert_memory_equal(again, pk, FS_PK_LEN);
  /* A store that never got its area. */
  tu_rmtree(store);
  fs_store s;
  assert_int_equal(fs_store_open(&s, store, FS_STORE_MAPSIZE_DEFAULT), 0);
  fs_store_close(&s);
  assert_int_equal(fs_device_create(f->dir, SCOPE ".T2", "An", again), 0);
  assert_memory_equal(again, pk, FS_PK_LEN);
  assert_int_equal(fs_device_open(&f->d, f->dir), 0);
  assert_memory_equal(f->d.key.pk, pk, FS_PK_LEN);
  char area[FS_MAX_AREA + 1];
  assert_int_equal(fs_device_area(&f->d, area), 0);
  assert_string_equal(area, SCOPE ".T2");
  free(store);
}

/* A whole device is refused, and so is a store whose key is gone: neither
 * gets a new key. */
static void test_create_never_replaces_a_key(void **state) {
  fixture *f = *state;
  uint8_t pk[FS_PK_LEN], mine[FS_PK_LEN];
  memcpy(mine, f->d.key.pk, FS_PK_LEN);
  fs_device_close(&f->d); /* one environment open per process */
  assert_int_equal(fs_device_create(f->dir, SCOPE, "An", pk), FS_EINVAL);
  assert_int_equal(fs_device_open(&f->d, f->dir), 0);
  assert_memory_equal(f->d.key.pk, mine, FS_PK_LEN);
  fs_device_close(&f->d);
  char *key = tu_path(f->dir, "device.key"), *pub = tu_path(f->dir, "device.key.pub");
  char *saved = tu_path(f->tmp, "saved.key");
  assert_int_equal(rename(key, saved), 0);
  assert_int_equal(fs_device_create(f->dir, SCOPE ".T1", "An", pk), FS_EKEYFILE);
  assert_false(exists(f->dir, "device.key"));
  assert_true(exists(f->dir, "device.key.pub"));
  assert_int_equal(unlink(pub), 0);
  assert_int_equal(fs_device_create(f->dir, SCOPE ".T1", "An", pk), FS_EKEYFILE);
  assert_false(exists(f->dir, "device.key"));
  assert_false(exists(f->dir, "device.key.pub"));
  assert_int_equal(rename(saved, key), 0); /* the key restored: the same device */
  assert_int_equal(fs_device_open(&f->d, f->dir), 0);
  char area[FS_MAX_AREA + 1];
  assert_int_equal(fs_device_area(&f->d, area), 0);
  assert_string_equal(area, SCOPE); /* the store kept its area */
  free(saved);
  free(key);
  free(pub);
}

int main(void) {
  if (fs_crypto_init() != 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_seal_groups_by_area_in_edit_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_seal_in_steps, setup, teardown),
      cmocka_unit_test_setup_teardown(test_seal_bounds_each_set, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refused_edit_leaves_nothing_pending, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ids_sort_by_time_and_are_found_by_their_end, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_far_clock_is_not_taken, setup, teardown),
      cmocka_unit_test_setup_teardown(test_create_failure_leaves_no_key, setup, teardown),
      cmocka_unit_test_setup_teardown(test_create_finishes_with_the_key, setup, teardown),
      cmocka_unit_test_setup_teardown(test_create_never_replaces_a_key, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
