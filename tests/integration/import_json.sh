#!/usr/bin/env bash
# import_json - an office imports a batch of records from a JSON file
# (fieldsync import, client/import.c; issue 7, item 5).
#
#   - 500 records of five types (strings in Vietnamese, integers, booleans,
#     quantities as strings, ids given or not, a village area) from a JSON
#     array are recorded, synced, and present at the commune with the same
#     digest as the laptop's; JSON lines and standard input work too;
#   - a file with one bad record among 500 imports nothing and names the
#     record: a value the schema refuses, a missing field, an unknown type,
#     an area outside the laptop's, an id given twice or already there, a
#     decimal number or null as a value, JSON that does not parse (line and
#     column), an empty file, a missing file.
#
# Registered as integ_import_json.
. "$(dirname "$0")/lib.sh"

AREA=KT.KPL.DAKNEN
K=$(laptop_init lap $AREA 'Nguyễn Văn An')
write_server_config commune $AREA "device = $K $AREA"
start_server commune

# record N: the Nth record of the batch, one JSON object on one line.
record() {
  local n=$1
  case $((n % 5)) in
  0) printf '{"type": "patrol", "start": "2026-11-%02dT20:00", "end": "2026-11-%02dT23:30", "route": "Thôn %d – Buôn Ea H’Leo", "members": "Tổ %d"}' \
    $((n % 28 + 1)) $((n % 28 + 1)) $((n % 9 + 1)) "$n" ;;
  1) printf '{"type": "incident", "id": "inc_%04d", "category": "theft", "occurred_at": "2026-10-%02dT21:15", "place": "Thôn %d, xã Đăk Nên", "status": "new", "officer": "Nguyễn Văn An", "description": "Mất xe máy\\nĐã lập biên bản"}' \
    "$n" $((n % 28 + 1)) $((n % 9 + 1)) ;;
  2) printf '{"type": "model", "area": "%s.T%d", "name": "Tổ tự quản số %d", "kind": "self_management", "founded": "2025-03-01", "members": %d}' \
    "$AREA" $((n % 4 + 1)) "$n" $((n % 90 + 10)) ;;
  3) printf '{"type": "surrender", "date": "2026-09-%02d", "received_by": "Công an xã", "kind": "ammunition", "quantity": "%d.5", "unit": "piece", "mode": "handed_in"}' \
    $((n % 28 + 1)) $((n % 7 + 1)) ;;
  4) printf '{"type": "safety_cert", "unit_kind": "school", "unit_name": "Trường số %d", "year": 2026, "met": %s}' \
    "$n" "$([[ $((n % 2)) == 0 ]] && echo true || echo false)" ;;
  esac
}

# batch FILE COUNT [N BAD]: a JSON array of COUNT records, record N replaced by BAD.
batch() {
  local file=$1 count=$2 bad_n=${3:-0} bad=${4:-} i
  {
    echo "["
    for ((i = 1; i <= count; i++)); do
      if ((i == bad_n)); then printf '%s' "$bad"; else record "$i"; fi
      ((i < count)) && echo "," || echo
    done
    echo "]"
  } >"$file"
}

state() { local s; s=$(laptop_status lap); echo "pending=$(kv "$s" pending) records=$(kv "$s" records)"; }

# refused WHAT FILE EXPECTED...: import FILE exits 2, names the problem, and
# the laptop is exactly as before.
refused() {
  local what=$1 file=$2 before
  shift 2
  before=$(state)
  expect_exit 2 fs lap import "$file"
  local want
  for want in "$@"; do assert_contains "$ERR" "$want" "$what"; done
  assert_eq "" "$OUT" "$what: no id printed"
  assert_eq "$before" "$(state)" "$what: nothing was imported"
}

step "a bad record among 500 imports nothing"
batch "$T/bad.json" 500 317 '{"type": "incident", "category": "burglary", "occurred_at": "2026-10-01T21:15", "place": "x", "status": "new", "officer": "y"}'
refused "a value outside the enumeration" "$T/bad.json" \
  "$T/bad.json: record 317: refused, nothing was imported: incident: field category: 'burglary' is not one of" \
  "correct that record and import the whole file again"
assert_eq "pending=0 records=0" "$(state)" "the laptop before any import"
batch "$T/bad.json" 500 500 '{"type": "patrol", "start": "2026-11-24T20:00", "route": "x"}'
refused "a missing field" "$T/bad.json" "record 500: refused" "a new patrol needs start, end, route"
batch "$T/bad.json" 500 2 '{"type": "weapon", "kind": "gun"}'
refused "an unknown type" "$T/bad.json" "record 2: refused" "record type 'weapon' is unknown"
batch "$T/bad.json" 500 3 "{\"type\": \"patrol\", \"area\": \"KT.KPL.EAHLEO\", \"start\": \"2026-11-24T20:00\", \"end\": \"2026-11-24T23:30\", \"route\": \"x\"}"
refused "an area outside the laptop's" "$T/bad.json" "record 3: refused" \
  "area KT.KPL.EAHLEO lies outside this laptop's area $AREA"
batch "$T/bad.json" 500 400 "$(record 1)"
refused "an id given twice" "$T/bad.json" "record 400: refused" "id inc_0001 is given twice in the file"
batch "$T/bad.json" 500 9 '{"type": "surrender", "date": "2026-09-01", "received_by": "x", "kind": "gun", "quantity": 2.5, "unit": "piece", "mode": "seized"}'
refused "a decimal number" "$T/bad.json" "record 9: refused" "write a decimal number as a string: \"26.5\""
batch "$T/bad.json" 500 10 '{"type": "patrol", "start": "2026-11-24T20:00", "end": "2026-11-24T23:30", "route": "x", "notes": null}'
refused "null as a value" "$T/bad.json" "record 10: refused" "leave the field out instead of null"
batch "$T/bad.json" 500 11 '"a string"'
refused "not an object" "$T/bad.json" "record 11: refused" "a record is a JSON object"
batch "$T/bad.json" 500
sed -i '250s/},$/}},/' "$T/bad.json"
refused "JSON that does not parse" "$T/bad.json" "$T/bad.json:250:" "not valid JSON" \
  "nothing was imported"
: >"$T/empty.json"
refused "an empty file" "$T/empty.json" "holds no records"
expect_exit 2 fs lap import "$T/missing.json"
assert_contains "$ERR" "cannot open $T/missing.json" "a missing file"
expect_exit 1 fs lap import
assert_contains "$ERR" "import needs one FILE" "no file"

step "500 records from a JSON array"
batch "$T/batch.json" 500
must fs lap import "$T/batch.json"
assert_eq 500 "$(wc -l <<<"$OUT")" "one id printed per record"
assert_eq 500 "$(sort -u <<<"$OUT" | wc -l)" "distinct ids"
assert_contains "$OUT" "inc_0001" "a given id is kept"
assert_contains "$ERR" "imported 500 records" "the summary"
assert_eq "pending=500 records=500" "$(state)" "the laptop after the import (pending edits)"
IDS=$OUT
refused "an id already on the laptop" "$T/batch.json" "record 1: refused" \
  "a record with id inc_0001 exists already on this laptop"

step "JSON lines, and standard input"
for i in 501 502 503; do record $i; echo; done >"$T/more.jsonl"
echo '{"type": "patrol", "start": "2026-11-24T20:00", "end": "2026-11-23T23:30", "route": "x"}' >>"$T/more.jsonl"
refused "a bad line" "$T/more.jsonl" "record 4 (line 4): refused" "end must not be before start"
sed -i '$d' "$T/more.jsonl"
printf '\n\n' >>"$T/more.jsonl" # blank lines are skipped
run bash -c "\"$FIELDSYNC\" import --dir \"$T/lap\" - <\"$T/more.jsonl\""
[[ $RC -eq 0 ]] || fail "import from standard input failed"
assert_eq 3 "$(wc -l <<<"$OUT")" "three ids from standard input"
IDS+=$'\n'$OUT
assert_eq "pending=503 records=503" "$(state)" "the laptop after JSON lines"

step "sync: every imported record is at the commune"
sync_ok lap commune
assert_eq "pending=0 records=503" "$(state)" "the laptop after the sync"
assert_eq 0 "$(laptop_outbox lap)" "the outbox after the sync"
wait_quiet 30 commune >/dev/null
assert_eq 503 "$(kv "$(server_status commune)" records)" "records at the commune"
held=$("$FIELDSYNCD" records --data "$T/commune.data" --area $AREA | awk '{print $2}' | sort)
assert_same_text "$(sort <<<"$IDS")" "$held" "the ids at the commune"
assert_eq "$(server_digest commune $AREA)" "$(laptop_digest lap $AREA)" "commune vs laptop digest"
line=$("$FIELDSYNCD" records --data "$T/commune.data" --area $AREA | grep ' inc_0001 ')
assert_contains "$line" 'place="Thôn 2, xã Đăk Nên"' "Vietnamese text kept"
line=$("$FIELDSYNCD" records --data "$T/commune.data" --area $AREA.T3 | grep ' model ' | head -n 1)
assert_contains "$line" "members=" "an integer kept as text"
assert_contains "$("$FIELDSYNCD" records --data "$T/commune.data" --area $AREA | grep -c ' met=true')" "50" \
  "booleans kept"
stop_server commune
pass
