#!/usr/bin/env bash
# Scrape cost of GET /metrics: a `venuebox run` with the photo corpus imported and
# rendered and BENCH_ATTENDEES attendees through the portal (each consenting to the
# gallery scope: rows in attendees, consent_events and attendance for the summary the
# scrape reads), then BENCH_SCRAPES scrapes back to back by curl from loopback, as a
# Prometheus on the box would. Prints p50/p95/max of curl's time_total and the size
# of the text; the target is p95 <= 20 ms (issue 16). Each scrape's text must pass
# `promtool check metrics` at the end (the last one is checked).
#
#   bash benches/metrics.sh                       # release build (built here if needed)
#   BENCH_BIN=target/debug/venuebox bash benches/metrics.sh   # a binary already built
#
# Needs: cargo, curl, python3, promtool (Debian's prometheus package). Fails loudly
# on a refused request, a render that does not end or a failed check.
#
# Every scrape answers 200 (curl -f).
#
# Environment: VENUEBOX_TESTDATA (default ../shared/testdata), BENCH_ATTENDEES
# (default 500), BENCH_SCRAPES (default 1000), BENCH_BIN (a venuebox binary to use
# instead of building the release one; e.g. the one `cargo test` built).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PHOTOS=${VENUEBOX_TESTDATA:-$ROOT/../shared/testdata}/photos
ATTENDEES=${BENCH_ATTENDEES:-500}
SCRAPES=${BENCH_SCRAPES:-1000}
die() { echo "metrics.sh: $*" >&2; exit 1; }
for tool in curl python3 cargo promtool; do command -v $tool >/dev/null || die "$tool is not installed"; done
[[ -d $PHOTOS ]] || die "no photos at $PHOTOS"

if [[ -n ${BENCH_BIN:-} ]]; then
    BIN=$(realpath "$BENCH_BIN")
    PROFILE="given binary $BENCH_BIN"
else
    echo "building venuebox (cargo build --release)" >&2
    (cd "$ROOT" && cargo build --release --quiet --bin venuebox) || die "cargo build --release failed"
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/venuebox
    PROFILE=release
fi
[[ -x $BIN ]] || die "no binary at $BIN"
WORK=$(mktemp -d)
PID=
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

DATA=$WORK/data
"$BIN" --data-dir "$DATA" creator add bench >/dev/null
"$BIN" --data-dir "$DATA" import "$PHOTOS" --creator bench >"$WORK/import.log" 2>&1 ||
    { tail "$WORK/import.log" >&2; die "import failed"; }
ADMIN_CODE=bench-admin-code-$$
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
VENUEBOX_ADMIN_TOKEN=$ADMIN_CODE VENUEBOX_MDNS__ENABLED=false VENUEBOX_FTP__ENABLED=false \
    "$BIN" --data-dir "$DATA" run --http "127.0.0.1:$PORT" >"$WORK/log" 2>&1 &
PID=$!
BASE=http://127.0.0.1:$PORT
for _ in $(seq 300); do curl -fsS -o /dev/null "$BASE/healthz" 2>/dev/null && break; sleep 0.1; done
curl -fsS -o /dev/null "$BASE/healthz" || { tail "$WORK/log" >&2; die "venuebox did not start"; }

# Attendees through the portal, as phones would (a cookie jar each).
python3 - "$BASE" "$ATTENDEES" <<'EOF' || die "portal attendees failed"
import http.cookiejar, re, sys, urllib.parse, urllib.request
base, n = sys.argv[1], int(sys.argv[2])
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None
for i in range(n):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    page = opener.open(base + "/portal").read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"csrf": csrf, "action": "accept", "gallery": "yes"}).encode()
    try:
        opener.open(base + "/portal/consent", form)
        raise SystemExit("consent did not redirect")
    except urllib.error.HTTPError as e:
        if e.code != 303:
            raise
EOF

# The render threads at rest (nothing in flight, the queue depth the same for 5 s; some
# corpus files are never rendered: RAW, refused), so the scrapes measure the scrape.
last=x; still=0
for _ in $(seq 600); do
    fig=$(curl -fsS "$BASE/metrics" | sed -n 's/^venuebox_\(render_queue_depth\|renders_in_flight\) //p' | tr '\n' ' ')
    if [[ $fig == "$last" && $fig == *" 0 " ]]; then still=$((still + 1)); else still=0; fi
    last=$fig
    ((still >= 5)) && break
    sleep 1
done
((still >= 5)) || die "renders did not settle (queue depth, in flight: $last)"

for _ in $(seq "$SCRAPES"); do
    curl -fsS -o "$WORK/last.txt" -w '%{time_total}\n' "$BASE/metrics"
done >"$WORK/times"
promtool check metrics <"$WORK/last.txt" || die "promtool check metrics failed"
attendees=$(sed -n 's/^venuebox_attendees //p' "$WORK/last.txt")
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=

python3 - "$WORK/times" "$(stat -c %s "$WORK/last.txt")" "$attendees" "$PROFILE" <<'EOF'
import sys
times = sorted(float(t) * 1000 for t in open(sys.argv[1]))
size, attendees, profile = sys.argv[2], sys.argv[3], sys.argv[4]
pct = lambda p: times[max(1, min(len(times), -(-len(times) * p // 100))) - 1]
print(f"{len(times)} scrapes ({profile}), {attendees} attendees, text {size} B")
print(f"scrape time ms: p50 {pct(50):.2f}  p95 {pct(95):.2f}  max {times[-1]:.2f}  (target p95 <= 20)")
print("target met" if pct(95) <= 20 else "target NOT met")
EOF
