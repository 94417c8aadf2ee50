/* cli.c - help texts shared by the command-line tools. */
#include "cli.h"

#include <string.h>

const fs_cli_cmd *fs_cli_find(const fs_cli_cmd *cmds, const char *name) {
  for (const fs_cli_cmd *c = cmds; c->name; c++)
    if (strcmp(c->name, name) == 0)
      return c;
  return NULL;
}

/* Prints text with every line indented by two spaces. */
static void indented(FILE *out, const char *text) {
  while (*text) {
    size_t n = strcspn(text, "\n");
    fprintf(out, "  %.*s\n", (int)n, text);
    text += n + (text[n] == '\n');
  }
}

/* Prints the synopsis after a prefix of width col, wrapped before 80
 * columns between options (never inside [...]), continued under col. */
static void synopsis(FILE *out, const char *s, int col) {
  int x = col;
  while (*s) {
    size_t n = 0;
    int depth = 0;
    while (s[n] && (s[n] != ' ' || depth > 0)) {
      depth += s[n] == '[' ? 1 : s[n] == ']' ? -1 : 0;
      n++;
    }
    if (x > col && x + 1 + (int)n > 79) {
      fprintf(out, "\n%*s", col, "");
      x = col;
    }
    fprintf(out, "%s%.*s", x > col ? " " : "", (int)n, s);
    x += (x > col) + (int)n;
    s += n;
    while (*s == ' ')
      s++;
  }
  fputc('\n', out);
}

void fs_cli_help(FILE *out, const char *prog, const fs_cli_cmd *c) {
  int col = fprintf(out, "usage: %s %s%s", prog, c->name, c->synopsis[0] ? " " : "");
  synopsis(out, c->synopsis, col);
  fprintf(out, "\n%s\n", c->summary);
  if (c->text)
    fprintf(out, "\n%s", c->text);
  fputs("\nexample:\n", out);
  indented(out, c->example);
  fputs("\n" FS_CLI_EXIT_CODES, out);
}

void fs_cli_list(FILE *out, const char *prog, const char *intro, const fs_cli_cmd *cmds,
                 const char *example) {
  fprintf(out, "usage: %s <command> [options]\n\n", prog);
  if (intro)
    fprintf(out, "%s\n", intro);
  fputs("commands (each has --help, with an example):\n", out);
  for (const fs_cli_cmd *c = cmds; c->name; c++)
    fprintf(out, "  %-13s %s\n", c->name, c->summary);
  fputs("\nexample:\n", out);
  indented(out, example);
  fputs("\n" FS_CLI_EXIT_CODES, out);
}

bool fs_cli_help_asked(int argc, char **argv, int first) {
  for (int i = first; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0)
      return false;
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
      return true;
  }
  return false;
}

int fs_cli_dispatch(int argc, char **argv, const char *prog, const char *intro,
                    const fs_cli_cmd *cmds, const char *example, const fs_cli_cmd **cmd) {
  if (argc < 2) {
    fs_cli_list(stderr, prog, intro, cmds, example);
    fprintf(stderr, "\n%s: a command is required\n", prog);
    return FS_EXIT_USAGE;
  }
  const char *name = argv[1];
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
    fs_cli_list(stdout, prog, intro, cmds, example);
    return FS_EXIT_OK;
  }
  if (!(*cmd = fs_cli_find(cmds, name))) {
    fprintf(stderr, "%s: unknown command '%s'; the commands are listed by: %s --help\n",
            prog, name, prog);
    return FS_EXIT_USAGE;
  }
  if (!(*cmd)->own_help && fs_cli_help_asked(argc, argv, 2)) {
    fs_cli_help(stdout, prog, *cmd);
    return FS_EXIT_OK;
  }
  return -1;
}
