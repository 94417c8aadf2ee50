/* merge.h - merged record state, a join-semilattice.
 *
 * A record is a set of registers: one per field, one for its type and one
 * tombstone. Each register holds the write with the greatest clock, where a
 * clock is (hlc, device key) and, for the case of one device writing two
 * values at one hlc (a fork or a broken laptop), the value bytes and then
 * base_hlc decide.
 * fs_record_join takes the per-register maximum, so it is commutative,
 * associative and idempotent: any delivery order of the same writes gives
 * the same state, and fs_record_encode gives the same bytes (fields sorted
 * by name).
 *
 * Deletes and revival: a record is visible when some write (a field or its
 * creation) is newer than its newest delete; fields older than the delete
 * stay hidden. So a field written after a delete revives the record with
 * only what was written after the delete. The rule is a function of the
 * joined state, so it does not depend on arrival order either.
 */
#ifndef FS_MERGE_H
#define FS_MERGE_H

#include "arena.h"
#include "fieldsync.pb-c.h"
#include "keys.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fs_clock {
  uint64_t hlc;
  uint8_t device[FS_PK_LEN];
} fs_clock;

typedef struct fs_field {
  char *name;            /* owned */
  uint8_t *value;        /* owned, value_len bytes (may be NULL when 0) */
  size_t value_len;
  fs_clock clock;
  uint64_t base_hlc;
} fs_field;

typedef struct fs_record {
  char *area;            /* owned */
  char *id;              /* owned */
  char *type;            /* owned; NULL until a change names it */
  fs_clock type_clock;
  fs_clock del_clock;    /* hlc 0: never deleted */
  fs_field *fields;      /* owned, sorted by name */
  size_t nfields, cap;
} fs_record;

/* Called when a write meets the current value of its field and the one
 * that wins was made without seeing the other (winner.base_hlc <
 * loser.hlc). Conflicts are advisory, recorded where merged and not part of
 * the state: which pairs meet depends on arrival order (with three
 * concurrent writes a node may see two pairs, another node one). */
typedef void (*fs_conflict_fn)(void *arg, const fs_record *r, const fs_field *winner,
                               const fs_field *loser);

/* Compares two clocks: <0, 0, >0. */
int fs_clock_cmp(const fs_clock *a, const fs_clock *b);

/* Initialises an empty record with copies of area and id. Returns 0 or
 * FS_ENOMEM. Release with fs_record_free. */
int fs_record_init(fs_record *r, const char *area, const char *id);
void fs_record_free(fs_record *r);

/* Joins src into dst (same area and id). Returns 1 when dst changed, 0 when
 * src added nothing, FS_ENOMEM. conflict may be NULL. */
int fs_record_join(fs_record *dst, const fs_record *src, fs_conflict_fn conflict,
                   void *arg);

/* Joins one change of an opened change set into dst. Returns as
 * fs_record_join. */
int fs_record_apply(fs_record *dst, const Fs__ChangeSet *cs, const Fs__Change *ch,
                    fs_conflict_fn conflict, void *arg);

/* True when the record is visible (see the revival rule above). */
bool fs_record_visible(const fs_record *r);

/* True when field f is shown (written after the newest delete). */
bool fs_field_visible(const fs_record *r, const fs_field *f);

/* Finds a field by name; NULL when absent. */
const fs_field *fs_record_field(const fs_record *r, const char *name);

/* Greatest hlc among all registers (what an editor has "seen"). */
uint64_t fs_record_max_hlc(const fs_record *r);

/* The device that made every write the record holds: its key in out and
 * true, or false when two devices wrote to it (or nothing was written).
 * A laptop that is the sole writer of a record holds all of it already. */
bool fs_record_sole_writer(const fs_record *r, uint8_t out[FS_PK_LEN]);

/* Canonical bytes of a state (RecordState), malloc'ed, caller frees.
 * Returns 0 or FS_ENOMEM. */
int fs_record_encode(const fs_record *r, uint8_t **out, size_t *len);

/* Decodes and validates a RecordState (sorted unique field names, keys of
 * 32 bytes, bounded strings; decoding takes at most fs_decode_limit(len)).
 * On success r is owned by the caller. Returns 0, FS_EDECODE or
 * FS_ENOMEM. */
int fs_record_decode(fs_record *r, const uint8_t *p, size_t len);

/* Decodes and validates as fs_record_decode, without copying: r's strings,
 * values and fields live in a (and p is no longer needed), valid until a is
 * reset or freed. Such an r is read only: never freed with fs_record_free
 * nor joined into. A scan that looks at one record after another decodes
 * each into one arena it resets, allocating nothing for a typical record. */
int fs_record_view(fs_record *r, const uint8_t *p, size_t len, fs_arena *a);

#endif
