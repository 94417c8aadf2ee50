#!/usr/bin/env bash
# store_limits - a node whose storage fills up: the LMDB map grows and the
# node carries on; at map_max_mb, or when the disk itself is full, new
# change sets are refused with a clear Error (nothing in the push is
# acknowledged) while reads and status go on and nothing is corrupted; the
# on-disk format version is checked at start.
#
#   map_grows       map_size_mb = 16 and a laptop pushing EDITS change sets
#                   (well over 16 MiB of store): the node logs store.grown,
#                   acknowledges every set, and holds exactly them.
#   map_max_refuses map_max_mb = 32 and twice the edits: the sync fails with
#                   E_MAPFULL and the sentence; the node stays up, holds
#                   exactly what it acknowledged, serves another laptop's
#                   sync and fieldsyncd status; restarted with a larger
#                   map_max_mb it takes the rest.
#   disk_full       the node's data directory on a 64 MiB tmpfs (mounted for
#                   the check, unmounted by its trap; skipped with a message
#                   when this machine does not allow it): the sync fails with
#                   ENOSPC "no space left on device"; the node stays up and
#                   consistent; once space is freed, the same laptop syncs
#                   everything.
#   map_resized     another process writes 24 MiB into the store of a
#                   running node whose map is 16 MiB (fs_storetool fill),
#                   between a laptop's Pull and its Push on one connection:
#                   the node's write transaction cannot begin, and the push
#                   fails with an Error (E_STORE, nothing acknowledged)
#                   instead of the writer aborting a transaction it never
#                   had; the node stays up, maps the larger file, and takes
#                   the laptop's sets at its next sync.
#   format_version  a store whose meta "format" is 99 (fs_storetool
#                   set-format): fieldsyncd run exits 2 naming both formats;
#                   fieldsyncd status refuses it the same way.
#   format_upgrade  a commune whose district is down takes a laptop's sets;
#                   its store is rewritten in format 1 (fs_storetool
#                   to-format1, the layout of two builds ago). fieldsyncd
#                   status refuses it and says how to convert it; fieldsyncd
#                   run converts it all the way (store.upgraded 1 -> 2, every
#                   set, then 2 -> 3, every record, then 3 -> 4), forwards the converted
#                   log to the district once it is back, and takes the
#                   laptop's next sets: commune and district each hold every
#                   acknowledged set once, and their digests are the laptop's.
#   format2_upgrade a node's and its laptop's stores rewritten in format 2
#                   (fs_storetool to-format2: no area sums): fieldsyncd
#                   digest refuses the node's and says how to convert it;
#                   fieldsyncd run converts it (store.upgraded 2 -> 3, every
#                   record), the laptop's converts at its next command, and
#                   both digests are what they were before; digest --check
#                   (every record read) agrees.
#   format3_upgrade a node's and its laptop's stores rewritten in format 3
#                   (fs_storetool to-format3: change entries without their
#                   sole writer): fieldsyncd digest refuses the node's;
#                   fieldsyncd run converts it (store.upgraded 3 -> 4, each
#                   of the laptop's 100 records tagged as its alone), the
#                   laptop's converts at its next command, digests are what
#                   they were, and the laptop's next sync pushes its new sets
#                   and pulls none of its own records back.
. "$(dirname "$0")/lib.sh"

[[ -n "${FS_STORETOOL:-}" && -x "$FS_STORETOOL" ]] ||
  fail "\$FS_STORETOOL must name the built fs_storetool (run this test through ctest)"

A=KT.KPL.DAKNEN
EDITS=${FS_INTEG_EDITS:-40000}

mib() { echo $(($(stat -c %s "$1") >> 20)); }

# consistent NODE LAPTOP...: the node holds exactly what the laptops' outboxes
# no longer hold (each set once), nothing quarantined.
consistent() {
  local node=$1 l acked=0 st
  shift
  for l in "$@"; do
    st=$(laptop_status "$l")
    acked=$((acked + $(kv "$st" seq) - $(kv "$st" outbox)))
  done
  st=$(server_status "$node")
  assert_eq "$acked" "$(kv "$st" change_sets)" "$node's change sets = what the laptops saw acknowledged"
  assert_eq "$acked" "$(kv "$st" log_seq)" "$node's log_seq (nothing stored twice)"
  assert_eq 0 "$(kv "$st" quarantined)" "quarantined at $node"
}

map_grows() {
  local key
  key=$(laptop_init g1 $A)
  write_server_config grow $A "device = $key $A" "map_size_mb = 16"
  start_server grow
  must "$FS_TESTPEER" edits --dir "$T/g1" --count "$EDITS" --records 3000
  sync_ok g1 grow
  assert_eq 0 "$(laptop_outbox g1)" "g1's outbox after the sync"
  consistent grow g1
  assert_contains "$(cat "$T/grow.log")" "event=store.grown" "the node's log"
  note "$(grep -c event=store.grown "$T/grow.log") growths: $(grep event=store.grown "$T/grow.log" | tail -n 1)"
  (($(mib "$T/grow.data/data.mdb") > 16)) || fail "data.mdb is only $(mib "$T/grow.data/data.mdb") MiB"
  stop_server grow
  start_server grow # the larger map is where it starts again
  assert_eq "$(server_digest grow $A)" "$(laptop_digest g1 $A)" "digests after the restart"
  stop_server grow
}

map_max_refuses() {
  local k1 k2
  k1=$(laptop_init m1 $A)
  k2=$(laptop_init m2 $A)
  write_server_config full $A "device = $k1 $A" "device = $k2 $A" "map_size_mb = 16" \
    "map_max_mb = 32"
  { grep -v '^map_' "$T/full.ini"; echo "map_size_mb = 64"; echo "map_max_mb = 32"; } >"$T/bad.ini"
  expect_exit 2 "$FIELDSYNCD" check-config --config "$T/bad.ini"
  assert_contains "$ERR" "$T/bad.ini: map_max_mb (32) must be at least map_size_mb (64)" \
    "check-config on a map that may not grow to its start"
  start_server full
  must fs m2 add --type patrol --id before_full start=2026-11-24T20:00 end=2026-11-24T23:30 \
    'route=Thôn 1'
  sync_ok m2 full
  must "$FS_TESTPEER" edits --dir "$T/m1" --count $((2 * EDITS)) --records 3000
  expect_exit 2 "$FIELDSYNC" sync --dir "$T/m1" --server "$(server_addr full)"
  assert_contains "$ERR" "E_MAPFULL" "why m1's sync failed"
  assert_contains "$ERR" "storage map is full" "the sentence m1 was told"
  assert_contains "$ERR" "nothing in it was acknowledged" "the sentence m1 was told"
  note "m1: $(head -n 1 <<<"$ERR")"
  (($(laptop_outbox m1) > 0)) || fail "m1's outbox is empty although the node refused"
  assert_alive_server full
  consistent full m1 m2
  # Reads go on: another laptop syncs (and pulls), status and digest answer.
  must fs m2 edit before_full 'notes=ghi chú khi đầy'
  run "$FIELDSYNC" sync --dir "$T/m2" --server "$(server_addr full)"
  note "m2's sync with one new set while full: status $RC ($OUT$ERR)"
  must "$FIELDSYNC" status --dir "$T/m2"
  must "$FIELDSYNCD" records --data "$T/full.data" --area $A
  assert_contains "$OUT" "before_full patrol" "the node's records while full"
  consistent full m1 m2
  stop_server full
  sed -i 's/^map_max_mb = 32$/map_max_mb = 1024/' "$T/full.ini"
  start_server full
  sync_until_ok m1 full 5
  sync_until_ok m2 full 5
  assert_eq 0 "$(laptop_outbox m1)" "m1's outbox once the map may grow"
  consistent full m1 m2
  sync_ok m2 full
  assert_eq "$(server_digest full $A)" "$(laptop_digest m1 $A)" "digests, m1"
  assert_eq "$(server_digest full $A)" "$(laptop_digest m2 $A)" "digests, m2"
  stop_server full
}

assert_alive_server() {
  server_alive "$1" || fail "server $1 died (its log ends: $(tail -n 2 "$T/$1.log"))"
}

disk_full() {
  local m="$T/tmpfs" key
  mkdir -p "$m"
  if [[ $(id -u) != 0 ]] || ! mount -t tmpfs -o size=64m tmpfs "$m" 2>/dev/null; then
    note "SKIPPED disk_full: cannot mount a tmpfs here (needs root)"
    return 0
  fi
  trap 'kill_servers; umount "$m" 2>/dev/null' EXIT
  trap 'exit 1' TERM INT
  key=$(laptop_init d1 $A)
  write_server_config disk $A "device = $key $A" "map_size_mb = 256"
  sed -i "s|^data = .*|data = $m/disk.data|" "$T/disk.ini"
  start_server disk
  head -c $((48 << 20)) /dev/zero >"$m/filler" || fail "cannot write the filler file"
  must "$FS_TESTPEER" edits --dir "$T/d1" --count "$EDITS" --records 3000
  expect_exit 2 "$FIELDSYNC" sync --dir "$T/d1" --server "$(server_addr disk)"
  assert_contains "$ERR" "no space left on device" "why d1's sync failed"
  note "d1: $(head -n 1 <<<"$ERR")"
  assert_alive_server disk
  T_DATA=$m consistent_disk
  rm -f "$m/filler"
  sync_until_ok d1 disk 5
  assert_eq 0 "$(laptop_outbox d1)" "d1's outbox once there is room"
  T_DATA=$m consistent_disk
  assert_eq "$(kv "$("$FIELDSYNCD" digest --data "$m/disk.data" --area $A)" records)" \
    "$(kv "$(laptop_digest d1 $A)" records)" "record counts"
  stop_server disk
  umount "$m" || fail "cannot unmount $m"
  trap kill_servers EXIT
}

# consistent for the tmpfs node (its data directory is not $T/disk.data).
consistent_disk() {
  local st acked
  st=$(laptop_status d1)
  acked=$(($(kv "$st" seq) - $(kv "$st" outbox)))
  st=$("$FIELDSYNCD" status --data "$T_DATA/disk.data") || fail "fieldsyncd status failed on the full disk"
  assert_eq "$acked" "$(kv "$st" change_sets)" "change sets = what d1 saw acknowledged"
  assert_eq "$acked" "$(kv "$st" log_seq)" "log_seq (nothing stored twice)"
}

map_resized() {
  local k1 k2
  k1=$(laptop_init z1 $A)
  k2=$(laptop_init z2 $A)
  write_server_config resz $A "device = $k1 $A" "device = $k2 $A" "map_size_mb = 16"
  start_server resz
  must fs z1 add --type patrol --id z_1 start=2026-11-24T20:00 end=2026-11-24T23:30 'route=Thôn 1'
  sync_ok z1 resz # a commit before the one that cannot begin
  mkfifo "$T/z2.in"
  "$FS_TESTPEER" hold --dir "$T/z2" --server "$(server_addr resz)" <"$T/z2.in" >"$T/z2.out" 2>&1 &
  BG_PIDS+=($!)
  exec 7>"$T/z2.in"
  wait_until 30 "z2's session to be ready" grep -q '^ready' "$T/z2.out"
  must "$FS_STORETOOL" fill --data "$T/resz.data" --mb 24
  echo push >&7
  exec 7>&-
  wait_until 30 "z2's push to be answered" grep -qE '^(ack|error|closed)' "$T/z2.out"
  note "z2: $(grep -m 1 -E '^(ack|error|closed)' "$T/z2.out")"
  assert_contains "$(cat "$T/z2.out")" "error code=E_STORE" "z2's push while the map could not be begun"
  assert_contains "$(cat "$T/z2.out")" "nothing in it was acknowledged" "the sentence z2 was told"
  assert_alive_server resz
  must fs z1 edit z_1 'notes=sau khi bản đồ lớn hơn'
  sync_ok z1 resz
  assert_eq "pushed 1 stored 1" "$(sync_counts | cut -d' ' -f1-4)" "z1's sync once the node mapped the file"
  consistent resz z1
  stop_server resz
}

format_version() {
  local key
  key=$(laptop_init v1 $A)
  write_server_config ver $A "device = $key $A"
  start_server ver
  stop_server ver
  must "$FS_STORETOOL" set-format --data "$T/ver.data" --format 99
  expect_exit 2 "$FIELDSYNCD" run --config "$T/ver.ini" --listen "127.0.0.1:$(free_port)"
  assert_contains "$ERR" "event=server.store" "the refusal's log line"
  assert_contains "$ERR" "err=E_VERSION format=99 supported=4" "the refusal's log line"
  assert_contains "$ERR" "written in on-disk format 99; this fieldsyncd reads format 4" \
    "the refusal's sentence"
  note "run: $(grep event=server.store <<<"$ERR")"
  expect_exit 2 "$FIELDSYNCD" status --data "$T/ver.data"
  assert_contains "$ERR" "on-disk format 99; this fieldsyncd reads format 4" "status"
}

format_upgrade() {
  local key st acked
  key=$(laptop_init u1 $A)
  PARENT_NAME= write_server_config updist KT.KPL
  start_server updist
  stop_server updist # down while the commune takes the laptop's sets
  PARENT_NAME=updist write_server_config upcomm $A "device = $key $A" \
    "parent = $(server_addr updist)"
  start_server upcomm
  must "$FS_TESTPEER" edits --dir "$T/u1" --count 300 --records 100
  sync_ok u1 upcomm
  stop_server upcomm
  st=$(laptop_status u1)
  acked=$(($(kv "$st" seq) - $(kv "$st" outbox)))
  must "$FS_STORETOOL" to-format1 --data "$T/upcomm.data"
  expect_exit 2 "$FIELDSYNCD" status --data "$T/upcomm.data"
  assert_contains "$ERR" "on-disk format 1, older than this fieldsyncd's 4: restart the node" \
    "status on a format 1 store"
  start_server updist
  start_server upcomm
  assert_contains "$(cat "$T/upcomm.log")" "event=store.upgraded node=upcomm from=1 to=2 sets=$acked" \
    "the commune's log"
  assert_contains "$(cat "$T/upcomm.log")" "event=store.upgraded node=upcomm from=2 to=3 records=100 areas=1" \
    "the commune's log"
  assert_contains "$(cat "$T/upcomm.log")" "event=store.upgraded node=upcomm from=3 to=4 tagged=100" \
    "the commune's log"
  note "$(grep event=store.upgraded "$T/upcomm.log")"
  must "$FS_TESTPEER" edits --dir "$T/u1" --count 50 --records 100
  sync_ok u1 upcomm
  consistent upcomm u1
  st=$(laptop_status u1)
  acked=$(($(kv "$st" seq) - $(kv "$st" outbox)))
  wait_until 60 "the district to hold all $acked sets" district_holds "$acked"
  consistent updist u1
  assert_eq "$(laptop_digest u1 $A)" "$(server_digest upcomm $A)" "the commune's digest"
  assert_eq "$(laptop_digest u1 $A)" "$(server_digest updist $A)" "the district's digest"
  stop_server upcomm
  stop_server updist
}

# old_format_upgrade N NODE LAPTOP LOG: a node's and its laptop's stores,
# holding 300 sets on 100 records, rewritten in format N; every command but
# the node's writer refuses it; fieldsyncd run converts it and logs LOG;
# both digests are what they were (the laptop's converts at its next command).
old_format_upgrade() {
  local key before
  key=$(laptop_init "$3" $A)
  write_server_config "$2" $A "device = $key $A"
  start_server "$2"
  must "$FS_TESTPEER" edits --dir "$T/$3" --count 300 --records 100
  sync_ok "$3" "$2"
  stop_server "$2"
  before=$(server_digest "$2" $A)
  assert_eq "$before" "$(laptop_digest "$3" $A)" "the laptop's digest, format 4"
  must "$FS_STORETOOL" to-format"$1" --data "$T/$2.data"
  must "$FS_STORETOOL" to-format"$1" --data "$T/$3/store"
  expect_exit 2 "$FIELDSYNCD" digest --data "$T/$2.data" --area $A
  assert_contains "$ERR" "on-disk format $1, older than this fieldsyncd's 4: restart the node" \
    "digest on a format $1 store"
  start_server "$2"
  assert_contains "$(cat "$T/$2.log")" "event=store.upgraded node=$2 $4" "the node's log"
  note "$(grep event=store.upgraded "$T/$2.log")"
  assert_eq "$before" "$(server_digest "$2" $A)" "the node's digest after the conversion"
  assert_eq "$before" "$(laptop_digest "$3" $A)" "the laptop's digest after its conversion"
}

format2_upgrade() {
  old_format_upgrade 2 f2node f2 "from=2 to=3 records=100 areas=1"
  must "$FIELDSYNCD" digest --check --data "$T/f2node.data" --area $A
  must "$FIELDSYNCD" digest --check --data "$T/f2node.data"
  stop_server f2node
}

format3_upgrade() {
  old_format_upgrade 3 f3node f3 "from=3 to=4 tagged=100"
  must "$FS_TESTPEER" edits --dir "$T/f3" --count 50 --records 100
  sync_ok f3 f3node
  assert_eq "pushed 50 stored 50 pulled 0" "$(sync_counts)" "the sync after the conversion"
  consistent f3node f3
  stop_server f3node
}

district_holds() { [[ $(kv "$(server_status updist)" change_sets) == "$1" ]]; }

run_checks map_grows map_max_refuses disk_full map_resized format_version format_upgrade \
  format2_upgrade format3_upgrade
