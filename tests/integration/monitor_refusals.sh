#!/usr/bin/env bash
# monitor_refusals - refusals and forks are counted where they happen, per
# peer and per node, and the province sees them in the commune's row.
#
#   province KT <- commune KT.KPL.DAKNEN <- laptops: good, bad (an enrolment
#   signed by another deployment's root), scoper (pushes a set outside its
#   area), forker (pushes two bodies for one seq)
#
# Checks:
#   - the bad certificate is refused at Hello: the commune counts it against
#     the laptop's key (refused_hello, its reason), its row turns
#     "refusing", and the province shows the same in the commune's row;
#   - a refused change set: the laptop's row counts it with its reason;
#   - a fork: counted for the laptop and the commune, the commune "fork" at
#     the province;
#   - a restart keeps the counts of refused and forked change sets (durable),
#     not the refused connections (since start, documented);
#   - the healthy laptop and the province itself stay clean.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tree_lib.sh"
command -v jq >/dev/null || fail "jq is needed (scripts/deps.sh installs it)"

P=KT
C=KT.KPL.DAKNEN
FAST="report_interval_s = 1"

peer() { # peer SCENARIO LAPTOP [ARGS...]: fs_testpeer against the commune
  local sc=$1 l=$2
  shift 2
  must "$FS_TESTPEER" "$sc" --dir "$T/$l" --server "$(server_addr commune)" "$@"
}
# row NAME OF: node OF's row in NAME's /api/status; prow ROW KEY: a peer of it.
row() { status_jq "$1" ".nodes[] | select(.id == \"$2\")"; }
prow() { jq -c --arg k "$2" '.peers[] | select(.key == $k)' <<<"$1"; }

step "province and commune; a healthy laptop syncs"
tree_node province $P - "$FAST"
tree_node commune $C province "$FAST"
GOOD=$(tree_laptop good $C)
must fs good add --type incident --id g1 category=theft occurred_at=2026-11-20T21:30 \
  'place=Thôn 3' status=new 'officer=Cán bộ good'
sync_ok good commune
wait_state 30 province commune in_sync

step "a laptop with a bad certificate is refused at Hello, counted against its key"
must "$FIELDSYNCD" admin init --dir "$T/other"
BAD=$(laptop_init bad $C)
must "$FIELDSYNCD" admin enrol --admin-key "$T/other/root.key" --device "$BAD" \
  --officer 'Người ngoài' --officer-id X-1 --area $C --out "$T/bad.cert"
peer hello-cert bad --cert "$T/bad.cert"
assert_contains "$OUT" "error code=E_UNKNOWN_PEER" "the commune refuses the bad certificate"
wait_state 30 commune commune refusing
R=$(row commune commune)
assert_eq "1 0 0" "$(jq -r '"\(.refused_hello) \(.refused) \(.forks)"' <<<"$R")" "the commune's counts"
assert_contains "$(jq -r .last_refusal <<<"$R")" "device key $BAD has no valid device certificate here" \
  "the commune's last refusal names the key and why"
B=$(prow "$R" "$BAD")
[[ -n $B ]] || fail "no peer row for the refused laptop at the commune: $R"
assert_eq "device 1 0 false" "$(jq -r '"\(.kind) \(.refused_hello) \(.sets_in) \(.connected)"' <<<"$B")" \
  "the refused laptop's row"
assert_contains "$(jq -r .last_refusal <<<"$B")" "no valid device certificate" "its reason"
[[ $(jq -r .last_refusal_age_ms <<<"$B") =~ ^[0-9]+$ ]] || fail "its refusal's age: $B"
wait_state 30 province commune refusing
R=$(row province commune)
assert_eq "1 refusing" "$(jq -r '"\(.refused_hello) \(.state)"' <<<"$R")" "the commune's row at the province"
assert_contains "$(jq -r .last_refusal <<<"$R")" "no valid device certificate" \
  "the reason at the province"
assert_eq 1 "$(jq -r .refused_hello <<<"$(prow "$R" "$BAD")")" "the laptop's row at the province"

step "a change set outside the laptop's area is refused, with its reason"
SCOPER=$(tree_laptop scoper $C)
peer scope scoper
assert_contains "$OUT" "status=REFUSED" "the set outside the area"
wait_until 30 "the refusal in the commune's row at the province" \
  bash -c "curl -s http://127.0.0.1:${ADMIN_PORT[province]}/api/status | jq -e '.nodes[] | select(.id == \"commune\") | select(.refused == 1)'"
S=$(prow "$(row province commune)" "$SCOPER")
assert_eq "device 1 Cán bộ scoper" "$(jq -r '"\(.kind) \(.refused) \(.name)"' <<<"$S")" "the laptop's row"
assert_contains "$(jq -r .last_refusal <<<"$S")" "E_SCOPE" "the refusal's reason"

step "a forked chain: counted for the laptop, the commune shown as fork"
FORKER=$(tree_laptop forker $C)
peer fork forker
assert_contains "$OUT" "status=FORK" "the second body for seq 1"
wait_state 30 province commune fork
R=$(row province commune)
assert_eq "1 1 1" "$(jq -r '"\(.forks) \(.quarantined) \(.refused)"' <<<"$R")" \
  "forks, quarantined, refused at the commune (seen at the province)"
F=$(prow "$R" "$FORKER")
assert_eq "1 1 0" "$(jq -r '"\(.forks) \(.sets_in) \(.refused)"' <<<"$F")" "the forked laptop's row"
assert_contains "$(jq -r .last_refusal <<<"$F")" "E_FORK" "the fork's reason"
assert_eq "0 0 0" "$(jq -r '"\(.refused) \(.forks) \(.refused_hello)"' <<<"$(prow "$R" "$GOOD")")" \
  "the healthy laptop's row"
assert_eq "in_sync 0 0 0" \
  "$(status_jq province '.nodes[] | select(.id == "province") | "\(.state) \(.refused) \(.refused_hello) \(.forks)"')" \
  "the province itself"
must curl -s "http://127.0.0.1:${ADMIN_PORT[commune]}/metrics"
assert_contains "$OUT" 'fieldsync_forks_total{node="commune"} 1' "forks in the commune's metrics"
assert_contains "$OUT" 'fieldsync_hello_refused_total{node="commune"} 1' "refused connections in the metrics"
assert_contains "$OUT" 'fieldsync_node_state{node="commune",state="fork"} 1' "the commune's state in its metrics"

step "after a restart the durable counts remain; refused connections were since start"
stop_server commune
start_server commune
wait_until 30 "the commune's link" status_field_is commune parent_connected true
R=$(row commune commune)
assert_eq "fork 1 1 0" "$(jq -r '"\(.state) \(.forks) \(.refused) \(.refused_hello)"' <<<"$R")" \
  "the commune after the restart"
assert_eq "1 1" "$(jq -r '"\(.forks) \(.sets_in)"' <<<"$(prow "$R" "$FORKER")")" "the forked laptop's row"
S=$(prow "$R" "$SCOPER")
assert_eq 1 "$(jq -r .refused <<<"$S")" "the refused set's count"
assert_contains "$(jq -r .last_refusal <<<"$S")" "E_SCOPE" "its reason, kept"
assert_eq "1 0" "$(jq -r '"\(.sets_in) \(.refused)"' <<<"$(prow "$R" "$GOOD")")" "the healthy laptop's row"
wait_until 30 "the restarted commune's row at the province" \
  bash -c "curl -s http://127.0.0.1:${ADMIN_PORT[province]}/api/status | jq -e '.nodes[] | select(.id == \"commune\") | select(.refused_hello == 0 and .forks == 1 and .state == \"fork\")'"

for n in commune province; do stop_server "$n"; done
pass
