/* test_changeset.c - sealing and opening signed change sets: the id, the
 * signature over the exact bytes, every bound on a decoded body, and area
 * codes. Every refused body is properly signed, so the refusal comes from
 * the bound under test and not from the signature. */
#include "changeset.h"
#include "decode_limit.h"
#include "error.h"
#include "hlc.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

static fs_keypair kp;

static int setup(void **state) {
  (void)state;
  if (fs_crypto_init() != 0 || fs_keypair_generate(&kp) != 0)
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  fs_keypair_free(&kp);
  return 0;
}

/* A valid change set: one record with one write. */
static Fs__ChangeSet *valid_cs(void) {
  Fs__ChangeSet *cs = tu_cs_new(kp.pk, 1, NULL, 1000, "KT.KPL");
  Fs__Change *ch = tu_cs_change(cs, "inc-1", "incident", false);
  tu_change_write_str(ch, "title", "weapons handed in", 999, 0);
  return cs;
}

/* Seals cs with the test key and returns what fs_changeset_open says;
 * fs_changeset_open_in must say the same. */
static int seal_open(const Fs__ChangeSet *cs) {
  tu_sealed s;
  tu_seal(cs, kp.sk, &s);
  Fs__ChangeSet *out = NULL;
  uint8_t id[FS_HASH_LEN], id2[FS_HASH_LEN];
  int rc = fs_changeset_open(s.body, s.len, s.sig, FS_SIG_LEN, &out, id);
  if (rc == 0)
    fs__change_set__free_unpacked(out, NULL);
  else
    assert_null(out);
  fs_arena a;
  fs_arena_init(&a, 256); /* small: bodies spread over several chunks */
  out = NULL;
  assert_int_equal(fs_changeset_open_in(s.body, s.len, s.sig, FS_SIG_LEN, &a, &out, id2), rc);
  if (rc == 0)
    assert_memory_equal(id, id2, FS_HASH_LEN);
  else
    assert_null(out);
  fs_arena_free(&a);
  tu_sealed_free(&s);
  return rc;
}

/* A body that breaks a bound is refused as invalid or over a limit. */
#define assert_refused(rc)                                                    \
  do {                                                                        \
    int rc_ = (rc);                                                           \
    if (rc_ != FS_EINVAL && rc_ != FS_ELIMIT)                                 \
      fail_msg("expected E_INVAL or E_LIMIT, got %s", fs_errname(rc_));       \
  } while (0)

static void test_round_trip(void **state) {
  (void)state;
  Fs__ChangeSet *cs = valid_cs();
  tu_sealed a, b;
  tu_seal(cs, kp.sk, &a);
  tu_seal(cs, kp.sk, &b);
  /* Sealing is deterministic: same body, same signature, same id. */
  assert_int_equal(a.len, b.len);
  assert_memory_equal(a.body, b.body, a.len);
  assert_memory_equal(a.sig, b.sig, FS_SIG_LEN);
  assert_memory_equal(a.id, b.id, FS_HASH_LEN);

  uint8_t h[FS_HASH_LEN];
  crypto_generichash(h, sizeof h, a.body, a.len, NULL, 0);
  assert_memory_equal(a.id, h, FS_HASH_LEN);
  uint8_t id2[FS_HASH_LEN];
  fs_changeset_id(a.body, a.len, id2);
  assert_memory_equal(id2, h, FS_HASH_LEN);
  assert_int_equal(crypto_sign_verify_detached(a.sig, a.body, a.len, kp.pk), 0);

  Fs__ChangeSet *o = tu_open(&a); /* checks the id too */
  assert_memory_equal(o->device.data, kp.pk, FS_PK_LEN);
  assert_int_equal(o->seq, 1);
  assert_int_equal(o->hlc, 1000);
  assert_string_equal(o->area, "KT.KPL");
  assert_int_equal(o->n_changes, 1);
  assert_string_equal(o->changes[0]->record_id, "inc-1");
  assert_string_equal(o->changes[0]->record_type, "incident");
  assert_int_equal(o->changes[0]->n_writes, 1);
  const Fs__FieldWrite *w = o->changes[0]->writes[0];
  assert_string_equal(w->name, "title");
  assert_int_equal(w->value.len, strlen("weapons handed in"));
  assert_memory_equal(w->value.data, "weapons handed in", w->value.len);
  assert_int_equal(w->hlc, 999);
  assert_int_equal(w->base_hlc, 0);

  fs__change_set__free_unpacked(o, NULL);
  tu_sealed_free(&a);
  tu_sealed_free(&b);
  tu_cs_free(cs);
}

static void test_flipped_body_bit(void **state) {
  (void)state;
  Fs__ChangeSet *cs = valid_cs();
  tu_sealed s;
  tu_seal(cs, kp.sk, &s);
  int badsig = 0;
  for (size_t i = 0; i < s.len; i++) {
    for (int bit = 0; bit < 8; bit++) {
      s.body[i] ^= (uint8_t)(1u << bit);
      Fs__ChangeSet *o = NULL;
      uint8_t id[FS_HASH_LEN];
      int rc = fs_changeset_open(s.body, s.len, s.sig, FS_SIG_LEN, &o, id);
      /* A body that no longer parses cannot name its key: E_DECODE. Any
       * body that still parses must fail the signature. */
      Fs__ChangeSet *parsed = fs__change_set__unpack(NULL, s.len, s.body);
      if (parsed) {
        if (rc != FS_EBADSIG)
          fail_msg("byte %zu bit %d: expected E_BADSIG, got %s", i, bit,
                   fs_errname(rc));
        badsig++;
        fs__change_set__free_unpacked(parsed, NULL);
      } else {
        assert_int_equal(rc, FS_EDECODE);
      }
      s.body[i] ^= (uint8_t)(1u << bit);
    }
  }
  assert_true(badsig > (int)s.len); /* most flips still parse */
  tu_sealed_free(&s);
  tu_cs_free(cs);
}

static void test_flipped_signature_bit(void **state) {
  (void)state;
  Fs__ChangeSet *cs = valid_cs();
  tu_sealed s;
  tu_seal(cs, kp.sk, &s);
  for (int i = 0; i < FS_SIG_LEN * 8; i++) {
    s.sig[i / 8] ^= (uint8_t)(1u << (i % 8));
    Fs__ChangeSet *o = NULL;
    uint8_t id[FS_HASH_LEN];
    assert_int_equal(fs_changeset_open(s.body, s.len, s.sig, FS_SIG_LEN, &o, id),
                     FS_EBADSIG);
    s.sig[i / 8] ^= (uint8_t)(1u << (i % 8));
  }
  tu_sealed_free(&s);
  tu_cs_free(cs);
}

static void test_signature_length(void **state) {
  (void)state;
  Fs__ChangeSet *cs = valid_cs();
  tu_sealed s;
  tu_seal(cs, kp.sk, &s);
  uint8_t longer[FS_SIG_LEN + 1];
  memcpy(longer, s.sig, FS_SIG_LEN);
  longer[FS_SIG_LEN] = 0;
  Fs__ChangeSet *o = NULL;
  uint8_t id[FS_HASH_LEN];
  assert_int_equal(fs_changeset_open(s.body, s.len, longer, FS_SIG_LEN + 1, &o, id),
                   FS_EBADSIG);
  assert_int_equal(fs_changeset_open(s.body, s.len, s.sig, FS_SIG_LEN - 1, &o, id),
                   FS_EBADSIG);
  assert_int_equal(fs_changeset_open(s.body, s.len, s.sig, 0, &o, id), FS_EBADSIG);
  assert_null(o);
  tu_sealed_free(&s);
  tu_cs_free(cs);
}

/* A body the node stored after opening it decodes again without its
 * signature (a held set): same tree, same id; the bounds still hold. */
static void test_open_stored(void **state) {
  (void)state;
  Fs__ChangeSet *cs = valid_cs();
  tu_sealed s;
  tu_seal(cs, kp.sk, &s);
  Fs__ChangeSet *a = NULL, *b = NULL;
  uint8_t ida[FS_HASH_LEN], idb[FS_HASH_LEN];
  assert_int_equal(fs_changeset_open(s.body, s.len, s.sig, FS_SIG_LEN, &a, ida), 0);
  s.sig[0] ^= 1; /* no longer verifies: open refuses it, open_stored does not look */
  assert_int_equal(fs_changeset_open(s.body, s.len, s.sig, FS_SIG_LEN, &b, idb), FS_EBADSIG);
  assert_int_equal(fs_changeset_open_stored(s.body, s.len, &b, idb), 0);
  assert_memory_equal(ida, idb, FS_HASH_LEN);
  assert_int_equal(a->seq, b->seq);
  assert_string_equal(a->changes[0]->record_id, b->changes[0]->record_id);
  fs__change_set__free_unpacked(a, NULL);
  fs__change_set__free_unpacked(b, NULL);
  tu_sealed_free(&s);
  /* A bound broken is still refused, and a key that is not one too. */
  cs->seq = 0;
  tu_seal(cs, kp.sk, &s);
  b = NULL;
  assert_int_not_equal(fs_changeset_open_stored(s.body, s.len, &b, idb), 0);
  assert_null(b);
  tu_sealed_free(&s);
  cs->seq = 1;
  cs->device.len = FS_PK_LEN - 1;
  tu_seal(cs, kp.sk, &s);
  assert_int_equal(fs_changeset_open_stored(s.body, s.len, &b, idb), FS_EBADSIG);
  assert_null(b);
  cs->device.len = FS_PK_LEN;
  tu_sealed_free(&s);
  static const uint8_t junk[] = {0xff, 0xff, 0xff};
  assert_int_equal(fs_changeset_open_stored(junk, sizeof junk, &b, idb), FS_EDECODE);
  tu_cs_free(cs);
}

static void test_device_not_a_key(void **state) {
  (void)state;
  Fs__ChangeSet *cs = valid_cs();
  cs->device.len = FS_PK_LEN - 1;
  assert_int_equal(seal_open(cs), FS_EBADSIG);
  cs->device.len = FS_PK_LEN;
  /* Signed by another key than the one named. */
  fs_keypair other;
  assert_int_equal(fs_keypair_generate(&other), 0);
  tu_sealed s;
  tu_seal(cs, other.sk, &s);
  Fs__ChangeSet *o = NULL;
  uint8_t id[FS_HASH_LEN];
  assert_int_equal(fs_changeset_open(s.body, s.len, s.sig, FS_SIG_LEN, &o, id),
                   FS_EBADSIG);
  tu_sealed_free(&s);
  fs_keypair_free(&other);
  tu_cs_free(cs);
}

static void test_valid_is_accepted(void **state) {
  (void)state;
  Fs__ChangeSet *cs = valid_cs();
  assert_int_equal(seal_open(cs), 0);
  tu_cs_free(cs);
}

static void test_seq_zero(void **state) {
  (void)state;
  Fs__ChangeSet *cs = valid_cs();
  cs->seq = 0;
  assert_refused(seal_open(cs));
  tu_cs_free(cs);
}

static void test_hlc_zero(void **state) {
  (void)state;
  Fs__ChangeSet *cs = valid_cs();
  cs->hlc = 0;
  assert_refused(seal_open(cs));
  cs->hlc = 1000;
  cs->changes[0]->writes[0]->hlc = 0;
  assert_refused(seal_open(cs));
  tu_cs_free(cs);
}

static void test_bad_area(void **state) {
  (void)state;
  const char *bad[] = {"", "KT..X", ".KT", "KT.", "K-T", "KT KPL", "KT/KPL"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    Fs__ChangeSet *cs = valid_cs();
    free(cs->area);
    cs->area = strdup(bad[i]);
    assert_refused(seal_open(cs));
    tu_cs_free(cs);
  }
}

static void test_empty_record_id(void **state) {
  (void)state;
  Fs__ChangeSet *cs = valid_cs();
  cs->changes[0]->record_id[0] = '\0';
  assert_refused(seal_open(cs));
  tu_cs_free(cs);
}

static void test_oversize_record_id(void **state) {
  (void)state;
  char id[FS_MAX_ID + 2];
  memset(id, 'x', sizeof id - 1);
  id[sizeof id - 1] = '\0';
  Fs__ChangeSet *cs = tu_cs_new(kp.pk, 1, NULL, 1000, "KT");
  tu_cs_change(cs, id, "incident", false);
  assert_refused(seal_open(cs));
  tu_cs_free(cs);
  id[FS_MAX_ID] = '\0'; /* exactly the bound */
  cs = tu_cs_new(kp.pk, 1, NULL, 1000, "KT");
  tu_cs_change(cs, id, "incident", false);
  assert_int_equal(seal_open(cs), 0);
  tu_cs_free(cs);
}

static void test_oversize_names(void **state) {
  (void)state;
  char name[FS_MAX_NAME + 2];
  memset(name, 'n', sizeof name - 1);
  name[sizeof name - 1] = '\0'; /* FS_MAX_NAME + 1 bytes */
  Fs__ChangeSet *cs = tu_cs_new(kp.pk, 1, NULL, 1000, "KT");
  tu_cs_change(cs, "r", name, false); /* record type */
  assert_refused(seal_open(cs));
  tu_cs_free(cs);
  cs = tu_cs_new(kp.pk, 1, NULL, 1000, "KT");
  Fs__Change *ch = tu_cs_change(cs, "r", "t", false);
  tu_change_write_str(ch, name, "v", 10, 0); /* field name */
  assert_refused(seal_open(cs));
  tu_cs_free(cs);
  name[FS_MAX_NAME] = '\0'; /* exactly the bound */
  cs = tu_cs_new(kp.pk, 1, NULL, 1000, "KT");
  ch = tu_cs_change(cs, "r", name, false);
  tu_change_write_str(ch, name, "v", 10, 0);
  assert_int_equal(seal_open(cs), 0);
  tu_cs_free(cs);
}

static void test_prev_wrong_length(void **state) {
  (void)state;
  Fs__ChangeSet *cs = valid_cs();
  cs->prev.len = FS_HASH_LEN - 1;
  assert_refused(seal_open(cs));
  cs->prev.len = 0;
  assert_refused(seal_open(cs));
  tu_cs_free(cs);
}

static void test_change_count(void **state) {
  (void)state;
  Fs__ChangeSet *cs = tu_cs_new(kp.pk, 1, NULL, 1000, "KT");
  assert_refused(seal_open(cs)); /* no change at all */
  char id[32];
  for (int i = 0; i < FS_MAX_CHANGES; i++) {
    snprintf(id, sizeof id, "r%d", i);
    tu_cs_change(cs, id, "t", false);
  }
  assert_int_equal(seal_open(cs), 0);
  tu_cs_change(cs, "one-too-many", "t", false);
  assert_int_equal(cs->n_changes, FS_MAX_CHANGES + 1);
  assert_refused(seal_open(cs));
  tu_cs_free(cs);
}

static void test_write_count(void **state) {
  (void)state;
  Fs__ChangeSet *cs = tu_cs_new(kp.pk, 1, NULL, 1000, "KT");
  Fs__Change *ch = tu_cs_change(cs, "r", "t", false);
  char name[32];
  for (int i = 0; i <= FS_MAX_WRITES; i++) {
    snprintf(name, sizeof name, "f%d", i);
    tu_change_write_str(ch, name, "v", 10, 0);
  }
  assert_refused(seal_open(cs));
  tu_cs_free(cs);
}

static void test_value_size(void **state) {
  (void)state;
  uint8_t *v = calloc(FS_MAX_VALUE + 1, 1);
  assert_non_null(v);
  Fs__ChangeSet *cs = tu_cs_new(kp.pk, 1, NULL, 1000, "KT");
  Fs__Change *ch = tu_cs_change(cs, "r", "t", false);
  tu_change_write(ch, "photo", v, FS_MAX_VALUE, 10, 0);
  assert_int_equal(seal_open(cs), 0);
  tu_cs_free(cs);
  cs = tu_cs_new(kp.pk, 1, NULL, 1000, "KT");
  ch = tu_cs_change(cs, "r", "t", false);
  tu_change_write(ch, "photo", v, FS_MAX_VALUE + 1, 10, 0);
  assert_refused(seal_open(cs));
  tu_cs_free(cs);
  free(v);
}

static void test_base_hlc_not_before_hlc(void **state) {
  (void)state;
  Fs__ChangeSet *cs = valid_cs();
  Fs__FieldWrite *w = cs->changes[0]->writes[0];
  w->base_hlc = w->hlc;
  assert_refused(seal_open(cs));
  w->base_hlc = w->hlc + 1;
  assert_refused(seal_open(cs));
  w->base_hlc = w->hlc - 1;
  assert_int_equal(seal_open(cs), 0);
  tu_cs_free(cs);
}

static void test_body_too_big(void **state) {
  (void)state;
  uint8_t *v = calloc(FS_MAX_VALUE, 1);
  assert_non_null(v);
  Fs__ChangeSet *cs = tu_cs_new(kp.pk, 1, NULL, 1000, "KT");
  Fs__Change *ch = tu_cs_change(cs, "r", "t", false);
  char name[16];
  for (int i = 0; i < 17; i++) { /* 17 x 64 KiB > 1 MiB */
    snprintf(name, sizeof name, "f%d", i);
    tu_change_write(ch, name, v, FS_MAX_VALUE, 10, 0);
  }
  uint8_t *body = NULL, sig[FS_SIG_LEN], id[FS_HASH_LEN];
  size_t len = 0;
  assert_int_equal(fs_changeset_seal(cs, kp.sk, &body, &len, sig, id), FS_ETOOBIG);
  assert_null(body);
  /* And a receiver refuses such a body before looking inside. */
  uint8_t *big = calloc(FS_BODY_MAX + 1, 1);
  assert_non_null(big);
  Fs__ChangeSet *o = NULL;
  assert_int_equal(fs_changeset_open(big, FS_BODY_MAX + 1, sig, FS_SIG_LEN, &o, id),
                   FS_ETOOBIG);
  free(big);
  free(v);
  tu_cs_free(cs);
}

/* The densest body a laptop makes: 200 changes of 256 writes each with a
 * one-letter name and no value (15 bytes a write on the wire, about ten
 * times that decoded): it still opens within fs_decode_limit, on the heap
 * and in an arena. */
static void test_dense_body_opens(void **state) {
  (void)state;
  const uint64_t hlc = fs_hlc_make(1764000000000, 0);
  Fs__ChangeSet *cs = tu_cs_new(kp.pk, 1, NULL, hlc, "KT");
  char id[16];
  for (int i = 0; i < 200; i++) {
    snprintf(id, sizeof id, "r%d", i);
    Fs__Change *ch = tu_cs_change(cs, id, "t", false);
    ch->hlc = hlc;
    for (int j = 0; j < FS_MAX_WRITES; j++)
      tu_change_write(ch, "a", "", 0, hlc, 0);
  }
  assert_int_equal(seal_open(cs), 0);
  tu_cs_free(cs);
}

/* A signed body that is a valid change set followed by 512 KiB of
 * two-byte unknown fields: refused as undecodable within fs_decode_limit
 * (protobuf-c would have kept every field, some 25 MB), on the heap and in
 * an arena. */
static void test_unknown_fields_refused(void **state) {
  (void)state;
  Fs__ChangeSet *cs = tu_cs_new(kp.pk, 1, NULL, 1000, "KT");
  tu_change_write_str(tu_cs_change(cs, "r", "t", false), "f", "v", 10, 0);
  size_t head = fs__change_set__get_packed_size(cs), n = head + (512u << 10);
  uint8_t *body = malloc(n), sig[FS_SIG_LEN], id[FS_HASH_LEN];
  assert_non_null(body);
  fs__change_set__pack(cs, body);
  for (size_t i = head; i + 1 < n; i += 2) {
    body[i] = 0x78; /* field 15, varint */
    body[i + 1] = 0x01;
  }
  crypto_sign_detached(sig, NULL, body, n, kp.sk);
  Fs__ChangeSet *o = NULL;
  assert_int_equal(fs_changeset_open(body, n, sig, FS_SIG_LEN, &o, id), FS_EDECODE);
  assert_null(o);
  fs_arena a;
  fs_arena_init(&a, fs_changeset_arena_chunk(n));
  assert_int_equal(fs_changeset_open_in(body, n, sig, FS_SIG_LEN, &a, &o, id), FS_EDECODE);
  assert_true(a.held <= fs_decode_limit(n) + fs_changeset_arena_chunk(n));
  fs_arena_free(&a);
  free(body);
  tu_cs_free(cs);
}

static void test_garbage_body(void **state) {
  (void)state;
  const uint8_t junk[] = {0x0a, 0x20, 1, 2, 3}; /* device: 32 bytes announced */
  uint8_t sig[FS_SIG_LEN] = {0}, id[FS_HASH_LEN];
  Fs__ChangeSet *o = NULL;
  assert_int_equal(fs_changeset_open(junk, sizeof junk, sig, FS_SIG_LEN, &o, id),
                   FS_EDECODE);
}

static void test_area_valid(void **state) {
  (void)state;
  assert_true(fs_area_valid("KT"));
  assert_true(fs_area_valid("KT.KPL"));
  assert_true(fs_area_valid("KT.KPL.DAKNEN.T3"));
  assert_true(fs_area_valid("a_b.C9"));
  assert_false(fs_area_valid(""));
  assert_false(fs_area_valid("KT..X"));
  assert_false(fs_area_valid(".KT"));
  assert_false(fs_area_valid("KT."));
  assert_false(fs_area_valid("."));
  assert_false(fs_area_valid("K-T"));
  assert_false(fs_area_valid("KT.K\xc3\x9dL")); /* non-ASCII */
  char a[FS_MAX_AREA + 2];
  memset(a, 'A', sizeof a);
  a[FS_MAX_AREA] = '\0';
  assert_true(fs_area_valid(a));
  a[FS_MAX_AREA] = 'A';
  a[FS_MAX_AREA + 1] = '\0';
  assert_false(fs_area_valid(a));
}

static void test_area_within(void **state) {
  (void)state;
  assert_true(fs_area_within("KT.KPL", "KT"));
  assert_true(fs_area_within("KT.KPL.DAKNEN", "KT"));
  assert_true(fs_area_within("KT.KPL", "KT.KPL"));
  assert_false(fs_area_within("KT.KPLX", "KT.KPL"));
  assert_false(fs_area_within("KT", "KT.KPL"));
  assert_false(fs_area_within("KTX", "KT"));
  assert_false(fs_area_within("HN.KT", "KT"));
  assert_true(fs_area_within("KT", ""));
  assert_true(fs_area_within("HN.BD", ""));
}

/* Opened into an arena, a body reads the same as opened with malloc, and
 * fs_changeset_arena_chunk holds a verification chunk of typical sets (one
 * record of about 600 bytes in a dozen fields) in one chunk. */
static void test_open_in_arena(void **state) {
  (void)state;
  enum { N = 32 };
  tu_sealed s[N];
  size_t bytes = 0;
  for (size_t i = 0; i < N; i++) {
    Fs__ChangeSet *cs = tu_cs_new(kp.pk, i + 1, NULL, 5000, "KT.KPL.DAKNEN");
    Fs__Change *ch = tu_cs_change(cs, "0193a1b2c3d4e5f60718293a4b5c6d7e", "patrol", false);
    for (int f = 0; f < 12; f++) {
      char name[16];
      snprintf(name, sizeof name, "field_%d", f);
      tu_change_write_str(ch, name, "Thôn 3, xã Đăk Nên: tuần tra ban đêm cùng", 4000 + f, 0);
    }
    tu_seal(cs, kp.sk, &s[i]);
    bytes += s[i].len;
    tu_cs_free(cs);
  }
  fs_arena a;
  fs_arena_init(&a, fs_changeset_arena_chunk(bytes));
  for (size_t i = 0; i < N; i++) {
    Fs__ChangeSet *in, *ref = tu_open(&s[i]);
    uint8_t id[FS_HASH_LEN];
    assert_int_equal(fs_changeset_open_in(s[i].body, s[i].len, s[i].sig, FS_SIG_LEN, &a, &in, id), 0);
    assert_memory_equal(id, s[i].id, FS_HASH_LEN);
    size_t n = fs__change_set__get_packed_size(in);
    assert_int_equal(n, s[i].len);
    uint8_t *re = malloc(n);
    assert_non_null(re);
    fs__change_set__pack(in, re);
    assert_memory_equal(re, s[i].body, n);
    assert_string_equal(in->changes[0]->writes[11]->name, ref->changes[0]->writes[11]->name);
    free(re);
    fs__change_set__free_unpacked(ref, NULL);
    tu_sealed_free(&s[i]);
  }
  assert_int_equal(a.nchunks, 1);
  fs_arena_free(&a);
}

/* A Push sent from stored encodings (EnvelopePacked: each set as bytes)
 * is byte for byte the Envelope { push } of the same sets, and decodes as
 * one: what the laptop's outbox and a node's log send without repacking. */
static void test_packed_push_is_a_push(void **state) {
  (void)state;
  enum { N = 3 };
  tu_sealed sealed[N];
  Fs__SignedChangeSet w[N], *wp[N];
  ProtobufCBinaryData stored[N];
  for (int i = 0; i < N; i++) {
    Fs__ChangeSet *cs = tu_cs_new(kp.pk, (uint64_t)i + 1, NULL, 1000 + (uint64_t)i, "KT.KPL");
    Fs__Change *ch = tu_cs_change(cs, "r1", "incident", false);
    tu_change_write_str(ch, "title", i == 1 ? "" : "Mất xe máy", 1000 + (uint64_t)i, 0);
    tu_seal(cs, kp.sk, &sealed[i]);
    tu_cs_free(cs);
    fs__signed_change_set__init(&w[i]);
    w[i].body = (ProtobufCBinaryData){sealed[i].len, sealed[i].body};
    w[i].signature = (ProtobufCBinaryData){FS_SIG_LEN, sealed[i].sig};
    wp[i] = &w[i];
    stored[i].len = fs__signed_change_set__get_packed_size(&w[i]);
    stored[i].data = malloc(stored[i].len);
    assert_non_null(stored[i].data);
    fs__signed_change_set__pack(&w[i], stored[i].data);
  }
  uint8_t cert[] = {1, 2, 3};
  ProtobufCBinaryData certs[1] = {{sizeof cert, cert}};
  Fs__Push push = FS__PUSH__INIT;
  push.n_sets = N;
  push.sets = wp;
  push.log_last = 77;
  push.n_certs = 1;
  push.certs = certs;
  push.cert_last = 5;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_PUSH;
  env.push = &push;
  Fs__PushPacked pp = FS__PUSH_PACKED__INIT;
  pp.n_sets = N;
  pp.sets = stored;
  pp.log_last = 77;
  pp.n_certs = 1;
  pp.certs = certs;
  pp.cert_last = 5;
  Fs__EnvelopePacked penv = FS__ENVELOPE_PACKED__INIT;
  penv.push = &pp;
  size_t a = fs__envelope__get_packed_size(&env), b = fs__envelope_packed__get_packed_size(&penv);
  assert_int_equal(a, b);
  uint8_t *x = malloc(a), *y = malloc(b);
  assert_non_null(x);
  assert_non_null(y);
  fs__envelope__pack(&env, x);
  fs__envelope_packed__pack(&penv, y);
  assert_memory_equal(x, y, a);
  Fs__Envelope *back = fs__envelope__unpack(NULL, b, y);
  assert_non_null(back);
  assert_int_equal(back->msg_case, FS__ENVELOPE__MSG_PUSH);
  assert_int_equal(back->push->n_sets, N);
  for (int i = 0; i < N; i++) {
    assert_int_equal(back->push->sets[i]->body.len, sealed[i].len);
    assert_memory_equal(back->push->sets[i]->body.data, sealed[i].body, sealed[i].len);
    assert_memory_equal(back->push->sets[i]->signature.data, sealed[i].sig, FS_SIG_LEN);
  }
  assert_int_equal(back->push->log_last, 77);
  assert_int_equal(back->push->cert_last, 5);
  fs__envelope__free_unpacked(back, NULL);
  free(x);
  free(y);
  for (int i = 0; i < N; i++) {
    free(stored[i].data);
    tu_sealed_free(&sealed[i]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_flipped_body_bit),
      cmocka_unit_test(test_flipped_signature_bit),
      cmocka_unit_test(test_signature_length),
      cmocka_unit_test(test_device_not_a_key),
      cmocka_unit_test(test_valid_is_accepted),
      cmocka_unit_test(test_seq_zero),
      cmocka_unit_test(test_hlc_zero),
      cmocka_unit_test(test_bad_area),
      cmocka_unit_test(test_empty_record_id),
      cmocka_unit_test(test_oversize_record_id),
      cmocka_unit_test(test_oversize_names),
      cmocka_unit_test(test_prev_wrong_length),
      cmocka_unit_test(test_change_count),
      cmocka_unit_test(test_write_count),
      cmocka_unit_test(test_value_size),
      cmocka_unit_test(test_base_hlc_not_before_hlc),
      cmocka_unit_test(test_dense_body_opens),
      cmocka_unit_test(test_unknown_fields_refused),
      cmocka_unit_test(test_body_too_big),
      cmocka_unit_test(test_garbage_body),
      cmocka_unit_test(test_area_valid),
      cmocka_unit_test(test_area_within),
      cmocka_unit_test(test_open_in_arena),
      cmocka_unit_test(test_open_stored),
      cmocka_unit_test(test_packed_push_is_a_push),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
