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
  fs_alloc_limit *l = data;
  if (n > l->left)
    return NULL;
  l->left -= n;
  return malloc(n);
}

static void limited_free(void *data, void *p) {
  (void)data;
  free(p);
}

ProtobufCAllocator fs_limited_allocator(fs_alloc_limit *l) {
  return (ProtobufCAllocator){.alloc = limited_alloc, .free = limited_free, .allocator_data = l};
}
