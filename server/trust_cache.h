/* trust_cache.h - one write transaction's memory of its devices' trust.
 *
 * The writer asks of every set whether its device holds an enrolment
 * covering the set's area at the set's time (fs_trust_find) and whether the
 * device is revoked (fs_trust_revoked). Each walks the device's
 * certificates and their issuers' chains in LMDB, decoding every one, and
 * gets the same answer for every set of that device in the transaction.
 * The cache keeps per key what decides those answers, and answers exactly
 * as the uncached lookups would while the store holds the same
 * certificates:
 * - revoked: the whole answer (revoked, last_seq, from), which depends on
 *   the stored certificates alone.
 * - find: only success is kept, as the grant of the certificate found. A
 *   later lookup it covers (fs_grant_covers: area within the grant's, time
 *   within its window) has fs_trust_find's verdict, 0; any other lookup
 *   goes to fs_trust_find, and a success there replaces the kept grant.
 *   Failures are never kept: their codes depend on every certificate.
 *
 * The caller resets the cache when its transaction begins and whenever it
 * stores a certificate (fs_cert_store returned 1): a new certificate may
 * revoke a key or an issuer. One thread at a time (the writer); no lock.
 * A full cache (more keys than FS_TRUST_CACHE_KEYS since the last reset)
 * answers the rest uncached.
 */
#ifndef FS_TRUST_CACHE_H
#define FS_TRUST_CACHE_H

#include "cert.h"
#include "store.h"

#include <stdint.h>

#define FS_TRUST_CACHE_KEYS 2048 /* = FS_COMMIT_MAX_SETS: a key per set at most */

typedef struct fs_trust_cache fs_trust_cache;

/* Creates an empty cache (*c owned by the caller, fs_trust_cache_free).
 * Returns 0 or FS_ENOMEM. */
int fs_trust_cache_new(fs_trust_cache **c);
void fs_trust_cache_free(fs_trust_cache *c);

/* Forgets everything (constant time). */
void fs_trust_cache_reset(fs_trust_cache *c);

/* fs_trust_find's verdict for key, kind, area and at_ms, without the
 * grant: 0, FS_EUNKNOWN_PEER, FS_EEXPIRED, FS_EUNTRUSTED, FS_ESCOPE or a
 * storage error. */
int fs_trust_cache_find(fs_trust_cache *c, fs_store *s, MDB_txn *txn,
                        const uint8_t root[FS_PK_LEN], const uint8_t key[FS_PK_LEN],
                        Fs__CertKind kind, const char *area, uint64_t at_ms);

/* fs_trust_revoked for key: 0, or 1 with *last_seq and *from_ms, or a
 * storage error. */
int fs_trust_cache_revoked(fs_trust_cache *c, fs_store *s, MDB_txn *txn,
                           const uint8_t root[FS_PK_LEN], const uint8_t key[FS_PK_LEN],
                           uint64_t *last_seq, uint64_t *from_ms);

#endif
