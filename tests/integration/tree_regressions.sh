#!/usr/bin/env bash
# tree_regressions - product bugs found by the tree tests, each asserting the
# correct behaviour. All are fixed: each check now guards its fix.
#
# Registered as integ_tree_regressions. By hand, e.g. from build/:
#   FIELDSYNCD=server/fieldsyncd FIELDSYNC=client/fieldsync \
#   FS_TESTPEER=tests/tools/fs_testpeer FS_RELAY=tests/tools/fs_relay \
#   bash ../tests/integration/tree_regressions.sh
# Each check runs on its own and says "fixed" when it passes; the test
# fails when any does not. FS_CHECKS="a b" runs some by hand.
#
#   restore_cursor  A commune restored from a backup (README "Backups")
#                   while its link to the district is down takes new change
#                   sets from laptops; its log grows past the cursor the
#                   district keeps for it before the link comes back. It
#                   used to resume from that cursor (server/uplink.c
#                   on_welcome reset it only when peer_cursor > log_seq), so
#                   the new sets at log positions up to it were never sent
#                   and the district held the later ones forever. Fixed: the
#                   Welcome names the set at the cursor and the commune
#                   resends its whole log when its own differs.
#   restore_laptop  After that restore, a laptop whose acknowledged sets the
#                   backup lacked got E_GAP ("server head is 50; resend from
#                   there") at every sync, for good. Fixed: its set is HELD
#                   and the commune fetches the gap from the district; the
#                   commune then holds the laptop's whole chain again.
#   fetch_beyond_256  The first fix asked its parent once per HELD set: a
#                   gap longer than one Fetch answer (FS_FETCH_MAX, 256
#                   sets) was filled only in part and the laptop's set
#                   (already gone from its outbox) stayed held for good.
#   fetch_after_restart  The wanted gaps lived only in memory: a commune
#                   restarted between the HELD ack and the Fetch never asked,
#                   and the set stayed held for good (so did a request
#                   dropped when more than 16 devices had gaps). Fixed
#                   (commit 9ceb21e): the rest of a full fetch is asked at
#                   once, every held gap at reconnect and every 30 s.
#   certs_before_sets  A commune whose district was down took one set from
#                   each of 70 laptops enrolled there: 70 enrolment
#                   certificates, more than one Push carries (64). When the
#                   link came back, the first Push held 64 certificates and
#                   all 70 sets; the district refused the others' sets for
#                   good ("no enrolment certificate here") and the commune's
#                   cursor moved past them. Fixed: while certificates are
#                   waiting, they go up alone, before any set.
#   fork_held       A forked laptop (restored onto a second machine, say)
#                   sealed two different sets 2 on the same set 1; each
#                   reached the district through another commune before set
#                   1 did. The second was answered HELD like the first and
#                   thrown away (the district only asked whether anything
#                   was held at that seq), so the fork was never seen and
#                   the commune's cursor moved past it. Fixed: it is
#                   answered FORK and kept in quarantine; the first is
#                   applied once set 1 arrives.
#   fetch_over_frame  A laptop whose large import (about 8 sets, 5.4 MB)
#                   went to the district, then one more edit to the commune:
#                   the commune held it and asked for the gap, the district
#                   answered with every set at once, over the 4 MiB frame
#                   limit, and the link closed (E_TOOBIG) at each attempt;
#                   the held set was never applied nor forwarded. Fixed: a
#                   Fetch answer stops near 1 MiB and the commune asks for
#                   the rest whenever an answer is shorter than its range.
#   stop_during_held_push  SIGTERM to a commune while a laptop's Pushes of
#                   sets ahead of a gap were in flight: fs_server_stop
#                   stopped the uplink (freed at the next loop turn) but
#                   kept pointing at it, and each Push that finished then
#                   asked it for the gap (on_batch_done -> fs_uplink_fetch):
#                   a use after free (ASan: heap-use-after-free; a normal
#                   build reads freed memory silently). Fixed: the server
#                   forgets the uplink when it stops it; the commune exits 0
#                   with a clean log, and asks for the gap after its restart.
#   frame_rate      A district read its child nodes at the laptops' frame
#                   rate (200 frames/s, a burst of 400): a commune's link
#                   sends a Push per commit while sets trickle in, so under
#                   a steady 500 sets/s the district throttled it and every
#                   hop waited tens of milliseconds (bench: tree lag p50
#                   38 ms with 1 ms commits). Fixed: a node's session has a
#                   rate of its own (FS_RATE_FRAMES_PER_S_NODE). A certified
#                   commune streams 2,000 sets, one per Push, 16 in flight:
#                   all stored, no frame throttled, nothing logged; a laptop
#                   sending 1,000 Pulls at once is still throttled (counted
#                   in fieldsync_throttled_frames_total, logged once as
#                   session.throttled role=device) and every Pull answered.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tree_lib.sh"

C=KT.KPL.DAKNEN
FAILED=()

# A district and a commune behind a relay; lap1 syncs 50 sets, the commune
# is backed up, lap1 syncs 50 more (the district holds 100). The link goes
# down, the commune is restored from the backup (log_seq 50) and started.
restored_commune() { # SUFFIX
  local d=district$1 c=commune$1 r=link$1
  tree_node "$d" KT.KPL -
  relay_start "$r" "$d"
  PARENT_ADDR=$(relay_addr "$r") tree_node "$c" $C "$d"
  tree_laptop "lap1$1" $C >/dev/null
  tree_laptop "lap2$1" $C >/dev/null
  wait_until 30 "the commune's link" status_field_is "$c" parent_connected true
  must "$FS_TESTPEER" edits --dir "$T/lap1$1" --count 50
  sync_ok "lap1$1" "$c"
  must "$FIELDSYNCD" backup --data "$T/$c.data" --out "$T/backup$1"
  must "$FS_TESTPEER" edits --dir "$T/lap1$1" --count 50
  sync_ok "lap1$1" "$c"
  wait_node_kv 30 "$d" change_sets 100
  relay_cut "$r"
  stop_server "$c"
  rm -rf "$T/$c.data"
  mv "$T/backup$1" "$T/$c.data"
  start_server "$c"
  assert_eq 50 "$(node_kv "$c" log_seq)" "the restored commune's log"
}

restore_cursor() {
  restored_commune a
  # Another laptop syncs 80 new sets before the link is back: the log
  # (130) grows past the district's cursor (100).
  must "$FS_TESTPEER" edits --dir "$T/lap2a" --count 80
  sync_ok lap2a communea
  relay_resume linka
  wait_until 60 "the link back" status_field_is communea parent_connected true
  wait_until 60 "the commune's lag 0" status_field_is communea lag 0
  note "district: $(server_status districta); held there: $(json_field "$(node_json districta)" held)"
  # Everything the commune holds must reach the district: lap1's 100 (it
  # has them already) and lap2's 80.
  wait_node_kv 30 districta change_sets 180
  assert_eq 180 "$(node_kv districta log_seq)" "the district's log (nothing stored twice)"
  wait_converged 30 $C communea districta
}

restore_laptop() {
  restored_commune b
  relay_resume linkb
  must fs lap1b add --type patrol start=2026-11-24T20:00 end=2026-11-24T23:30 'route=Thôn 1'
  run "$FIELDSYNC" sync --dir "$T/lap1b" --server "$(server_addr communeb)"
  [[ $RC -eq 0 ]] || fail "the laptop cannot sync with the restored commune: $ERR"
  # The commune gets the laptop's sets 51..100 back from the district and
  # applies the new one after them; the district gets the new one.
  wait_node_kv 30 communeb change_sets 101
  wait_node_kv 30 districtb change_sets 101
  assert_eq 101 "$(node_kv districtb log_seq)" "the district's log (nothing stored twice)"
  wait_converged 30 $C communeb districtb
  assert_eq "$(digest_of districtb $C)" "$(laptop_digest lap1b $C)" "laptop vs district"
}

# held_after_restore SUFFIX GAP: a district and a commune behind a relay; the
# laptop syncs 50 sets, the commune is backed up, the laptop syncs GAP more
# (the district holds 50+GAP). The link goes down, the commune is restored
# from the backup (log_seq 50) and started; the laptop makes one more edit
# and syncs it: the commune holds it (HELD) and the laptop's outbox empties.
held_after_restore() {
  local d=district$1 c=commune$1 r=link$1 l=lap$1 gap=$2
  tree_node "$d" KT.KPL -
  relay_start "$r" "$d"
  PARENT_ADDR=$(relay_addr "$r") tree_node "$c" $C "$d"
  tree_laptop "$l" $C >/dev/null
  wait_until 30 "the commune's link" status_field_is "$c" parent_connected true
  must "$FS_TESTPEER" edits --dir "$T/$l" --count 50
  sync_ok "$l" "$c"
  must "$FIELDSYNCD" backup --data "$T/$c.data" --out "$T/backup$1"
  must "$FS_TESTPEER" edits --dir "$T/$l" --count "$gap"
  sync_ok "$l" "$c"
  wait_node_kv 60 "$d" change_sets $((50 + gap))
  relay_cut "$r"
  stop_server "$c"
  rm -rf "$T/$c.data"
  mv "$T/backup$1" "$T/$c.data"
  start_server "$c"
  must fs "$l" add --type patrol start=2026-11-24T20:00 end=2026-11-24T23:30 'route=Thôn 1'
  sync_ok "$l" "$c"
  assert_eq 0 "$(laptop_outbox "$l")" "the laptop's outbox after its sync (the set was HELD)"
}

# caught_up SUFFIX TOTAL: commune and district hold all TOTAL sets.
caught_up() {
  wait_until 60 "the link back" status_field_is "commune$1" parent_connected true
  wait_node_kv 30 "commune$1" change_sets "$2"
  wait_node_kv 30 "district$1" change_sets "$2"
  wait_converged 30 $C "commune$1" "district$1"
  assert_eq "$(digest_of "district$1" $C)" "$(laptop_digest "lap$1" $C)" "laptop vs district"
}

fetch_beyond_256() {
  held_after_restore c 600
  relay_resume linkc
  caught_up c 651
}

fetch_after_restart() {
  held_after_restore d 20
  stop_server communed # before its link is back: the Fetch was never sent
  start_server communed
  relay_resume linkd
  caught_up d 71
}

certs_before_sets() {
  local i n=70
  tree_node cbd KT.KPL -
  tree_config cbc $C cbd
  stop_server cbd # down while the commune takes the laptops' sets
  start_server cbc
  for ((i = 1; i <= n; i++)); do
    tree_laptop "cl$i" $C >/dev/null
    must "$FS_TESTPEER" edits --dir "$T/cl$i" --count 1
    sync_ok "cl$i" cbc
  done
  assert_eq "$n" "$(node_kv cbc change_sets)" "the commune's sets"
  start_server cbd
  wait_node_kv 30 cbd change_sets "$n"
  assert_not_contains "$(cat "$T/cbc.log")" "event=uplink.refused" "the commune's log"
}

# relay_as NODE LAPTOP: fs_testpeer poses as NODE (certified under the
# district fhd) and pushes LAPTOP's outbox verbatim; its lines land in OUT.
relay_as() {
  must timeout 120 "$FS_TESTPEER" relay --dir "$T/$2" --server "$(server_addr fhd)" \
    --node-key "$T/$1.key" --node-cert "$T/$1.cert" \
    --network-key "$T/admin/network.key" --mode verbatim
  note "$1 pushes $2: $(grep -m 1 -E '^(ack|error) ' <<<"$OUT")"
}

fork_held() {
  tree_node fhd KT.KPL -
  tree_node fho $C - # another server of the area, where set 1 goes
  PARENT_NAME=fhd write_server_config fha $C
  PARENT_NAME=fhd write_server_config fhb $C
  tree_laptop fhl $C >/dev/null
  must fs fhl add --type patrol --id fh_1 start=2026-11-24T20:00 end=2026-11-24T23:30 \
    'route=Thôn 1 → Thôn 2'
  must fs fhl seal
  cp -a "$T/fhl" "$T/fhl_first"
  sync_ok fhl fho
  cp -a "$T/fhl" "$T/fhl_twin" # the same key and chain on a second machine
  must fs fhl edit fh_1 'notes=Bản thứ nhất'
  must fs fhl seal
  must fs fhl_twin edit fh_1 'notes=Bản thứ hai'
  must fs fhl_twin seal
  must "$FIELDSYNCD" cert add --data "$T/fhd.data" --config "$T/fhd.ini" "$T/fhl.cert"
  relay_as fha fhl
  assert_contains "$OUT" "ack status=HELD seq=2" "the first set 2, ahead of set 1"
  relay_as fhb fhl_twin
  assert_contains "$OUT" "ack status=FORK seq=2" "the other set 2, through another commune"
  assert_contains "$OUT" "reason=E_FORK" "why the other set 2 was refused"
  assert_eq 1 "$(node_kv fhd quarantined)" "sets kept as evidence at the district"
  wait_until 10 "the fork in the district's log" grep -q 'event=ingest.fork' "$T/fhd.log"
  wait_until 10 "the fork on the district's dashboard" status_field_is fhd forks 1
  relay_as fha fhl_first
  assert_contains "$OUT" "ack status=STORED seq=1 head=2" "set 1, then the held set 2"
  assert_eq 2 "$(node_kv fhd change_sets)" "sets stored at the district"
  assert_eq 1 "$(node_kv fhd quarantined)" "sets kept as evidence at the district"
  must "$FIELDSYNCD" records --data "$T/fhd.data" --area $C
  assert_contains "$(grep " fh_1 " <<<"$OUT")" 'notes="Bản thứ nhất"' "the held set 2 applied"
}

# big_import FILE N: a JSON array of N patrols with 3,000-byte notes.
big_import() {
  awk -v n="$2" 'BEGIN {
    notes = sprintf("%3000s", ""); gsub(/ /, "x", notes)
    printf "["
    for (i = 1; i <= n; i++)
      printf "%s{\"type\": \"patrol\", \"start\": \"2026-11-24T20:00\", \"end\": \"2026-11-24T23:30\", \"route\": \"Thôn %d\", \"notes\": \"%s\"}", (i > 1 ? ",\n" : ""), i, notes
    print "]"
  }' >"$1"
}

fetch_over_frame() {
  local sets rounds
  tree_node fod KT.KPL -
  tree_node foc $C fod
  tree_laptop lapf $C >/dev/null
  wait_until 30 "the commune's link" status_field_is foc parent_connected true
  big_import "$T/big.json" 1800
  must fs lapf import "$T/big.json"
  sync_ok lapf fod # the import goes to the district directly
  sets=$(node_kv fod change_sets)
  ((sets >= 2)) || fail "the import made $sets change sets, the test wants several"
  must fs lapf add --type patrol start=2026-11-25T20:00 end=2026-11-25T23:30 'route=Thôn 2'
  sync_ok lapf foc # HELD at the commune, which lacks the first sets
  assert_eq 0 "$(laptop_outbox lapf)" "the laptop's outbox (the set was HELD)"
  wait_node_kv 60 foc change_sets $((sets + 1))
  wait_node_kv 30 fod change_sets $((sets + 1))
  wait_converged 30 $C foc fod
  rounds=$(grep -c 'event=session.fetch ' "$T/fod.log")
  ((rounds >= 2 && rounds <= sets)) ||
    fail "the gap of $sets sets took $rounds Fetch answers (want 2..$sets)"
  assert_not_contains "$(cat "$T/fod.log")" "reason=E_TOOBIG" "the district's log"
}

outbox_below() { (($(laptop_outbox "$1") < $2)); } # LAPTOP N: a condition for wait_until

stop_during_held_push() {
  local sets sync_pid
  tree_node shd KT.KPL -
  tree_laptop laps $C >/dev/null
  must "$FS_TESTPEER" edits --dir "$T/laps" --count 1
  sync_ok laps shd # seq 1 reaches the district only
  # The commune's parent is down: its uplink waits to retry, and goes at once
  # when the commune stops.
  PARENT_ADDR=127.0.0.1:$(free_port) tree_node shc $C shd
  must "$FS_TESTPEER" edits --dir "$T/laps" --count 10000
  sets=$(laptop_outbox laps)
  "$FIELDSYNC" sync --dir "$T/laps" --server "$(server_addr shc)" >"$T/shsync.out" 2>&1 &
  sync_pid=$!
  BG_PIDS+=("$sync_pid")
  wait_until 60 "the commune's first HELD ack" outbox_below laps "$sets"
  stop_server shc # exits 0, no sanitizer report in its log
  wait_pid "$sync_pid" 60
  note "the laptop: $(head -n 1 "$T/shsync.out"); $(laptop_outbox laps) of $sets sets left"
  # The district is its parent again: after a restart the gap is fetched.
  sed -i "s/^parent = .*/parent = $(server_addr shd)/" "$T/shc.ini"
  start_server shc
  sync_until_ok laps shc 10
  wait_node_kv 120 shc change_sets $((sets + 1))
  wait_node_kv 60 shd change_sets $((sets + 1))
  stop_server shc
}

# throttled NODE: its fieldsync_throttled_frames_total.
throttled() {
  http_get "${ADMIN_PORT[$1]}" /metrics | awk '$1 ~ /^fieldsync_throttled_frames_total/ {print $2}'
}

frame_rate() {
  tree_node frd KT.KPL -
  PARENT_NAME=frd write_server_config frc $C # a certified commune, played by fs_testpeer
  tree_laptop frl $C >/dev/null
  must "$FS_TESTPEER" edits --dir "$T/frl" --count 2000 # one change set each
  must "$FIELDSYNCD" cert add --data "$T/frd.data" --config "$T/frd.ini" "$T/frl.cert"
  assert_eq 0 "$(throttled frd)" "frames throttled before any traffic"
  must timeout 300 "$FS_TESTPEER" relay --dir "$T/frl" --server "$(server_addr frd)" \
    --node-key "$T/frc.key" --node-cert "$T/frc.cert" \
    --network-key "$T/admin/network.key" --mode stream
  assert_contains "$OUT" "acks stored=2000 duplicate=0 other=0" "the commune's 2,000 Pushes"
  assert_eq 2000 "$(node_kv frd change_sets)" "sets stored at the district"
  assert_eq 0 "$(throttled frd)" "frames of the child node read late"
  ! grep -q 'event=session.throttled' "$T/frd.log" || fail "the district throttled its commune"
  # A laptop gets no such rate: its burst is 400 frames.
  tree_laptop frf KT.KPL >/dev/null
  must timeout 120 "$FS_TESTPEER" flood --dir "$T/frf" --server "$(server_addr frd)" --count 1000
  assert_contains "$OUT" "answered 1000 of 1000" "every Pull of the flooding laptop"
  local n
  n=$(throttled frd)
  ((n > 0)) || fail "the flooding laptop was not throttled (fieldsync_throttled_frames_total $n)"
  assert_eq 1 "$(grep -c 'event=session.throttled.*role=device' "$T/frd.log")" \
    "session.throttled lines for the laptop (one per session)"
  note "the laptop's frames read late: $n of 1000"
}

for check in ${FS_CHECKS:-restore_cursor restore_laptop fetch_beyond_256 fetch_after_restart \
  certs_before_sets fork_held fetch_over_frame stop_during_held_push frame_rate}; do
  step "$check"
  isolated "$check"
  case $? in
  0) note "$check: fixed" ;;
  *) FAILED+=("$check") ;;
  esac
done
((${#FAILED[@]} == 0)) || fail "still broken: ${FAILED[*]}"
pass
