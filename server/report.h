/* report.h - roll-up reports of the movement's records for an area and a
 * period, computed from a node's merged records.
 *
 * A report has one row per child area of the prefix (the next segment:
 * "KT" has rows "KT.KPL", "KT.DH"; records of the prefix's own area form a
 * row of their own) plus a total, and for each row a fixed list of
 * summable measures, each named by a stable key (docs/SCHEMA.md):
 *   surrender.records, surrender.MODE.KIND.UNIT   (quantities in thousandths)
 *   tips.total, tips.status.S
 *   incidents.total, incidents.category.C, incidents.status.S,
 *   incidents.category_status.C.S
 *   mediations.total, mediations.outcome.O, mediations.pending
 *   patrols.total
 *   models.total, models.kind.K, models.rating.R, models.rating.unrated,
 *   models.decision.D
 *   safety.UNIT_KIND.met, safety.UNIT_KIND.total
 *   commendations.total, commendations.level.L
 * Derived figures (the reconciliation rate) and the lists of weak and good
 * models are added by the renderers.
 *
 * What counts in a period [from, to] (inclusive days, either end open):
 * incidents, tips, surrenders, mediations, patrols and commendations whose
 * date falls in it; certifications whose year overlaps it; models founded
 * on or before `to`, rated by their latest review whose period ends within
 * [from, to] (latest: the later period end, then the later rating write).
 * Deleted records, records of types this version does not know and values
 * it cannot parse are left out (and counted as skipped), so a node running
 * an older schema reports what it knows.
 */
#ifndef FS_REPORT_H
#define FS_REPORT_H

#include "schema.h"
#include "store.h"
#include "strbuf.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct fs_report fs_report;

typedef struct fs_report_query {
  const char *area;  /* area prefix; "" for everything */
  int32_t from, to;  /* yyyymmdd, inclusive; 0 for an open end */
} fs_report_query;

typedef enum fs_report_format {
  FS_REPORT_TABLE, /* sections of aligned tables for a terminal */
  FS_REPORT_CSV,   /* area,measure,label,value: one line per measure and row */
  FS_REPORT_JSON   /* one object: query, sections, measures, rows, total */
} fs_report_format;

/* Parses a --from or --to value: YYYY-MM-DD, YYYY-MM, YYYY, YYYY-Qn or
 * YYYY-Hn; last picks the period's last day, else its first. Returns 0 or
 * FS_EINVAL. */
int fs_report_parse_day(const char *s, bool last, int32_t *day);

/* Scans the records within q->area (inside txn) and computes the report.
 * On success *out is owned by the caller (fs_report_free). Returns 0,
 * FS_EINVAL (bad area), FS_ENOMEM or a storage error. */
int fs_report_compute(fs_store *s, MDB_txn *txn, const fs_report_query *q,
                      fs_report **out);
void fs_report_free(fs_report *r);

/* Appends the report to out in fmt with labels in lang; node (may be NULL)
 * names the node it was computed at. Returns 0 or FS_ENOMEM. */
int fs_report_render(const fs_report *r, fs_report_format fmt, fs_lang lang,
                     const char *node, fs_strbuf *out);

/* Visits every summable measure of every row, then of the total (row ""),
 * in a fixed order; a non-zero return from fn stops and is returned. */
typedef int (*fs_report_measure_fn)(void *arg, const char *row, const char *key,
                                    int64_t value);
int fs_report_measures(const fs_report *r, fs_report_measure_fn fn, void *arg);

/* One measure of one row ("" for the total). Returns 0, or FS_ENOTFOUND
 * when there is no such row or key. */
int fs_report_get(const fs_report *r, const char *row, const char *key, int64_t *value);

/* Number of rows (without the total) and records left out (deleted, of an
 * unknown type, or unparsable). */
size_t fs_report_nrows(const fs_report *r);
uint64_t fs_report_skipped(const fs_report *r);

/* The admin port's GET /api/report: parameters as given in the query
 * (NULL or "" when absent): area (default_area when absent), from, to (as
 * fs_report_parse_day), lang ("vi" or "en"), format ("json", the default,
 * or "csv"). On 0, out holds the report and *type its content type; on
 * FS_EINVAL out holds a sentence saying which parameter is wrong; other
 * codes are storage errors. Reads the store in its own read transaction. */
int fs_report_http(fs_store *s, const char *node, const char *default_area,
                   const char *area, const char *from, const char *to, const char *lang,
                   const char *format, fs_strbuf *out, const char **type);

/* The report page of the dashboard (HTML, inline script, no external
 * assets): a form for area and period, tables per section built from
 * /api/report, a CSV download link. */
extern const char fs_report_html[];

/* fieldsyncd report: parses its own options (argv[0] is "report"),
 *   --data DIR --area PREFIX [--from DAY] [--to DAY] [--csv|--json] [--lang vi|en]
 * reads the store in DIR (also while the node runs) and prints the report
 * on standard output. Returns the exit status: 0, 1 usage, 2 failed. */
int fs_report_cli(int argc, char **argv);

#endif
