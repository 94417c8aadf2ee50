/* fs_storetool.c - reads (and, for one test, damages) a node's LMDB store
 * in ways the product's CLI does not, so the tests can check it from outside.
 *
 *   fs_storetool sets --data DIR
 *       every change set the store holds, decoded (not verified), one line
 *       per change, then one summary line:
 *         change dev=HEX64 seq=N hlc=N area=A id=ID type=T|- del=0|1
 *                writes=NAME:HLC:BASE:HEXVALUE,...
 *       (hlc: the change's clock, which its type and delete take: its own,
 *       or the change set's when it has none)
 *         total sets=N held=N quarantined=N
 *       The convergence test (fs_converge.py) merges these itself, with its
 *       own model of the join, and compares the result with what the node
 *       merged; it also counts every edit's value exactly once here.
 *   fs_storetool set-format --data DIR --format N
 *       writes N as the store's on-disk format version (meta "format"), as a
 *       store written by another build would carry it.
 *   fs_storetool to-format3 --data DIR
 *       rewrites a store in the layout of format 3 (store.h), as the
 *       previous build left its stores: recseq entries without their sole
 *       writer. For the upgrade tests (old_formats.h).
 *   fs_storetool to-format2 --data DIR
 *       the same in the layout of format 2: also no areasums.
 *   fs_storetool to-format1 --data DIR
 *       the same in the layout of format 1: also each set under its id in
 *       "changesets", the log and devseq holding ids.
 *   fs_storetool fill --data DIR --mb N
 *       writes N MiB (meta "filler") with this process's own map of 8 GiB,
 *       while the node runs: beyond the node's smaller map, its next
 *       transaction cannot begin (LMDB's MDB_MAP_RESIZED) until it maps
 *       the larger file.
 *   fs_storetool hold-writer --data DIR --seconds N
 *       takes the store's write lock (LMDB's, shared by every process that
 *       opens it), prints "held", keeps it N seconds (at most 600) and
 *       writes nothing: the node's writer waits meanwhile, as behind a slow
 *       commit.
 *
 * Exit status: 0 ok, 1 usage, 2 failure (with a sentence on stderr).
 */
#include "changeset.h"
#include "error.h"
#include "hex.h"
#include "old_formats.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_USAGE 1
#define EXIT_FAILED 2

static const char usage_text[] = "usage: fs_storetool sets --data DIR\n"
                                 "       fs_storetool set-format --data DIR --format N\n"
                                 "       fs_storetool to-format3 --data DIR\n"
                                 "       fs_storetool to-format2 --data DIR\n"
                                 "       fs_storetool to-format1 --data DIR\n"
                                 "       fs_storetool fill --data DIR --mb N\n"
                                 "       fs_storetool hold-writer --data DIR --seconds N\n";

static void print_change(const Fs__ChangeSet *cs, const Fs__Change *ch) {
  char dev[2 * FS_PK_LEN + 1] = "?";
  if (cs->device.len == FS_PK_LEN)
    fs_hex_encode(dev, cs->device.data, FS_PK_LEN);
  /* The change's own clock (its type and delete take it), else the set's. */
  uint64_t hlc = ch->hlc ? ch->hlc : cs->hlc;
  printf("change dev=%s seq=%llu hlc=%llu area=%s id=%s type=%s del=%d writes=", dev,
         (unsigned long long)cs->seq, (unsigned long long)hlc, cs->area, ch->record_id,
         ch->record_type && ch->record_type[0] ? ch->record_type : "-", ch->deleted ? 1 : 0);
  for (size_t i = 0; i < ch->n_writes; i++) {
    const Fs__FieldWrite *w = ch->writes[i];
    printf("%s%s:%llu:%llu:", i ? "," : "", w->name, (unsigned long long)w->hlc,
           (unsigned long long)w->base_hlc);
    for (size_t j = 0; j < w->value.len; j++)
      printf("%02x", w->value.data[j]);
  }
  putchar('\n');
}

static int cmd_sets(fs_store *s) {
  MDB_txn *txn;
  MDB_cursor *cur;
  int rc = fs_store_begin(s, false, &txn);
  if (rc)
    return rc;
  uint64_t n = 0, held = 0, quar = 0;
  if ((rc = fs_err_from_mdb(mdb_cursor_open(txn, s->log, &cur))) == 0) {
    MDB_val k, v;
    for (rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_FIRST)); rc == 0;
         rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_NEXT))) {
      Fs__SignedChangeSet *set = fs__signed_change_set__unpack(NULL, v.mv_size, v.mv_data);
      Fs__ChangeSet *cs =
          set ? fs__change_set__unpack(NULL, set->body.len, set->body.data) : NULL;
      if (cs)
        for (size_t i = 0; i < cs->n_changes; i++)
          print_change(cs, cs->changes[i]);
      if (cs)
        fs__change_set__free_unpacked(cs, NULL);
      if (set)
        fs__signed_change_set__free_unpacked(set, NULL);
      if (!cs) {
        rc = FS_EDECODE;
        break;
      }
      n++;
    }
    mdb_cursor_close(cur);
    if (rc == FS_ENOTFOUND)
      rc = 0;
  }
  if (rc == 0 && (rc = fs_store_count(s, txn, s->held, &held)) == 0)
    rc = fs_store_count(s, txn, s->quarantine, &quar);
  mdb_txn_abort(txn);
  if (rc == 0)
    printf("total sets=%llu held=%llu quarantined=%llu\n", (unsigned long long)n,
           (unsigned long long)held, (unsigned long long)quar);
  return rc;
}

/* Rewrites the store with old (old_formats.h) in one transaction. */
static int cmd_to_old(fs_store *s, int (*old)(fs_store *, MDB_txn *)) {
  MDB_txn *txn;
  int rc = fs_store_begin(s, true, &txn);
  if (rc)
    return rc;
  if ((rc = old(s, txn))) {
    mdb_txn_abort(txn);
    return rc;
  }
  return fs_store_commit(txn);
}

static int cmd_fill(fs_store *s, size_t mb) {
  MDB_txn *txn;
  int rc = fs_store_begin(s, true, &txn);
  if (rc)
    return rc;
  MDB_val k = {6, "filler"}, v = {mb << 20, NULL};
  if ((rc = fs_err_from_mdb(mdb_put(txn, s->meta, &k, &v, MDB_RESERVE)))) {
    mdb_txn_abort(txn);
    return rc;
  }
  memset(v.mv_data, 0, v.mv_size);
  return fs_store_commit(txn);
}

static int cmd_hold_writer(fs_store *s, unsigned seconds) {
  MDB_txn *txn;
  int rc = fs_store_begin(s, true, &txn);
  if (rc)
    return rc;
  printf("held\n");
  fflush(stdout);
  for (unsigned left = seconds; left > 0;)
    left = sleep(left);
  mdb_txn_abort(txn);
  return 0;
}

static int cmd_set_format(fs_store *s, uint64_t format) {
  MDB_txn *txn;
  int rc = fs_store_begin(s, true, &txn);
  if (rc)
    return rc;
  if ((rc = fs_meta_put_u64(s, txn, "format", format))) {
    mdb_txn_abort(txn);
    return rc;
  }
  return fs_store_commit(txn);
}

int main(int argc, char **argv) {
  const char *data = NULL, *format = NULL, *mb = NULL, *seconds = NULL;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--data") == 0)
      data = argv[i + 1];
    else if (strcmp(argv[i], "--format") == 0)
      format = argv[i + 1];
    else if (strcmp(argv[i], "--mb") == 0)
      mb = argv[i + 1];
    else if (strcmp(argv[i], "--seconds") == 0)
      seconds = argv[i + 1];
  }
  bool sets = argc >= 2 && strcmp(argv[1], "sets") == 0;
  bool set_format = argc >= 2 && strcmp(argv[1], "set-format") == 0 && format;
  bool to_format1 = argc >= 2 && strcmp(argv[1], "to-format1") == 0;
  bool to_format2 = argc >= 2 && strcmp(argv[1], "to-format2") == 0;
  bool to_format3 = argc >= 2 && strcmp(argv[1], "to-format3") == 0;
  bool fill = argc >= 2 && strcmp(argv[1], "fill") == 0 && mb;
  unsigned long hold_s = seconds ? strtoul(seconds, NULL, 10) : 0;
  bool hold = argc >= 2 && strcmp(argv[1], "hold-writer") == 0 && hold_s > 0 && hold_s <= 600;
  if (!data || argc % 2 != 0 ||
      (!sets && !set_format && !to_format1 && !to_format2 && !to_format3 && !fill && !hold)) {
    fputs(usage_text, stderr);
    return EXIT_USAGE;
  }
  char mdb[2048];
  struct stat sb;
  snprintf(mdb, sizeof mdb, "%s/data.mdb", data);
  if (stat(mdb, &sb) != 0) {
    fprintf(stderr, "fs_storetool: %s holds no store\n", data);
    return EXIT_FAILED;
  }
  fs_store s;
  int rc = fs_store_open(&s, data, FS_STORE_MAPSIZE_DEFAULT);
  if (rc) {
    fprintf(stderr, "fs_storetool: cannot open the store in %s: %s\n", data,
            fs_strerror(rc));
    return EXIT_FAILED;
  }
  rc = sets         ? cmd_sets(&s)
       : to_format1 ? cmd_to_old(&s, fs_old_format1)
       : to_format2 ? cmd_to_old(&s, fs_old_format2)
       : to_format3 ? cmd_to_old(&s, fs_old_format3)
       : fill       ? cmd_fill(&s, strtoull(mb, NULL, 10))
       : hold       ? cmd_hold_writer(&s, (unsigned)hold_s)
                    : cmd_set_format(&s, strtoull(format, NULL, 10));
  fs_store_close(&s);
  if (rc) {
    fprintf(stderr, "fs_storetool: %s\n", fs_strerror(rc));
    return EXIT_FAILED;
  }
  return 0;
}
