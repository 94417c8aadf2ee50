/* uplink.h - a node's one outbound link to its parent.
 *
 * The child connects out (communes sit behind NAT and poor links), proves
 * its node key, checks the parent's key against parent_key, then pushes its
 * log from the cursor the parent reports in Welcome, one bounded batch at a
 * time. The parent stores that cursor in the same transaction as the sets
 * it covers, so the two can never disagree and nothing is skipped or sent
 * twice except what was in flight. New sets are pushed as soon as the
 * ingest commits them (its committed callback), not on a timer. Downward, the
 * same link pulls the records of the node's area from the parent with the
 * Pull/Records messages laptops use. On any failure the link is closed and
 * retried with exponential backoff and jitter.
 */
#ifndef FS_UPLINK_H
#define FS_UPLINK_H

#include <stdbool.h>
#include <stdint.h>

struct fs_server;
typedef struct fs_uplink fs_uplink;

#define FS_UPLINK_BATCH_SETS 256
#define FS_UPLINK_BATCH_BYTES (1u << 20)
#define FS_UPLINK_BATCH_CERTS 64
#define FS_UPLINK_PIPELINE 16 /* Pushes in flight during a backlog, acked in order */
#define FS_UPLINK_PIPELINE_SHALLOW 4 /* ... and otherwise (see push_next) */
#define FS_UPLINK_WANTS 16
#define FS_UPLINK_BACKOFF_MIN_MS 250
#define FS_UPLINK_BACKOFF_MAX_MS 30000
#define FS_UPLINK_TICK_MS 1000
#define FS_UPLINK_KEEPALIVE_MS 5000 /* status report + pull: small and cheap */
#define FS_UPLINK_IDLE_MS 30000
#define FS_UPLINK_HANDSHAKE_MS 15000 /* connect to Welcome: a deadline, input does not extend it */

typedef struct fs_uplink_stats {
  bool connected;
  char parent_id[64];     /* from the parent's Welcome */
  uint64_t cursor;        /* parent's acknowledged log seq */
  uint64_t log_seq;       /* our newest log seq when last looked at */
  uint64_t pushed, stored, duplicates, held, refused, connects, failures;
  uint64_t pulled, last_ack_ms, fetched;
  char last_error[256];
  /* monitoring: the parent as a peer (status.c) */
  uint8_t parent_key[32];  /* from its Hello; zeros before the first one */
  char parent_software[32];
  uint64_t last_contact_ms; /* last frame from the parent */
  uint64_t bytes_in, bytes_out; /* of closed connections (fs_uplink_traffic) */
} fs_uplink_stats;

/* Allocates the uplink and starts connecting. Returns 0 or a negative code. */
int fs_uplink_start(fs_uplink **out, struct fs_server *srv);

/* Asks the parent for change sets from_seq..to_seq of device (which this
 * node lacks: it holds later ones from a laptop); the answer is ingested
 * like a push from below. Bounded: a full list drops the request (the
 * laptop's next sync asks again). */
void fs_uplink_fetch(fs_uplink *u, const uint8_t device[32], uint64_t from_seq,
                     uint64_t to_seq);

/* Something below changed (a child's report): report on the next tick. */
void fs_uplink_mark_dirty(fs_uplink *u);

/* Closes the link and frees the uplink once its handles have closed (a
 * later loop turn): the caller drops its pointer now. */
void fs_uplink_stop(fs_uplink *u);

const fs_uplink_stats *fs_uplink_stats_get(const fs_uplink *u);

/* Bytes to and from the parent since start, the open connection's included. */
void fs_uplink_traffic(const fs_uplink *u, uint64_t *in, uint64_t *out);

#endif
