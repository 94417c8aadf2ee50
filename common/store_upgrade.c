/* store_upgrade.c - converts a store of an older on-disk format in place
 * (store_impl.h), for fs_store_open_upgrade. */
#include "changeset.h"
#include "error.h"
#include "log.h"
#include "store_impl.h"

#include <stdlib.h>
#include <string.h>

#define UPGRADE_BATCH 4096 /* log entries converted per transaction */

/* Converts up to UPGRADE_BATCH format 1 log entries from *next on: the log
 * held a set's id and the set lived under that id in old ("changesets");
 * devseq held the id alone. An entry already converted (longer than an
 * id) is skipped. Sets *done when the log's end was reached. */
static int convert_some(fs_store *s, MDB_txn *txn, MDB_dbi old, uint64_t *next,
                        bool *done) {
  MDB_cursor *cur;
  int rc = fs_err_from_mdb(mdb_cursor_open(txn, s->log, &cur));
  if (rc)
    return rc;
  uint8_t kb[8];
  fs_be64_put(kb, *next);
  MDB_val k = {8, kb}, v;
  rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE));
  for (size_t n = 0; rc == 0 && n < UPGRADE_BATCH; n++) {
    if (k.mv_size != 8) {
      rc = FS_ESTORE;
      break;
    }
    uint64_t log_seq = fs_be64_get(k.mv_data);
    if (v.mv_size == FS_HASH_LEN) {
      uint8_t id[FS_HASH_LEN], lk[8];
      memcpy(id, v.mv_data, FS_HASH_LEN);
      fs_be64_put(lk, log_seq);
      MDB_val ik = {FS_HASH_LEN, id}, sv;
      if ((rc = fs_err_from_mdb(mdb_get(txn, old, &ik, &sv))))
        break;
      /* A copy: the puts below may move what sv points to. */
      uint8_t *set = malloc(sv.mv_size);
      if (!set) {
        rc = FS_ENOMEM;
        break;
      }
      memcpy(set, sv.mv_data, sv.mv_size);
      Fs__SignedChangeSet *ss = fs__signed_change_set__unpack(NULL, sv.mv_size, set);
      Fs__ChangeSet *cs = ss ? fs__change_set__unpack(NULL, ss->body.len, ss->body.data) : NULL;
      if (!cs || cs->device.len != FS_PK_LEN) {
        rc = FS_ESTORE;
      } else {
        uint8_t dk[FS_PK_LEN + 8], dv[FS_HASH_LEN + 8];
        memcpy(dk, cs->device.data, FS_PK_LEN);
        fs_be64_put(dk + FS_PK_LEN, cs->seq);
        memcpy(dv, id, FS_HASH_LEN);
        memcpy(dv + FS_HASH_LEN, lk, 8);
        MDB_val dkv = {sizeof dk, dk}, dvv = {sizeof dv, dv}, lkv = {8, lk},
                setv = {sv.mv_size, set};
        if ((rc = fs_err_from_mdb(mdb_put(txn, s->devseq, &dkv, &dvv, 0))) == 0)
          rc = fs_err_from_mdb(mdb_cursor_put(cur, &lkv, &setv, MDB_CURRENT));
      }
      if (cs)
        fs__change_set__free_unpacked(cs, NULL);
      if (ss)
        fs__signed_change_set__free_unpacked(ss, NULL);
      free(set);
      if (rc)
        break;
    }
    *next = log_seq + 1;
    rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_NEXT));
  }
  mdb_cursor_close(cur);
  if (rc == FS_ENOTFOUND) {
    *done = true;
    rc = 0;
  }
  return rc;
}

/* In transactions of UPGRADE_BATCH entries; the emptied "changesets" goes
 * last, with the new format number. A crash in between leaves format 1
 * and costs the next start a rescan of what was done. */
int fs_store_upgrade_from_1(fs_store *s) {
  uint64_t next = 1;
  for (;;) {
    MDB_txn *txn;
    MDB_dbi old;
    bool done = false;
    uint64_t from = next;
    int rc = fs_store_begin(s, true, &txn);
    if (rc)
      return rc;
    rc = fs_err_from_mdb(mdb_dbi_open(txn, "changesets", 0, &old));
    if (rc == FS_ENOTFOUND) {
      done = true; /* nothing was ever stored under an id (a laptop) */
      rc = 0;
    } else if (rc == 0 && (rc = convert_some(s, txn, old, &next, &done)) == 0 && done) {
      rc = fs_err_from_mdb(mdb_drop(txn, old, 1));
    }
    if (rc == 0 && done)
      rc = fs_meta_put_u64(s, txn, "format", FS_STORE_FORMAT);
    if (rc == 0)
      rc = fs_store_commit(txn);
    else
      mdb_txn_abort(txn);
    if (rc == FS_EMAPFULL) { /* the sets are in both places until the drop */
      next = from;
      if ((rc = fs_store_grow(s, true)) < 0)
        return rc;
      continue;
    }
    if (rc)
      return rc;
    if (done) {
      fs_log(FS_LOG_INFO, "store.upgraded", "from=1 to=%d sets=%llu", FS_STORE_FORMAT,
             (unsigned long long)(next - 1));
      return 0;
    }
  }
}
