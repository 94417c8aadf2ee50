#!/usr/bin/env bash
# monitor_metrics - /metrics is Prometheus text that `promtool check metrics`
# accepts (naming, HELP and TYPE lines, counters ending in _total), at a
# province and at a commune with peers of every kind, and its values are
# the node's.
#
# Needs promtool (Debian package prometheus, installed by scripts/deps.sh):
# without it the test says so and is skipped (exit 77).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tree_lib.sh"
if ! command -v promtool >/dev/null; then
  echo "SKIP: promtool not found (apt-get install prometheus, or run scripts/deps.sh)"
  TEST_PASSED=1
  exit 77
fi

P=KT
D=KT.KPL
C=KT.KPL.DAKNEN
FAST="report_interval_s = 1"

step "province, district, commune; a laptop with awkward names syncs"
tree_node province $P - "$FAST"
tree_node district $D province "$FAST"
tree_node commune $C district "$FAST"
# A name with a quote and a backslash must come out escaped in label values.
L=$(laptop_init 'lap' $C)
must "$FIELDSYNCD" admin enrol --admin-key "$T/admin/root.key" --device "$L" \
  --officer 'Đinh "Văn" \ Lộ' --officer-id CA-1 --area $C --out "$T/lap.cert"
must fs lap enrol --cert "$T/lap.cert" --network-key "$T/admin/network.key" \
  --root "$(root_key)" --seal-key "$T/admin/seal.key.pub"
must fs lap add --type incident --id m1 category=theft occurred_at=2026-11-20T21:30 \
  'place=Thôn 3' status=new 'officer=Đinh Văn Lộ'
sync_ok lap commune
wait_node_kv 60 province change_sets 1
for n in commune district; do wait_state 30 province "$n" in_sync; done

for n in commune province; do
  step "promtool accepts the $n's /metrics"
  must curl -sS --max-time 5 "http://127.0.0.1:${ADMIN_PORT[$n]}/metrics"
  M=$OUT
  printf '%s\n' "$M" >"$T/$n.metrics"
  run promtool check metrics <"$T/$n.metrics"
  [[ $RC -eq 0 && -z $OUT$ERR ]] || fail "promtool check metrics on $n's /metrics: status $RC: $OUT $ERR"
  note "$(grep -vc '^#' "$T/$n.metrics") samples, $(grep -c '^# TYPE' "$T/$n.metrics") families"
  # Every family has HELP and TYPE; counters end in _total, nothing else does.
  while read -r _ _ name type; do
    grep -q "^# HELP $name " "$T/$n.metrics" || fail "$n: no HELP for $name"
    if [[ $type == counter ]]; then
      [[ $name == *_total ]] || fail "$n: counter $name does not end in _total"
    else
      [[ $name != *_total ]] || fail "$n: $type $name ends in _total"
    fi
  done < <(grep '^# TYPE ' "$T/$n.metrics")
done

step "the values are the node's"
M=$(cat "$T/commune.metrics")
assert_contains "$M" 'fieldsync_log_changesets{node="commune"} 1' "the commune's log"
assert_contains "$M" 'fieldsync_parent_acknowledged_changesets{node="commune"} 1' "acknowledged by the district"
assert_contains "$M" 'fieldsync_parent_connected{node="commune"} 1' "parent link"
assert_contains "$M" 'fieldsync_node_state{node="commune",state="in_sync"} 1' "the commune's state"
assert_contains "$M" "fieldsync_peer_received_changesets_total{node=\"commune\",peer=\"${L:0:16}\",kind=\"device\",name=\"Đinh \\\"Văn\\\" \\\\ Lộ\"} 1" \
  "the laptop's change sets, its name escaped"
assert_contains "$M" 'fieldsync_peer_sent_changesets_total{node="commune",peer="' "the parent's row"
M=$(cat "$T/province.metrics")
for n in province district commune; do
  assert_contains "$M" "fieldsync_node_state{node=\"$n\",state=\"in_sync\"} 1" "$n in sync at the province"
  assert_contains "$M" "fieldsync_node_state{node=\"$n\",state=\"stale\"} 0" "$n not stale at the province"
done
assert_contains "$M" 'fieldsync_node_lag_changesets{node="commune"} 0' "the commune's lag at the province"
assert_contains "$M" 'fieldsync_records{node="province"} 1' "records at the province"

step "the commit histogram counts the node's write transactions"
for n in commune province; do
  M=$(cat "$T/$n.metrics")
  commits=$(awk -v n="$n" '$1 == "fieldsync_commits_total{node=\"" n "\"}" {print $2}' <<<"$M")
  count=$(awk -v n="$n" '$1 == "fieldsync_commit_seconds_count{node=\"" n "\"}" {print $2}' <<<"$M")
  inf=$(awk -v n="$n" '$1 == "fieldsync_commit_seconds_bucket{node=\"" n "\",le=\"+Inf\"}" {print $2}' <<<"$M")
  sum=$(awk -v n="$n" '$1 == "fieldsync_commit_seconds_sum{node=\"" n "\"}" {print $2}' <<<"$M")
  [[ -n $commits && $commits -ge 1 ]] || fail "$n: fieldsync_commits_total is '$commits', the set was stored"
  # The loop copies the total after the writer counted the duration: never behind it.
  [[ $count -ge $commits && $count -le $((commits + 1)) ]] || fail "$n: $count durations for $commits commits"
  [[ $inf == "$count" ]] || fail "$n: the +Inf bucket holds $inf of $count"
  awk -v s="$sum" 'BEGIN { exit !(s > 0 && s < 60) }' || fail "$n: $sum s in commits"
  # Buckets are cumulative: they never go down.
  grep "^fieldsync_commit_seconds_bucket{node=\"$n\"" <<<"$M" | awk '{ if ($2 < prev) exit 1; prev = $2 }' ||
    fail "$n: commit buckets are not cumulative"
  note "$n: $count commits, $sum s"
done

for n in commune district province; do stop_server "$n"; done
pass
