/* test_merge.c - the record join: last writer wins by (hlc, device), the
 * join laws, tombstones and revival, canonical encoding, strict decoding and
 * the conflict callback. */
#include "decode_limit.h"
#include "error.h"
#include "merge.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define AREA "KT.KPL"
#define RID "tip-7"

/* Applies one change by device dev (key = 32 bytes of dev) at change-set
 * clock hlc; name may be NULL for a change without a write. */
static int apply1(fs_record *r, uint8_t dev, uint64_t hlc, bool del, const char *name,
                  const char *value, uint64_t base, fs_conflict_fn fn, void *arg) {
  uint8_t key[FS_PK_LEN];
  memset(key, dev, sizeof key);
  Fs__ChangeSet *cs = tu_cs_new(key, 1, NULL, hlc, AREA);
  Fs__Change *ch = tu_cs_change(cs, RID, "tip", del);
  if (name)
    tu_change_write_str(ch, name, value, hlc, base);
  int rc = fs_record_apply(r, cs, ch, fn, arg);
  tu_cs_free(cs);
  return rc;
}

static void fresh(fs_record *r) { assert_int_equal(fs_record_init(r, AREA, RID), 0); }

static void assert_value(const fs_record *r, const char *name, const char *value) {
  const fs_field *f = fs_record_field(r, name);
  assert_non_null(f);
  assert_int_equal(f->value_len, strlen(value));
  assert_memory_equal(f->value, value, f->value_len);
}

/* Encoded bytes of r, for comparing states. */
typedef struct enc {
  uint8_t *p;
  size_t n;
} enc;

static enc encode(const fs_record *r) {
  enc e;
  assert_int_equal(fs_record_encode(r, &e.p, &e.n), 0);
  return e;
}

static void assert_same_state(const fs_record *a, const fs_record *b) {
  enc x = encode(a), y = encode(b);
  assert_int_equal(x.n, y.n);
  assert_memory_equal(x.p, y.p, x.n);
  free(x.p);
  free(y.p);
}

static void test_last_writer_wins(void **state) {
  (void)state;
  fs_record r;
  fresh(&r);
  assert_int_equal(apply1(&r, 1, 10, false, "status", "open", 0, NULL, NULL), 1);
  assert_int_equal(apply1(&r, 2, 20, false, "status", "closed", 10, NULL, NULL), 1);
  assert_value(&r, "status", "closed");
  /* An older write arriving late changes nothing. */
  assert_int_equal(apply1(&r, 3, 15, false, "status", "late", 0, NULL, NULL), 0);
  assert_value(&r, "status", "closed");
  assert_int_equal(fs_record_field(&r, "status")->clock.hlc, 20);
  assert_string_equal(r.type, "tip");
  assert_int_equal(fs_record_max_hlc(&r), 20);
  assert_null(fs_record_field(&r, "missing"));

  fs_record s; /* the other arrival order */
  fresh(&s);
  apply1(&s, 3, 15, false, "status", "late", 0, NULL, NULL);
  apply1(&s, 2, 20, false, "status", "closed", 10, NULL, NULL);
  apply1(&s, 1, 10, false, "status", "open", 0, NULL, NULL);
  assert_same_state(&r, &s);
  fs_record_free(&r);
  fs_record_free(&s);
}

static void test_tie_broken_by_device(void **state) {
  (void)state;
  fs_clock a = {.hlc = 10}, b = {.hlc = 10};
  memset(a.device, 1, FS_PK_LEN);
  memset(b.device, 2, FS_PK_LEN);
  assert_true(fs_clock_cmp(&a, &b) < 0);
  assert_true(fs_clock_cmp(&b, &a) > 0);
  assert_int_equal(fs_clock_cmp(&a, &a), 0);
  a.hlc = 11;
  assert_true(fs_clock_cmp(&a, &b) > 0); /* hlc first */

  for (int order = 0; order < 2; order++) {
    fs_record r;
    fresh(&r);
    apply1(&r, order ? 0x02 : 0x01, 10, false, "rating", order ? "good" : "weak", 0,
           NULL, NULL);
    apply1(&r, order ? 0x01 : 0x02, 10, false, "rating", order ? "weak" : "good", 0,
           NULL, NULL);
    assert_value(&r, "rating", "good"); /* device 0x02.. is the greater key */
    fs_record_free(&r);
  }
}

/* Three overlapping states built from applies. */
static void three(fs_record x[3]) {
  for (int i = 0; i < 3; i++)
    fresh(&x[i]);
  apply1(&x[0], 1, 10, false, "a", "a1", 0, NULL, NULL);
  apply1(&x[0], 1, 12, false, "b", "b1", 0, NULL, NULL);
  apply1(&x[1], 2, 11, false, "a", "a2", 0, NULL, NULL);
  apply1(&x[1], 2, 14, true, NULL, NULL, 0, NULL, NULL);
  apply1(&x[2], 3, 16, false, "c", "c3", 0, NULL, NULL);
  apply1(&x[2], 3, 11, false, "a", "a3", 0, NULL, NULL);
}

static void free3(fs_record x[3]) {
  for (int i = 0; i < 3; i++)
    fs_record_free(&x[i]);
}

static void test_join_laws(void **state) {
  (void)state;
  fs_record x[3], ab, ba, l, rr, bc;
  three(x);
  /* Idempotent. */
  enc before = encode(&x[0]);
  assert_int_equal(fs_record_join(&x[0], &x[0], NULL, NULL), 0);
  enc after = encode(&x[0]);
  assert_int_equal(before.n, after.n);
  assert_memory_equal(before.p, after.p, before.n);
  free(before.p);
  free(after.p);
  /* Commutative. */
  fresh(&ab);
  fresh(&ba);
  assert_int_equal(fs_record_join(&ab, &x[0], NULL, NULL), 1);
  assert_int_equal(fs_record_join(&ab, &x[1], NULL, NULL), 1);
  fs_record_join(&ba, &x[1], NULL, NULL);
  fs_record_join(&ba, &x[0], NULL, NULL);
  assert_same_state(&ab, &ba);
  assert_int_equal(fs_record_join(&ab, &x[0], NULL, NULL), 0); /* absorbed */
  /* Associative: (x0 v x1) v x2 == x0 v (x1 v x2). */
  fresh(&l);
  fs_record_join(&l, &ab, NULL, NULL);
  fs_record_join(&l, &x[2], NULL, NULL);
  fresh(&bc);
  fs_record_join(&bc, &x[1], NULL, NULL);
  fs_record_join(&bc, &x[2], NULL, NULL);
  fresh(&rr);
  fs_record_join(&rr, &x[0], NULL, NULL);
  fs_record_join(&rr, &bc, NULL, NULL);
  assert_same_state(&l, &rr);
  /* The outcome a user sees: newest a (hlc 11, device 3 > device 2). */
  assert_value(&l, "a", "a3");
  assert_value(&l, "c", "c3");
  fs_record_free(&ab);
  fs_record_free(&ba);
  fs_record_free(&l);
  fs_record_free(&rr);
  fs_record_free(&bc);
  free3(x);
}

static void test_delete_hides(void **state) {
  (void)state;
  fs_record r;
  fresh(&r);
  apply1(&r, 1, 10, false, "name", "Nguyen Van A", 0, NULL, NULL);
  assert_true(fs_record_visible(&r));
  apply1(&r, 2, 20, true, NULL, NULL, 0, NULL, NULL);
  assert_false(fs_record_visible(&r));
  assert_int_equal(r.del_clock.hlc, 20);
  /* A write made before the delete but arriving after it stays hidden. */
  apply1(&r, 3, 15, false, "phone", "0905", 0, NULL, NULL);
  assert_false(fs_record_visible(&r));
  assert_false(fs_field_visible(&r, fs_record_field(&r, "name")));
  assert_false(fs_field_visible(&r, fs_record_field(&r, "phone")));
  fs_record_free(&r);
}

static void test_later_write_revives(void **state) {
  (void)state;
  fs_record r, s;
  fresh(&r);
  apply1(&r, 1, 10, false, "name", "old name", 0, NULL, NULL);
  apply1(&r, 1, 11, false, "note", "old note", 0, NULL, NULL);
  apply1(&r, 2, 20, true, NULL, NULL, 0, NULL, NULL);
  apply1(&r, 1, 30, false, "note", "new note", 20, NULL, NULL);
  assert_true(fs_record_visible(&r));
  assert_false(fs_field_visible(&r, fs_record_field(&r, "name")));
  const fs_field *note = fs_record_field(&r, "note");
  assert_true(fs_field_visible(&r, note));
  assert_value(&r, "note", "new note");
  /* Same writes, revival first: same state. */
  fresh(&s);
  apply1(&s, 1, 30, false, "note", "new note", 20, NULL, NULL);
  apply1(&s, 2, 20, true, NULL, NULL, 0, NULL, NULL);
  apply1(&s, 1, 11, false, "note", "old note", 0, NULL, NULL);
  apply1(&s, 1, 10, false, "name", "old name", 0, NULL, NULL);
  assert_true(fs_record_visible(&s));
  assert_same_state(&r, &s);
  /* Deleted again later: hidden again. */
  apply1(&r, 2, 40, true, NULL, NULL, 0, NULL, NULL);
  assert_false(fs_record_visible(&r));
  fs_record_free(&r);
  fs_record_free(&s);
}

/* A laptop seals the edits made since its last sync into one set: each
 * change keeps its own clock, so the set merges exactly as the edits would
 * have, one set each (a delete at 20 sealed with a later edit at 30 is a
 * tombstone at 20, not at the set's 30). */
static void test_batched_edits_keep_their_clocks(void **state) {
  (void)state;
  uint8_t a[FS_PK_LEN], b[FS_PK_LEN];
  memset(a, 1, sizeof a);
  memset(b, 2, sizeof b);
  fs_record sealed, single;
  fresh(&sealed);
  fresh(&single);
  /* Device b writes at 25, between a's delete (20) and a's edit (30). */
  Fs__ChangeSet *other = tu_cs_new(b, 1, NULL, 25, AREA);
  tu_change_write_str(tu_cs_change(other, RID, "tip", false), "status", "verifying", 25, 0);
  /* a: one set of three changes at 10, 20 (delete), 30. */
  Fs__ChangeSet *cs = tu_cs_new(a, 1, NULL, 30, AREA);
  Fs__Change *c1 = tu_cs_change(cs, RID, "tip", false);
  c1->hlc = 10;
  tu_change_write_str(c1, "content", "old", 10, 0);
  Fs__Change *c2 = tu_cs_change(cs, RID, "tip", true);
  c2->hlc = 20;
  Fs__Change *c3 = tu_cs_change(cs, "tip-8", "tip", false);
  c3->hlc = 30;
  tu_change_write_str(c3, "content", "other record", 30, 0);
  for (size_t i = 0; i < cs->n_changes; i++)
    if (strcmp(cs->changes[i]->record_id, RID) == 0)
      assert_true(fs_record_apply(&sealed, cs, cs->changes[i], NULL, NULL) >= 0);
  assert_true(fs_record_apply(&sealed, other, other->changes[0], NULL, NULL) >= 0);
  assert_int_equal(sealed.del_clock.hlc, 20);
  assert_true(fs_record_visible(&sealed)); /* b's write at 25 beats the delete at 20 */
  /* The same edits as sets of one change each (clock = the set's). */
  apply1(&single, 1, 10, false, "content", "old", 0, NULL, NULL);
  apply1(&single, 1, 20, true, NULL, NULL, 0, NULL, NULL);
  assert_true(fs_record_apply(&single, other, other->changes[0], NULL, NULL) >= 0);
  assert_same_state(&sealed, &single);
  tu_cs_free(cs);
  tu_cs_free(other);
  fs_record_free(&sealed);
  fs_record_free(&single);
}

static void test_encode_decode_round_trip(void **state) {
  (void)state;
  fs_record r, d;
  fresh(&r);
  apply1(&r, 1, 10, false, "zeta", "last", 0, NULL, NULL);
  apply1(&r, 2, 11, false, "alpha", "", 0, NULL, NULL); /* empty value */
  apply1(&r, 3, 12, false, "mid", "m", 11, NULL, NULL);
  apply1(&r, 4, 9, true, NULL, NULL, 0, NULL, NULL);
  enc e = encode(&r);
  assert_int_equal(fs_record_decode(&d, e.p, e.n), 0);
  assert_string_equal(d.area, AREA);
  assert_string_equal(d.id, RID);
  assert_string_equal(d.type, "tip");
  assert_int_equal(d.nfields, 3);
  assert_string_equal(d.fields[0].name, "alpha");
  assert_string_equal(d.fields[1].name, "mid");
  assert_string_equal(d.fields[2].name, "zeta");
  assert_int_equal(d.fields[0].value_len, 0);
  assert_int_equal(d.fields[1].base_hlc, 11);
  assert_int_equal(fs_clock_cmp(&d.del_clock, &r.del_clock), 0);
  assert_int_equal(fs_clock_cmp(&d.type_clock, &r.type_clock), 0);
  assert_same_state(&r, &d);
  fs_record_free(&d);
  free(e.p);
  /* A fresh record (no type, never deleted) round-trips too. */
  fs_record empty;
  fresh(&empty);
  e = encode(&empty);
  assert_int_equal(fs_record_decode(&d, e.p, e.n), 0);
  assert_null(d.type);
  assert_int_equal(d.nfields, 0);
  fs_record_free(&d);
  fs_record_free(&empty);
  free(e.p);
  fs_record_free(&r);
}

/* A RecordState with two fields named n0, n1 and device keys of klen. */
static int decode_state(const char *n0, const char *n1, size_t klen,
                        size_t type_klen, size_t del_klen) {
  uint8_t key[FS_PK_LEN + 1];
  memset(key, 7, sizeof key);
  Fs__FieldState f0 = FS__FIELD_STATE__INIT, f1 = FS__FIELD_STATE__INIT;
  f0.name = (char *)n0;
  f0.hlc = 5;
  f0.device = (ProtobufCBinaryData){klen, key};
  f1.name = (char *)n1;
  f1.hlc = 6;
  f1.device = (ProtobufCBinaryData){FS_PK_LEN, key};
  Fs__FieldState *fp[] = {&f0, &f1};
  Fs__RecordState st = FS__RECORD_STATE__INIT;
  st.area = AREA;
  st.id = RID;
  st.type = "tip";
  st.type_hlc = 4;
  st.type_device = (ProtobufCBinaryData){type_klen, key};
  st.del_hlc = 3;
  st.del_device = (ProtobufCBinaryData){del_klen, key};
  st.n_fields = 2;
  st.fields = fp;
  size_t n = fs__record_state__get_packed_size(&st);
  uint8_t *buf = malloc(n);
  assert_non_null(buf);
  fs__record_state__pack(&st, buf);
  fs_record r;
  int rc = fs_record_decode(&r, buf, n);
  if (rc == 0)
    fs_record_free(&r);
  fs_arena a; /* the view is exactly as strict */
  fs_arena_init(&a, 0);
  assert_int_equal(fs_record_view(&r, buf, n, &a), rc);
  fs_arena_free(&a);
  free(buf);
  return rc;
}

static void test_decode_is_strict(void **state) {
  (void)state;
  assert_int_equal(decode_state("a", "b", 32, 32, 32), 0);
  assert_int_equal(decode_state("b", "a", 32, 32, 32), FS_EDECODE); /* unsorted */
  assert_int_equal(decode_state("a", "a", 32, 32, 32), FS_EDECODE); /* duplicate */
  assert_int_equal(decode_state("a", "b", 31, 32, 32), FS_EDECODE);
  assert_int_equal(decode_state("a", "b", 33, 32, 32), FS_EDECODE);
  assert_int_equal(decode_state("a", "b", 32, 0, 32), FS_EDECODE);
  assert_int_equal(decode_state("a", "b", 32, 32, 16), FS_EDECODE);
  assert_int_equal(decode_state("", "b", 32, 32, 32), FS_EDECODE); /* empty name */
  const uint8_t junk[] = {0x0a, 0x40, 'K'};
  fs_record r;
  assert_int_equal(fs_record_decode(&r, junk, sizeof junk), FS_EDECODE);
}

/* A view reads the state in its arena: the encoded bytes may go, the arena
 * may be reset for the next record, and nothing needs freeing but it. */
static void test_view_reads_in_place(void **state) {
  (void)state;
  fs_record r, v;
  fresh(&r);
  apply1(&r, 1, 10, false, "zeta", "last", 0, NULL, NULL);
  apply1(&r, 2, 11, false, "alpha", "", 0, NULL, NULL);
  fs_arena a;
  fs_arena_init(&a, 0);
  for (int round = 0; round < 3; round++) {
    fs_arena_reset(&a);
    enc e = encode(&r);
    assert_int_equal(fs_record_view(&v, e.p, e.n, &a), 0);
    memset(e.p, 0, e.n); /* ASan would also see a read of freed bytes */
    free(e.p);
    assert_string_equal(v.area, AREA);
    assert_string_equal(v.id, RID);
    assert_string_equal(v.type, "tip");
    assert_same_state(&r, &v);
    assert_true(fs_record_visible(&v));
    assert_memory_equal(fs_record_field(&v, "zeta")->value, "last", 4);
  }
  assert_int_equal(a.nchunks, 1); /* one chunk, reused for every record */
  fs_arena_free(&a);
  fs_record_free(&r);
}

/* A state padded with unknown fields decodes to some fifty times its
 * size: both decoders refuse it (decode_limit.h) instead of allocating it. */
static void test_decode_is_bounded(void **state) {
  (void)state;
  fs_record r, d;
  fresh(&r);
  apply1(&r, 1, 10, false, "zeta", "last", 0, NULL, NULL);
  enc e = encode(&r);
  size_t pad = 64u << 10, n = e.n + pad;
  uint8_t *buf = malloc(n);
  assert_non_null(buf);
  memcpy(buf, e.p, e.n);
  for (size_t i = e.n; i + 1 < n; i += 2) { /* field 15, varint 0 */
    buf[i] = 0x78;
    buf[i + 1] = 0x00;
  }
  assert_int_equal(fs_record_decode(&d, e.p, e.n), 0); /* the state alone is fine */
  fs_record_free(&d);
  assert_int_equal(fs_record_decode(&d, buf, n), FS_EDECODE);
  fs_arena a;
  fs_arena_init(&a, 0);
  assert_int_equal(fs_record_view(&d, buf, n, &a), FS_EDECODE);
  assert_true(a.held <= fs_decode_limit(n) + 2 * FS_ARENA_CHUNK);
  fs_arena_free(&a);
  free(buf);
  free(e.p);
  fs_record_free(&r);
}

/* Conflict callback: counts calls and remembers the last pair. */
typedef struct seen {
  int calls;
  uint64_t winner_hlc, loser_hlc;
  char value[32];
} seen;

static void on_conflict(void *arg, const fs_record *r, const fs_field *w,
                        const fs_field *l) {
  seen *s = arg;
  assert_string_equal(r->id, RID);
  assert_string_equal(w->name, l->name);
  s->calls++;
  s->winner_hlc = w->clock.hlc;
  s->loser_hlc = l->clock.hlc;
  snprintf(s->value, sizeof s->value, "%.*s", (int)l->value_len, (const char *)l->value);
}

static void test_conflict_callback(void **state) {
  (void)state;
  fs_record r;
  seen s = {0};
  /* The winner never saw the value it overwrites. */
  fresh(&r);
  apply1(&r, 1, 10, false, "status", "A", 0, on_conflict, &s);
  assert_int_equal(s.calls, 0);
  apply1(&r, 2, 20, false, "status", "B", 5, on_conflict, &s);
  assert_int_equal(s.calls, 1);
  assert_int_equal(s.winner_hlc, 20);
  assert_int_equal(s.loser_hlc, 10);
  assert_string_equal(s.value, "A");
  fs_record_free(&r);

  /* Same pair arriving the other way round: still a conflict. */
  memset(&s, 0, sizeof s);
  fresh(&r);
  apply1(&r, 2, 20, false, "status", "B", 5, on_conflict, &s);
  apply1(&r, 1, 10, false, "status", "A", 0, on_conflict, &s);
  assert_int_equal(s.calls, 1);
  assert_int_equal(s.winner_hlc, 20);
  assert_string_equal(s.value, "A");
  assert_value(&r, "status", "B");
  fs_record_free(&r);

  /* The winner had seen the loser (base_hlc == loser's hlc): no conflict. */
  memset(&s, 0, sizeof s);
  fresh(&r);
  apply1(&r, 1, 10, false, "status", "A", 0, on_conflict, &s);
  apply1(&r, 2, 20, false, "status", "B", 10, on_conflict, &s);
  apply1(&r, 2, 30, false, "status", "C", 25, on_conflict, &s);
  assert_int_equal(s.calls, 0);
  assert_value(&r, "status", "C");
  /* A redelivery is no conflict either. */
  apply1(&r, 2, 30, false, "status", "C", 25, on_conflict, &s);
  assert_int_equal(s.calls, 0);
  fs_record_free(&r);
}

/* Two writes at one clock (a forked or buggy device), same value, different
 * base_hlc: merge.h promises any delivery order gives the same bytes. */
static bool same_state(const fs_record *a, const fs_record *b) {
  enc x = encode(a), y = encode(b);
  bool same = x.n == y.n && memcmp(x.p, y.p, x.n) == 0;
  free(x.p);
  free(y.p);
  return same;
}

static void test_same_clock_writes_converge(void **state) {
  (void)state;
  fs_record r, s;
  fresh(&r);
  fresh(&s);
  apply1(&r, 1, 10, false, "status", "X", 3, NULL, NULL);
  apply1(&r, 1, 10, false, "status", "X", 7, NULL, NULL);
  apply1(&s, 1, 10, false, "status", "X", 7, NULL, NULL);
  apply1(&s, 1, 10, false, "status", "X", 3, NULL, NULL);
  bool same_base = same_state(&r, &s);
  uint64_t rb = fs_record_field(&r, "status")->base_hlc;
  uint64_t sb = fs_record_field(&s, "status")->base_hlc;
  fs_record_free(&r);
  fs_record_free(&s);
  /* Different values at one clock: the value bytes decide. */
  fresh(&r);
  fresh(&s);
  apply1(&r, 1, 10, false, "status", "X", 0, NULL, NULL);
  apply1(&r, 1, 10, false, "status", "Y", 0, NULL, NULL);
  apply1(&s, 1, 10, false, "status", "Y", 0, NULL, NULL);
  apply1(&s, 1, 10, false, "status", "X", 0, NULL, NULL);
  bool same_value = same_state(&r, &s);
  fs_record_free(&r);
  fs_record_free(&s);
  assert_true(same_value);
  if (!same_base)
    fail_msg("same clock and value, base_hlc 3 and 7: state keeps base_hlc %llu or "
             "%llu depending on arrival order",
             (unsigned long long)rb, (unsigned long long)sb);
}

/* The sole writer is the device behind every register the record holds:
 * what a pull may leave out for that device. */
static void test_sole_writer(void **state) {
  (void)state;
  uint8_t who[FS_PK_LEN], one[FS_PK_LEN], two[FS_PK_LEN];
  memset(one, 1, sizeof one);
  memset(two, 2, sizeof two);
  fs_record r;
  fresh(&r);
  assert_false(fs_record_sole_writer(&r, who)); /* nothing written */
  assert_int_equal(apply1(&r, 1, 10, false, "a", "x", 0, NULL, NULL), 1);
  assert_int_equal(apply1(&r, 1, 11, false, "b", "y", 0, NULL, NULL), 1);
  assert_true(fs_record_sole_writer(&r, who));
  assert_memory_equal(who, one, FS_PK_LEN);
  assert_int_equal(apply1(&r, 2, 12, false, "c", "z", 0, NULL, NULL), 1);
  assert_false(fs_record_sole_writer(&r, who)); /* b and a stay device 1's */
  fs_record_free(&r);

  /* Writes that lost to newer ones no longer count. */
  fresh(&r);
  assert_int_equal(apply1(&r, 1, 10, false, "a", "x", 0, NULL, NULL), 1);
  assert_int_equal(apply1(&r, 2, 20, false, "a", "w", 10, NULL, NULL), 1);
  assert_true(fs_record_sole_writer(&r, who));
  assert_memory_equal(who, two, FS_PK_LEN);
  fs_record_free(&r);

  /* A delete is a write too. */
  fresh(&r);
  assert_int_equal(apply1(&r, 1, 10, false, "a", "x", 0, NULL, NULL), 1);
  assert_int_equal(apply1(&r, 2, 20, true, NULL, NULL, 0, NULL, NULL), 1);
  assert_false(fs_record_sole_writer(&r, who));
  fs_record_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_last_writer_wins),
      cmocka_unit_test(test_tie_broken_by_device),
      cmocka_unit_test(test_join_laws),
      cmocka_unit_test(test_delete_hides),
      cmocka_unit_test(test_later_write_revives),
      cmocka_unit_test(test_batched_edits_keep_their_clocks),
      cmocka_unit_test(test_encode_decode_round_trip),
      cmocka_unit_test(test_decode_is_strict),
      cmocka_unit_test(test_view_reads_in_place),
      cmocka_unit_test(test_decode_is_bounded),
      cmocka_unit_test(test_conflict_callback),
      cmocka_unit_test(test_same_clock_writes_converge),
      cmocka_unit_test(test_sole_writer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
