/* peers.h - what a node knows of each direct peer: its laptops (devices),
 * its child nodes and its parent.
 *
 * One table per server, in memory, keyed by the peer's Ed25519 key. What
 * must survive a restart is also kept in the peers database: change sets
 * stored, duplicates, refused and forked per peer, the last refusal and the
 * last contact, written by fs_peers_persist in the same write transaction as
 * the change sets they count (so counts and data never disagree), and read
 * back by fs_peers_load. Connections, bytes, pulled records and connections
 * refused at Hello are counted since the node started. Cursors are read
 * where they are kept anyway: a child's log cursor (peers database), a
 * device's head (devices database); the parent's row is the uplink's
 * (status.c builds it).
 *
 * Bounded: at most FS_PEERS_MAX peers. A stranger refused at Hello (a key
 * with no certificate here) takes the place of the longest-silent stranger
 * when the table is full, so refusals cannot grow it without bound.
 * Everything runs on the loop thread except fs_peers_persist (the commit).
 */
#ifndef FS_PEERS_H
#define FS_PEERS_H

#include "cert.h"
#include "changeset.h"
#include "conn.h"
#include "hello.h"
#include "keys.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FS_PEERS_MAX 16384
#define FS_PEER_LIVE_MAX 8   /* open sessions tracked per peer (>= sessions per key) */
#define FS_PEER_REASON_MAX 256
#define FS_QUEUE_SAMPLES 64

struct fs_batch;

typedef enum { FS_PEER_DEVICE, FS_PEER_CHILD } fs_peer_kind;

typedef struct fs_peer {
  uint8_t key[FS_PK_LEN];
  fs_peer_kind kind;
  bool stranger;             /* no certificate here: only ever refused */
  char name[128];            /* officer or node id, from its certificate */
  char officer_id[64];
  char area[FS_MAX_AREA + 1];
  char software[FS_SOFTWARE_MAX];
  const fs_conn *live[FS_PEER_LIVE_MAX]; /* its open sessions */
  unsigned sessions;
  uint64_t last_contact_ms;
  uint64_t cursor;           /* device: head seq here; child: its log cursor */
  /* durable (peers database) */
  uint64_t sets_in, duplicates, refused, forks, last_refusal_ms;
  char last_refusal[FS_PEER_REASON_MAX];
  /* since start; bytes of closed sessions only (live ones are added when read) */
  uint64_t refused_hello, records_out, bytes_in, bytes_out;
} fs_peer;

/* When the sets of our log beyond the parent's cursor arrived, coarsely:
 * (seq, ms) means sets up to seq were in the log at ms. */
typedef struct fs_queue_sample {
  uint64_t seq, ms;
} fs_queue_sample;

typedef struct fs_queue {
  fs_queue_sample s[FS_QUEUE_SAMPLES];
  size_t n;
} fs_queue;

typedef struct fs_peers {
  fs_store *store;
  fs_peer **v;               /* owned, sorted by key */
  size_t n, cap;
  uint64_t refused_hello;    /* every refusal at Hello, strangers' included */
  uint64_t last_refusal_ms;  /* the node's last refusal of a set or a connection */
  char last_refusal[FS_PEER_REASON_MAX];
  fs_queue queue;
} fs_peers;

void fs_peers_init(fs_peers *p, fs_store *store);
void fs_peers_free(fs_peers *p);

/* Fills the table from the peers database (every key but self), naming each
 * peer from its certificate. Returns 0 or a storage error. */
int fs_peers_load(fs_peers *p, const uint8_t self[FS_PK_LEN]);

/* A session of key became ready (its Hello was admitted under the grant
 * g): counts it as connected on c until fs_peers_closed. Returns the entry
 * (stable until fs_peers_free) or NULL when the table is full of known
 * peers. */
fs_peer *fs_peers_opened(fs_peers *p, const uint8_t key[FS_PK_LEN], const fs_grant *g,
                         const char *software, const fs_conn *c);

/* The open sessions of key that fs_peers_opened counted (a binary search:
 * a Hello looks it up among tens of thousands of peers). */
unsigned fs_peers_sessions(const fs_peers *p, const uint8_t key[FS_PK_LEN]);

/* The session on c ended: its bytes join the peer's totals. */
void fs_peers_closed(fs_peer *e, const fs_conn *c);

/* A Hello was refused: key is NULL when the peer did not prove one. */
void fs_peers_refused_hello(fs_peers *p, const uint8_t *key, bool node, const char *why);

/* A batch of e's was committed (b->rc 0): the same counts as
 * fs_peers_persist wrote, and the peer's cursor. */
void fs_peers_batch_done(fs_peers *p, fs_peer *e, const struct fs_batch *b);

/* Inside the commit transaction, after b's items got their status: adds
 * b's counts to its pusher's durable counters. Pool thread; touches no
 * table. Returns 0 or a storage error (the transaction then aborts). */
int fs_peers_persist(fs_store *s, MDB_txn *txn, const struct fs_batch *b);

/* Bytes of e, its open sessions' included. */
void fs_peer_bytes(const fs_peer *e, uint64_t *in, uint64_t *out);

/* When the oldest of our sets the parent has not acknowledged arrived
 * (0: none waits), learning log_seq at now. After a restart, sets that
 * waited already count from the first call. */
uint64_t fs_peers_queue_since(fs_peers *p, uint64_t log_seq, uint64_t cursor, uint64_t now);

/* True when e needs an administrator's eye (forks, a refusal within
 * window_ms before now). */
bool fs_peer_alarming(const fs_peer *e, uint64_t now, uint64_t window_ms);

#endif
