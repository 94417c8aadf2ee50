#!/usr/bin/env bash
# hostile_server - a real laptop against a certified commune server that
# misbehaves (tests/tools/fs_fakeserver): the laptop keeps what the server
# did not store, and a sync ends with a sentence and exit 2, never hangs.
#
#   honest_fake    the fake in mode ok: the laptop syncs, its outbox empties
#                  (the fake is a fair server when it wants to be)
#   ack_wrong_seq  an Ack naming seq + 1 for each set
#   ack_reordered  an Ack of the right sets in reverse order
#   ack_wrong_id   an Ack naming another set's id at each seq
#   ack_other_device  an Ack naming another device
#                  each: exit 2, "acknowledged", the outbox keeps every set
#   pull_stuck     every Records says more at the cursor it was asked for:
#                  exit 2 at once, nothing pulled is counted
#   pull_endless   every Records says more, one record further: the sync
#                  stops after FS_SYNC_PULL_ROUNDS (4,096) Pulls with exit 2,
#                  the cursor it reached kept for the next sync
#   hello_certs    the server's Hello carries 9 certificates (a Hello may
#                  carry 8): exit 2 with a sentence before any is checked
#   handshake_trickle  the server sends its handshake a byte a second (each
#                  byte re-arms the connection's idle timer)
#   server_unreachable  the server's SYNs go unanswered (a full listen queue)
#                  each: exit 2 at FS_SYNC_WELCOME_MS (15 s) with a sentence,
#                  the outbox kept
#   uplink_trickle  the same fake as the parent of a node: the node's link
#                  gives up at FS_UPLINK_HANDSHAKE_MS (15 s) with a sentence
#                  and tries again later (it waited for ever: every byte
#                  re-armed its 30 s idle limit)
#   clock_at_limit  a pulled record stamped 2^63-1 (a device with a wrong
#                  date): kept as it came, the laptop's next edit still
#                  recorded with a clock of now; editing that record's
#                  fields is refused with a sentence
#   clock_year_ahead  stamped a year ahead: the next edit's clock is now
#   clock_hour_ahead  stamped an hour ahead, within FS_HLC_MAX_SKEW_MS: taken,
#                  so the next edit is stamped after it
. "$(dirname "$0")/lib.sh"

[[ -n ${FS_FAKESERVER:-} && -x $FS_FAKESERVER ]] ||
  fail "\$FS_FAKESERVER must name the built fs_fakeserver (run this test through ctest)"

AREA=KT.KPL.DAKNEN
SETS=3

# fake MODE [ARGS...]: starts fs_fakeserver as a node certified for AREA;
# FAKE is its address, $T/fake.out what it prints.
fake() {
  [[ -f $T/fake.cert ]] || write_server_config fake $AREA
  "$FS_FAKESERVER" "$1" --key "$T/fake.key" --cert "$T/fake.cert" \
    --network-key "$T/admin/network.key" --area $AREA "${@:2}" >"$T/fake.out" 2>&1 &
  BG_PIDS+=("$!")
  wait_until 30 "fs_fakeserver $1 to listen" grep -q '^listening port=' "$T/fake.out"
  FAKE=127.0.0.1:$(sed -n 's/^listening port=//p' "$T/fake.out")
}

# laptop NAME: an enrolled laptop with SETS signed change sets in its outbox.
laptop() {
  local k
  k=$(laptop_init "$1" $AREA)
  enrol_laptop "$k" $AREA
  must "$FS_TESTPEER" edits --dir "$T/$1" --count $SETS
  assert_eq $SETS "$(kv "$(laptop_status "$1")" outbox)" "sets in the outbox of $1"
}

honest_fake() {
  laptop fair
  fake ok
  must timeout 60 "$FIELDSYNC" sync --dir "$T/fair" --server "$FAKE"
  assert_contains "$OUT" "pushed $SETS change sets" "sync with the honest fake"
  assert_eq 0 "$(kv "$(laptop_status fair)" outbox)" "outbox after an honest Ack"
  assert_contains "$(cat "$T/fake.out")" "push sets=$SETS first=1 last=$SETS" "what was pushed"
}

# bad_ack MODE: the laptop refuses the Ack and keeps its outbox.
bad_ack() {
  laptop "$1"
  fake "$1"
  expect_exit 2 timeout 60 "$FIELDSYNC" sync --dir "$T/$1" --server "$FAKE"
  assert_contains "$ERR" "acknowledged" "the laptop says the Ack is wrong"
  assert_contains "$ERR" "$SETS change sets wait in the outbox" "the officer is told"
  assert_eq $SETS "$(kv "$(laptop_status "$1")" outbox)" "outbox after a wrong Ack"
}

ack_wrong_seq() { bad_ack ack-seq; }
ack_reordered() { bad_ack ack-order; }
ack_wrong_id() { bad_ack ack-id; }
ack_other_device() { bad_ack ack-device; }

pull_stuck() {
  laptop stuck
  fake more-stuck
  expect_exit 2 timeout 60 "$FIELDSYNC" sync --dir "$T/stuck" --server "$FAKE"
  assert_contains "$ERR" "has more records but does not move past record 0" "a stuck pull"
  assert_eq 0 "$(kv "$(laptop_status stuck)" outbox)" "the push before it went through"
  assert_eq 1 "$(grep -c '^pull ' "$T/fake.out")" "Pulls sent"
}

pull_endless() {
  laptop endless
  fake more-creep
  expect_exit 2 timeout 240 "$FIELDSYNC" sync --dir "$T/endless" --server "$FAKE"
  assert_contains "$ERR" "still has more records after 4096 pulls" "an endless pull"
  assert_contains "$ERR" "sync again to pull the rest" "what to do"
  assert_eq 4096 "$(grep -c '^pull ' "$T/fake.out")" "Pulls sent"
  assert_eq 4096 "$(kv "$(laptop_status endless)" pull_cursor)" "the cursor reached is kept"
}

# no_welcome MODE SENTENCE: the sync gives up at its deadline, saying
# SENTENCE (FAKE in it: the fake's address).
no_welcome() {
  local t0 took
  laptop "$1"
  fake "$1"
  t0=$SECONDS
  expect_exit 2 timeout 60 "$FIELDSYNC" sync --dir "$T/$1" --server "$FAKE"
  took=$((SECONDS - t0))
  assert_contains "$ERR" "${2//FAKE/$FAKE} within 15 s" "the laptop says why it gave up"
  assert_contains "$ERR" "$SETS change sets wait in the outbox" "the officer is told"
  ((took >= 14 && took <= 30)) || fail "the sync ended after $took s, not at its 15 s deadline"
}

# A server Hello with more certificates than a Hello may carry: refused
# before any is checked, the outbox kept.
hello_certs() {
  laptop many
  fake hello-certs
  expect_exit 2 timeout 60 "$FIELDSYNC" sync --dir "$T/many" --server "$FAKE"
  assert_contains "$ERR" "the server's hello carries 9 certificates; at most 8 are allowed" \
    "the laptop says why"
  assert_eq $SETS "$(kv "$(laptop_status many)" outbox)" "outbox after a refused Hello"
}

handshake_trickle() { no_welcome trickle "did not complete the handshake"; }
server_unreachable() { no_welcome blackhole "cannot reach the server at FAKE"; }

# pull_far NAME HLC: the laptop pulls far1 stamped HLC and adds mine1;
# WHEN: the epoch seconds of mine1's clock.
pull_far() {
  local at
  laptop "$1"
  fake future --hlc "$2"
  must timeout 60 "$FIELDSYNC" sync --dir "$T/$1" --server "$FAKE"
  assert_contains "$OUT" "pulled 1 records" "far1 pulled"
  must fs "$1" add --type patrol --id mine1 start=2026-11-21T20:00 end=2026-11-21T22:00 route=r
  must fs "$1" show mine1
  at=$(sed -n 's/^route: .*(\([^ ]*\) by .*/\1/p' <<<"$OUT")
  WHEN=$(date -u -d "$at" +%s) || fail "no clock in: $OUT"
}

ms_now() { date +%s%3N; }

clock_at_limit() {
  pull_far limit 9223372036854775807
  ((WHEN <= $(date +%s) + 60)) || fail "the laptop's edit is stamped $WHEN, not now"
  must fs limit show far1
  assert_contains "$OUT" "route: " "far1 is kept"
  assert_contains "$OUT" "(6429-" "far1 keeps its clock"
  expect_exit 2 fs limit edit far1 route=x
  assert_contains "$ERR" "stamped more than a day ahead of this laptop's clock" "edit of far1"
  expect_exit 2 fs limit delete far1
  assert_contains "$ERR" "check this laptop's date and time" "delete of far1"
}

clock_year_ahead() {
  pull_far year $((($(ms_now) + 365 * 86400000) << 16))
  ((WHEN <= $(date +%s) + 60)) || fail "the laptop's edit is stamped $WHEN, not now"
}

clock_hour_ahead() {
  pull_far hour $((($(ms_now) + 3600000) << 16))
  ((WHEN >= $(date +%s) + 3500)) || fail "the laptop's edit ($WHEN) is not after what it pulled"
}

uplink_trickle() {
  local t0 took
  fake trickle
  write_server_config child $AREA "parent = $FAKE"
  t0=$SECONDS
  start_server child
  wait_until 60 "the node's link to give up on the trickling parent" \
    grep -q "did not complete the handshake within 15 s" "$T/child.log"
  took=$((SECONDS - t0))
  ((took >= 13 && took <= 40)) || fail "the link gave up after $took s, not at its 15 s deadline"
  assert_contains "$(grep 'event=uplink.error' "$T/child.log" | head -n 1)" "err=E_TIMEOUT" \
    "the link's error"
  wait_until 30 "the fake to see the node hang up" grep -q '^closed' "$T/fake.out"
  stop_server child
}

run_checks honest_fake ack_wrong_seq ack_reordered ack_wrong_id ack_other_device \
  pull_stuck pull_endless hello_certs handshake_trickle server_unreachable \
  uplink_trickle clock_at_limit clock_year_ahead clock_hour_ahead
