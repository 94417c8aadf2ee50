/* view.h - printing merged records for people (CLI listings). */
#ifndef FS_VIEW_H
#define FS_VIEW_H

#include "merge.h"

#include <stdbool.h>
#include <stdio.h>

typedef struct fs_view_opts {
  FILE *out;
  bool all;      /* include deleted records (marked "deleted") */
  const char *type; /* only this record type, or NULL */
} fs_view_opts;

/* Prints r on one line: "area id type name=value ..." (fs_record_visit_fn
 * compatible: arg is an fs_view_opts). Values are printed as text, quoted
 * when they hold spaces, with control bytes escaped; only fields written
 * after the newest delete are shown. Returns 0. */
int fs_record_print(void *arg, const fs_record *r);

/* Prints a value as above. */
void fs_value_print(FILE *out, const uint8_t *v, size_t len);

#endif
