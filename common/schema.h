/* schema.h - the movement's record types, defined once.
 *
 * Every record type an officer can write ("incident", "tip", "surrender",
 * ...) is a table of typed fields: text, enumeration, date, date and time,
 * period, integer, decimal quantity, reference to another record, boolean.
 * A field may be required (at creation), sealed (its value is personal data
 * that the trust issue's sealing will encrypt; here it is only marked) and,
 * for item lines, repeated: NAME is line 1, NAME_2 ... NAME_20 the others.
 *
 * Where the schema is enforced (docs/SCHEMA.md):
 *   - the laptop's CLI checks every add and edit before it signs anything;
 *   - the node a device pushes to (the edge) refuses a change set that
 *     breaks the schema: an unknown type, an unknown field, a bad value, or
 *     a new record without its required fields;
 *   - nodes higher up never check the schema of relayed change sets: they
 *     store and forward types and fields they do not know, so a tree with
 *     mixed software versions keeps working during a roll-out.
 * Versioning: the schema only grows. Types, fields and enumeration values
 * are added, never renamed, removed or retyped; a field added to an existing
 * type is optional; limits only widen. FS_SCHEMA_VERSION counts the
 * additions. Values are stored as the officer's UTF-8 text, in one canonical
 * spelling per type (see fs_schema_check_value), so reports and digests
 * never depend on how something was typed.
 *
 * Everything here is const data and pure functions: safe on any thread.
 */
#ifndef FS_SCHEMA_H
#define FS_SCHEMA_H

#include "fieldsync.pb-c.h"
#include "merge.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FS_SCHEMA_VERSION 1
#define FS_SCHEMA_MAX_LINES 20   /* item lines per record (surrender) */
#define FS_SCHEMA_WHY 320        /* room for a refusal sentence */

typedef enum fs_ftype {
  FS_FT_TEXT,      /* UTF-8, at most max_chars code points, no control bytes */
  FS_FT_ENUM,      /* one of values[].name */
  FS_FT_DATE,      /* YYYY-MM-DD, a real calendar day in 1900..2100 */
  FS_FT_DATETIME,  /* YYYY-MM-DDTHH:MM[:SS[.fff]][Z|+HH:MM|-HH:MM] */
  FS_FT_PERIOD,    /* YYYY, YYYY-Hn, YYYY-Qn or YYYY-MM */
  FS_FT_INT,       /* -?[0-9]+ within [min, max], no leading zeros */
  FS_FT_QUANTITY,  /* [0-9]+(.[0-9]{1,3})?, > 0, at most max (thousandths) */
  FS_FT_REF,       /* the id of another record: 1-64 of [a-z0-9_] */
  FS_FT_BOOL       /* true | false */
} fs_ftype;

enum {
  FS_FIELD_REQUIRED = 1u << 0,  /* must be present and non-empty at creation */
  FS_FIELD_SEALED = 1u << 1,    /* personal data: sealed by the trust issue */
  FS_FIELD_MULTILINE = 1u << 2, /* text may hold newlines and tabs */
  FS_FIELD_LINE = 1u << 3       /* part of an item line: NAME, NAME_2.. */
};

/* A label in both languages of the reports. */
typedef struct fs_label {
  const char *vi, *en;
} fs_label;

typedef enum fs_lang { FS_LANG_VI, FS_LANG_EN } fs_lang;

typedef struct fs_enum_value {
  const char *name; /* what is stored: [a-z_] */
  fs_label label;
} fs_enum_value;

typedef struct fs_field_def {
  const char *name;
  fs_ftype type;
  unsigned flags;
  fs_label label;
  unsigned max_chars;                  /* text */
  const fs_enum_value *values;         /* enum */
  size_t nvalues;
  int64_t min, max;                    /* integer; quantity: max thousandths */
  const char *ref_type;                /* ref: the type referred to */
} fs_field_def;

typedef struct fs_type_def {
  const char *name;
  fs_label label;
  const fs_field_def *fields;
  size_t nfields;
  const char *date_field;              /* what reports filter periods on */
  const char *first, *then;            /* order rule: then >= first, or NULL */
} fs_type_def;

/* One field written by an edit (the CLI's NAME=VALUE, a FieldWrite). */
typedef struct fs_schema_write {
  const char *name;
  const uint8_t *value;
  size_t len;
} fs_schema_write;

/* The types, in a fixed order (documentation and reports follow it). */
size_t fs_schema_ntypes(void);
const fs_type_def *fs_schema_type_at(size_t i);

/* The type called name, or NULL when this version does not know it. */
const fs_type_def *fs_schema_type(const char *name);

/* Writes the known type names ("incident, tip, ...") into out. */
void fs_schema_type_list(char *out, size_t cap);

/* Writes the required fields of t ("category, occurred_at, ...", item-line
 * fields included) into out. */
void fs_schema_required_list(const fs_type_def *t, char *out, size_t cap);

/* The definition of field name of t, resolving item-line names ("kind_3"
 * is line 3 of "kind"): *line gets 1..FS_SCHEMA_MAX_LINES (may be NULL).
 * NULL when t has no such field. */
const fs_field_def *fs_schema_field(const fs_type_def *t, const char *name,
                                    unsigned *line);

/* Index of value in an enum field's values, or -1. */
int fs_schema_enum_index(const fs_field_def *f, const uint8_t *v, size_t len);

/* The label in lang ("" for NULL). */
const char *fs_label_get(const fs_label *l, fs_lang lang);

/* Checks one value against its field. An empty value clears an optional
 * field and is refused for a required one. Returns 0, or FS_EINVAL with a
 * sentence naming the field and the rule in why (cap bytes). */
int fs_schema_check_value(const fs_field_def *f, const char *name, const uint8_t *v,
                          size_t len, char *why, size_t cap);

/* Checks an edit of a record of type t: every written field known and
 * valid. Then, on the record as it would be after the edit (cur's visible
 * fields overwritten by w): at creation (create true, cur normally NULL)
 * every required field present and at least one item line; every item line
 * the edit touches complete; and the order rule of the type (a patrol ends
 * at or after its start) when the edit touches it. Rules are checked only
 * on what an edit touches, so a record written by another schema version
 * stays editable. An edit checked without the record (cur NULL, create
 * false: the edge) gets the checks that depend on the written values
 * alone: each value, and the order rule when both fields are written.
 * Returns 0 or FS_EINVAL with why. */
int fs_schema_check(const fs_type_def *t, const fs_schema_write *w, size_t n,
                    const fs_record *cur, bool create, char *why, size_t cap);

/* The edge's first check of a decoded change set from a device, without
 * the store (safe on the thread pool): every change names a known type and
 * every write a known field with a valid value. Deletes carry no writes.
 * Returns 0 or FS_EINVAL with why ("record ID (TYPE): ..."). */
int fs_schema_check_changeset(const Fs__ChangeSet *cs, char *why, size_t cap);

/* The edge's second check, inside the commit transaction, of a set that
 * passed fs_schema_check_changeset (its values are not checked again, so
 * the writer thread does not repeat the pool's work): a change to a
 * record that does not exist yet (in the store, or made by an earlier change
 * of cs) creates it and must carry its required fields and an item line. A
 * change to an existing record gets only the checks of its own writes
 * (fs_schema_check with cur NULL: the order rule when it writes both
 * fields): the stored fields and type may hold
 * concurrent edits the laptop never saw, and refusing a set for them would
 * block that laptop's outbox for good (the laptop checked the edit against
 * the record it had). Returns 0, FS_EINVAL with why, or a storage error. */
int fs_schema_check_stored(fs_store *s, MDB_txn *txn, const Fs__ChangeSet *cs,
                           char *why, size_t cap);

/* ------------------------------------------------ values, parsed for reports */

/* A visible, non-empty field of r; NULL otherwise. */
const fs_field *fs_schema_value(const fs_record *r, const char *name);

/* YYYY-MM-DD -> yyyymmdd (20261120). Returns 0 or FS_EINVAL. */
int fs_schema_date_parse(const uint8_t *v, size_t len, int32_t *ymd);

/* A datetime -> its date (yyyymmdd, as written) and a key ordering
 * datetimes of one writer (seconds since the date's midnight added to
 * yyyymmdd * 100000; the zone is ignored). Returns 0 or FS_EINVAL. */
int fs_schema_datetime_parse(const uint8_t *v, size_t len, int32_t *ymd, int64_t *key);

/* A period -> its first and last day (yyyymmdd). Also accepts a date
 * (one day). Returns 0 or FS_EINVAL. */
int fs_schema_period_parse(const uint8_t *v, size_t len, int32_t *first, int32_t *last);

/* A quantity -> thousandths (26.5 -> 26500). Returns 0 or FS_EINVAL. */
int fs_schema_quantity_parse(const uint8_t *v, size_t len, int64_t *milli);

/* An integer. Returns 0 or FS_EINVAL. */
int fs_schema_int_parse(const uint8_t *v, size_t len, int64_t *out);

/* The days a record covers for period filters, from its type's date_field:
 * a date or a datetime is one day, a period its days, an integer year the
 * whole year. Returns 0, or FS_ENOTFOUND when the field is absent or
 * unparsable (a record written by a newer version, say). */
int fs_schema_record_span(const fs_type_def *t, const fs_record *r, int32_t *first,
                          int32_t *last);

#endif
