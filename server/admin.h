/* admin.h - the admin HTTP port: dashboard, JSON status, metrics.
 *
 *   GET /               the dashboard (one HTML page, no external assets)
 *   GET /api/status     this node and every node below it, as JSON
 *                       (?format=text: a terminal table, the tree indented)
 *   GET /api/conflicts?area=PREFIX[&format=text]
 *                       conflicts recorded here for review (conflicts.h);
 *                       the node's area when area is absent
 *   GET /api/digest?area=PREFIX   the state digest of an area at this node
 *   GET /api/report?area=PREFIX&from=DAY&to=DAY[&lang=en][&format=csv]
 *                       the movement's roll-up report (server/report.h)
 *   GET /report         the report page, linked from the dashboard
 *   GET /metrics        Prometheus text
 * One request per connection (Connection: close); requests are parsed with
 * http-parser, bounded in size (16 KiB) and time (10 s). Reports and
 * conflict lists read the whole area, so they are computed on the thread
 * pool, one at a time, with up to 8 more waiting (then 503 and
 * Retry-After); everything else is answered on the loop.
 *
 * Access: with a token (admin_token_file), every request but the two pages
 * (/ and /report: the same bytes in every build, no data) must carry
 * "Authorization: Bearer TOKEN", or is answered 401; the pages send the
 * token with their own requests (#token=... in the address, or a prompt).
 * Without a token the port is open to whoever can reach it, so it may only
 * be bound to loopback (127.0.0.0/8, ::1): config.c refuses anything else
 * before a socket exists, and fs_admin_start checks again.
 */
#ifndef FS_ADMIN_H
#define FS_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

struct fs_server;
typedef struct fs_admin fs_admin;

#define FS_ADMIN_TOKEN_MIN 16
#define FS_ADMIN_TOKEN_MAX 256

/* True when addr ("host:port") is reachable from this machine only:
 * 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104. False for anything else,
 * 0.0.0.0 and :: included, and for what does not parse. */
bool fs_admin_addr_local(const char *addr);

/* True when tok is an acceptable token: FS_ADMIN_TOKEN_MIN..MAX characters
 * of RFC 6750's alphabet (A-Z a-z 0-9 - . _ ~ + /, then '=' padding), so it
 * fits in a header as it is. */
bool fs_admin_token_valid(const char *tok);

/* Reads a token file: the token on one line (a "fieldsync ..." comment
 * line may come first). Like a key file it must be a regular file that
 * group and others cannot read. tok gets the token (cap at least
 * FS_ADMIN_TOKEN_MAX + 1); the caller wipes it. Returns 0, FS_EKEYFILE
 * (missing, unreadable, not a regular file), FS_EKEYPERM, or FS_EINVAL (no
 * valid token in it). */
int fs_admin_token_read(const char *path, char *tok, size_t cap);

/* Makes a token file at path: 32 random bytes as 64 hex digits and a
 * newline, created 0600 (it must not exist). Returns 0, FS_EINVAL if path
 * exists, FS_ECRYPTO, or a negative errno. */
int fs_admin_token_create(const char *path);

/* What to do about a token file error from fs_admin_token_read, as a
 * clause to follow the path ("is readable by ...; run chmod 600 on it"). */
const char *fs_admin_token_problem(int rc);

/* Binds addr ("127.0.0.1:8401") and serves; token_file (NULL or "" for
 * none) is read first, and addr beyond loopback without one is refused
 * (FS_ECONFIG) before anything is bound. Returns 0 or a negative code. */
int fs_admin_start(fs_admin **out, struct fs_server *srv, const char *addr,
                   const char *token_file);

/* Reports and conflict lists computed (0 or 1) and waiting; a may be NULL. */
void fs_admin_jobs(const fs_admin *a, unsigned *running, unsigned *waiting);

/* Closes the listener and open requests; memory is freed as handles close
 * (and, for a report still being computed, when it ends). */
void fs_admin_stop(fs_admin *a);

#endif
