/* decode_limit.c - bounded memory for protobuf decoders (decode_limit.h). */
#include "decode_limit.h"

#include <stdint.h>
#include <stdlib.h>

size_t fs_decode_limit(size_t len) {
  if (len > (SIZE_MAX - FS_DECODE_SLACK) / FS_DECODE_FACTOR)
    return SIZE_MAX;
  return len * FS_DECODE_FACTOR + FS_DECODE_SLACK;
}

static void *limited_alloc(void *data, size_t n) {
  fs_decode *d = data;
  if (n > d->left)
    return NULL;
  d->left -= n;
  return malloc(n);
}

static void limited_free(void *data, void *p) {
  (void)data;
  free(p);
}

void fs_decode_begin(fs_decode *d, fs_arena *a, size_t len) {
  d->arena = a;
  d->left = fs_decode_limit(len);
  if (a) {
    d->budget = a->budget;
    fs_arena_limit(a, d->left);
    d->alloc = fs_arena_allocator(a);
  } else {
    d->alloc = (ProtobufCAllocator){.alloc = limited_alloc, .free = limited_free,
                                    .allocator_data = d};
  }
}

void fs_decode_end(fs_decode *d) {
  if (d->arena)
    fs_arena_limit(d->arena, d->budget);
}
