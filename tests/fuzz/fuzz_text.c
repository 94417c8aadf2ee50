/* fuzz_text.c - the small text decoders of common/, each against a
 * reference written here from its header's words.
 *
 * Input: byte 0 selects the decoder (mod 5), the rest is its input.
 *   0 fs_hex_decode   byte 1 = out length; the rest a C string. Accepts
 *                     exactly 2*len hex digits; fs_hex_encode gives them
 *                     back (lower case).
 *   1 fs_utf8_valid   equals a validator built from the table of
 *                     well-formed byte sequences in the Unicode standard.
 *   2 fs_area_valid,  equal a reference of the syntax in changeset.h; byte
 *     fs_area_within  1 splits the rest into area and scope.
 *   3 fs_addr_parse   accepts only host:port with the port as given, and
 *                     yields an IPv4 or IPv6 address.
 *   4 fs_value_print  one line without control bytes, quoted whenever it
 *                     holds a space, that unescapes to the value; a sealed
 *                     value prints as "<sealed>".
 */
#include "changeset.h"
#include "conn.h"
#include "error.h"
#include "fuzz_common.h"
#include "hex.h"
#include "seal.h"
#include "view.h"

#include <arpa/inet.h>
#include <ctype.h>

static char *cstr(const uint8_t *p, size_t n) {
  char *s = malloc(n + 1);
  FUZZ_CHECK(s, "malloc");
  memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

static void check_hex(fuzz_in *in) {
  size_t len = fuzz_u8(in), n;
  const uint8_t *p = fuzz_take(in, in->n, &n);
  char *s = cstr(p, n);
  uint8_t out[256];
  int rc = fs_hex_decode(out, len, s);
  bool ok = strlen(s) == 2 * len;
  for (size_t i = 0; ok && s[i]; i++)
    ok = isxdigit((unsigned char)s[i]);
  FUZZ_CHECK(rc == (ok ? 0 : FS_EINVAL), "fs_hex_decode returned %d for '%s'", rc, s);
  if (rc == 0) {
    char back[2 * 256 + 1];
    fs_hex_encode(back, out, len);
    for (size_t i = 0; s[i]; i++)
      s[i] = (char)tolower((unsigned char)s[i]);
    FUZZ_CHECK(strcmp(back, s) == 0, "hex round trip '%s' -> '%s'", s, back);
  }
  free(s);
}

/* Unicode 15, table 3-7: the well-formed UTF-8 byte sequences. */
static bool ref_utf8(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    size_t k;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c <= 0x7f) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      k = 1;
    } else if (c == 0xe0) {
      k = 2, lo = 0xa0;
    } else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
      k = 2;
    } else if (c == 0xed) {
      k = 2, hi = 0x9f;
    } else if (c == 0xf0) {
      k = 3, lo = 0x90;
    } else if (c >= 0xf1 && c <= 0xf3) {
      k = 3;
    } else if (c == 0xf4) {
      k = 3, hi = 0x8f;
    } else {
      return false;
    }
    if (n - i <= k)
      return false;
    if (p[i + 1] < lo || p[i + 1] > hi)
      return false;
    for (size_t j = 2; j <= k; j++)
      if (p[i + j] < 0x80 || p[i + j] > 0xbf)
        return false;
    i += k + 1;
  }
  return true;
}

static void check_utf8(fuzz_in *in) {
  size_t n;
  const uint8_t *p = fuzz_take(in, in->n, &n);
  bool got = fs_utf8_valid(p, n), want = ref_utf8(p, n);
  if (got != want)
    fuzz_dump("text", p, n);
  FUZZ_CHECK(got == want, "fs_utf8_valid says %d, the Unicode table %d", got, want);
}

static bool ref_area(const char *a) {
  size_t n = strlen(a);
  if (n == 0 || n > FS_MAX_AREA)
    return false;
  bool seg = false; /* the current segment has a character */
  for (size_t i = 0; i < n; i++) {
    if (a[i] == '.') {
      if (!seg)
        return false;
      seg = false;
    } else if (isalnum((unsigned char)a[i]) && (unsigned char)a[i] < 0x80) {
      seg = true;
    } else if (a[i] == '_') {
      seg = true;
    } else {
      return false;
    }
  }
  return seg;
}

static void check_area(fuzz_in *in) {
  size_t split = fuzz_u8(in), n;
  const uint8_t *p = fuzz_take(in, in->n, &n);
  if (split > n)
    split = n;
  char *area = cstr(p, split), *scope = cstr(p + split, n - split);
  bool got = fs_area_valid(area);
  FUZZ_CHECK(got == ref_area(area), "fs_area_valid('%s') says %d", area, got);
  got = fs_area_valid(scope);
  FUZZ_CHECK(got == ref_area(scope), "fs_area_valid('%s') says %d", scope, got);
  if (ref_area(area) && (ref_area(scope) || scope[0] == '\0')) {
    size_t sn = strlen(scope);
    bool want = sn == 0 || strcmp(area, scope) == 0 ||
                (strncmp(area, scope, sn) == 0 && area[sn] == '.');
    got = fs_area_within(area, scope);
    FUZZ_CHECK(got == want, "fs_area_within('%s', '%s') says %d", area, scope, got);
    /* Within is a partial order on valid codes: within both ways is equal. */
    if (got && sn > 0 && fs_area_within(scope, area))
      FUZZ_CHECK(strcmp(area, scope) == 0, "'%s' and '%s' within each other", area,
                 scope);
  }
  free(area);
  free(scope);
}

static void check_addr(fuzz_in *in) {
  size_t n;
  const uint8_t *p = fuzz_take(in, in->n, &n);
  char *s = cstr(p, n);
  struct sockaddr_storage ss;
  int rc = fs_addr_parse(s, &ss);
  FUZZ_CHECK(rc == 0 || rc == FS_EINVAL, "fs_addr_parse returned %d", rc);
  if (rc == 0) {
    const char *colon = strrchr(s, ':');
    FUZZ_CHECK(colon && colon != s && colon[1], "accepted '%s' without a port", s);
    long want = strtol(colon + 1, NULL, 10);
    unsigned port;
    if (ss.ss_family == AF_INET)
      port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else
      port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    FUZZ_CHECK(ss.ss_family == AF_INET || ss.ss_family == AF_INET6,
               "family %d from '%s'", ss.ss_family, s);
    FUZZ_CHECK(want >= 0 && want <= 65535 && port == (unsigned)want,
               "port %u from '%s'", port, s);
  }
  free(s);
}

static int unhex(int c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void check_print(fuzz_in *in) {
  size_t n;
  const uint8_t *v = fuzz_take(in, in->n, &n);
  char *out = NULL;
  size_t olen = 0;
  FILE *f = open_memstream(&out, &olen);
  FUZZ_CHECK(f, "open_memstream");
  fs_value_print(f, v, n);
  FUZZ_CHECK(fclose(f) == 0, "fclose");
  if (fs_value_sealed(v, n)) { /* ciphertext is never shown (seal.h) */
    FUZZ_CHECK(strcmp(out, "<sealed>") == 0, "a sealed value printed as %s", out);
    free(out);
    return;
  }
  bool quoted = olen >= 2 && out[0] == '"' && out[olen - 1] == '"';
  for (size_t i = 0; i < olen; i++) {
    unsigned char c = (unsigned char)out[i];
    FUZZ_CHECK(c >= ' ' && c != 0x7f, "control byte %02x in printed value", c);
    FUZZ_CHECK(quoted || c != ' ', "unquoted printed value holds a space");
  }
  /* Unescape and compare. */
  uint8_t *back = malloc(olen + 1);
  FUZZ_CHECK(back, "malloc");
  size_t bn = 0, i = quoted ? 1 : 0, end = quoted ? olen - 1 : olen;
  while (i < end) {
    char c = out[i++];
    if (c != '\\') {
      FUZZ_CHECK(!quoted || c != '"', "bare quote inside a quoted value");
      back[bn++] = (uint8_t)c;
      continue;
    }
    FUZZ_CHECK(i < end, "value ends in a backslash");
    c = out[i++];
    if (c == 'n') {
      back[bn++] = '\n';
    } else if (c == 'x') {
      FUZZ_CHECK(i + 2 <= end && unhex(out[i]) >= 0 && unhex(out[i + 1]) >= 0,
                 "bad \\x escape");
      back[bn++] = (uint8_t)(unhex(out[i]) << 4 | unhex(out[i + 1]));
      i += 2;
    } else {
      FUZZ_CHECK(c == '"' || c == '\\', "unknown escape \\%c", c);
      back[bn++] = (uint8_t)c;
    }
  }
  if (bn != n || (n && memcmp(back, v, n) != 0)) {
    fuzz_dump("value", v, n);
    fuzz_dump("printed", (const uint8_t *)out, olen);
  }
  FUZZ_CHECK(bn == n && (n == 0 || memcmp(back, v, n) == 0),
             "printed value does not unescape to the value");
  free(back);
  free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size};
  switch (fuzz_u8(&in) % 5) {
  case 0:
    check_hex(&in);
    break;
  case 1:
    check_utf8(&in);
    break;
  case 2:
    check_area(&in);
    break;
  case 3:
    check_addr(&in);
    break;
  default:
    check_print(&in);
    break;
  }
  return 0;
}
