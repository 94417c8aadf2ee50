/* log.h - logfmt lines on stderr: one line per event, key=value pairs.
 *
 * fs_log(FS_LOG_INFO, "sync.done", "peer=%s sets=%u", peer, n) prints
 *   level=info event=sync.done peer=ab12 sets=3
 * No secret and no sealed field is ever passed to these functions. The level
 * threshold is process configuration (set once at start-up).
 */
#ifndef FS_LOG_H
#define FS_LOG_H

enum fs_log_level { FS_LOG_DEBUG, FS_LOG_INFO, FS_LOG_WARN, FS_LOG_ERROR };

/* Sets the lowest level printed (default FS_LOG_INFO) and an optional
 * component name added as node=... to every line (copied, may be NULL). */
void fs_log_setup(enum fs_log_level min, const char *node);

/* Parses "debug", "info", "warn", "error"; returns -1 when unknown. */
int fs_log_level_parse(const char *s);

/* The name fs_log_level_parse takes for level ("?" when out of range). */
const char *fs_log_level_name(int level);

void fs_log(enum fs_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
