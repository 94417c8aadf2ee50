/* keys.h - Ed25519 key pairs and their files.
 *
 * A secret key file holds a comment line and the 64-byte libsodium secret
 * key in hex; it is created 0600 and refused when group or others may read
 * it. The public key sits beside it in "<path>.pub" (comment line + hex).
 * Secret keys live in sodium_malloc'ed memory and are wiped on free.
 */
#ifndef FS_KEYS_H
#define FS_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define FS_PK_LEN 32
#define FS_SK_LEN 64
#define FS_SIG_LEN 64
#define FS_HASH_LEN 32

typedef struct fs_keypair {
  uint8_t pk[FS_PK_LEN];
  uint8_t *sk; /* FS_SK_LEN bytes, sodium_malloc'ed, owned by the pair */
} fs_keypair;

/* Makes a fresh key pair. Returns 0 or FS_ENOMEM. */
int fs_keypair_generate(fs_keypair *kp);

/* Writes the secret key to path (created 0600, must not exist) and the
 * public key to path.pub. Returns 0, FS_EINVAL if path exists, or a negative
 * errno. */
int fs_keypair_save(const fs_keypair *kp, const char *path, const char *comment);

/* Reads a secret key file. Returns 0, FS_EKEYPERM when the file is group- or
 * world-readable, FS_EKEYFILE when missing or malformed, FS_ENOMEM. On
 * success the caller owns kp and releases it with fs_keypair_free. */
int fs_keypair_load(fs_keypair *kp, const char *path);

/* Wipes and frees the secret key; safe on a zeroed or freed pair. */
void fs_keypair_free(fs_keypair *kp);

/* Reads a public key file (comment line optional) or, when path is 64 hex
 * digits itself, decodes it. Returns 0 or FS_EKEYFILE. */
int fs_pubkey_load(uint8_t pk[FS_PK_LEN], const char *path_or_hex);

/* Reads a secret file (a key file): refuses what is not a regular file
 * (FS_EKEYFILE) or what group or others may read (FS_EKEYPERM), reads at
 * most cap-1 bytes into buf (NUL-terminated) and returns the key line:
 * the second line when the first is a "fieldsync ..." comment, else the
 * first; NULL in *line when there is trailing garbage. buf should be
 * sodium_malloc'ed or wiped by the caller. Returns 0 or an error. */
int fs_secret_file_read(const char *path, char *buf, size_t cap, char **line);

/* Writes text to a new secret file at path (created 0600, fsynced).
 * Returns 0, FS_EINVAL if path exists (secrets are never overwritten), or a
 * negative errno; nothing is left behind on failure. */
int fs_secret_file_write(const char *path, const char *text);

/* Initialises libsodium once per process. Returns 0 or FS_ECRYPTO. */
int fs_crypto_init(void);

#endif
