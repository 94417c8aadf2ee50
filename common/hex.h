/* hex.h - lower-case hex encoding of byte strings (keys, ids, hashes). */
#ifndef FS_HEX_H
#define FS_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2*len hex digits and a NUL into out (size >= 2*len+1). */
void fs_hex_encode(char *out, const uint8_t *in, size_t len);

/* Decodes exactly 2*len hex digits from a NUL-terminated string into out.
 * Returns 0, or FS_EINVAL when the string has another length or a non-hex
 * character. */
int fs_hex_decode(uint8_t *out, size_t len, const char *hex);

#endif
