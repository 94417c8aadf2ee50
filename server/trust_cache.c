/* trust_cache.c - a write transaction's memory of trust lookups (see
 * trust_cache.h). Keys are found through an open-addressing index (SipHash
 * under a random key, so chosen keys cannot make long probe runs) into a
 * dense array filled in order; a reset clears the index and the count. */
#include "trust_cache.h"

#include "error.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS (2 * FS_TRUST_CACHE_KEYS) /* a power of two, at most half full */

typedef struct entry {
  uint8_t key[FS_PK_LEN];
  bool has_grant;           /* grant: a certificate fs_trust_find accepted */
  fs_grant grant;
  int revoked;              /* -1: not asked yet; else fs_trust_revoked's answer */
  uint64_t last_seq, from;
} entry;

struct fs_trust_cache {
  uint16_t slot[SLOTS];     /* entry index + 1; 0: empty */
  size_t n;
  entry e[FS_TRUST_CACHE_KEYS];
  uint8_t hash_key[crypto_shorthash_KEYBYTES];
};

int fs_trust_cache_new(fs_trust_cache **out) {
  fs_trust_cache *c = calloc(1, sizeof *c);
  if (!c)
    return FS_ENOMEM;
  crypto_shorthash_keygen(c->hash_key);
  *out = c;
  return 0;
}

void fs_trust_cache_free(fs_trust_cache *c) { free(c); }

void fs_trust_cache_reset(fs_trust_cache *c) {
  memset(c->slot, 0, sizeof c->slot);
  c->n = 0;
}

/* key's entry, a new one when absent (NULL when the cache is full). */
static entry *entry_for(fs_trust_cache *c, const uint8_t *key) {
  uint8_t h[crypto_shorthash_BYTES];
  crypto_shorthash(h, key, FS_PK_LEN, c->hash_key);
  uint64_t i;
  memcpy(&i, h, sizeof i);
  for (;; i++) {
    uint16_t *slot = &c->slot[i & (SLOTS - 1)];
    if (*slot == 0)
      break;
    entry *e = &c->e[*slot - 1];
    if (memcmp(e->key, key, FS_PK_LEN) == 0)
      return e;
  }
  if (c->n == FS_TRUST_CACHE_KEYS)
    return NULL;
  c->slot[i & (SLOTS - 1)] = (uint16_t)(c->n + 1);
  entry *e = &c->e[c->n++];
  memcpy(e->key, key, FS_PK_LEN);
  e->has_grant = false;
  e->revoked = -1;
  return e;
}

int fs_trust_cache_find(fs_trust_cache *c, fs_store *s, MDB_txn *txn,
                        const uint8_t root[FS_PK_LEN], const uint8_t key[FS_PK_LEN],
                        Fs__CertKind kind, const char *area, uint64_t at_ms) {
  entry *e = entry_for(c, key);
  if (e && e->has_grant && e->grant.kind == kind && fs_grant_covers(&e->grant, area, at_ms))
    return 0;
  fs_grant g;
  int rc = fs_trust_find(s, txn, root, key, kind, area, at_ms, &g);
  if (rc == 0 && e) {
    e->grant = g;
    e->has_grant = true;
  }
  return rc;
}

int fs_trust_cache_revoked(fs_trust_cache *c, fs_store *s, MDB_txn *txn,
                           const uint8_t root[FS_PK_LEN], const uint8_t key[FS_PK_LEN],
                           uint64_t *last_seq, uint64_t *from_ms) {
  entry *e = entry_for(c, key);
  if (e && e->revoked >= 0) {
    *last_seq = e->last_seq;
    *from_ms = e->from;
    return e->revoked;
  }
  int rc = fs_trust_revoked(s, txn, root, key, last_seq, from_ms);
  if (rc >= 0 && e) {
    e->revoked = rc;
    e->last_seq = *last_seq;
    e->from = *from_ms;
  }
  return rc;
}
