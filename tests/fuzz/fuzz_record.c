/* fuzz_record.c - decoding merged record states (RecordState), as a puller
 * reads them from a Records frame and the store reads them from LMDB.
 *
 * Input: one RecordState encoding.
 *
 * Invariants, when fs_record_decode accepts the input:
 * - the record keeps what merge.h promises of a decoded state: a valid area,
 *   a bounded non-empty id, fields sorted by strictly ascending name, each
 *   with a bounded name and value and a clock;
 * - canonical form: fs_record_encode gives bytes b1 that decode again and
 *   re-encode to b1 exactly;
 * - join is idempotent: fs_record_join(r, r) and the join of an independent
 *   copy report no change, call no conflict and leave b1; joining r into an
 *   empty record with the same area and id gives b1 back;
 * - the read-side helpers agree with the fields (lookup, max hlc,
 *   visibility) and printing does not fail.
 * When it refuses the input, it says FS_EDECODE (or FS_ENOMEM), and it does
 * say FS_EDECODE whenever protobuf-c cannot parse the bytes.
 */
#include "changeset.h"
#include "error.h"
#include "fuzz_common.h"
#include "merge.h"
#include "view.h"

static void count_conflict(void *arg, const fs_record *r, const fs_field *winner,
                           const fs_field *loser) {
  (void)r;
  (void)winner;
  (void)loser;
  (*(int *)arg)++;
}

static void check_shape(const fs_record *r) {
  FUZZ_CHECK(fs_area_valid(r->area), "decoded area '%s' is not valid", r->area);
  size_t idn = strlen(r->id);
  FUZZ_CHECK(idn > 0 && idn <= FS_MAX_ID, "decoded id of %zu bytes", idn);
  FUZZ_CHECK(!r->type || (r->type[0] && strlen(r->type) <= FS_MAX_NAME),
             "decoded type is empty or too long");
  FUZZ_CHECK((r->type != NULL) == (r->type_clock.hlc != 0),
             "type and type clock disagree");
  uint64_t max = r->type_clock.hlc > r->del_clock.hlc ? r->type_clock.hlc
                                                      : r->del_clock.hlc;
  bool any_visible = r->del_clock.hlc == 0 ||
                     (r->type && fs_clock_cmp(&r->type_clock, &r->del_clock) > 0);
  for (size_t i = 0; i < r->nfields; i++) {
    const fs_field *f = &r->fields[i];
    size_t n = strlen(f->name);
    FUZZ_CHECK(n > 0 && n <= FS_MAX_NAME, "field %zu name of %zu bytes", i, n);
    FUZZ_CHECK(f->value_len <= FS_MAX_VALUE, "field %zu value too long", i);
    FUZZ_CHECK(f->clock.hlc != 0, "field %zu without a clock", i);
    FUZZ_CHECK(i == 0 || strcmp(r->fields[i - 1].name, f->name) < 0,
               "fields not strictly sorted at %zu", i);
    FUZZ_CHECK(fs_record_field(r, f->name) == f, "lookup of field %zu failed", i);
    if (f->clock.hlc > max)
      max = f->clock.hlc;
    bool vis = r->del_clock.hlc == 0 || fs_clock_cmp(&f->clock, &r->del_clock) > 0;
    FUZZ_CHECK(fs_field_visible(r, f) == vis, "field %zu visibility", i);
    any_visible |= vis;
  }
  FUZZ_CHECK(fs_record_max_hlc(r) == max, "max hlc %llu, fields say %llu",
             (unsigned long long)fs_record_max_hlc(r), (unsigned long long)max);
  FUZZ_CHECK(fs_record_visible(r) == any_visible, "record visibility");
}

static void check_bytes(const fs_record *r, const uint8_t *want, size_t want_len,
                        const char *what) {
  uint8_t *b;
  size_t n;
  FUZZ_CHECK(fs_record_encode(r, &b, &n) == 0, "encode");
  if (n != want_len || memcmp(b, want, n) != 0) {
    fuzz_dump("want", want, want_len);
    fuzz_dump("got", b, n);
  }
  FUZZ_CHECK(n == want_len && memcmp(b, want, n) == 0, "%s: state bytes differ", what);
  free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static FILE *devnull;
  if (!devnull)
    devnull = fopen("/dev/null", "w");

  fs_record r;
  int rc = fs_record_decode(&r, data, size);
  FUZZ_CHECK(rc == 0 || rc == FS_EDECODE || rc == FS_ENOMEM,
             "fs_record_decode returned %d", rc);
  if (rc != 0) {
    Fs__RecordState *st = fs__record_state__unpack(NULL, size, data);
    FUZZ_CHECK(st || rc == FS_EDECODE, "unparseable bytes gave %d", rc);
    if (st)
      fs__record_state__free_unpacked(st, NULL);
    return 0;
  }
  check_shape(&r);

  /* Canonical form. */
  uint8_t *b1;
  size_t n1;
  FUZZ_CHECK(fs_record_encode(&r, &b1, &n1) == 0, "encode");
  fs_record r2;
  rc = fs_record_decode(&r2, b1, n1);
  if (rc != 0)
    fuzz_dump("encoded", b1, n1);
  FUZZ_CHECK(rc == 0, "the encoding of a decoded state does not decode: %d", rc);
  check_bytes(&r2, b1, n1, "decode(encode(r))");

  /* Idempotence. */
  int conflicts = 0;
  rc = fs_record_join(&r, &r, count_conflict, &conflicts);
  FUZZ_CHECK(rc == 0 && conflicts == 0, "join(r, r) returned %d with %d conflicts", rc,
             conflicts);
  check_bytes(&r, b1, n1, "join(r, r)");
  rc = fs_record_join(&r, &r2, count_conflict, &conflicts);
  FUZZ_CHECK(rc == 0 && conflicts == 0, "join(r, copy) returned %d with %d conflicts",
             rc, conflicts);
  check_bytes(&r, b1, n1, "join(r, copy)");

  /* The empty record is the bottom of the lattice. */
  fs_record e;
  FUZZ_CHECK(fs_record_init(&e, r.area, r.id) == 0, "init");
  bool empty = !r.type && r.del_clock.hlc == 0 && r.nfields == 0;
  rc = fs_record_join(&e, &r, count_conflict, &conflicts);
  FUZZ_CHECK(rc == (empty ? 0 : 1) && conflicts == 0,
             "join(empty, r) returned %d with %d conflicts", rc, conflicts);
  check_bytes(&e, b1, n1, "join(empty, r)");

  fs_view_opts vo = {.out = devnull, .all = true, .type = NULL};
  FUZZ_CHECK(fs_record_print(&vo, &r) == 0, "print");

  free(b1);
  fs_record_free(&e);
  fs_record_free(&r2);
  fs_record_free(&r);
  return 0;
}
