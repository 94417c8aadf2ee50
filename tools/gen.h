/* gen.h - realistic sample records with known totals (fieldsync-gen, the
 * demo, the benchmarks and the report tests).
 *
 * fs_gen_records writes records the way an officer's laptop does: each
 * creation, later status change or deletion is one fs_device_edit, so one
 * signed change set in the outbox. Every record is valid under the schema
 * (common/schema.h). Names are Vietnamese (Kinh and the Xơ Đăng, Ba Na,
 * Gia Rai names of Kon Tum), places are Kon Tum villages and communes,
 * dates fall across one year. A seed makes a run reproducible: the same
 * seed, year, count and device key give the same records and ids.
 *
 * Alongside, it keeps its own tally of what the final state must report:
 * the report measures (server/report.h) of every record it wrote, per
 * area, for the period of that year, counted independently of the report
 * code so that tests can compare the two.
 */
#ifndef FS_GEN_H
#define FS_GEN_H

#include "local.h"

#include <stdint.h>
#include <stdio.h>

typedef struct fs_gen_opts {
  uint64_t seed;
  int year;          /* dates fall in this year */
  size_t count;      /* records to create (edits and deletes come on top) */
  const char *area;  /* where to write; NULL: the device's area */
  const char *officer; /* the reporting officer; NULL: the device's officer */
} fs_gen_opts;

/* Known totals: (area, measure key) -> value, counts or thousandths. */
typedef struct fs_gen_entry {
  char *area, *key;
  int64_t value;
} fs_gen_entry;

typedef struct fs_gen_totals {
  fs_gen_entry *e;
  size_t n, cap;
  uint64_t changesets; /* change sets written */
  uint64_t records;    /* records created (including deleted ones) */
  uint64_t deleted;
} fs_gen_totals;

void fs_gen_totals_init(fs_gen_totals *t);
void fs_gen_totals_free(fs_gen_totals *t);

/* Adds v to (area, key). Returns 0 or FS_ENOMEM. */
int fs_gen_totals_add(fs_gen_totals *t, const char *area, const char *key, int64_t v);

/* Sum of key over every area within prefix ("" for all). */
int64_t fs_gen_totals_sum(const fs_gen_totals *t, const char *prefix, const char *key);

/* Prints "area,measure,value" lines (quantities as decimals), sorted. */
void fs_gen_totals_print(fs_gen_totals *t, FILE *out);

/* Writes o->count records (and some later edits and deletions) on d and
 * adds their totals to t. Returns 0, FS_EINVAL (bad options, or an area
 * outside the device's), or an error of fs_device_edit. */
int fs_gen_records(fs_device *d, const fs_gen_opts *o, fs_gen_totals *t);

/* A Kon Tum-style tree: prints one line per node,
 *   node ID AREA PARENT-ID NAME
 * province first (parent "-"), then per district its communes, and per
 * commune its laptops:
 *   laptop ID AREA NODE-ID OFFICER
 * Names beyond the built-in lists are numbered. Returns 0 or FS_EINVAL. */
int fs_gen_tree(FILE *out, const char *province, unsigned districts, unsigned communes,
                unsigned laptops, uint64_t seed);

/* The display name of an area code from the built-in Kon Tum lists ("xã
 * Đăk Nên" for KT.KPL.DAKNEN), or NULL. */
const char *fs_gen_area_name(const char *area);

#endif
