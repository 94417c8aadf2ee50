#!/usr/bin/env bash
# converge - the randomized convergence test (Jepsen-style), short run.
#
# tests/tools/fs_converge.py builds a province, two districts, four
# communes and twelve laptops on 127.0.0.1, every link through fs_relay;
# the laptops edit and delete shared records offline and sync at random
# moments while a seeded fault schedule kill -9s and SIGTERMs nodes of
# every level and cuts, stalls and flaps links. With the faults healed it
# checks that every edit (every acknowledged one above all) is at the
# province exactly once, that every node holds exactly its laptops' change
# sets, that the province's records equal the script's own model of the
# merge, and that area digests agree at every level and on every laptop.
# See the script's header for the details.
#
# Seeds and length: FS_CONVERGE_SEEDS (default "1 2 3"), FS_CONVERGE_SECONDS
# of faults per seed (default 20). The long run is documented in
# docs/TESTING.md. A failing seed prints "SEED=N to repeat: <command>".
. "$(dirname "$0")/lib.sh"

if ! command -v python3 >/dev/null; then
  echo "SKIP: python3 is not installed (scripts/deps.sh installs it)" >&2
  TEST_PASSED=1
  exit 77
fi
for _v in FS_RELAY FS_STORETOOL; do
  [[ -n "${!_v:-}" && -x "${!_v}" ]] || fail "\$$_v must name the built binary (run this test through ctest)"
done

DRIVER=$(dirname "$0")/../tools/fs_converge.py
for seed in ${FS_CONVERGE_SEEDS:-1 2 3}; do
  step "seed $seed: ${FS_CONVERGE_SECONDS:-20} s of faults"
  python3 "$DRIVER" --work "$T/seed$seed" --seed "$seed" --seconds "${FS_CONVERGE_SECONDS:-20}" ||
    fail "seed $seed did not converge (its files: $T/seed$seed)"
done
pass
