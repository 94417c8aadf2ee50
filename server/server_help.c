/* server_help.c - what `fieldsyncd [admin|cert] COMMAND --help` prints. */
#include "server_help.h"

#include <stddef.h>

const char fs_server_intro[] =
    "The server of a commune, district or province: it stores laptops' signed\n"
    "change sets and replicates them to its parent. One INI file per node\n"
    "(examples: /usr/share/doc/fieldsync/examples); man fieldsyncd for more.\n";

const char fs_server_example[] =
    "fieldsyncd keygen --key /etc/fieldsync/node.key\n"
    "fieldsyncd check-config --config /etc/fieldsync/commune.ini\n"
    "fieldsyncd run --config /etc/fieldsync/commune.ini\n"
    "fieldsyncd tree --admin 127.0.0.1:8400";

const fs_cli_cmd fs_server_cmds[] = {
    {.name = "run",
     .synopsis =
         "--config FILE [--listen ADDR] [--admin ADDR] [--parent ADDR] [--data DIR] "
         "[--log-level L]",
     .summary = "serve laptops and child nodes; replicate to the parent",
     .text =
         "Flags override the file's values (also after a reload). Logs go to stderr,\n"
         "one line per event. SIGHUP re-reads the certificate and the log level;\n"
         "SIGTERM finishes the commit in flight, tells the peers and exits 0. It exits\n"
         "2 with the reason when it cannot start: a port in use, a data directory it\n"
         "cannot write, a key file missing or readable by others, no valid certificate.\n",
     .example = "fieldsyncd run --config /etc/fieldsync/commune.ini --log-level debug"},
    {.name = "check-config",
     .synopsis = "--config FILE [--listen ADDR] [--admin ADDR] [--parent ADDR] "
                 "[--data DIR] [--log-level L]",
     .summary = "validate a configuration (and flags) without starting",
     .text = "Prints the values the node would use; a bad file is named with its line and\n"
             "the reason. systemd runs it before every start.\n",
     .example = "fieldsyncd check-config --config /etc/fieldsync/commune.ini"},
    {.name = "keygen",
     .synopsis = "--key PATH [--comment TEXT]",
     .summary = "make a node key pair: PATH (0600) and PATH.pub",
     .text = "Prints the public key: give it to the administrator for fieldsyncd admin\n"
             "certify-node. An existing key is never overwritten.\n",
     .example = "fieldsyncd keygen --key /etc/fieldsync/node.key --comment dak-nen"},
    {.name = "status",
     .synopsis = "--data DIR",
     .summary = "counts of what a node's store holds (also while it runs)",
     .example = "fieldsyncd status --data /var/lib/fieldsync/commune"},
    {.name = "digest",
     .synopsis = "--data DIR [--area PREFIX] [--check]",
     .summary = "the state digest of an area's merged records",
     .text = "Equal digests at two nodes (or a node and a laptop) mean equal records.\n"
             "It is read from sums the store keeps per area; --check also computes it\n"
             "from every record (a full read) and exits 2 when the two differ.\n",
     .example = "fieldsyncd digest --data /var/lib/fieldsync/commune --area KT.KPL.DAKNEN"},
    {.name = "records",
     .synopsis = "--data DIR [--area PREFIX] [--all]",
     .summary = "list the merged records of an area (--all: deleted ones too)",
     .example = "fieldsyncd records --data /var/lib/fieldsync/province --area KT.KPL"},
    {.name = "report",
     .synopsis =
         "--data DIR --area PREFIX [--from DAY] [--to DAY] [--csv|--json] [--lang en]",
     .summary = "roll-up report of the movement's records",
     .example =
         "fieldsyncd report --data /var/lib/fieldsync/province --area KT --from 2026",
     .own_help = true},
    {.name = "tree",
     .synopsis = "--admin HOST:PORT [--token-file FILE] [--json]",
     .summary = "replication status of a running node and every node below it",
     .text = "Asks the node's admin port (admin = in its configuration). When the node\n"
             "has admin_token_file, pass that file (or a 0600 copy) as --token-file, or\n"
             "the token as FIELDSYNC_ADMIN_TOKEN in the environment.\n",
     .example = "fieldsyncd tree --admin 127.0.0.1:8400"},
    {.name = "conflicts",
     .synopsis = "(--data DIR | --admin HOST:PORT [--token-file FILE]) [--area PREFIX] "
                 "[--json]",
     .summary = "concurrent writes to one field, for review",
     .text = "Lists the writes that won over a value their writer had not seen: the\n"
             "record, the field, both values, who wrote each (officer, device) and when,\n"
             "which one won and whether it was overwritten since. Sealed fields are shown\n"
             "as sealed. Where the winner is wrong, write the right value with an\n"
             "ordinary edit. --token-file as for tree.\n",
     .example = "fieldsyncd conflicts --admin 127.0.0.1:8400 --area KT.KPL.DAKNEN"},
    {.name = "backup",
     .synopsis = "--data DIR --out DIR",
     .summary = "consistent, compacted copy of a node's store, also while it runs",
     .text =
         "--out must not exist. Key files are not in the copy: back up /etc/fieldsync\n"
         "separately. To restore: stop the node, put the copy in place of DIR, chown it\n"
         "to fieldsync, start the node; it resends what its parent lacks and fetches\n"
         "what it lost from its parent.\n",
     .example =
         "fieldsyncd backup --data /var/lib/fieldsync/commune --out /backup/commune-1"},
    {.name = "admin",
     .synopsis = "COMMAND [options]",
     .summary = "create a deployment, sign certificates, make an admin token "
                "(fieldsyncd admin --help)",
     .example = "fieldsyncd admin init --dir /secure/kontum",
     .own_help = true},
    {.name = "cert",
     .synopsis = "add|list [options]",
     .summary = "install or list a node's certificates",
     .example = "fieldsyncd cert list --data /var/lib/fieldsync/commune",
     .own_help = true},
    {0}};

const fs_cli_cmd fs_admin_cmds[] = {
    {.name = "init",
     .synopsis = "--dir DIR",
     .summary = "a new deployment's keys; prints the root public key",
     .text = "Makes DIR/root.key (0600: keep it offline, it signs every certificate),\n"
             "root.key.pub, network.key (0600: every server and laptop gets a copy),\n"
             "seal.key (0600: only for the unit that may read sealed fields) and\n"
             "seal.key.pub (for laptops). Never put root.key or seal.key on a server.\n",
     .example = "fieldsyncd admin init --dir /secure/kontum"},
    {.name = "certify-node",
     .synopsis = "--admin-key KEY --key PUB --id ID --area AREA [--parent PUB] "
                 "[--level LEVEL] [--days N] [--chain FILE] --out FILE",
     .summary = "certify a server's key for an area, under its parent's key",
     .text = "PUB is 64 hex digits or a .pub file. --parent: the node key of the node\n"
             "above (none for the province). --days: validity (default 3650, 0: no end).\n"
             "--chain: the delegation the admin key rests on (not for the root key).\n",
     .example = "fieldsyncd admin certify-node --admin-key /secure/kontum/root.key \\\n"
                "    --key dak-nen.key.pub --id dak-nen --area KT.KPL.DAKNEN \\\n"
                "    --parent kon-plong.key.pub --level commune --out dak-nen.cert"},
    {.name = "enrol",
     .synopsis = "--admin-key KEY --device PUB --officer NAME --officer-id ID --area AREA "
                 "[--days N | --valid-until YYYY-MM-DD] [--chain FILE] --out FILE",
     .summary = "enrol a laptop's key for an officer and an area (default 365 days)",
     .text = "The officer installs the file with: fieldsync enrol --cert FILE ...\n",
     .example = "fieldsyncd admin enrol --admin-key /secure/kontum/root.key --device "
                "an.key.pub \\\n"
                "    --officer 'Nguyễn Văn An' --officer-id CA-0423 --area KT.KPL.DAKNEN "
                "--out an.cert"},
    {.name = "delegate",
     .synopsis =
         "--admin-key KEY --key PUB --area PREFIX [--days N] [--chain FILE] --out FILE",
     .summary = "let another admin key certify and enrol below an area",
     .text = "The delegate passes the file as --chain when it signs.\n",
     .example = "fieldsyncd admin delegate --admin-key /secure/kontum/root.key \\\n"
                "    --key kpl-admin.key.pub --area KT.KPL --out kpl-admin.cert"},
    {.name = "revoke",
     .synopsis =
         "--admin-key KEY --key PUB --area AREA [--last-seq N] [--chain FILE] --out FILE",
     .summary = "revoke a lost laptop's or a node's key",
     .text = "Change sets after --last-seq (default 0: all) are refused everywhere.\n"
             "Install the file on any node with fieldsyncd cert add; it replicates.\n",
     .example =
         "fieldsyncd admin revoke --admin-key /secure/kontum/root.key --key an.key.pub \\\n"
         "    --area KT.KPL.DAKNEN --last-seq 41 --out revoke-an.cert"},
    {.name = "open",
     .synopsis = "--seal-key FILE --data DIR [--area PREFIX]",
     .summary = "print records with their sealed fields opened",
     .text = "Needs the sealing secret key: run it only where that key may be.\n",
     .example = "fieldsyncd admin open --seal-key /secure/kontum/seal.key \\\n"
                "    --data /var/lib/fieldsync/province --area KT.KPL"},
    {.name = "token",
     .synopsis = "--out FILE",
     .summary = "a random token for a node's admin port, in FILE (0600)",
     .text = "FILE must not exist; the token is not printed. Put admin_token_file = FILE\n"
             "in the node's [node] section (required when admin is bound beyond\n"
             "loopback) and chown it to fieldsync; every admin request then needs\n"
             "'Authorization: Bearer TOKEN' (fieldsyncd tree --token-file FILE; the\n"
             "dashboard: http://HOST:PORT/#token=TOKEN).\n",
     .example = "fieldsyncd admin token --out /etc/fieldsync/admin.token"},
    {0}};

const fs_cli_cmd fs_cert_cmds[] = {
    {.name = "add",
     .synopsis = "--data DIR --config FILE CERTFILE...",
     .summary = "install certificates (a revocation, say) into a node's store",
     .text = "The node may be running. They replicate from there, up and down.\n",
     .example = "fieldsyncd cert add --data /var/lib/fieldsync/province \\\n"
                "    --config /etc/fieldsync/province.ini revoke-an.cert"},
    {.name = "list",
     .synopsis = "--data DIR",
     .summary = "the certificates a node holds",
     .example = "fieldsyncd cert list --data /var/lib/fieldsync/commune"},
    {0}};
