/* admin_cli.h - the administrator's subcommands of fieldsyncd:
 *   admin init | certify-node | enrol | delegate | revoke,  cert add | list.
 */
#ifndef FS_ADMIN_CLI_H
#define FS_ADMIN_CLI_H

/* Runs "fieldsyncd admin ..." (argv[0] = "admin"). Returns an exit code. */
int fs_admin_cli(int argc, char **argv);

/* Runs "fieldsyncd cert ..." (argv[0] = "cert"). Returns an exit code. */
int fs_cert_cli(int argc, char **argv);

#endif
