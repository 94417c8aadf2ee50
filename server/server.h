/* server.h - one fieldsyncd node: listener, sessions, ingest, uplink.
 *
 * The server context is passed explicitly; the loop and the configuration
 * are the only state shared by its parts. A session is: the secret
 * handshake (handshake.h), the server's Hello, the peer's Hello (device or
 * node) checked against the certificates (cert.h), Welcome or Error, then
 * any number of Push -> Ack and Pull -> Records, StatusReport from child
 * nodes, and Bye.
 */
#ifndef FS_SERVER_H
#define FS_SERVER_H

#include "config.h"
#include "hello.h"
#include "ingest.h"
#include "keys.h"
#include "peers.h"
#include "status.h"
#include "store.h"

#include <stdbool.h>
#include <uv.h>

#define FS_HANDSHAKE_MS 10000 /* accept to admitted Hello: a deadline, input does not extend it */
#define FS_IDLE_MS 120000
#define FS_SESSION_PUSHES 4 /* Pushes in flight per laptop before reading stops */
/* A child node's uplink keeps more in flight (FS_UPLINK_PIPELINE): its
 * backlog after an outage must keep verification busy on every core while
 * the writer commits; node links are few and certified. */
#define FS_SESSION_PUSHES_NODE 16
#define FS_PULL_MAX_RECORDS 512
#define FS_PULL_MAX_BYTES (1u << 20)
#define FS_PULL_MAX_SCAN 8192
#define FS_PULL_MAX_CERTS 256
#define FS_FETCH_MAX 256
/* A Fetch answer stops adding sets past this (it holds at least one): a
 * set is at most about 1 MiB, so the answer stays under the frame limit. */
#define FS_FETCH_MAX_BYTES (1u << 20)
#define FS_RATE_FRAMES_PER_S 200.0 /* per laptop connection, sustained */
#define FS_RATE_BURST 400.0
/* A child node's link carries its whole subtree: a Push per commit while
 * sets trickle in (uplink.h), Pulls, status reports. At the laptops' rate
 * a district taking 500 sets/s was throttled and every hop above it waited
 * tens of milliseconds (bench/NOTES.md, "Tree lag"). */
#define FS_RATE_FRAMES_PER_S_NODE 5000.0
#define FS_RATE_BURST_NODE 10000.0
#define FS_SESSIONS_PER_KEY 4      /* concurrent sessions of one device or node */
#define FS_FD_RESERVE 16           /* descriptors kept free of peers (parent link, admin, LMDB) */

typedef struct fs_session fs_session;
typedef struct fs_uplink fs_uplink;

typedef struct fs_server {
  uv_loop_t *loop;
  const fs_config *cfg;
  fs_store store;
  fs_keypair key;
  uint8_t netkey[FS_NETKEY_LEN];
  fs_ingest ingest;
  uv_tcp_t listener;
  uv_signal_t sigterm, sigint, sighup;
  const char *config_path; /* for SIGHUP, or NULL */
  const fs_config_flags *flags; /* the command line's overrides, or NULL */
  fs_session *sessions;  /* doubly linked list of live sessions */
  size_t nsessions;
  size_t untracked;      /* ready sessions the peer table had no room for */
  fs_uplink *uplink;     /* NULL without a parent, and once stopping */
  fs_status status;      /* own counters' cache and children's reports */
  fs_peers peers;        /* per direct peer: connections, counts, refusals */
  struct fs_admin *admin; /* the HTTP admin port, or NULL */
  bool stopping;
  /* Decoded Pushes in flight, all sessions together: over push_budget
   * every session stops reading until they are down to 3/4 of it. */
  size_t push_bytes, push_budget;
  bool push_full;        /* over the budget: ready sessions are paused */
  uint64_t push_full_times; /* how often it was reached since the start */
  uint64_t accepted, refused_hello, throttled;
  uint64_t fd_limit;            /* RLIMIT_NOFILE at start; 0: none */
  uint64_t accept_failures;     /* connections the fd limit turned away */
  uint64_t accept_failed_ms;    /* when that was last logged */
  bool accept_failed_logged;
} fs_server;

/* Opens the store and key, binds the listener and starts the uplink.
 * Returns 0 or a negative code with a log line saying what failed; after a
 * failure too, run the loop until it ends and call fs_server_free (a part
 * that failed late, the admin port say, is closed by then). */
int fs_server_start(fs_server *srv, uv_loop_t *loop, const fs_config *cfg);

/* Begins an orderly stop: no new connections, sessions told Bye after
 * their in-flight batch, the loop ends when everything has closed. */
void fs_server_stop(fs_server *srv);

/* Releases what start acquired; call after uv_run returned. Safe after a
 * failed start, and twice. */
void fs_server_free(fs_server *srv);

#endif
