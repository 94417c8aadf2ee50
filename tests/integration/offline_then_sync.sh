#!/usr/bin/env bash
# offline_then_sync - an officer works with no network, then syncs.
#
# Checks, as the officer and the commune operator would:
#   - add/edit/delete work offline; each edit waits as a pending edit, and
#     the sync seals them all into one signed change set;
#   - a sync against an unreachable server exits 2, says why, and keeps that
#     change set in the outbox;
#   - once the server runs, the sync pushes it, new; the server does not
#     send the laptop its own records back;
#   - the server lists exactly the laptop's visible records, with the same
#     field values (Vietnamese text byte for byte), and keeps the deleted one
#     as deleted;
#   - laptop and server digests of the area are equal;
#   - a second sync moves nothing: pushed 0 change sets, pulled 0 records;
#   - on a terminal the sync shows progress (sets and bytes, rate), and
#     nothing of it when stderr is not a terminal.
. "$(dirname "$0")/lib.sh"

AREA=KT.KPL.DAKNEN

step "a laptop records incidents with no server reachable"
K1=$(laptop_init lap1 $AREA 'Nguyễn Văn An')
write_server_config commune $AREA "device = $K1 $AREA"

PLACE='Thôn 3, xã Đắk Nên — "cổng chợ"'
WHO='Ông Y Nuôi Niê'
must fs lap1 add --type incident --id inc_theft category=theft occurred_at=2026-11-20T21:30 \
  "place=$PLACE" status=new 'officer=Nguyễn Văn An'
assert_eq inc_theft "$OUT" "id printed by add"
must fs lap1 add --type surrender date=2026-11-21 'received_by=Nguyễn Văn An' "handed_in_by=$WHO" \
  kind=gun quantity=2 unit=piece mode=handed_in 'description=Súng kíp tự chế' \
  kind_2=detonator quantity_2=5 unit_2=piece mode_2=handed_in
WID=$OUT
must fs lap1 add --type tip received_at=2026-11-21T07:15 channel=in_person status=received \
  'content=Nghi vấn đánh bạc ở rẫy cà phê'
TID=$OUT
must fs lap1 edit inc_t status=handling 'description=Đã lập biên bản, chờ xác minh'
must fs lap1 delete "${TID: -8}" # the end of an id: its start is the time it was made
must fs lap1 list
LAPTOP_LIST=$OUT
assert_contains "$LAPTOP_LIST" "place=\"$(sed 's/"/\\"/g' <<<"$PLACE")\"" "laptop list shows the place"
assert_not_contains "$LAPTOP_LIST" "$TID" "deleted tip hidden on the laptop"
ST=$(laptop_status lap1)
assert_eq 5 "$(kv "$ST" pending)" "pending edits after 3 adds, 1 edit, 1 delete"
assert_eq 0 "$(kv "$ST" outbox)" "nothing signed before the sync"
assert_eq 0 "$(kv "$ST" seq)" "device sequence before the sync"

step "sync to a port where nothing listens fails and keeps the outbox"
DEAD=$(free_port)
expect_exit 2 fs lap1 sync --server "127.0.0.1:$DEAD"
assert_contains "$ERR" "sync failed" "error sentence"
assert_contains "$ERR" "1 change sets wait in the outbox" "outbox reassurance"
ST=$(laptop_status lap1)
assert_eq "pending=0 outbox=1 seq=1" "pending=$(kv "$ST" pending) outbox=$(kv "$ST" outbox) seq=$(kv "$ST" seq)" \
  "the five edits sealed into one signed change set, kept after the failed sync"

step "the server starts; the sync pushes everything"
start_server commune
sync_ok lap1 commune
assert_eq "pushed 1 stored 1 pulled 0" "$(sync_counts)" "first sync counts (the laptop's own records are not sent back)"
assert_eq 0 "$(laptop_outbox lap1)" "outbox after the sync"
SS=$(server_status commune)
assert_eq 1 "$(kv "$SS" change_sets)" "server change sets"
assert_eq 1 "$(kv "$SS" devices)" "server devices"
assert_eq 0 "$(kv "$SS" quarantined)" "server quarantine"

step "the server holds exactly the laptop's records"
must "$FIELDSYNCD" records --data "$T/commune.data" --area $AREA
SERVER_LIST=$OUT
must fs lap1 list
assert_same_text "$LAPTOP_LIST" "$OUT" "laptop list before and after the sync"
assert_same_text "$LAPTOP_LIST" "$SERVER_LIST" "laptop list and server records"
assert_eq 2 "$(grep -c . <<<"$SERVER_LIST")" "visible records at the server"
# Field values byte for byte, not just as printed lines.
INC=$(grep " inc_theft " <<<"$SERVER_LIST")
assert_contains "$INC" "$AREA inc_theft incident category=theft" "incident line"
assert_contains "$INC" 'description="Đã lập biên bản, chờ xác minh"' "edited field"
assert_contains "$INC" 'officer="Nguyễn Văn An"' "officer's name"
assert_contains "$INC" "status=handling" "edited status"
SUR=$(grep " $WID " <<<"$SERVER_LIST")
assert_contains "$SUR" "$AREA $WID surrender" "surrender line"
assert_contains "$SUR" "handed_in_by=\"$WHO\"" "who handed the weapons in"
assert_contains "$SUR" 'description="Súng kíp tự chế"' "item description"
assert_contains "$SUR" "kind_2=detonator" "second item line"
must "$FIELDSYNCD" records --data "$T/commune.data" --area $AREA --all
assert_contains "$OUT" "$AREA $TID tip deleted" "the deleted tip is kept as deleted"
must fs lap1 list --all
assert_contains "$OUT" "$AREA $TID tip deleted" "the laptop keeps the tombstone too"

step "digests of the area are equal"
LD=$(laptop_digest lap1 $AREA)
SD=$(server_digest commune $AREA)
assert_eq "$SD" "$LD" "laptop digest vs server digest"
assert_contains "$LD" "records=3" "digest record count (with the tombstone)"

step "a second sync moves nothing but the handshake"
sync_ok lap1 commune
assert_eq "pushed 0 stored 0 pulled 0" "$(sync_counts)" "second sync counts"
assert_eq "$SS" "$(server_status commune)" "server status after the empty sync"
assert_eq "$SD" "$(server_digest commune $AREA)" "server digest after the empty sync"

step "an edit after the sync goes up alone"
must fs lap1 edit inc_theft status=resolved
sync_ok lap1 commune
assert_eq "pushed 1 stored 1 pulled 0" "$(sync_counts)" "third sync counts"
assert_eq "$(server_digest commune $AREA)" "$(laptop_digest lap1 $AREA)" "digests after the edit"
assert_eq "" "$ERR" "no progress lines when stderr is not a terminal"

step "on a terminal, the sync shows its progress"
must fs lap1 edit inc_theft 'description=Đã xử lý xong'
must fs lap1 add --type patrol start=2026-11-24T20:00 end=2026-11-24T23:30 'route=Thôn 1 → Thôn 5'
# script(1) gives the CLI a terminal; its output is the terminal's.
must script -qec "$FIELDSYNC sync --dir $T/lap1 --server $(server_addr commune)" /dev/null
TTY=$(tr '\r' '\n' <<<"$OUT")
assert_contains "$TTY" "pushed 1/1 change sets (" "progress: sets pushed of the outbox, with bytes"
assert_contains "$TTY" "MB/s" "progress: the rate"
assert_contains "$TTY" "synced with commune: pushed 1 change sets" "the summary after the progress"

stop_server commune
pass
