/* fuzz_frame.c - the frame reader and the Envelope decoder, as a peer's
 * byte stream reaches them.
 *
 * Input layout:
 *   byte 0    flags: bits 0-3 = k, the number of schedule bytes;
 *             bit 4 = small limit (FUZZ_SMALL_MAX instead of 64 KiB);
 *             bit 5 = lazy: feed everything first, pull frames at the end
 *   k bytes   chunk schedule: chunk i has schedule[i % k] + 1 bytes
 *             (k = 0: the whole stream in one feed)
 *   rest      the stream
 *
 * Invariants:
 * - The reader is checked against a model of the contract in frame.h: the
 *   frames it hands out are exactly the length-prefixed payloads of the
 *   stream, in order, whatever the chunking; FS_ETOOBIG comes exactly when
 *   the header of the next frame announces more than the limit (from feed as
 *   soon as that header is buffered, from next when it is reached).
 * - fs_envelope_decode succeeds only with a message set; re-encoding with
 *   fs_frame_encode gives a frame whose header is its payload length, which
 *   the reader returns whole and which decodes to the same msg_case and
 *   re-encodes to the same bytes; signed bodies and record states inside
 *   survive byte for byte. (Skipped for an envelope holding a field
 *   numbered 0, which libprotobuf-c cannot re-encode: fuzz_pb_has_tag0.)
 * - fs_envelope_decode_in (into an arena of small chunks) decodes exactly
 *   what fs_envelope_decode does: the same code, the same bytes when
 *   re-encoded; fs_changeset_open_in opens a pushed set exactly as
 *   fs_changeset_open does.
 * - What a node does next with each message holds its contract too:
 *   fs_hello_check on a Hello, from both ends of a fixed test handshake
 *   (only the genuine proof passes, and only on the other side),
 *   fs_cert_open on every certificate presented, fs_changeset_open on each
 *   pushed set, fs_record_decode on each pulled state.
 * The stream is the plaintext inside the encrypted channel (conn.c opens
 * each frame with fs_cipher_open before decoding); fuzz_crypto covers the
 * channel itself.
 */
#include "cert.h"
#include "changeset.h"
#include "error.h"
#include "frame.h"
#include "fuzz_common.h"
#include "hello.h"
#include "merge.h"

#define FUZZ_MAX (64u << 10)
#define FUZZ_SMALL_MAX 256u

typedef struct model {
  const uint8_t *s; /* the stream */
  size_t fed;       /* bytes fed so far */
  size_t cur;       /* start of the next frame not yet taken */
  size_t max;
} model;

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The header at cur is buffered and announces more than max. */
static bool model_head_too_big(const model *m) {
  return m->fed - m->cur >= FS_FRAME_HDR && be32(m->s + m->cur) > m->max;
}

/* Every certificate a peer presents is opened as a node would. */
static void check_certs(const ProtobufCBinaryData *certs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    Fs__Cert *c = NULL;
    uint8_t id[FS_HASH_LEN];
    int rc = fs_cert_open(certs[i].data, certs[i].len, &c, id);
    FUZZ_CHECK(rc == 0 || rc == FS_ETOOBIG || rc == FS_EDECODE || rc == FS_EBADSIG ||
                   rc == FS_EINVAL,
               "fs_cert_open returned %d", rc);
    if (rc == 0)
      fs__cert__free_unpacked(c, NULL);
  }
}

static bool bin_is(const ProtobufCBinaryData *b, const uint8_t *p, size_t n) {
  return b->len == n && memcmp(b->data, p, n) == 0;
}

/* A Hello is checked by both ends of the fixed test handshake: the client
 * accepts exactly the server's own proof (and the server exactly the
 * device's); a proof never passes on the side that made it. */
static void check_hello(const Fs__Hello *h) {
  static fs_hs cli, srv;
  static uint8_t sig_srv[FS_SIG_LEN], sig_cli[FS_SIG_LEN];
  static bool ready;
  const fuzz_keys *k = fuzz_keys_get();
  if (!ready) {
    FUZZ_CHECK(fuzz_hs_pair(&cli, &srv), "test handshake failed");
    fs_keypair s = fuzz_keypair(k->srv_pk, k->srv_sk), d = fuzz_keypair(k->dev_pk, k->dev_sk);
    fs_hs_sign(&srv, &s, sig_srv);
    fs_hs_sign(&cli, &d, sig_cli);
    ready = true;
  }
  const fs_hs *side[2] = {&cli, &srv};
  const uint8_t *want_key[2] = {k->srv_pk, k->dev_pk};
  const uint8_t *want_sig[2] = {sig_srv, sig_cli};
  for (int i = 0; i < 2; i++) {
    int rc = fs_hello_check(h, side[i]);
    FUZZ_CHECK(rc == 0 || rc == FS_EVERSION || rc == FS_EPROTOCOL || rc == FS_EBADSIG,
               "fs_hello_check returned %d", rc);
    if (h->version != FS_PROTOCOL_VERSION) {
      FUZZ_CHECK(rc == FS_EVERSION, "version %u gave %d", h->version, rc);
      continue;
    }
    if (h->key.len != FS_PK_LEN || strlen(h->node_id) >= 64 ||
        strlen(h->software) >= FS_SOFTWARE_MAX) {
      FUZZ_CHECK(rc == FS_EPROTOCOL, "key of %zu bytes, node id or software too long gave %d",
                 h->key.len, rc);
      continue;
    }
    bool genuine = bin_is(&h->key, want_key[i], FS_PK_LEN) &&
                   bin_is(&h->signature, want_sig[i], FS_SIG_LEN);
    FUZZ_CHECK((rc == 0) == genuine, "%s side: fs_hello_check %d for a %s proof",
               i ? "server" : "client", rc, genuine ? "genuine" : "forged or reflected");
  }
  check_certs(h->certs, h->n_certs);
}

static void check_push(const Fs__Push *push) {
  for (size_t i = 0; i < push->n_sets; i++) {
    const Fs__SignedChangeSet *s = push->sets[i];
    Fs__ChangeSet *cs = NULL;
    uint8_t id[FS_HASH_LEN];
    int rc = fs_changeset_open(s->body.data, s->body.len, s->signature.data,
                               s->signature.len, &cs, id);
    FUZZ_CHECK(rc == 0 || rc == FS_ETOOBIG || rc == FS_EBADSIG || rc == FS_EDECODE ||
                   rc == FS_ELIMIT || rc == FS_EINVAL,
               "fs_changeset_open returned %d", rc);
    fs_arena a;
    fs_arena_init(&a, 128);
    Fs__ChangeSet *cs2 = NULL;
    uint8_t id2[FS_HASH_LEN];
    int rc2 = fs_changeset_open_in(s->body.data, s->body.len, s->signature.data,
                                   s->signature.len, &a, &cs2, id2);
    FUZZ_CHECK(rc2 == rc && (rc != 0 || memcmp(id, id2, FS_HASH_LEN) == 0),
               "fs_changeset_open_in returned %d, fs_changeset_open %d", rc2, rc);
    fs_arena_free(&a);
    if (rc == 0) {
      uint8_t want[FS_HASH_LEN];
      crypto_generichash(want, sizeof want, s->body.data, s->body.len, NULL, 0);
      FUZZ_CHECK(memcmp(id, want, sizeof want) == 0, "id is not BLAKE2b-256(body)");
      fs__change_set__free_unpacked(cs, NULL);
    }
  }
  check_certs(push->certs, push->n_certs);
}

static void check_records(const Fs__Records *recs) {
  for (size_t i = 0; i < recs->n_states; i++) {
    fs_record r;
    int rc = fs_record_decode(&r, recs->states[i].data, recs->states[i].len);
    FUZZ_CHECK(rc == 0 || rc == FS_EDECODE, "fs_record_decode returned %d", rc);
    if (rc == 0)
      fs_record_free(&r);
  }
  check_certs(recs->certs, recs->n_certs);
}

/* Both envelopes carry the same signed sets and record states, verbatim. */
static void check_verbatim(const Fs__Envelope *a, const Fs__Envelope *b) {
  if (a->msg_case == FS__ENVELOPE__MSG_PUSH) {
    FUZZ_CHECK(a->push->n_sets == b->push->n_sets, "push lost sets");
    for (size_t i = 0; i < a->push->n_sets; i++) {
      const ProtobufCBinaryData *x = &a->push->sets[i]->body, *y = &b->push->sets[i]->body;
      FUZZ_CHECK(x->len == y->len && (x->len == 0 || memcmp(x->data, y->data, x->len) == 0),
                 "signed body %zu changed on re-encoding", i);
      x = &a->push->sets[i]->signature;
      y = &b->push->sets[i]->signature;
      FUZZ_CHECK(x->len == y->len && (x->len == 0 || memcmp(x->data, y->data, x->len) == 0),
                 "signature %zu changed on re-encoding", i);
    }
  } else if (a->msg_case == FS__ENVELOPE__MSG_RECORDS) {
    FUZZ_CHECK(a->records->n_states == b->records->n_states, "records lost states");
    for (size_t i = 0; i < a->records->n_states; i++) {
      const ProtobufCBinaryData *x = &a->records->states[i], *y = &b->records->states[i];
      FUZZ_CHECK(x->len == y->len && (x->len == 0 || memcmp(x->data, y->data, x->len) == 0),
                 "record state %zu changed on re-encoding", i);
    }
  }
}

/* Re-encodes env and reads the frame back through a fresh reader. */
static void check_reencode(const Fs__Envelope *env) {
  uint8_t *buf = NULL, *buf2 = NULL;
  size_t n = 0, n2 = 0;
  int rc = fs_frame_encode(env, &buf, &n);
  FUZZ_CHECK(rc == 0, "fs_frame_encode of a decoded envelope returned %d", rc);
  FUZZ_CHECK(n >= FS_FRAME_HDR && be32(buf) == n - FS_FRAME_HDR,
             "frame header %u does not match payload length %zu", be32(buf),
             n - FS_FRAME_HDR);

  fs_frame_reader rd;
  fs_frame_reader_init(&rd, FS_FRAME_MAX);
  rc = fs_frame_reader_feed(&rd, buf, n);
  FUZZ_CHECK(rc == 0, "feeding our own frame returned %d", rc);
  const uint8_t *p;
  size_t len;
  rc = fs_frame_reader_next(&rd, &p, &len);
  FUZZ_CHECK(rc == 1 && len == n - FS_FRAME_HDR &&
                 memcmp(p, buf + FS_FRAME_HDR, len) == 0,
             "reader did not return our own frame whole (rc %d)", rc);
  Fs__Envelope *env2 = NULL;
  rc = fs_envelope_decode(p, len, &env2);
  FUZZ_CHECK(rc == 0, "re-encoded envelope (case %d) does not decode: %d",
             (int)env->msg_case, rc);
  FUZZ_CHECK(env2->msg_case == env->msg_case, "msg_case %d became %d",
             (int)env->msg_case, (int)env2->msg_case);
  rc = fs_frame_reader_next(&rd, &p, &len);
  FUZZ_CHECK(rc == 0, "reader invented a second frame: %d", rc);
  fs_frame_reader_free(&rd);

  check_verbatim(env, env2);
  rc = fs_frame_encode(env2, &buf2, &n2);
  FUZZ_CHECK(rc == 0 && n2 == n && memcmp(buf, buf2, n) == 0,
             "encoding is not stable: %zu then %zu bytes", n, n2);
  fs__envelope__free_unpacked(env2, NULL);
  free(buf);
  free(buf2);
}

/* The envelope decoded into an arena packs to the same bytes as env. */
static void check_arena_decode(const uint8_t *p, size_t len, const Fs__Envelope *env,
                               int rc) {
  fs_arena a;
  fs_arena_init(&a, 256); /* small: the tree spreads over many chunks */
  Fs__Envelope *e = NULL;
  int rc2 = fs_envelope_decode_in(p, len, &a, &e);
  FUZZ_CHECK(rc2 == rc, "fs_envelope_decode_in returned %d, fs_envelope_decode %d", rc2, rc);
  if (rc == 0 && !fuzz_pb_has_tag0(&env->base)) {
    size_t n = fs__envelope__get_packed_size(env);
    FUZZ_CHECK(fs__envelope__get_packed_size(e) == n, "arena envelope packs to another size");
    uint8_t *x = malloc(n ? n : 1), *y = malloc(n ? n : 1);
    FUZZ_CHECK(x && y, "out of memory");
    fs__envelope__pack(env, x);
    fs__envelope__pack(e, y);
    FUZZ_CHECK(memcmp(x, y, n) == 0, "arena envelope packs to other bytes");
    free(x);
    free(y);
  }
  fs_arena_free(&a);
}

static void check_payload(const uint8_t *p, size_t len) {
  Fs__Envelope *env = NULL;
  int rc = fs_envelope_decode(p, len, &env);
  FUZZ_CHECK(rc == 0 || rc == FS_EDECODE, "fs_envelope_decode returned %d", rc);
  check_arena_decode(p, len, env, rc);
  if (rc != 0)
    return;
  FUZZ_CHECK(env != NULL && env->msg_case != FS__ENVELOPE__MSG__NOT_SET,
             "decode succeeded without a message");
  if (!fuzz_pb_has_tag0(&env->base))
    check_reencode(env);
  switch (env->msg_case) {
  case FS__ENVELOPE__MSG_HELLO:
    check_hello(env->hello);
    break;
  case FS__ENVELOPE__MSG_PUSH:
    check_push(env->push);
    break;
  case FS__ENVELOPE__MSG_RECORDS:
    check_records(env->records);
    break;
  default:
    break;
  }
  fs__envelope__free_unpacked(env, NULL);
}

/* Pulls frames until none is whole; returns false when the stream is dead
 * (FS_ETOOBIG: the connection would be dropped). */
static bool drain(fs_frame_reader *rd, model *m) {
  for (;;) {
    const uint8_t *p = NULL;
    size_t len = 0;
    int rc = fs_frame_reader_next(rd, &p, &len);
    size_t avail = m->fed - m->cur;
    if (avail < FS_FRAME_HDR) {
      FUZZ_CHECK(rc == 0, "next with %zu buffered bytes returned %d", avail, rc);
      return true;
    }
    uint32_t n = be32(m->s + m->cur);
    if (n > m->max) {
      FUZZ_CHECK(rc == FS_ETOOBIG, "header %u over limit %zu: next returned %d", n,
                 m->max, rc);
      return false;
    }
    if (avail - FS_FRAME_HDR < n) {
      FUZZ_CHECK(rc == 0, "partial frame (%zu of %u): next returned %d",
                 avail - FS_FRAME_HDR, n, rc);
      return true;
    }
    FUZZ_CHECK(rc == 1, "whole frame of %u bytes buffered: next returned %d", n, rc);
    FUZZ_CHECK(len == n && (n == 0 || memcmp(p, m->s + m->cur + FS_FRAME_HDR, n) == 0),
               "frame at stream offset %zu differs from the stream (len %zu, want %u)",
               m->cur, len, n);
    m->cur += FS_FRAME_HDR + n;
    check_payload(p, len);
  }
}

/* Feeds one chunk; returns false when the stream is dead. */
static bool feed(fs_frame_reader *rd, model *m, const uint8_t *chunk, size_t len) {
  bool before = model_head_too_big(m);
  size_t pending = m->fed - m->cur;
  int rc = fs_frame_reader_feed(rd, chunk, len);
  if (before) {
    FUZZ_CHECK(rc == FS_ETOOBIG, "feed after an oversize header returned %d", rc);
    return false;
  }
  m->fed += len;
  if (model_head_too_big(m)) {
    FUZZ_CHECK(rc == FS_ETOOBIG, "oversize header %u buffered: feed returned %d",
               be32(m->s + m->cur), rc);
    return false;
  }
  /* frame.c also refuses to buffer more than max + 64 KiB + one read when
   * the owner has not pulled; frame.h does not list it. Inputs this large
   * only occur with -max_len above that. */
  if (rc == FS_ETOOBIG && pending > m->max + FS_FRAME_HDR + 65536)
    return false;
  FUZZ_CHECK(rc == 0, "feed of %zu bytes returned %d (no oversize header)", len, rc);
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size};
  uint8_t flags = fuzz_u8(&in);
  size_t k;
  const uint8_t *sched = fuzz_take(&in, flags & 15u, &k);
  bool lazy = flags & 0x20;
  model m = {.s = in.p, .max = flags & 0x10 ? FUZZ_SMALL_MAX : FUZZ_MAX};

  fs_frame_reader rd;
  fs_frame_reader_init(&rd, m.max);
  bool alive = true;
  size_t i = 0;
  while (alive && in.n > 0) {
    size_t want = k ? (size_t)sched[i++ % k] + 1 : in.n, got;
    const uint8_t *chunk = fuzz_take(&in, want, &got);
    alive = feed(&rd, &m, chunk, got);
    if (alive && !lazy)
      alive = drain(&rd, &m);
  }
  if (alive)
    alive = drain(&rd, &m);
  if (alive) {
    /* Whatever is left is one incomplete frame. */
    const uint8_t *p;
    size_t len;
    FUZZ_CHECK(fs_frame_reader_next(&rd, &p, &len) == 0, "next after drain");
  }
  fs_frame_reader_free(&rd);
  return 0;
}
