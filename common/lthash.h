/* lthash.h - LtHash16, a homomorphic hash of a set of records.
 *
 * The lattice hash of Bellare and Micciancio as Facebook deploys it
 * ("Securing Update Propagation with Homomorphic Hashing", 2019): a set's
 * hash is the lane-wise sum, mod 2^16, of one 1024-lane vector per element.
 * Adding an element adds its vector, removing one subtracts it, so a
 * changed record costs two vectors however large the set, and the hashes
 * of disjoint sets add up to the hash of their union: that is what lets
 * the store keep one sum per area and digest any area prefix from them
 * (store.h). The order of additions never matters.
 *
 * Why not a plain sum or XOR of 256-bit hashes (AdHash, XHash): with few
 * and short lanes Wagner's generalized birthday attack, and for XOR plain
 * linear algebra over GF(2), finds a different set with the same hash;
 * 1024 lanes of 16 bits is the parameter set the paper gives for about 200
 * bits of security (by their estimate). It hashes a multiset: an element
 * added 2^16 times cancels out. The store never adds one twice, since
 * every element carries its record's key and a key is stored once.
 *
 * An element's vector is the ChaCha20 keystream (2048 bytes, nonce 0)
 * under the BLAKE2b-256 of the element's bytes; lanes are little-endian
 * u16 on disk and in fs_lthash_finalize, so every machine agrees.
 * Everything here is pure computation: no allocation, no error.
 */
#ifndef FS_LTHASH_H
#define FS_LTHASH_H

#include <stddef.h>
#include <stdint.h>

#define FS_LTHASH_LANES 1024
#define FS_LTHASH_BYTES (2 * FS_LTHASH_LANES) /* encoded size */
#define FS_LTHASH_DIGEST 32

typedef struct fs_lthash {
  uint16_t lane[FS_LTHASH_LANES];
} fs_lthash;

/* The hash of the empty set (every lane 0). */
void fs_lthash_init(fs_lthash *h);

/* The vector of one record: the element is the same framing the digest
 * used before it was homomorphic, 8 bytes big-endian (klen << 32 | slen)
 * then the key then the canonical state, so a key and a state can never
 * be shifted into each other. klen must be below 2^32 and slen too. */
void fs_lthash_record(fs_lthash *elem, const uint8_t *key, size_t klen,
                      const uint8_t *state, size_t slen);

/* h += x lane by lane: adds an element (fs_lthash_record), or combines
 * the hash of a disjoint set into h. */
void fs_lthash_add(fs_lthash *h, const fs_lthash *x);

/* h -= x lane by lane: removes an element that h holds, so a replaced
 * record is sub(old) then add(new). */
void fs_lthash_sub(fs_lthash *h, const fs_lthash *x);

/* The 2048-byte little-endian encoding, as the store keeps it. */
void fs_lthash_encode(const fs_lthash *h, uint8_t out[FS_LTHASH_BYTES]);
void fs_lthash_decode(fs_lthash *h, const uint8_t in[FS_LTHASH_BYTES]);

/* The 32-byte digest: BLAKE2b-256 of the encoding. */
void fs_lthash_finalize(const fs_lthash *h, uint8_t out[FS_LTHASH_DIGEST]);

#endif
