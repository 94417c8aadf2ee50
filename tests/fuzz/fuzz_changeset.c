/* fuzz_changeset.c - opening and sealing signed change sets.
 *
 * Input layout: the last min(64, size) bytes are the signature, the rest is
 * the body.
 *
 * Invariants:
 * - fs_changeset_open(body, sig) returns exactly the code the contract
 *   implies: FS_EDECODE when the body is not a ChangeSet, else FS_EBADSIG
 *   unless libsodium verifies the signature by the body's device key, else
 *   0 when the set keeps every bound and FS_EINVAL / FS_ELIMIT when not.
 *   On success the id is BLAKE2b-256(body) and the set is the body's.
 * - fs_changeset_open_stored(body) returns the same code and id wherever
 *   the signature is not what decided (it is the held sets' decoder).
 * - When the body decodes as a ChangeSet x (that libprotobuf-c can
 *   re-encode: see fuzz_pb_has_tag0), it is sealed with the fixed test
 *   key (device replaced by that key): x as is, and x moved inside every
 *   bound (y). open(seal(x)) succeeds exactly when x keeps the bounds that
 *   check_body enforces and otherwise fails with FS_EINVAL or FS_ELIMIT;
 *   open(seal(y)) must succeed. On success the ids agree, the opened set
 *   equals what was sealed, and one flipped bit in body or signature makes
 *   open fail.
 * - Each change of an opened set applied to an empty record gives a state
 *   that fs_record_decode accepts (the store relies on it), that re-encodes
 *   to the same bytes, and that does not change when applied again.
 */
#include "changeset.h"
#include "error.h"
#include "fuzz_common.h"
#include "hlc.h"
#include "merge.h"

static bool clock_ok(uint64_t hlc) { return hlc != 0 && hlc < FS_HLC_LIMIT; }

/* The bounds changeset.h documents for fs_changeset_open: a set that opens
 * must keep all of these. */
static bool contract_ok(const Fs__ChangeSet *cs) {
  if (cs->device.len != FS_PK_LEN || cs->seq == 0 || !fuzz_area_valid(cs->area) ||
      cs->n_changes > FS_MAX_CHANGES || !clock_ok(cs->hlc))
    return false;
  for (size_t i = 0; i < cs->n_changes; i++) {
    const Fs__Change *ch = cs->changes[i];
    size_t idn = strlen(ch->record_id);
    if (idn == 0 || idn > FS_MAX_ID || strlen(ch->record_type) > FS_MAX_NAME ||
        ch->n_writes > FS_MAX_WRITES)
      return false;
    for (size_t j = 0; j < ch->n_writes; j++)
      if (strlen(ch->writes[j]->name) > FS_MAX_NAME ||
          ch->writes[j]->value.len > FS_MAX_VALUE || !clock_ok(ch->writes[j]->hlc))
        return false;
  }
  return true;
}

/* The contract plus the rules changeset.c states beside check_body: a
 * 32-byte prev, at least one change, non-empty names, no change's own clock
 * beyond the set's, and each write newer than what its writer saw. */
static bool bounds_ok(const Fs__ChangeSet *cs) {
  if (!contract_ok(cs) || cs->prev.len != FS_HASH_LEN || cs->n_changes == 0)
    return false;
  for (size_t i = 0; i < cs->n_changes; i++) {
    const Fs__Change *ch = cs->changes[i];
    if (ch->record_type[0] == '\0' || ch->hlc > cs->hlc)
      return false;
    for (size_t j = 0; j < ch->n_writes; j++) {
      const Fs__FieldWrite *w = ch->writes[j];
      if (w->name[0] == '\0' || w->base_hlc >= w->hlc)
        return false;
    }
  }
  return true;
}

static bool bin_eq(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* What was sealed (C strings end at the first NUL, as protobuf-c packs
 * them) equals what was opened. */
static void check_same(const Fs__ChangeSet *a, const Fs__ChangeSet *b) {
  FUZZ_CHECK(bin_eq(&a->device, &b->device) && a->seq == b->seq &&
                 bin_eq(&a->prev, &b->prev) && a->hlc == b->hlc &&
                 strcmp(a->area, b->area) == 0 && a->n_changes == b->n_changes,
             "opened change set header differs from the sealed one");
  for (size_t i = 0; i < a->n_changes; i++) {
    const Fs__Change *x = a->changes[i], *y = b->changes[i];
    FUZZ_CHECK(strcmp(x->record_id, y->record_id) == 0 &&
                   strcmp(x->record_type, y->record_type) == 0 &&
                   x->deleted == y->deleted && x->n_writes == y->n_writes,
               "change %zu differs after open", i);
    for (size_t j = 0; j < x->n_writes; j++) {
      const Fs__FieldWrite *v = x->writes[j], *w = y->writes[j];
      FUZZ_CHECK(strcmp(v->name, w->name) == 0 && bin_eq(&v->value, &w->value) &&
                     v->hlc == w->hlc && v->base_hlc == w->base_hlc,
                 "write %zu of change %zu differs after open", j, i);
    }
  }
}

/* Applies every change of an opened set to its own record and checks the
 * states round-trip through the canonical encoding. */
static void check_apply(const Fs__ChangeSet *cs) {
  for (size_t i = 0; i < cs->n_changes; i++) {
    const Fs__Change *ch = cs->changes[i];
    fs_record r, r2;
    FUZZ_CHECK(fs_record_init(&r, cs->area, ch->record_id) == 0, "init");
    int rc = fs_record_apply(&r, cs, ch, NULL, NULL);
    FUZZ_CHECK(rc == 1, "applying a change to an empty record returned %d", rc);
    uint8_t *b1, *b2;
    size_t n1, n2;
    FUZZ_CHECK(fs_record_encode(&r, &b1, &n1) == 0, "encode");
    rc = fs_record_decode(&r2, b1, n1);
    if (rc != 0)
      fuzz_dump("state", b1, n1);
    FUZZ_CHECK(rc == 0, "state of change %zu of an opened set does not decode: %d", i,
               rc);
    FUZZ_CHECK(fs_record_encode(&r2, &b2, &n2) == 0, "encode");
    FUZZ_CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0, "state is not canonical");
    rc = fs_record_apply(&r, cs, ch, NULL, NULL);
    FUZZ_CHECK(rc == 0, "applying the same change twice changed the record (%d)", rc);
    free(b1);
    free(b2);
    fs_record_free(&r);
    fs_record_free(&r2);
  }
}

/* Seals cs with the test key and opens it again; returns open's code. */
static int seal_open(const Fs__ChangeSet *cs, uint8_t flip) {
  const fuzz_keys *k = fuzz_keys_get();
  uint8_t *body = NULL, sig[FS_SIG_LEN], id[FS_HASH_LEN], id2[FS_HASH_LEN];
  size_t len = 0;
  int rc = fs_changeset_seal(cs, k->dev_sk, &body, &len, sig, id);
  FUZZ_CHECK(rc == 0, "fs_changeset_seal of a small set returned %d", rc);
  uint8_t want[FS_HASH_LEN];
  crypto_generichash(want, sizeof want, body, len, NULL, 0);
  FUZZ_CHECK(memcmp(id, want, FS_HASH_LEN) == 0, "seal: id is not BLAKE2b-256(body)");
  fs_changeset_id(body, len, id2);
  FUZZ_CHECK(memcmp(id, id2, FS_HASH_LEN) == 0, "fs_changeset_id disagrees with seal");

  Fs__ChangeSet *o = NULL;
  rc = fs_changeset_open(body, len, sig, FS_SIG_LEN, &o, id2);
  FUZZ_CHECK(rc == 0 || rc == FS_EINVAL || rc == FS_ELIMIT,
             "open(seal(x)) returned %d", rc);
  FUZZ_CHECK((rc == 0) == bounds_ok(cs), "open(seal(x)) returned %d, bounds say %d", rc,
             bounds_ok(cs));
  if (rc == 0) {
    FUZZ_CHECK(memcmp(id, id2, FS_HASH_LEN) == 0, "open and seal disagree on the id");
    FUZZ_CHECK(contract_ok(o), "an opened set breaks a documented bound");
    check_same(cs, o);
    check_apply(o);
    fs__change_set__free_unpacked(o, NULL);

    /* A signature covers every bit of the body and the signature itself. */
    size_t bit = (size_t)flip * 7919u;
    int rc2;
    if (flip & 1) {
      bit %= FS_SIG_LEN * 8;
      sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    } else if (len > 0) {
      bit %= len * 8;
      body[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    if (len > 0 || (flip & 1)) {
      o = NULL;
      rc2 = fs_changeset_open(body, len, sig, FS_SIG_LEN, &o, id2);
      FUZZ_CHECK(rc2 != 0, "open accepted a tampered %s (bit %zu)",
                 flip & 1 ? "signature" : "body", bit);
    }
  }
  free(body);
  return rc;
}

static bool str_fits(const char *s, size_t max) {
  size_t n = strlen(s);
  return n > 0 && n <= max;
}

/* Seals y: x moved inside every bound, sharing x's memory (shallow copies
 * only; x frees everything). */
static void check_fixed(const Fs__ChangeSet *x, uint8_t flip) {
  const fuzz_keys *k = fuzz_keys_get();
  static const uint8_t zero[FS_HASH_LEN];
  static Fs__Change dflt = FS__CHANGE__INIT;
  Fs__ChangeSet y = *x;
  y.device.data = (uint8_t *)k->dev_pk;
  y.device.len = FS_PK_LEN;
  if (y.seq == 0)
    y.seq = 1;
  if (!clock_ok(y.hlc))
    y.hlc = y.hlc % FS_HLC_LIMIT ? y.hlc % FS_HLC_LIMIT : 1;
  if (y.prev.len != FS_HASH_LEN) {
    y.prev.data = (uint8_t *)zero;
    y.prev.len = FS_HASH_LEN;
  }
  if (!fuzz_area_valid(y.area))
    y.area = "KT.KPL";
  size_t nch = x->n_changes > FS_MAX_CHANGES ? FS_MAX_CHANGES : x->n_changes;
  Fs__Change *chs = calloc(nch ? nch : 1, sizeof *chs);
  Fs__Change **chp = calloc(nch ? nch : 1, sizeof *chp);
  Fs__FieldWrite **ws = calloc(nch ? nch : 1, sizeof *ws);
  Fs__FieldWrite ***wp = calloc(nch ? nch : 1, sizeof *wp);
  FUZZ_CHECK(chs && chp && ws && wp, "calloc");
  if (nch == 0) {
    dflt.record_id = "r1";
    dflt.record_type = "incident";
    chp[0] = &dflt;
    y.n_changes = 1;
  } else {
    y.n_changes = nch;
  }
  y.changes = chp;
  for (size_t i = 0; i < nch; i++) {
    chs[i] = *x->changes[i];
    chp[i] = &chs[i];
    if (!str_fits(chs[i].record_id, FS_MAX_ID))
      chs[i].record_id = "r1";
    if (!str_fits(chs[i].record_type, FS_MAX_NAME))
      chs[i].record_type = "incident";
    if (chs[i].hlc > y.hlc)
      chs[i].hlc = y.hlc; /* a change's own clock is at most the set's */
    size_t nw = chs[i].n_writes > FS_MAX_WRITES ? FS_MAX_WRITES : chs[i].n_writes;
    ws[i] = calloc(nw ? nw : 1, sizeof **ws);
    wp[i] = calloc(nw ? nw : 1, sizeof **wp);
    FUZZ_CHECK(ws[i] && wp[i], "calloc");
    chs[i].n_writes = nw;
    chs[i].writes = wp[i];
    for (size_t j = 0; j < nw; j++) {
      Fs__FieldWrite *w = &ws[i][j];
      *w = *x->changes[i]->writes[j];
      wp[i][j] = w;
      if (!str_fits(w->name, FS_MAX_NAME))
        w->name = "note";
      if (w->value.len > FS_MAX_VALUE)
        w->value.len = FS_MAX_VALUE;
      if (!clock_ok(w->hlc))
        w->hlc = w->hlc % FS_HLC_LIMIT ? w->hlc % FS_HLC_LIMIT : 1;
      if (w->base_hlc >= w->hlc)
        w->base_hlc = w->hlc - 1;
    }
  }
  FUZZ_CHECK(bounds_ok(&y), "the harness failed to move x inside the bounds");
  FUZZ_CHECK(seal_open(&y, flip) == 0, "a set inside every bound did not open");
  for (size_t i = 0; i < nch; i++) {
    free(ws[i]);
    free(wp[i]);
  }
  free(chs);
  free(chp);
  free(ws);
  free(wp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const fuzz_keys *k = fuzz_keys_get();
  size_t sig_len = size < FS_SIG_LEN ? size : FS_SIG_LEN;
  const uint8_t *body = data, *sig = data + size - sig_len;
  size_t body_len = size - sig_len;
  uint8_t flip = size ? data[size - 1] : 0;

  /* 1. The bytes as a peer sent them. */
  Fs__ChangeSet *x = fs__change_set__unpack(NULL, body_len, body);
  Fs__ChangeSet *cs = NULL;
  uint8_t id[FS_HASH_LEN];
  int rc = fs_changeset_open(body, body_len, sig, sig_len, &cs, id);
  FUZZ_CHECK(rc == 0 || rc == FS_ETOOBIG || rc == FS_EBADSIG || rc == FS_EDECODE ||
                 rc == FS_ELIMIT || rc == FS_EINVAL,
             "fs_changeset_open returned %d", rc);
  /* The order of checks changeset.h implies: size, decode, signature,
   * bounds. */
  if (body_len > FS_BODY_MAX) {
    FUZZ_CHECK(rc == FS_ETOOBIG, "open returned %d for %zu bytes", rc, body_len);
    if (x)
      fs__change_set__free_unpacked(x, NULL);
    return 0;
  }
  if (!x) {
    FUZZ_CHECK(rc == FS_EDECODE, "body is not a ChangeSet but open returned %d", rc);
    return 0;
  }
  bool sig_ok = sig_len == FS_SIG_LEN && x->device.len == FS_PK_LEN &&
                crypto_sign_verify_detached(sig, body, body_len, x->device.data) == 0;
  if (!sig_ok)
    FUZZ_CHECK(rc == FS_EBADSIG, "open returned %d for a bad signature", rc);
  else if (bounds_ok(x))
    FUZZ_CHECK(rc == 0, "open returned %d for a good set", rc);
  else
    FUZZ_CHECK(rc == FS_EINVAL || rc == FS_ELIMIT,
               "open returned %d for a signed set out of bounds", rc);
  /* The stored form skips only the signature: where that is not what
   * refused the set, it gives the same verdict and the same id. */
  if (rc != FS_EBADSIG || x->device.len != FS_PK_LEN) {
    Fs__ChangeSet *st = NULL;
    uint8_t sid[FS_HASH_LEN];
    int src = fs_changeset_open_stored(body, body_len, &st, sid);
    FUZZ_CHECK(src == rc, "open_stored returned %d where open returned %d", src, rc);
    if (src == 0) {
      FUZZ_CHECK(memcmp(sid, id, FS_HASH_LEN) == 0, "open_stored gave another id");
      fs__change_set__free_unpacked(st, NULL);
    }
  }
  if (rc == 0) {
    uint8_t want[FS_HASH_LEN];
    crypto_generichash(want, sizeof want, body, body_len, NULL, 0);
    FUZZ_CHECK(memcmp(id, want, FS_HASH_LEN) == 0, "id is not BLAKE2b-256(body)");
    FUZZ_CHECK(contract_ok(cs), "an opened set breaks a documented bound");
    check_same(x, cs);
    check_apply(cs);
    fs__change_set__free_unpacked(cs, NULL);
  }

  /* 2. The decoded set sealed by the test device, as is and within bounds
   * (unless protobuf-c cannot re-encode it: see fuzz_pb_has_tag0). */
  if (fuzz_pb_has_tag0(&x->base)) {
    fs__change_set__free_unpacked(x, NULL);
    return 0;
  }
  ProtobufCBinaryData dev = x->device;
  x->device.data = (uint8_t *)k->dev_pk;
  x->device.len = FS_PK_LEN;
  bool inside = bounds_ok(x);
  seal_open(x, flip);
  if (!inside)
    check_fixed(x, flip);
  x->device = dev; /* free_unpacked frees what unpack allocated */
  fs__change_set__free_unpacked(x, NULL);
  return 0;
}
