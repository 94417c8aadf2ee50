#!/usr/bin/env bash
# trust_enrolment - who may write what, and where: enrolments, their expiry,
# their area scope and delegated administrators (docs/SECURITY.md,
# "Certificates", "Authorization"; README "Enrolling a laptop").
#
#   province KT  <-  commune daknen KT.KPL.DAKNEN
#                <-  commune hieu   KT.KPL.HIEU
#                <-  commune ngochoi KT.DH.NGOCHOI (certified by the
#                    district administrator of KT.DH, a delegated key)
#
# Checks:
#   (a) the README's enrolment flow, typed as the officer and the
#       administrators would (a deployment of its own, a node key, a node
#       certificate, the INI, check-config, the laptop's key read out, the
#       enrolment, an incident, a sync), works end to end: the commune holds
#       the incident and the laptop's enrolment, digests agree;
#   (b) an enrolment that expired (--valid-until in the past) is refused by
#       the laptop when installed, its sync is refused locally, a handshake
#       presenting it is refused by the commune with E_EXPIRED, and its change
#       sets relayed by a certified child node are REFUSED E_EXPIRED;
#   (c) a laptop enrolled for KT.KPL.HIEU cannot write into KT.KPL.DAKNEN:
#       refused locally (exit 2, nothing in the outbox); its laptop refuses the
#       DAKNEN commune as a server for its area; the DAKNEN commune refuses its
#       handshake with E_SCOPE; even the province (whose area covers both)
#       refuses its set for another area with E_SCOPE; at the province it
#       pulls only KT.KPL.HIEU records; an enrolment for another area than
#       the laptop's own is refused when installed;
#   (d) a district administrator delegated KT.DH certifies a commune and
#       enrols a laptop in KT.DH: it syncs, its records reach the province;
#       it revokes that laptop (refused with E_REVOKED), but a revocation it
#       signs for a KT.KPL laptop (naming its own area) is ignored;
#       the admin tool refuses to sign an enrolment or a node certificate
#       in KT.KPL with that delegation; one signed without it is refused by
#       the laptop and, presented in a handshake anyway, by the
#       DAKNEN commune, which does not store it; a node it certifies in
#       KT.KPL does not start.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/trust_lib.sh"

D=KT.KPL.DAKNEN
H=KT.KPL.HIEU
N=KT.DH.NGOCHOI

step "(a) the README's enrolment flow, typed by hand"
must "$FIELDSYNCD" admin init --dir "$T/kontum"
KROOT=$OUT
[[ $KROOT =~ ^[0-9a-f]{64}$ ]] || fail "admin init printed [$KROOT], not a root key"
for f in root.key root.key.pub network.key seal.key seal.key.pub; do
  [[ -f "$T/kontum/$f" ]] || fail "admin init did not make $f"
done
must "$FIELDSYNCD" keygen --key "$T/readme-node.key"
NK=$OUT
must "$FIELDSYNCD" admin certify-node --admin-key "$T/kontum/root.key" --key "$NK" \
  --id dak-nen --area $D --level commune --out "$T/dak-nen.cert"
ADMIN_PORT[readme]=$(free_port)
cat >"$T/readme.ini" <<EOF
[node]
id = dak-nen
area = $D
data = $T/readme.data
key = $T/readme-node.key
cert = $T/dak-nen.cert
network_key = $T/kontum/network.key
root_key = $KROOT
listen = 127.0.0.1:1              ; laptops and child nodes connect here
admin = 127.0.0.1:${ADMIN_PORT[readme]}  ; dashboard, /api/status, /metrics
EOF
must "$FIELDSYNCD" check-config --config "$T/readme.ini"
assert_contains "$OUT" "ok (node dak-nen, area $D)" "check-config"
start_server readme
run "$FIELDSYNC" init --dir "$T/an" --area $D --officer 'Nguyễn Văn An'
[[ $RC == 0 && $OUT =~ ^[0-9a-f]{64}$ ]] || fail "fieldsync init did not print a key"
AN=$OUT
assert_contains "$ERR" "give this key to the commune administrator" "init tells the officer"
must "$FIELDSYNCD" admin enrol --admin-key "$T/kontum/root.key" --device "$AN" \
  --officer 'Nguyễn Văn An' --officer-id CA-0423 --area $D --days 365 --out "$T/an.cert"
must "$FIELDSYNC" enrol --dir "$T/an" --cert "$T/an.cert" --network-key "$T/kontum/network.key" \
  --root "$KROOT" --seal-key "$T/kontum/seal.key.pub"
assert_eq "enrolled: Nguyễn Văn An" "$OUT" "fieldsync enrol"
must "$FIELDSYNC" add --dir "$T/an" --type incident category=theft occurred_at=2026-11-20T21:15 \
  'place=Thôn 3' status=new 'officer=Nguyễn Văn An'
INC=$OUT
must "$FIELDSYNC" sync --dir "$T/an" --server "$(server_addr readme)"
assert_contains "$OUT" "synced with dak-nen: pushed 1 change sets (1 new at the server)" "first sync"
must "$FIELDSYNCD" records --data "$T/readme.data" --area $D
assert_contains "$OUT" "$D $INC incident" "the incident at the commune"
assert_contains "$OUT" 'place="Thôn 3"' "its place"
assert_contains "$(certs_of readme)" "device Nguyễn Văn An (CA-0423) $AN area=$D" \
  "the enrolment the laptop presented, stored at the commune"
assert_eq "$(server_digest readme $D)" "$(laptop_digest an $D)" "laptop and commune digests"
must "$FIELDSYNC" status --dir "$T/an"
assert_contains "$OUT" "outbox=0" "laptop status"
assert_not_contains "$OUT" "last_sync=never" "laptop status after the sync"
stop_server readme

step "the tree: province, two KT.KPL communes"
trust_node province KT -
trust_node daknen $D province
trust_node hieu $H province

step "(b) an expired enrolment"
OLD=$(laptop_init old $D)
must "$FIELDSYNCD" admin enrol --admin-key "$T/admin/root.key" --device "$OLD" \
  --officer 'Cán bộ cũ' --officer-id CA-0001 --area $D --valid-until 2020-01-31 --out "$T/old.cert"
expect_exit 2 fs old enrol --cert "$T/old.cert" --network-key "$T/admin/network.key" \
  --root "$(root_key)" --seal-key "$T/admin/seal.key.pub"
assert_contains "$ERR" "holds no valid enrolment" "the laptop refuses an expired enrolment"
assert_contains "$ERR" "not valid at this time" "and says why"
tip old old0001
tip old old0002
expect_exit 2 fs old sync --server "$(server_addr daknen)"
assert_contains "$ERR" "not enrolled yet" "sync of a laptop without a valid enrolment"
# The laptop CLI never reaches a server with it: present it as a laptop
# whose enrolment ran out would (its store holds it).
must "$FIELDSYNCD" cert add --data "$T/old/store" --config "$T/daknen.ini" "$T/old.cert"
peer hello old daknen
note "the commune says: $(nth 1)"
assert_contains "$(nth 1)" "error code=E_EXPIRED" "handshake with an expired enrolment"
assert_contains "$(nth 1)" "not valid at this time" "the sentence says why"
assert_eq "closed" "$(nth 2)" "connection after the refusal"
S0=$(node_kv daknen change_sets)
PARENT_NAME=daknen write_server_config fake $D # a certified child node of daknen
must timeout 120 "$FS_TESTPEER" relay --dir "$T/old" --server "$(server_addr daknen)" \
  --node-key "$T/fake.key" --node-cert "$T/fake.cert" --network-key "$T/admin/network.key" \
  --mode verbatim
note "relayed: $(grep -m 1 '^ack' <<<"$OUT")"
assert_eq 2 "$(grep -c '^ack status=REFUSED .*reason=E_EXPIRED' <<<"$OUT")" \
  "the expired laptop's sets relayed by a node"
assert_eq "$S0" "$(node_kv daknen change_sets)" "change sets at the commune"
has_record daknen $D old0001 && fail "old0001 is at the commune"

step "(c) a laptop of KT.KPL.HIEU cannot write into KT.KPL.DAKNEN"
HK=$(laptop_init hieu1 $H)
enrol_laptop "$HK" $H
expect_exit 2 fs hieu1 add --type tip --area $D received_at=2026-11-20T08:00 channel=phone \
  status=received 'content=ngoài địa bàn'
assert_contains "$ERR" "area $D lies outside this laptop's area" "refused locally"
assert_eq 0 "$(laptop_outbox hieu1)" "outbox after the refusal"
tip hieu1 hieu0001
S0=$(node_kv daknen change_sets)
expect_exit 2 fs hieu1 sync --server "$(server_addr daknen)"
assert_contains "$ERR" "is not a certified node for area $H" "the laptop refuses daknen"
assert_eq 1 "$(laptop_outbox hieu1)" "outbox after the refused sync"
peer hello hieu1 daknen
note "daknen says: $(nth 1)"
assert_contains "$(nth 1)" "error code=E_SCOPE" "daknen refuses the HIEU laptop"
assert_contains "$(nth 1)" "lies outside node daknen's area $D" "the sentence says why"
assert_eq "closed" "$(nth 2)" "connection after the refusal"
assert_eq "$S0" "$(node_kv daknen change_sets)" "change sets at daknen"
sync_ok hieu1 hieu
assert_eq "pushed 1 stored 1" "$(sync_counts | cut -d' ' -f1-4)" "the HIEU laptop at its commune"

# A set for another area, pushed where the server's own area covers it.
HK2=$(laptop_init hieu2 $H)
enrol_laptop "$HK2" $H
S0=$(node_kv province change_sets)
peer scope hieu2 province
assert_contains "$(nth 1)" "welcome area=$H " "the province grants the enrolment's area only"
assert_contains "$(nth 3)" "ack status=REFUSED" "a HIEU device's set for another area"
assert_contains "$(nth 3)" "reason=E_SCOPE" "reason of the refusal"
assert_eq "$S0" "$(node_kv province change_sets)" "change sets at the province"

step "(c) pulls stay within the enrolment's area"
DK=$(laptop_init dak1 $D)
enrol_laptop "$DK" $D
tip dak1 dak0001
sync_ok dak1 daknen
wait_record 60 province $D dak0001
wait_record 60 province $H hieu0001
sync_ok hieu1 province
must fs hieu1 list
assert_contains "$OUT" "$H hieu0001 tip" "the HIEU laptop's own record"
assert_not_contains "$OUT" "$D" "records of DAKNEN on the HIEU laptop"
assert_not_contains "$OUT" "dak0001" "DAKNEN's tip on the HIEU laptop"

step "(c) an enrolment for another area than the laptop's own"
MK=$(laptop_init mixup $D)
must "$FIELDSYNCD" admin enrol --admin-key "$T/admin/root.key" --device "$MK" \
  --officer 'Cán bộ nhầm' --officer-id CA-0002 --area $H --out "$T/mixup.cert"
expect_exit 2 fs mixup enrol --cert "$T/mixup.cert" --network-key "$T/admin/network.key" \
  --root "$(root_key)"
assert_contains "$ERR" "holds no valid enrolment" "enrolment for HIEU on a DAKNEN laptop"
assert_contains "$ERR" "outside the permitted scope" "and says why"

step "(d) a delegated district administrator for KT.DH"
must "$FIELDSYNCD" keygen --key "$T/dh-admin.key" --comment 'district admin KT.DH'
must "$FIELDSYNCD" admin delegate --admin-key "$T/admin/root.key" --key "$T/dh-admin.key.pub" \
  --area KT.DH --out "$T/dh-admin.cert"
NODE_ADMIN_KEY=$T/dh-admin.key NODE_CHAIN=$T/dh-admin.cert trust_node ngochoi $N province
NGK=$(laptop_init ng1 $N 'Y Bơ Niê')
must "$FIELDSYNCD" admin enrol --admin-key "$T/dh-admin.key" --chain "$T/dh-admin.cert" \
  --device "$NGK" --officer 'Y Bơ Niê' --officer-id CA-DH-01 --area $N --out "$T/ng1.cert"
must fs ng1 enrol --cert "$T/ng1.cert" --network-key "$T/admin/network.key" --root "$(root_key)" \
  --seal-key "$T/admin/seal.key.pub"
assert_eq "enrolled: Y Bơ Niê" "$OUT" "a laptop enrolled by the delegated key"
tip ng1 ng0001
sync_ok ng1 ngochoi
assert_eq "pushed 1 stored 1" "$(sync_counts | cut -d' ' -f1-4)" "the delegated laptop's sync"
wait_record 60 province $N ng0001

step "(d) the delegated key revokes its own laptops, not another district's"
must "$FIELDSYNCD" admin revoke --admin-key "$T/dh-admin.key" --chain "$T/dh-admin.cert" \
  --key "$NGK" --area $N --out "$T/rev-ng1.cert"
must "$FIELDSYNCD" admin revoke --admin-key "$T/dh-admin.key" --chain "$T/dh-admin.cert" \
  --key "$DK" --area KT.DH --out "$T/rev-dak1.cert" # its own area named, a KT.KPL laptop
must "$FIELDSYNCD" cert add --data "$T/ngochoi.data" --config "$T/ngochoi.ini" "$T/rev-ng1.cert"
must "$FIELDSYNCD" cert add --data "$T/daknen.data" --config "$T/daknen.ini" "$T/rev-dak1.cert"
expect_exit 2 fs ng1 sync --server "$(server_addr ngochoi)"
assert_contains "$ERR" "E_REVOKED" "the KT.DH laptop revoked by its district administrator"
tip dak1 dak0002
sync_ok dak1 daknen
assert_eq "pushed 1 stored 1" "$(sync_counts | cut -d' ' -f1-4)" \
  "a KT.KPL laptop 'revoked' by the KT.DH administrator still syncs"

step "(d) the delegated key cannot enrol in KT.KPL"
BK=$(laptop_init dh2 $D)
# With its delegation at hand the admin tool refuses to sign outside it...
expect_exit 2 "$FIELDSYNCD" admin enrol --admin-key "$T/dh-admin.key" --chain "$T/dh-admin.cert" \
  --device "$BK" --officer 'Ngoài quyền' --officer-id CA-DH-02 --area $D --out "$T/dh2.cert"
assert_contains "$ERR" "delegation covers KT.DH, not $D" "admin enrol outside the delegation"
[[ ! -e "$T/dh2.cert" ]] || fail "admin enrol wrote $T/dh2.cert all the same"
# ...and an enrolment signed without it (the chain added by hand) is
# refused by the laptop and, presented in a handshake anyway, by the
# commune, which stores nothing of it.
must "$FIELDSYNCD" admin enrol --admin-key "$T/dh-admin.key" --device "$BK" \
  --officer 'Ngoài quyền' --officer-id CA-DH-02 --area $D --out "$T/dh2.only"
cat "$T/dh-admin.cert" "$T/dh2.only" >"$T/dh2.cert"
expect_exit 2 fs dh2 enrol --cert "$T/dh2.cert" --network-key "$T/admin/network.key" \
  --root "$(root_key)"
assert_contains "$ERR" "holds no valid enrolment" "the laptop refuses it"
peer hello-cert dh2 daknen --cert "$T/dh2.cert"
note "daknen says: $(nth 2)"
[[ $(nth 2) =~ ^error\ code=(E_UNTRUSTED|E_UNKNOWN_PEER) ]] ||
  fail "daknen should refuse an enrolment outside the delegation: [$(nth 2)]"
assert_eq "closed" "$(nth 3)" "connection after the refusal"
assert_not_contains "$(certs_of daknen)" "$BK" "daknen stores no certificate for that laptop"

step "(d) a node the delegated key certifies in KT.KPL does not start"
write_server_config rogue KT.KPL.ROGUE
# With its delegation at hand the admin tool refuses to sign outside it...
rm -f "$T/rogue.cert"
expect_exit 2 "$FIELDSYNCD" admin certify-node --admin-key "$T/dh-admin.key" \
  --chain "$T/dh-admin.cert" --key "$T/rogue.key.pub" --id rogue --area KT.KPL.ROGUE \
  --parent "$T/province.key.pub" --out "$T/rogue.cert"
assert_contains "$ERR" "delegation covers KT.DH, not KT.KPL.ROGUE" "admin certify-node outside the delegation"
# ...and a certificate signed without it (the chain added by hand) is
# refused by the node itself.
must "$FIELDSYNCD" admin certify-node --admin-key "$T/dh-admin.key" --key "$T/rogue.key.pub" \
  --id rogue --area KT.KPL.ROGUE --parent "$T/province.key.pub" --out "$T/rogue.only"
cat "$T/dh-admin.cert" "$T/rogue.only" >"$T/rogue.cert"
expect_exit 2 timeout 60 "$FIELDSYNCD" run --config "$T/rogue.ini" --listen "127.0.0.1:$(free_port)"
assert_contains "$ERR" "event=server.cert" "the rogue node's start"
assert_contains "$ERR" "must be issued for this node's key and area KT.KPL.ROGUE by the deployment root or a delegate" \
  "the rogue node is told why"

for n in province daknen hieu ngochoi; do
  server_alive "$n" || fail "server $n died"
done
for n in ngochoi hieu daknen province; do stop_server "$n"; done
pass
