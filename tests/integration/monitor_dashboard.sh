#!/usr/bin/env bash
# monitor_dashboard - the province's dashboard in a headless browser, after
# its script ran: every node of the tree with its state, a commune's
# devices in its drill-down, the conflicts to review; no external assets.
#
#   province KT (stale_after_s = 4) <- district KT.KPL <- communes
#   KT.KPL.DAKNEN (laptops an, binh; village KT.KPL.DAKNEN.T3 below it) and
#   KT.KPL.HIEU (stopped: stale)
#
# Uses Debian's chromium (scripts/deps.sh installs it): --dump-dom with a
# virtual time budget for the DOM, --screenshot for a picture kept as
# $FS_ARTIFACTS/dashboard.png (the build directory's test-artifacts; the
# README's picture, docs/dashboard.png, is a copy of one). Without chromium
# the test says so and is skipped (exit 77).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tree_lib.sh"
command -v jq >/dev/null || fail "jq is needed (scripts/deps.sh installs it)"
if ! command -v chromium >/dev/null; then
  echo "SKIP: chromium not found (apt-get install chromium, or run scripts/deps.sh)"
  TEST_PASSED=1
  exit 77
fi

P=KT
D=KT.KPL
C=KT.KPL.DAKNEN
V=KT.KPL.DAKNEN.T3
H=KT.KPL.HIEU
FAST="report_interval_s = 1"
ART=${FS_ARTIFACTS:-$T/artifacts}
mkdir -p "$ART" || fail "cannot create $ART"

# browse WHAT URL ARGS...: chromium headless on URL (bounded to 90 s); OUT
# holds what it printed on stdout.
browse() {
  local what=$1 url=$2
  shift 2
  run timeout 90 chromium --headless --no-sandbox --disable-gpu --no-first-run \
    --user-data-dir="$(mktemp -d "$T/chromium.XXXXXX")" --window-size=1280,900 \
    --virtual-time-budget=4000 "$@" "$url"
  [[ $RC -eq 0 ]] || fail "chromium ($what) failed with status $RC: $(tail -n 3 <<<"$ERR")"
}

step "a tree with laptops, a conflict and a stopped commune"
NODE_LEVEL=province tree_node province $P - "$FAST" "stale_after_s = 4"
NODE_LEVEL=district tree_node district $D province "$FAST"
NODE_LEVEL=commune tree_node commune $C district "$FAST"
NODE_LEVEL=commune tree_node hieu $H district "$FAST"
NODE_LEVEL=village tree_node village $V commune "$FAST"
tree_laptop an $C >/dev/null
tree_laptop binh $C >/dev/null
must fs an add --type incident --id inc1 category=theft occurred_at=2026-11-20T21:30 \
  'place=Chợ Đắk Nên' status=new 'officer=Cán bộ an'
sync_ok an commune
sync_ok binh commune
must fs an edit inc1 status=handling
sleep 0.01
must fs binh edit inc1 status=resolved
sync_ok an commune
sync_ok binh commune
wait_node_kv 60 province conflicts 1
for n in district commune village hieu; do wait_state 60 province "$n" in_sync; done
stop_server hieu
wait_state 30 province hieu stale

URL="http://127.0.0.1:${ADMIN_PORT[province]}/"
step "the page needs nothing from outside"
must curl -sS --max-time 5 "$URL"
PAGE=$OUT
assert_contains "$PAGE" "<table>" "the dashboard page"
if grep -qiE '(src|href)="?(https?:)?//' <<<"$PAGE" || grep -qiE '@import|url\(' <<<"$PAGE"; then
  fail "the dashboard refers to an external asset"
fi

step "after its script ran, the DOM shows every node with its state"
browse dump-dom "${URL}#node=commune" --dump-dom
DOM=$OUT
printf '%s\n' "$DOM" >"$ART/dashboard-dom.html"
state_in_dom() { sed -n "s/.*<tr class=\"node\" data-node=\"$1\" data-state=\"\([a-z_]*\)\".*/\1/p" <<<"$DOM"; }
for n in province district commune village; do
  assert_eq in_sync "$(state_in_dom "$n")" "$n's row in the dashboard"
done
assert_eq stale "$(state_in_dom hieu)" "the stopped commune's row"
assert_eq 5 "$(grep -o '<tr class="node" data-node="[a-z]*"' <<<"$DOM" | wc -l)" "node rows"
assert_contains "$DOM" '<span class="badge stale">mất liên lạc</span>' "the stale badge"
# The tree order: each node right after its parent's subtree starts.
ORDER=$(grep -o '<tr class="node" data-node="[a-z]*"' <<<"$DOM" | sed 's/.*data-node="//; s/"//' | tr '\n' ' ')
assert_eq "province district commune village hieu " "$ORDER" "rows in tree order"

step "the commune's drill-down lists its devices, its child and its parent"
DETAIL=$(sed -n '/<tr class="detail" data-peers-of="commune">/,/<\/tr><\/tbody><\/table>/p' <<<"$DOM")
[[ -n $DETAIL ]] || fail "no drill-down for the commune in the DOM"
assert_eq 2 "$(grep -o 'data-kind="device"' <<<"$DETAIL" | wc -l)" "the commune's laptops"
assert_eq 1 "$(grep -o 'data-kind="child"' <<<"$DETAIL" | wc -l)" "the commune's child node"
assert_eq 1 "$(grep -o 'data-kind="parent"' <<<"$DETAIL" | wc -l)" "the commune's parent"
assert_contains "$DETAIL" "Cán bộ an" "a laptop's officer"
assert_contains "$DETAIL" "CA-binh" "a laptop's officer id"

step "the conflicts section lists the conflict"
assert_contains "$DOM" '<tr data-record="inc1" data-field="status">' "the conflict's row"
CROW=$(grep -o '<tr data-record="inc1" data-field="status">.*' <<<"$DOM" | sed 's#</tr>.*##')
assert_contains "$CROW" '<td class="won">resolved</td>' "the winning value"
assert_contains "$CROW" '<td class="lost">handling</td>' "the losing value"
assert_contains "$CROW" "Cán bộ binh" "the winner's officer"

step "a screenshot of the dashboard"
rm -f "$ART/dashboard.png"
browse screenshot "${URL}#node=commune" --screenshot="$ART/dashboard.png" --hide-scrollbars
[[ -s "$ART/dashboard.png" ]] || fail "chromium made no screenshot"
assert_eq "89504e47" "$(head -c 4 "$ART/dashboard.png" | od -An -tx1 | tr -d ' \n')" "a PNG file"
note "screenshot: $ART/dashboard.png ($(stat -c %s "$ART/dashboard.png") bytes)"

for n in village commune district province; do stop_server "$n"; done
pass
