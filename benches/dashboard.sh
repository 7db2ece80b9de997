#!/usr/bin/env bash
# The organiser dashboard's cost (issue 16): CPU and RSS of `venuebox run` while the
# photo corpus is ingested over tus, with BENCH_DASHBOARDS (default 5) dashboards open
# on their event stream (GET /admin/dashboard/events, curl -N, admin bearer token)
# against the same ingest with none. Targets: < 5 % more CPU, < 10 MiB more RSS.
#
#   bash benches/dashboard.sh                       # release build (built here if needed)
#   BENCH_BIN=target/debug/venuebox bash benches/dashboard.sh   # a binary already built
#
# Each round starts a fresh box on a fresh data dir for each scenario (none, then
# dashboards, alternating, BENCH_ROUNDS rounds: the machine is shared and noisy) and
# measures from just before the first upload to when the renders have settled (queue
# depth and renders in flight 0 in /metrics for 3 s), plus BENCH_HOLD_SECS (default 30)
# of the box idle with the streams still open (the summary's every-second cost shows
# there). CPU is the box's utime + stime from /proc/<pid>/stat over that window; RSS
# is the largest VmRSS sampled every 200 ms in it, and VmHWM at its end. Prints a table
# and the medians; the streams must have delivered events (counted) or it fails.
#
# Needs: cargo (unless BENCH_BIN), curl, python3. Environment (none may start with
# VENUEBOX_, which venuebox reads as configuration, except VENUEBOX_TESTDATA):
#   VENUEBOX_TESTDATA   test data (default ../shared/testdata)
#   BENCH_BIN           a venuebox binary to use instead of the release build
#   BENCH_ROUNDS        rounds (default 3)
#   BENCH_DASHBOARDS    dashboards open in the second scenario (default 5)
#   BENCH_HOLD_SECS     idle seconds measured after the renders settle (default 30)
#   BENCH_FILES         upload only the first N corpus files by name (default 0: all);
#                       on a loaded machine the renders (idle priority) can take long
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PHOTOS=${VENUEBOX_TESTDATA:-$ROOT/../shared/testdata}/photos
ROUNDS=${BENCH_ROUNDS:-3}
DASHBOARDS=${BENCH_DASHBOARDS:-5}
HOLD=${BENCH_HOLD_SECS:-30}
FILES=${BENCH_FILES:-0}
[[ $FILES =~ ^[0-9]+$ ]] || die "BENCH_FILES must be a number (got '$FILES')"
die() { echo "dashboard.sh: $*" >&2; exit 1; }
note() { echo "[dashboard] $*" >&2; }
for tool in curl python3; do command -v $tool >/dev/null || die "$tool is not installed"; done
[[ -d $PHOTOS ]] || die "no photos at $PHOTOS"
for n in ROUNDS DASHBOARDS HOLD; do
    [[ ${!n} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$n must be a positive integer (got '${!n}')"
done

if [[ -n ${BENCH_BIN:-} ]]; then
    BIN=$(realpath "$BENCH_BIN")
    PROFILE="given binary $BENCH_BIN"
else
    command -v cargo >/dev/null || die "cargo is not installed"
    note "building venuebox (cargo build --release)"
    (cd "$ROOT" && cargo build --release --quiet --bin venuebox) || die "cargo build --release failed"
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/venuebox
    PROFILE=release
fi
[[ -x $BIN ]] || die "no binary at $BIN"

WORK=$(mktemp -d)
PID=
STREAMS=()
SAMPLER=
stop_streams() {
    for p in "${STREAMS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${STREAMS[@]}"; do wait "$p" 2>/dev/null || true; done
    STREAMS=()
}
cleanup() {
    stop_streams
    [[ -n $SAMPLER ]] && kill "$SAMPLER" 2>/dev/null
    [[ -n $PID ]] && kill "$PID" 2>/dev/null
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
TICKS=$(getconf CLK_TCK)

# utime + stime of $1, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Renders at rest: queue depth and renders in flight both 0 for 3 s in a row.
settle() {
    local still=0 fig
    for _ in $(seq 900); do
        fig=$(curl -fsS -H "Authorization: Bearer $ADMIN" "$BASE/metrics" |
            sed -n 's/^venuebox_\(render_queue_depth\|renders_in_flight\) //p' | tr '\n' ' ')
        if [[ $fig == "0 0 " ]]; then still=$((still + 1)); else still=0; fi
        ((still >= 3)) && return 0
        sleep 1
    done
    die "renders did not settle ($fig)"
}

# One scenario: a fresh box, $1 dashboards, the corpus over tus. Prints
# "cpu_seconds max_rss_kib hwm_kib photos events".
scenario() {
    local n=$1 data=$WORK/data-$RANDOM
    "$BIN" --data-dir "$data" creator add bench >"$WORK/creator.txt" 2>/dev/null
    local token
    token=$(tail -n 1 "$WORK/creator.txt")
    local code=bench-admin-code-$$
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    VENUEBOX_ADMIN_TOKEN=$code VENUEBOX_MDNS__ENABLED=false VENUEBOX_FTP__ENABLED=false \
        "$BIN" --data-dir "$data" run --http "127.0.0.1:$port" >"$WORK/log" 2>&1 &
    PID=$!
    BASE=http://127.0.0.1:$port
    for _ in $(seq 300); do curl -fsS -o /dev/null "$BASE/healthz" 2>/dev/null && break; sleep 0.1; done
    curl -fsS -o /dev/null "$BASE/healthz" || { tail "$WORK/log" >&2; die "venuebox did not start"; }
    ADMIN=$(curl -fsS -H 'Content-Type: application/json' -d "{\"code\":\"$code\"}" "$BASE/api/admin/login" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
    for i in $(seq "$n"); do
        curl -sS -N -H "Authorization: Bearer $ADMIN" "$BASE/admin/dashboard/events?span=today" \
            >"$WORK/stream-$i" 2>/dev/null &
        STREAMS+=($!)
    done
    sleep 2 # the streams are open and the shared gathering runs
    : >"$WORK/rss"
    (while kill -0 "$PID" 2>/dev/null; do
        awk '/^VmRSS/{print $2}' "/proc/$PID/status" >>"$WORK/rss" 2>/dev/null || true
        sleep 0.2
    done) &
    SAMPLER=$!
    local before photos=0 started
    before=$(cpu_ticks "$PID")
    started=$(date +%s.%N)
    for f in "${CORPUS[@]}"; do
        local size
        size=$(stat -c %s "$f")
        status=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $token" \
            -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $size" \
            -H 'Content-Type: application/offset+octet-stream' --data-binary "@$f" "$BASE/files/")
        [[ $status == 201 ]] && photos=$((photos + 1))
    done
    settle
    sleep "$HOLD"
    local after hwm events=0 wall
    after=$(cpu_ticks "$PID")
    wall=$(python3 -c "import time; print(time.time() - $started)")
    hwm=$(awk '/^VmHWM/{print $2}' "/proc/$PID/status")
    kill "$SAMPLER" 2>/dev/null || true
    wait "$SAMPLER" 2>/dev/null || true
    SAMPLER=
    stop_streams
    for i in $(seq "$n"); do
        local got
        got=$(grep -c '^event: summary' "$WORK/stream-$i" || true)
        ((got > HOLD / 2)) || die "stream $i delivered $got summaries"
        events=$((events + got))
    done
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    PID=
    rm -rf "$data"
    local rss
    rss=$(sort -n "$WORK/rss" | tail -n 1)
    echo "$(python3 -c "print(($after - $before) / $TICKS)") $rss $hwm $photos $events $wall"
}

CORPUS=("$PHOTOS"/*)
((FILES > 0 && FILES < ${#CORPUS[@]})) && CORPUS=("${CORPUS[@]:0:FILES}")
echo "dashboard cost: $ROUNDS rounds, ${#CORPUS[@]} corpus files over tus, $DASHBOARDS dashboards vs none, $HOLD s idle held ($PROFILE)"
printf '%-6s %-11s %8s %8s %7s %12s %10s %7s %8s\n' round scenario wall_s cpu_s cpu_% max_rss_MiB hwm_MiB photos events
: >"$WORK/results"
for r in $(seq "$ROUNDS"); do
    for n in 0 "$DASHBOARDS"; do
        note "round $r, $n dashboards"
        scenario "$n" >"$WORK/one" # in this shell, so the exit trap stops what it started
        read -r cpu rss hwm photos events wall <"$WORK/one"
        printf '%-6s %-11s %8.1f %8.2f %7.1f %12.1f %10.1f %7s %8s\n' "$r" "$n open" "$wall" "$cpu" \
            "$(python3 -c "print($cpu * 100 / $wall)")" "$(python3 -c "print($rss/1024)")" \
            "$(python3 -c "print($hwm/1024)")" "$photos" "$events"
        echo "$n $cpu $rss $hwm $wall" >>"$WORK/results"
    done
done
python3 - "$WORK/results" "$DASHBOARDS" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
n = sys.argv[2]
def med(k, i):
    return statistics.median(float(r[i]) for r in rows if r[0] == k)
cpu0, cpun = med("0", 1), med(n, 1)
pct0 = statistics.median(float(r[1]) / float(r[4]) * 100 for r in rows if r[0] == "0")
pctn = statistics.median(float(r[1]) / float(r[4]) * 100 for r in rows if r[0] == n)
print(f"median CPU % of one core over the window: none {pct0:.2f}, {n} open {pctn:.2f}")
rss0, rssn = med("0", 2) / 1024, med(n, 2) / 1024
print(f"median CPU s: none {cpu0:.2f}, {n} open {cpun:.2f} ({(cpun / cpu0 - 1) * 100:+.1f} %; target < +5 %)")
print(f"median max RSS MiB: none {rss0:.1f}, {n} open {rssn:.1f} ({rssn - rss0:+.1f} MiB; target < +10 MiB)")
PY
