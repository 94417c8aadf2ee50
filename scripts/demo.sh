#!/usr/bin/env bash
# The demo: a whole fieldsync tree on 127.0.0.1 with real LMDB stores.
#
#   province KT (Kon Tum)
#     district KT.KPL (Kon Plông): communes KT.KPL.DAKNEN, KT.KPL.HIEU
#     district KT.DH  (Đăk Hà):    communes KT.DH.DAKMAR,  KT.DH.HAMON
#   two field laptops per commune (eight in all)
#
# Laptops record the movement's sample data offline, sync with their commune,
# replication carries everything up to the province, and the script prints
# each node's replication status and the state digests that prove every
# level converged. It then serves (dashboard included) until Ctrl-C; with
# FIELDSYNC_DEMO_ONCE=1 it exits instead: 0 only if every node converged.
#
# Environment: FIELDSYNC_DEMO_DIR (default ./demo-data, wiped at start),
# FIELDSYNC_DEMO_PORT (first port, default 7400; uses the next 20 ports),
# FIELDSYNC_BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh

echo "== building" >&2
BUILD=${FIELDSYNC_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" --target fieldsyncd fieldsync fieldsync-gen >/dev/null

FSD=$PWD/$BUILD/server/fieldsyncd
FS=$PWD/$BUILD/client/fieldsync
GEN=$PWD/$BUILD/tools/fieldsync-gen
DIR=${FIELDSYNC_DEMO_DIR:-$PWD/demo-data}
PORT=${FIELDSYNC_DEMO_PORT:-7400}
rm -rf "$DIR"
mkdir -p "$DIR/keys" "$DIR/etc" "$DIR/logs" "$DIR/laptops" "$DIR/data"

# id area parent-id admin-port-offset level
NODES=(
  "province KT - 0 province"
  "kon-plong KT.KPL province 1 district"
  "dak-ha KT.DH province 2 district"
  "dak-nen KT.KPL.DAKNEN kon-plong 3 commune"
  "hieu KT.KPL.HIEU kon-plong 4 commune"
  "dak-mar KT.DH.DAKMAR dak-ha 5 commune"
  "ha-mon KT.DH.HAMON dak-ha 6 commune"
)

# The deployment: a root key (the province administrator's) and the network
# key every member holds. The Đăk Hà district administrator gets a key of
# their own, delegated for KT.DH, and enrols that district's laptops.
ROOT=$("$FSD" admin init --dir "$DIR/admin" 2>/dev/null)
ADMIN=$DIR/admin/root.key
NETKEY=$DIR/admin/network.key
DH_ADMIN=$("$FSD" keygen --key "$DIR/admin/dak-ha-admin.key" --comment "Đăk Hà district admin")
"$FSD" admin delegate --admin-key "$ADMIN" --key "$DH_ADMIN" --area KT.DH \
  --out "$DIR/admin/dak-ha-admin.cert" >/dev/null

declare -A AREA PARENT LISTEN ADMINADDR KEY LEVEL
for n in "${NODES[@]}"; do
  read -r id area parent off level <<<"$n"
  AREA[$id]=$area; PARENT[$id]=$parent; LEVEL[$id]=$level
  LISTEN[$id]=127.0.0.1:$((PORT + off)); ADMINADDR[$id]=127.0.0.1:$((PORT + 10 + off))
  KEY[$id]=$("$FSD" keygen --key "$DIR/keys/$id.key" --comment "$id")
done
for n in "${NODES[@]}"; do
  read -r id area parent _ level <<<"$n"
  "$FSD" admin certify-node --admin-key "$ADMIN" --key "${KEY[$id]}" --id "$id" --area "$area" \
    --level "$level" ${KEY[$parent]:+--parent "${KEY[$parent]}"} --out "$DIR/keys/$id.cert" >/dev/null
done

# Two laptops per commune: the officer creates the identity, an
# administrator enrols its key, the officer installs the enrolment.
declare -A LAPTOP_AREA LAPTOP_NODE
declare -A PLACE=([dak-nen]="xã Đăk Nên" [hieu]="xã Hiếu" [dak-mar]="xã Đăk Mar" [ha-mon]="xã Hà Mòn")
OFFICERS=("Nguyễn Văn An" "Trần Thị Bình" "Lê Văn Cường" "Phạm Thị Dung" "A Phiên" "Y Lan" "Đinh Văn Hùng" "Hoàng Thị Mai")
i=0
for id in dak-nen hieu dak-mar ha-mon; do
  for k in 1 2; do
    lap=$id-laptop$k
    LAPTOP_AREA[$lap]=${AREA[$id]}; LAPTOP_NODE[$lap]=$id
    key=$("$FS" init --dir "$DIR/laptops/$lap" --area "${AREA[$id]}" --officer "${OFFICERS[$i]}" \
      2>>"$DIR/logs/init.log")
    if [ "${PARENT[$id]}" = dak-ha ]; then
      by=(--admin-key "$DIR/admin/dak-ha-admin.key" --chain "$DIR/admin/dak-ha-admin.cert")
    else
      by=(--admin-key "$ADMIN")
    fi
    "$FSD" admin enrol "${by[@]}" --device "$key" --officer "${OFFICERS[$i]}" \
      --officer-id "CA-$((4100 + i))" --area "${AREA[$id]}" --out "$DIR/laptops/$lap.cert" >/dev/null
    "$FS" enrol --dir "$DIR/laptops/$lap" --cert "$DIR/laptops/$lap.cert" \
      --network-key "$NETKEY" --root "$ROOT" --seal-key "$DIR/admin/seal.key.pub" >/dev/null
    i=$((i + 1))
  done
done

for n in "${NODES[@]}"; do
  read -r id area parent _ _ <<<"$n"
  {
    echo "[node]"
    echo "id = $id"
    echo "area = $area"
    echo "data = $DIR/data/$id"
    echo "key = $DIR/keys/$id.key"
    echo "cert = $DIR/keys/$id.cert"
    echo "network_key = $NETKEY"
    echo "root_key = $ROOT"
    echo "listen = ${LISTEN[$id]}"
    echo "admin = ${ADMINADDR[$id]}"
    if [ "$parent" != - ]; then
      echo "parent = ${LISTEN[$parent]}"
    fi
  } >"$DIR/etc/$id.ini"
done

PIDS=()
stop_all() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop_all EXIT

echo "== starting 7 servers (logs in $DIR/logs)" >&2
for n in "${NODES[@]}"; do
  read -r id _ _ _ _ <<<"$n"
  "$FSD" run --config "$DIR/etc/$id.ini" 2>"$DIR/logs/$id.log" &
  PIDS+=($!)
done
sleep 0.3
for p in "${PIDS[@]}"; do
  kill -0 "$p" 2>/dev/null || { echo "a server failed to start; see $DIR/logs" >&2; tail -n 3 "$DIR"/logs/*.log >&2; exit 1; }
done

echo "== recording sample data offline on 8 laptops" >&2
# Every record follows the schema (docs/SCHEMA.md); the laptop refuses one
# that does not. The officer of each laptop, in the order they were made:
declare -A OFFICER_OF
i=0
for id in dak-nen hieu dak-mar ha-mon; do
  for k in 1 2; do OFFICER_OF[$id-laptop$k]=${OFFICERS[$i]}; i=$((i + 1)); done
done
add() { "$FS" add --dir "$DIR/laptops/$1" "${@:2}" >/dev/null; }
for lap in "${!LAPTOP_NODE[@]}"; do
  a=${PLACE[${LAPTOP_NODE[$lap]}]}
  o=${OFFICER_OF[$lap]}
  add "$lap" --type incident category=theft occurred_at=2026-11-20T21:15 "place=Thôn 3, ${a}" \
    "description=Mất trộm xe máy Honda Wave trước nhà văn hóa thôn" status=handling "officer=$o"
  add "$lap" --type incident category=public_order occurred_at=2026-11-22T19:40 "place=Chợ trung tâm ${a}" \
    "description=Gây rối trật tự tại chợ, đã lập biên bản" status=resolved "officer=$o"
  add "$lap" --type tip received_at=2026-11-23T08:30 channel=phone status=verifying \
    "content=Phản ánh có đối tượng lạ tụ tập đánh bạc ở rẫy cà phê" \
    "informant_name=Rơ Chăm Thương" informant_phone=0912345678
  add "$lap" --type surrender date=2026-11-18 "handed_in_by=Bà Y Hoa" "received_by=Công an xã" \
    kind=gun quantity=1 unit=piece mode=handed_in "description=Súng kíp tự chế"
  add "$lap" --type surrender date=2026-11-19 "handed_in_by=Ông A Tâm" "received_by=Công an xã" \
    kind=detonator quantity=12 unit=piece mode=handed_in "description=Kíp nổ" \
    kind_2=explosive quantity_2=2.5 unit_2=kg mode_2=handed_in "description_2=Thuốc nổ công nghiệp"
  add "$lap" --type mediation "parties=Hộ ông Hùng và hộ bà Lan" subject=land date=2026-11-15 outcome=reconciled
  add "$lap" --type patrol start=2026-11-24T20:00 end=2026-11-24T23:30 "route=Thôn 1 - Thôn 5" \
    "members=Tổ an ninh xung kích" "notes=Không phát hiện vụ việc"
  # A year of realistic records on top (fieldsync-gen: Kon Tum places,
  # Vietnamese names), each edit a signed change set like the ones above.
  "$GEN" records --dir "$DIR/laptops/$lap" --count 40 --year 2026 --seed 2026 \
    --totals "$DIR/laptops.$lap.totals.csv" 2>>"$DIR/logs/gen.log"
done
# A shared record both laptops of one commune edit offline: it converges.
shared=$("$FS" add --dir "$DIR/laptops/dak-nen-laptop1" --type model --id model_dak_nen_1 \
  "name=Tổ tự quản an ninh trật tự thôn 3" kind=self_management founded=2019-03-26 \
  "leader=A Phiên" members=12)

echo "== syncing the laptops" >&2
sync_lap() { "$FS" sync --dir "$DIR/laptops/$1" --server "${LISTEN[${LAPTOP_NODE[$1]}]}" >/dev/null; }
sync_lap dak-nen-laptop1
sync_lap dak-nen-laptop2
"$FS" edit --dir "$DIR/laptops/dak-nen-laptop1" "$shared" members=14 >/dev/null
"$FS" edit --dir "$DIR/laptops/dak-nen-laptop2" "$shared" "leader=Y Lan" >/dev/null
for lap in "${!LAPTOP_NODE[@]}"; do sync_lap "$lap"; done
sync_lap dak-nen-laptop1
sync_lap dak-nen-laptop2

digest() { "$FSD" digest --data "$DIR/data/$1" --area "$2" | cut -d' ' -f1; }
converged() {
  for n in "${NODES[@]}"; do
    read -r id area parent _ _ <<<"$n"
    local d; d=$(digest "$id" "$area")
    while [ "$parent" != - ]; do
      [ "$(digest "$parent" "$area")" = "$d" ] || return 1
      parent=${PARENT[$parent]}
    done
  done
}
echo "== waiting for replication to settle" >&2
ok=0
for _ in $(seq 1 100); do
  if converged; then ok=1; break; fi
  sleep 0.2
done

echo
echo "replication status of every node:"
printf '%-10s %-14s %-10s %8s %8s  %-16s %s\n' NODE AREA PARENT LOG RECORDS DIGEST CONVERGED
for n in "${NODES[@]}"; do
  read -r id area parent _ _ <<<"$n"
  log=$("$FSD" status --data "$DIR/data/$id" | sed 's/.*log_seq=\([0-9]*\).*/\1/')
  read -r d recs _ <<<"$("$FSD" digest --data "$DIR/data/$id" --area "$area")"
  same=yes; p=$parent
  while [ "$p" != - ]; do [ "$(digest "$p" "$area")" = "$d" ] || same=no; p=${PARENT[$p]}; done
  printf '%-10s %-14s %-10s %8s %8s  %-16s %s\n' "$id" "$area" "$parent" "$log" "${recs#records=}" "${d:0:16}" "$same"
done
echo
echo "merged records at commune dak-nen (KT.KPL.DAKNEN), first 5:"
"$FSD" records --data "$DIR/data/dak-nen" | sed -n 1,5p # reads all: no SIGPIPE under pipefail
echo
echo "a tip at the province: the informant is sealed on every server..."
"$FSD" records --data "$DIR/data/province" --area KT.KPL.DAKNEN | grep 'informant_name=' | sed -n 1p
echo "...and opened only with the sealing key (fieldsyncd admin open):"
"$FSD" admin open --seal-key "$DIR/admin/seal.key" --data "$DIR/data/province" \
  --area KT.KPL.DAKNEN 2>/dev/null | grep 'Rơ Chăm Thương' | sed -n 1p
echo
echo "the tree as the province sees it (fieldsyncd tree --admin ${ADMINADDR[province]}):"
# Status reports climb one level a tick: wait (bounded) until the province's
# row of every node carries the digest that node's store holds now.
rows_fresh() {
  local json id area
  json=$("$FSD" tree --admin "${ADMINADDR[province]}" --json 2>/dev/null) || return 1
  for n in "${NODES[@]}"; do
    read -r id area _ _ _ <<<"$n"
    [ "$(jq -r --arg id "$id" '.nodes[] | select(.id == $id) | .digest' <<<"$json")" = \
      "$(digest "$id" "$area")" ] || return 1
  done
}
for _ in $(seq 1 50); do
  rows_fresh && break
  sleep 0.2
done
"$FSD" tree --admin "${ADMINADDR[province]}"
echo
echo "dashboard: http://${ADMINADDR[province]}/"
if [ "$ok" = 1 ]; then echo "converged: every level holds equal digests"; else echo "NOT converged"; fi

if [ "${FIELDSYNC_DEMO_ONCE:-}" = 1 ]; then
  [ "$ok" = 1 ]
  exit
fi
echo "serving until Ctrl-C (data in $DIR)"
trap 'echo; echo stopping; stop_all; exit 0' INT TERM
wait
