/* arena.h - chunked bump allocation for trees that die all at once.
 *
 * A Push decoded by protobuf-c is thousands of small allocations (every
 * message, string, byte field and pointer array of the Envelope, then of
 * every ChangeSet body in it), and all of them are released together, when
 * the batch has been acknowledged. An arena hands them out of a few large
 * chunks and releases the chunks, not the nodes: a handful of free() calls
 * instead of a walk of the tree.
 *
 * Invariants and ownership:
 * - Memory from fs_arena_alloc lives until fs_arena_free; nothing is freed
 *   alone. The protobuf-c adapter's free does nothing, so a tree decoded
 *   into an arena is released with its arena, never with
 *   *_free_unpacked(msg, NULL) (that would free() arena memory).
 * - An arena is used by one thread at a time and takes no lock: give each
 *   concurrent job its own. It may be handed to another thread between uses
 *   (through whatever orders the hand-over: a libuv work callback, a mutex).
 * - The struct holds no pointer to itself: fs_arena_move hands its memory
 *   to another fs_arena (a batch takes the arena a frame was decoded in).
 */
#ifndef FS_ARENA_H
#define FS_ARENA_H

#include <protobuf-c/protobuf-c.h>

#include <stddef.h>
#include <stdint.h>

/* Every allocation is aligned for any object, like malloc's. */
#define FS_ARENA_ALIGN _Alignof(max_align_t)
#define FS_ARENA_CHUNK (16u << 10) /* chunk size when fs_arena_init gets 0 */

typedef struct fs_arena_chunk fs_arena_chunk;

typedef struct fs_arena {
  fs_arena_chunk *chunks;     /* owned: every chunk malloc'ed, newest first */
  unsigned char *cur, *end;   /* free space left in the chunk being filled */
  size_t chunk_size;          /* bytes of a new chunk */
  size_t nchunks, held;       /* chunks and bytes malloc'ed (tests, statistics) */
  size_t budget;              /* bytes it may still hand out (SIZE_MAX: no limit) */
} fs_arena;

/* Sets up an empty arena whose chunks hold chunk_size bytes (0: the
 * default). Allocates nothing. */
void fs_arena_init(fs_arena *a, size_t chunk_size);

/* Returns n bytes aligned to FS_ARENA_ALIGN (n may be 0: a valid pointer
 * to no bytes), or NULL when out of memory. When the chunk being filled
 * cannot hold n, n over half a chunk gets a chunk of its own (and the one
 * being filled stays in use), a smaller n a new chunk. */
void *fs_arena_alloc(fs_arena *a, size_t n);

/* From now on the arena hands out at most bytes more (rounded sizes
 * counted), then fs_arena_alloc returns NULL; SIZE_MAX lifts the limit, as
 * fs_arena_init, _free and _reset do. A decoder sets it around one decode
 * (decode_limit.h). */
void fs_arena_limit(fs_arena *a, size_t bytes);

/* Frees every chunk. The arena is empty afterwards (as after fs_arena_init,
 * same chunk size) and may be used again; freeing an empty arena does
 * nothing. */
void fs_arena_free(fs_arena *a);

/* Frees every chunk but the one being filled and makes all of it free
 * again: a loop decoding one short-lived tree after another reuses one
 * chunk instead of allocating. Memory handed out before is invalid. */
void fs_arena_reset(fs_arena *a);

/* Frees what dst holds, then dst takes src's memory and chunk size; src is
 * left empty (freeing it does nothing). */
void fs_arena_move(fs_arena *dst, fs_arena *src);

/* A protobuf-c allocator drawing from a (its free does nothing). The
 * returned struct may be a temporary: protobuf-c uses it only during the
 * call it is passed to. */
ProtobufCAllocator fs_arena_allocator(fs_arena *a);

#endif
