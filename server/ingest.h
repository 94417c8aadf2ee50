/* ingest.h - verifying and durably storing pushed change sets.
 *
 * A batch (the change sets of one Push) is verified on the libuv thread pool
 * (signatures and decoding: CPU-heavy, both cores), then queued for commit.
 * One commit job at a time runs on the pool and applies every queued batch
 * in one LMDB write transaction (group commit): chain checks, storing the
 * verbatim bytes, the node's log, merging records. Only after that
 * transaction is durably committed does each batch's done callback run, on
 * the loop thread, and only then may the caller acknowledge.
 *
 * Every set must be signed by a device holding a valid enrolment for the
 * set's area at the set's time, chained to the root, and not revoked before
 * its seq; certificates a child node pushes are stored first, in the same
 * transaction, so a new laptop's enrolment travels with its first sets.
 */
#ifndef FS_INGEST_H
#define FS_INGEST_H

#include "changeset.h"
#include "fieldsync.pb-c.h"
#include "keys.h"
#include "store.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define FS_PUSH_MAX_SETS 512 /* change sets per Push, bounded */
#define FS_PUSH_MAX_CERTS 256

typedef struct fs_ingest fs_ingest;
typedef struct fs_batch fs_batch;

typedef struct fs_batch_item {
  Fs__ChangeSet *cs;       /* decoded body, owned by the batch; NULL if bad */
  uint8_t id[FS_HASH_LEN];
  int verify_rc;           /* 0 or why the set could not be opened */
  Fs__AckStatus status;
  uint64_t head_seq;
  bool stored;             /* newly stored by this batch */
  bool clock_ahead;        /* its clock runs over a day ahead of ours */
  bool want_gap;           /* held from a laptop: fetch head_seq+1..seq-1 above */
  char reason[320];
} fs_batch_item;

struct fs_batch {
  Fs__Envelope *env;       /* the Push, owned; bodies point into it */
  size_t n;
  fs_batch_item *items;    /* n items, owned */
  /* Who pushed: a device may push only its own sets; a node any device's
   * sets within its area. */
  bool from_device;
  uint8_t peer_key[FS_PK_LEN];
  /* From a node: sets ahead of a gap are held (stored, applied when the
   * chain reaches them) and the node's log cursor is stored with them. */
  bool set_cursor;
  uint64_t cursor;
  uint64_t cert_cursor;    /* node: cert log seq of the last cert pushed */
  char scope[FS_MAX_AREA + 1];
  int rc;                  /* commit result: 0 or an error for all items */
  void (*done)(fs_batch *b);
  void *data;
  fs_ingest *ing;
  uv_work_t work;
  fs_batch *next;
};

typedef void (*fs_ingest_committed_fn)(void *arg, uint64_t log_seq);

struct fs_ingest {
  uv_loop_t *loop;
  fs_store *store;
  const uint8_t *root;               /* deployment root key */
  bool hold_device_gaps;             /* a parent can fill a laptop's gap */
  fs_batch *pending, **pending_tail; /* verified, waiting for commit */
  fs_batch *committing;              /* the batches of the running commit */
  uv_work_t commit_work;
  bool commit_running;
  int verifying;                     /* batches on the pool for verify */
  fs_ingest_committed_fn committed;  /* after each commit that stored sets */
  void *committed_arg;
  uint64_t stored, duplicates, refused, forks, gaps, held, commits, clock_ahead;
};

void fs_ingest_init(fs_ingest *ing, uv_loop_t *loop, fs_store *store,
                    const uint8_t root[FS_PK_LEN]);

/* Creates a batch from a Push envelope (taking ownership of env). Returns
 * 0, FS_ELIMIT (too many sets) or FS_ENOMEM (then env is still the
 * caller's). */
int fs_batch_new(fs_batch **b, Fs__Envelope *env);
void fs_batch_free(fs_batch *b);

/* Starts verification; b->done runs exactly once on the loop thread. */
int fs_ingest_submit(fs_ingest *ing, fs_batch *b);

/* True while any batch is being verified or committed. */
bool fs_ingest_busy(const fs_ingest *ing);

/* Builds the Ack for a finished batch and sends it with send(arg, env). */
int fs_batch_ack(const fs_batch *b, int (*send)(void *arg, const Fs__Envelope *env),
                 void *arg);

#endif
