/* tu_store.h - a store in a fresh temporary directory and two devices that
 * write to it, for the store's unit tests (test_store.c and
 * test_store_upgrade.c). Helpers fail the running cmocka test on any error.
 */
#ifndef FS_TU_STORE_H
#define FS_TU_STORE_H

#include "store.h"
#include "testutil.h"

#define TU_STORE_MAPSIZE ((size_t)64 << 20)

typedef struct tu_store {
  char *tmp, *dir; /* the temporary directory, and the store's within it */
  fs_store s;      /* open in dir */
  tu_device dev[2];
} tu_store;

/* cmocka setup and teardown: *state is a tu_store. */
int tu_store_setup(void **state);
int tu_store_teardown(void **state);

/* Seals, on d's chain, one change to record id in area writing field=value. */
void tu_make_cs(tu_device *d, const char *area, uint64_t hlc, const char *id,
                const char *field, const char *value, tu_sealed *out);

/* Opens and applies a sealed change set in its own transaction; returns the
 * number of records it changed. */
int tu_apply(fs_store *s, const tu_sealed *sealed);

/* tu_make_cs on f's device dev, applied: the record must change. */
void tu_put(tu_store *f, int dev, const char *area, uint64_t hlc, const char *id,
            const char *field, const char *value);

/* Deletes key (klen bytes) from dbi, in its own transaction. */
void tu_store_del(fs_store *s, MDB_dbi dbi, const void *key, size_t klen);

/* A damaged store: records KT/r1, r2 and r3 written (record seqs 1 to 3),
 * then r2 deleted, so recseq entry 2 names a record the store lacks. */
void tu_store_lose_record(tu_store *f);

#endif
