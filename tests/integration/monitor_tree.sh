#!/usr/bin/env bash
# monitor_tree - the province sees every node of a four-level tree, field by
# field, with each node's devices; a commune that stops turns stale there
# after the configured time and comes back in sync when it restarts.
#
#   province KT (stale_after_s = 6)
#     district KT.KPL
#       commune KT.KPL.DAKNEN          laptop clap
#         village KT.KPL.DAKNEN.T3     laptop vlap
#       commune KT.KPL.HIEU            laptop hlap
# Every node reports every second (report_interval_s = 1).
#
# Checks, in the province's /api/status (parsed with jq):
#   - a row for every node: id, area, level, parent, software, state in_sync,
#     head (log_seq) = acknowledged by the parent (parent_cursor), lag 0,
#     records and digest equal to what `fieldsyncd digest` reads from that
#     node's store, counts of refusals and forks 0, a fresh report;
#   - the commune's peers: its parent (connected, cursor = its log), its
#     laptop (officer, id, cursor = the laptop's seq, change sets in, records
#     out, bytes) and its child node (cursor, change sets in, connected);
#   - the text table (fieldsyncd tree) shows the same states;
#   - the commune stopped: stale at the province after stale_after_s (not
#     before), its village too (its reports came through it), its sibling
#     still in sync; restarted: in sync again, its laptop's counts kept
#     (durable), the laptop shown disconnected.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tree_lib.sh"
command -v jq >/dev/null || fail "jq is needed (scripts/deps.sh installs it)"

P=KT
D=KT.KPL
C=KT.KPL.DAKNEN
V=KT.KPL.DAKNEN.T3
H=KT.KPL.HIEU
STALE=6
FAST="report_interval_s = 1"
NODES=(province district commune village hieu)
declare -A LEVEL=([province]=province [district]=district [commune]=commune [village]=village [hieu]=commune)

step "a four-level tree starts; every node reports every second"
NODE_LEVEL=province tree_node province $P - "$FAST" "stale_after_s = $STALE"
NODE_LEVEL=district tree_node district $D province "$FAST"
NODE_LEVEL=commune tree_node commune $C district "$FAST"
NODE_LEVEL=commune tree_node hieu $H district "$FAST"
NODE_LEVEL=village tree_node village $V commune "$FAST"
must "$FIELDSYNCD" check-config --config "$T/province.ini"
assert_contains "$OUT" "a node is stale after $STALE s without a status report; reports go up at least every 1 s" \
  "check-config shows the monitoring options"

step "laptops record offline and sync at the bottom"
CLAP=$(tree_laptop clap $C)
VLAP=$(tree_laptop vlap $V)
tree_laptop hlap $H >/dev/null
must fs clap add --type incident --id c1 category=theft occurred_at=2026-11-20T21:30 \
  'place=Chợ Đắk Nên' status=new 'officer=Cán bộ clap'
must fs clap add --type mediation --id c2 'parties=Hộ ông Hùng và hộ bà Lan' subject=land \
  date=2026-11-15 outcome=reconciled
must fs clap edit c1 status=handling
must fs vlap add --type incident --id v1 category=fire occurred_at=2026-11-22T02:10 \
  'place=Thôn 3' status=resolved 'officer=Cán bộ vlap'
must fs hlap add --type incident --id h1 category=fire occurred_at=2026-11-22T02:10 \
  'place=Làng Kon Plông' status=resolved 'officer=Cán bộ hlap'
sync_ok clap commune
PULLED=$(sync_counts | cut -d' ' -f6)
sync_ok vlap village
sync_ok hlap hieu
TOTAL=0
for l in clap vlap hlap; do TOTAL=$((TOTAL + $(kv "$(laptop_status $l)" seq))); done
wait_node_kv 60 province change_sets $TOTAL
wait_node_kv 30 commune records 3
sync_ok clap commune # pulls the village's record
PULLED=$((PULLED + $(sync_counts | cut -d' ' -f6)))
((PULLED >= 1)) || fail "the commune's laptop pulled nothing of the village's"

step "the province shows every node in sync"
for n in "${NODES[@]}"; do wait_state 60 province "$n" in_sync; done
wait_converged 30 $P district province
# Rows climb a level per report: wait until the deepest digest arrived.
wait_until 30 "the village's digest at the province" \
  status_field_is province digest "$(digest_of village $V | cut -d' ' -f1)" village

# The laptop's last session ended; its row says so once a report came up.
wait_until 30 "the commune's laptop shown disconnected at the province" bash -c \
  "curl -s http://127.0.0.1:${ADMIN_PORT[province]}/api/status | jq -e '.nodes[] | select(.id == \"commune\") | .peers[] | select(.kind == \"device\" and .connected == false and .records_out == $PULLED)'"

step "the province's /api/status, field by field, for every node"
J=$(api_status province)
jq -e . >/dev/null <<<"$J" || fail "/api/status is not JSON"
note "/api/status at the province: $(curl -s -o /dev/null -w '%{size_download} bytes in %{time_total} s' \
  "http://127.0.0.1:${ADMIN_PORT[province]}/api/status"); /metrics: $(curl -s -o /dev/null \
  -w '%{size_download} bytes' "http://127.0.0.1:${ADMIN_PORT[province]}/metrics")"
assert_eq "province $P $STALE 5" "$(jq -r '"\(.node) \(.area) \(.stale_after_s) \(.nodes | length)"' <<<"$J")" \
  "the province's status: node, area, stale time, rows"
VERSION=$("$FIELDSYNCD" --help >/dev/null; jq -r '.nodes[0].software' <<<"$J")
[[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "software version [$VERSION]"
for n in "${NODES[@]}"; do
  R=$(jq -c --arg id "$n" '.nodes[] | select(.id == $id)' <<<"$J")
  [[ -n $R ]] || fail "no row for $n at the province"
  f() { jq -r "$1" <<<"$R"; }
  parent=${NODE_PARENT[$n]}
  [[ $parent == - ]] && parent=""
  assert_eq "$n ${NODE_AREA[$n]} ${LEVEL[$n]} [$parent] $VERSION in_sync" \
    "$(f '"\(.id) \(.area) \(.level) [\(.parent)] \(.software) \(.state)"')" "$n: identity and state"
  assert_eq "$([[ -n $parent ]] && echo true || echo false)" "$(f .has_parent)" "$n: has_parent"
  assert_eq "$([[ -n $parent ]] && echo true || echo false)" "$(f .parent_connected)" "$n: parent_connected"
  SETS=$(node_kv "$n" log_seq)
  assert_eq "$SETS $SETS 0 0 $SETS" "$(f '"\(.log_seq) \(.parent_cursor) \(.lag) \(.lag_ms) \(.stored)"')" \
    "$n: head, acknowledged, lag, lag_ms, stored since start"
  read -r DIG RECS <<<"$(digest_of "$n" "${NODE_AREA[$n]}")"
  assert_eq "$DIG ${RECS#records=}" "$(f '"\(.digest) \(.records)"')" "$n: digest and records"
  assert_eq "0 0 0 0 0 0" "$(f '"\(.refused) \(.refused_hello) \(.forks) \(.quarantined) \(.conflicts) \(.peers_omitted)"')" \
    "$n: refusals, forks, quarantine, conflicts"
  assert_eq "$(node_kv "$n" devices)" "$(f .devices)" "$n: devices"
  (($(f .report_age_ms) < STALE * 1000)) || fail "$n: report_age_ms $(f .report_age_ms)"
  if [[ -n $parent ]]; then
    (($(f .parent_contact_age_ms) < 10000)) || fail "$n: parent_contact_age_ms $(f .parent_contact_age_ms)"
  else
    assert_eq null "$(f .parent_contact_age_ms)" "$n: no parent to contact"
  fi
  assert_eq "" "$(f .last_error)" "$n: last_error"
done

step "the commune's peers, as the province sees them: parent, laptop, child node"
R=$(jq -c '.nodes[] | select(.id == "commune")' <<<"$J")
assert_eq "child device parent" "$(jq -r '[.peers[].kind] | sort | join(" ")' <<<"$R")" \
  "kinds of the commune's peers"
PAR=$(jq -c '.peers[] | select(.kind == "parent")' <<<"$R")
CSETS=$(node_kv commune log_seq)
assert_eq "district true $CSETS $CSETS 0 $VERSION" \
  "$(jq -r '"\(.name) \(.connected) \(.cursor) \(.sets_out) \(.queue) \(.software)"' <<<"$PAR")" \
  "the commune's parent row: connected, cursor, pushed, queue"
pubkey() { grep -oE '^[0-9a-f]{64}$' "$T/$1.key.pub"; }
assert_eq "$(pubkey district)" "$(jq -r .key <<<"$PAR")" "the parent's key"
DEV=$(jq -c '.peers[] | select(.kind == "device")' <<<"$R")
CSEQ=$(kv "$(laptop_status clap)" seq)
assert_eq "$CLAP Cán bộ clap CA-clap $C $VERSION false $CSEQ $CSEQ 0 0 0" \
  "$(jq -r '"\(.key) \(.name) \(.officer_id) \(.area) \(.software) \(.connected) \(.cursor) \(.sets_in) \(.refused) \(.refused_hello) \(.forks)"' <<<"$DEV")" \
  "the commune's laptop row"
assert_eq "$PULLED" "$(jq -r .records_out <<<"$DEV")" "records the laptop pulled, as it counted them"
(($(jq -r .bytes_in <<<"$DEV") > 500 && $(jq -r .bytes_out <<<"$DEV") > 500)) || fail "laptop bytes: $DEV"
[[ $(jq -r .last_contact_age_ms <<<"$DEV") =~ ^[0-9]+$ ]] || fail "laptop's last contact: $DEV"
KID=$(jq -c '.peers[] | select(.kind == "child")' <<<"$R")
VSETS=$(node_kv village log_seq)
assert_eq "village true $VSETS $VSETS $V $VERSION" \
  "$(jq -r '"\(.name) \(.connected) \(.cursor) \(.sets_in) \(.area) \(.software)"' <<<"$KID")" \
  "the commune's child row"
assert_eq "$(pubkey village)" "$(jq -r .key <<<"$KID")" "the child's key"
# The province's own peers: its one child, the district.
assert_eq "child district true" \
  "$(jq -r '.nodes[0].peers | map("\(.kind) \(.name) \(.connected)") | join(",")' <<<"$J")" \
  "the province's peers"

step "the terminal table shows the same tree"
must "$FIELDSYNCD" tree --admin "127.0.0.1:${ADMIN_PORT[province]}"
note "$(head -n 7 <<<"$OUT")"
assert_eq 6 "$(wc -l <<<"$OUT")" "header and five nodes"
assert_eq 5 "$(grep -c ' in_sync ' <<<"$OUT")" "five nodes in sync in the table"
assert_contains "$OUT" "      village " "the village indented under its commune"

step "the commune stops: stale at the province after $STALE s, with its village"
stop_server commune
STOPPED=$SECONDS
wait_state 60 province commune stale
ELAPSED=$((SECONDS - STOPPED))
note "stale after $ELAPSED s"
((ELAPSED >= STALE - 2)) || fail "the commune turned stale after $ELAPSED s, before stale_after_s ($STALE)"
wait_state 30 province village stale
for n in province district hieu; do wait_state 30 province "$n" in_sync; done
R=$(status_jq province '.nodes[] | select(.id == "commune") | "\(.state) \(.report_age_ms)"')
(($(cut -d' ' -f2 <<<"$R") > STALE * 1000)) || fail "report age of the stale commune: $R"
must "$FIELDSYNCD" tree --admin "127.0.0.1:${ADMIN_PORT[province]}"
assert_contains "$(grep ' commune ' <<<"$OUT")" " stale " "the table shows the commune stale"

step "the commune restarts: in sync again; its durable counts kept"
start_server commune
for n in commune village; do wait_state 60 province "$n" in_sync; done
DEV=$(status_jq province '.nodes[] | select(.id == "commune") | .peers[] | select(.kind == "device")')
assert_eq "$CLAP false $CSEQ $CSEQ" "$(jq -r '"\(.key) \(.connected) \(.cursor) \(.sets_in)"' <<<"$DEV")" \
  "the laptop's row after the restart (cursor and count from the store)"
[[ $(jq -r .last_contact_age_ms <<<"$DEV") =~ ^[0-9]+$ ]] || fail "last contact kept: $DEV"

for n in village commune hieu district province; do stop_server "$n"; done
pass
