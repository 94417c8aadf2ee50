#!/usr/bin/env bash
# tree_signals - a node survives a peer that closed first: SIGPIPE is
# ignored (found by the tree tests: a commune died of it, exit 141).
#
# Registered as integ_tree_signals. By hand, e.g. from build/:
#   FIELDSYNCD=server/fieldsyncd FIELDSYNC=client/fieldsync \
#   FS_TESTPEER=tests/tools/fs_testpeer FS_RELAY=tests/tools/fs_relay \
#   bash ../tests/integration/tree_signals.sh
# Each check runs on its own and says "fixed" when it passes; the test
# fails when any does not.
#
#   sigpipe_ignored  fieldsyncd does not ignore SIGPIPE (nothing in server/,
#                    common/ or client/ does; common/bconn.c uses
#                    MSG_NOSIGNAL, but common/conn.c writes through libuv,
#                    which does not). A node that writes to a connection its
#                    peer has already closed (twice: the first write gets
#                    ECONNRESET, the next EPIPE) is killed by the signal:
#                    exit status 141, not a line in its log, and laptops and
#                    child nodes lose their server until someone restarts
#                    it. Deterministic proxy: a running node sent SIGPIPE
#                    must keep running and serving.
#                    End to end it was seen in tree_parent_killed round (5)
#                    under ctest -j2 (the district stopped with SIGTERM
#                    while the commune pushes: the district acknowledges,
#                    says E_SHUTDOWN and closes; the commune, writing its
#                    next frames in one loop turn (server/uplink.c on_ack ->
#                    push_next/send_pull, or on_timer -> send_status,
#                    push_next, send_pull), died: exit 141, its log ending at
#                    the laptop's session.ready). A loop of such stops
#                    (3000 sets a round) killed the commune in round 19 of
#                    20; it is too rare to be a check of its own, so until
#                    the fix tree_parent_killed may fail in round (5) now
#                    and then with "laptop lap could not sync with commune".
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tree_lib.sh"

C=KT.KPL.DAKNEN
FAILED=()

sigpipe_ignored() {
  tree_node lone $C -
  tree_laptop lonelap $C >/dev/null
  kill -PIPE "${SERVER_PID[lone]}"
  sleep 0.5
  assert_alive lone
  must fs lonelap add --type patrol start=2026-11-24T20:00 end=2026-11-24T23:30 'route=Thôn 1'
  sync_ok lonelap lone
  stop_server lone
}

for check in sigpipe_ignored; do
  step "$check"
  isolated "$check"
  case $? in
  0) note "$check: fixed" ;;
  *) FAILED+=("$check") ;;
  esac
done
((${#FAILED[@]} == 0)) || fail "still broken: ${FAILED[*]}"
pass
