/* store.h - the LMDB environment of a node or a laptop.
 *
 * One environment, named databases (keys in big-endian where numeric, so
 * LMDB's byte order is numeric order):
 *   meta        string -> value      format version, counters, cursors
 *   log         local seq(8) -> SignedChangeSet encoding, body verbatim:
 *               every stored set in acceptance order, forwarded upward
 *   devices     key(32) -> head seq(8) || head id(32)
 *   devseq      key(32) || seq(8) -> id(32) || local seq(8): a device's
 *               chain, to find a set by device and seq (duplicates, fetches)
 *   records     area 0 id -> record seq(8) || canonical RecordState
 *   recseq      record seq(8) -> area 0 id [0 key(32)]: what changed, for
 *               pulls, and its sole writer when one device made every write
 *   conflicts   hash(32) -> Conflict
 *   quarantine  id(32) -> SignedChangeSet (forks kept as evidence)
 *   held        key(32) || seq(8) -> SignedChangeSet: relayed ahead of a gap
 *   outbox      device seq(8) -> SignedChangeSet (laptop: not yet acked)
 *   pending     edit number(8) -> ChangeSet of one change, unsigned (laptop:
 *               an edit applied locally, sealed into the outbox at sync)
 *   peers       peer key(32) || name -> value (cursors, statistics)
 *   certs       subject(32) || kind(1) || id(32) -> SignedCert (cert.h)
 *   certlog     cert seq(8) -> certs key: arrival order, replicated
 *   areasums    area -> record count(8) || LtHash16 lanes(2048): the sum
 *               (lthash.h) of every record of exactly that area, kept in
 *               the transaction that writes the record
 * Area codes use only [A-Za-z0-9_.], so every area prefix is one contiguous
 * key range of records, and of areasums: reports and scoped scans are
 * range scans, and a digest adds up one entry per area, not per record.
 *
 * Durability: the environment is opened without MDB_NOSYNC/MDB_NOMETASYNC,
 * so a committed transaction is on disk when mdb_txn_commit returns; only
 * then is anything acknowledged. A read transaction's values are valid until
 * it ends. Write transactions run on one thread at a time.
 */
#ifndef FS_STORE_H
#define FS_STORE_H

#include "fieldsync.pb-c.h"
#include "keys.h"
#include "merge.h"

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 2: sets live in the log (appended in order) rather than under their id
 * in a "changesets" database, where random keys made every commit rewrite
 * pages all over the file.
 * 3: areasums, so that a digest costs one entry per area instead of a
 * read of every record (the digest's value changed with it).
 * 4: each recseq entry names its record's sole writer, so that a laptop's
 * pull passes over what it wrote alone without reading those records.
 * fs_store_open_upgrade converts a format 1, 2 or 3 store. */
#define FS_STORE_FORMAT 4
#define FS_STORE_MAPSIZE_DEFAULT ((size_t)1 << 33) /* 8 GiB, sparse */
#define FS_STORE_MAPSIZE_MAX ((size_t)1 << 40)     /* growth stops at 1 TiB */

typedef struct fs_store {
  MDB_env *env;
  size_t map_max;        /* fs_store_grow stops here; FS_STORE_MAPSIZE_MAX by default */
  uint64_t found_format; /* the format a refused store carries (FS_EVERSION) */
  /* Read transactions that pool threads hold for the loop thread (a node's
   * reports), counted on the loop thread: fs_store_grow must wait for 0. */
  unsigned pool_readers;
  MDB_dbi meta, log, devices, devseq, records, recseq, conflicts,
      quarantine, held, outbox, pending, peers, certs, certlog, areasums;
} fs_store;

/* Opens (creating when missing, mode 0700) the environment in dir with a
 * map of mapsize bytes (more when the data already needs more, see
 * fs_store_grow). Refuses a directory written by another on-disk format
 * with FS_EVERSION and s->found_format set. Returns 0 or a negative code;
 * on failure s holds nothing to close (but found_format). */
int fs_store_open(fs_store *s, const char *dir, size_t mapsize);

/* fs_store_open for the store's one writer (a node's `run`, the laptop):
 * a store of an older format is first converted in place, in bounded
 * transactions that a crash may interrupt and a restart resumes. Other
 * commands get FS_EVERSION for it, because the writer that runs the
 * older build may still have it open. */
int fs_store_open_upgrade(fs_store *s, const char *dir, size_t mapsize);
void fs_store_close(fs_store *s);

/* Doubles the map (at most to s->map_max) when more than three quarters of
 * it is used, or whenever force is set (a write just failed with
 * FS_EMAPFULL). The map is virtual address space: the file grows only with
 * the data. LMDB requires that no transaction of this process be active
 * meanwhile: the node calls it from the loop thread while its writer
 * thread waits between two transactions (server/ingest.c). Returns 1
 * grown, 0 not needed, FS_EMAPFULL when the map is at map_max already, or a
 * storage error. */
int fs_store_grow(fs_store *s, bool force);

/* True when fs_store_grow(s, false) would grow the map: more than three
 * quarters used, below map_max. Safe from any thread (an estimate). */
bool fs_store_wants_growth(fs_store *s);

/* Begins a transaction. Returns 0 or FS_ESTORE / FS_EMAPFULL (*txn NULL:
 * nothing to abort; FS_ESTORE among others when another process grew the
 * data beyond this map, until fs_store_grow maps it). */
int fs_store_begin(fs_store *s, bool write, MDB_txn **txn);

/* Commits (durably, see above). The txn is gone either way. Returns 0,
 * FS_EMAPFULL, UV_ENOSPC (the disk is full: LMDB's EIO after a short write,
 * with less than 1 MiB left where the store is) or FS_ESTORE. */
int fs_store_commit(MDB_txn *txn);

/* The set at local seq log_seq (*set points into the map while txn
 * lives). Returns 0 or FS_ENOTFOUND. */
int fs_store_log_get(fs_store *s, MDB_txn *txn, uint64_t log_seq, MDB_val *set);

/* The id and local seq of a device's set seq, when stored. Returns 0 or
 * FS_ENOTFOUND. */
int fs_store_devseq_get(fs_store *s, MDB_txn *txn, const uint8_t device[FS_PK_LEN],
                        uint64_t seq, uint8_t id[FS_HASH_LEN], uint64_t *log_seq);

/* Gets the entry under key in dbi that entry at of named_by names (the set
 * a log entry names by id, the record a recseq entry names); *v points
 * into the map while txn lives. Missing, the store is damaged, which must
 * not read as the end of the scan that found the name: that would pass
 * over, or drop, everything after it. Returns 0, FS_ESTORE (logged as
 * event=store.damaged, naming what is missing and where it was named) or
 * another storage error. */
int fs_store_get_named(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *v,
                       const char *what, const char *named_by, uint64_t at);

/* A u64 under a string key of meta; missing reads as 0. */
int fs_meta_get_u64(fs_store *s, MDB_txn *txn, const char *key, uint64_t *v);
int fs_meta_put_u64(fs_store *s, MDB_txn *txn, const char *key, uint64_t v);

/* A u64 kept per peer key under a name (cursors, counters); missing is 0. */
int fs_peer_get_u64(fs_store *s, MDB_txn *txn, const uint8_t key[FS_PK_LEN],
                    const char *name, uint64_t *v);
int fs_peer_put_u64(fs_store *s, MDB_txn *txn, const uint8_t key[FS_PK_LEN],
                    const char *name, uint64_t v);

/* A 32-byte id kept per peer key under a name; missing reads as zeros
 * (and *found false). */
int fs_peer_get_id(fs_store *s, MDB_txn *txn, const uint8_t key[FS_PK_LEN],
                   const char *name, uint8_t id[FS_HASH_LEN], bool *found);
int fs_peer_put_id(fs_store *s, MDB_txn *txn, const uint8_t key[FS_PK_LEN],
                   const char *name, const uint8_t id[FS_HASH_LEN]);

/* Bytes kept per peer key under a name (a refusal's time and reason);
 * FS_ENOTFOUND when missing. *v points into the map (valid while txn lives). */
int fs_peer_get(fs_store *s, MDB_txn *txn, const uint8_t key[FS_PK_LEN], const char *name,
                MDB_val *v);
int fs_peer_put(fs_store *s, MDB_txn *txn, const uint8_t key[FS_PK_LEN], const char *name,
                const void *p, size_t len);

/* Bytes under a string key of meta; FS_ENOTFOUND when missing. *v points
 * into the map (valid while txn lives). */
int fs_meta_get(fs_store *s, MDB_txn *txn, const char *key, MDB_val *v);
int fs_meta_put(fs_store *s, MDB_txn *txn, const char *key, const void *p, size_t len);

/* 1 when a record (area, id) is stored, 0 when not, or an error; reads no
 * field. */
int fs_store_record_exists(fs_store *s, MDB_txn *txn, const char *area, const char *id);

/* Reads a merged record. Returns 0 (caller owns r), FS_ENOTFOUND, FS_EDECODE. */

int fs_store_record_get(fs_store *s, MDB_txn *txn, const char *area, const char *id,
                        fs_record *r);

/* Joins delta into the stored record and, when it changed, writes it under
 * the next record seq. Returns 1 changed, 0 unchanged, or an error. */
int fs_store_record_merge(fs_store *s, MDB_txn *txn, const fs_record *delta);

/* 1 when fs_store_record_merge would write anything (a change or a
 * conflict), else 0 or an error; reads only, so a read transaction does.
 * Lets a node skip the write transaction for records it already holds.
 * state (len bytes) is delta's canonical encoding, or NULL: when the store
 * holds those very bytes, the answer is 0 without decoding its copy (a
 * state joined into itself changes nothing and meets no conflict). */
int fs_store_record_merge_needed(fs_store *s, MDB_txn *txn, const fs_record *delta,
                                 const uint8_t *state, size_t len);

/* Applies every change of an opened change set. Conflicts are recorded in
 * the conflicts database. Returns the number of records changed or an
 * error; after an error the transaction holds part of the set (and the
 * area sums may not count it): abort it. */
int fs_store_apply_changeset(fs_store *s, MDB_txn *txn, const Fs__ChangeSet *cs);

/* The state digest of the records whose area is within prefix ("" for
 * all): the LtHash16 (lthash.h) of the set of their (key, canonical
 * state), finalized to 32 bytes; *count (when not NULL) gets the number
 * of records. Adds up the areasums entries of the areas within prefix, so
 * it costs one 2 KiB entry per area whatever the records. Returns 0,
 * FS_EINVAL (prefix too long), FS_ESTORE (an entry of another size) or a
 * storage error. */
int fs_store_digest(fs_store *s, MDB_txn *txn, const char *prefix,
                    uint8_t out[FS_HASH_LEN], uint64_t *count);

/* The same digest and count computed from the records themselves, one
 * read of each (what fs_store_digest cost before format 3): equal to
 * fs_store_digest unless the sums are wrong, so tests and an operator's
 * consistency check (fieldsyncd digest --check) compare the two. Returns
 * as fs_store_digest. */
int fs_store_digest_scan(fs_store *s, MDB_txn *txn, const char *prefix,
                         uint8_t out[FS_HASH_LEN], uint64_t *count);

/* Visits every record within prefix in key order; a non-zero return from
 * visit stops the scan and is returned. The record visit gets lives until
 * visit returns (fs_record_view): it copies what it keeps. */
typedef int (*fs_record_visit_fn)(void *arg, const fs_record *r);
int fs_store_records_scan(fs_store *s, MDB_txn *txn, const char *prefix,
                          fs_record_visit_fn visit, void *arg);

/* Records changed after cursor whose area is within scope, in change order,
 * but for those that skip_writer (a device key, or NULL) alone wrote: the
 * laptop that made them holds them already, so sending them back would
 * only cost it a merge that changes nothing. Calls take(arg, state, len)
 * with each canonical state (pointing into the map) until max_records were
 * taken, max_bytes reached or max_scan entries looked at (skipped ones
 * count as looked at); take returns 0 or an error that stops the scan.
 * *next is the cursor to resume from; *more is true when entries remain
 * after it. */
typedef int (*fs_state_take_fn)(void *arg, const uint8_t *state, size_t len);
int fs_store_changes_since(fs_store *s, MDB_txn *txn, uint64_t cursor,
                           const char *scope, const uint8_t *skip_writer,
                           size_t max_records, size_t max_bytes, size_t max_scan,
                           fs_state_take_fn take, void *arg, uint64_t *next, bool *more);

/* Number of entries in a database. */
int fs_store_count(fs_store *s, MDB_txn *txn, MDB_dbi dbi, uint64_t *n);

/* Big-endian u64 helpers for keys. */
void fs_be64_put(uint8_t out[8], uint64_t v);
uint64_t fs_be64_get(const uint8_t in[8]);

#endif
