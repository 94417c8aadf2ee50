/* arena.c - chunked bump allocation (see arena.h). */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>

/* The data after the header starts aligned for any object. */
struct fs_arena_chunk {
  fs_arena_chunk *next;
  max_align_t data[];
};

void fs_arena_init(fs_arena *a, size_t chunk_size) {
  *a = (fs_arena){.chunk_size = chunk_size ? chunk_size : FS_ARENA_CHUNK, .budget = SIZE_MAX};
}

/* Mallocs a chunk of size data bytes and links it first. */
static unsigned char *chunk_new(fs_arena *a, size_t size) {
  if (size > SIZE_MAX - sizeof(fs_arena_chunk))
    return NULL;
  fs_arena_chunk *c = malloc(sizeof *c + size);
  if (!c)
    return NULL;
  c->next = a->chunks;
  a->chunks = c;
  a->nchunks++;
  a->held += size;
  return (unsigned char *)c->data;
}

void *fs_arena_alloc(fs_arena *a, size_t n) {
  if (n > SIZE_MAX - FS_ARENA_ALIGN)
    return NULL;
  /* Rounded up, so cur stays aligned; 0 still takes a slot, so that two
   * allocations never share an address. */
  n = n ? (n + FS_ARENA_ALIGN - 1) & ~(size_t)(FS_ARENA_ALIGN - 1) : FS_ARENA_ALIGN;
  if (a->budget != SIZE_MAX) {
    if (n > a->budget)
      return NULL;
    a->budget -= n;
  }
  if (a->cur && (size_t)(a->end - a->cur) >= n) {
    void *p = a->cur;
    a->cur += n;
    return p;
  }
  /* A large one alone: the rest of the current chunk is still good for
   * the small allocations around it. */
  if (n > a->chunk_size / 2)
    return chunk_new(a, n);
  unsigned char *p = chunk_new(a, a->chunk_size);
  if (!p)
    return NULL;
  a->cur = p + n;
  a->end = p + a->chunk_size;
  return p;
}

void fs_arena_limit(fs_arena *a, size_t bytes) { a->budget = bytes; }

void fs_arena_free(fs_arena *a) {
  for (fs_arena_chunk *c = a->chunks, *next; c; c = next) {
    next = c->next;
    free(c);
  }
  fs_arena_init(a, a->chunk_size);
}

void fs_arena_reset(fs_arena *a) {
  fs_arena_chunk *keep = NULL;
  for (fs_arena_chunk *c = a->chunks, *next; c; c = next) {
    next = c->next;
    if (!keep && a->end == (unsigned char *)c->data + a->chunk_size)
      keep = c; /* the chunk being filled: standard size */
    else
      free(c);
  }
  unsigned char *start = keep ? (unsigned char *)keep->data : NULL;
  fs_arena_init(a, a->chunk_size);
  if (keep) {
    keep->next = NULL;
    a->chunks = keep;
    a->cur = start;
    a->end = start + a->chunk_size;
    a->nchunks = 1;
    a->held = a->chunk_size;
  }
}

void fs_arena_move(fs_arena *dst, fs_arena *src) {
  fs_arena_free(dst);
  *dst = *src;
  fs_arena_init(src, src->chunk_size);
}

static void *pb_alloc(void *data, size_t n) { return fs_arena_alloc(data, n); }

static void pb_free(void *data, void *p) {
  (void)data;
  (void)p; /* released with the whole arena */
}

ProtobufCAllocator fs_arena_allocator(fs_arena *a) {
  return (ProtobufCAllocator){.alloc = pb_alloc, .free = pb_free, .allocator_data = a};
}
