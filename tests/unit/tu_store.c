/* tu_store.c - the store fixture of the store's unit tests (tu_store.h). */
#include "tu_store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

int tu_store_setup(void **state) {
  if (fs_crypto_init() != 0)
    return -1;
  tu_store *f = calloc(1, sizeof *f);
  if (!f)
    return -1;
  f->tmp = tu_mkdtemp();
  f->dir = tu_path(f->tmp, "node");
  if (fs_store_open(&f->s, f->dir, TU_STORE_MAPSIZE) != 0)
    return -1;
  tu_device_init(&f->dev[0]);
  tu_device_init(&f->dev[1]);
  *state = f;
  return 0;
}

int tu_store_teardown(void **state) {
  tu_store *f = *state;
  fs_store_close(&f->s);
  tu_device_free(&f->dev[0]);
  tu_device_free(&f->dev[1]);
  tu_rmtree(f->tmp);
  free(f->dir);
  free(f->tmp);
  free(f);
  return 0;
}

void tu_make_cs(tu_device *d, const char *area, uint64_t hlc, const char *id,
                const char *field, const char *value, tu_sealed *out) {
  Fs__ChangeSet *cs = tu_cs_new(d->kp.pk, 0, NULL, hlc, area);
  Fs__Change *ch = tu_cs_change(cs, id, "incident", false);
  tu_change_write_str(ch, field, value, hlc, 0);
  tu_device_seal(d, cs, out);
  tu_cs_free(cs);
}

int tu_apply(fs_store *s, const tu_sealed *sealed) {
  Fs__ChangeSet *cs = tu_open(sealed);
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(s, true, &txn), 0);
  int n = fs_store_apply_changeset(s, txn, cs);
  assert_true(n >= 0);
  assert_int_equal(fs_store_commit(txn), 0);
  fs__change_set__free_unpacked(cs, NULL);
  return n;
}

void tu_put(tu_store *f, int dev, const char *area, uint64_t hlc, const char *id,
            const char *field, const char *value) {
  tu_sealed s;
  tu_make_cs(&f->dev[dev], area, hlc, id, field, value, &s);
  assert_int_equal(tu_apply(&f->s, &s), 1);
  tu_sealed_free(&s);
}

void tu_store_del(fs_store *s, MDB_dbi dbi, const void *key, size_t klen) {
  MDB_txn *txn;
  MDB_val k = {klen, (void *)key};
  assert_int_equal(fs_store_begin(s, true, &txn), 0);
  assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
  assert_int_equal(fs_store_commit(txn), 0);
}

void tu_store_lose_record(tu_store *f) {
  tu_put(f, 0, "KT", 100, "r1", "x", "1");
  tu_put(f, 0, "KT", 101, "r2", "x", "1");
  tu_put(f, 0, "KT", 102, "r3", "x", "1");
  tu_store_del(&f->s, f->s.records, "KT\0r2", 5);
}
