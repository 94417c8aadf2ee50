/* fuzz_crypto.c - the secret handshake, the encrypted frames and sealed
 * values: the decoders in front of everything else a peer sends.
 *
 * Input: byte 0 selects the mode (mod 3).
 *   0 channel  64 bytes: the client's opening, read by the server of the
 *              fixed test handshake (fuzz_hs_pair). Then frames the test
 *              client seals, each as: u8 op, u8 pos, u16 length, plaintext.
 *              op (mod 6) is what happens to that frame on the wire: 0
 *              nothing, 1 a ciphertext bit flips (at pos), 2 a length bit
 *              flips, 3 the frame sent before is sent again instead, 4
 *              it is dropped, 5 its last byte is cut (and the stream
 *              ends).
 *   1 sealed   the rest is a field value.
 *   2 opening  the rest is an ephemeral key E, sent with a correct HMAC.
 *
 * Invariants:
 * - fs_hs_read_hello refuses (FS_EREFUSED) exactly the openings whose HMAC
 *   under the network key does not verify, fails (FS_ECRYPTO) exactly when
 *   X25519 with E fails, and on the genuine opening derives the keys the
 *   client derived, one per direction.
 * - The server accepts, in order, exactly the frames sealed before the
 *   first one harmed on the wire, each with its plaintext; from the harmed
 *   one on it accepts nothing (altered, replayed, dropped, truncated and
 *   resized frames all fail).
 * - fs_seal_open refuses with FS_EINVAL exactly what fs_value_sealed says
 *   is not sealed, opens what fs_seal made back to the same bytes (NUL
 *   terminated), and fails on one flipped bit; a sealed value prints as
 *   "<sealed>".
 */
#include "error.h"
#include "frame.h"
#include "fuzz_common.h"
#include "handshake.h"
#include "seal.h"
#include "view.h"

/* The fixed pair after the handshake, and its server before it. */
static fs_hs t_cli, t_srv, t_srv0;

static void setup(void) {
  static bool done;
  if (done)
    return;
  const fuzz_keys *k = fuzz_keys_get();
  FUZZ_CHECK(fuzz_hs_pair(&t_cli, &t_srv), "test handshake failed");
  fs_hs_init(&t_srv0, false, k->netkey);
  memset(t_srv0.eph_sk, 0x88, sizeof t_srv0.eph_sk); /* as fuzz_hs_pair */
  crypto_scalarmult_base(t_srv0.eph_pk, t_srv0.eph_sk);
  done = true;
}

/* Reads an opening on a fresh copy of the server; checks the codes. */
static int read_opening(fs_hs *srv, const uint8_t in[FS_HS_HELLO_LEN]) {
  const fuzz_keys *k = fuzz_keys_get();
  *srv = t_srv0;
  int rc = fs_hs_read_hello(srv, in);
  bool auth = crypto_auth_verify(in, in + 32, 32, k->netkey) == 0;
  if (!auth) {
    FUZZ_CHECK(rc == FS_EREFUSED, "an opening without a valid HMAC gave %d", rc);
    return rc;
  }
  uint8_t shared[32];
  bool dh = crypto_scalarmult(shared, t_srv0.eph_sk, in + 32) == 0;
  FUZZ_CHECK(rc == (dh ? 0 : FS_ECRYPTO), "opening with X25519 %s gave %d",
             dh ? "ok" : "failing", rc);
  if (rc == 0)
    FUZZ_CHECK(srv->done && memcmp(srv->tx.key, srv->rx.key, 32) != 0 &&
                   srv->tx.counter == 0 && srv->rx.counter == 0,
               "keys after the handshake");
  return rc;
}

typedef struct wire {
  uint8_t *p;
  size_t n, cap;
} wire;

static void put_wire(wire *w, const uint8_t *p, size_t n) {
  if (w->n + n > w->cap) {
    w->cap = (w->n + n) * 2;
    w->p = realloc(w->p, w->cap);
    FUZZ_CHECK(w->p, "realloc");
  }
  memcpy(w->p + w->n, p, n);
  w->n += n;
}

#define MAX_FRAMES 64

static void check_channel(fuzz_in *in) {
  size_t got;
  const uint8_t *opening = fuzz_take(in, FS_HS_HELLO_LEN, &got);
  if (got < FS_HS_HELLO_LEN)
    return;
  fs_hs srv;
  if (read_opening(&srv, opening) != 0)
    return;
  uint8_t genuine[FS_HS_HELLO_LEN];
  fs_hs_hello(&t_cli, genuine);
  if (memcmp(opening, genuine, sizeof genuine) != 0)
    return; /* another client: its keys are unknown here */
  FUZZ_CHECK(memcmp(srv.rx.key, t_cli.tx.key, 32) == 0 &&
                 memcmp(srv.tx.key, t_cli.rx.key, 32) == 0 &&
                 memcmp(srv.auth, t_cli.auth, 32) == 0,
             "the two ends derived different keys");

  /* The client seals; the wire harms. */
  fs_cipher tx = t_cli.tx;
  wire w = {0};
  const uint8_t *plain[MAX_FRAMES];
  size_t plen[MAX_FRAMES], nframes = 0, harmed = SIZE_MAX;
  uint8_t *prev = NULL;
  size_t prev_n = 0;
  while (nframes < MAX_FRAMES && in->n > 0) {
    uint8_t op = fuzz_u8(in) % 6, pos = fuzz_u8(in);
    size_t n;
    const uint8_t *pt = fuzz_take_lp(in, &n);
    size_t fn = FS_FRAME_HDR + n + FS_CIPHER_ABYTES;
    uint8_t *f = malloc(fn);
    FUZZ_CHECK(f, "malloc");
    uint32_t len = (uint32_t)(n + FS_CIPHER_ABYTES);
    f[0] = (uint8_t)(len >> 24), f[1] = (uint8_t)(len >> 16);
    f[2] = (uint8_t)(len >> 8), f[3] = (uint8_t)len;
    memcpy(f + FS_FRAME_HDR, pt, n);
    fs_cipher_seal(&tx, f + FS_FRAME_HDR, n, f, FS_FRAME_HDR);
    plain[nframes] = pt;
    plen[nframes] = n;
    if (op == 3 && !prev)
      op = 0; /* nothing to replay yet */
    if (op != 0 && harmed == SIZE_MAX)
      harmed = nframes;
    switch (op) {
    case 0:
      put_wire(&w, f, fn);
      break;
    case 1:
      f[FS_FRAME_HDR + pos % (fn - FS_FRAME_HDR)] ^= (uint8_t)(1u << (pos % 8));
      put_wire(&w, f, fn);
      break;
    case 2:
      f[pos % FS_FRAME_HDR] ^= (uint8_t)(1u << (pos / 4 % 8));
      put_wire(&w, f, fn);
      break;
    case 3:
      put_wire(&w, prev, prev_n);
      break;
    case 4:
      break;
    default:
      put_wire(&w, f, fn - 1);
      break;
    }
    if (op == 3 || op == 4) { /* prev stays what last went on the wire */
      free(f);
    } else {
      free(prev);
      prev = f; /* as it went on the wire (op 1 and 2 changed it in place) */
      prev_n = op == 5 ? fn - 1 : fn;
    }
    nframes++;
    /* A cut frame ends the stream: bytes after it could happen to complete
     * it as it was. */
    if (op == 5)
      break;
  }
  free(prev);

  /* The server reads it all, as conn.c does. */
  fs_frame_reader rd;
  fs_frame_reader_init(&rd, FS_FRAME_MAX + FS_CIPHER_ABYTES);
  size_t accepted = 0;
  fs_cipher rx = srv.rx;
  int rc = w.n ? fs_frame_reader_feed(&rd, w.p, w.n) : 0;
  while (rc == 0) {
    const uint8_t *p;
    size_t len, out_len;
    rc = fs_frame_reader_next(&rd, &p, &len);
    if (rc != 1)
      break;
    rc = fs_cipher_open(&rx, (uint8_t *)p, len, p - FS_FRAME_HDR, FS_FRAME_HDR, &out_len);
    if (rc != 0) {
      FUZZ_CHECK(rc == FS_ECRYPTO, "fs_cipher_open returned %d", rc);
      break;
    }
    FUZZ_CHECK(accepted < nframes && accepted < harmed,
               "frame %zu accepted although frame %zu was harmed on the wire", accepted,
               harmed);
    FUZZ_CHECK(out_len == plen[accepted] &&
                   (out_len == 0 || memcmp(p, plain[accepted], out_len) == 0),
               "frame %zu decrypted to other bytes", accepted);
    accepted++;
  }
  size_t want = harmed == SIZE_MAX ? nframes : harmed;
  FUZZ_CHECK(accepted == want, "%zu of %zu frames accepted, want %zu (harmed: %zu)",
             accepted, nframes, want, harmed);
  fs_frame_reader_free(&rd);
  free(w.p);
}

static void check_sealed(fuzz_in *in) {
  const fuzz_keys *k = fuzz_keys_get();
  size_t n;
  const uint8_t *v = fuzz_take(in, in->n, &n);
  uint8_t *out = NULL;
  size_t out_len = 0;
  bool sealed = n >= FS_SEAL_PREFIX_LEN + crypto_box_SEALBYTES && v[0] == 0 &&
                v[1] == 'S' && v[2] == '1';
  FUZZ_CHECK(fs_value_sealed(v, n) == sealed, "fs_value_sealed says %d", !sealed);
  int rc = fs_seal_open(k->seal_pk, k->seal_sk, v, n, &out, &out_len);
  if (!sealed)
    FUZZ_CHECK(rc == FS_EINVAL, "fs_seal_open of a plain value returned %d", rc);
  else
    FUZZ_CHECK(rc == 0 || rc == FS_ECRYPTO, "fs_seal_open returned %d", rc);
  if (rc == 0) {
    FUZZ_CHECK(out_len == n - FS_SEAL_PREFIX_LEN - crypto_box_SEALBYTES &&
                   out[out_len] == '\0',
               "opened value length");
    free(out);
  }

  /* Round trip. */
  uint8_t *s;
  size_t sn;
  FUZZ_CHECK(fs_seal(k->seal_pk, v, n, &s, &sn) == 0, "fs_seal");
  FUZZ_CHECK(fs_value_sealed(s, sn), "fs_seal made a value fs_value_sealed denies");
  rc = fs_seal_open(k->seal_pk, k->seal_sk, s, sn, &out, &out_len);
  FUZZ_CHECK(rc == 0 && out_len == n && (n == 0 || memcmp(out, v, n) == 0) &&
                 out[n] == '\0',
             "open(seal(v)) returned %d", rc);
  free(out);

  char *printed = NULL;
  size_t plen = 0;
  FILE *f = open_memstream(&printed, &plen);
  FUZZ_CHECK(f, "open_memstream");
  fs_value_print(f, s, sn);
  fclose(f);
  FUZZ_CHECK(strcmp(printed, "<sealed>") == 0, "a sealed value printed as %s", printed);
  free(printed);

  size_t bit = (n ? v[0] : 0) * 131u % (sn * 8);
  s[bit / 8] ^= (uint8_t)(1u << (bit % 8));
  rc = fs_seal_open(k->seal_pk, k->seal_sk, s, sn, &out, &out_len);
  FUZZ_CHECK(rc == (bit / 8 < FS_SEAL_PREFIX_LEN ? FS_EINVAL : FS_ECRYPTO),
             "a sealed value with bit %zu flipped gave %d", bit, rc);
  free(s);
}

static void check_opening(fuzz_in *in) {
  const fuzz_keys *k = fuzz_keys_get();
  uint8_t opening[FS_HS_HELLO_LEN] = {0};
  size_t n;
  const uint8_t *e = fuzz_take(in, 32, &n);
  memcpy(opening + 32, e, n);
  crypto_auth(opening, opening + 32, 32, k->netkey);
  fs_hs srv;
  read_opening(&srv, opening);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup();
  fuzz_in in = {data, size};
  switch (fuzz_u8(&in) % 3) {
  case 0:
    check_channel(&in);
    break;
  case 1:
    check_sealed(&in);
    break;
  default:
    check_opening(&in);
    break;
  }
  return 0;
}
