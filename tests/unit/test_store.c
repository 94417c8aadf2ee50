/* test_store.c - the LMDB store: creation, reopening, format check, applying
 * sealed change sets, growing a full map, area-prefix digests, order-independent digests and
 * the change scan that pulls are served from. */
#include "error.h"
#include "store.h"
#include "tu_store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

static void digest(fs_store *s, const char *prefix, uint8_t out[FS_HASH_LEN],
                   uint64_t *count) {
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(s, false, &txn), 0);
  assert_int_equal(fs_store_digest(s, txn, prefix, out, count), 0);
  mdb_txn_abort(txn);
}

static void test_open_creates(void **state) {
  tu_store *f = *state;
  struct stat st;
  assert_int_equal(stat(f->dir, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_int_equal(st.st_mode & 0777, 0700);
  char *data = tu_path(f->dir, "data.mdb");
  assert_int_equal(stat(data, &st), 0);
  free(data);
  MDB_txn *txn;
  uint64_t format = 0, n = 1;
  assert_int_equal(fs_store_begin(&f->s, false, &txn), 0);
  assert_int_equal(fs_meta_get_u64(&f->s, txn, "format", &format), 0);
  assert_int_equal(format, FS_STORE_FORMAT);
  assert_int_equal(fs_store_count(&f->s, txn, f->s.records, &n), 0);
  assert_int_equal(n, 0);
  MDB_val v;
  assert_int_equal(fs_meta_get(&f->s, txn, "no-such-key", &v), FS_ENOTFOUND);
  mdb_txn_abort(txn);
}

static void test_reopen_keeps_data(void **state) {
  tu_store *f = *state;
  tu_put(f, 0, "KT.KPL", 100, "inc-1", "title", "explosives handed in");
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(&f->s, true, &txn), 0);
  assert_int_equal(fs_meta_put_u64(&f->s, txn, "cursor", 42), 0);
  assert_int_equal(fs_meta_put(&f->s, txn, "name", "xa", 2), 0);
  assert_int_equal(fs_store_commit(txn), 0);
  fs_store_close(&f->s);

  assert_int_equal(fs_store_open(&f->s, f->dir, TU_STORE_MAPSIZE), 0);
  assert_int_equal(fs_store_begin(&f->s, false, &txn), 0);
  uint64_t v = 0;
  assert_int_equal(fs_meta_get_u64(&f->s, txn, "cursor", &v), 0);
  assert_int_equal(v, 42);
  MDB_val b;
  assert_int_equal(fs_meta_get(&f->s, txn, "name", &b), 0);
  assert_int_equal(b.mv_size, 2);
  assert_memory_equal(b.mv_data, "xa", 2);
  fs_record r;
  assert_int_equal(fs_store_record_get(&f->s, txn, "KT.KPL", "inc-1", &r), 0);
  const fs_field *t = fs_record_field(&r, "title");
  assert_non_null(t);
  assert_memory_equal(t->value, "explosives handed in", t->value_len);
  fs_record_free(&r);
  mdb_txn_abort(txn);
}

static void test_format_mismatch(void **state) {
  tu_store *f = *state;
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(&f->s, true, &txn), 0);
  assert_int_equal(fs_meta_put_u64(&f->s, txn, "format", 99), 0);
  assert_int_equal(fs_store_commit(txn), 0);
  fs_store_close(&f->s);
  assert_int_equal(fs_store_open(&f->s, f->dir, TU_STORE_MAPSIZE), FS_EVERSION);
  assert_null(f->s.env); /* nothing to close */
  assert_int_equal(f->s.found_format, 99);
}

/* Puts 64 KiB values under meta until the map is full (or n were put). */
static int fill(fs_store *s, int from, int n) {
  static uint8_t big[64 << 10];
  int rc = 0;
  for (int i = from; rc == 0 && i < from + n; i++) {
    MDB_txn *txn;
    char key[32];
    snprintf(key, sizeof key, "fill%d", i);
    assert_int_equal(fs_store_begin(s, true, &txn), 0);
    rc = fs_meta_put(s, txn, key, big, sizeof big);
    if (rc == 0)
      rc = fs_store_commit(txn);
    else
      mdb_txn_abort(txn);
  }
  return rc;
}

/* A full map refuses the write, grows (only with force until 3/4 used),
 * takes the write after growing, and stops growing at map_max. */
static void test_map_grows(void **state) {
  tu_store *f = *state;
  fs_store_close(&f->s);
  assert_int_equal(fs_store_open(&f->s, f->dir, (size_t)1 << 20), 0);
  f->s.map_max = (size_t)4 << 20;
  assert_int_equal(fs_store_grow(&f->s, false), 0); /* nearly empty */
  assert_int_equal(fill(&f->s, 0, 1000), FS_EMAPFULL);
  assert_int_equal(fs_store_grow(&f->s, true), 1);
  MDB_envinfo info;
  assert_int_equal(mdb_env_info(f->s.env, &info), 0);
  assert_int_equal(info.me_mapsize, (size_t)2 << 20);
  assert_int_equal(fill(&f->s, 100, 4), 0); /* room now */
  while (fs_store_grow(&f->s, true) == 1)
    ;
  assert_int_equal(mdb_env_info(f->s.env, &info), 0);
  assert_int_equal(info.me_mapsize, (size_t)4 << 20);
  assert_int_equal(fs_store_grow(&f->s, true), FS_EMAPFULL);
  assert_int_equal(fill(&f->s, 200, 1000), FS_EMAPFULL);
  /* What was committed before the map filled is all there after reopening. */
  fs_store_close(&f->s);
  assert_int_equal(fs_store_open(&f->s, f->dir, (size_t)1 << 20), 0);
  MDB_txn *txn;
  MDB_val v;
  assert_int_equal(fs_store_begin(&f->s, false, &txn), 0);
  assert_int_equal(fs_meta_get(&f->s, txn, "fill103", &v), 0);
  assert_int_equal(v.mv_size, 64 << 10);
  mdb_txn_abort(txn);
  assert_int_equal(mdb_env_info(f->s.env, &info), 0);
  assert_true(info.me_mapsize >= (size_t)3 << 20); /* at least what the data needs */
}

static void test_apply_and_read_back(void **state) {
  tu_store *f = *state;
  Fs__ChangeSet *cs = tu_cs_new(f->dev[0].kp.pk, 0, NULL, 200, "KT.KPL");
  Fs__Change *ch = tu_cs_change(cs, "gun-1", "weapon", false);
  tu_change_write_str(ch, "kind", "K54 pistol", 200, 0);
  tu_change_write_str(ch, "count", "1", 200, 0);
  tu_cs_change(cs, "gun-2", "weapon", false);
  tu_sealed s;
  tu_device_seal(&f->dev[0], cs, &s);
  tu_cs_free(cs);
  assert_int_equal(tu_apply(&f->s, &s), 2);
  assert_int_equal(tu_apply(&f->s, &s), 0); /* a resend changes nothing */

  MDB_txn *txn;
  assert_int_equal(fs_store_begin(&f->s, false, &txn), 0);
  fs_record r;
  assert_int_equal(fs_store_record_get(&f->s, txn, "KT.KPL", "gun-1", &r), 0);
  assert_string_equal(r.type, "weapon");
  assert_int_equal(r.nfields, 2);
  const fs_field *k = fs_record_field(&r, "kind");
  assert_non_null(k);
  assert_int_equal(k->value_len, strlen("K54 pistol"));
  assert_memory_equal(k->value, "K54 pistol", k->value_len);
  assert_memory_equal(k->clock.device, f->dev[0].kp.pk, FS_PK_LEN);
  assert_int_equal(k->clock.hlc, 200);
  assert_true(fs_record_visible(&r));
  fs_record_free(&r);
  assert_int_equal(fs_store_record_get(&f->s, txn, "KT.KPL", "gun-3", &r), FS_ENOTFOUND);
  assert_int_equal(fs_store_record_get(&f->s, txn, "KT", "gun-1", &r), FS_ENOTFOUND);
  uint64_t n;
  assert_int_equal(fs_store_count(&f->s, txn, f->s.records, &n), 0);
  assert_int_equal(n, 2);
  mdb_txn_abort(txn);
  tu_sealed_free(&s);
}

static void test_record_merge_and_conflicts(void **state) {
  tu_store *f = *state;
  tu_put(f, 0, "KT", 100, "r", "status", "open");
  /* Device 1 writes later without having seen device 0's value. */
  tu_sealed s;
  tu_make_cs(&f->dev[1], "KT", 150, "r", "status", "closed", &s);
  assert_int_equal(tu_apply(&f->s, &s), 1);
  assert_int_equal(tu_apply(&f->s, &s), 0);
  MDB_txn *txn;
  uint64_t n;
  assert_int_equal(fs_store_begin(&f->s, true, &txn), 0);
  assert_int_equal(fs_store_count(&f->s, txn, f->s.conflicts, &n), 0);
  assert_int_equal(n, 1);
  /* Merging the stored state into itself changes nothing. */
  fs_record r;
  assert_int_equal(fs_store_record_get(&f->s, txn, "KT", "r", &r), 0);
  assert_int_equal(fs_store_record_merge(&f->s, txn, &r), 0);
  fs_record_free(&r);
  assert_int_equal(fs_store_commit(txn), 0);
  tu_sealed_free(&s);
}

/* A state that comes back as the very bytes stored needs nothing; any
 * other (absent here, or older than what is stored) is joined to see. */
static void test_merge_needed(void **state) {
  tu_store *f = *state;
  tu_put(f, 0, "KT", 100, "r", "status", "open");
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(&f->s, false, &txn), 0);
  fs_record r, q;
  assert_int_equal(fs_store_record_get(&f->s, txn, "KT", "r", &r), 0);
  uint8_t *e, *eq;
  size_t n, nq;
  assert_int_equal(fs_record_encode(&r, &e, &n), 0);
  assert_int_equal(fs_store_record_merge_needed(&f->s, txn, &r, e, n), 0);
  assert_int_equal(fs_store_record_merge_needed(&f->s, txn, &r, NULL, 0), 0);
  /* The same fields under another id: not stored, so needed. */
  assert_int_equal(fs_record_decode(&q, e, n), 0);
  free(q.id);
  q.id = strdup("q");
  assert_non_null(q.id);
  assert_int_equal(fs_record_encode(&q, &eq, &nq), 0);
  assert_int_equal(fs_store_record_merge_needed(&f->s, txn, &q, eq, nq), 1);
  mdb_txn_abort(txn);
  /* A later write of another device that did not see "open": the old
   * bytes are no longer what is stored, and joining them meets a conflict. */
  tu_sealed s;
  tu_make_cs(&f->dev[1], "KT", 150, "r", "status", "closed", &s);
  assert_int_equal(tu_apply(&f->s, &s), 1);
  assert_int_equal(fs_store_begin(&f->s, false, &txn), 0);
  assert_int_equal(fs_store_record_merge_needed(&f->s, txn, &r, e, n), 1);
  mdb_txn_abort(txn);
  tu_sealed_free(&s);
  free(e);
  free(eq);
  fs_record_free(&q);
  fs_record_free(&r);
}

static void test_digest_prefix(void **state) {
  tu_store *f = *state;
  tu_put(f, 0, "KT", 100, "r0", "x", "0");
  tu_put(f, 0, "KT.A", 101, "r1", "x", "1");
  tu_put(f, 0, "KT.AB", 102, "r2", "x", "2");
  tu_put(f, 0, "KT.A.X", 103, "r3", "x", "3");
  tu_put(f, 0, "KT.A0", 104, "r4", "x", "4");
  uint8_t all[FS_HASH_LEN], a1[FS_HASH_LEN], a2[FS_HASH_LEN], a3[FS_HASH_LEN];
  uint64_t n;
  digest(&f->s, "", all, &n);
  assert_int_equal(n, 5);
  digest(&f->s, "KT.A", a1, &n);
  assert_int_equal(n, 2); /* KT.A and KT.A.X */
  digest(&f->s, "KT.A.X", a2, &n);
  assert_int_equal(n, 1);
  digest(&f->s, "KT.AB", a2, &n);
  assert_int_equal(n, 1);
  /* A change in KT.AB leaves the KT.A digest alone ... */
  tu_put(f, 1, "KT.AB", 200, "r2", "x", "changed");
  digest(&f->s, "KT.A", a2, &n);
  assert_memory_equal(a1, a2, FS_HASH_LEN);
  /* ... a change in KT.A.X does not. */
  tu_put(f, 1, "KT.A.X", 201, "r3", "x", "changed");
  digest(&f->s, "KT.A", a3, &n);
  assert_memory_not_equal(a1, a3, FS_HASH_LEN);
  assert_int_equal(n, 2);
}

static int collect_ids(void *arg, const fs_record *r) {
  char *out = arg;
  strcat(out, r->area);
  strcat(out, "/");
  strcat(out, r->id);
  strcat(out, " ");
  return 0;
}

static void test_records_scan(void **state) {
  tu_store *f = *state;
  tu_put(f, 0, "KT.AB", 100, "b", "x", "1");
  tu_put(f, 0, "KT.A.X", 101, "c", "x", "1");
  tu_put(f, 0, "KT.A", 102, "z", "x", "1");
  tu_put(f, 0, "KT.A", 103, "a", "x", "1");
  tu_put(f, 0, "KT", 104, "k", "x", "1");
  char ids[256] = "";
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(&f->s, false, &txn), 0);
  assert_int_equal(fs_store_records_scan(&f->s, txn, "KT.A", collect_ids, ids), 0);
  assert_string_equal(ids, "KT.A/a KT.A/z KT.A.X/c ");
  mdb_txn_abort(txn);
}

static void build(fs_store *s, tu_sealed *sets, size_t n, const size_t *order) {
  for (size_t i = 0; i < n; i++)
    tu_apply(s, &sets[order[i]]);
}

static void test_digest_order_independent(void **state) {
  tu_store *f = *state;
  enum { N = 6 };
  tu_sealed sets[N];
  tu_make_cs(&f->dev[0], "KT.A", 100, "r1", "status", "open", &sets[0]);
  tu_make_cs(&f->dev[1], "KT.A", 100, "r1", "status", "disputed", &sets[1]);
  tu_make_cs(&f->dev[0], "KT.A", 120, "r2", "count", "509", &sets[2]);
  tu_make_cs(&f->dev[1], "KT.B", 90, "r3", "note", "patrol", &sets[3]);
  tu_make_cs(&f->dev[0], "KT.A", 130, "r1", "status", "closed", &sets[4]);
  tu_make_cs(&f->dev[1], "KT.A", 125, "r2", "count", "510", &sets[5]);
  const size_t fwd[N] = {0, 1, 2, 3, 4, 5}, rev[N] = {5, 4, 3, 2, 1, 0},
               mix[N] = {3, 1, 5, 0, 2, 4};
  build(&f->s, sets, N, fwd);

  char *d2 = tu_path(f->tmp, "two"), *d3 = tu_path(f->tmp, "three");
  fs_store s2, s3;
  assert_int_equal(fs_store_open(&s2, d2, TU_STORE_MAPSIZE), 0);
  assert_int_equal(fs_store_open(&s3, d3, TU_STORE_MAPSIZE), 0);
  build(&s2, sets, N, rev);
  build(&s3, sets, N - 1, mix); /* misses set 4 */

  uint8_t h1[FS_HASH_LEN], h2[FS_HASH_LEN], h3[FS_HASH_LEN];
  uint64_t n1, n2, n3;
  digest(&f->s, "", h1, &n1);
  digest(&s2, "", h2, &n2);
  digest(&s3, "", h3, &n3);
  assert_int_equal(n1, 3);
  assert_int_equal(n1, n2);
  assert_memory_equal(h1, h2, FS_HASH_LEN);
  assert_int_equal(n3, 3);
  assert_memory_not_equal(h1, h3, FS_HASH_LEN);
  tu_apply(&s3, &sets[4]);
  digest(&s3, "", h3, &n3);
  assert_memory_equal(h1, h3, FS_HASH_LEN);
  digest(&f->s, "KT.A", h1, &n1);
  digest(&s2, "KT.A", h2, &n2);
  assert_int_equal(n1, 2);
  assert_memory_equal(h1, h2, FS_HASH_LEN);

  fs_store_close(&s2);
  fs_store_close(&s3);
  free(d2);
  free(d3);
  for (int i = 0; i < N; i++)
    tu_sealed_free(&sets[i]);
}

/* One device rewriting a field at a clock it already used (a buggy or
 * hostile laptop; both sets extend its chain and verify): the stores must
 * still agree, whatever the arrival order. */
static void test_digest_same_clock_rewrite(void **state) {
  tu_store *f = *state;
  tu_sealed sets[2];
  for (int i = 0; i < 2; i++) {
    Fs__ChangeSet *cs = tu_cs_new(f->dev[0].kp.pk, 0, NULL, 100 + (uint64_t)i, "KT");
    Fs__Change *ch = tu_cs_change(cs, "r", "incident", false);
    tu_change_write_str(ch, "status", "open", 100, i ? 20 : 10);
    tu_device_seal(&f->dev[0], cs, &sets[i]);
    tu_cs_free(cs);
  }
  char *d2 = tu_path(f->tmp, "two");
  fs_store s2;
  assert_int_equal(fs_store_open(&s2, d2, TU_STORE_MAPSIZE), 0);
  tu_apply(&f->s, &sets[0]);
  tu_apply(&f->s, &sets[1]);
  tu_apply(&s2, &sets[1]);
  tu_apply(&s2, &sets[0]);
  uint8_t h1[FS_HASH_LEN], h2[FS_HASH_LEN];
  uint64_t n1, n2;
  digest(&f->s, "", h1, &n1);
  digest(&s2, "", h2, &n2);
  fs_store_close(&s2);
  free(d2);
  tu_sealed_free(&sets[0]);
  tu_sealed_free(&sets[1]);
  assert_int_equal(n1, 1);
  assert_int_equal(n2, 1);
  if (memcmp(h1, h2, FS_HASH_LEN) != 0)
    fail_msg("same two change sets, two orders, two digests (base_hlc 10 vs 20 "
             "kept by arrival order)");
}

/* Collects the record ids of pulled states, space-separated. */
typedef struct pulled {
  char ids[512];
  int n;
} pulled;

static int take(void *arg, const uint8_t *state, size_t len) {
  pulled *p = arg;
  fs_record r;
  assert_int_equal(fs_record_decode(&r, state, len), 0);
  strcat(p->ids, r.id);
  strcat(p->ids, " ");
  p->n++;
  fs_record_free(&r);
  return 0;
}

static void since_skip(tu_store *f, uint64_t cursor, const char *scope, const uint8_t *skip,
                       size_t max_records, size_t max_bytes, size_t max_scan, pulled *p,
                       uint64_t *next, bool *more) {
  memset(p, 0, sizeof *p);
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(&f->s, false, &txn), 0);
  assert_int_equal(fs_store_changes_since(&f->s, txn, cursor, scope, skip, max_records,
                                          max_bytes, max_scan, take, p, next, more),
                   0);
  mdb_txn_abort(txn);
}

static void since(tu_store *f, uint64_t cursor, const char *scope, size_t max_records,
                  size_t max_bytes, size_t max_scan, pulled *p, uint64_t *next,
                  bool *more) {
  since_skip(f, cursor, scope, NULL, max_records, max_bytes, max_scan, p, next, more);
}

static void test_changes_since(void **state) {
  tu_store *f = *state;
  tu_put(f, 0, "KT.A", 100, "a1", "x", "1"); /* record seq 1 */
  tu_put(f, 0, "KT.B", 101, "b1", "x", "1"); /* 2 */
  tu_put(f, 0, "KT.A", 102, "a2", "x", "1"); /* 3 */
  tu_put(f, 0, "KT.AB", 103, "ab", "x", "1"); /* 4 */
  tu_put(f, 0, "KT.A.X", 104, "ax", "x", "1"); /* 5 */
  pulled p;
  uint64_t next;
  bool more;
  since(f, 0, "", 100, SIZE_MAX, 100, &p, &next, &more);
  assert_string_equal(p.ids, "a1 b1 a2 ab ax ");
  assert_int_equal(next, 5);
  assert_false(more);

  since(f, 2, "", 100, SIZE_MAX, 100, &p, &next, &more);
  assert_string_equal(p.ids, "a2 ab ax ");

  since(f, 0, "KT.A", 100, SIZE_MAX, 100, &p, &next, &more);
  assert_string_equal(p.ids, "a1 a2 ax ");
  assert_int_equal(next, 5);
  assert_false(more);

  /* Paging by max_records: resume exactly where the last page stopped. */
  since(f, 0, "KT.A", 2, SIZE_MAX, 100, &p, &next, &more);
  assert_string_equal(p.ids, "a1 a2 ");
  assert_int_equal(next, 3);
  assert_true(more);
  since(f, next, "KT.A", 2, SIZE_MAX, 100, &p, &next, &more);
  assert_string_equal(p.ids, "ax ");
  assert_int_equal(next, 5);
  assert_false(more);
  since(f, next, "KT.A", 2, SIZE_MAX, 100, &p, &next, &more);
  assert_int_equal(p.n, 0);
  assert_int_equal(next, 5);
  assert_false(more);

  /* Exactly max_records left: no more. */
  since(f, 3, "", 2, SIZE_MAX, 100, &p, &next, &more);
  assert_string_equal(p.ids, "ab ax ");
  assert_false(more);

  /* max_scan bounds work even when nothing is in scope; the cursor still
   * moves past what was looked at. */
  since(f, 0, "KT.B", 100, SIZE_MAX, 1, &p, &next, &more);
  assert_int_equal(p.n, 0);
  assert_int_equal(next, 1);
  assert_true(more);
  since(f, next, "KT.B", 100, SIZE_MAX, 1, &p, &next, &more);
  assert_string_equal(p.ids, "b1 ");
  assert_int_equal(next, 2);
  assert_true(more);

  /* max_bytes: one byte allows one record. */
  since(f, 0, "", 100, 1, 100, &p, &next, &more);
  assert_int_equal(p.n, 1);
  assert_int_equal(next, 1);
  assert_true(more);
}

static void test_update_moves_change_entry(void **state) {
  tu_store *f = *state;
  tu_put(f, 0, "KT", 100, "r1", "x", "1");
  tu_put(f, 0, "KT", 101, "r2", "x", "1");
  tu_put(f, 0, "KT", 102, "r1", "x", "2");
  tu_put(f, 1, "KT", 103, "r1", "y", "3");
  pulled p;
  uint64_t next, n;
  bool more;
  since(f, 0, "", 100, SIZE_MAX, 100, &p, &next, &more);
  assert_string_equal(p.ids, "r2 r1 ");
  assert_int_equal(next, 4);
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(&f->s, false, &txn), 0);
  assert_int_equal(fs_store_count(&f->s, txn, f->s.recseq, &n), 0);
  assert_int_equal(n, 2);
  mdb_txn_abort(txn);
  /* A puller that had seen seq 2 gets only r1's newest state. */
  since(f, 2, "", 100, SIZE_MAX, 100, &p, &next, &more);
  assert_string_equal(p.ids, "r1 ");
}

/* A laptop's pull leaves out the records it alone wrote (it holds them),
 * and only those: a record another device wrote to as well is sent. The
 * passed-over entries count as scanned and the cursor moves past them. */
static void test_changes_since_skips_sole_writer(void **state) {
  tu_store *f = *state;
  const uint8_t *one = f->dev[0].kp.pk, *two = f->dev[1].kp.pk;
  tu_put(f, 0, "KT", 100, "a", "x", "1"); /* record seq 1 */
  tu_put(f, 1, "KT", 101, "b", "x", "1"); /* 2 */
  tu_put(f, 0, "KT", 102, "c", "x", "1"); /* 3 */
  tu_put(f, 1, "KT", 103, "c", "y", "1"); /* 4: c is shared now */
  tu_put(f, 0, "KT", 104, "d", "x", "1"); /* 5 */
  pulled p;
  uint64_t next;
  bool more;
  since_skip(f, 0, "", one, 100, SIZE_MAX, 100, &p, &next, &more);
  assert_string_equal(p.ids, "b c ");
  assert_int_equal(next, 5);
  assert_false(more);
  since_skip(f, 0, "", two, 100, SIZE_MAX, 100, &p, &next, &more);
  assert_string_equal(p.ids, "a c d ");
  since(f, 0, "", 100, SIZE_MAX, 100, &p, &next, &more);
  assert_string_equal(p.ids, "a b c d ");
  /* Skipped entries use up max_scan and move the cursor. */
  since_skip(f, 0, "", one, 100, SIZE_MAX, 1, &p, &next, &more);
  assert_int_equal(p.n, 0);
  assert_int_equal(next, 1);
  assert_true(more);
  /* A record taken over by another device's newer writes is its alone. */
  tu_put(f, 1, "KT", 105, "a", "x", "2"); /* 6 */
  since_skip(f, 5, "", two, 100, SIZE_MAX, 100, &p, &next, &more);
  assert_int_equal(p.n, 0);
  assert_int_equal(next, 6);
  since_skip(f, 5, "", one, 100, SIZE_MAX, 100, &p, &next, &more);
  assert_string_equal(p.ids, "a ");
}

/* A cursor at or past the newest change has nothing after it. */
static void test_changes_since_cursor_at_end(void **state) {
  tu_store *f = *state;
  tu_put(f, 0, "KT", 100, "r1", "x", "1");
  pulled p;
  uint64_t next;
  bool more;
  since(f, 1, "", 100, SIZE_MAX, 100, &p, &next, &more);
  assert_int_equal(p.n, 0);
  since(f, 1000, "", 100, SIZE_MAX, 100, &p, &next, &more);
  assert_int_equal(p.n, 0);
  /* Pull.cursor comes from the peer: the largest value must not wrap. */
  since(f, UINT64_MAX, "", 100, SIZE_MAX, 100, &p, &next, &more);
  if (p.n != 0)
    fail_msg("cursor UINT64_MAX returned %d record(s) (%s), next=%llu: cursor+1 wraps "
             "to 0",
             p.n, p.ids, (unsigned long long)next);
  assert_false(more);
}

/* A change entry whose record is missing (a damaged store) is a storage
 * error, not the end of the changes: the scan used to stop there with
 * more false, so the records after it were never served and the puller's
 * cursor stayed before it for good. */
static void test_changes_since_missing_record(void **state) {
  tu_store *f = *state;
  tu_store_lose_record(f);
  MDB_txn *txn;
  pulled p = {.n = 0};
  uint64_t next;
  bool more;
  assert_int_equal(fs_store_begin(&f->s, false, &txn), 0);
  assert_int_equal(fs_store_changes_since(&f->s, txn, 0, "", NULL, 100, SIZE_MAX, 100, take,
                                          &p, &next, &more),
                   FS_ESTORE);
  mdb_txn_abort(txn);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_store_setup, tu_store_teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_open_creates),
      T(test_reopen_keeps_data),
      T(test_format_mismatch),
      T(test_map_grows),
      T(test_apply_and_read_back),
      T(test_record_merge_and_conflicts),
      T(test_merge_needed),
      T(test_digest_prefix),
      T(test_records_scan),
      T(test_digest_order_independent),
      T(test_digest_same_clock_rewrite),
      T(test_changes_since),
      T(test_update_moves_change_entry),
      T(test_changes_since_skips_sole_writer),
      T(test_changes_since_cursor_at_end),
      T(test_changes_since_missing_record),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
