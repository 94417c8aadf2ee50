#!/usr/bin/env bash
# tree_four_levels - a four-level tree on 127.0.0.1 converges at every level.
#
#   province KT
#     district KT.KPL
#       commune KT.KPL.DAKNEN          laptop clap (commune police)
#         village KT.KPL.DAKNEN.T3     laptop vlap (village police)
#       commune KT.KPL.HIEU (sibling)  laptop hlap
#
# Laptops record typed records offline (incident, tip with a sealed
# informant, patrol, surrender, mediation, model; Vietnamese text) and sync
# at the bottom. Checks, as the operators would:
#   - every node holds exactly the change sets of its subtree (change_sets
#     and log_seq: nothing lost, nothing stored twice), nothing quarantined;
#   - for every area prefix (village, commune, sibling commune, district,
#     province), the state digest is equal at every level that holds it, and
#     equal to the laptops' own digests;
#   - replication is scoped: a commune holds nothing of its sibling, the
#     village nothing but its own area;
#   - the province lists the village's and the commune's records exactly as
#     the laptops list them (Vietnamese text byte for byte), the informant
#     sealed (<sealed>, never in clear);
#   - downward: a commune officer's patrol in the village and his edit of a
#     village record reach the village server and the village laptop;
#   - the province's /api/status shows every node of the tree (status
#     reports flow up), each connected to its parent with lag 0;
#   - every server stops cleanly (exit 0; under ASan: no report).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tree_lib.sh"

P=KT
D=KT.KPL
C=KT.KPL.DAKNEN
V=KT.KPL.DAKNEN.T3
H=KT.KPL.HIEU
NODES=(province district commune hieu village)

step "a four-level tree starts: province, district, two communes, a village"
tree_node province $P -
tree_node district $D province
tree_node commune $C district
tree_node hieu $H district
tree_node village $V commune
for n in district commune hieu village; do
  wait_until 30 "$n's link to its parent" status_field_is "$n" parent_connected true
done

step "three laptops record typed records offline"
tree_laptop vlap $V 'Y Nuôi Niê' >/dev/null
tree_laptop clap $C 'Nguyễn Văn An' >/dev/null
tree_laptop hlap $H 'Trần Thị Bình' >/dev/null

PLACE_V='Thôn 3, xã Đắk Nên — "cổng chợ"'
INFORMANT='Rơ Chăm Thương'
# village police
must fs vlap add --type incident --id v_theft category=theft occurred_at=2026-11-20T21:30 \
  "place=$PLACE_V" status=new 'officer=Y Nuôi Niê' \
  'description=Mất trộm xe máy Honda Wave trước nhà văn hóa thôn'
must fs vlap add --type tip --id v_tip received_at=2026-11-21T07:15 channel=phone \
  status=received 'content=Phản ánh đối tượng lạ tụ tập đánh bạc ở rẫy cà phê' \
  "informant_name=$INFORMANT" informant_phone=0912345678 incident=v_theft
must fs vlap add --type surrender --id v_guns date=2026-11-21 'received_by=Công an xã' \
  'handed_in_by=Ông A Tâm' kind=gun quantity=2 unit=piece mode=handed_in \
  'description=Súng kíp tự chế' kind_2=explosive quantity_2=2.5 unit_2=kg mode_2=handed_in
must fs vlap edit v_theft status=handling
# commune police, also in the village (its area covers it)
must fs clap add --type mediation --id c_land 'parties=Hộ ông Hùng và hộ bà Lan' subject=land \
  date=2026-11-15 outcome=reconciled
must fs clap add --type patrol --id c_patrol start=2026-11-24T20:00 end=2026-11-24T23:30 \
  'route=Thôn 1 → Thôn 5, chợ Đắk Nên' 'members=Tổ an ninh xung kích' \
  'notes=Không phát hiện vụ việc'
must fs clap add --type patrol --area $V --id c_patrol_t3 start=2026-11-25T19:00 \
  end=2026-11-25T22:00 'route=Thôn 3: nhà văn hóa → rẫy cà phê' 'notes=Tuần tra cùng công an xã'
must fs clap add --type model --id c_model 'name=Tổ tự quản an ninh trật tự thôn 5' \
  kind=self_management founded=2019-03-26 'leader=A Phiên' members=12
# the sibling commune
must fs hlap add --type incident --id h_fire category=fire occurred_at=2026-11-22T02:10 \
  'place=Làng Kon Plông, xã Hiếu' status=resolved 'officer=Trần Thị Bình'
must fs hlap add --type tip --id h_tip received_at=2026-11-23T08:30 channel=in_person \
  status=verifying 'content=Nghi vấn buôn bán pháo nổ'
assert_eq "4 4 2" "$(kv "$(laptop_status vlap)" pending) $(kv "$(laptop_status clap)" pending) $(kv "$(laptop_status hlap)" pending)" \
  "edits made on the laptops"

step "the laptops sync at the bottom of the tree"
sync_ok vlap village
assert_eq "pushed 1 stored 1 pulled 0" "$(sync_counts)" "village laptop's sync (4 edits, 1 set)"
sync_ok clap commune
sync_ok hlap hieu
# A change set holds one area: the commune officer's edits in C, C, the
# village, C became two sets (C's three, the village's one); the others one
# each.
SEQ_V=$(kv "$(laptop_status vlap)" seq)
SEQ_C=$(kv "$(laptop_status clap)" seq)
SEQ_H=$(kv "$(laptop_status hlap)" seq)
assert_eq "1 2 1" "$SEQ_V $SEQ_C $SEQ_H" "change sets made on the laptops"

step "replication up: each node holds exactly the change sets of its subtree"
expect_sets() { # NODE N
  wait_node_kv 60 "$1" change_sets "$2"
  assert_eq "$2" "$(node_kv "$1" log_seq)" "$1: log_seq (one log entry per set)"
  assert_eq 0 "$(node_kv "$1" quarantined)" "$1: quarantined"
}
expect_sets village $SEQ_V
expect_sets commune $((SEQ_V + SEQ_C))
expect_sets hieu $SEQ_H
expect_sets district $((SEQ_V + SEQ_C + SEQ_H))
expect_sets province $((SEQ_V + SEQ_C + SEQ_H))
assert_eq 3 "$(node_kv province devices)" "devices known at the province"
assert_eq 2 "$(node_kv commune devices)" "devices known at the commune"

step "downward: the commune officer's village patrol reaches the village"
# The village pulls its area from the commune (every keepalive).
wait_converged 30 $V village commune district province
must "$FIELDSYNCD" records --data "$T/village.data" --area $V
assert_contains "$OUT" "$V c_patrol_t3 patrol" "the commune's village patrol at the village"

step "every area prefix has one digest at every level that holds it"
wait_converged 30 $C commune district province
wait_converged 30 $H hieu district province
wait_converged 30 $D district province
wait_converged 30 $P district province
show_digests $P province | while read -r l; do note "$l"; done
assert_contains "$(digest_of province $P)" "records=9" "records at the province"
assert_contains "$(digest_of commune $C)" "records=7" "records of the commune's area"
assert_contains "$(digest_of village $V)" "records=4" "records of the village's area"

step "replication is scoped: siblings and the village hold only their area"
assert_contains "$(digest_of commune $H)" "records=0" "sibling's records at the commune"
assert_contains "$(digest_of hieu $C)" "records=0" "commune's records at the sibling"
assert_eq "$(digest_of village $V)" "$(digest_of village $C)" \
  "the village holds nothing of the commune outside the village"
must "$FIELDSYNCD" records --data "$T/village.data"
assert_not_contains "$OUT" "c_land" "the commune's mediation at the village"

step "the laptops agree with their servers after one more sync"
sync_ok vlap village
assert_eq "pushed 0 stored 0 pulled 1" "$(sync_counts)" "village laptop pulls the commune's patrol"
sync_ok clap commune
sync_ok hlap hieu
assert_eq "$(digest_of village $V)" "$(laptop_digest vlap $V)" "village laptop vs village"
assert_eq "$(digest_of commune $C)" "$(laptop_digest clap $C)" "commune laptop vs commune"
assert_eq "$(digest_of hieu $H)" "$(laptop_digest hlap $H)" "sibling laptop vs sibling"
assert_eq "$(digest_of province $C)" "$(laptop_digest clap $C)" "commune laptop vs province"

step "the province lists the records as the laptops do, byte for byte"
must "$FIELDSYNCD" records --data "$T/province.data" --area $V
PROV_V=$OUT
must fs vlap list
assert_same_text "$OUT" "$PROV_V" "village laptop's list vs the province's records of $V"
must "$FIELDSYNCD" records --data "$T/province.data" --area $C
PROV_C=$OUT
must fs clap list
assert_same_text "$OUT" "$PROV_C" "commune laptop's list vs the province's records of $C"
INC=$(grep " v_theft " <<<"$PROV_V")
assert_contains "$INC" "$V v_theft incident category=theft" "incident at the province"
assert_contains "$INC" "place=\"$(sed 's/"/\\"/g' <<<"$PLACE_V")\"" "the place, quotes and all"
assert_contains "$INC" 'description="Mất trộm xe máy Honda Wave trước nhà văn hóa thôn"' \
  "incident description"
assert_contains "$INC" 'officer="Y Nuôi Niê"' "officer's name"
assert_contains "$INC" "status=handling" "the edit made before the sync"
assert_contains "$PROV_V" 'handed_in_by="Ông A Tâm"' "who handed the weapons in"
assert_contains "$PROV_V" 'route="Thôn 3: nhà văn hóa → rẫy cà phê"' "the commune's village patrol"
assert_contains "$PROV_C" 'parties="Hộ ông Hùng và hộ bà Lan"' "mediation parties"
TIP=$(grep " v_tip " <<<"$PROV_V")
assert_contains "$TIP" "informant_name=<sealed>" "informant's name sealed at the province"
assert_contains "$TIP" "informant_phone=<sealed>" "informant's phone sealed at the province"
must "$FIELDSYNCD" records --data "$T/province.data" --all
assert_not_contains "$OUT" "$INFORMANT" "informant's name anywhere at the province"
assert_not_contains "$OUT" "0912345678" "informant's phone anywhere at the province"
# The exact bytes, not only as printed: the value in the store's dump.
PLACE_HEX=$(printf '%s' "$PLACE_V" | od -An -tx1 | tr -d ' \n')
must "$FIELDSYNCD" records --data "$T/province.data" --area $V
GOT=$(grep " v_theft " <<<"$OUT" | sed -n 's/.* place="\(.*\)" status=.*/\1/p' | sed 's/\\"/"/g')
assert_eq "$PLACE_HEX" "$(printf '%s' "$GOT" | od -An -tx1 | tr -d ' \n')" "bytes of the place"

step "downward: the commune officer edits a village record; every level follows"
must fs clap edit v_theft status=resolved 'description=Đã thu hồi xe, bàn giao cho chủ sở hữu'
sync_ok clap commune
expect_sets province $((SEQ_V + SEQ_C + SEQ_H + 1))
wait_converged 30 $V village commune district province
sync_ok vlap village
must fs vlap show v_theft
assert_contains "$OUT" "resolved" "the village laptop sees the commune's edit"
assert_contains "$OUT" "Đã thu hồi xe, bàn giao cho chủ sở hữu" "edited description at the village laptop"
assert_eq "$(digest_of province $V)" "$(laptop_digest vlap $V)" "village laptop vs province"
wait_converged 30 $P district province

step "the province's dashboard shows the whole tree connected, lag 0"
for n in district commune hieu village; do
  wait_until 30 "$n reported at the province with lag 0" status_field_is province lag 0 "$n"
  L=$(node_json province "$n")
  assert_eq true "$(json_field "$L" parent_connected)" "$n connected to its parent (at the province)"
  assert_eq "${NODE_PARENT[$n]}" "$(json_field "$L" parent)" "$n's parent (at the province)"
  assert_eq "${NODE_AREA[$n]}" "$(json_field "$L" area)" "$n's area (at the province)"
done
# Reports climb a level per tick: wait for the village's latest to arrive.
VD=$(digest_of village $V | cut -d' ' -f1)
wait_until 30 "the village's digest on the province's dashboard" \
  status_field_is province digest "$VD" village
assert_eq 0 "$(json_field "$(node_json province)" refused)" "refusals at the province"

step "every server stops cleanly"
for n in village commune hieu district province; do stop_server "$n"; done
pass
