/* cli.h - help texts and exit codes shared by the command-line tools.
 *
 * Every command of fieldsync and fieldsyncd has one help entry: its options,
 * what it does, and an example. `PROG --help` lists the commands with a line
 * each; `PROG COMMAND --help` (and `fieldsyncd admin COMMAND --help`) prints
 * the entry. Every command of every tool exits with the same codes, and its
 * error messages end with what to do next.
 */
#ifndef FS_CLI_H
#define FS_CLI_H

#include <stdbool.h>
#include <stdio.h>

#define FS_EXIT_OK 0
#define FS_EXIT_USAGE 1  /* a missing or malformed option or argument */
#define FS_EXIT_FAILED 2 /* refused or failed: the message says why and what next */

/* The sentence every help text ends with. */
#define FS_CLI_EXIT_CODES                                                                  \
  "exit status: 0 ok, 1 usage error (see --help), 2 refused or failed (the\n"              \
  "message says why and what to do next)\n"

typedef struct fs_cli_cmd {
  const char *name;     /* "run"; a table ends with name NULL */
  const char *synopsis; /* the options after the name, or "" */
  const char *summary;  /* one line for the command list */
  const char *text;     /* more lines, or NULL */
  const char *example;  /* one or more complete command lines */
  bool own_help;        /* the command prints its own --help (a group) */
} fs_cli_cmd;

/* The entry named name in cmds, or NULL. */
const fs_cli_cmd *fs_cli_find(const fs_cli_cmd *cmds, const char *name);

/* Prints "usage: PROG NAME SYNOPSIS", the text, the example and the exit
 * codes. prog is "fieldsyncd" or "fieldsyncd admin". */
void fs_cli_help(FILE *out, const char *prog, const fs_cli_cmd *c);

/* Prints the list of commands: usage line, intro (or NULL), one line per
 * command, example (lines of commands) and the exit codes. */
void fs_cli_list(FILE *out, const char *prog, const char *intro, const fs_cli_cmd *cmds,
                 const char *example);

/* True when -h or --help is among argv[first..argc-1]. */
bool fs_cli_help_asked(int argc, char **argv, int first);

/* What every tool does before it reads options, for argv = PROG COMMAND
 * ...: no command (the list on stderr, a usage error), --help (the list),
 * an unknown command (a usage error), COMMAND ... --help (its help, unless
 * own_help). Returns an exit code when that was all, or -1 with *cmd the
 * entry to run. prog names the tool in messages ("fieldsyncd admin"). */
int fs_cli_dispatch(int argc, char **argv, const char *prog, const char *intro,
                    const fs_cli_cmd *cmds, const char *example, const fs_cli_cmd **cmd);

#endif
