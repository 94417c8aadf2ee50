/* config.c - INI configuration via inih; every value range-checked. */
#include "config.h"

#include "admin.h"
#include "conn.h"
#include "error.h"
#include "hex.h"
#include "log.h"

#include <ini.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void config_defaults(fs_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  snprintf(cfg->listen, sizeof cfg->listen, "127.0.0.1:7400");
  cfg->map_size_mb = 8192;
  cfg->map_max_mb = 1u << 20; /* 1 TiB of address space; the disk is the real bound */
  cfg->push_memory_mb = 256;
  cfg->log_level = FS_LOG_INFO;
  cfg->stale_after_ms = 120 * 1000;
  cfg->report_interval_ms = 5 * 1000;
}

/* A whole number of seconds in [min, max] into *ms. */
/* A whole number from min to max: *out gets it times scale. unit names it
 * in the error ("seconds", "" for a plain number). */
static int number(const char *name, const char *v, uint64_t min, uint64_t max, const char *unit,
                  uint64_t scale, uint64_t *out, fs_config *cfg) {
  char *end;
  unsigned long long n = strtoull(v, &end, 10);
  if (*end || v[0] == '\0' || v[0] == '-' || n < min || n > max) {
    snprintf(cfg->error, sizeof cfg->error, "%s '%.40s' must be a number%s%s from %llu to %llu",
             name, v, unit[0] ? " of " : "", unit, (unsigned long long)min,
             (unsigned long long)max);
    return FS_ECONFIG;
  }
  *out = n * scale;
  return 0;
}

static int seconds(const char *name, const char *v, uint64_t min, uint64_t max,
                   uint64_t *ms, fs_config *cfg) {
  return number(name, v, min, max, "seconds", 1000, ms, cfg);
}

static int copy_str(char *dst, size_t cap, const char *v, const char *what,
                    fs_config *cfg) {
  if (strlen(v) >= cap || v[0] == '\0') {
    snprintf(cfg->error, sizeof cfg->error, "%s must be 1..%zu characters", what,
             cap - 1);
    return FS_ECONFIG;
  }
  memcpy(dst, v, strlen(v) + 1);
  return 0;
}

int fs_config_set(fs_config *cfg, const char *section, const char *name,
                  const char *v) {
  if (strcmp(section, "node") == 0) {
    if (strcmp(name, "id") == 0)
      return copy_str(cfg->id, sizeof cfg->id, v, "id", cfg);
    if (strcmp(name, "area") == 0) {
      if (!fs_area_valid(v)) {
        snprintf(cfg->error, sizeof cfg->error,
                 "area '%.130s' is not a valid area code (like KT.KPL.DAKNEN)", v);
        return FS_ECONFIG;
      }
      return copy_str(cfg->area, sizeof cfg->area, v, "area", cfg);
    }
    if (strcmp(name, "data") == 0)
      return copy_str(cfg->data, sizeof cfg->data, v, "data", cfg);
    if (strcmp(name, "key") == 0)
      return copy_str(cfg->key, sizeof cfg->key, v, "key", cfg);
    if (strcmp(name, "cert") == 0)
      return copy_str(cfg->cert, sizeof cfg->cert, v, "cert", cfg);
    if (strcmp(name, "network_key") == 0)
      return copy_str(cfg->network_key, sizeof cfg->network_key, v, "network_key", cfg);
    if (strcmp(name, "root_key") == 0) {
      /* 64 hex digits or a .pub file, as every key flag of the tools. */
      if (fs_pubkey_load(cfg->root_key, v) != 0) {
        snprintf(cfg->error, sizeof cfg->error,
                 "root_key is not 64 hex digits nor a readable .pub file (fieldsyncd "
                 "admin init printed it and wrote it to root.key.pub)");
        return FS_ECONFIG;
      }
      cfg->has_root_key = true;
      return 0;
    }
    if (strcmp(name, "listen") == 0 || strcmp(name, "parent") == 0 ||
        strcmp(name, "admin") == 0) {
      struct sockaddr_storage ss;
      if (fs_addr_parse(v, &ss) != 0) {
        snprintf(cfg->error, sizeof cfg->error,
                 "%s '%.100s' is not host:port (like 127.0.0.1:7401)", name, v);
        return FS_ECONFIG;
      }
      char *dst = name[0] == 'l' ? cfg->listen : name[0] == 'p' ? cfg->parent : cfg->admin;
      return copy_str(dst, sizeof cfg->listen, v, name, cfg);
    }
    if (strcmp(name, "admin_token_file") == 0) {
      /* Read now, so that check-config and start-up name this line. */
      char tok[FS_ADMIN_TOKEN_MAX + 1];
      int rc = fs_admin_token_read(v, tok, sizeof tok);
      sodium_memzero(tok, sizeof tok);
      if (rc) {
        snprintf(cfg->error, sizeof cfg->error, "admin_token_file %.200s %s", v,
                 fs_admin_token_problem(rc));
        return rc == FS_ENOMEM ? rc : FS_ECONFIG;
      }
      return copy_str(cfg->admin_token_file, sizeof cfg->admin_token_file, v,
                      "admin_token_file", cfg);
    }
    if (strcmp(name, "parent_key") == 0) {
      if (fs_pubkey_load(cfg->parent_key, v) != 0) {
        snprintf(cfg->error, sizeof cfg->error,
                 "parent_key is not 64 hex digits nor a readable .pub file");
        return FS_ECONFIG;
      }
      cfg->has_parent_key = true;
      return 0;
    }
    if (strcmp(name, "map_size_mb") == 0 || strcmp(name, "map_max_mb") == 0)
      return number(name, v, 16, 1ull << 22, "", 1,
                    name[4] == 's' ? &cfg->map_size_mb : &cfg->map_max_mb, cfg);
    if (strcmp(name, "push_memory_mb") == 0)
      return number(name, v, 16, 1ull << 20, "", 1, &cfg->push_memory_mb, cfg);
    if (strcmp(name, "stale_after_s") == 0)
      return seconds(name, v, 2, 30ull * 24 * 3600, &cfg->stale_after_ms, cfg);
    if (strcmp(name, "report_interval_s") == 0)
      return seconds(name, v, 1, 3600, &cfg->report_interval_ms, cfg);
    if (strcmp(name, "log_level") == 0) {
      int l = fs_log_level_parse(v);
      if (l < 0) {
        snprintf(cfg->error, sizeof cfg->error,
                 "log_level '%.40s' must be debug, info, warn or error", v);
        return FS_ECONFIG;
      }
      cfg->log_level = l;
      return 0;
    }
  }
  snprintf(cfg->error, sizeof cfg->error, "unknown option '%.40s' in section [%.40s]",
           name, section);
  return FS_ECONFIG;
}

struct parse_ctx {
  fs_config *cfg;
  int rc;
};

static int on_ini(void *user, const char *section, const char *name,
                  const char *value) {
  struct parse_ctx *p = user;
  if (!name) /* a section header alone */
    return 1;
  if (p->rc) /* inih goes on after an error; the first one is the reason */
    return 0;
  p->rc = fs_config_set(p->cfg, section, name, value);
  return p->rc == 0;
}

int fs_config_finish(fs_config *cfg) {
  if (!cfg->id[0] || !cfg->area[0] || !cfg->data[0] || !cfg->key[0] || !cfg->cert[0] ||
      !cfg->network_key[0] || !cfg->has_root_key) {
    snprintf(cfg->error, sizeof cfg->error,
             "[node] needs id, area, data, key, cert, network_key and root_key");
    return FS_ECONFIG;
  }
  if (cfg->map_max_mb < cfg->map_size_mb) {
    snprintf(cfg->error, sizeof cfg->error,
             "map_max_mb (%llu) must be at least map_size_mb (%llu)",
             (unsigned long long)cfg->map_max_mb, (unsigned long long)cfg->map_size_mb);
    return FS_ECONFIG;
  }
  if (cfg->admin[0] && !cfg->admin_token_file[0] && !fs_admin_addr_local(cfg->admin)) {
    snprintf(cfg->error, sizeof cfg->error,
             "admin = %s can be reached from other machines, and without a token anyone "
             "who reaches it reads the node's status: set admin_token_file (make one with "
             "fieldsyncd admin token --out FILE) or bind admin to 127.0.0.1",
             cfg->admin);
    return FS_ECONFIG;
  }
  if (cfg->stale_after_ms <= cfg->report_interval_ms) {
    snprintf(cfg->error, sizeof cfg->error,
             "stale_after_s must be longer than report_interval_s, or every node "
             "would look stale between two reports");
    return FS_ECONFIG;
  }
  return 0;
}

/* Prepends "name:line: " (or "name: ") to cfg->error. */
static void prefix_error(fs_config *cfg, const char *name, int line) {
  char reason[sizeof cfg->error];
  memcpy(reason, cfg->error, sizeof reason);
  if (line > 0)
    snprintf(cfg->error, sizeof cfg->error, "%.150s:%d: %.300s", name, line, reason);
  else
    snprintf(cfg->error, sizeof cfg->error, "%.150s: %.300s", name, reason);
}

/* Flags override the file: each is set as its option would be, a bad one
 * named by its flag. */
static int apply_flags(fs_config *cfg, const fs_config_flags *f) {
  if (!f)
    return 0;
  const struct {
    const char *name, *flag, *value;
  } o[] = {{"listen", "--listen", f->listen},  {"admin", "--admin", f->admin},
           {"parent", "--parent", f->parent},  {"data", "--data", f->data},
           {"log_level", "--log-level", f->log_level}};
  for (size_t i = 0; i < sizeof o / sizeof o[0]; i++) {
    if (o[i].value && fs_config_set(cfg, "node", o[i].name, o[i].value) != 0) {
      prefix_error(cfg, o[i].flag, 0);
      return FS_ECONFIG;
    }
  }
  return 0;
}

/* Turns inih's result (0, -1 open failure, -2 no memory, or the first bad
 * line) into ours, applies the flags, then the rules across fields. */
static int finish_parse(fs_config *cfg, int line, const struct parse_ctx *p,
                        const char *name, const fs_config_flags *flags) {
  if (line == -1) {
    snprintf(cfg->error, sizeof cfg->error, "%.200s: cannot open the file", name);
    return FS_ECONFIG;
  }
  if (line == -2 || p->rc == FS_ENOMEM)
    return FS_ENOMEM;
  if (line > 0) {
    if (p->rc == 0) /* inih's own syntax error */
      snprintf(cfg->error, sizeof cfg->error,
               "line is not 'name = value', '[section]' or a comment");
    prefix_error(cfg, name, line);
    return FS_ECONFIG;
  }
  if (apply_flags(cfg, flags) != 0)
    return FS_ECONFIG;
  if (fs_config_finish(cfg) != 0) {
    prefix_error(cfg, name, 0);
    return FS_ECONFIG;
  }
  return 0;
}

int fs_config_load(fs_config *cfg, const char *path, const fs_config_flags *flags) {
  config_defaults(cfg);
  struct parse_ctx p = {cfg, 0};
  return finish_parse(cfg, ini_parse(path, on_ini, &p), &p, path, flags);
}

int fs_config_parse(fs_config *cfg, const char *text, const char *name) {
  config_defaults(cfg);
  struct parse_ctx p = {cfg, 0};
  return finish_parse(cfg, ini_parse_string(text, on_ini, &p), &p, name, NULL);
}

