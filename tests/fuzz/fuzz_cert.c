/* fuzz_cert.c - opening and issuing certificates (SignedCert).
 *
 * Input: one SignedCert encoding, as a peer presents it in a Hello, a Push
 * or a Records frame.
 *
 * Invariants:
 * - fs_cert_open returns exactly the code cert.h implies, in its order:
 *   FS_ETOOBIG over FS_CERT_MAX bytes, FS_EDECODE when the SignedCert or its
 *   body is not one, FS_EBADSIG unless libsodium verifies the signature by
 *   the body's issuer, FS_EINVAL when a bound breaks (subject key, area,
 *   parent key, string lengths that fit fs_grant, kind), else 0 with the id
 *   BLAKE2b-256(body). fs_cert_describe of an opened certificate stays
 *   within any buffer.
 * - The body, decoded, is issued again by the test admin key: fs_cert_issue
 *   refuses (FS_EINVAL) exactly the bad keys and areas it documents; what
 *   it issues fs_cert_open accepts, with the same fields and the admin as
 *   issuer; one flipped bit makes open fail.
 * - The input read as a certificate file (fs_certfile_read) gives at most
 *   FS_CERTFILE_MAX certificates of bounded size or FS_EKEYFILE; the input
 *   appended to a new file under any comment (fs_certfile_append) reads
 *   back as exactly itself.
 */
#include "cert.h"
#include "changeset.h"
#include "error.h"
#include "fuzz_common.h"

#include <unistd.h>

static bool bounded(const char *s, size_t max) { return strlen(s) <= max; }

/* The bounds fs_cert_open documents; the string limits are those of
 * fs_grant (area, node_id[64], officer[128]) and of the id and level. */
static bool cert_ok(const Fs__Cert *c) {
  return c->subject.len == FS_PK_LEN && fuzz_area_valid(c->area) &&
         (c->parent.len == 0 || c->parent.len == FS_PK_LEN) && bounded(c->node_id, 63) &&
         bounded(c->officer, 127) && bounded(c->officer_id, 63) && bounded(c->level, 31) &&
         (unsigned)c->kind <= FS__CERT_KIND__CERT_REVOCATION;
}

static bool bin_eq(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void check_same(const Fs__Cert *a, const Fs__Cert *b) {
  FUZZ_CHECK(a->kind == b->kind && bin_eq(&a->subject, &b->subject) &&
                 strcmp(a->area, b->area) == 0 && strcmp(a->node_id, b->node_id) == 0 &&
                 bin_eq(&a->parent, &b->parent) && strcmp(a->officer, b->officer) == 0 &&
                 strcmp(a->officer_id, b->officer_id) == 0 &&
                 a->valid_from == b->valid_from && a->valid_until == b->valid_until &&
                 a->last_seq == b->last_seq && a->issued_at == b->issued_at &&
                 bin_eq(&a->issuer, &b->issuer) && strcmp(a->level, b->level) == 0,
             "opened certificate differs from what was issued");
}

static void check_describe(const Fs__Cert *c, size_t cap) {
  char *out = malloc(cap);
  FUZZ_CHECK(out, "malloc");
  fs_cert_describe(c, out, cap);
  FUZZ_CHECK(strnlen(out, cap) < cap, "description not terminated");
  free(out);
}

/* Issues x (a shallow copy) with the admin key and opens it again. */
static void check_issue(const Fs__Cert *x, uint8_t flip) {
  const fuzz_keys *k = fuzz_keys_get();
  fs_keypair adm = fuzz_keypair(k->adm_pk, k->adm_sk);
  Fs__Cert y = *x;
  if (y.issued_at == 0)
    y.issued_at = 1; /* fs_cert_issue would take the wall clock */
  uint8_t *p = NULL;
  size_t n = 0;
  int rc = fs_cert_issue(&y, &adm, &p, &n);
  /* Issue keeps the bounds open enforces (the finding once saved as
   * corpus/cert/crash-issue-unopenable): what it signs, every node accepts;
   * too large a certificate is FS_ETOOBIG. */
  bool args_ok = y.subject.len == FS_PK_LEN && fuzz_area_valid(y.area) &&
                 (y.parent.len == 0 || y.parent.len == FS_PK_LEN) && cert_ok(&y);
  FUZZ_CHECK(rc == (args_ok ? 0 : FS_EINVAL) || (args_ok && rc == FS_ETOOBIG),
             "fs_cert_issue returned %d", rc);
  FUZZ_CHECK(bin_eq(&y.issuer, &(ProtobufCBinaryData){FS_PK_LEN, (uint8_t *)k->adm_pk}),
             "issue did not set the issuer");
  if (rc != 0)
    return;

  Fs__Cert *c = NULL;
  uint8_t id[FS_HASH_LEN];
  rc = fs_cert_open(p, n, &c, id);
  FUZZ_CHECK(rc == 0, "fs_cert_issue issued a certificate fs_cert_open refuses (%d)", rc);
  check_same(&y, c);
  fs__cert__free_unpacked(c, NULL);

  size_t bit = (size_t)flip * 7919u % (n * 8);
  p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
  c = NULL;
  rc = fs_cert_open(p, n, &c, id);
  FUZZ_CHECK(rc != 0, "open accepted a certificate with bit %zu flipped", bit);
  free(p);
}

/* Scratch files for the certificate file reader, removed at exit. */
static char dir[64], file_in[96], file_out[96];

static void cleanup(void) {
  unlink(file_in);
  unlink(file_out);
  rmdir(dir);
}

/* The input as a certificate file, and the input appended to a new file
 * under a comment made of its first bytes. */
static void check_file(const uint8_t *data, size_t size) {
  if (!dir[0]) {
    /* Memory-backed when possible: these files are rewritten every run. */
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/fuzz_cert.XXXXXX", base);
    FUZZ_CHECK(mkdtemp(dir), "mkdtemp");
    snprintf(file_in, sizeof file_in, "%s/in", dir);
    snprintf(file_out, sizeof file_out, "%s/out", dir);
    atexit(cleanup);
  }
  FILE *f = fopen(file_in, "wb");
  FUZZ_CHECK(f && (size == 0 || fwrite(data, 1, size, f) == size) && fclose(f) == 0,
             "writing %s", file_in);
  fs_certfile cf;
  int rc = fs_certfile_read(&cf, file_in);
  FUZZ_CHECK(rc == 0 || rc == FS_EKEYFILE, "fs_certfile_read returned %d", rc);
  if (rc == 0) {
    FUZZ_CHECK(cf.n >= 1 && cf.n <= FS_CERTFILE_MAX, "%zu certificates read", cf.n);
    for (size_t i = 0; i < cf.n; i++)
      FUZZ_CHECK(cf.lens[i] >= 1 && cf.lens[i] <= FS_CERT_MAX, "certificate of %zu bytes",
                 cf.lens[i]);
    fs_certfile_free(&cf);
  }

  if (size == 0 || size > FS_CERT_MAX)
    return;
  char comment[24];
  size_t cn = size < sizeof comment - 1 ? size : sizeof comment - 1;
  memcpy(comment, data, cn);
  comment[cn] = '\0';
  unlink(file_out);
  rc = fs_certfile_append(file_out, comment, data, size);
  FUZZ_CHECK(rc == 0, "fs_certfile_append returned %d", rc);
  rc = fs_certfile_read(&cf, file_out);
  FUZZ_CHECK(rc == 0 && cf.n == 1 && cf.lens[0] == size &&
                 memcmp(cf.certs[0], data, size) == 0,
             "a certificate appended under comment '%s' did not read back (%d)", comment,
             rc);
  fs_certfile_free(&cf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_file(data, size);

  Fs__Cert *c = NULL;
  uint8_t id[FS_HASH_LEN];
  int rc = fs_cert_open(data, size, &c, id);
  FUZZ_CHECK(rc == 0 || rc == FS_ETOOBIG || rc == FS_EDECODE || rc == FS_EBADSIG ||
                 rc == FS_EINVAL,
             "fs_cert_open returned %d", rc);
  if (size > FS_CERT_MAX) {
    FUZZ_CHECK(rc == FS_ETOOBIG, "%zu bytes gave %d", size, rc);
    return 0;
  }
  Fs__SignedCert *sc = fs__signed_cert__unpack(NULL, size, data);
  Fs__Cert *x = sc ? fs__cert__unpack(NULL, sc->body.len, sc->body.data) : NULL;
  if (!x) {
    FUZZ_CHECK(rc == FS_EDECODE, "not a certificate, yet open returned %d", rc);
  } else {
    bool sig_ok = x->issuer.len == FS_PK_LEN && sc->signature.len == FS_SIG_LEN &&
                  crypto_sign_verify_detached(sc->signature.data, sc->body.data,
                                              sc->body.len, x->issuer.data) == 0;
    int want = !sig_ok ? FS_EBADSIG : cert_ok(x) ? 0 : FS_EINVAL;
    FUZZ_CHECK(rc == want, "fs_cert_open returned %d, want %d", rc, want);
    if (rc == 0) {
      uint8_t h[FS_HASH_LEN];
      crypto_generichash(h, sizeof h, sc->body.data, sc->body.len, NULL, 0);
      FUZZ_CHECK(memcmp(h, id, FS_HASH_LEN) == 0, "id is not BLAKE2b-256(body)");
      check_same(x, c);
      check_describe(c, 1 + (size % 97));
      check_describe(c, 300);
    }
    if (!fuzz_pb_has_tag0(&x->base))
      check_issue(x, size ? data[size - 1] : 0);
  }
  if (rc == 0)
    fs__cert__free_unpacked(c, NULL);
  if (x)
    fs__cert__free_unpacked(x, NULL);
  if (sc)
    fs__signed_cert__free_unpacked(sc, NULL);
  return 0;
}
