/* main.c - fieldsyncd: the server of a commune, district or province.
 *
 * The commands and their help are listed in server_help.c; exit codes and
 * the help dispatch are common/cli.h's.
 */
#include "admin.h"
#include "admin_cli.h"
#include "cli.h"
#include "server_help.h"
#include "config.h"
#include "conflicts.h"
#include "error.h"
#include "hex.h"
#include "keys.h"
#include "report.h" /* records issue: the report subcommand */
#include "log.h"
#include "server.h"
#include "store.h"
#include "strbuf.h"
#include "view.h"

#include <errno.h>
#include <getopt.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include "conn.h"
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE FS_EXIT_USAGE
#define EXIT_FAILED FS_EXIT_FAILED

/* A usage error: the message, then where the help is. */
static int usage(const char *cmd, const char *msg) {
  fprintf(stderr, "fieldsyncd: %s (see: fieldsyncd %s--help)\n", msg, cmd ? cmd : "");
  return EXIT_USAGE;
}

typedef struct opts {
  const char *cmd; /* "run " etc., for messages */
  const char *config, *listen, *data, *log_level, *key, *comment, *area, *out, *admin, *parent,
      *token_file;
  bool all, help, json, check;
} opts;

static int parse_opts(int argc, char **argv, opts *o) {
  static const struct option longopts[] = {
      {"config", required_argument, NULL, 'c'}, {"listen", required_argument, NULL, 'l'},
      {"data", required_argument, NULL, 'd'},   {"log-level", required_argument, NULL, 'v'},
      {"key", required_argument, NULL, 'k'},    {"comment", required_argument, NULL, 'm'},
      {"area", required_argument, NULL, 'a'},   {"all", no_argument, NULL, 'A'},
      {"out", required_argument, NULL, 'o'},    {"admin", required_argument, NULL, 'M'},
      {"json", no_argument, NULL, 'J'},         {"parent", required_argument, NULL, 'P'},
      {"token-file", required_argument, NULL, 'T'}, {"check", no_argument, NULL, 'K'},
      {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
  memset(o, 0, sizeof *o);
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "c:l:d:v:k:m:a:Aho:M:JP:T:K", longopts, NULL)) != -1) {
    switch (ch) {
    case 'c': o->config = optarg; break;
    case 'l': o->listen = optarg; break;
    case 'd': o->data = optarg; break;
    case 'v': o->log_level = optarg; break;
    case 'k': o->key = optarg; break;
    case 'm': o->comment = optarg; break;
    case 'a': o->area = optarg; break;
    case 'A': o->all = true; break;
    case 'o': o->out = optarg; break;
    case 'M': o->admin = optarg; break;
    case 'J': o->json = true; break;
    case 'P': o->parent = optarg; break;
    case 'T': o->token_file = optarg; break;
    case 'K': o->check = true; break;
    case 'h': o->help = true; break;
    default: return -1;
    }
  }
  if (optind != argc) {
    fprintf(stderr, "fieldsyncd: unexpected argument '%s'\n", argv[optind]);
    return -1;
  }
  return 0;
}

/* The file, then the flags over it. */
static int load_config(fs_config *cfg, fs_config_flags *flags, const opts *o) {
  if (!o->config)
    return usage(o->cmd, "--config FILE is required");
  *flags = (fs_config_flags){.listen = o->listen, .admin = o->admin, .parent = o->parent,
                             .data = o->data, .log_level = o->log_level};
  int rc = fs_config_load(cfg, o->config, flags);
  if (rc) {
    fprintf(stderr, "fieldsyncd: %s\n", rc == FS_ECONFIG ? cfg->error : fs_strerror(rc));
    if (rc == FS_ECONFIG)
      fprintf(stderr, "fieldsyncd: fix it and check again with: fieldsyncd check-config "
                      "--config %s (every option is described in "
                      "/usr/share/doc/fieldsync/examples)\n", o->config);
    return EXIT_FAILED;
  }
  return 0;
}

static int cmd_run(const opts *o) {
  fs_config cfg;
  fs_config_flags flags;
  int rc = load_config(&cfg, &flags, o);
  if (rc) {
    return rc;
  }
  fs_log_setup(cfg.log_level, cfg.id);
  uv_loop_t loop;
  fs_server srv;
  srv.config_path = o->config;
  srv.flags = &flags;
  if (uv_loop_init(&loop) != 0) {
    fprintf(stderr, "fieldsyncd: cannot create the event loop\n");
    return EXIT_FAILED;
  }
  if (fs_server_start(&srv, &loop, &cfg) != 0) {
    fprintf(stderr, "fieldsyncd: cannot start node %s (see the log line above)\n", cfg.id);
    uv_run(&loop, UV_RUN_DEFAULT); /* let the handles it opened close */
    fs_server_free(&srv);
    uv_loop_close(&loop);
    return EXIT_FAILED;
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  fs_log(FS_LOG_INFO, "server.stopped", "stored=%llu duplicates=%llu refused=%llu forks=%llu",
         (unsigned long long)srv.ingest.stored, (unsigned long long)srv.ingest.duplicates,
         (unsigned long long)srv.ingest.refused, (unsigned long long)srv.ingest.forks);
  fs_server_free(&srv);
  uv_loop_close(&loop);
  return 0;
}

static int cmd_check_config(const opts *o) {
  fs_config cfg;
  fs_config_flags flags;
  int rc = load_config(&cfg, &flags, o);
  if (rc == 0) {
    printf("%s: ok (node %s, area %s)\n", o->config, cfg.id, cfg.area);
    printf("monitoring: a node is stale after %llu s without a status report; reports "
           "go up at least every %llu s\n", (unsigned long long)cfg.stale_after_ms / 1000,
           (unsigned long long)cfg.report_interval_ms / 1000);
    if (!cfg.admin[0])
      printf("admin: off (no admin = line)\n");
    else if (cfg.admin_token_file[0])
      printf("admin: http://%s/ needs the token in %s\n", cfg.admin, cfg.admin_token_file);
    else
      printf("admin: http://%s/ with no token: every user of this machine can read it\n",
             cfg.admin);
    /* Last, one line of key=value: what the node would use. */
    printf("listen=%s admin=%s parent=%s data=%s log_level=%s\n", cfg.listen,
           cfg.admin[0] ? cfg.admin : "-", cfg.parent[0] ? cfg.parent : "-", cfg.data,
           fs_log_level_name(cfg.log_level));
  }
  return rc;
}

static int cmd_keygen(const opts *o) {
  if (!o->key)
    return usage(o->cmd, "keygen needs --key PATH");
  fs_keypair kp;
  int rc = fs_keypair_generate(&kp);
  if (rc == 0)
    rc = fs_keypair_save(&kp, o->key, o->comment ? o->comment : "fieldsync node");
  if (rc) {
    fprintf(stderr, "fieldsyncd: cannot write %s: %s%s\n", o->key, fs_strerror(rc),
            rc == FS_EINVAL ? " (it exists already; keys are never overwritten)" : "");
    fs_keypair_free(&kp);
    return EXIT_FAILED;
  }
  char hex[2 * FS_PK_LEN + 1];
  fs_hex_encode(hex, kp.pk, FS_PK_LEN);
  printf("%s\n", hex);
  fs_keypair_free(&kp);
  return 0;
}

static int open_store_ro(fs_store *st, const opts *o, MDB_txn **txn) {
  if (!o->data)
    return usage(o->cmd, "--data DIR is required");
  char mdb[1100];
  struct stat sb;
  snprintf(mdb, sizeof mdb, "%s/data.mdb", o->data);
  if (stat(mdb, &sb) != 0) {
    fprintf(stderr, "fieldsyncd: %s holds no node store (no data.mdb); check --data\n",
            o->data);
    return EXIT_FAILED;
  }
  int rc = fs_store_open(st, o->data, FS_STORE_MAPSIZE_DEFAULT);
  if (rc == 0 && (rc = fs_store_begin(st, false, txn)))
    fs_store_close(st);
  if (rc == FS_EVERSION && st->found_format < FS_STORE_FORMAT)
    fprintf(stderr, "fieldsyncd: the store in %s is in on-disk format %llu, older than this "
            "fieldsyncd's %d: restart the node (fieldsyncd run converts it as it starts), "
            "then try again\n", o->data, (unsigned long long)st->found_format,
            FS_STORE_FORMAT);
  else if (rc == FS_EVERSION)
    fprintf(stderr, "fieldsyncd: the store in %s was written in on-disk format %llu; this "
            "fieldsyncd reads format %d: use the build that wrote it\n", o->data,
            (unsigned long long)st->found_format, FS_STORE_FORMAT);
  else if (rc)
    fprintf(stderr, "fieldsyncd: cannot open the store in %s: %s\n", o->data,
            fs_strerror(rc));
  return rc ? EXIT_FAILED : 0;
}

static int cmd_digest(const opts *o) {
  fs_store st;
  MDB_txn *txn;
  int rc = open_store_ro(&st, o, &txn);
  if (rc)
    return rc;
  const char *area = o->area ? o->area : "";
  uint8_t d[FS_HASH_LEN], scan[FS_HASH_LEN];
  uint64_t n, nscan = 0;
  rc = fs_store_digest(&st, txn, area, d, &n);
  /* --check: the same digest from every record, against the area sums the
   * store keeps (and the fast digest reads) */
  if (rc == 0 && o->check)
    rc = fs_store_digest_scan(&st, txn, area, scan, &nscan);
  mdb_txn_abort(txn);
  fs_store_close(&st);
  if (rc) {
    fprintf(stderr, "fieldsyncd: digest failed: %s\n", fs_strerror(rc));
    return EXIT_FAILED;
  }
  char hex[2 * FS_HASH_LEN + 1];
  fs_hex_encode(hex, d, FS_HASH_LEN);
  printf("%s records=%llu area=%s\n", hex, (unsigned long long)n, area[0] ? area : "*");
  if (o->check && (nscan != n || memcmp(scan, d, FS_HASH_LEN) != 0)) {
    fs_hex_encode(hex, scan, FS_HASH_LEN);
    fprintf(stderr, "fieldsyncd: the area sums in %s disagree with its records, which give "
            "%s records=%llu: the records are intact, the digest above (and in status "
            "reports) is wrong; report this as a bug with this output\n", o->data, hex,
            (unsigned long long)nscan);
    return EXIT_FAILED;
  }
  return 0;
}

static int cmd_records(const opts *o) {
  fs_store st;
  MDB_txn *txn;
  int rc = open_store_ro(&st, o, &txn);
  if (rc)
    return rc;
  fs_view_opts vo = {.out = stdout, .all = o->all};
  rc = fs_store_records_scan(&st, txn, o->area ? o->area : "", fs_record_print, &vo);
  mdb_txn_abort(txn);
  fs_store_close(&st);
  if (rc) {
    fprintf(stderr, "fieldsyncd: listing failed: %s\n", fs_strerror(rc));
    return EXIT_FAILED;
  }
  return 0;
}

static int cmd_backup(const opts *o, const char *out) {
  if (!o->data || !out)
    return usage(o->cmd, "backup needs --data DIR and --out DIR");
  if (mkdir(out, 0700) != 0) {
    fprintf(stderr, "fieldsyncd: cannot create %s (%s): the backup goes into a new, "
                    "empty directory\n", out, strerror(errno));
    return EXIT_FAILED;
  }
  fs_store st;
  int rc = fs_store_open(&st, o->data, FS_STORE_MAPSIZE_DEFAULT);
  if (rc == 0) {
    /* A read transaction's snapshot, compacted: consistent while the node
     * keeps committing. */
    rc = fs_err_from_mdb(mdb_env_copy2(st.env, out, MDB_CP_COMPACT));
    fs_store_close(&st);
  }
  if (rc) {
    fprintf(stderr, "fieldsyncd: backup of %s failed: %s\n", o->data, fs_strerror(rc));
    return EXIT_FAILED;
  }
  printf("%s: consistent copy of %s\n", out, o->data);
  fprintf(stderr, "keys are not in the backup: back up key files separately, and never "
                  "put the root or sealing secret keys on a server\n");
  return 0;
}

/* The token for --admin: from --token-file, else FIELDSYNC_ADMIN_TOKEN,
 * else none (tok[0] == '\0'); *from says where it came from. Returns 0 or
 * an exit status, the reason printed. */
static int admin_token(const opts *o, char *tok, size_t cap, const char **from) {
  tok[0] = '\0';
  const char *env = getenv("FIELDSYNC_ADMIN_TOKEN");
  if (o->token_file) {
    int rc = fs_admin_token_read(o->token_file, tok, cap);
    if (rc) {
      fprintf(stderr, "fieldsyncd: --token-file %s %s\n", o->token_file,
              fs_admin_token_problem(rc));
      return EXIT_FAILED;
    }
    *from = o->token_file;
  } else if (env && env[0]) {
    /* It goes into a header as it is: nothing but the token's alphabet. */
    if (!fs_admin_token_valid(env) || strlen(env) >= cap) {
      fprintf(stderr, "fieldsyncd: FIELDSYNC_ADMIN_TOKEN is not a token: 16 to 256 "
                      "characters from A-Z a-z 0-9 - . _ ~ + /\n");
      return EXIT_USAGE;
    }
    memcpy(tok, env, strlen(env) + 1);
    *from = "FIELDSYNC_ADMIN_TOKEN";
  }
  return 0;
}

/* GET path from the admin port at o->admin, with the token when there is
 * one; prints the body. */
static int http_get_print(const opts *o, const char *path) {
  const char *addr = o->admin, *from = NULL;
  struct sockaddr_storage ss;
  if (fs_addr_parse(addr, &ss) != 0) {
    fprintf(stderr, "fieldsyncd: --admin '%s' is not host:port\n", addr);
    return EXIT_USAGE;
  }
  char tok[FS_ADMIN_TOKEN_MAX + 1], req[FS_ADMIN_TOKEN_MAX + 512];
  int rc = admin_token(o, tok, sizeof tok, &from);
  if (rc)
    return rc;
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\n%s%s%sConnection: "
                   "close\r\n\r\n", path, addr, tok[0] ? "Authorization: Bearer " : "",
                   tok, tok[0] ? "\r\n" : "");
  sodium_memzero(tok, sizeof tok);
  if (n < 0 || (size_t)n >= sizeof req) {
    sodium_memzero(req, sizeof req);
    fprintf(stderr, "fieldsyncd: the request for %s is too long\n", path);
    return EXIT_USAGE;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  socklen_t sl = ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                         : sizeof(struct sockaddr_in6);
  if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) != 0) {
    sodium_memzero(req, sizeof req);
    fprintf(stderr, "fieldsyncd: cannot reach the admin port %s: %s (is admin = set in the "
                    "node's configuration?)\n", addr, strerror(errno));
    if (fd >= 0)
      close(fd);
    return EXIT_FAILED;
  }
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  fs_strbuf resp;
  fs_strbuf_init(&resp);
  rc = write(fd, req, (size_t)n) == n ? 0 : EXIT_FAILED;
  sodium_memzero(req, sizeof req);
  char buf[16384];
  ssize_t got;
  while (rc == 0 && (got = read(fd, buf, sizeof buf)) > 0 && resp.len < (64u << 20))
    fs_strbuf_add(&resp, buf, (size_t)got);
  close(fd);
  const char *body = resp.p ? strstr(resp.p, "\r\n\r\n") : NULL;
  if (rc == 0 && body && strncmp(resp.p, "HTTP/1.1 401", 12) == 0) {
    if (from)
      fprintf(stderr, "fieldsyncd: the admin port %s refused the token from %s: it is not "
                      "the one in the node's admin_token_file\n", addr, from);
    else
      fprintf(stderr, "fieldsyncd: the admin port %s needs the node's admin token: pass "
                      "--token-file FILE (the node's admin_token_file, or a 0600 copy of "
                      "it) or set FIELDSYNC_ADMIN_TOKEN\n", addr);
    fs_strbuf_free(&resp);
    return EXIT_FAILED;
  }
  if (rc || !body || strncmp(resp.p, "HTTP/1.1 200", 12) != 0) {
    fprintf(stderr, "fieldsyncd: the admin port %s did not answer %s: %.200s\n", addr, path,
            body ? body + 4 : "no HTTP response");
    fs_strbuf_free(&resp);
    return EXIT_FAILED;
  }
  fputs(body + 4, stdout);
  fs_strbuf_free(&resp);
  return 0;
}

static int cmd_tree(const opts *o) {
  if (!o->admin)
    return usage(o->cmd, "tree needs --admin HOST:PORT (the node's admin port)");
  return http_get_print(o, o->json ? "/api/status" : "/api/status?format=text");
}

static int cmd_conflicts(const opts *o) {
  const char *area = o->area ? o->area : "";
  if (o->admin && !o->data) {
    char path[FS_MAX_AREA + 64]; /* area codes need no URL escaping */
    snprintf(path, sizeof path, "/api/conflicts?area=%s%s", area, o->json ? "" : "&format=text");
    return http_get_print(o, path);
  }
  if (o->admin)
    return usage(o->cmd, "conflicts takes --data DIR or --admin HOST:PORT, not both");
  fs_store st;
  MDB_txn *txn;
  int rc = open_store_ro(&st, o, &txn);
  if (rc)
    return rc;
  fs_strbuf b;
  fs_strbuf_init(&b);
  rc = fs_conflicts_render(&st, txn, o->data, area, o->json, &b);
  mdb_txn_abort(txn);
  fs_store_close(&st);
  if (rc == 0 && b.len)
    fputs(b.p, stdout);
  fs_strbuf_free(&b);
  if (rc) {
    fprintf(stderr, "fieldsyncd: listing conflicts failed: %s\n", fs_strerror(rc));
    return EXIT_FAILED;
  }
  return 0;
}

static int cmd_status(const opts *o) {
  fs_store st;
  MDB_txn *txn;
  int rc = open_store_ro(&st, o, &txn);
  if (rc)
    return rc;
  uint64_t sets = 0, recs = 0, devs = 0, quar = 0, confl = 0, log_seq = 0;
  if ((rc = fs_store_count(&st, txn, st.log, &sets)) == 0 &&
      (rc = fs_store_count(&st, txn, st.records, &recs)) == 0 &&
      (rc = fs_store_count(&st, txn, st.devices, &devs)) == 0 &&
      (rc = fs_store_count(&st, txn, st.quarantine, &quar)) == 0 &&
      (rc = fs_store_count(&st, txn, st.conflicts, &confl)) == 0)
    rc = fs_meta_get_u64(&st, txn, "log_seq", &log_seq);
  mdb_txn_abort(txn);
  fs_store_close(&st);
  if (rc) {
    fprintf(stderr, "fieldsyncd: status failed: %s\n", fs_strerror(rc));
    return EXIT_FAILED;
  }
  printf("change_sets=%llu records=%llu devices=%llu log_seq=%llu quarantined=%llu "
         "conflicts=%llu\n",
         (unsigned long long)sets, (unsigned long long)recs, (unsigned long long)devs,
         (unsigned long long)log_seq, (unsigned long long)quar,
         (unsigned long long)confl);
  return 0;
}

int main(int argc, char **argv) {
  /* A peer that closed first must cost an EPIPE on that connection, not
   * the process: libuv does not ignore SIGPIPE for us. */
  signal(SIGPIPE, SIG_IGN);
  const fs_cli_cmd *help;
  int ret = fs_cli_dispatch(argc, argv, "fieldsyncd", fs_server_intro, fs_server_cmds,
                            fs_server_example, &help);
  if (ret >= 0)
    return ret;
  const char *cmd = help->name;
  if (fs_crypto_init() != 0) {
    fprintf(stderr, "fieldsyncd: libsodium failed to initialise\n");
    return EXIT_FAILED;
  }
  /* These parse their own options and print their own help. */
  if (strcmp(cmd, "report") == 0)
    return fs_report_cli(argc - 1, argv + 1);
  if (strcmp(cmd, "admin") == 0)
    return fs_admin_cli(argc - 1, argv + 1);
  if (strcmp(cmd, "cert") == 0)
    return fs_cert_cli(argc - 1, argv + 1);
  opts o;
  char cmd_sp[32];
  snprintf(cmd_sp, sizeof cmd_sp, "%s ", cmd);
  if (parse_opts(argc - 1, argv + 1, &o) != 0)
    return usage(cmd_sp, "bad options");
  o.cmd = cmd_sp;
  if (o.area && o.area[0] && !fs_area_valid(o.area)) {
    fprintf(stderr, "fieldsyncd: --area '%s' is not an area code like KT.KPL\n", o.area);
    return EXIT_USAGE;
  }
  if (strcmp(cmd, "run") == 0)
    return cmd_run(&o);
  if (strcmp(cmd, "check-config") == 0)
    return cmd_check_config(&o);
  if (strcmp(cmd, "keygen") == 0)
    return cmd_keygen(&o);
  if (strcmp(cmd, "digest") == 0)
    return cmd_digest(&o);
  if (strcmp(cmd, "records") == 0)
    return cmd_records(&o);
  if (strcmp(cmd, "status") == 0)
    return cmd_status(&o);
  if (strcmp(cmd, "backup") == 0)
    return cmd_backup(&o, o.out);
  if (strcmp(cmd, "conflicts") == 0)
    return cmd_conflicts(&o);
  return cmd_tree(&o); /* "tree": the one left of fs_server_cmds */
}
