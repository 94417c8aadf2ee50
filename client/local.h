/* local.h - the laptop's own store: identity, edits, outbox.
 *
 * A device directory holds device.key (0600), device.key.pub and store/
 * (LMDB). Every edit is one change, kept as a pending change in the same
 * write transaction that applies it to the local records and advances the
 * clock, so a crash leaves either the whole edit or none of it. At sync the
 * pending changes are sealed, in edit order, into signed change sets that
 * extend the device's chain (seq, head hash) and wait in the outbox until
 * acknowledged: one signature per up to 1,024 edits, not one per edit.
 */
#ifndef FS_LOCAL_H
#define FS_LOCAL_H

#include "handshake.h"
#include "keys.h"
#include "merge.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct fs_device {
  char dir[1024];
  fs_store store;
  fs_keypair key;
  bool enrolled;                 /* network key and root key present */
  bool has_netkey;
  int netkey_rc;                 /* why network.key did not load (FS_EKEYPERM...) */
  bool has_seal_pk;              /* the deployment's sealing public key */
  uint8_t seal_pk[32];
  uint8_t netkey[FS_NETKEY_LEN];
  uint8_t root[FS_PK_LEN];
} fs_device;

typedef struct fs_write {
  const char *name;
  const uint8_t *value;
  size_t len;
} fs_write;

/* Creates dir, a key pair and the store, remembering the officer's area
 * scope; a key pair is removed again when its store cannot be made. A dir
 * whose device.key exists but whose store (or its area) does not, left by
 * an init that failed or was cut short, is finished with that key. Returns
 * 0, FS_EINVAL when dir already holds a device, FS_EKEYFILE when its
 * device.key cannot be read, or is gone but its public half or its store
 * are there (a key is never replaced), FS_EKEYPERM, FS_ESCOPE for an
 * invalid area, or an error. */
int fs_device_create(const char *dir, const char *area, const char *officer,
                     uint8_t pk[FS_PK_LEN]);

/* Installs the enrolment an administrator made for this laptop: the
 * certificate file (with its delegations), the deployment's network key
 * file (copied into dir, 0600) and root public key. Checks that a
 * certificate for this device's key chains to root. Returns 0,
 * FS_EUNTRUSTED / FS_EUNKNOWN_PEER (no certificate for this key), FS_ESCOPE
 * (the enrolment's area does not hold the device's area), or an error. */
int fs_device_enrol(fs_device *d, const char *certfile, const char *netkey_path,
                    const uint8_t root[FS_PK_LEN], const uint8_t *seal_pk,
                    char *officer_out, size_t cap);

/* Opens an existing device directory. Release with fs_device_close. */
int fs_device_open(fs_device *d, const char *dir);
void fs_device_close(fs_device *d);

/* The device's area scope (copied into out, size FS_MAX_AREA+1). */
int fs_device_area(fs_device *d, char *out);

/* Bounds a sealed body well below FS_BODY_MAX; one edit must fit alone. */
#define FS_SEAL_BODY_MAX (768u << 10)
#define FS_SEAL_ROUND 16384 /* pending edits decoded at once while sealing */

/* Folds the clocks of record r (pulled, or edited here) into the laptop's
 * clock, each as fs_hlc_observe_bounded does at wall time now_ms: a write
 * stamped beyond it by a device whose date is wrong does not carry the
 * laptop's clock along. */
uint64_t fs_device_observe(uint64_t clock, const fs_record *r, uint64_t now_ms);

/* Why an edit was refused with FS_ECLOCK, and what to do, for the officer. */
extern const char fs_edit_clock_why[];

/* Records one edit of record (area, id) as a pending change:
 * writes to fields, optionally a type (creation) and/or a delete. The
 * writes' base clocks are what the local record holds. Fields the schema
 * marks sealed are sealed to the deployment's sealing key before signing.
 * Returns 0, FS_ESCOPE when area is outside the device's scope,
 * FS_ENOSEALKEY when a sealed field is written without a sealing key,
 * FS_ECLOCK when a field written (or, for a delete, any write) carries a
 * clock beyond what fs_device_observe takes, so the edit could not win,
 * FS_EINVAL / FS_ELIMIT / FS_ETOOBIG for an edit breaking a bound of
 * docs/PROTOCOL.md, or a storage error. */
int fs_device_edit(fs_device *d, const char *area, const char *id, const char *type,
                   const fs_write *writes, size_t nwrites, bool deleted);

/* What one fs_device_seal made. */
typedef struct fs_seal_result {
  uint64_t sets;  /* signed change sets put in the outbox */
  uint64_t bytes; /* their size there */
  bool more;      /* it stopped at max_edits: edits may still be pending */
} fs_seal_result;

/* Seals the oldest max_edits pending changes (0: all of them) into signed
 * change sets in the outbox, in one transaction: grouped by area (a set
 * holds one area), in edit order within an area, at most FS_MAX_CHANGES
 * changes and FS_SEAL_BODY_MAX bytes a set. A record lies in one area, so
 * its edits keep their order; edits of different records commute (each
 * carries its own clocks). Calls one after another extend one chain, so a
 * sync can push the first sets while it seals the next. */
int fs_device_seal(fs_device *d, size_t max_edits, fs_seal_result *out);

/* One edit of fs_device_edit_all: fs_device_edit's arguments. */
typedef struct fs_edit {
  const char *area, *id, *type;
  const fs_write *writes;
  size_t nwrites;
  bool deleted;
} fs_edit;

/* Records n edits, each as fs_device_edit does, in one write transaction:
 * all of them or, on any error, none. *failed (may be NULL) gets the index
 * of the edit that failed. Returns 0 or fs_device_edit's errors. */
int fs_device_edit_all(fs_device *d, const fs_edit *edits, size_t n, size_t *failed);

/* Finds a local record by its id, or by a unique beginning or end of it
 * (at least 4 characters; shorter only as the whole id). Ids made here
 * begin with their time, so their end is what tells them apart.
 * Returns 0 (r owned by the caller), FS_ENOTFOUND, or FS_EINVAL when the
 * part is ambiguous. */
int fs_device_find(fs_device *d, const char *id_part, fs_record *r);

/* Makes a fresh record id into out[33]: 32 hex digits, the milliseconds
 * since 1970 (48 bits) and then 80 random bits, so ids sort by creation. */
void fs_record_id_new(char out[33]);

#endif
