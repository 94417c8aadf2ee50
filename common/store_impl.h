/* store_impl.h - what store.c shares with store_upgrade.c. Not a public
 * header: use store.h. */
#ifndef FS_STORE_IMPL_H
#define FS_STORE_IMPL_H

#include "store.h"

/* Format 1 -> 2: moves every change set from "changesets" (under its id)
 * into the log, and the log seq into devseq. Resumable: a crash leaves
 * format 1 and the next start carries on. Returns 0 or a storage error. */
int fs_store_upgrade_from_1(fs_store *s);

#endif
