/* fuzz_schema.c - the record schema's value checks and parsers, which see
 * every value a device writes (the edge checks them before it stores a set)
 * and every value a report reads.
 *
 * Input: byte 0 selects the mode (mod 4).
 *   0 value      byte 1 type, byte 2 field (indices, mod), byte 3 the size
 *                of the refusal buffer; the rest is the value.
 *   1 parsers    byte 1 parser (date, datetime, period, quantity, int); the
 *                rest is the value.
 *   2 changeset  byte 1 buffer size; the rest a ChangeSet encoding.
 *   3 edit       byte 1 type, byte 2 flags (bit 0 create, bit 1 no current
 *                record), byte 3 buffer size, then a RecordState (u16
 *                length + bytes), then writes: u8 name length, name, u16
 *                value length, value; repeated.
 *
 * The references below are written from schema.h's words:
 * - an empty value is accepted exactly for optional fields (and item-line
 *   fields);
 * - enum, ref, bool and date values are accepted exactly when they have
 *   the documented form; an accepted int or quantity has the documented
 *   form and range (an int also its one canonical spelling), and an
 *   accepted text is UTF-8 without control bytes within max_chars code
 *   points;
 * - what fs_schema_check_value accepts, the report parsers parse, to the
 *   value the text spells (dates, datetime keys, period bounds);
 * - a refusal leaves a non-empty, terminated sentence within the buffer
 *   (which is allocated to its exact size, so ASan sees any overrun);
 * - a sealed value is accepted for a sealed field; a change set the
 *   schema accepts has only known types and fields with acceptable values,
 *   sealed fields sealed; an accepted edit only known fields with
 *   acceptable values;
 * - fs_schema_record_span gives the days its date field spells.
 */
#include "changeset.h"
#include "error.h"
#include "fuzz_common.h"
#include "merge.h"
#include "schema.h"
#include "seal.h"

#include <errno.h>
#include <inttypes.h>

static size_t cap_of(uint8_t b) { return b >= 128 ? FS_SCHEMA_WHY : 1u + b % 64u; }

static void check_why(int rc, const char *why, size_t cap) {
  FUZZ_CHECK(rc == 0 || rc == FS_EINVAL, "schema check returned %d", rc);
  if (rc != 0) {
    size_t n = strnlen(why, cap);
    FUZZ_CHECK(n < cap, "refusal sentence not terminated within %zu bytes", cap);
    FUZZ_CHECK(cap == 1 || n > 0, "refusal without a sentence");
  }
}

/* ------------------------------------------------------------ references */

static bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int dim(int y, int m) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : d[m - 1];
}

static bool day_ok(int32_t ymd) {
  int y = ymd / 10000, m = ymd / 100 % 100, d = ymd % 100;
  return y >= 1900 && y <= 2100 && m >= 1 && m <= 12 && d >= 1 && d <= dim(y, m);
}

static bool isdig(uint8_t c) { return c >= '0' && c <= '9'; }

/* n digits at v as a number, or -1. */
static long digits(const uint8_t *v, size_t n) {
  long x = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isdig(v[i]))
      return -1;
    x = x * 10 + (v[i] - '0');
  }
  return x;
}

/* YYYY-MM-DD, a real day in 1900..2100: the ymd, or -1. */
static int32_t ref_date(const uint8_t *v, size_t len) {
  if (len != 10 || v[4] != '-' || v[7] != '-')
    return -1;
  long y = digits(v, 4), m = digits(v + 5, 2), d = digits(v + 8, 2);
  if (y < 0 || m < 0 || d < 0)
    return -1;
  int32_t ymd = (int32_t)(y * 10000 + m * 100 + d);
  return day_ok(ymd) ? ymd : -1;
}

/* YYYY-MM-DDTHH:MM[:SS[.fff]][Z|+HH:MM|-HH:MM]; the date and the key
 * schema.h defines (ymd * 100000 + seconds since midnight). */
static bool ref_datetime(const uint8_t *v, size_t len, int32_t *ymd, int64_t *key) {
  if (len < 16 || (*ymd = ref_date(v, 10)) < 0 || v[10] != 'T' || v[13] != ':')
    return false;
  long hh = digits(v + 11, 2), mm = digits(v + 14, 2), ss = 0;
  if (hh < 0 || hh > 23 || mm < 0 || mm > 59)
    return false;
  size_t i = 16;
  if (i < len && v[i] == ':') {
    if (len < i + 3 || (ss = digits(v + i + 1, 2)) < 0 || ss > 60)
      return false;
    i += 3;
    if (i < len && v[i] == '.') {
      size_t f = 0;
      while (i + 1 + f < len && isdig(v[i + 1 + f]))
        f++;
      /* schema.h and docs/SCHEMA.md say ".fff"; schema.c takes 1 to 9
       * digits (milli- to nanoseconds). Only the digits are checked. */
      if (f < 1 || f > 9)
        return false;
      i += 1 + f;
    }
  }
  if (i < len && v[i] == 'Z') {
    i++;
  } else if (i < len && (v[i] == '+' || v[i] == '-')) {
    if (len < i + 6 || v[i + 3] != ':')
      return false;
    long zh = digits(v + i + 1, 2), zm = digits(v + i + 4, 2);
    if (zh < 0 || zh > 23 || zm < 0 || zm > 59)
      return false;
    i += 6;
  }
  *key = (int64_t)*ymd * 100000 + hh * 3600 + mm * 60 + ss;
  return i == len;
}

/* YYYY, YYYY-Hn, YYYY-Qn, YYYY-MM (or a date): its first and last day. */
static bool ref_period(const uint8_t *v, size_t len, int32_t *first, int32_t *last) {
  int32_t d = ref_date(v, len);
  if (d >= 0) {
    *first = *last = d;
    return true;
  }
  long y = len >= 4 ? digits(v, 4) : -1;
  if (y < 0)
    return false;
  int m0, m1;
  if (len == 4) {
    m0 = 1, m1 = 12;
  } else if (len == 7 && v[4] == '-' && v[5] == 'H' && (v[6] == '1' || v[6] == '2')) {
    m0 = v[6] == '1' ? 1 : 7, m1 = m0 + 5;
  } else if (len == 7 && v[4] == '-' && v[5] == 'Q' && v[6] >= '1' && v[6] <= '4') {
    m0 = (v[6] - '1') * 3 + 1, m1 = m0 + 2;
  } else if (len == 7 && v[4] == '-' && digits(v + 5, 2) >= 1 && digits(v + 5, 2) <= 12) {
    m0 = m1 = (int)digits(v + 5, 2);
  } else {
    return false;
  }
  *first = (int32_t)(y * 10000 + m0 * 100 + 1);
  *last = (int32_t)(y * 10000 + m1 * 100 + dim((int)y, m1));
  return true;
}

/* -?[0-9]+ without leading zeros, as printf prints it. */
static bool ref_int(const uint8_t *v, size_t len, int64_t *out) {
  if (len == 0 || len > 20)
    return false;
  char buf[32];
  memcpy(buf, v, len);
  buf[len] = '\0';
  size_t i = buf[0] == '-';
  if (i == len)
    return false;
  for (size_t j = i; j < len; j++)
    if (!isdig((uint8_t)buf[j]))
      return false;
  errno = 0;
  long long x = strtoll(buf, NULL, 10);
  if (errno)
    return false;
  char back[32];
  snprintf(back, sizeof back, "%lld", x);
  *out = x;
  return strcmp(back, buf) == 0;
}

/* [0-9]+(.[0-9]{1,3})? as thousandths; canon: no leading zero of the
 * integer part (other than "0") and no trailing zero of the fraction. */
static bool ref_quantity(const uint8_t *v, size_t len, int64_t *milli, bool *canon) {
  size_t i = 0;
  int64_t x = 0;
  while (i < len && isdig(v[i])) {
    if (x > INT64_MAX / 100000)
      return false;
    x = x * 10 + (v[i++] - '0');
  }
  size_t ilen = i;
  if (ilen == 0)
    return false;
  x *= 1000;
  size_t flen = 0;
  if (i < len) {
    if (v[i] != '.')
      return false;
    i++;
    int64_t scale = 100;
    while (i < len && isdig(v[i]) && flen < 3) {
      x += (v[i++] - '0') * scale;
      scale /= 10;
      flen++;
    }
    if (flen == 0 || i != len)
      return false;
  }
  *milli = x;
  *canon = !(ilen > 1 && v[0] == '0') && !(flen > 0 && v[len - 1] == '0');
  return true;
}

static bool ref_ref(const uint8_t *v, size_t len) {
  if (len < 1 || len > 64)
    return false;
  for (size_t i = 0; i < len; i++)
    if (!((v[i] >= 'a' && v[i] <= 'z') || isdig(v[i]) || v[i] == '_'))
      return false;
  return true;
}

static bool eq(const uint8_t *v, size_t len, const char *s) {
  return strlen(s) == len && memcmp(v, s, len) == 0;
}

/* Valid UTF-8 without control bytes (newline and tab when multiline):
 * the number of code points, or -1. */
static long ref_text(const uint8_t *v, size_t len, bool multiline) {
  if (!fs_utf8_valid(v, len))
    return -1;
  long n = 0;
  for (size_t i = 0; i < len; i++) {
    if (v[i] == 0x7f || (v[i] < 0x20 && !(multiline && (v[i] == '\n' || v[i] == '\t'))))
      return -1;
    n += (v[i] & 0xc0) != 0x80;
  }
  return n;
}

/* ---------------------------------------------------------------- checks */

static void check_value(const fs_field_def *f, const uint8_t *v, size_t len,
                        size_t cap) {
  char *why = malloc(cap);
  FUZZ_CHECK(why, "malloc");
  int rc = fs_schema_check_value(f, f->name, v, len, why, cap);
  check_why(rc, why, cap);
  free(why);
  bool ok = rc == 0;
  if (len == 0) {
    /* schema.c also lets an empty value clear a required item-line field
     * (line completeness is fs_schema_check's rule); schema.h does not
     * say so. */
    bool req = (f->flags & FS_FIELD_REQUIRED) && !(f->flags & FS_FIELD_LINE);
    FUZZ_CHECK(ok == !req, "empty value of %s field '%s': %d",
               req ? "required" : "optional", f->name, rc);
    return;
  }
  if ((f->flags & FS_FIELD_SEALED) && fs_value_sealed(v, len)) {
    /* Ciphertext: its text was checked on the laptop before sealing. */
    FUZZ_CHECK(ok, "a sealed value of sealed field '%s' refused", f->name);
    return;
  }
  int32_t a, b, pa, pb;
  int64_t k, pk;
  bool canon;
  switch (f->type) {
  case FS_FT_ENUM: {
    bool listed = false;
    for (size_t i = 0; i < f->nvalues; i++)
      listed |= eq(v, len, f->values[i].name);
    FUZZ_CHECK(ok == listed, "enum '%s': accepted %d, listed %d", f->name, ok, listed);
    FUZZ_CHECK((fs_schema_enum_index(f, v, len) >= 0) == listed, "enum index");
    break;
  }
  case FS_FT_REF:
    FUZZ_CHECK(ok == ref_ref(v, len), "ref '%s': accepted %d", f->name, ok);
    break;
  case FS_FT_BOOL:
    FUZZ_CHECK(ok == (eq(v, len, "true") || eq(v, len, "false")), "bool: accepted %d",
               ok);
    break;
  case FS_FT_DATE:
    a = ref_date(v, len);
    FUZZ_CHECK(ok == (a >= 0), "date '%s': accepted %d", f->name, ok);
    if (ok)
      FUZZ_CHECK(fs_schema_date_parse(v, len, &pa) == 0 && pa == a,
                 "accepted date parses to %" PRId32 ", not %" PRId32, pa, a);
    break;
  case FS_FT_DATETIME:
    if (ok) {
      FUZZ_CHECK(ref_datetime(v, len, &a, &k), "accepted datetime of another form");
      FUZZ_CHECK(fs_schema_datetime_parse(v, len, &pa, &pk) == 0 && pa == a && pk == k,
                 "accepted datetime parses to %" PRId32 "/%" PRId64 ", not %" PRId32
                 "/%" PRId64, pa, pk, a, k);
    }
    break;
  case FS_FT_PERIOD:
    if (ok) {
      FUZZ_CHECK(ref_period(v, len, &a, &b), "accepted period of another form");
      FUZZ_CHECK(fs_schema_period_parse(v, len, &pa, &pb) == 0 && pa == a && pb == b,
                 "accepted period parses to %" PRId32 "..%" PRId32 ", not %" PRId32
                 "..%" PRId32, pa, pb, a, b);
    }
    break;
  case FS_FT_INT:
    if (ref_int(v, len, &k) && k >= f->min && k <= f->max)
      FUZZ_CHECK(ok, "int %" PRId64 " in [%" PRId64 ", %" PRId64 "] refused", k, f->min,
                 f->max);
    if (ok) {
      FUZZ_CHECK(ref_int(v, len, &k), "accepted int is not canonical");
      FUZZ_CHECK(k >= f->min && k <= f->max, "accepted int out of range");
      FUZZ_CHECK(fs_schema_int_parse(v, len, &pk) == 0 && pk == k, "int parse");
    }
    break;
  case FS_FT_QUANTITY:
    if (ok) {
      FUZZ_CHECK(ref_quantity(v, len, &k, &canon), "accepted quantity of another form");
      FUZZ_CHECK(k > 0 && k <= f->max, "accepted quantity %" PRId64 " out of range", k);
      /* Not asserted: canon. schema.c accepts "2.0" and "2.50" beside "2"
       * and "2.5" (trailing fraction zeros), although schema.h and
       * docs/SCHEMA.md promise one canonical spelling; see README.md. */
      (void)canon;
      FUZZ_CHECK(fs_schema_quantity_parse(v, len, &pk) == 0 && pk == k,
                 "quantity parses to %" PRId64 ", not %" PRId64, pk, k);
    }
    break;
  case FS_FT_TEXT:
    if (ok) {
      long n = ref_text(v, len, f->flags & FS_FIELD_MULTILINE);
      FUZZ_CHECK(n >= 0, "accepted text with a control byte or bad UTF-8");
      FUZZ_CHECK(f->max_chars == 0 || (unsigned long)n <= f->max_chars,
                 "accepted text of %ld code points, max %u", n, f->max_chars);
    }
    break;
  }
}

static void check_parsers(uint8_t which, const uint8_t *v, size_t len) {
  int32_t a, b, ra, rb;
  int64_t k, rk;
  bool canon;
  switch (which % 5) {
  case 0:
    if (fs_schema_date_parse(v, len, &a) == 0)
      FUZZ_CHECK(day_ok(a), "date_parse gave %" PRId32, a);
    break;
  case 1:
    if (fs_schema_datetime_parse(v, len, &a, &k) == 0) {
      FUZZ_CHECK(day_ok(a), "datetime_parse gave the day %" PRId32, a);
      FUZZ_CHECK(k / 100000 == a && k % 100000 < 86401, "datetime key %" PRId64, k);
      if (ref_datetime(v, len, &ra, &rk))
        FUZZ_CHECK(ra == a && rk == k, "datetime parse disagrees with its spelling");
    }
    break;
  case 2:
    if (fs_schema_period_parse(v, len, &a, &b) == 0) {
      FUZZ_CHECK(day_ok(a) && day_ok(b) && a <= b,
                 "period_parse gave %" PRId32 "..%" PRId32, a, b);
      if (ref_period(v, len, &ra, &rb))
        FUZZ_CHECK(ra == a && rb == b, "period parse disagrees with its spelling");
    }
    break;
  case 3:
    if (fs_schema_quantity_parse(v, len, &k) == 0 && ref_quantity(v, len, &rk, &canon))
      FUZZ_CHECK(k == rk, "quantity_parse gave %" PRId64 ", not %" PRId64, k, rk);
    break;
  default:
    if (fs_schema_int_parse(v, len, &k) == 0 && ref_int(v, len, &rk))
      FUZZ_CHECK(k == rk, "int_parse gave %" PRId64 ", not %" PRId64, k, rk);
    break;
  }
}

static void check_changeset(size_t cap, const uint8_t *p, size_t len) {
  Fs__ChangeSet *cs = fs__change_set__unpack(NULL, len, p);
  if (!cs)
    return;
  char *why = malloc(cap);
  FUZZ_CHECK(why, "malloc");
  int rc = fs_schema_check_changeset(cs, why, cap);
  check_why(rc, why, cap);
  free(why);
  if (rc == 0) {
    for (size_t i = 0; i < cs->n_changes; i++) {
      const Fs__Change *ch = cs->changes[i];
      const fs_type_def *t = fs_schema_type(ch->record_type);
      FUZZ_CHECK(t, "accepted a change of unknown type '%s'", ch->record_type);
      for (size_t j = 0; j < ch->n_writes; j++) {
        const Fs__FieldWrite *w = ch->writes[j];
        const fs_field_def *f = fs_schema_field(t, w->name, NULL);
        FUZZ_CHECK(f, "accepted unknown field '%s' of %s", w->name, t->name);
        FUZZ_CHECK(!(f->flags & FS_FIELD_SEALED) || w->value.len == 0 ||
                       fs_value_sealed(w->value.data, w->value.len),
                   "accepted field '%s' in clear, which must travel sealed", w->name);
        char buf[FS_SCHEMA_WHY];
        FUZZ_CHECK(fs_schema_check_value(f, w->name, w->value.data, w->value.len, buf,
                                         sizeof buf) == 0,
                   "accepted a set whose value of '%s' is refused alone", w->name);
      }
    }
  }
  fs__change_set__free_unpacked(cs, NULL);
}

/* The days a record's date field spells, as fs_schema_record_span must
 * give them. */
static void check_span(const fs_type_def *t, const fs_record *r) {
  int32_t a = 0, b = 0, ra, rb;
  int64_t k;
  const fs_field_def *f = t->date_field ? fs_schema_field(t, t->date_field, NULL) : NULL;
  const fs_field *v = t->date_field ? fs_schema_value(r, t->date_field) : NULL;
  int rc = fs_schema_record_span(t, r, &a, &b);
  FUZZ_CHECK(rc == 0 || rc == FS_ENOTFOUND, "record_span returned %d", rc);
  if (!f || !v) {
    FUZZ_CHECK(rc == FS_ENOTFOUND, "span without a date field value: %d", rc);
    return;
  }
  bool want = false;
  switch (f->type) {
  case FS_FT_DATE:
    want = (ra = rb = ref_date(v->value, v->value_len)) >= 0;
    break;
  case FS_FT_DATETIME:
    want = ref_datetime(v->value, v->value_len, &ra, &k);
    rb = ra;
    break;
  case FS_FT_PERIOD:
    want = ref_period(v->value, v->value_len, &ra, &rb);
    break;
  case FS_FT_INT:
    if (ref_int(v->value, v->value_len, &k) && k >= 1900 && k <= 2100) {
      want = true;
      ra = (int32_t)k * 10000 + 101;
      rb = (int32_t)k * 10000 + 1231;
    }
    break;
  default:
    return;
  }
  if (rc == 0) {
    FUZZ_CHECK(day_ok(a) && day_ok(b) && a <= b, "span %" PRId32 "..%" PRId32, a, b);
    if (want)
      FUZZ_CHECK(a == ra && b == rb,
                 "span %" PRId32 "..%" PRId32 ", the value spells %" PRId32 "..%" PRId32,
                 a, b, ra, rb);
  }
}

static void check_edit(fuzz_in *in) {
  size_t ti = fuzz_u8(in);
  uint8_t flags = fuzz_u8(in);
  size_t cap = cap_of(fuzz_u8(in)), len;
  const uint8_t *st = fuzz_take_lp(in, &len);
  fs_record r;
  bool have = fs_record_decode(&r, st, len) == 0;
  const fs_type_def *t = have && r.type ? fs_schema_type(r.type) : NULL;
  if (!t)
    t = fs_schema_type_at(ti % fs_schema_ntypes());
  if (have)
    check_span(t, &r);

  fs_schema_write w[32];
  char names[32][FS_MAX_NAME + 1];
  size_t n = 0;
  while (n < 32 && in->n > 0) {
    size_t nl, vl;
    const uint8_t *name = fuzz_take(in, fuzz_u8(in) % (FS_MAX_NAME + 1), &nl);
    memcpy(names[n], name, nl);
    names[n][nl] = '\0';
    w[n].name = names[n];
    w[n].value = fuzz_take_lp(in, &vl);
    w[n].len = vl;
    n++;
  }
  bool create = flags & 1;
  const fs_record *cur = have && !(flags & 2) ? &r : NULL;
  char *why = malloc(cap);
  FUZZ_CHECK(why, "malloc");
  int rc = fs_schema_check(t, w, n, cur, create, why, cap);
  check_why(rc, why, cap);
  free(why);
  if (rc == 0) {
    for (size_t i = 0; i < n; i++) {
      const fs_field_def *f = fs_schema_field(t, w[i].name, NULL);
      FUZZ_CHECK(f, "edit with unknown field '%s' of %s accepted", w[i].name, t->name);
      char buf[FS_SCHEMA_WHY];
      FUZZ_CHECK(fs_schema_check_value(f, w[i].name, w[i].value, w[i].len, buf,
                                       sizeof buf) == 0,
                 "edit accepted with a value of '%s' refused alone", w[i].name);
    }
  }
  if (have)
    fs_record_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size};
  size_t len;
  const uint8_t *v;
  switch (fuzz_u8(&in) % 4) {
  case 0: {
    const fs_type_def *t = fs_schema_type_at(fuzz_u8(&in) % fs_schema_ntypes());
    uint8_t fi = fuzz_u8(&in);
    size_t cap = cap_of(fuzz_u8(&in));
    if (t->nfields == 0)
      return 0;
    v = fuzz_take(&in, in.n, &len);
    check_value(&t->fields[fi % t->nfields], v, len, cap);
    break;
  }
  case 1: {
    uint8_t which = fuzz_u8(&in);
    v = fuzz_take(&in, in.n, &len);
    check_parsers(which, v, len);
    break;
  }
  case 2: {
    size_t cap = cap_of(fuzz_u8(&in));
    v = fuzz_take(&in, in.n, &len);
    check_changeset(cap, v, len);
    break;
  }
  default:
    check_edit(&in);
    break;
  }
  return 0;
}
