/* status.h - what a node knows about itself and the nodes below it.
 *
 * A node's own status is computed from its counters and store (the area
 * digest is cached until the merged records change). Each child's latest
 * StatusReport (itself and its subtree) is kept in memory, replaced on
 * every report; the node sends its own report upward with the same
 * content, so the province holds the whole tree.
 */
#ifndef FS_STATUS_H
#define FS_STATUS_H

#include "fieldsync.pb-c.h"
#include "strbuf.h"

#include <stddef.h>
#include <stdint.h>

struct fs_server;

#define FS_STATUS_MAX_NODES 4096

#define FS_STATUS_MAX_CHILDREN 10000

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
  char last_error[256];
} fs_status;

int fs_status_init(fs_status *st);
void fs_status_free(fs_status *st);

/* Keeps a child's report (re-packed copy), replacing its previous one.
 * Returns 0, FS_ELIMIT, FS_ENOMEM. */
int fs_status_keep(fs_status *st, const uint8_t key[32], const Fs__StatusReport *r);

/* Builds this node's report (itself first, then every kept child report's
 * nodes) as a packed StatusReport in *out (malloc'ed, caller frees). */
int fs_status_report(struct fs_server *srv, uint8_t **out, size_t *len);

/* Renders the JSON of /api/status into b. */
int fs_status_json(struct fs_server *srv, fs_strbuf *b);

/* Renders the same as a terminal table, the tree indented. */
int fs_status_text(struct fs_server *srv, fs_strbuf *b);

/* Renders Prometheus text metrics of this node into b. */
int fs_status_metrics(struct fs_server *srv, fs_strbuf *b);

#endif
