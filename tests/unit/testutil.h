/* testutil.h - helpers shared by the unit tests: temporary directories and a
 * small builder for change sets that a test fills in, seals with a real key
 * and opens again.
 *
 * Everything a builder returns is owned by the builder's message and freed
 * with tu_cs_free. Helpers fail the running cmocka test on any error, so a
 * test never continues with a half-built fixture.
 */
#ifndef FS_TESTUTIL_H
#define FS_TESTUTIL_H

#include "changeset.h"
#include "fieldsync.pb-c.h"
#include "keys.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Creates a fresh directory under $TMPDIR (or /tmp); caller frees the path
 * and removes the tree with tu_rmtree. */
char *tu_mkdtemp(void);

/* Removes dir and everything below it. */
void tu_rmtree(const char *dir);

/* dir "/" name, malloc'ed. */
char *tu_path(const char *dir, const char *name);

/* A device: key pair, the head of its hash chain and its clock. */
typedef struct tu_device {
  fs_keypair kp;
  uint64_t seq;                /* last sealed seq */
  uint8_t head[FS_HASH_LEN];   /* id of the last sealed body (zeros first) */
} tu_device;

void tu_device_init(tu_device *d);
void tu_device_free(tu_device *d);

/* A sealed change set: what a device sends. */
typedef struct tu_sealed {
  uint8_t *body;
  size_t len;
  uint8_t sig[FS_SIG_LEN];
  uint8_t id[FS_HASH_LEN];
} tu_sealed;

void tu_sealed_free(tu_sealed *s);

/* A change set with copies of device and prev (prev NULL: 32 zero bytes). */
Fs__ChangeSet *tu_cs_new(const uint8_t device[FS_PK_LEN], uint64_t seq,
                         const uint8_t *prev, uint64_t hlc, const char *area);

/* Appends a change; the returned pointer is owned by cs. */
Fs__Change *tu_cs_change(Fs__ChangeSet *cs, const char *record_id, const char *type,
                         bool deleted);

/* Appends a field write to ch (value copied, len bytes). */
void tu_change_write(Fs__Change *ch, const char *name, const void *value, size_t len,
                     uint64_t hlc, uint64_t base_hlc);

/* Same, value as a C string. */
void tu_change_write_str(Fs__Change *ch, const char *name, const char *value,
                         uint64_t hlc, uint64_t base_hlc);

void tu_cs_free(Fs__ChangeSet *cs);

/* Seals cs with sk; fails the test unless fs_changeset_seal returns 0. */
void tu_seal(const Fs__ChangeSet *cs, const uint8_t *sk, tu_sealed *out);

/* Sets cs's device, seq and prev from d's chain, seals, advances the chain. */
void tu_device_seal(tu_device *d, Fs__ChangeSet *cs, tu_sealed *out);

/* Opens s; fails the test unless fs_changeset_open returns 0. The caller
 * frees the result with fs__change_set__free_unpacked. */
Fs__ChangeSet *tu_open(const tu_sealed *s);

/* Encodes a Push of n sets as one frame (malloc'ed into *out, header
 * included): set i has a body of body_len - i % 16 patterned bytes and a
 * 64-byte signature, none of them valid, for tests of the decoders. */
void tu_push_frame(size_t n, size_t body_len, uint8_t **out, size_t *len);

/* Opens *s in a fresh temporary directory (the store in its "node"
 * subdirectory), named in *tmp; returns fs_store_open's code. */
int tu_store_open_temp(fs_store *s, size_t mapsize, char **tmp);

/* Closes s, removes tmp and everything below it, frees tmp. */
void tu_store_close_temp(fs_store *s, char *tmp);

/* Issues a certificate of kind for subject with issuer's key (officer
 * "Nguyễn Văn An", window [from, until), 0: no end): its SignedCert
 * encoding, which the caller frees. */
ProtobufCBinaryData tu_cert_issue(const fs_keypair *issuer, Fs__CertKind kind,
                                  const uint8_t *subject, const char *area, uint64_t from,
                                  uint64_t until, uint64_t issued_at, uint64_t last_seq);

/* The same, stored in txn under root; returns fs_cert_store's code (1:
 * stored, 0: known). */
int tu_cert_store(fs_store *s, MDB_txn *txn, const uint8_t *root, const fs_keypair *issuer,
                  Fs__CertKind kind, const uint8_t *subject, const char *area, uint64_t from,
                  uint64_t until, uint64_t issued_at, uint64_t last_seq);

#endif
