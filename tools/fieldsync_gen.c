/* fieldsync_gen.c - fieldsync-gen: sample data for demos, benchmarks and
 * tests (see gen.h).
 *
 *   fieldsync-gen records --dir DIR [--count N] [--year YYYY] [--seed N]
 *                 [--area AREA] [--officer NAME] [--totals FILE]
 *   fieldsync-gen tree [--province CODE] [--districts N] [--communes N]
 *                 [--laptops N] [--seed N]
 *
 * Exit codes: 0 ok, 1 usage, 2 failed.
 */
#include "changeset.h"
#include "error.h"
#include "gen.h"
#include "keys.h"
#include "local.h"

#include <getopt.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: fieldsync-gen <command> [options]\n"
    "\n"
    "commands:\n"
    "  records --dir DIR [--count N] [--year YYYY] [--seed N] [--area AREA]\n"
    "          [--officer NAME] [--totals FILE]\n"
    "        write N realistic records (default 100) on the laptop in DIR, the way\n"
    "        `fieldsync add` and `fieldsync edit` do (one signed change set per edit,\n"
    "        some later status changes and deletions), dated across YYYY (default\n"
    "        2026), in AREA (default: the laptop's area); then print the totals a\n"
    "        report of that year must show, as CSV area,measure,value (to FILE or\n"
    "        standard output)\n"
    "  tree [--province CODE] [--districts N] [--communes N] [--laptops N] [--seed N]\n"
    "        print a Kon Tum-style tree (default KT, 2 districts of 2 communes with\n"
    "        2 laptops each): 'node ID AREA PARENT NAME' and\n"
    "        'laptop ID AREA NODE OFFICER' lines\n"
    "\n"
    "example:\n"
    "  fieldsync init --dir lap1 --area KT.KPL.DAKNEN --officer 'Nguyễn Văn An'\n"
    "  fieldsync-gen records --dir lap1 --count 500 --seed 7 --totals lap1.totals.csv\n"
    "\n"
    "exit status: 0 ok, 1 usage error, 2 failed\n";

static int usage(const char *msg) {
  if (msg)
    fprintf(stderr, "fieldsync-gen: %s\n\n", msg);
  fputs(usage_text, msg ? stderr : stdout);
  return msg ? 1 : 0;
}

static bool number(const char *s, unsigned long long max, unsigned long long *out) {
  char *end;
  if (!s || !*s || *s == '-')
    return false;
  unsigned long long v = strtoull(s, &end, 10);
  if (*end || v > max)
    return false;
  *out = v;
  return true;
}

int main(int argc, char **argv) {
  if (argc < 2)
    return usage("a command is required");
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0)
    return usage(NULL);
  static const struct option longopts[] = {
      {"dir", required_argument, NULL, 'd'},      {"count", required_argument, NULL, 'n'},
      {"year", required_argument, NULL, 'y'},     {"seed", required_argument, NULL, 's'},
      {"area", required_argument, NULL, 'a'},     {"officer", required_argument, NULL, 'o'},
      {"totals", required_argument, NULL, 't'},   {"province", required_argument, NULL, 'p'},
      {"districts", required_argument, NULL, 'D'}, {"communes", required_argument, NULL, 'C'},
      {"laptops", required_argument, NULL, 'L'},  {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *dir = NULL, *totals = NULL, *province = "KT";
  unsigned long long count = 100, year = 2026, seed = 1, districts = 2, communes = 2,
                     laptops = 2;
  fs_gen_opts o = {0};
  int ch;
  optind = 2;
  while ((ch = getopt_long(argc, argv, "d:n:y:s:a:o:t:p:D:C:L:h", longopts, NULL)) != -1) {
    bool ok = true;
    switch (ch) {
    case 'd': dir = optarg; break;
    case 'n': ok = number(optarg, 100000000, &count); break;
    case 'y': ok = number(optarg, 2099, &year) && year >= 1901; break;
    case 's': ok = number(optarg, UINT64_MAX, &seed); break;
    case 'a': o.area = optarg; break;
    case 'o': o.officer = optarg; break;
    case 't': totals = optarg; break;
    case 'p': province = optarg; break;
    case 'D': ok = number(optarg, 99, &districts) && districts > 0; break;
    case 'C': ok = number(optarg, 99, &communes) && communes > 0; break;
    case 'L': ok = number(optarg, 99, &laptops); break;
    case 'h': return usage(NULL);
    default: return usage("bad options");
    }
    if (!ok) {
      fprintf(stderr, "fieldsync-gen: bad value for --%s: '%s'\n",
              ch == 'n' ? "count" : ch == 'y' ? "year" : ch == 's' ? "seed"
              : ch == 'D' ? "districts" : ch == 'C' ? "communes" : "laptops", optarg);
      return 1;
    }
  }
  if (optind != argc) {
    fprintf(stderr, "fieldsync-gen: unexpected argument '%s'\n", argv[optind]);
    return 1;
  }
  if (strcmp(cmd, "tree") == 0) {
    if (fs_gen_tree(stdout, province, (unsigned)districts, (unsigned)communes,
                    (unsigned)laptops, seed) != 0)
      return usage("--province must be one area segment like KT");
    return 0;
  }
  if (strcmp(cmd, "records") != 0)
    return usage("unknown command");
  if (!dir)
    return usage("records needs --dir DIR (a laptop made with fieldsync init)");
  if (fs_crypto_init() != 0) {
    fprintf(stderr, "fieldsync-gen: libsodium failed to initialise\n");
    return 2;
  }
  fs_device d;
  int rc = fs_device_open(&d, dir);
  if (rc) {
    fprintf(stderr, "fieldsync-gen: cannot open the laptop in %s: %s (create it with "
                    "fieldsync init --dir %s --area AREA)\n", dir, fs_strerror(rc), dir);
    return 2;
  }
  o.count = (size_t)count;
  o.year = (int)year;
  o.seed = seed;
  fs_gen_totals t;
  fs_gen_totals_init(&t);
  /* One fsync at the end instead of one per edit: a crash of the generator
   * is not something anyone examines; sync afterwards opens it normally. */
  mdb_env_set_flags(d.store.env, MDB_NOSYNC, 1);
  rc = fs_gen_records(&d, &o, &t);
  int src = mdb_env_sync(d.store.env, 1);
  mdb_env_set_flags(d.store.env, MDB_NOSYNC, 0);
  char area[FS_MAX_AREA + 1] = "?";
  fs_device_area(&d, area);
  fs_device_close(&d);
  if (rc == 0 && src != 0)
    rc = fs_err_from_mdb(src);
  if (rc) {
    fprintf(stderr, "fieldsync-gen: generating failed: %s%s\n", fs_strerror(rc),
            rc == FS_EINVAL ? " (is --area within the laptop's area?)" : "");
    fs_gen_totals_free(&t);
    return 2;
  }
  FILE *out = stdout;
  if (totals && !(out = fopen(totals, "w"))) {
    perror(totals);
    fs_gen_totals_free(&t);
    return 2;
  }
  fs_gen_totals_print(&t, out);
  int werr = ferror(out);
  if (out != stdout)
    werr |= fclose(out);
  fprintf(stderr, "fieldsync-gen: %llu records (%llu deleted later) in %s, %llu change sets "
                  "in the outbox\n",
          (unsigned long long)t.records, (unsigned long long)t.deleted,
          o.area ? o.area : area, (unsigned long long)t.changesets);
  fs_gen_totals_free(&t);
  return werr ? 2 : 0;
}
