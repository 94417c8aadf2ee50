/* seal.h - sealed field values: only the entitled unit can read them.
 *
 * A sensitive field (a tip's informant name, phone, address) is sealed on
 * the laptop with crypto_box_seal to the deployment's sealing public key
 * (an X25519 key made by `fieldsyncd admin init`, held by the unit entitled
 * to read informants' identities). The stored value is
 *     0x00 'S' '1' || crypto_box_seal(plaintext)
 * The leading NUL never starts a text value (text fields refuse NUL), so
 * every node, report and dashboard recognises a sealed value and shows it
 * as sealed; servers store and forward the ciphertext like any other bytes
 * and cannot read it. Only `fieldsyncd admin open` with the secret key does.
 */
#ifndef FS_SEAL_H
#define FS_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FS_SEAL_KEY_LEN 32
#define FS_SEAL_PREFIX_LEN 3

/* True when the value is a sealed one. */
bool fs_value_sealed(const uint8_t *v, size_t len);

/* Seals plaintext to pk into a malloc'ed value. Returns 0 or FS_ENOMEM. */
int fs_seal(const uint8_t pk[FS_SEAL_KEY_LEN], const uint8_t *plain, size_t len,
            uint8_t **out, size_t *out_len);

/* Opens a sealed value with the key pair into a malloc'ed, NUL-terminated
 * buffer. Returns 0, FS_EINVAL (not sealed) or FS_ECRYPTO (another key, or
 * altered). */
int fs_seal_open(const uint8_t pk[FS_SEAL_KEY_LEN], const uint8_t sk[FS_SEAL_KEY_LEN],
                 const uint8_t *v, size_t len, uint8_t **out, size_t *out_len);

/* Sealing key files: "<path>" holds the secret key (0600, hex),
 * "<path>.pub" the public key. create fails if path exists. */
int fs_seal_key_create(const char *path);
int fs_seal_key_load(const char *path, uint8_t pk[FS_SEAL_KEY_LEN],
                     uint8_t sk[FS_SEAL_KEY_LEN]);

#endif
