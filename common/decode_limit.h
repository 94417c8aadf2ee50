/* decode_limit.h - how much memory decoding protobuf bytes may take.
 *
 * protobuf-c allocates for every field it reads, unknown fields included
 * (it keeps them), and scratch space besides: a frame of two-byte unknown
 * fields decodes to about fifty times its size, so a 4 MiB frame could
 * pin some 200 MB. Every decoder of bytes from the network or a file
 * bounds what it allocates to fs_decode_limit of their length: in an
 * arena through fs_arena_limit, on the heap through fs_limited_allocator.
 * Real messages stay below it: a Push decodes to about 1.2 times its
 * length, a typical change set body to about 2.3 times, a body of the
 * densest writes a laptop makes (one-letter names, no values) to about 10
 * (test_frame, test_changeset); a decode over the limit fails as
 * FS_EDECODE.
 */
#ifndef FS_DECODE_LIMIT_H
#define FS_DECODE_LIMIT_H

#include <protobuf-c/protobuf-c.h>

#include <stddef.h>

#define FS_DECODE_FACTOR 16
#define FS_DECODE_SLACK (64u << 10)

/* The bytes decoding len bytes may allocate in all. */
size_t fs_decode_limit(size_t len);

typedef struct fs_alloc_limit {
  size_t left; /* bytes malloc may still hand out */
} fs_alloc_limit;

/* A protobuf-c allocator over malloc and free that refuses (NULL) once
 * l->left bytes have been handed out in all; free gives nothing back, so
 * the bound is on everything one decode allocates, scratch included. What
 * it allocated is freed with free() (*_free_unpacked(msg, NULL) will do).
 * The returned struct may be a temporary, as protobuf-c uses it only
 * during the call it is passed to. */
ProtobufCAllocator fs_limited_allocator(fs_alloc_limit *l);

#endif
