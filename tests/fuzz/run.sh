#!/usr/bin/env bash
# run.sh - build the fuzz targets if needed and run each one for a while.
#
# Usage: tests/fuzz/run.sh [SECONDS] [TARGET...]
#   SECONDS  how long each target fuzzes (default 10)
#   TARGET   frame, changeset, ... (default: every tests/fuzz/fuzz_*.c)
# Environment:
#   FS_FUZZ_BUILD  build directory (default: <repo>/build-fuzz); configured
#                  with clang, FS_FUZZ=ON, FS_SANITIZE=ON when it has no cache
#   FS_FUZZ_JOBS   parallel build jobs (default 2)
#
# Each target replays its committed corpus (tests/fuzz/corpus/<target>) and
# the generated seeds, then fuzzes with -max_total_time=SECONDS. New inputs
# go to <build>/tests/fuzz/work/<target>/corpus, crashes to .../artifacts/.
# Exits 1 when any target crashed, leaked, timed out or broke an invariant
# (the reproducer path is printed), 2 on a usage or build error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${FS_FUZZ_BUILD:-$root/build-fuzz}
jobs=${FS_FUZZ_JOBS:-2}

secs=10
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
  secs=$1
  shift
elif [[ $# -gt 0 && ($1 == -h || $1 == --help) ]]; then
  sed -n '2,17p' "$0"
  exit 0
fi

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for f in "$here"/fuzz_*.c; do
    t=${f##*/fuzz_}
    targets+=("${t%.c}")
  done
fi

if [[ ! -f $build/CMakeCache.txt ]]; then
  echo "run.sh: configuring $build" >&2
  CC=${CC:-clang} cmake -S "$root" -B "$build" -DFS_FUZZ=ON -DFS_SANITIZE=ON \
    -DBUILD_TESTING=ON >/dev/null || exit 2
fi
if ! grep -q '^FS_FUZZ:BOOL=ON' "$build/CMakeCache.txt"; then
  echo "run.sh: $build is not configured with -DFS_FUZZ=ON" >&2
  exit 2
fi
build_targets=(fuzz_seeds_gen)
for t in "${targets[@]}"; do build_targets+=("fuzz_$t"); done
cmake --build "$build" -j "$jobs" --target "${build_targets[@]}" >/dev/null || {
  echo "run.sh: build failed; rerun: cmake --build $build" >&2
  exit 2
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
failed=()
printf '%-10s %8s %12s %10s  %s\n' target seconds execs exec/s result
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/fuzz_$t
  if [[ ! -x $bin ]]; then
    echo "run.sh: no binary $bin (is fs_add_fuzzer($t) in tests/fuzz/CMakeLists.txt?)" >&2
    exit 2
  fi
  work=$build/tests/fuzz/work/$t
  mkdir -p "$work/corpus" "$work/artifacts"
  dirs=("$work/corpus")
  for d in "$build/tests/fuzz/seeds/$t" "$here/corpus/$t"; do
    [[ -d $d ]] && dirs+=("$d")
  done
  log=$work/last.log
  start=$(date +%s)
  set +e
  "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "${dirs[@]}" >"$log" 2>&1
  rc=$?
  set -e
  took=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [[ $rc -eq 0 ]]; then
    result=ok
  else
    result="FAILED (exit $rc)"
    failed+=("$t")
  fi
  printf '%-10s %8s %12s %10s  %s\n' "$t" "$took" "${execs:--}" "${rate:--}" "$result"
  if [[ $rc -ne 0 ]]; then
    grep -E 'invariant violated|ERROR: |SUMMARY: |runtime error|Test unit written' "$log" |
      head -n 8 | sed 's/^/    /'
    echo "    full log: $log"
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "run.sh: failed: ${failed[*]}" >&2
  exit 1
fi
