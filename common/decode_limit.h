/* decode_limit.h - how much memory decoding protobuf bytes may take.
 *
 * protobuf-c allocates for every field it reads, unknown fields included
 * (it keeps them), and scratch space besides: a frame of two-byte unknown
 * fields decodes to about fifty times its size, so a 4 MiB frame could
 * pin some 200 MB. Every decoder of bytes from the network or a file
 * bounds what it allocates to fs_decode_limit of their length, in an arena
 * or on the heap, between fs_decode_begin and fs_decode_end.
 * Real messages stay below it: a Push decodes to about 1.2 times its
 * length, a typical change set body to about 2.3 times, a body of the
 * densest writes a laptop makes (one-letter names, no values) to about 10
 * (test_frame, test_changeset); a decode over the limit fails as
 * FS_EDECODE.
 */
#ifndef FS_DECODE_LIMIT_H
#define FS_DECODE_LIMIT_H

#include "arena.h"

#include <protobuf-c/protobuf-c.h>

#include <stddef.h>

#define FS_DECODE_FACTOR 16
#define FS_DECODE_SLACK (64u << 10)

/* The bytes decoding len bytes may allocate in all. */
size_t fs_decode_limit(size_t len);

/* The allocator of one decode. With an arena it draws from the arena,
 * whose budget is set for the decode and put back by fs_decode_end;
 * without, from malloc, counted (free gives nothing back, so the bound is
 * on all the decode allocates, scratch included) and freed with free()
 * (*_free_unpacked(msg, NULL) will do). Lives on the caller's stack: alloc
 * points into it. */
typedef struct fs_decode {
  ProtobufCAllocator alloc;
  fs_arena *arena;
  size_t left;   /* malloc: bytes it may still hand out */
  size_t budget; /* arena: its budget before the decode */
} fs_decode;

/* Sets up d for decoding len bytes into a (NULL: the heap). */
void fs_decode_begin(fs_decode *d, fs_arena *a, size_t len);

/* After the decode: the arena's budget as it was. */
void fs_decode_end(fs_decode *d);

#endif
