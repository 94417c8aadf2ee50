#!/usr/bin/env bash
# trust_handshake - who may even talk to a commune server, and what an
# attacker on the wire can do to an established session (docs/SECURITY.md,
# "The handshake, step by step").
#
# Checks, against one commune server (and a few laptops and fs_testpeer):
#   (a) a peer with another network key gets nothing: fs_testpeer
#       wrong-netkey prints "closed handshake"; 64 random bytes (a scanner,
#       another deployment) and a plain HTTP request get not one byte back;
#       the server logs conn.handshake_failed; a real laptop enrolled in
#       another deployment is refused at the handshake and told its network
#       key is not this deployment's;
#   (b) a device with the right network key but no enrolment is told why
#       (E_UNKNOWN_PEER, "is not enrolled") and disconnected; the laptop CLI
#       refuses to sync before enrolment; a server that holds the network key
#       but no certificate from this deployment's root gets nothing from a
#       laptop (it refuses the server and pushes nothing);
#   (c) on an established session, a tampered, a replayed, a reordered and a
#       truncated encrypted frame each end the connection ("closed", one
#       conn.bad_frame each) and nothing is answered to them;
#   (d) meanwhile a session opened before the attacks still pushes, and a
#       normal laptop keeps syncing (pushed 1, stored 1, digests equal);
#   (e) keys on disk are 0600: root.key, network.key, seal.key (admin init),
#       node keys (keygen), device.key and the laptop's network.key, and the
#       stores (data.mdb) of the server and the laptop; the laptop's
#       directory is 0700;
#   (f) the server refuses to start (exit 2, a sentence saying chmod 600)
#       with a group- or world-readable node key or network key, and starts
#       once they are 0600 again; the laptop refuses a world-readable
#       device.key the same way;
#   the server is alive throughout and stops cleanly (no sanitizer report).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/trust_lib.sh"

AREA=KT.KPL.DAKNEN
LAP=$(laptop_init lap $AREA 'Nguyễn Văn An')
PEERK=$(laptop_init peer $AREA)
HOLDK=$(laptop_init hold $AREA)
laptop_init stranger $AREA >/dev/null # the right network key, never enrolled
write_server_config commune $AREA "device = $LAP $AREA" "device = $PEERK $AREA" \
  "device = $HOLDK $AREA"
start_server commune
PORT=${SERVER_PORT[commune]}

# bad_frames: how many conn.bad_frame lines the commune logged so far.
bad_frames() { grep -c 'event=conn.bad_frame' "$T/commune.log" || true; }
hs_failed() { grep -c 'event=conn.handshake_failed' "$T/commune.log" || true; }

# raw_reply PAYLOAD_CMD: what the server sends back (byte count) to the
# bytes PAYLOAD_CMD prints, on a fresh TCP connection, until it closes.
raw_reply() {
  timeout 30 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 9
    eval "$2" >&3
    cat <&3 | wc -c' _ "$PORT" "$1"
}

step "(a) a port scanner's HTTP request, left waiting in the background"
raw_reply 'printf "GET / HTTP/1.0\r\n\r\n"' >"$T/http-probe.out" 2>&1 &
HTTP_PID=$!
BG_PIDS+=("$HTTP_PID")

step "(d) a session opened before the attacks, waiting to push"
mkfifo "$T/hold.in"
"$FS_TESTPEER" hold --dir "$T/hold" --server "$(server_addr commune)" \
  <"$T/hold.in" >"$T/hold.out" 2>&1 &
HOLD_PID=$!
BG_PIDS+=("$HOLD_PID")
exec 7>"$T/hold.in"
wait_until 30 "the held session to be ready" grep -q '^ready' "$T/hold.out"

step "(a) another network key: the server closes without a byte"
F0=$(hs_failed)
peer wrong-netkey peer commune
assert_eq "step wrong-network-key" "$(nth 1)" "wrong-netkey scenario"
assert_eq "closed handshake" "$(nth 2)" "handshake with another network key"
assert_eq 2 "$(wc -l <<<"$OUT")" "lines of the wrong-netkey peer (nothing else learned)"
N=$(raw_reply 'head -c 64 /dev/urandom') || fail "raw probe failed"
assert_eq 0 "$N" "bytes sent back to 64 random bytes"
wait_until 10 "conn.handshake_failed in the log" \
  test "$(hs_failed)" -ge $((F0 + 2))
assert_contains "$(grep 'event=conn.handshake_failed' "$T/commune.log" | tail -n 1)" \
  "peer=127.0.0.1:" "the log names the peer"

step "(a) a laptop of another deployment is refused at the handshake"
must "$FIELDSYNCD" admin init --dir "$T/other"
OTHER_ROOT=$OUT
AK=$(laptop_init alien $AREA)
must "$FIELDSYNCD" admin enrol --admin-key "$T/other/root.key" --device "$AK" \
  --officer 'Người ngoài' --officer-id X-1 --area $AREA --out "$T/alien.cert"
must fs alien enrol --cert "$T/alien.cert" --network-key "$T/other/network.key" \
  --root "$OTHER_ROOT" --seal-key "$T/other/seal.key.pub"
tip alien alien0001
S0=$(node_kv commune change_sets)
expect_exit 2 fs alien sync --server "$(server_addr commune)"
assert_contains "$ERR" "network key is not the deployment's" "the alien laptop is told why"
assert_contains "$ERR" "1 change sets wait in the outbox" "its outbox is kept"
assert_eq "$S0" "$(node_kv commune change_sets)" "change sets at the commune"

step "(b) an unenrolled device is told why and disconnected"
peer hello stranger commune
assert_contains "$(nth 1)" "error code=E_UNKNOWN_PEER" "unenrolled key"
assert_contains "$(nth 1)" "is not enrolled" "the sentence says why"
assert_contains "$(nth 1)" "fieldsyncd admin enrol" "the sentence says what to do"
assert_eq "closed" "$(nth 2)" "connection after the refusal"
assert_eq 2 "$(wc -l <<<"$OUT")" "nothing more than the refusal"
tip stranger stranger01
expect_exit 2 fs stranger sync --server "$(server_addr commune)"
assert_contains "$ERR" "not enrolled yet" "the CLI of an unenrolled laptop"
assert_eq "1" "$(laptop_outbox stranger)" "its outbox"

step "(b) a server holding the network key but no certificate of this root gets nothing"
must "$FIELDSYNCD" keygen --key "$T/impostor.key"
must "$FIELDSYNCD" admin certify-node --admin-key "$T/other/root.key" \
  --key "$T/impostor.key.pub" --id impostor --area $AREA --out "$T/impostor.cert"
{
  echo "[node]"
  echo "id = impostor"
  echo "area = $AREA"
  echo "data = $T/impostor.data"
  echo "key = $T/impostor.key"
  echo "cert = $T/impostor.cert"
  echo "network_key = $T/admin/network.key"
  echo "root_key = $OTHER_ROOT"
  echo "listen = 127.0.0.1:1"
} >"$T/impostor.ini"
start_server impostor
tip lap lap0001
expect_exit 2 fs lap sync --server "$(server_addr impostor)"
assert_contains "$ERR" "is not a certified node for area $AREA" "the laptop refuses the impostor"
assert_eq 1 "$(laptop_outbox lap)" "the laptop's outbox after meeting the impostor"
assert_eq 0 "$(node_kv impostor change_sets)" "change sets the impostor got"
assert_eq "" "$(certs_of impostor | grep -F "$LAP")" "laptop certificates the impostor got"
stop_server impostor

step "(c) tampered, replayed, reordered and truncated frames end the connection"
for sc in tamper replay-frame reorder truncate; do
  B0=$(bad_frames)
  peer "$sc" peer commune
  note "$sc: $(tr '\n' ' ' <<<"$OUT")"
  assert_contains "$(nth 1)" "welcome area=$AREA" "$sc: handshake"
  assert_contains "$(nth 2)" "step " "$sc: the attack"
  assert_eq "closed" "$(tail -n 1 <<<"$OUT")" "$sc: the connection ends"
  case $sc in
  replay-frame) # the first copy is a valid Pull, answered; the copy is not
    assert_eq 1 "$(grep -c '^answered' <<<"$OUT")" "$sc: answers (to the first copy only)" ;;
  *)
    assert_eq 0 "$(grep -c '^answered' <<<"$OUT")" "$sc: answers" ;;
  esac
  wait_until 10 "conn.bad_frame for $sc" test "$(bad_frames)" -eq $((B0 + 1))
  server_alive commune || fail "the server died after $sc"
done

step "(d) the held session and a normal laptop are served"
echo go >&7
exec 7>&-
wait_pid "$HOLD_PID" 60
[[ $WAITED == 0 ]] || fail "the held session's peer failed: $(cat "$T/hold.out")"
assert_contains "$(cat "$T/hold.out")" "ack status=STORED seq=1 head=1" "push on the held session"
sync_ok lap commune
assert_eq "pushed 1 stored 1" "$(sync_counts | cut -d' ' -f1-4)" "normal laptop sync"
tip lap lap0002
sync_ok lap commune
assert_eq "pushed 1 stored 1" "$(sync_counts | cut -d' ' -f1-4)" "normal laptop, second sync"
assert_eq "$(server_digest commune $AREA)" "$(laptop_digest lap $AREA)" "laptop and server agree"

step "(a) the HTTP request got nothing either"
wait_pid "$HTTP_PID" 40
assert_eq 0 "$(cat "$T/http-probe.out")" "bytes sent back to an HTTP request"

step "(e) keys and stores on disk are 0600"
for f in admin/root.key admin/network.key admin/seal.key other/root.key other/network.key \
  other/seal.key commune.key impostor.key lap/device.key lap/network.key \
  stranger/device.key commune.data/data.mdb lap/store/data.mdb; do
  assert_eq 600 "$(stat -c %a "$T/$f")" "mode of $f"
done
assert_eq 700 "$(stat -c %a "$T/lap")" "mode of the laptop's directory"
for f in admin/root.key.pub admin/seal.key.pub commune.key.pub; do
  assert_not_contains "$(cat "$T/$f")" "secret" "$f holds a public key only"
done

step "(f) the server refuses a node key or network key others can read"
write_server_config keytest $AREA
install -m 600 "$T/admin/network.key" "$T/keytest-network.key"
sed -i "s|^network_key = .*|network_key = $T/keytest-network.key|" "$T/keytest.ini"
KPORT=$(free_port)
for mode in 640 604 644; do
  chmod "$mode" "$T/keytest.key"
  expect_exit 2 timeout 60 "$FIELDSYNCD" run --config "$T/keytest.ini" --listen "127.0.0.1:$KPORT"
  assert_contains "$ERR" "chmod 600" "node key mode $mode: the sentence"
  assert_contains "$ERR" "$T/keytest.key" "node key mode $mode: the file is named"
done
chmod 600 "$T/keytest.key"
chmod 644 "$T/keytest-network.key"
expect_exit 2 timeout 60 "$FIELDSYNCD" run --config "$T/keytest.ini" --listen "127.0.0.1:$KPORT"
assert_contains "$ERR" "chmod 600" "network key mode 644: the sentence"
assert_contains "$ERR" "$T/keytest-network.key" "network key mode 644: the file is named"
chmod 600 "$T/keytest-network.key"
start_server keytest
stop_server keytest

step "(f) the laptop refuses a device key others can read"
chmod 644 "$T/lap/device.key"
expect_exit 2 fs lap status
assert_contains "$ERR" "chmod 600" "laptop status with a readable device.key"
expect_exit 2 fs lap sync --server "$(server_addr commune)"
assert_contains "$ERR" "chmod 600" "laptop sync with a readable device.key"
chmod 600 "$T/lap/device.key"
sync_ok lap commune

server_alive commune || fail "the server process died"
check_log_clean commune
stop_server commune
pass
