/* test_monitor.c - the pieces of monitoring that need no running tree:
 * states of a status row, ages across hops, the queue's oldest set, the
 * per-peer table's bound, JSON of arbitrary bytes, the monitoring options
 * of the configuration, the admin port's token rules. */
#include "admin.h"
#include "config.h"
#include "error.h"
#include "hlc.h"
#include "peers.h"
#include "status.h"
#include "store.h"
#include "strbuf.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

static Fs__NodeStatus row(void) {
  Fs__NodeStatus n = FS__NODE_STATUS__INIT;
  n.reported_ms = 10 * 3600 * 1000;
  n.has_parent = true;
  n.parent_connected = true;
  n.log_seq = n.parent_cursor = 7;
  return n;
}

static void test_states(void **state) {
  (void)state;
  Fs__NodeStatus n = row();
  assert_string_equal(fs_status_state(&n, 0, 5000), "in_sync");
  assert_string_equal(fs_status_state(&n, 5000, 5000), "in_sync"); /* not older */
  assert_string_equal(fs_status_state(&n, 5001, 5000), "stale");
  n.log_seq = 8;
  assert_string_equal(fs_status_state(&n, 0, 5000), "lagging");
  n.log_seq = 7;
  n.parent_connected = false;
  assert_string_equal(fs_status_state(&n, 0, 5000), "lagging");
  n.has_parent = false; /* the root: nothing to lag behind */
  assert_string_equal(fs_status_state(&n, 0, 5000), "in_sync");
  n.last_refusal_ms = n.reported_ms - FS_STATUS_REFUSING_MS + 1;
  assert_string_equal(fs_status_state(&n, 0, 5000), "refusing");
  n.last_refusal_ms = n.reported_ms - FS_STATUS_REFUSING_MS; /* an hour ago */
  assert_string_equal(fs_status_state(&n, 0, 5000), "in_sync");
  n.last_refusal_ms = n.reported_ms;
  n.quarantined = 1;
  assert_string_equal(fs_status_state(&n, 0, 5000), "fork");
  /* A silent node's last word is old news: stale first. */
  assert_string_equal(fs_status_state(&n, 9000, 5000), "stale");
}

static void test_since_uses_the_rows_clock(void **state) {
  (void)state;
  Fs__NodeStatus n = row();
  /* 3 s before the report, in the reporter's clock; the row is 2 s old here. */
  assert_int_equal(fs_status_since(&n, 2000, n.reported_ms - 3000), 5000);
  assert_int_equal(fs_status_since(&n, 2000, 0), UINT64_MAX);
  /* A time after the report (clock stepped) counts as the report's. */
  assert_int_equal(fs_status_since(&n, 2000, n.reported_ms + 50), 2000);
}

static void test_queue_oldest(void **state) {
  (void)state;
  fs_peers p;
  fs_peers_init(&p, NULL);
  assert_int_equal(fs_peers_queue_since(&p, 5, 5, 100), 0);   /* nothing waits */
  assert_int_equal(fs_peers_queue_since(&p, 8, 5, 200), 200); /* 6..8 since 200 */
  assert_int_equal(fs_peers_queue_since(&p, 10, 5, 300), 200); /* 9..10 since 300 */
  assert_int_equal(fs_peers_queue_since(&p, 10, 8, 400), 300); /* 9 is the oldest */
  assert_int_equal(fs_peers_queue_since(&p, 10, 10, 500), 0);
  assert_int_equal(fs_peers_queue_since(&p, 11, 10, 600), 600);
  /* Full: the oldest keeps its time, the newest sample absorbs new sets. */
  for (uint64_t i = 0; i < 2 * FS_QUEUE_SAMPLES; i++)
    assert_int_equal(fs_peers_queue_since(&p, 12 + i, 10, 700 + i), 600);
  assert_true(p.queue.n <= FS_QUEUE_SAMPLES);
  fs_peers_free(&p);
}

static void test_strangers_are_bounded(void **state) {
  (void)state;
  char *dir = tu_mkdtemp();
  fs_store s;
  assert_int_equal(fs_store_open(&s, dir, 64u << 20), 0);
  fs_peers p;
  fs_peers_init(&p, &s);
  uint8_t key[FS_PK_LEN] = {0};
  for (uint32_t i = 0; i < FS_PEERS_MAX + 100; i++) {
    memcpy(key, &i, sizeof i);
    fs_peers_refused_hello(&p, key, false, "no certificate");
  }
  assert_int_equal(p.n, FS_PEERS_MAX);
  assert_int_equal(p.refused_hello, FS_PEERS_MAX + 100);
  assert_string_equal(p.last_refusal, "no certificate");
  for (size_t i = 0; i < p.n; i++) {
    assert_true(p.v[i]->stranger);
    if (i)
      assert_true(memcmp(p.v[i - 1]->key, p.v[i]->key, FS_PK_LEN) < 0);
  }
  /* Refusals without a proven key count for the node only. */
  fs_peers_refused_hello(&p, NULL, false, "bad signature");
  assert_int_equal(p.refused_hello, FS_PEERS_MAX + 101);
  assert_string_equal(p.last_refusal, "bad signature");
  fs_peers_free(&p);
  fs_store_close(&s);
  tu_rmtree(dir);
  free(dir);
}

static void test_json_bytes(void **state) {
  (void)state;
  static const struct {
    const char *in;
    size_t len;
    const char *out;
  } cases[] = {
      {"Th\xc3\xb4n 3", 7, "\"Th\xc3\xb4n 3\""},
      {"a\"b\\c", 5, "\"a\\\"b\\\\c\""},
      {"\n\0\x7f", 3, "\"\\u000a\\u0000\\u007f\""},
      {"\xff" "x", 2, "\"\\ufffdx\""},
      {"\xc0\x80", 2, "\"\\ufffd\\ufffd\""},          /* overlong NUL */
      {"\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""}, /* a surrogate */
      {"\xe2\x82", 2, "\"\\ufffd\\ufffd\""},          /* cut short */
      {"\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\""},
      {"", 0, "\"\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fs_strbuf b;
    fs_strbuf_init(&b);
    fs_strbuf_json_bytes(&b, (const uint8_t *)cases[i].in, cases[i].len);
    assert_int_equal(b.err, 0);
    assert_string_equal(b.p, cases[i].out);
    fs_strbuf_free(&b);
  }
}

static const char base_ini[] =
    "[node]\nid = c\narea = KT.A\ndata = /d\nkey = /k\ncert = /c\nnetwork_key = /n\n"
    "root_key = 0000000000000000000000000000000000000000000000000000000000000000\n";

static int parse_with(fs_config *cfg, const char *extra) {
  char text[1024];
  snprintf(text, sizeof text, "%s%s", base_ini, extra);
  return fs_config_parse(cfg, text, "t.ini");
}

static void test_config_monitoring(void **state) {
  (void)state;
  fs_config cfg;
  assert_int_equal(parse_with(&cfg, ""), 0);
  assert_int_equal(cfg.stale_after_ms, 120000);
  assert_int_equal(cfg.report_interval_ms, 5000);
  assert_int_equal(parse_with(&cfg, "stale_after_s = 3\nreport_interval_s = 1\n"), 0);
  assert_int_equal(cfg.stale_after_ms, 3000);
  assert_int_equal(cfg.report_interval_ms, 1000);
  assert_int_equal(parse_with(&cfg, "stale_after_s = 1\n"), FS_ECONFIG);
  assert_non_null(strstr(cfg.error, "t.ini:9: stale_after_s '1' must be a number of seconds"));
  assert_int_equal(parse_with(&cfg, "stale_after_s = 10s\n"), FS_ECONFIG);
  assert_int_equal(parse_with(&cfg, "report_interval_s = 0\n"), FS_ECONFIG);
  assert_int_equal(parse_with(&cfg, "report_interval_s = -5\n"), FS_ECONFIG);
  assert_int_equal(parse_with(&cfg, "stale_after_s = 5\nreport_interval_s = 5\n"), FS_ECONFIG);
  assert_non_null(strstr(cfg.error, "longer than report_interval_s"));
}

/* The memory bounds of a node: the map and the Pushes in flight. */
static void test_config_memory(void **state) {
  (void)state;
  fs_config cfg;
  assert_int_equal(parse_with(&cfg, ""), 0);
  assert_int_equal(cfg.push_memory_mb, 256);
  assert_int_equal(cfg.map_size_mb, 8192);
  assert_int_equal(parse_with(&cfg, "push_memory_mb = 16\nmap_size_mb = 64\n"), 0);
  assert_int_equal(cfg.push_memory_mb, 16);
  assert_int_equal(cfg.map_size_mb, 64);
  assert_int_equal(parse_with(&cfg, "push_memory_mb = 8\n"), FS_ECONFIG);
  assert_non_null(strstr(cfg.error, "t.ini:9: push_memory_mb '8' must be a number from 16 to "
                                    "1048576"));
  assert_int_equal(parse_with(&cfg, "push_memory_mb = 64M\n"), FS_ECONFIG);
  assert_int_equal(parse_with(&cfg, "map_max_mb = -1\n"), FS_ECONFIG);
  assert_non_null(strstr(cfg.error, "map_max_mb '-1' must be a number from 16 to 4194304"));
}

static void test_admin_addr_local(void **state) {
  (void)state;
  const char *local[] = {"127.0.0.1:8401", "127.0.0.2:1", "127.255.255.254:80", "[::1]:8401",
                         "[::ffff:127.0.0.1]:8401"};
  const char *beyond[] = {"0.0.0.0:8401", "[::]:8401", "10.0.0.5:8401", "128.0.0.1:8401",
                          "126.255.255.255:1", "[::ffff:10.0.0.1]:8401", "[fe80::1]:8401",
                          "[::2]:8401", "localhost:8401", "127.0.0.1", ""};
  for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
    assert_true(fs_admin_addr_local(local[i]));
  for (size_t i = 0; i < sizeof beyond / sizeof beyond[0]; i++)
    assert_false(fs_admin_addr_local(beyond[i]));
}

static void test_admin_token_rules(void **state) {
  (void)state;
  assert_true(fs_admin_token_valid("0123456789abcdef"));
  assert_true(fs_admin_token_valid("Zm9vYmFyYmF6cXV4LS4_fi8r=="));
  assert_false(fs_admin_token_valid("0123456789abcde"));         /* 15: too short */
  assert_false(fs_admin_token_valid("0123456789abcdef\r\nX: 1")); /* header injection */
  assert_false(fs_admin_token_valid("0123456789 abcdef"));
  assert_false(fs_admin_token_valid("==0123456789abcdef"));       /* '=' only at the end */
  assert_false(fs_admin_token_valid("0123456789abcdef=x"));
  char big[FS_ADMIN_TOKEN_MAX + 2];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  assert_false(fs_admin_token_valid(big));
  big[FS_ADMIN_TOKEN_MAX] = '\0';
  assert_true(fs_admin_token_valid(big));

  char *dir = tu_mkdtemp(), *path = tu_path(dir, "admin.token");
  char tok[FS_ADMIN_TOKEN_MAX + 1], again[FS_ADMIN_TOKEN_MAX + 1];
  assert_int_equal(fs_admin_token_read(path, tok, sizeof tok), FS_EKEYFILE);
  assert_int_equal(fs_admin_token_create(path), 0);
  assert_int_equal(fs_admin_token_create(path), FS_EINVAL); /* never overwritten */
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(fs_admin_token_read(path, tok, sizeof tok), 0);
  assert_int_equal(strlen(tok), 64);
  assert_int_equal(fs_admin_token_read(path, again, sizeof again), 0);
  assert_string_equal(tok, again);

  /* With a token beyond loopback the configuration is accepted; without,
   * refused; a token file others may read is refused with its line. */
  fs_config cfg;
  char extra[512];
  snprintf(extra, sizeof extra, "admin = 0.0.0.0:8401\nadmin_token_file = %s\n", path);
  assert_int_equal(parse_with(&cfg, extra), 0);
  assert_string_equal(cfg.admin_token_file, path);
  assert_int_equal(parse_with(&cfg, "admin = 0.0.0.0:8401\n"), FS_ECONFIG);
  assert_non_null(strstr(cfg.error, "t.ini: admin = 0.0.0.0:8401 can be reached from other "
                                    "machines"));
  assert_int_equal(parse_with(&cfg, "admin = [::1]:8401\n"), 0);
  assert_int_equal(cfg.admin_token_file[0], '\0');
  assert_int_equal(chmod(path, 0640), 0);
  assert_int_equal(fs_admin_token_read(path, tok, sizeof tok), FS_EKEYPERM);
  assert_int_equal(parse_with(&cfg, extra), FS_ECONFIG);
  assert_non_null(strstr(cfg.error, "t.ini:10: admin_token_file "));
  assert_non_null(strstr(cfg.error, "run chmod 600 on it"));
  tu_rmtree(dir);
  free(path);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_states),
      cmocka_unit_test(test_since_uses_the_rows_clock),
      cmocka_unit_test(test_queue_oldest),
      cmocka_unit_test(test_strangers_are_bounded),
      cmocka_unit_test(test_json_bytes),
      cmocka_unit_test(test_config_monitoring),
      cmocka_unit_test(test_config_memory),
      cmocka_unit_test(test_admin_addr_local),
      cmocka_unit_test(test_admin_token_rules),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
