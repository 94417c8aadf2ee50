/* conflicts.c - listing the conflicts database for people and programs. */
#include "conflicts.h"

#include "cert.h"
#include "error.h"
#include "hex.h"
#include "hlc.h"
#include "merge.h"
#include "schema.h"
#include "seal.h"
#include "view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct found {
  Fs__Conflict **v; /* owned */
  size_t n, total;
};

static uint64_t newest(const Fs__Conflict *c) {
  return c->winner->hlc > c->loser->hlc ? c->winner->hlc : c->loser->hlc;
}

/* Newest first, then by place, so a listing is stable. */
static int order(const void *a, const void *b) {
  const Fs__Conflict *x = *(Fs__Conflict *const *)a, *y = *(Fs__Conflict *const *)b;
  if (newest(x) != newest(y))
    return newest(x) > newest(y) ? -1 : 1;
  int c = strcmp(x->area, y->area);
  if (c == 0)
    c = strcmp(x->record_id, y->record_id);
  return c ? c : strcmp(x->field, y->field);
}

static bool well_formed(const Fs__Conflict *c) {
  return c->winner && c->loser && c->winner->device.len == FS_PK_LEN &&
         c->loser->device.len == FS_PK_LEN;
}

/* Collects the conflicts within area (every entry is looked at: the
 * database is keyed by a hash, and conflicts are few). */
static int collect(fs_store *s, MDB_txn *txn, const char *area, struct found *f) {
  MDB_cursor *cur;
  int rc = fs_err_from_mdb(mdb_cursor_open(txn, s->conflicts, &cur));
  if (rc)
    return rc;
  MDB_val k, v;
  for (rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_FIRST)); rc == 0;
       rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_NEXT))) {
    Fs__Conflict *c = fs__conflict__unpack(NULL, v.mv_size, v.mv_data);
    if (!c || !well_formed(c) || !fs_area_within(c->area, area)) {
      if (c)
        fs__conflict__free_unpacked(c, NULL);
      continue;
    }
    f->total++;
    if (f->n == FS_CONFLICTS_MAX) {
      /* Keep the newest: replace the oldest kept when this one is newer. */
      size_t old = 0;
      for (size_t i = 1; i < f->n; i++)
        if (newest(f->v[i]) < newest(f->v[old]))
          old = i;
      Fs__Conflict *drop = newest(c) > newest(f->v[old]) ? f->v[old] : c;
      if (drop != c)
        f->v[old] = c;
      fs__conflict__free_unpacked(drop, NULL);
      continue;
    }
    f->v[f->n++] = c;
  }
  mdb_cursor_close(cur);
  return rc == FS_ENOTFOUND ? 0 : rc;
}

/* What is known of one side of a conflict, for display. */
struct side {
  const Fs__FieldState *w;
  bool sealed;
  char device[2 * FS_PK_LEN + 1];
  char officer[128], officer_id[64], when[80];
};

static void side_of(fs_store *s, MDB_txn *txn, const Fs__FieldState *w,
                    bool sealed_field, struct side *o) {
  memset(o, 0, sizeof *o);
  o->w = w;
  o->sealed = sealed_field || fs_value_sealed(w->value.data, w->value.len);
  fs_hex_encode(o->device, w->device.data, FS_PK_LEN);
  fs_grant g;
  if (fs_cert_latest(s, txn, w->device.data, FS__CERT_KIND__CERT_DEVICE, &g) == 0) {
    snprintf(o->officer, sizeof o->officer, "%s", g.officer);
    snprintf(o->officer_id, sizeof o->officer_id, "%s", g.officer_id);
  }
  uint64_t ms = fs_hlc_ms(w->hlc);
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (gmtime_r(&t, &tm))
    snprintf(o->when, sizeof o->when, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
             tm.tm_sec, (unsigned)(ms % 1000));
}

/* The record's type, whether the field is sealed by the schema, and
 * whether the winner is still the field's value. */
static void record_facts(fs_store *s, MDB_txn *txn, const Fs__Conflict *c, char *type,
                         size_t cap, bool *sealed, bool *superseded) {
  fs_record r;
  type[0] = '\0';
  *sealed = *superseded = false;
  if (fs_store_record_get(s, txn, c->area, c->record_id, &r) != 0)
    return;
  snprintf(type, cap, "%s", r.type ? r.type : "");
  const fs_type_def *t = r.type ? fs_schema_type(r.type) : NULL;
  const fs_field_def *fd = t ? fs_schema_field(t, c->field, NULL) : NULL;
  *sealed = fd && (fd->flags & FS_FIELD_SEALED);
  const fs_field *cur = fs_record_field(&r, c->field);
  *superseded = cur && (cur->clock.hlc != c->winner->hlc ||
                        memcmp(cur->clock.device, c->winner->device.data, FS_PK_LEN) != 0);
  fs_record_free(&r);
}

static void json_side(fs_strbuf *b, const char *name, const struct side *o) {
  fs_strbuf_printf(b, ",\"%s\":{\"value\":", name);
  if (o->sealed)
    fs_strbuf_puts(b, "null");
  else
    fs_strbuf_json_bytes(b, o->w->value.data, o->w->value.len);
  fs_strbuf_printf(b, ",\"sealed\":%s,\"device\":\"%s\",\"officer\":",
                   o->sealed ? "true" : "false", o->device);
  fs_strbuf_json(b, o->officer);
  fs_strbuf_puts(b, ",\"officer_id\":");
  fs_strbuf_json(b, o->officer_id);
  fs_strbuf_printf(b, ",\"hlc\":%llu,\"base_hlc\":%llu,\"time\":\"%s\"}",
                   (unsigned long long)o->w->hlc, (unsigned long long)o->w->base_hlc, o->when);
}

static void text_side(fs_strbuf *b, const char *label, const struct side *o) {
  fs_strbuf_printf(b, "  %s ", label);
  if (o->sealed) {
    fs_strbuf_puts(b, "<sealed>");
  } else {
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    if (f) {
      fs_value_print(f, o->w->value.data, o->w->value.len); /* as `records` prints it */
      fclose(f);
      fs_strbuf_add(b, p, n);
    }
    free(p);
  }
  fs_strbuf_printf(b, "  by %s%s%s%s, device %.16s, at %s\n",
                   o->officer[0] ? o->officer : "an unknown officer",
                   o->officer_id[0] ? " (" : "", o->officer_id, o->officer_id[0] ? ")" : "",
                   o->device, o->when);
}

int fs_conflicts_render(fs_store *s, MDB_txn *txn, const char *node, const char *area,
                        bool json, fs_strbuf *b) {
  struct found f = {calloc(FS_CONFLICTS_MAX, sizeof(Fs__Conflict *)), 0, 0};
  if (!f.v)
    return FS_ENOMEM;
  int rc = collect(s, txn, area, &f);
  if (rc == 0)
    qsort(f.v, f.n, sizeof *f.v, order);
  if (rc == 0 && json) {
    fs_strbuf_puts(b, "{\"node\":");
    fs_strbuf_json(b, node);
    fs_strbuf_puts(b, ",\"area\":");
    fs_strbuf_json(b, area);
    fs_strbuf_printf(b, ",\"count\":%zu,\"listed\":%zu,\"conflicts\":[\n", f.total, f.n);
  } else if (rc == 0) {
    fs_strbuf_printf(b, "%zu conflict%s in %s at node %s", f.total, f.total == 1 ? "" : "s",
                     area[0] ? area : "every area", node);
    if (f.n < f.total)
      fs_strbuf_printf(b, " (the newest %zu listed)", f.n);
    fs_strbuf_puts(b, f.n ? ", newest first:\n" : "\n");
  }
  for (size_t i = 0; rc == 0 && i < f.n; i++) {
    const Fs__Conflict *c = f.v[i];
    char type[64];
    bool sealed, superseded;
    record_facts(s, txn, c, type, sizeof type, &sealed, &superseded);
    struct side w, l;
    side_of(s, txn, c->winner, sealed, &w);
    side_of(s, txn, c->loser, sealed, &l);
    if (json) {
      fs_strbuf_puts(b, i ? ",\n{\"area\":" : "{\"area\":");
      fs_strbuf_json(b, c->area);
      fs_strbuf_puts(b, ",\"record\":");
      fs_strbuf_json(b, c->record_id);
      fs_strbuf_puts(b, ",\"type\":");
      fs_strbuf_json(b, type);
      fs_strbuf_puts(b, ",\"field\":");
      fs_strbuf_json(b, c->field);
      json_side(b, "winner", &w);
      json_side(b, "loser", &l);
      fs_strbuf_printf(b, ",\"superseded\":%s}", superseded ? "true" : "false");
    } else {
      fs_strbuf_printf(b, "\n%s %s (%s) field %s%s\n", c->area, c->record_id,
                       type[0] ? type : "?", c->field,
                       superseded ? "  [superseded by a later write]" : "");
      text_side(b, "won: ", &w);
      text_side(b, "lost:", &l);
    }
  }
  if (rc == 0 && json)
    fs_strbuf_puts(b, "]}\n");
  for (size_t i = 0; i < f.n; i++)
    fs__conflict__free_unpacked(f.v[i], NULL);
  free(f.v);
  return rc ? rc : b->err;
}
