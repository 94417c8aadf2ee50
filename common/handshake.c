/* handshake.c - secret handshake (network-key bound) and frame cipher. */
#include "handshake.h"

#include "error.h"
#include "hex.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HS_CONTEXT "fieldsync-hs-v1"
#define AUTH_CONTEXT "fieldsync-auth-v1"
#define KDF_CONTEXT "fsyncHS1"

void fs_hs_init(fs_hs *hs, bool client, const uint8_t netkey[FS_NETKEY_LEN]) {
  memset(hs, 0, sizeof *hs);
  hs->client = client;
  memcpy(hs->netkey, netkey, FS_NETKEY_LEN);
  crypto_box_keypair(hs->eph_pk, hs->eph_sk);
}

void fs_hs_hello(const fs_hs *hs, uint8_t out[FS_HS_HELLO_LEN]) {
  crypto_auth(out, hs->eph_pk, 32, hs->netkey);
  memcpy(out + 32, hs->eph_pk, 32);
}

int fs_hs_read_hello(fs_hs *hs, const uint8_t in[FS_HS_HELLO_LEN]) {
  const uint8_t *peer = in + 32;
  if (crypto_auth_verify(in, peer, 32, hs->netkey) != 0)
    return FS_EREFUSED;
  uint8_t shared[32], master[32];
  if (crypto_scalarmult(shared, hs->eph_sk, peer) != 0)
    return FS_ECRYPTO; /* low-order point */
  const uint8_t *ce = hs->client ? hs->eph_pk : peer;
  const uint8_t *se = hs->client ? peer : hs->eph_pk;
  crypto_generichash_state st;
  crypto_generichash_init(&st, hs->netkey, FS_NETKEY_LEN, sizeof master);
  crypto_generichash_update(&st, (const uint8_t *)HS_CONTEXT, sizeof HS_CONTEXT - 1);
  crypto_generichash_update(&st, ce, 32);
  crypto_generichash_update(&st, se, 32);
  crypto_generichash_update(&st, shared, sizeof shared);
  crypto_generichash_final(&st, master, sizeof master);
  uint8_t c2s[32], s2c[32];
  crypto_kdf_derive_from_key(c2s, sizeof c2s, 1, KDF_CONTEXT, master);
  crypto_kdf_derive_from_key(s2c, sizeof s2c, 2, KDF_CONTEXT, master);
  crypto_kdf_derive_from_key(hs->auth, sizeof hs->auth, 3, KDF_CONTEXT, master);
  memcpy(hs->tx.key, hs->client ? c2s : s2c, 32);
  memcpy(hs->rx.key, hs->client ? s2c : c2s, 32);
  hs->tx.counter = hs->rx.counter = 0;
  sodium_memzero(shared, sizeof shared);
  sodium_memzero(master, sizeof master);
  sodium_memzero(c2s, sizeof c2s);
  sodium_memzero(s2c, sizeof s2c);
  sodium_memzero(hs->eph_sk, sizeof hs->eph_sk);
  hs->done = true;
  return 0;
}

/* "fieldsync-auth-v1" || 'c' or 's' || transcript secret */
static size_t auth_message(uint8_t *out, const fs_hs *hs, bool client_side) {
  size_t n = sizeof AUTH_CONTEXT - 1;
  memcpy(out, AUTH_CONTEXT, n);
  out[n++] = client_side ? 'c' : 's';
  memcpy(out + n, hs->auth, sizeof hs->auth);
  return n + sizeof hs->auth;
}

void fs_hs_sign(const fs_hs *hs, const fs_keypair *me, uint8_t sig[FS_SIG_LEN]) {
  uint8_t msg[64];
  size_t n = auth_message(msg, hs, hs->client);
  crypto_sign_detached(sig, NULL, msg, n, me->sk);
  sodium_memzero(msg, sizeof msg);
}

int fs_hs_verify(const fs_hs *hs, const uint8_t pk[FS_PK_LEN], const uint8_t *sig,
                 size_t sig_len) {
  if (sig_len != FS_SIG_LEN)
    return FS_EBADSIG;
  uint8_t msg[64];
  size_t n = auth_message(msg, hs, !hs->client);
  int rc = crypto_sign_verify_detached(sig, msg, n, pk) == 0 ? 0 : FS_EBADSIG;
  sodium_memzero(msg, sizeof msg);
  return rc;
}

void fs_hs_wipe(fs_hs *hs) { sodium_memzero(hs, sizeof *hs); }

static void nonce_of(uint8_t n[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES],
                     uint64_t counter) {
  memset(n, 0, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  for (int i = 0; i < 8; i++)
    n[i] = (uint8_t)(counter >> (8 * i));
}

void fs_cipher_seal(fs_cipher *c, uint8_t *buf, size_t len, const uint8_t *ad,
                    size_t ad_len) {
  uint8_t n[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  nonce_of(n, c->counter++);
  unsigned long long clen;
  crypto_aead_xchacha20poly1305_ietf_encrypt(buf, &clen, buf, len, ad, ad_len, NULL, n,
                                             c->key);
}

int fs_cipher_open(fs_cipher *c, uint8_t *buf, size_t len, const uint8_t *ad,
                   size_t ad_len, size_t *out_len) {
  if (len < FS_CIPHER_ABYTES)
    return FS_ECRYPTO;
  uint8_t n[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  nonce_of(n, c->counter);
  unsigned long long mlen;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(buf, &mlen, NULL, buf, len, ad, ad_len,
                                                 n, c->key) != 0)
    return FS_ECRYPTO;
  c->counter++;
  *out_len = (size_t)mlen;
  return 0;
}

int fs_netkey_load(uint8_t key[FS_NETKEY_LEN], const char *path) {
  char buf[256], *line = NULL;
  int rc = fs_secret_file_read(path, buf, sizeof buf, &line);
  if (rc == 0)
    rc = line && fs_hex_decode(key, FS_NETKEY_LEN, line) == 0 ? 0 : FS_EKEYFILE;
  sodium_memzero(buf, sizeof buf);
  return rc;
}

int fs_netkey_save(const uint8_t key[FS_NETKEY_LEN], const char *path) {
  return fs_key32_save(key, path, "fieldsync network key");
}

int fs_key32_save(const uint8_t key[32], const char *path, const char *label) {
  char text[200], hex[2 * 32 + 1];
  fs_hex_encode(hex, key, 32);
  int len = snprintf(text, sizeof text, "%.100s\n%s\n", label, hex);
  sodium_memzero(hex, sizeof hex);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    sodium_memzero(text, sizeof text);
    return errno == EEXIST ? FS_EINVAL : -errno;
  }
  int rc = write(fd, text, (size_t)len) == len && fsync(fd) == 0 ? 0 : -errno;
  close(fd);
  sodium_memzero(text, sizeof text);
  return rc;
}

int fs_netkey_create(const char *path) {
  uint8_t key[FS_NETKEY_LEN];
  randombytes_buf(key, sizeof key);
  int rc = fs_netkey_save(key, path);
  sodium_memzero(key, sizeof key);
  return rc;
}
