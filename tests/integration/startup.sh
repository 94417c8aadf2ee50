#!/usr/bin/env bash
# startup - how fieldsyncd starts, as an operator sees it (issue 7, items 2-3).
#
#   flags    --listen, --admin, --data and --log-level override the file,
#            check-config shows the values a node would use, a bad flag is
#            named, and a --log-level flag still wins after SIGHUP re-reads
#            the file;
#   refusals a node that cannot start exits 2 with a reason and what to do,
#            and leaves nothing listening: its port in use, its admin port
#            in use, a data directory it cannot write, its key missing or
#            readable by others, the network key missing or readable by
#            others, its certificate missing.
#
# Registered as integ_startup. By hand, from build/:
#   FIELDSYNCD=server/fieldsyncd FIELDSYNC=client/fieldsync \
#   FS_TESTPEER=tests/tools/fs_testpeer bash ../tests/integration/startup.sh
. "$(dirname "$0")/lib.sh"

AREA=KT.KPL.DAKNEN
K=$(laptop_init lap $AREA)
write_server_config node $AREA "device = $K $AREA" "log_level = warn"

# refused WHAT CMD...: CMD (a fieldsyncd that must not start) exits 2 within
# 60 s, says it did not start, and leaves its port closed.
refused() {
  local what=$1 port
  shift
  port=$(free_port)
  expect_exit 2 timeout 60 "$@" --listen "127.0.0.1:$port"
  assert_contains "$ERR" "cannot start node" "$what: the closing sentence"
  ! port_open "$port" || fail "$what: port $port is open after a refused start"
}

step "check-config shows the file's values, and the flags over them"
must "$FIELDSYNCD" check-config --config "$T/node.ini"
assert_contains "$OUT" "listen=127.0.0.1:1 admin=- parent=- data=$T/node.data log_level=warn" \
  "the file's values"
P=$(free_port)
A=$(free_port)
must "$FIELDSYNCD" check-config --config "$T/node.ini" --listen "127.0.0.1:$P" \
  --admin "127.0.0.1:$A" --data "$T/other.data" --log-level debug
assert_contains "$OUT" "listen=127.0.0.1:$P admin=127.0.0.1:$A parent=- data=$T/other.data log_level=debug" \
  "the flags' values"
expect_exit 2 "$FIELDSYNCD" check-config --config "$T/node.ini" --listen nonsense
assert_contains "$ERR" "--listen: listen 'nonsense' is not host:port" "a bad flag is named"
expect_exit 2 "$FIELDSYNCD" check-config --config "$T/node.ini" --log-level loud
assert_contains "$ERR" "--log-level: log_level 'loud' must be debug, info, warn or error" \
  "a bad level is named"
# A flag may supply what the file lacks.
grep -v '^data = ' "$T/node.ini" >"$T/nodata.ini"
expect_exit 2 "$FIELDSYNCD" check-config --config "$T/nodata.ini"
assert_contains "$ERR" "needs id, area, data" "a file without data ="
assert_contains "$ERR" "fieldsyncd check-config --config $T/nodata.ini" "says how to check again"
must "$FIELDSYNCD" check-config --config "$T/nodata.ini" --data "$T/node.data"

step "run: the flags win over the file"
echo "admin = 127.0.0.1:$(free_port)" >>"$T/node.ini" # the file's admin port: unused
FILE_ADMIN=$(sed -n 's/^admin = 127.0.0.1://p' "$T/node.ini")
P=$(free_port)
"$FIELDSYNCD" run --config "$T/node.ini" --listen "127.0.0.1:$P" --admin "127.0.0.1:$A" \
  --data "$T/flag.data" --log-level debug 2>"$T/node.log" &
SERVER_PID[node]=$!
SERVER_PORT[node]=$P
wait_until 30 "the node listening on the --listen port" port_open "$P"
wait_until 10 "the admin port given by --admin" port_open "$A"
! port_open "$FILE_ADMIN" || fail "the file's admin port is open although --admin overrides it"
[[ -f "$T/flag.data/data.mdb" ]] || fail "the store is not in the --data directory"
[[ ! -e "$T/node.data" ]] || fail "the file's data directory was made although --data overrides it"
sync_ok lap node
wait_until 10 "a debug line after the sync" grep -q 'level=debug' "$T/node.log"
note "debug lines at --log-level debug although the file says warn"

step "SIGHUP re-reads the file; the --log-level flag still wins"
lines=$(wc -l <"$T/node.log")
kill -HUP "${SERVER_PID[node]}"
# The reload is logged at info: visible only if the flag (debug) still holds.
wait_until 10 "server.reloaded in the log" grep -q 'event=server.reloaded' "$T/node.log"
assert_contains "$(grep 'event=server.reloaded' "$T/node.log")" "err=OK" "the reload"
must fs lap add --type patrol start=2026-11-24T20:00 end=2026-11-24T23:30 'route=Thôn 1'
sync_ok lap node
wait_until 10 "a debug line after the reload" \
  bash -c "tail -n +$((lines + 1)) '$T/node.log' | grep -q level=debug"
stop_server node
check_log_clean node
# start_server waits for the server.started line (info).
sed -i 's/^log_level = warn$/log_level = info/' "$T/node.ini"
mv "$T/node.log" "$T/node-flags.log"

step "a port in use is refused with the reason"
start_server node
expect_exit 2 timeout 60 "$FIELDSYNCD" run --config "$T/node.ini" --data "$T/second.data" \
  --listen "$(server_addr node)"
assert_contains "$ERR" "event=server.listen" "names the listener"
assert_contains "$ERR" "addr=$(server_addr node) err=EADDRINUSE" "names the address and error"
assert_contains "$ERR" "another process listens there" "says what to do"
assert_contains "$ERR" "cannot start node node" "the closing sentence"
server_alive node || fail "the running node died"

step "an admin port in use is refused with the reason"
refused "admin port in use" "$FIELDSYNCD" run --config "$T/node.ini" --data "$T/second.data" \
  --admin "$(server_addr node)"
assert_contains "$ERR" "event=admin.listen" "names the admin port"
assert_contains "$ERR" "err=EADDRINUSE" "names the error"
stop_server node

step "a data directory the node cannot write is refused"
if [[ $(id -u) == 0 ]]; then
  # root writes anywhere: the node runs as nobody, as it runs as fieldsync.
  command -v setpriv >/dev/null || fail "setpriv (util-linux) is needed to run as nobody"
  AS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  chmod 711 "$T"
  mkdir -m 755 "$T/nobody"
  cp "$T/node.key" "$T/admin/network.key" "$T/nobody/"
  install -m 644 "$T/node.cert" "$T/nobody/node.cert"
  sed -e "s|^key = .*|key = $T/nobody/node.key|" -e "s|^cert = .*|cert = $T/nobody/node.cert|" \
    -e "s|^network_key = .*|network_key = $T/nobody/network.key|" "$T/node.ini" >"$T/nobody/node.ini"
  chown 65534 "$T/nobody/node.key" "$T/nobody/network.key"
  chmod 600 "$T/nobody/node.key" "$T/nobody/network.key"
  CONF=$T/nobody/node.ini
else
  AS=()
  CONF=$T/node.ini
fi
mkdir -m 755 "$T/ro.data"
[[ $(id -u) == 0 ]] || chmod 555 "$T/ro.data"
refused "read-only data directory" "${AS[@]}" "$FIELDSYNCD" run --config "$CONF" --data "$T/ro.data"
assert_contains "$ERR" "event=server.store" "names the store"
assert_contains "$ERR" "path=$T/ro.data err=EACCES" "names the directory and the error"
assert_contains "$ERR" "must be writable by the user the node runs as" "says why"
assert_contains "$ERR" "chown -R fieldsync:fieldsync" "says what to do"
refused "data directory below a read-only one" "${AS[@]}" "$FIELDSYNCD" run --config "$CONF" \
  --data "$T/ro.data/node"
assert_contains "$ERR" "path=$T/ro.data/node err=EACCES" "names the directory and the error"

step "key files missing or readable by others are refused"
mv "$T/node.key" "$T/node.key.away"
refused "node key missing" "$FIELDSYNCD" run --config "$T/node.ini"
assert_contains "$ERR" "event=server.key" "names the key"
assert_contains "$ERR" "path=$T/node.key err=E_KEYFILE" "names the file and the error"
assert_contains "$ERR" "make it with fieldsyncd keygen --key" "says what to do"
mv "$T/node.key.away" "$T/node.key"
chmod 640 "$T/node.key"
refused "node key readable by the group" "$FIELDSYNCD" run --config "$T/node.ini"
assert_contains "$ERR" "path=$T/node.key err=E_KEYPERM" "names the file and the error"
assert_contains "$ERR" "run chmod 600 on it" "says what to do"
chmod 600 "$T/node.key"
chmod 604 "$T/admin/network.key"
refused "network key readable by others" "$FIELDSYNCD" run --config "$T/node.ini"
assert_contains "$ERR" "event=server.network_key" "names the network key"
assert_contains "$ERR" "path=$T/admin/network.key err=E_KEYPERM" "names the file and the error"
assert_contains "$ERR" "run chmod 600 on it" "says what to do"
chmod 600 "$T/admin/network.key"
sed -i "s|^network_key = .*|network_key = $T/nowhere/network.key|" "$T/node.ini"
refused "network key missing" "$FIELDSYNCD" run --config "$T/node.ini"
assert_contains "$ERR" "err=E_KEYFILE" "names the error"
assert_contains "$ERR" "copy the deployment's network.key" "says what to do"
sed -i "s|^network_key = .*|network_key = $T/admin/network.key|" "$T/node.ini"

step "a missing certificate is refused"
mv "$T/node.cert" "$T/node.cert.away"
refused "certificate missing" "$FIELDSYNCD" run --config "$T/node.ini"
assert_contains "$ERR" "event=server.cert" "names the certificate"
assert_contains "$ERR" "path=$T/node.cert" "names the file"
assert_contains "$ERR" "ask the administrator for it" "says what to do"
mv "$T/node.cert.away" "$T/node.cert"

step "after all that, the node starts"
unset "SERVER_PORT[node]"
start_server node
sync_ok lap node
stop_server node
pass
