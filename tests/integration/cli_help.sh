#!/usr/bin/env bash
# cli_help - every command of both binaries explains itself (issue 7, item 5).
#
# The commands are read from each tool's own list (`fieldsync --help`,
# `fieldsyncd --help`, `fieldsyncd admin --help`, `fieldsyncd cert --help`),
# so a command added later is checked too. For each one:
#   - `PROG CMD --help` (and -h, and --help after other options) exits 0 and
#     prints "usage: PROG CMD", an "example:" whose next line runs PROG CMD,
#     and the exit codes;
#   - a bad option exits 1 and says where the help is;
#   - the man page (packaging/man) names the command and the exit codes;
# and an unknown command exits 1 naming it, for each tool and group.
#
# Registered as integ_cli_help.
. "$(dirname "$0")/lib.sh"

MAN=$(dirname "$0")/../../packaging/man
# Commands are typed as a user types them: the built binaries come first.
PATH=$(dirname "$FIELDSYNC"):$(dirname "$FIELDSYNCD"):$PATH
EXITS="exit status: 0 ok, 1 usage error"

# commands_of PROG...: the command names PROG --help lists.
commands_of() {
  "$@" --help | sed -n '/^commands (each has --help/,/^$/p' | awk 'NF && !/^commands/ {print $1}'
}

# check_help PROG CMD [ARGS...]: the help of one command.
check_help() {
  local prog=$1 cmd=$2 want
  shift 2
  for flag in --help -h; do
    must $prog $cmd "$@" $flag
    assert_contains "$OUT" "usage: $prog $cmd" "$prog $cmd $flag: the usage line"
    assert_contains "$OUT" "$EXITS" "$prog $cmd $flag: the exit codes"
    want=$(awk '/^example:$/ {getline; print; exit}' <<<"$OUT")
    assert_contains "$want" "$prog $cmd" "$prog $cmd $flag: the line after example:"
  done
}

checked=0
for tool in "$FIELDSYNC" "$FIELDSYNCD"; do
  prog=$(basename "$tool")
  step "$prog: its command list"
  must "$tool" --help
  assert_contains "$OUT" "usage: $prog <command>" "$prog --help"
  assert_contains "$OUT" "example:" "$prog --help"
  assert_contains "$OUT" "$EXITS" "$prog --help"
  expect_exit 1 "$tool"
  assert_contains "$ERR" "a command is required" "$prog alone"
  expect_exit 1 "$tool" frobnicate
  assert_contains "$ERR" "unknown command 'frobnicate'; the commands are listed by: $prog --help" \
    "$prog frobnicate"
  cmds=$(commands_of "$tool")
  [[ $(wc -w <<<"$cmds") -ge 10 ]] || fail "$prog --help lists only: $cmds"
  man=$MAN/$prog.$([[ $prog == fieldsyncd ]] && echo 8 || echo 1)
  [[ -f $man ]] || fail "no man page $man"
  # The roff source with its escapes for - and fonts removed.
  mantext=$(sed -e 's/\\-/-/g' -e 's/\\f[BIR]//g' "$man")
  assert_contains "$mantext" ".SH EXIT STATUS" "$man"
  assert_contains "$mantext" "Usage error" "$man's exit status"
  assert_contains "$mantext" "Refused or failed" "$man's exit status"
  for cmd in $cmds; do
    if [[ $cmd == admin || $cmd == cert ]]; then
      step "$prog $cmd: its own command list"
      must "$tool" $cmd --help
      assert_contains "$OUT" "usage: $prog $cmd <command>" "$prog $cmd --help"
      expect_exit 1 "$tool" $cmd frobnicate
      assert_contains "$ERR" "$prog $cmd: unknown command 'frobnicate'; the commands are listed by: $prog $cmd --help" \
        "$prog $cmd frobnicate"
      for sub in $(commands_of "$tool" $cmd); do
        assert_contains "$mantext" ".B $prog $cmd $sub" "$man names the command"
        check_help "$prog $cmd" "$sub"
        # --help wins wherever it stands, even after a required option.
        check_help "$prog $cmd" "$sub" --out "$T/never"
        [[ ! -e "$T/never" ]] || fail "$prog $cmd $sub --help wrote $T/never"
        expect_exit 1 "$tool" $cmd "$sub" --no-such-option
        assert_contains "$ERR" "--help" "$prog $cmd $sub with a bad option points to --help"
        checked=$((checked + 1))
      done
      continue
    fi
    assert_contains "$mantext" ".B $prog $cmd" "$man names the command"
    check_help "$prog" "$cmd"
    # --help wins wherever it stands, even after an option that names a place.
    check_help "$prog" "$cmd" "--$([[ $prog == fieldsync ]] && echo dir || echo data)" "$T/never"
    [[ ! -e "$T/never" ]] || fail "$prog $cmd --help made $T/never"
    expect_exit 1 "$tool" "$cmd" --no-such-option
    assert_contains "$ERR" "--help" "$prog $cmd with a bad option points to --help"
    checked=$((checked + 1))
  done
done
note "$checked commands checked"
[[ $checked -ge 30 ]] || fail "only $checked commands found (30 when this test was written)"
pass
