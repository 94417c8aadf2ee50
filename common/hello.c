/* hello.c - building and checking the identity proof of a connection. */
#include "hello.h"

#include "cert.h"
#include "error.h"
#include "frame.h"

#include <string.h>

/* The largest Hello a peer may send - FS_CERTS_PER_HELLO certificates of
 * FS_CERT_MAX bytes, each with its tag and length, and the short fields -
 * fits the frames allowed before it is checked. */
_Static_assert(FS_CERTS_PER_HELLO * (FS_CERT_MAX + 3) + 1024 + FS_SOFTWARE_MAX <=
                   FS_HELLO_FRAME_MAX,
               "a Hello with the most certificates must fit FS_HELLO_FRAME_MAX");

void fs_hello_fill(Fs__Hello *h, uint8_t *sig_buf, const fs_hs *hs, const fs_keypair *me,
                   const char *role, const char *node_id, ProtobufCBinaryData *certs,
                   size_t ncerts) {
  fs__hello__init(h);
  fs_hs_sign(hs, me, sig_buf);
  h->version = FS_PROTOCOL_VERSION;
  h->key.data = (uint8_t *)me->pk;
  h->key.len = FS_PK_LEN;
  h->role = (char *)role;
  h->node_id = (char *)(node_id ? node_id : "");
  h->signature.data = sig_buf;
  h->signature.len = FS_SIG_LEN;
  h->certs = certs;
  h->n_certs = ncerts;
  h->software = (char *)FS_SOFTWARE_VERSION;
}

int fs_hello_check(const Fs__Hello *h, const fs_hs *hs) {
  if (h->version != FS_PROTOCOL_VERSION)
    return FS_EVERSION;
  if (h->key.len != FS_PK_LEN || strnlen(h->node_id, 64) >= 64 ||
      strnlen(h->software, FS_SOFTWARE_MAX) >= FS_SOFTWARE_MAX)
    return FS_EPROTOCOL;
  return fs_hs_verify(hs, h->key.data, h->signature.data, h->signature.len);
}
