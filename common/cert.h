/* cert.h - certificates: who may do what, checked offline at every node.
 *
 * The deployment root key (held by the province administrator) certifies
 * nodes and enrols devices, and may delegate: a DELEGATION lets another
 * admin key certify below an area prefix (chains up to FS_CERT_DEPTH).
 * A REVOCATION ends a key: a device's change sets up to last_seq stay
 * valid, later ones are refused; a node or admin key is refused from the
 * revocation's valid_from on. Certificates are data: stored verbatim in the
 * node's certs database (subject || kind || id -> SignedCert) and its cert
 * log (seq -> key), replicated up and down the tree, and every check is made
 * against the local copy, offline.
 */
#ifndef FS_CERT_H
#define FS_CERT_H

#include "changeset.h"
#include "fieldsync.pb-c.h"
#include "keys.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FS_CERT_MAX 4096       /* bytes of one SignedCert */
#define FS_CERT_DEPTH 4        /* delegations between root and a cert */
#define FS_CERTS_PER_HELLO 8
#define FS_CERTFILE_MAX 64     /* certificates in one file */

/* What a valid certificate grants its subject. */
typedef struct fs_grant {
  Fs__CertKind kind;
  char area[FS_MAX_AREA + 1];
  char node_id[64];
  char officer[128];
  char officer_id[64];
  char level[32];            /* node: province, district, commune, ... */
  uint8_t parent[FS_PK_LEN];
  bool has_parent;
  uint64_t valid_from, valid_until;
} fs_grant;

/* Signs c with issuer (c->issuer and issued_at are set here) into a packed
 * SignedCert (*out malloc'ed, caller frees). Returns 0, FS_EINVAL (bad
 * area, key lengths) or FS_ENOMEM. */
int fs_cert_issue(Fs__Cert *c, const fs_keypair *issuer, uint8_t **out, size_t *len);

/* Checks the issuer's signature and the bounds of a packed SignedCert. On
 * success *c is the caller's (fs__cert__free_unpacked). Returns 0,
 * FS_ETOOBIG, FS_EDECODE, FS_EBADSIG or FS_EINVAL. */
int fs_cert_open(const uint8_t *p, size_t len, Fs__Cert **c, uint8_t id[FS_HASH_LEN]);

/* Stores a certificate whose chain to root is valid now or was valid when
 * issued. Returns 1 (new), 0 (already held), FS_EUNTRUSTED, or an error. */
int fs_cert_store(fs_store *s, MDB_txn *txn, const uint8_t root[FS_PK_LEN],
                  const uint8_t *p, size_t len);

/* Finds a certificate of kind for key, chained to root, valid at at_ms and
 * (when area is not NULL) covering area. Returns 0 with *g filled,
 * FS_EUNKNOWN_PEER (no certificate), FS_EEXPIRED (only outside its window),
 * FS_EUNTRUSTED (none chains to root), FS_ESCOPE (none covers area). */
int fs_trust_find(fs_store *s, MDB_txn *txn, const uint8_t root[FS_PK_LEN],
                  const uint8_t key[FS_PK_LEN], Fs__CertKind kind, const char *area,
                  uint64_t at_ms, fs_grant *g);

/* True when the certificate that fs_trust_find took g from also covers a
 * lookup of area (NULL: any) at at_ms: lies within its area and window.
 * Its chain was checked at its issue time, not at the lookup's, so while
 * the store holds the same certificates fs_trust_find would return 0 for
 * that lookup too (perhaps with another certificate's grant). */
bool fs_grant_covers(const fs_grant *g, const char *area, uint64_t at_ms);

/* Names a key for people (dashboards, conflict listings): the most
 * recently issued stored certificate of kind for key, into *g. Its chain
 * was checked when it was stored and is not checked again, nor its window:
 * never use this to trust a key. Returns 0, FS_ENOTFOUND or a storage
 * error. */
int fs_cert_latest(fs_store *s, MDB_txn *txn, const uint8_t key[FS_PK_LEN],
                   Fs__CertKind kind, fs_grant *g);

/* Whether key is revoked by a valid revocation: returns 0 (not revoked) or
 * 1 with *last_seq (the smallest last_seq of its revocations) and *from_ms. */
int fs_trust_revoked(fs_store *s, MDB_txn *txn, const uint8_t root[FS_PK_LEN],
                     const uint8_t key[FS_PK_LEN], uint64_t *last_seq, uint64_t *from_ms);

/* Visits stored certificates after cert log seq cursor (bounded by max and
 * max_bytes); *next is the seq to resume from, *more whether any remain. */
int fs_cert_log_since(fs_store *s, MDB_txn *txn, uint64_t cursor, size_t max,
                      size_t max_bytes, int (*take)(void *arg, const uint8_t *p, size_t len),
                      void *arg, uint64_t *next, bool *more);

/* The certificates a key presents in its Hello: its own of kind (all, at
 * most FS_CERTS_PER_HELLO) and the delegations they rest on. */
int fs_cert_chain(fs_store *s, MDB_txn *txn, const uint8_t key[FS_PK_LEN],
                  Fs__CertKind kind, int (*take)(void *arg, const uint8_t *p, size_t len),
                  void *arg);

/* A handful of certificates as protobuf byte fields (for Hello.certs). */
typedef struct fs_certlist {
  ProtobufCBinaryData items[FS_CERTS_PER_HELLO];
  size_t n;
} fs_certlist;

/* Collects key's certificates of kind and their delegations (copies). */
int fs_certlist_collect(fs_certlist *l, fs_store *s, const uint8_t key[FS_PK_LEN],
                        Fs__CertKind kind);
void fs_certlist_free(fs_certlist *l);

/* The read pass of fs_certs_accept: true when one of certs would be
 * stored, decided in a read transaction, checking the signatures of those
 * not held (checked: NULL, or n flags, set for each signature checked). The
 * common case, a laptop presenting its enrolment at every sync, costs a
 * read and no signature check. */
bool fs_certs_storable(fs_store *s, const uint8_t root[FS_PK_LEN],
                       const ProtobufCBinaryData *certs, size_t n, bool *checked);

/* The write pass: stores in txn those of certs that chain to root (in any
 * order: delegations may come after what they vouch for), checking no
 * signature marked in checked (NULL: none is). Certificates that do not
 * chain are skipped. Returns the number newly stored or a storage error. */
int fs_certs_store(fs_store *s, MDB_txn *txn, const uint8_t root[FS_PK_LEN],
                   const ProtobufCBinaryData *certs, size_t n, bool *checked);

/* Stores the certificates a peer presented, in one write transaction;
 * certificates that do not chain to root are skipped. The read pass comes
 * first: when none would be stored (held already, or strangers'), no write
 * transaction is taken, and signatures are checked outside the writer's
 * lock. Returns the number newly stored or an error. */
int fs_certs_accept(fs_store *s, const uint8_t root[FS_PK_LEN],
                    ProtobufCBinaryData *certs, size_t n);

/* Certificate files: a comment line per certificate, then its SignedCert in
 * hex; several may follow each other (a chain). read returns 0 with *n
 * certificates in malloc'ed arrays (free with fs_certfile_free), or
 * FS_EKEYFILE; write creates path (must not exist). */
typedef struct fs_certfile {
  uint8_t *certs[FS_CERTFILE_MAX];
  size_t lens[FS_CERTFILE_MAX];
  size_t n;
} fs_certfile;
int fs_certfile_read(fs_certfile *f, const char *path);
int fs_certfile_append(const char *path, const char *comment, const uint8_t *p, size_t len);
void fs_certfile_free(fs_certfile *f);

/* A one-line description of a certificate for people and logs. */
void fs_cert_describe(const Fs__Cert *c, char *out, size_t cap);

#endif
