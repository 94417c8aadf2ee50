/* gen_impl.h - what gen.c and gen_names.c share: a small deterministic
 * generator (splitmix64) and the Kon Tum names. Private to tools/. */
#ifndef FS_GEN_IMPL_H
#define FS_GEN_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

typedef struct rng {
  uint64_t s;
} rng;

static inline uint64_t next(rng *g) {
  uint64_t z = (g->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static inline unsigned below(rng *g, unsigned n) { return n ? (unsigned)(next(g) % n) : 0; }
static inline unsigned between(rng *g, unsigned lo, unsigned hi) {
  return lo + below(g, hi - lo + 1);
}
static inline bool chance(rng *g, unsigned percent) { return below(g, 100) < percent; }
#define PICK(g, a) ((a)[below((g), (unsigned)N(a))])

/* Index by weights (any sum). */
static inline unsigned weighted(rng *g, const unsigned *w, size_t n) {
  unsigned sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += w[i];
  unsigned x = below(g, sum);
  for (size_t i = 0; i < n; i++) {
    if (x < w[i])
      return (unsigned)i;
    x -= w[i];
  }
  return 0;
}

/* A Vietnamese personal name: Kinh, Xơ Đăng / Ba Na, or Gia Rai. */
void gen_person(rng *g, char *out, size_t cap);

/* A Kon Tum village ("làng Kon Klor", "thôn 3"). */
const char *gen_village(rng *g);

#endif
