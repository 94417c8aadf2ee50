/* seal.c - crypto_box_seal for sensitive field values. */
#include "seal.h"

#include "error.h"
#include "handshake.h"
#include "hex.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t prefix[FS_SEAL_PREFIX_LEN] = {0x00, 'S', '1'};

bool fs_value_sealed(const uint8_t *v, size_t len) {
  return len >= FS_SEAL_PREFIX_LEN + crypto_box_SEALBYTES &&
         memcmp(v, prefix, FS_SEAL_PREFIX_LEN) == 0;
}

int fs_seal(const uint8_t pk[FS_SEAL_KEY_LEN], const uint8_t *plain, size_t len,
            uint8_t **out, size_t *out_len) {
  size_t n = FS_SEAL_PREFIX_LEN + crypto_box_SEALBYTES + len;
  uint8_t *b = malloc(n);
  if (!b)
    return FS_ENOMEM;
  memcpy(b, prefix, FS_SEAL_PREFIX_LEN);
  if (crypto_box_seal(b + FS_SEAL_PREFIX_LEN, plain, len, pk) != 0) {
    free(b);
    return FS_ECRYPTO;
  }
  *out = b;
  *out_len = n;
  return 0;
}

int fs_seal_open(const uint8_t pk[FS_SEAL_KEY_LEN], const uint8_t sk[FS_SEAL_KEY_LEN],
                 const uint8_t *v, size_t len, uint8_t **out, size_t *out_len) {
  if (!fs_value_sealed(v, len))
    return FS_EINVAL;
  size_t n = len - FS_SEAL_PREFIX_LEN - crypto_box_SEALBYTES;
  uint8_t *b = malloc(n + 1);
  if (!b)
    return FS_ENOMEM;
  if (crypto_box_seal_open(b, v + FS_SEAL_PREFIX_LEN, len - FS_SEAL_PREFIX_LEN, pk, sk) != 0) {
    free(b);
    return FS_ECRYPTO;
  }
  b[n] = '\0';
  *out = b;
  *out_len = n;
  return 0;
}

int fs_seal_key_create(const char *path) {
  uint8_t pk[FS_SEAL_KEY_LEN], sk[FS_SEAL_KEY_LEN];
  crypto_box_keypair(pk, sk);
  char pub[512];
  int rc = fs_key32_save(sk, path, "fieldsync sealing secret key");
  sodium_memzero(sk, sizeof sk);
  if (rc)
    return rc;
  char hex[2 * FS_SEAL_KEY_LEN + 1];
  fs_hex_encode(hex, pk, sizeof pk);
  snprintf(pub, sizeof pub, "%s.pub", path);
  FILE *f = fopen(pub, "wxe");
  if (!f)
    return FS_EKEYFILE;
  int ok = fprintf(f, "fieldsync sealing public key\n%s\n", hex) > 0;
  return fclose(f) == 0 && ok ? 0 : FS_EKEYFILE;
}

int fs_seal_key_load(const char *path, uint8_t pk[FS_SEAL_KEY_LEN],
                     uint8_t sk[FS_SEAL_KEY_LEN]) {
  int rc = fs_netkey_load(sk, path);
  if (rc)
    return rc;
  crypto_scalarmult_base(pk, sk);
  return 0;
}
