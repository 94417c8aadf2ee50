/* gen_seeds.c - writes the seed corpora of the fuzz targets.
 *
 * Usage: gen_seeds DIR  writes DIR/<target>/seed-<name> for every target.
 *
 * Each seed is a valid input in the layout its target documents, built with
 * the project's own encoders and the fixed test keys of fuzz_common.h, so
 * the output is the same on every run and the committed corpus can be
 * regenerated (cmake --build build-fuzz --target fuzz_seeds) whenever the
 * protocol changes.
 */
#include "cert.h"
#include "changeset.h"
#include "error.h"
#include "frame.h"
#include "fuzz_common.h"
#include "hello.h"
#include "merge.h"
#include "schema.h"

#include <errno.h>
#include <inttypes.h>
#include <sys/stat.h>

static const char *outdir;

static void die(const char *what) {
  fprintf(stderr, "gen_seeds: %s\n", what);
  exit(1);
}

static void put(const char *target, const char *name, const uint8_t *p, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", outdir, target);
  if (mkdir(path, 0755) != 0 && errno != EEXIST)
    die(path);
  snprintf(path, sizeof path, "%s/%s/seed-%s", outdir, target, name);
  FILE *f = fopen(path, "wb");
  if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
    die(path);
}

/* A growable byte buffer for building inputs. */
typedef struct buf {
  uint8_t *p;
  size_t n, cap;
} buf;

static void add(buf *b, const void *p, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
    if (!b->p)
      die("out of memory");
  }
  if (n)
    memcpy(b->p + b->n, p, n);
  b->n += n;
}

static void add_u8(buf *b, uint8_t v) { add(b, &v, 1); }

static void add_lp(buf *b, const uint8_t *p, size_t n) {
  uint8_t h[2];
  fuzz_put_u16(h, n);
  add(b, h, 2);
  add(b, p, n);
}

/* ------------------------------------------------------------ change sets */

typedef struct sealed {
  uint8_t *body;
  size_t len;
  uint8_t sig[FS_SIG_LEN];
} sealed;

typedef struct wr {
  const char *name, *value;
  uint64_t hlc, base;
} wr;

typedef struct chg {
  const char *id, *type;
  bool deleted;
  wr w[4];
  size_t nw;
} chg;

static void seal(sealed *s, const uint8_t *pk, const uint8_t *sk, uint64_t seq,
                 uint64_t hlc, const char *area, const chg *chs, size_t nch) {
  static uint8_t zero[FS_HASH_LEN];
  Fs__ChangeSet cs = FS__CHANGE_SET__INIT;
  Fs__Change c[8], *cp[8];
  Fs__FieldWrite w[8][4], *wp[8][4];
  cs.device.data = (uint8_t *)pk;
  cs.device.len = FS_PK_LEN;
  cs.seq = seq;
  cs.prev.data = zero;
  cs.prev.len = FS_HASH_LEN;
  cs.hlc = hlc;
  cs.area = (char *)area;
  for (size_t i = 0; i < nch; i++) {
    fs__change__init(&c[i]);
    c[i].record_id = (char *)chs[i].id;
    c[i].record_type = (char *)chs[i].type;
    c[i].deleted = chs[i].deleted;
    for (size_t j = 0; j < chs[i].nw; j++) {
      fs__field_write__init(&w[i][j]);
      w[i][j].name = (char *)chs[i].w[j].name;
      w[i][j].value.data = (uint8_t *)chs[i].w[j].value;
      w[i][j].value.len = strlen(chs[i].w[j].value);
      w[i][j].hlc = chs[i].w[j].hlc;
      w[i][j].base_hlc = chs[i].w[j].base;
      wp[i][j] = &w[i][j];
    }
    c[i].n_writes = chs[i].nw;
    c[i].writes = wp[i];
    cp[i] = &c[i];
  }
  cs.n_changes = nch;
  cs.changes = cp;
  uint8_t id[FS_HASH_LEN];
  if (fs_changeset_seal(&cs, sk, &s->body, &s->len, s->sig, id) != 0)
    die("seal");
}

static void put_sealed(const char *name, const sealed *s) {
  buf b = {0};
  add(&b, s->body, s->len);
  add(&b, s->sig, FS_SIG_LEN);
  put("changeset", name, b.p, b.n);
  free(b.p);
}

/* Applies every change of a sealed set to r (which has its area and id). */
static void apply(fs_record *r, const sealed *s) {
  Fs__ChangeSet *cs;
  uint8_t id[FS_HASH_LEN];
  if (fs_changeset_open(s->body, s->len, s->sig, FS_SIG_LEN, &cs, id) != 0)
    die("open");
  for (size_t i = 0; i < cs->n_changes; i++)
    if (strcmp(cs->changes[i]->record_id, r->id) == 0 &&
        fs_record_apply(r, cs, cs->changes[i], NULL, NULL) < 0)
      die("apply");
  fs__change_set__free_unpacked(cs, NULL);
}

static void encode_record(const fs_record *r, buf *out) {
  uint8_t *p;
  size_t n;
  if (fs_record_encode(r, &p, &n) != 0)
    die("encode");
  add(out, p, n);
  free(p);
}

/* ------------------------------------------------------------------ frames */

static void add_frame(buf *b, const Fs__Envelope *env) {
  uint8_t *p;
  size_t n;
  if (fs_frame_encode(env, &p, &n) != 0)
    die("frame");
  add(b, p, n);
  free(p);
}

/* ------------------------------------------------------------ certificates */

/* A certificate for subject issued by the test admin key at a fixed time. */
static void issue_cert(buf *out, Fs__CertKind kind, const uint8_t *subject,
                       const char *area) {
  const fuzz_keys *k = fuzz_keys_get();
  fs_keypair adm = fuzz_keypair(k->adm_pk, k->adm_sk);
  Fs__Cert c = FS__CERT__INIT;
  c.kind = kind;
  c.subject.data = (uint8_t *)subject;
  c.subject.len = FS_PK_LEN;
  c.area = (char *)area;
  c.valid_from = 1764000000000ull;
  c.valid_until = 1795536000000ull;
  c.issued_at = 1764000000000ull;
  switch (kind) {
  case FS__CERT_KIND__CERT_NODE:
    c.node_id = "commune-daknen";
    c.level = "commune";
    c.parent.data = (uint8_t *)k->adm_pk;
    c.parent.len = FS_PK_LEN;
    break;
  case FS__CERT_KIND__CERT_DEVICE:
    c.officer = "Nguyễn Văn An";
    c.officer_id = "CA-0423";
    break;
  case FS__CERT_KIND__CERT_REVOCATION:
    c.last_seq = 17;
    break;
  default:
    break;
  }
  uint8_t *p;
  size_t n;
  if (fs_cert_issue(&c, &adm, &p, &n) != 0)
    die("cert");
  add(out, p, n);
  free(p);
}

static void cert_seeds(const buf *node_cert, const buf *dev_cert) {
  const fuzz_keys *k = fuzz_keys_get();
  put("cert", "node", node_cert->p, node_cert->n);
  put("cert", "device", dev_cert->p, dev_cert->n);
  buf b = {0};
  issue_cert(&b, FS__CERT_KIND__CERT_DELEGATION, k->srv_pk, "KT.KPL");
  put("cert", "delegation", b.p, b.n);
  b.n = 0;
  issue_cert(&b, FS__CERT_KIND__CERT_REVOCATION, k->dev2_pk, "KT.KPL.DAKNEN");
  put("cert", "revocation", b.p, b.n);
  free(b.p);
}

/* -------------------------------------------------------------- the channel */

/* fuzz_crypto inputs (see its layout): a genuine opening and a few frames,
 * and sealed values. */
static void crypto_seeds(void) {
  const fuzz_keys *k = fuzz_keys_get();
  fs_hs cli, srv;
  if (!fuzz_hs_pair(&cli, &srv))
    die("handshake");
  uint8_t opening[FS_HS_HELLO_LEN];
  fs_hs_hello(&cli, opening);
  static const char *frames[] = {"", "x", "Toàn dân bảo vệ an ninh Tổ quốc",
                                 "\x0a\x04\x08\x02\x10\x01"};
  for (int op = 0; op < 6; op++) {
    buf b = {0};
    add_u8(&b, 0); /* mode: channel */
    add(&b, opening, sizeof opening);
    for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
      add_u8(&b, (uint8_t)(i == 2 ? op : 0));
      add_u8(&b, (uint8_t)(7 * i + 3)); /* where a change lands */
      add_lp(&b, (const uint8_t *)frames[i], strlen(frames[i]));
    }
    char name[32];
    snprintf(name, sizeof name, "channel-op%d", op);
    put("crypto", name, b.p, b.n);
    free(b.p);
  }
  /* An opening from another network key, and a low-order point. */
  buf b = {0};
  add_u8(&b, 0);
  uint8_t other[FS_NETKEY_LEN];
  memset(other, 0x99, sizeof other);
  crypto_auth(opening, cli.eph_pk, 32, other);
  add(&b, opening, sizeof opening);
  put("crypto", "other-network", b.p, b.n);
  b.n = 0;
  add_u8(&b, 2); /* mode: opening with a computed HMAC */
  uint8_t zero[32] = {0};
  add(&b, zero, sizeof zero);
  put("crypto", "low-order", b.p, b.n);
  /* Sealed values. */
  b.n = 0;
  add_u8(&b, 1);
  static const char plain[] = "Trần Thị Bình, 0905 123 456";
  add(&b, plain, sizeof plain - 1);
  put("crypto", "seal-plain", b.p, b.n);
  uint8_t *sv;
  size_t sn;
  if (fs_seal(k->seal_pk, (const uint8_t *)plain, sizeof plain - 1, &sv, &sn) != 0)
    die("seal");
  b.n = 0;
  add_u8(&b, 1);
  add(&b, sv, sn);
  put("crypto", "seal-sealed", b.p, b.n);
  free(sv);
  free(b.p);
  fs_hs_wipe(&cli);
  fs_hs_wipe(&srv);
}

/* ------------------------------------------------------------------ schema */

/* A value every field of its kind accepts (the first enum value, an int in
 * range, ...), written into buf. */
static const char *typical(const fs_field_def *f, char *buf, size_t cap) {
  switch (f->type) {
  case FS_FT_TEXT:
    return "Toàn dân bảo vệ an ninh";
  case FS_FT_ENUM:
    return f->nvalues ? f->values[0].name : "";
  case FS_FT_DATE:
    return "2026-11-20";
  case FS_FT_DATETIME:
    return "2026-11-20T08:30";
  case FS_FT_PERIOD:
    return "2026-Q3";
  case FS_FT_INT: {
    int64_t v = f->min <= 2026 && 2026 <= f->max ? 2026 : f->min <= 1 && 1 <= f->max ? 1 : f->min;
    snprintf(buf, cap, "%" PRId64, v);
    return buf;
  }
  case FS_FT_QUANTITY:
    return f->max >= 2500 ? "2.5" : "0.001";
  case FS_FT_REF:
    return "inc_0001";
  case FS_FT_BOOL:
    return "true";
  }
  return "";
}

static void schema_seeds(const uint8_t *dev_pk, const uint8_t *dev_sk) {
  static const char *samples[][2] = {
      {"\x00", "2026-02-29"},          {"\x01", "2026-11-20T08:30:15.250+07:00"},
      {"\x02", "2026-H2"},             {"\x03", "26.5"},
      {"\x04", "-118"},
  };
  for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
    buf b = {0};
    add_u8(&b, 1);
    add(&b, samples[i][0], 1);
    add(&b, samples[i][1], strlen(samples[i][1]));
    char name[32];
    snprintf(name, sizeof name, "parse-%zu", i);
    put("schema", name, b.p, b.n);
    free(b.p);
  }
  static uint8_t zero[FS_HASH_LEN];
  for (size_t ti = 0; ti < fs_schema_ntypes() && ti < 256; ti++) {
    const fs_type_def *t = fs_schema_type_at(ti);
    char vbuf[64][32], name[96];
    /* Mode 0: one typical value per field. */
    for (size_t fi = 0; fi < t->nfields && fi < 256; fi++) {
      buf b = {0};
      add_u8(&b, 0);
      add_u8(&b, (uint8_t)ti);
      add_u8(&b, (uint8_t)fi);
      add_u8(&b, 200);
      const char *v = typical(&t->fields[fi], vbuf[0], sizeof vbuf[0]);
      add(&b, v, strlen(v));
      snprintf(name, sizeof name, "value-%s-%s", t->name, t->fields[fi].name);
      put("schema", name, b.p, b.n);
      free(b.p);
    }
    /* Mode 2: a change creating a record with every field filled. */
    Fs__FieldWrite w[64], *wp[64];
    size_t nw = 0;
    for (size_t fi = 0; fi < t->nfields && nw < 64; fi++, nw++) {
      fs__field_write__init(&w[nw]);
      w[nw].name = (char *)t->fields[fi].name;
      const char *v = typical(&t->fields[fi], vbuf[nw], sizeof vbuf[nw]);
      w[nw].value.data = (uint8_t *)v;
      w[nw].value.len = strlen(v);
      w[nw].hlc = 1000;
      wp[nw] = &w[nw];
    }
    Fs__Change ch = FS__CHANGE__INIT, *chp = &ch;
    ch.record_id = "rec_0001";
    ch.record_type = (char *)t->name;
    ch.n_writes = nw;
    ch.writes = wp;
    Fs__ChangeSet cs = FS__CHANGE_SET__INIT;
    cs.device.data = (uint8_t *)dev_pk;
    cs.device.len = FS_PK_LEN;
    cs.seq = 1;
    cs.prev.data = zero;
    cs.prev.len = FS_HASH_LEN;
    cs.hlc = 1000;
    cs.area = "KT.KPL";
    cs.n_changes = 1;
    cs.changes = &chp;
    sealed s;
    uint8_t id[FS_HASH_LEN];
    if (fs_changeset_seal(&cs, dev_sk, &s.body, &s.len, s.sig, id) != 0)
      die("seal");
    buf b = {0};
    add_u8(&b, 2);
    add_u8(&b, 200);
    add(&b, s.body, s.len);
    snprintf(name, sizeof name, "changeset-%s", t->name);
    put("schema", name, b.p, b.n);
    free(b.p);

    /* Mode 3: that record as stored, edited with its first field. */
    fs_record r;
    Fs__ChangeSet *o;
    if (fs_changeset_open(s.body, s.len, s.sig, FS_SIG_LEN, &o, id) != 0 ||
        fs_record_init(&r, "KT.KPL", "rec_0001") != 0 ||
        fs_record_apply(&r, o, o->changes[0], NULL, NULL) < 0)
      die("record");
    buf st = {0};
    encode_record(&r, &st);
    b = (buf){0};
    add_u8(&b, 3);
    add_u8(&b, (uint8_t)ti);
    add_u8(&b, 0);
    add_u8(&b, 200);
    add_lp(&b, st.p, st.n);
    if (t->nfields) {
      add_u8(&b, (uint8_t)strlen(t->fields[0].name));
      add(&b, t->fields[0].name, strlen(t->fields[0].name));
      add_lp(&b, w[0].value.data, w[0].value.len);
    }
    snprintf(name, sizeof name, "edit-%s", t->name);
    put("schema", name, b.p, b.n);
    free(b.p);
    free(st.p);
    fs_record_free(&r);
    fs__change_set__free_unpacked(o, NULL);
    free(s.body);
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: gen_seeds DIR\n");
    return 2;
  }
  outdir = argv[1];
  if (mkdir(outdir, 0755) != 0 && errno != EEXIST)
    die(outdir);
  const fuzz_keys *k = fuzz_keys_get();
  const char *area = "KT.KPL.DAKNEN";

  /* Change sets: an incident, a tip with Vietnamese text, a hand-in and a
   * delete, one set with several records, and one out of bounds. */
  static const chg incident[] = {
      {"inc-0001", "incident", false,
       {{"kind", "theft", 1000, 0}, {"place", "thon 3", 1000, 0}}, 2}};
  static const chg many[] = {
      {"tip-0007", "tip", false,
       {{"summary", "Toàn dân bảo vệ an ninh Tổ quốc", 2000, 0},
        {"informant", "\x01sealed\xff", 2000, 0}},
       2},
      {"hand-0003", "handin", false,
       {{"guns", "2", 2001, 0}, {"detonators", "15", 2001, 0},
        {"explosives_kg", "0.5", 2001, 0}},
       3},
      {"inc-0001", "incident", false, {{"kind", "robbery", 2002, 1000}}, 1}};
  static const chg del[] = {{"inc-0001", "incident", true, {{0}}, 0}};
  static const chg revive[] = {
      {"inc-0001", "incident", false, {{"status", "reopened", 4000, 3000}}, 1}};
  static const chg conflict[] = {
      {"inc-0001", "incident", false, {{"kind", "fraud", 2500, 0}}, 1}};
  sealed s1, s2, s3, s4, s5, s6;
  seal(&s1, k->dev_pk, k->dev_sk, 1, 1000, area, incident, 1);
  seal(&s2, k->dev_pk, k->dev_sk, 2, 2000, area, many, 3);
  seal(&s3, k->dev_pk, k->dev_sk, 3, 3000, area, del, 1);
  seal(&s4, k->dev_pk, k->dev_sk, 4, 4000, area, revive, 1);
  seal(&s5, k->dev2_pk, k->dev2_sk, 1, 2500, area, conflict, 1);
  seal(&s6, k->dev_pk, k->dev_sk, 0, 5000, area, incident, 1); /* seq 0 */
  put_sealed("incident", &s1);
  put_sealed("several", &s2);
  put_sealed("delete", &s3);
  put_sealed("revive", &s4);
  put_sealed("other-device", &s5);
  put_sealed("seq0", &s6);
  {
    sealed bad = s1; /* good body, signature by another key */
    crypto_sign_detached(bad.sig, NULL, s1.body, s1.len, k->dev2_sk);
    put_sealed("wrong-key", &bad);
  }

  /* Record states built by applying those sets in order. */
  fs_record r[5];
  buf st[5] = {{0}};
  for (int i = 0; i < 5; i++)
    if (fs_record_init(&r[i], area, "inc-0001") != 0)
      die("init");
  apply(&r[0], &s1); /* created */
  apply(&r[1], &s1); /* edited */
  apply(&r[1], &s2);
  apply(&r[2], &s2); /* deleted */
  apply(&r[2], &s3);
  apply(&r[3], &s3); /* revived after a delete */
  apply(&r[3], &s4);
  apply(&r[4], &s5); /* the other device's conflicting edit */
  static const char *rname[] = {"created", "edited", "deleted", "revived", "other"};
  for (int i = 0; i < 5; i++) {
    encode_record(&r[i], &st[i]);
    put("record", rname[i], st[i].p, st[i].n);
  }
  {
    fs_record e, h;
    buf b = {0}, bh = {0};
    if (fs_record_init(&e, "KT", "empty") != 0 || fs_record_init(&h, area, "hand-0003"))
      die("init");
    encode_record(&e, &b);
    put("record", "empty", b.p, b.n);
    apply(&h, &s2);
    encode_record(&h, &bh);
    put("record", "handin", bh.p, bh.n);
    free(b.p);
    free(bh.p);
    fs_record_free(&e);
    fs_record_free(&h);
  }

  /* Merge inputs: pairs and triples of those states. */
  static const int pairs[][3] = {{0, 1, -1}, {1, 4, -1}, {2, 3, -1}, {0, 2, 4},
                                 {1, 2, 3}, {3, 4, 0}, {1, 1, -1}, {3, 3, 2}};
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    buf b = {0};
    for (int j = 0; j < 3 && pairs[i][j] >= 0; j++)
      add_lp(&b, st[pairs[i][j]].p, st[pairs[i][j]].n);
    char name[32];
    snprintf(name, sizeof name, "join-%zu", i);
    put("merge", name, b.p, b.n);
    free(b.p);
  }

  /* Frames: every message type, in streams with various schedules. */
  Fs__Envelope env;
  buf hs = {0}, push = {0}, misc = {0};

  /* The Hellos of the fixed test handshake: the server's, with its node
   * certificate, then the device's, with its enrolment. */
  fs_hs hcli, hsrv;
  if (!fuzz_hs_pair(&hcli, &hsrv))
    die("handshake");
  fs_keypair skp = fuzz_keypair(k->srv_pk, k->srv_sk), dkp = fuzz_keypair(k->dev_pk, k->dev_sk);
  buf node_cert = {0}, dev_cert = {0};
  issue_cert(&node_cert, FS__CERT_KIND__CERT_NODE, k->srv_pk, "KT.KPL.DAKNEN");
  issue_cert(&dev_cert, FS__CERT_KIND__CERT_DEVICE, k->dev_pk, "KT.KPL.DAKNEN");
  ProtobufCBinaryData scert = {node_cert.n, node_cert.p}, dcert = {dev_cert.n, dev_cert.p};
  Fs__Hello hello;
  uint8_t hsig[FS_SIG_LEN];
  fs_hello_fill(&hello, hsig, &hsrv, &skp, "server", "commune-daknen", &scert, 1);
  fs__envelope__init(&env);
  env.msg_case = FS__ENVELOPE__MSG_HELLO;
  env.hello = &hello;
  add_u8(&hs, 0x00);
  add_frame(&hs, &env);
  fs_hello_fill(&hello, hsig, &hcli, &dkp, "device", NULL, &dcert, 1);
  add_frame(&hs, &env);

  Fs__Welcome wel = FS__WELCOME__INIT;
  wel.server_seq = 42;
  wel.area = (char *)area;
  wel.node_id = "commune-daknen";
  fs__envelope__init(&env);
  env.msg_case = FS__ENVELOPE__MSG_WELCOME;
  env.welcome = &wel;
  add_frame(&hs, &env);
  put("frame", "handshake", hs.p, hs.n);

  /* The same handshake cut into chunks of 1, 7 and 201 bytes. */
  buf cut = {0};
  add_u8(&cut, 0x03);
  add_u8(&cut, 0);
  add_u8(&cut, 6);
  add_u8(&cut, 200);
  add(&cut, hs.p + 1, hs.n - 1);
  put("frame", "handshake-chunked", cut.p, cut.n);

  Fs__SignedChangeSet sc[3] = {FS__SIGNED_CHANGE_SET__INIT, FS__SIGNED_CHANGE_SET__INIT,
                               FS__SIGNED_CHANGE_SET__INIT};
  Fs__SignedChangeSet *scp[3] = {&sc[0], &sc[1], &sc[2]};
  const sealed *ss[3] = {&s1, &s2, &s3};
  for (int i = 0; i < 3; i++) {
    sc[i].body.data = ss[i]->body;
    sc[i].body.len = ss[i]->len;
    sc[i].signature.data = (uint8_t *)ss[i]->sig;
    sc[i].signature.len = FS_SIG_LEN;
  }
  Fs__Push pu = FS__PUSH__INIT;
  pu.n_sets = 3;
  pu.sets = scp;
  pu.log_last = 3;
  pu.n_certs = 1;
  pu.certs = &dcert;
  pu.cert_last = 1;
  fs__envelope__init(&env);
  env.msg_case = FS__ENVELOPE__MSG_PUSH;
  env.push = &pu;
  add_u8(&push, 0x01);
  add_u8(&push, 99);
  add_frame(&push, &env);

  Fs__AckItem ai = FS__ACK_ITEM__INIT, *aip = &ai;
  uint8_t aid[FS_HASH_LEN];
  fs_changeset_id(s1.body, s1.len, aid);
  ai.id.data = aid;
  ai.id.len = FS_HASH_LEN;
  ai.status = FS__ACK_STATUS__ACK_GAP;
  ai.device.data = (uint8_t *)k->dev_pk;
  ai.device.len = FS_PK_LEN;
  ai.seq = 1;
  ai.head_seq = 0;
  ai.reason = "gap";
  Fs__Ack ack = FS__ACK__INIT;
  ack.n_items = 1;
  ack.items = &aip;
  fs__envelope__init(&env);
  env.msg_case = FS__ENVELOPE__MSG_ACK;
  env.ack = &ack;
  add_frame(&push, &env);
  put("frame", "push-ack", push.p, push.n);

  add_u8(&misc, 0x20); /* lazy: all frames buffered before the first pull */
  Fs__Pull pl = FS__PULL__INIT;
  pl.cursor = 7;
  pl.max = 100;
  fs__envelope__init(&env);
  env.msg_case = FS__ENVELOPE__MSG_PULL;
  env.pull = &pl;
  add_frame(&misc, &env);

  ProtobufCBinaryData states[3];
  for (int i = 0; i < 3; i++) {
    states[i].data = st[i + 1].p;
    states[i].len = st[i + 1].n;
  }
  Fs__Records recs = FS__RECORDS__INIT;
  recs.n_states = 3;
  recs.states = states;
  recs.cursor = 9;
  recs.more = true;
  recs.n_certs = 1;
  recs.certs = &scert;
  recs.cert_cursor = 1;
  fs__envelope__init(&env);
  env.msg_case = FS__ENVELOPE__MSG_RECORDS;
  env.records = &recs;
  add_frame(&misc, &env);

  Fs__NodeStatus ns = FS__NODE_STATUS__INIT, *nsp = &ns;
  ns.node_id = "commune-daknen";
  ns.area = (char *)area;
  ns.parent_id = "district-kpl";
  ns.parent_connected = true;
  ns.log_seq = 120;
  ns.parent_cursor = 118;
  ns.digest.data = aid;
  ns.digest.len = FS_HASH_LEN;
  ns.last_error = "";
  Fs__StatusReport sr = FS__STATUS_REPORT__INIT;
  sr.n_nodes = 1;
  sr.nodes = &nsp;
  fs__envelope__init(&env);
  env.msg_case = FS__ENVELOPE__MSG_STATUS;
  env.status = &sr;
  add_frame(&misc, &env);

  Fs__Error er = FS__ERROR__INIT;
  er.code = (uint32_t)-FS_EBADSIG;
  er.message = "signature does not verify";
  fs__envelope__init(&env);
  env.msg_case = FS__ENVELOPE__MSG_ERROR;
  env.error = &er;
  add_frame(&misc, &env);

  Fs__Bye bye = FS__BYE__INIT;
  fs__envelope__init(&env);
  env.msg_case = FS__ENVELOPE__MSG_BYE;
  env.bye = &bye;
  add_frame(&misc, &env);
  put("frame", "pull-records-status-error-bye", misc.p, misc.n);

  /* A frame at the small limit, then one over it. */
  buf lim = {0};
  add_u8(&lim, 0x12);
  add_u8(&lim, 3);
  add_u8(&lim, 250);
  uint8_t hdr[4] = {0, 0, 1, 0}; /* 256 bytes: exactly FUZZ_SMALL_MAX */
  add(&lim, hdr, 4);
  for (int i = 0; i < 256; i++)
    add_u8(&lim, 0);
  hdr[3] = 1; /* 257 */
  add(&lim, hdr, 4);
  put("frame", "limit", lim.p, lim.n);

  static const uint8_t huge[] = {0x00, 0xff, 0xff, 0xff, 0xff, 0x0a, 0x00};
  put("frame", "huge-header", huge, sizeof huge);

  /* Text decoders (see fuzz_text.c for the layout). */
  static const struct {
    const char *name;
    const char *in;
    size_t n;
  } text[] = {
      {"hex", "\x00\x04" "00ff7Ae1", 10},
      {"utf8", "\x01Toàn dân bảo vệ an ninh Tổ quốc \xf0\x9f\x9b\xa1", 0},
      {"area", "\x02\x0d" "KT.KPL.DAKNENKT.KPL", 0},
      {"addr4", "\x03" "127.0.0.1:7401", 0},
      {"addr6", "\x03" "[::1]:7401", 0},
      {"value", "\x04" "thon 3 \"Dak\"\n\\\x7f\x01 vệ", 0},
  };
  for (size_t i = 0; i < sizeof text / sizeof text[0]; i++)
    put("text", text[i].name, (const uint8_t *)text[i].in,
        text[i].n ? text[i].n : strlen(text[i].in + 1) + 1);

  schema_seeds(k->dev_pk, k->dev_sk);

  for (int i = 0; i < 5; i++) {
    fs_record_free(&r[i]);
    free(st[i].p);
  }
  cert_seeds(&node_cert, &dev_cert);
  crypto_seeds();
  free(node_cert.p);
  free(dev_cert.p);
  fs_hs_wipe(&hcli);
  fs_hs_wipe(&hsrv);
  free(hs.p);
  free(cut.p);
  free(push.p);
  free(misc.p);
  free(lim.p);
  sealed *all[] = {&s1, &s2, &s3, &s4, &s5, &s6};
  for (size_t i = 0; i < 6; i++)
    free(all[i]->body);
  return 0;
}
