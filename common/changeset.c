/* changeset.c - sealing and opening signed change sets. */
#include "changeset.h"

#include "decode_limit.h"
#include "error.h"
#include "hlc.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

void fs_changeset_id(const uint8_t *body, size_t len, uint8_t id[FS_HASH_LEN]) {
  crypto_generichash(id, FS_HASH_LEN, body, len, NULL, 0);
}

int fs_changeset_seal(const Fs__ChangeSet *cs, const uint8_t *sk, uint8_t **body,
                      size_t *body_len, uint8_t sig[FS_SIG_LEN],
                      uint8_t id[FS_HASH_LEN]) {
  size_t n = fs__change_set__get_packed_size(cs);
  if (n > FS_BODY_MAX)
    return FS_ETOOBIG;
  uint8_t *b = malloc(n ? n : 1);
  if (!b)
    return FS_ENOMEM;
  fs__change_set__pack(cs, b);
  crypto_sign_detached(sig, NULL, b, n, sk);
  fs_changeset_id(b, n, id);
  *body = b;
  *body_len = n;
  return 0;
}

bool fs_area_valid(const char *area) {
  size_t n = strnlen(area, FS_MAX_AREA + 1);
  if (n == 0 || n > FS_MAX_AREA)
    return false;
  bool seg_empty = true;
  for (size_t i = 0; i < n; i++) {
    char c = area[i];
    if (c == '.') {
      if (seg_empty)
        return false;
      seg_empty = true;
    } else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
               (c >= '0' && c <= '9') || c == '_') {
      seg_empty = false;
    } else {
      return false;
    }
  }
  return !seg_empty;
}

bool fs_area_within(const char *area, const char *scope) {
  size_t n = strlen(scope);
  if (n == 0)
    return true;
  return strncmp(area, scope, n) == 0 && (area[n] == '\0' || area[n] == '.');
}

bool fs_ident_valid(const char *s, size_t n, size_t max) {
  if (n == 0 || n > max)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
      return false;
  return true;
}

bool fs_record_id_valid(const char *id) {
  return fs_ident_valid(id, strnlen(id, FS_MAX_ID + 1), FS_MAX_ID);
}

static bool str_ok(const char *s, size_t max, bool allow_empty) {
  size_t n = strnlen(s, max + 1);
  return n <= max && (allow_empty || n > 0);
}

/* Every bound a decoded body must keep; the decoder already checked wire
 * types and lengths against the buffer. */
int fs_changeset_check(const Fs__ChangeSet *cs) {
  if (cs->device.len != FS_PK_LEN || cs->prev.len != FS_HASH_LEN || cs->seq == 0 ||
      cs->hlc == 0 || cs->hlc >= FS_HLC_LIMIT)
    return FS_EINVAL;
  if (!fs_area_valid(cs->area))
    return FS_EINVAL;
  if (cs->n_changes == 0 || cs->n_changes > FS_MAX_CHANGES)
    return FS_ELIMIT;
  for (size_t i = 0; i < cs->n_changes; i++) {
    const Fs__Change *ch = cs->changes[i];
    if (!str_ok(ch->record_id, FS_MAX_ID, false) ||
        !str_ok(ch->record_type, FS_MAX_NAME, false))
      return FS_EINVAL;
    if (ch->n_writes > FS_MAX_WRITES)
      return FS_ELIMIT;
    if (ch->hlc > cs->hlc)
      return FS_EINVAL; /* the set's clock is the greatest of its changes' */
    for (size_t j = 0; j < ch->n_writes; j++) {
      const Fs__FieldWrite *w = ch->writes[j];
      if (!str_ok(w->name, FS_MAX_NAME, false) || w->value.len > FS_MAX_VALUE)
        return FS_ELIMIT;
      if (w->hlc == 0 || w->hlc >= FS_HLC_LIMIT || w->base_hlc >= w->hlc)
        return FS_EINVAL; /* a write is newer than what it saw */
    }
  }
  return 0;
}

/* a NULL: malloc, and a refused body is freed; otherwise the arena keeps
 * whatever was decoded until it is freed. Either way the decode takes at
 * most fs_decode_limit(body_len). sig NULL: the signature was checked
 * before the body was stored (fs_changeset_open_stored). */
static int open_set(const uint8_t *body, size_t body_len, const uint8_t *sig,
                    size_t sig_len, fs_arena *a, Fs__ChangeSet **out,
                    uint8_t id[FS_HASH_LEN]) {
  if (body_len > FS_BODY_MAX)
    return FS_ETOOBIG;
  fs_decode d;
  fs_decode_begin(&d, a, body_len);
  Fs__ChangeSet *cs = fs__change_set__unpack(&d.alloc, body_len, body);
  fs_decode_end(&d);
  if (!cs)
    return FS_EDECODE;
  int rc = 0;
  if (cs->device.len != FS_PK_LEN ||
      (sig && (sig_len != FS_SIG_LEN ||
               crypto_sign_verify_detached(sig, body, body_len, cs->device.data) != 0)))
    rc = FS_EBADSIG;
  else
    rc = fs_changeset_check(cs);
  if (rc != 0) {
    if (!a)
      fs__change_set__free_unpacked(cs, NULL);
    return rc;
  }
  fs_changeset_id(body, body_len, id);
  *out = cs;
  return 0;
}

int fs_changeset_open(const uint8_t *body, size_t body_len, const uint8_t *sig,
                      size_t sig_len, Fs__ChangeSet **out, uint8_t id[FS_HASH_LEN]) {
  return open_set(body, body_len, sig, sig_len, NULL, out, id);
}

int fs_changeset_open_stored(const uint8_t *body, size_t body_len, Fs__ChangeSet **out,
                             uint8_t id[FS_HASH_LEN]) {
  return open_set(body, body_len, NULL, 0, NULL, out, id);
}

int fs_changeset_open_in(const uint8_t *body, size_t body_len, const uint8_t *sig,
                         size_t sig_len, fs_arena *a, Fs__ChangeSet **out,
                         uint8_t id[FS_HASH_LEN]) {
  return open_set(body, body_len, sig, sig_len, a, out, id);
}

size_t fs_changeset_arena_chunk(size_t body_bytes) {
  /* Measured: bench sets (one record, ~700-byte body) decode to 1.9 times
   * their bytes, a dozen short fields to 2.3 (test_open_in_arena). */
  return body_bytes / 2 * 5 + 1024;
}

bool fs_utf8_valid(const uint8_t *p, size_t len) {
  size_t i = 0;
  while (i < len) {
    /* Most text is ASCII: eight bytes at a time while no high bit is set. */
    while (len - i >= 8) {
      uint64_t w;
      memcpy(&w, p + i, 8);
      if (w & UINT64_C(0x8080808080808080))
        break;
      i += 8;
    }
    if (i == len)
      break;
    uint8_t c = p[i];
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (len - i <= n)
      return false;
    for (size_t j = 1; j <= n; j++) {
      if ((p[i + j] & 0xc0) != 0x80)
        return false;
      cp = cp << 6 | (p[i + j] & 0x3f);
    }
    static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}
