#!/usr/bin/env bash
# trust_sealed - an informant's identity is sealed on the laptop for the one
# unit entitled to read it: no server, not the laptop itself, can read it
# afterwards (docs/SECURITY.md "Sealed fields").
#
#   province KT  <-  district KT.KPL  <-  commune KT.KPL.DAKNEN  <-  laptop
#
# Checks:
#   (a) a tip recorded with informant_name/phone/address shows them as
#       <sealed> in fieldsync list and show on the laptop itself, and the
#       laptop's store (data.mdb) holds none of them in clear;
#   (b) after the sync and replication, fieldsyncd records shows <sealed> at
#       the commune, the district and the province; no file of any server's
#       data directory (data.mdb, lock.mdb), no server log and no report holds
#       the name, the phone or the address in clear;
#   (c) fieldsyncd admin open with the deployment's sealing key shows them,
#       at every level, byte for byte; with the sealing key of another
#       deployment, and with the network key every member holds, it does
#       not ("<sealed to another key>", 0 opened);
#   (d) a laptop enrolled without --seal-key refuses (exit 2, a sentence
#       saying what to do) to record an informant's name, phone or address
#       rather than store it in clear: nothing in its outbox, nothing in its
#       store; a tip without them is recorded and synced;
#   (e) a modified laptop that signs an informant's name in clear is refused
#       at the commune (E_INVAL, "must be sealed"), and the name is nowhere
#       on the server, not even in its log.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/trust_lib.sh"

C=KT.KPL.DAKNEN
NAME='Hà Thị MATDANH Xuân'
PHONE=0987654321
ADDR='Thôn 7, xóm BIMAT, xã Đắk Nên'
SECRETS=("$NAME" MATDANH "$PHONE" BIMAT)

# in_clear PATH...: the secrets found in clear in these files (byte search);
# prints "FILE: SECRET" per hit, nothing when there is none.
in_clear() {
  local s f
  for f in "$@"; do
    [[ -f $f ]] || continue
    for s in "${SECRETS[@]}" "${EXTRA_SECRETS[@]}"; do
      LC_ALL=C grep -qaF -- "$s" "$f" && echo "$f: $s"
    done
  done
  return 0
}
EXTRA_SECRETS=()

# assert_sealed_view TEXT WHAT: all three informant fields show <sealed>,
# none of the secrets appears.
assert_sealed_view() {
  local s f
  for f in informant_name informant_phone informant_address; do
    assert_contains "$1" "$f=<sealed>" "$2: $f"
  done
  for s in "${SECRETS[@]}"; do assert_not_contains "$1" "$s" "$2"; done
}

# The search itself finds a secret hidden among random bytes (so that an
# empty answer below means something).
{ head -c 4096 /dev/urandom; printf '%s' "$NAME"; head -c 4096 /dev/urandom; } >"$T/control.bin"
assert_eq "$T/control.bin: $NAME" "$(in_clear "$T/control.bin" | head -n 1)" "the search for secrets"

step "the tree and the laptop"
trust_node province KT -
trust_node district KT.KPL province
trust_node commune $C district
AN=$(laptop_init an $C 'Nguyễn Văn An')
enrol_laptop "$AN" $C

step "(a) a tip with its informant, recorded offline"
tip an tip0001 "informant_name=$NAME" "informant_phone=$PHONE" "informant_address=$ADDR"
must fs an list
assert_sealed_view "$OUT" "fieldsync list on the laptop"
assert_contains "$OUT" 'content="Tin báo tip0001"' "the unsealed content is readable"
must fs an show tip0001
assert_contains "$OUT" "informant_name: <sealed>" "fieldsync show on the laptop"
for s in "${SECRETS[@]}"; do assert_not_contains "$OUT" "$s" "fieldsync show on the laptop"; done
assert_eq "" "$(in_clear "$T/an/store/"*)" "secrets in clear in the laptop's store"

step "(b) replicated to every level, sealed everywhere"
sync_ok an commune
wait_record 60 province $C tip0001
wait_converged 60 $C commune district province
for n in commune district province; do
  must "$FIELDSYNCD" records --data "$T/$n.data" --area $C
  assert_sealed_view "$OUT" "fieldsyncd records at $n"
  assert_eq "" "$(in_clear "$T/$n.data/"*)" "secrets in clear in $n's data directory"
  assert_eq "" "$(in_clear "$T/$n.log")" "secrets in clear in $n's log"
  must "$FIELDSYNCD" report --data "$T/$n.data" --area KT --json
  for s in "${SECRETS[@]}"; do assert_not_contains "$OUT" "$s" "report at $n"; done
  assert_ne "" "$(ls "$T/$n.data/")" "$n's data directory"
done

step "(c) the sealing key opens them, at every level"
for n in commune district province; do
  must "$FIELDSYNCD" admin open --seal-key "$T/admin/seal.key" --data "$T/$n.data" --area $C
  assert_contains "$OUT" "informant_name=\"$NAME\"" "admin open at $n: the name"
  assert_contains "$OUT" "informant_phone=$PHONE" "admin open at $n: the phone"
  assert_contains "$OUT" "informant_address=\"$ADDR\"" "admin open at $n: the address"
  assert_contains "$ERR" "opened 3 sealed value(s); 0 sealed to another key" "admin open at $n"
done

step "(c) another deployment's sealing key, or the network key, do not"
must "$FIELDSYNCD" admin init --dir "$T/other"
for key in "$T/other/seal.key" "$T/admin/network.key"; do
  must "$FIELDSYNCD" admin open --seal-key "$key" --data "$T/province.data" --area $C
  assert_contains "$OUT" "informant_name=<sealed to another key>" "admin open with $key"
  for s in "${SECRETS[@]}"; do assert_not_contains "$OUT" "$s" "admin open with $key"; done
  assert_contains "$ERR" "opened 0 sealed value(s); 3 sealed to another key" "admin open with $key"
done

step "(d) a laptop without the sealing key refuses to record an informant"
NS=$(laptop_init noseal $C 'Phạm Văn Không')
must "$FIELDSYNCD" admin enrol --admin-key "$T/admin/root.key" --device "$NS" \
  --officer 'Phạm Văn Không' --officer-id CA-0099 --area $C --out "$T/noseal.cert"
must fs noseal enrol --cert "$T/noseal.cert" --network-key "$T/admin/network.key" --root "$(root_key)"
for f in "informant_name=$NAME" "informant_phone=$PHONE" "informant_address=$ADDR"; do
  expect_exit 2 fs noseal add --type tip --id ns0001 received_at=2026-11-20T08:00 channel=phone \
    status=received 'content=Tin báo có người báo' "$f"
  assert_contains "$ERR" "refused, nothing was recorded" "${f%%=*} without a sealing key"
  assert_contains "$ERR" "--seal-key seal.key.pub" "the sentence says what to do"
done
assert_eq 0 "$(laptop_outbox noseal)" "the outbox of the laptop without a sealing key"
assert_eq 0 "$(kv "$(laptop_status noseal)" seq)" "its sequence number"
tip noseal ns0002
expect_exit 2 fs noseal edit ns0002 "informant_phone=$PHONE"
assert_contains "$ERR" "refused, nothing was recorded" "adding an informant's phone later"
assert_eq 1 "$(laptop_outbox noseal)" "the outbox: the tip without informant only"
must fs noseal list
for s in "${SECRETS[@]}"; do assert_not_contains "$OUT" "$s" "fieldsync list without a sealing key"; done
assert_eq "" "$(in_clear "$T/noseal/store/"*)" "secrets in the store of the laptop without a sealing key"
sync_ok noseal commune
assert_eq "pushed 1 stored 1" "$(sync_counts | cut -d' ' -f1-4)" "its tip without informant"

step "(e) a modified laptop sending the name in clear is refused at the edge"
CL=$(laptop_init clear $C)
enrol_laptop "$CL" $C
EXTRA_SECRETS=(CLEARTEXT-INFORMANT)
S0=$(node_kv commune change_sets)
peer clear-sealed clear commune
note "the commune says: $(nth 3 | cut -c1-160)"
assert_contains "$(nth 3)" "ack status=REFUSED" "a set with the informant's name in clear"
assert_contains "$(nth 3)" "reason=E_INVAL" "reason of the refusal"
assert_contains "$(nth 3)" "informant_name must be sealed on the laptop" "the sentence says why"
assert_not_contains "$(nth 3)" "CLEARTEXT-INFORMANT" "the refusal repeats the name"
assert_eq "$S0" "$(node_kv commune change_sets)" "change sets at the commune"
sleep 1 # the refusal is logged after the commit
assert_eq "" "$(in_clear "$T/commune.data/"* "$T/commune.log")" "the clear name at the commune"

for n in commune district province; do server_alive "$n" || fail "server $n died"; done
for n in commune district province; do stop_server "$n"; done
pass
