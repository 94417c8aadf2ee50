/* log.c - logfmt logging on stderr (journald adds the time). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static enum fs_log_level log_min = FS_LOG_INFO;
static char log_node[64];

void fs_log_setup(enum fs_log_level min, const char *node) {
  log_min = min;
  log_node[0] = '\0';
  if (node)
    snprintf(log_node, sizeof log_node, "%s", node);
}

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int fs_log_level_parse(const char *s) {
  for (int i = 0; i < 4; i++)
    if (strcmp(s, level_names[i]) == 0)
      return i;
  return -1;
}

const char *fs_log_level_name(int level) {
  return level >= 0 && level < 4 ? level_names[level] : "?";
}

void fs_log(enum fs_log_level level, const char *event, const char *fmt, ...) {
  if (level < log_min)
    return;
  char line[1024];
  int n = snprintf(line, sizeof line, "level=%s event=%s", level_names[level], event);
  if (n > 0 && log_node[0] && (size_t)n < sizeof line)
    n += snprintf(line + n, sizeof line - (size_t)n, " node=%s", log_node);
  if (n > 0 && fmt && fmt[0] && (size_t)n < sizeof line - 1) {
    line[n++] = ' ';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
  }
  /* One fputs per line so lines from one process never interleave. */
  size_t len = strnlen(line, sizeof line - 2);
  line[len] = '\n';
  line[len + 1] = '\0';
  fputs(line, stderr);
}
