/* fsb.c - helpers shared by the benchmark programs. */
#include "fsb.h"

#include "frame.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t fsb_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double fsb_now_s(void) { return (double)fsb_now_ns() / 1e9; }

void fsb_keypair(const char *tag, uint64_t i, uint8_t pk[FS_PK_LEN],
                 uint8_t sk[FS_SK_LEN]) {
  uint8_t seed[crypto_sign_SEEDBYTES];
  char text[128];
  int n = snprintf(text, sizeof text, "fsbench-key/%s/%llu", tag, (unsigned long long)i);
  crypto_generichash(seed, sizeof seed, (const uint8_t *)text, (size_t)n, NULL, 0);
  crypto_sign_seed_keypair(pk, sk, seed);
}

/* The PouchDB baseline's description: this sentence twice. */
static const char sentence[] =
    "Người dân báo mất trộm tài sản tại thôn; tổ tự quản đã có mặt, lập biên bản "
    "ban đầu và bàn giao cho công an xã xử lý theo quy định. ";

#define FSB_RECORD_MS0 1764000000000ull /* 2025-11-24, the records' first id time */

void fsb_record_make(fsb_record *r, const char *scope, uint64_t i) {
  memset(r, 0, offsetof(fsb_record, storage));
  char *p = r->storage, *end = r->storage + sizeof r->storage;
  /* A record id like the CLI's (fs_record_id_new): 32 hex digits, the
   * millisecond it was made (record i of a laptop: a fixed start + i) and
   * 80 bits unique per (scope, i). */
  uint8_t h[16];
  char seedtext[200];
  int sn = snprintf(seedtext, sizeof seedtext, "%s/%llu", scope, (unsigned long long)i);
  crypto_generichash(h, sizeof h, (const uint8_t *)seedtext, (size_t)sn, NULL, 0);
  uint64_t ms = FSB_RECORD_MS0 + i;
  for (int k = 0; k < 6; k++)
    h[k] = (uint8_t)(ms >> (40 - 8 * k));
  for (int k = 0; k < 16; k++)
    sprintf(r->id + 2 * k, "%02x", h[k]);
  snprintf(r->area, sizeof r->area, "%s.T%u", scope, (unsigned)(i % 9));
#define ADD(NAME, ...)                                                          \
  do {                                                                          \
    int w = snprintf(p, (size_t)(end - p), __VA_ARGS__);                        \
    r->names[r->n] = NAME;                                                      \
    r->values[r->n] = (const uint8_t *)p;                                       \
    r->lens[r->n] = (size_t)w;                                                  \
    r->n++;                                                                     \
    p += w + 1;                                                                 \
  } while (0)
  /* An incident as docs/SCHEMA.md defines it (every required field, the
   * canonical forms), with the PouchDB baseline's texts. */
  time_t t = (time_t)(1700000000 + (i % 1000000) * 60); /* 2023-2025 */
  struct tm tm;
  gmtime_r(&t, &tm);
  ADD("category", "theft");
  ADD("description", "%s%s", sentence, sentence);
  ADD("occurred_at", "%04d-%02d-%02dT%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
      tm.tm_mday, tm.tm_hour, tm.tm_min);
  ADD("officer", "Nguyễn Văn An");
  ADD("place", "Thôn %u, xã Đăk Nên", (unsigned)(i % 9) + 1);
  ADD("status", "new");
#undef ADD
}

int fsb_set_make(fsb_set *out, const uint8_t *pk, const uint8_t *sk, uint64_t seq,
                 const uint8_t prev[FS_HASH_LEN], uint64_t hlc, const char *scope,
                 uint64_t record_no) {
  fsb_record rec;
  fsb_record_make(&rec, scope, record_no);
  Fs__FieldWrite fw[FSB_NFIELDS], *fwp[FSB_NFIELDS];
  for (size_t i = 0; i < rec.n; i++) {
    fs__field_write__init(&fw[i]);
    fw[i].name = (char *)rec.names[i];
    fw[i].value.data = (uint8_t *)rec.values[i];
    fw[i].value.len = rec.lens[i];
    fw[i].hlc = hlc;
    fwp[i] = &fw[i];
  }
  Fs__Change ch = FS__CHANGE__INIT, *chp = &ch;
  ch.record_id = rec.id;
  ch.record_type = (char *)"incident";
  ch.n_writes = rec.n;
  ch.writes = fwp;
  Fs__ChangeSet cs = FS__CHANGE_SET__INIT;
  cs.device.data = (uint8_t *)pk;
  cs.device.len = FS_PK_LEN;
  cs.seq = seq;
  cs.prev.data = (uint8_t *)prev;
  cs.prev.len = FS_HASH_LEN;
  cs.hlc = hlc;
  cs.area = rec.area;
  cs.n_changes = 1;
  cs.changes = &chp;
  return fs_changeset_seal(&cs, sk, &out->body, &out->body_len, out->sig, out->id);
}

void fsb_set_free(fsb_set *s) {
  free(s->body);
  s->body = NULL;
}

int fsb_set_signed_bytes(const fsb_set *s, uint8_t **out, size_t *len) {
  Fs__SignedChangeSet ss = FS__SIGNED_CHANGE_SET__INIT;
  ss.body.data = s->body;
  ss.body.len = s->body_len;
  ss.signature.data = (uint8_t *)s->sig;
  ss.signature.len = FS_SIG_LEN;
  size_t n = fs__signed_change_set__get_packed_size(&ss);
  uint8_t *b = malloc(n);
  if (!b)
    return -1;
  fs__signed_change_set__pack(&ss, b);
  *out = b;
  *len = n;
  return 0;
}

int fsb_push_frame(const fsb_set *sets, size_t n, uint64_t log_last, uint8_t **out,
                   size_t *len) {
  Fs__SignedChangeSet *ss = calloc(n ? n : 1, sizeof *ss);
  Fs__SignedChangeSet **ptrs = calloc(n ? n : 1, sizeof *ptrs);
  if (!ss || !ptrs) {
    free(ss);
    free(ptrs);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    fs__signed_change_set__init(&ss[i]);
    ss[i].body.data = sets[i].body;
    ss[i].body.len = sets[i].body_len;
    ss[i].signature.data = (uint8_t *)sets[i].sig;
    ss[i].signature.len = FS_SIG_LEN;
    ptrs[i] = &ss[i];
  }
  Fs__Push push = FS__PUSH__INIT;
  push.n_sets = n;
  push.sets = ptrs;
  push.log_last = log_last;
  Fs__Envelope env = FS__ENVELOPE__INIT;
  env.msg_case = FS__ENVELOPE__MSG_PUSH;
  env.push = &push;
  int rc = fs_frame_encode(&env, out, len);
  free(ss);
  free(ptrs);
  return rc;
}

double fsb_proc_cpu_s(int pid) {
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')'); /* after the command name */
  if (!p)
    return -1;
  /* fields after ')': state(3) ... utime(14) stime(15) */
  unsigned long long ut = 0, st = 0;
  int field = 2;
  for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
    field++;
    if (field == 14)
      ut = strtoull(tok, NULL, 10);
    else if (field == 15) {
      st = strtoull(tok, NULL, 10);
      break;
    }
  }
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

long fsb_proc_status_kb(int pid, const char *field) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  size_t fl = strlen(field);
  long v = -1;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
      v = strtol(line + fl + 1, NULL, 10);
      break;
    }
  }
  fclose(f);
  return v;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double fsb_percentile(double *v, size_t n, double p) {
  if (n == 0)
    return 0;
  qsort(v, n, sizeof *v, cmp_double);
  double pos = p / 100.0 * (double)(n - 1);
  size_t i = (size_t)pos;
  if (i + 1 >= n)
    return v[n - 1];
  double frac = pos - (double)i;
  return v[i] * (1 - frac) + v[i + 1] * frac;
}

void fsb_result(const char *name, double value, const char *unit) {
  if (value != 0 && (value >= 100 || value <= -100))
    printf("%s %.0f %s\n", name, value, unit);
  else if (value != 0 && (value >= 1 || value <= -1))
    printf("%s %.2f %s\n", name, value, unit);
  else
    printf("%s %.3g %s\n", name, value, unit);
  fflush(stdout);
}

const char *fsb_opt(int argc, char **argv, const char *name, const char *def) {
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0)
      return argv[i + 1];
  return def;
}

bool fsb_flag(int argc, char **argv, const char *name) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], name) == 0)
      return true;
  return false;
}
