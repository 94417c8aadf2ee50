#!/usr/bin/env bash
# tree_link_cut - the commune's link to its district is cut, stays down,
# comes back; the commune keeps serving laptops and then catches up.
#
#   province KT  <-  district KT.KPL  <-[fs_relay]<-  commune KT.KPL.DAKNEN
#                                                     laptops lap1, lap2
#
# The commune's "parent =" is fs_relay (tests/tools/fs_relay.c), which
# forwards to the district and can reset every connection and refuse new
# ones. Checks, as the operators would:
#   - records replicate through the relay (it only carries encrypted bytes);
#   - a cut in the middle of a push of EDITS (3000) change sets (the relay
#     resets the link after a set number of bytes, mid-frame) leaves the
#     district with part of them, nothing half-stored;
#   - while the link stays refused: both laptops keep syncing to the commune
#     (it takes everything), the district's count does not move, the
#     commune keeps retrying (several reconnect failures in its log, backoff
#     growing), and the commune's /api/status shows parent_connected false,
#     a last_error, and a lag equal to what its parent has not acknowledged;
#   - once the link is restored: parent_connected true, lag back to 0, and
#     commune, district and province hold exactly the same change sets
#     (change_sets = log_seq = what the laptops made) with equal digests,
#     equal to the laptops';
#   - a flapping link (cut and restored five times during another push)
#     ends the same way;
#   - a silent link (the relay stalls: no reset, no refusal, no byte) is
#     given up by the commune within the 30 s idle limit (parent_connected
#     false, closed with E_TIMEOUT), and caught up once it carries again;
#   - the district's dashboard shows the commune connected with lag 0;
#     every server stops cleanly.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tree_lib.sh"

C=KT.KPL.DAKNEN
EDITS=${FS_INTEG_EDITS:-3000}

# made: change sets the laptops made so far; devices: laptops that made any.
made() { echo $(($(kv "$(laptop_status lap1)" seq) + $(kv "$(laptop_status lap2)" seq))); }
devices() {
  local l n=0
  for l in lap1 lap2; do (($(kv "$(laptop_status $l)" seq) > 0)) && n=$((n + 1)); done
  echo $n
}

# check_caught_up WHAT: every level holds exactly what the laptops made.
check_caught_up() {
  local n total
  total=$(made)
  assert_alive commune district province
  wait_until 90 "$1: the commune's parent link" status_field_is commune parent_connected true
  for n in commune district province; do
    wait_node_kv 120 "$n" change_sets "$total"
    assert_eq "$total" "$(node_kv "$n" log_seq)" "$1: $n log_seq (nothing stored twice)"
    assert_eq 0 "$(node_kv "$n" quarantined)" "$1: quarantined at $n"
    assert_eq "$(devices)" "$(node_kv "$n" devices)" "$1: devices at $n"
  done
  wait_until 60 "$1: the commune's lag back to 0" status_field_is commune lag 0
  wait_converged 60 $C commune district province
  for n in lap1 lap2; do
    sync_ok $n commune # pulls what the other laptop wrote
    assert_eq "$(digest_of province $C)" "$(laptop_digest $n $C)" "$1: $n vs province"
  done
  note "$1: $total change sets at every level"
}

step "province and district; the commune's parent is a relay to the district"
tree_node province KT -
tree_node district KT.KPL province
relay_start link district --cut-bytes 300000
PARENT_ADDR=$(relay_addr link) tree_node commune $C district
assert_contains "$(cat "$T/commune.ini")" "parent = $(relay_addr link)" "the commune's parent address"
tree_laptop lap1 $C 'Nguyễn Văn An' >/dev/null
tree_laptop lap2 $C 'Lê Thị Hoa' >/dev/null
wait_until 30 "the commune's link through the relay" status_field_is commune parent_connected true

step "records replicate through the relay"
must fs lap2 add --type incident --id inc_cho category=public_order occurred_at=2026-11-22T19:40 \
  'place=Chợ trung tâm xã Đắk Nên' status=new 'officer=Lê Thị Hoa'
must fs lap2 add --type tip received_at=2026-11-23T08:30 channel=phone status=verifying \
  'content=Phản ánh đối tượng lạ tụ tập ở rẫy cà phê' 'informant_name=Rơ Chăm Thương'
sync_ok lap2 commune
check_caught_up "before the cut"

step "the link is cut in the middle of a push of $EDITS change sets"
must "$FS_TESTPEER" edits --dir "$T/lap1" --count "$EDITS" --records 400
BEFORE=$(node_kv district change_sets)
CUTS=$(relay_cuts link)
ERRS0=$(grep -c 'event=uplink.error' "$T/commune.log")
relay_arm link # resets the link once 300000 more bytes went up
sync_ok lap1 commune # the commune takes it all; the district gets part
wait_until 60 "the relay to cut the link mid-push" relay_cut_since link "$CUTS"
note "relay: $(grep 'fs_relay: cut ' "$T/link.log" | tail -n 1)"
wait_until 30 "the commune to see its parent gone" status_field_is commune parent_connected false
AT_CUT=$(wait_quiet 30 district) # a push that arrived whole before the reset may still commit
TOTAL=$(made)
note "the district holds $AT_CUT of $TOTAL change sets at the cut"
((AT_CUT > BEFORE && AT_CUT < TOTAL)) ||
  fail "the cut did not land mid-replication: district at $AT_CUT, before $BEFORE, total $TOTAL"
assert_eq "$TOTAL" "$(node_kv commune change_sets)" "the commune took the whole sync"

step "while the link stays refused, the laptops keep syncing to the commune"
must fs lap2 add --type patrol --id patrol_cut start=2026-11-24T20:00 end=2026-11-24T23:30 \
  'route=Thôn 1 → Thôn 5' 'notes=Mạng huyện mất kết nối'
sync_ok lap2 commune
assert_eq "pushed 1 stored 1" "$(sync_counts | cut -d' ' -f1-4)" "lap2's sync during the cut"
must "$FS_TESTPEER" edits --dir "$T/lap1" --count 200 --records 400
sync_ok lap1 commune
assert_eq "pushed 200 stored 200" "$(sync_counts | cut -d' ' -f1-4)" "lap1's sync during the cut"
TOTAL=$(made)
assert_eq "$TOTAL" "$(node_kv commune change_sets)" "the commune holds everything"
sleep 4 # the link stays refused: the commune retries with a growing backoff
assert_eq "$AT_CUT" "$(node_kv district change_sets)" "the district's count during the cut"
ERRS=$(($(grep -c 'event=uplink.error' "$T/commune.log") - ERRS0))
# backoff 250 ms doubling, with jitter: at least 4 attempts in the first 3.75 s
((ERRS >= 3)) || fail "the commune retried its parent only $ERRS times in 4+ s of refusal"
assert_contains "$(grep 'event=uplink.error' "$T/commune.log" | tail -n 1)" "ECONNREFUSED" \
  "why the commune cannot reach its parent"
note "the commune logged $ERRS failed reconnects during the cut"
L=$(node_json commune)
assert_eq false "$(json_field "$L" parent_connected)" "parent_connected during the cut"
LOG_SEQ=$(json_field "$L" log_seq)
CURSOR=$(json_field "$L" parent_cursor)
assert_eq "$TOTAL" "$LOG_SEQ" "the commune's log_seq on its dashboard"
assert_eq $((LOG_SEQ - CURSOR)) "$(json_field "$L" lag)" "lag = log_seq - parent_cursor"
(($(json_field "$L" lag) >= TOTAL - AT_CUT)) ||
  fail "lag $(json_field "$L" lag) is less than what the district lacks ($((TOTAL - AT_CUT)))"
assert_ne "" "$(json_field "$L" last_error)" "the commune's last_error during the cut"
note "during the cut: lag=$(json_field "$L" lag) last_error=$(json_field "$L" last_error)"

step "the link is restored: the commune catches up"
relay_resume link
check_caught_up "after the cut"
L=$(node_json commune)
assert_eq true "$(json_field "$L" parent_connected)" "parent_connected after the cut"
assert_eq 0 "$(json_field "$L" lag)" "lag after the cut"
assert_eq "$TOTAL" "$(json_field "$L" parent_cursor)" "the parent's cursor after the cut"
must "$FIELDSYNCD" records --data "$T/province.data" --area $C
assert_contains "$OUT" 'notes="Mạng huyện mất kết nối"' "the patrol recorded during the cut, at the province"

step "a flapping link: cut and restored five times during a push"
must "$FS_TESTPEER" edits --dir "$T/lap1" --count "$EDITS" --records 400
CUTS=$(relay_cuts link)
"$FIELDSYNC" sync --dir "$T/lap1" --server "$(server_addr commune)" >"$T/sync.out" 2>"$T/sync.err" &
SYNC_PID=$!
BG_PIDS+=("$SYNC_PID")
for i in 1 2 3 4 5; do
  sleep "0.$((2 + RANDOM % 4))"
  relay_cut link
  sleep 0.3
  relay_resume link
done
wait_pid "$SYNC_PID" 120
[[ $WAITED -eq 0 ]] || fail "lap1's sync during the flapping failed: $(cat "$T/sync.err")"
note "relay cuts that reset an open link: $(grep 'fs_relay: cut ' "$T/link.log" | tail -n 5 | grep -vc 'conns=0')"
check_caught_up "after the flapping"

step "a silent link (nothing reset, nothing refused) is dropped by the idle limit and retried"
relay_stall link
STALL_AT=$SECONDS
must "$FS_TESTPEER" edits --dir "$T/lap1" --count 100 --records 400
sync_ok lap1 commune
AT_STALL=$(wait_quiet 30 district)
wait_until 45 "the commune to give up the silent link (30 s idle limit)" \
  status_field_is commune parent_connected false
note "the commune dropped the silent link after $((SECONDS - STALL_AT)) s"
assert_contains "$(grep 'event=uplink.closed' "$T/commune.log" | tail -n 1)" "reason=E_TIMEOUT" \
  "why the commune closed the silent link"
assert_eq "$AT_STALL" "$(node_kv district change_sets)" "the district's count while the link is silent"
relay_resume link
check_caught_up "after the silent link"

step "the district's dashboard shows the commune connected, lag 0"
wait_until 30 "the commune's report at the district" status_field_is district lag 0 commune
L=$(node_json district commune)
assert_eq true "$(json_field "$L" parent_connected)" "the commune at the district"
assert_eq "$(made)" "$(json_field "$L" log_seq)" "the commune's log_seq at the district"

for n in commune district province; do stop_server "$n"; done
pass
