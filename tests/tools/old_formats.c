/* old_formats.c - stores in older on-disk layouts (old_formats.h). */
#include "old_formats.h"

#include "changeset.h"
#include "error.h"

#include <string.h>

int fs_old_format3(fs_store *s, MDB_txn *txn) {
  MDB_cursor *cur;
  int rc = fs_err_from_mdb(mdb_cursor_open(txn, s->recseq, &cur));
  if (rc)
    return rc;
  MDB_val k, v;
  for (rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_FIRST)); rc == 0;
       rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_NEXT))) {
    /* area 0 id [0 writer]: cut at the second 0 byte */
    const uint8_t *p = v.mv_data, *a = memchr(p, 0, v.mv_size);
    const uint8_t *t = a ? memchr(a + 1, 0, v.mv_size - (size_t)(a + 1 - p)) : NULL;
    if (!t)
      continue;
    uint8_t key[FS_MAX_AREA + 1 + FS_MAX_ID], sk[8];
    size_t klen = (size_t)(t - p);
    if (klen > sizeof key) {
      rc = FS_ESTORE;
      break;
    }
    memcpy(key, p, klen);
    memcpy(sk, k.mv_data, 8);
    MDB_val skv = {8, sk}, kv = {klen, key};
    if ((rc = fs_err_from_mdb(mdb_cursor_put(cur, &skv, &kv, MDB_CURRENT))))
      break;
  }
  mdb_cursor_close(cur);
  if (rc == FS_ENOTFOUND)
    rc = fs_meta_put_u64(s, txn, "format", 3);
  return rc;
}

int fs_old_format2(fs_store *s, MDB_txn *txn) {
  int rc = fs_old_format3(s, txn);
  if (rc == 0)
    rc = fs_err_from_mdb(mdb_drop(txn, s->areasums, 0));
  return rc ? rc : fs_meta_put_u64(s, txn, "format", 2);
}

int fs_old_format1(fs_store *s, MDB_txn *txn) {
  MDB_cursor *cur;
  MDB_dbi old;
  int rc;
  if ((rc = fs_old_format2(s, txn)) ||
      (rc = fs_err_from_mdb(mdb_dbi_open(txn, "changesets", MDB_CREATE, &old))) ||
      (rc = fs_err_from_mdb(mdb_cursor_open(txn, s->log, &cur))))
    return rc;
  MDB_val k, v;
  for (rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_FIRST)); rc == 0;
       rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_NEXT))) {
    Fs__SignedChangeSet *set = fs__signed_change_set__unpack(NULL, v.mv_size, v.mv_data);
    Fs__ChangeSet *cs = set ? fs__change_set__unpack(NULL, set->body.len, set->body.data) : NULL;
    if (!cs || cs->device.len != FS_PK_LEN) {
      rc = FS_EDECODE;
    } else {
      uint8_t id[FS_HASH_LEN], dk[FS_PK_LEN + 8], lk[8];
      fs_changeset_id(set->body.data, set->body.len, id);
      memcpy(lk, k.mv_data, 8);
      memcpy(dk, cs->device.data, FS_PK_LEN);
      fs_be64_put(dk + FS_PK_LEN, cs->seq);
      MDB_val idv = {FS_HASH_LEN, id}, lkv = {8, lk}, dkv = {sizeof dk, dk};
      if ((rc = fs_err_from_mdb(mdb_put(txn, old, &idv, &v, 0))) == 0 &&
          (rc = fs_err_from_mdb(mdb_put(txn, s->devseq, &dkv, &idv, 0))) == 0)
        rc = fs_err_from_mdb(mdb_cursor_put(cur, &lkv, &idv, MDB_CURRENT));
    }
    if (cs)
      fs__change_set__free_unpacked(cs, NULL);
    if (set)
      fs__signed_change_set__free_unpacked(set, NULL);
    if (rc)
      break;
  }
  mdb_cursor_close(cur);
  return rc == FS_ENOTFOUND ? fs_meta_put_u64(s, txn, "format", 1) : rc;
}
