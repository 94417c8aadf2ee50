/* schema.c - the record types as tables, and the checks every edge runs.
 *
 * The tables are the single definition of the movement's records: the CLI,
 * the edge's ingest, the reports, the sample-data generator and
 * docs/SCHEMA.md all follow them. Adding to them is how the schema evolves
 * (see schema.h: only additions, new fields optional). */
#include "schema.h"

#include "seal.h"

#include "changeset.h"
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define ENUM(v) .type = FS_FT_ENUM, .values = (v), .nvalues = N(v)
#define TEXT(n) .type = FS_FT_TEXT, .max_chars = (n)
#define REQ FS_FIELD_REQUIRED
#define SEALED FS_FIELD_SEALED
#define MULTI FS_FIELD_MULTILINE
#define LINE FS_FIELD_LINE
#define L(vi, en) {(vi), (en)}

#define SHORT 200  /* names, places: code points */
#define PERSON 120
#define LONG 4000  /* descriptions, contents, notes */

/* ---------------------------------------------------------------- incident */

static const fs_enum_value incident_categories[] = {
    {"theft", L("Trộm cắp tài sản", "Theft")},
    {"assault", L("Cố ý gây thương tích", "Assault")},
    {"drugs", L("Ma túy", "Drugs")},
    {"gambling", L("Đánh bạc", "Gambling")},
    {"public_order", L("Gây rối trật tự công cộng", "Public order")},
    {"fire", L("Cháy, nổ", "Fire")},
    {"traffic", L("Giao thông", "Traffic")},
    {"land_dispute", L("Tranh chấp đất đai", "Land dispute")},
    {"other", L("Khác", "Other")},
};
static const fs_enum_value incident_statuses[] = {
    {"new", L("Mới tiếp nhận", "New")},
    {"handling", L("Đang giải quyết", "Handling")},
    {"resolved", L("Đã giải quyết", "Resolved")},
    {"transferred", L("Đã chuyển cơ quan khác", "Transferred")},
};
static const fs_field_def incident_fields[] = {
    {"category", ENUM(incident_categories), .flags = REQ, .label = L("Loại vụ việc", "Category")},
    {"occurred_at", .type = FS_FT_DATETIME, .flags = REQ,
     .label = L("Thời gian xảy ra", "Occurred at")},
    {"place", TEXT(SHORT), .flags = REQ, .label = L("Địa điểm", "Place")},
    {"description", TEXT(LONG), .flags = MULTI, .label = L("Nội dung", "Description")},
    {"status", ENUM(incident_statuses), .flags = REQ, .label = L("Tình trạng", "Status")},
    {"officer", TEXT(PERSON), .flags = REQ,
     .label = L("Cán bộ tiếp nhận", "Reporting officer")},
};

/* --------------------------------------------------------------------- tip */

static const fs_enum_value tip_channels[] = {
    {"in_person", L("Trực tiếp", "In person")},
    {"phone", L("Điện thoại", "Phone")},
    {"message", L("Tin nhắn", "Message")},
    {"mailbox", L("Hòm thư tố giác", "Mailbox")},
};
static const fs_enum_value tip_statuses[] = {
    {"received", L("Đã tiếp nhận", "Received")},
    {"verifying", L("Đang xác minh", "Verifying")},
    {"verified", L("Đã xác minh", "Verified")},
    {"forwarded", L("Đã chuyển xử lý", "Forwarded")},
    {"closed", L("Đã kết thúc", "Closed")},
};
static const fs_field_def tip_fields[] = {
    {"received_at", .type = FS_FT_DATETIME, .flags = REQ,
     .label = L("Thời gian tiếp nhận", "Received at")},
    {"channel", ENUM(tip_channels), .flags = REQ, .label = L("Hình thức", "Channel")},
    {"content", TEXT(LONG), .flags = REQ | MULTI, .label = L("Nội dung", "Content")},
    {"status", ENUM(tip_statuses), .flags = REQ, .label = L("Tình trạng", "Status")},
    {"incident", .type = FS_FT_REF, .ref_type = "incident",
     .label = L("Vụ việc liên quan", "Linked incident")},
    {"informant_name", TEXT(PERSON), .flags = SEALED,
     .label = L("Họ tên người báo tin", "Informant's name")},
    {"informant_phone", TEXT(20), .flags = SEALED,
     .label = L("Điện thoại người báo tin", "Informant's phone")},
    {"informant_address", TEXT(SHORT), .flags = SEALED,
     .label = L("Địa chỉ người báo tin", "Informant's address")},
};

/* --------------------------------------------------------------- surrender */

static const fs_enum_value surrender_kinds[] = {
    {"gun", L("Súng", "Guns")},
    {"gun_part", L("Linh kiện súng", "Gun parts")},
    {"ammunition", L("Đạn", "Ammunition")},
    {"detonator", L("Kíp nổ", "Detonators")},
    {"explosive", L("Vật liệu nổ", "Explosives")},
    {"fireworks", L("Pháo", "Fireworks")},
    {"support_tool", L("Công cụ hỗ trợ", "Support tools")},
    {"crude_weapon", L("Vũ khí thô sơ", "Crude weapons")},
};
static const fs_enum_value surrender_units[] = {
    {"piece", L("cái", "pieces")},
    {"kg", L("kg", "kg")},
    {"box", L("hộp", "boxes")},
};
static const fs_enum_value surrender_modes[] = {
    {"handed_in", L("Người dân giao nộp", "Handed in")},
    {"seized", L("Thu giữ", "Seized")},
};
static const fs_field_def surrender_fields[] = {
    {"date", .type = FS_FT_DATE, .flags = REQ, .label = L("Ngày", "Date")},
    {"handed_in_by", TEXT(SHORT), .label = L("Người giao nộp", "Handed in by")},
    {"received_by", TEXT(SHORT), .flags = REQ, .label = L("Người tiếp nhận", "Received by")},
    {"kind", ENUM(surrender_kinds), .flags = REQ | LINE, .label = L("Loại", "Kind")},
    {"description", TEXT(400), .flags = LINE, .label = L("Mô tả", "Description")},
    {"quantity", .type = FS_FT_QUANTITY, .flags = REQ | LINE, .max = 1000000000,
     .label = L("Số lượng", "Quantity")},
    {"unit", ENUM(surrender_units), .flags = REQ | LINE, .label = L("Đơn vị tính", "Unit")},
    {"mode", ENUM(surrender_modes), .flags = REQ | LINE,
     .label = L("Hình thức", "Handed in or seized")},
};

/* --------------------------------------------------------------- mediation */

static const fs_enum_value mediation_subjects[] = {
    {"land", L("Đất đai", "Land")},
    {"family", L("Hôn nhân, gia đình", "Family")},
    {"neighbours", L("Quan hệ láng giềng", "Neighbours")},
    {"compensation", L("Bồi thường thiệt hại", "Compensation")},
    {"other", L("Khác", "Other")},
};
static const fs_enum_value mediation_outcomes[] = {
    {"reconciled", L("Hòa giải thành", "Reconciled")},
    {"not_reconciled", L("Hòa giải không thành", "Not reconciled")},
    {"referred", L("Chuyển cơ quan có thẩm quyền", "Referred")},
};
static const fs_field_def mediation_fields[] = {
    {"parties", TEXT(400), .flags = REQ, .label = L("Các bên", "Parties")},
    {"subject", ENUM(mediation_subjects), .flags = REQ, .label = L("Lĩnh vực", "Subject")},
    {"date", .type = FS_FT_DATE, .flags = REQ, .label = L("Ngày hòa giải", "Date")},
    {"outcome", ENUM(mediation_outcomes), .label = L("Kết quả", "Outcome")},
};

/* ------------------------------------------------------------------ patrol */

static const fs_field_def patrol_fields[] = {
    {"start", .type = FS_FT_DATETIME, .flags = REQ, .label = L("Bắt đầu", "Start")},
    {"end", .type = FS_FT_DATETIME, .flags = REQ, .label = L("Kết thúc", "End")},
    {"route", TEXT(400), .flags = REQ, .label = L("Tuyến tuần tra", "Route")},
    {"members", TEXT(400), .label = L("Thành phần", "Members")},
    {"notes", TEXT(LONG), .flags = MULTI, .label = L("Ghi chú", "Notes")},
};

/* ------------------------------------------------------------------- model */

static const fs_enum_value model_kinds[] = {
    {"self_management", L("Tự quản", "Self-management")},
    {"self_protection", L("Tự phòng, tự bảo vệ", "Self-protection")},
    {"self_mediation", L("Tự hòa giải", "Self-mediation")},
    {"advanced_example", L("Điển hình tiên tiến", "Advanced example")},
};
static const fs_field_def model_fields[] = {
    {"name", TEXT(SHORT), .flags = REQ, .label = L("Tên mô hình", "Name")},
    {"kind", ENUM(model_kinds), .flags = REQ, .label = L("Loại mô hình", "Kind")},
    {"founded", .type = FS_FT_DATE, .flags = REQ, .label = L("Ngày thành lập", "Founded")},
    {"leader", TEXT(PERSON), .label = L("Người phụ trách", "Leader")},
    {"members", .type = FS_FT_INT, .min = 0, .max = 100000,
     .label = L("Số thành viên", "Members")},
};

/* ------------------------------------------------------------ model review */

static const fs_enum_value review_ratings[] = {
    {"good", L("Tốt", "Good")},
    {"average", L("Trung bình", "Average")},
    {"weak", L("Yếu", "Weak")},
};
static const fs_enum_value review_decisions[] = {
    {"replicate", L("Nhân rộng", "Replicate")},
    {"strengthen", L("Củng cố", "Strengthen")},
    {"dissolve", L("Giải thể", "Dissolve")},
};
static const fs_field_def review_fields[] = {
    {"model", .type = FS_FT_REF, .ref_type = "model", .flags = REQ,
     .label = L("Mô hình", "Model")},
    {"period", .type = FS_FT_PERIOD, .flags = REQ, .label = L("Kỳ đánh giá", "Period")},
    {"rating", ENUM(review_ratings), .flags = REQ, .label = L("Xếp loại", "Rating")},
    {"decision", ENUM(review_decisions), .flags = REQ, .label = L("Hướng xử lý", "Decision")},
    {"notes", TEXT(LONG), .flags = MULTI, .label = L("Nhận xét", "Notes")},
};

/* ---------------------------------------------------- safety certification */

static const fs_enum_value safety_unit_kinds[] = {
    {"residential_area", L("Khu dân cư", "Residential areas")},
    {"commune", L("Xã, phường, thị trấn", "Communes")},
    {"agency", L("Cơ quan", "Agencies")},
    {"enterprise", L("Doanh nghiệp", "Enterprises")},
    {"school", L("Nhà trường", "Schools")},
};
static const fs_field_def safety_fields[] = {
    {"unit_kind", ENUM(safety_unit_kinds), .flags = REQ, .label = L("Loại đơn vị", "Unit kind")},
    {"unit_name", TEXT(SHORT), .flags = REQ, .label = L("Tên đơn vị", "Unit name")},
    {"year", .type = FS_FT_INT, .flags = REQ, .min = 2000, .max = 2100,
     .label = L("Năm", "Year")},
    {"met", .type = FS_FT_BOOL, .flags = REQ, .label = L("Đạt chuẩn", "Standard met")},
};

/* ------------------------------------------------------------ commendation */

static const fs_enum_value recipient_kinds[] = {
    {"person", L("Cá nhân", "Person")},
    {"collective", L("Tập thể", "Collective")},
};
static const fs_enum_value commendation_levels[] = {
    {"commune", L("Cấp xã", "Commune")},
    {"district", L("Cấp huyện", "District")},
    {"province", L("Cấp tỉnh", "Province")},
    {"ministry", L("Bộ Công an", "Ministry")},
    {"government", L("Chính phủ", "Government")},
};
static const fs_field_def commendation_fields[] = {
    {"recipient", TEXT(SHORT), .flags = REQ, .label = L("Người, tập thể được khen", "Recipient")},
    {"recipient_kind", ENUM(recipient_kinds), .flags = REQ,
     .label = L("Cá nhân hay tập thể", "Person or collective")},
    {"reason", TEXT(2000), .flags = REQ | MULTI, .label = L("Thành tích", "Reason")},
    {"level", ENUM(commendation_levels), .flags = REQ, .label = L("Cấp khen thưởng", "Level")},
    {"date", .type = FS_FT_DATE, .flags = REQ, .label = L("Ngày", "Date")},
};

#define TYPE(nm, vi, en, f, datef) \
  {.name = (nm), .label = L(vi, en), .fields = (f), .nfields = N(f), .date_field = (datef)}

static const fs_type_def types[] = {
    TYPE("incident", "Vụ việc", "Incidents", incident_fields, "occurred_at"),
    TYPE("tip", "Tin báo, tố giác tội phạm", "Citizen tips", tip_fields, "received_at"),
    TYPE("surrender", "Thu hồi vũ khí, vật liệu nổ, công cụ hỗ trợ",
         "Weapons, explosives and support tools recovered", surrender_fields, "date"),
    TYPE("mediation", "Hòa giải ở cơ sở", "Mediations", mediation_fields, "date"),
    {.name = "patrol", .label = L("Tuần tra", "Patrols"), .fields = patrol_fields,
     .nfields = N(patrol_fields), .date_field = "start", .first = "start", .then = "end"},
    TYPE("model", "Mô hình tự quản, điển hình tiên tiến",
         "Community models and advanced examples", model_fields, "founded"),
    TYPE("model_review", "Đánh giá mô hình", "Model reviews", review_fields, "period"),
    TYPE("safety_cert", "Công nhận đạt chuẩn \"An toàn về an ninh, trật tự\"",
         "\"Safe for security and order\" certifications", safety_fields, "year"),
    TYPE("commendation", "Khen thưởng", "Commendations", commendation_fields, "date"),
};

size_t fs_schema_ntypes(void) { return N(types); }

const fs_type_def *fs_schema_type_at(size_t i) { return i < N(types) ? &types[i] : NULL; }

const fs_type_def *fs_schema_type(const char *name) {
  for (size_t i = 0; name && i < N(types); i++)
    if (strcmp(types[i].name, name) == 0)
      return &types[i];
  return NULL;
}

const char *fs_label_get(const fs_label *l, fs_lang lang) {
  const char *s = lang == FS_LANG_EN ? l->en : l->vi;
  return s ? s : "";
}

void fs_schema_type_list(char *out, size_t cap) {
  size_t o = 0;
  out[0] = '\0';
  for (size_t i = 0; i < N(types) && o < cap; i++)
    o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? ", " : "", types[i].name);
}

void fs_schema_required_list(const fs_type_def *t, char *out, size_t cap) {
  size_t o = 0;
  out[0] = '\0';
  for (size_t i = 0; i < t->nfields && o < cap; i++)
    if (t->fields[i].flags & REQ)
      o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? ", " : "", t->fields[i].name);
}

/* "kind_12" -> 12 when the suffix is a canonical line number >= 2. */
static unsigned line_suffix(const char *name, size_t *base_len) {
  const char *us = strrchr(name, '_');
  if (!us || us == name || us[1] < '1' || us[1] > '9')
    return 0;
  unsigned n = 0;
  for (const char *p = us + 1; *p; p++) {
    if (*p < '0' || *p > '9' || n > FS_SCHEMA_MAX_LINES)
      return 0;
    n = n * 10 + (unsigned)(*p - '0');
  }
  if (n < 2 || n > FS_SCHEMA_MAX_LINES)
    return 0;
  *base_len = (size_t)(us - name);
  return n;
}

const fs_field_def *fs_schema_field(const fs_type_def *t, const char *name,
                                    unsigned *line) {
  for (size_t i = 0; i < t->nfields; i++)
    if (strcmp(t->fields[i].name, name) == 0) {
      if (line)
        *line = 1;
      return &t->fields[i];
    }
  size_t blen;
  unsigned n = line_suffix(name, &blen);
  for (size_t i = 0; n && i < t->nfields; i++) {
    const fs_field_def *f = &t->fields[i];
    if ((f->flags & LINE) && strlen(f->name) == blen && strncmp(f->name, name, blen) == 0) {
      if (line)
        *line = n;
      return f;
    }
  }
  return NULL;
}

int fs_schema_enum_index(const fs_field_def *f, const uint8_t *v, size_t len) {
  for (size_t i = 0; f->type == FS_FT_ENUM && i < f->nvalues; i++)
    if (strlen(f->values[i].name) == len && memcmp(f->values[i].name, v, len) == 0)
      return (int)i;
  return -1;
}

/* ------------------------------------------------------------ value parsing */

static bool digits(const uint8_t *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (v[i] < '0' || v[i] > '9')
      return false;
  return true;
}

static int num(const uint8_t *v, size_t n) {
  int x = 0;
  for (size_t i = 0; i < n; i++)
    x = x * 10 + (v[i] - '0');
  return x;
}

static int days_in(int y, int m) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : d[m - 1];
}

int fs_schema_date_parse(const uint8_t *v, size_t len, int32_t *ymd) {
  if (len != 10 || v[4] != '-' || v[7] != '-' || !digits(v, 4) || !digits(v + 5, 2) ||
      !digits(v + 8, 2))
    return FS_EINVAL;
  int y = num(v, 4), m = num(v + 5, 2), d = num(v + 8, 2);
  if (y < 1900 || y > 2100 || m < 1 || m > 12 || d < 1 || d > days_in(y, m))
    return FS_EINVAL;
  *ymd = y * 10000 + m * 100 + d;
  return 0;
}

static bool two(const uint8_t *v, int max, int *out) {
  if (!digits(v, 2))
    return false;
  *out = num(v, 2);
  return *out <= max;
}

int fs_schema_datetime_parse(const uint8_t *v, size_t len, int32_t *ymd, int64_t *key) {
  int h, mi, s = 0;
  if (len < 16 || v[10] != 'T' || v[13] != ':' || fs_schema_date_parse(v, 10, ymd) ||
      !two(v + 11, 23, &h) || !two(v + 14, 59, &mi))
    return FS_EINVAL;
  size_t i = 16;
  if (i < len && v[i] == ':') {
    if (len < i + 3 || !two(v + i + 1, 59, &s))
      return FS_EINVAL;
    i += 3;
    if (i < len && v[i] == '.') {
      size_t f = ++i;
      while (i < len && v[i] >= '0' && v[i] <= '9' && i - f < 9)
        i++;
      if (i == f)
        return FS_EINVAL;
    }
  }
  if (i < len && v[i] == 'Z') {
    i++;
  } else if (i < len && (v[i] == '+' || v[i] == '-')) {
    int zh, zm;
    if (len < i + 6 || !two(v + i + 1, 14, &zh) || v[i + 3] != ':' || !two(v + i + 4, 59, &zm))
      return FS_EINVAL;
    i += 6;
  }
  if (i != len)
    return FS_EINVAL;
  *key = (int64_t)*ymd * 100000 + (int64_t)h * 3600 + (int64_t)mi * 60 + s;
  return 0;
}

int fs_schema_period_parse(const uint8_t *v, size_t len, int32_t *first, int32_t *last) {
  if (len == 10)
    return fs_schema_date_parse(v, len, first) ? FS_EINVAL : (*last = *first, 0);
  if (len < 4 || !digits(v, 4))
    return FS_EINVAL;
  int y = num(v, 4), m0, m1;
  if (y < 1900 || y > 2100)
    return FS_EINVAL;
  if (len == 4) {
    m0 = 1, m1 = 12;
  } else if (len == 7 && v[4] == '-' && (v[5] == 'H' || v[5] == 'Q') && v[6] >= '1' &&
             v[6] <= (v[5] == 'H' ? '2' : '4')) {
    int n = v[6] - '0', span = v[5] == 'H' ? 6 : 3;
    m0 = (n - 1) * span + 1;
    m1 = n * span;
  } else if (len == 7 && v[4] == '-' && digits(v + 5, 2) && num(v + 5, 2) >= 1 &&
             num(v + 5, 2) <= 12) {
    m0 = m1 = num(v + 5, 2);
  } else {
    return FS_EINVAL;
  }
  *first = y * 10000 + m0 * 100 + 1;
  *last = y * 10000 + m1 * 100 + days_in(y, m1);
  return 0;
}

int fs_schema_quantity_parse(const uint8_t *v, size_t len, int64_t *milli) {
  size_t i = 0;
  int64_t whole = 0;
  while (i < len && v[i] >= '0' && v[i] <= '9') {
    if (i == 12 || (i == 1 && v[0] == '0'))
      return FS_EINVAL; /* too long, or a leading zero */
    whole = whole * 10 + (v[i++] - '0');
  }
  if (i == 0)
    return FS_EINVAL;
  int64_t frac = 0;
  if (i < len && v[i] == '.') {
    size_t f = ++i;
    while (i < len && v[i] >= '0' && v[i] <= '9' && i - f < 3)
      frac = frac * 10 + (v[i++] - '0');
    if (i == f)
      return FS_EINVAL;
    for (size_t k = i - f; k < 3; k++)
      frac *= 10;
  }
  if (i != len)
    return FS_EINVAL;
  *milli = whole * 1000 + frac;
  return 0;
}

int fs_schema_int_parse(const uint8_t *v, size_t len, int64_t *out) {
  size_t i = len && v[0] == '-' ? 1 : 0;
  if (len == i || len - i > 18 || !digits(v + i, len - i) || (len - i > 1 && v[i] == '0') ||
      (i && len == 2 && v[1] == '0'))
    return FS_EINVAL;
  int64_t x = 0;
  for (size_t k = i; k < len; k++)
    x = x * 10 + (v[k] - '0');
  *out = i ? -x : x;
  return 0;
}

/* ------------------------------------------------------------------ checks */

/* Appends a printable copy of a short value (no quotes, no control bytes). */
static void echo(char *out, size_t cap, const uint8_t *v, size_t len) {
  size_t o = 0, n = len > 40 ? 40 : len;
  for (size_t i = 0; i < n && o + 1 < cap; i++)
    out[o++] = (v[i] < 0x20 || v[i] == 0x7f || v[i] == '"' || v[i] == '\\' || v[i] == '\'')
                   ? '?' : (char)v[i];
  if (len > n && o + 4 < cap) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o] = '\0';
}

/* Number of code points of valid UTF-8, or -1 when a control character
 * (C0, DEL or C1) not allowed by multiline is present. */
static long text_chars(const uint8_t *v, size_t len, bool multiline) {
  long n = 0;
  for (size_t i = 0; i < len; i++) {
    uint8_t c = v[i];
    if ((c < 0x20 && !(multiline && (c == '\n' || c == '\t'))) || c == 0x7f)
      return -1;
    if (c == 0xc2 && i + 1 < len && v[i + 1] >= 0x80 && v[i + 1] <= 0x9f)
      return -1; /* C1 controls */
    if ((c & 0xc0) != 0x80)
      n++;
  }
  return n;
}

static bool blank(const uint8_t *v, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (v[i] != ' ' && v[i] != '\t' && v[i] != '\n')
      return false;
  return true;
}

static void enum_list(char *out, size_t cap, const fs_field_def *f) {
  size_t o = 0;
  out[0] = '\0';
  for (size_t i = 0; i < f->nvalues && o < cap; i++)
    o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? ", " : "", f->values[i].name);
}

/* The value as a message shows it; only refusals pay for it. Sealed values
 * never appear in a message: messages get logged. */
static const char *show(const fs_field_def *f, const uint8_t *v, size_t len, char *out,
                        size_t cap) {
  if (f->flags & SEALED)
    snprintf(out, cap, "(sealed)");
  else
    echo(out, cap, v, len);
  return out;
}

int fs_schema_check_value(const fs_field_def *f, const char *name, const uint8_t *v,
                          size_t len, char *why, size_t cap) {
  char shown[64], list[256];
#define SHOWN show(f, v, len, shown, sizeof shown)
  if (len == 0) {
    if ((f->flags & REQ) && !(f->flags & LINE)) {
      snprintf(why, cap, "field %s is required and cannot be empty", name);
      return FS_EINVAL;
    }
    return 0; /* clears an optional field (or an item line's) */
  }
  if ((f->flags & SEALED) && fs_value_sealed(v, len))
    return 0; /* ciphertext: its text was checked before it was sealed */
  if (len > FS_MAX_VALUE || !fs_utf8_valid(v, len)) {
    snprintf(why, cap, "field %s: the value is not valid UTF-8 text", name);
    return FS_EINVAL;
  }
  int32_t d0, d1;
  int64_t x;
  switch (f->type) {
  case FS_FT_TEXT: {
    long n = text_chars(v, len, f->flags & MULTI);
    if (n < 0) {
      snprintf(why, cap, "field %s: control characters are not allowed%s", name,
               f->flags & MULTI ? " (only newlines and tabs)" : " (one line of text)");
      return FS_EINVAL;
    }
    if ((unsigned long)n > f->max_chars) {
      snprintf(why, cap, "field %s: at most %u characters (this value has %ld)", name,
               f->max_chars, n);
      return FS_EINVAL;
    }
    if ((f->flags & REQ) && !(f->flags & LINE) && blank(v, len)) {
      snprintf(why, cap, "field %s is required and cannot be blank", name);
      return FS_EINVAL;
    }
    return 0;
  }
  case FS_FT_ENUM:
    if (fs_schema_enum_index(f, v, len) >= 0)
      return 0;
    enum_list(list, sizeof list, f);
    snprintf(why, cap, "field %s: '%s' is not one of: %s", name, SHOWN, list);
    return FS_EINVAL;
  case FS_FT_DATE:
    if (fs_schema_date_parse(v, len, &d0) == 0)
      return 0;
    snprintf(why, cap, "field %s: '%s' is not a date YYYY-MM-DD (like 2026-11-20)", name,
             SHOWN);
    return FS_EINVAL;
  case FS_FT_DATETIME:
    if (fs_schema_datetime_parse(v, len, &d0, &x) == 0)
      return 0;
    snprintf(why, cap,
             "field %s: '%s' is not a date and time YYYY-MM-DDTHH:MM (like 2026-11-20T21:15)",
             name, SHOWN);
    return FS_EINVAL;
  case FS_FT_PERIOD:
    if (fs_schema_period_parse(v, len, &d0, &d1) == 0 && len != 10)
      return 0;
    snprintf(why, cap, "field %s: '%s' is not a period: YYYY, YYYY-H1..H2, YYYY-Q1..Q4 "
             "or YYYY-MM (like 2026-H1)", name, SHOWN);
    return FS_EINVAL;
  case FS_FT_INT:
    if (fs_schema_int_parse(v, len, &x) == 0 && x >= f->min && x <= f->max)
      return 0;
    snprintf(why, cap, "field %s: '%s' must be a whole number from %lld to %lld", name,
             SHOWN, (long long)f->min, (long long)f->max);
    return FS_EINVAL;
  case FS_FT_QUANTITY:
    if (fs_schema_quantity_parse(v, len, &x) == 0 && x > 0 && x <= f->max)
      return 0;
    snprintf(why, cap, "field %s: '%s' must be a positive number up to %lld with at most "
             "3 decimals after a dot (like 26.5)", name, SHOWN, (long long)(f->max / 1000));
    return FS_EINVAL;
  case FS_FT_REF:
    if (fs_ident_valid((const char *)v, len, FS_MAX_ID))
      return 0;
    snprintf(why, cap, "field %s: '%s' is not the id of a %s record (1-64 of a-z, 0-9, _)",
             name, SHOWN, f->ref_type ? f->ref_type : "");
    return FS_EINVAL;
  case FS_FT_BOOL:
    if ((len == 4 && memcmp(v, "true", 4) == 0) || (len == 5 && memcmp(v, "false", 5) == 0))
      return 0;
    snprintf(why, cap, "field %s: '%s' must be true or false", name, SHOWN);
    return FS_EINVAL;
  }
  snprintf(why, cap, "field %s: unknown field type", name);
  return FS_EINVAL;
#undef SHOWN
}

/* The value of name after the edit: the last write, else cur's visible
 * field. False when absent or empty. */
static bool after_get(const fs_schema_write *w, size_t n, const fs_record *cur,
                      const char *name, const uint8_t **v, size_t *len) {
  for (size_t i = n; i-- > 0;)
    if (strcmp(w[i].name, name) == 0) {
      *v = w[i].value;
      *len = w[i].len;
      return w[i].len > 0;
    }
  const fs_field *f = cur ? fs_schema_value(cur, name) : NULL;
  if (!f)
    return false;
  *v = f->value;
  *len = f->value_len;
  return true;
}

static void line_name(char *out, size_t cap, const char *base, unsigned line) {
  if (line <= 1)
    snprintf(out, cap, "%s", base);
  else
    snprintf(out, cap, "%s_%u", base, line);
}

static void field_list(char *out, size_t cap, const fs_type_def *t) {
  size_t o = 0;
  out[0] = '\0';
  for (size_t i = 0; i < t->nfields && o < cap; i++)
    o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? ", " : "", t->fields[i].name);
}

/* Item lines: a line with any field needs all its required fields; a record
 * needs at least one line. Only lines in touched[] are looked at. */
static int check_lines(const fs_type_def *t, const fs_schema_write *w, size_t n,
                       const fs_record *cur, const bool *touched, bool need_one,
                       char *why, size_t cap) {
  bool any_line_field = false, some_line = false;
  for (size_t i = 0; i < t->nfields; i++)
    any_line_field |= (t->fields[i].flags & LINE) != 0;
  if (!any_line_field)
    return 0;
  for (unsigned line = 1; line <= FS_SCHEMA_MAX_LINES; line++) {
    bool present = false;
    const char *missing = NULL;
    for (size_t i = 0; i < t->nfields; i++) {
      const fs_field_def *f = &t->fields[i];
      if (!(f->flags & LINE))
        continue;
      char nm[FS_MAX_NAME + 1];
      const uint8_t *v;
      size_t len;
      line_name(nm, sizeof nm, f->name, line);
      if (after_get(w, n, cur, nm, &v, &len))
        present = true;
      else if ((f->flags & REQ) && !missing)
        missing = f->name;
    }
    some_line |= present;
    if (present && missing && (touched[line] || need_one)) {
      char nm[FS_MAX_NAME + 1];
      line_name(nm, sizeof nm, missing, line);
      snprintf(why, cap, "field %s is required: item line %u needs every one of its "
               "required fields", nm, line);
      return FS_EINVAL;
    }
  }
  if (need_one && !some_line) {
    snprintf(why, cap, "at least one item line is required (fields kind, quantity, unit, "
             "mode; more lines as kind_2, quantity_2, ...)");
    return FS_EINVAL;
  }
  return 0;
}

/* fs_schema_check; values false skips the per-value checks, for a set
 * whose values fs_schema_check_changeset already passed. */
static int check_edit(const fs_type_def *t, const fs_schema_write *w, size_t n,
                      const fs_record *cur, bool create, bool values, char *why,
                      size_t cap) {
  char msg[FS_SCHEMA_WHY - 32], list[192]; /* room left for the type name */
  bool touched[FS_SCHEMA_MAX_LINES + 1] = {false};
  bool order_touched = create;
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    unsigned line;
    const fs_field_def *f = fs_schema_field(t, w[i].name, &line);
    if (!f) {
      field_list(list, sizeof list, t);
      snprintf(msg, sizeof msg, "it has no field %s (fields: %s)", w[i].name, list);
      rc = FS_EINVAL;
      break;
    }
    if (f->flags & LINE)
      touched[line] = true;
    if (t->first && (strcmp(f->name, t->first) == 0 || strcmp(f->name, t->then) == 0))
      order_touched = true;
    if (values)
      rc = fs_schema_check_value(f, w[i].name, w[i].value, w[i].len, msg, sizeof msg);
  }
  for (size_t i = 0; create && rc == 0 && i < t->nfields; i++) {
    const fs_field_def *f = &t->fields[i];
    const uint8_t *v;
    size_t len;
    if ((f->flags & REQ) && !(f->flags & LINE) && !after_get(w, n, cur, f->name, &v, &len)) {
      snprintf(msg, sizeof msg, "field %s is required (%s)", f->name,
               fs_label_get(&f->label, FS_LANG_EN));
      rc = FS_EINVAL;
    }
  }
  /* An edit checked without the record (the edge) cannot tell whether a
   * line is complete: only the laptop that saw the record can. */
  if (rc == 0 && (create || cur))
    rc = check_lines(t, w, n, cur, touched, create, msg, sizeof msg);
  const uint8_t *a, *b;
  size_t alen, blen;
  if (rc == 0 && t->first && order_touched && after_get(w, n, cur, t->first, &a, &alen) &&
      after_get(w, n, cur, t->then, &b, &blen)) {
    int32_t d;
    int64_t ka, kb;
    if (fs_schema_datetime_parse(a, alen, &d, &ka) == 0 &&
        fs_schema_datetime_parse(b, blen, &d, &kb) == 0 && kb < ka) {
      snprintf(msg, sizeof msg, "field %s must not be before %s", t->then, t->first);
      rc = FS_EINVAL;
    }
  }
  if (rc)
    snprintf(why, cap, "%s: %s", t->name, msg);
  return rc;
}

int fs_schema_check(const fs_type_def *t, const fs_schema_write *w, size_t n,
                    const fs_record *cur, bool create, char *why, size_t cap) {
  return check_edit(t, w, n, cur, create, true, why, cap);
}

static int refuse_type(const Fs__Change *ch, char *why, size_t cap) {
  char list[256], shown[64];
  fs_schema_type_list(list, sizeof list);
  echo(shown, sizeof shown, (const uint8_t *)ch->record_type, strlen(ch->record_type));
  snprintf(why, cap, "record %.40s: unknown record type '%s' (schema version %d knows: %s)",
           ch->record_id, shown, FS_SCHEMA_VERSION, list);
  return FS_EINVAL;
}

int fs_schema_check_changeset(const Fs__ChangeSet *cs, char *why, size_t cap) {
  char msg[FS_SCHEMA_WHY], list[512], shown[64];
  for (size_t i = 0; i < cs->n_changes; i++) {
    const Fs__Change *ch = cs->changes[i];
    if (!fs_record_id_valid(ch->record_id)) {
      echo(shown, sizeof shown, (const uint8_t *)ch->record_id, strlen(ch->record_id));
      snprintf(why, cap, "record id '%s' must be 1-64 characters of a-z, 0-9 and _", shown);
      return FS_EINVAL;
    }
    const fs_type_def *t = fs_schema_type(ch->record_type);
    if (!t)
      return refuse_type(ch, why, cap);
    for (size_t j = 0; j < ch->n_writes; j++) {
      const Fs__FieldWrite *fw = ch->writes[j];
      /* The set's clock is what its device's enrolment is checked at: no
       * write may carry a later one past that check. */
      if (fw->hlc > cs->hlc) {
        snprintf(why, cap, "record %.40s: a write's clock is later than its change set's",
                 ch->record_id);
        return FS_EINVAL;
      }
      const fs_field_def *f = fs_schema_field(t, fw->name, NULL);
      if (!f) {
        field_list(list, sizeof list, t);
        echo(shown, sizeof shown, (const uint8_t *)fw->name, strlen(fw->name));
        snprintf(why, cap, "record %.40s, %s: it has no field %s (fields: %s)",
                 ch->record_id, t->name, shown, list);
        return FS_EINVAL;
      }
      /* A sealed field travels sealed: its text was checked on the laptop
       * before sealing, and in clear it would leak at every hop. */
      if ((f->flags & SEALED) && fw->value.len > 0 &&
          !fs_value_sealed(fw->value.data, fw->value.len)) {
        snprintf(why, cap, "record %.40s, %s: field %s must be sealed on the laptop",
                 ch->record_id, t->name, fw->name);
        return FS_EINVAL;
      }
      if (fs_schema_check_value(f, fw->name, fw->value.data, fw->value.len, msg,
                                sizeof msg) != 0) {
        snprintf(why, cap, "record %.40s, %s: %s", ch->record_id, t->name, msg);
        return FS_EINVAL;
      }
    }
  }
  return 0;
}

int fs_schema_check_stored(fs_store *s, MDB_txn *txn, const Fs__ChangeSet *cs,
                           char *why, size_t cap) {
  char msg[FS_SCHEMA_WHY];
  for (size_t i = 0; i < cs->n_changes; i++) {
    const Fs__Change *ch = cs->changes[i];
    const fs_type_def *t = fs_schema_type(ch->record_type);
    if (!t)
      return refuse_type(ch, why, cap);
    if (ch->deleted && ch->n_writes == 0)
      continue; /* a delete creates nothing and needs nothing */
    fs_schema_write small[32]; /* a record's writes fit, but for a big surrender */
    fs_schema_write *w = ch->n_writes <= sizeof small / sizeof small[0]
                             ? small : calloc(ch->n_writes, sizeof *w);
    if (!w)
      return FS_ENOMEM;
    for (size_t j = 0; j < ch->n_writes; j++)
      w[j] = (fs_schema_write){ch->writes[j]->name, ch->writes[j]->value.data,
                               ch->writes[j]->value.len};
    /* Checked as a creation first: that check is the stricter one, so a
     * change passing it needs no lookup (a patrol's new records). Else:
     * does the record exist, here already or made by an earlier change of
     * this set? Only existence is read from the store, never its fields or
     * type: those may hold concurrent edits this laptop never saw, and a
     * refused set blocks the laptop's outbox for good. */
    int rc = check_edit(t, w, ch->n_writes, NULL, true, false, msg, sizeof msg), erc = 0;
    if (rc == FS_EINVAL) {
      bool exists = false;
      for (size_t k = 0; !exists && k < i; k++)
        exists = strcmp(cs->changes[k]->record_id, ch->record_id) == 0;
      erc = exists ? 1 : fs_store_record_exists(s, txn, cs->area, ch->record_id);
      if (erc == 1)
        rc = check_edit(t, w, ch->n_writes, NULL, false, false, msg, sizeof msg);
    }
    if (w != small)
      free(w);
    if (erc < 0)
      return erc;
    if (rc) {
      snprintf(why, cap, "record %.40s, %s", ch->record_id, msg);
      return rc;
    }
  }
  return 0;
}

/* ---------------------------------------------------------------- reading */

const fs_field *fs_schema_value(const fs_record *r, const char *name) {
  const fs_field *f = fs_record_field(r, name);
  if (!f || f->value_len == 0 || !fs_field_visible(r, f))
    return NULL;
  return f;
}

int fs_schema_record_span(const fs_type_def *t, const fs_record *r, int32_t *first,
                          int32_t *last) {
  const fs_field_def *def = t->date_field ? fs_schema_field(t, t->date_field, NULL) : NULL;
  const fs_field *f = def ? fs_schema_value(r, def->name) : NULL;
  if (!f)
    return FS_ENOTFOUND;
  int64_t x;
  int rc = FS_ENOTFOUND;
  switch (def->type) {
  case FS_FT_DATE:
    rc = fs_schema_date_parse(f->value, f->value_len, first);
    *last = *first;
    break;
  case FS_FT_DATETIME:
    rc = fs_schema_datetime_parse(f->value, f->value_len, first, &x);
    *last = *first;
    break;
  case FS_FT_PERIOD:
    rc = fs_schema_period_parse(f->value, f->value_len, first, last);
    break;
  case FS_FT_INT:
    rc = fs_schema_int_parse(f->value, f->value_len, &x);
    if (rc == 0 && (x < 1900 || x > 2100))
      rc = FS_EINVAL;
    if (rc == 0) {
      *first = (int32_t)x * 10000 + 101;
      *last = (int32_t)x * 10000 + 1231;
    }
    break;
  default:
    break;
  }
  return rc ? FS_ENOTFOUND : 0;
}
