/* test_keys.c - key pairs and key files: round trip, permissions, malformed
 * files, public keys given as hex or as a .pub file. */
#include "error.h"
#include "hex.h"
#include "keys.h"
#include "testutil.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

typedef struct fixture {
  char *tmp, *key, *pub;
  fs_keypair kp;
} fixture;

static int setup(void **state) {
  if (fs_crypto_init() != 0)
    return -1;
  fixture *f = calloc(1, sizeof *f);
  if (!f)
    return -1;
  f->tmp = tu_mkdtemp();
  f->key = tu_path(f->tmp, "device.key");
  f->pub = tu_path(f->tmp, "device.key.pub");
  if (fs_keypair_generate(&f->kp) != 0)
    return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  fs_keypair_free(&f->kp);
  tu_rmtree(f->tmp);
  free(f->key);
  free(f->pub);
  free(f->tmp);
  free(f);
  return 0;
}

static void write_file(const char *path, mode_t mode, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  assert_int_equal(chmod(path, mode), 0); /* regardless of umask */
}

static void test_generate(void **state) {
  fixture *f = *state;
  assert_non_null(f->kp.sk);
  /* The pair signs and verifies. */
  uint8_t sig[FS_SIG_LEN];
  crypto_sign_detached(sig, NULL, (const uint8_t *)"m", 1, f->kp.sk);
  assert_int_equal(crypto_sign_verify_detached(sig, (const uint8_t *)"m", 1, f->kp.pk), 0);
  fs_keypair other;
  assert_int_equal(fs_keypair_generate(&other), 0);
  assert_memory_not_equal(other.pk, f->kp.pk, FS_PK_LEN);
  fs_keypair_free(&other);
  assert_null(other.sk);
  fs_keypair_free(&other); /* safe twice */
}

static void test_save_load_round_trip(void **state) {
  fixture *f = *state;
  assert_int_equal(fs_keypair_save(&f->kp, f->key, "laptop 17, Dak Nen"), 0);
  fs_keypair got;
  assert_int_equal(fs_keypair_load(&got, f->key), 0);
  assert_memory_equal(got.pk, f->kp.pk, FS_PK_LEN);
  assert_memory_equal(got.sk, f->kp.sk, FS_SK_LEN);
  fs_keypair_free(&got);
  uint8_t pk[FS_PK_LEN];
  assert_int_equal(fs_pubkey_load(pk, f->pub), 0);
  assert_memory_equal(pk, f->kp.pk, FS_PK_LEN);
  /* Saving over an existing key is refused and leaves it intact. */
  fs_keypair other;
  assert_int_equal(fs_keypair_generate(&other), 0);
  assert_int_equal(fs_keypair_save(&other, f->key, "x"), FS_EINVAL);
  fs_keypair_free(&other);
  assert_int_equal(fs_keypair_load(&got, f->key), 0);
  assert_memory_equal(got.pk, f->kp.pk, FS_PK_LEN);
  fs_keypair_free(&got);
}

/* The comment is free text from the command line; whatever it holds, a key
 * that was saved must load again. */
static void test_comment_with_newline(void **state) {
  fixture *f = *state;
  assert_int_equal(fs_keypair_save(&f->kp, f->key, "officer Tran\nDak Nen"), 0);
  fs_keypair got;
  int rc = fs_keypair_load(&got, f->key);
  if (rc == 0)
    fs_keypair_free(&got);
  uint8_t pk[FS_PK_LEN];
  int prc = fs_pubkey_load(pk, f->pub);
  if (rc != 0 || prc != 0)
    fail_msg("saved with a two-line comment: fs_keypair_load %s, fs_pubkey_load %s",
             fs_errname(rc), fs_errname(prc));
}

static void test_secret_file_mode(void **state) {
  fixture *f = *state;
  mode_t old = umask(0); /* even with a permissive umask */
  int rc = fs_keypair_save(&f->kp, f->key, "c");
  umask(old);
  assert_int_equal(rc, 0);
  struct stat st;
  assert_int_equal(stat(f->key, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  /* The public file holds the public key and not the seed (the first half
   * of a libsodium secret key). */
  char seed[2 * 32 + 1], pk[2 * FS_PK_LEN + 1];
  fs_hex_encode(seed, f->kp.sk, 32);
  fs_hex_encode(pk, f->kp.pk, FS_PK_LEN);
  assert_int_equal(stat(f->pub, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0644);
  FILE *fp = fopen(f->pub, "r");
  assert_non_null(fp);
  char buf[1024];
  size_t n = fread(buf, 1, sizeof buf - 1, fp);
  fclose(fp);
  buf[n] = '\0';
  assert_non_null(strstr(buf, pk));
  assert_null(strstr(buf, seed));
}

static void test_readable_secret_refused(void **state) {
  fixture *f = *state;
  assert_int_equal(fs_keypair_save(&f->kp, f->key, "c"), 0);
  fs_keypair got;
  assert_int_equal(chmod(f->key, 0644), 0);
  assert_int_equal(fs_keypair_load(&got, f->key), FS_EKEYPERM);
  assert_null(got.sk);
  assert_int_equal(chmod(f->key, 0640), 0);
  assert_int_equal(fs_keypair_load(&got, f->key), FS_EKEYPERM);
  assert_int_equal(chmod(f->key, 0400), 0);
  assert_int_equal(fs_keypair_load(&got, f->key), 0);
  fs_keypair_free(&got);
}

static void test_malformed_secret(void **state) {
  fixture *f = *state;
  fs_keypair got;
  assert_int_equal(fs_keypair_load(&got, f->key), FS_EKEYFILE); /* missing */
  char hex[2 * FS_SK_LEN + 1];
  fs_hex_encode(hex, f->kp.sk, FS_SK_LEN);
  char text[512];
  for (int i = 0; i < 7; i++) {
    switch (i) {
    case 0: /* empty */
      text[0] = '\0';
      break;
    case 1: /* no key line */
      snprintf(text, sizeof text, "fieldsync secret key: c\n");
      break;
    case 2:
      snprintf(text, sizeof text, "fieldsync secret key: c\nnot hex at all\n");
      break;
    case 3: /* one byte short */
      snprintf(text, sizeof text, "fieldsync secret key: c\n%.126s\n", hex);
      break;
    case 4: /* one byte long */
      snprintf(text, sizeof text, "fieldsync secret key: c\n%sff\n", hex);
      break;
    case 5:
      snprintf(text, sizeof text, "fieldsync secret key: c\n%s\nextra line\n", hex);
      break;
    default: /* a non-hex digit */
      snprintf(text, sizeof text, "fieldsync secret key: c\n%.127sg\n", hex);
      break;
    }
    unlink(f->key);
    write_file(f->key, 0600, text);
    int rc = fs_keypair_load(&got, f->key);
    if (rc != FS_EKEYFILE)
      fail_msg("case %d: expected E_KEYFILE, got %s", i, fs_errname(rc));
    assert_null(got.sk);
  }
  /* The well-formed text loads (the cases above differ only in the flaw). */
  snprintf(text, sizeof text, "fieldsync secret key: c\n%s\n", hex);
  unlink(f->key);
  write_file(f->key, 0600, text);
  assert_int_equal(fs_keypair_load(&got, f->key), 0);
  assert_memory_equal(got.pk, f->kp.pk, FS_PK_LEN);
  fs_keypair_free(&got);
  /* A directory is not a key file. */
  assert_int_equal(fs_keypair_load(&got, f->tmp), FS_EKEYFILE);
}

static void test_pubkey_load(void **state) {
  fixture *f = *state;
  char hex[2 * FS_PK_LEN + 1];
  fs_hex_encode(hex, f->kp.pk, FS_PK_LEN);
  uint8_t pk[FS_PK_LEN];
  assert_int_equal(fs_pubkey_load(pk, hex), 0);
  assert_memory_equal(pk, f->kp.pk, FS_PK_LEN);
  /* A .pub file with and without its comment line. */
  char text[256];
  snprintf(text, sizeof text, "fieldsync public key: commune server\n%s\n", hex);
  write_file(f->pub, 0644, text);
  memset(pk, 0, sizeof pk);
  assert_int_equal(fs_pubkey_load(pk, f->pub), 0);
  assert_memory_equal(pk, f->kp.pk, FS_PK_LEN);
  unlink(f->pub);
  snprintf(text, sizeof text, "%s\n", hex);
  write_file(f->pub, 0644, text);
  memset(pk, 0, sizeof pk);
  assert_int_equal(fs_pubkey_load(pk, f->pub), 0);
  assert_memory_equal(pk, f->kp.pk, FS_PK_LEN);
  /* Refused: short hex, a missing file, a malformed file. */
  hex[62] = '\0';
  assert_int_equal(fs_pubkey_load(pk, hex), FS_EKEYFILE);
  char *missing = tu_path(f->tmp, "nope.pub");
  assert_int_equal(fs_pubkey_load(pk, missing), FS_EKEYFILE);
  free(missing);
  unlink(f->pub);
  write_file(f->pub, 0644, "fieldsync public key: x\nzz\n");
  assert_int_equal(fs_pubkey_load(pk, f->pub), FS_EKEYFILE);
}

static void test_hex(void **state) {
  (void)state;
  const uint8_t b[] = {0x00, 0x7f, 0xab, 0xff};
  char s[9];
  fs_hex_encode(s, b, sizeof b);
  assert_string_equal(s, "007fabff");
  uint8_t d[4];
  assert_int_equal(fs_hex_decode(d, 4, "007FABff"), 0);
  assert_memory_equal(d, b, 4);
  assert_int_equal(fs_hex_decode(d, 4, "007fab"), FS_EINVAL);
  assert_int_equal(fs_hex_decode(d, 4, "007fabff0"), FS_EINVAL);
  assert_int_equal(fs_hex_decode(d, 4, "007fabfg"), FS_EINVAL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_generate),
      T(test_save_load_round_trip),
      T(test_comment_with_newline),
      T(test_secret_file_mode),
      T(test_readable_secret_refused),
      T(test_malformed_secret),
      T(test_pubkey_load),
      T(test_hex),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
