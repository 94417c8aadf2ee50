#!/usr/bin/env bash
# Installs the Debian packages fieldsync needs to build, test and fuzz, when
# they are missing (with sudo when not root). Safe to run again: it installs
# nothing when everything is present. --test adds the tools of the monitoring
# tests (promtool, chromium); --fuzz adds those and clang (scripts/test.sh).
set -euo pipefail

pkgs=(gcc make cmake pkg-config libuv1-dev libprotobuf-c-dev protobuf-c-compiler
      liblmdb-dev libsodium-dev libinih-dev libhttp-parser-dev libjansson-dev libcmocka-dev
      lmdb-utils curl jq python3)
if [ "${1:-}" = "--fuzz" ]; then
  pkgs+=(clang libclang-rt-14-dev)
fi
# For the monitoring tests only (promtool checks /metrics, a headless browser
# reads the dashboard): each test skips with a message when its tool is
# missing, so a failed install of these is reported, not fatal.
optional=(prometheus chromium)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in "${pkgs[@]}"; do
  installed "$p" || missing+=("$p")
done
optional_missing=()
if [ "${1:-}" = "--fuzz" ] || [ "${1:-}" = "--test" ]; then
  for p in "${optional[@]}"; do
    installed "$p" || optional_missing+=("$p")
  done
fi
[ ${#missing[@]} -eq 0 ] && [ ${#optional_missing[@]} -eq 0 ] && exit 0

echo "fieldsync: installing missing Debian packages: ${missing[*]} ${optional_missing[*]}" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "fieldsync: need root or sudo to install ${missing[*]}" >&2; exit 2; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null || echo "fieldsync: apt-get update failed; trying the install anyway" >&2
if [ ${#missing[@]} -gt 0 ]; then
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Services these packages ship (prometheus) must not start here: where no
# policy-rc.d forbids it already, one does for the length of the install.
if [ ${#optional_missing[@]} -gt 0 ]; then
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod 755 "$policy"
  fi
  $sudo apt-get install -y -qq --no-install-recommends "${optional_missing[@]}" >/dev/null ||
    echo "fieldsync: could not install ${optional_missing[*]}: the tests that need them will be skipped" >&2
  if [ -n "$policy" ]; then $sudo rm -f "$policy"; fi
fi
