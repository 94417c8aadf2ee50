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
 * http-parser, bounded in size (16 KiB) and time (10 s). Bind it to
 * loopback unless a firewall stands in front: it has no authentication.
 */
#ifndef FS_ADMIN_H
#define FS_ADMIN_H

struct fs_server;
typedef struct fs_admin fs_admin;

/* Binds addr ("127.0.0.1:8401") and serves. Returns 0 or a negative code. */
int fs_admin_start(fs_admin **out, struct fs_server *srv, const char *addr);

/* Closes the listener and open requests; memory is freed as handles close. */
void fs_admin_stop(fs_admin *a);

#endif
