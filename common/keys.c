/* keys.c - key generation and key files (signify-style: small and strict). */
#include "keys.h"

#include "error.h"
#include "hex.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEYFILE_MAX 512 /* comment line + 128 hex digits, with room */

int fs_crypto_init(void) { return sodium_init() < 0 ? FS_ECRYPTO : 0; }

int fs_keypair_generate(fs_keypair *kp) {
  kp->sk = sodium_malloc(FS_SK_LEN);
  if (!kp->sk)
    return FS_ENOMEM;
  crypto_sign_keypair(kp->pk, kp->sk);
  return 0;
}

void fs_keypair_free(fs_keypair *kp) {
  if (kp->sk)
    sodium_free(kp->sk); /* sodium_free wipes before freeing */
  kp->sk = NULL;
}

static int write_new_file(const char *path, mode_t mode, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0)
    return errno == EEXIST ? FS_EINVAL : -errno;
  size_t len = strlen(text), off = 0;
  int rc = 0;
  while (off < len) {
    ssize_t n = write(fd, text + off, len - off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      rc = -errno;
      break;
    }
    off += (size_t)n;
  }
  if (rc == 0 && fsync(fd) != 0)
    rc = -errno;
  if (close(fd) != 0 && rc == 0)
    rc = -errno;
  if (rc != 0)
    unlink(path);
  return rc;
}

int fs_secret_file_write(const char *path, const char *text) {
  return write_new_file(path, 0600, text);
}

/* The comment stays one line: control bytes become spaces. */
static void comment_line(char *out, size_t cap, const char *comment) {
  size_t n = 0;
  for (; comment[n] && n + 1 < cap; n++)
    out[n] = (unsigned char)comment[n] < 0x20 ? ' ' : comment[n];
  out[n] = '\0';
}

int fs_keypair_save(const fs_keypair *kp, const char *path, const char *comment) {
  char pubpath[4096];
  if (snprintf(pubpath, sizeof pubpath, "%s.pub", path) >= (int)sizeof pubpath)
    return FS_EINVAL;
  /* The text holding the secret is in guarded memory too, and wiped. */
  char *text = sodium_malloc(KEYFILE_MAX);
  if (!text)
    return FS_ENOMEM;
  char hex[2 * FS_SK_LEN + 1], line[101];
  comment_line(line, sizeof line, comment);
  fs_hex_encode(hex, kp->sk, FS_SK_LEN);
  snprintf(text, KEYFILE_MAX, "fieldsync secret key: %s\n%s\n", line, hex);
  sodium_memzero(hex, sizeof hex);
  int rc = fs_secret_file_write(path, text);
  sodium_free(text);
  if (rc != 0)
    return rc;
  char pub[256], pkhex[2 * FS_PK_LEN + 1];
  fs_hex_encode(pkhex, kp->pk, FS_PK_LEN);
  snprintf(pub, sizeof pub, "fieldsync public key: %s\n%s\n", line, pkhex);
  rc = write_new_file(pubpath, 0644, pub);
  if (rc != 0)
    unlink(path);
  return rc;
}

/* Reads at most KEYFILE_MAX-1 bytes into buf; returns the second line (or
 * the only line) without its newline, or NULL when malformed. */
static char *key_line(char *buf) {
  char *nl = strchr(buf, '\n');
  char *line = buf;
  if (nl && strncmp(buf, "fieldsync ", 10) == 0)
    line = nl + 1;
  size_t n = strcspn(line, "\r\n");
  if (line[n] != '\0' && line[n + strspn(line + n, "\r\n")] != '\0')
    return NULL; /* trailing garbage after the key line */
  line[n] = '\0';
  return line;
}

int fs_secret_file_read(const char *path, char *buf, size_t cap, char **line) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return FS_EKEYFILE;
  struct stat st;
  int rc = 0;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    rc = FS_EKEYFILE;
  else if (st.st_mode & (S_IRWXG | S_IRWXO))
    rc = FS_EKEYPERM;
  ssize_t n = rc ? -1 : read(fd, buf, cap - 1);
  close(fd);
  if (rc)
    return rc;
  if (n <= 0)
    return FS_EKEYFILE;
  buf[n] = '\0';
  *line = key_line(buf);
  return 0;
}

int fs_keypair_load(fs_keypair *kp, const char *path) {
  kp->sk = NULL;
  char *buf = sodium_malloc(KEYFILE_MAX), *line = NULL;
  if (!buf)
    return FS_ENOMEM;
  int rc = fs_secret_file_read(path, buf, KEYFILE_MAX, &line);
  if (rc == 0) {
    rc = FS_EKEYFILE;
    kp->sk = sodium_malloc(FS_SK_LEN);
    if (!kp->sk)
      rc = FS_ENOMEM;
    else if (line && fs_hex_decode(kp->sk, FS_SK_LEN, line) == 0 &&
             crypto_sign_ed25519_sk_to_pk(kp->pk, kp->sk) == 0)
      rc = 0;
  }
  sodium_free(buf);
  if (rc != 0)
    fs_keypair_free(kp);
  return rc;
}

int fs_pubkey_load(uint8_t pk[FS_PK_LEN], const char *path_or_hex) {
  if (fs_hex_decode(pk, FS_PK_LEN, path_or_hex) == 0)
    return 0;
  FILE *f = fopen(path_or_hex, "re");
  if (!f)
    return FS_EKEYFILE;
  char buf[KEYFILE_MAX];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *line = key_line(buf);
  return line && fs_hex_decode(pk, FS_PK_LEN, line) == 0 ? 0 : FS_EKEYFILE;
}
