#!/usr/bin/env bash
# report_totals - the roll-up report at the province equals the sum of what
# the laptops recorded at the bottom, per child area, for a generated data
# set with known totals.
#
# A two-level tree (province KT <- communes KT.KPL.DAKNEN and KT.DH.DAKMAR),
# three laptops, fieldsync-gen writing a year of realistic records on each
# (edits, status changes, deletions: one signed change set per edit) and
# printing the totals a report of that year must show. After the laptops
# sync and replication is quiet, `fieldsyncd report --csv` at the province
# must show, for each child area (KT.DH, KT.KPL) and the total, exactly the
# sum of the generator's totals of the laptops below it, measure by measure.
. "$(dirname "$0")/lib.sh"

[[ -n "${FIELDSYNC_GEN:-}" && -x "$FIELDSYNC_GEN" ]] || fail "\$FIELDSYNC_GEN must name fieldsync-gen"

step "a province and two communes"
write_server_config province KT
start_server province
PARENT_NAME=province write_server_config dak-nen KT.KPL.DAKNEN "parent = $(server_addr province)"
PARENT_NAME=province write_server_config dak-mar KT.DH.DAKMAR "parent = $(server_addr province)"
start_server dak-nen
start_server dak-mar

step "three laptops record a generated year offline"
declare -A NODE=([lapA]=dak-nen [lapB]=dak-nen [lapC]=dak-mar)
declare -A AREA_OF=([dak-nen]=KT.KPL.DAKNEN [dak-mar]=KT.DH.DAKMAR)
seed=11
for lap in lapA lapB lapC; do
  area=${AREA_OF[${NODE[$lap]}]}
  k=$(laptop_init "$lap" "$area")
  enrol_laptop "$k" "$area"
  must "$FIELDSYNC_GEN" records --dir "$T/$lap" --count 150 --year 2026 --seed $seed \
    --totals "$T/$lap.totals.csv"
  seed=$((seed + 1))
done

step "sync and wait for the province to hold everything"
for lap in lapA lapB lapC; do sync_ok "$lap" "${NODE[$lap]}"; done
converged() {
  local n
  for n in dak-nen dak-mar; do
    [[ "$(server_digest "$n" "${AREA_OF[$n]}")" == "$(server_digest province "${AREA_OF[$n]}")" ]] || return 1
  done
}
wait_until 60 "the province to converge with both communes" converged

step "the province's report equals the laptops' totals, per child area"
must "$FIELDSYNCD" report --data "$T/province.data" --area KT --from 2026 --to 2026 --csv
echo "$OUT" >"$T/report.csv"
# Expected: the generators' totals summed per child area of KT and in all.
cat "$T"/lap*.totals.csv | awk -F, '
  $1 == "area" { next }
  { split($1, a, "."); child = a[1] "." a[2]; want[child "," $2] += $3; want["total," $2] += $3 }
  END { for (k in want) print k "," want[k] }' | sort >"$T/expected.csv"
# Actual: the report's rows for the same measures (the report has more).
awk -F, 'NR > 1 { row = ($1 == "KT" || $1 == "total" || $1 == "Tổng" || $1 == "*") ? "total" : $1;
                  print row "," $2 "," $NF }' "$T/report.csv" | sort >"$T/actual.all.csv"
n=0
while IFS=, read -r row measure value; do
  got=$(awk -F, -v r="$row" -v m="$measure" '$1 == r && $2 == m { print $3; exit }' "$T/actual.all.csv")
  [[ -n $got ]] || fail "the report has no $measure for $row (see $T/report.csv)"
  [[ $got == "$value" ]] || fail "$row $measure: the laptops recorded $value, the province reports $got"
  n=$((n + 1))
done <"$T/expected.csv"
((n > 50)) || fail "only $n measures compared: the generator's totals look empty"
note "$n measures equal at the province"

stop_server dak-nen
stop_server dak-mar
stop_server province
pass
