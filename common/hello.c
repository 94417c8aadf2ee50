/* hello.c - signing and checking the answer to a challenge. */
#include "hello.h"

#include "error.h"

#include <sodium.h>
#include <string.h>

#define CONTEXT "fieldsync-hello-v1"
#define MSG_LEN (sizeof CONTEXT - 1 + FS_NONCE_LEN + FS_PK_LEN)

static void hello_message(uint8_t out[MSG_LEN], const uint8_t *nonce,
                          const uint8_t *server_key) {
  memcpy(out, CONTEXT, sizeof CONTEXT - 1);
  memcpy(out + sizeof CONTEXT - 1, nonce, FS_NONCE_LEN);
  memcpy(out + sizeof CONTEXT - 1 + FS_NONCE_LEN, server_key, FS_PK_LEN);
}

int fs_hello_sign(Fs__Hello *hello, uint8_t *sig_buf, const fs_keypair *key,
                  const Fs__Challenge *ch, const char *role, const char *node_id) {
  if (ch->version != FS_PROTOCOL_VERSION)
    return FS_EVERSION;
  if (ch->nonce.len != FS_NONCE_LEN || ch->server_key.len != FS_PK_LEN)
    return FS_EPROTOCOL;
  uint8_t msg[MSG_LEN];
  hello_message(msg, ch->nonce.data, ch->server_key.data);
  crypto_sign_detached(sig_buf, NULL, msg, sizeof msg, key->sk);
  fs__hello__init(hello);
  hello->version = FS_PROTOCOL_VERSION;
  hello->key.data = (uint8_t *)key->pk;
  hello->key.len = FS_PK_LEN;
  hello->role = (char *)role;
  hello->node_id = (char *)(node_id ? node_id : "");
  hello->signature.data = sig_buf;
  hello->signature.len = FS_SIG_LEN;
  return 0;
}

int fs_hello_verify(const Fs__Hello *hello, const uint8_t nonce[FS_NONCE_LEN],
                    const uint8_t server_key[FS_PK_LEN]) {
  if (hello->version != FS_PROTOCOL_VERSION)
    return FS_EVERSION;
  if (hello->key.len != FS_PK_LEN || hello->signature.len != FS_SIG_LEN)
    return FS_EPROTOCOL;
  uint8_t msg[MSG_LEN];
  hello_message(msg, nonce, server_key);
  if (crypto_sign_verify_detached(hello->signature.data, msg, sizeof msg,
                                  hello->key.data) != 0)
    return FS_EBADSIG;
  return 0;
}
