/* fuzz_common.h - what the libFuzzer targets and the seed generator share:
 * the invariant check macro, the fixed test keys, and a bounds-checked
 * reader over the fuzz input.
 *
 * The keys are derived from fixed seeds, so Ed25519 signatures made with
 * them are deterministic and gen_seeds writes the same corpus every time.
 * They are test keys and protect nothing.
 *
 * Everything here is static inline so that each target stays one file plus
 * this header (a config target from server/ can include it the same way).
 */
#ifndef FS_FUZZ_COMMON_H
#define FS_FUZZ_COMMON_H

#include "handshake.h"
#include "keys.h"
#include "seal.h"

#include <protobuf-c/protobuf-c.h>
#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An invariant that does not hold is a finding: say which and abort, so
 * libFuzzer saves the input as crash-<sha1>. */
#define FUZZ_CHECK(cond, ...)                                                  \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: invariant violated: %s\n  ", __FILE__, __LINE__, \
              #cond);                                                          \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* The device that signs every change set the targets seal, a second
 * device, the server whose Hello the seeds carry, the admin key that issues
 * certificates, the network key and the sealing key pair. */
typedef struct fuzz_keys {
  uint8_t dev_pk[FS_PK_LEN], dev_sk[FS_SK_LEN];
  uint8_t dev2_pk[FS_PK_LEN], dev2_sk[FS_SK_LEN]; /* a second device */
  uint8_t srv_pk[FS_PK_LEN], srv_sk[FS_SK_LEN];
  uint8_t adm_pk[FS_PK_LEN], adm_sk[FS_SK_LEN];
  uint8_t netkey[FS_NETKEY_LEN];
  uint8_t seal_pk[FS_SEAL_KEY_LEN], seal_sk[FS_SEAL_KEY_LEN];
} fuzz_keys;

static inline const fuzz_keys *fuzz_keys_get(void) {
  static fuzz_keys k;
  static bool done;
  if (!done) {
    if (sodium_init() < 0)
      abort();
    uint8_t seed[crypto_sign_SEEDBYTES];
    memset(seed, 0x11, sizeof seed);
    crypto_sign_seed_keypair(k.dev_pk, k.dev_sk, seed);
    memset(seed, 0x22, sizeof seed);
    crypto_sign_seed_keypair(k.dev2_pk, k.dev2_sk, seed);
    memset(seed, 0x33, sizeof seed);
    crypto_sign_seed_keypair(k.srv_pk, k.srv_sk, seed);
    memset(seed, 0x44, sizeof seed);
    crypto_sign_seed_keypair(k.adm_pk, k.adm_sk, seed);
    memset(k.netkey, 0x55, sizeof k.netkey);
    memset(k.seal_sk, 0x66, sizeof k.seal_sk);
    crypto_scalarmult_base(k.seal_pk, k.seal_sk);
    done = true;
  }
  return &k;
}

/* A finished handshake between a client and a server on the test network
 * key, with fixed ephemeral keys (so the transcript, and every Hello signed
 * over it, is the same in every process). Returns false if it fails. */
static inline bool fuzz_hs_pair(fs_hs *cli, fs_hs *srv) {
  const fuzz_keys *k = fuzz_keys_get();
  fs_hs_init(cli, true, k->netkey);
  fs_hs_init(srv, false, k->netkey);
  memset(cli->eph_sk, 0x77, sizeof cli->eph_sk);
  crypto_scalarmult_base(cli->eph_pk, cli->eph_sk);
  memset(srv->eph_sk, 0x88, sizeof srv->eph_sk);
  crypto_scalarmult_base(srv->eph_pk, srv->eph_sk);
  uint8_t hc[FS_HS_HELLO_LEN], hv[FS_HS_HELLO_LEN];
  fs_hs_hello(cli, hc);
  fs_hs_hello(srv, hv);
  return fs_hs_read_hello(srv, hc) == 0 && fs_hs_read_hello(cli, hv) == 0;
}

/* A key pair view of fixed keys (the secret is not sodium_malloc'ed: these
 * are test keys). */
static inline fs_keypair fuzz_keypair(const uint8_t *pk, const uint8_t *sk) {
  fs_keypair kp;
  memcpy(kp.pk, pk, FS_PK_LEN);
  kp.sk = (uint8_t *)sk;
  return kp;
}

/* A cursor over the fuzz input; every take is bounds-checked and a short
 * input simply yields fewer (or zero) bytes. */
typedef struct fuzz_in {
  const uint8_t *p;
  size_t n;
} fuzz_in;

static inline uint8_t fuzz_u8(fuzz_in *in) {
  if (in->n == 0)
    return 0;
  in->n--;
  return *in->p++;
}

static inline uint16_t fuzz_u16(fuzz_in *in) {
  uint16_t hi = fuzz_u8(in);
  return (uint16_t)(hi << 8 | fuzz_u8(in));
}

/* Takes up to len bytes; *got says how many. */
static inline const uint8_t *fuzz_take(fuzz_in *in, size_t len, size_t *got) {
  if (len > in->n)
    len = in->n;
  const uint8_t *p = in->p;
  in->p += len;
  in->n -= len;
  *got = len;
  return p;
}

/* Big-endian u16 length, then that many bytes (fewer at the end). */
static inline const uint8_t *fuzz_take_lp(fuzz_in *in, size_t *got) {
  return fuzz_take(in, fuzz_u16(in), got);
}

static inline void fuzz_put_u16(uint8_t *out, size_t n) {
  out[0] = (uint8_t)(n >> 8);
  out[1] = (uint8_t)n;
}

/* Area syntax as changeset.h states it, written independently of
 * fs_area_valid: dot-separated non-empty segments of [A-Za-z0-9_], 1..128
 * bytes in all (FS_MAX_AREA). */
static inline bool fuzz_area_valid(const char *a) {
  size_t n = strlen(a);
  if (n == 0 || n > 128 || a[0] == '.' || a[n - 1] == '.')
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = a[i];
    if (c == '.') {
      if (a[i + 1] == '.')
        return false;
      continue;
    }
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          c == '_'))
      return false;
  }
  return true;
}

/* FS_FUZZ_SKIP_KNOWN=1 in the environment makes the targets step around
 * findings already reported and not yet fixed (README.md lists them), so a
 * long run can look for new ones. Unset, every finding fails the run. */
static inline bool fuzz_skip_known(void) {
  static int v = -1;
  if (v < 0) {
    const char *e = getenv("FS_FUZZ_SKIP_KNOWN");
    v = e && *e && strcmp(e, "0") != 0;
  }
  return v;
}

/* True when m or a message inside it kept an unknown field numbered 0.
 *
 * Field number 0 is invalid, and libprotobuf-c (1.4.1) refuses it when the
 * key is one byte (0x00..0x07), but accepts it when the key varint is
 * padded ("80 00") and keeps it as an unknown field; packing writes the
 * key back as 0x00, which unpack then refuses. So such a message does not
 * survive decode -> encode -> decode, through no fault of fieldsync (which
 * never re-encodes a body it received). The targets skip their re-encoding
 * checks for these messages. */
static inline bool fuzz_pb_has_tag0(const ProtobufCMessage *m) {
  for (unsigned i = 0; i < m->n_unknown_fields; i++)
    if (m->unknown_fields[i].tag == 0)
      return true;
  const ProtobufCMessageDescriptor *d = m->descriptor;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (f->type != PROTOBUF_C_TYPE_MESSAGE)
      continue;
    const char *base = (const char *)m;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n = *(const size_t *)(base + f->quantifier_offset);
      ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)(base + f->offset);
      for (size_t j = 0; j < n; j++)
        if (v[j] && fuzz_pb_has_tag0(v[j]))
          return true;
      continue;
    }
    if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        *(const uint32_t *)(base + f->quantifier_offset) != f->id)
      continue;
    const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + f->offset);
    if (sub && fuzz_pb_has_tag0(sub))
      return true;
  }
  return false;
}

/* Bytes as hex on stderr, for the messages of failed checks. */
static inline void fuzz_dump(const char *what, const uint8_t *p, size_t n) {
  fprintf(stderr, "%s (%zu bytes): ", what, n);
  for (size_t i = 0; i < n && i < 512; i++)
    fprintf(stderr, "%02x", p[i]);
  fprintf(stderr, "%s\n", n > 512 ? "..." : "");
}

#endif
