#!/usr/bin/env bash
# Installs the Debian packages fieldsync needs to build, test and fuzz, when
# they are missing (with sudo when not root). Safe to run again: it installs
# nothing when everything is present.
set -euo pipefail

pkgs=(gcc make cmake pkg-config libuv1-dev libprotobuf-c-dev protobuf-c-compiler
      liblmdb-dev libsodium-dev libinih-dev libhttp-parser-dev libjansson-dev libcmocka-dev
      lmdb-utils)
if [ "${1:-}" = "--fuzz" ]; then
  pkgs+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "fieldsync: installing missing Debian packages: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "fieldsync: need root or sudo to install ${missing[*]}" >&2; exit 2; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null || echo "fieldsync: apt-get update failed; trying the install anyway" >&2
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
