/* client_help.c - what `fieldsync COMMAND --help` prints. */
#include "client_help.h"

#include <stddef.h>

const char fs_client_intro[] =
    "The officer's laptop: records are written offline and synced later. Every\n"
    "command takes --dir DIR (default $FIELDSYNC_DIR, else ./fieldsync-device).\n"
    "Record types and fields: docs/SCHEMA.md; man fieldsync for more.\n";

const char fs_client_example[] =
    "fieldsync init --dir ~/fs --area KT.KPL.DAKNEN --officer 'Nguyễn Văn An'\n"
    "fieldsync add --dir ~/fs --type incident category=theft \\\n"
    "    occurred_at=2026-11-20T21:15 'place=Thôn 3' status=new 'officer=Nguyễn Văn An'\n"
    "fieldsync sync --dir ~/fs --server 10.20.2.1:7400";

const fs_cli_cmd fs_client_cmds[] = {
    {.name = "init",
     .synopsis = "[--dir DIR] --area AREA [--officer NAME]",
     .summary = "create this laptop's identity and store; prints its key",
     .text = "Give the printed key to the administrator, who enrols it (fieldsyncd admin\n"
             "enrol). A key is never overwritten: an init cut short is finished, with the\n"
             "key it wrote, by running init again.\n",
     .example = "fieldsync init --dir ~/fs --area KT.KPL.DAKNEN --officer 'Nguyễn Văn An'"},
    {.name = "key",
     .synopsis = "[--dir DIR]",
     .summary = "print the laptop's public key",
     .example = "fieldsync key --dir ~/fs"},
    {.name = "enrol",
     .synopsis = "[--dir DIR] --cert FILE --network-key FILE --root PUB [--seal-key PUB]",
     .summary = "install the enrolment the administrator made",
     .text = "PUB is 64 hex digits or a .pub file. --seal-key (seal.key.pub) lets the\n"
             "laptop record sealed fields, such as a tip's informant.\n",
     .example = "fieldsync enrol --dir ~/fs --cert an.cert --network-key network.key \\\n"
                "    --root root.key.pub --seal-key seal.key.pub"},
    {.name = "add",
     .synopsis = "[--dir DIR] --type TYPE [--area AREA] [--id ID] NAME=VALUE...",
     .summary = "record something new; prints its id",
     .text = "A record that breaks the schema is refused with the field and the rule, and\n"
             "nothing is recorded. --area: a village below the laptop's area.\n",
     .example = "fieldsync add --dir ~/fs --type incident category=theft \\\n"
                "    occurred_at=2026-11-20T21:15 'place=Thôn 3' status=new "
                "'officer=Nguyễn Văn An'"},
    {.name = "import",
     .synopsis = "[--dir DIR] [--area AREA] FILE",
     .summary = "record many new records from a JSON file (- : standard input)",
     .text = "FILE is a JSON array of objects or one object a line. Each object has\n"
             "\"type\", optionally \"id\" and \"area\", and its fields as members whose\n"
             "values are strings, integers or true/false (decimals as strings: \"26.5\").\n"
             "Each record is checked as add checks it; the first bad one is named by its\n"
             "number (and line) and nothing is imported. Prints the new ids.\n",
     .example = "fieldsync import --dir ~/fs records.json\n"
                "fieldsync import --dir ~/fs - < patrols.jsonl"},
    {.name = "edit",
     .synopsis = "[--dir DIR] ID NAME=VALUE...",
     .summary = "change fields of a record",
     .text = "ID may be the last (or first) characters of the id, at least 4, when\n"
             "no other record's id ends (begins) with them. New ids begin with the\n"
             "time they were made, so their end is what tells them apart.\n",
     .example = "fieldsync edit --dir ~/fs 9c41e7 status=handling"},
    {.name = "delete",
     .synopsis = "[--dir DIR] ID",
     .summary = "delete a record",
     .example = "fieldsync delete --dir ~/fs 9c41e7"},
    {.name = "list",
     .synopsis = "[--dir DIR] [--type TYPE] [--area PREFIX] [--all]",
     .summary = "records on this laptop (--all: deleted ones too)",
     .example = "fieldsync list --dir ~/fs --type incident"},
    {.name = "show",
     .synopsis = "[--dir DIR] ID",
     .summary = "one record with its fields, when and by whom each was written",
     .example = "fieldsync show --dir ~/fs 9c41e7"},
    {.name = "sync",
     .synopsis = "[--dir DIR] --server HOST:PORT [--server-key PUB]",
     .summary = "push the outbox to the commune server and pull the area's records",
     .text = "Nothing unacknowledged is lost when it fails: sync again later. A server\n"
             "that cannot be reached, or has not finished the handshake, within 15 s\n"
             "ends the sync (exit 2).\n",
     .example = "fieldsync sync --dir ~/fs --server 10.20.2.1:7400"},
    {.name = "seal",
     .synopsis = "[--dir DIR]",
     .summary = "sign the pending edits into change sets now",
     .text = "sync does it itself; seal fixes them before the laptop is handed over.\n",
     .example = "fieldsync seal --dir ~/fs"},
    {.name = "status",
     .synopsis = "[--dir DIR]",
     .summary = "edits and change sets waiting to be synced, and the last sync",
     .example = "fieldsync status --dir ~/fs"},
    {.name = "digest",
     .synopsis = "[--dir DIR] [--area PREFIX]",
     .summary = "state digest of an area, to compare with a server's",
     .example = "fieldsync digest --dir ~/fs --area KT.KPL.DAKNEN"},
    {0}};
