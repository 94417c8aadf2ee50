/* conflicts.h - the conflicts a node recorded, listed for review.
 *
 * A conflict is recorded where change sets are merged (store.c): a write
 * that won over a value its writer had not seen (its base clock is older
 * than that value's clock). Every node that merges both writes records it,
 * so a conflict between two laptops of a commune is listed at the commune,
 * the district and the province alike, whatever the order the sets came in
 * (the key is a hash of both clocks: recording it again is a no-op).
 *
 * The listing names, for the winner and the loser: the value, the device
 * key, the officer of its enrolment here, and the time of the write (its
 * clock); and whether the winner was since overwritten. A sealed value
 * (seal.h), or any value of a field the schema marks sealed, is shown as
 * sealed, never as its ciphertext. An administrator who finds the winner
 * wrong writes the right value as an ordinary signed edit; the listing then
 * shows the conflict as superseded.
 */
#ifndef FS_CONFLICTS_H
#define FS_CONFLICTS_H

#include "store.h"
#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>

#define FS_CONFLICTS_MAX 1000 /* listed at most, newest first */

/* Renders the conflicts of records within area ("" for all) held in s, the
 * newest first, as a terminal listing or JSON (node names the node in the
 * output). Returns 0 or a storage error. */
int fs_conflicts_render(fs_store *s, MDB_txn *txn, const char *node, const char *area,
                        bool json, fs_strbuf *b);

#endif
