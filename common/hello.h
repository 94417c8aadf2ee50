/* hello.h - proving a long-term key at the start of a connection.
 *
 * The server opens with a Challenge holding a fresh 32-byte nonce and its
 * public key; the peer answers with a Hello signed over
 *   "fieldsync-hello-v1" || nonce || server public key
 * so the signature cannot be replayed to another connection or another
 * server. (The trust issue replaces this with an encrypted handshake bound
 * to a network key; see docs/PROTOCOL.md.)
 */
#ifndef FS_HELLO_H
#define FS_HELLO_H

#include "fieldsync.pb-c.h"
#include "keys.h"

#include <stdint.h>

#define FS_PROTOCOL_VERSION 1
#define FS_NONCE_LEN 32

/* Fills a Hello for key answering challenge ch; sig_buf (FS_SIG_LEN bytes)
 * must outlive hello. Returns 0 or FS_EPROTOCOL when ch is malformed. */
int fs_hello_sign(Fs__Hello *hello, uint8_t *sig_buf, const fs_keypair *key,
                  const Fs__Challenge *ch, const char *role, const char *node_id);

/* Checks hello answers the challenge (nonce, server_key). Returns 0,
 * FS_EVERSION, FS_EPROTOCOL (malformed) or FS_EBADSIG. */
int fs_hello_verify(const Fs__Hello *hello, const uint8_t nonce[FS_NONCE_LEN],
                    const uint8_t server_key[FS_PK_LEN]);

#endif
