#!/usr/bin/env bash
# admin_reports - reports and conflict lists on the admin port are computed
# on the thread pool, one at a time, while the node goes on serving
# (server/admin.h).
#
# A commune holding RECORDS patrols (one laptop's sync):
#   a. several reports asked at once are all answered, with the same bytes
#      and the right total; while they are computed /metrics answers and
#      shows one running and the others waiting; a laptop syncs meanwhile;
#   b. beyond 8 waiting, a report is answered 503 with Retry-After and a
#      sentence (the requests that got in are answered 200);
#   c. clients that hang up while their reports wait or run take their
#      places in the queue with them: the reports asked after them are
#      answered, not refused;
#   d. SIGTERM while a report runs and others wait: exit 0, a clean log
#      (under ASan: no leak, no use after free);
#   e. a node whose map must grow while reports run (map_size_mb = 16):
#      the growth waits for them, the sync and every report succeed.
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || fail "curl is needed (scripts/deps.sh installs it)"
command -v jq >/dev/null || fail "jq is needed (scripts/deps.sh installs it)"

C=KT.KPL.DAKNEN
RECORDS=${FS_TEST_REPORT_RECORDS:-40000}
K1=$(laptop_init lap $C)
K2=$(laptop_init other $C)
APORT=$(free_port)
write_server_config commune $C "device = $K1 $C" "device = $K2 $C" "admin = 127.0.0.1:$APORT"
start_server commune
BASE="http://127.0.0.1:$APORT"

step "the laptop records $RECORDS patrols and syncs"
must "$FS_TESTPEER" edits --dir "$T/lap" --count "$RECORDS" --records "$RECORDS" --mode pending
sync_ok lap commune
assert_eq 0 "$(kv "$(laptop_status lap)" outbox)" "outbox after the sync"

# metrics_jobs: "RUNNING WAITING" from /metrics (curl's status on failure).
metrics_jobs() {
  local m
  m=$(curl -s --max-time 10 "$BASE/metrics") || return 1
  printf '%s %s\n' "$(sed -n 's/^fieldsync_admin_jobs_running{[^}]*} //p' <<<"$m")" \
    "$(sed -n 's/^fieldsync_admin_jobs_waiting{[^}]*} //p' <<<"$m")"
}

# reports N TAG: N reports of the commune at once, in the background;
# answers in $T/TAG.N.body, status lines in $T/TAG.N.code.
reports() {
  local i
  for ((i = 1; i <= $1; i++)); do
    curl -s --max-time 120 -o "$T/$2.$i.body" -w '%{http_code}\n' \
      "$BASE/api/report?area=$C&from=2026&to=2026" >"$T/$2.$i.code" 2>/dev/null &
    BG_PIDS+=($!)
  done
}

step "a. five reports at once, /metrics and a sync meanwhile"
before=$(metrics_jobs) || fail "/metrics did not answer"
assert_eq "0 0" "$before" "admin jobs before any report"
reports 5 a
# running() true while one of the report requests is still waiting.
running() { local p; for p in "${BG_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
seen=""
for ((i = 0; i < 1000; i++)); do
  j=$(metrics_jobs) || fail "/metrics did not answer while reports were computed"
  [[ $j == 1\ * ]] && seen=$j && break
  running || break
  sleep 0.01
done
[[ -n $seen ]] || fail "/metrics never showed a report running (last: $j)"
note "while the reports were computed, /metrics said running/waiting: $seen"
# Dated 2025: outside the reports' period, so that every report is the same.
must fs other add --type tip received_at=2025-11-21T10:00 channel=phone status=received \
  'content=Gọi điện trong lúc báo cáo đang tính'
sync_ok other commune
assert_eq "pushed 1 stored 1" "$(sync_counts | cut -d' ' -f1-4)" "a sync while reports are computed"
for p in "${BG_PIDS[@]}"; do wait "$p" || fail "a report request failed (curl exit $?)"; done
BG_PIDS=()
for i in 1 2 3 4 5; do
  assert_eq 200 "$(cat "$T/a.$i.code")" "status of report $i"
  cmp -s "$T/a.1.body" "$T/a.$i.body" || fail "report $i differs from report 1"
done
assert_eq "$RECORDS" "$(jq -r '.total["patrols.total"]' "$T/a.1.body")" "patrols.total of the report"
assert_eq "0 0" "$(metrics_jobs)" "admin jobs after the reports"

step "b. more than 8 waiting: 503 with Retry-After"
for ((i = 1; i <= 14; i++)); do
  curl -s --max-time 120 -D "$T/b.$i.hdr" -o "$T/b.$i.body" -w '%{http_code}\n' \
    "$BASE/api/report?area=$C&from=2026&to=2026" >"$T/b.$i.code" 2>/dev/null &
  BG_PIDS+=($!)
done
for p in "${BG_PIDS[@]}"; do wait "$p" || fail "a report request failed (curl exit $?)"; done
BG_PIDS=()
ok=0 busy=0
for ((i = 1; i <= 14; i++)); do
  case $(cat "$T/b.$i.code") in
  200)
    ok=$((ok + 1))
    cmp -s "$T/a.1.body" "$T/b.$i.body" || fail "report b.$i differs from the first one"
    ;;
  503)
    busy=$((busy + 1))
    assert_contains "$(cat "$T/b.$i.hdr")" "Retry-After: 5" "headers of a 503"
    assert_contains "$(cat "$T/b.$i.body")" "reports or conflict lists wait for the one being computed" "body of a 503"
    ;;
  *) fail "report b.$i answered $(cat "$T/b.$i.code")" ;;
  esac
done
note "14 reports at once: $ok answered, $busy told to retry"
((ok >= 9)) || fail "only $ok of 14 reports were answered; one running and 8 waiting must be"
((busy >= 1)) || note "(the reports finished faster than 14 requests arrived: no 503 this time)"

step "c. clients that hang up while their reports wait or run"
# Ten abandoned requests (a page reloaded ten times) must not hold the eight
# places in the queue: their jobs go with their connections.
for ((i = 1; i <= 10; i++)); do
  curl -s --max-time 0.05 -o /dev/null "$BASE/api/report?area=$C" 2>/dev/null &
  BG_PIDS+=($!)
done
for p in "${BG_PIDS[@]}"; do wait "$p" || true; done
BG_PIDS=()
reports 3 c
for p in "${BG_PIDS[@]}"; do wait "$p" || fail "a report request failed (curl exit $?)"; done
BG_PIDS=()
for i in 1 2 3; do
  assert_eq 200 "$(cat "$T/c.$i.code")" "status of report c.$i"
  cmp -s "$T/a.1.body" "$T/c.$i.body" || fail "report c.$i differs from the first one"
done
wait_until 60 "the abandoned reports to end" bash -c "[[ \$(curl -s '$BASE/metrics' | grep -c '^fieldsync_admin_jobs_[a-z]*{[^}]*} 0\$') == 2 ]]"
server_alive commune || fail "the server died"

step "e. the map grows while reports hold read transactions"
# LMDB may remap only while no transaction of the process is open: the
# writer's growth waits for the report on the pool to end, then goes on.
K3=$(laptop_init g1 $C)
K4=$(laptop_init g2 $C)
write_server_config grow $C "device = $K3 $C" "device = $K4 $C" "admin = 127.0.0.1:$(free_port)" \
  "map_size_mb = 16"
GBASE="http://127.0.0.1:$(sed -n 's/^admin = 127.0.0.1://p' "$T/grow.ini")"
start_server grow
must "$FS_TESTPEER" edits --dir "$T/g1" --count 20000 --records 20000 --mode pending
sync_ok g1 grow
grown0=$(grep -c event=store.grown "$T/grow.log")
must "$FS_TESTPEER" edits --dir "$T/g2" --count 60000 --records 60000 --mode pending
for ((i = 1; i <= 6; i++)); do
  curl -s --max-time 120 -o "$T/e.$i.body" -w '%{http_code}\n' \
    "$GBASE/api/report?area=$C&from=2026&to=2026" >"$T/e.$i.code" 2>/dev/null &
  BG_PIDS+=($!)
done
sync_ok g2 grow
for p in "${BG_PIDS[@]}"; do wait "$p" || fail "a report request failed (curl exit $?)"; done
BG_PIDS=()
grown1=$(grep -c event=store.grown "$T/grow.log")
note "growths: $grown0 after the first sync, $grown1 after the second one," \
  "$(grep -c event=store.grow_deferred "$T/grow.log") of them held up by a report"
((grown1 > grown0)) || fail "the map did not grow during the second sync"
for ((i = 1; i <= 6; i++)); do
  assert_eq 200 "$(cat "$T/e.$i.code")" "status of report e.$i"
  n=$(jq -r '.total["patrols.total"]' "$T/e.$i.body")
  ((n >= 20000 && n <= 80000)) || fail "report e.$i counts $n patrols, not 20000-80000"
done
assert_eq "$(server_digest grow $C)" "$(laptop_digest g2 $C)" "the second laptop and the node agree"
stop_server grow

step "d. SIGTERM while a report runs and others wait"
reports 4 d
for ((i = 0; i < 200; i++)); do
  j=$(metrics_jobs) || fail "/metrics did not answer"
  [[ $j == 1\ * ]] && break
  sleep 0.02
done
stop_server commune # exit 0 and a clean log, or it fails
for p in "${BG_PIDS[@]}"; do wait "$p" || true; done
BG_PIDS=()
pass
