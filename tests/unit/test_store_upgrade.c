/* test_store_upgrade.c - the conversions of a store of an older on-disk
 * format (common/store_upgrade.c), whole and resumed. */
#include "error.h"
#include "old_formats.h"
#include "store.h"
#include "tu_store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The SignedChangeSet of sealed as a node stores it (malloc'ed). */
static uint8_t *pack(const tu_sealed *sealed, size_t *len) {
  Fs__SignedChangeSet w = FS__SIGNED_CHANGE_SET__INIT;
  w.body = (ProtobufCBinaryData){sealed->len, sealed->body};
  w.signature = (ProtobufCBinaryData){FS_SIG_LEN, (uint8_t *)sealed->sig};
  *len = fs__signed_change_set__get_packed_size(&w);
  uint8_t *out = malloc(*len);
  assert_non_null(out);
  fs__signed_change_set__pack(&w, out);
  return out;
}

/* A store of on-disk format 1 (each set under its id in "changesets", the
 * log and devseq holding ids, no areasums), as an old build left it, with
 * one entry converted already as if an upgrade had been cut short. Opened
 * by a reader it is refused; opened by its writer it is converted all the
 * way: every set is found in the log at its seq and through devseq,
 * "changesets" is gone, the digest of the records is summed (test_digest.c
 * has format 2 -> 3 alone), and the store opens in the current format from
 * then on.
 * More sets than one upgrade transaction takes. */
#define V1_SETS 4200
static void test_format1_upgrade(void **state) {
  tu_store *f = *state;
  static tu_sealed sets[V1_SETS];
  static uint8_t *packed[V1_SETS];
  static size_t plen[V1_SETS];
  MDB_txn *txn;
  MDB_dbi old;
  assert_int_equal(fs_store_begin(&f->s, true, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, "changesets", MDB_CREATE, &old), 0);
  for (int i = 0; i < V1_SETS; i++) {
    char id[16];
    snprintf(id, sizeof id, "r%d", i);
    tu_make_cs(&f->dev[i % 2], "KT.KPL", 1000 + (uint64_t)i, id, "title", "handed in", &sets[i]);
    packed[i] = pack(&sets[i], &plen[i]);
    uint8_t lk[8], dk[FS_PK_LEN + 8];
    fs_be64_put(lk, (uint64_t)i + 1);
    memcpy(dk, f->dev[i % 2].kp.pk, FS_PK_LEN);
    fs_be64_put(dk + FS_PK_LEN, (uint64_t)i / 2 + 1);
    MDB_val idv = {FS_HASH_LEN, sets[i].id}, setv = {plen[i], packed[i]},
            lkv = {8, lk}, dkv = {sizeof dk, dk};
    assert_int_equal(mdb_put(txn, old, &idv, &setv, 0), 0);
    Fs__ChangeSet *cs = tu_open(&sets[i]);
    assert_int_equal(fs_store_apply_changeset(&f->s, txn, cs), 1);
    fs__change_set__free_unpacked(cs, NULL);
    if (i == 0) { /* converted before a crash: the set in the log, seq in devseq */
      uint8_t dv[FS_HASH_LEN + 8];
      memcpy(dv, sets[i].id, FS_HASH_LEN);
      memcpy(dv + FS_HASH_LEN, lk, 8);
      MDB_val dvv = {sizeof dv, dv};
      assert_int_equal(mdb_put(txn, f->s.log, &lkv, &setv, 0), 0);
      assert_int_equal(mdb_put(txn, f->s.devseq, &dkv, &dvv, 0), 0);
    } else {
      assert_int_equal(mdb_put(txn, f->s.log, &lkv, &idv, 0), 0);
      assert_int_equal(mdb_put(txn, f->s.devseq, &dkv, &idv, 0), 0);
    }
  }
  assert_int_equal(fs_meta_put_u64(&f->s, txn, "log_seq", V1_SETS), 0);
  assert_int_equal(fs_meta_put_u64(&f->s, txn, "format", 1), 0);
  assert_int_equal(mdb_drop(txn, f->s.areasums, 0), 0);
  assert_int_equal(fs_store_commit(txn), 0);
  fs_store_close(&f->s);

  /* A reader (the previous build may still run on it) is refused. */
  assert_int_equal(fs_store_open(&f->s, f->dir, TU_STORE_MAPSIZE), FS_EVERSION);
  assert_int_equal(f->s.found_format, 1);
  /* The writer converts it. */
  assert_int_equal(fs_store_open_upgrade(&f->s, f->dir, TU_STORE_MAPSIZE), 0);
  assert_int_equal(fs_store_begin(&f->s, false, &txn), 0);
  uint64_t format = 0, n = 0;
  assert_int_equal(fs_meta_get_u64(&f->s, txn, "format", &format), 0);
  assert_int_equal(format, FS_STORE_FORMAT);
  assert_int_equal(mdb_dbi_open(txn, "changesets", 0, &old), MDB_NOTFOUND);
  assert_int_equal(fs_store_count(&f->s, txn, f->s.log, &n), 0);
  assert_int_equal(n, V1_SETS);
  for (int i = 0; i < V1_SETS; i++) {
    MDB_val v;
    uint8_t id[FS_HASH_LEN];
    uint64_t at = 0;
    assert_int_equal(fs_store_log_get(&f->s, txn, (uint64_t)i + 1, &v), 0);
    assert_int_equal(v.mv_size, plen[i]);
    assert_memory_equal(v.mv_data, packed[i], plen[i]);
    assert_int_equal(fs_store_devseq_get(&f->s, txn, f->dev[i % 2].kp.pk, (uint64_t)i / 2 + 1,
                                         id, &at),
                     0);
    assert_memory_equal(id, sets[i].id, FS_HASH_LEN);
    assert_int_equal(at, (uint64_t)i + 1);
    tu_sealed_free(&sets[i]);
    free(packed[i]);
  }
  uint8_t d[FS_HASH_LEN], scan[FS_HASH_LEN];
  uint64_t nscan = 0;
  assert_int_equal(fs_store_digest(&f->s, txn, "", d, &n), 0);
  assert_int_equal(fs_store_digest_scan(&f->s, txn, "", scan, &nscan), 0);
  assert_int_equal(n, V1_SETS);
  assert_int_equal(nscan, V1_SETS);
  assert_memory_equal(d, scan, FS_HASH_LEN);
  mdb_txn_abort(txn);
  fs_store_close(&f->s);
  assert_int_equal(fs_store_open(&f->s, f->dir, TU_STORE_MAPSIZE), 0); /* current format now */
}

/* Counts pulled states (for scans too long for pulled's id list). */
static int take_count(void *arg, const uint8_t *state, size_t len) {
  (void)state;
  (void)len;
  ++*(size_t *)arg;
  return 0;
}

static size_t count_since(tu_store *f, const uint8_t *skip) {
  MDB_txn *txn;
  uint64_t next;
  bool more;
  size_t n = 0;
  assert_int_equal(fs_store_begin(&f->s, false, &txn), 0);
  assert_int_equal(fs_store_changes_since(&f->s, txn, 0, "", skip, SIZE_MAX, SIZE_MAX,
                                          SIZE_MAX, take_count, &n, &next, &more),
                   0);
  assert_false(more);
  mdb_txn_abort(txn);
  return n;
}

/* A store of on-disk format 3 (recseq entries without their sole writer),
 * more entries than one upgrade transaction takes: a reader refuses it, its
 * writer tags every entry, so a pull passes over a device's own records as
 * on a store written in format 4, and it opens as format 4 from then on. */
#define V3_RECORDS 4200
static void test_format3_upgrade(void **state) {
  tu_store *f = *state;
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(&f->s, true, &txn), 0);
  for (int i = 0; i < V3_RECORDS; i++) {
    char id[16];
    snprintf(id, sizeof id, "r%d", i);
    for (int d = 0; d < (i % 3 == 0 ? 2 : 1); d++) { /* every third one is shared */
      tu_sealed sealed;
      tu_make_cs(&f->dev[d], "KT.KPL", 1000 + (uint64_t)i, id, d ? "y" : "x", "v", &sealed);
      Fs__ChangeSet *cs = tu_open(&sealed);
      assert_int_equal(fs_store_apply_changeset(&f->s, txn, cs), 1);
      fs__change_set__free_unpacked(cs, NULL);
      tu_sealed_free(&sealed);
    }
  }
  assert_int_equal(fs_store_commit(txn), 0);
  size_t shared = (V3_RECORDS + 2) / 3;
  assert_int_equal(count_since(f, f->dev[0].kp.pk), shared);
  assert_int_equal(fs_store_begin(&f->s, true, &txn), 0);
  assert_int_equal(fs_old_format3(&f->s, txn), 0);
  assert_int_equal(fs_store_commit(txn), 0);
  assert_int_equal(count_since(f, f->dev[0].kp.pk), V3_RECORDS); /* untagged */
  fs_store_close(&f->s);

  assert_int_equal(fs_store_open(&f->s, f->dir, TU_STORE_MAPSIZE), FS_EVERSION);
  assert_int_equal(f->s.found_format, 3);
  assert_int_equal(fs_store_open_upgrade(&f->s, f->dir, TU_STORE_MAPSIZE), 0);
  uint64_t format = 0;
  assert_int_equal(fs_store_begin(&f->s, false, &txn), 0);
  assert_int_equal(fs_meta_get_u64(&f->s, txn, "format", &format), 0);
  assert_int_equal(format, FS_STORE_FORMAT);
  mdb_txn_abort(txn);
  assert_int_equal(count_since(f, f->dev[0].kp.pk), shared);
  assert_int_equal(count_since(f, f->dev[1].kp.pk), V3_RECORDS);
  assert_int_equal(count_since(f, NULL), V3_RECORDS);
  fs_store_close(&f->s);
  assert_int_equal(fs_store_open(&f->s, f->dir, TU_STORE_MAPSIZE), 0);
}

/* The store's environment opened directly, as neither fs_store_open nor
 * the conversion would (to mend what a test damaged). */
static MDB_env *raw_open(const char *dir) {
  MDB_env *env;
  assert_int_equal(mdb_env_create(&env), 0);
  assert_int_equal(mdb_env_set_maxdbs(env, 24), 0);
  assert_int_equal(mdb_env_set_mapsize(env, TU_STORE_MAPSIZE), 0);
  assert_int_equal(mdb_env_open(env, dir, MDB_NOTLS, 0600), 0);
  return env;
}

/* Closes f's store, damaged in an older format: its writer refuses it with
 * a storage error and leaves it in that format. */
static void upgrade_refused(tu_store *f, uint64_t format) {
  fs_store_close(&f->s);
  assert_int_equal(fs_store_open_upgrade(&f->s, f->dir, TU_STORE_MAPSIZE), FS_ESTORE);
  assert_null(f->s.env);
  assert_int_equal(fs_store_open(&f->s, f->dir, TU_STORE_MAPSIZE), FS_EVERSION);
  assert_int_equal(f->s.found_format, format);
}

/* Commits txn with f's store rewritten in format 3, then upgrade_refused. */
static void format3_refused(tu_store *f, MDB_txn *txn) {
  assert_int_equal(fs_old_format3(&f->s, txn), 0);
  assert_int_equal(fs_store_commit(txn), 0);
  upgrade_refused(f, 3);
}

/* A format 1 store whose log names a set that "changesets" does not hold
 * (damaged): the conversion stops with a storage error and leaves format 1,
 * where it used to take the missing set for the log's end, drop
 * "changesets" with the sets after it still unconverted and set format 2.
 * Once the set is put back, it converts every set. */
#define DAMAGED_SETS 3
static void test_format1_upgrade_missing_set(void **state) {
  tu_store *f = *state;
  tu_sealed sets[DAMAGED_SETS];
  uint8_t *packed[DAMAGED_SETS];
  size_t plen[DAMAGED_SETS];
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(&f->s, true, &txn), 0);
  for (int i = 0; i < DAMAGED_SETS; i++) {
    char id[16];
    snprintf(id, sizeof id, "r%d", i);
    tu_make_cs(&f->dev[0], "KT.KPL", 1000 + (uint64_t)i, id, "title", "handed in", &sets[i]);
    packed[i] = pack(&sets[i], &plen[i]);
    uint8_t lk[8];
    fs_be64_put(lk, (uint64_t)i + 1);
    MDB_val lkv = {8, lk}, setv = {plen[i], packed[i]};
    assert_int_equal(mdb_put(txn, f->s.log, &lkv, &setv, 0), 0);
    Fs__ChangeSet *cs = tu_open(&sets[i]);
    assert_int_equal(fs_store_apply_changeset(&f->s, txn, cs), 1);
    fs__change_set__free_unpacked(cs, NULL);
  }
  assert_int_equal(fs_meta_put_u64(&f->s, txn, "log_seq", DAMAGED_SETS), 0);
  assert_int_equal(fs_old_format1(&f->s, txn), 0);
  MDB_dbi old;
  assert_int_equal(mdb_dbi_open(txn, "changesets", 0, &old), 0);
  assert_int_equal(fs_store_commit(txn), 0);
  tu_store_del(&f->s, old, sets[1].id, FS_HASH_LEN);
  upgrade_refused(f, 1); /* "changesets" was kept */

  MDB_env *env = raw_open(f->dir);
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, "changesets", 0, &old), 0);
  MDB_val idv = {FS_HASH_LEN, sets[1].id}, setv = {plen[1], packed[1]};
  assert_int_equal(mdb_put(txn, old, &idv, &setv, 0), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
  assert_int_equal(fs_store_open_upgrade(&f->s, f->dir, TU_STORE_MAPSIZE), 0);
  assert_int_equal(fs_store_begin(&f->s, false, &txn), 0);
  for (int i = 0; i < DAMAGED_SETS; i++) {
    MDB_val v;
    assert_int_equal(fs_store_log_get(&f->s, txn, (uint64_t)i + 1, &v), 0);
    assert_int_equal(v.mv_size, plen[i]);
    assert_memory_equal(v.mv_data, packed[i], plen[i]);
    tu_sealed_free(&sets[i]);
    free(packed[i]);
  }
  mdb_txn_abort(txn);
}

/* A format 3 store whose recseq names a record that records does not hold
 * (damaged): the conversion stops with a storage error and leaves format 3,
 * where it used to set format 4 there and leave the entries after it
 * untagged. */
static void test_format3_upgrade_missing_record(void **state) {
  tu_store *f = *state;
  tu_store_lose_record(f);
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(&f->s, true, &txn), 0);
  format3_refused(f, txn);
}

/* A format 3 store (damaged) whose recseq entry 1 holds 220 bytes and no
 * tag, longer than any record key (194 bytes), naming a record it holds:
 * the conversion refuses it with a storage error. It used to write the
 * value and a 33-byte tag into a stack buffer of 226 bytes. */
static void test_format3_upgrade_long_key(void **state) {
  tu_store *f = *state;
  tu_put(f, 0, "KT", 100, "r1", "x", "1");
  uint8_t key[220], sk[8];
  memcpy(key, "KT", 3); /* area, 0, then an id too long for any record */
  memset(key + 3, 'x', sizeof key - 3);
  fs_be64_put(sk, 1);
  MDB_txn *txn;
  MDB_val rk = {5, "KT\0r1"}, rv, lk = {sizeof key, key}, skv = {8, sk};
  assert_int_equal(fs_store_begin(&f->s, true, &txn), 0);
  assert_int_equal(mdb_get(txn, f->s.records, &rk, &rv), 0);
  MDB_val copy = {rv.mv_size, malloc(rv.mv_size)}; /* the put may move rv */
  assert_non_null(copy.mv_data);
  memcpy(copy.mv_data, rv.mv_data, rv.mv_size);
  assert_int_equal(mdb_put(txn, f->s.records, &lk, &copy, 0), 0);
  assert_int_equal(mdb_put(txn, f->s.recseq, &skv, &lk, 0), 0);
  free(copy.mv_data);
  format3_refused(f, txn);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_store_setup, tu_store_teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_format1_upgrade),
      T(test_format3_upgrade),
      T(test_format1_upgrade_missing_set),
      T(test_format3_upgrade_missing_record),
      T(test_format3_upgrade_long_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
