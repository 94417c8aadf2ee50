#!/usr/bin/env bash
# peer_limits - a node at its file-descriptor limit, a peer that never
# reads, and SIGTERM in the middle of work.
#
#   fd_limit        a district run with `ulimit -n 40`, its commune connected
#                   and a laptop session held open; then connections that
#                   never finish the handshake use up its descriptors. New
#                   connections are refused (FS_FD_RESERVE descriptors stay
#                   free; a laptop's sync fails at once, "server.accept_failed
#                   err=EMFILE" is logged, rate limited), the loop does not spin (under 0.5 s of CPU in
#                   2 s), the held session still gets its answer and the
#                   commune's link still replicates new change sets; once
#                   the holders are gone, new laptops sync again.
#   never_reads     a peer that sends Pulls of everything and reads none of
#                   the answers is dropped when its output queue passes
#                   FS_CONN_QUEUE_MAX (closed with E_BACKPRESSURE, the
#                   node's memory grows by less than 64 MiB), while other
#                   laptops sync.
#   sigterm_push    SIGTERM to a commune in the middle of a laptop's large
#                   push: the commit in flight finishes and is acknowledged,
#                   the laptop is told "server is shutting down" (E_SHUTDOWN)
#                   or had finished, the commune says Bye to its district
#                   (logged there as an orderly close), and exits 0 within
#                   5 s; after a restart the laptop syncs the rest and every
#                   level holds each set once.
#   sigterm_noread  SIGTERM while a peer that never reads holds a queue of
#                   answers: the node still exits 0 within 5 s (the last
#                   frames get FS_CONN_DRAIN_MS, not the peer's patience).
#   push_memory     push_memory_mb = 16 and eight laptops syncing 8,000
#                   records each (sealed beforehand) at once (each has up
#                   to four Pushes of about 4 MiB in flight): the node stops reading
#                   (server.push_memory_full logged), every sync completes,
#                   the node holds each change set once, and a laptop that
#                   syncs again agrees with it.
#   sessions_per_key  four sessions of one laptop held open: a fifth Hello
#                   of that key is refused with E_LIMIT ("already has 4 open
#                   sessions here") while another laptop is admitted; once
#                   one of the four has hung up, the key is admitted again.
#                   A session that hung up with its Push still committing
#                   (the write lock held by fs_storetool hold-writer) holds
#                   its place until the commit: four such, and a fifth Hello
#                   is refused; once the lock is free, it is admitted.
#   slow_writer     another process holds the node's LMDB write lock for
#                   12 s (fs_storetool hold-writer: the ingest writer waits,
#                   as behind a slow disk). A laptop whose enrolment the
#                   node holds is welcomed at once meanwhile; a new laptop's
#                   first Hello waits for its certificate's commit and is
#                   welcomed when the lock is free, past the 10 s handshake
#                   deadline (not refused with E_TIMEOUT); then it syncs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tree_lib.sh"

C=KT.KPL.DAKNEN

cpu_ticks() { # PID: user+system time in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat"
}

rss_kib() { # PID KEY: VmRSS or VmHWM in KiB
  awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"
}

# stop_timed NAME LIMIT: SIGTERM; the node must exit 0 within LIMIT seconds.
stop_timed() {
  local name=$1 limit=$2 pid=${SERVER_PID[$1]} t0 ms
  t0=$(date +%s%N)
  kill -TERM "$pid"
  wait_pid "$pid" $((limit + 5))
  ms=$((($(date +%s%N) - t0) / 1000000))
  unset "SERVER_PID[$name]"
  check_log_clean "$name"
  [[ $WAITED -eq 0 ]] || fail "$name exited with status $WAITED after SIGTERM"
  ((ms <= limit * 1000)) || fail "$name took $ms ms to exit after SIGTERM (limit ${limit} s)"
  note "$name exited 0, $ms ms after SIGTERM"
}

fd_limit() {
  local real=$FIELDSYNCD holders=() i dpid before after held_pid sets
  tree_node fprov KT -
  # The district runs with a small descriptor limit (a wrapper that execs it).
  printf '#!/bin/sh\nulimit -n 40 || exit 2\nexec "%s" "$@"\n' "$real" >"$T/fieldsyncd-fd40"
  chmod +x "$T/fieldsyncd-fd40"
  FIELDSYNCD=$T/fieldsyncd-fd40 tree_node fdist KT.KPL fprov
  tree_node fcomm $C fdist
  tree_laptop fl1 $C >/dev/null
  tree_laptop fl2 KT.KPL >/dev/null
  tree_laptop fl3 KT.KPL >/dev/null
  dpid=${SERVER_PID[fdist]}
  assert_eq 40 "$(awk '/Max open files/ {print $4}' "/proc/$dpid/limits")" "the district's fd limit"
  wait_until 30 "the commune's link" status_field_is fcomm parent_connected true
  must fs fl2 add --type patrol start=2026-11-24T20:00 end=2026-11-24T23:30 'route=Thôn 1'
  sync_ok fl2 fdist
  # A laptop session held open before the descriptors run out.
  coproc HELD { "$FS_TESTPEER" hold-pull --dir "$T/fl2" --server "$(server_addr fdist)"; }
  held_pid=$HELD_PID
  BG_PIDS+=("$held_pid")
  read -r -t 30 line <&"${HELD[0]}" || fail "the held session did not start"
  read -r -t 30 line <&"${HELD[0]}" # records n=...
  read -r -t 30 line <&"${HELD[0]}" || fail "the held session is not ready"
  assert_eq ready "$line" "the held session"
  # Connections that never finish the handshake (dropped after 10 s).
  for ((i = 0; i < 60; i++)); do
    { exec {fd}<>"/dev/tcp/127.0.0.1/${SERVER_PORT[fdist]}"; } 2>/dev/null || break
    holders+=("$fd")
  done
  note "opened ${#holders[@]} idle connections to the district"
  wait_until 5 "EMFILE at the district" grep -q 'event=server.accept_failed.* err=EMFILE' "$T/fdist.log"
  note "$(grep 'event=server.accept_failed' "$T/fdist.log" | tail -n 1)"
  # New connections are refused at once.
  must fs fl3 add --type patrol start=2026-11-24T20:00 end=2026-11-24T23:30 'route=Thôn 2'
  expect_exit 2 timeout 20 "$FIELDSYNC" sync --dir "$T/fl3" --server "$(server_addr fdist)"
  note "fl3 at the limit: $(head -n 1 <<<"$ERR")"
  # The loop does not spin on the refused connections.
  before=$(cpu_ticks "$dpid")
  sleep 2
  after=$(cpu_ticks "$dpid")
  note "district CPU at the limit: $((after - before)) ticks in 2 s"
  ((after - before < 50)) || fail "the district used $((after - before)) ticks of CPU in 2 s at the fd limit (spinning?)"
  # Open connections are served: the held session and the commune's link.
  echo go >&"${HELD[1]}"
  read -r -t 30 line <&"${HELD[0]}" # step pull-on-held-connection
  read -r -t 30 line <&"${HELD[0]}" || fail "the held session got no answer"
  assert_contains "$line" "records n=" "the held session's pull at the fd limit"
  sets=$(node_kv fdist change_sets)
  must fs fl1 add --type patrol start=2026-11-24T20:00 end=2026-11-24T23:30 'route=Thôn 3'
  sync_ok fl1 fcomm
  wait_node_kv 20 fdist change_sets $((sets + 1))
  note "the commune's set reached the district over its open link"
  assert_ne 0 "${#holders[@]}" "idle connections opened"
  for fd in "${holders[@]}"; do exec {fd}>&-; done
  sleep 0.5
  sync_until_ok fl3 fdist 20
  assert_alive fprov fdist fcomm
  stop_server fcomm
  stop_server fdist
  stop_server fprov
}

never_reads() {
  local pid before after hwm line
  # (Under AddressSanitizer freed memory waits in a quarantine: keep it
  # small, so that the node's memory shows what it holds.)
  ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1 tree_node nlone $C -
  tree_laptop nbig $C >/dev/null
  tree_laptop nnr $C >/dev/null
  tree_laptop nother $C >/dev/null
  must "$FS_TESTPEER" edits --dir "$T/nbig" --count 3000 --records 3000
  sync_ok nbig nlone
  pid=${SERVER_PID[nlone]}
  before=$(rss_kib "$pid" VmRSS)
  coproc NR { "$FS_TESTPEER" noread --dir "$T/nnr" --server "$(server_addr nlone)" --count 1000; }
  BG_PIDS+=("$NR_PID")
  for _ in 1 2 3; do
    read -r -t 60 line <&"${NR[0]}" || fail "the never-reading peer did not send its pulls"
    [[ $line == ready || $line == closed* ]] && break
  done
  note "never-reading peer: $line"
  wait_until 60 "the node to drop the peer that does not read" \
    grep -q 'event=session.closed.*reason=E_BACKPRESSURE' "$T/nlone.log"
  if [[ $line == ready ]]; then
    echo go >&"${NR[1]}"
    read -r -t 30 line <&"${NR[0]}"
    assert_eq closed "$line" "the never-reading peer's connection"
  fi
  hwm=$(rss_kib "$pid" VmHWM)
  note "node memory: VmRSS before ${before} KiB, peak ${hwm} KiB"
  ((hwm - before < 65536)) || fail "the node grew by $((hwm - before)) KiB for one peer that does not read"
  must fs nother add --type patrol start=2026-11-24T20:00 end=2026-11-24T23:30 'route=Thôn 4'
  sync_ok nother nlone
  assert_alive nlone
  stop_server nlone
}

sigterm_push() {
  local st total
  tree_node tprov KT -
  tree_config tdist KT.KPL tprov "log_level = debug"
  start_server tdist
  tree_node tcomm $C tdist
  tree_laptop tl1 $C >/dev/null
  wait_until 30 "the commune's link" status_field_is tcomm parent_connected true
  must "$FS_TESTPEER" edits --dir "$T/tl1" --count 20000 --records 2000
  "$FIELDSYNC" sync --dir "$T/tl1" --server "$(server_addr tcomm)" >"$T/sync.out" 2>"$T/sync.err" &
  local sync_pid=$!
  BG_PIDS+=("$sync_pid")
  wait_until 60 "the commune's first commit" node_kv_is_above tcomm change_sets 0
  stop_timed tcomm 5
  wait_pid "$sync_pid" 60
  if [[ $WAITED -ne 0 ]]; then
    assert_contains "$(cat "$T/sync.err")" "server is shutting down" "what the laptop was told"
    assert_contains "$(cat "$T/sync.err")" "E_SHUTDOWN" "what the laptop was told"
    note "laptop: $(head -n 1 "$T/sync.err")"
  else
    note "the sync had finished before the SIGTERM"
  fi
  st=$(laptop_status tl1)
  assert_eq $(($(kv "$st" seq) - $(kv "$st" outbox))) "$(node_kv tcomm change_sets)" \
    "the commune holds what the laptop saw acknowledged"
  assert_contains "$(cat "$T/tcomm.log")" "event=server.stopped" "the commune's last line"
  # The district saw the commune say Bye (an orderly close), not a reset.
  wait_until 10 "the district to log the commune's goodbye" \
    grep -q "event=session.closed.*reason=OK" "$T/tdist.log"
  start_server tcomm
  sync_until_ok tl1 tcomm 10
  total=$(kv "$(laptop_status tl1)" seq)
  for n in tcomm tdist tprov; do
    wait_node_kv 120 "$n" change_sets "$total"
    assert_eq "$total" "$(node_kv "$n" log_seq)" "$n log_seq (nothing stored twice)"
  done
  wait_converged 60 $C tcomm tdist tprov
  stop_timed tcomm 5
  stop_timed tdist 5
  stop_timed tprov 5
}

node_kv_is_above() { # NAME KEY VALUE: a condition for wait_until
  local line
  line=$("$FIELDSYNCD" status --data "$T/$1.data" 2>/dev/null) || return 1
  (($(kv "$line" "$2") > $3))
}

sigterm_noread() {
  tree_node slone $C -
  tree_laptop sbig $C >/dev/null
  tree_laptop snr $C >/dev/null
  must "$FS_TESTPEER" edits --dir "$T/sbig" --count 3000 --records 3000
  sync_ok sbig slone
  coproc NR { "$FS_TESTPEER" noread --dir "$T/snr" --server "$(server_addr slone)" --count 40; }
  local nr_pid=$NR_PID line
  BG_PIDS+=("$nr_pid")
  for _ in 1 2 3; do
    read -r -t 60 line <&"${NR[0]}" || fail "the never-reading peer did not get ready"
    [[ $line == ready ]] && break
  done
  assert_eq ready "$line" "the never-reading peer (it must not have been dropped yet)"
  stop_timed slone 5
  echo go >&"${NR[1]}"
  read -r -t 30 line <&"${NR[0]}"
  assert_eq closed "$line" "the never-reading peer after the node stopped"
}

push_memory() {
  local i pids=() total=0 n
  tree_node pm $C - "push_memory_mb = 16"
  for i in 1 2 3 4 5 6 7 8; do
    tree_laptop pm$i $C >/dev/null
    must "$FS_TESTPEER" edits --dir "$T/pm$i" --count 8000 --records 8000 --prefix "pm${i}_" \
      --mode pending
    # Sealed now, so that every sync pushes at once, whatever the speed of
    # sealing (a sanitizer build's laptops seal slower than the node commits).
    must "$FIELDSYNC" seal --dir "$T/pm$i"
  done
  for i in 1 2 3 4 5 6 7 8; do
    "$FIELDSYNC" sync --dir "$T/pm$i" --server "$(server_addr pm)" >"$T/pm$i.out" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait_pid "${pids[$i]}" 300
    ((WAITED == 0)) || fail "laptop pm$((i + 1))'s sync failed: $(cat "$T/pm$((i + 1)).out")"
  done
  grep -q 'event=server.push_memory_full' "$T/pm.log" ||
    fail "the node never paused reading for its Push memory"
  note "$(grep 'event=server.push_memory_full' "$T/pm.log" | tail -n 1)"
  for i in 1 2 3 4 5 6 7 8; do
    assert_eq 0 "$(kv "$(laptop_status pm$i)" outbox)" "laptop pm$i's outbox"
    n=$(sed -n 's/.*pushed \([0-9]*\) change sets.*/\1/p' "$T/pm$i.out")
    total=$((total + n))
  done
  assert_eq "$total" "$(kv "$(server_status pm)" change_sets)" "change sets at the node"
  sync_ok pm1 pm # it pulls what the others pushed
  assert_eq "$(server_digest pm $C)" "$(laptop_digest pm1 $C)" "digest of laptop pm1"
  assert_eq 64000 "$(kv "$(server_status pm)" records)" "records at the node"
  assert_alive pm
  stop_server pm
}

sessions_per_key() {
  local i pids=() out
  tree_node spk $C -
  tree_laptop spk1 $C >/dev/null
  tree_laptop spk2 $C >/dev/null
  for i in 1 2 3 4; do
    mkfifo "$T/spk_hold$i.in"
    "$FS_TESTPEER" hold-quiet --dir "$T/spk1" --server "$(server_addr spk)" \
      <"$T/spk_hold$i.in" >"$T/spk_hold$i.out" 2>&1 &
    pids+=($!)
    BG_PIDS+=($!)
    exec {fd}>"$T/spk_hold$i.in" # the holder waits for a line that never comes
    wait_until 20 "held session $i" grep -qx ready "$T/spk_hold$i.out"
  done
  out=$("$FS_TESTPEER" hello --dir "$T/spk1" --server "$(server_addr spk)")
  assert_contains "$out" "error code=E_LIMIT" "a fifth session of one laptop"
  assert_contains "$out" "already has 4 open sessions here" "a fifth session of one laptop"
  out=$("$FS_TESTPEER" hello --dir "$T/spk2" --server "$(server_addr spk)")
  assert_contains "$out" "welcome area=$C" "another laptop meanwhile"
  kill -TERM "${pids[0]}"
  wait_pid "${pids[0]}" 10
  welcomed() { "$FS_TESTPEER" hello --dir "$T/spk1" --server "$(server_addr spk)" | grep -q '^welcome'; }
  wait_until 10 "the laptop admitted again after one session ended" welcomed
  # Sessions that hung up with a Push in flight count until it commits.
  for i in 2 3 4; do kill -TERM "${pids[$((i - 1))]}"; done
  tree_laptop spk3 $C >/dev/null
  welcomed3() { "$FS_TESTPEER" hello --dir "$T/spk3" --server "$(server_addr spk)" | grep -q '^welcome'; }
  welcomed3 || fail "laptop spk3 was not welcomed" # its enrolment is held from here on
  "$FS_STORETOOL" hold-writer --data "$T/spk.data" --seconds 10 >"$T/spk_lock.out" 2>&1 &
  local lock=$!
  BG_PIDS+=($lock)
  wait_until 10 "the write lock taken" grep -qx held "$T/spk_lock.out"
  for i in 1 2 3 4; do
    mkfifo "$T/spk_push$i.in"
    "$FS_TESTPEER" hold --dir "$T/spk3" --server "$(server_addr spk)" \
      <"$T/spk_push$i.in" >"$T/spk_push$i.out" 2>&1 &
    pids[$i]=$!
    BG_PIDS+=($!)
    exec {fd}>"$T/spk_push$i.in"
    wait_until 20 "pushing session $i ready" grep -qx ready "$T/spk_push$i.out"
    echo push >&"$fd"
    wait_until 10 "pushing session $i's Push" grep -q push-on-held-connection "$T/spk_push$i.out"
    sleep 0.2
    kill -TERM "${pids[$i]}" # hangs up with its Push waiting for the writer
  done
  out=$("$FS_TESTPEER" hello --dir "$T/spk3" --server "$(server_addr spk)")
  assert_contains "$out" "already has 4 open sessions here" \
    "a fifth session while four closed ones' Pushes wait for the writer"
  wait_pid "$lock" 20
  wait_until 20 "spk3 admitted once the Pushes committed" welcomed3
  assert_alive spk
  stop_server spk
}

ms_since() { # T0 (date +%s%N): milliseconds since
  echo $((($(date +%s%N) - $1) / 1000000))
}

slow_writer() {
  local hold newp t0 ms out
  tree_node sw $C -
  tree_laptop sw_known $C >/dev/null
  tree_laptop sw_new $C >/dev/null
  sync_ok sw_known sw # the node holds its enrolment now
  "$FS_STORETOOL" hold-writer --data "$T/sw.data" --seconds 12 >"$T/sw_hold.out" 2>&1 &
  hold=$!
  BG_PIDS+=($hold)
  wait_until 10 "the write lock taken" grep -qx held "$T/sw_hold.out"
  t0=$(date +%s%N)
  "$FS_TESTPEER" hello --dir "$T/sw_new" --server "$(server_addr sw)" >"$T/sw_new.out" 2>&1 &
  newp=$!
  BG_PIDS+=($newp)
  sleep 0.5 # its Hello is in, its certificate waiting for the writer
  local t1
  t1=$(date +%s%N)
  out=$("$FS_TESTPEER" hello --dir "$T/sw_known" --server "$(server_addr sw)")
  ms=$(ms_since "$t1")
  assert_contains "$out" "welcome area=$C" "a known laptop while the writer waits"
  ((ms < 5000)) || fail "a known laptop waited $ms ms for its Welcome while the writer waited"
  note "known laptop welcomed in $ms ms while the write lock was held"
  wait_pid "$newp" 40
  ms=$(ms_since "$t0")
  out=$(cat "$T/sw_new.out")
  assert_contains "$out" "welcome area=$C" "the new laptop's first Hello while the writer waited"
  ((ms > 10000)) || fail "the new laptop was answered in $ms ms: the write lock was not in its way"
  note "new laptop welcomed after $ms ms, once the lock was free"
  wait_pid "$hold" 20
  must fs sw_new add --type patrol start=2026-11-24T20:00 end=2026-11-24T23:30 'route=Thôn 4'
  sync_ok sw_new sw
  assert_alive sw
  stop_server sw
}

run_checks fd_limit never_reads sigterm_push sigterm_noread push_memory sessions_per_key \
  slow_writer
