/* fuzz_config.c - the node configuration parser (server/config.c, inih).
 *
 * Any bytes as an INI file: fs_config_parse returns 0 or FS_ECONFIG (with a
 * sentence naming the file and, for a bad line, its number) and never reads
 * or writes out of bounds. A configuration it accepts keeps every rule:
 * the required options present, the area a valid area code, addresses that
 * parse, the log level in range, no admin port beyond loopback without a
 * token file.
 */
#include "fuzz_common.h"

#include "admin.h"
#include "config.h"
#include "conn.h"
#include "error.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 8192)
    return 0;
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0'; /* inih reads a C string: an inner NUL ends it */
  fs_config cfg;
  int rc = fs_config_parse(&cfg, text, "fuzz.ini");
  FUZZ_CHECK(rc == 0 || rc == FS_ECONFIG || rc == FS_ENOMEM, "fs_config_parse returned %d", rc);
  if (rc == FS_ECONFIG) {
    FUZZ_CHECK(strncmp(cfg.error, "fuzz.ini:", 9) == 0, "error does not name the file: %s",
               cfg.error);
    FUZZ_CHECK(strlen(cfg.error) > 10, "error without a reason: %s", cfg.error);
  } else if (rc == 0) {
    struct sockaddr_storage ss;
    FUZZ_CHECK(cfg.id[0] && cfg.data[0] && cfg.key[0] && cfg.cert[0] && cfg.network_key[0] &&
                   cfg.has_root_key,
               "accepted without a required option");
    FUZZ_CHECK(fs_area_valid(cfg.area), "accepted area %s", cfg.area);
    FUZZ_CHECK(fs_addr_parse(cfg.listen, &ss) == 0, "accepted listen %s", cfg.listen);
    FUZZ_CHECK(!cfg.parent[0] || fs_addr_parse(cfg.parent, &ss) == 0, "accepted parent %s",
               cfg.parent);
    FUZZ_CHECK(!cfg.admin[0] || fs_addr_parse(cfg.admin, &ss) == 0, "accepted admin %s",
               cfg.admin);
    FUZZ_CHECK(!cfg.admin[0] || cfg.admin_token_file[0] || fs_admin_addr_local(cfg.admin),
               "accepted admin %s beyond loopback without a token", cfg.admin);
    FUZZ_CHECK(cfg.log_level >= FS_LOG_DEBUG && cfg.log_level <= FS_LOG_ERROR,
               "accepted log level %d", cfg.log_level);
    FUZZ_CHECK(cfg.map_size_mb >= 16 && cfg.map_size_mb <= (1ull << 22), "accepted map size");
  }
  free(text);
  return 0;
}
