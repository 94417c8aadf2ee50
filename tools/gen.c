/* gen.c - sample records of the movement, as officers in Kon Tum would
 * write them, with an independent tally of the totals they must produce.
 *
 * A small deterministic generator (splitmix64) picks types, enumeration
 * values, quantities, names and places; the schema's tables supply the
 * enumerations, so every record is valid. Records are written one edit at
 * a time through fs_device_edit, exactly like the CLI. */
#include "gen.h"
#include "gen_impl.h"

#include "changeset.h"
#include "error.h"
#include "hex.h"
#include "schema.h"

#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gen {
  rng g;
  int year;
  const char *area, *commune, *officer;
  fs_device *d;
  fs_gen_totals *t;
  char police[160]; /* "Công an xã Đăk Nên" */
} gen;

/* "ông Nguyễn Văn An" / "bà Y Lan" */
static void person_titled(gen *x, char *out, size_t cap) {
  char n[96];
  gen_person(&x->g, n, sizeof n);
  bool woman = strncmp(n, "Y ", 2) == 0 || strstr(n, " Thị ") != NULL || strstr(n, "H'") != NULL;
  snprintf(out, cap, "%s %s", woman ? "bà" : "ông", n);
}

/* Expands %V (a village), %C (the commune), %N (a person), %Y (the year). */
static void fill(gen *x, char *out, size_t cap, const char *tmpl) {
  size_t o = 0;
  for (const char *p = tmpl; *p && o + 1 < cap; p++) {
    char buf[160];
    const char *s = NULL;
    if (p[0] == '%' && p[1]) {
      switch (*++p) {
      case 'V': s = gen_village(&x->g); break;
      case 'C': s = x->commune; break;
      case 'N': gen_person(&x->g, buf, sizeof buf); s = buf; break;
      case 'Y': snprintf(buf, sizeof buf, "%d", x->year); s = buf; break;
      default: buf[0] = *p; buf[1] = '\0'; s = buf; break;
      }
      size_t n = strlen(s);
      if (o + n >= cap)
        break;
      memcpy(out + o, s, n);
      o += n;
    } else {
      out[o++] = *p;
    }
  }
  out[o] = '\0';
}

/* ------------------------------------------------------------ dates, ids */

static int days_in(int y, int m) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : d[m - 1];
}

typedef struct day {
  int y, m, d;
} day;

static day random_day(gen *x, int year) {
  day t = {year, (int)between(&x->g, 1, 12), 1};
  t.d = (int)between(&x->g, 1, (unsigned)days_in(t.y, t.m));
  return t;
}

static void fmt_date(char *out, size_t cap, day t) {
  snprintf(out, cap, "%04d-%02d-%02d", t.y, t.m, t.d);
}

static void fmt_datetime(char *out, size_t cap, day t, unsigned minute_of_day) {
  snprintf(out, cap, "%04d-%02d-%02dT%02u:%02u", t.y, t.m, t.d, minute_of_day / 60,
           minute_of_day % 60);
}

static day next_day(day t) {
  if (++t.d > days_in(t.y, t.m)) {
    t.d = 1;
    if (++t.m > 12) {
      t.m = 1;
      t.y++;
    }
  }
  return t;
}

static void new_id(gen *x, char out[33]) {
  uint8_t b[16];
  for (int i = 0; i < 16; i += 8) {
    uint64_t v = next(&x->g);
    memcpy(b + i, &v, 8);
  }
  fs_hex_encode(out, b, sizeof b);
}

/* ------------------------------------------------------------ the mirror */

enum { T_INCIDENT, T_TIP, T_SURRENDER, T_MEDIATION, T_PATROL, T_MODEL, T_REVIEW, T_SAFETY,
       T_COMMENDATION, T_COUNT };
static const char *type_names[T_COUNT] = {"incident", "tip", "surrender", "mediation", "patrol",
                                          "model", "model_review", "safety_cert",
                                          "commendation"};

#define MAX_LINES 3

/* What the final state of a record must add to the report. */
typedef struct mirror {
  char id[33];
  int type;
  int a, b;                       /* enum indices: category/status, status, ... */
  int line_kind[MAX_LINES], line_unit[MAX_LINES], line_mode[MAX_LINES];
  int64_t line_qty[MAX_LINES];    /* thousandths; 0: no line */
  long model;                     /* review: index of its model in the mirror */
  int period;                     /* review: 1 (H1) or 2 (H2) */
  bool met, deleted;
} mirror;

static const fs_field_def *def(const char *type, const char *field) {
  return fs_schema_field(fs_schema_type(type), field, NULL);
}

static const char *val(const char *type, const char *field, int i) {
  return def(type, field)->values[i].name;
}

/* Index of a named enum value (the generator's tables name values). */
static int idx(const char *type, const char *field, const char *name) {
  return fs_schema_enum_index(def(type, field), (const uint8_t *)name, strlen(name));
}

/* An edit under construction: up to 24 fields with their text. */
typedef struct edit {
  fs_write w[24];
  char buf[24][600];
  size_t n;
} edit;

static void put(edit *e, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void put(edit *e, const char *name, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->buf[e->n], sizeof e->buf[e->n], fmt, ap);
  va_end(ap);
  e->w[e->n].name = name;
  e->w[e->n].value = (const uint8_t *)e->buf[e->n];
  e->w[e->n].len = strlen(e->buf[e->n]);
  e->n++;
}

/* Writes e as one change set; the record is validated first, so a bug in
 * the generator shows as a message rather than as refusals at the edge. */
static int commit(gen *x, const char *id, const char *type, edit *e, bool create) {
  const fs_type_def *t = fs_schema_type(type);
  fs_schema_write sw[24];
  for (size_t i = 0; i < e->n; i++)
    sw[i] = (fs_schema_write){e->w[i].name, e->w[i].value, e->w[i].len};
  char why[FS_SCHEMA_WHY];
  if (fs_schema_check(t, sw, e->n, NULL, create, why, sizeof why) != 0) {
    fprintf(stderr, "fieldsync-gen: generated an invalid record: %s\n", why);
    return FS_EINVAL;
  }
  int rc = fs_device_edit(x->d, x->area, id, create ? type : NULL, e->w, e->n, false);
  if (rc == 0)
    x->t->changesets++;
  return rc;
}

/* ---------------------------------------------------------------- records */

static const char *incident_texts[][3] = {
    {"Mất trộm xe máy Honda Wave của anh %N trước nhà văn hóa %V",
     "Trộm 2 con bò của hộ %N thả ở rẫy gần %V", "Mất trộm 300 kg cà phê nhân phơi tại sân nhà %N"},
    {"Xô xát giữa hai nhóm thanh niên sau đám cưới ở %V, 1 người bị thương nhẹ",
     "Anh %N bị đánh gây thương tích sau khi uống rượu", "Hai anh em ruột đánh nhau vì tranh chấp tài sản"},
    {"Phát hiện đối tượng %N tàng trữ trái phép chất ma túy",
     "Nhóm thanh niên tụ tập sử dụng ma túy tại chòi rẫy %V", "Thu giữ 5 gói ma túy đá trên người đối tượng"},
    {"Đánh bạc dưới hình thức đá gà tại rẫy cà phê %V", "Nhóm người đánh bài ăn tiền tại nhà %N",
     "Tổ chức lô đề tại quán tạp hóa ở %V"},
    {"Gây rối trật tự tại chợ %C, đã lập biên bản", "Nhóm thanh niên đua xe, gây ồn ào lúc nửa đêm tại %V",
     "Say rượu gây rối tại nhà văn hóa %V"},
    {"Cháy rẫy keo lá tràm của hộ %N, thiệt hại khoảng 2 ha", "Cháy bếp nhà %N, không có thiệt hại về người",
     "Cháy kho chứa cà phê tại %V"},
    {"Va chạm giữa xe máy và xe công nông trên tỉnh lộ 676 đoạn qua %V",
     "Xe tải lật trên đèo Măng Đen, tài xế bị thương nhẹ", "Xe máy tự ngã tại dốc %V, 1 người bị thương"},
    {"Tranh chấp ranh giới rẫy giữa hộ %N và hộ lân cận", "Tranh chấp quyền sử dụng đất vườn giữa hai anh em ruột",
     "Lấn chiếm đất rừng phòng hộ tại %V"},
    {"Người dân nhặt được ví, giao nộp cho Công an xã", "Trâu đi lạc vào khu dân cư %V, đã trả lại chủ",
     "Người già đi lạc, đã đưa về gia đình ở %V"},
};

static const char *incident_places[] = {"%V, %C", "chợ trung tâm %C", "nhà văn hóa %V",
                                        "rẫy cà phê %V, %C", "tỉnh lộ 676 đoạn qua %V",
                                        "quốc lộ 24 đoạn qua %C", "bến sông Đăk Bla, %V",
                                        "trường tiểu học %V", "rừng keo %V"};

static int make_incident(gen *x, mirror *m) {
  edit e = {.n = 0};
  unsigned cw[] = {22, 8, 6, 10, 18, 5, 12, 12, 7};
  m->a = (int)weighted(&x->g, cw, N(cw));
  unsigned sw[] = {30, 40, 25, 5};
  m->b = (int)weighted(&x->g, sw, N(sw));
  day t = random_day(x, x->year);
  char s[600];
  put(&e, "category", "%s", val("incident", "category", m->a));
  fmt_datetime(s, sizeof s, t, between(&x->g, 0, 1439));
  put(&e, "occurred_at", "%s", s);
  fill(x, s, sizeof s, PICK(&x->g, incident_places));
  put(&e, "place", "%s", s);
  fill(x, s, sizeof s, incident_texts[m->a][below(&x->g, 3)]);
  put(&e, "description", "%s", s);
  put(&e, "status", "%s", val("incident", "status", m->b));
  put(&e, "officer", "%s", x->officer);
  return commit(x, m->id, "incident", &e, true);
}

static const char *tip_texts[] = {
    "Phản ánh có đối tượng lạ tụ tập đánh bạc ở rẫy cà phê %V",
    "Báo tin có người mua bán pháo nổ tại %V dịp Tết",
    "Nghi vấn có người tàng trữ súng kíp tự chế trong rẫy gần %V",
    "Tố giác đối tượng cho vay nặng lãi tại %V",
    "Báo tin có xe chở gỗ lậu đi qua %V lúc nửa đêm",
    "Phản ánh nhóm thanh niên sử dụng ma túy tại chòi rẫy %V",
    "Báo tin %N có biểu hiện lừa đảo chiếm đoạt tài sản qua mạng",
};

static int make_tip(gen *x, mirror *m) {
  edit e = {.n = 0};
  unsigned cw[] = {45, 30, 15, 10};
  char s[600];
  day t = random_day(x, x->year);
  fmt_datetime(s, sizeof s, t, between(&x->g, 360, 1320));
  put(&e, "received_at", "%s", s);
  put(&e, "channel", "%s", val("tip", "channel", (int)weighted(&x->g, cw, N(cw))));
  fill(x, s, sizeof s, PICK(&x->g, tip_texts));
  put(&e, "content", "%s", s);
  m->a = idx("tip", "status", "received");
  put(&e, "status", "%s", val("tip", "status", m->a));
  /* The informant's details: sealed fields, so only on an enrolled laptop
   * that holds the deployment's sealing key. */
  if (x->d->has_seal_pk && chance(&x->g, 40)) {
    gen_person(&x->g, s, sizeof s);
    put(&e, "informant_name", "%s", s);
    put(&e, "informant_phone", "09%08u", between(&x->g, 0, 99999999));
    fill(x, s, sizeof s, "%V, %C");
    put(&e, "informant_address", "%s", s);
  }
  return commit(x, m->id, "tip", &e, true);
}

/* Quantity ranges per kind (thousandths), unit and the usual mode. */
static void surrender_line(gen *x, int *kind, int *unit, int *mode, int64_t *milli) {
  unsigned kw[] = {14, 6, 16, 14, 8, 12, 10, 20};
  *kind = (int)weighted(&x->g, kw, N(kw));
  const char *k = val("surrender", "kind", *kind);
  const char *u = "piece";
  int64_t q = (int64_t)between(&x->g, 1, 5) * 1000;
  if (strcmp(k, "gun") == 0)
    q = (int64_t)between(&x->g, 1, 2) * 1000;
  else if (strcmp(k, "ammunition") == 0)
    q = (int64_t)between(&x->g, 1, 60) * 1000;
  else if (strcmp(k, "detonator") == 0)
    q = (int64_t)between(&x->g, 1, 50) * 1000;
  else if (strcmp(k, "explosive") == 0)
    u = "kg", q = (int64_t)between(&x->g, 5, 300) * 100;         /* 0.5 - 30 kg */
  else if (strcmp(k, "fireworks") == 0 && chance(&x->g, 70))
    u = "kg", q = between(&x->g, 500, 120000);          /* 0.5 - 120 kg */
  else if (strcmp(k, "fireworks") == 0)
    u = "box", q = (int64_t)between(&x->g, 1, 20) * 1000;
  *unit = idx("surrender", "unit", u);
  *mode = idx("surrender", "mode", strcmp(k, "fireworks") == 0 && chance(&x->g, 70) ? "seized"
                                   : chance(&x->g, 80) ? "handed_in" : "seized");
  *milli = q;
}

static const char *item_texts[][2] = {
    {"Súng kíp tự chế", "Súng hơi"}, {"Nòng súng", "Báng súng tự chế"},
    {"Đạn súng quân dụng", "Đạn hoa cải"}, {"Kíp nổ điện", "Kíp nổ thường"},
    {"Thuốc nổ TNT", "Thuốc nổ công nghiệp"}, {"Pháo nổ tự chế", "Pháo hoa nổ"},
    {"Bình xịt hơi cay", "Dùi cui điện"}, {"Dao phóng", "Mã tấu"},
};

static void qty_text(char *out, size_t cap, int64_t milli) {
  if (milli % 1000 == 0)
    snprintf(out, cap, "%lld", (long long)(milli / 1000));
  else if (milli % 100 == 0)
    snprintf(out, cap, "%lld.%lld", (long long)(milli / 1000), (long long)(milli % 1000 / 100));
  else if (milli % 10 == 0)
    snprintf(out, cap, "%lld.%02lld", (long long)(milli / 1000), (long long)(milli % 1000 / 10));
  else
    snprintf(out, cap, "%lld.%03lld", (long long)(milli / 1000), (long long)(milli % 1000));
}

static int make_surrender(gen *x, mirror *m) {
  edit e = {.n = 0};
  char s[600];
  day t = random_day(x, x->year);
  fmt_date(s, sizeof s, t);
  put(&e, "date", "%s", s);
  person_titled(x, s, sizeof s);
  put(&e, "handed_in_by", "%s", s);
  put(&e, "received_by", "%s", chance(&x->g, 50) ? x->police : x->officer);
  unsigned lw[] = {70, 25, 5};
  unsigned lines = 1 + weighted(&x->g, lw, N(lw));
  static const char *names[MAX_LINES][5] = {
      {"kind", "quantity", "unit", "mode", "description"},
      {"kind_2", "quantity_2", "unit_2", "mode_2", "description_2"},
      {"kind_3", "quantity_3", "unit_3", "mode_3", "description_3"}};
  for (unsigned l = 0; l < lines; l++) {
    surrender_line(x, &m->line_kind[l], &m->line_unit[l], &m->line_mode[l], &m->line_qty[l]);
    put(&e, names[l][0], "%s", val("surrender", "kind", m->line_kind[l]));
    qty_text(s, sizeof s, m->line_qty[l]);
    put(&e, names[l][1], "%s", s);
    put(&e, names[l][2], "%s", val("surrender", "unit", m->line_unit[l]));
    put(&e, names[l][3], "%s", val("surrender", "mode", m->line_mode[l]));
    if (chance(&x->g, 70))
      put(&e, names[l][4], "%s", item_texts[m->line_kind[l]][below(&x->g, 2)]);
  }
  return commit(x, m->id, "surrender", &e, true);
}

static int make_mediation(gen *x, mirror *m) {
  edit e = {.n = 0};
  char s[600], a[128], b[128];
  unsigned sw[] = {35, 25, 20, 12, 8};
  person_titled(x, a, sizeof a);
  person_titled(x, b, sizeof b);
  snprintf(s, sizeof s, "Hộ %s và hộ %s", a, b);
  put(&e, "parties", "%s", s);
  put(&e, "subject", "%s", val("mediation", "subject", (int)weighted(&x->g, sw, N(sw))));
  fmt_date(s, sizeof s, random_day(x, x->year));
  put(&e, "date", "%s", s);
  m->a = -1;
  if (chance(&x->g, 70)) {
    unsigned ow[] = {75, 15, 10};
    m->a = (int)weighted(&x->g, ow, N(ow));
    put(&e, "outcome", "%s", val("mediation", "outcome", m->a));
  }
  return commit(x, m->id, "mediation", &e, true);
}

static const char *patrol_notes[] = {
    "Không phát hiện vụ việc", "Nhắc nhở 3 thanh niên tụ tập uống rượu khuya",
    "Phát hiện 1 xe máy không biển số, đã lập biên bản", "Tuyên truyền người dân giao nộp vũ khí",
    "Kiểm tra các hộ có người đi làm ăn xa"};

static int make_patrol(gen *x, mirror *m) {
  (void)m;
  edit e = {.n = 0};
  char s[600];
  day t = random_day(x, x->year);
  unsigned start = between(&x->g, 18 * 60, 21 * 60), len = between(&x->g, 120, 300);
  fmt_datetime(s, sizeof s, t, start);
  put(&e, "start", "%s", s);
  unsigned end = start + len;
  fmt_datetime(s, sizeof s, end >= 1440 ? next_day(t) : t, end % 1440);
  put(&e, "end", "%s", s);
  fill(x, s, sizeof s, chance(&x->g, 50) ? "%V - %V - trụ sở Công an %C"
                                         : "tỉnh lộ 676 đoạn qua %V, chợ trung tâm %C");
  put(&e, "route", "%s", s);
  fill(x, s, sizeof s, chance(&x->g, 50) ? "Tổ an ninh xung kích %V" : "Công an xã, dân quân thường trực");
  put(&e, "members", "%s", s);
  put(&e, "notes", "%s", PICK(&x->g, patrol_notes));
  return commit(x, m->id, "patrol", &e, true);
}

static const char *model_names[][2] = {
    {"Tổ tự quản an ninh trật tự %V", "Khu dân cư tự quản về an ninh trật tự %V"},
    {"Tổ tự phòng, tự bảo vệ %V", "Tổ bảo vệ an ninh trật tự rẫy cà phê %V"},
    {"Tổ hòa giải %V", "Tổ hòa giải dòng họ %V"},
    {"Dòng họ tự quản về an ninh trật tự %V", "Điển hình tiên tiến %N"},
};

static int make_model(gen *x, mirror *m) {
  edit e = {.n = 0};
  char s[600];
  m->a = (int)below(&x->g, 4);
  fill(x, s, sizeof s, model_names[m->a][below(&x->g, 2)]);
  put(&e, "name", "%s", s);
  put(&e, "kind", "%s", val("model", "kind", m->a));
  fmt_date(s, sizeof s, random_day(x, x->year - (int)below(&x->g, 9)));
  put(&e, "founded", "%s", s);
  gen_person(&x->g, s, sizeof s);
  put(&e, "leader", "%s", s);
  put(&e, "members", "%u", between(&x->g, 8, 40));
  return commit(x, m->id, "model", &e, true);
}

static int make_review(gen *x, mirror *m, const mirror *model, int period) {
  edit e = {.n = 0};
  unsigned rw[] = {45, 40, 15};
  m->a = (int)weighted(&x->g, rw, N(rw));
  const char *r = val("model_review", "rating", m->a);
  m->b = idx("model_review", "decision",
             strcmp(r, "good") == 0 ? "replicate"
             : strcmp(r, "average") == 0 || chance(&x->g, 20) ? "strengthen" : "dissolve");
  m->period = period;
  put(&e, "model", "%s", model->id);
  put(&e, "period", "%d-H%d", x->year, period);
  put(&e, "rating", "%s", r);
  put(&e, "decision", "%s", val("model_review", "decision", m->b));
  put(&e, "notes", "%s", strcmp(r, "weak") == 0 ? "Hoạt động cầm chừng, ít họp, không duy trì tuần tra"
                         : strcmp(r, "good") == 0 ? "Duy trì tốt, phát hiện và báo tin kịp thời"
                                                  : "Cần củng cố tổ chức, bổ sung thành viên");
  return commit(x, m->id, "model_review", &e, true);
}

static int make_safety(gen *x, mirror *m) {
  edit e = {.n = 0};
  char s[600];
  unsigned uw[] = {50, 10, 15, 10, 15};
  m->a = (int)weighted(&x->g, uw, N(uw));
  const char *k = val("safety_cert", "unit_kind", m->a);
  const char *name = strcmp(k, "residential_area") == 0 ? "%V, %C"
                     : strcmp(k, "commune") == 0        ? "%C"
                     : strcmp(k, "agency") == 0         ? "Trạm Y tế %C"
                     : strcmp(k, "enterprise") == 0     ? "Hợp tác xã nông nghiệp %C"
                                                        : "Trường Tiểu học %V";
  fill(x, s, sizeof s, name);
  put(&e, "unit_kind", "%s", k);
  put(&e, "unit_name", "%s", s);
  put(&e, "year", "%d", x->year);
  m->met = chance(&x->g, 80);
  put(&e, "met", "%s", m->met ? "true" : "false");
  return commit(x, m->id, "safety_cert", &e, true);
}

static const char *commendation_reasons[] = {
    "Có thành tích xuất sắc trong phong trào Toàn dân bảo vệ an ninh Tổ quốc năm %Y",
    "Dũng cảm tham gia bắt giữ đối tượng trộm cắp tài sản tại %V",
    "Vận động người dân giao nộp 5 khẩu súng tự chế",
    "Phát hiện, tố giác kịp thời đối tượng mua bán trái phép chất ma túy"};

static int make_commendation(gen *x, mirror *m) {
  edit e = {.n = 0};
  char s[600];
  bool collective = chance(&x->g, 30);
  if (collective)
    fill(x, s, sizeof s, chance(&x->g, 50) ? "Tổ an ninh xung kích %V" : "Công an %C");
  else
    gen_person(&x->g, s, sizeof s);
  put(&e, "recipient", "%s", s);
  put(&e, "recipient_kind", "%s", collective ? "collective" : "person");
  fill(x, s, sizeof s, PICK(&x->g, commendation_reasons));
  put(&e, "reason", "%s", s);
  unsigned lw[] = {50, 30, 15, 4, 1};
  m->a = (int)weighted(&x->g, lw, N(lw));
  put(&e, "level", "%s", val("commendation", "level", m->a));
  fmt_date(s, sizeof s, random_day(x, x->year));
  put(&e, "date", "%s", s);
  return commit(x, m->id, "commendation", &e, true);
}

/* ----------------------------------------------------- later edits, tally */

/* Status changes made days later, and a few records deleted by mistake. */
static int later_edits(gen *x, mirror *ms, size_t n) {
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    mirror *m = &ms[i];
    edit e = {.n = 0};
    if (m->type == T_INCIDENT && chance(&x->g, 25)) {
      m->b = idx("incident", "status", chance(&x->g, 85) ? "resolved" : "transferred");
      put(&e, "status", "%s", val("incident", "status", m->b));
    } else if (m->type == T_TIP && chance(&x->g, 60)) {
      static const char *next_status[] = {"verifying", "verified", "forwarded", "closed"};
      m->a = idx("tip", "status", next_status[below(&x->g, 4)]);
      put(&e, "status", "%s", val("tip", "status", m->a));
    } else if (m->type == T_MEDIATION && m->a < 0 && chance(&x->g, 50)) {
      m->a = idx("mediation", "outcome", chance(&x->g, 70) ? "reconciled" : "not_reconciled");
      put(&e, "outcome", "%s", val("mediation", "outcome", m->a));
    }
    if (e.n)
      rc = commit(x, m->id, type_names[m->type], &e, false);
    if (rc == 0 && chance(&x->g, 2)) {
      rc = fs_device_edit(x->d, x->area, m->id, NULL, NULL, 0, true);
      if (rc == 0) {
        m->deleted = true;
        x->t->changesets++;
        x->t->deleted++;
      }
    }
  }
  return rc;
}

static int add(gen *x, const char *key, int64_t v) {
  return v ? fs_gen_totals_add(x->t, x->area, key, v) : 0;
}

static int addf(gen *x, int64_t v, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int addf(gen *x, int64_t v, const char *fmt, ...) {
  char key[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(key, sizeof key, fmt, ap);
  va_end(ap);
  return add(x, key, v);
}

static int tally(gen *x, const mirror *ms, size_t n) {
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const mirror *m = &ms[i];
    if (m->deleted)
      continue;
    switch (m->type) {
    case T_INCIDENT: {
      const char *c = val("incident", "category", m->a), *s = val("incident", "status", m->b);
      if ((rc = add(x, "incidents.total", 1)) == 0 &&
          (rc = addf(x, 1, "incidents.category.%s", c)) == 0 &&
          (rc = addf(x, 1, "incidents.status.%s", s)) == 0)
        rc = addf(x, 1, "incidents.category_status.%s.%s", c, s);
      break;
    }
    case T_TIP:
      if ((rc = add(x, "tips.total", 1)) == 0)
        rc = addf(x, 1, "tips.status.%s", val("tip", "status", m->a));
      break;
    case T_SURRENDER:
      rc = add(x, "surrender.records", 1);
      for (int l = 0; rc == 0 && l < MAX_LINES && m->line_qty[l]; l++)
        rc = addf(x, m->line_qty[l], "surrender.%s.%s.%s",
                  val("surrender", "mode", m->line_mode[l]),
                  val("surrender", "kind", m->line_kind[l]),
                  val("surrender", "unit", m->line_unit[l]));
      break;
    case T_MEDIATION:
      if ((rc = add(x, "mediations.total", 1)) == 0)
        rc = m->a < 0 ? add(x, "mediations.pending", 1)
                      : addf(x, 1, "mediations.outcome.%s", val("mediation", "outcome", m->a));
      break;
    case T_PATROL:
      rc = add(x, "patrols.total", 1);
      break;
    case T_MODEL: {
      if ((rc = add(x, "models.total", 1)) || (rc = addf(x, 1, "models.kind.%s",
                                                         val("model", "kind", m->a))))
        break;
      const mirror *best = NULL; /* the latest review: H2 over H1 */
      for (size_t k = 0; k < n; k++)
        if (ms[k].type == T_REVIEW && !ms[k].deleted && ms[k].model == (long)i &&
            (!best || ms[k].period > best->period))
          best = &ms[k];
      if (!best)
        rc = add(x, "models.rating.unrated", 1);
      else if ((rc = addf(x, 1, "models.rating.%s", val("model_review", "rating", best->a))) == 0)
        rc = addf(x, 1, "models.decision.%s", val("model_review", "decision", best->b));
      break;
    }
    case T_SAFETY: {
      const char *k = val("safety_cert", "unit_kind", m->a);
      if ((rc = addf(x, 1, "safety.%s.total", k)) == 0 && m->met)
        rc = addf(x, 1, "safety.%s.met", k);
      break;
    }
    case T_COMMENDATION:
      if ((rc = add(x, "commendations.total", 1)) == 0)
        rc = addf(x, 1, "commendations.level.%s", val("commendation", "level", m->a));
      break;
    default:
      break;
    }
  }
  return rc;
}

static int device_meta(fs_device *d, const char *key, char *out, size_t cap) {
  MDB_txn *txn;
  MDB_val v;
  int rc = fs_store_begin(&d->store, false, &txn);
  if (rc)
    return rc;
  if ((rc = fs_meta_get(&d->store, txn, key, &v)) == 0)
    snprintf(out, cap, "%.*s", (int)(v.mv_size < cap ? v.mv_size : cap - 1),
             (const char *)v.mv_data);
  mdb_txn_abort(txn);
  return rc;
}

int fs_gen_records(fs_device *d, const fs_gen_opts *o, fs_gen_totals *t) {
  if (o->year < 1901 || o->year > 2099 || o->count > 100000000)
    return FS_EINVAL;
  char area[FS_MAX_AREA + 1], officer[256] = "", scope[FS_MAX_AREA + 1];
  int rc = fs_device_area(d, scope);
  if (rc)
    return rc;
  snprintf(area, sizeof area, "%s", o->area ? o->area : scope);
  if (!fs_area_valid(area) || !fs_area_within(area, scope))
    return FS_EINVAL;
  if (o->officer)
    snprintf(officer, sizeof officer, "%s", o->officer);
  else if (device_meta(d, "officer", officer, sizeof officer) != 0 || !officer[0])
    snprintf(officer, sizeof officer, "Nguyễn Văn An");
  gen x = {.year = o->year, .area = area, .officer = officer, .d = d, .t = t};
  /* The seed and the device key decide everything: two laptops given one
   * seed still write different records and ids. */
  x.g.s = o->seed ^ 0x6669656c6473796eull;
  for (int i = 0; i < 8; i++)
    x.g.s = x.g.s * 31 + d->key.pk[i];
  for (size_t i = 0; area[i]; i++)
    x.g.s = x.g.s * 131 + (uint8_t)area[i];
  const char *name = fs_gen_area_name(area);
  x.commune = name ? name : area;
  snprintf(x.police, sizeof x.police, "Công an %s", x.commune);

  mirror *ms = calloc(o->count ? o->count : 1, sizeof *ms);
  size_t *models = calloc(o->count ? o->count : 1, sizeof *models), nmodels = 0;
  if (!ms || !models) {
    free(ms);
    free(models);
    return FS_ENOMEM;
  }
  unsigned weights[T_COUNT] = {30, 22, 14, 10, 12, 3, 4, 3, 2};
  size_t n = 0;
  for (; rc == 0 && n < o->count; n++) {
    mirror *m = &ms[n];
    memset(m, 0, sizeof *m);
    m->model = -1;
    new_id(&x, m->id);
    m->type = (int)weighted(&x.g, weights, T_COUNT);
    if (m->type == T_REVIEW) {
      /* A review of a model written earlier on this laptop, for a half
       * year not reviewed yet; a model first when there is none. */
      long pick = -1;
      int period = 0;
      for (size_t tries = 0; tries < 4 && pick < 0 && nmodels > 0; tries++) {
        size_t k = models[below(&x.g, (unsigned)nmodels)];
        int used = 0;
        for (size_t j = 0; j < n; j++)
          if (ms[j].type == T_REVIEW && ms[j].model == (long)k)
            used |= 1 << ms[j].period;
        period = !(used & 2) ? 1 : !(used & 4) ? 2 : 0;
        if (period)
          pick = (long)k;
      }
      if (pick < 0) {
        m->type = T_MODEL;
      } else {
        m->model = pick;
        rc = make_review(&x, m, &ms[pick], period);
        t->records++;
        continue;
      }
    }
    if (m->type == T_MODEL)
      models[nmodels++] = n;
    switch (m->type) {
    case T_INCIDENT: rc = make_incident(&x, m); break;
    case T_TIP: rc = make_tip(&x, m); break;
    case T_SURRENDER: rc = make_surrender(&x, m); break;
    case T_MEDIATION: rc = make_mediation(&x, m); break;
    case T_PATROL: rc = make_patrol(&x, m); break;
    case T_MODEL: rc = make_model(&x, m); break;
    case T_SAFETY: rc = make_safety(&x, m); break;
    default: rc = make_commendation(&x, m); break;
    }
    t->records++;
  }
  if (rc == 0)
    rc = later_edits(&x, ms, n);
  if (rc == 0)
    rc = tally(&x, ms, n);
  free(ms);
  free(models);
  return rc;
}

/* ------------------------------------------------------------------ totals */

void fs_gen_totals_init(fs_gen_totals *t) { memset(t, 0, sizeof *t); }

void fs_gen_totals_free(fs_gen_totals *t) {
  for (size_t i = 0; i < t->n; i++) {
    free(t->e[i].area);
    free(t->e[i].key);
  }
  free(t->e);
  memset(t, 0, sizeof *t);
}

int fs_gen_totals_add(fs_gen_totals *t, const char *area, const char *key, int64_t v) {
  for (size_t i = t->n; i-- > 0;)
    if (strcmp(t->e[i].key, key) == 0 && strcmp(t->e[i].area, area) == 0) {
      t->e[i].value += v;
      return 0;
    }
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    fs_gen_entry *ne = realloc(t->e, cap * sizeof *ne);
    if (!ne)
      return FS_ENOMEM;
    t->e = ne;
    t->cap = cap;
  }
  fs_gen_entry *e = &t->e[t->n];
  e->area = strdup(area);
  e->key = strdup(key);
  e->value = v;
  if (!e->area || !e->key) {
    free(e->area);
    free(e->key);
    return FS_ENOMEM;
  }
  t->n++;
  return 0;
}

int64_t fs_gen_totals_sum(const fs_gen_totals *t, const char *prefix, const char *key) {
  int64_t s = 0;
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->e[i].key, key) == 0 && fs_area_within(t->e[i].area, prefix))
      s += t->e[i].value;
  return s;
}

static int entry_cmp(const void *a, const void *b) {
  const fs_gen_entry *x = a, *y = b;
  int c = strcmp(x->area, y->area);
  return c ? c : strcmp(x->key, y->key);
}

void fs_gen_totals_print(fs_gen_totals *t, FILE *out) {
  qsort(t->e, t->n, sizeof *t->e, entry_cmp);
  fputs("area,measure,value\n", out);
  for (size_t i = 0; i < t->n; i++) {
    char v[48];
    if (strncmp(t->e[i].key, "surrender.", 10) == 0 && strcmp(t->e[i].key, "surrender.records") != 0)
      qty_text(v, sizeof v, t->e[i].value);
    else
      snprintf(v, sizeof v, "%lld", (long long)t->e[i].value);
    fprintf(out, "%s,%s,%s\n", t->e[i].area, t->e[i].key, v);
  }
}

