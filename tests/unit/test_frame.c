/* test_frame.c - framing of Envelopes: round trips, byte-at-a-time and
 * split feeds, several frames per feed, the size limit enforced on the
 * header alone, payloads that must not decode, decoding into an arena, and
 * the memory a decode may take. */
#include "decode_limit.h"
#include "error.h"
#include "frame.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Three frames of different kinds, concatenated into one stream. */
typedef struct stream {
  uint8_t *bytes;
  size_t len;
  size_t ends[3]; /* offset just past each frame */
} stream;

static uint8_t body_a[] = {1, 2, 3, 0, 255};
static uint8_t sig_a[64];

static void encode_push(uint8_t **out, size_t *len) {
  Fs__SignedChangeSet s1 = FS__SIGNED_CHANGE_SET__INIT, s2 = FS__SIGNED_CHANGE_SET__INIT;
  memset(sig_a, 0x5a, sizeof sig_a);
  s1.body = (ProtobufCBinaryData){sizeof body_a, body_a};
  s1.signature = (ProtobufCBinaryData){sizeof sig_a, sig_a};
  s2.body = (ProtobufCBinaryData){0, NULL};
  Fs__SignedChangeSet *sets[] = {&s1, &s2};
  Fs__Push push = FS__PUSH__INIT;
  push.n_sets = 2;
  push.sets = sets;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_PUSH;
  env.push = &push;
  assert_int_equal(fs_frame_encode(&env, out, len), 0);
}

static void check_push(const Fs__Envelope *e) {
  assert_int_equal(e->msg_case, FS__ENVELOPE__MSG_PUSH);
  assert_int_equal(e->push->n_sets, 2);
  assert_int_equal(e->push->sets[0]->body.len, sizeof body_a);
  assert_memory_equal(e->push->sets[0]->body.data, body_a, sizeof body_a);
  assert_int_equal(e->push->sets[0]->signature.len, 64);
  assert_memory_equal(e->push->sets[0]->signature.data, sig_a, 64);
  assert_int_equal(e->push->sets[1]->body.len, 0);
}

static void encode_error(uint8_t **out, size_t *len) {
  Fs__Error err = FS__ERROR__INIT;
  err.code = 9004;
  err.message = "signature does not verify";
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_ERROR;
  env.error = &err;
  assert_int_equal(fs_frame_encode(&env, out, len), 0);
}

static void check_error(const Fs__Envelope *e) {
  assert_int_equal(e->msg_case, FS__ENVELOPE__MSG_ERROR);
  assert_int_equal(e->error->code, 9004);
  assert_string_equal(e->error->message, "signature does not verify");
}

/* An empty Bye: the smallest non-empty payload (2 bytes). */
static void encode_bye(uint8_t **out, size_t *len) {
  Fs__Bye bye = FS__BYE__INIT;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_BYE;
  env.bye = &bye;
  assert_int_equal(fs_frame_encode(&env, out, len), 0);
}

static void check_bye(const Fs__Envelope *e) {
  assert_int_equal(e->msg_case, FS__ENVELOPE__MSG_BYE);
}

static void (*const checks[3])(const Fs__Envelope *) = {check_push, check_error,
                                                        check_bye};

static void stream_make(stream *s) {
  void (*enc[3])(uint8_t **, size_t *) = {encode_push, encode_error, encode_bye};
  memset(s, 0, sizeof *s);
  for (int i = 0; i < 3; i++) {
    uint8_t *f;
    size_t n;
    enc[i](&f, &n);
    s->bytes = realloc(s->bytes, s->len + n);
    assert_non_null(s->bytes);
    memcpy(s->bytes + s->len, f, n);
    s->len += n;
    s->ends[i] = s->len;
    free(f);
  }
}

/* Takes every complete frame, checking each against the next expected one. */
static int drain(fs_frame_reader *r, int *got) {
  const uint8_t *p;
  size_t n;
  int rc;
  while ((rc = fs_frame_reader_next(r, &p, &n)) == 1) {
    assert_true(*got < 3);
    Fs__Envelope *e = NULL;
    assert_int_equal(fs_envelope_decode(p, n, &e), 0);
    checks[*got](e);
    fs__envelope__free_unpacked(e, NULL);
    (*got)++;
  }
  return rc;
}

static void test_round_trip(void **state) {
  (void)state;
  uint8_t *f;
  size_t n;
  encode_push(&f, &n);
  /* 4-byte big-endian length, then exactly that many payload bytes. */
  assert_true(n > FS_FRAME_HDR);
  size_t plen = (size_t)f[0] << 24 | (size_t)f[1] << 16 | (size_t)f[2] << 8 | f[3];
  assert_int_equal(plen, n - FS_FRAME_HDR);
  Fs__Envelope *e = NULL;
  assert_int_equal(fs_envelope_decode(f + FS_FRAME_HDR, plen, &e), 0);
  check_push(e);
  fs__envelope__free_unpacked(e, NULL);
  free(f);

  encode_error(&f, &n);
  assert_int_equal(fs_envelope_decode(f + FS_FRAME_HDR, n - FS_FRAME_HDR, &e), 0);
  check_error(e);
  fs__envelope__free_unpacked(e, NULL);
  free(f);
}

static void test_one_byte_at_a_time(void **state) {
  (void)state;
  stream s;
  stream_make(&s);
  fs_frame_reader r;
  fs_frame_reader_init(&r, FS_FRAME_MAX);
  int got = 0;
  for (size_t i = 0; i < s.len; i++) {
    assert_int_equal(fs_frame_reader_feed(&r, s.bytes + i, 1), 0);
    int before = got;
    assert_int_equal(drain(&r, &got), 0);
    /* A frame comes out exactly when its last byte arrives, never earlier. */
    for (int k = 0; k < 3; k++)
      if (i + 1 == s.ends[k])
        assert_int_equal(got, k + 1);
    if (got != before)
      assert_int_equal(i + 1, s.ends[got - 1]);
  }
  assert_int_equal(got, 3);
  fs_frame_reader_free(&r);
  free(s.bytes);
}

static void test_split_at_every_boundary(void **state) {
  (void)state;
  stream s;
  stream_make(&s);
  for (size_t cut = 0; cut <= s.len; cut++) {
    fs_frame_reader r;
    fs_frame_reader_init(&r, FS_FRAME_MAX);
    int got = 0;
    if (cut > 0) /* an empty first feed is test_empty_feed's subject */
      assert_int_equal(fs_frame_reader_feed(&r, s.bytes, cut), 0);
    assert_int_equal(drain(&r, &got), 0);
    int expect = 0;
    while (expect < 3 && s.ends[expect] <= cut)
      expect++;
    assert_int_equal(got, expect);
    assert_int_equal(fs_frame_reader_feed(&r, s.bytes + cut, s.len - cut), 0);
    assert_int_equal(drain(&r, &got), 0);
    assert_int_equal(got, 3);
    fs_frame_reader_free(&r);
  }
  free(s.bytes);
}

static void test_several_frames_in_one_feed(void **state) {
  (void)state;
  stream s;
  stream_make(&s);
  fs_frame_reader r;
  fs_frame_reader_init(&r, FS_FRAME_MAX);
  int got = 0;
  /* Twice over the same reader: the buffer is reused after it drains. */
  for (int round = 0; round < 2; round++) {
    got = 0;
    assert_int_equal(fs_frame_reader_feed(&r, s.bytes, s.len), 0);
    assert_int_equal(drain(&r, &got), 0);
    assert_int_equal(got, 3);
  }
  const uint8_t *p;
  size_t n;
  assert_int_equal(fs_frame_reader_next(&r, &p, &n), 0);
  fs_frame_reader_free(&r);
  free(s.bytes);
}

static void test_header_over_limit(void **state) {
  (void)state;
  const size_t max = (size_t)1 << 20; /* far above the first buffer */
  fs_frame_reader r;
  const uint8_t *p;
  size_t n;

  /* Exactly the limit is fine: the reader waits for the payload. */
  uint8_t at[4] = {0, 0x10, 0, 0};
  fs_frame_reader_init(&r, max);
  assert_int_equal(fs_frame_reader_feed(&r, at, 4), 0);
  assert_int_equal(fs_frame_reader_next(&r, &p, &n), 0);
  fs_frame_reader_free(&r);

  /* One more is refused on the header alone, before any payload. */
  uint8_t over[4] = {0, 0x10, 0, 1};
  fs_frame_reader_init(&r, max);
  assert_int_equal(fs_frame_reader_feed(&r, over, 4), FS_ETOOBIG);
  assert_int_equal(fs_frame_reader_next(&r, &p, &n), FS_ETOOBIG);
  assert_true(r.cap < max); /* nothing reserved for the payload */
  fs_frame_reader_free(&r);

  /* The header arriving in two pieces. */
  uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
  fs_frame_reader_init(&r, max);
  assert_int_equal(fs_frame_reader_feed(&r, huge, 2), 0);
  assert_int_equal(fs_frame_reader_feed(&r, huge + 2, 2), FS_ETOOBIG);
  assert_true(r.cap < max);
  fs_frame_reader_free(&r);

  /* After a good frame in the same feed: the good one is delivered first. */
  uint8_t *f;
  size_t flen;
  encode_bye(&f, &flen);
  uint8_t *both = malloc(flen + 4);
  assert_non_null(both);
  memcpy(both, f, flen);
  memcpy(both + flen, over, 4);
  fs_frame_reader_init(&r, max);
  assert_int_equal(fs_frame_reader_feed(&r, both, flen + 4), 0);
  assert_int_equal(fs_frame_reader_next(&r, &p, &n), 1);
  assert_int_equal(n, flen - FS_FRAME_HDR);
  assert_int_equal(fs_frame_reader_next(&r, &p, &n), FS_ETOOBIG);
  fs_frame_reader_free(&r);
  free(both);
  free(f);
}

static void test_encode_over_limit(void **state) {
  (void)state;
  size_t big = FS_FRAME_MAX + 1;
  uint8_t *body = calloc(big, 1);
  assert_non_null(body);
  Fs__SignedChangeSet s = FS__SIGNED_CHANGE_SET__INIT;
  s.body = (ProtobufCBinaryData){big, body};
  Fs__SignedChangeSet *sets[] = {&s};
  Fs__Push push = FS__PUSH__INIT;
  push.n_sets = 1;
  push.sets = sets;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_PUSH;
  env.push = &push;
  uint8_t *out = NULL;
  size_t len = 0;
  assert_int_equal(fs_frame_encode(&env, &out, &len), FS_ETOOBIG);
  assert_null(out);
  free(body);
}

static void test_garbage_payload(void **state) {
  (void)state;
  Fs__Envelope *e = NULL;
  /* Field 4 (push), length 5, but only one byte follows. */
  const uint8_t truncated[] = {0x22, 0x05, 0x01};
  assert_int_equal(fs_envelope_decode(truncated, sizeof truncated, &e), FS_EDECODE);
  /* A varint tag that never ends. */
  const uint8_t endless[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  assert_int_equal(fs_envelope_decode(endless, sizeof endless, &e), FS_EDECODE);
  assert_null(e);

  /* The same garbage through a reader: framing is fine, decoding is not. */
  uint8_t frame[4 + sizeof truncated] = {0, 0, 0, sizeof truncated};
  memcpy(frame + 4, truncated, sizeof truncated);
  fs_frame_reader r;
  fs_frame_reader_init(&r, FS_FRAME_MAX);
  assert_int_equal(fs_frame_reader_feed(&r, frame, sizeof frame), 0);
  const uint8_t *p;
  size_t n;
  assert_int_equal(fs_frame_reader_next(&r, &p, &n), 1);
  assert_int_equal(n, sizeof truncated);
  assert_int_equal(fs_envelope_decode(p, n, &e), FS_EDECODE);
  fs_frame_reader_free(&r);
}

static void test_no_message_set(void **state) {
  (void)state;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  uint8_t *f;
  size_t n;
  assert_int_equal(fs_frame_encode(&env, &f, &n), 0);
  assert_int_equal(n, FS_FRAME_HDR); /* an empty payload */
  fs_frame_reader r;
  fs_frame_reader_init(&r, FS_FRAME_MAX);
  assert_int_equal(fs_frame_reader_feed(&r, f, n), 0);
  const uint8_t *p;
  size_t len;
  assert_int_equal(fs_frame_reader_next(&r, &p, &len), 1);
  assert_int_equal(len, 0);
  Fs__Envelope *e = NULL;
  assert_int_equal(fs_envelope_decode(p, len, &e), FS_EDECODE);
  fs_frame_reader_free(&r);
  free(f);

  /* Only an unknown field (number 15, varint): still no message. */
  const uint8_t unknown[] = {0x78, 0x01};
  assert_int_equal(fs_envelope_decode(unknown, sizeof unknown, &e), FS_EDECODE);
  assert_null(e);
}

/* Decoding into an arena: the same envelopes, refused payloads refused the
 * same way (their remains go with the arena: ASan's leak check). */
static void test_decode_in_arena(void **state) {
  (void)state;
  stream s;
  stream_make(&s);
  fs_arena a;
  fs_arena_init(&a, 0);
  size_t start = 0;
  for (int i = 0; i < 3; i++) {
    Fs__Envelope *e = NULL;
    assert_int_equal(fs_envelope_decode_in(s.bytes + start + FS_FRAME_HDR,
                                           s.ends[i] - start - FS_FRAME_HDR, &a, &e), 0);
    checks[i](e);
    start = s.ends[i];
  }
  const uint8_t truncated[] = {0x22, 0x05, 0x01}, unknown[] = {0x78, 0x01};
  Fs__Envelope *e = NULL;
  assert_int_equal(fs_envelope_decode_in(truncated, sizeof truncated, &a, &e), FS_EDECODE);
  assert_int_equal(fs_envelope_decode_in(unknown, sizeof unknown, &a, &e), FS_EDECODE);
  assert_int_equal(fs_envelope_decode_in(unknown, 0, &a, &e), FS_EDECODE);
  assert_null(e);
  fs_arena_free(&a);
  free(s.bytes);
}

/* fs_envelope_arena_chunk is enough for a full Push of typical sets (700
 * bytes of body each) in one chunk: a batch's Push costs one malloc. */
static void test_push_fits_one_chunk(void **state) {
  (void)state;
  uint8_t *f;
  size_t n;
  tu_push_frame(256, 700, &f, &n);
  fs_arena a;
  fs_arena_init(&a, fs_envelope_arena_chunk(n - FS_FRAME_HDR));
  Fs__Envelope *e;
  assert_int_equal(fs_envelope_decode_in(f + FS_FRAME_HDR, n - FS_FRAME_HDR, &a, &e), 0);
  assert_int_equal(e->push->n_sets, 256);
  assert_int_equal(a.nchunks, 1);
  fs_arena_free(&a);
  free(f);
}

/* A valid Envelope (a Bye) followed by about 1 MiB of two-byte unknown
 * fields: protobuf-c would keep every one (about fifty times the frame in
 * memory); both decoders refuse it within fs_decode_limit instead. */
static void test_unknown_fields_bounded(void **state) {
  (void)state;
  Fs__Bye bye = FS__BYE__INIT;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_BYE;
  env.bye = &bye;
  size_t head = fs__envelope__get_packed_size(&env), n = head + (1u << 20);
  uint8_t *p = malloc(n);
  assert_non_null(p);
  fs__envelope__pack(&env, p);
  for (size_t i = head; i + 1 < n; i += 2) {
    p[i] = 0x78; /* field 15, varint */
    p[i + 1] = 0x01;
  }
  Fs__Envelope *e = NULL;
  assert_int_equal(fs_envelope_decode(p, n, &e), FS_EDECODE);
  assert_null(e);
  fs_arena a;
  fs_arena_init(&a, fs_envelope_arena_chunk(n));
  assert_int_equal(fs_envelope_decode_in(p, n, &a, &e), FS_EDECODE);
  assert_true(a.held <= fs_decode_limit(n) + fs_envelope_arena_chunk(n));
  assert_int_equal(a.budget, SIZE_MAX); /* the limit was for that decode only */
  fs_arena_free(&a);
  /* The same Bye with a few unknown fields (a newer peer's) still decodes. */
  assert_int_equal(fs_envelope_decode(p, head + 64, &e), 0);
  assert_int_equal(e->msg_case, FS__ENVELOPE__MSG_BYE);
  fs__envelope__free_unpacked(e, NULL);
  free(p);
}

/* After a large frame is taken the reader gives its buffer back; a partly
 * received frame is kept, and a small buffer is kept for the next frame. */
static void test_trim_after_large_frame(void **state) {
  (void)state;
  fs_frame_reader r;
  fs_frame_reader_init(&r, FS_FRAME_MAX);
  size_t n = 1u << 20;
  uint8_t *frame = calloc(1, FS_FRAME_HDR + n);
  assert_non_null(frame);
  frame[0] = (uint8_t)(n >> 24), frame[1] = (uint8_t)(n >> 16), frame[2] = (uint8_t)(n >> 8),
  frame[3] = (uint8_t)n;
  assert_int_equal(fs_frame_reader_feed(&r, frame, FS_FRAME_HDR + n / 2), 0);
  fs_frame_reader_trim(&r); /* half a frame: kept */
  assert_true(r.cap >= FS_FRAME_HDR + n / 2);
  assert_int_equal(fs_frame_reader_feed(&r, frame + FS_FRAME_HDR + n / 2, n - n / 2), 0);
  const uint8_t *p;
  size_t len;
  assert_int_equal(fs_frame_reader_next(&r, &p, &len), 1);
  assert_int_equal(len, n);
  fs_frame_reader_trim(&r);
  assert_null(r.buf);
  assert_int_equal(r.cap, 0);
  /* The reader works on afterwards, and a small frame keeps its buffer. */
  uint8_t small[FS_FRAME_HDR + 3] = {0, 0, 0, 3, 'a', 'b', 'c'};
  assert_int_equal(fs_frame_reader_feed(&r, small, sizeof small), 0);
  assert_int_equal(fs_frame_reader_next(&r, &p, &len), 1);
  assert_int_equal(len, 3);
  assert_memory_equal(p, "abc", 3);
  fs_frame_reader_trim(&r);
  assert_non_null(r.buf);
  fs_frame_reader_free(&r);
  free(frame);
}

/* A read of zero bytes (an EAGAIN on the socket) must be harmless, also as
 * the first thing a reader sees. */
static void test_empty_feed(void **state) {
  (void)state;
  static const uint8_t nothing[1];
  fs_frame_reader r;
  fs_frame_reader_init(&r, FS_FRAME_MAX);
  assert_int_equal(fs_frame_reader_feed(&r, nothing, 0), 0);
  const uint8_t *p;
  size_t n;
  assert_int_equal(fs_frame_reader_next(&r, &p, &n), 0);
  fs_frame_reader_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_one_byte_at_a_time),
      cmocka_unit_test(test_split_at_every_boundary),
      cmocka_unit_test(test_several_frames_in_one_feed),
      cmocka_unit_test(test_header_over_limit),
      cmocka_unit_test(test_encode_over_limit),
      cmocka_unit_test(test_garbage_payload),
      cmocka_unit_test(test_no_message_set),
      cmocka_unit_test(test_empty_feed),
      cmocka_unit_test(test_trim_after_large_frame),
      cmocka_unit_test(test_decode_in_arena),
      cmocka_unit_test(test_push_fits_one_chunk),
      cmocka_unit_test(test_unknown_fields_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
