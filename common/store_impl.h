/* store_impl.h - what store.c shares with store_upgrade.c. Not a public
 * header: use store.h. */
#ifndef FS_STORE_IMPL_H
#define FS_STORE_IMPL_H

#include "changeset.h"
#include "lthash.h"
#include "store.h"

/* An areasums value: record count (big-endian u64), then the encoded sum. */
#define FS_STORE_SUMS_LEN (8 + FS_LTHASH_BYTES)

/* The LtHash element of a stored record: key k, value v (record seq(8) ||
 * canonical state). Returns 0 or FS_ESTORE (a value too short). */
int fs_store_record_elem(fs_lthash *elem, const MDB_val *k, const MDB_val *v);

/* The longest record key: area, a 0 byte, id. */
#define FS_STORE_KEY_MAX (FS_MAX_AREA + 1 + FS_MAX_ID)

/* A recseq value: the record key (area 0 id, klen at most
 * FS_STORE_KEY_MAX), then, when one device made every write of r, a 0 byte
 * and its key (an id holds no 0 byte). Writes at most FS_STORE_RECSEQ_MAX
 * bytes to out; returns the length. */
#define FS_STORE_RECSEQ_MAX (FS_STORE_KEY_MAX + 1 + FS_PK_LEN)
size_t fs_store_recseq_value(uint8_t *out, const uint8_t *key, size_t klen,
                             const fs_record *r);

/* Splits a recseq value into its area (NUL-terminated), the record key
 * (pointing into v, at most FS_STORE_KEY_MAX bytes) and the sole writer's
 * key (NULL: none named). Returns 0 or FS_ESTORE (no area, a tag of
 * another size, a key longer than any record's: a damaged store). */
int fs_store_recseq_parse(const MDB_val *v, char area[FS_MAX_AREA + 1], MDB_val *key,
                          const uint8_t **writer);

/* Writes area's (alen bytes, no NUL) entry of areasums. Returns 0 or a
 * storage error (FS_EMAPFULL among them). */
int fs_store_sums_put(fs_store *s, MDB_txn *txn, const char *area, size_t alen,
                      uint64_t count, const fs_lthash *sum);

/* Format 1 -> 2: moves every change set from "changesets" (under its id)
 * into the log, and the log seq into devseq; leaves format 2. Resumable: a
 * crash leaves format 1 and the next start carries on. Returns 0 or a
 * storage error. */
int fs_store_upgrade_from_1(fs_store *s);

/* Format 2 -> 3: computes areasums from the records, whole areas at a
 * time in bounded transactions, and sets format 3 in the last one.
 * Resumable: meta "sums_next" holds where to go on, and the record seq it
 * was written at, so records written in between (by the previous build,
 * run again on the half-converted store) make it start over. Returns 0 or
 * a storage error. */
int fs_store_upgrade_from_2(fs_store *s);

/* Format 3 -> 4: tags each recseq entry with its record's sole writer
 * (fs_store_recseq_value), in bounded transactions, and sets format 4 in
 * the last one. Resumable: entries already tagged or shared stay as they
 * are, and a tagged one decodes the same. Returns 0 or a storage error. */
int fs_store_upgrade_from_3(fs_store *s);

#endif
