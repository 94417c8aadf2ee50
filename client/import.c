/* import.c - records from a JSON file (jansson), all of them or none.
 *
 * Everything is checked before anything is written: JSON syntax, each
 * record's type, id, area and fields (the schema check of `fieldsync add`),
 * ids already on the laptop or given twice. Only then are the records
 * written, in one transaction, so a bad record (or a full disk) leaves the
 * laptop exactly as it was.
 */
#include "import.h"

#include "changeset.h"
#include "cli.h"
#include "error.h"
#include "schema.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One record of the file, checked: what fs_device_edit_all needs. */
typedef struct rec {
  json_t *obj;   /* a reference of its own */
  unsigned line; /* its line (JSON lines), 0 in an array */
  char id[FS_MAX_ID + 1];
  const char *type, *area; /* point into obj, or area: the default */
  fs_write *w;             /* values point into obj or num */
  char (*num)[24];         /* integers and booleans as text */
  size_t n;
} rec;

typedef struct import_ctx {
  const char *path;
  fs_device *d;
  char scope[FS_MAX_AREA + 1];
  const char *area; /* default area */
  rec *recs;
  size_t n, cap;
} import_ctx;

/* Prints "fieldsync: FILE: record I (line L): refused, nothing was
 * imported: WHY" and returns FS_EXIT_FAILED. */
static int refuse(const import_ctx *x, size_t i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(const import_ctx *x, size_t i, const char *fmt, ...) {
  char why[FS_SCHEMA_WHY + 64];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  char where[48] = "";
  if (x->recs[i].line)
    snprintf(where, sizeof where, " (line %u)", x->recs[i].line);
  fprintf(stderr, "fieldsync: %s: record %zu%s: refused, nothing was imported: %s\n",
          x->path, i + 1, where, why);
  fprintf(stderr, "fieldsync: correct that record and import the whole file again\n");
  return FS_EXIT_FAILED;
}

/* Reads all of path ("-": standard input), at most FS_IMPORT_MAX_BYTES. */
static int read_all(const char *path, char **out, size_t *len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "fieldsync: cannot open %s: %s\n", path, strerror(errno));
    return FS_EXIT_FAILED;
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (n < cap)
      break;
    char *more = cap < FS_IMPORT_MAX_BYTES ? realloc(buf, 2 * cap + 1) : NULL;
    if (!more) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = more;
    cap *= 2;
  }
  bool err = ferror(f);
  if (f != stdin)
    fclose(f);
  if (!buf || err) {
    fprintf(stderr, "fieldsync: cannot read %s: %s\n", path,
            err ? "read error" : "larger than 64 MiB; split it into several files");
    free(buf);
    return FS_EXIT_FAILED;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return 0;
}

static int add_rec(import_ctx *x, json_t *obj, unsigned line) {
  if (x->n == FS_IMPORT_MAX_RECORDS) {
    json_decref(obj);
    fprintf(stderr,
            "fieldsync: %s holds more than %d records; split it into several "
            "files\n",
            x->path, FS_IMPORT_MAX_RECORDS);
    return FS_EXIT_FAILED;
  }
  if (x->n == x->cap) {
    size_t cap = x->cap ? 2 * x->cap : 256;
    rec *r = realloc(x->recs, cap * sizeof *r);
    if (!r) {
      json_decref(obj);
      fprintf(stderr, "fieldsync: out of memory\n");
      return FS_EXIT_FAILED;
    }
    x->recs = r;
    x->cap = cap;
  }
  x->recs[x->n++] = (rec){.obj = obj, .line = line};
  return 0;
}

static int syntax_error(const import_ctx *x, const json_error_t *e, unsigned line) {
  fprintf(stderr, "fieldsync: %s:%d:%d: not valid JSON: %s; nothing was imported\n",
          x->path, line ? (int)line : e->line, e->column, e->text);
  return FS_EXIT_FAILED;
}

/* A JSON array of records, or one record per line. */
static int parse(import_ctx *x, const char *buf, size_t len) {
  const char *p = buf + strspn(buf, " \t\r\n");
  json_error_t e;
  if (*p == '[') {
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
    if (!root)
      return syntax_error(x, &e, 0);
    size_t i;
    json_t *v;
    int rc = 0;
    json_array_foreach(root, i, v) {
      if ((rc = add_rec(x, json_incref(v), 0)))
        break;
    }
    json_decref(root);
    return rc;
  }
  unsigned line = 0;
  for (const char *s = buf; s < buf + len;) {
    const char *nl = memchr(s, '\n', (size_t)(buf + len - s));
    size_t n = nl ? (size_t)(nl - s) : (size_t)(buf + len - s);
    line++;
    if (strspn(s, " \t\r") < n) {
      json_t *v = json_loadb(s, n, JSON_REJECT_DUPLICATES, &e);
      if (!v)
        return syntax_error(x, &e, line);
      int rc = add_rec(x, v, line);
      if (rc)
        return rc;
    }
    s += n + 1;
  }
  if (x->n == 0) {
    fprintf(stderr,
            "fieldsync: %s holds no records: write a JSON array of objects, or "
            "one object a line (fieldsync import --help)\n",
            x->path);
    return FS_EXIT_FAILED;
  }
  return 0;
}

/* One member as a field value: a string as it is, an integer or a boolean
 * as its text. Returns 0 or a refusal. */
static int value_of(import_ctx *x, size_t i, const char *name, json_t *v, size_t k) {
  rec *r = &x->recs[i];
  fs_write *w = &r->w[k];
  w->name = name;
  if (json_is_string(v)) {
    w->value = (const uint8_t *)json_string_value(v);
    w->len = json_string_length(v);
    if (w->len > FS_MAX_VALUE || memchr(w->value, '\0', w->len))
      return refuse(x, i, "field %s: the value must be text of at most %d bytes", name,
                    FS_MAX_VALUE);
    return 0;
  }
  if (json_is_integer(v))
    snprintf(r->num[k], sizeof r->num[k], "%" JSON_INTEGER_FORMAT, json_integer_value(v));
  else if (json_is_boolean(v))
    snprintf(r->num[k], sizeof r->num[k], "%s", json_is_true(v) ? "true" : "false");
  else
    return refuse(x, i, "field %s: the value must be a string, an integer or true/false%s",
                  name,
                  json_is_real(v)   ? " (write a decimal number as a string: \"26.5\")"
                  : json_is_null(v) ? " (leave the field out instead of null)"
                                    : "");
  w->value = (const uint8_t *)r->num[k];
  w->len = strlen(r->num[k]);
  return 0;
}

/* Checks record i as `fieldsync add` would and fills its writes. */
static int check_rec(import_ctx *x, size_t i) {
  rec *r = &x->recs[i];
  if (!json_is_object(r->obj))
    return refuse(x, i, "a record is a JSON object like {\"type\": \"incident\", ...}");
  json_t *t = json_object_get(r->obj, "type");
  if (!json_is_string(t))
    return refuse(x, i, "\"type\" is missing or not a string");
  r->type = json_string_value(t);
  const fs_type_def *td = fs_schema_type(r->type);
  if (!td) {
    char list[256];
    fs_schema_type_list(list, sizeof list);
    return refuse(x, i, "record type '%.64s' is unknown (known: %s)", r->type, list);
  }
  json_t *id = json_object_get(r->obj, "id");
  if (id && (!json_is_string(id) || !fs_record_id_valid(json_string_value(id))))
    return refuse(x, i, "\"id\" must be a string of 1-64 characters of a-z, 0-9, _");
  if (id)
    snprintf(r->id, sizeof r->id, "%s", json_string_value(id));
  else
    fs_record_id_new(r->id);
  json_t *area = json_object_get(r->obj, "area");
  if (area && (!json_is_string(area) || !fs_area_valid(json_string_value(area))))
    return refuse(x, i, "\"area\" must be an area code like KT.KPL.DAKNEN");
  r->area = area ? json_string_value(area) : x->area;
  if (!fs_area_within(r->area, x->scope))
    return refuse(x, i, "area %s lies outside this laptop's area %s", r->area, x->scope);
  size_t nmembers = json_object_size(r->obj);
  r->w = calloc(nmembers, sizeof *r->w);
  r->num = calloc(nmembers, sizeof *r->num);
  if (!r->w || !r->num)
    return refuse(x, i, "out of memory");
  const char *name;
  json_t *v;
  json_object_foreach(r->obj, name, v) {
    if (strcmp(name, "type") == 0 || strcmp(name, "id") == 0 || strcmp(name, "area") == 0)
      continue;
    if (r->n == FS_MAX_WRITES)
      return refuse(x, i, "at most %d fields per record", FS_MAX_WRITES);
    int rc = value_of(x, i, name, v, r->n);
    if (rc)
      return rc;
    const fs_field_def *f = fs_schema_field(td, name, NULL);
    if (f && (f->flags & FS_FIELD_SEALED) && !x->d->has_seal_pk)
      return refuse(x, i,
                    "field %s is sealed and this laptop holds no sealing key; "
                    "re-enrol it with --seal-key seal.key.pub from the administrator",
                    name);
    r->n++;
  }
  fs_schema_write sw[FS_MAX_WRITES];
  for (size_t k = 0; k < r->n; k++)
    sw[k] = (fs_schema_write){r->w[k].name, r->w[k].value, r->w[k].len};
  char why[FS_SCHEMA_WHY], list[256];
  if (fs_schema_check(td, sw, r->n, NULL, true, why, sizeof why) != 0) {
    fs_schema_required_list(td, list, sizeof list);
    return refuse(x, i, "%s (a new %s needs %s; docs/SCHEMA.md lists every field)", why,
                  td->name, list);
  }
  return 0;
}

static int by_id(const void *a, const void *b) {
  const rec *const *x = a, *const *y = b;
  int c = strcmp((*x)->area, (*y)->area);
  return c ? c : strcmp((*x)->id, (*y)->id);
}

/* No two records of the file, and no record of the file and one on the
 * laptop, share an area and an id: import adds, it never edits. */
static int check_ids(import_ctx *x) {
  const rec **sorted = malloc(x->n * sizeof *sorted);
  if (!sorted) {
    fprintf(stderr, "fieldsync: out of memory\n");
    return FS_EXIT_FAILED;
  }
  for (size_t i = 0; i < x->n; i++)
    sorted[i] = &x->recs[i];
  qsort(sorted, x->n, sizeof *sorted, by_id);
  int rc = 0;
  for (size_t i = 1; rc == 0 && i < x->n; i++) {
    if (by_id(&sorted[i - 1], &sorted[i]) == 0) {
      const rec *later = sorted[i - 1] > sorted[i] ? sorted[i - 1] : sorted[i];
      rc = refuse(x, (size_t)(later - x->recs), "id %s is given twice in the file",
                  later->id);
    }
  }
  free(sorted);
  if (rc)
    return rc;
  MDB_txn *txn;
  int err = fs_store_begin(&x->d->store, false, &txn);
  if (err == 0) {
    for (size_t i = 0; rc == 0 && err == 0 && i < x->n; i++) {
      fs_record cur;
      err = fs_store_record_get(&x->d->store, txn, x->recs[i].area, x->recs[i].id, &cur);
      if (err == 0) {
        fs_record_free(&cur);
        rc = refuse(x, i,
                    "a record with id %s exists already on this laptop; change it "
                    "with: fieldsync edit %s NAME=VALUE...",
                    x->recs[i].id, x->recs[i].id);
      } else if (err == FS_ENOTFOUND) {
        err = 0;
      }
    }
    mdb_txn_abort(txn);
  }
  if (err) {
    fprintf(stderr, "fieldsync: cannot read the laptop's records: %s\n", fs_strerror(err));
    return FS_EXIT_FAILED;
  }
  return rc;
}

static int write_all(import_ctx *x) {
  fs_edit *e = calloc(x->n, sizeof *e);
  if (!e) {
    fprintf(stderr, "fieldsync: out of memory\n");
    return FS_EXIT_FAILED;
  }
  for (size_t i = 0; i < x->n; i++) {
    const rec *r = &x->recs[i];
    e[i] = (fs_edit){r->area, r->id, r->type, r->w, r->n, false};
  }
  size_t failed = 0;
  int rc = fs_device_edit_all(x->d, e, x->n, &failed);
  free(e);
  if (rc == FS_ENOSEALKEY || rc == FS_ESCOPE || rc == FS_ECLOCK)
    return refuse(x, failed, "%s", rc == FS_ECLOCK ? fs_edit_clock_why : fs_strerror(rc));
  if (rc) {
    fprintf(stderr, "fieldsync: cannot record the records: %s; nothing was imported\n",
            fs_strerror(rc));
    return FS_EXIT_FAILED;
  }
  for (size_t i = 0; i < x->n; i++)
    printf("%s\n", x->recs[i].id);
  fprintf(stderr,
          "imported %zu records from %s; they go to the server at the next "
          "fieldsync sync\n",
          x->n, x->path);
  return 0;
}

int fs_import_file(fs_device *d, const char *path, const char *area) {
  import_ctx x = {.path = strcmp(path, "-") == 0 ? "standard input" : path, .d = d};
  char *buf = NULL;
  size_t len = 0;
  int rc = fs_device_area(d, x.scope);
  if (rc) {
    fprintf(stderr, "fieldsync: cannot read the laptop's area: %s\n", fs_strerror(rc));
    return FS_EXIT_FAILED;
  }
  x.area = area ? area : x.scope;
  if ((rc = read_all(path, &buf, &len)) == 0 && (rc = parse(&x, buf, len)) == 0) {
    for (size_t i = 0; rc == 0 && i < x.n; i++)
      rc = check_rec(&x, i);
    if (rc == 0 && (rc = check_ids(&x)) == 0)
      rc = write_all(&x);
  }
  for (size_t i = 0; i < x.n; i++) {
    json_decref(x.recs[i].obj);
    free(x.recs[i].w);
    free(x.recs[i].num);
  }
  free(x.recs);
  free(buf);
  return rc;
}
