# lib.sh - helpers for the fieldsync integration tests (sourced, never run).
#
# Each test script sources this file, then uses:
#   a private temp dir $T, removed on success, kept (and named) on failure;
#   fieldsyncd processes on 127.0.0.1 only, on free ports, always stopped by
#     the exit trap (they are killed by their recorded pid, nothing else);
#   laptops: device directories under $T driven with the real fieldsync CLI;
#   assertions that print what was expected, what came and the command.
# Every wait and retry loop is bounded in count and in time.
#
# The binaries come from the environment (ctest sets them):
#   FIELDSYNCD, FIELDSYNC, FS_TESTPEER
# Set FS_KEEP_TMP=1 to keep $T even when the test passes.

set -u -o pipefail
export LC_ALL=C.UTF-8 # byte-exact text, whatever the caller's locale

TEST_NAME=$(basename "${0%.sh}")
TEST_START=$SECONDS
TEST_PASSED=0
FAIL_PID=$$ # the shell a failure ends (see fail and isolated)

for _v in FIELDSYNCD FIELDSYNC FS_TESTPEER; do
  if [[ -z "${!_v:-}" || ! -x "${!_v}" ]]; then
    echo "$TEST_NAME: \$$_v must name the built binary (run this test through ctest)" >&2
    exit 2
  fi
done

T=$(mktemp -d "${TMPDIR:-/tmp}/fs-integ-$TEST_NAME.XXXXXX") || exit 2

declare -A SERVER_PID=() SERVER_PORT=()
declare -a BG_PIDS=()

# ------------------------------------------------------------------ output

step() { printf '== [%3ds] %s\n' $((SECONDS - TEST_START)) "$*"; }
note() { printf '   %s\n' "$*"; }

# Prints the last lines of every server log, for a failure report.
dump_logs() {
  local f
  for f in "$T"/*.log; do
    [[ -f $f ]] || continue
    echo "---- last lines of $f"
    tail -n 25 "$f"
  done
}

# fail WHY: reports and ends the test, also from inside $(...): a subshell
# signals the test's own shell, which then exits through the trap.
fail() {
  echo "FAIL [$TEST_NAME]: $*" >&2
  if [[ -n "${CMD:-}" ]]; then
    echo "  last command: $CMD" >&2
    echo "  exit status: ${RC:-?}" >&2
    echo "  stdout: $(head -c 2000 <<<"${OUT:-}")" >&2
    echo "  stderr: $(head -c 2000 <<<"${ERR:-}")" >&2
  fi
  dump_logs >&2
  if [[ $BASHPID != "$FAIL_PID" ]]; then
    kill -USR1 "$FAIL_PID"
  fi
  exit 1
}

# isolated FUNC: runs FUNC in a subshell that a failure ends without ending
# the test; returns its status. FUNC starts its own servers; they end with
# the subshell.
isolated() {
  (
    FAIL_PID=$BASHPID
    SERVER_PID=()
    BG_PIDS=()
    trap kill_servers EXIT
    trap 'exit 1' USR1
    "$@"
  )
}

# run_checks CHECK...: runs each function isolated (a failure ends that
# check, not the others; FS_CHECKS="a b" picks some by hand), then fails
# naming every check that failed, or passes.
run_checks() {
  local check failed=()
  for check in ${FS_CHECKS:-$@}; do
    step "$check"
    if isolated "$check"; then
      note "$check: ok"
    else
      failed+=("$check")
    fi
  done
  ((${#failed[@]} == 0)) || fail "failed: ${failed[*]}"
  pass
}

# ------------------------------------------------------------- running things

# run CMD...: runs it, never fails; sets OUT, ERR, RC and CMD.
run() {
  CMD="$*"
  local o="$T/.out" e="$T/.err"
  "$@" >"$o" 2>"$e"
  RC=$?
  OUT=$(cat "$o")
  ERR=$(cat "$e")
  return 0
}

# must CMD...: runs it; a non-zero exit fails the test.
must() {
  run "$@"
  [[ $RC -eq 0 ]] || fail "command failed with status $RC"
}

# expect_exit CODE CMD...: runs it and checks its exit status.
expect_exit() {
  local want=$1
  shift
  run "$@"
  [[ $RC -eq $want ]] || fail "expected exit status $want, got $RC"
}

# ------------------------------------------------------------------ asserts

assert_eq() { # EXPECTED ACTUAL WHAT
  [[ "$1" == "$2" ]] || fail "$3: expected [$1], got [$2]"
}

assert_ne() { # A B WHAT
  [[ "$1" != "$2" ]] || fail "$3: both are [$1]"
}

assert_contains() { # HAYSTACK NEEDLE WHAT
  [[ "$1" == *"$2"* ]] || fail "$3: [$2] not found in [$(head -c 1500 <<<"$1")]"
}

assert_not_contains() { # HAYSTACK NEEDLE WHAT
  [[ "$1" != *"$2"* ]] || fail "$3: [$2] should not be in [$(head -c 1500 <<<"$1")]"
}

# assert_same_text EXPECTED ACTUAL WHAT: multi-line equality with a diff.
assert_same_text() {
  if [[ "$1" != "$2" ]]; then
    echo "--- expected ($3)" >&2
    printf '%s\n' "$1" >&2
    echo "--- actual" >&2
    printf '%s\n' "$2" >&2
    echo "--- diff" >&2
    diff <(printf '%s\n' "$1") <(printf '%s\n' "$2") >&2
    fail "$3 differ"
  fi
}

# kv LINE KEY: the value of KEY=... in a "k=v k=v" line (empty if absent).
kv() {
  local w
  for w in $1; do
    if [[ $w == "$2="* ]]; then
      printf '%s' "${w#*=}"
      return 0
    fi
  done
}

# wait_until SECONDS WHAT CMD...: polls CMD every 0.1 s until it succeeds.
wait_until() {
  local limit=$1 what=$2 i
  shift 2
  for ((i = 0; i < limit * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "timed out after ${limit}s waiting for $what"
}

# ------------------------------------------------------------------ network

free_port() {
  "$FS_TESTPEER" freeport || fail "cannot find a free port on 127.0.0.1"
}

port_open() { # PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ------------------------------------------------------------------ servers

# deployment: this test's deployment (root key, network key, sealing key),
# made on first use in $T/admin; ROOT_KEY_FILE holds the root public key.
deployment() {
  [[ -f "$T/admin/root.hex" ]] && return 0
  local root
  root=$("$FIELDSYNCD" admin init --dir "$T/admin" 2>/dev/null) || fail "fieldsyncd admin init failed"
  echo "$root" >"$T/admin/root.hex"
}
root_key() { deployment; cat "$T/admin/root.hex"; }

# enrol_laptop KEY AREA: the administrator enrols the laptop with that key
# (made by laptop_init) for AREA, and the officer installs the enrolment.
enrol_laptop() {
  local key=$1 area=$2 name
  name=$(cat "$T/laptop-keys/$key" 2>/dev/null) || fail "no laptop has key $key"
  deployment
  rm -f "$T/$name.cert"
  must "$FIELDSYNCD" admin enrol --admin-key "$T/admin/root.key" --device "$key" \
    --officer "Cán bộ $name" --officer-id "CA-$name" --area "$area" --out "$T/$name.cert"
  must "$FIELDSYNC" enrol --dir "$T/$name" --cert "$T/$name.cert" \
    --network-key "$T/admin/network.key" --root "$(root_key)" --seal-key "$T/admin/seal.key.pub"
}

# write_server_config NAME AREA [LINE...]
#   makes $T/NAME.key, a node certificate $T/NAME.cert for AREA (under the
#   node named by PARENT_NAME when set, of level NODE_LEVEL when set) and $T/NAME.ini with data
#   $T/NAME.data. A LINE "device = <key> <area>" enrols that laptop
#   (enrol_laptop); any other LINE is appended to the [node] section.
write_server_config() {
  local name=$1 area=$2 line parent=()
  shift 2
  deployment
  [[ -f "$T/$name.key" ]] || must "$FIELDSYNCD" keygen --key "$T/$name.key" --comment "$name"
  if [[ -n ${PARENT_NAME:-} ]]; then
    parent=(--parent "$T/$PARENT_NAME.key.pub")
  fi
  if [[ -n ${NODE_LEVEL:-} ]]; then
    parent+=(--level "$NODE_LEVEL")
  fi
  rm -f "$T/$name.cert"
  must "$FIELDSYNCD" admin certify-node --admin-key "$T/admin/root.key" \
    --key "$T/$name.key.pub" --id "$name" --area "$area" "${parent[@]}" --out "$T/$name.cert"
  {
    echo "[node]"
    echo "id = $name"
    echo "area = $area"
    echo "data = $T/$name.data"
    echo "key = $T/$name.key"
    echo "cert = $T/$name.cert"
    echo "network_key = $T/admin/network.key"
    echo "root_key = $(root_key)"
    echo "listen = 127.0.0.1:1"   # replaced by --listen when started
    for line in "$@"; do
      [[ $line == device\ =* ]] || echo "$line"
    done
  } >"$T/$name.ini"
  for line in "$@"; do
    if [[ $line == device\ =* ]]; then
      read -r _ _ key larea <<<"$line"
      enrol_laptop "$key" "$larea"
    fi
  done
}

# start_server NAME: runs fieldsyncd for $T/NAME.ini on 127.0.0.1 and waits
# until it accepts connections. The first start picks a free port (another
# one if that port was taken meanwhile); a restart reuses the same port.
# Sets SERVER_PID[NAME], SERVER_PORT[NAME].
start_server() {
  local name=$1 attempt pid i port
  for ((attempt = 0; attempt < 5; attempt++)); do
    port=${SERVER_PORT[$name]:-}
    [[ -n $port ]] || port=$(free_port)
    echo "### start $(date +%T.%N) port=$port" >>"$T/$name.log"
    "$FIELDSYNCD" run --config "$T/$name.ini" --listen "127.0.0.1:$port" \
      2>>"$T/$name.log" >/dev/null &
    pid=$!
    for ((i = 0; i < 300; i++)); do # up to 30 s (sanitizer builds start slowly)
      if ! kill -0 "$pid" 2>/dev/null; then
        break
      fi
      if grep -q "event=server.started.*listen=127.0.0.1:$port" "$T/$name.log" &&
        port_open "$port"; then
        SERVER_PID[$name]=$pid
        SERVER_PORT[$name]=$port
        return 0
      fi
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
      fail "server $name did not start listening on 127.0.0.1:$port within 30 s"
    fi
    wait "$pid" 2>/dev/null
    if tail -n 5 "$T/$name.log" | grep -q 'EADDRINUSE'; then
      note "port $port was taken; trying another"
      [[ -n ${SERVER_PORT[$name]:-} ]] && sleep 0.5 # pinned: wait for it
      continue
    fi
    fail "server $name exited during start-up"
  done
  fail "server $name: no usable port after 5 attempts"
}

server_addr() { echo "127.0.0.1:${SERVER_PORT[$1]}"; }

server_alive() { [[ -n ${SERVER_PID[$1]:-} ]] && kill -0 "${SERVER_PID[$1]}" 2>/dev/null; }

# Sanitizer reports in a log mean the test failed, whatever else happened.
check_log_clean() { # NAME
  if grep -qE 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:' "$T/$1.log"; then
    fail "sanitizer report in the log of server $1"
  fi
}

# stop_server NAME: SIGTERM, bounded wait; the server must exit 0.
stop_server() {
  local name=$1 pid=${SERVER_PID[$1]:-} i st
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    unset "SERVER_PID[$name]"
    fail "server $name did not stop within 20 s of SIGTERM"
  fi
  wait "$pid"
  st=$?
  unset "SERVER_PID[$name]"
  check_log_clean "$name"
  [[ $st -eq 0 ]] || fail "server $name exited with status $st after SIGTERM"
}

# kill9_server NAME: the power cut.
kill9_server() {
  local name=$1 pid=${SERVER_PID[$1]:-}
  [[ -n $pid ]] || fail "server $name is not running"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  unset "SERVER_PID[$name]"
  echo "### killed with SIGKILL $(date +%T.%N)" >>"$T/$name.log"
}

# wait_pid PID SECONDS: waits for a background job of this shell (killed
# after SECONDS); its exit status is in WAITED.
wait_pid() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$1" 2>/dev/null; then
    kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    fail "process $1 did not end within $2 s"
  fi
  wait "$1"
  WAITED=$?
}

# wait_quiet SECONDS NAME: waits until NAME's change_sets stayed the same
# for a whole second (a commit in flight has landed); prints that count.
wait_quiet() {
  local limit=$1 name=$2 i last=-1 now same=0
  for ((i = 0; i < limit * 5; i++)); do
    now=$(kv "$("$FIELDSYNCD" status --data "$T/$name.data" 2>/dev/null)" change_sets)
    if [[ -n $now && $now == "$last" ]]; then
      same=$((same + 1))
      if ((same >= 5)); then
        echo "$now"
        return 0
      fi
    else
      same=0
    fi
    last=$now
    sleep 0.2
  done
  fail "$name's change_sets did not settle within ${limit}s"
}

# server_status NAME: "change_sets=.. records=.. ..." from fieldsyncd status.
server_status() {
  "$FIELDSYNCD" status --data "$T/$1.data" || fail "fieldsyncd status failed for $1"
}

# server_digest NAME AREA: the digest line's hex and count ("hex records=N").
server_digest() {
  local line
  line=$("$FIELDSYNCD" digest --data "$T/$1.data" --area "$2") ||
    fail "fieldsyncd digest failed for $1"
  echo "${line% area=*}"
}

# ------------------------------------------------------------------ laptops

# laptop_init NAME AREA [OFFICER]: prints the device key. The laptop holds
# the network key (so a test peer can reach the Hello with it) but no
# enrolment until enrol_laptop (or a "device =" line of write_server_config).
laptop_init() {
  local key
  deployment
  key=$("$FIELDSYNC" init --dir "$T/$1" --area "$2" --officer "${3:-Cán bộ $1}" 2>/dev/null) ||
    fail "fieldsync init failed for laptop $1"
  install -m 600 "$T/admin/network.key" "$T/$1/network.key"
  mkdir -p "$T/laptop-keys"
  echo "$1" >"$T/laptop-keys/$key"
  echo "$key"
}

fs() { # fs LAPTOP CMD ARGS...: the fieldsync CLI on a laptop's directory
  local l=$1 c=$2
  shift 2
  "$FIELDSYNC" "$c" --dir "$T/$l" "$@"
}

laptop_status() {
  fs "$1" status || fail "fieldsync status failed for laptop $1"
}

# What waits on a laptop for the server's acknowledgement: pending edits
# (sealed at the next sync) plus signed change sets in the outbox.
laptop_outbox() {
  local st
  st=$(laptop_status "$1")
  echo $(($(kv "$st" pending) + $(kv "$st" outbox)))
}

laptop_digest() {
  local line
  line=$(fs "$1" digest --area "$2") || fail "fieldsync digest failed for laptop $1"
  echo "${line% area=*}"
}

# sync_ok LAPTOP SERVER: one sync that must succeed; OUT holds its line.
sync_ok() {
  must "$FIELDSYNC" sync --dir "$T/$1" --server "$(server_addr "$2")"
  assert_contains "$OUT" "synced with $2:" "sync output of $1"
}

# sync_until_ok LAPTOP SERVER TRIES: retries a failing sync (bounded).
sync_until_ok() {
  local i
  for ((i = 1; i <= $3; i++)); do
    run "$FIELDSYNC" sync --dir "$T/$1" --server "$(server_addr "$2")"
    [[ $RC -eq 0 ]] && return 0
    note "sync attempt $i of $1 failed ($RC): $ERR"
    sleep 0.2
  done
  fail "laptop $1 could not sync with $2 in $3 attempts"
}

# sync_counts: "pushed P stored S pulled K" from the last sync's OUT.
sync_counts() {
  sed -n 's/.*pushed \([0-9]*\) change sets (\([0-9]*\) new at the server), pulled \([0-9]*\) records.*/pushed \1 stored \2 pulled \3/p' <<<"$OUT"
}

# ------------------------------------------------------------------ packaging

# build_deb DIR [TOOL...]: the build under test packaged with cpack -G DEB
# into DIR; sets DEB to the .deb. Skips the test (77) when cpack, dpkg-deb
# or a TOOL is missing. Needs FS_BUILD_DIR (set by ctest).
build_deb() {
  local dir=$1 tool
  shift
  for tool in cpack dpkg-deb "$@"; do
    if ! command -v "$tool" >/dev/null; then
      echo "SKIP: $tool is not installed (Debian's cmake and dpkg packages have it)"
      exit 77
    fi
  done
  [[ -n ${FS_BUILD_DIR:-} && -f $FS_BUILD_DIR/CPackConfig.cmake ]] ||
    fail "FS_BUILD_DIR must name the build directory (run this test through ctest)"
  must cpack -G DEB -B "$dir" --config "$FS_BUILD_DIR/CPackConfig.cmake"
  DEB=$(ls "$dir"/fieldsync_*_*.deb 2>/dev/null | head -n 1)
  [[ -f $DEB ]] || fail "cpack made no fieldsync_*.deb in $dir"
}

# ------------------------------------------------------------------ the end

pass() {
  TEST_PASSED=1
  step "PASS $TEST_NAME ($((SECONDS - TEST_START)) s)"
}

# Ends every server and background job this shell started (by pid).
kill_servers() {
  local name pid i
  for name in "${!SERVER_PID[@]}"; do
    kill -TERM "${SERVER_PID[$name]}" 2>/dev/null
  done
  for pid in "${BG_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
  for name in "${!SERVER_PID[@]}"; do
    pid=${SERVER_PID[$name]}
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    unset "SERVER_PID[$name]"
  done
}

cleanup() {
  kill_servers
  if [[ $TEST_PASSED == 1 && ${FS_KEEP_TMP:-0} != 1 ]]; then
    rm -rf "$T"
  else
    echo "test files kept in $T" >&2
  fi
}
trap cleanup EXIT
trap 'exit 1' USR1 INT TERM
