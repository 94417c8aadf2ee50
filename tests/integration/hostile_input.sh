#!/usr/bin/env bash
# hostile_input - a commune server facing forged, replayed, forked and
# malformed input from the network (scripted with fs_testpeer).
#
# Checks, each against one server process:
#   (a) a change set whose body was altered after signing is REFUSED with
#       E_BADSIG and nothing of it is stored (the untouched original is then
#       accepted as seq 1, so the forgery never entered the chain);
#   (b) the same signed bytes sent again, on the same and on a new
#       connection, and twice in one push, are DUPLICATE and stored once;
#   (c) a second body with the same device and seq is a FORK: quarantined
#       (status quarantined=1), logged as event=ingest.fork, not applied;
#   (d) seq head+2 is a GAP that names the server's head_seq;
#   (-) a change set for an area outside the device's scope is REFUSED
#       with E_SCOPE; one whose clock is two days ahead is REFUSED with
#       stored with a clock_ahead warning (refusing it would block the
#       laptop's chain for good) and does not
#       enter the chain;
#   (e) a frame header announcing more than 64 KiB before Hello, or more
#       than 4 MiB after Welcome, gets an Error frame (E_TOOBIG) and the
#       connection closes; a frame that is no Envelope
#       gets E_DECODE and the connection closes;
#   (f) an unenrolled device key gets E_UNKNOWN_PEER; a Hello captured
#       from one connection and replayed in another gets E_BADSIG; a Push
#       before Hello gets E_PROTOCOL; a peer that connects and says
#       nothing is cut off by the handshake time limit; so are a stranger
#       that sends one byte of its opening a second and a peer with the
#       network key that sends one byte of a frame a second instead of its
#       Hello (the limit is a deadline from the accept, not an idle timer
#       every byte restarts: they kept their connections for minutes);
#   (g) a session opened before all this is still served afterwards, a
#       normal laptop syncs fine, the server process is alive and stops
#       cleanly (exit 0; under ASan: no leak, no error).
. "$(dirname "$0")/lib.sh"

AREA=KT.KPL.DAKNEN
PEERS=()
for d in forge replay fork gap scope future garbage hold lap; do
  k=$(laptop_init "$d" $AREA)
  PEERS+=("device = $k $AREA")
done
laptop_init stranger $AREA >/dev/null # never enrolled
write_server_config commune $AREA "${PEERS[@]}"
start_server commune
ADDR=$(server_addr commune)

# peer SCENARIO DIR: runs fs_testpeer; its lines land in OUT.
peer() {
  must timeout 120 "$FS_TESTPEER" "$1" --dir "$T/$2" --server "$ADDR"
}

# line N of OUT
nth() { sed -n "${1}p" <<<"$OUT"; }

# change_sets at the server now
sets() { kv "$(server_status commune)" change_sets; }

step "(f) a silent connection is opened and left alone"
"$FS_TESTPEER" silent --dir "$T/lap" --server "$ADDR" >"$T/silent.out" 2>&1 &
SILENT_PID=$!
BG_PIDS+=("$SILENT_PID")
"$FS_TESTPEER" drip --dir "$T/lap" --server "$ADDR" >"$T/drip.out" 2>&1 &
BG_PIDS+=($!)
"$FS_TESTPEER" drip-frame --dir "$T/lap" --server "$ADDR" >"$T/drip-frame.out" 2>&1 &
BG_PIDS+=($!)

step "(g) a laptop-like session is opened first and left waiting"
mkfifo "$T/hold.in"
"$FS_TESTPEER" hold --dir "$T/hold" --server "$ADDR" <"$T/hold.in" >"$T/hold.out" 2>&1 &
HOLD_PID=$!
BG_PIDS+=("$HOLD_PID")
exec 7>"$T/hold.in" # keeps the fifo open for writing
wait_until 30 "the held session to be ready" grep -q '^ready' "$T/hold.out"

step "(a) a forged signature is refused, nothing stored"
S0=$(sets)
peer forge forge
assert_contains "$(nth 3)" "ack status=REFUSED" "forged set"
assert_contains "$(nth 3)" "reason=E_BADSIG" "reason of the refusal"
assert_contains "$(nth 3)" "id=ok" "the ack names the set pushed"
assert_contains "$(nth 5)" "ack status=STORED seq=1 head=1" "the untouched original"
assert_eq $((S0 + 1)) "$(sets)" "change sets: only the original"
must "$FIELDSYNCD" records --data "$T/commune.data" --area $AREA
assert_contains "$OUT" 'forge0001 tip channel=in_person content="forged-value: chuyển 2 khẩu súng"' "stored value is the signed one"
assert_contains "$(cat "$T/commune.log")" "event=ingest.refused" "refusal is logged"

step "(b) replays are acknowledged as duplicates and stored once"
S0=$(sets)
peer replay replay
assert_contains "$(nth 3)" "ack status=STORED seq=1 head=1" "first push"
assert_contains "$(nth 5)" "ack status=DUPLICATE seq=1 head=1" "same bytes again"
assert_contains "$(nth 6)" "welcome" "second connection"
assert_contains "$(nth 8)" "ack status=DUPLICATE seq=1 head=1" "same bytes in a new connection"
assert_contains "$(nth 10)" "ack status=STORED seq=2 head=2" "seq 2, first copy in one push"
assert_contains "$(nth 11)" "ack status=DUPLICATE seq=2 head=2" "seq 2, second copy in one push"
assert_eq $((S0 + 2)) "$(sets)" "change sets: seq 1 and 2 once each"

step "(c) a fork is refused and quarantined"
S0=$(sets)
peer fork fork
assert_contains "$(nth 3)" "ack status=STORED seq=1 head=1" "first body"
assert_contains "$(nth 5)" "ack status=FORK seq=1 head=1" "second body, same seq"
assert_contains "$(nth 5)" "reason=E_FORK" "reason of the fork"
SS=$(server_status commune)
assert_eq $((S0 + 1)) "$(kv "$SS" change_sets)" "change sets: the first body only"
assert_eq 1 "$(kv "$SS" quarantined)" "quarantined change sets"
assert_contains "$(cat "$T/commune.log")" "event=ingest.fork" "fork is logged"
must "$FIELDSYNCD" records --data "$T/commune.data" --area $AREA
assert_contains "$OUT" 'fork0001 tip channel=in_person content="bản gốc"' "the first body stays applied"

step "(d) a gap is reported with the server's head"
S0=$(sets)
peer gap gap
assert_contains "$(nth 3)" "ack status=STORED seq=1 head=1" "seq 1"
assert_contains "$(nth 5)" "ack status=GAP seq=3 head=1" "seq 3 after head 1"
assert_contains "$(nth 5)" "reason=E_GAP" "reason of the gap"
assert_eq $((S0 + 1)) "$(sets)" "change sets: seq 3 is not stored"

step "(-) a change set for another area is refused"
S0=$(sets)
peer scope scope
assert_contains "$(nth 3)" "ack status=REFUSED" "out-of-scope set"
assert_contains "$(nth 3)" "reason=E_SCOPE" "reason of the refusal"
assert_eq "$S0" "$(sets)" "change sets: nothing stored"

step "(-) a change set from two days in the future is stored and reported"
# Refusing it would block the laptop's chain for good (the set is signed);
# the commune stores it and warns, so an administrator fixes the clock.
S0=$(sets)
peer future future
assert_contains "$(nth 3)" "ack status=STORED seq=1 head=1" "future-dated set"
grep -q "event=ingest.clock_ahead" "$T/commune.log" || fail "no clock_ahead warning in the log"
assert_contains "$(nth 5)" "ack status=FORK seq=1" "a second seq 1 is a fork"
assert_eq $((S0 + 1)) "$(sets)" "change sets: the first one only"

step "(e) oversize frame headers and a garbage frame"
# Before its Hello is checked a peer holds only the network key: a frame
# over 64 KiB (a Hello with its most certificates is about 33 KiB) is
# refused at its header, not buffered.
peer oversize lap
assert_contains "$(nth 2)" "error code=E_TOOBIG" "oversize frame before Hello"
assert_contains "$(nth 2)" "before the hello is checked may be at most 65536 bytes" \
  "the sentence names the limit before Hello"
assert_eq "closed" "$(nth 3)" "connection after the oversize frame"
peer oversize-ready lap
assert_contains "$(nth 1)" "welcome" "oversize-ready peer handshake"
assert_contains "$(nth 3)" "error code=E_TOOBIG msg=frame exceeds the limit of 4194304 bytes" \
  "oversize frame after Welcome"
assert_eq "closed" "$(nth 4)" "connection after the oversize frame"
peer garbage garbage
assert_contains "$(nth 1)" "welcome" "garbage peer handshake"
assert_contains "$(nth 3)" "error code=E_DECODE" "garbage frame"
assert_eq "closed" "$(nth 4)" "connection after the garbage frame"

step "(f) an unenrolled device is turned away"
peer hello stranger
assert_contains "$(nth 1)" "error code=E_UNKNOWN_PEER" "unenrolled key"
assert_contains "$(nth 1)" "is not enrolled" "the sentence says why"
assert_eq "closed" "$(nth 2)" "connection after the refusal"

peer hello-replay lap
assert_contains "$(nth 2)" "error code=E_BADSIG" "replayed Hello"
assert_eq "closed" "$(nth 3)" "connection after the replayed Hello"
S0=$(sets)
peer early-push lap
assert_contains "$(nth 2)" "error code=E_PROTOCOL" "Push before Hello"
assert_eq "closed" "$(nth 3)" "connection after the early Push"
assert_eq "$S0" "$(sets)" "change sets: nothing from before Hello"

step "(f) the silent connection is closed by the handshake time limit"
wait_until 60 "the silent connection to end" grep -q '^waited' "$T/silent.out"
wait "$SILENT_PID" || fail "the silent peer failed: $(cat "$T/silent.out")"
SILENT=$(cat "$T/silent.out")
assert_contains "$SILENT" "closed" "silent connection closed by the server"
W=$(sed -n 's/^waited \([0-9]*\) s$/\1/p' <<<"$SILENT")
((W >= 5 && W <= 20)) || fail "the silent connection lasted $W s, expected about 10 (FS_HANDSHAKE_MS)"
for d in drip drip-frame; do
  wait_until 60 "the $d connection to end" grep -q '^waited\|^still open' "$T/$d.out"
  OUT=$(cat "$T/$d.out")
  assert_contains "$OUT" $'\nclosed' "the $d connection (one byte a second)"
  W=$(sed -n 's/^waited \([0-9]*\) s$/\1/p' <<<"$OUT")
  ((W >= 8 && W <= 14)) || fail "the $d connection lasted $W s, expected 10 (FS_HANDSHAKE_MS)"
done

step "(g) the held session, a normal laptop and the process are fine"
server_alive commune || fail "the server process died"
echo go >&7
exec 7>&-
wait_until 60 "the held session to push" grep -q '^ack ' "$T/hold.out"
wait "$HOLD_PID" || fail "the held session's peer failed: $(cat "$T/hold.out")"
assert_contains "$(cat "$T/hold.out")" "ack status=STORED seq=1 head=1" "push on the held session"
must fs lap add --type tip received_at=2026-11-21T10:00 channel=phone status=received \
  'content=Sau các cuộc tấn công, mọi thứ vẫn ổn'
sync_ok lap commune
assert_eq "pushed 1 stored 1" "$(sync_counts | cut -d' ' -f1-4)" "normal laptop sync"
assert_eq "$(server_digest commune $AREA)" "$(laptop_digest lap $AREA)" "laptop and server agree"
server_alive commune || fail "the server process died"
check_log_clean commune
stop_server commune
pass
