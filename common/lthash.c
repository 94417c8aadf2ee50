/* lthash.c - LtHash16 (lthash.h). */
#include "lthash.h"

#include <sodium.h>
#include <string.h>

/* Lanes are little-endian on disk and in the digest; in memory they are
 * host order, so the adds below are plain u16 arithmetic the compiler
 * vectorises. */
static void lanes_from_le(uint16_t *lane, const uint8_t *in) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  for (size_t i = 0; i < FS_LTHASH_LANES; i++)
    lane[i] = (uint16_t)(in[2 * i] | in[2 * i + 1] << 8);
#else
  memcpy(lane, in, FS_LTHASH_BYTES);
#endif
}

static void lanes_to_le(uint8_t *out, const uint16_t *lane) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  for (size_t i = 0; i < FS_LTHASH_LANES; i++) {
    out[2 * i] = (uint8_t)lane[i];
    out[2 * i + 1] = (uint8_t)(lane[i] >> 8);
  }
#else
  memcpy(out, lane, FS_LTHASH_BYTES);
#endif
}

void fs_lthash_init(fs_lthash *h) {
  memset(h, 0, sizeof *h);
}

void fs_lthash_record(fs_lthash *elem, const uint8_t *key, size_t klen,
                      const uint8_t *state, size_t slen) {
  uint8_t lens[8], seed[crypto_stream_chacha20_ietf_KEYBYTES];
  static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES];
  uint64_t l = (uint64_t)klen << 32 | (uint32_t)slen;
  for (int i = 7; i >= 0; i--, l >>= 8)
    lens[i] = (uint8_t)l;
  crypto_generichash_state g;
  crypto_generichash_init(&g, NULL, 0, sizeof seed);
  crypto_generichash_update(&g, lens, sizeof lens);
  crypto_generichash_update(&g, key, klen);
  crypto_generichash_update(&g, state, slen);
  crypto_generichash_final(&g, seed, sizeof seed);
  /* The seed keys this one stream and nothing else, so a fixed nonce is
   * fine: equal elements are meant to give equal vectors. */
  uint8_t stream[FS_LTHASH_BYTES];
  crypto_stream_chacha20_ietf(stream, sizeof stream, nonce, seed);
  lanes_from_le(elem->lane, stream);
}

void fs_lthash_add(fs_lthash *h, const fs_lthash *x) {
  for (size_t i = 0; i < FS_LTHASH_LANES; i++)
    h->lane[i] = (uint16_t)(h->lane[i] + x->lane[i]);
}

void fs_lthash_sub(fs_lthash *h, const fs_lthash *x) {
  for (size_t i = 0; i < FS_LTHASH_LANES; i++)
    h->lane[i] = (uint16_t)(h->lane[i] - x->lane[i]);
}

void fs_lthash_encode(const fs_lthash *h, uint8_t out[FS_LTHASH_BYTES]) {
  lanes_to_le(out, h->lane);
}

void fs_lthash_decode(fs_lthash *h, const uint8_t in[FS_LTHASH_BYTES]) {
  lanes_from_le(h->lane, in);
}

void fs_lthash_finalize(const fs_lthash *h, uint8_t out[FS_LTHASH_DIGEST]) {
  uint8_t enc[FS_LTHASH_BYTES];
  fs_lthash_encode(h, enc);
  crypto_generichash(out, FS_LTHASH_DIGEST, enc, sizeof enc, NULL, 0);
}
