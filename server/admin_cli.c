/* admin_cli.c - creating a deployment and signing its certificates.
 *
 * Every certificate is signed by an admin key: the root key, or a key the
 * root delegated an area to (pass its delegation with --chain; the output
 * file then holds the chain and the new certificate, so whoever installs it
 * can check it offline). Exit codes: 0 ok, 1 usage, 2 failed.
 */
#define _XOPEN_SOURCE 700 /* strptime */
#include "admin_cli.h"

#include "admin.h"
#include "cert.h"
#include "cli.h"
#include "config.h"
#include "error.h"
#include "handshake.h"
#include "server_help.h"
#include "hex.h"
#include "hlc.h"
#include "keys.h"
#include "merge.h"
#include "seal.h"
#include "view.h"

#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define EXIT_USAGE FS_EXIT_USAGE
#define EXIT_FAILED FS_EXIT_FAILED
#define DAY_MS (24ull * 3600 * 1000)

typedef struct admin_opts {
  const char *dir, *admin_key, *key, *device, *id, *area, *parent, *level, *officer,
      *officer_id, *chain, *out, *data, *config, *seal_key;
  long days;
  unsigned long long last_seq;
  uint64_t valid_until;   /* --valid-until, ms; 0: from --days */
  bool has_days, has_last_seq;
} admin_opts;

static int parse(int argc, char **argv, admin_opts *o) {
  static const struct option longopts[] = {
      {"dir", required_argument, NULL, 'D'},      {"admin-key", required_argument, NULL, 'A'},
      {"key", required_argument, NULL, 'k'},      {"device", required_argument, NULL, 'v'},
      {"id", required_argument, NULL, 'i'},       {"area", required_argument, NULL, 'a'},
      {"parent", required_argument, NULL, 'p'},   {"level", required_argument, NULL, 'L'},
      {"officer", required_argument, NULL, 'o'},  {"officer-id", required_argument, NULL, 'O'},
      {"chain", required_argument, NULL, 'c'},    {"out", required_argument, NULL, 'w'},
      {"days", required_argument, NULL, 'n'},     {"last-seq", required_argument, NULL, 's'},
      {"data", required_argument, NULL, 'd'},     {"config", required_argument, NULL, 'C'},
      {"seal-key", required_argument, NULL, 'S'},
      {"valid-until", required_argument, NULL, 'U'},
      {NULL, 0, NULL, 0}};
  memset(o, 0, sizeof *o);
  optind = 1;
  int ch;
  char *end;
  while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (ch) {
    case 'D': o->dir = optarg; break;
    case 'A': o->admin_key = optarg; break;
    case 'k': o->key = optarg; break;
    case 'v': o->device = optarg; break;
    case 'i': o->id = optarg; break;
    case 'a': o->area = optarg; break;
    case 'p': o->parent = optarg; break;
    case 'L': o->level = optarg; break;
    case 'o': o->officer = optarg; break;
    case 'O': o->officer_id = optarg; break;
    case 'c': o->chain = optarg; break;
    case 'w': o->out = optarg; break;
    case 'd': o->data = optarg; break;
    case 'C': o->config = optarg; break;
    case 'S': o->seal_key = optarg; break;
    case 'U': {
      struct tm tm = {0};
      char *e = strptime(optarg, "%Y-%m-%d", &tm);
      if (!e || *e) {
        fprintf(stderr, "fieldsyncd: --valid-until must be a day like 2027-12-31\n");
        return -1;
      }
      /* The end of that day, UTC. */
      o->valid_until = ((uint64_t)timegm(&tm) + 86399) * 1000;
      break;
    }
    case 'n':
      o->days = strtol(optarg, &end, 10);
      if (*end || o->days < 0 || o->days > 36500) {
        fprintf(stderr, "fieldsyncd: --days must be 0..36500\n");
        return -1;
      }
      o->has_days = true;
      break;
    case 's':
      o->last_seq = strtoull(optarg, &end, 10);
      if (*end || optarg[0] == '-') {
        fprintf(stderr, "fieldsyncd: --last-seq must be a number\n");
        return -1;
      }
      o->has_last_seq = true;
      break;
    default: return -1;
    }
  }
  return 0;
}

static int need(const char *v, const char *flag) {
  if (v)
    return 0;
  fprintf(stderr, "fieldsyncd: %s is required (see the command's --help)\n", flag);
  return EXIT_USAGE;
}

static int cmd_init(const admin_opts *o) {
  if (need(o->dir, "--dir"))
    return EXIT_USAGE;
  if (mkdir(o->dir, 0700) != 0 && errno != EEXIST) {
    fprintf(stderr, "fieldsyncd: cannot create %s: %s%s\n", o->dir, strerror(errno),
            errno == ENOENT ? " (make its parent directory first: mkdir -p -m 700 ...)" : "");
    return EXIT_FAILED;
  }
  char root[1100], net[1100], seal[1100];
  snprintf(root, sizeof root, "%s/root.key", o->dir);
  snprintf(net, sizeof net, "%s/network.key", o->dir);
  snprintf(seal, sizeof seal, "%s/seal.key", o->dir);
  fs_keypair kp;
  int rc = fs_keypair_generate(&kp);
  if (rc == 0)
    rc = fs_keypair_save(&kp, root, "fieldsync deployment root");
  if (rc == 0)
    rc = fs_netkey_create(net);
  if (rc == 0)
    rc = fs_seal_key_create(seal);
  if (rc) {
    fprintf(stderr, "fieldsyncd: cannot create the deployment in %s: %s%s\n", o->dir,
            fs_strerror(rc), rc == FS_EINVAL ? " (a deployment exists there already)" : "");
    fs_keypair_free(&kp);
    return EXIT_FAILED;
  }
  char hex[2 * FS_PK_LEN + 1];
  fs_hex_encode(hex, kp.pk, FS_PK_LEN);
  fs_keypair_free(&kp);
  printf("%s\n", hex);
  fprintf(stderr,
          "deployment created: keep %s offline (it signs everything); copy %s to every "
          "server and laptop; put root_key = %s in every node's configuration; %s "
          "opens sealed fields (give it only to the unit entitled to read informants' "
          "identities), laptops get %s.pub\n",
          root, net, hex, seal, seal);
  return 0;
}

static int cmd_token(const admin_opts *o) {
  if (need(o->out, "--out"))
    return EXIT_USAGE;
  int rc = fs_admin_token_create(o->out);
  if (rc) {
    fprintf(stderr, "fieldsyncd: cannot write %s: %s%s\n", o->out, fs_strerror(rc),
            rc == FS_EINVAL ? " (it exists already; tokens are never overwritten)" : "");
    return EXIT_FAILED;
  }
  /* The token is not printed: it would stay in the terminal's scrollback. */
  printf("%s: admin token written (0600)\n", o->out);
  fprintf(stderr, "put admin_token_file = %s in the node's [node] section and make it "
                  "readable by the node's user only (chown fieldsync: %s); clients send "
                  "it as 'Authorization: Bearer TOKEN'\n", o->out, o->out);
  return 0;
}

struct open_ctx {
  uint8_t pk[FS_SEAL_KEY_LEN], sk[FS_SEAL_KEY_LEN];
  unsigned opened, failed;
};

/* Prints a record like fieldsyncd records, sealed values opened. */
static int open_visit(void *arg, const fs_record *r) {
  struct open_ctx *x = arg;
  if (!fs_record_visible(r))
    return 0;
  printf("%s %s %s", r->area, r->id, r->type ? r->type : "-");
  for (size_t i = 0; i < r->nfields; i++) {
    const fs_field *f = &r->fields[i];
    if (!fs_field_visible(r, f))
      continue;
    printf(" %s=", f->name);
    uint8_t *plain;
    size_t n;
    if (fs_value_sealed(f->value, f->value_len)) {
      if (fs_seal_open(x->pk, x->sk, f->value, f->value_len, &plain, &n) == 0) {
        fs_value_print(stdout, plain, n);
        sodium_memzero(plain, n);
        free(plain);
        x->opened++;
      } else {
        fputs("<sealed to another key>", stdout);
        x->failed++;
      }
    } else {
      fs_value_print(stdout, f->value, f->value_len);
    }
  }
  putchar('\n');
  return 0;
}

static int cmd_open(const admin_opts *o) {
  if (need(o->seal_key, "--seal-key") || need(o->data, "--data"))
    return EXIT_USAGE;
  struct open_ctx x = {{0}, {0}, 0, 0};
  int rc = fs_seal_key_load(o->seal_key, x.pk, x.sk);
  if (rc) {
    fprintf(stderr, "fieldsyncd: cannot read the sealing key %s: %s\n", o->seal_key,
            fs_strerror(rc));
    return EXIT_FAILED;
  }
  fs_store st;
  MDB_txn *txn;
  if ((rc = fs_store_open(&st, o->data, FS_STORE_MAPSIZE_DEFAULT)) == 0) {
    if ((rc = fs_store_begin(&st, false, &txn)) == 0) {
      rc = fs_store_records_scan(&st, txn, o->area ? o->area : "", open_visit, &x);
      mdb_txn_abort(txn);
    }
    fs_store_close(&st);
  }
  sodium_memzero(x.sk, sizeof x.sk);
  if (rc) {
    fprintf(stderr, "fieldsyncd: cannot read %s: %s\n", o->data, fs_strerror(rc));
    return EXIT_FAILED;
  }
  fprintf(stderr, "opened %u sealed value(s); %u sealed to another key\n", x.opened, x.failed);
  return 0;
}

/* Signs c with the admin key and writes --chain's certificates and c to
 * --out. */
static int issue(const admin_opts *o, Fs__Cert *c) {
  if (need(o->admin_key, "--admin-key") || need(o->out, "--out"))
    return EXIT_USAGE;
  if (!o->area || !fs_area_valid(o->area)) {
    fprintf(stderr, "fieldsyncd: --area must be an area code like KT.KPL.DAKNEN\n");
    return EXIT_USAGE;
  }
  c->area = (char *)o->area;
  struct stat st;
  if (stat(o->out, &st) == 0) {
    fprintf(stderr, "fieldsyncd: %s exists; certificates are never overwritten\n", o->out);
    return EXIT_FAILED;
  }
  fs_keypair kp;
  int rc = fs_keypair_load(&kp, o->admin_key);
  if (rc) {
    fprintf(stderr, "fieldsyncd: cannot read the admin key %s: %s\n", o->admin_key,
            fs_strerror(rc));
    return EXIT_FAILED;
  }
  fs_certfile chain = {0};
  if (o->chain && (rc = fs_certfile_read(&chain, o->chain))) {
    fprintf(stderr, "fieldsyncd: cannot read the chain %s\n", o->chain);
    fs_keypair_free(&kp);
    return EXIT_FAILED;
  }
  /* With a chain, the admin key must hold a delegation covering the area:
   * anything else would be a certificate no node accepts. */
  bool covered = chain.n == 0;
  char delegated[FS_MAX_AREA + 1] = "";
  for (size_t i = 0; i < chain.n; i++) {
    Fs__Cert *d;
    uint8_t did[FS_HASH_LEN];
    if (fs_cert_open(chain.certs[i], chain.lens[i], &d, did) != 0)
      continue;
    if (d->kind == FS__CERT_KIND__CERT_DELEGATION &&
        memcmp(d->subject.data, kp.pk, FS_PK_LEN) == 0) {
      snprintf(delegated, sizeof delegated, "%s", d->area);
      covered |= fs_area_within(c->area, d->area);
    }
    fs__cert__free_unpacked(d, NULL);
  }
  if (!covered) {
    fprintf(stderr, "fieldsyncd: the admin key's delegation covers %s, not %s; ask the "
                    "province administrator\n", delegated[0] ? delegated : "no area", c->area);
    fs_keypair_free(&kp);
    fs_certfile_free(&chain);
    return EXIT_FAILED;
  }
  uint8_t *p = NULL;
  size_t len;
  rc = fs_cert_issue(c, &kp, &p, &len);
  fs_keypair_free(&kp);
  for (size_t i = 0; rc == 0 && i < chain.n; i++) {
    Fs__Cert *cc;
    uint8_t id[FS_HASH_LEN];
    char desc[300];
    if ((rc = fs_cert_open(chain.certs[i], chain.lens[i], &cc, id)) == 0) {
      fs_cert_describe(cc, desc, sizeof desc);
      fs__cert__free_unpacked(cc, NULL);
      rc = fs_certfile_append(o->out, desc, chain.certs[i], chain.lens[i]);
    }
  }
  char desc[300];
  if (rc == 0) {
    fs_cert_describe(c, desc, sizeof desc);
    rc = fs_certfile_append(o->out, desc, p, len);
  }
  free(p);
  fs_certfile_free(&chain);
  if (rc) {
    fprintf(stderr, "fieldsyncd: cannot issue the certificate: %s%s\n", fs_strerror(rc),
            rc == FS_EINVAL ? " (names: officer at most 127 bytes, ids 63, level 31)" : "");
    return EXIT_FAILED;
  }
  printf("%s: %s\n", o->out, desc);
  return 0;
}

static int subject(Fs__Cert *c, uint8_t pk[FS_PK_LEN], const char *v, const char *flag) {
  if (need(v, flag))
    return EXIT_USAGE;
  if (fs_pubkey_load(pk, v) != 0) {
    fprintf(stderr, "fieldsyncd: %s must be 64 hex digits or a .pub file\n", flag);
    return EXIT_USAGE;
  }
  c->subject.data = pk;
  c->subject.len = FS_PK_LEN;
  return 0;
}

static void window(Fs__Cert *c, const admin_opts *o, long default_days) {
  long days = o->has_days ? o->days : default_days;
  c->valid_from = fs_hlc_now_ms() - 30 * DAY_MS; /* grace for skewed clocks */
  c->valid_until = o->valid_until ? o->valid_until
                   : days       ? fs_hlc_now_ms() + (uint64_t)days * DAY_MS
                                : 0;
}

int fs_admin_cli(int argc, char **argv) {
  const fs_cli_cmd *help;
  int rc = fs_cli_dispatch(argc, argv, "fieldsyncd admin", NULL, fs_admin_cmds,
                           fs_admin_cmds[0].example, &help);
  if (rc >= 0)
    return rc;
  const char *cmd = help->name;
  admin_opts o;
  if (parse(argc - 1, argv + 1, &o) != 0) {
    fprintf(stderr, "fieldsyncd: bad options (see: fieldsyncd admin %s --help)\n", cmd);
    return EXIT_USAGE;
  }
  if (strcmp(cmd, "init") == 0)
    return cmd_init(&o);
  if (strcmp(cmd, "open") == 0)
    return cmd_open(&o);
  if (strcmp(cmd, "token") == 0)
    return cmd_token(&o);
  Fs__Cert c = FS__CERT__INIT;
  uint8_t pk[FS_PK_LEN], parent[FS_PK_LEN];
  if (strcmp(cmd, "certify-node") == 0) {
    if ((rc = subject(&c, pk, o.key, "--key")) || (rc = need(o.id, "--id")))
      return rc;
    c.kind = FS__CERT_KIND__CERT_NODE;
    c.node_id = (char *)o.id;
    c.level = (char *)(o.level ? o.level : "");
    if (o.parent) {
      if (fs_pubkey_load(parent, o.parent) != 0) {
        fprintf(stderr, "fieldsyncd: --parent must be 64 hex digits or a .pub file\n");
        return EXIT_USAGE;
      }
      c.parent.data = parent;
      c.parent.len = FS_PK_LEN;
    }
    window(&c, &o, 3650);
  } else if (strcmp(cmd, "enrol") == 0) {
    if ((rc = subject(&c, pk, o.device, "--device")) || (rc = need(o.officer, "--officer")) ||
        (rc = need(o.officer_id, "--officer-id")))
      return rc;
    c.kind = FS__CERT_KIND__CERT_DEVICE;
    c.officer = (char *)o.officer;
    c.officer_id = (char *)o.officer_id;
    window(&c, &o, 365);
  } else if (strcmp(cmd, "delegate") == 0) {
    if ((rc = subject(&c, pk, o.key, "--key")))
      return rc;
    c.kind = FS__CERT_KIND__CERT_DELEGATION;
    window(&c, &o, 3650);
  } else { /* revoke, the last of fs_admin_cmds */
    if ((rc = subject(&c, pk, o.key, "--key")))
      return rc;
    c.kind = FS__CERT_KIND__CERT_REVOCATION;
    c.last_seq = o.last_seq; /* 0: nothing it signed stays valid */
    c.valid_from = fs_hlc_now_ms();
  }
  return issue(&o, &c);
}

static int print_cert(void *arg, const uint8_t *p, size_t len) {
  (void)arg;
  Fs__Cert *c;
  uint8_t id[FS_HASH_LEN];
  char desc[300];
  if (fs_cert_open(p, len, &c, id) != 0)
    return 0;
  fs_cert_describe(c, desc, sizeof desc);
  char issuer[2 * FS_PK_LEN + 1];
  fs_hex_encode(issuer, c->issuer.data, FS_PK_LEN);
  printf("%s issuer=%.16s\n", desc, issuer);
  fs__cert__free_unpacked(c, NULL);
  return 0;
}

int fs_cert_cli(int argc, char **argv) {
  const fs_cli_cmd *help;
  int rc = fs_cli_dispatch(argc, argv, "fieldsyncd cert", NULL, fs_cert_cmds,
                           fs_cert_cmds[0].example, &help);
  if (rc >= 0)
    return rc;
  const char *cmd = help->name;
  admin_opts o;
  if (parse(argc - 1, argv + 1, &o) != 0) {
    fprintf(stderr, "fieldsyncd: bad options (see: fieldsyncd cert %s --help)\n", cmd);
    return EXIT_USAGE;
  }
  if (need(o.data, "--data"))
    return EXIT_USAGE;
  fs_store st;
  rc = fs_store_open(&st, o.data, FS_STORE_MAPSIZE_DEFAULT);
  if (rc) {
    fprintf(stderr, "fieldsyncd: cannot open the store in %s: %s\n", o.data, fs_strerror(rc));
    return EXIT_FAILED;
  }
  int ret = 0;
  if (strcmp(cmd, "list") == 0) {
    MDB_txn *txn;
    uint64_t next;
    bool more;
    if ((rc = fs_store_begin(&st, false, &txn)) == 0) {
      rc = fs_cert_log_since(&st, txn, 0, SIZE_MAX, SIZE_MAX, print_cert, NULL, &next, &more);
      mdb_txn_abort(txn);
    }
    ret = rc ? EXIT_FAILED : 0;
  } else if (strcmp(cmd, "add") == 0) {
    fs_config cfg;
    if (need(o.config, "--config") || optind >= argc - 1) {
      fs_store_close(&st);
      fprintf(stderr, "fieldsyncd: cert add needs --config FILE and a certificate file "
                      "(see: fieldsyncd cert add --help)\n");
      return EXIT_USAGE;
    }
    if (fs_config_load(&cfg, o.config, NULL) != 0) {
      fprintf(stderr, "fieldsyncd: %s\n", cfg.error);
      fs_store_close(&st);
      return EXIT_FAILED;
    }
    for (int i = optind + 1; i < argc && ret == 0; i++) {
      fs_certfile f;
      if (fs_certfile_read(&f, argv[i]) != 0) {
        fprintf(stderr, "fieldsyncd: %s is not a certificate file\n", argv[i]);
        ret = EXIT_FAILED;
        break;
      }
      ProtobufCBinaryData items[FS_CERTFILE_MAX];
      for (size_t j = 0; j < f.n; j++) {
        items[j].data = f.certs[j];
        items[j].len = f.lens[j];
      }
      rc = fs_certs_accept(&st, cfg.root_key, items, f.n);
      fs_certfile_free(&f);
      if (rc < 0) {
        fprintf(stderr, "fieldsyncd: %s: %s\n", argv[i], fs_strerror(rc));
        ret = EXIT_FAILED;
      } else {
        printf("%s: %d new certificate(s) installed\n", argv[i], rc);
      }
    }
  }
  fs_store_close(&st);
  if (rc && ret == EXIT_FAILED && strcmp(cmd, "list") == 0)
    fprintf(stderr, "fieldsyncd: %s\n", fs_strerror(rc));
  return ret;
}
