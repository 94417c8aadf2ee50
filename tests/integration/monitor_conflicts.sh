#!/usr/bin/env bash
# monitor_conflicts - two laptops edit the same field offline; the conflict
# is listed for review where it was merged: at the commune and, once both
# change sets climbed the tree, at the province, identically.
#
#   province KT <- district KT.KPL <- commune KT.KPL.DAKNEN <- laptops an, binh
#
# (enrol_laptop enrols laptop NAME as officer "Cán bộ NAME", id CA-NAME.)
# Checks, as an administrator reviewing conflicts would:
#   - exactly one conflict at the commune and at the province (status counts
#     and the listing), with the record, the field, both values, who wrote
#     each (device key, officer, officer id) and when, and which one won;
#   - `fieldsyncd conflicts` gives the same from the store (--data) and from
#     the running node (--admin), as a table and as --json; /api/conflicts
#     defaults to the node's area and refuses a bad one;
#   - a sealed field's conflict is listed as sealed, never its ciphertext;
#   - the administrator's corrective edit (made after seeing the winner) is
#     no new conflict, and the listing shows the conflict as superseded.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tree_lib.sh"
command -v jq >/dev/null || fail "jq is needed (scripts/deps.sh installs it)"

P=KT
D=KT.KPL
C=KT.KPL.DAKNEN
FAST="report_interval_s = 1"

step "a tree: province, district, commune; two laptops in the commune"
tree_node province $P - "$FAST"
tree_node district $D province "$FAST"
tree_node commune $C district "$FAST"
wait_until 30 "the commune's link" status_field_is commune parent_connected true
AN=$(tree_laptop an $C 'Nguyễn Văn An')
BINH=$(tree_laptop binh $C 'Trần Thị Bình')

step "an records an incident and a tip; both laptops sync"
must fs an add --type incident --id inc1 category=theft occurred_at=2026-11-20T21:30 \
  'place=Thôn 3' status=new 'officer=Nguyễn Văn An'
must fs an add --type tip --id tip1 received_at=2026-11-21T07:15 channel=phone \
  status=received 'content=Đánh bạc ở rẫy cà phê' 'informant_name=Rơ Chăm Thương'
sync_ok an commune
sync_ok binh commune
must fs binh show inc1
assert_contains "$OUT" "status: new" "binh holds an's incident"

step "offline, both change the incident's status; an syncs first, then binh"
must fs an edit inc1 status=handling
sleep 0.01 # binh's edit is the later one: it wins
must fs binh edit inc1 status=resolved 'place=Thôn 3, cổng chợ'
sync_ok an commune
sync_ok binh commune
SETS=$(wait_quiet 30 commune)
wait_node_kv 60 province change_sets "$SETS"

step "exactly one conflict, at the commune and at the province"
assert_eq 1 "$(node_kv commune conflicts)" "conflicts recorded at the commune"
wait_node_kv 30 district conflicts 1
assert_eq 1 "$(node_kv province conflicts)" "conflicts recorded at the province"
must "$FIELDSYNCD" conflicts --data "$T/commune.data" --area $C --json
J=$OUT
jq -e . >/dev/null <<<"$J" || fail "conflicts --json is not JSON: $J"
q() { jq -r "$1" <<<"$J"; }
assert_eq 1 "$(q .count)" "count"
assert_eq 1 "$(q '.conflicts | length')" "conflicts listed"
assert_eq "$C" "$(q .area)" "area listed"
assert_eq "$C inc1 incident status" "$(q '.conflicts[0] | "\(.area) \(.record) \(.type) \(.field)"')" \
  "the conflict's record and field"
assert_eq "resolved false Cán bộ binh CA-binh $BINH" \
  "$(q '.conflicts[0].winner | "\(.value) \(.sealed) \(.officer) \(.officer_id) \(.device)"')" "the winner"
assert_eq "handling false Cán bộ an CA-an $AN" \
  "$(q '.conflicts[0].loser | "\(.value) \(.sealed) \(.officer) \(.officer_id) \(.device)"')" "the loser"
assert_eq false "$(q '.conflicts[0].superseded')" "superseded"
WT=$(q '.conflicts[0].winner.time')
LT=$(q '.conflicts[0].loser.time')
[[ $WT =~ ^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z$ ]] ||
  fail "winner's time is not an ISO time: $WT"
[[ $LT < $WT ]] || fail "the loser ($LT) should be older than the winner ($WT)"
NOW=$(date -u +%Y-%m-%dT%H:%M)
[[ ${WT:0:13} == "${NOW:0:13}" ]] || fail "winner's time $WT is not this hour ($NOW)"
(($(q '.conflicts[0].winner.base_hlc') < $(q '.conflicts[0].loser.hlc'))) ||
  fail "the winner's base clock must be older than the loser's clock (that is the conflict)"
must "$FIELDSYNCD" records --data "$T/commune.data" --area $C
assert_contains "$(grep ' inc1 ' <<<"$OUT")" "status=resolved" "the merged value is the winner's"

step "the province lists the same conflict (store and admin port, JSON and table)"
must "$FIELDSYNCD" conflicts --data "$T/province.data" --area $C --json
assert_same_text "$(jq -S .conflicts <<<"$J")" "$(jq -S .conflicts <<<"$OUT")" \
  "the conflict at the commune and at the province"
must "$FIELDSYNCD" conflicts --admin "127.0.0.1:${ADMIN_PORT[province]}" --json
assert_eq province "$(jq -r .node <<<"$OUT")" "node named by the admin port"
assert_eq $P "$(jq -r .area <<<"$OUT")" "/api/conflicts defaults to the node's area"
assert_same_text "$(jq -S .conflicts <<<"$J")" "$(jq -S .conflicts <<<"$OUT")" \
  "the province's admin port"
must "$FIELDSYNCD" conflicts --admin "127.0.0.1:${ADMIN_PORT[province]}" --area $C
TABLE=$OUT
note "$(head -n 4 <<<"$TABLE")"
assert_contains "$TABLE" "1 conflict in $C at node province" "table header"
assert_contains "$TABLE" "$C inc1 (incident) field status" "table: record and field"
assert_contains "$TABLE" "won:  resolved  by Cán bộ binh (CA-binh), device ${BINH:0:16}, at $WT" \
  "table: the winner"
assert_contains "$TABLE" "lost: handling  by Cán bộ an (CA-an), device ${AN:0:16}, at $LT" \
  "table: the loser"
must "$FIELDSYNCD" conflicts --admin "127.0.0.1:${ADMIN_PORT[province]}" --area KT.KPL.HIEU
assert_contains "$OUT" "0 conflicts in KT.KPL.HIEU at node province" "another area has none"
run "$FIELDSYNCD" conflicts --admin "127.0.0.1:${ADMIN_PORT[province]}" --area 'KT..X'
assert_eq 1 "$RC" "a malformed area is a usage error"
assert_eq 400 "$(curl -s -o /dev/null -w '%{http_code}' \
  "http://127.0.0.1:${ADMIN_PORT[province]}/api/conflicts?area=KT%20X")" "/api/conflicts refuses a bad area"
expect_exit 1 "$FIELDSYNCD" conflicts --data "$T/province.data" --admin "127.0.0.1:1"

step "a sealed field's conflict is listed as sealed, never its ciphertext"
sync_ok an commune
must fs an edit tip1 'informant_name=Rơ Chăm A'
sleep 0.01
must fs binh edit tip1 'informant_name=Rơ Chăm B'
sync_ok an commune
sync_ok binh commune
wait_node_kv 60 province conflicts 2
must "$FIELDSYNCD" conflicts --data "$T/province.data" --json
S=$(jq -c '.conflicts[] | select(.field == "informant_name")' <<<"$OUT")
assert_eq "tip1 tip true true null null" \
  "$(jq -r '"\(.record) \(.type) \(.winner.sealed) \(.loser.sealed) \(.winner.value) \(.loser.value)"' <<<"$S")" \
  "the sealed conflict"
assert_eq "Cán bộ binh Cán bộ an" "$(jq -r '"\(.winner.officer) \(.loser.officer)"' <<<"$S")" \
  "who wrote the sealed values"
assert_eq 2 "$(jq -r .count <<<"$OUT")" "conflicts in every area"
must "$FIELDSYNCD" conflicts --data "$T/commune.data"
assert_contains "$OUT" "tip1 (tip) field informant_name" "table lists the sealed conflict"
assert_eq 2 "$(grep -c '<sealed>' <<<"$OUT")" "both sealed values shown as <sealed>"
assert_not_contains "$OUT" 'S1' "no sealed bytes in the table"
assert_not_contains "$OUT" 'Rơ Chăm' "no informant in clear"

step "the administrator's correction is no new conflict; the listing shows it superseded"
sync_ok an commune
must fs an edit inc1 status=handling
sync_ok an commune
wait_until 30 "the correction at the province" bash -c \
  "'$FIELDSYNCD' records --data '$T/province.data' --area $C | grep ' inc1 ' | grep -q status=handling"
assert_eq 2 "$(node_kv province conflicts)" "conflicts at the province after the correction"
assert_eq 2 "$(node_kv commune conflicts)" "conflicts at the commune after the correction"
must "$FIELDSYNCD" conflicts --data "$T/province.data" --area $C --json
assert_eq true "$(jq -r '.conflicts[] | select(.field == "status") | .superseded' <<<"$OUT")" \
  "the status conflict is superseded"
must "$FIELDSYNCD" conflicts --data "$T/province.data" --area $C
assert_contains "$OUT" "field status  [superseded by a later write]" "table marks it superseded"

for n in commune district province; do stop_server "$n"; done
pass
