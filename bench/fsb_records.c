/* fsb_records.c - fills a node's store with merged records, quickly, and
 * measures what the writer spends per record.
 *
 *   fsb_records --data DIR --count N [--communes C] [--batch B] [--per-set K]
 *               [--update]
 *
 * Applies N patrol records (bench/fsb.h: about 600 bytes of values, a
 * canonical state of about 800 bytes) as opened change sets of K changes
 * (default 1, at most 1,024: a laptop's sync seals its edits in sets of up
 * to 1,024, all in the area of the set's first record), B records (default
 * 2,048) per write transaction, exactly the store calls the
 * node's writer thread makes for verified sets (fs_store_apply_changeset),
 * without signatures, network or log. Record i lies in commune i % C
 * (default 16) of district i % 4 of KT, in one of its nine villages, so
 * the store holds C x 9 areas under KT. --update applies a second change
 * to each of the N records instead (a new status, a later clock), as a
 * catch-up replacing known records would: they must have been written by
 * a run without --update with the same --per-set. The environment is
 * switched to MDB_NOSYNC for the run (one sync at the end): what is
 * measured is CPU, not the disk.
 *
 * --count 0 only opens the store as its writer, which converts one of an
 * older format. Prints `open_s S` (the open, with any conversion),
 * `records_written N`, `state_bytes B` (the first record's
 * canonical state), `write_cpu_us_per_record U` (user + system CPU of the
 * process over the writes and commits) and `write_s S` (wall). Used to
 * measure the cost of the area sums of store format 3 (bench/NOTES.md);
 * `fieldsyncd digest --data DIR --area KT` times a digest of the result.
 */
#include "fsb.h"

#include "error.h"
#include "merge.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define FSB_MAX_PER_SET 1024

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Applies records first..first+k-1 (or their updates) in txn as one
 * change set, in the area of the first (a laptop's set lies in one area). */
static int apply_set(fs_store *s, MDB_txn *txn, const uint8_t *dev, long communes,
                     long first, long k, bool update) {
  static fsb_record r[FSB_MAX_PER_SET];
  static Fs__FieldWrite fw[FSB_MAX_PER_SET][FSB_NFIELDS];
  static Fs__FieldWrite *fwp[FSB_MAX_PER_SET][FSB_NFIELDS];
  static Fs__Change ch[FSB_MAX_PER_SET], *chp[FSB_MAX_PER_SET];
  uint64_t hlc = (uint64_t)(update ? 2000000 : 1000000) + (uint64_t)first;
  for (long j = 0; j < k; j++) {
    long i = first + j;
    char scope[32];
    snprintf(scope, sizeof scope, "KT.D%ld.C%ld", i % communes % 4, i % communes);
    fsb_record_make(&r[j], scope, (uint64_t)i);
    size_t n = update ? 1 : r[j].n;
    for (size_t f = 0; f < n; f++) {
      fs__field_write__init(&fw[j][f]);
      fw[j][f].name = (char *)(update ? "status" : r[j].names[f]);
      fw[j][f].value.data = (uint8_t *)(update ? (const uint8_t *)"handling" : r[j].values[f]);
      fw[j][f].value.len = update ? 8 : r[j].lens[f];
      fw[j][f].hlc = hlc;
      fwp[j][f] = &fw[j][f];
    }
    fs__change__init(&ch[j]);
    ch[j].record_id = r[j].id;
    ch[j].record_type = (char *)"incident";
    ch[j].n_writes = n;
    ch[j].writes = fwp[j];
    chp[j] = &ch[j];
  }
  Fs__ChangeSet cs = FS__CHANGE_SET__INIT;
  cs.device.data = (uint8_t *)dev;
  cs.device.len = FS_PK_LEN;
  cs.hlc = hlc;
  cs.area = r[0].area;
  cs.n_changes = (size_t)k;
  cs.changes = chp;
  int rc = fs_store_apply_changeset(s, txn, &cs);
  return rc == k ? 0 : rc < 0 ? rc : FS_ESTORE;
}

/* The canonical state of record 0 (commune 0 of district 0). */
static size_t state_bytes(fs_store *s) {
  fsb_record r;
  fsb_record_make(&r, "KT.D0.C0", 0);
  MDB_txn *txn;
  fs_record rec;
  size_t len = 0;
  uint8_t *state;
  if (fs_store_begin(s, false, &txn) == 0) {
    if (fs_store_record_get(s, txn, r.area, r.id, &rec) == 0) {
      if (fs_record_encode(&rec, &state, &len) == 0)
        free(state);
      fs_record_free(&rec);
    }
    mdb_txn_abort(txn);
  }
  return len;
}

int main(int argc, char **argv) {
  const char *data = fsb_opt(argc, argv, "--data", NULL);
  long count = atol(fsb_opt(argc, argv, "--count", "0"));
  long communes = atol(fsb_opt(argc, argv, "--communes", "16"));
  long batch = atol(fsb_opt(argc, argv, "--batch", "2048"));
  long per_set = atol(fsb_opt(argc, argv, "--per-set", "1"));
  bool update = fsb_flag(argc, argv, "--update");
  if (!data || count < 0 || communes <= 0 || batch <= 0 || per_set <= 0 ||
      per_set > FSB_MAX_PER_SET) {
    fprintf(stderr, "usage: fsb_records --data DIR --count N [--communes C] [--batch B] "
                    "[--per-set K] [--update]\n");
    return 1;
  }
  if (fs_crypto_init() != 0)
    return 2;
  uint8_t pk[FS_PK_LEN], sk[FS_SK_LEN];
  fsb_keypair("records", 0, pk, sk);
  fs_store s;
  double o0 = fsb_now_s();
  int rc = fs_store_open_upgrade(&s, data, FS_STORE_MAPSIZE_DEFAULT);
  double open_s = fsb_now_s() - o0;
  if (rc) {
    fprintf(stderr, "fsb_records: cannot open %s: %s\n", data, fs_strerror(rc));
    return 2;
  }
  mdb_env_set_flags(s.env, MDB_NOSYNC, 1);
  double c0 = cpu_s(), t0 = fsb_now_s();
  for (long i = 0; rc == 0 && i < count;) {
    MDB_txn *txn;
    if ((rc = fs_store_begin(&s, true, &txn)))
      break;
    for (long b = 0; rc == 0 && b < batch && i < count; i += per_set, b += per_set)
      rc = apply_set(&s, txn, pk, communes, i, count - i < per_set ? count - i : per_set,
                     update);
    if (rc == 0)
      rc = fs_store_commit(txn);
    else
      mdb_txn_abort(txn);
  }
  double cpu = cpu_s() - c0, wall = fsb_now_s() - t0;
  mdb_env_set_flags(s.env, MDB_NOSYNC, 0);
  if (rc == 0)
    rc = fs_err_from_mdb(mdb_env_sync(s.env, 1));
  if (rc) {
    fprintf(stderr, "fsb_records: %s\n", fs_strerror(rc));
    fs_store_close(&s);
    return 2;
  }
  fsb_result("open_s", open_s, "s");
  fsb_result("records_written", (double)count, "records");
  fsb_result("state_bytes", (double)state_bytes(&s), "B");
  fsb_result("write_cpu_us_per_record", count ? cpu * 1e6 / (double)count : 0, "us");
  fsb_result("write_s", wall, "s");
  fs_store_close(&s);
  return 0;
}
