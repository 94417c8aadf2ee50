/* cert.c - issuing, opening, storing and checking certificates. */
#include "cert.h"

#include "error.h"
#include "hex.h"
#include "hlc.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CERT_KEY_LEN (FS_PK_LEN + 1 + FS_HASH_LEN)

static bool str_bounded(const char *s, size_t max) { return strnlen(s, max + 1) <= max; }

/* The bounds every certificate keeps: checked when issued and when opened,
 * so nothing is signed that a node would refuse. */
static bool cert_bounded(const Fs__Cert *c) {
  return c->subject.len == FS_PK_LEN && c->issuer.len == FS_PK_LEN &&
         fs_area_valid(c->area) && (c->parent.len == 0 || c->parent.len == FS_PK_LEN) &&
         str_bounded(c->node_id, 63) && str_bounded(c->officer, 127) &&
         str_bounded(c->officer_id, 63) && str_bounded(c->level, 31) &&
         (unsigned)c->kind <= FS__CERT_KIND__CERT_REVOCATION;
}

int fs_cert_issue(Fs__Cert *c, const fs_keypair *issuer, uint8_t **out, size_t *len) {
  c->issuer.data = (uint8_t *)issuer->pk;
  c->issuer.len = FS_PK_LEN;
  if (!c->issued_at)
    c->issued_at = fs_hlc_now_ms();
  if (!cert_bounded(c))
    return FS_EINVAL;
  size_t blen = fs__cert__get_packed_size(c);
  if (blen + FS_SIG_LEN + 16 > FS_CERT_MAX)
    return FS_ETOOBIG;
  uint8_t *body = malloc(blen ? blen : 1), sig[FS_SIG_LEN];
  if (!body)
    return FS_ENOMEM;
  fs__cert__pack(c, body);
  crypto_sign_detached(sig, NULL, body, blen, issuer->sk);
  Fs__SignedCert sc = FS__SIGNED_CERT__INIT;
  sc.body.data = body;
  sc.body.len = blen;
  sc.signature.data = sig;
  sc.signature.len = FS_SIG_LEN;
  *len = fs__signed_cert__get_packed_size(&sc);
  *out = malloc(*len);
  if (*out)
    fs__signed_cert__pack(&sc, *out);
  free(body);
  return *out ? 0 : FS_ENOMEM;
}


/* fs_cert_open, the issuer's signature checked only when verify is set. */
static int open_cert(const uint8_t *p, size_t len, bool verify, Fs__Cert **out,
                     uint8_t id[FS_HASH_LEN]) {
  if (len > FS_CERT_MAX)
    return FS_ETOOBIG;
  Fs__SignedCert *sc = fs__signed_cert__unpack(NULL, len, p);
  if (!sc)
    return FS_EDECODE;
  Fs__Cert *c = fs__cert__unpack(NULL, sc->body.len, sc->body.data);
  int rc = 0;
  if (!c)
    rc = FS_EDECODE;
  else if (c->issuer.len != FS_PK_LEN || sc->signature.len != FS_SIG_LEN ||
           (verify && crypto_sign_verify_detached(sc->signature.data, sc->body.data,
                                                  sc->body.len, c->issuer.data) != 0))
    rc = FS_EBADSIG;
  else if (!cert_bounded(c))
    rc = FS_EINVAL;
  if (rc == 0)
    crypto_generichash(id, FS_HASH_LEN, sc->body.data, sc->body.len, NULL, 0);
  fs__signed_cert__free_unpacked(sc, NULL);
  if (rc) {
    if (c)
      fs__cert__free_unpacked(c, NULL);
    return rc;
  }
  *out = c;
  return 0;
}

int fs_cert_open(const uint8_t *p, size_t len, Fs__Cert **out, uint8_t id[FS_HASH_LEN]) {
  return open_cert(p, len, true, out, id);
}

static bool window_holds(uint64_t from, uint64_t until, uint64_t at) {
  return at >= from && (until == 0 || at <= until);
}

static bool in_window(const Fs__Cert *c, uint64_t at) {
  return window_holds(c->valid_from, c->valid_until, at);
}

/* The same two tests find_visit makes of a certificate whose chain holds. */
bool fs_grant_covers(const fs_grant *g, const char *area, uint64_t at_ms) {
  return (!area || fs_area_within(area, g->area)) &&
         window_holds(g->valid_from, g->valid_until, at_ms);
}

typedef int (*cert_fn)(void *arg, const Fs__Cert *c, const uint8_t *p, size_t len);

/* Decodes a stored certificate without checking its signature again: it
 * was checked by fs_cert_store before it entered the database. */
static Fs__Cert *decode_stored(const uint8_t *p, size_t len) {
  Fs__SignedCert *sc = fs__signed_cert__unpack(NULL, len, p);
  if (!sc)
    return NULL;
  Fs__Cert *c = fs__cert__unpack(NULL, sc->body.len, sc->body.data);
  fs__signed_cert__free_unpacked(sc, NULL);
  if (c && (c->subject.len != FS_PK_LEN || c->issuer.len != FS_PK_LEN)) {
    fs__cert__free_unpacked(c, NULL);
    return NULL;
  }
  return c;
}

/* Calls fn for every stored certificate of subject and kind (opened, so
 * signatures were checked); stops at a non-zero return. */
static int each_cert(fs_store *s, MDB_txn *txn, const uint8_t *subject, Fs__CertKind kind,
                     cert_fn fn, void *arg) {
  uint8_t prefix[FS_PK_LEN + 1];
  memcpy(prefix, subject, FS_PK_LEN);
  prefix[FS_PK_LEN] = (uint8_t)kind;
  MDB_cursor *cur;
  int rc = fs_err_from_mdb(mdb_cursor_open(txn, s->certs, &cur));
  if (rc)
    return rc;
  MDB_val k = {sizeof prefix, prefix}, v;
  rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE));
  while (rc == 0 && k.mv_size == CERT_KEY_LEN && memcmp(k.mv_data, prefix, sizeof prefix) == 0) {
    Fs__Cert *c = decode_stored(v.mv_data, v.mv_size);
    if (c) {
      rc = fn(arg, c, v.mv_data, v.mv_size);
      fs__cert__free_unpacked(c, NULL);
      if (rc)
        break;
    }
    rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_NEXT));
  }
  mdb_cursor_close(cur);
  return rc == FS_ENOTFOUND ? 0 : rc;
}

/* The keys whose revocations are being weighed, innermost first. A
 * revocation counts when its issuer was valid when it issued it, and that
 * issuer is judged without the revocations of the keys on this path: a key
 * that revoked itself is revoked, and a cycle of keys revoking each other
 * ends instead of recursing without end. Beyond FS_CERT_DEPTH nested
 * revocations an issuer is judged by its delegations alone. */
typedef struct trust_path {
  const uint8_t *key;
  const struct trust_path *up;
  int n; /* keys on the path, this one included */
} trust_path;

/* Whether issuer's own revocations are left out of judging it. */
static bool weigh_revocations(const trust_path *p, const uint8_t *issuer) {
  if (p && p->n >= FS_CERT_DEPTH)
    return false;
  for (; p; p = p->up)
    if (sodium_memcmp(p->key, issuer, FS_PK_LEN) == 0)
      return false;
  return true;
}

static bool issuer_valid(fs_store *s, MDB_txn *txn, const uint8_t *root,
                         const uint8_t *issuer, const char *area, uint64_t at, int depth,
                         const trust_path *path);
static int trust_revoked(fs_store *s, MDB_txn *txn, const uint8_t *root, const uint8_t *key,
                         const trust_path *up, uint64_t *last_seq, uint64_t *from_ms);

struct deleg_ctx {
  fs_store *s;
  MDB_txn *txn;
  const uint8_t *root;
  const char *area;
  uint64_t at;
  int depth;
  const trust_path *path;
  bool ok;
};

static int deleg_visit(void *arg, const Fs__Cert *c, const uint8_t *p, size_t len) {
  (void)p;
  (void)len;
  struct deleg_ctx *d = arg;
  if (fs_area_within(d->area, c->area) && in_window(c, d->at) &&
      issuer_valid(d->s, d->txn, d->root, c->issuer.data, c->area, d->at, d->depth + 1,
                   d->path)) {
    d->ok = true;
    return 1;
  }
  return 0;
}

/* True when issuer may certify within area at time at: it is the root, or
 * holds a delegation covering area from a valid issuer (at most
 * FS_CERT_DEPTH of them), and is not revoked by then. A storage error
 * counts as not valid. */
static bool issuer_valid(fs_store *s, MDB_txn *txn, const uint8_t *root,
                         const uint8_t *issuer, const char *area, uint64_t at, int depth,
                         const trust_path *path) {
  if (sodium_memcmp(issuer, root, FS_PK_LEN) == 0)
    return true;
  if (depth >= FS_CERT_DEPTH)
    return false;
  if (weigh_revocations(path, issuer)) {
    uint64_t last, from;
    int rev = trust_revoked(s, txn, root, issuer, path, &last, &from);
    if (rev < 0 || (rev == 1 && at >= from))
      return false;
  }
  struct deleg_ctx d = {s, txn, root, area, at, depth, path, false};
  if (each_cert(s, txn, issuer, FS__CERT_KIND__CERT_DELEGATION, deleg_visit, &d) < 0)
    return false;
  return d.ok;
}

struct revoke_ctx {
  fs_store *s;
  MDB_txn *txn;
  const uint8_t *root;
  const trust_path *path; /* the revoked key, then the keys weighed above it */
  bool found;
  uint64_t last_seq, from;
};

struct within_ctx {
  const char *area;
  int n, outside;
};

static int within_visit(void *arg, const Fs__Cert *c, const uint8_t *p, size_t len) {
  (void)p;
  (void)len;
  struct within_ctx *w = arg;
  w->n++;
  if (!fs_area_within(c->area, w->area))
    w->outside++;
  return 0;
}

/* True when every certificate key holds (node, device, delegation) lies
 * within area, and it holds at least one: a revocation for area may only
 * end keys that live there. */
static bool subject_within(fs_store *s, MDB_txn *txn, const uint8_t *key, const char *area) {
  struct within_ctx w = {area, 0, 0};
  static const Fs__CertKind kinds[] = {FS__CERT_KIND__CERT_NODE, FS__CERT_KIND__CERT_DEVICE,
                                       FS__CERT_KIND__CERT_DELEGATION};
  for (size_t i = 0; i < 3; i++)
    if (each_cert(s, txn, key, kinds[i], within_visit, &w) < 0)
      return false;
  return w.n > 0 && w.outside == 0;
}

static int revoke_visit(void *arg, const Fs__Cert *c, const uint8_t *p, size_t len) {
  (void)p;
  (void)len;
  struct revoke_ctx *r = arg;
  /* A revocation counts when its issuer could certify in its area and the
   * revoked key lives within that area: a district administrator cannot
   * revoke another district's laptop by naming its own area. */
  if (!issuer_valid(r->s, r->txn, r->root, c->issuer.data, c->area, c->issued_at, 1, r->path))
    return 0;
  if (sodium_memcmp(c->issuer.data, r->root, FS_PK_LEN) != 0 &&
      !subject_within(r->s, r->txn, c->subject.data, c->area))
    return 0;
  if (!r->found || c->last_seq < r->last_seq)
    r->last_seq = c->last_seq;
  if (!r->found || c->valid_from < r->from)
    r->from = c->valid_from;
  r->found = true;
  return 0;
}

static int trust_revoked(fs_store *s, MDB_txn *txn, const uint8_t *root, const uint8_t *key,
                         const trust_path *up, uint64_t *last_seq, uint64_t *from_ms) {
  trust_path path = {key, up, up ? up->n + 1 : 1};
  struct revoke_ctx r = {s, txn, root, &path, false, 0, 0};
  int rc = each_cert(s, txn, key, FS__CERT_KIND__CERT_REVOCATION, revoke_visit, &r);
  if (rc < 0)
    return rc;
  *last_seq = r.last_seq;
  *from_ms = r.from;
  return r.found ? 1 : 0;
}

int fs_trust_revoked(fs_store *s, MDB_txn *txn, const uint8_t root[FS_PK_LEN],
                     const uint8_t key[FS_PK_LEN], uint64_t *last_seq, uint64_t *from_ms) {
  return trust_revoked(s, txn, root, key, NULL, last_seq, from_ms);
}

struct find_ctx {
  fs_store *s;
  MDB_txn *txn;
  const uint8_t *root;
  const char *area;
  uint64_t at;
  fs_grant *g;
  int best; /* the most telling failure so far */
};

static void grant_fill(fs_grant *g, const Fs__Cert *c) {
  memset(g, 0, sizeof *g);
  g->kind = c->kind;
  snprintf(g->area, sizeof g->area, "%s", c->area);
  snprintf(g->node_id, sizeof g->node_id, "%s", c->node_id);
  snprintf(g->officer, sizeof g->officer, "%s", c->officer);
  snprintf(g->officer_id, sizeof g->officer_id, "%s", c->officer_id);
  snprintf(g->level, sizeof g->level, "%s", c->level);
  if (c->parent.len == FS_PK_LEN) {
    memcpy(g->parent, c->parent.data, FS_PK_LEN);
    g->has_parent = true;
  }
  g->valid_from = c->valid_from;
  g->valid_until = c->valid_until;
}

static int find_visit(void *arg, const Fs__Cert *c, const uint8_t *p, size_t len) {
  (void)p;
  (void)len;
  struct find_ctx *f = arg;
  if (!issuer_valid(f->s, f->txn, f->root, c->issuer.data, c->area, c->issued_at, 0, NULL)) {
    if (f->best == FS_EUNKNOWN_PEER)
      f->best = FS_EUNTRUSTED;
    return 0;
  }
  if (f->area && !fs_area_within(f->area, c->area)) {
    if (f->best == FS_EUNKNOWN_PEER || f->best == FS_EUNTRUSTED)
      f->best = FS_ESCOPE;
    return 0;
  }
  if (!in_window(c, f->at)) {
    f->best = FS_EEXPIRED;
    return 0;
  }
  grant_fill(f->g, c);
  f->best = 0;
  return 1;
}

int fs_trust_find(fs_store *s, MDB_txn *txn, const uint8_t root[FS_PK_LEN],
                  const uint8_t key[FS_PK_LEN], Fs__CertKind kind, const char *area,
                  uint64_t at_ms, fs_grant *g) {
  struct find_ctx f = {s, txn, root, area, at_ms, g, FS_EUNKNOWN_PEER};
  int rc = each_cert(s, txn, key, kind, find_visit, &f);
  if (rc < 0)
    return rc;
  return f.best;
}

struct latest_ctx {
  fs_grant *g;
  uint64_t issued_at;
  bool found;
};

static int latest_visit(void *arg, const Fs__Cert *c, const uint8_t *p, size_t len) {
  (void)p;
  (void)len;
  struct latest_ctx *l = arg;
  if (!l->found || c->issued_at >= l->issued_at) {
    grant_fill(l->g, c);
    l->issued_at = c->issued_at;
    l->found = true;
  }
  return 0;
}

int fs_cert_latest(fs_store *s, MDB_txn *txn, const uint8_t key[FS_PK_LEN],
                   Fs__CertKind kind, fs_grant *g) {
  struct latest_ctx l = {g, 0, false};
  int rc = each_cert(s, txn, key, kind, latest_visit, &l);
  if (rc)
    return rc;
  return l.found ? 0 : FS_ENOTFOUND;
}

/* True when p (a SignedCert opened already) is signed by issuer. */
static bool signed_by(const uint8_t *p, size_t len, const uint8_t issuer[FS_PK_LEN]) {
  Fs__SignedCert *sc = fs__signed_cert__unpack(NULL, len, p);
  bool ok = sc && sc->signature.len == FS_SIG_LEN &&
            crypto_sign_verify_detached(sc->signature.data, sc->body.data, sc->body.len,
                                        issuer) == 0;
  if (sc)
    fs__signed_cert__free_unpacked(sc, NULL);
  return ok;
}

/* Whether the SignedCert p would be stored: 1 when it chains to root (as
 * issued) and is not held yet, 0 when held, else why not (FS_EUNTRUSTED, a
 * decode or signature error); key gets its key in s->certs. The signature
 * is checked last, only for a certificate not held, and not again when
 * *sig_checked (NULL: none) says an earlier call over the same bytes
 * checked it; a check that passes sets it. */
static int cert_storable(fs_store *s, MDB_txn *txn, const uint8_t root[FS_PK_LEN],
                         const uint8_t *p, size_t len, bool *sig_checked,
                         uint8_t key[CERT_KEY_LEN]) {
  Fs__Cert *c;
  int rc = open_cert(p, len, false, &c, key + FS_PK_LEN + 1);
  if (rc)
    return rc;
  memcpy(key, c->subject.data, FS_PK_LEN);
  key[FS_PK_LEN] = (uint8_t)c->kind;
  MDB_val k = {CERT_KEY_LEN, key}, v;
  rc = mdb_get(txn, s->certs, &k, &v);
  if (rc != MDB_NOTFOUND) { /* held: its key is the hash of the same body */
    fs__cert__free_unpacked(c, NULL);
    return fs_err_from_mdb(rc);
  }
  rc = 0;
  if (!sig_checked || !*sig_checked) {
    rc = signed_by(p, len, c->issuer.data) ? 0 : FS_EBADSIG;
    if (rc == 0 && sig_checked)
      *sig_checked = true;
  }
  /* Valid when issued: later revocations of the issuer are checked at use. */
  if (rc == 0 && !issuer_valid(s, txn, root, c->issuer.data, c->area, c->issued_at, 0, NULL))
    rc = FS_EUNTRUSTED;
  fs__cert__free_unpacked(c, NULL);
  return rc ? rc : 1;
}

/* fs_cert_store, the signature not checked again when *sig_checked. */
static int store_cert(fs_store *s, MDB_txn *txn, const uint8_t root[FS_PK_LEN],
                      const uint8_t *p, size_t len, bool *sig_checked) {
  uint8_t key[CERT_KEY_LEN];
  int rc = cert_storable(s, txn, root, p, len, sig_checked, key);
  if (rc <= 0)
    return rc;
  MDB_val k = {sizeof key, key}, v = {len, (void *)p};
  uint64_t seq;
  uint8_t sk[8];
  if ((rc = fs_err_from_mdb(mdb_put(txn, s->certs, &k, &v, MDB_NOOVERWRITE))) ||
      (rc = fs_meta_get_u64(s, txn, "cert_seq", &seq)) ||
      (rc = fs_meta_put_u64(s, txn, "cert_seq", ++seq)))
    return rc;
  fs_be64_put(sk, seq);
  MDB_val lk = {8, sk};
  rc = fs_err_from_mdb(mdb_put(txn, s->certlog, &lk, &k, 0));
  return rc ? rc : 1;
}

int fs_cert_store(fs_store *s, MDB_txn *txn, const uint8_t root[FS_PK_LEN],
                  const uint8_t *p, size_t len) {
  return store_cert(s, txn, root, p, len, NULL);
}

int fs_cert_log_since(fs_store *s, MDB_txn *txn, uint64_t cursor, size_t max,
                      size_t max_bytes, int (*take)(void *arg, const uint8_t *p, size_t len),
                      void *arg, uint64_t *next, bool *more) {
  *next = cursor;
  *more = false;
  if (cursor == UINT64_MAX)
    return 0;
  MDB_cursor *cur;
  int rc = fs_err_from_mdb(mdb_cursor_open(txn, s->certlog, &cur));
  if (rc)
    return rc;
  uint8_t kb[8];
  fs_be64_put(kb, cursor + 1);
  MDB_val k = {8, kb}, ck;
  size_t n = 0, bytes = 0;
  rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &ck, MDB_SET_RANGE));
  while (rc == 0) {
    if (n >= max || bytes >= max_bytes) {
      *more = true;
      break;
    }
    MDB_val v;
    if (k.mv_size != 8) {
      rc = FS_ESTORE;
      break;
    }
    if ((rc = fs_store_get_named(txn, s->certs, &ck, &v, "certificate", "certlog",
                                 fs_be64_get(k.mv_data))))
      break;
    if ((rc = take(arg, v.mv_data, v.mv_size)))
      break;
    n++;
    bytes += v.mv_size;
    *next = fs_be64_get(k.mv_data);
    rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &ck, MDB_NEXT));
  }
  mdb_cursor_close(cur);
  return rc == FS_ENOTFOUND ? 0 : rc;
}

struct chain_ctx {
  fs_store *s;
  MDB_txn *txn;
  int (*take)(void *arg, const uint8_t *p, size_t len);
  void *arg;
  int n;
  int depth;
};

static int chain_visit(void *arg, const Fs__Cert *c, const uint8_t *p, size_t len) {
  struct chain_ctx *x = arg;
  if (x->n >= FS_CERTS_PER_HELLO)
    return 1;
  int rc = x->take(x->arg, p, len);
  if (rc)
    return rc;
  x->n++;
  if (x->depth < FS_CERT_DEPTH) {
    /* The delegations its issuer holds (none for the root). */
    x->depth++;
    rc = each_cert(x->s, x->txn, c->issuer.data, FS__CERT_KIND__CERT_DELEGATION,
                   chain_visit, x);
    x->depth--;
  }
  return rc;
}

int fs_cert_chain(fs_store *s, MDB_txn *txn, const uint8_t key[FS_PK_LEN],
                  Fs__CertKind kind, int (*take)(void *arg, const uint8_t *p, size_t len),
                  void *arg) {
  struct chain_ctx x = {s, txn, take, arg, 0, 0};
  int rc = each_cert(s, txn, key, kind, chain_visit, &x);
  return rc < 0 ? rc : 0;
}

void fs_cert_describe(const Fs__Cert *c, char *out, size_t cap) {
  static const char *kinds[] = {"node", "device", "delegation", "revocation"};
  char subj[2 * FS_PK_LEN + 1];
  fs_hex_encode(subj, c->subject.data, FS_PK_LEN);
  const char *kind = (unsigned)c->kind <= 3 ? kinds[c->kind] : "?";
  switch (c->kind) {
  case FS__CERT_KIND__CERT_NODE:
    snprintf(out, cap, "%s %s %s area=%s", kind, c->node_id, subj, c->area);
    break;
  case FS__CERT_KIND__CERT_DEVICE:
    snprintf(out, cap, "%s %s (%s) %s area=%s", kind, c->officer, c->officer_id, subj,
             c->area);
    break;
  case FS__CERT_KIND__CERT_REVOCATION:
    snprintf(out, cap, "%s %s area=%s last_seq=%llu", kind, subj, c->area,
             (unsigned long long)c->last_seq);
    break;
  default:
    snprintf(out, cap, "%s %s area=%s", kind, subj, c->area);
  }
}

void fs_certfile_free(fs_certfile *f) {
  for (size_t i = 0; i < f->n; i++)
    free(f->certs[i]);
  memset(f, 0, sizeof *f);
}

int fs_certfile_read(fs_certfile *f, const char *path) {
  memset(f, 0, sizeof *f);
  FILE *fp = fopen(path, "re");
  if (!fp)
    return FS_EKEYFILE;
  char line[2 * FS_CERT_MAX + 16];
  int rc = 0;
  while (rc == 0 && fgets(line, sizeof line, fp)) {
    size_t n = strcspn(line, "\r\n");
    if (line[n] == '\0' && !feof(fp)) {
      rc = FS_EKEYFILE; /* a line longer than any certificate */
      break;
    }
    line[n] = '\0';
    if (n == 0 || strncmp(line, "fieldsync ", 10) == 0 || line[0] == '#')
      continue;
    if (n % 2 || n / 2 > FS_CERT_MAX || f->n == FS_CERTFILE_MAX) {
      rc = FS_EKEYFILE;
      break;
    }
    uint8_t *b = malloc(n / 2);
    if (!b || fs_hex_decode(b, n / 2, line) != 0) {
      free(b);
      rc = FS_EKEYFILE;
      break;
    }
    f->certs[f->n] = b;
    f->lens[f->n++] = n / 2;
  }
  fclose(fp);
  if (rc == 0 && f->n == 0)
    rc = FS_EKEYFILE;
  if (rc)
    fs_certfile_free(f);
  return rc;
}

int fs_certfile_append(const char *path, const char *comment, const uint8_t *p, size_t len) {
  FILE *fp = fopen(path, "ae");
  if (!fp)
    return FS_EKEYFILE;
  char *hex = malloc(2 * len + 1);
  if (!hex) {
    fclose(fp);
    return FS_ENOMEM;
  }
  fs_hex_encode(hex, p, len);
  char c1[200];
  size_t i = 0;
  for (; comment[i] && i + 1 < sizeof c1; i++)
    c1[i] = (unsigned char)comment[i] < 0x20 ? ' ' : comment[i];
  c1[i] = '\0';
  int ok = fprintf(fp, "fieldsync certificate: %s\n%s\n", c1, hex) > 0;
  free(hex);
  if (fclose(fp) != 0)
    ok = 0;
  return ok ? 0 : FS_EKEYFILE;
}

static int list_take(void *arg, const uint8_t *p, size_t len) {
  fs_certlist *l = arg;
  if (l->n == FS_CERTS_PER_HELLO)
    return 0;
  uint8_t *copy = malloc(len);
  if (!copy)
    return FS_ENOMEM;
  memcpy(copy, p, len);
  l->items[l->n].data = copy;
  l->items[l->n].len = len;
  l->n++;
  return 0;
}

int fs_certlist_collect(fs_certlist *l, fs_store *s, const uint8_t key[FS_PK_LEN],
                        Fs__CertKind kind) {
  memset(l, 0, sizeof *l);
  MDB_txn *txn;
  int rc = fs_store_begin(s, false, &txn);
  if (rc)
    return rc;
  rc = fs_cert_chain(s, txn, key, kind, list_take, l);
  mdb_txn_abort(txn);
  if (rc)
    fs_certlist_free(l);
  return rc;
}

void fs_certlist_free(fs_certlist *l) {
  for (size_t i = 0; i < l->n; i++)
    free(l->items[i].data);
  memset(l, 0, sizeof *l);
}

/* True when fs_cert_store's error r is about the certificate (it is
 * skipped), not about the store. */
static bool cert_unfit(int r) {
  return r == FS_EUNTRUSTED || r == FS_EBADSIG || r == FS_EDECODE || r == FS_EINVAL ||
         r == FS_ETOOBIG;
}

bool fs_certs_storable(fs_store *s, const uint8_t root[FS_PK_LEN],
                       const ProtobufCBinaryData *certs, size_t n, bool *checked) {
  MDB_txn *txn;
  if (fs_store_begin(s, false, &txn) != 0)
    return true; /* the write transaction will say what is wrong */
  bool any = false;
  for (size_t i = 0; i < n; i++) {
    uint8_t key[CERT_KEY_LEN];
    int r = cert_storable(s, txn, root, certs[i].data, certs[i].len,
                          checked ? &checked[i] : NULL, key);
    any = any || r == 1 || (r < 0 && !cert_unfit(r)); /* a storage error: the write reports it */
  }
  mdb_txn_abort(txn);
  return any;
}

int fs_certs_store(fs_store *s, MDB_txn *txn, const uint8_t root[FS_PK_LEN],
                   const ProtobufCBinaryData *certs, size_t n, bool *checked) {
  int stored = 0;
  /* Delegations may come after what they vouch for: a second pass picks
   * up what the first could not chain yet, when it stored something. */
  for (int pass = 0, again = 1; pass < 2 && again; pass++) {
    int before = stored, untrusted = 0;
    for (size_t i = 0; i < n; i++) {
      int r = store_cert(s, txn, root, certs[i].data, certs[i].len,
                         checked ? &checked[i] : NULL);
      if (r > 0)
        stored++;
      else if (r == FS_EUNTRUSTED)
        untrusted++;
      else if (r < 0 && !cert_unfit(r))
        return r;
    }
    again = stored > before && untrusted > 0;
  }
  return stored;
}

int fs_certs_accept(fs_store *s, const uint8_t root[FS_PK_LEN],
                    ProtobufCBinaryData *certs, size_t n) {
  if (n == 0)
    return 0;
  bool *checked = calloc(n, sizeof *checked); /* NULL: the write checks them again */
  MDB_txn *txn;
  int rc = 0;
  if (fs_certs_storable(s, root, certs, n, checked) &&
      (rc = fs_store_begin(s, true, &txn)) == 0) {
    rc = fs_certs_store(s, txn, root, certs, n, checked);
    if (rc > 0) {
      int crc = fs_store_commit(txn);
      rc = crc ? crc : rc;
    } else {
      mdb_txn_abort(txn);
    }
  }
  free(checked);
  return rc;
}
