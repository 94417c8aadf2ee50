/* sync.h - one sync of a laptop with its commune server.
 *
 *   seal the oldest pending edits into change sets (local, one transaction
 *     a step of FS_SYNC_SEAL_STEP edits; the next steps run while the
 *     first sets are pushed, so the server works while the laptop signs)
 *   connect -> Challenge -> Hello(device) -> Welcome, within
 *     FS_SYNC_WELCOME_MS of the start
 *   push the outbox in bounded batches of consecutive seqs, FS_SYNC_PIPELINE
 *     Pushes in flight; an entry leaves the outbox only when the server
 *     acknowledged it (after its durable commit) by its seq, id and device
 *     at its place in the Push: a mismatched Ack removes nothing
 *   pull records of the device's area changed after the durable cursor, one
 *     Records batch per write transaction (records + cursor together); a
 *     batch with more must move the cursor on, and one sync pulls at most
 *     FS_SYNC_PULL_ROUNDS batches
 *   Bye.
 * When the outbox is empty and the cursor equals the server's seq, nothing
 * is sent after the handshake but Bye.
 */
#ifndef FS_SYNC_H
#define FS_SYNC_H

#include "local.h"

#include <stdbool.h>
#include <stdint.h>

#define FS_SYNC_BATCH_SETS 256
#define FS_SYNC_BATCH_BYTES (3u << 20) /* a Push stays below FS_FRAME_MAX */
/* Pushes in flight: as many as the server reads (FS_SESSION_PUSHES), so
 * each sealed step goes out at once and the last Push is one step, not the
 * several a shallower pipe piles up while waiting for an Ack. */
#define FS_SYNC_PIPELINE 4
#define FS_SYNC_IDLE_MS 30000
/* From the start of a sync to the Welcome (the server allows itself 10 s
 * for the handshake): an address that does not answer, or a server sending
 * a byte at a time, ends the sync then instead of never. */
#define FS_SYNC_WELCOME_MS 15000
#define FS_SYNC_SEAL_STEP 1024 /* pending edits sealed a step */
/* Pulls in one sync: 2 million records at 512 a batch. The cursor is durable
 * after each, so a sync stopped here resumes at the next; only a server
 * that says "more" without end reaches it. */
#define FS_SYNC_PULL_ROUNDS 4096

typedef struct fs_sync_result {
  uint64_t pushed;        /* change sets acknowledged (stored or duplicate) */
  uint64_t stored;        /* of those, new at the server */
  uint64_t pulled;        /* record states received */
  uint64_t bytes_in, bytes_out;
  uint64_t outbox_left;
  char server_id[64];
  char error[512];        /* what went wrong, for the officer */
} fs_sync_result;

/* Runs one sync against server ("host:port"). If server_key is not NULL the
 * server must prove that key. progress: print progress lines on stderr.
 * Returns 0 or a negative code with res->error filled. */
int fs_sync_run(fs_device *d, const char *server, const uint8_t *server_key,
                bool progress, fs_sync_result *res);

#endif
