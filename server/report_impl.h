/* report_impl.h - the report's representation, shared by report.c (the
 * computation) and report_render.c (tables, CSV, JSON, the command). Not a
 * public header: use report.h. */
#ifndef FS_REPORT_IMPL_H
#define FS_REPORT_IMPL_H

#include "changeset.h"
#include "report.h"

enum section {
  SEC_SURRENDER, SEC_TIPS, SEC_INCIDENTS, SEC_MEDIATIONS, SEC_PATROLS, SEC_MODELS,
  SEC_SAFETY, SEC_COMMENDATIONS, SEC_COUNT
};

/* Section key (the measures' first word) and the record type it sums. */
typedef struct fs_report_section {
  const char *key, *type;
} fs_report_section;
extern const fs_report_section fs_report_sections[SEC_COUNT];

extern const fs_label fs_report_lb_all, fs_report_lb_records, fs_report_lb_pending,
    fs_report_lb_unrated, fs_report_lb_met, fs_report_lb_of, fs_report_lb_rate,
    fs_report_lb_total_row, fs_report_lb_area;

/* One measure: a key like "tips.status.verified", labels, its section. */
typedef struct measure {
  char key[96];
  char *label[2]; /* vi, en; owned */
  char *col[2];   /* column header in tables (NULL: the label); owned */
  int section;
  bool quantity;
} measure;

/* One row: a child area (or the total) and a value per measure. */
typedef struct row {
  char area[FS_MAX_AREA + 1];
  int64_t *v;
} row;

/* A model counted in the period, and its latest review. */
typedef struct model_ent {
  char *id, *name, *area;
  size_t row;
  long best; /* index of the latest review, or -1 */
} model_ent;

/* A review whose period ends in the report's period. */
typedef struct review_ent {
  char *model, *area, *id, *period;
  int32_t first, last;
  uint64_t hlc;
  int rating, decision;
} review_ent;

struct fs_report {
  char area[FS_MAX_AREA + 1];
  int32_t from, to;
  measure *m;
  size_t nm, mcap;
  row *rows;
  size_t nrows, rcap;
  row total;
  model_ent *models;
  size_t nmodels, modcap;
  review_ent *reviews;
  size_t nreviews, revcap;
  uint64_t skipped;
  /* the enumerations counted, and where their measures start */
  const fs_field_def *s_kind, *s_unit, *s_mode, *t_status, *i_cat, *i_status, *md_outcome,
      *c_level, *mo_kind, *rv_rating, *rv_decision, *sf_kind;
  size_t surr_records, surr_base, tips_total, tips_status, inc_total, inc_cat, inc_status,
      inc_matrix, med_total, med_outcome, med_pending, pat_total, mod_total, mod_kind,
      mod_rating, mod_unrated, mod_decision, safe_base, com_total, com_level;
  int err;
};

#endif
