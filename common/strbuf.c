/* strbuf.c - growable text buffer. */
#include "strbuf.h"

#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fs_strbuf_init(fs_strbuf *b) { memset(b, 0, sizeof *b); }

void fs_strbuf_free(fs_strbuf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

static int reserve(fs_strbuf *b, size_t more) {
  if (b->err)
    return b->err;
  if (b->cap - b->len > more)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->len <= more)
    cap *= 2;
  char *np = realloc(b->p, cap);
  if (!np)
    return b->err = FS_ENOMEM;
  b->p = np;
  b->cap = cap;
  return 0;
}

void fs_strbuf_add(fs_strbuf *b, const void *p, size_t len) {
  if (reserve(b, len))
    return;
  memcpy(b->p + b->len, p, len);
  b->len += len;
  b->p[b->len] = '\0';
}

void fs_strbuf_puts(fs_strbuf *b, const char *s) { fs_strbuf_add(b, s, strlen(s)); }

void fs_strbuf_printf(fs_strbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || reserve(b, (size_t)n))
    return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void fs_strbuf_json(fs_strbuf *b, const char *s) {
  fs_strbuf_add(b, "\"", 1);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\') {
      char e[2] = {'\\', (char)*c};
      fs_strbuf_add(b, e, 2);
    } else if (*c < 0x20) {
      fs_strbuf_printf(b, "\\u%04x", *c);
    } else {
      fs_strbuf_add(b, c, 1);
    }
  }
  fs_strbuf_add(b, "\"", 1);
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t utf8_len(const uint8_t *p, size_t n) {
  size_t len = p[0] < 0x80 ? 1 : (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3
             : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
  if (len == 0 || len > n)
    return 0;
  uint32_t c = len == 1 ? p[0] : p[0] & (0x7f >> len);
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    c = c << 6 | (p[i] & 0x3f);
  }
  static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (c < min[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
    return 0; /* overlong, beyond Unicode, or a surrogate */
  return len;
}

void fs_strbuf_json_bytes(fs_strbuf *b, const uint8_t *p, size_t len) {
  fs_strbuf_add(b, "\"", 1);
  for (size_t i = 0; i < len;) {
    size_t n = utf8_len(p + i, len - i);
    if (n == 0) {
      fs_strbuf_puts(b, "\\ufffd");
      i++;
    } else if (p[i] == '"' || p[i] == '\\') {
      char e[2] = {'\\', (char)p[i++]};
      fs_strbuf_add(b, e, 2);
    } else if (p[i] < 0x20 || p[i] == 0x7f) {
      fs_strbuf_printf(b, "\\u%04x", p[i++]);
    } else {
      fs_strbuf_add(b, p + i, n);
      i += n;
    }
  }
  fs_strbuf_add(b, "\"", 1);
}

void fs_strbuf_hex(fs_strbuf *b, const uint8_t *p, size_t len) {
  static const char digits[] = "0123456789abcdef";
  if (reserve(b, 2 * len))
    return;
  for (size_t i = 0; i < len; i++) {
    b->p[b->len++] = digits[p[i] >> 4];
    b->p[b->len++] = digits[p[i] & 15];
  }
  b->p[b->len] = '\0';
}
