/* client_help.h - the help entries of fieldsync's commands (common/cli.h).
 * The man page packaging/man/fieldsync.1 says the same in longer form. */
#ifndef FS_CLIENT_HELP_H
#define FS_CLIENT_HELP_H

#include "cli.h"

extern const fs_cli_cmd fs_client_cmds[];

/* Lines that open `fieldsync --help`, and its examples. */
extern const char fs_client_intro[], fs_client_example[];

#endif
