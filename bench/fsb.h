/* fsb.h - helpers shared by the benchmark programs (bench/ only).
 *
 * Nothing here is product code: it builds the same change sets a laptop
 * builds (one patrol record of about 600 bytes, the fields of the PouchDB
 * baseline's documents), derives deterministic device keys so that the
 * configuration written by bench/run and the load generator agree, and reads
 * a process's CPU time and memory from /proc.
 */
#ifndef FSB_H
#define FSB_H

#include "changeset.h"
#include "fieldsync.pb-c.h"
#include "keys.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FSB_NFIELDS 8

/* Monotonic clock. */
uint64_t fsb_now_ns(void);
double fsb_now_s(void);

/* Deterministic Ed25519 key pair number i of a named family ("tag"). */
void fsb_keypair(const char *tag, uint64_t i, uint8_t pk[FS_PK_LEN],
                 uint8_t sk[FS_SK_LEN]);

/* Patrol record number i: an incident with every field docs/SCHEMA.md
 * requires, about the size of the PouchDB baseline's doc(i) and with its
 * texts. The values live in r->storage. */
typedef struct fsb_record {
  const char *names[FSB_NFIELDS];
  const uint8_t *values[FSB_NFIELDS];
  size_t lens[FSB_NFIELDS];
  size_t n;
  char id[40];
  char area[FS_MAX_AREA + 1];
  char storage[2048];
} fsb_record;
void fsb_record_make(fsb_record *r, const char *scope, uint64_t i);

/* One sealed change set with its signed bytes. */
typedef struct fsb_set {
  uint8_t *body; /* malloc'ed */
  size_t body_len;
  uint8_t sig[FS_SIG_LEN];
  uint8_t id[FS_HASH_LEN];
} fsb_set;

/* Seals record i as the change set (seq, prev) of device (pk, sk); the
 * record lies in a sub-area of scope. hlc must grow per device. */
int fsb_set_make(fsb_set *out, const uint8_t *pk, const uint8_t *sk, uint64_t seq,
                 const uint8_t prev[FS_HASH_LEN], uint64_t hlc, const char *scope,
                 uint64_t record_no);
void fsb_set_free(fsb_set *s);

/* The SignedChangeSet encoding of s (malloc'ed). */
int fsb_set_signed_bytes(const fsb_set *s, uint8_t **out, size_t *len);

/* A whole frame (length + Envelope{Push}) holding sets[0..n). */
int fsb_push_frame(const fsb_set *sets, size_t n, uint64_t log_last, uint8_t **out,
                   size_t *len);

/* /proc readings of a process: CPU seconds (user+system, all threads) and
 * memory in KiB. Return -1 when unreadable. */
double fsb_proc_cpu_s(int pid);
long fsb_proc_status_kb(int pid, const char *field); /* "VmHWM", "VmRSS", "RssAnon" */

/* Percentile p (0..100) of v[0..n) (sorts v). */
double fsb_percentile(double *v, size_t n, double p);

/* Prints one result line: name value unit. */
void fsb_result(const char *name, double value, const char *unit);

/* Parses a "--name value" option list: returns the value of name or def. */
const char *fsb_opt(int argc, char **argv, const char *name, const char *def);
bool fsb_flag(int argc, char **argv, const char *name);

#endif
