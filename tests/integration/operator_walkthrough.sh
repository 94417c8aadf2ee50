#!/usr/bin/env bash
# operator_walkthrough - follows the README's "Walkthrough" literally, as a
# new operator would (issue 7, item 6).
#
# Every fenced ```sh block of that section is run, in order, with bash -e,
# on the machine its first line names ("# on the commune server"). Each
# machine is a directory $T/m/NAME standing for its file system: the paths
# the README uses (/etc/fieldsync, /var/lib/fieldsync, /usr/share/doc/
# fieldsync, /secure, /backup) are rewritten below it, /media/usb is one
# directory every machine shares, ~ is the machine's home, and the servers'
# addresses 10.20.x.1:7400 become 127.0.0.2-4 on free ports (the admin
# ports 127.0.0.1:8400 free ports on 127.0.0.1). The text is otherwise
# unchanged. What a machine has but this one must not be touched for:
#   apt install X.deb    unpacks X.deb into the machine (dpkg-deb -x) and
#                        makes the directories its postinst makes;
#   systemctl            runs the unpacked unit's ExecStartPre and ExecStart
#                        lines (%i and paths filled in) in the background,
#                        stop/reload send SIGTERM/SIGHUP;
#   journalctl -u        prints the node's log;
#   chown fieldsync:...  is skipped when there is no such user.
# The build machine's block is the one not run: the package is the build
# under test's (cpack -G DEB), copied to the stick as that block does.
# Between blocks the test waits (at most 30 s) for the running nodes to
# agree, as a person would look before typing on.
#
# Then it checks what the README promises: the laptop's records are at the
# province with the laptop's digest, every node is in the province's tree,
# and after the restore the commune, the province and the laptop agree and
# the province holds each of the laptop's change sets once.
#
# Registered as integ_operator_walkthrough (needs FS_BUILD_DIR).
. "$(dirname "$0")/lib.sh"

README=$(dirname "$0")/../../README.md
SECTION='### Walkthrough: a province, a district, a commune and a laptop'

SERVERS=(province district commune)
ALL=(workstation province district commune laptop)
declare -A LISTEN=() ADMIN=() IP=([province]=127.0.0.2 [district]=127.0.0.3 [commune]=127.0.0.4)
declare -A REAL=([province]=10.20.0.1:7400 [district]=10.20.1.1:7400 [commune]=10.20.2.1:7400)
for m in "${SERVERS[@]}"; do
  LISTEN[$m]=${IP[$m]}:$(free_port)
  ADMIN[$m]=127.0.0.1:$(free_port)
done
mkdir -p "$T/usb" "$T/blocks" "$T/pids"

# The servers the blocks started (systemctl) end with the test, by pid.
stop_walkthrough() {
  local f pid i
  for f in "$T"/pids/*; do
    [[ -f $f ]] || continue
    pid=$(cat "$f")
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
}
trap 'stop_walkthrough; cleanup' EXIT
for m in "${ALL[@]}"; do mkdir -p "$T/m/$m/home"; done

# ------------------------------------------------------------ the machines

# What a Debian machine provides and the test may not use for real: sourced
# by every block, with MACHINE and R (its root) set.
cat >"$T/fakes.sh" <<'EOF'
apt() {
  [[ $1 == install ]] || { echo "apt (test): only install" >&2; return 2; }
  shift
  local deb
  for deb in "$@"; do
    dpkg-deb -x "$deb" "$R" || return 2
    # The postinst's directories (without the owner: no fieldsync user here).
    dpkg-deb -I "$deb" postinst | sed -n 's/^ *install -d -m \([0-7]*\) -o [a-z]* -g [a-z]* \(.*\)$/\1 \2/p' |
      while read -r mode dir; do mkdir -p -m "$mode" "$R$dir"; done
    echo "fieldsync unpacked into $R (apt install, test)"
  done
}

chown() {
  if getent passwd fieldsync >/dev/null; then command chown "$@"; else
    echo "chown $* skipped (test: no fieldsync user)" >&2
  fi
}

# The unit's command lines for instance $1, as this machine has them.
unit_line() {
  sed -n "s/^$2=//p" "$R/usr/lib/systemd/system/fieldsyncd@.service" |
    sed -e "s/%i/$1/g" -e "s|/usr/bin/|$R/usr/bin/|g" -e "s|/etc/fieldsync|$R/etc/fieldsync|g"
}

unit_start() {
  local inst=$1 log=$R/journal-$1.log pre start pid lines i
  pre=$(unit_line "$inst" ExecStartPre)
  start=$(unit_line "$inst" ExecStart)
  [[ -n $start ]] || { echo "systemctl (test): no ExecStart in the unit" >&2; return 1; }
  if ! $pre >>"$log" 2>&1; then
    echo "Job for fieldsyncd@$inst.service failed (ExecStartPre): $(tail -n 3 "$log")" >&2
    return 1
  fi
  lines=$(wc -l <"$log")
  nohup $start </dev/null >>"$log" 2>&1 &
  pid=$!
  echo "$pid" >"$T/pids/$MACHINE-$inst"
  for ((i = 0; i < 300; i++)); do
    tail -n +$((lines + 1)) "$log" | grep 'event=server.started' >/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "fieldsyncd@$inst.service failed to start: $(tail -n 3 "$log")" >&2
  return 1
}

unit_stop() {
  local pidf=$T/pids/$MACHINE-$1 pid i
  [[ -f $pidf ]] || return 0
  pid=$(cat "$pidf")
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidf"; return 0; }
    sleep 0.1
  done
  echo "fieldsyncd@$1 did not stop within 20 s" >&2
  return 1
}

systemctl() {
  local verb=$1 now=0
  shift
  [[ ${1:-} == --now ]] && { now=1; shift; }
  local inst=${1#fieldsyncd@}
  inst=${inst%.service}
  case $verb in
  enable) ((now == 0)) || unit_start "$inst" ;;
  start) unit_start "$inst" ;;
  stop) unit_stop "$inst" ;;
  restart) unit_stop "$inst" && unit_start "$inst" ;;
  reload) kill -HUP "$(cat "$T/pids/$MACHINE-$inst")" ;;
  status)
    if [[ -f $T/pids/$MACHINE-$inst ]] && kill -0 "$(cat "$T/pids/$MACHINE-$inst")" 2>/dev/null; then
      echo "fieldsyncd@$inst.service - active (running)"
    else
      echo "fieldsyncd@$inst.service - inactive (dead)"
      return 3
    fi ;;
  *) echo "systemctl (test): $verb is not emulated" >&2; return 2 ;;
  esac
}

journalctl() {
  local inst="" n=20
  while (($#)); do
    case $1 in
    -u) inst=${2#fieldsyncd@}; shift 2 ;;
    -n) n=$2; shift 2 ;;
    *) shift ;;
    esac
  done
  tail -n "$n" "$R/journal-$inst.log"
}
EOF

# machine_of LINE: the machines a block's first line names.
machines_of() {
  case $1 in
  "# on the build machine") echo build ;;
  "# on every machine") echo "${ALL[@]}" ;;
  "# on the administrator's workstation") echo workstation ;;
  "# on the province server") echo province ;;
  "# on the district server") echo district ;;
  "# on the commune server") echo commune ;;
  "# on the laptop") echo laptop ;;
  *) return 1 ;;
  esac
}

# rewrite MACHINE: the block on stdin as it reads on MACHINE of this test.
# A path is rewritten where it begins (after a space, = or a quote).
rewrite() {
  local m=$1 R=$T/m/$1 args=() s p
  for s in "${SERVERS[@]}"; do args+=(-e "s|${REAL[$s]}|${LISTEN[$s]}|g"); done
  if [[ -n ${LISTEN[$m]:-} ]]; then
    args+=(-e "s|0\.0\.0\.0:7400|${LISTEN[$m]}|g" -e "s|127\.0\.0\.1:8400|${ADMIN[$m]}|g")
  fi
  for p in /etc/fieldsync /var/lib/fieldsync /usr/share/doc/fieldsync /secure /backup; do
    args+=(-e "s#(^|[ =\"'])$p#\\1$R$p#g")
  done
  sed -E "${args[@]}" -e "s#(^|[ =\"'])/media/usb#\\1$T/usb#g"
}

# outside_paths FILE: the absolute paths in a rewritten block that lie
# outside $T: none may, the blocks run as whoever runs the test.
outside_paths() {
  grep -oE "(^|[ =\"'(])/[^ \"')]*" "$1" | sed -E "s#^[ =\"'(]##" | grep -v "^$T" | sort -u
}

# ------------------------------------------------------------ the blocks

step "the README's walkthrough, block by block"
awk -v sec="$SECTION" -v dir="$T/blocks" '
  $0 == sec { on = 1; next }
  on && /^##/ { exit }
  on && /^```sh$/ { n++; f = sprintf("%s/%02d.sh", dir, n); inb = 1; next }
  inb && /^```$/ { inb = 0; close(f); next }
  inb { print > f }
' "$README"
BLOCKS=("$T"/blocks/*.sh)
[[ ${#BLOCKS[@]} -ge 15 ]] || fail "found only ${#BLOCKS[@]} sh blocks under '$SECTION' in README.md"
note "${#BLOCKS[@]} blocks"

# running NAME: the pid of server NAME's fieldsyncd when it runs.
running() {
  local f=$T/pids/$1-$1
  [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null
}
node_data() { echo "$T/m/$1/var/lib/fieldsync/$1"; }
sets_of() { kv "$("$FIELDSYNCD" status --data "$(node_data "$1")" 2>/dev/null)" change_sets; }

# settle: waits, as a person looks before typing on, until the running
# servers hold the same number of change sets and the province's tree shows
# the commune with the commune's record count, or until nothing has changed
# for 2 s (after the restore they differ until the laptop syncs). At most
# 30 s; the checks at the end decide.
settle() {
  local i m n now last="" same=0 ok
  for ((i = 0; i < 150; i++)); do
    ok=1 now=""
    for m in "${SERVERS[@]}"; do
      running "$m" || continue
      n=$(sets_of "$m")
      now+="$m=$n "
      [[ $n == "$(sets_of commune)" ]] || ok=0
    done
    if running province && running commune; then
      n=$("$FIELDSYNCD" tree --admin "${ADMIN[province]}" 2>/dev/null | awk '$1 == "dak-nen" {print $5}')
      now+="tree=$n"
      [[ $n == "$(kv "$("$FIELDSYNCD" status --data "$(node_data commune)")" records)" ]] || ok=0
    fi
    ((ok)) && return 0
    if [[ $now == "$last" ]]; then
      ((++same >= 10)) && return 0
    else
      same=0 last=$now
    fi
    sleep 0.2
  done
  note "the nodes did not settle within 30 s ($now); going on"
}

declare -A OUTPUT=()
for b in "${BLOCKS[@]}"; do
  id=$(basename "$b" .sh)
  first=$(head -n 1 "$b")
  ms=$(machines_of "$first") || fail "README block $id begins with [$first], not a machine this test knows"
  if [[ $ms == build ]]; then
    note "block $id (the build machine): cpack of the build under test"
    build_deb "$T/pkg"
    cp "$DEB" "$T/usb/"
    continue
  fi
  settle
  for m in $ms; do
    R=$T/m/$m
    {
      echo "set -e -o pipefail"
      echo "MACHINE=$m R=$R T=$T"
      echo "export HOME=$R/home PATH=$R/usr/bin:\$PATH"
      echo "cd \"\$HOME\""
      echo ". \"$T/fakes.sh\""
      rewrite "$m" <"$b"
    } >"$T/blocks/$id-$m.run"
    bad=$(tail -n +6 "$T/blocks/$id-$m.run" | outside_paths /dev/stdin)
    [[ -z $bad ]] || fail "README block $id names paths this test does not map for the $m, not run: $bad"
    step "block $id on the $m: $(sed -n '2p' "$b" | cut -c1-70)"
    run bash "$T/blocks/$id-$m.run"
    if [[ $RC -ne 0 ]]; then
      echo "---- the block as run:" >&2
      cat "$T/blocks/$id-$m.run" >&2
      for f in "$T"/m/*/journal-*.log; do
        [[ -f $f ]] && { echo "---- $f"; tail -n 15 "$f"; } >&2
      done
      fail "README block $id failed on the $m (status $RC)"
    fi
    OUTPUT[$id-$m]=$OUT
    [[ -z $OUT ]] || note "$(head -c 600 <<<"$OUT" | sed '2,$s/^/   /')"
  done
done

# ------------------------------------------------------------ what it promised

step "the nodes run, every one in the province's tree"
for m in "${SERVERS[@]}"; do running "$m" || fail "fieldsyncd@$m is not running at the end"; done
settle
tree=$("$FIELDSYNCD" tree --admin "${ADMIN[province]}") || fail "fieldsyncd tree failed"
for id in kontum kon-plong dak-nen; do assert_contains "$tree" "$id" "the province's tree"; done

step "the laptop's records are at the province, nothing lost, nothing twice"
LAP=$T/m/laptop/home/fs
lap=$("$FIELDSYNC" status --dir "$LAP")
seq=$(kv "$lap" seq)
# Three syncs, each sealing what was pending into one change set.
assert_eq 3 "$seq" "the laptop's change sets (3 syncs)"
assert_eq 0 "$(kv "$lap" outbox)" "the laptop's outbox"
assert_eq 0 "$(kv "$lap" pending)" "the laptop's pending edits"
lap_digest=$("$FIELDSYNC" digest --dir "$LAP" --area KT.KPL.DAKNEN)
lap_digest=${lap_digest% area=*}
assert_contains "$lap_digest" "records=5" "the laptop's records"
for m in commune district province; do
  wait_until 30 "$m to hold the laptop's $seq change sets" \
    bash -c "[[ \$(\"$FIELDSYNCD\" status --data \"$(node_data $m)\" | tr ' ' '\n' | grep '^change_sets=') == change_sets=$seq ]]"
  d=$("$FIELDSYNCD" digest --data "$(node_data $m)" --area KT.KPL.DAKNEN)
  assert_eq "$lap_digest" "${d% area=*}" "the $m's digest vs the laptop's"
  st=$("$FIELDSYNCD" status --data "$(node_data $m)")
  assert_eq "$seq" "$(kv "$st" log_seq)" "the $m's log: each change set once"
done
recs=$("$FIELDSYNCD" records --data "$(node_data province)" --area KT.KPL.DAKNEN)
assert_contains "$recs" "first_incident incident" "the incident at the province"
assert_contains "$recs" 'route="Buôn Ea H’Leo"' "an imported patrol at the province"
assert_contains "$recs" 'route="Thôn 4"' "the patrol synced after the restore"
[[ -d $T/m/commune/var/lib/fieldsync/commune.broken ]] || fail "the restore block did not run"

step "the blocks' own output"
all=$(printf '%s\n' "${OUTPUT[@]}")
assert_contains "$all" "ok (node kontum, area KT)" "check-config of the province"
assert_contains "$all" "ok (node dak-nen, area KT.KPL.DAKNEN)" "check-config of the commune"
assert_contains "$all" "enrolled: Nguyễn Văn An" "the laptop's enrolment"
assert_contains "$all" "synced with dak-nen" "the laptop's sync"
assert_contains "$all" "consistent copy of" "the backup"

step "the servers stop cleanly"
for m in "${SERVERS[@]}"; do
  (MACHINE=$m R=$T/m/$m && . "$T/fakes.sh" && systemctl stop "fieldsyncd@$m") ||
    fail "fieldsyncd@$m did not stop"
  grep -q 'event=server.stopped' "$T/m/$m/journal-$m.log" || fail "fieldsyncd@$m did not log its stop"
  if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/m/$m/journal-$m.log"; then
    fail "sanitizer report in the log of $m"
  fi
done
pass
