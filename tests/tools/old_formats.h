/* old_formats.h - rewrites a store in the layout an older build left, for
 * the upgrade tests (fs_storetool and the unit tests). Each works inside
 * the caller's write transaction and returns 0 or a storage error. */
#ifndef FS_OLD_FORMATS_H
#define FS_OLD_FORMATS_H

#include "store.h"

/* Format 3: recseq entries hold the record key alone (no sole writer). */
int fs_old_format3(fs_store *s, MDB_txn *txn);

/* Format 2: format 3 without areasums. */
int fs_old_format2(fs_store *s, MDB_txn *txn);

/* Format 1: format 2, with each set under its id in "changesets" and the
 * log and devseq holding ids. */
int fs_old_format1(fs_store *s, MDB_txn *txn);

#endif
