#!/usr/bin/env bash
# tree_two_levels - the two-tier shape (Vietnam's local government since
# 2025): communes directly under the province, no district level.
#
#   province KT                        laptop plap (provincial officer, KT)
#     commune KT.KPL.DAKNEN            laptops lap1, lap2
#     commune KT.DH.DAKMAR             laptop mlap
#
# The communes' certificates name the province as their parent. Checks:
#   - the province holds exactly every commune's change sets (change_sets,
#     log_seq), nothing quarantined;
#   - each commune area's digest is equal at the commune, at the province
#     and on its laptops; the province's whole-tree digest is stable;
#   - two officers editing one record offline converge to the same state at
#     both levels;
#   - a provincial officer's record in a commune's area, synced at the
#     province, reaches that commune (downward) and its laptops, and not the
#     other commune;
#   - the province lists a commune's records exactly as its laptop does
#     (Vietnamese text byte for byte);
#   - /api/status at the province shows both communes with parent
#     "province", connected, lag 0; every server stops cleanly.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tree_lib.sh"

P=KT
C=KT.KPL.DAKNEN
M=KT.DH.DAKMAR

step "a province with two communes and no district"
tree_node province $P -
tree_node commune $C province
tree_node dakmar $M province
for n in commune dakmar; do
  wait_until 30 "$n's link to the province" status_field_is "$n" parent_connected true
done
assert_eq province "$(json_field "$(node_json commune)" parent)" "the commune's parent"

step "laptops record offline and sync at their communes"
tree_laptop lap1 $C 'Nguyễn Văn An' >/dev/null
tree_laptop lap2 $C 'Lê Thị Hoa' >/dev/null
tree_laptop mlap $M 'Đinh Văn Hùng' >/dev/null
tree_laptop plap $P 'Phạm Minh Châu' >/dev/null
must fs lap1 add --type incident --id inc_cho category=public_order occurred_at=2026-11-22T19:40 \
  'place=Chợ trung tâm xã Đắk Nên' status=new 'officer=Nguyễn Văn An' \
  'description=Gây rối trật tự tại chợ, đã lập biên bản'
must fs lap1 add --type model --id model_t5 'name=Tổ tự quản an ninh trật tự thôn 5' \
  kind=self_management founded=2019-03-26 'leader=A Phiên' members=12
must fs lap2 add --type patrol --id patrol_1 start=2026-11-24T20:00 end=2026-11-24T23:30 \
  'route=Thôn 1 → Thôn 5' 'members=Tổ an ninh xung kích'
must fs mlap add --type surrender --id sur_1 date=2026-11-18 'handed_in_by=Bà Y Hoa' \
  'received_by=Công an xã Đăk Mar' kind=gun quantity=1 unit=piece mode=handed_in \
  'description=Súng kíp tự chế'
sync_ok lap1 commune
sync_ok lap2 commune
sync_ok mlap dakmar

step "two officers edit the same record offline; both sync"
sync_ok lap2 commune # lap2 now has model_t5
must fs lap1 edit model_t5 members=14
must fs lap2 edit model_t5 'leader=Y Lan'
sync_ok lap1 commune
sync_ok lap2 commune
sync_ok lap1 commune

step "the province holds exactly every commune's change sets"
TOTAL=$(($(kv "$(laptop_status lap1)" seq) + $(kv "$(laptop_status lap2)" seq) +
  $(kv "$(laptop_status mlap)" seq)))
assert_eq 5 "$TOTAL" "change sets made on the laptops (the edits of each sync sealed in one)"
wait_node_kv 60 province change_sets $TOTAL
assert_eq $TOTAL "$(node_kv province log_seq)" "province log_seq"
assert_eq 4 "$(node_kv commune change_sets)" "change sets at the commune"
assert_eq 0 "$(node_kv province quarantined)" "quarantined at the province"

step "each commune's digest is the same at the commune, the province and its laptops"
wait_converged 30 $C commune province
wait_converged 30 $M dakmar province
assert_eq "$(digest_of commune $C)" "$(laptop_digest lap1 $C)" "lap1 vs commune"
assert_eq "$(digest_of commune $C)" "$(laptop_digest lap2 $C)" "lap2 vs commune"
sync_ok mlap dakmar
assert_eq "$(digest_of dakmar $M)" "$(laptop_digest mlap $M)" "mlap vs its commune"
must fs lap1 show model_t5
assert_contains "$OUT" "members: 14" "lap1's edit survives"
assert_contains "$OUT" 'leader: "Y Lan"' "lap2's edit survives"
assert_contains "$(digest_of commune $M)" "records=0" "the other commune's records at the commune"

step "a provincial officer's record in the commune's area flows down"
must fs plap add --type incident --area $C --id inc_tinh category=drugs \
  occurred_at=2026-11-26T10:00 'place=Bến xe Đắk Nên' status=transferred \
  'officer=Phạm Minh Châu' 'description=Chuyển hồ sơ lên Công an tỉnh'
sync_ok plap province
wait_converged 30 $C commune province # the commune pulls every keepalive
must "$FIELDSYNCD" records --data "$T/commune.data" --area $C
assert_contains "$OUT" "$C inc_tinh incident" "the province's record at the commune"
assert_contains "$(digest_of dakmar $P)" "records=1" "the other commune holds only its own record"
sync_ok lap1 commune
assert_eq "pushed 0 stored 0 pulled 1" "$(sync_counts)" "lap1 pulls the province's record"
assert_eq "$(digest_of province $C)" "$(laptop_digest lap1 $C)" "lap1 vs the province"
assert_eq 6 "$(node_kv province change_sets)" "change sets at the province"
assert_eq 4 "$(node_kv commune change_sets)" \
  "change sets at the commune (what came down is state, not change sets)"

step "the province lists the commune's records as the laptop does, byte for byte"
must "$FIELDSYNCD" records --data "$T/province.data" --area $C
PROV=$OUT
must fs lap1 list
assert_same_text "$OUT" "$PROV" "lap1's list vs the province's records of $C"
assert_contains "$PROV" 'place="Chợ trung tâm xã Đắk Nên"' "place at the province"
assert_contains "$PROV" 'name="Tổ tự quản an ninh trật tự thôn 5"' "model name at the province"
must "$FIELDSYNCD" records --data "$T/province.data" --area $M
assert_contains "$OUT" 'received_by="Công an xã Đăk Mar"' "the other commune's record"

step "the province's dashboard shows both communes connected, lag 0"
for n in commune dakmar; do
  wait_until 30 "$n reported with lag 0" status_field_is province lag 0 "$n"
  L=$(node_json province "$n")
  assert_eq province "$(json_field "$L" parent)" "$n's parent at the province"
  assert_eq true "$(json_field "$L" parent_connected)" "$n connected"
done
D1=$(digest_of province $P)
sleep 1
assert_eq "$D1" "$(digest_of province $P)" "an idle province's digest"

for n in commune dakmar province; do stop_server "$n"; done
pass
