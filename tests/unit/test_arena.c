/* test_arena.c - the arena allocator: alignment, allocations larger than a
 * chunk, many chunks, zero and impossible sizes, freeing an empty arena,
 * moving and resetting an arena, and protobuf-c trees decoded through its adapter (run
 * under ASan too: overlapping or leaked chunks show there). */
#include "arena.h"
#include "error.h"
#include "frame.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static bool aligned(const void *p) { return (uintptr_t)p % FS_ARENA_ALIGN == 0; }

/* Odd sizes, each filled with its own byte: every pointer aligned, and no
 * allocation overwrote another. */
static void test_alignment(void **state) {
  (void)state;
  fs_arena a;
  fs_arena_init(&a, 256);
  unsigned char *p[200];
  for (size_t i = 0; i < 200; i++) {
    size_t n = 1 + i * 7 % 61;
    p[i] = fs_arena_alloc(&a, n);
    assert_non_null(p[i]);
    assert_true(aligned(p[i]));
    memset(p[i], (int)i, n);
  }
  for (size_t i = 0; i < 200; i++)
    for (size_t j = 0; j < 1 + i * 7 % 61; j++)
      assert_int_equal(p[i][j], (unsigned char)i);
  fs_arena_free(&a);
}

/* A request over half a chunk that the current chunk cannot hold gets a
 * chunk of its own, of its size; the current one goes on serving. */
static void test_larger_than_a_chunk(void **state) {
  (void)state;
  fs_arena a;
  fs_arena_init(&a, 1024);
  unsigned char *small = fs_arena_alloc(&a, 16);
  assert_int_equal(a.nchunks, 1);
  unsigned char *big = fs_arena_alloc(&a, 10000);
  assert_non_null(big);
  assert_true(aligned(big));
  assert_int_equal(a.nchunks, 2);
  assert_int_equal(a.held, 1024 + 10000);
  memset(big, 0xab, 10000);
  unsigned char *next = fs_arena_alloc(&a, 16);
  assert_ptr_equal(next, small + 16); /* same chunk as before the big one */
  assert_int_equal(a.nchunks, 2);
  /* Over half a chunk: from the current chunk while it fits, else alone. */
  unsigned char *half = fs_arena_alloc(&a, 600);
  assert_ptr_equal(half, next + 16);
  assert_int_equal(a.nchunks, 2);
  assert_non_null(fs_arena_alloc(&a, 600));
  assert_int_equal(a.nchunks, 3);
  assert_ptr_equal(fs_arena_alloc(&a, 16), half + 608);
  for (size_t i = 0; i < 10000; i++)
    assert_int_equal(big[i], 0xab);
  fs_arena_free(&a);
  assert_int_equal(a.nchunks, 0);
  assert_int_equal(a.held, 0);
}

/* Thousands of allocations over hundreds of chunks, all intact, all freed
 * (ASan reports a chunk that is not). */
static void test_many_chunks(void **state) {
  (void)state;
  fs_arena a;
  fs_arena_init(&a, 512);
  enum { N = 5000 };
  uint32_t **p = malloc(N * sizeof *p);
  assert_non_null(p);
  for (uint32_t i = 0; i < N; i++) {
    p[i] = fs_arena_alloc(&a, 100);
    assert_non_null(p[i]);
    for (size_t j = 0; j < 25; j++)
      p[i][j] = i;
  }
  assert_true(a.nchunks >= N * 112 / 512); /* 100 rounded up: 4 a chunk */
  assert_true(a.nchunks <= N / 4 + 1);
  for (uint32_t i = 0; i < N; i++)
    for (size_t j = 0; j < 25; j++)
      assert_int_equal(p[i][j], i);
  free(p);
  fs_arena_free(&a);
  /* Used again after a free, with the same chunk size. */
  assert_non_null(fs_arena_alloc(&a, 100));
  assert_int_equal(a.nchunks, 1);
  assert_int_equal(a.held, 512);
  fs_arena_free(&a);
}

static void test_free_empty(void **state) {
  (void)state;
  fs_arena a;
  fs_arena_init(&a, 0);
  assert_int_equal(a.chunk_size, FS_ARENA_CHUNK);
  fs_arena_free(&a);
  fs_arena_free(&a);
  assert_null(a.chunks);
  assert_int_equal(a.chunk_size, FS_ARENA_CHUNK);
}

/* Size 0 is a distinct valid pointer; a size no chunk can hold is NULL
 * and leaves the arena as it was. */
static void test_zero_and_impossible_sizes(void **state) {
  (void)state;
  fs_arena a;
  fs_arena_init(&a, 128);
  void *z1 = fs_arena_alloc(&a, 0), *z2 = fs_arena_alloc(&a, 0);
  assert_non_null(z1);
  assert_non_null(z2);
  assert_ptr_not_equal(z1, z2);
  size_t held = a.held;
  assert_null(fs_arena_alloc(&a, SIZE_MAX));
  assert_null(fs_arena_alloc(&a, SIZE_MAX - FS_ARENA_ALIGN));
  assert_int_equal(a.held, held);
  fs_arena_free(&a);
}

/* dst frees what it held and takes src's memory; src is left empty. */
static void test_move(void **state) {
  (void)state;
  fs_arena src, dst;
  fs_arena_init(&src, 256);
  fs_arena_init(&dst, 64);
  char *s = fs_arena_alloc(&src, 6);
  memcpy(s, "hello", 6);
  assert_non_null(fs_arena_alloc(&dst, 40)); /* freed by the move (ASan) */
  fs_arena_move(&dst, &src);
  assert_null(src.chunks);
  assert_int_equal(src.nchunks, 0);
  assert_null(fs_arena_alloc(&src, SIZE_MAX));
  assert_int_equal(dst.chunk_size, 256);
  assert_int_equal(dst.nchunks, 1);
  assert_string_equal(s, "hello");
  fs_arena_free(&src);
  fs_arena_free(&dst);
}

/* A reset keeps the chunk being filled (standard size) and frees the
 * rest, large ones included; the next allocation starts that chunk over.
 * An arena holding only a large chunk, or nothing, is left empty. */
static void test_reset(void **state) {
  (void)state;
  fs_arena a;
  fs_arena_init(&a, 256);
  unsigned char *first = fs_arena_alloc(&a, 16);
  for (int i = 0; i < 3; i++) /* the third starts a second standard chunk */
    assert_non_null(fs_arena_alloc(&a, 112));
  assert_non_null(fs_arena_alloc(&a, 4000)); /* a large one, linked first */
  unsigned char *filling = fs_arena_alloc(&a, 32);
  assert_int_equal(a.nchunks, 3);
  fs_arena_reset(&a);
  assert_int_equal(a.nchunks, 1);
  assert_int_equal(a.held, 256);
  unsigned char *again = fs_arena_alloc(&a, 16);
  assert_ptr_equal(again, filling - 112); /* the start of the filling chunk */
  assert_ptr_not_equal(again, first);
  memset(fs_arena_alloc(&a, 224), 1, 224); /* fills it up, ASan checks */
  assert_int_equal(a.nchunks, 1);
  fs_arena_free(&a);

  fs_arena_init(&a, 256);
  fs_arena_reset(&a);
  assert_null(a.chunks);
  assert_non_null(fs_arena_alloc(&a, 4000));
  fs_arena_reset(&a);
  assert_int_equal(a.nchunks, 0);
  assert_int_equal(a.held, 0);
  assert_non_null(fs_arena_alloc(&a, 8));
  assert_int_equal(a.nchunks, 1);
  fs_arena_free(&a);
}

/* A tree decoded through the adapter equals the malloc'ed one (it packs to
 * the same bytes), even when chunks are tiny and most nodes get their own;
 * a payload that fails halfway leaves only what the arena frees. */
static void test_protobuf_adapter(void **state) {
  (void)state;
  uint8_t *f, *q;
  size_t n;
  tu_push_frame(40, 300, &f, &n);
  const uint8_t *p = f + FS_FRAME_HDR;
  size_t len = n - FS_FRAME_HDR;
  q = malloc(len);
  assert_non_null(q);
  static const size_t chunks[] = {64, 1024, 0, 1u << 20};
  for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
    fs_arena a;
    fs_arena_init(&a, chunks[c]);
    Fs__Envelope *e;
    assert_int_equal(fs_envelope_decode_in(p, len, &a, &e), 0);
    assert_int_equal(e->push->n_sets, 40);
    assert_int_equal(fs__envelope__get_packed_size(e), len);
    fs__envelope__pack(e, q);
    assert_memory_equal(p, q, len);
    /* Cut short: the decoder fails partway; the arena holds the rest. */
    assert_int_equal(fs_envelope_decode_in(p, len - 100, &a, &e), FS_EDECODE);
    fs_arena_free(&a);
  }
  free(f);
  free(q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_alignment),
      cmocka_unit_test(test_larger_than_a_chunk),
      cmocka_unit_test(test_many_chunks),
      cmocka_unit_test(test_free_empty),
      cmocka_unit_test(test_zero_and_impossible_sizes),
      cmocka_unit_test(test_move),
      cmocka_unit_test(test_reset),
      cmocka_unit_test(test_protobuf_adapter),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
