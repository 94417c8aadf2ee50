/* config.h - a node's configuration: one INI file, flags override it.
 *
 *   [node]
 *   id = dak-nen                 ; printable node id
 *   area = KT.KPL.DAKNEN         ; the area this node serves
 *   data = /var/lib/fieldsync    ; LMDB environment directory
 *   key = /etc/fieldsync/node.key
 *   cert = /etc/fieldsync/node.cert       ; this node's certificate (+ chain)
 *   network_key = /etc/fieldsync/network.key
 *   root_key = <64 hex or a .pub file>   ; the deployment root public key
 *   listen = 127.0.0.1:7401      ; for laptops and child nodes
 *   parent = 10.0.0.2:7301       ; optional: the node to replicate up to
 *   parent_key = <64 hex or a .pub file> ; optional: pin the parent's key
 *   admin = 127.0.0.1:8401       ; optional: dashboard, /api/status, /metrics
 *   admin_token_file = /etc/fieldsync/admin.token ; 0600; then every admin
 *                                ; request needs it; required beyond loopback
 *   map_size_mb = 8192          ; the LMDB map at start; it doubles when 3/4 full
 *   map_max_mb = 1048576        ; ... up to this; then new change sets are refused
 *   push_memory_mb = 256        ; decoded Pushes in flight, all peers together;
 *                                ; beyond it reading pauses until they commit
 *   log_level = info
 *   stale_after_s = 120          ; a node whose status is older is "stale"
 *   report_interval_s = 5        ; status report to the parent at least this often
 *
 * Who may connect is decided by certificates (cert.h), not by this file.
 * Parsing is init -> one line at a time (each value checked, the bad value
 * named with its line) -> finish (rules across fields).
 */
#ifndef FS_CONFIG_H
#define FS_CONFIG_H

#include "changeset.h"
#include "keys.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fs_config {
  char id[64];
  char area[FS_MAX_AREA + 1];
  char data[1024];
  char key[1024];
  char cert[1024];
  char network_key[1024];
  uint8_t root_key[FS_PK_LEN];
  bool has_root_key;
  char listen[128];
  char parent[128];
  char admin[128];
  char admin_token_file[1024]; /* "" when the admin port asks for no token */
  uint8_t parent_key[FS_PK_LEN];
  bool has_parent_key;
  uint64_t map_size_mb;
  uint64_t map_max_mb;
  uint64_t push_memory_mb;
  int log_level;
  uint64_t stale_after_ms;   /* rows older than this are stale (status.h) */
  uint64_t report_interval_ms; /* upward status reports at least this often */
  char error[512];     /* "file:line: reason" after a failed load */
} fs_config;

/* Command-line values that override the file's (NULL: keep the file's).
 * They are applied after the file and before the cross-field rules, so a
 * flag may supply a value the file lacks; SIGHUP applies them again. */
typedef struct fs_config_flags {
  const char *listen, *admin, *parent, *data, *log_level;
} fs_config_flags;

/* Loads path into cfg (zeroed first), then flags (may be NULL). Returns 0,
 * or FS_ECONFIG with cfg->error saying where and why ("--listen: ..." for
 * a bad flag). */
int fs_config_load(fs_config *cfg, const char *path, const fs_config_flags *flags);

/* Same, from a string (for tests and fuzzing); name is used in messages. */
int fs_config_parse(fs_config *cfg, const char *text, const char *name);

/* Sets one option as if from the file (flags override with this). */
int fs_config_set(fs_config *cfg, const char *section, const char *name,
                  const char *value);

/* Cross-field rules after all values are set. */
int fs_config_finish(fs_config *cfg);

#endif
