/* handshake.h - the secret handshake and the encrypted frames after it.
 *
 * Every connection starts, before any frame, with one 64-byte message each
 * way (the client's first):
 *     HMAC-SHA512-256(network key, E) || E        E: a fresh X25519 key
 * A side that cannot verify the other's HMAC (wrong or no network key)
 * closes at once without sending anything: a stranger learns nothing, not
 * even that this is fieldsync or which key the server has. Both sides then
 * compute s = X25519(e, E_peer) and
 *     master = BLAKE2b-256(key = network key, "fieldsync-hs-v1" || E_c || E_s || s)
 * from which crypto_kdf derives the client->server key, the server->client
 * key and the transcript secret that long-term signatures cover. Frames from
 * then on are 4-byte big-endian length || XChaCha20-Poly1305 ciphertext,
 * the length bytes as associated data and a per-direction counter as
 * nonce: an altered, truncated, replayed or reordered frame fails to
 * decrypt and ends the connection. Identities are proven inside that
 * channel (see Hello in the proto): each side signs
 *     "fieldsync-auth-v1" || role byte || transcript secret
 * with its Ed25519 key, which binds the proof to this very connection (a
 * man in the middle holding the network key has other ephemeral keys, so
 * other secrets). docs/SECURITY.md walks through it.
 */
#ifndef FS_HANDSHAKE_H
#define FS_HANDSHAKE_H

#include "keys.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FS_NETKEY_LEN 32
#define FS_HS_HELLO_LEN 64
#define FS_CIPHER_ABYTES 16

typedef struct fs_cipher {
  uint8_t key[32];
  uint64_t counter;
} fs_cipher;

typedef struct fs_hs {
  bool client;
  uint8_t netkey[FS_NETKEY_LEN];
  uint8_t eph_pk[32], eph_sk[32];
  uint8_t auth[32]; /* transcript secret the identity signatures cover */
  fs_cipher tx, rx;
  bool done;
} fs_hs;

/* Starts a handshake with a fresh ephemeral key. */
void fs_hs_init(fs_hs *hs, bool client, const uint8_t netkey[FS_NETKEY_LEN]);

/* Our 64-byte opening message. */
void fs_hs_hello(const fs_hs *hs, uint8_t out[FS_HS_HELLO_LEN]);

/* Checks the peer's opening and derives the keys. Returns 0 or FS_EREFUSED
 * (HMAC does not verify: another network, or noise; say nothing back) or
 * FS_ECRYPTO (a degenerate key). */
int fs_hs_read_hello(fs_hs *hs, const uint8_t in[FS_HS_HELLO_LEN]);

/* Our identity proof: Ed25519 over the transcript, role = our side. */
void fs_hs_sign(const fs_hs *hs, const fs_keypair *me, uint8_t sig[FS_SIG_LEN]);

/* Checks the peer's proof for key pk. Returns 0 or FS_EBADSIG. */
int fs_hs_verify(const fs_hs *hs, const uint8_t pk[FS_PK_LEN], const uint8_t *sig,
                 size_t sig_len);

/* Wipes every secret. */
void fs_hs_wipe(fs_hs *hs);

/* Encrypts in place: buf holds len plaintext bytes and room for
 * FS_CIPHER_ABYTES more; ad is the frame header. */
void fs_cipher_seal(fs_cipher *c, uint8_t *buf, size_t len, const uint8_t *ad,
                    size_t ad_len);

/* Decrypts in place; *out_len = len - FS_CIPHER_ABYTES. Returns 0 or
 * FS_ECRYPTO (altered, replayed, reordered or truncated). */
int fs_cipher_open(fs_cipher *c, uint8_t *buf, size_t len, const uint8_t *ad,
                   size_t ad_len, size_t *out_len);

/* Network key files: 64 hex digits (comment line optional), 0600 like
 * secret keys. Returns 0, FS_EKEYPERM or FS_EKEYFILE. */
int fs_netkey_load(uint8_t key[FS_NETKEY_LEN], const char *path);
int fs_netkey_create(const char *path);
/* Writes key to path (created 0600, must not exist). */
int fs_netkey_save(const uint8_t key[FS_NETKEY_LEN], const char *path);
/* Same, for any 32-byte secret, with label on the comment line. */
int fs_key32_save(const uint8_t key[32], const char *path, const char *label);

#endif
