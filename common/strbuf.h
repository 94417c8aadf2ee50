/* strbuf.h - a growable text buffer for HTTP responses and JSON.
 *
 * Appends never fail loudly: the first allocation failure sets err and
 * later appends do nothing, so a builder checks once at the end.
 */
#ifndef FS_STRBUF_H
#define FS_STRBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct fs_strbuf {
  char *p;       /* owned, NUL-terminated when len > 0 */
  size_t len, cap;
  int err;       /* FS_ENOMEM after a failed growth */
} fs_strbuf;

void fs_strbuf_init(fs_strbuf *b);
void fs_strbuf_free(fs_strbuf *b);
void fs_strbuf_add(fs_strbuf *b, const void *p, size_t len);
void fs_strbuf_puts(fs_strbuf *b, const char *s);
void fs_strbuf_printf(fs_strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included. */
void fs_strbuf_json(fs_strbuf *b, const char *s);
/* Appends len bytes (any bytes: NULs, invalid UTF-8) as a JSON string
 * literal: valid UTF-8 passes through, control characters are escaped and
 * each byte of an invalid sequence becomes U+FFFD. */
void fs_strbuf_json_bytes(fs_strbuf *b, const uint8_t *p, size_t len);
/* Appends len bytes as lower-case hex. */
void fs_strbuf_hex(fs_strbuf *b, const uint8_t *p, size_t len);

#endif
