/* import.h - records from a JSON file, all of them or none.
 *
 * The file is a JSON array of objects, or JSON lines (one object a line):
 *   {"type": "incident", "id": "inc_0001", "area": "KT.KPL.DAKNEN.T3",
 *    "category": "theft", "occurred_at": "2026-11-20T21:15", ...}
 * "type" is required; "id" (default: a fresh random id) and "area"
 * (default: the laptop's area) are optional; every other member is a field,
 * its value a string, an integer or true/false (a decimal number is
 * written as a string: "26.5", so no digit is lost to floating point).
 * Each record gets the checks `fieldsync add` makes (common/schema.h); the
 * first refused one is named by its index (and line) and nothing is
 * recorded. Otherwise every record becomes a pending edit, all in one
 * write transaction (local.h fs_device_edit_all), signed into change sets
 * at the next sync like any edit.
 */
#ifndef FS_IMPORT_H
#define FS_IMPORT_H

#include "local.h"

#define FS_IMPORT_MAX_RECORDS 100000
#define FS_IMPORT_MAX_BYTES (64u << 20)

/* Imports path ("-": standard input) into the open device d; area (may be
 * NULL) is the default area of records without one. Prints the new ids on
 * stdout and what went wrong, with what to do next, on stderr. Returns an
 * exit code: 0, FS_EXIT_USAGE or FS_EXIT_FAILED (common/cli.h). */
int fs_import_file(fs_device *d, const char *path, const char *area);

#endif
