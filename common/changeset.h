/* changeset.h - the signed unit of sync: sealing, opening, limits, areas.
 *
 * A device seals a ChangeSet by encoding it once and signing those bytes
 * (detached Ed25519). Every node opens a SignedChangeSet by checking the
 * signature over the body bytes as received, then decoding them with every
 * bound checked. The id of a change set is BLAKE2b-256(body).
 */
#ifndef FS_CHANGESET_H
#define FS_CHANGESET_H

#include "arena.h"
#include "fieldsync.pb-c.h"
#include "keys.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on what one change set may hold; a body breaking one is refused. */
#define FS_BODY_MAX (1u << 20)
#define FS_MAX_CHANGES 1024
#define FS_MAX_WRITES 256
#define FS_MAX_NAME 64       /* field names, record types */
#define FS_MAX_ID 64         /* record ids */
#define FS_MAX_AREA 128
#define FS_MAX_VALUE 65536

/* Encodes cs (device, seq, prev, hlc, area, changes filled in by the
 * caller) and signs it with sk. On success *body is malloc'ed (caller
 * frees), sig and id are filled. Returns 0, FS_ETOOBIG or FS_ENOMEM. */
int fs_changeset_seal(const Fs__ChangeSet *cs, const uint8_t *sk, uint8_t **body,
                      size_t *body_len, uint8_t sig[FS_SIG_LEN],
                      uint8_t id[FS_HASH_LEN]);

/* Checks every bound of a decoded or about-to-be-sealed body (see
 * docs/PROTOCOL.md). Returns 0, FS_EINVAL or FS_ELIMIT. */
int fs_changeset_check(const Fs__ChangeSet *cs);

/* Checks the signature over body and decodes it. On success *cs is owned by
 * the caller (fs__change_set__free_unpacked(*cs, NULL)) and id is set.
 * Returns 0, FS_ETOOBIG, FS_EBADSIG (including a signature of wrong length
 * or a device field that is not a key), FS_EDECODE, or FS_ELIMIT / FS_EINVAL
 * when a decoded value breaks a bound (seq 0, bad area, empty record id,
 * too many changes, oversize strings, a clock of 0 or >= FS_HLC_LIMIT). */
int fs_changeset_open(const uint8_t *body, size_t body_len, const uint8_t *sig,
                      size_t sig_len, Fs__ChangeSet **cs, uint8_t id[FS_HASH_LEN]);

/* fs_changeset_open for a body this node stored only after opening it
 * (a set held ahead of a gap): the same decoding and bounds, but the
 * signature is not checked again, as cert.c does not check a stored
 * certificate's again. Never for bytes that arrive from outside. */
int fs_changeset_open_stored(const uint8_t *body, size_t body_len, Fs__ChangeSet **cs,
                             uint8_t id[FS_HASH_LEN]);

/* fs_changeset_open with the decoded body allocated from arena a: *cs
 * lives until a is freed and is never passed to
 * fs__change_set__free_unpacked. Same checks, same returns; after a
 * failure a may hold the remains until it is freed. */
int fs_changeset_open_in(const uint8_t *body, size_t body_len, const uint8_t *sig,
                         size_t sig_len, fs_arena *a, Fs__ChangeSet **cs,
                         uint8_t id[FS_HASH_LEN]);

/* A chunk size for the arena of sets whose bodies total body_bytes: their
 * decoded trees usually fit one. */
size_t fs_changeset_arena_chunk(size_t body_bytes);

/* BLAKE2b-256 of body. */
void fs_changeset_id(const uint8_t *body, size_t len, uint8_t id[FS_HASH_LEN]);

/* An area code is one or more dot-separated segments of [A-Za-z0-9_],
 * at most FS_MAX_AREA bytes in all: "KT", "KT.KPL.DAKNEN". */
bool fs_area_valid(const char *area);

/* Whether the n bytes at s are 1 to max characters of a-z, 0-9 and _: the
 * alphabet of record ids, record types and field names. */
bool fs_ident_valid(const char *s, size_t n, size_t max);

/* Whether id may name a record a device creates: 1-64 characters of a-z,
 * 0-9 and _ (what fs_record_id_new and `fieldsync import` make). Checked
 * at the edge (fs_schema_check_changeset), so ids print safely anywhere. */
bool fs_record_id_valid(const char *id);

/* True when area equals scope or lies below it ("KT.KPL" is within "KT";
 * "KT.KPLX" is not). */
bool fs_area_within(const char *area, const char *scope);

/* True when p[0..len) is well-formed UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
bool fs_utf8_valid(const uint8_t *p, size_t len);

#endif
