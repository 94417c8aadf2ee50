#!/usr/bin/env bash
# tree_parent_killed - power cuts at either end of a replication link lose
# nothing and duplicate nothing.
#
#   province KT  <-  district KT.KPL  <-  commune KT.KPL.DAKNEN  <-  laptop
#
# Each round the laptop makes EDITS (3000) change sets (fs_testpeer edits)
# and syncs them to the commune in the background; the commune replicates
# them up as they commit. Then, while that replication is in flight:
#   (1) the district (the commune's parent) is kill -9ed as soon as the
#       round's first commit is visible there, and restarted;
#   (2) the district is kill -9ed once it holds about half of the round;
#   (3) the province (the district's parent) is kill -9ed in the middle of
#       the district's push;
#   (4) the commune (the child) is kill -9ed in the middle of its push to
#       the district (the laptop's sync may die with it and is retried);
#   (5) the district is stopped with SIGTERM mid-push (exit 0, then resumes).
# After every round, as an operator would check:
#   - commune, district and province each hold exactly every change set made
#     so far: change_sets = log_seq = the number of edits (nothing lost,
#     nothing stored twice), one device, nothing quarantined;
#   - the area's digest is equal at the three levels and on the laptop;
#   - the laptop's outbox is empty; the commune's /api/status shows its
#     parent connected with lag 0.
# At least one kill must have landed while the victim's parent (or the
# victim) held only part of the round, else the test proved nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tree_lib.sh"

C=KT.KPL.DAKNEN
EDITS=${FS_INTEG_EDITS:-3000}
TOTAL=0
MIDPUSH=0 # kills that landed while the watched node held part of the round

# new_round: EDITS more change sets on the laptop, then its sync to the
# commune in the background (SYNC_PID).
new_round() {
  must "$FS_TESTPEER" edits --dir "$T/lap" --count "$EDITS" --records 500
  BEFORE=$TOTAL
  TOTAL=$((TOTAL + EDITS))
  assert_eq "$EDITS" "$(laptop_outbox lap)" "outbox before the round"
  "$FIELDSYNC" sync --dir "$T/lap" --server "$(server_addr commune)" \
    >"$T/sync.out" 2>"$T/sync.err" &
  SYNC_PID=$!
  BG_PIDS+=("$SYNC_PID")
}

# sets_of NODE: change_sets at NODE now (0 when its store cannot be read).
sets_of() {
  local line
  line=$("$FIELDSYNCD" status --data "$T/$1.data" 2>/dev/null) || { echo 0; return; }
  kv "$line" change_sets
}

# kill_when NODE_WATCHED MIN VICTIM: kill -9s VICTIM as soon as
# NODE_WATCHED holds more than MIN change sets (bounded: 120 s). Notes
# whether that was in the middle of the round.
kill_when() {
  local watched=$1 min=$2 victim=$3 i now=0
  for ((i = 0; i < 2400; i++)); do
    now=$(sets_of "$watched")
    ((now > min)) && break
    sleep 0.05
  done
  ((now > min)) || fail "$watched never got past $min change sets (now $now)"
  kill9_server "$victim"
  now=$(sets_of "$watched")
  note "$victim killed -9 with $watched at $now of $TOTAL change sets"
  if ((now < TOTAL)); then MIDPUSH=$((MIDPUSH + 1)); fi
  SEEN_AT_KILL=$now
}

# finish_sync: the laptop's background sync ended; if it failed (its server
# was the victim) sync again until it succeeds.
finish_sync() {
  wait_pid "$SYNC_PID" 300
  assert_alive commune
  if [[ $WAITED -ne 0 ]]; then
    note "the laptop's sync ended with status $WAITED: $(head -c 300 "$T/sync.err")"
    sync_until_ok lap commune 20
  fi
}

check_tree() { # WHAT
  local n
  assert_alive commune district province
  for n in commune district province; do
    wait_node_kv 300 "$n" change_sets "$TOTAL"
    assert_eq "$TOTAL" "$(node_kv "$n" log_seq)" "$1: $n log_seq (nothing stored twice)"
    assert_eq 1 "$(node_kv "$n" devices)" "$1: devices at $n"
    assert_eq 0 "$(node_kv "$n" quarantined)" "$1: quarantined at $n"
  done
  wait_converged 60 $C commune district province
  local st
  st=$(laptop_status lap)
  assert_eq 0 "$(kv "$st" outbox)" "$1: laptop outbox"
  assert_eq "$TOTAL" "$(kv "$st" seq)" "$1: laptop seq"
  assert_eq "$(digest_of province $C)" "$(laptop_digest lap $C)" "$1: laptop vs province digest"
  wait_until 60 "$1: the commune's parent link" status_field_is commune parent_connected true
  wait_until 60 "$1: the commune's lag back to 0" status_field_is commune lag 0
  wait_until 60 "$1: the district's lag back to 0" status_field_is district lag 0
  note "$1: $TOTAL change sets at every level; digest $(digest_of province $C)"
}

step "province, district, commune, one laptop"
tree_node province KT -
tree_node district KT.KPL province
tree_node commune $C district
tree_laptop lap $C 'Nguyễn Văn An' >/dev/null
wait_until 30 "the commune's link" status_field_is commune parent_connected true

step "(1) district killed -9 at the round's first commit there"
new_round
kill_when district "$BEFORE" district
wait_until 30 "the commune to see its parent gone" status_field_is commune parent_connected false
finish_sync
assert_eq "$TOTAL" "$(node_kv commune change_sets)" "the commune took the whole sync meanwhile"
start_server district
check_tree "district killed at the first commit"

step "(2) district killed -9 half way through the round"
new_round
kill_when district $((BEFORE + EDITS / 2)) district
finish_sync
start_server district
check_tree "district killed half way"

step "(3) province killed -9 while the district pushes to it"
new_round
kill_when province "$BEFORE" province
finish_sync
start_server province
check_tree "province killed"

step "(4) commune (the child) killed -9 while it pushes to the district"
new_round
# the commune may still be taking the laptop's sync: both are interrupted
kill_when district "$BEFORE" commune
wait_pid "$SYNC_PID" 120
note "the laptop's sync ended with status $WAITED (its server died)"
start_server commune
sync_until_ok lap commune 20
check_tree "commune killed"

step "(5) district stopped with SIGTERM mid-push: exits 0, resumes"
new_round
for ((i = 0; i < 2400; i++)); do
  (($(sets_of district) > BEFORE)) && break
  sleep 0.05
done
stop_server district
note "district stopped with $(sets_of district) of $TOTAL change sets"
finish_sync
start_server district
check_tree "district stopped"

((MIDPUSH >= 1)) || fail "no kill landed in the middle of a round; the test proved nothing"
note "$MIDPUSH of 4 kills landed in the middle of a round"

step "an idle laptop sync moves nothing; every server stops cleanly"
sync_ok lap commune
assert_eq "pushed 0 stored 0" "$(sync_counts | cut -d' ' -f1-4)" "idle sync"
for n in commune district province; do stop_server "$n"; done
pass
