/* test_schema.c - the record types and their checks (common/schema.h):
 * for every type a valid record passes and each required field missing,
 * each enumeration given a wrong value, each text given invalid UTF-8 or
 * an oversize value is refused with a message naming the field; the value
 * formats; item lines; edits versus creation; the edge's two checks on
 * change sets (unknown types and fields, new records against the store);
 * sealed values never appear in a message; the tables are consistent. */
#include "changeset.h"
#include "error.h"
#include "schema.h"
#include "store.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* A valid record of every type, as NAME=VALUE (Vietnamese text on purpose). */
static const char *const valid_records[][16] = {
    {"incident", "category=theft", "occurred_at=2026-11-20T21:15",
     "place=Thôn 3, xã Đăk Nên", "description=Mất trộm xe máy\nHonda Wave", "status=handling",
     "officer=Nguyễn Văn An", NULL},
    {"tip", "received_at=2026-11-23T08:30:00+07:00", "channel=phone",
     "content=Phản ánh có đối tượng lạ tụ tập đánh bạc", "status=verifying",
     "incident=4306ab12", "informant_name=Y Hoa", "informant_phone=0905123456",
     "informant_address=làng Kon Klor", NULL},
    {"surrender", "date=2026-11-18", "handed_in_by=Bà Y Hoa", "received_by=Công an xã Đăk Nên",
     "kind=gun", "quantity=1", "unit=piece", "mode=handed_in", "description=Súng kíp tự chế",
     "kind_2=explosive", "quantity_2=2.5", "unit_2=kg", "mode_2=seized", NULL},
    {"mediation", "parties=Hộ ông Hùng và hộ bà Lan", "subject=land", "date=2026-11-15",
     "outcome=reconciled", NULL},
    {"patrol", "start=2026-11-24T20:00", "end=2026-11-25T01:30", "route=Thôn 1 - Thôn 5",
     "members=Tổ an ninh xung kích", "notes=Không phát hiện vụ việc", NULL},
    {"model", "name=Tổ tự quản an ninh trật tự thôn 3", "kind=self_management",
     "founded=2019-05-01", "leader=A Phiên", "members=12", NULL},
    {"model_review", "model=model_dak_nen_1", "period=2026-H1", "rating=weak",
     "decision=dissolve", "notes=Hoạt động cầm chừng", NULL},
    {"safety_cert", "unit_kind=school", "unit_name=Trường Tiểu học Đăk Nên", "year=2026",
     "met=true", NULL},
    {"commendation", "recipient=Tổ an ninh xung kích thôn 3", "recipient_kind=collective",
     "reason=Vận động người dân giao nộp 5 khẩu súng tự chế", "level=district",
     "date=2026-12-01", NULL},
};
#define NVALID (sizeof valid_records / sizeof valid_records[0])

typedef struct rec {
  fs_schema_write w[32];
  size_t n;
} rec;

/* Fills r from the NAME=VALUE list; values point into the list. */
static void rec_from(rec *r, const char *const *kv) {
  r->n = 0;
  for (size_t i = 0; kv[i]; i++) {
    const char *eq = strchr(kv[i], '=');
    assert_non_null(eq);
    static char names[32][64];
    snprintf(names[r->n], sizeof names[r->n], "%.*s", (int)(eq - kv[i]), kv[i]);
    r->w[r->n] = (fs_schema_write){names[r->n], (const uint8_t *)eq + 1, strlen(eq + 1)};
    r->n++;
  }
}

static void rec_drop(rec *r, size_t i) {
  memmove(&r->w[i], &r->w[i + 1], (r->n - i - 1) * sizeof r->w[0]);
  r->n--;
}

static long rec_find(const rec *r, const char *name) {
  for (size_t i = 0; i < r->n; i++)
    if (strcmp(r->w[i].name, name) == 0)
      return (long)i;
  return -1;
}

static int check_new(const char *type, const rec *r, char *why) {
  const fs_type_def *t = fs_schema_type(type);
  assert_non_null(t);
  why[0] = '\0';
  return fs_schema_check(t, r->w, r->n, NULL, true, why, FS_SCHEMA_WHY);
}

static void expect_refused(const char *type, const rec *r, const char *field, const char *rule) {
  char why[FS_SCHEMA_WHY];
  int rc = check_new(type, r, why);
  if (rc != FS_EINVAL)
    fail_msg("%s: expected a refusal naming %s, got %d", type, field, rc);
  if (!strstr(why, field) || (rule && !strstr(why, rule)))
    fail_msg("%s: message '%s' does not name field %s and rule '%s'", type, why, field,
             rule ? rule : "");
}

static void test_every_type_has_a_valid_example(void **state) {
  (void)state;
  assert_int_equal(fs_schema_ntypes(), NVALID);
  for (size_t i = 0; i < NVALID; i++) {
    rec r;
    char why[FS_SCHEMA_WHY];
    rec_from(&r, valid_records[i] + 1);
    if (check_new(valid_records[i][0], &r, why) != 0)
      fail_msg("valid %s refused: %s", valid_records[i][0], why);
    assert_string_equal(fs_schema_type_at(i)->name, valid_records[i][0]);
  }
  assert_null(fs_schema_type("weapon_handover"));
  assert_null(fs_schema_type_at(NVALID));
}

static void test_each_required_field_missing(void **state) {
  (void)state;
  size_t checked = 0;
  for (size_t i = 0; i < NVALID; i++) {
    const fs_type_def *t = fs_schema_type(valid_records[i][0]);
    for (size_t f = 0; f < t->nfields; f++) {
      if (!(t->fields[f].flags & FS_FIELD_REQUIRED))
        continue;
      rec r;
      rec_from(&r, valid_records[i] + 1);
      long at = rec_find(&r, t->fields[f].name);
      assert_true(at >= 0); /* the valid example has every required field */
      rec_drop(&r, (size_t)at);
      expect_refused(t->name, &r, t->fields[f].name, "required");
      /* Present but empty or blank is missing too. */
      rec_from(&r, valid_records[i] + 1);
      r.w[at].len = 0;
      expect_refused(t->name, &r, t->fields[f].name, "required");
      checked++;
    }
  }
  assert_int_equal(checked, 37); /* every required field of every type */
}

static void test_each_enum_wrong_value(void **state) {
  (void)state;
  size_t checked = 0;
  for (size_t i = 0; i < NVALID; i++) {
    const fs_type_def *t = fs_schema_type(valid_records[i][0]);
    for (size_t f = 0; f < t->nfields; f++) {
      if (t->fields[f].type != FS_FT_ENUM)
        continue;
      rec r;
      rec_from(&r, valid_records[i] + 1);
      long at = rec_find(&r, t->fields[f].name);
      if (at < 0) { /* optional and absent in the example: add it */
        at = (long)r.n++;
        r.w[at].name = t->fields[f].name;
      }
      static const char *wrong[] = {"nope", "Theft", "theft ", "phone\n"};
      for (size_t k = 0; k < 4; k++) {
        r.w[at].value = (const uint8_t *)wrong[k];
        r.w[at].len = strlen(wrong[k]);
        expect_refused(t->name, &r, t->fields[f].name, "is not one of");
      }
      checked++;
    }
  }
  assert_int_equal(checked, 15); /* every enumeration of every type */
}

/* fs_utf8_valid skips ASCII eight bytes at a time: a bad byte or a
 * truncated sequence is found at every offset and alignment of a run. */
static void test_utf8_after_ascii_runs(void **state) {
  (void)state;
  uint8_t buf[40];
  for (size_t at = 0; at < 32; at++) {
    memset(buf, 'a', sizeof buf);
    assert_true(fs_utf8_valid(buf, sizeof buf));
    memcpy(buf + at, "\xc4\x90", 2); /* Đ */
    assert_true(fs_utf8_valid(buf, sizeof buf));
    buf[at + 1] = 'a'; /* a lead byte without its continuation */
    assert_false(fs_utf8_valid(buf, sizeof buf));
    buf[at] = 0xff;
    assert_false(fs_utf8_valid(buf, sizeof buf));
    buf[at] = 0xc4;
    assert_false(fs_utf8_valid(buf, at + 1)); /* cut at the end */
    assert_true(fs_utf8_valid(buf, at));
  }
}

static void test_each_text_utf8_and_length(void **state) {
  (void)state;
  static const uint8_t bad[][4] = {{0xff}, {0xc3, 0x28}, {0xed, 0xa0, 0x80}, {0xe1, 0xba}};
  static const size_t badlen[] = {1, 2, 3, 2};
  size_t checked = 0;
  for (size_t i = 0; i < NVALID; i++) {
    const fs_type_def *t = fs_schema_type(valid_records[i][0]);
    for (size_t f = 0; f < t->nfields; f++) {
      const fs_field_def *d = &t->fields[f];
      if (d->type != FS_FT_TEXT)
        continue;
      rec r;
      rec_from(&r, valid_records[i] + 1);
      long at = rec_find(&r, d->name);
      if (at < 0) {
        at = (long)r.n++;
        r.w[at].name = d->name;
      }
      for (size_t k = 0; k < 4; k++) {
        r.w[at].value = bad[k];
        r.w[at].len = badlen[k];
        expect_refused(t->name, &r, d->name, "UTF-8");
      }
      /* max_chars Vietnamese letters (2 bytes each) pass, one more does not. */
      size_t n = d->max_chars + 1;
      uint8_t *big = malloc(2 * n);
      assert_non_null(big);
      for (size_t k = 0; k < n; k++)
        memcpy(big + 2 * k, "\xc4\x90", 2); /* Đ */
      r.w[at].value = big;
      r.w[at].len = 2 * (n - 1);
      char why[FS_SCHEMA_WHY];
      if (check_new(t->name, &r, why) != 0)
        fail_msg("%s.%s: %u characters refused: %s", t->name, d->name, d->max_chars, why);
      r.w[at].len = 2 * n;
      expect_refused(t->name, &r, d->name, "at most");
      /* A control character; a newline only where text is multi-line. */
      r.w[at].value = (const uint8_t *)"a\nb";
      r.w[at].len = 3;
      if (d->flags & FS_FIELD_MULTILINE)
        assert_int_equal(check_new(t->name, &r, why), 0);
      else
        expect_refused(t->name, &r, d->name, "control characters");
      r.w[at].value = (const uint8_t *)"a\x01" "b";
      expect_refused(t->name, &r, d->name, "control characters");
      r.w[at].value = (const uint8_t *)"a\xc2\x85"; /* U+0085, a C1 control */
      expect_refused(t->name, &r, d->name, "control characters");
      free(big);
      checked++;
    }
  }
  assert_int_equal(checked, 20); /* every text field of every type */
}

static void test_unknown_field(void **state) {
  (void)state;
  rec r;
  rec_from(&r, valid_records[0] + 1);
  r.w[r.n++] = (fs_schema_write){"colour", (const uint8_t *)"red", 3};
  expect_refused("incident", &r, "colour", "no field");
  /* Item-line suffixes exist only on line fields, canonical, up to 20. */
  static const char *names[] = {"kind_21", "kind_1", "kind_02", "kind_", "date_2", "kind_2x"};
  for (size_t i = 0; i < 6; i++) {
    rec_from(&r, valid_records[2] + 1);
    r.w[r.n++] = (fs_schema_write){names[i], (const uint8_t *)"gun", 3};
    expect_refused("surrender", &r, names[i], "no field");
  }
  unsigned line = 0;
  const fs_type_def *t = fs_schema_type("surrender");
  assert_non_null(fs_schema_field(t, "quantity_20", &line));
  assert_int_equal(line, 20);
  assert_non_null(fs_schema_field(t, "handed_in_by", &line));
  assert_int_equal(line, 1);
}

static void value(const char *type, const char *field, const char *v, bool ok) {
  const fs_field_def *f = fs_schema_field(fs_schema_type(type), field, NULL);
  assert_non_null(f);
  char why[FS_SCHEMA_WHY] = "";
  int rc = fs_schema_check_value(f, field, (const uint8_t *)v, strlen(v), why, sizeof why);
  if ((rc == 0) != ok)
    fail_msg("%s.%s='%s': expected %s (%s)", type, field, v, ok ? "ok" : "refusal", why);
  if (!ok && !strstr(why, field))
    fail_msg("message '%s' does not name %s", why, field);
}

static void test_value_formats(void **state) {
  (void)state;
  value("mediation", "date", "2024-02-29", true);
  value("mediation", "date", "2026-02-29", false);
  value("mediation", "date", "2026-13-01", false);
  value("mediation", "date", "2026-1-01", false);
  value("mediation", "date", "20261101", false);
  value("mediation", "date", "1899-12-31", false);
  value("mediation", "date", "2026-11-20T10:00", false);
  value("incident", "occurred_at", "2026-11-20T21:15", true);
  value("incident", "occurred_at", "2026-11-20T21:15:09", true);
  value("incident", "occurred_at", "2026-11-20T21:15:09.123Z", true);
  value("incident", "occurred_at", "2026-11-20T21:15+07:00", true);
  value("incident", "occurred_at", "2023-11-14T22:13:20.000Z", true);
  value("incident", "occurred_at", "2026-11-20", false);
  value("incident", "occurred_at", "2026-11-20 21:15", false);
  value("incident", "occurred_at", "2026-11-20T24:00", false);
  value("incident", "occurred_at", "2026-11-20T21:60", false);
  value("incident", "occurred_at", "2026-11-20T21:15Z+", false);
  value("incident", "occurred_at", "2026-11-20T21:15.5", false);
  value("model_review", "period", "2026", true);
  value("model_review", "period", "2026-H2", true);
  value("model_review", "period", "2026-Q4", true);
  value("model_review", "period", "2026-07", true);
  value("model_review", "period", "2026-H3", false);
  value("model_review", "period", "2026-Q5", false);
  value("model_review", "period", "2026-13", false);
  value("model_review", "period", "2026-07-01", false);
  value("surrender", "quantity", "26.5", true);
  value("surrender", "quantity", "0.001", true);
  value("surrender", "quantity", "1615", true);
  value("surrender", "quantity", "1000000", true);
  value("surrender", "quantity", "1000000.001", false);
  value("surrender", "quantity", "0", false);
  value("surrender", "quantity", "0.000", false);
  value("surrender", "quantity", "26,5", false);
  value("surrender", "quantity", ".5", false);
  value("surrender", "quantity", "5.", false);
  value("surrender", "quantity", "01", false);
  value("surrender", "quantity", "1.2345", false);
  value("surrender", "quantity", "-1", false);
  value("surrender", "quantity", "1e3", false);
  value("model", "members", "0", true);
  value("model", "members", "100000", true);
  value("model", "members", "100001", false);
  value("model", "members", "-1", false);
  value("model", "members", "007", false);
  value("model", "members", "12 ", false);
  value("safety_cert", "year", "2026", true);
  value("safety_cert", "year", "1999", false);
  value("safety_cert", "met", "true", true);
  value("safety_cert", "met", "false", true);
  value("safety_cert", "met", "yes", false);
  value("safety_cert", "met", "TRUE", false);
  value("tip", "incident", "4306ab12cd", true);
  value("tip", "incident", "model_dak_nen_1", true);
  value("tip", "incident", "4306-AB", false);
  value("tip", "incident",
        "0123456789012345678901234567890123456789012345678901234567890123456789", false);
  /* Optional fields may be cleared; required ones may not. */
  value("tip", "incident", "", true);
  value("incident", "status", "", false);
  value("incident", "place", "   ", false);

  int32_t a, b;
  int64_t x;
  assert_int_equal(fs_schema_period_parse((const uint8_t *)"2024-Q1", 7, &a, &b), 0);
  assert_int_equal(a, 20240101);
  assert_int_equal(b, 20240331);
  assert_int_equal(fs_schema_period_parse((const uint8_t *)"2024-02", 7, &a, &b), 0);
  assert_int_equal(b, 20240229);
  assert_int_equal(fs_schema_period_parse((const uint8_t *)"2026-H2", 7, &a, &b), 0);
  assert_int_equal(a, 20260701);
  assert_int_equal(b, 20261231);
  assert_int_equal(fs_schema_quantity_parse((const uint8_t *)"26.05", 5, &x), 0);
  assert_int_equal(x, 26050);
  assert_int_equal(fs_schema_datetime_parse((const uint8_t *)"2026-11-20T21:15", 16, &a, &x), 0);
  assert_int_equal(a, 20261120);
  assert_int_equal(x, 2026112000000ll + 21 * 3600 + 15 * 60);
}

static void test_item_lines(void **state) {
  (void)state;
  rec r;
  rec_from(&r, valid_records[2] + 1);
  rec_drop(&r, (size_t)rec_find(&r, "unit_2"));
  expect_refused("surrender", &r, "unit_2", "item line 2");
  /* A line alone beyond the first is fine when complete. */
  rec_from(&r, valid_records[2] + 1);
  r.w[r.n++] = (fs_schema_write){"kind_7", (const uint8_t *)"fireworks", 9};
  r.w[r.n++] = (fs_schema_write){"quantity_7", (const uint8_t *)"12.5", 4};
  r.w[r.n++] = (fs_schema_write){"unit_7", (const uint8_t *)"kg", 2};
  r.w[r.n++] = (fs_schema_write){"mode_7", (const uint8_t *)"seized", 6};
  char why[FS_SCHEMA_WHY];
  assert_int_equal(check_new("surrender", &r, why), 0);
  /* No line at all. */
  static const char *const no_lines[] = {"date=2026-11-18", "received_by=Công an xã", NULL};
  rec_from(&r, no_lines);
  expect_refused("surrender", &r, "kind", "required");
}

/* A stored record built from NAME=VALUE pairs, for edit checks. */
static void record_from(fs_record *out, const char *type, const char *const *kv) {
  assert_int_equal(fs_record_init(out, "KT.KPL.DAKNEN", "r1"), 0);
  fs_record src;
  assert_int_equal(fs_record_init(&src, "KT.KPL.DAKNEN", "r1"), 0);
  src.type = strdup(type);
  src.type_clock.hlc = 1000;
  rec r;
  rec_from(&r, kv);
  src.fields = calloc(r.n, sizeof *src.fields);
  assert_non_null(src.fields);
  /* fs_record_join wants sorted names: insert in order. */
  for (size_t i = 0; i < r.n; i++) {
    fs_field f = {.name = strdup(r.w[i].name), .value = malloc(r.w[i].len + 1),
                  .value_len = r.w[i].len, .clock = {.hlc = 1000}};
    memcpy(f.value, r.w[i].value, r.w[i].len);
    size_t at = src.nfields;
    while (at > 0 && strcmp(src.fields[at - 1].name, f.name) > 0) {
      src.fields[at] = src.fields[at - 1];
      at--;
    }
    src.fields[at] = f;
    src.nfields++;
  }
  src.cap = r.n;
  assert_true(fs_record_join(out, &src, NULL, NULL) >= 0);
  fs_record_free(&src);
}

static void test_edits(void **state) {
  (void)state;
  const fs_type_def *t = fs_schema_type("patrol");
  fs_record cur;
  record_from(&cur, "patrol", valid_records[4] + 1);
  char why[FS_SCHEMA_WHY];
  fs_schema_write w = {"notes", (const uint8_t *)"Bắt giữ 1 đối tượng", 24};
  assert_int_equal(fs_schema_check(t, &w, 1, &cur, false, why, sizeof why), 0);
  /* An edit touching the order rule is checked against the stored start. */
  w = (fs_schema_write){"end", (const uint8_t *)"2026-11-24T19:00", 16};
  assert_int_equal(fs_schema_check(t, &w, 1, &cur, false, why, sizeof why), FS_EINVAL);
  assert_non_null(strstr(why, "end must not be before start"));
  w = (fs_schema_write){"route", (const uint8_t *)"", 0};
  assert_int_equal(fs_schema_check(t, &w, 1, &cur, false, why, sizeof why), FS_EINVAL);
  assert_non_null(strstr(why, "route"));
  w = (fs_schema_write){"members", (const uint8_t *)"", 0};
  assert_int_equal(fs_schema_check(t, &w, 1, &cur, false, why, sizeof why), 0);
  fs_record_free(&cur);

  /* An edit of a record with only some fields needs nothing else. */
  t = fs_schema_type("incident");
  w = (fs_schema_write){"status", (const uint8_t *)"resolved", 8};
  assert_int_equal(fs_schema_check(t, &w, 1, NULL, false, why, sizeof why), 0);
  assert_int_equal(fs_schema_check(t, &w, 1, NULL, true, why, sizeof why), FS_EINVAL);

  /* Without the record (the edge), an edit of one line field passes. */
  t = fs_schema_type("surrender");
  w = (fs_schema_write){"quantity_2", (const uint8_t *)"3", 1};
  assert_int_equal(fs_schema_check(t, &w, 1, NULL, false, why, sizeof why), 0);

  /* Adding a second item line to a stored surrender must complete it. */
  t = fs_schema_type("surrender");
  static const char *const one_line[] = {"date=2026-11-18", "received_by=Công an xã",
                                         "kind=gun", "quantity=1", "unit=piece",
                                         "mode=handed_in", NULL};
  record_from(&cur, "surrender", one_line);
  w = (fs_schema_write){"kind_2", (const uint8_t *)"detonator", 9};
  assert_int_equal(fs_schema_check(t, &w, 1, &cur, false, why, sizeof why), FS_EINVAL);
  fs_schema_write w3[] = {{"kind_2", (const uint8_t *)"detonator", 9},
                          {"quantity_2", (const uint8_t *)"12", 2},
                          {"unit_2", (const uint8_t *)"piece", 5},
                          {"mode_2", (const uint8_t *)"handed_in", 9}};
  assert_int_equal(fs_schema_check(t, w3, 4, &cur, false, why, sizeof why), 0);
  fs_record_free(&cur);
}

static void test_sealed_values_never_echoed(void **state) {
  (void)state;
  const fs_type_def *t = fs_schema_type("tip");
  size_t sealed = 0;
  for (size_t i = 0; i < t->nfields; i++)
    if (t->fields[i].flags & FS_FIELD_SEALED) {
      assert_int_equal(strncmp(t->fields[i].name, "informant_", 10), 0);
      sealed++;
    }
  assert_int_equal(sealed, 3);
  rec r;
  rec_from(&r, valid_records[1] + 1);
  long at = rec_find(&r, "informant_phone");
  r.w[at].value = (const uint8_t *)"0905\x01secret";
  r.w[at].len = 11;
  char why[FS_SCHEMA_WHY];
  assert_int_equal(check_new("tip", &r, why), FS_EINVAL);
  assert_null(strstr(why, "secret"));
  assert_null(strstr(why, "0905"));
  /* Other values are echoed short and without quotes or control bytes. */
  at = rec_find(&r, "informant_phone");
  r.w[at].value = (const uint8_t *)"0905";
  r.w[at].len = 4;
  at = rec_find(&r, "channel");
  r.w[at].value = (const uint8_t *)"pho\"ne\n";
  r.w[at].len = 7;
  assert_int_equal(check_new("tip", &r, why), FS_EINVAL);
  assert_non_null(strstr(why, "'pho?ne?'"));
}

static void test_tables_consistent(void **state) {
  (void)state;
  for (size_t i = 0; i < fs_schema_ntypes(); i++) {
    const fs_type_def *t = fs_schema_type_at(i);
    assert_true(strlen(t->name) <= FS_MAX_NAME);
    assert_non_null(t->label.vi);
    assert_non_null(t->label.en);
    assert_non_null(fs_schema_field(t, t->date_field, NULL));
    for (size_t f = 0; f < t->nfields; f++) {
      const fs_field_def *d = &t->fields[f];
      assert_true(strlen(d->name) + 3 <= FS_MAX_NAME);
      for (const char *p = d->name; *p; p++)
        assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
      for (size_t g = f + 1; g < t->nfields; g++)
        assert_string_not_equal(d->name, t->fields[g].name);
      assert_non_null(d->label.vi);
      assert_non_null(d->label.en);
      if (d->type == FS_FT_TEXT)
        assert_true(d->max_chars > 0);
      if (d->type == FS_FT_REF)
        assert_non_null(fs_schema_type(d->ref_type));
      for (size_t v = 0; d->type == FS_FT_ENUM && v < d->nvalues; v++) {
        assert_non_null(d->values[v].label.vi);
        assert_non_null(d->values[v].label.en);
        assert_int_equal(fs_schema_enum_index(d, (const uint8_t *)d->values[v].name,
                                              strlen(d->values[v].name)),
                         (int)v);
      }
    }
  }
  char list[256];
  fs_schema_type_list(list, sizeof list);
  assert_string_equal(list, "incident, tip, surrender, mediation, patrol, model, "
                            "model_review, safety_cert, commendation");
  fs_schema_required_list(fs_schema_type("incident"), list, sizeof list);
  assert_string_equal(list, "category, occurred_at, place, status, officer");
}

/* ------------------------------------------------ the edge's two checks */

static Fs__ChangeSet *cs_from(const char *type, const char *id, const char *const *kv,
                              bool deleted) {
  static const uint8_t dev[FS_PK_LEN] = {1};
  Fs__ChangeSet *cs = tu_cs_new(dev, 1, NULL, 5000, "KT.KPL.DAKNEN");
  Fs__Change *ch = tu_cs_change(cs, id, type, deleted);
  for (size_t i = 0; kv && kv[i]; i++) {
    const char *eq = strchr(kv[i], '=');
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(eq - kv[i]), kv[i]);
    tu_change_write_str(ch, name, eq + 1, 5000, 0);
  }
  return cs;
}

static void test_changeset_check(void **state) {
  (void)state;
  char why[FS_SCHEMA_WHY];
  Fs__ChangeSet *cs = cs_from("incident", "r1", valid_records[0] + 1, false);
  assert_int_equal(fs_schema_check_changeset(cs, why, sizeof why), 0);
  tu_cs_free(cs);

  static const char *const one[] = {"note=x", NULL};
  cs = cs_from("weapon_handover", "r2", one, false);
  assert_int_equal(fs_schema_check_changeset(cs, why, sizeof why), FS_EINVAL);
  assert_non_null(strstr(why, "unknown record type 'weapon_handover'"));
  assert_non_null(strstr(why, "r2"));
  tu_cs_free(cs);

  cs = cs_from("tip", "r3", one, false);
  assert_int_equal(fs_schema_check_changeset(cs, why, sizeof why), FS_EINVAL);
  assert_non_null(strstr(why, "no field note"));
  tu_cs_free(cs);

  static const char *const bad[] = {"status=thinking", NULL};
  cs = cs_from("incident", "r4", bad, false);
  assert_int_equal(fs_schema_check_changeset(cs, why, sizeof why), FS_EINVAL);
  assert_non_null(strstr(why, "field status"));
  tu_cs_free(cs);

  /* A status edit alone passes here; creation is decided against the store. */
  static const char *const edit[] = {"status=resolved", NULL};
  cs = cs_from("incident", "r5", edit, false);
  assert_int_equal(fs_schema_check_changeset(cs, why, sizeof why), 0);
  tu_cs_free(cs);
  cs = cs_from("incident", "r6", NULL, true);
  assert_int_equal(fs_schema_check_changeset(cs, why, sizeof why), 0);
  tu_cs_free(cs);

  /* Record ids: what fs_record_id_new (32 hex digits) and import make
   * pass; a line break (a forged line in `fieldsync records`), upper case,
   * a dash or a byte that is not UTF-8 is refused, and the refusal shows no
   * control byte. */
  const char *good[] = {"019ad0c1a2b3c4d5e6f708192a3b4c5d", "inc_2026_001", "r", NULL};
  for (size_t i = 0; good[i]; i++) {
    cs = cs_from("incident", good[i], NULL, true);
    assert_int_equal(fs_schema_check_changeset(cs, why, sizeof why), 0);
    tu_cs_free(cs);
  }
  const char *wrong[] = {"x\nKT.FAKE forged incident", "INC1", "inc-1", "r\xff", NULL};
  for (size_t i = 0; wrong[i]; i++) {
    cs = cs_from("incident", wrong[i], NULL, true);
    assert_int_equal(fs_schema_check_changeset(cs, why, sizeof why), FS_EINVAL);
    assert_non_null(strstr(why, "must be 1-64 characters of a-z, 0-9 and _"));
    assert_null(strchr(why, '\n'));
    tu_cs_free(cs);
  }

  /* A write whose clock is later than its set's (which the device's
   * enrolment is checked at) is refused. */
  cs = cs_from("incident", "r8", edit, false);
  assert_int_equal(fs_schema_check_changeset(cs, why, sizeof why), 0);
  cs->changes[0]->writes[0]->hlc = cs->hlc + 1;
  assert_int_equal(fs_schema_check_changeset(cs, why, sizeof why), FS_EINVAL);
  assert_non_null(strstr(why, "later than its change set's"));
  tu_cs_free(cs);

  /* A field name with a line break is shown without it. */
  static const char *const odd[] = {"a\nb=x", NULL};
  cs = cs_from("tip", "r7", odd, false);
  assert_int_equal(fs_schema_check_changeset(cs, why, sizeof why), FS_EINVAL);
  assert_non_null(strstr(why, "no field a?b"));
  tu_cs_free(cs);
}

static void apply(fs_store *s, Fs__ChangeSet *cs) {
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(s, true, &txn), 0);
  assert_true(fs_store_apply_changeset(s, txn, cs) >= 0);
  assert_int_equal(fs_store_commit(txn), 0);
}

static int stored_check(fs_store *s, Fs__ChangeSet *cs, char *why) {
  MDB_txn *txn;
  assert_int_equal(fs_store_begin(s, false, &txn), 0);
  int rc = fs_schema_check_stored(s, txn, cs, why, FS_SCHEMA_WHY);
  mdb_txn_abort(txn);
  return rc;
}

static void test_stored_check(void **state) {
  (void)state;
  char *tmp = tu_mkdtemp(), *dir = tu_path(tmp, "node");
  fs_store s;
  assert_int_equal(fs_store_open(&s, dir, (size_t)64 << 20), 0);
  char why[FS_SCHEMA_WHY];

  /* A status edit of a record the node does not hold is a creation. */
  static const char *const edit[] = {"status=resolved", NULL};
  Fs__ChangeSet *e = cs_from("incident", "r1", edit, false);
  assert_int_equal(stored_check(&s, e, why), FS_EINVAL);
  assert_non_null(strstr(why, "required"));
  assert_non_null(strstr(why, "r1"));

  Fs__ChangeSet *c = cs_from("incident", "r1", valid_records[0] + 1, false);
  assert_int_equal(stored_check(&s, c, why), 0);
  apply(&s, c);
  assert_int_equal(stored_check(&s, e, why), 0); /* now it is an edit */

  /* Nothing is refused against stored state the laptop may never have
   * seen (a refused set blocks its outbox for good): another laptop's
   * record under the same id, of another type ... */
  static const char *const tipkv[] = {"received_at=2026-11-21T10:00", "channel=phone",
                                      "status=received", "content=x", NULL};
  Fs__ChangeSet *t = cs_from("tip", "r1", tipkv, false);
  assert_int_equal(stored_check(&s, t, why), 0);
  /* ... a patrol whose stored end (another laptop's edit) is before the
   * start this laptop writes ... */
  static const char *const patrol[] = {"start=2026-11-21T19:00", "end=2026-11-21T20:00",
                                       "route=r1", NULL};
  Fs__ChangeSet *p = cs_from("patrol", "p1", patrol, false);
  apply(&s, p);
  static const char *const later_start[] = {"start=2026-11-21T21:00", NULL};
  Fs__ChangeSet *p2 = cs_from("patrol", "p1", later_start, false);
  assert_int_equal(stored_check(&s, p2, why), 0);
  /* ... but a rule broken within the change itself still is. */
  static const char *const both[] = {"start=2026-11-21T21:00", "end=2026-11-21T20:30", NULL};
  Fs__ChangeSet *p3 = cs_from("patrol", "p1", both, false);
  assert_int_equal(stored_check(&s, p3, why), FS_EINVAL);
  assert_non_null(strstr(why, "end must not be before start"));
  /* ... an item line described on a surrender another laptop deleted. */
  static const char *const surr[] = {"date=2026-11-21", "received_by=X", "kind=gun",
                                     "quantity=2", "unit=piece", "mode=handed_in", NULL};
  Fs__ChangeSet *s1 = cs_from("surrender", "s1", surr, false);
  apply(&s, s1);
  Fs__ChangeSet *s2 = cs_from("surrender", "s1", NULL, true);
  s2->hlc = 6000;
  apply(&s, s2);
  static const char *const descr[] = {"description=Súng kíp", NULL};
  Fs__ChangeSet *s3 = cs_from("surrender", "s1", descr, false);
  assert_int_equal(stored_check(&s, s3, why), 0);
  /* Each value of an edit of an existing record is checked, on the pool
   * before the store is read (the stored check does not repeat it). */
  static const char *const bad[] = {"quantity_2=1,5", NULL};
  Fs__ChangeSet *s4 = cs_from("surrender", "s1", bad, false);
  assert_int_equal(fs_schema_check_changeset(s4, why, sizeof why), FS_EINVAL);
  assert_non_null(strstr(why, "quantity_2"));
  tu_cs_free(p);
  tu_cs_free(p2);
  tu_cs_free(p3);
  tu_cs_free(s1);
  tu_cs_free(s2);
  tu_cs_free(s3);
  tu_cs_free(s4);

  /* Two changes to one new record in one set: the second edits the first. */
  Fs__ChangeSet *two = cs_from("incident", "r2", valid_records[0] + 1, false);
  Fs__Change *ch = tu_cs_change(two, "r2", "incident", false);
  tu_change_write_str(ch, "status", "resolved", 5001, 5000);
  assert_int_equal(stored_check(&s, two, why), 0);

  /* A delete alone creates nothing and needs nothing. */
  Fs__ChangeSet *del = cs_from("incident", "r3", NULL, true);
  assert_int_equal(stored_check(&s, del, why), 0);

  tu_cs_free(e);
  tu_cs_free(c);
  tu_cs_free(t);
  tu_cs_free(two);
  tu_cs_free(del);
  fs_store_close(&s);
  tu_rmtree(tmp);
  free(dir);
  free(tmp);
}

int main(void) {
  if (fs_crypto_init() != 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_type_has_a_valid_example),
      cmocka_unit_test(test_each_required_field_missing),
      cmocka_unit_test(test_each_enum_wrong_value),
      cmocka_unit_test(test_utf8_after_ascii_runs),
      cmocka_unit_test(test_each_text_utf8_and_length),
      cmocka_unit_test(test_unknown_field),
      cmocka_unit_test(test_value_formats),
      cmocka_unit_test(test_item_lines),
      cmocka_unit_test(test_edits),
      cmocka_unit_test(test_sealed_values_never_echoed),
      cmocka_unit_test(test_tables_consistent),
      cmocka_unit_test(test_changeset_check),
      cmocka_unit_test(test_stored_check),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
