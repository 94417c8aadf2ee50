/* server_help.h - the help entries of fieldsyncd's commands (common/cli.h).
 *
 * One table per command level: fieldsyncd COMMAND, fieldsyncd admin
 * COMMAND, fieldsyncd cert COMMAND. Each table ends with a NULL name. The
 * man page packaging/man/fieldsyncd.8 says the same in longer form.
 */
#ifndef FS_SERVER_HELP_H
#define FS_SERVER_HELP_H

#include "cli.h"

extern const fs_cli_cmd fs_server_cmds[];
extern const fs_cli_cmd fs_admin_cmds[];
extern const fs_cli_cmd fs_cert_cmds[];

/* Lines that open `fieldsyncd --help`, and its examples. */
extern const char fs_server_intro[], fs_server_example[];

#endif
