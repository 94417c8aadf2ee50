/* ingest.h - verifying and durably storing pushed change sets.
 *
 * A batch (the change sets of one Push) is verified on the libuv thread pool
 * in chunks of about FS_VERIFY_CHUNK sets (signatures and decoding:
 * CPU-heavy, so one Push keeps every core busy), then queued for commit in
 * the order batches were submitted (a peer's second Push never overtakes
 * its first). One writer thread of its own - not a pool job, so it never
 * waits behind verification - applies up to FS_COMMIT_MAX_SETS queued sets
 * in one LMDB write transaction (group commit): chain checks, storing the
 * verbatim bytes, the node's log, merging records. While it commits, the
 * pool verifies what comes next. Only after that transaction is durably
 * committed does each batch's done callback run, on the loop thread, and
 * only then may the caller acknowledge.
 *
 * Every set must be signed by a device holding a valid enrolment for the
 * set's area at the set's time, chained to the root, and not revoked before
 * its seq; certificates a child node pushes are stored first, in the same
 * transaction, so a new laptop's enrolment travels with its first sets. A
 * batch may carry certificates only: those of a Hello (fs_batch_new_certs),
 * so that the loop never takes the write lock for a first contact.
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
#define FS_VERIFY_CHUNK 32            /* sets per verification job */
#define FS_VERIFY_CHUNK_BYTES (256u << 10)
#define FS_COMMIT_MAX_SETS 2048       /* per write transaction: bounds its dirty pages */
#define FS_COMMIT_MAX_BYTES (16u << 20) /* ... and so do the Pushes' bytes: laptops' sets
                                         * of 1,024 edits are 600 KB each */

typedef struct fs_ingest fs_ingest;
typedef struct fs_batch fs_batch;
typedef struct fs_verify_chunk fs_verify_chunk;

typedef struct fs_batch_item {
  Fs__ChangeSet *cs;       /* decoded body, in its chunk's arena; NULL if bad */
  uint8_t id[FS_HASH_LEN];
  int verify_rc;           /* 0 or why the set could not be opened */
  Fs__AckStatus status;
  uint64_t head_seq;
  bool stored;             /* newly stored by this batch */
  bool clock_ahead;        /* its clock runs over a day ahead of ours */
  bool want_gap;           /* held from a laptop: fetch head_seq+1..seq-1 above */
  char reason[320];
} fs_batch_item;

/* Memory: the Push lives in env_arena, every decoded body in the arena of
 * the verification chunk that opened it (one per chunk: chunks run on
 * different threads at once). fs_batch_free frees those arenas whole. */
struct fs_batch {
  Fs__Envelope *env;       /* the Push, in env_arena; bodies point into it */
  fs_arena env_arena;      /* owned */
  size_t mem;              /* memory it holds, estimated when made: twice the
                            * decoded Push (its bodies decode into chunks) */
  size_t n;
  fs_batch_item *items;    /* n items, owned */
  /* Certificates to store first, in the same transaction: a node's Push
   * carries its new ones, a Hello its peer's (fs_batch_new_certs). */
  const ProtobufCBinaryData *certs;
  size_t n_certs;
  bool *certs_checked;     /* NULL, or n_certs flags: signatures checked (owned) */
  bool unordered;          /* a Hello's: committed next, before the Pushes queued */
  fs_verify_chunk *chunks; /* nchunks verification jobs, owned (ingest.c) */
  size_t nchunks;
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
  size_t chunks_left;      /* verification jobs still running */
  fs_batch *next;          /* in the submission order, then the writer's queues */
};

typedef void (*fs_ingest_committed_fn)(void *arg, uint64_t log_seq);

/* How long write transactions took, from begin to durable commit (map
 * growth and a retried commit included): the disk's share of every
 * acknowledgement, exported as a Prometheus histogram. Bucket i counts
 * the transactions that took at most fs_commit_bounds_ms[i]. */
#define FS_COMMIT_BUCKETS 12
extern const double fs_commit_bounds_ms[FS_COMMIT_BUCKETS];
typedef struct fs_commit_hist {
  uint64_t le[FS_COMMIT_BUCKETS]; /* cumulative, as Prometheus has them */
  uint64_t count;
  double sum_s;
} fs_commit_hist;

/* A queue of batches linked by next. */
typedef struct fs_batch_list {
  fs_batch *head, **tail;
} fs_batch_list;

struct fs_ingest {
  uv_loop_t *loop;
  fs_store *store;
  const uint8_t *root;               /* deployment root key */
  bool hold_device_gaps;             /* a parent can fill a laptop's gap */
  /* Loop thread only. */
  fs_batch_list submitted;           /* in order, verifying or verified */
  size_t in_flight;                  /* batches submitted, not yet done */
  bool stopping, closed;
  fs_ingest_committed_fn committed;  /* after each commit that stored sets */
  void *committed_arg;
  uint64_t stored, duplicates, refused, forks, gaps, held, commits, clock_ahead;
  /* Shared with the writer thread, under mu. */
  uv_thread_t writer;
  uv_mutex_t mu;
  uv_cond_t wake;
  uv_async_t committed_async;        /* the writer -> the loop: done holds batches */
  fs_batch_list todo, done;
  struct fs_trust_cache *trust;      /* the writer's, per transaction (trust_cache.h) */
  uint64_t txns;                     /* write transactions committed */
  fs_commit_hist commit_time;        /* their durations */
  bool quit;
  /* The writer asks the loop to grow the map and waits (ingest.c). */
  enum { FS_GROW_NONE, FS_GROW_IF_NEEDED, FS_GROW_FORCE } grow;
  int grow_rc;
  bool grow_deferred;                /* logged that a report holds it up */
};

/* On the loop thread, when store->pool_readers has come down to 0: runs
 * the map growth the writer may be waiting for, before another report
 * takes a read transaction on the pool. */
void fs_ingest_grow_pending(fs_ingest *ing);

/* Starts the writer thread. Returns 0, FS_ENOMEM or a libuv error. */
int fs_ingest_init(fs_ingest *ing, uv_loop_t *loop, fs_store *store,
                   const uint8_t root[FS_PK_LEN]);

/* Copies the commit durations so far (any thread but the writer's). */
void fs_ingest_commit_hist(fs_ingest *ing, fs_commit_hist *out);

/* Stops taking new batches; once those in flight are done (acknowledged),
 * ends the writer thread and closes its handle, so the loop can end. */
void fs_ingest_stop(fs_ingest *ing);

/* Creates a batch from a Push envelope decoded in *arena, taking env and
 * the arena's memory (*arena is left empty). Returns 0, or FS_ELIMIT (too
 * many sets) or FS_ENOMEM, and then env and *arena are still the caller's. */
int fs_batch_new(fs_batch **b, Fs__Envelope *env, fs_arena *arena);
/* A batch of no change sets that stores the certificates of env (a Hello
 * decoded in *arena, taken as fs_batch_new takes a Push): the n certs,
 * checked their n flags (NULL: none checked yet; taken). It keeps no order
 * with other batches: the writer's next transaction takes it first.
 * Returns 0 or FS_ENOMEM, and then nothing was taken. */
int fs_batch_new_certs(fs_batch **b, Fs__Envelope *env, fs_arena *arena,
                       const ProtobufCBinaryData *certs, size_t n, bool *checked);
/* Frees the batch, its Push and every decoded body: its arenas, whole. */
void fs_batch_free(fs_batch *b);

/* Starts verification; b->done runs exactly once on the loop thread.
 * Returns FS_ESHUTDOWN after fs_ingest_stop, or FS_ENOMEM or a libuv error
 * when no verification job could start: then b is still the caller's. */
int fs_ingest_submit(fs_ingest *ing, fs_batch *b);

/* Builds the Ack for a finished batch and sends it with send(arg, env). */
int fs_batch_ack(const fs_batch *b, int (*send)(void *arg, const Fs__Envelope *env),
                 void *arg);

#endif
