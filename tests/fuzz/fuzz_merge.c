/* fuzz_merge.c - the join of merged record states is a semilattice.
 *
 * Input: up to three RecordState encodings, each as a big-endian u16 length
 * and that many bytes. The states that decode are given the area and id of
 * the first (join is defined on one record) and then:
 * - commutative: join(a, b) and join(b, a) encode to the same bytes;
 * - associative: join(join(a, b), c) and join(a, join(b, c)) likewise;
 * - idempotent: joining a or b again into join(a, b) changes nothing;
 * - fs_record_join returns 1 exactly when the encoded state changed;
 * - the joined state round-trips through the canonical encoding and its max
 *   hlc is the max of the inputs';
 * - a reported conflict has a winner whose clock is not below the loser's
 *   and that did not see the loser (winner.base_hlc < loser.hlc);
 * - fs_record_view decodes each input exactly as fs_record_decode does.
 * merge.h promises all of it: "any delivery order of the same writes gives
 * the same state, and fs_record_encode gives the same bytes".
 */
#include "changeset.h"
#include "error.h"
#include "fuzz_common.h"
#include "merge.h"

static void on_conflict(void *arg, const fs_record *r, const fs_field *winner,
                        const fs_field *loser) {
  (void)r;
  (*(int *)arg)++;
  FUZZ_CHECK(strcmp(winner->name, loser->name) == 0, "conflict across fields");
  FUZZ_CHECK(fs_clock_cmp(&winner->clock, &loser->clock) >= 0,
             "conflict winner %llu is older than loser %llu",
             (unsigned long long)winner->clock.hlc, (unsigned long long)loser->clock.hlc);
  FUZZ_CHECK(winner->base_hlc < loser->clock.hlc,
             "conflict reported although the winner saw the loser");
}

static void encode(const fs_record *r, uint8_t **b, size_t *n) {
  FUZZ_CHECK(fs_record_encode(r, b, n) == 0, "encode");
}

static void copy(fs_record *dst, const fs_record *src) {
  uint8_t *b;
  size_t n;
  encode(src, &b, &n);
  int rc = fs_record_decode(dst, b, n);
  if (rc != 0)
    fuzz_dump("state", b, n);
  FUZZ_CHECK(rc == 0, "a state made by join does not decode: %d", rc);
  free(b);
}

/* Equal encodings; loud: print both when they differ. */
static bool same(const fs_record *x, const fs_record *y, bool loud) {
  uint8_t *a, *b;
  size_t an, bn;
  encode(x, &a, &an);
  encode(y, &b, &bn);
  bool eq = an == bn && memcmp(a, b, an) == 0;
  if (!eq && loud) {
    fuzz_dump("left", a, an);
    fuzz_dump("right", b, bn);
  }
  free(a);
  free(b);
  return eq;
}

/* dst = join(x, y) on fresh copies; checks the return value. */
static void join(fs_record *dst, const fs_record *x, const fs_record *y) {
  copy(dst, x);
  fs_record before;
  copy(&before, x);
  int conflicts = 0;
  int rc = fs_record_join(dst, y, on_conflict, &conflicts);
  FUZZ_CHECK(rc == 0 || rc == 1, "join returned %d", rc);
  bool changed = !same(&before, dst, false);
  FUZZ_CHECK(rc == changed, "join returned %d but the state %s", rc,
             changed ? "changed" : "did not change");
  uint64_t mx = fs_record_max_hlc(x), my = fs_record_max_hlc(y);
  FUZZ_CHECK(fs_record_max_hlc(dst) == (mx > my ? mx : my), "max hlc of a join");
  fs_record_free(&before);
}

static void set_key(fs_record *r, const fs_record *like) {
  free(r->area);
  free(r->id);
  r->area = strdup(like->area);
  r->id = strdup(like->id);
  FUZZ_CHECK(r->area && r->id, "strdup");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size};
  fs_record rs[3];
  size_t n = 0;
  for (int i = 0; i < 3 && in.n > 0; i++) {
    size_t len;
    const uint8_t *p = fuzz_take_lp(&in, &len);
    /* The view (a scan's decoder) accepts exactly what the copy accepts,
     * and reads the same state. */
    fs_arena a;
    fs_arena_init(&a, 0);
    fs_record v;
    int vrc = fs_record_view(&v, p, len, &a);
    int rc = fs_record_decode(&rs[n], p, len);
    FUZZ_CHECK(rc == vrc, "fs_record_view returned %d, fs_record_decode %d", vrc, rc);
    if (rc == 0)
      FUZZ_CHECK(same(&v, &rs[n], true), "the view and the copy differ");
    fs_arena_free(&a);
    if (rc == 0) {
      if (n > 0)
        set_key(&rs[n], &rs[0]);
      n++;
    }
  }
  if (n < 2)
    goto out;

  fs_record ab, ba, again;
  join(&ab, &rs[0], &rs[1]);
  join(&ba, &rs[1], &rs[0]);
  FUZZ_CHECK(same(&ab, &ba, true), "join is not commutative");
  join(&again, &ab, &rs[0]);
  FUZZ_CHECK(same(&again, &ab, true), "join(join(a, b), a) != join(a, b)");
  fs_record_free(&again);
  join(&again, &ab, &rs[1]);
  FUZZ_CHECK(same(&again, &ab, true), "join(join(a, b), b) != join(a, b)");
  fs_record_free(&again);
  if (n == 3) {
    fs_record bc, l, r;
    join(&bc, &rs[1], &rs[2]);
    join(&l, &ab, &rs[2]);
    join(&r, &rs[0], &bc);
    FUZZ_CHECK(same(&l, &r, true), "join is not associative");
    fs_record_free(&bc);
    fs_record_free(&l);
    fs_record_free(&r);
  }
  fs_record_free(&ab);
  fs_record_free(&ba);
out:
  for (size_t i = 0; i < n; i++)
    fs_record_free(&rs[i]);
  return 0;
}
