/* merge.c - the record join: per-register maximum of (hlc, device, value). */
#include "merge.h"

#include "changeset.h"
#include "decode_limit.h"
#include "error.h"
#include "hlc.h"

#include <stdlib.h>
#include <string.h>

int fs_clock_cmp(const fs_clock *a, const fs_clock *b) {
  if (a->hlc != b->hlc)
    return a->hlc < b->hlc ? -1 : 1;
  return memcmp(a->device, b->device, FS_PK_LEN);
}

/* Total order on writes: the clock, then the value bytes, then base_hlc,
 * so that even two writes at one clock (a forked or broken device can make
 * them) join the same way everywhere. */
static int field_cmp(const fs_field *a, const fs_field *b) {
  int c = fs_clock_cmp(&a->clock, &b->clock);
  if (c != 0)
    return c;
  if (a->value_len != b->value_len)
    return a->value_len < b->value_len ? -1 : 1;
  c = a->value_len ? memcmp(a->value, b->value, a->value_len) : 0;
  if (c != 0)
    return c;
  /* base_hlc is stored too, so it must take part in the order. */
  return a->base_hlc < b->base_hlc ? -1 : a->base_hlc > b->base_hlc;
}

int fs_record_init(fs_record *r, const char *area, const char *id) {
  memset(r, 0, sizeof *r);
  r->area = strdup(area);
  r->id = strdup(id);
  if (!r->area || !r->id) {
    fs_record_free(r);
    return FS_ENOMEM;
  }
  return 0;
}

void fs_record_free(fs_record *r) {
  for (size_t i = 0; i < r->nfields; i++) {
    free(r->fields[i].name);
    free(r->fields[i].value);
  }
  free(r->fields);
  free(r->area);
  free(r->id);
  free(r->type);
  memset(r, 0, sizeof *r);
}

/* Index of name in r->fields, or -(insertion point)-1. */
static long find_field(const fs_record *r, const char *name) {
  size_t lo = 0, hi = r->nfields;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(r->fields[mid].name, name);
    if (c == 0)
      return (long)mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -(long)lo - 1;
}

const fs_field *fs_record_field(const fs_record *r, const char *name) {
  long i = find_field(r, name);
  return i >= 0 ? &r->fields[i] : NULL;
}

/* Copies src's value and clock over dst's (dst keeps its name). */
static int set_write(fs_field *dst, const fs_field *src) {
  uint8_t *v = NULL;
  if (src->value_len) {
    v = malloc(src->value_len);
    if (!v)
      return FS_ENOMEM;
    memcpy(v, src->value, src->value_len);
  }
  free(dst->value);
  dst->value = v;
  dst->value_len = src->value_len;
  dst->clock = src->clock;
  dst->base_hlc = src->base_hlc;
  return 0;
}

static int insert_field(fs_record *r, size_t at, const fs_field *src) {
  if (r->nfields == r->cap) {
    size_t cap = r->cap ? 2 * r->cap : 8;
    fs_field *nf = realloc(r->fields, cap * sizeof *nf);
    if (!nf)
      return FS_ENOMEM;
    r->fields = nf;
    r->cap = cap;
  }
  fs_field f = {0};
  f.name = strdup(src->name);
  if (!f.name || set_write(&f, src) != 0) {
    free(f.name);
    return FS_ENOMEM;
  }
  memmove(&r->fields[at + 1], &r->fields[at], (r->nfields - at) * sizeof *r->fields);
  r->fields[at] = f;
  r->nfields++;
  return 0;
}

/* Joins one write into r; returns 1 if it won, 0 if not, or an error. */
static int join_field(fs_record *r, const fs_field *w, fs_conflict_fn conflict,
                      void *arg) {
  long i = find_field(r, w->name);
  if (i < 0) {
    int rc = insert_field(r, (size_t)(-i - 1), w);
    return rc ? rc : 1;
  }
  fs_field *cur = &r->fields[i];
  int c = field_cmp(w, cur);
  if (c == 0)
    return 0;
  const fs_field *winner = c > 0 ? w : cur, *loser = c > 0 ? cur : w;
  if (conflict && winner->base_hlc < loser->clock.hlc)
    conflict(arg, r, winner, loser); /* before cur is overwritten */
  if (c < 0)
    return 0;
  int rc = set_write(cur, w);
  return rc ? rc : 1;
}

static int join_type(fs_record *dst, const char *type, const fs_clock *clock) {
  if (!type)
    return 0;
  if (dst->type) {
    int c = fs_clock_cmp(clock, &dst->type_clock);
    if (c < 0 || (c == 0 && strcmp(type, dst->type) <= 0))
      return 0;
  }
  char *t = strdup(type);
  if (!t)
    return FS_ENOMEM;
  free(dst->type);
  dst->type = t;
  dst->type_clock = *clock;
  return 1;
}

static int join_del(fs_record *dst, const fs_clock *clock) {
  if (fs_clock_cmp(clock, &dst->del_clock) <= 0)
    return 0;
  dst->del_clock = *clock;
  return 1;
}

int fs_record_join(fs_record *dst, const fs_record *src, fs_conflict_fn conflict,
                   void *arg) {
  int changed = 0, rc;
  if ((rc = join_type(dst, src->type, &src->type_clock)) < 0)
    return rc;
  changed |= rc;
  changed |= join_del(dst, &src->del_clock);
  for (size_t i = 0; i < src->nfields; i++) {
    if ((rc = join_field(dst, &src->fields[i], conflict, arg)) < 0)
      return rc;
    changed |= rc;
  }
  return changed;
}

int fs_record_apply(fs_record *dst, const Fs__ChangeSet *cs, const Fs__Change *ch,
                    fs_conflict_fn conflict, void *arg) {
  fs_clock clock = {.hlc = ch->hlc ? ch->hlc : cs->hlc};
  memcpy(clock.device, cs->device.data, FS_PK_LEN);
  int changed = 0, rc;
  if ((rc = join_type(dst, ch->record_type, &clock)) < 0)
    return rc;
  changed |= rc;
  if (ch->deleted)
    changed |= join_del(dst, &clock);
  for (size_t i = 0; i < ch->n_writes; i++) {
    const Fs__FieldWrite *w = ch->writes[i];
    fs_field f = {.name = w->name, .value = w->value.data, .value_len = w->value.len,
                  .clock = clock, .base_hlc = w->base_hlc};
    f.clock.hlc = w->hlc;
    if ((rc = join_field(dst, &f, conflict, arg)) < 0)
      return rc;
    changed |= rc;
  }
  return changed;
}

bool fs_field_visible(const fs_record *r, const fs_field *f) {
  return r->del_clock.hlc == 0 || fs_clock_cmp(&f->clock, &r->del_clock) > 0;
}

bool fs_record_visible(const fs_record *r) {
  if (r->del_clock.hlc == 0)
    return true;
  if (r->type && fs_clock_cmp(&r->type_clock, &r->del_clock) > 0)
    return true;
  for (size_t i = 0; i < r->nfields; i++)
    if (fs_field_visible(r, &r->fields[i]))
      return true;
  return false;
}

uint64_t fs_record_max_hlc(const fs_record *r) {
  uint64_t m = r->type_clock.hlc > r->del_clock.hlc ? r->type_clock.hlc : r->del_clock.hlc;
  for (size_t i = 0; i < r->nfields; i++)
    if (r->fields[i].clock.hlc > m)
      m = r->fields[i].clock.hlc;
  return m;
}

/* Registers never written (hlc 0) say nothing about who wrote the record. */
static bool writer_agrees(const fs_clock *c, const uint8_t **who) {
  if (c->hlc == 0)
    return true;
  if (!*who)
    *who = c->device;
  return memcmp(*who, c->device, FS_PK_LEN) == 0;
}

bool fs_record_sole_writer(const fs_record *r, uint8_t out[FS_PK_LEN]) {
  const uint8_t *who = NULL;
  bool sole = writer_agrees(&r->type_clock, &who) && writer_agrees(&r->del_clock, &who);
  for (size_t i = 0; sole && i < r->nfields; i++)
    sole = writer_agrees(&r->fields[i].clock, &who);
  if (sole && who)
    memcpy(out, who, FS_PK_LEN);
  return sole && who;
}

/* A device key is encoded only with a non-zero clock, so that "never set"
 * has exactly one encoding. */
static ProtobufCBinaryData key_bytes(const fs_clock *c) {
  ProtobufCBinaryData b = {0, NULL};
  if (c->hlc) {
    b.len = FS_PK_LEN;
    b.data = (uint8_t *)c->device;
  }
  return b;
}

int fs_record_encode(const fs_record *r, uint8_t **out, size_t *len) {
  Fs__RecordState st = FS__RECORD_STATE__INIT;
  st.area = r->area;
  st.id = r->id;
  st.type = r->type ? r->type : (char *)"";
  st.type_hlc = r->type_clock.hlc;
  st.type_device = key_bytes(&r->type_clock);
  st.del_hlc = r->del_clock.hlc;
  st.del_device = key_bytes(&r->del_clock);
  /* Every applied change encodes its record: most have a few fields, and
   * need no allocation for the message around them. */
  Fs__FieldState fs_small[16], *fp_small[16];
  bool small = r->nfields <= 16;
  Fs__FieldState *fs = small ? fs_small : calloc(r->nfields, sizeof *fs);
  Fs__FieldState **fp = small ? fp_small : calloc(r->nfields, sizeof *fp);
  int rc = FS_ENOMEM;
  if (!fs || !fp)
    goto out;
  for (size_t i = 0; i < r->nfields; i++) {
    const fs_field *f = &r->fields[i];
    fs__field_state__init(&fs[i]);
    fs[i].name = f->name;
    fs[i].value.data = f->value;
    fs[i].value.len = f->value_len;
    fs[i].hlc = f->clock.hlc;
    fs[i].device = key_bytes(&f->clock);
    fs[i].base_hlc = f->base_hlc;
    fp[i] = &fs[i];
  }
  st.n_fields = r->nfields;
  st.fields = fp;
  size_t n = fs__record_state__get_packed_size(&st);
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf)
    goto out;
  fs__record_state__pack(&st, buf);
  *out = buf;
  *len = n;
  rc = 0;
out:
  if (!small) {
    free(fs);
    free(fp);
  }
  return rc;
}

static int clock_from(fs_clock *c, uint64_t hlc, const ProtobufCBinaryData *dev) {
  memset(c, 0, sizeof *c);
  if (hlc == 0)
    return dev->len == 0 ? 0 : FS_EDECODE;
  /* Beyond the limit no change set can carry it (changeset.c): refusing
   * it here keeps a pulled state from wrapping a laptop's clock. */
  if (hlc >= FS_HLC_LIMIT || dev->len != FS_PK_LEN)
    return FS_EDECODE;
  c->hlc = hlc;
  memcpy(c->device, dev->data, FS_PK_LEN);
  return 0;
}

/* Validates st and points r into it: area, id, type, names and values are
 * st's own, fields (n_fields entries) the caller's. */
static int record_borrow(fs_record *r, const Fs__RecordState *st, fs_field *fields) {
  memset(r, 0, sizeof *r);
  if (!fs_area_valid(st->area) || st->id[0] == '\0' ||
      strnlen(st->id, FS_MAX_ID + 1) > FS_MAX_ID ||
      strnlen(st->type, FS_MAX_NAME + 1) > FS_MAX_NAME)
    return FS_EDECODE;
  if (clock_from(&r->type_clock, st->type_hlc, &st->type_device) ||
      clock_from(&r->del_clock, st->del_hlc, &st->del_device) ||
      (st->type[0] != '\0') != (r->type_clock.hlc != 0))
    return FS_EDECODE;
  r->area = st->area;
  r->id = st->id;
  r->type = st->type[0] ? st->type : NULL;
  for (size_t i = 0; i < st->n_fields; i++) {
    const Fs__FieldState *f = st->fields[i];
    fs_field *w = &fields[i];
    *w = (fs_field){.name = f->name, .value = f->value.data, .value_len = f->value.len,
                    .base_hlc = f->base_hlc};
    if (f->name[0] == '\0' || strnlen(f->name, FS_MAX_NAME + 1) > FS_MAX_NAME ||
        f->value.len > FS_MAX_VALUE || f->hlc == 0 ||
        clock_from(&w->clock, f->hlc, &f->device))
      return FS_EDECODE;
    /* Canonical form: strictly ascending names. */
    if (i > 0 && strcmp(st->fields[i - 1]->name, f->name) >= 0)
      return FS_EDECODE;
  }
  r->fields = fields;
  r->nfields = r->cap = st->n_fields;
  return 0;
}

int fs_record_view(fs_record *r, const uint8_t *p, size_t len, fs_arena *a) {
  fs_decode d;
  fs_decode_begin(&d, a, len);
  Fs__RecordState *st = fs__record_state__unpack(&d.alloc, len, p);
  fs_decode_end(&d);
  if (!st)
    return FS_EDECODE;
  fs_field *fields = fs_arena_alloc(a, (st->n_fields ? st->n_fields : 1) * sizeof *fields);
  return fields ? record_borrow(r, st, fields) : FS_ENOMEM;
}

int fs_record_decode(fs_record *r, const uint8_t *p, size_t len) {
  memset(r, 0, sizeof *r);
  fs_arena a;
  fs_arena_init(&a, 0);
  fs_record v;
  int rc = fs_record_view(&v, p, len, &a);
  if (rc == 0)
    rc = fs_record_init(r, v.area, v.id);
  if (rc == 0 && v.type && !(r->type = strdup(v.type)))
    rc = FS_ENOMEM;
  if (rc == 0) {
    r->type_clock = v.type_clock;
    r->del_clock = v.del_clock;
  }
  for (size_t i = 0; rc == 0 && i < v.nfields; i++)
    rc = insert_field(r, r->nfields, &v.fields[i]);
  if (rc)
    fs_record_free(r);
  fs_arena_free(&a);
  return rc;
}
