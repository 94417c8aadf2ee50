#!/usr/bin/env bash
# tree_tampered - a compromised commune cannot forge, alter or double what
# officers wrote: the district verifies every relayed change set itself.
#
#   province KT  <-  district KT.KPL  <-  commune KT.KPL.DAKNEN (real)
#                                    <-  "fake": fs_testpeer relay, holding a
#                                        real node key certified under the
#                                        district for KT.KPL.DAKNEN
#
# Checks, each pushed by the fake commune straight to the district:
#   (a) --mode altered (one body byte flipped, the laptop's signature kept),
#       of sets the district has never seen: every set is answered
#       "ack status=REFUSED reason=E_BADSIG..." (visible to the sender), the
#       district logs event=ingest.refused with that reason, stores nothing
#       (change_sets, log_seq, devices unchanged) and its /api/status counts
#       the refusals; the laptop's genuine sets then go up through the real
#       commune and are all stored: the forgery never entered the chain;
#   (b) --mode altered of sets already replicated: REFUSED E_BADSIG, not a
#       fork: nothing quarantined, the stored sets untouched;
#   (c) --mode invented (a set the node signed itself, as if a device):
#       REFUSED with E_UNKNOWN_PEER (no enrolment for that key), logged,
#       nothing stored;
#   (d) --mode verbatim of sets already replicated through the real commune:
#       every set DUPLICATE, nothing stored twice (change_sets = log_seq
#       unchanged), digests unchanged at the district and the province;
#   (e) a node certified under another parent (the province), or not
#       certified at all, is refused at the handshake (E_SCOPE,
#       E_UNKNOWN_PEER) with a sentence saying why;
#   (f) --mode verbatim of a laptop's sets 4..6 whose 1..3 the district has
#       not seen (they went to another server of the area): HELD, not
#       stored; relaying 1..3 then stores them and applies 4..6 in order
#       (head 6), and the province gets all six;
#   (g) the province never saw any of the forgeries: its counts equal the
#       district's, digests equal at every level; the real commune's link is
#       unaffected; every server stops cleanly.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tree_lib.sh"

C=KT.KPL.DAKNEN

# fake MODE LAPTOP [NODE]: fs_testpeer poses as node NODE (default fake)
# and pushes LAPTOP's outbox to the district; its lines land in OUT.
fake() {
  local node=${3:-fake}
  must timeout 120 "$FS_TESTPEER" relay --dir "$T/$2" --server "$(server_addr district)" \
    --node-key "$T/$node.key" --node-cert "$T/$node.cert" \
    --network-key "$T/admin/network.key" --mode "$1"
  note "$node ($1) is told: $(grep -m 1 -E '^(ack|error) ' <<<"$OUT")"
}

# count_lines TEXT PATTERN: lines of TEXT matching PATTERN (fixed string).
count_lines() { grep -cF -- "$2" <<<"$1" || true; }

# state NODE: "change_sets log_seq devices quarantined" of NODE.
state() {
  local s
  s=$(server_status "$1")
  echo "$(kv "$s" change_sets) $(kv "$s" log_seq) $(kv "$s" devices) $(kv "$s" quarantined)"
}

# own_count NODE FIELD: a counter of NODE's own line on its /api/status.
own_count() { json_field "$(node_json "$1")" "$2"; }

# refusals_logged NODE REASON: ingest.refused lines in NODE's log with REASON.
refusals_logged() { grep 'event=ingest.refused' "$T/$1.log" | grep -cF "reason=\"$2" || true; }

step "a real tree, and a fake commune certified under the district"
tree_node province KT -
tree_node district KT.KPL province
tree_node commune $C district
wait_until 30 "the commune's link" status_field_is commune parent_connected true
# The attacker holds a genuine node key and certificate for the commune's
# area under the district (a stolen or rogue commune server).
PARENT_NAME=district write_server_config fake $C
# Another rogue node, certified under the province instead.
PARENT_NAME=province write_server_config stray $C
must "$FIELDSYNCD" keygen --key "$T/nobody.key" --comment nobody
cp "$T/fake.cert" "$T/nobody.cert" # someone else's certificate

tree_laptop lap1 $C 'Nguyễn Văn An' >/dev/null
tree_laptop lap2 $C 'Lê Thị Hoa' >/dev/null
for i in 1 2 3 4 5; do
  must fs lap1 add --type incident --id "inc_$i" category=theft occurred_at=2026-11-2${i}T21:30 \
    "place=Thôn $i, xã Đắk Nên" status=new 'officer=Nguyễn Văn An'
  must fs lap1 seal # one set per edit: the attacks below replay and alter sets
done
cp -a "$T/lap1" "$T/lap1_copy" # the same signed sets, still in an outbox
sync_ok lap1 commune
# lap2 syncs once (its enrolment goes up the tree), then works offline.
must fs lap2 add --type patrol --id patrol_1 start=2026-11-24T20:00 end=2026-11-24T23:30 \
  'route=Thôn 1 → Thôn 5'
must fs lap2 seal
sync_ok lap2 commune
wait_node_kv 60 province change_sets 6
wait_converged 30 $C commune district province
for i in 1 2 3; do
  must fs lap2 add --type tip --id "tip_$i" received_at=2026-11-25T08:0$i channel=phone \
    status=received "content=Tin báo số $i: nghi vấn đánh bạc"
  must fs lap2 seal
done
assert_eq 3 "$(laptop_outbox lap2)" "lap2's outbox (never synced)"
DIST0=$(state district)
PROV0=$(state province)
DIG0=$(digest_of district $C)
assert_eq "6 6 2 0" "$DIST0" "district before the attacks (sets log devices quarantined)"

step "(a) altered sets the district has never seen: REFUSED E_BADSIG, nothing stored"
R0=$(own_count district refused)
fake altered lap2
assert_contains "$(head -n 1 <<<"$OUT")" "welcome area=$C" "the fake commune is admitted"
assert_eq 3 "$(count_lines "$OUT" "ack status=")" "acks for the 3 altered sets"
assert_eq 3 "$(count_lines "$OUT" "ack status=REFUSED")" "altered sets refused"
assert_eq 3 "$(count_lines "$OUT" "reason=E_BADSIG")" "reason the sender sees"
assert_eq "$DIST0" "$(state district)" "district after the altered sets"
assert_eq "$DIG0" "$(digest_of district $C)" "district digest after the altered sets"
wait_until 10 "the refusals in the district's log" test "$(refusals_logged district E_BADSIG)" -ge 3
assert_eq $((R0 + 3)) "$(own_count district refused)" "refusals on the district's dashboard"
note "$(grep 'event=ingest.refused' "$T/district.log" | head -n 1)"
# The genuine sets, through the real commune: the chain was never touched.
sync_ok lap2 commune
assert_eq "pushed 3 stored 3" "$(sync_counts | cut -d' ' -f1-4)" "lap2's genuine sets"
wait_node_kv 60 district change_sets 9
wait_node_kv 60 province change_sets 9
must "$FIELDSYNCD" records --data "$T/province.data" --area $C
assert_contains "$OUT" 'content="Tin báo số 2: nghi vấn đánh bạc"' "a genuine tip at the province"
DIST0=$(state district)
DIG0=$(digest_of district $C)

step "(b) altered copies of stored sets: REFUSED E_BADSIG, not quarantined as forks"
fake altered lap1_copy
assert_eq 5 "$(count_lines "$OUT" "ack status=REFUSED")" "altered copies refused"
assert_eq 5 "$(count_lines "$OUT" "reason=E_BADSIG")" "reason the sender sees"
assert_eq "$DIST0" "$(state district)" "district after the altered copies (nothing quarantined)"
assert_eq "$DIG0" "$(digest_of district $C)" "district digest after the altered copies"

step "(c) a set the node signed itself: REFUSED, no enrolment, nothing stored"
U0=$(refusals_logged district E_UNKNOWN_PEER)
fake invented lap2
assert_eq 1 "$(count_lines "$OUT" "ack status=")" "one ack for the invented set"
assert_contains "$OUT" "ack status=REFUSED" "invented set refused"
assert_contains "$OUT" "reason=E_UNKNOWN_PEER" "reason the sender sees"
assert_contains "$OUT" "enrolment" "the reason says what is missing"
assert_eq "$DIST0" "$(state district)" "district after the invented set"
wait_until 10 "the refusal in the district's log" test "$(refusals_logged district E_UNKNOWN_PEER)" -gt "$U0"

step "(d) verbatim resend of sets already replicated: DUPLICATE, stored once"
D0=$(own_count district duplicates)
fake verbatim lap1_copy
assert_eq 5 "$(count_lines "$OUT" "ack status=DUPLICATE")" "duplicates acknowledged"
assert_eq 5 "$(count_lines "$OUT" "ack status=")" "acks for the 5 sets"
assert_eq "$DIST0" "$(state district)" "district after the resend (change_sets = log_seq)"
assert_eq "$DIG0" "$(digest_of district $C)" "district digest after the resend"
assert_eq $((D0 + 5)) "$(own_count district duplicates)" "duplicates on the district's dashboard"

step "(e) nodes not certified under the district are refused at the handshake"
fake verbatim lap1_copy stray
assert_contains "$OUT" "error code=E_SCOPE" "a node certified under the province"
assert_contains "$OUT" "another parent" "the sentence says why"
assert_not_contains "$OUT" "ack status=" "nothing pushed by the stray node"
fake verbatim lap1_copy nobody
assert_contains "$OUT" "error code=E_UNKNOWN_PEER" "a node key without its own certificate"
assert_contains "$OUT" "certify-node" "the sentence says what to do"
assert_eq "$DIST0" "$(state district)" "district after the refused handshakes"

step "(f) sets relayed ahead of their predecessors are HELD, then applied in order"
# Laptop lap3's sets 1..3 went to another server of the area ("other", a
# stand-alone node); the fake commune holds copies: sets 1..3, then 4..6.
tree_node other $C -
tree_laptop lap3 $C 'Phạm Minh Châu' >/dev/null
for i in 1 2 3; do
  must fs lap3 add --type patrol --id "p3_$i" start=2026-11-2${i}T20:00 end=2026-11-2${i}T23:30 \
    "route=Tuyến $i: Thôn 2 → Thôn 4"
  must fs lap3 seal
done
cp -a "$T/lap3" "$T/lap3_first"
sync_ok lap3 other
for i in 4 5 6; do must fs lap3 edit p3_1 "notes=Lượt $i" && must fs lap3 seal; done
cp -a "$T/lap3" "$T/lap3_later"
# The district learns lap3's enrolment as a real commune would pass it up.
must "$FIELDSYNCD" cert add --data "$T/district.data" --config "$T/district.ini" "$T/lap3.cert"
fake verbatim lap3_later
assert_eq 3 "$(count_lines "$OUT" "ack status=HELD")" "sets 4..6 ahead of 1..3"
assert_contains "$OUT" "reason=held until change sets 1..3 of this device arrive" "why seq 4 is held"
assert_eq "$DIST0" "$(state district)" "district while 4..6 are held"
fake verbatim lap3_first
assert_eq 3 "$(count_lines "$OUT" "ack status=STORED")" "sets 1..3"
assert_contains "$OUT" "ack status=STORED seq=3 head=6" "the held sets applied after seq 3"
DIST0=$(state district)
assert_eq "15 15 3 0" "$DIST0" "district after the held sets were applied"
wait_node_kv 60 province change_sets 15
must "$FIELDSYNCD" records --data "$T/province.data" --area $C
assert_contains "$(grep " p3_1 " <<<"$OUT")" 'notes="Lượt 6"' "the last edit of the held sets at the province"
fake verbatim lap3_later
assert_eq 3 "$(count_lines "$OUT" "ack status=DUPLICATE")" "4..6 once more"
assert_eq "$DIST0" "$(state district)" "district after 4..6 once more"

step "(g) the province never saw any of the forgeries; the real link is unaffected"
must fs lap1 edit inc_3 status=resolved
sync_ok lap1 commune
wait_node_kv 60 province change_sets 16
assert_eq "16 16 3 0" "$(state district)" "district at the end"
assert_eq "16 16 3 0" "$(state province)" "province at the end"
wait_converged 30 $C commune district province
assert_eq 0 "$(own_count province refused)" "refusals at the province"
sync_ok lap1 commune # pulls lap3's records, which came down from the district
assert_eq "$(digest_of province $C)" "$(laptop_digest lap1 $C)" "lap1 vs province"
for n in commune other district province; do stop_server "$n"; done
pass
