/* report_render.c - a computed report as terminal tables (aligned for
 * Vietnamese text, wrapped at 120 columns), CSV and JSON, and the
 * `fieldsyncd report` command. */
#include "cli.h"
#include "report_impl.h"

#include "changeset.h"
#include "error.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ output */

/* Thousandths as a plain decimal: 26500 -> "26.5". */
static void fmt_machine(char *out, size_t cap, int64_t milli, bool quantity) {
  if (!quantity) {
    snprintf(out, cap, "%lld", (long long)milli);
    return;
  }
  int64_t whole = milli / 1000, frac = milli % 1000;
  if (frac == 0) {
    snprintf(out, cap, "%lld", (long long)whole);
    return;
  }
  char f[8];
  snprintf(f, sizeof f, "%03lld", (long long)(frac < 0 ? -frac : frac));
  for (int i = 2; i > 0 && f[i] == '0'; i--)
    f[i] = '\0';
  snprintf(out, cap, "%lld.%s", (long long)whole, f);
}

/* For people: thousands grouped, decimal comma in Vietnamese (1.615,5),
 * point in English (1,615.5). */
static void fmt_human(char *out, size_t cap, int64_t milli, bool quantity, fs_lang lang) {
  char plain[32];
  fmt_machine(plain, sizeof plain, milli, quantity);
  char group = lang == FS_LANG_VI ? '.' : ',', dec = lang == FS_LANG_VI ? ',' : '.';
  const char *dot = strchr(plain, '.');
  size_t whole = dot ? (size_t)(dot - plain) : strlen(plain), o = 0;
  size_t start = plain[0] == '-' ? 1 : 0;
  for (size_t i = 0; i < whole && o + 2 < cap; i++) {
    if (i > start && (whole - i) % 3 == 0)
      out[o++] = group;
    out[o++] = plain[i];
  }
  if (dot && o + 1 < cap) {
    out[o++] = dec;
    for (const char *p = dot + 1; *p && o + 1 < cap; p++)
      out[o++] = *p;
  }
  out[o] = '\0';
}

/* Columns a string takes on a terminal: code points, less combining marks. */
static size_t width(const char *s) {
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p & 0xc0) == 0x80)
      continue;
    if (p[0] == 0xcc || (p[0] == 0xcd && p[1] < 0xb0))
      continue; /* U+0300..U+036F */
    n++;
  }
  return n;
}

typedef struct table {
  size_t nrows, ncols; /* row 0 is the header, column 0 the area */
  char **cell;
} table;

static int table_init(table *t, size_t nrows, size_t ncols) {
  t->nrows = nrows;
  t->ncols = ncols;
  t->cell = calloc(nrows * ncols, sizeof *t->cell);
  return t->cell ? 0 : FS_ENOMEM;
}

static void table_set(table *t, size_t i, size_t j, const char *s) {
  t->cell[i * t->ncols + j] = strdup(s);
}

static void table_free(table *t) {
  for (size_t i = 0; t->cell && i < t->nrows * t->ncols; i++)
    free(t->cell[i]);
  free(t->cell);
}

#define TABLE_WIDTH 120

/* Prints t, wrapping columns into blocks at most TABLE_WIDTH wide (the area
 * column repeats); the last row (the total) is set off by a rule. */
static void table_print(fs_strbuf *o, const table *t) {
  size_t *w = calloc(t->ncols, sizeof *w);
  if (!w) {
    o->err = FS_ENOMEM;
    return;
  }
  for (size_t i = 0; i < t->nrows; i++)
    for (size_t j = 0; j < t->ncols; j++) {
      const char *c = t->cell[i * t->ncols + j];
      size_t cw = c ? width(c) : 0;
      if (cw > w[j])
        w[j] = cw;
    }
  size_t j0 = 1;
  while (j0 < t->ncols) {
    size_t j1 = j0, used = w[0];
    while (j1 < t->ncols && (j1 == j0 || used + 2 + w[j1] <= TABLE_WIDTH))
      used += 2 + w[j1++];
    for (size_t i = 0; i < t->nrows; i++) {
      if (i == 1 || (i == t->nrows - 1 && i > 1)) {
        for (size_t k = 0; k < used; k++)
          fs_strbuf_puts(o, "-");
        fs_strbuf_puts(o, "\n");
      }
      for (size_t j = 0; j < t->ncols; j = j == 0 ? j0 : j + 1) {
        if (j >= j1)
          break;
        const char *c = t->cell[i * t->ncols + j];
        c = c ? c : "";
        size_t pad = w[j] - width(c);
        if (j == 0) {
          fs_strbuf_puts(o, c);
          fs_strbuf_printf(o, "%*s", (int)pad, "");
        } else {
          fs_strbuf_printf(o, "  %*s", (int)pad, "");
          fs_strbuf_puts(o, c);
        }
      }
      fs_strbuf_puts(o, "\n");
    }
    j0 = j1;
    if (j0 < t->ncols)
      fs_strbuf_puts(o, "\n");
  }
  free(w);
}

/* Prints one table of the given measures (indices), rows then the total;
 * with skip_zero, measures that are zero in the total are left out. */
static void section_table(fs_strbuf *o, const fs_report *r, fs_lang lang, const char *title,
                          const size_t *idx, size_t n, bool skip_zero) {
  size_t keep[256], nk = 0;
  for (size_t i = 0; i < n && nk < 256; i++)
    if (!skip_zero || r->total.v[idx[i]] != 0)
      keep[nk++] = idx[i];
  fs_strbuf_printf(o, "\n%s\n", title);
  if (nk == 0) {
    fs_strbuf_printf(o, "(%s)\n", lang == FS_LANG_VI ? "không có" : "none");
    return;
  }
  table t;
  if (table_init(&t, r->nrows + 2, nk + 1)) {
    o->err = FS_ENOMEM;
    return;
  }
  table_set(&t, 0, 0, fs_label_get(&fs_report_lb_area, lang));
  for (size_t j = 0; j < nk; j++)
    table_set(&t, 0, j + 1, r->m[keep[j]].col[lang] ? r->m[keep[j]].col[lang]
                                                    : r->m[keep[j]].label[lang]);
  for (size_t i = 0; i <= r->nrows; i++) {
    const row *w = i < r->nrows ? &r->rows[i] : &r->total;
    table_set(&t, i + 1, 0, i < r->nrows ? w->area : fs_label_get(&fs_report_lb_total_row, lang));
    for (size_t j = 0; j < nk; j++) {
      char num[48];
      fmt_human(num, sizeof num, w->v[keep[j]], r->m[keep[j]].quantity, lang);
      table_set(&t, i + 1, j + 1, num);
    }
  }
  table_print(o, &t);
  table_free(&t);
}

static size_t range(size_t *idx, size_t base, size_t n) {
  for (size_t i = 0; i < n; i++)
    idx[i] = base + i;
  return n;
}

static const char *type_label(const char *type, fs_lang lang) {
  const fs_type_def *t = fs_schema_type(type);
  return t ? fs_label_get(&t->label, lang) : type;
}

/* "75.0%" or "-" when there is nothing to divide by. */
static void fmt_rate(char *out, size_t cap, int64_t num, int64_t den, fs_lang lang) {
  if (den <= 0) {
    snprintf(out, cap, "-");
    return;
  }
  int64_t tenths = (num * 1000 + den / 2) / den;
  snprintf(out, cap, "%lld%c%lld%%", (long long)(tenths / 10), lang == FS_LANG_VI ? ',' : '.',
           (long long)(tenths % 10));
}

static void print_period(fs_strbuf *o, const fs_report *r, fs_lang lang) {
  char a[16] = "", b[16] = "";
  if (r->from)
    snprintf(a, sizeof a, "%04d-%02d-%02d", r->from / 10000, r->from / 100 % 100, r->from % 100);
  if (r->to)
    snprintf(b, sizeof b, "%04d-%02d-%02d", r->to / 10000, r->to / 100 % 100, r->to % 100);
  if (!r->from && !r->to)
    fs_strbuf_puts(o, lang == FS_LANG_VI ? "toàn bộ thời gian" : "all time");
  else
    fs_strbuf_printf(o, "%s %s %s %s", lang == FS_LANG_VI ? "từ" : "from",
                     r->from ? a : "...", lang == FS_LANG_VI ? "đến" : "to", r->to ? b : "...");
}

static void model_list(fs_strbuf *o, const fs_report *r, fs_lang lang, int rating,
                       const char *title) {
  fs_strbuf_printf(o, "\n%s\n", title);
  size_t n = 0;
  for (size_t i = 0; i < r->nmodels; i++) {
    const model_ent *m = &r->models[i];
    const review_ent *v = m->best >= 0 ? &r->reviews[m->best] : NULL;
    if (!v || v->rating != rating)
      continue;
    char name[1024];
    size_t k = 0;
    for (const char *p = m->name; *p && k + 1 < sizeof name; p++) /* no terminal controls */
      name[k++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
    name[k] = '\0';
    fs_strbuf_printf(o, "  - %s: %s (%s %s", m->area, name,
                     lang == FS_LANG_VI ? "kỳ" : "period", v->period);
    if (v->decision >= 0)
      fs_strbuf_printf(o, ", %s", fs_label_get(&r->rv_decision->values[v->decision].label, lang));
    fs_strbuf_printf(o, "; id %.12s)\n", m->id);
    n++;
  }
  if (n == 0)
    fs_strbuf_printf(o, "  (%s)\n", lang == FS_LANG_VI ? "không có" : "none");
}

static int find_value(const fs_field_def *f, const char *name) {
  return fs_schema_enum_index(f, (const uint8_t *)name, strlen(name));
}

/* Extra columns computed from a row: cell(r, row, j, lang, out) fills
 * column j (0..nextra-1) and, for the header (row NULL), its title. */
typedef void (*cell_fn)(const fs_report *r, const row *w, size_t j, fs_lang lang, char *out,
                        size_t cap);

/* A table of the measures idx[0..n) followed by nextra computed columns. */
static void cells_table(fs_strbuf *o, const fs_report *r, fs_lang lang, const char *title,
                        const size_t *idx, size_t n, cell_fn cell, size_t nextra) {
  fs_strbuf_printf(o, "\n%s\n", title);
  table t;
  if (table_init(&t, r->nrows + 2, 1 + n + nextra)) {
    o->err = FS_ENOMEM;
    return;
  }
  char buf[512];
  table_set(&t, 0, 0, fs_label_get(&fs_report_lb_area, lang));
  for (size_t j = 0; j < n; j++)
    table_set(&t, 0, 1 + j, r->m[idx[j]].label[lang]);
  for (size_t j = 0; j < nextra; j++) {
    cell(r, NULL, j, lang, buf, sizeof buf);
    table_set(&t, 0, 1 + n + j, buf);
  }
  for (size_t i = 0; i <= r->nrows; i++) {
    const row *w = i < r->nrows ? &r->rows[i] : &r->total;
    table_set(&t, i + 1, 0, i < r->nrows ? w->area : fs_label_get(&fs_report_lb_total_row, lang));
    for (size_t j = 0; j < n; j++) {
      fmt_human(buf, sizeof buf, w->v[idx[j]], r->m[idx[j]].quantity, lang);
      table_set(&t, i + 1, 1 + j, buf);
    }
    for (size_t j = 0; j < nextra; j++) {
      cell(r, w, j, lang, buf, sizeof buf);
      table_set(&t, i + 1, 1 + n + j, buf);
    }
  }
  table_print(o, &t);
  table_free(&t);
}

/* The reconciliation rate (the last column of the mediation table). */
static void mediation_cell(const fs_report *r, const row *w, size_t j, fs_lang lang,
                           char *out, size_t cap) {
  (void)j;
  if (!w) {
    snprintf(out, cap, "%s", fs_label_get(&fs_report_lb_rate, lang));
    return;
  }
  int rec = find_value(r->md_outcome, "reconciled");
  fmt_rate(out, cap, rec >= 0 ? w->v[r->med_outcome + (size_t)rec] : 0, w->v[r->med_total],
           lang);
}

/* "met/assessed" per unit kind. */
static void safety_cell(const fs_report *r, const row *w, size_t j, fs_lang lang, char *out,
                        size_t cap) {
  if (!w) {
    snprintf(out, cap, "%s", fs_label_get(&r->sf_kind->values[j].label, lang));
    return;
  }
  char a[48], b[48];
  fmt_human(a, sizeof a, w->v[r->safe_base + 2 * j], false, lang);
  fmt_human(b, sizeof b, w->v[r->safe_base + 2 * j + 1], false, lang);
  snprintf(out, cap, "%s/%s", a, b);
}

static void render_table(fs_strbuf *o, const fs_report *r, fs_lang lang, const char *node) {
  size_t idx[256], n;
  char title[512];
  bool vi = lang == FS_LANG_VI;
  fs_strbuf_puts(o, vi ? "BÁO CÁO KẾT QUẢ PHONG TRÀO TOÀN DÂN BẢO VỆ AN NINH TỔ QUỐC\n"
                       : "REPORT: THE MOVEMENT \"ALL PEOPLE PROTECT NATIONAL SECURITY\"\n");
  fs_strbuf_printf(o, "%s: %s   %s: ", fs_label_get(&fs_report_lb_area, lang), r->area[0] ? r->area : "*",
                   vi ? "Thời gian" : "Period");
  print_period(o, r, lang);
  if (node)
    fs_strbuf_printf(o, "   %s: %s", vi ? "Nút" : "Node", node);
  fs_strbuf_puts(o, "\n");

  size_t per_mode = r->s_kind->nvalues * r->s_unit->nvalues;
  for (size_t mo = 0; mo < r->s_mode->nvalues; mo++) {
    n = range(idx, r->surr_base + mo * per_mode, per_mode);
    snprintf(title, sizeof title, "%s - %s", type_label("surrender", lang),
             fs_label_get(&r->s_mode->values[mo].label, lang));
    section_table(o, r, lang, title, idx, n, true);
  }
  idx[0] = r->tips_total;
  n = 1 + range(idx + 1, r->tips_status, r->t_status->nvalues);
  section_table(o, r, lang, type_label("tip", lang), idx, n, false);

  idx[0] = r->inc_total;
  n = 1 + range(idx + 1, r->inc_cat, r->i_cat->nvalues);
  snprintf(title, sizeof title, "%s - %s", type_label("incident", lang),
           fs_label_get(&r->i_cat->label, lang));
  section_table(o, r, lang, title, idx, n, false);
  idx[0] = r->inc_total;
  n = 1 + range(idx + 1, r->inc_status, r->i_status->nvalues);
  snprintf(title, sizeof title, "%s - %s", type_label("incident", lang),
           fs_label_get(&r->i_status->label, lang));
  section_table(o, r, lang, title, idx, n, false);

  /* Mediations with their reconciliation rate as a last column. */
  idx[0] = r->med_total;
  n = 1 + range(idx + 1, r->med_outcome, r->md_outcome->nvalues);
  idx[n++] = r->med_pending;
  cells_table(o, r, lang, type_label("mediation", lang), idx, n, mediation_cell, 1);

  idx[0] = r->mod_total;
  n = 1 + range(idx + 1, r->mod_kind, r->mo_kind->nvalues);
  snprintf(title, sizeof title, "%s - %s", type_label("model", lang),
           fs_label_get(&r->mo_kind->label, lang));
  section_table(o, r, lang, title, idx, n, false);
  n = range(idx, r->mod_rating, r->rv_rating->nvalues);
  idx[n++] = r->mod_unrated;
  n += range(idx + n, r->mod_decision, r->rv_decision->nvalues);
  snprintf(title, sizeof title, "%s - %s", type_label("model", lang),
           vi ? "xếp loại và hướng xử lý theo lần đánh giá gần nhất"
              : "rating and decision of the latest review");
  section_table(o, r, lang, title, idx, n, false);
  int weak = find_value(r->rv_rating, "weak"), good = find_value(r->rv_rating, "good");
  model_list(o, r, lang, weak, vi ? "Mô hình xếp loại yếu:" : "Weak models:");
  model_list(o, r, lang, good, vi ? "Mô hình xếp loại tốt:" : "Good models:");

  snprintf(title, sizeof title, "%s (%s)", type_label("safety_cert", lang),
           vi ? "số đạt chuẩn / số xét" : "met / assessed");
  cells_table(o, r, lang, title, NULL, 0, safety_cell, r->sf_kind->nvalues);

  idx[0] = r->pat_total;
  section_table(o, r, lang, type_label("patrol", lang), idx, 1, false);
  idx[0] = r->com_total;
  n = 1 + range(idx + 1, r->com_level, r->c_level->nvalues);
  section_table(o, r, lang, type_label("commendation", lang), idx, n, false);
  if (r->skipped)
    fs_strbuf_printf(o, "\n%s: %llu\n",
                     vi ? "Bản ghi bỏ qua (đã xóa, loại chưa biết hoặc thiếu ngày)"
                        : "Records left out (deleted, unknown type or no date)",
                     (unsigned long long)r->skipped);
}

static void csv_field(fs_strbuf *o, const char *s) {
  /* A cell starting like a formula is text, not a formula, in spreadsheets
   * (model names are officers' text). */
  if (strchr("=+-@\t\r", s[0]) && s[0])
    fs_strbuf_puts(o, "'");
  if (strpbrk(s, ",\"\n\r") == NULL) {
    fs_strbuf_puts(o, s);
    return;
  }
  fs_strbuf_puts(o, "\"");
  for (const char *p = s; *p; p++) {
    if (*p == '"')
      fs_strbuf_puts(o, "\"");
    fs_strbuf_add(o, p, 1);
  }
  fs_strbuf_puts(o, "\"");
}

static void csv_line(fs_strbuf *o, const char *area, const char *key, const char *label,
                     const char *value) {
  csv_field(o, area);
  fs_strbuf_puts(o, ",");
  csv_field(o, key);
  fs_strbuf_puts(o, ",");
  csv_field(o, label);
  fs_strbuf_puts(o, ",");
  csv_field(o, value);
  fs_strbuf_puts(o, "\n");
}

/* Reconciled share of all mediations as a ratio with 4 decimals ("" when
 * there were none). */
static void ratio(char *out, size_t cap, int64_t num, int64_t den) {
  if (den <= 0) {
    out[0] = '\0';
    return;
  }
  int64_t x = (num * 10000 + den / 2) / den;
  snprintf(out, cap, "%lld.%04lld", (long long)(x / 10000), (long long)(x % 10000));
}

static void render_csv(fs_strbuf *o, const fs_report *r, fs_lang lang) {
  fs_strbuf_puts(o, "area,measure,label,value\n");
  int rec = find_value(r->md_outcome, "reconciled");
  for (size_t i = 0; i <= r->nrows; i++) {
    const row *w = i < r->nrows ? &r->rows[i] : &r->total;
    const char *area = i < r->nrows ? w->area : "*";
    char num[48];
    for (size_t k = 0; k < r->nm; k++) {
      fmt_machine(num, sizeof num, w->v[k], r->m[k].quantity);
      csv_line(o, area, r->m[k].key, r->m[k].label[lang], num);
    }
    ratio(num, sizeof num, rec >= 0 ? w->v[r->med_outcome + (size_t)rec] : 0,
          w->v[r->med_total]);
    csv_line(o, area, "mediations.reconciliation_rate", fs_label_get(&fs_report_lb_rate, lang), num);
  }
  for (size_t i = 0; i < r->nmodels; i++) {
    const model_ent *m = &r->models[i];
    const review_ent *v = m->best >= 0 ? &r->reviews[m->best] : NULL;
    if (v && v->rating >= 0)
      csv_line(o, r->rows[m->row].area, v->rating == find_value(r->rv_rating, "weak")
                                            ? "models.list.weak"
                                        : v->rating == find_value(r->rv_rating, "good")
                                            ? "models.list.good"
                                            : "models.list.average",
               m->name, m->id);
  }
}

static void json_values(fs_strbuf *o, const fs_report *r, const row *w) {
  char num[48];
  fs_strbuf_puts(o, "{");
  for (size_t k = 0; k < r->nm; k++) {
    fmt_machine(num, sizeof num, w->v[k], r->m[k].quantity);
    fs_strbuf_printf(o, "%s\"%s\":%s", k ? "," : "", r->m[k].key, num);
  }
  int rec = find_value(r->md_outcome, "reconciled");
  ratio(num, sizeof num, rec >= 0 ? w->v[r->med_outcome + (size_t)rec] : 0,
        w->v[r->med_total]);
  fs_strbuf_printf(o, ",\"mediations.reconciliation_rate\":%s}", num[0] ? num : "null");
}

static void json_models(fs_strbuf *o, const fs_report *r, fs_lang lang, int rating) {
  fs_strbuf_puts(o, "[");
  bool first = true;
  for (size_t i = 0; i < r->nmodels; i++) {
    const model_ent *m = &r->models[i];
    const review_ent *v = m->best >= 0 ? &r->reviews[m->best] : NULL;
    if (!v || v->rating != rating)
      continue;
    fs_strbuf_puts(o, first ? "{\"id\":" : ",{\"id\":");
    first = false;
    fs_strbuf_json(o, m->id);
    fs_strbuf_puts(o, ",\"area\":");
    fs_strbuf_json(o, m->area);
    fs_strbuf_puts(o, ",\"row\":");
    fs_strbuf_json(o, r->rows[m->row].area);
    fs_strbuf_puts(o, ",\"name\":");
    fs_strbuf_json(o, m->name);
    fs_strbuf_puts(o, ",\"period\":");
    fs_strbuf_json(o, v->period);
    fs_strbuf_puts(o, ",\"decision\":");
    if (v->decision >= 0) {
      fs_strbuf_json(o, r->rv_decision->values[v->decision].name);
      fs_strbuf_puts(o, ",\"decision_label\":");
      fs_strbuf_json(o, fs_label_get(&r->rv_decision->values[v->decision].label, lang));
    } else {
      fs_strbuf_puts(o, "null");
    }
    fs_strbuf_puts(o, "}");
  }
  fs_strbuf_puts(o, "]");
}

static void json_day(fs_strbuf *o, int32_t d) {
  if (d)
    fs_strbuf_printf(o, "\"%04d-%02d-%02d\"", d / 10000, d / 100 % 100, d % 100);
  else
    fs_strbuf_puts(o, "null");
}

static void render_json(fs_strbuf *o, const fs_report *r, fs_lang lang, const char *node) {
  fs_strbuf_puts(o, "{\"node\":");
  if (node)
    fs_strbuf_json(o, node);
  else
    fs_strbuf_puts(o, "null");
  fs_strbuf_puts(o, ",\"area\":");
  fs_strbuf_json(o, r->area);
  fs_strbuf_puts(o, ",\"from\":");
  json_day(o, r->from);
  fs_strbuf_puts(o, ",\"to\":");
  json_day(o, r->to);
  fs_strbuf_printf(o, ",\"lang\":\"%s\",\"schema_version\":%d,\"skipped\":%llu",
                   lang == FS_LANG_VI ? "vi" : "en", FS_SCHEMA_VERSION,
                   (unsigned long long)r->skipped);
  fs_strbuf_puts(o, ",\"labels\":{\"area\":");
  fs_strbuf_json(o, fs_label_get(&fs_report_lb_area, lang));
  fs_strbuf_puts(o, ",\"total\":");
  fs_strbuf_json(o, fs_label_get(&fs_report_lb_total_row, lang));
  fs_strbuf_puts(o, ",\"mediations.reconciliation_rate\":");
  fs_strbuf_json(o, fs_label_get(&fs_report_lb_rate, lang));
  fs_strbuf_puts(o, "},\"sections\":[");
  for (int s = 0; s < SEC_COUNT; s++) {
    fs_strbuf_printf(o, "%s{\"key\":\"%s\",\"label\":", s ? "," : "", fs_report_sections[s].key);
    fs_strbuf_json(o, type_label(fs_report_sections[s].type, lang));
    fs_strbuf_puts(o, "}");
  }
  fs_strbuf_puts(o, "],\"measures\":[");
  for (size_t k = 0; k < r->nm; k++) {
    fs_strbuf_printf(o, "%s{\"key\":\"%s\",\"section\":\"%s\",\"quantity\":%s,\"label\":",
                     k ? "," : "", r->m[k].key, fs_report_sections[r->m[k].section].key,
                     r->m[k].quantity ? "true" : "false");
    fs_strbuf_json(o, r->m[k].label[lang]);
    fs_strbuf_puts(o, "}");
  }
  fs_strbuf_puts(o, "],\"rows\":[");
  for (size_t i = 0; i < r->nrows; i++) {
    fs_strbuf_puts(o, i ? ",{\"area\":" : "{\"area\":");
    fs_strbuf_json(o, r->rows[i].area);
    fs_strbuf_puts(o, ",\"values\":");
    json_values(o, r, &r->rows[i]);
    fs_strbuf_puts(o, "}");
  }
  fs_strbuf_puts(o, "],\"total\":");
  json_values(o, r, &r->total);
  fs_strbuf_puts(o, ",\"weak_models\":");
  json_models(o, r, lang, find_value(r->rv_rating, "weak"));
  fs_strbuf_puts(o, ",\"good_models\":");
  json_models(o, r, lang, find_value(r->rv_rating, "good"));
  fs_strbuf_puts(o, "}\n");
}

int fs_report_render(const fs_report *r, fs_report_format fmt, fs_lang lang,
                     const char *node, fs_strbuf *out) {
  if (lang != FS_LANG_EN)
    lang = FS_LANG_VI;
  if (fmt == FS_REPORT_CSV)
    render_csv(out, r, lang);
  else if (fmt == FS_REPORT_JSON)
    render_json(out, r, lang, node);
  else
    render_table(out, r, lang, node);
  return out->err;
}

/* --------------------------------------------------------------- command */

static const char cli_usage[] =
    "usage: fieldsyncd report --data DIR --area PREFIX [--from DAY] [--to DAY]\n"
    "                         [--csv | --json] [--lang vi|en]\n"
    "\n"
    "Sums up the movement's records merged at this node for an area and a period:\n"
    "one row per child area plus a total (surrenders by kind and unit, tips by\n"
    "status, incidents by category and status, mediations and their reconciliation\n"
    "rate, models by kind and latest rating with the weak and good ones listed,\n"
    "safety certifications, patrols, commendations). DAY is YYYY-MM-DD, YYYY-MM,\n"
    "YYYY, YYYY-Qn or YYYY-Hn (--from takes its first day, --to its last). Labels\n"
    "are Vietnamese unless --lang en.\n"
    "\n"
    "example:\n"
    "  fieldsyncd report --data /var/lib/fieldsync --area KT --from 2026 --to 2026\n"
    "\n" FS_CLI_EXIT_CODES;

int fs_report_cli(int argc, char **argv) {
  static const struct option longopts[] = {
      {"data", required_argument, NULL, 'd'}, {"area", required_argument, NULL, 'a'},
      {"from", required_argument, NULL, 'f'}, {"to", required_argument, NULL, 't'},
      {"csv", no_argument, NULL, 'c'},        {"json", no_argument, NULL, 'j'},
      {"lang", required_argument, NULL, 'l'}, {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *data = NULL, *area = NULL;
  fs_report_query q = {0};
  fs_report_format fmt = FS_REPORT_TABLE;
  fs_lang lang = FS_LANG_VI;
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "d:a:f:t:cjl:h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'd': data = optarg; break;
    case 'a': area = optarg; break;
    case 'f':
    case 't':
      if (fs_report_parse_day(optarg, ch == 't', ch == 'f' ? &q.from : &q.to)) {
        fprintf(stderr, "fieldsyncd: --%s '%s' is not a day or period like 2026-11-20, "
                        "2026-11, 2026-Q3, 2026-H1 or 2026\n", ch == 'f' ? "from" : "to", optarg);
        return 1;
      }
      break;
    case 'c': fmt = FS_REPORT_CSV; break;
    case 'j': fmt = FS_REPORT_JSON; break;
    case 'l':
      if (strcmp(optarg, "vi") != 0 && strcmp(optarg, "en") != 0) {
        fprintf(stderr, "fieldsyncd: --lang is vi or en\n");
        return 1;
      }
      lang = strcmp(optarg, "en") == 0 ? FS_LANG_EN : FS_LANG_VI;
      break;
    case 'h': fputs(cli_usage, stdout); return 0;
    default: fputs(cli_usage, stderr); return 1;
    }
  }
  if (optind != argc || !data || !area) {
    fprintf(stderr, "fieldsyncd: %s\n\n%s", optind != argc ? "unexpected argument"
                    : "report needs --data DIR and --area PREFIX", cli_usage);
    return 1;
  }
  if (area[0] && !fs_area_valid(area)) {
    fprintf(stderr, "fieldsyncd: --area '%s' is not an area code like KT.KPL\n", area);
    return 1;
  }
  if (q.from && q.to && q.from > q.to) {
    fprintf(stderr, "fieldsyncd: --from is after --to\n");
    return 1;
  }
  q.area = area;
  fs_store st;
  MDB_txn *txn;
  int rc = fs_store_open(&st, data, FS_STORE_MAPSIZE_DEFAULT);
  if (rc == 0 && (rc = fs_store_begin(&st, false, &txn)))
    fs_store_close(&st);
  if (rc) {
    fprintf(stderr, "fieldsyncd: cannot open the store in %s: %s\n", data, fs_strerror(rc));
    return 2;
  }
  fs_report *r = NULL;
  rc = fs_report_compute(&st, txn, &q, &r);
  mdb_txn_abort(txn);
  fs_store_close(&st);
  fs_strbuf out;
  fs_strbuf_init(&out);
  if (rc == 0)
    rc = fs_report_render(r, fmt, lang, NULL, &out);
  fs_report_free(r);
  if (rc == 0 && out.len && fwrite(out.p, 1, out.len, stdout) != out.len)
    rc = FS_ESTORE;
  fs_strbuf_free(&out);
  if (rc) {
    fprintf(stderr, "fieldsyncd: report failed: %s\n", fs_strerror(rc));
    return 2;
  }
  return 0;
}

/* ------------------------------------------------------------ admin port */

int fs_report_http(fs_store *s, const char *node, const char *default_area,
                   const char *area, const char *from, const char *to, const char *lang,
                   const char *format, fs_strbuf *out, const char **type) {
  fs_report_query q = {area && area[0] ? area : default_area, 0, 0};
  fs_lang lg = lang && strcmp(lang, "en") == 0 ? FS_LANG_EN : FS_LANG_VI;
  bool csv = format && strcmp(format, "csv") == 0;
  const char *bad = NULL;
  if (q.area[0] && !fs_area_valid(q.area))
    bad = "area must be an area code like KT.KPL";
  else if (from && from[0] && fs_report_parse_day(from, false, &q.from))
    bad = "from must be a day or period like 2026-01-01, 2026-Q1 or 2026";
  else if (to && to[0] && fs_report_parse_day(to, true, &q.to))
    bad = "to must be a day or period like 2026-12-31, 2026-Q4 or 2026";
  else if (q.from && q.to && q.from > q.to)
    bad = "from is after to";
  else if (lang && lang[0] && strcmp(lang, "vi") != 0 && strcmp(lang, "en") != 0)
    bad = "lang is vi or en";
  else if (format && format[0] && !csv && strcmp(format, "json") != 0)
    bad = "format is json or csv";
  if (bad) {
    fs_strbuf_printf(out, "%s\n", bad);
    return FS_EINVAL;
  }
  MDB_txn *txn;
  fs_report *r = NULL;
  int rc = fs_store_begin(s, false, &txn);
  if (rc)
    return rc;
  rc = fs_report_compute(s, txn, &q, &r);
  mdb_txn_abort(txn);
  if (rc == 0)
    rc = fs_report_render(r, csv ? FS_REPORT_CSV : FS_REPORT_JSON, lg, node, out);
  fs_report_free(r);
  *type = csv ? "text/csv; charset=utf-8" : "application/json";
  return rc;
}

const char fs_report_html[] =
"<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\">\n"
"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
"<title>fieldsync - báo cáo</title><style>\n"
"body{font:14px system-ui,sans-serif;margin:1.5em;color:#1d2430;background:#f6f7f9}\n"
"h1{font-size:1.3em;margin:0 0 .3em}h2{font-size:1.05em;margin:1.4em 0 .4em}\n"
"form{margin:0 0 1em}form input,form select{margin-right:.8em}\n"
"table{border-collapse:collapse;background:#fff;box-shadow:0 1px 3px #0002;margin-bottom:.4em}\n"
"th,td{padding:.35em .6em;border-bottom:1px solid #e3e6ea;text-align:right;white-space:nowrap}\n"
"th{background:#24324a;color:#fff;font-weight:600}th:first-child,td:first-child{text-align:left}\n"
"tr.total td{font-weight:600;border-top:2px solid #24324a}.err{color:#b3261e}ul{margin:.2em 0}\n"
"</style></head><body>\n"
"<h1>Báo cáo phong trào Toàn dân bảo vệ an ninh Tổ quốc</h1>\n"
"<p><a href=\"/\">&larr; trạng thái đồng bộ (dashboard)</a></p>\n"
"<form id=\"f\">Khu vực <input name=\"area\" size=\"16\" placeholder=\"KT\">"
"Từ <input name=\"from\" size=\"10\" placeholder=\"2026-01-01\">"
"Đến <input name=\"to\" size=\"10\" placeholder=\"2026-12-31\">"
"<select name=\"lang\"><option value=\"vi\">Tiếng Việt</option><option value=\"en\">English</option></select>"
"<button>Xem</button> <a id=\"csv\" href=\"#\">CSV</a></form>\n"
"<div id=\"out\">...</div>\n"
"<script>\n"
/* Admin token (server/admin.h): kept by the dashboard for this tab, or
 * given here as #token=...; sent as a header, the CSV fetched with it. */
"const TK='fieldsync.admin_token';{const m=location.hash.match(/(?:^#|&)token=([^&]*)/);"
"if(m){sessionStorage.setItem(TK,decodeURIComponent(m[1]));history.replaceState(null,'',location.pathname+location.search)}}\n"
"function auth(){const t=sessionStorage.getItem(TK);return t?{Authorization:'Bearer '+t}:{}}\n"
"async function get(u){const r=await fetch(u,{cache:'no-store',headers:auth()});"
"if(r.status==401)throw new Error('cần mã truy cập: mở trang với #token=... (this node needs its admin token)');"
"if(!r.ok)throw new Error(await r.text());return r}\n"
"function esc(s){return String(s).replace(/[&<>\"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','\"':'&quot;'}[c]))}\n"
"const f=document.getElementById('f');\n"
"for(const [k,v] of new URLSearchParams(location.search))if(f.elements[k])f.elements[k].value=v;\n"
"function params(){const p=new URLSearchParams();for(const k of ['area','from','to','lang'])"
"if(f.elements[k].value)p.set(k,f.elements[k].value);return p}\n"
"function render(j){const loc=j.lang=='en'?'en-US':'vi-VN',num=v=>v==null?'-':Number(v).toLocaleString(loc);\n"
"const rows=j.rows.map(r=>[r.area,r.values]).concat([[j.labels.total,j.total]]);\n"
"let h='<p>'+esc(j.labels.area)+': <b>'+esc(j.area||'*')+'</b> &middot; '+esc(j.from||'...')+' &ndash; '+esc(j.to||'...')+"
"(j.node?' &middot; '+esc(j.node):'')+'</p>';\n"
"for(const s of j.sections){let ms=j.measures.filter(m=>m.section==s.key&&!m.key.includes('category_status'));\n"
"if(s.key=='surrender')ms=ms.filter(m=>m.key=='surrender.records'||j.total[m.key]);\n"
"const extra=s.key=='mediations'?[{key:'mediations.reconciliation_rate',label:j.labels['mediations.reconciliation_rate'],rate:1}]:[];\n"
"const cols=ms.concat(extra);h+='<h2>'+esc(s.label)+'</h2><table><tr><th>'+esc(j.labels.area)+'</th>'+"
"cols.map(m=>'<th>'+esc(m.label)+'</th>').join('')+'</tr>';\n"
"rows.forEach((r,i)=>{h+='<tr'+(i==rows.length-1?' class=\"total\"':'')+'><td>'+esc(r[0])+'</td>'+"
"cols.map(m=>'<td>'+(m.rate?(r[1][m.key]==null?'-':(100*r[1][m.key]).toLocaleString(loc,{maximumFractionDigits:1})+'%'):num(r[1][m.key]))+'</td>').join('')+'</tr>'});\n"
"h+='</table>';\n"
"if(s.key=='models')for(const [k,t] of [['weak_models',j.lang=='en'?'Weak models':'Mô hình xếp loại yếu'],"
"['good_models',j.lang=='en'?'Good models':'Mô hình xếp loại tốt']]){h+='<p>'+t+':</p><ul>'+"
"(j[k].length?j[k].map(m=>'<li>'+esc(m.area)+': '+esc(m.name)+' ('+esc(m.period)+(m.decision_label?', '+esc(m.decision_label):'')+')</li>').join(''):'<li>-</li>')+'</ul>'}}\n"
"document.getElementById('out').innerHTML=h}\n"
"async function load(){const p=params();history.replaceState(null,'','?'+p);"
"const c=new URLSearchParams(p);c.set('format','csv');document.getElementById('csv').href='/api/report?'+c;\n"
"try{render(await (await get('/api/report?'+p)).json())}\n"
"catch(e){document.getElementById('out').innerHTML='<p class=\"err\">'+esc(e.message)+'</p>'}}\n"
"f.addEventListener('submit',e=>{e.preventDefault();load()});load();\n"
"document.getElementById('csv').addEventListener('click',async e=>{const u=e.currentTarget.href;"
"if(!sessionStorage.getItem(TK))return;e.preventDefault();"
"try{const a=document.createElement('a');a.href=URL.createObjectURL(await (await get(u)).blob());"
"a.download='report.csv';a.click();setTimeout(()=>URL.revokeObjectURL(a.href),1000)}"
"catch(x){document.getElementById('out').innerHTML='<p class=\"err\">'+esc(x.message)+'</p>'}});\n"
"</script></body></html>\n";
