#!/usr/bin/env bash
# kill_server_during_push - power cuts in the middle of a sync lose nothing
# and duplicate nothing.
#
# A laptop holds EDITS change sets in its outbox (made with fs_testpeer
# edits, through the client library), or EDITS pending edits that the sync
# seals in steps while it pushes. Each round starts a sync and then
# kill -9s the server (after a short random delay, or as soon as its first
# commit of the round is visible), restarts it on the same port and syncs
# again until it succeeds (bounded). Then rounds kill -9 the CLIENT during
# its sync instead. Last, two laptops sync at once (one group commit for
# both) while the server is kill -9ed, then while it is stopped with
# SIGTERM (it must tell them "shutting down" and exit 0). After every round:
#   - the server's change_sets and log_seq equal the number of edits made
#     so far, exactly (nothing lost, nothing stored twice);
#   - each laptop's outbox is 0 and its seq equals its own edits;
#   - the laptops and the server have the same digest for the area;
#   - nothing was quarantined, and only the laptops are known as devices.
. "$(dirname "$0")/lib.sh"

AREA=KT.KPL.DAKNEN
EDITS=${FS_INTEG_EDITS:-3000}
TOTAL=0   # edits of laptop "lap"
TOTAL2=0  # edits of laptop "lap2" (the concurrent rounds)
INTERRUPTED=0
PARTIAL=0

# make_edits [LAPTOP]: EDITS more change sets in the laptop's outbox.
make_edits() {
  local l=${1:-lap}
  must "$FS_TESTPEER" edits --dir "$T/$l" --count "$EDITS" --records 300
  if [[ $l == lap ]]; then TOTAL=$((TOTAL + EDITS)); else TOTAL2=$((TOTAL2 + EDITS)); fi
  assert_eq "$EDITS" "$(laptop_outbox "$l")" "outbox of $l before the round"
}

# start_sync_bg [LAPTOP]: a sync in the background. SYNC_PID is the
# waiting subshell (its status is the sync's), CLIENT_PID the fieldsync
# process itself (what a client kill hits; no "Killed" job notice then).
start_sync_bg() {
  local l=${1:-lap} i
  rm -f "$T/sync-$l.pid"
  (
    "$FIELDSYNC" sync --dir "$T/$l" --server "$(server_addr commune)" \
      >"$T/sync-$l.out" 2>"$T/sync-$l.err" &
    echo $! >"$T/sync-$l.pid"
    wait $!
  ) 2>/dev/null & # (the subshell's stderr only carries bash's "Killed" notice)
  SYNC_PID=$!
  BG_PIDS+=("$SYNC_PID")
  for ((i = 0; i < 100; i++)); do
    [[ -s "$T/sync-$l.pid" ]] && break
    sleep 0.01
  done
  CLIENT_PID=$(cat "$T/sync-$l.pid") || fail "the background sync did not start"
  BG_PIDS+=("$CLIENT_PID")
}

# How the interrupted sync ended, for the record.
report_interrupted() { # HOW [OF: what the round left to push, default EDITS]
  local of=${2:-$EDITS}
  wait_pid "$SYNC_PID" 60
  if [[ $WAITED -eq 0 ]]; then
    note "$1: the sync had finished before the kill: $(cat "$T/sync-lap.out")"
    return
  fi
  INTERRUPTED=$((INTERRUPTED + 1))
  local left
  left=$(laptop_outbox lap)
  if ((left > 0 && left < of)); then
    PARTIAL=$((PARTIAL + 1))
  fi
  note "$1: sync ended with status $WAITED, $left of $of still to push"
}

check_round() { # WHAT
  local ss st sd l n
  ss=$(server_status commune)
  assert_eq $((TOTAL + TOTAL2)) "$(kv "$ss" change_sets)" "$1: change sets at the server"
  assert_eq $((TOTAL + TOTAL2)) "$(kv "$ss" log_seq)" "$1: log_seq at the server"
  assert_eq $((TOTAL2 > 0 ? 2 : 1)) "$(kv "$ss" devices)" "$1: devices at the server"
  assert_eq 0 "$(kv "$ss" quarantined)" "$1: quarantined at the server"
  sd=$(server_digest commune $AREA)
  for l in lap lap2; do
    n=$TOTAL
    [[ $l == lap2 ]] && n=$TOTAL2
    ((n > 0)) || continue
    st=$(laptop_status $l)
    assert_eq 0 "$(kv "$st" outbox)" "$1: outbox of $l"
    assert_eq "$n" "$(kv "$st" seq)" "$1: seq of $l"
    # a laptop has everything only after it pulled what the other pushed
    sync_ok $l commune
    assert_eq "$sd" "$(laptop_digest $l $AREA)" "$1: digest of $l vs server"
  done
}

K=$(laptop_init lap $AREA)
K2=$(laptop_init lap2 $AREA)
write_server_config commune $AREA "device = $K $AREA" "device = $K2 $AREA"
start_server commune

# Server killed after a fixed delay (+ 0..49 ms of jitter).
for base in 0.03 0.10 0.20 0.35; do
  jitter=$((RANDOM % 50))
  delay=$(printf '%s' "$base" | awk -v j=$jitter '{printf "%.3f", $1 + j / 1000}')
  step "server killed ${delay}s into a sync of $EDITS change sets"
  make_edits
  start_sync_bg
  sleep "$delay"
  kill9_server commune
  report_interrupted "kill at ${delay}s"
  start_server commune
  sync_until_ok lap commune 10
  check_round "server kill at ${delay}s"
done

# Server killed as soon as its first commit of this round is visible:
# certainly in the middle of the push.
step "server killed right after its first commit of a sync"
make_edits
BEFORE=$((TOTAL - EDITS))
start_sync_bg
for ((i = 0; i < 600; i++)); do # up to ~60 s
  now=$(kv "$(server_status commune)" change_sets)
  ((now > BEFORE)) && break
  kill -0 "$SYNC_PID" 2>/dev/null || break
  sleep 0.01
done
kill9_server commune
note "killed with $now of $TOTAL change sets at the server"
report_interrupted "kill after the first commit"
start_server commune
sync_until_ok lap commune 10
check_round "server kill after the first commit"

((INTERRUPTED >= 1)) || fail "no server kill interrupted a sync; the test proved nothing"

# The laptop itself dies in the middle of its sync.
for base in 0.05 0.15 0.30; do
  jitter=$((RANDOM % 50))
  delay=$(printf '%s' "$base" | awk -v j=$jitter '{printf "%.3f", $1 + j / 1000}')
  step "client killed ${delay}s into a sync of $EDITS change sets"
  make_edits
  start_sync_bg
  sleep "$delay"
  kill -9 "$CLIENT_PID" 2>/dev/null
  report_interrupted "client kill at ${delay}s"
  server_alive commune || fail "the server died when a client was killed"
  sync_until_ok lap commune 10
  check_round "client kill at ${delay}s"
done

# A patrol's edits left pending: the sync seals them in steps and pushes
# the first sets while it seals the next (client/sync.h). A kill of either
# side in the middle leaves every edit pending or sealed exactly once.
# Sets are not one per edit here: the laptop's seq says how many it made.
PEND=${FS_INTEG_PENDING:-20000}
for who in server client; do
  step "$who killed during a sync that seals $PEND pending edits in steps"
  seq0=$(kv "$(laptop_status lap)" seq)
  must "$FS_TESTPEER" edits --dir "$T/lap" --count "$PEND" --records "$PEND" --mode pending
  assert_eq "$PEND" "$(kv "$(laptop_status lap)" pending)" "pending edits before the round"
  BEFORE=$(kv "$(server_status commune)" change_sets)
  start_sync_bg
  for ((i = 0; i < 600; i++)); do # up to ~60 s: the first sets are in
    now=$(kv "$(server_status commune)" change_sets)
    ((now > BEFORE)) && break
    kill -0 "$SYNC_PID" 2>/dev/null || break
    sleep 0.01
  done
  if [[ $who == server ]]; then kill9_server commune; else kill -9 "$CLIENT_PID" 2>/dev/null; fi
  report_interrupted "$who kill during stepped sealing" "$PEND"
  note "pending $(kv "$(laptop_status lap)" pending) of $PEND after the kill"
  [[ $who == server ]] && start_server commune
  sync_until_ok lap commune 10
  st=$(laptop_status lap)
  assert_eq 0 "$(kv "$st" pending)" "$who kill, stepped sealing: pending edits after the sync"
  sets=$(($(kv "$st" seq) - seq0))
  ((sets >= PEND / 1024 && sets <= PEND / 100)) ||
    fail "$PEND pending edits made $sets change sets (want batches of edits)"
  TOTAL=$((TOTAL + sets))
  check_round "$who kill, stepped sealing"
  n=$("$FIELDSYNCD" records --data "$T/commune.data" --area $AREA | grep -c ' bulk')
  assert_eq "$PEND" "$n" "$who kill, stepped sealing: patrol records at the commune"
done

# Two laptops at once: both sessions' batches share group commits.
step "two laptops sync at once; server killed 0.15s in"
make_edits lap
make_edits lap2
start_sync_bg lap
P1=$SYNC_PID
start_sync_bg lap2
P2=$SYNC_PID
sleep 0.15
kill9_server commune
wait_pid "$P1" 60
wait_pid "$P2" 60
start_server commune
sync_until_ok lap commune 10
sync_until_ok lap2 commune 10
check_round "two laptops, server kill"

step "two laptops sync at once; server stopped with SIGTERM 0.15s in"
make_edits lap
make_edits lap2
start_sync_bg lap
P1=$SYNC_PID
start_sync_bg lap2
P2=$SYNC_PID
sleep 0.15
stop_server commune # must exit 0
wait_pid "$P1" 60
S1=$WAITED
wait_pid "$P2" 60
for st in $S1 $WAITED; do
  if [[ $st -ne 0 ]]; then
    # a sync cut by the stop must say why
    assert_contains "$(cat "$T"/sync-lap*.err)" "server is shutting down" "laptops told of the stop"
  fi
done
start_server commune
sync_until_ok lap commune 10
sync_until_ok lap2 commune 10
check_round "two laptops, SIGTERM"

note "$INTERRUPTED syncs interrupted, $PARTIAL of them after a partial push"
for l in lap lap2; do
  sync_ok $l commune
  assert_eq "pushed 0 stored 0 pulled 0" "$(sync_counts)" "final idle sync of $l"
done
stop_server commune
pass
