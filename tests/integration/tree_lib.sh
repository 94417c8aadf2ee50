# tree_lib.sh - helpers for the replication-tree tests (sourced after lib.sh,
# never run). Everything lib.sh says holds here too: 127.0.0.1 only, every
# loop bounded, every process this adds is ended by the exit trap.
#
#   tree_config / tree_node   a node of the tree, certified under its parent,
#                             with an admin (HTTP) port; the parent address is
#                             the parent's own port or PARENT_ADDR
#   tree_laptop               a laptop enrolled for an area
#   assert_alive              servers did not die by themselves
#   node_kv, digests_agree, wait_converged, wait_node_kv
#                             what an operator compares between levels
#                             (wait_quiet and wait_pid are in lib.sh)
#   api_status, node_json, json_field
#                             a node's /api/status, and one node's line of it
#   status_jq, node_state_is, wait_state
#                             the same through jq, and a node's state there
#   relay_start, relay_cut, relay_resume, relay_arm, relay_stall
#                             fs_relay in a link: cut, refuse, restore, cut
#                             mid-traffic, silence
#
# Binaries: FS_RELAY (fs_relay) in addition to lib.sh's.

if [[ -z "${FS_RELAY:-}" || ! -x "$FS_RELAY" ]]; then
  echo "$TEST_NAME: \$FS_RELAY must name the built fs_relay (run this test through ctest)" >&2
  exit 2
fi

declare -A ADMIN_PORT=() NODE_AREA=() NODE_PARENT=()
declare -A RELAY_PID=() RELAY_PORT=()

# ------------------------------------------------------------------ nodes

# tree_config NAME AREA PARENT [LINE...]: the node's key, certificate (under
#   PARENT's key; PARENT "-" for the root) and INI, with "admin =" on a free
#   port and, below the root, "parent =" the address of PARENT (which must
#   be running) or PARENT_ADDR when set (a relay in between). LINEs as for
#   write_server_config.
tree_config() {
  local name=$1 area=$2 parent=$3 lines=()
  shift 3
  ADMIN_PORT[$name]=$(free_port)
  lines=("admin = 127.0.0.1:${ADMIN_PORT[$name]}")
  if [[ $parent != - ]]; then
    local addr=${PARENT_ADDR:-}
    if [[ -z $addr ]]; then
      [[ -n ${SERVER_PORT[$parent]:-} ]] || fail "start $parent before configuring its child $name"
      addr=$(server_addr "$parent")
    fi
    lines+=("parent = $addr")
    PARENT_NAME=$parent write_server_config "$name" "$area" "${lines[@]}" "$@"
  else
    PARENT_NAME= write_server_config "$name" "$area" "${lines[@]}" "$@"
  fi
  NODE_AREA[$name]=$area
  NODE_PARENT[$name]=$parent
}

# tree_node NAME AREA PARENT [LINE...]: tree_config, then start_server.
tree_node() {
  tree_config "$@"
  start_server "$1"
}

# tree_laptop NAME AREA [OFFICER]: a laptop enrolled for AREA; prints its key.
tree_laptop() {
  local key
  key=$(laptop_init "$@") || exit 1
  enrol_laptop "$key" "$2" >/dev/null
  echo "$key"
}

# assert_alive NAME...: each server's process still runs; a dead one fails
# the test with its exit status (141: killed by SIGPIPE) and last log line.
assert_alive() {
  local name pid st
  for name in "$@"; do
    pid=${SERVER_PID[$name]:-}
    [[ -n $pid ]] || fail "server $name is not running (the test stopped it?)"
    kill -0 "$pid" 2>/dev/null && continue
    wait "$pid"
    st=$?
    unset "SERVER_PID[$name]"
    fail "server $name died by itself: exit status $st$( ((st == 141)) && echo ' (SIGPIPE)'); its log ends: $(tail -n 1 "$T/$name.log")"
  done
}

# ------------------------------------------------------------ comparing

# node_kv NAME KEY: one count from fieldsyncd status (change_sets, log_seq,
# devices, quarantined, records, conflicts).
node_kv() { kv "$(server_status "$1")" "$2"; }

# digest_of NAME AREA: the digest line's hex and count, without failing the
# test when the store cannot be read at this instant (prints "unreadable").
digest_of() {
  local line
  line=$("$FIELDSYNCD" digest --data "$T/$1.data" --area "$2" 2>/dev/null) || {
    echo unreadable
    return 1
  }
  echo "${line% area=*}"
}

# digests_agree AREA NODE...: true when every NODE has the same digest for
# AREA (a condition for wait_until).
digests_agree() {
  local area=$1 first="" d n
  shift
  for n in "$@"; do
    d=$(digest_of "$n" "$area") || return 1
    if [[ -z $first ]]; then first=$d; elif [[ $d != "$first" ]]; then return 1; fi
  done
}

# show_digests AREA NODE...: one line per node, for notes and failures.
show_digests() {
  local area=$1 n
  shift
  for n in "$@"; do printf '%-10s %s %s\n' "$n" "$area" "$(digest_of "$n" "$area")"; done
}

# wait_converged SECONDS AREA NODE...: waits until every NODE holds the same
# digest of AREA, then asserts it once more (a clear message on timeout).
wait_converged() {
  local limit=$1 area=$2 i
  shift 2
  for ((i = 0; i < limit * 5; i++)); do
    digests_agree "$area" "$@" && return 0
    sleep 0.2
  done
  fail "digests of $area did not converge within ${limit}s:
$(show_digests "$area" "$@")"
}

# node_kv_is NAME KEY VALUE: a condition for wait_until.
node_kv_is() {
  local line
  line=$("$FIELDSYNCD" status --data "$T/$1.data" 2>/dev/null) || return 1
  [[ $(kv "$line" "$2") == "$3" ]]
}

# wait_node_kv SECONDS NAME KEY VALUE: waits until NAME's status shows
# KEY=VALUE; fails naming the last value seen.
wait_node_kv() {
  local limit=$1 name=$2 key=$3 want=$4 i
  for ((i = 0; i < limit * 5; i++)); do
    node_kv_is "$name" "$key" "$want" && return 0
    sleep 0.2
  done
  fail "$name: $key did not reach $want within ${limit}s (now: $(server_status "$name"))"
}

# --------------------------------------------------------------- status API

# http_get PORT PATH: the body of GET http://127.0.0.1:PORT/PATH (curl when
# installed, else bash's /dev/tcp), bounded to 5 s.
http_get() {
  if command -v curl >/dev/null; then
    curl -sS --max-time 5 "http://127.0.0.1:$1$2"
  else
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
      printf "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" "$2" >&3
      sed "1,/^\r$/d" <&3' _ "$1" "$2"
  fi
}

# api_status NAME: NAME's /api/status JSON (one node per line).
api_status() {
  http_get "${ADMIN_PORT[$1]}" /api/status || fail "GET /api/status from $1 failed"
}

# node_json NAME [OF]: the line for node OF (default NAME itself) in NAME's
# /api/status; empty when NAME does not know OF (yet).
node_json() {
  local of=${2:-$1}
  api_status "$1" | grep -F "{\"id\":\"$of\"," | head -n 1
}

# json_field LINE FIELD: a field's value in one node's JSON object: a number,
# true/false, or a string without its quotes.
json_field() {
  sed -n "s/.*\"$2\":\(\"[^\"]*\"\|[^,}]*\).*/\1/p" <<<"$1" | sed 's/^"\(.*\)"$/\1/'
}

# status_field_is NAME FIELD VALUE [OF]: a condition for wait_until.
status_field_is() {
  local line
  line=$(http_get "${ADMIN_PORT[$1]}" /api/status 2>/dev/null | grep -F "{\"id\":\"${4:-$1}\",") ||
    return 1
  [[ $(json_field "$line" "$2") == "$3" ]]
}

# status_jq NAME FILTER: jq -r FILTER over NAME's /api/status (jq needed).
status_jq() {
  local j
  j=$(api_status "$1") || exit 1
  jq -r "$2" <<<"$j" || fail "jq '$2' over $1's /api/status failed: $(head -c 1500 <<<"$j")"
}

# node_state_is NAME OF STATE: a condition for wait_until: NAME's
# /api/status shows node OF in STATE.
node_state_is() {
  local j
  j=$(http_get "${ADMIN_PORT[$1]}" /api/status 2>/dev/null) || return 1
  [[ $(jq -r --arg id "$2" '.nodes[] | select(.id == $id) | .state' <<<"$j" 2>/dev/null) == "$3" ]]
}

# wait_state SECONDS NAME OF STATE: waits until NAME shows OF in STATE;
# fails naming the state it shows.
wait_state() {
  local i
  for ((i = 0; i < $1 * 5; i++)); do
    node_state_is "$2" "$3" "$4" && return 0
    sleep 0.2
  done
  fail "$2 did not show $3 $4 within $1 s (it shows: $(status_jq "$2" \
    ".nodes[] | select(.id == \"$3\") | \"\(.state) report_age_ms=\(.report_age_ms) lag=\(.lag)\""))"
}

# ------------------------------------------------------------------ relay

# relay_start NAME TARGET_NODE [ARGS...]: fs_relay on a free port of
# 127.0.0.1 forwarding to TARGET_NODE's port; its log is $T/NAME.log (shown
# on failure). Sets RELAY_PID[NAME], RELAY_PORT[NAME]; killed at exit.
relay_start() {
  local name=$1 target=$2 pid i
  shift 2
  [[ -n ${SERVER_PORT[$target]:-} ]] || fail "start $target before the relay to it"
  "$FS_RELAY" --listen 0 --target "${SERVER_PORT[$target]}" "$@" \
    >"$T/$name.out" 2>>"$T/$name.log" &
  pid=$!
  BG_PIDS+=("$pid")
  disown "$pid" # killed by pid at exit; no "Killed" job notice then
  for ((i = 0; i < 100; i++)); do
    grep -q '^listening 127.0.0.1:' "$T/$name.out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || fail "fs_relay $name exited at start"
    sleep 0.1
  done
  RELAY_PORT[$name]=$(sed -n 's/^listening 127.0.0.1:\([0-9]*\)$/\1/p' "$T/$name.out")
  [[ -n ${RELAY_PORT[$name]} ]] || fail "fs_relay $name did not start listening within 10 s"
  RELAY_PID[$name]=$pid
}

relay_addr() { echo "127.0.0.1:${RELAY_PORT[$1]}"; }

# relay_lines NAME WORD: how many log lines of the relay contain WORD.
relay_lines() { grep -c -- "$2" "$T/$1.log" 2>/dev/null || true; }

# relay_signal NAME SIG WORD: sends SIG, waits until the relay logged one
# more line containing WORD (bounded).
relay_signal() {
  local name=$1 sig=$2 word=$3 before i
  before=$(relay_lines "$name" "$word")
  kill "-$sig" "${RELAY_PID[$name]}" 2>/dev/null || fail "relay $name is not running"
  for ((i = 0; i < 100; i++)); do
    (($(relay_lines "$name" "$word") > before)) && return 0
    sleep 0.05
  done
  fail "relay $name did not log '$word' within 5 s of SIG$sig"
}

# relay_cut NAME: reset every connection through it and refuse new ones.
relay_cut() { relay_signal "$1" USR1 'fs_relay: cut '; }

# relay_resume NAME: accept and forward again.
relay_resume() {
  relay_signal "$1" USR2 'fs_relay: resumed'
  wait_until 10 "relay $1 to listen again" port_open "${RELAY_PORT[$1]}"
}

# relay_stall NAME: a silent link: connections stay open, nothing is
# forwarded either way until relay_resume.
relay_stall() { relay_signal "$1" WINCH 'fs_relay: stalled'; }

# relay_arm NAME: cut once BYTES more bytes went up (fs_relay --cut-bytes).
relay_arm() { relay_signal "$1" HUP 'fs_relay: armed'; }

# relay_cuts NAME: how many cuts the relay made so far.
relay_cuts() { relay_lines "$1" 'fs_relay: cut '; }

# relay_cut_since NAME N: true once the relay made more than N cuts (a
# condition for wait_until).
relay_cut_since() { (($(relay_cuts "$1") > $2)); }
