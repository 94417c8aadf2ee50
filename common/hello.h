/* hello.h - proving a long-term key inside the secured channel.
 *
 * After the handshake (handshake.h) each side sends one Hello: the server
 * first, then the client. It names the sender's Ed25519 key, role and node
 * id, carries the certificates that key rests on, and signs the handshake
 * transcript, so the proof belongs to this connection only.
 */
#ifndef FS_HELLO_H
#define FS_HELLO_H

#include "fieldsync.pb-c.h"
#include "handshake.h"
#include "keys.h"

#include <stddef.h>
#include <stdint.h>

#define FS_PROTOCOL_VERSION 2
#define FS_SOFTWARE_MAX 32 /* bytes of Hello.software, bounded */

#ifndef FS_SOFTWARE_VERSION
#define FS_SOFTWARE_VERSION "unknown"
#endif

/* Fills h for key me (naming FS_SOFTWARE_VERSION); sig_buf (FS_SIG_LEN bytes) and certs must outlive h. */
void fs_hello_fill(Fs__Hello *h, uint8_t *sig_buf, const fs_hs *hs, const fs_keypair *me,
                   const char *role, const char *node_id, ProtobufCBinaryData *certs,
                   size_t ncerts);

/* Checks the version, the key, the length of software and the signature of a peer's Hello against
 * this connection's transcript. Returns 0, FS_EVERSION, FS_EPROTOCOL or
 * FS_EBADSIG. */
int fs_hello_check(const Fs__Hello *h, const fs_hs *hs);

#endif
