/* testutil.c - temporary directories and change-set builders for the tests. */
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include "cert.h"
#include "error.h"
#include "frame.h"

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size);
  assert_non_null(p);
  return p;
}

static char *xstrdup(const char *s) {
  char *p = strdup(s);
  assert_non_null(p);
  return p;
}

char *tu_mkdtemp(void) {
  const char *base = getenv("TMPDIR");
  char tmpl[4096];
  snprintf(tmpl, sizeof tmpl, "%s/fsunit.XXXXXX", base && *base ? base : "/tmp");
  char *dir = mkdtemp(tmpl);
  assert_non_null(dir);
  return xstrdup(dir);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void tu_rmtree(const char *dir) {
  assert_int_equal(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

char *tu_path(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = xcalloc(n, 1);
  snprintf(p, n, "%s/%s", dir, name);
  return p;
}

void tu_device_init(tu_device *d) {
  memset(d, 0, sizeof *d);
  assert_int_equal(fs_keypair_generate(&d->kp), 0);
}

void tu_device_free(tu_device *d) { fs_keypair_free(&d->kp); }

void tu_sealed_free(tu_sealed *s) {
  free(s->body);
  s->body = NULL;
}

static ProtobufCBinaryData bytes_copy(const void *p, size_t len) {
  ProtobufCBinaryData b = {len, xcalloc(len, 1)};
  if (len)
    memcpy(b.data, p, len);
  return b;
}

Fs__ChangeSet *tu_cs_new(const uint8_t device[FS_PK_LEN], uint64_t seq,
                         const uint8_t *prev, uint64_t hlc, const char *area) {
  static const uint8_t zeros[FS_HASH_LEN];
  Fs__ChangeSet *cs = xcalloc(1, sizeof *cs);
  fs__change_set__init(cs);
  cs->device = bytes_copy(device, FS_PK_LEN);
  cs->seq = seq;
  cs->prev = bytes_copy(prev ? prev : zeros, FS_HASH_LEN);
  cs->hlc = hlc;
  cs->area = xstrdup(area);
  return cs;
}

Fs__Change *tu_cs_change(Fs__ChangeSet *cs, const char *record_id, const char *type,
                         bool deleted) {
  Fs__Change **v = realloc(cs->changes, (cs->n_changes + 1) * sizeof *v);
  assert_non_null(v);
  cs->changes = v;
  Fs__Change *ch = xcalloc(1, sizeof *ch);
  fs__change__init(ch);
  ch->record_id = xstrdup(record_id);
  ch->record_type = xstrdup(type);
  ch->deleted = deleted;
  cs->changes[cs->n_changes++] = ch;
  return ch;
}

void tu_change_write(Fs__Change *ch, const char *name, const void *value, size_t len,
                     uint64_t hlc, uint64_t base_hlc) {
  Fs__FieldWrite **v = realloc(ch->writes, (ch->n_writes + 1) * sizeof *v);
  assert_non_null(v);
  ch->writes = v;
  Fs__FieldWrite *w = xcalloc(1, sizeof *w);
  fs__field_write__init(w);
  w->name = xstrdup(name);
  w->value = bytes_copy(value, len);
  w->hlc = hlc;
  w->base_hlc = base_hlc;
  ch->writes[ch->n_writes++] = w;
}

void tu_change_write_str(Fs__Change *ch, const char *name, const char *value,
                         uint64_t hlc, uint64_t base_hlc) {
  tu_change_write(ch, name, value, strlen(value), hlc, base_hlc);
}

void tu_cs_free(Fs__ChangeSet *cs) {
  if (!cs)
    return;
  for (size_t i = 0; i < cs->n_changes; i++) {
    Fs__Change *ch = cs->changes[i];
    for (size_t j = 0; j < ch->n_writes; j++) {
      free(ch->writes[j]->name);
      free(ch->writes[j]->value.data);
      free(ch->writes[j]);
    }
    free(ch->writes);
    free(ch->record_id);
    free(ch->record_type);
    free(ch);
  }
  free(cs->changes);
  free(cs->device.data);
  free(cs->prev.data);
  free(cs->area);
  free(cs);
}

void tu_seal(const Fs__ChangeSet *cs, const uint8_t *sk, tu_sealed *out) {
  memset(out, 0, sizeof *out);
  assert_int_equal(fs_changeset_seal(cs, sk, &out->body, &out->len, out->sig, out->id),
                   0);
}

void tu_device_seal(tu_device *d, Fs__ChangeSet *cs, tu_sealed *out) {
  assert_int_equal(cs->device.len, FS_PK_LEN);
  assert_int_equal(cs->prev.len, FS_HASH_LEN);
  memcpy(cs->device.data, d->kp.pk, FS_PK_LEN);
  memcpy(cs->prev.data, d->head, FS_HASH_LEN);
  cs->seq = ++d->seq;
  tu_seal(cs, d->kp.sk, out);
  memcpy(d->head, out->id, FS_HASH_LEN);
}

Fs__ChangeSet *tu_open(const tu_sealed *s) {
  Fs__ChangeSet *cs = NULL;
  uint8_t id[FS_HASH_LEN];
  int rc = fs_changeset_open(s->body, s->len, s->sig, FS_SIG_LEN, &cs, id);
  if (rc != 0)
    fail_msg("fs_changeset_open: %s (%s)", fs_errname(rc), fs_strerror(rc));
  assert_memory_equal(id, s->id, FS_HASH_LEN);
  return cs;
}

void tu_push_frame(size_t n, size_t body_len, uint8_t **out, size_t *len) {
  uint8_t *body = malloc(body_len ? body_len : 1), sig[FS_SIG_LEN];
  Fs__SignedChangeSet *s = calloc(n ? n : 1, sizeof *s), **sp = calloc(n ? n : 1, sizeof *sp);
  assert_true(body && s && sp);
  for (size_t i = 0; i < body_len; i++)
    body[i] = (uint8_t)(i * 31);
  memset(sig, 0x5a, sizeof sig);
  for (size_t i = 0; i < n; i++) {
    fs__signed_change_set__init(&s[i]);
    s[i].body = (ProtobufCBinaryData){body_len - (body_len ? i % 16 % body_len : 0), body};
    s[i].signature = (ProtobufCBinaryData){sizeof sig, sig};
    sp[i] = &s[i];
  }
  Fs__Push push = FS__PUSH__INIT;
  push.n_sets = n;
  push.sets = sp;
  push.log_last = 12345;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_PUSH;
  env.push = &push;
  assert_int_equal(fs_frame_encode(&env, out, len), 0);
  free(sp);
  free(s);
  free(body);
}

ProtobufCBinaryData tu_cert_issue(const fs_keypair *issuer, Fs__CertKind kind,
                                  const uint8_t *subject, const char *area, uint64_t from,
                                  uint64_t until, uint64_t issued_at, uint64_t last_seq) {
  Fs__Cert c = FS__CERT__INIT;
  c.kind = kind;
  c.subject = (ProtobufCBinaryData){FS_PK_LEN, (uint8_t *)subject};
  c.area = (char *)area;
  c.officer = "Nguyễn Văn An";
  c.valid_from = from;
  c.valid_until = until;
  c.issued_at = issued_at;
  c.last_seq = last_seq;
  ProtobufCBinaryData out;
  assert_int_equal(fs_cert_issue(&c, issuer, &out.data, &out.len), 0);
  return out;
}

int tu_cert_store(fs_store *s, MDB_txn *txn, const uint8_t *root, const fs_keypair *issuer,
                  Fs__CertKind kind, const uint8_t *subject, const char *area, uint64_t from,
                  uint64_t until, uint64_t issued_at, uint64_t last_seq) {
  ProtobufCBinaryData c = tu_cert_issue(issuer, kind, subject, area, from, until, issued_at,
                                        last_seq);
  int rc = fs_cert_store(s, txn, root, c.data, c.len);
  free(c.data);
  return rc;
}

int tu_store_open_temp(fs_store *s, size_t mapsize, char **tmp) {
  *tmp = tu_mkdtemp();
  char *dir = tu_path(*tmp, "node");
  int rc = fs_store_open(s, dir, mapsize);
  free(dir);
  return rc;
}

void tu_store_close_temp(fs_store *s, char *tmp) {
  fs_store_close(s);
  tu_rmtree(tmp);
  free(tmp);
}
