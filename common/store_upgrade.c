/* store_upgrade.c - converts a store of an older on-disk format in place
 * (store_impl.h), for fs_store_open_upgrade. */
#include "changeset.h"
#include "error.h"
#include "log.h"
#include "store_impl.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

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
      if ((rc = fs_store_get_named(txn, old, &ik, &sv, "set", "log", log_seq)))
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

/* One bounded transaction of a conversion; sets *done in the last one.
 * again: this transaction repeats the one before, which the map had no
 * room for (it was aborted, the map grown). */
typedef int (*upgrade_step_fn)(fs_store *s, MDB_txn *txn, void *arg, bool again,
                               bool *done);

/* Runs step in write transactions until it is done. */
static int upgrade_run(fs_store *s, upgrade_step_fn step, void *arg) {
  bool again = false, done = false;
  while (!done) {
    MDB_txn *txn;
    int rc = fs_store_begin(s, true, &txn);
    if (rc)
      return rc;
    if ((rc = step(s, txn, arg, again, &done)) == 0)
      rc = fs_store_commit(txn);
    else
      mdb_txn_abort(txn);
    if ((again = rc == FS_EMAPFULL)) {
      done = false;
      rc = fs_store_grow(s, true);
    }
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* Format 1 -> 2 walks the log from next; from is where the transaction in
 * progress started. */
struct from_1 {
  uint64_t next, from;
};

/* The emptied "changesets" goes last, with the new format number. */
static int step_from_1(fs_store *s, MDB_txn *txn, void *arg, bool again, bool *done) {
  struct from_1 *st = arg;
  if (again) /* the sets are in both places until the drop: redo that part */
    st->next = st->from;
  st->from = st->next;
  MDB_dbi old;
  int rc = fs_err_from_mdb(mdb_dbi_open(txn, "changesets", 0, &old));
  if (rc == FS_ENOTFOUND) {
    *done = true; /* nothing was ever stored under an id (a laptop) */
    rc = 0;
  } else if (rc == 0 && (rc = convert_some(s, txn, old, &st->next, done)) == 0 && *done) {
    rc = fs_err_from_mdb(mdb_drop(txn, old, 1));
  }
  if (rc == 0 && *done)
    rc = fs_meta_put_u64(s, txn, "format", 2);
  return rc;
}

int fs_store_upgrade_from_1(fs_store *s) {
  struct from_1 st = {1, 1};
  int rc = upgrade_run(s, step_from_1, &st);
  if (rc == 0)
    fs_log(FS_LOG_INFO, "store.upgraded", "from=1 to=2 sets=%llu",
           (unsigned long long)(st.next - 1));
  return rc;
}

#define SUMS_BATCH 4096 /* records summed per transaction, then to an area's end */
#define SUMS_NEXT "sums_next"

/* Where format 2 -> 3 goes on: meta "sums_next" holds the record seq it was
 * written at and the area to start from. Missing (a first start), or left
 * before records changed: start over, from an empty areasums. Sets *seq to
 * the record seq, and area (alen bytes; 0: the first area). */
static int sums_resume(fs_store *s, MDB_txn *txn, uint64_t *seq, char *area, size_t *alen) {
  MDB_val v;
  int rc = fs_meta_get_u64(s, txn, "record_seq", seq);
  if (rc == 0)
    rc = fs_meta_get(s, txn, SUMS_NEXT, &v);
  if (rc == 0 && (v.mv_size < 8 || v.mv_size - 8 > FS_MAX_AREA))
    return FS_ESTORE;
  if (rc == 0 && fs_be64_get(v.mv_data) == *seq) {
    *alen = v.mv_size - 8;
    memcpy(area, (const uint8_t *)v.mv_data + 8, *alen);
    return 0;
  }
  if (rc && rc != FS_ENOTFOUND)
    return rc;
  *alen = 0;
  return fs_err_from_mdb(mdb_drop(txn, s->areasums, 0));
}

/* Sums whole areas of records, in key order (an area's records are one
 * run of keys), until SUMS_BATCH records were summed; the last
 * transaction removes sums_next and sets format 3. Memory: one sum. */
static int step_from_2(fs_store *s, MDB_txn *txn, void *arg, bool again, bool *done) {
  (void)arg, (void)again; /* the progress is in the store itself */
  char cur[FS_MAX_AREA + 1];
  size_t clen;
  uint64_t seq, count = 0, summed = 0;
  int rc = sums_resume(s, txn, &seq, cur, &clen);
  MDB_cursor *c;
  if (rc || (rc = fs_err_from_mdb(mdb_cursor_open(txn, s->records, &c))))
    return rc;
  MDB_val k = {clen, cur}, v;
  fs_lthash sum, elem;
  fs_lthash_init(&sum);
  rc = fs_err_from_mdb(mdb_cursor_get(c, &k, &v, clen ? MDB_SET_RANGE : MDB_FIRST));
  for (; rc == 0; rc = fs_err_from_mdb(mdb_cursor_get(c, &k, &v, MDB_NEXT))) {
    size_t alen = strnlen(k.mv_data, k.mv_size);
    if (alen == k.mv_size || alen > FS_MAX_AREA) {
      rc = FS_ESTORE;
      break;
    }
    if (count == 0 || alen != clen || memcmp(k.mv_data, cur, alen) != 0) { /* an area begins */
      if (count > 0 && (rc = fs_store_sums_put(s, txn, cur, clen, count, &sum)))
        break;
      memcpy(cur, k.mv_data, alen);
      clen = alen;
      if (summed >= SUMS_BATCH)
        break; /* rc 0: the next transaction starts at cur */
      fs_lthash_init(&sum);
      count = 0;
    }
    if ((rc = fs_store_record_elem(&elem, &k, &v)))
      break;
    fs_lthash_add(&sum, &elem);
    count++;
    summed++;
  }
  mdb_cursor_close(c);
  if (rc == 0) {
    uint8_t next[8 + FS_MAX_AREA];
    fs_be64_put(next, seq);
    memcpy(next + 8, cur, clen);
    return fs_meta_put(s, txn, SUMS_NEXT, next, 8 + clen);
  }
  if (rc != FS_ENOTFOUND)
    return rc;
  if (count > 0 && (rc = fs_store_sums_put(s, txn, cur, clen, count, &sum)))
    return rc;
  MDB_val nk = {strlen(SUMS_NEXT), SUMS_NEXT};
  rc = fs_err_from_mdb(mdb_del(txn, s->meta, &nk, NULL));
  if (rc && rc != FS_ENOTFOUND)
    return rc;
  *done = true;
  return fs_meta_put_u64(s, txn, "format", 3);
}

int fs_store_upgrade_from_2(fs_store *s) {
  uint64_t t0 = uv_hrtime(), records = 0, areas = 0;
  int rc = upgrade_run(s, step_from_2, NULL);
  MDB_txn *txn;
  uint8_t d[FS_HASH_LEN];
  if (rc == 0 && (rc = fs_store_begin(s, false, &txn)) == 0) {
    if ((rc = fs_store_digest(s, txn, "", d, &records)) == 0)
      rc = fs_store_count(s, txn, s->areasums, &areas);
    mdb_txn_abort(txn);
  }
  if (rc == 0)
    fs_log(FS_LOG_INFO, "store.upgraded", "from=2 to=3 records=%llu areas=%llu ms=%llu",
           (unsigned long long)records, (unsigned long long)areas,
           (unsigned long long)((uv_hrtime() - t0) / 1000000));
  return rc;
}

#define TAGS_BATCH 4096 /* recseq entries looked at per transaction */

/* Format 3 -> 4 walks recseq from next, counting the entries it tagged;
 * from and tagged_from are where the transaction in progress started. */
struct from_3 {
  uint64_t next, tagged, from, tagged_from;
};

static int step_from_3(fs_store *s, MDB_txn *txn, void *arg, bool again, bool *done) {
  struct from_3 *st = arg;
  if (again) { /* the map grew after an aborted batch: redo it */
    st->next = st->from;
    st->tagged = st->tagged_from;
  }
  st->from = st->next;
  st->tagged_from = st->tagged;
  MDB_cursor *cur;
  int rc = fs_err_from_mdb(mdb_cursor_open(txn, s->recseq, &cur));
  if (rc)
    return rc;
  uint8_t kb[8];
  fs_be64_put(kb, st->next);
  MDB_val k = {8, kb}, v;
  rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE));
  for (size_t n = 0; rc == 0 && n < TAGS_BATCH; n++) {
    char area[FS_MAX_AREA + 1];
    MDB_val ek;
    const uint8_t *writer;
    if (k.mv_size != 8 || fs_store_recseq_parse(&v, area, &ek, &writer)) {
      rc = FS_ESTORE; /* among them a key too long for the buffers below */
      break;
    }
    st->next = fs_be64_get(k.mv_data) + 1;
    if (!writer) { /* untagged: the value is the key alone */
      /* Copies: the put below may move what v points to. */
      uint8_t key[FS_STORE_KEY_MAX], sk[8];
      size_t klen = v.mv_size;
      memcpy(key, v.mv_data, klen);
      memcpy(sk, k.mv_data, 8);
      MDB_val rk = {klen, key}, rv;
      fs_record r;
      if ((rc = fs_store_get_named(txn, s->records, &rk, &rv, "record", "recseq",
                                   fs_be64_get(sk))))
        break;
      if (rv.mv_size < 8 || fs_record_decode(&r, (uint8_t *)rv.mv_data + 8, rv.mv_size - 8)) {
        rc = FS_ESTORE;
        break;
      }
      uint8_t tagged[FS_STORE_RECSEQ_MAX];
      MDB_val tv = {fs_store_recseq_value(tagged, key, klen, &r), tagged};
      fs_record_free(&r);
      if (tv.mv_size != klen) {
        MDB_val skv = {8, sk};
        if ((rc = fs_err_from_mdb(mdb_cursor_put(cur, &skv, &tv, MDB_CURRENT))))
          break;
        st->tagged++;
      }
    }
    rc = fs_err_from_mdb(mdb_cursor_get(cur, &k, &v, MDB_NEXT));
  }
  mdb_cursor_close(cur);
  if (rc == FS_ENOTFOUND) {
    *done = true;
    rc = fs_meta_put_u64(s, txn, "format", 4);
  }
  return rc;
}

int fs_store_upgrade_from_3(fs_store *s) {
  uint64_t t0 = uv_hrtime();
  struct from_3 st = {1, 0, 1, 0};
  int rc = upgrade_run(s, step_from_3, &st);
  if (rc == 0)
    fs_log(FS_LOG_INFO, "store.upgraded", "from=3 to=4 tagged=%llu ms=%llu",
           (unsigned long long)st.tagged,
           (unsigned long long)((uv_hrtime() - t0) / 1000000));
  return rc;
}
