#!/usr/bin/env bash
# Memory ceiling: the release box inside a memory cgroup with a hard limit (1 GiB by
# default) under everything at once, and how much memory it took.
#
#   sudo bash benches/memory.sh
#
# In one run, against a release build (built here if needed):
#   1. 8 distinct ~45 MP JPEGs (8192x5464, metadata stripped so no embedded preview can
#      spare the full decode) are made from corpus photos with libvips (`vips
#      thumbnail --size force`), in a temporary directory.
#   2. A data dir gets creator "bench" and the photo corpus by `venuebox import` (not
#      rendered: the render backlog), then `venuebox run` starts inside a new memory
#      cgroup (cgroup v2 when /sys/fs/cgroup/cgroup.controllers exists, else cgroup v1
#      at /sys/fs/cgroup/memory), syncing to a single-node Garage on loopback.
#   3. At once: the 8 big files uploaded concurrently (4 by FTP with `curl -T`, 4 by
#      tus, one PATCH each with Upload-Checksum: sha256), every file of
#      $VENUEBOX_TESTDATA/bad uploaded by tus, 200 gallery clients (`wrk -c 200`,
#      the public gallery page) and a sync cut (`POST /api/admin/sync/now`)
#      once the uploads are in; then the script waits for every render to end.
#   4. VmRSS of the box every 100 ms (and VmHWM at the end), the cgroup's usage every
#      100 ms and its peak, OOM kills, /healthz at the end, each big upload checked
#      byte for byte (stored file's sha256 = the file's), each bad file's fate
#      (refused at upload, or stored and then rendered or refused by the renderer with
#      a reason, read from /api/admin/photos/{id}/render).
#
# Prints the figures and whether each target is met. Exits non-zero when a step fails
# (a tool missing, no usable memory cgroup, the box not starting, an upload refused
# or not byte-exact, a bad file left unresolved, an OOM kill, /healthz not answering).
#
# Needs: root (to make the cgroup), cargo, curl (>= 7.84), wrk, vips, python3, garage
# (cargo install garage --locked), sqlite3 or python3.
#
# Environment (optional; none may start with VENUEBOX_ except the test data):
#   VENUEBOX_TESTDATA       test data (default ../shared/testdata, from the repo root)
#   BENCH_LIMIT_MIB         the cgroup's hard limit (default 1024)
#   BENCH_BIG_FILES         big files, half FTP and half tus (default 8, even)
#   BENCH_BIG_SIZE          their pixel size WxH (default 8192x5464)
#   BENCH_GALLERY_CLIENTS   wrk connections (default 200)
#   BENCH_GALLERY_SECS      how long wrk runs, from the uploads' start (default 60)
#   BENCH_RENDER_TIMEOUT    seconds every render may take to end after the uploads
#                           (default 900)
#   BENCH_SYNC=0            leave Garage and the sync out
#   BENCH_KEEP=1            keep the temporary directory

set -Eeuo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

LIMIT_MIB=${BENCH_LIMIT_MIB:-1024}
BIG_FILES=${BENCH_BIG_FILES:-8}
BIG_SIZE=${BENCH_BIG_SIZE:-8192x5464}
CLIENTS=${BENCH_GALLERY_CLIENTS:-200}
GALLERY_SECS=${BENCH_GALLERY_SECS:-60}
RENDER_TIMEOUT=${BENCH_RENDER_TIMEOUT:-900}
WITH_SYNC=${BENCH_SYNC:-1}
RSS_TARGET_MIB=300
COMMAND="bash benches/memory.sh${*:+ $*}"

die() {
    echo "memory.sh: error: $*" >&2
    exit 1
}
note() { echo "[memory] $*" >&2; }

for n in LIMIT_MIB BIG_FILES CLIENTS GALLERY_SECS RENDER_TIMEOUT; do
    [[ ${!n} =~ ^[1-9][0-9]*$ ]] || die "$n must be a positive integer (got '${!n}')"
done
((BIG_FILES % 2 == 0)) || die "BENCH_BIG_FILES must be even (half FTP, half tus)"
[[ $BIG_SIZE =~ ^([1-9][0-9]*)x([1-9][0-9]*)$ ]] || die "BENCH_BIG_SIZE must be WxH (got '$BIG_SIZE')"
BIG_W=${BASH_REMATCH[1]}
BIG_H=${BASH_REMATCH[2]}
[[ $WITH_SYNC == [01] ]] || die "BENCH_SYNC must be 0 or 1"

# --- Requirements. ---

[[ $(id -u) == 0 ]] || die "needs root (it creates a memory cgroup)"
for tool in cargo curl wrk vips python3 ss sha256sum; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
if ((WITH_SYNC)); then command -v garage >/dev/null || die "garage is not installed (cargo install garage --locked), or set BENCH_SYNC=0"; fi
curl_v=$(curl --version | awk 'NR == 1 { print $2 }')
[[ $(printf '%s\n7.84.0\n' "$curl_v" | sort -V | head -n1) == 7.84.0 ]] ||
    die "curl $curl_v is too old: needs 7.84 or later (for -w %header{})"

TESTDATA=${VENUEBOX_TESTDATA:-../shared/testdata}
[[ $TESTDATA == /* ]] || TESTDATA="$ROOT/$TESTDATA"
PHOTOS=$TESTDATA/photos
BAD=$TESTDATA/bad
[[ -d $PHOTOS && -d $BAD ]] || die "no photos/ and bad/ under $TESTDATA (set VENUEBOX_TESTDATA)"

# The memory cgroup: v2 (unified) or v1, whichever this machine mounts.
CG_NAME=venuebox-memory-$$
if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    CG_VERSION=2
    grep -qw memory /sys/fs/cgroup/cgroup.controllers || die "cgroup v2 without the memory controller"
    grep -qw memory /sys/fs/cgroup/cgroup.subtree_control ||
        echo +memory >/sys/fs/cgroup/cgroup.subtree_control ||
        die "cannot enable the memory controller in /sys/fs/cgroup/cgroup.subtree_control"
    CG=/sys/fs/cgroup/$CG_NAME
elif [[ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]]; then
    CG_VERSION=1
    CG=/sys/fs/cgroup/memory/$CG_NAME
else
    die "no usable memory cgroup: neither cgroup v2 (/sys/fs/cgroup/cgroup.controllers) nor v1 (/sys/fs/cgroup/memory)"
fi

# --- Clean-up. ---

PIDS=()
WORK=""
cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [[ -d $CG ]]; then
        for _ in $(seq 50); do [[ -s $CG/cgroup.procs ]] || break; sleep 0.1; done
        rmdir "$CG" 2>/dev/null || note "could not remove the cgroup $CG"
    fi
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ ${BENCH_KEEP:-0} == 1 ]]; then note "kept $WORK"; else rm -rf -- "$WORK"; fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
db() { python3 -c 'import sqlite3,sys; c=sqlite3.connect("file:"+sys.argv[1]+"?mode=ro",uri=True,timeout=30); print("\n".join("|".join("" if v is None else str(v) for v in r) for r in c.execute(sys.argv[2],sys.argv[3:])))' "$DATA/venuebox.db" "$@"; }

# --- The binary. ---

note "building: cargo build --release --bin venuebox"
nice cargo build --release --quiet --bin venuebox >&2 || die "cargo build --release --bin venuebox failed"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/venuebox"
[[ -x $BIN ]] || die "no binary at $BIN after the build"
git_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | grep -q .; then git_rev="$git_rev + uncommitted changes"; fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/venuebox-memory.XXXXXX")
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 1. The big files. ---

BIGDIR=$WORK/big
mkdir -p "$BIGDIR"
# The largest landscape photos of the corpus, one per big file.
mapfile -t SOURCES < <(for f in "$PHOTOS"/*.jpg "$PHOTOS"/*.JPG; do
    h=$(vipsheader -f width "$f" 2>/dev/null) || continue
    v=$(vipsheader -f height "$f")
    bands=$(vipsheader -f bands "$f")
    ((h > v && bands == 3)) && echo "$((h * v)) $f"
done | sort -rn | head -n "$BIG_FILES" | cut -d' ' -f2-)
((${#SOURCES[@]} == BIG_FILES)) || die "found ${#SOURCES[@]} landscape RGB photos in $PHOTOS, need $BIG_FILES"
BIG=()
for i in "${!SOURCES[@]}"; do
    out=$BIGDIR/big-$i.jpg
    nice vips thumbnail "${SOURCES[i]}" "$out[Q=92,strip]" "$BIG_W" --height "$BIG_H" --size force ||
        die "vips thumbnail ${SOURCES[i]} failed"
    BIG+=("$out")
done
BIG_BYTES=$(cat "${BIG[@]}" | wc -c)
note "big files: $BIG_FILES x ${BIG_W}x${BIG_H} ($(mib "$BIG_BYTES") MiB in all)"

# --- 2. Garage, the data dir, the box in its cgroup. ---

SYNC_ENV=()
if ((WITH_SYNC)); then
    RPC=$(free_port)
    S3=$(free_port)
    cat >"$WORK/garage.toml" <<EOF
metadata_dir = "$WORK/garage/meta"
data_dir = "$WORK/garage/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$RPC"
rpc_public_addr = "127.0.0.1:$RPC"
rpc_secret = "$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$S3"
EOF
    G() { garage -c "$WORK/garage.toml" "$@"; }
    retry() { for _ in $(seq 150); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done; "$@"; }
    RUST_LOG=warn garage -c "$WORK/garage.toml" server >"$WORK/garage.log" 2>&1 &
    PIDS+=($!)
    retry G status
    NODE=$(G node id -q | cut -d@ -f1)
    retry G layout assign -z dc1 -c 10G "$NODE"
    retry G layout apply --version 1
    retry G bucket create bench
    KEY=$(G key create bench)
    KEY_ID=$(awk '/Key ID:/ {print $3}' <<<"$KEY")
    SECRET=$(awk '/Secret key:/ {print $3}' <<<"$KEY")
    retry G bucket allow --read --write --owner bench --key bench
    SYNC_ENV=(VENUEBOX_SYNC__TARGET=s3 "VENUEBOX_SYNC__ENDPOINT=http://127.0.0.1:$S3" VENUEBOX_SYNC__REGION=garage
        VENUEBOX_SYNC__BUCKET=bench VENUEBOX_SYNC__PREFIX=memory "AWS_ACCESS_KEY_ID=$KEY_ID" "AWS_SECRET_ACCESS_KEY=$SECRET")
else
    SYNC_ENV=(VENUEBOX_SYNC__ENABLED=false)
fi

DATA=$WORK/data
TOKEN=$("$BIN" --data-dir "$DATA" creator add bench | tail -n1)
out=$("$BIN" --data-dir "$DATA" creator ftp bench) || die "venuebox creator ftp failed"
FTP_USER=$(sed -n 's/^FTP user: //p' <<<"$out")
FTP_PASS=$(tail -n1 <<<"$out")
[[ -n $TOKEN && -n $FTP_USER && -n $FTP_PASS ]] || die "could not read the upload token / FTP login"
# The backlog: the corpus, imported but not rendered (README/MANIFEST are refused).
"$BIN" --data-dir "$DATA" import "$PHOTOS" --creator bench >"$WORK/import.log" 2>&1 || true
BACKLOG=$(db "SELECT count(*) FROM photos")
((BACKLOG > 0)) || { cat "$WORK/import.log" >&2; die "venuebox import stored no photo"; }
note "backlog: $BACKLOG corpus photos imported, not rendered"

mkdir "$CG"
if ((CG_VERSION == 2)); then
    echo $((LIMIT_MIB << 20)) >"$CG/memory.max"
    echo 0 >"$CG/memory.swap.max" 2>/dev/null || true
else
    echo $((LIMIT_MIB << 20)) >"$CG/memory.limit_in_bytes"
    echo $((LIMIT_MIB << 20)) >"$CG/memory.memsw.limit_in_bytes" 2>/dev/null || true
fi
cg_usage() { if ((CG_VERSION == 2)); then cat "$CG/memory.current"; else cat "$CG/memory.usage_in_bytes"; fi; }
cg_oom_kills() {
    if ((CG_VERSION == 2)); then
        awk '$1 == "oom_kill" { print $2 }' "$CG/memory.events"
    else
        awk '$1 == "oom_kill" { k = $2 } END { print k + 0 }' "$CG/memory.oom_control"
    fi
}

HTTP_PORT=$(free_port)
FTP_PORT=$(free_port)
PASV=$((40000 + RANDOM % 20000))
ADMIN_CODE=bench-admin-code-$$
# The subshell enters the cgroup, then becomes the box (same PID).
# Every client here shares one loopback address; on site each attendee's phone has its
# own, so the per-address caps (64 connections, 32 requests in flight by default) are
# lifted above the gallery clients; the box-wide caps stay as shipped.
env VENUEBOX_ADMIN_TOKEN="$ADMIN_CODE" VENUEBOX_MDNS__ENABLED=false VENUEBOX_FTP__ENABLED=true \
    VENUEBOX_HTTP__MAX_CONNECTIONS_PER_CLIENT=$((CLIENTS + 64)) VENUEBOX_HTTP__MAX_IN_FLIGHT_PER_CLIENT=$((CLIENTS + 64)) \
    VENUEBOX_FTP__PASSIVE_PORTS="[$PASV, $((PASV + 63))]" \
    "${SYNC_ENV[@]}" bash -c 'echo $$ >"$1/cgroup.procs" && exec "${@:2}"' _ "$CG" \
    "$BIN" --data-dir "$DATA" run --http "127.0.0.1:$HTTP_PORT" --ftp "127.0.0.1:$FTP_PORT" >"$WORK/box.log" 2>&1 &
BOX=$!
PIDS+=("$BOX")
BASE=http://127.0.0.1:$HTTP_PORT
for _ in $(seq 300); do
    kill -0 "$BOX" 2>/dev/null || { tail -n 20 "$WORK/box.log" >&2; die "venuebox exited while starting"; }
    curl -fsS -o /dev/null "$BASE/healthz" 2>/dev/null && break
    sleep 0.1
done
curl -fsS -o /dev/null "$BASE/healthz" || { tail -n 20 "$WORK/box.log" >&2; die "venuebox /healthz not answering after 30 s"; }
grep -qx "$BOX" "$CG/cgroup.procs" || die "the box (pid $BOX) is not in the cgroup $CG"
for _ in $(seq 100); do [[ -n $(ss -Hltn "sport = :$FTP_PORT") ]] && break; sleep 0.1; done
[[ -n $(ss -Hltn "sport = :$FTP_PORT") ]] || die "venuebox FTP not listening on $FTP_PORT"
ADMIN=$(curl -fsS -H 'Content-Type: application/json' -d "{\"code\":\"$ADMIN_CODE\"}" "$BASE/api/admin/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') || die "admin login failed"
# The creator's photos public, so the gallery lists what gets rendered.
curl -fsS -o /dev/null -X PUT -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"public": true}' "$BASE/api/vendor/public" || die "PUT /api/vendor/public failed"

# --- Sampling: VmRSS and the cgroup's usage every 100 ms, with the phase. ---

PHASE_FILE=$WORK/phase
echo start >"$PHASE_FILE"
(
    while kill -0 "$BOX" 2>/dev/null; do
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$BOX/status" 2>/dev/null) || break
        echo "$(date +%s.%N) $(cat "$PHASE_FILE") $rss $(cg_usage)"
        sleep 0.1
    done
) >"$WORK/samples" &
SAMPLER=$!
PIDS+=("$SAMPLER")
IDLE_RSS=$(awk '/^VmRSS:/ { print $2 }' "/proc/$BOX/status")

# --- 3. The workload. ---

echo uploads >"$PHASE_FILE"
t_start=$(date +%s.%N)
# wrk: attendees with a pass on the public gallery page (a phone without one gets a
# pointer to the start page instead): one consent through the portal, its pass cookie
# sent by every connection. (The thumbs are not requested.)
curl -fsS -c "$WORK/jar" -b "$WORK/jar" -o "$WORK/portal.html" "$BASE/portal?lang=en" || die "GET /portal failed"
csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$WORK/portal.html" | head -n1)
[[ -n $csrf ]] || die "no CSRF token on /portal"
code=$(curl -sS -c "$WORK/jar" -b "$WORK/jar" -o /dev/null -w '%{http_code}' "$BASE/portal/consent" \
    --data-urlencode "csrf=$csrf" -d action=accept -d lang=en -d gallery=yes)
[[ $code == 303 || $code == 302 ]] || die "POST /portal/consent answered $code"
PASS=$(awk '$6 == "vb_pass" { print $7 }' "$WORK/jar")
[[ -n $PASS ]] || die "no pass cookie after consenting"
wrk -t 2 -c "$CLIENTS" -d "${GALLERY_SECS}s" --timeout 10s -H "Cookie: vb_pass=$PASS" "$BASE/portal/gallery" >"$WORK/wrk.out" 2>&1 &
WRK=$!
PIDS+=("$WRK")

UP=()
half=$((BIG_FILES / 2))
for i in "${!BIG[@]}"; do
    f=${BIG[i]}
    if ((i < half)); then
        curl -sS -o /dev/null -w '%{response_code}' -T "$f" "ftp://$FTP_USER:$FTP_PASS@127.0.0.1:$FTP_PORT/big-$i.jpg" \
            >"$BIGDIR/code-$i" 2>"$BIGDIR/err-$i" &
    else
        sum=$(openssl dgst -sha256 -binary "$f" | base64 -w0)
        (
            len=$(stat -c %s "$f")
            r=$(curl -sS -o /dev/null -w '%{http_code} %header{location}' -X POST "$BASE/files/" \
                -H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $len" \
                -H "Upload-Metadata: filename $(printf 'big-%s.jpg' "$i" | base64 -w0)")
            read -r code loc <<<"$r"
            [[ $code == 201 ]] || { echo "POST $code"; exit 1; }
            curl -sS -o /dev/null -w '%{http_code}' -X PATCH "$BASE$loc" \
                -H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' \
                -H 'Content-Type: application/offset+octet-stream' -H 'Expect:' \
                -H 'Upload-Offset: 0' -H "Upload-Checksum: sha256 $sum" --upload-file "$f"
        ) >"$BIGDIR/code-$i" 2>"$BIGDIR/err-$i" &
    fi
    UP+=($!)
    PIDS+=($!)
done

# Every bad file by tus, one after another, while the big ones go in.
declare -A BAD_CODE=()
mapfile -t BADS < <(find "$BAD" -maxdepth 1 -type f | sort)
for f in "${BADS[@]}"; do
    len=$(stat -c %s "$f")
    name=$(basename "$f")
    r=$(curl -sS -o /dev/null -w '%{http_code} %header{location}' -X POST "$BASE/files/" \
        -H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $len" \
        -H "Upload-Metadata: filename $(printf '%s' "$name" | base64 -w0)") || die "tus POST of $name failed (curl)"
    read -r code loc <<<"$r"
    if [[ $code == 201 && $len -gt 0 ]]; then
        code=$(curl -sS -o /dev/null -w '%{http_code}' -X PATCH "$BASE$loc" \
            -H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' \
            -H 'Content-Type: application/offset+octet-stream' -H 'Expect:' \
            -H 'Upload-Offset: 0' --data-binary "@$f") || die "tus PATCH of $name failed (curl)"
    fi
    BAD_CODE[$name]=$code
done

failed=0
for i in "${!UP[@]}"; do wait "${UP[i]}" || failed=1; done
t_uploaded=$(date +%s.%N)
for i in "${!BIG[@]}"; do
    code=$(tail -c 3 "$BIGDIR/code-$i")
    want=$( ((i < half)) && echo 226 || echo 204)
    [[ $code == "$want" ]] || { note "big-$i: answered '$(cat "$BIGDIR/code-$i")', expected $want: $(cat "$BIGDIR/err-$i")"; failed=1; }
done
((failed == 0)) || die "a big upload failed"
note "big uploads in after $(awk -v a="$t_start" -v b="$t_uploaded" 'BEGIN { printf "%.1f", b - a }') s"

# The sync cut, now that the uploads are in.
echo renders+gallery >"$PHASE_FILE"
if ((WITH_SYNC)); then
    curl -fsS -o /dev/null -X POST -H "Authorization: Bearer $ADMIN" "$BASE/api/admin/sync/now" || die "POST /api/admin/sync/now failed"
fi

# Every photo's render must end (done or failed with a reason).
deadline=$(($(date +%s) + RENDER_TIMEOUT))
while :; do
    open=$(db "SELECT count(*) FROM photos p WHERE NOT EXISTS (SELECT 1 FROM renders r WHERE r.photo_id = p.id AND r.state IN ('done', 'failed', 'raw'))")
    ((open == 0)) && break
    (($(date +%s) < deadline)) || die "$open photos without a finished render after $RENDER_TIMEOUT s"
    kill -0 "$BOX" 2>/dev/null || die "the box died (log: $(tail -n 5 "$WORK/box.log"))"
    sleep 1
done
t_rendered=$(date +%s.%N)
note "every render ended after $(awk -v a="$t_start" -v b="$t_rendered" 'BEGIN { printf "%.1f", b - a }') s"

wait "$WRK" || true
# The sync: every bundle cut and every object uploaded, then the bucket verified.
if ((WITH_SYNC)); then
    echo sync >"$PHASE_FILE"
    synced=0
    for _ in $(seq 600); do
        curl -fsS -H "Authorization: Bearer $ADMIN" "$BASE/api/admin/sync" >"$WORK/sync.json" || die "GET /api/admin/sync failed"
        if python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); sys.exit(0 if o["bundles"]["total"] > 0 and o["bundles"]["pending"] == 0 and o["objects"]["pending"] == 0 else 1)' "$WORK/sync.json"; then
            synced=1
            break
        fi
        sleep 1
    done
    ((synced)) || die "the sync did not finish within 600 s: $(head -c 600 "$WORK/sync.json")"
    AWS_ACCESS_KEY_ID=$KEY_ID AWS_SECRET_ACCESS_KEY=$SECRET AWS_ENDPOINT_URL=http://127.0.0.1:$S3 AWS_REGION=garage \
        "$BIN" bundle verify s3://bench/memory >"$WORK/verify.txt" 2>&1 || { cat "$WORK/verify.txt" >&2; die "bundle verify failed"; }
fi
echo end >"$PHASE_FILE"
sleep 0.3

# --- 4. The figures. ---

HEALTH=$(curl -sS -o /dev/null -w '%{http_code}' "$BASE/healthz" || echo none)
HWM=$(awk '/^VmHWM:/ { print $2 }' "/proc/$BOX/status")
if ((CG_VERSION == 2)); then
    CG_PEAK=$(cat "$CG/memory.peak" 2>/dev/null || echo "")
    CG_FAIL="n/a"
else
    CG_PEAK=$(cat "$CG/memory.max_usage_in_bytes")
    CG_FAIL=$(cat "$CG/memory.failcnt")
fi
OOM=$(cg_oom_kills)
if [[ -n $CG_PEAK ]]; then CG_PEAK_TXT="$(mib "$CG_PEAK") MiB"; else CG_PEAK_TXT="n/a (no memory.peak on this kernel)"; fi

# Byte-exact: each big file is a stored photo whose file on disk has its sha256.
EXACT=0
for f in "${BIG[@]}"; do
    sum=$(sha256sum "$f" | cut -d' ' -f1)
    size=$(stat -c %s "$f")
    row=$(db "SELECT size FROM photos WHERE sha256 = ?" "$sum")
    stored=$DATA/photos/sha256/${sum:0:2}/$sum
    if [[ $row == "$size" && -f $stored && $(sha256sum "$stored" | cut -d' ' -f1) == "$sum" ]]; then
        EXACT=$((EXACT + 1))
    else
        note "$(basename "$f"): not stored byte for byte (row '$row')"
    fi
done

# Each bad file: refused at upload, or a photo whose render is done or failed.
B_REFUSED=0
B_RENDERED=0
B_RENDER_REFUSED=0
B_OPEN=0
: >"$WORK/bad.tsv"
for f in "${BADS[@]}"; do
    name=$(basename "$f")
    sum=$(sha256sum "$f" | cut -d' ' -f1)
    id=$(db "SELECT id FROM photos WHERE sha256 = ?" "$sum")
    if [[ -z $id ]]; then
        [[ ${BAD_CODE[$name]} != 2* ]] || { note "$name: answered ${BAD_CODE[$name]} but is not stored"; B_OPEN=$((B_OPEN + 1)); continue; }
        B_REFUSED=$((B_REFUSED + 1))
        printf '%s\trefused at upload (HTTP %s)\n' "$name" "${BAD_CODE[$name]}" >>"$WORK/bad.tsv"
        continue
    fi
    st=$(curl -fsS -H "Authorization: Bearer $ADMIN" "$BASE/api/admin/photos/$id/render" |
        python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["state"], s.get("reason") or "")') || st="unknown"
    case $st in
        done*) B_RENDERED=$((B_RENDERED + 1)) ;;
        failed* | raw*) B_RENDER_REFUSED=$((B_RENDER_REFUSED + 1)) ;;
        *) B_OPEN=$((B_OPEN + 1)) ;;
    esac
    printf '%s\tstored (HTTP %s), render %s\n' "$name" "${BAD_CODE[$name]}" "$st" >>"$WORK/bad.tsv"
done
note "bad files:"
cat "$WORK/bad.tsv" >&2

SYNCED="not run (BENCH_SYNC=0)"
if ((WITH_SYNC)); then
    SYNCED=$(python3 - "$WORK/sync.json" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
o = s = v  # the outbox and the worker's status, side by side
print("%d bundles, %d objects uploaded (%.1f MiB sent), 0 pending; bundle verify passed"
      % (o["bundles"]["total"], o["objects"]["uploaded"], s["bytes_sent"] / 1048576))
PY
)
fi
PHOTOS_N=$(db "SELECT count(*) FROM photos")
RENDER_SUMMARY=$(db "SELECT state || ': ' || count(*) FROM renders GROUP BY state" | paste -sd, -)

# Peak per phase, from the samples (kB for RSS, bytes for the cgroup).
PHASES=$(awk '{ if ($3 > r[$2]) r[$2] = $3; if ($4 > c[$2]) c[$2] = $4; if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 } }
    END { for (i = 1; i <= n; i++) printf "%s: RSS %.1f MiB, cgroup %.1f MiB; ", order[i], r[order[i]] / 1024, c[order[i]] / 1048576 }' "$WORK/samples")
N_SAMPLES=$(wc -l <"$WORK/samples")
SAMPLED_MAX=$(awk '$3 > m { m = $3 } END { print m + 0 }' "$WORK/samples")
WRK_SUMMARY=$(awk '/Requests\/sec|requests in|Non-2xx|Socket errors/' "$WORK/wrk.out" | sed 's/^ *//' | paste -sd';' -)

met() { if awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; then echo met; else echo "NOT met"; fi; }
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)

cat <<EOF

## venuebox memory ceiling

- command: \`$COMMAND\` (in $ROOT, as root)
- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); venuebox $("$BIN" --version | awk '{ print $2 }') (git $git_rev, release build)
- machine: $(nproc) cores, $cpu, $mem RAM, Linux $(uname -r); load average at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg)
- cgroup v$CG_VERSION, hard limit $LIMIT_MIB MiB (the box alone in it; clients, Garage and this script outside)
- workload: $BIG_FILES x ${BIG_W}x${BIG_H} JPEGs ($(mib "$BIG_BYTES") MiB; $half by FTP, $half by tus, all at once), ${#BADS[@]} files of bad/ by tus, a backlog of $BACKLOG imported corpus photos, $CLIENTS wrk connections for ${GALLERY_SECS} s on /portal/gallery, sync to Garage: $( ((WITH_SYNC)) && echo yes || echo no)

| figure | value | target |
| --- | --- | --- |
| peak RSS of the box (VmHWM) | $(mib $((HWM * 1024))) MiB (idle after start $(mib $((IDLE_RSS * 1024))) MiB; highest 100 ms sample $(mib $((SAMPLED_MAX * 1024))) MiB, $N_SAMPLES samples) | <= $RSS_TARGET_MIB MiB: $(met "$(mib $((HWM * 1024)))" "$RSS_TARGET_MIB") |
| cgroup peak (RSS + page cache + kernel memory charged to it) | $CG_PEAK_TXT (failcnt $CG_FAIL) | <= $LIMIT_MIB MiB |
| OOM kills in the cgroup | $OOM | 0: $( ((OOM == 0)) && echo met || echo "NOT met") |
| /healthz at the end | $HEALTH | 200: $([[ $HEALTH == 200 ]] && echo met || echo "NOT met") |
| big uploads stored byte for byte (sha256) | $EXACT of $BIG_FILES | all: $( ((EXACT == BIG_FILES)) && echo met || echo "NOT met") |
| bad files: refused at upload / stored and rendered / stored, render refused with a reason / unresolved | $B_REFUSED / $B_RENDERED / $B_RENDER_REFUSED / $B_OPEN of ${#BADS[@]} | 0 unresolved: $( ((B_OPEN == 0)) && echo met || echo "NOT met") |
| time to the big uploads' last answer / to every render ended | $(awk -v a="$t_start" -v b="$t_uploaded" 'BEGIN { printf "%.1f", b - a }') s / $(awk -v a="$t_start" -v b="$t_rendered" 'BEGIN { printf "%.1f", b - a }') s | |
| photos on the box, renders by state | $PHOTOS_N; $RENDER_SUMMARY | |
| peak per phase | $PHASES | |
| wrk | $WRK_SUMMARY | |
| sync state at the end | $SYNCED | |
EOF

((OOM == 0)) || die "the OOM killer ran in the cgroup"
[[ $HEALTH == 200 ]] || die "/healthz answered $HEALTH at the end"
((EXACT == BIG_FILES)) || die "$((BIG_FILES - EXACT)) big uploads not stored byte for byte"
((B_OPEN == 0)) || die "$B_OPEN bad files neither rendered nor refused"
