#!/usr/bin/env bash
# package_deb - what `cmake --install` and the .deb put on a machine
# (issue 7, item 1). Nothing is installed on this machine: the .deb is
# unpacked into a throw-away root.
#
#   - cmake --install --prefix P: binaries, man pages, the systemd unit
#     (naming P/bin/fieldsyncd), the example configurations and documents;
#   - cpack -G DEB: dpkg-deb --info shows the package, a maintainer script
#     that creates the fieldsync user and data directory, and Depends that
#     name the Debian package of every library the binaries link (found with
#     ldd and dpkg -S, so a new library without its package fails here);
#     --contents lists the binaries, the unit with its hardening, the man
#     pages and the examples;
#   - unpacked with dpkg-deb -x: the binaries run (--help), the man pages
#     render without warnings, every example configuration passes
#     check-config with its admin port on loopback, and a node configured
#     like the commune example starts from the unpacked binary and stops.
#
# Registered as integ_package_deb (needs FS_BUILD_DIR, set by ctest).
. "$(dirname "$0")/lib.sh"

step "cpack builds the .deb"
build_deb "$T/pkg" dpkg ldd
note "$(basename "$DEB"), $(stat -c %s "$DEB") bytes"

step "cmake --install into a prefix"
must cmake --install "$FS_BUILD_DIR" --prefix "$T/prefix"
for f in bin/fieldsyncd bin/fieldsync share/man/man8/fieldsyncd.8.gz share/man/man1/fieldsync.1.gz \
  lib/systemd/system/fieldsyncd@.service share/doc/fieldsync/README.md \
  share/doc/fieldsync/examples/{province,district,commune}.ini; do
  [[ -f "$T/prefix/$f" ]] || fail "cmake --install did not install $f"
done
assert_contains "$(cat "$T/prefix/lib/systemd/system/fieldsyncd@.service")" \
  "ExecStart=$T/prefix/bin/fieldsyncd run --config /etc/fieldsync/%i.ini" \
  "the unit names the binary under the prefix"

step "dpkg-deb --info: the package and its dependencies"
must dpkg-deb --info "$DEB"
INFO=$OUT
assert_contains "$INFO" "Package: fieldsync" "package name"
assert_contains "$INFO" "Architecture: $(dpkg --print-architecture)" "architecture"
assert_contains "$INFO" "postinst" "a postinst script"
assert_contains "$INFO" "postrm" "a postrm script"
DEPENDS=$(sed -n 's/^ Depends: //p' <<<"$INFO")
assert_ne "" "$DEPENDS" "the Depends line"
for pkg in libuv1 libsodium23 liblmdb0 libprotobuf-c1 libinih1 libhttp-parser2.9 libjansson4 adduser; do
  [[ ", $DEPENDS," == *", $pkg"[\ ,]* ]] || fail "Depends [$DEPENDS] lacks $pkg"
done
must dpkg-deb --info "$DEB" postinst
assert_contains "$OUT" "adduser --system" "postinst creates a system user"
assert_contains "$OUT" "install -d -m 0750 -o fieldsync -g fieldsync /var/lib/fieldsync" \
  "postinst creates the data directory owned by fieldsync"
dpkg-deb --info "$DEB" postinst | sh -n || fail "postinst is not valid sh"
dpkg-deb --info "$DEB" postrm | sh -n || fail "postrm is not valid sh"

step "dpkg-deb --contents: what it installs"
must dpkg-deb --contents "$DEB"
CONTENTS=$OUT
for f in ./usr/bin/fieldsyncd ./usr/bin/fieldsync ./usr/lib/systemd/system/fieldsyncd@.service \
  ./usr/share/man/man8/fieldsyncd.8.gz ./usr/share/man/man1/fieldsync.1.gz \
  ./usr/share/doc/fieldsync/README.md ./usr/share/doc/fieldsync/SCHEMA.md \
  ./usr/share/doc/fieldsync/examples/province.ini ./usr/share/doc/fieldsync/examples/district.ini \
  ./usr/share/doc/fieldsync/examples/commune.ini; do
  grep -q " $f\$" <<<"$CONTENTS" || fail "the .deb lacks $f"
done
grep -q '^-rwxr-xr-x root/root .* ./usr/bin/fieldsyncd$' <<<"$CONTENTS" ||
  fail "fieldsyncd is not 0755 root:root"
! grep -q ' ./etc/\| ./var/' <<<"$CONTENTS" || fail "the .deb ships files in /etc or /var"

step "unpacked into a throw-away root: every runtime library is a declared dependency"
must dpkg-deb -x "$DEB" "$T/root"
missing=()
LIBS=$(for b in "$T"/root/usr/bin/*; do ldd "$b"; done | awk '/=>/ && $3 ~ /^\// {print $3}' | sort -u)
# A sanitizer build's runtime brings its own dependencies (libstdc++6).
SANITIZED=0
grep -q 'libasan' <<<"$LIBS" && SANITIZED=1
while read -r lib; do
  real=$(readlink -f "$lib")
  owner=$(dpkg -S "$real" 2>/dev/null || dpkg -S "$lib" 2>/dev/null) || {
    note "no Debian package owns $lib; not checked"
    continue
  }
  pkg=${owner%%:*}
  case $pkg in
  libc6 | libgcc-s1) continue ;; # essential
  lib*asan* | lib*ubsan* | libgcc-*-dev) note "$pkg: sanitizer build only"; continue ;;
  libstdc++6) ((SANITIZED)) && { note "$pkg: the sanitizer runtime's"; continue; } ;;
  esac
  [[ ", $DEPENDS," == *", $pkg"[\ ,]* ]] || missing+=("$pkg ($lib)")
done <<<"$LIBS"
((${#missing[@]} == 0)) || fail "linked but not in Depends: ${missing[*]}"

step "the unit: hardening, restart, reload"
UNIT=$(cat "$T/root/usr/lib/systemd/system/fieldsyncd@.service")
for line in "User=fieldsync" "ExecStartPre=/usr/bin/fieldsyncd check-config --config /etc/fieldsync/%i.ini" \
  "ExecStart=/usr/bin/fieldsyncd run --config /etc/fieldsync/%i.ini" 'ExecReload=/bin/kill -HUP $MAINPID' \
  "Restart=on-failure" "NoNewPrivileges=yes" "ProtectSystem=strict" "PrivateTmp=yes" \
  "ReadWritePaths=/var/lib/fieldsync"; do
  grep -qxF "$line" <<<"$UNIT" || fail "the unit lacks the line $line"
done

step "the unpacked binaries and man pages"
for b in fieldsyncd fieldsync; do
  must "$T/root/usr/bin/$b" --help
  assert_contains "$OUT" "example:" "$b --help"
done
if command -v groff >/dev/null; then
  for m in man1/fieldsync.1.gz man8/fieldsyncd.8.gz; do
    warn=$(zcat "$T/root/usr/share/man/$m" | LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z 2>&1)
    assert_eq "" "$warn" "groff warnings for $m"
    zcat "$T/root/usr/share/man/$m" | LC_ALL=C.UTF-8 groff -man -Tutf8 2>/dev/null | sed 's/.\x08//g' | grep 'EXIT STATUS' >/dev/null ||
      fail "$m renders without its EXIT STATUS"
  done
else
  note "groff is not installed: man pages not rendered"
fi

step "the example configurations pass check-config, admin on loopback"
for level in province district commune; do
  ex=$T/root/usr/share/doc/fieldsync/examples/$level.ini
  must "$T/root/usr/bin/fieldsyncd" check-config --config "$ex"
  assert_contains "$OUT" "$ex: ok" "check-config of the $level example"
  admin=$(kv "$(tail -n 1 <<<"$OUT")" admin)
  [[ $admin == 127.0.0.1:* || $admin == - ]] || fail "the $level example's admin port $admin is not on loopback"
done

step "a node configured from the commune example runs from the unpacked binary"
deployment
must "$T/root/usr/bin/fieldsyncd" keygen --key "$T/node.key"
must "$FIELDSYNCD" admin certify-node --admin-key "$T/admin/root.key" --key "$T/node.key.pub" \
  --id dak-nen --area KT.KPL.DAKNEN --out "$T/node.cert"
sed -e "s|^data = .*|data = $T/node.data|" -e "s|^key = .*|key = $T/node.key|" \
  -e "s|^cert = .*|cert = $T/node.cert|" -e "s|^network_key = .*|network_key = $T/admin/network.key|" \
  -e "s|^root_key = .*|root_key = $T/admin/root.key.pub|" -e '/^parent = /d' \
  "$T/root/usr/share/doc/fieldsync/examples/commune.ini" >"$T/node.ini"
FIELDSYNCD=$T/root/usr/bin/fieldsyncd
must "$FIELDSYNCD" check-config --config "$T/node.ini"
P=$(free_port)
A=$(free_port)
"$FIELDSYNCD" run --config "$T/node.ini" --listen "127.0.0.1:$P" --admin "127.0.0.1:$A" \
  2>"$T/node.log" &
SERVER_PID[node]=$!
wait_until 30 "the unpacked fieldsyncd listening" port_open "$P"
must "$FIELDSYNCD" tree --admin "127.0.0.1:$A"
assert_contains "$OUT" "dak-nen" "the node's status table"
stop_server node
pass
