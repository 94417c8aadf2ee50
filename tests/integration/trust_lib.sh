# trust_lib.sh - helpers for the trust and security tests (trust_*.sh;
# sourced after lib.sh, never run). Everything lib.sh says holds here too:
# 127.0.0.1 only, every loop bounded in count and time, every process this
# adds is ended by the exit trap (by its pid).
#
#   trust_node NAME AREA PARENT [LINE...]
#                           a node certified under PARENT ("-": none) with an
#                           admin port, "parent =" its parent's address;
#                           started (NODE_ADMIN_KEY, NODE_CHAIN: certified by
#                           a delegated admin key instead of the root)
#   node_cert NAME AREA PARENT ADMINKEY CHAIN
#                           a node certificate signed by ADMINKEY (and its
#                           delegation CHAIN, "-": none) into $T/NAME.cert
#   peer SCENARIO DIR NODE [ARGS...]
#                           fs_testpeer against NODE; its lines in OUT
#   nth N                   line N of OUT
#   node_kv NAME KEY        one count of fieldsyncd status
#   certs_of NAME           fieldsyncd cert list of NAME's store
#   wait_cert SECONDS NAME PATTERN
#                           until NAME's cert list shows PATTERN; prints
#                           the seconds it took
#   has_record NAME AREA ID true when NAME's merged records hold ID
#   wait_record SECONDS NAME AREA ID
#   wait_quiet SECONDS NAME until NAME's change_sets stayed put for 1 s
#   wait_pid PID SECONDS    a background job's end (bounded), status in WAITED
#   digests_agree AREA NODE...  / wait_converged SECONDS AREA NODE...
#   tip LAPTOP ID [FIELD=VALUE...]
#                           a citizen tip recorded offline with id ID

declare -A ADMIN_PORT=()

# node_cert NAME AREA PARENT ADMINKEY CHAIN: $T/NAME.key (made once) and a
# node certificate $T/NAME.cert signed by ADMINKEY, with the delegation
# CHAIN ("-": the key is the root's), under PARENT's key ("-": none).
node_cert() {
  local name=$1 area=$2 parent=$3 akey=$4 chain=$5 args=()
  deployment
  [[ -f "$T/$name.key" ]] || must "$FIELDSYNCD" keygen --key "$T/$name.key" --comment "$name"
  [[ $parent == - ]] || args+=(--parent "$T/$parent.key.pub")
  [[ $chain == - ]] || args+=(--chain "$chain")
  rm -f "$T/$name.cert"
  must "$FIELDSYNCD" admin certify-node --admin-key "$akey" --key "$T/$name.key.pub" \
    --id "$name" --area "$area" "${args[@]}" --out "$T/$name.cert"
}

# trust_node NAME AREA PARENT [LINE...]: configured with write_server_config
# (PARENT "-" for a root of the tree; else PARENT must be running), an
# admin port, then started. With NODE_ADMIN_KEY (and NODE_CHAIN, its
# delegation) set, that key certifies the node instead of the root.
trust_node() {
  local name=$1 area=$2 parent=$3 lines=()
  shift 3
  ADMIN_PORT[$name]=$(free_port)
  lines=("admin = 127.0.0.1:${ADMIN_PORT[$name]}")
  if [[ $parent != - ]]; then
    [[ -n ${SERVER_PORT[$parent]:-} ]] || fail "start $parent before its child $name"
    lines+=("parent = $(server_addr "$parent")")
    PARENT_NAME=$parent write_server_config "$name" "$area" "${lines[@]}" "$@"
  else
    PARENT_NAME= write_server_config "$name" "$area" "${lines[@]}" "$@"
  fi
  if [[ -n ${NODE_ADMIN_KEY:-} ]]; then
    node_cert "$name" "$area" "$parent" "$NODE_ADMIN_KEY" "${NODE_CHAIN:--}"
  fi
  start_server "$name"
}

# peer SCENARIO DIR NODE [ARGS...]: fs_testpeer SCENARIO for the device in
# $T/DIR against NODE; must exit 0 (the scenario ran); lines in OUT.
peer() {
  local sc=$1 dir=$2 node=$3
  shift 3
  must timeout 120 "$FS_TESTPEER" "$sc" --dir "$T/$dir" --server "$(server_addr "$node")" "$@"
}

nth() { sed -n "${1}p" <<<"$OUT"; }

node_kv() { kv "$(server_status "$1")" "$2"; }

certs_of() {
  "$FIELDSYNCD" cert list --data "$T/$1.data" || fail "fieldsyncd cert list failed for $1"
}

# wait_cert SECONDS NAME PATTERN: waits until NAME's certificate list has a
# line matching PATTERN (grep -E); prints the seconds it took.
wait_cert() {
  local limit=$1 name=$2 pat=$3 i t0=$SECONDS
  for ((i = 0; i < limit * 5; i++)); do
    if "$FIELDSYNCD" cert list --data "$T/$name.data" 2>/dev/null | grep -qE -- "$pat"; then
      echo $((SECONDS - t0))
      return 0
    fi
    sleep 0.2
  done
  fail "$name did not get a certificate matching [$pat] within ${limit}s:
$(certs_of "$name")"
}

# has_record NAME AREA ID: NAME's merged records (visible ones) hold ID.
has_record() {
  "$FIELDSYNCD" records --data "$T/$1.data" --area "$2" 2>/dev/null |
    grep -qE "^[^ ]+ $3 "
}

wait_record() { # SECONDS NAME AREA ID
  wait_until "$1" "record $4 at $2" has_record "$2" "$3" "$4"
}

digest_of() {
  local line
  line=$("$FIELDSYNCD" digest --data "$T/$1.data" --area "$2" 2>/dev/null) || {
    echo unreadable
    return 1
  }
  echo "${line% area=*}"
}

digests_agree() { # AREA NODE...
  local area=$1 first="" d n
  shift
  for n in "$@"; do
    d=$(digest_of "$n" "$area") || return 1
    if [[ -z $first ]]; then first=$d; elif [[ $d != "$first" ]]; then return 1; fi
  done
}

wait_converged() { # SECONDS AREA NODE...
  local limit=$1 area=$2 i n
  shift 2
  for ((i = 0; i < limit * 5; i++)); do
    digests_agree "$area" "$@" && return 0
    sleep 0.2
  done
  fail "digests of $area did not converge within ${limit}s:
$(for n in "$@"; do echo "$n $(digest_of "$n" "$area")"; done)"
}

# tip LAPTOP ID [FIELD=VALUE...]: a citizen tip with id ID, recorded offline.
tip() {
  local l=$1 id=$2
  shift 2
  must fs "$l" add --type tip --id "$id" received_at=2026-11-20T08:00 channel=phone \
    status=received "content=Tin báo $id" "$@"
  must fs "$l" seal # one change set per tip: these tests count sets and seqs
}
