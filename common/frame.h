/* frame.h - length-prefixed protobuf Envelopes on a byte stream.
 *
 * A frame is a 4-byte big-endian length followed by that many bytes of one
 * Fs__Envelope. The length is checked against the reader's limit before a
 * byte of the payload is buffered, so a hostile peer cannot make us allocate
 * more than the limit.
 */
#ifndef FS_FRAME_H
#define FS_FRAME_H

#include "arena.h"
#include "fieldsync.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#define FS_FRAME_MAX (4u << 20) /* 4 MiB: a push batch is bounded below it */
/* Until the peer has proved who it is, its frames are its Hello and our
 * answer: a Hello with its most certificates fits (hello.c checks). */
#define FS_HELLO_FRAME_MAX (64u << 10)
#define FS_FRAME_HDR 4

typedef struct fs_frame_reader {
  uint8_t *buf;  /* owned; bytes [off, len) are unconsumed */
  size_t off, len, cap;
  size_t max;    /* largest payload accepted */
} fs_frame_reader;

void fs_frame_reader_init(fs_frame_reader *r, size_t max);
void fs_frame_reader_free(fs_frame_reader *r);

/* Appends received bytes. Returns 0, FS_ETOOBIG when a frame header
 * announces more than max, or FS_ENOMEM. */
int fs_frame_reader_feed(fs_frame_reader *r, const uint8_t *data, size_t len);

/* Frees the buffer when it holds no bytes and has grown past 64 KiB: a
 * connection that once took a 4 MiB frame should not keep 8 MiB for the
 * rest of its life (a thousand laptops after one large push each). */
void fs_frame_reader_trim(fs_frame_reader *r);

/* Takes the next complete payload: returns 1 and points *p and *len into the
 * reader's buffer (valid until the next feed or next call), 0 when no whole
 * frame is buffered, FS_ETOOBIG when the announced length exceeds max. */
int fs_frame_reader_next(fs_frame_reader *r, const uint8_t **p, size_t *len);

/* Encodes env as one frame into a malloc'ed buffer the caller frees.
 * Returns 0, FS_ETOOBIG (payload over FS_FRAME_MAX) or FS_ENOMEM. */
int fs_frame_encode(const Fs__Envelope *env, uint8_t **out, size_t *out_len);

/* Decodes one payload. On success *env is owned by the caller and released
 * with fs__envelope__free_unpacked(env, NULL). Returns 0 or FS_EDECODE
 * (unparseable, or no message set). */
int fs_envelope_decode(const uint8_t *p, size_t len, Fs__Envelope **env);

/* The same, with the envelope and everything under it (byte fields are
 * copies of p's) allocated from arena a: it lives until a is freed and is
 * never passed to fs__envelope__free_unpacked. On failure a may hold the
 * remains until it is freed. Returns 0 or FS_EDECODE (also when a cannot
 * grow). */
int fs_envelope_decode_in(const uint8_t *p, size_t len, fs_arena *a, Fs__Envelope **env);

/* A chunk size for the arena of one payload of len bytes: the decoded tree
 * (copies of its byte fields, the messages around them) usually fits one. */
size_t fs_envelope_arena_chunk(size_t len);

#endif
