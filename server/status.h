/* status.h - what a node knows about itself and the nodes below it.
 *
 * A node's own row is computed from its counters, its peer table (peers.h)
 * and its store (the area digest is cached until the merged records change).
 * Each child's latest StatusReport (itself and its subtree) is kept in
 * memory, replaced on every report; the node sends its own report upward
 * with the same content, so the province holds the whole tree.
 *
 * Freshness without comparing clocks: every row carries age_ms, how old it
 * was when it was sent (0 for the sender's own row); a node adds how long it
 * has held a row, so a row's age is exact up to transit times. Times inside
 * a row are in the reporting node's clock and are only ever compared with
 * that row's reported_ms.
 *
 * A row's state, as every view shows it (first match):
 *   stale     older than the viewing node's stale_after_s
 *   fork      the node holds forked change sets (forks or quarantine)
 *   refusing  it refused a change set or a connection in the last hour
 *   lagging   its link to its parent is down, or sets wait to go up
 *   in_sync   otherwise
 * Bounded: at most FS_STATUS_MAX_NODES rows and FS_STATUS_MAX_BYTES per
 * report, at most FS_STATUS_MAX_PEERS peer rows per node (problems first).
 */
#ifndef FS_STATUS_H
#define FS_STATUS_H

#include "fieldsync.pb-c.h"
#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fs_server;

#define FS_STATUS_MAX_NODES 4096
#define FS_STATUS_MAX_BYTES (2u << 20) /* a report stays well below a frame */
#define FS_STATUS_MAX_PEERS 128
#define FS_STATUS_MAX_CHILDREN 10000
#define FS_STATUS_REFUSING_MS (3600u * 1000) /* "refusing": within the last hour */

typedef struct fs_child_report {
  uint8_t key[32];           /* the child node's key */
  uint8_t *report;           /* packed StatusReport, owned */
  size_t len;
  uint64_t seen_ms;          /* when it arrived */
} fs_child_report;

typedef struct fs_status {
  fs_child_report *children; /* owned, one per child that ever reported */
  size_t nchildren, cap;
  uint64_t digest_seq;       /* record_seq the cached digest was made at */
  uint8_t digest[32];
  uint64_t records;
  uint64_t started_ms;
  char level[32];            /* from our certificate, read once */
  bool level_read;
  char last_error[256];
} fs_status;

int fs_status_init(fs_status *st);
void fs_status_free(fs_status *st);

/* Keeps a child's report (re-packed copy), replacing its previous one.
 * Returns 0, FS_ELIMIT, FS_ENOMEM. */
int fs_status_keep(fs_status *st, const uint8_t key[32], const Fs__StatusReport *r);

/* Builds this node's report (itself first, then every kept child report's
 * rows, each with its age) as a packed StatusReport in *out (malloc'ed,
 * caller frees). */
int fs_status_report(struct fs_server *srv, uint8_t **out, size_t *len);

/* Calls fn for this node's row (age 0) and every kept row, with its age at
 * this node; a non-zero return stops and is returned. n is valid during
 * the call only. */
typedef int (*fs_status_fn)(void *arg, const Fs__NodeStatus *n, uint64_t age_ms);
int fs_status_each(struct fs_server *srv, fs_status_fn fn, void *arg);

/* A copy of n through the wire form (n may live in a report freed right
 * after); free with fs__node_status__free_unpacked. NULL when out of memory. */
Fs__NodeStatus *fs_status_copy(const Fs__NodeStatus *n);

/* The state of a row of age age_ms (see above): "in_sync", "lagging",
 * "stale", "refusing" or "fork". */
const char *fs_status_state(const Fs__NodeStatus *n, uint64_t age_ms, uint64_t stale_ms);

/* How long, at a viewer for which the row is age_ms old, since the row's
 * time t (in the reporting node's clock); UINT64_MAX when t is 0 (never). */
uint64_t fs_status_since(const Fs__NodeStatus *n, uint64_t age_ms, uint64_t t);

/* Renders the JSON of /api/status into b (status_render.c): one line per
 * node with every scalar, then its peers one per line. */
int fs_status_json(struct fs_server *srv, fs_strbuf *b);

/* Renders the same as a terminal table, the tree indented. */
int fs_status_text(struct fs_server *srv, fs_strbuf *b);

/* Renders Prometheus text metrics of this node, its peers and every node
 * it knows of into b. */
int fs_status_metrics(struct fs_server *srv, fs_strbuf *b);

#endif
