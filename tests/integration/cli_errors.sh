#!/usr/bin/env bash
# cli_errors - what an officer or an operator sees when they get it wrong.
#
# Checks exit codes (1 usage, 2 refused/failed) and that each message is a
# sentence that says what to do:
#   - usage errors of both binaries exit 1 with a message;
#   - an area outside the laptop's scope, invalid UTF-8, a bad field name,
#     a repeated field, an unknown type or field, a missing required field
#     or a value outside its enumeration are refused and nothing is recorded;
#   - edits of unknown or deleted records, a second init, an existing key
#     are refused with exit 2;
#   - an init whose store cannot be made leaves no key; an init cut short
#     (a key, no store) is finished by the next init, with that key;
#   - a world-readable device.key or node key is refused with a hint to
#     chmod 600;
#   - check-config names file:line of a bad value;
#   - fieldsyncd run on a port in use exits 2 and the running server is
#     undisturbed;
#   - sync with the wrong --server-key fails (exit 2) and keeps the outbox.
. "$(dirname "$0")/lib.sh"

AREA=KT.KPL.DAKNEN
# the required fields of a new incident (common/schema.c)
INCIDENT=(category=theft occurred_at=2026-11-20T21:30 'place=Buôn Ea H’Leo' status=new
  'officer=Nguyễn Văn An')

# pending edits and signed sets of the laptop, to show nothing was recorded
state() { local s; s=$(laptop_status lap); echo "pending=$(kv "$s" pending) outbox=$(kv "$s" outbox)"; }

step "usage errors exit 1 with a message"
expect_exit 1 "$FIELDSYNC"
assert_contains "$ERR" "a command is required" "fieldsync with no command"
expect_exit 1 "$FIELDSYNC" frobnicate
assert_contains "$ERR" "unknown command 'frobnicate'" "fieldsync unknown command"
expect_exit 1 "$FIELDSYNC" init --dir "$T/nowhere"
assert_contains "$ERR" "init needs --area AREA" "init without --area"
expect_exit 1 "$FIELDSYNC" init --dir "$T/nowhere" --area 'KT KPL'
assert_contains "$ERR" "is not an area code" "init with a bad area"
[[ ! -e "$T/nowhere" ]] || fail "a failed init left $T/nowhere behind"
expect_exit 1 "$FIELDSYNCD"
assert_contains "$ERR" "a command is required" "fieldsyncd with no command"
expect_exit 1 "$FIELDSYNCD" frobnicate
assert_contains "$ERR" "unknown command 'frobnicate'" "fieldsyncd unknown command"
expect_exit 1 "$FIELDSYNCD" run
assert_contains "$ERR" "--config FILE is required" "run without --config"
expect_exit 1 "$FIELDSYNCD" keygen
assert_contains "$ERR" "keygen needs --key PATH" "keygen without --key"
expect_exit 1 "$FIELDSYNCD" status
assert_contains "$ERR" "--data DIR is required" "status without --data"
expect_exit 1 "$FIELDSYNCD" digest --data "$T/x" --area 'not an area'
assert_contains "$ERR" "is not an area code" "digest with a bad area"

K=$(laptop_init lap $AREA 'Nguyễn Văn An')
expect_exit 1 fs lap add category=theft
assert_contains "$ERR" "add needs --type TYPE" "add without --type"
expect_exit 1 fs lap edit
assert_contains "$ERR" "edit needs ID and NAME=VALUE" "edit without arguments"
expect_exit 1 fs lap delete
assert_contains "$ERR" "delete needs exactly one ID" "delete without an id"
expect_exit 1 fs lap sync
assert_contains "$ERR" "sync needs --server HOST:PORT" "sync without --server"
expect_exit 1 fs lap list extra
assert_contains "$ERR" "unexpected argument 'extra'" "list with an extra argument"
expect_exit 1 fs lap add --type incident --id 'Bad-Id' "${INCIDENT[@]}"
assert_contains "$ERR" "--id must be" "add with a bad --id"
assert_eq "pending=0 outbox=0" "$(state)" "nothing recorded by usage errors"

step "edits the laptop must refuse"
expect_exit 2 fs lap add --type incident --area KT.KPL.EAHLEO "${INCIDENT[@]}"
assert_contains "$ERR" "area KT.KPL.EAHLEO lies outside this laptop's area" "area outside scope"
expect_exit 2 fs lap add --type incident --area KT.KPL "${INCIDENT[@]}"
assert_contains "$ERR" "lies outside this laptop's area" "the parent area is outside too"
for bad in $'\xff' $'ab\xc3' $'\xc0\xaf' $'\xed\xa0\x80' $'\xf4\x90\x80\x80' $'Th\xf4n'; do
  expect_exit 2 fs lap add --type incident "${INCIDENT[@]}" "description=$bad"
  assert_contains "$ERR" "field description: the value must be UTF-8 text" \
    "invalid UTF-8 $(od -An -tx1 <<<"$bad")"
done
expect_exit 1 fs lap add --type incident 'Place=x'
assert_contains "$ERR" "is not NAME=VALUE" "upper-case field name"
expect_exit 1 fs lap add --type incident a=1 a=2
assert_contains "$ERR" "field a is given twice" "repeated field"
assert_eq "pending=0 outbox=0" "$(state)" "nothing recorded by refused edits"
expect_exit 2 fs lap add --type weapon category=gun
assert_contains "$ERR" "record type 'weapon' is unknown" "unknown record type"
expect_exit 2 fs lap add --type incident category=theft
assert_contains "$ERR" "refused, nothing was recorded" "a new incident without its required fields"
assert_contains "$ERR" "a new incident needs" "the required fields are named"
expect_exit 2 fs lap add --type incident "${INCIDENT[@]}" colour=red
assert_contains "$ERR" "refused, nothing was recorded" "an unknown field"
expect_exit 2 fs lap add --type incident category=burglary occurred_at=2026-11-20T21:30 \
  place=x status=new officer=y
assert_contains "$ERR" "refused, nothing was recorded" "a value outside the enumeration"
assert_eq "pending=0 outbox=0" "$(state)" "nothing recorded by schema refusals"
# What is valid is kept: 4-byte UTF-8, a village below the laptop's area.
must fs lap add --type incident --id okay1 --area $AREA.T3 "${INCIDENT[@]}" 'description=Đã xử lý 🚓'
assert_eq "pending=1 outbox=0" "$(state)" "a valid edit is recorded"
must fs lap show okay1
assert_contains "$OUT" "description: \"Đã xử lý 🚓\"" "4-byte UTF-8 kept"
# add never overwrites: an existing id is edit's job.
expect_exit 2 fs lap add --type incident --id okay1 "${INCIDENT[@]}"
assert_contains "$ERR" "a record with id okay1 exists already" "add over an existing id"
assert_eq "pending=1 outbox=0" "$(state)" "nothing recorded by the refused add"

expect_exit 2 fs lap edit nosuchrecord status=resolved
assert_contains "$ERR" "no record with id nosuchrecord" "edit of an unknown id"
must fs lap delete okay1
expect_exit 2 fs lap edit okay1 status=resolved
assert_contains "$ERR" "record okay1 is deleted" "edit of a deleted record"
expect_exit 2 fs lap init --area $AREA
assert_contains "$ERR" "already holds a device; keys are never overwritten" "second init"
expect_exit 2 fs lap list --dir "$T/nodevice"
assert_contains "$ERR" "no device in $T/nodevice" "missing device"

step "a failed init leaves no key; an interrupted one is finished"
mkdir -m 700 "$T/half"
: >"$T/half/store" # the store cannot be made there
expect_exit 2 fs half init --area $AREA
assert_contains "$ERR" "cannot create the device (fix the cause, then init again)" "store fails"
[[ ! -e $T/half/device.key && ! -e $T/half/device.key.pub ]] || fail "a failed init left its key"
rm "$T/half/store"
must fs half init --area $AREA
HALF=$OUT
rm -rf "$T/half/store" # cut short after the key was written
expect_exit 2 fs half status
assert_contains "$ERR" "no device in $T/half; create one with: fieldsync init" "no store"
must fs half init --area $AREA
assert_eq "$HALF" "$OUT" "init finishes with the key it had"
must fs half add --type incident "${INCIDENT[@]}"
expect_exit 2 fs half init --area $AREA
assert_contains "$ERR" "already holds a device; keys are never overwritten" "init of a whole device"
mv "$T/half/device.key" "$T/half.key"
for gone in device.key device.key.pub; do # without its key, then without both halves
  rm -f "$T/half/$gone"
  expect_exit 2 fs half init --area $AREA
  assert_contains "$ERR" "$T/half/device.key is missing or cannot be read, but the rest of a device is there" \
    "a store without its key ($gone gone)"
  [[ ! -e $T/half/device.key ]] || fail "init gave a store another key"
done
mv "$T/half.key" "$T/half/device.key"
must fs half status # the key restored: the same device

step "a world-readable device key is refused"
chmod 644 "$T/lap/device.key"
for cmd in status list sync; do
  args=()
  [[ $cmd == sync ]] && args=(--server 127.0.0.1:9)
  expect_exit 2 fs lap $cmd "${args[@]}"
  assert_contains "$ERR" "device.key is readable by others" "$cmd with a 0644 key"
  assert_contains "$ERR" "chmod 600 $T/lap/device.key" "$cmd suggests chmod 600"
done
chmod 600 "$T/lap/device.key"
assert_eq "pending=2 outbox=0" "$(state)" "the laptop works again after chmod 600"

step "check-config names the file and line of a bad value"
write_server_config commune $AREA "device = $K $AREA"
must "$FIELDSYNCD" check-config --config "$T/commune.ini"
assert_contains "$OUT" "ok (node commune, area $AREA)" "a good configuration"
bad_config() { # LINE REASON LINES...: expects file:LINE and REASON
  local line=$1 reason=$2
  shift 2
  printf '%s\n' "$@" >"$T/bad.ini"
  expect_exit 2 "$FIELDSYNCD" check-config --config "$T/bad.ini"
  assert_contains "$ERR" "$T/bad.ini:$line: " "check-config names the line"
  assert_contains "$ERR" "$reason" "check-config says why"
}
bad_config 3 "area 'KT..KPL' is not a valid area code" '[node]' 'id = c' 'area = KT..KPL'
bad_config 4 "unknown option 'colour' in section [node]" '[node]' 'id = c' 'area = KT' 'colour = blue'
bad_config 4 "listen '127.0.0.1:99999' is not host:port" '[node]' 'id = c' 'area = KT' 'listen = 127.0.0.1:99999'
bad_config 3 "map_size_mb '1' must be a number" '[node]' 'id = c' 'map_size_mb = 1'
bad_config 6 "root_key is not 64 hex digits" '[node]' 'id = c' 'area = KT' "data = $T/d" "key = $T/k" 'root_key = beef'
bad_config 2 "line is not 'name = value'" '[node]' 'id c'
bad_config 3 "unknown option 'device' in section [peers]" '[node]' '[peers]' "device = $K KT"
# The first bad line is the reason, whatever follows it.
bad_config 3 "area 'KT..X' is not a valid area code" '[node]' 'id = c' 'area = KT..X' 'data = /tmp/x'
# Rules across lines name the file.
printf '%s\n' '[node]' 'id = c' 'area = KT.KPL' "data = $T/d" "key = $T/k" >"$T/bad.ini"
expect_exit 2 "$FIELDSYNCD" check-config --config "$T/bad.ini"
assert_contains "$ERR" "$T/bad.ini: [node] needs id, area, data, key, cert, network_key and root_key" "missing options"
expect_exit 2 "$FIELDSYNCD" check-config --config "$T/missing.ini"
assert_contains "$ERR" "$T/missing.ini: cannot open the file" "missing configuration"

step "a world-readable node key is refused"
chmod 644 "$T/commune.key"
expect_exit 2 timeout 60 "$FIELDSYNCD" run --config "$T/commune.ini" \
  --listen "127.0.0.1:$(free_port)"
assert_contains "$ERR" "run chmod 600 on it" "fieldsyncd suggests chmod 600"
assert_contains "$ERR" "cannot start node commune" "fieldsyncd says it did not start"
chmod 600 "$T/commune.key"
expect_exit 2 "$FIELDSYNCD" keygen --key "$T/commune.key"
assert_contains "$ERR" "keys are never overwritten" "keygen over an existing key"

step "fieldsyncd run on a port in use exits 2; the running server goes on"
start_server commune
write_server_config second $AREA "device = $K $AREA"
expect_exit 2 timeout 60 "$FIELDSYNCD" run --config "$T/second.ini" \
  --listen "$(server_addr commune)"
assert_contains "$ERR" "EADDRINUSE" "the log line names the error"
assert_contains "$ERR" "cannot start node second" "the sentence"
server_alive commune || fail "the first server died"

step "sync with the wrong --server-key fails and keeps the outbox"
WRONG=$("$FIELDSYNCD" keygen --key "$T/other.key") || fail "keygen failed"
expect_exit 2 fs lap sync --server "$(server_addr commune)" --server-key "$WRONG"
assert_contains "$ERR" "did not present the expected key" "wrong server key"
assert_contains "$ERR" "1 change sets wait in the outbox" "outbox kept"
expect_exit 1 fs lap sync --server "$(server_addr commune)" --server-key nothex
assert_contains "$ERR" "--server-key must be 64 hex digits" "malformed server key"
must fs lap sync --server "$(server_addr commune)" --server-key "$T/commune.key.pub"
assert_eq "pending=0 outbox=0" "$(state)" "sync with the right key"

stop_server commune
pass
