/* main.c - fieldsync: the officer's command line, offline first.
 *
 * The commands and their help are listed in client_help.c; exit codes and
 * the help dispatch are common/cli.h's.
 */
#include "changeset.h"
#include "cli.h"
#include "client_help.h"
#include "error.h"
#include "hex.h"
#include "import.h"
#include "local.h"
#include "log.h"
#include "schema.h" /* records issue: typed records */
#include "sync.h"
#include "view.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define EXIT_USAGE FS_EXIT_USAGE
#define EXIT_FAILED FS_EXIT_FAILED

typedef struct opts {
  const char *dir, *area, *officer, *type, *id, *server, *server_key, *cert, *netkey, *root,
      *seal_key;
  bool all, help;
  int nargs;
  char **args;
} opts;

/* A usage error: the message, then where the help is. */
static int usage(const char *msg) {
  fprintf(stderr, "fieldsync: %s (see: fieldsync --help)\n", msg);
  return EXIT_USAGE;
}

static int failed(int rc, const char *what) {
  fprintf(stderr, "fieldsync: %s: %s\n", what, fs_strerror(rc));
  return EXIT_FAILED;
}

static int parse_opts(int argc, char **argv, opts *o) {
  static const struct option longopts[] = {
      {"dir", required_argument, NULL, 'd'},     {"area", required_argument, NULL, 'a'},
      {"officer", required_argument, NULL, 'o'}, {"type", required_argument, NULL, 't'},
      {"id", required_argument, NULL, 'i'},      {"server", required_argument, NULL, 's'},
      {"server-key", required_argument, NULL, 'K'}, {"all", no_argument, NULL, 'A'},
      {"cert", required_argument, NULL, 'c'},    {"network-key", required_argument, NULL, 'N'},
      {"root", required_argument, NULL, 'R'},    {"seal-key", required_argument, NULL, 'S'},
      {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
  memset(o, 0, sizeof *o);
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "+d:a:o:t:i:s:K:Ahc:N:R:S:", longopts, NULL)) != -1) {
    switch (ch) {
    case 'd': o->dir = optarg; break;
    case 'a': o->area = optarg; break;
    case 'o': o->officer = optarg; break;
    case 't': o->type = optarg; break;
    case 'i': o->id = optarg; break;
    case 's': o->server = optarg; break;
    case 'K': o->server_key = optarg; break;
    case 'A': o->all = true; break;
    case 'c': o->cert = optarg; break;
    case 'N': o->netkey = optarg; break;
    case 'R': o->root = optarg; break;
    case 'S': o->seal_key = optarg; break;
    case 'h': o->help = true; break;
    default: return -1;
    }
  }
  o->nargs = argc - optind;
  o->args = argv + optind;
  if (!o->dir)
    o->dir = getenv("FIELDSYNC_DIR");
  if (!o->dir)
    o->dir = "fieldsync-device";
  return 0;
}

/* Parses NAME=VALUE arguments into writes (pointing into argv). */
static int parse_writes(const opts *o, int first, fs_write *w, size_t *n) {
  *n = 0;
  for (int i = first; i < o->nargs; i++) {
    char *a = o->args[i], *eq = strchr(a, '=');
    if (!eq || !fs_ident_valid(a, (size_t)(eq - a), FS_MAX_NAME)) {
      fprintf(stderr, "fieldsync: '%s' is not NAME=VALUE (NAME: a-z, 0-9, _)\n", a);
      return EXIT_USAGE;
    }
    *eq = '\0';
    const uint8_t *v = (const uint8_t *)(eq + 1);
    size_t len = strlen(eq + 1);
    if (len > FS_MAX_VALUE || !fs_utf8_valid(v, len)) {
      /* A value the schema refuses: refused (2), like every other rule. */
      fprintf(stderr, "fieldsync: refused, nothing was recorded: field %s: the value must be "
              "UTF-8 text of at most %d bytes\n", a, FS_MAX_VALUE);
      return EXIT_FAILED;
    }
    for (size_t j = 0; j < *n; j++)
      if (strcmp(w[j].name, a) == 0) {
        fprintf(stderr, "fieldsync: field %s is given twice\n", a);
        return EXIT_USAGE;
      }
    if (*n == FS_MAX_WRITES) {
      fprintf(stderr, "fieldsync: at most %d fields per edit\n", FS_MAX_WRITES);
      return EXIT_USAGE;
    }
    w[*n].name = a;
    w[*n].value = v;
    w[*n].len = len;
    (*n)++;
  }
  return 0;
}

static int open_device(fs_device *d, const opts *o) {
  int rc = fs_device_open(d, o->dir);
  if (rc == FS_EKEYFILE || rc == FS_ENOTFOUND) {
    fprintf(stderr, "fieldsync: no device in %s; create one with: fieldsync init --dir %s --area AREA\n",
            o->dir, o->dir);
    return EXIT_FAILED;
  }
  if (rc == FS_EKEYPERM) {
    fprintf(stderr, "fieldsync: %s/device.key is readable by others; run: chmod 600 %s/device.key\n",
            o->dir, o->dir);
    return EXIT_FAILED;
  }
  return rc ? failed(rc, "cannot open the device") : 0;
}

static int cmd_init(const opts *o) {
  if (!o->area || !fs_area_valid(o->area))
    return usage("init needs --area AREA, an area code like KT.KPL.DAKNEN");
  uint8_t pk[FS_PK_LEN];
  int rc = fs_device_create(o->dir, o->area, o->officer, pk);
  if (rc == FS_EINVAL) {
    fprintf(stderr, "fieldsync: %s already holds a device; keys are never overwritten\n",
            o->dir);
    return EXIT_FAILED;
  }
  if (rc == FS_EKEYPERM) {
    fprintf(stderr, "fieldsync: %s/device.key is readable by others; run: chmod 600 "
            "%s/device.key, then init again\n", o->dir, o->dir);
    return EXIT_FAILED;
  }
  if (rc == FS_EKEYFILE) {
    fprintf(stderr, "fieldsync: %s/device.key is missing or cannot be read, but the rest of "
            "a device is there; nothing was changed: restore device.key from a backup, or "
            "move %s away and init again\n", o->dir, o->dir);
    return EXIT_FAILED;
  }
  if (rc)
    return failed(rc, "cannot create the device (fix the cause, then init again)");
  char hex[2 * FS_PK_LEN + 1];
  fs_hex_encode(hex, pk, FS_PK_LEN);
  printf("%s\n", hex);
  fprintf(stderr, "device created in %s for area %s; give this key to the commune "
                  "administrator to enrol the laptop\n", o->dir, o->area);
  return 0;
}

static int cmd_key(const opts *o) {
  fs_device d;
  int rc = open_device(&d, o);
  if (rc)
    return rc;
  char hex[2 * FS_PK_LEN + 1];
  fs_hex_encode(hex, d.key.pk, FS_PK_LEN);
  printf("%s\n", hex);
  fs_device_close(&d);
  return 0;
}

static int cmd_enrol(const opts *o) {
  uint8_t root[FS_PK_LEN];
  if (!o->cert || !o->netkey || !o->root)
    return usage("enrol needs --cert FILE --network-key FILE --root HEX");
  if (fs_pubkey_load(root, o->root) != 0)
    return usage("--root must be the deployment's root public key (64 hex digits)");
  fs_device d;
  int rc = open_device(&d, o);
  if (rc)
    return rc;
  char officer[128] = "";
  uint8_t seal_pk[32];
  if (o->seal_key && fs_pubkey_load(seal_pk, o->seal_key) != 0) {
    fs_device_close(&d);
    return usage("--seal-key must be the sealing public key (seal.key.pub or 64 hex digits)");
  }
  rc = fs_device_enrol(&d, o->cert, o->netkey, root, o->seal_key ? seal_pk : NULL, officer,
                       sizeof officer);
  fs_device_close(&d);
  if (rc == FS_EUNKNOWN_PEER || rc == FS_EUNTRUSTED || rc == FS_ESCOPE || rc == FS_EEXPIRED) {
    fprintf(stderr, "fieldsync: %s holds no valid enrolment of this laptop's key for its "
                    "area (%s); ask the administrator to run fieldsyncd admin enrol with "
                    "the key from: fieldsync key\n", o->cert, fs_strerror(rc));
    return EXIT_FAILED;
  }
  if (rc == FS_EKEYPERM) {
    fprintf(stderr, "fieldsync: %s is readable by others; run chmod 600 on it\n", o->netkey);
    return EXIT_FAILED;
  }
  if (rc)
    return failed(rc, "cannot install the enrolment");
  printf("enrolled: %s\n", officer);
  return 0;
}

static int edit_failed(int rc, const char *area) {
  if (rc == FS_ENOSEALKEY) {
    fprintf(stderr, "fieldsync: refused, nothing was recorded: this record has a sealed "
                    "field and the laptop holds no sealing key; re-enrol it with "
                    "--seal-key seal.key.pub from the administrator\n");
    return EXIT_FAILED;
  }
  if (rc == FS_ESCOPE) {
    fprintf(stderr, "fieldsync: area %s lies outside this laptop's area\n", area);
    return EXIT_FAILED;
  }
  if (rc == FS_ECLOCK) {
    fprintf(stderr, "fieldsync: refused, nothing was recorded: %s\n", fs_edit_clock_why);
    return EXIT_FAILED;
  }
  return failed(rc, "cannot record the edit");
}

/* Records issue: refuses, before anything is signed, an edit that breaks
 * the schema (common/schema.h), naming the field and the rule. cur is the
 * record edited, NULL when adding one. Returns 0 or EXIT_FAILED. */
static int check_schema(const char *type, const fs_write *w, size_t n, const fs_record *cur) {
  const fs_type_def *t = fs_schema_type(type);
  char why[FS_SCHEMA_WHY], list[256];
  if (!t) {
    fs_schema_type_list(list, sizeof list);
    fprintf(stderr, "fieldsync: record type '%s' is unknown to this version of fieldsync "
            "(known: %s)%s\n", type ? type : "-", list, cur ? "; update fieldsync to edit it" : "");
    return EXIT_FAILED;
  }
  fs_schema_write sw[FS_MAX_WRITES];
  for (size_t i = 0; i < n; i++)
    sw[i] = (fs_schema_write){w[i].name, w[i].value, w[i].len};
  if (fs_schema_check(t, sw, n, cur, cur == NULL, why, sizeof why) == 0)
    return 0;
  fs_schema_required_list(t, list, sizeof list);
  fprintf(stderr, "fieldsync: refused, nothing was recorded: %s\n", why);
  if (!cur)
    fprintf(stderr, "fieldsync: a new %s needs %s (docs/SCHEMA.md lists every field)\n",
            t->name, list);
  return EXIT_FAILED;
}

static int cmd_add(const opts *o) {
  if (!o->type || !fs_ident_valid(o->type, strlen(o->type), FS_MAX_NAME))
    return usage("add needs --type TYPE (a-z, 0-9, _)");
  fs_write w[FS_MAX_WRITES];
  size_t n;
  int rc = parse_writes(o, 0, w, &n);
  if (rc || (rc = check_schema(o->type, w, n, NULL))) /* records issue */
    return rc;
  char id[FS_MAX_ID + 1];
  if (o->id) {
    if (!fs_record_id_valid(o->id))
      return usage("--id must be 1-64 characters of a-z, 0-9, _");
    snprintf(id, sizeof id, "%s", o->id);
  } else {
    fs_record_id_new(id);
  }
  fs_device d;
  if ((rc = open_device(&d, o)))
    return rc;
  char area[FS_MAX_AREA + 1];
  if (o->area)
    snprintf(area, sizeof area, "%s", o->area);
  else if ((rc = fs_device_area(&d, area))) {
    fs_device_close(&d);
    return failed(rc, "cannot read the device's area");
  }
  fs_record existing;
  if (o->id && fs_device_find(&d, id, &existing) == 0) {
    /* add makes a new record; changing one is edit's job. */
    bool same = strcmp(existing.id, id) == 0;
    fs_record_free(&existing);
    if (same) {
      fs_device_close(&d);
      fprintf(stderr, "fieldsync: a record with id %s exists already; change it with: "
                      "fieldsync edit %s NAME=VALUE...\n", id, id);
      return EXIT_FAILED;
    }
  }
  rc = fs_device_edit(&d, area, id, o->type, w, n, false);
  fs_device_close(&d);
  if (rc)
    return edit_failed(rc, area);
  printf("%s\n", id);
  return 0;
}

static int find_record(fs_device *d, const char *id, fs_record *r) {
  int rc = fs_device_find(d, id, r);
  if (rc == FS_ENOTFOUND)
    fprintf(stderr, "fieldsync: no record with id %s on this laptop (see: fieldsync list)\n", id);
  else if (rc == FS_EINVAL)
    fprintf(stderr, "fieldsync: id %s is ambiguous or too short; give more characters\n", id);
  else if (rc)
    return failed(rc, "cannot read the record");
  return rc ? EXIT_FAILED : 0;
}

static int cmd_edit(const opts *o, bool del) {
  if (o->nargs < 1 || (del && o->nargs != 1) || (!del && o->nargs < 2))
    return usage(del ? "delete needs exactly one ID" : "edit needs ID and NAME=VALUE...");
  fs_write w[FS_MAX_WRITES];
  size_t n = 0;
  int rc = del ? 0 : parse_writes(o, 1, w, &n);
  if (rc)
    return rc;
  fs_device d;
  if ((rc = open_device(&d, o)))
    return rc;
  fs_record r;
  if ((rc = find_record(&d, o->args[0], &r)) == 0) {
    if (!fs_record_visible(&r)) {
      fprintf(stderr, "fieldsync: record %s is deleted\n", r.id);
      rc = EXIT_FAILED;
    } else if (!del && (rc = check_schema(r.type, w, n, &r))) { /* records issue */
    } else if ((rc = fs_device_edit(&d, r.area, r.id, NULL, w, n, del))) {
      rc = edit_failed(rc, r.area);
    } else {
      printf("%s\n", r.id);
    }
    fs_record_free(&r);
  }
  fs_device_close(&d);
  return rc;
}

static int cmd_list(const opts *o) {
  fs_device d;
  int rc = open_device(&d, o);
  if (rc)
    return rc;
  MDB_txn *txn;
  if ((rc = fs_store_begin(&d.store, false, &txn)) == 0) {
    fs_view_opts vo = {.out = stdout, .all = o->all, .type = o->type};
    rc = fs_store_records_scan(&d.store, txn, o->area ? o->area : "", fs_record_print, &vo);
    mdb_txn_abort(txn);
  }
  fs_device_close(&d);
  return rc ? failed(rc, "cannot list records") : 0;
}

static void print_clock(const fs_clock *c) {
  char dev[2 * FS_PK_LEN + 1];
  fs_hex_encode(dev, c->device, FS_PK_LEN);
  time_t t = (time_t)(c->hlc >> 16) / 1000;
  struct tm tm;
  char when[32] = "?";
  if (gmtime_r(&t, &tm))
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  printf("  (%s by %.12s)", when, dev);
}

static int cmd_show(const opts *o) {
  if (o->nargs != 1)
    return usage("show needs exactly one ID");
  fs_device d;
  int rc = open_device(&d, o);
  if (rc)
    return rc;
  fs_record r;
  if ((rc = find_record(&d, o->args[0], &r)) == 0) {
    printf("id: %s\narea: %s\ntype: %s\n", r.id, r.area, r.type ? r.type : "-");
    if (!fs_record_visible(&r)) {
      printf("deleted:");
      print_clock(&r.del_clock);
      putchar('\n');
    }
    for (size_t i = 0; i < r.nfields; i++) {
      const fs_field *f = &r.fields[i];
      if (!fs_field_visible(&r, f))
        continue;
      printf("%s: ", f->name);
      fs_value_print(stdout, f->value, f->value_len);
      print_clock(&f->clock);
      putchar('\n');
    }
    fs_record_free(&r);
  }
  fs_device_close(&d);
  return rc;
}

static int cmd_sync(const opts *o) {
  if (!o->server)
    return usage("sync needs --server HOST:PORT");
  uint8_t sk[FS_PK_LEN];
  if (o->server_key && fs_pubkey_load(sk, o->server_key) != 0)
    return usage("--server-key must be 64 hex digits or a .pub file");
  fs_device d;
  int rc = open_device(&d, o);
  if (rc)
    return rc;
  if (d.netkey_rc == FS_EKEYPERM) {
    fs_device_close(&d);
    fprintf(stderr, "fieldsync: %s/network.key is readable by others; run: chmod 600 "
                    "%s/network.key\n", o->dir, o->dir);
    return EXIT_FAILED;
  }
  if (!d.enrolled) {
    fs_device_close(&d);
    fprintf(stderr, "fieldsync: this laptop is not enrolled yet; install its enrolment "
                    "with: fieldsync enrol --cert FILE --network-key FILE --root HEX\n");
    return EXIT_FAILED;
  }
  fs_sync_result res;
  uint64_t t0 = uv_hrtime();
  rc = fs_sync_run(&d, o->server, o->server_key ? sk : NULL, isatty(2), &res);
  double ms = (double)(uv_hrtime() - t0) / 1e6;
  fs_device_close(&d);
  if (rc) {
    fprintf(stderr, "fieldsync: sync failed: %s\n", res.error);
    fprintf(stderr, "fieldsync: nothing unacknowledged was lost: %llu change sets wait "
                    "in the outbox; sync again when the server is reachable\n",
            (unsigned long long)res.outbox_left);
    return EXIT_FAILED;
  }
  printf("synced with %s: pushed %llu change sets (%llu new at the server), pulled %llu "
         "records, %llu bytes out, %llu bytes in, %.0f ms\n",
         res.server_id, (unsigned long long)res.pushed, (unsigned long long)res.stored,
         (unsigned long long)res.pulled, (unsigned long long)res.bytes_out,
         (unsigned long long)res.bytes_in, ms);
  return 0;
}

static int cmd_status(const opts *o) {
  fs_device d;
  int rc = open_device(&d, o);
  if (rc)
    return rc;
  MDB_txn *txn;
  uint64_t outbox = 0, pending = 0, seq = 0, cursor = 0, recs = 0, last_sync = 0;
  bool d_enrolled = d.enrolled;
  char area[FS_MAX_AREA + 1] = "?";
  if ((rc = fs_store_begin(&d.store, false, &txn)) == 0) {
    if ((rc = fs_store_count(&d.store, txn, d.store.outbox, &outbox)) == 0 &&
        (rc = fs_store_count(&d.store, txn, d.store.pending, &pending)) == 0 &&
        (rc = fs_store_count(&d.store, txn, d.store.records, &recs)) == 0 &&
        (rc = fs_meta_get_u64(&d.store, txn, "seq", &seq)) == 0 &&
        (rc = fs_meta_get_u64(&d.store, txn, "last_sync_ms", &last_sync)) == 0)
      rc = fs_meta_get_u64(&d.store, txn, "pull_cursor", &cursor);
    mdb_txn_abort(txn);
  }
  if (rc == 0)
    rc = fs_device_area(&d, area);
  char hex[2 * FS_PK_LEN + 1];
  fs_hex_encode(hex, d.key.pk, FS_PK_LEN);
  fs_device_close(&d);
  if (rc)
    return failed(rc, "cannot read the status");
  printf("device=%s area=%s seq=%llu pending=%llu outbox=%llu records=%llu "
         "pull_cursor=%llu", hex, area, (unsigned long long)seq,
         (unsigned long long)pending, (unsigned long long)outbox,
         (unsigned long long)recs, (unsigned long long)cursor);
  if (last_sync) {
    time_t t = (time_t)(last_sync / 1000);
    struct tm tm;
    char when[32] = "?";
    if (gmtime_r(&t, &tm))
      strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf(" last_sync=%s\n", when);
  } else {
    printf(" last_sync=never\n");
  }
  if (isatty(1))
    printf("%llu edit(s) and %llu signed change set(s) wait to be synced%s\n",
           (unsigned long long)pending, (unsigned long long)outbox,
           d_enrolled ? "" : "; this laptop is not enrolled yet (fieldsync enrol)");
  return 0;
}

static int cmd_seal(const opts *o) {
  fs_device d;
  int rc = open_device(&d, o);
  if (rc)
    return rc;
  fs_seal_result sealed;
  rc = fs_device_seal(&d, 0, &sealed);
  fs_device_close(&d);
  if (rc)
    return failed(rc, "cannot seal the pending edits");
  printf("sealed %llu change set(s)\n", (unsigned long long)sealed.sets);
  return 0;
}

static int cmd_import(const opts *o) { /* client/import.c */
  if (o->nargs != 1)
    return usage("import needs one FILE (a JSON array, or JSON lines; - for standard input)");
  fs_device d;
  int rc = open_device(&d, o);
  if (rc == 0) {
    rc = fs_import_file(&d, o->args[0], o->area);
    fs_device_close(&d);
  }
  return rc;
}

static int cmd_digest(const opts *o) {
  fs_device d;
  int rc = open_device(&d, o);
  if (rc)
    return rc;
  MDB_txn *txn;
  uint8_t dg[FS_HASH_LEN];
  uint64_t n = 0;
  if ((rc = fs_store_begin(&d.store, false, &txn)) == 0) {
    rc = fs_store_digest(&d.store, txn, o->area ? o->area : "", dg, &n);
    mdb_txn_abort(txn);
  }
  fs_device_close(&d);
  if (rc)
    return failed(rc, "cannot compute the digest");
  char hex[2 * FS_HASH_LEN + 1];
  fs_hex_encode(hex, dg, FS_HASH_LEN);
  printf("%s records=%llu area=%s\n", hex, (unsigned long long)n,
         o->area && o->area[0] ? o->area : "*");
  return 0;
}

int main(int argc, char **argv) {
  /* A peer that closed first must cost an EPIPE on that connection, not
   * the process: libuv does not ignore SIGPIPE for us. */
  signal(SIGPIPE, SIG_IGN);
  const fs_cli_cmd *help;
  int ret = fs_cli_dispatch(argc, argv, "fieldsync", fs_client_intro, fs_client_cmds,
                            fs_client_example, &help);
  if (ret >= 0)
    return ret;
  const char *cmd = help->name;
  if (fs_crypto_init() != 0) {
    fprintf(stderr, "fieldsync: libsodium failed to initialise\n");
    return EXIT_FAILED;
  }
  fs_log_setup(FS_LOG_WARN, NULL);
  opts o;
  if (parse_opts(argc - 1, argv + 1, &o) != 0)
    return usage("bad options");
  if (o.area && o.area[0] && !fs_area_valid(o.area)) {
    fprintf(stderr, "fieldsync: --area '%s' is not an area code like KT.KPL.DAKNEN\n", o.area);
    return EXIT_USAGE;
  }
  bool takes_args = strcmp(cmd, "add") == 0 || strcmp(cmd, "edit") == 0 ||
                    strcmp(cmd, "delete") == 0 || strcmp(cmd, "show") == 0 ||
                    strcmp(cmd, "import") == 0;
  if (!takes_args && o.nargs > 0) {
    fprintf(stderr, "fieldsync: unexpected argument '%s'\n", o.args[0]);
    return EXIT_USAGE;
  }
  if (strcmp(cmd, "init") == 0) return cmd_init(&o);
  if (strcmp(cmd, "key") == 0) return cmd_key(&o);
  if (strcmp(cmd, "enrol") == 0) return cmd_enrol(&o);
  if (strcmp(cmd, "add") == 0) return cmd_add(&o);
  if (strcmp(cmd, "import") == 0) return cmd_import(&o);
  if (strcmp(cmd, "edit") == 0) return cmd_edit(&o, false);
  if (strcmp(cmd, "delete") == 0) return cmd_edit(&o, true);
  if (strcmp(cmd, "list") == 0) return cmd_list(&o);
  if (strcmp(cmd, "show") == 0) return cmd_show(&o);
  if (strcmp(cmd, "sync") == 0) return cmd_sync(&o);
  if (strcmp(cmd, "status") == 0) return cmd_status(&o);
  if (strcmp(cmd, "seal") == 0) return cmd_seal(&o);
  return cmd_digest(&o); /* the last of fs_client_cmds */
}
