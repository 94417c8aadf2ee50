#!/usr/bin/env bash
# two_laptops_converge - two officers of one commune edit the same records
# offline and end up with the same data as the server.
#
# Checks:
#   - a record made on laptop A reaches laptop B through the server;
#   - both edit the same field offline (different values) and different
#     other fields; after each laptop syncs twice, A, B and the server have
#     equal digests and identical listings, the later edit's value wins, the
#     other fields of both edits survive, and the server records a conflict
#     (the winner never saw the loser);
#   - delete on A then a later edit on B: the edit revives the record with
#     only what was written after the delete, everywhere alike;
#   - edit on B then a later delete on A: the record is deleted everywhere;
#   - a new laptop joining the commune pulls all 1200+ records (several pull
#     batches) and agrees with the server;
#   - a village laptop (scope KT.KPL.DAKNEN.T3) pulls its village's records
#     only, and what it writes reaches the commune's laptops.
. "$(dirname "$0")/lib.sh"

AREA=KT.KPL.DAKNEN

# Both laptops and the server must agree: same digest, same listing.
assert_converged() { # WHAT
  local sd ad bd sl
  sd=$(server_digest commune $AREA)
  ad=$(laptop_digest A $AREA)
  bd=$(laptop_digest B $AREA)
  assert_eq "$sd" "$ad" "$1: digest of laptop A vs server"
  assert_eq "$sd" "$bd" "$1: digest of laptop B vs server"
  must "$FIELDSYNCD" records --data "$T/commune.data" --area $AREA --all
  sl=$OUT
  must fs A list --all
  assert_same_text "$sl" "$OUT" "$1: server records vs laptop A list"
  must fs B list --all
  assert_same_text "$sl" "$OUT" "$1: server records vs laptop B list"
}

# The line of one record at the server (with deleted ones).
server_line() { # ID
  "$FIELDSYNCD" records --data "$T/commune.data" --area $AREA --all | grep " $1 " ||
    fail "record $1 is not at the server"
}

# Both laptops sync twice, alternating (A, B, A, B).
sync_both_twice() {
  sync_ok A commune
  sync_ok B commune
  sync_ok A commune
  sync_ok B commune
}

step "two laptops of one commune"
KA=$(laptop_init A $AREA 'Nguyễn Văn An')
KB=$(laptop_init B $AREA 'Lê Thị Hoa')
KC=$(laptop_init C $AREA 'Phạm Minh Châu')
KV=$(laptop_init V $AREA.T3 'Y Blim Niê')
write_server_config commune $AREA "device = $KA $AREA" "device = $KB $AREA" \
  "device = $KC $AREA" "device = $KV $AREA.T3"
start_server commune

step "A records an incident, B receives it"
must fs A add --type incident --id case01 category=land_dispute occurred_at=2026-11-19T16:00 \
  'place=Rẫy cà phê giáp ranh hộ ông Y Nuôi và hộ bà H’Linh' status=new 'officer=Nguyễn Văn An'
sync_ok A commune
sync_ok B commune
assert_eq "pushed 0 stored 0 pulled 1" "$(sync_counts)" "B's first sync"
must fs B show case01
assert_contains "$OUT" 'place: "Rẫy cà phê giáp ranh hộ ông Y Nuôi và hộ bà H’Linh"' "B sees A's record"

step "both edit case01 offline: same field, different values, other fields"
must fs A edit case01 status=handling 'description=Hai bên đang đo lại ranh giới'
sleep 0.05 # B's edit is the later one by the wall clock as well
must fs B edit case01 status=resolved 'officer=Lê Thị Hoa'
sync_both_twice
assert_converged "after concurrent edits"
LINE=$(server_line case01)
assert_contains "$LINE" "status=resolved" "the later edit (B) wins the status"
assert_not_contains "$LINE" "status=handling" "the earlier value is gone"
assert_contains "$LINE" 'description="Hai bên đang đo lại ranh giới"' "A's other field survives"
assert_contains "$LINE" 'officer="Lê Thị Hoa"' "B's other field survives"
assert_eq 1 "$(kv "$(server_status commune)" conflicts)" "conflicts recorded at the server"

step "delete on A, then a later edit on B (offline): the edit revives"
must fs A add --type mediation --id case02 'parties=Hộ ông A Ma và hộ ông Y Blim' subject=neighbours \
  date=2026-11-18
sync_ok A commune
sync_ok B commune
must fs A delete case02
sleep 0.05
must fs B edit case02 outcome=reconciled
sync_both_twice
assert_converged "after delete then edit"
LINE=$(server_line case02)
assert_not_contains "$LINE" " deleted" "case02 is visible again"
assert_contains "$LINE" "outcome=reconciled" "the reviving edit"
assert_not_contains "$LINE" "parties=" "fields from before the delete stay hidden"

step "edit on B, then a later delete on A (offline): the delete wins"
must fs A add --type tip --id case03 received_at=2026-11-21T07:15 channel=phone status=received \
  'content=Tin báo về người lạ'
sync_ok A commune
sync_ok B commune
must fs B edit case03 status=verifying 'content=Hai người đi xe máy không biển số'
sleep 0.05
must fs A delete case03
sync_both_twice
assert_converged "after edit then delete"
LINE=$(server_line case03)
assert_contains "$LINE" "$AREA case03 tip deleted" "case03 is deleted"
must fs B list
assert_not_contains "$OUT" "case03" "B no longer lists case03"

step "a new laptop joins and pulls everything, in several batches"
must "$FS_TESTPEER" edits --dir "$T/A" --count 1200 --records 1200
sync_ok A commune
sync_ok C commune
assert_eq "pushed 0 stored 0 pulled 1203" "$(sync_counts)" "C's first sync"
assert_eq "$(server_digest commune $AREA)" "$(laptop_digest C $AREA)" "digest of C vs server"
sync_ok B commune
assert_eq "$(server_digest commune $AREA)" "$(laptop_digest B $AREA)" "digest of B vs server"

step "a village laptop sees its village only"
must fs A add --type patrol --id t3patrol --area $AREA.T3 start=2026-11-21T19:00 \
  end=2026-11-21T22:00 'route=Thôn 3 → rẫy cà phê'
sync_ok A commune
must fs V add --type tip --id t3tip received_at=2026-11-21T20:10 channel=in_person \
  status=received 'content=Người lạ hỏi đường vào rẫy'
sync_ok V commune
assert_eq "pushed 1 stored 1 pulled 1" "$(sync_counts)" "V's first sync (its own tip is not sent back)"
must fs V list --all
assert_same_text "$AREA.T3 t3patrol patrol end=2026-11-21T22:00 route=\"Thôn 3 → rẫy cà phê\" start=2026-11-21T19:00
$AREA.T3 t3tip tip channel=in_person content=\"Người lạ hỏi đường vào rẫy\" received_at=2026-11-21T20:10 status=received" "$OUT" "V's records"
assert_eq "$(server_digest commune $AREA.T3)" "$(laptop_digest V $AREA.T3)" "village digest of V vs server"
for l in A B C; do sync_ok $l commune; done
assert_converged "after the village joined"
must fs C show t3tip
assert_contains "$OUT" 'content: "Người lạ hỏi đường vào rẫy"' "V's tip reached C"

step "nothing is left to move"
for l in A B C V; do
  sync_ok $l commune
  assert_eq "pushed 0 stored 0 pulled 0" "$(sync_counts)" "idle sync of $l"
  assert_eq 0 "$(laptop_outbox $l)" "outbox of $l"
done
SS=$(server_status commune)
assert_eq $((9 + 1200 + 2)) "$(kv "$SS" change_sets)" "change sets at the server (A: 6+1200+1, B: 3, V: 1)"
assert_eq $((3 + 1200 + 2)) "$(kv "$SS" records)" "records at the server"
assert_eq 3 "$(kv "$SS" devices)" "devices that wrote (C only read)"

stop_server commune
pass
