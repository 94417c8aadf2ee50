/* report.c - roll-up reports: one scan of the merged records of an area,
 * counted into a fixed list of measures per child area, then rendered as
 * terminal tables, CSV or JSON.
 *
 * The measures are laid out from the schema's enumerations, so a value
 * added to an enumeration becomes a measure without touching this file.
 * Each row is one array of int64 (counts, or thousandths for quantities)
 * indexed by the measure; the total is the sum of the rows. Rendering is
 * in report_render.c. */
#include "report_impl.h"

#include "changeset.h"
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const fs_report_section fs_report_sections[SEC_COUNT] = {
    {"surrender", "surrender"}, {"tips", "tip"},         {"incidents", "incident"},
    {"mediations", "mediation"}, {"patrols", "patrol"},  {"models", "model"},
    {"safety", "safety_cert"},  {"commendations", "commendation"},
};

const fs_label fs_report_lb_all = {"Tổng số", "All"};
const fs_label fs_report_lb_records = {"Số vụ", "Records"};
const fs_label fs_report_lb_pending = {"Chưa có kết quả", "Pending"};
const fs_label fs_report_lb_unrated = {"Chưa đánh giá", "Not reviewed"};
const fs_label fs_report_lb_met = {"đạt", "met"};
const fs_label fs_report_lb_of = {"tổng", "total"};
const fs_label fs_report_lb_rate = {"Tỷ lệ hòa giải thành", "Reconciliation rate"};
const fs_label fs_report_lb_total_row = {"Tổng cộng", "Total"};
const fs_label fs_report_lb_area = {"Khu vực", "Area"};

/* ------------------------------------------------------------------ layout */

static const fs_field_def *field_of(const char *type, const char *name) {
  const fs_type_def *t = fs_schema_type(type);
  return t ? fs_schema_field(t, name, NULL) : NULL;
}

/* Adds a measure; labels are printf formats taking the same arguments
 * in both languages (given as label pointers resolved per language). */
static size_t add_measure(fs_report *r, int section, bool quantity, const char *key,
                          const char *vi, const char *en) {
  if (r->err)
    return 0;
  if (r->nm == r->mcap) {
    size_t cap = r->mcap ? r->mcap * 2 : 64;
    measure *nm = realloc(r->m, cap * sizeof *nm);
    if (!nm) {
      r->err = FS_ENOMEM;
      return 0;
    }
    r->m = nm;
    r->mcap = cap;
  }
  measure *m = &r->m[r->nm];
  memset(m, 0, sizeof *m);
  int kl = snprintf(m->key, sizeof m->key, "%s.%s", fs_report_sections[section].key, key);
  if (kl < 0 || (size_t)kl >= sizeof m->key) { /* schema names are bounded: a broken invariant */
    r->err = FS_ELIMIT;
    return 0;
  }
  m->label[0] = strdup(vi);
  m->label[1] = strdup(en);
  m->section = section;
  m->quantity = quantity;
  if (!m->label[0] || !m->label[1]) {
    free(m->label[0]);
    free(m->label[1]);
    r->err = FS_ENOMEM;
    return 0;
  }
  return r->nm++;
}

/* One measure per value of f: KEY.VALUE labelled with the value's label. */
static size_t add_enum(fs_report *r, int section, const char *key, const fs_field_def *f) {
  size_t base = r->nm;
  for (size_t i = 0; i < f->nvalues; i++) {
    char k[96];
    snprintf(k, sizeof k, "%s.%s", key, f->values[i].name);
    add_measure(r, section, false, k, f->values[i].label.vi, f->values[i].label.en);
  }
  return base;
}

static int build_layout(fs_report *r) {
  r->s_kind = field_of("surrender", "kind");
  r->s_unit = field_of("surrender", "unit");
  r->s_mode = field_of("surrender", "mode");
  r->t_status = field_of("tip", "status");
  r->i_cat = field_of("incident", "category");
  r->i_status = field_of("incident", "status");
  r->md_outcome = field_of("mediation", "outcome");
  r->c_level = field_of("commendation", "level");
  r->mo_kind = field_of("model", "kind");
  r->rv_rating = field_of("model_review", "rating");
  r->rv_decision = field_of("model_review", "decision");
  r->sf_kind = field_of("safety_cert", "unit_kind");
  if (!r->s_kind || !r->s_unit || !r->s_mode || !r->t_status || !r->i_cat || !r->i_status ||
      !r->md_outcome || !r->c_level || !r->mo_kind || !r->rv_rating || !r->rv_decision ||
      !r->sf_kind)
    return FS_EINVAL; /* the schema lost a field: a programming error */
  char k[96], vi[512], en[512];

  r->surr_records = add_measure(r, SEC_SURRENDER, false, "records", fs_report_lb_records.vi,
                                fs_report_lb_records.en);
  r->surr_base = r->nm;
  for (size_t mo = 0; mo < r->s_mode->nvalues; mo++)
    for (size_t ki = 0; ki < r->s_kind->nvalues; ki++)
      for (size_t u = 0; u < r->s_unit->nvalues; u++) {
        const fs_enum_value *a = &r->s_mode->values[mo], *b = &r->s_kind->values[ki],
                            *c = &r->s_unit->values[u];
        snprintf(k, sizeof k, "%s.%s.%s", a->name, b->name, c->name);
        snprintf(vi, sizeof vi, "%s (%s) - %s", b->label.vi, c->label.vi, a->label.vi);
        snprintf(en, sizeof en, "%s (%s) - %s", b->label.en, c->label.en, a->label.en);
        size_t at = add_measure(r, SEC_SURRENDER, true, k, vi, en);
        /* In a table the mode is the table's title: "Súng (cái)". */
        snprintf(vi, sizeof vi, "%s (%s)", b->label.vi, c->label.vi);
        snprintf(en, sizeof en, "%s (%s)", b->label.en, c->label.en);
        if (!r->err && (!(r->m[at].col[0] = strdup(vi)) || !(r->m[at].col[1] = strdup(en))))
          r->err = FS_ENOMEM;
      }

  r->tips_total = add_measure(r, SEC_TIPS, false, "total", fs_report_lb_all.vi, fs_report_lb_all.en);
  r->tips_status = add_enum(r, SEC_TIPS, "status", r->t_status);

  r->inc_total = add_measure(r, SEC_INCIDENTS, false, "total", fs_report_lb_all.vi, fs_report_lb_all.en);
  r->inc_cat = add_enum(r, SEC_INCIDENTS, "category", r->i_cat);
  r->inc_status = add_enum(r, SEC_INCIDENTS, "status", r->i_status);
  r->inc_matrix = r->nm;
  for (size_t c = 0; c < r->i_cat->nvalues; c++)
    for (size_t s = 0; s < r->i_status->nvalues; s++) {
      const fs_enum_value *a = &r->i_cat->values[c], *b = &r->i_status->values[s];
      snprintf(k, sizeof k, "category_status.%s.%s", a->name, b->name);
      snprintf(vi, sizeof vi, "%s - %s", a->label.vi, b->label.vi);
      snprintf(en, sizeof en, "%s - %s", a->label.en, b->label.en);
      add_measure(r, SEC_INCIDENTS, false, k, vi, en);
    }

  r->med_total = add_measure(r, SEC_MEDIATIONS, false, "total", fs_report_lb_all.vi, fs_report_lb_all.en);
  r->med_outcome = add_enum(r, SEC_MEDIATIONS, "outcome", r->md_outcome);
  r->med_pending = add_measure(r, SEC_MEDIATIONS, false, "pending", fs_report_lb_pending.vi,
                               fs_report_lb_pending.en);

  r->pat_total = add_measure(r, SEC_PATROLS, false, "total", fs_report_lb_all.vi, fs_report_lb_all.en);

  r->mod_total = add_measure(r, SEC_MODELS, false, "total", fs_report_lb_all.vi, fs_report_lb_all.en);
  r->mod_kind = add_enum(r, SEC_MODELS, "kind", r->mo_kind);
  r->mod_rating = add_enum(r, SEC_MODELS, "rating", r->rv_rating);
  r->mod_unrated = add_measure(r, SEC_MODELS, false, "rating.unrated", fs_report_lb_unrated.vi,
                               fs_report_lb_unrated.en);
  r->mod_decision = add_enum(r, SEC_MODELS, "decision", r->rv_decision);

  r->safe_base = r->nm;
  for (size_t u = 0; u < r->sf_kind->nvalues; u++) {
    const fs_enum_value *a = &r->sf_kind->values[u];
    snprintf(k, sizeof k, "%s.met", a->name);
    snprintf(vi, sizeof vi, "%s %s", a->label.vi, fs_report_lb_met.vi);
    snprintf(en, sizeof en, "%s %s", a->label.en, fs_report_lb_met.en);
    add_measure(r, SEC_SAFETY, false, k, vi, en);
    snprintf(k, sizeof k, "%s.total", a->name);
    snprintf(vi, sizeof vi, "%s %s", a->label.vi, fs_report_lb_of.vi);
    snprintf(en, sizeof en, "%s %s", a->label.en, fs_report_lb_of.en);
    add_measure(r, SEC_SAFETY, false, k, vi, en);
  }

  r->com_total = add_measure(r, SEC_COMMENDATIONS, false, "total", fs_report_lb_all.vi, fs_report_lb_all.en);
  r->com_level = add_enum(r, SEC_COMMENDATIONS, "level", r->c_level);
  return r->err;
}

/* -------------------------------------------------------------------- scan */

static row *row_for(fs_report *r, const char *area) {
  char child[FS_MAX_AREA + 1];
  size_t n = strlen(r->area);
  if (area[n] == '\0') {
    snprintf(child, sizeof child, "%s", area);
  } else {
    size_t start = n ? n + 1 : 0, end = start;
    while (area[end] && area[end] != '.')
      end++;
    snprintf(child, sizeof child, "%.*s", (int)end, area);
  }
  /* Records come in key order, so a child's records are contiguous. */
  for (size_t i = r->nrows; i-- > 0;)
    if (strcmp(r->rows[i].area, child) == 0)
      return &r->rows[i];
  if (r->nrows == r->rcap) {
    size_t cap = r->rcap ? r->rcap * 2 : 16;
    row *nr = realloc(r->rows, cap * sizeof *nr);
    if (!nr)
      return NULL;
    r->rows = nr;
    r->rcap = cap;
  }
  row *w = &r->rows[r->nrows];
  snprintf(w->area, sizeof w->area, "%s", child);
  if (!(w->v = calloc(r->nm, sizeof *w->v)))
    return NULL;
  r->nrows++;
  return w;
}

/* Index of the visible value of an enum field, or -1. */
static int enum_of(const fs_record *rec, const fs_field_def *f, const char *name) {
  const fs_field *v = fs_schema_value(rec, name ? name : f->name);
  return v ? fs_schema_enum_index(f, v->value, v->value_len) : -1;
}

static bool in_range(const fs_report *r, int32_t first, int32_t last) {
  return (!r->from || last >= r->from) && (!r->to || first <= r->to);
}

static int grow(void **p, size_t *cap, size_t n, size_t size) {
  if (n < *cap)
    return 0;
  size_t c = *cap ? *cap * 2 : 16;
  void *np = realloc(*p, c * size);
  if (!np)
    return FS_ENOMEM;
  *p = np;
  *cap = c;
  return 0;
}

static char *dup_value(const fs_record *rec, const char *name) {
  const fs_field *f = fs_schema_value(rec, name);
  char *s = malloc(f ? f->value_len + 1 : 1);
  if (s) {
    if (f)
      memcpy(s, f->value, f->value_len);
    s[f ? f->value_len : 0] = '\0';
  }
  return s;
}

static int keep_model(fs_report *r, const fs_record *rec, size_t rowi) {
  if (grow((void **)&r->models, &r->modcap, r->nmodels, sizeof *r->models))
    return FS_ENOMEM;
  model_ent *m = &r->models[r->nmodels];
  m->id = strdup(rec->id);
  m->area = strdup(rec->area);
  m->name = dup_value(rec, "name");
  m->row = rowi;
  m->best = -1;
  r->nmodels++;
  return m->id && m->area && m->name ? 0 : FS_ENOMEM;
}

static int keep_review(fs_report *r, const fs_record *rec, int32_t first, int32_t last) {
  const fs_field *rating = fs_schema_value(rec, "rating");
  if (!rating || grow((void **)&r->reviews, &r->revcap, r->nreviews, sizeof *r->reviews))
    return rating ? FS_ENOMEM : 0;
  review_ent *v = &r->reviews[r->nreviews];
  memset(v, 0, sizeof *v);
  r->nreviews++;
  v->model = dup_value(rec, "model");
  v->period = dup_value(rec, "period");
  v->area = strdup(rec->area);
  v->id = strdup(rec->id);
  v->first = first;
  v->last = last;
  v->hlc = rating->clock.hlc;
  v->rating = fs_schema_enum_index(r->rv_rating, rating->value, rating->value_len);
  v->decision = enum_of(rec, r->rv_decision, NULL);
  return v->model && v->period && v->area && v->id ? 0 : FS_ENOMEM;
}

static void count_surrender(fs_report *r, const fs_record *rec, int64_t *v) {
  v[r->surr_records]++;
  size_t nk = r->s_kind->nvalues, nu = r->s_unit->nvalues;
  for (unsigned line = 1; line <= FS_SCHEMA_MAX_LINES; line++) {
    char kn[32], qn[32], un[32], mn[32];
    const char *suffix = "";
    char sfx[8];
    if (line > 1) {
      snprintf(sfx, sizeof sfx, "_%u", line);
      suffix = sfx;
    }
    snprintf(kn, sizeof kn, "kind%s", suffix);
    snprintf(qn, sizeof qn, "quantity%s", suffix);
    snprintf(un, sizeof un, "unit%s", suffix);
    snprintf(mn, sizeof mn, "mode%s", suffix);
    int k = enum_of(rec, r->s_kind, kn), u = enum_of(rec, r->s_unit, un),
        mo = enum_of(rec, r->s_mode, mn);
    const fs_field *q = fs_schema_value(rec, qn);
    int64_t milli;
    if (k < 0 || u < 0 || mo < 0 || !q || fs_schema_quantity_parse(q->value, q->value_len, &milli))
      continue;
    v[r->surr_base + ((size_t)mo * nk + (size_t)k) * nu + (size_t)u] += milli;
  }
}

static int visit(void *arg, const fs_record *rec) {
  fs_report *r = arg;
  const fs_type_def *t = rec->type ? fs_schema_type(rec->type) : NULL;
  if (!fs_record_visible(rec) || !t || !fs_area_within(rec->area, r->area)) {
    r->skipped++;
    return 0;
  }
  row *w = row_for(r, rec->area);
  if (!w)
    return FS_ENOMEM;
  int32_t first, last;
  if (fs_schema_record_span(t, rec, &first, &last) != 0) {
    r->skipped++;
    return 0;
  }
  int64_t *v = w->v;
  const char *ty = t->name;
  int a, b;
  if (strcmp(ty, "model") == 0) {
    if (r->to && first > r->to)
      return 0; /* founded after the period */
    v[r->mod_total]++;
    if ((a = enum_of(rec, r->mo_kind, NULL)) >= 0)
      v[r->mod_kind + (size_t)a]++;
    return keep_model(r, rec, (size_t)(w - r->rows));
  }
  /* A review counts in the period its reviewed period ends in. */
  if (strcmp(ty, "model_review") == 0)
    return in_range(r, last, last) ? keep_review(r, rec, first, last) : 0;
  if (!in_range(r, first, last))
    return 0;
  if (strcmp(ty, "incident") == 0) {
    v[r->inc_total]++;
    a = enum_of(rec, r->i_cat, NULL);
    b = enum_of(rec, r->i_status, NULL);
    if (a >= 0)
      v[r->inc_cat + (size_t)a]++;
    if (b >= 0)
      v[r->inc_status + (size_t)b]++;
    if (a >= 0 && b >= 0)
      v[r->inc_matrix + (size_t)a * r->i_status->nvalues + (size_t)b]++;
  } else if (strcmp(ty, "tip") == 0) {
    v[r->tips_total]++;
    if ((a = enum_of(rec, r->t_status, NULL)) >= 0)
      v[r->tips_status + (size_t)a]++;
  } else if (strcmp(ty, "surrender") == 0) {
    count_surrender(r, rec, v);
  } else if (strcmp(ty, "mediation") == 0) {
    v[r->med_total]++;
    if ((a = enum_of(rec, r->md_outcome, NULL)) >= 0)
      v[r->med_outcome + (size_t)a]++;
    else
      v[r->med_pending]++;
  } else if (strcmp(ty, "patrol") == 0) {
    v[r->pat_total]++;
  } else if (strcmp(ty, "safety_cert") == 0) {
    if ((a = enum_of(rec, r->sf_kind, NULL)) >= 0) {
      const fs_field *met = fs_schema_value(rec, "met");
      v[r->safe_base + 2 * (size_t)a + 1]++;
      if (met && met->value_len == 4 && memcmp(met->value, "true", 4) == 0)
        v[r->safe_base + 2 * (size_t)a]++;
    }
  } else if (strcmp(ty, "commendation") == 0) {
    v[r->com_total]++;
    if ((a = enum_of(rec, r->c_level, NULL)) >= 0)
      v[r->com_level + (size_t)a]++;
  }
  return 0;
}

static int model_id_cmp(const void *a, const void *b) {
  const model_ent *x = a, *y = b;
  return strcmp(x->id, y->id);
}

static int model_out_cmp(const void *a, const void *b) {
  const model_ent *x = a, *y = b;
  int c = strcmp(x->area, y->area);
  if (c == 0)
    c = strcmp(x->name, y->name);
  return c ? c : strcmp(x->id, y->id);
}

/* True when review a is later than b. */
static bool later(const review_ent *a, const review_ent *b) {
  if (a->last != b->last)
    return a->last > b->last;
  if (a->first != b->first)
    return a->first > b->first;
  if (a->hlc != b->hlc)
    return a->hlc > b->hlc;
  return strcmp(a->id, b->id) > 0;
}

/* Joins each review to its model (same id; the model in the review's own
 * area when ids repeat across areas) and counts the latest rating. */
static void rate_models(fs_report *r) {
  if (r->nmodels == 0)
    return;
  qsort(r->models, r->nmodels, sizeof *r->models, model_id_cmp);
  for (size_t i = 0; i < r->nreviews; i++) {
    review_ent *v = &r->reviews[i];
    model_ent key = {.id = v->model};
    model_ent *m = bsearch(&key, r->models, r->nmodels, sizeof *r->models, model_id_cmp);
    if (!m)
      continue;
    while (m > r->models && strcmp(m[-1].id, v->model) == 0)
      m--;
    model_ent *pick = m;
    for (model_ent *e = m; e < r->models + r->nmodels && strcmp(e->id, v->model) == 0; e++)
      if (strcmp(e->area, v->area) == 0)
        pick = e;
    if (pick->best < 0 || later(v, &r->reviews[pick->best]))
      pick->best = (long)i;
  }
  for (size_t i = 0; i < r->nmodels; i++) {
    model_ent *m = &r->models[i];
    int64_t *v = r->rows[m->row].v;
    const review_ent *best = m->best >= 0 ? &r->reviews[m->best] : NULL;
    if (best && best->rating >= 0)
      v[r->mod_rating + (size_t)best->rating]++;
    else
      v[r->mod_unrated]++;
    if (best && best->decision >= 0)
      v[r->mod_decision + (size_t)best->decision]++;
  }
  qsort(r->models, r->nmodels, sizeof *r->models, model_out_cmp);
}

int fs_report_parse_day(const char *s, bool last, int32_t *day) {
  int32_t a, b;
  if (fs_schema_period_parse((const uint8_t *)s, strlen(s), &a, &b) != 0)
    return FS_EINVAL;
  *day = last ? b : a;
  return 0;
}

int fs_report_compute(fs_store *s, MDB_txn *txn, const fs_report_query *q,
                      fs_report **out) {
  const char *area = q->area ? q->area : "";
  if ((area[0] && !fs_area_valid(area)) || (q->from && q->to && q->from > q->to))
    return FS_EINVAL;
  fs_report *r = calloc(1, sizeof *r);
  if (!r)
    return FS_ENOMEM;
  snprintf(r->area, sizeof r->area, "%s", area);
  r->from = q->from;
  r->to = q->to;
  int rc = build_layout(r);
  if (rc == 0)
    rc = fs_store_records_scan(s, txn, area, visit, r);
  if (rc == 0 && !(r->total.v = calloc(r->nm ? r->nm : 1, sizeof *r->total.v)))
    rc = FS_ENOMEM;
  if (rc == 0) {
    rate_models(r);
    for (size_t i = 0; i < r->nrows; i++)
      for (size_t k = 0; k < r->nm; k++)
        r->total.v[k] += r->rows[i].v[k];
    *out = r;
    return 0;
  }
  fs_report_free(r);
  return rc;
}

void fs_report_free(fs_report *r) {
  if (!r)
    return;
  for (size_t i = 0; i < r->nm; i++) {
    free(r->m[i].label[0]);
    free(r->m[i].label[1]);
    free(r->m[i].col[0]);
    free(r->m[i].col[1]);
  }
  free(r->m);
  for (size_t i = 0; i < r->nrows; i++)
    free(r->rows[i].v);
  free(r->rows);
  free(r->total.v);
  for (size_t i = 0; i < r->nmodels; i++) {
    free(r->models[i].id);
    free(r->models[i].name);
    free(r->models[i].area);
  }
  free(r->models);
  for (size_t i = 0; i < r->nreviews; i++) {
    free(r->reviews[i].model);
    free(r->reviews[i].area);
    free(r->reviews[i].id);
    free(r->reviews[i].period);
  }
  free(r->reviews);
  free(r);
}

size_t fs_report_nrows(const fs_report *r) { return r->nrows; }
uint64_t fs_report_skipped(const fs_report *r) { return r->skipped; }

int fs_report_measures(const fs_report *r, fs_report_measure_fn fn, void *arg) {
  for (size_t i = 0; i <= r->nrows; i++) {
    const row *w = i < r->nrows ? &r->rows[i] : &r->total;
    for (size_t k = 0; k < r->nm; k++) {
      int rc = fn(arg, i < r->nrows ? w->area : "", r->m[k].key, w->v[k]);
      if (rc)
        return rc;
    }
  }
  return 0;
}

int fs_report_get(const fs_report *r, const char *rowname, const char *key, int64_t *value) {
  const row *w = rowname[0] ? NULL : &r->total;
  for (size_t i = 0; !w && i < r->nrows; i++)
    if (strcmp(r->rows[i].area, rowname) == 0)
      w = &r->rows[i];
  for (size_t k = 0; w && k < r->nm; k++)
    if (strcmp(r->m[k].key, key) == 0) {
      *value = w->v[k];
      return 0;
    }
  return FS_ENOTFOUND;
}

