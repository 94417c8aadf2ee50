#!/usr/bin/env bash
# trust_revocation - a lost laptop is revoked: the revocation travels the
# tree, the laptop is refused everywhere, what it signed up to last_seq
# stays, what it signed after is refused everywhere, also when relayed by a
# node from below and when the revocation arrives in the middle of a sync
# (docs/SECURITY.md "Revocation"; README "A lost laptop").
#
#   province KT  <-  district KT.KPL  <-  commune KT.KPL.DAKNEN (real)
#                                    <-  "fake": fs_testpeer relay with a
#                                        genuine node key and certificate
#                                        for KT.KPL.DAKNEN under the district
#
# Checks:
#   (a) a revocation installed at the province (fieldsyncd cert add) reaches
#       the district and the commune (cert list) within a bounded time (the
#       test prints how long it took);
#   (b) the revoked laptop's sync is refused with E_REVOKED at the commune,
#       and at the district and the province too; its outbox is kept;
#   (c) its sets 1..last_seq (synced before) stay at every level; its later
#       sets relayed verbatim by the fake commune to the district are each
#       REFUSED E_REVOKED; a second revoked laptop whose sets the district
#       never saw, relayed in one push, gets 1..last_seq STORED and the rest
#       REFUSED E_REVOKED; nothing after last_seq is at any level, what was
#       stored converges up to the province;
#   (d) mid-sync, on a held session: a session past Welcome (and a Pull)
#       pushes after a revocation with last_seq 0 was installed at the commune
#       directly: REFUSED E_REVOKED, nothing stored; that revocation travels
#       up to the province;
#   (e) mid-sync, a real laptop with a long outbox (5000 sets, 256 per
#       push): paused (SIGSTOP) after the commune welcomed it and stored its
#       first H sets, a revocation with last_seq H+10 is installed at the
#       commune; resumed, it gets sets H+1..H+10 stored and is refused at
#       H+11 (E_REVOKED, exit 2, the rest kept in its outbox); every level
#       ends with exactly H+10 of its sets (the newest edit visible anywhere
#       is number H+9);
#   (f) a revoked node: the fake commune's own key revoked, its relay is
#       refused at the handshake (E_REVOKED);
#   every server stays up and stops cleanly.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/trust_lib.sh"

C=KT.KPL.DAKNEN
LONG_N=5000

# fake LAPTOP: the fake commune pushes LAPTOP's outbox verbatim to the
# district; its lines in OUT.
fake() {
  must timeout 120 "$FS_TESTPEER" relay --dir "$T/$1" --server "$(server_addr district)" \
    --node-key "$T/fake.key" --node-cert "$T/fake.cert" \
    --network-key "$T/admin/network.key" --mode verbatim
  note "fake commune relays $1: $(grep -E '^(ack|error|welcome|closed)' <<<"$OUT" | cut -c1-90 | tr '\n' '|')"
}

count_lines() { grep -cE -- "$2" <<<"$1" || true; }

# revoke NAME KEY LAST_SEQ: a revocation of KEY signed by the root, $T/NAME.cert.
revoke() {
  must "$FIELDSYNCD" admin revoke --admin-key "$T/admin/root.key" --key "$2" --area $C \
    --last-seq "$3" --out "$T/$1.cert"
}

# absent_everywhere ID...: no level holds any of these records.
absent_everywhere() {
  local id n
  for id in "$@"; do
    for n in commune district province; do
      ! has_record "$n" $C "$id" || fail "$id (after last_seq) is at $n"
    done
  done
}

step "the tree and its laptops"
trust_node province KT -
trust_node district KT.KPL province
trust_node commune $C district
PARENT_NAME=district write_server_config fake $C
LOST=$(laptop_init lost $C 'Nguyễn Văn Mất')
LOST2=$(laptop_init lost2 $C 'Trần Thị Quên')
GOOD=$(laptop_init good $C 'Lê Văn Tốt')
HELD=$(laptop_init held $C)
LONG=$(laptop_init long $C)
for k in "$LOST" "$LOST2" "$GOOD" "$HELD" "$LONG"; do enrol_laptop "$k" $C; done
for i in 1 2 3; do tip lost "lost000$i"; done
sync_ok lost commune
assert_eq "pushed 3 stored 3" "$(sync_counts | cut -d' ' -f1-4)" "the lost laptop's sets 1..3"
sync_ok lost2 commune # nothing to push: it presents its enrolment
tip good good0001
sync_ok good commune
wait_record 60 province $C lost0003
wait_record 60 province $C good0001
wait_cert 60 district "^device .* $LOST2 area=$C" >/dev/null
for i in 4 5 6; do tip lost "lost000$i"; done   # never synced: 4..6
for i in 1 2 3 4 5 6; do tip lost2 "lostb00$i"; done # never synced: 1..6
assert_eq 3 "$(laptop_outbox lost)" "the lost laptop's outbox"

step "(a) revocations installed at the province reach every level"
revoke rev-lost "$LOST" 3
revoke rev-lost2 "$LOST2" 2
must "$FIELDSYNCD" cert add --data "$T/province.data" --config "$T/province.ini" \
  "$T/rev-lost.cert" "$T/rev-lost2.cert"
assert_contains "$OUT" "rev-lost.cert: 1 new certificate(s) installed" "cert add at the province"
TD=$(wait_cert 60 district "^revocation $LOST area=$C last_seq=3 ")
TC=$(wait_cert 60 commune "^revocation $LOST area=$C last_seq=3 ")
wait_cert 60 commune "^revocation $LOST2 area=$C last_seq=2 " >/dev/null
note "the revocation reached the district ${TD}s after it was installed at the province, the commune ${TC}s after that"

step "(b) the revoked laptop is refused at every level"
for n in commune district province; do
  expect_exit 2 fs lost sync --server "$(server_addr "$n")"
  assert_contains "$ERR" "E_REVOKED" "the lost laptop's sync at $n"
  assert_contains "$ERR" "was revoked" "the sentence at $n"
  assert_eq 3 "$(laptop_outbox lost)" "the lost laptop's outbox after the refusal at $n"
done
note "$(head -n 1 <<<"$ERR")"
sync_ok good commune # the others carry on

step "(c) sets after last_seq relayed by a node from below are refused"
S0=$(node_kv district change_sets)
fake lost
assert_contains "$(nth 1)" "welcome area=$C" "the fake commune is admitted"
assert_eq 3 "$(count_lines "$OUT" '^ack status=REFUSED .*reason=E_REVOKED')" \
  "the lost laptop's sets 4..6 at the district"
assert_contains "$OUT" "revoked after change set 3" "the reason names last_seq"
assert_eq "$S0" "$(node_kv district change_sets)" "change sets at the district"
fake lost2
assert_eq 6 "$(count_lines "$OUT" '^ack status=')" "acks for the second laptop's 6 sets"
assert_contains "$OUT" "ack status=STORED seq=1 head=1" "its set 1"
assert_contains "$OUT" "ack status=STORED seq=2 head=2" "its set 2"
assert_eq 4 "$(count_lines "$OUT" '^ack status=REFUSED .*reason=E_REVOKED')" "its sets 3..6"
assert_eq $((S0 + 2)) "$(node_kv district change_sets)" "change sets at the district"
wait_record 60 province $C lostb002
wait_record 60 commune $C lostb002 # records come down to the commune too
wait_converged 60 $C commune district province
for n in commune district province; do
  for id in lost0001 lost0002 lost0003 lostb001 lostb002; do
    has_record "$n" $C "$id" || fail "$id (up to last_seq) is missing at $n"
  done
done
absent_everywhere lost0004 lost0005 lost0006 lostb003 lostb004 lostb005 lostb006
grep -q 'event=ingest.refused.*E_REVOKED' "$T/district.log" || fail "no E_REVOKED refusal logged at the district"

step "(d) a revocation arriving on a session past Welcome"
mkfifo "$T/hold.in"
"$FS_TESTPEER" hold --dir "$T/held" --server "$(server_addr commune)" \
  <"$T/hold.in" >"$T/hold.out" 2>&1 &
HOLD_PID=$!
BG_PIDS+=("$HOLD_PID")
exec 7>"$T/hold.in"
wait_until 30 "the held session to be ready" grep -q '^ready' "$T/hold.out"
revoke rev-held "$HELD" 0
must "$FIELDSYNCD" cert add --data "$T/commune.data" --config "$T/commune.ini" "$T/rev-held.cert"
S0=$(node_kv commune change_sets)
echo go >&7
exec 7>&-
wait_pid "$HOLD_PID" 60
[[ $WAITED == 0 ]] || fail "the held session's peer failed: $(cat "$T/hold.out")"
note "held session: $(tr '\n' '|' <"$T/hold.out")"
assert_contains "$(cat "$T/hold.out")" "ack status=REFUSED seq=1" "push after the revocation"
assert_contains "$(cat "$T/hold.out")" "reason=E_REVOKED" "reason of the refusal"
assert_eq "$S0" "$(node_kv commune change_sets)" "change sets at the commune"
TP=$(wait_cert 60 province "^revocation $HELD area=$C last_seq=0 ")
note "the revocation installed at the commune reached the province after ${TP}s"

step "(e) a revocation arriving between two pushes of a long outbox"
must "$FS_TESTPEER" edits --dir "$T/long" --count $LONG_N
assert_eq $LONG_N "$(laptop_outbox long)" "the long outbox"
S0=$(wait_quiet 30 commune)
K16=${LONG:0:16}
"$FIELDSYNC" sync --dir "$T/long" --server "$(server_addr commune)" \
  >"$T/long-sync.out" 2>"$T/long-sync.err" &
SYNC_PID=$!
BG_PIDS+=("$SYNC_PID")
for ((i = 0; i < 1500; i++)); do # up to 30 s
  grep -q "event=session.ready.*role=device key=$K16" "$T/commune.log" && break
  kill -0 "$SYNC_PID" 2>/dev/null || break
  sleep 0.02
done
kill -STOP "$SYNC_PID" 2>/dev/null || fail "the long sync ended before it could be paused"
grep -q "event=session.ready.*role=device key=$K16" "$T/commune.log" ||
  fail "the commune never welcomed the long laptop"
H=$(($(wait_quiet 30 commune) - S0))
note "paused after the commune stored $H of $LONG_N sets"
((H + 10 < LONG_N)) || fail "the sync was nearly done ($H of $LONG_N) before it could be paused"
revoke rev-long "$LONG" $((H + 10))
must "$FIELDSYNCD" cert add --data "$T/commune.data" --config "$T/commune.ini" "$T/rev-long.cert"
kill -CONT "$SYNC_PID"
wait_pid "$SYNC_PID" 120
assert_eq 2 "$WAITED" "exit status of the sync revoked mid-way"
ERR=$(cat "$T/long-sync.err")
note "$(head -n 1 <<<"$ERR")"
assert_contains "$ERR" "refused change set $((H + 11))" "where the laptop was stopped"
assert_contains "$ERR" "E_REVOKED" "why"
assert_eq $((LONG_N - H - 10)) "$(laptop_outbox long)" "the long laptop's outbox"
assert_eq $((S0 + H + 10)) "$(wait_quiet 30 commune)" "change sets at the commune"
# Every level: the same sets (district and province also hold lost2's two
# relayed ones), and the newest patrol edit seen is number H+9.
wait_until 60 "the district to hold the commune's sets" \
  test "$(node_kv district change_sets)" -eq $((S0 + H + 10 + 2))
wait_until 60 "the province to hold the district's sets" \
  test "$(node_kv province change_sets)" -eq $((S0 + H + 10 + 2))
wait_converged 60 $C commune district province
for n in commune district province; do
  must "$FIELDSYNCD" records --data "$T/$n.data" --area $C
  MAXN=$(grep -o 'notes="lượt tuần tra [0-9]*"' <<<"$OUT" | grep -o '[0-9]*' | sort -n | tail -n 1)
  assert_eq $((H + 9)) "$MAXN" "the newest of the long laptop's edits at $n"
done
sleep 2 # a little longer: nothing more arrives anywhere
assert_eq $((S0 + H + 10 + 2)) "$(node_kv province change_sets)" "change sets at the province, later"

step "(f) a revoked node is refused at the handshake"
must "$FIELDSYNCD" admin revoke --admin-key "$T/admin/root.key" --key "$T/fake.key.pub" \
  --area $C --out "$T/rev-fake.cert"
must "$FIELDSYNCD" cert add --data "$T/district.data" --config "$T/district.ini" "$T/rev-fake.cert"
fake lost2
assert_contains "$(nth 1)" "error code=E_REVOKED" "the revoked fake commune"
assert_not_contains "$OUT" "welcome" "the revoked fake commune's session"

for n in commune district province; do server_alive "$n" || fail "server $n died"; done
for n in commune district province; do stop_server "$n"; done
pass
