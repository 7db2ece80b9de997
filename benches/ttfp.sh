#!/usr/bin/env bash
# Time to first preview (issue 17, item 5), in two modes, each against a fresh release
# `venuebox run` (new data dir, new process) on loopback:
#
#   idle   every distinct photo of the corpus uploaded by tus, back to back, by one
#          client, as a phone or a tethered camera would (today's benchmark).
#   burst  8 uploaders at once (BENCH_TTFP_UPLOADERS), half over FTP (one curl each:
#          one login, one passive-mode STOR per file, as a camera does), half over tus
#          (curl, as in idle). The corpus is copied BENCH_TTFP_ROUNDS times (copies
#          after the first made distinct by a few bytes after the image's end: the box
#          de-duplicates by SHA-256) and dealt round-robin, so every uploader sends
#          distinct files and all stay busy.
#
# tus uploads go in chunks of BENCH_TTFP_CHUNK bytes (one PATCH each, default 256 KiB),
# all PATCHes of a photo from one curl (one keep-alive connection). For each photo the
# box records when its first preview existed (the instant preview from the EXIF
# thumbnail, or the render's first stored format if there was none or it came first),
# from the upload's commit ("end": the last PATCH, or the FTP STOR's last byte) and
# from its start ("start": the tus creation, or the FTP STOR's first byte). Per mode
# this prints: photos, upload wall time and throughput (MB/s, photos/s, all uploaders
# together), TTFP end/start p50/p95 overall, per protocol (photos.source), per instant
# preview (yes/no) and per render route, the per-route decode/resize/encode means from
# /api/admin/previews/stats, and the target line:
#   TTFP end p95 <= 100 ms (MODE): met/MISSED
#
# Whether a photo had an instant preview: the box keeps no per-photo record of it, so
# each file's first 128 KiB are read here for an EXIF thumbnail (what the box's instant
# preview is made from) and that is checked against the box: per tus upload
# (GET /uploads/KEY/preview answers 200 only when it had one) and in total (the stats'
# instant_previews). A disagreement stops the benchmark.
#
#   bash benches/ttfp.sh                          # both modes, building release first
#   BENCH_BIN=/tmp/vb bash benches/ttfp.sh        # this binary, no build
#   BENCH_TTFP_MODE=burst bash benches/ttfp.sh    # idle | burst | both (default both)
#
# Environment (none may start with VENUEBOX_, which venuebox reads as configuration):
#   BENCH_BIN             the venuebox binary to run (default: cargo build --release)
#   BENCH_TTFP_MODE       idle, burst or both (default both)
#   BENCH_TTFP_CHUNK      tus PATCH size in bytes (default 262144)
#   BENCH_TTFP_UPLOADERS  concurrent uploaders in burst, even: half FTP, half tus (default 8)
#   BENCH_TTFP_ROUNDS     copies of the corpus sent in burst (default 3)
#   VENUEBOX_TESTDATA     test data (default ../shared/testdata, from the repo root)
#
# Needs: curl >= 7.84, python3 (and cargo without BENCH_BIN). Fails loudly on any
# refused or short upload, a photo count that does not match, or a missing or failed
# render. Stops the server it started on exit.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TESTDATA=${VENUEBOX_TESTDATA:-$ROOT/../shared/testdata}
PHOTOS=$TESTDATA/photos
CHUNK=${BENCH_TTFP_CHUNK:-262144}
MODE=${BENCH_TTFP_MODE:-both}
UPLOADERS=${BENCH_TTFP_UPLOADERS:-8}
ROUNDS=${BENCH_TTFP_ROUNDS:-3}
TARGET_MS=100
COMMAND="bash benches/ttfp.sh${*:+ $*}"

die() {
    echo "ttfp.sh: error: $*" >&2
    exit 1
}
note() { echo "[ttfp] $*" >&2; }

[[ $CHUNK =~ ^[1-9][0-9]*$ ]] || die "BENCH_TTFP_CHUNK must be a positive integer (got '$CHUNK')"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_TTFP_ROUNDS must be a positive integer (got '$ROUNDS')"
if ! [[ $UPLOADERS =~ ^[1-9][0-9]*$ ]] || ((UPLOADERS % 2 != 0)); then
    die "BENCH_TTFP_UPLOADERS must be a positive even number (got '$UPLOADERS')"
fi
case $MODE in
idle) MODES=(idle) ;;
burst) MODES=(burst) ;;
both) MODES=(idle burst) ;;
*) die "BENCH_TTFP_MODE must be idle, burst or both (got '$MODE')" ;;
esac
for tool in curl python3 split sha256sum; do command -v $tool >/dev/null || die "$tool is not installed"; done
curl_v=$(curl --version | awk 'NR == 1 { print $2 }')
[[ $(printf '%s\n7.84.0\n' "$curl_v" | sort -V | head -n1) == 7.84.0 ]] ||
    die "curl $curl_v is too old: needs 7.84 or later (for -w %header{})"
[[ -d $PHOTOS ]] || die "no photos at $PHOTOS (set VENUEBOX_TESTDATA)"

# --- The binary. ---

if [[ -n ${BENCH_BIN:-} ]]; then
    BIN=$BENCH_BIN
    [[ -x $BIN ]] || die "BENCH_BIN=$BIN is not an executable file"
    built="BENCH_BIN=$BIN"
else
    command -v cargo >/dev/null || die "cargo is not installed (or set BENCH_BIN)"
    note "building venuebox (cargo build --release)"
    (cd "$ROOT" && cargo build --release --quiet --bin venuebox) || die "cargo build --release failed"
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/venuebox
    [[ -x $BIN ]] || die "no binary at $BIN after the build"
    built="release build of git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
fi

# --- Clean-up: the server and uploaders started here, and the work directory. ---

WORK=$(mktemp -d "${TMPDIR:-/tmp}/venuebox-ttfp.XXXXXX")
PID=
JOBS_=()
cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${JOBS_[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    if [[ -n $PID ]]; then
        kill -TERM "$PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$PID" 2>/dev/null || true
    fi
    wait 2>/dev/null || true
    rm -rf -- "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- The corpus: distinct photo files, by magic bytes (as ingest::sniff). ---

is_photo() {
    local h
    h=$(head -c 12 -- "$1" | od -An -tx1 | tr -d ' \n')
    [[ $h == ffd8ff* || $h == 89504e470d0a1a0a* || ($h == 52494646* && ${h:16:8} == 57454250) ||
        $h == 49492a00* || $h == 4d4d002a* || ${h:8:8} == 66747970 ]]
}
CORPUS=$WORK/corpus
mkdir -p "$CORPUS"
declare -A SEEN=()
BASE_FILES=()
for f in "$PHOTOS"/*; do
    if [[ ! -f $f ]] || ! is_photo "$f"; then continue; fi
    sum=$(sha256sum -- "$f" | cut -d' ' -f1)
    [[ -n ${SEEN[$sum]:-} ]] && continue
    SEEN[$sum]=1
    cp -- "$f" "$CORPUS/"
    BASE_FILES+=("$(basename -- "$f")")
done
((${#BASE_FILES[@]} > 0)) || die "no photos in $PHOTOS"
note "corpus: ${#BASE_FILES[@]} distinct photos from $PHOTOS"

# --- Small helpers. ---

now_ns() { date +%s%N; }
# A free TCP port on loopback; ports_free FIRST N: are FIRST..FIRST+N-1 all free?
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
free_block() {
    python3 - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    base = random.randrange(20000, 30000 - n)
    socks = []
    try:
        for p in range(base, base + n):
            s = socket.socket()
            s.bind(("127.0.0.1", p))
            socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    sys.exit(0)
sys.exit("no block of free ports")
EOF
}

# box_start DIR: a fresh data dir with creator "bench" (upload token and FTP login),
# then `venuebox run` with HTTP and FTP on loopback. Sets PID, BASE, FTP_PORT, TOKEN,
# FTP_USER, FTP_PASS, ADMIN.
box_start() {
    local d=$1 out http pasv
    out=$("$BIN" --data-dir "$d" creator add bench) || die "venuebox creator add failed"
    TOKEN=$(tail -n1 <<<"$out")
    out=$("$BIN" --data-dir "$d" creator ftp bench) || die "venuebox creator ftp failed"
    FTP_USER=$(sed -n 's/^FTP user: //p' <<<"$out")
    FTP_PASS=$(tail -n1 <<<"$out")
    [[ -n $TOKEN && -n $FTP_USER && -n $FTP_PASS ]] || die "could not read the upload token / FTP login from the CLI"
    http=$(free_port)
    FTP_PORT=$(free_port)
    pasv=$(free_block 32) || die "found no 32 free ports for passive FTP"
    local admin_code=bench-admin-code-$$
    VENUEBOX_ADMIN_TOKEN=$admin_code VENUEBOX_MDNS__ENABLED=false VENUEBOX_FTP__ENABLED=true \
        VENUEBOX_FTP__PASSIVE_PORTS="[$pasv, $((pasv + 31))]" \
        "$BIN" --data-dir "$d" run --http "127.0.0.1:$http" --ftp "127.0.0.1:$FTP_PORT" >"$d.log" 2>&1 &
    PID=$!
    BASE=http://127.0.0.1:$http
    for _ in $(seq 300); do
        kill -0 "$PID" 2>/dev/null || { tail -n 20 "$d.log" >&2; die "venuebox exited while starting (log above)"; }
        curl -fsS -o /dev/null "$BASE/healthz" 2>/dev/null && break
        sleep 0.1
    done
    curl -fsS -o /dev/null "$BASE/healthz" || { tail -n 20 "$d.log" >&2; die "venuebox did not start"; }
    for _ in $(seq 300); do
        python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$FTP_PORT" 2>/dev/null && break
        sleep 0.1
    done
    ADMIN=$(curl -fsS -H 'Content-Type: application/json' -d "{\"code\":\"$admin_code\"}" "$BASE/api/admin/login" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') || die "admin login failed"
}

box_stop() {
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=
}

# tus_prepare FILE: its chunks, FILE.chunks/NNNN, split here before any clock starts.
tus_prepare() {
    mkdir -p "$1.chunks"
    split -b "$CHUNK" -d -a 5 -- "$1" "$1.chunks/"
}

# tus_upload FILE KEYS: creation, then every chunk as one PATCH, all from one curl;
# each answer checked (204 and the new offset). Appends "KEY NAME" to KEYS.
tus_upload() {
    local f=$1 keys=$2 len out code loc args=() want=() off=0 n c i=0 got
    len=$(stat -c %s -- "$f")
    out=$(curl -sS -o /dev/null -w '%{http_code} %header{location}' -X POST "$BASE/files/" \
        -H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $len" \
        -H "Upload-Metadata: filename $(basename -- "$f" | base64 -w0)") || die "tus POST for $f failed (curl)"
    read -r code loc <<<"$out"
    [[ $code == 201 && $loc == /files/* ]] || die "tus POST for $f answered '$out', expected 201 and a Location"
    for c in "$f.chunks"/*; do
        n=$(stat -c %s -- "$c")
        ((${#args[@]} == 0)) || args+=(--next)
        args+=(-sS -o /dev/null -w '%{http_code} %header{upload-offset}\n' -X PATCH "$BASE$loc"
            -H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' -H 'Expect:'
            -H 'Content-Type: application/offset+octet-stream' -H "Upload-Offset: $off" --data-binary "@$c")
        off=$((off + n))
        want+=("204 $off")
    done
    out=$(curl "${args[@]}") || die "tus PATCHes of $f failed (curl): $out"
    while read -r code got; do
        [[ "$code $got" == "${want[i]}" ]] || die "tus PATCH $((i + 1)) of $f answered '$code $got', expected '${want[i]}'"
        i=$((i + 1))
    done <<<"$out"
    ((i == ${#want[@]})) || die "tus PATCHes of $f: $i answers for ${#want[@]} requests"
    echo "${loc#/files/} $(basename -- "$f")" >>"$keys"
}

# ftp_upload LIST: every file of LIST (one path a line) by one curl: one login, one
# passive STOR per file into the camera's root; each transfer must answer 226.
ftp_upload() {
    local list=$1 args=() f out n=0 bad
    while read -r f; do
        args+=(-T "$f" "ftp://127.0.0.1:$FTP_PORT/$(basename -- "$f")")
        n=$((n + 1))
    done <"$list"
    out=$(curl -sS --ftp-pasv --user "$FTP_USER:$FTP_PASS" -w '%{response_code}\n' "${args[@]}") ||
        die "FTP upload of $list failed (curl): $out"
    bad=$(grep -cvx 226 <<<"$out" || true)
    [[ $(grep -c . <<<"$out") == "$n" && $bad == 0 ]] || die "FTP uploads of $list answered '$(tr '\n' ' ' <<<"$out")', expected $n x 226"
}

# --- One mode: fresh box, uploads, wait for renders, report. ---

run_mode() {
    local mode=$1
    local d=$WORK/$mode files=() f r i n t0 t1 want bytes pids=() failed=0 rc
    mkdir -p "$d/files"
    # The files of this mode: idle, the corpus once; burst, ROUNDS copies.
    if [[ $mode == idle ]]; then
        for f in "${BASE_FILES[@]}"; do
            cp -- "$CORPUS/$f" "$d/files/$f"
            files+=("$d/files/$f")
        done
    else
        for r in $(seq 0 $((ROUNDS - 1))); do
            for f in "${BASE_FILES[@]}"; do
                cp -- "$CORPUS/$f" "$d/files/r$r-$f"
                # After the image's end, where no decoder looks: a distinct photo.
                ((r == 0)) || printf 'venuebox-ttfp copy %d\n' "$r" >>"$d/files/r$r-$f"
                files+=("$d/files/r$r-$f")
            done
        done
    fi
    n=${#files[@]}
    [[ $(sha256sum -- "${files[@]}" | cut -d' ' -f1 | sort -u | wc -l) == "$n" ]] || die "$mode: the files to send are not all distinct"
    bytes=$(cat -- "${files[@]}" | wc -c)
    # Each uploader's list: idle, one tus uploader; burst, round-robin, the first half
    # over FTP, the second over tus.
    local kinds=()
    if [[ $mode == idle ]]; then
        kinds=(tus)
    else
        for i in $(seq 0 $((UPLOADERS - 1))); do
            if ((i < UPLOADERS / 2)); then kinds+=(ftp); else kinds+=(tus); fi
        done
    fi
    for i in "${!kinds[@]}"; do : >"$d/list-$i"; done
    for i in "${!files[@]}"; do echo "${files[i]}" >>"$d/list-$((i % ${#kinds[@]}))"; done
    for i in "${!kinds[@]}"; do
        if [[ ${kinds[i]} == tus ]]; then
            while read -r f; do tus_prepare "$f"; done <"$d/list-$i"
        fi
    done
    : >"$d/keys"
    sync
    box_start "$d/data"
    note "$mode: $n photos, $bytes bytes, ${#kinds[@]} uploader(s): ${kinds[*]}"
    t0=$(now_ns)
    for i in "${!kinds[@]}"; do
        if [[ ${kinds[i]} == ftp ]]; then
            (ftp_upload "$d/list-$i" && now_ns >"$d/done-$i") 2>"$d/err-$i" &
        else
            (while read -r f; do tus_upload "$f" "$d/keys"; done <"$d/list-$i" && now_ns >"$d/done-$i") 2>"$d/err-$i" &
        fi
        pids+=($!)
        JOBS_+=($!)
    done
    for i in "${!pids[@]}"; do
        rc=0
        wait "${pids[i]}" || rc=$?
        if ((rc != 0)); then
            failed=1
            echo "uploader $i (${kinds[i]}) exited $rc:" >&2
            cat "$d/err-$i" >&2
        fi
    done
    t1=$(now_ns)
    JOBS_=()
    ((failed == 0)) || die "$mode: an upload failed (above)"
    # Wait for every render (a row in renders per photo), at most 5 minutes.
    want=$n
    local got=0
    for _ in $(seq 3000); do
        got=$(python3 -c 'import sqlite3,sys; c=sqlite3.connect("file:"+sys.argv[1]+"?mode=ro", uri=True); print(c.execute("SELECT count(*) FROM renders WHERE state NOT IN (\"rendering\")").fetchone()[0])' "$d/data/venuebox.db" 2>/dev/null || echo 0)
        ((got >= want)) && break
        sleep 0.1
    done
    ((got >= want)) || die "$mode: $got of $want photos rendered after 5 minutes"
    curl -fsS -H "Authorization: Bearer $ADMIN" "$BASE/api/admin/previews/stats" >"$d/stats.json" || die "stats API failed"
    # The box's own word on each tus upload's instant preview.
    : >"$d/instant"
    while read -r key name; do
        code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN" "$BASE/uploads/$key/preview")
        [[ $code == 200 || $code == 404 ]] || die "GET /uploads/$key/preview answered $code"
        echo "$key $name $code" >>"$d/instant"
    done <"$d/keys"
    box_stop
    python3 - "$mode" "$d" "$n" "$bytes" "$t0" "$t1" "$TARGET_MS" "$CHUNK" "${#kinds[@]}" <<'EOF'
import json, os, sqlite3, sys
mode, d, n, nbytes, t0, t1, target, chunk, uploaders = sys.argv[1:]
n, nbytes, t0, t1, target, uploaders = int(n), int(nbytes), int(t0), int(t1), float(target), int(uploaders)
ns = t1 - t0
HEAD = 128 << 10  # derivatives::INSTANT_HEAD_BYTES


def exif_thumbnail(path):
    """Does the file's head (what the box offers to its instant preview) hold an
    EXIF thumbnail, as media::jpeg::jpeg_meta finds it?"""
    with open(path, "rb") as f:
        data = f.read(HEAD)
    if data[:2] != b"\xff\xd8":
        return False
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return False
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xDA, 0xD9):
            return False
        seg = int.from_bytes(data[pos + 2:pos + 4], "big")
        if seg < 2 or pos + 2 + seg > len(data):
            return False
        body = data[pos + 4:pos + 2 + seg]
        if marker == 0xE1 and body.startswith(b"Exif\0\0"):
            return thumb_in(body[6:])
        pos += 2 + seg
    return False


def thumb_in(t):
    if t[:2] == b"II":
        e = "little"
    elif t[:2] == b"MM":
        e = "big"
    else:
        return False
    u16 = lambda o: int.from_bytes(t[o:o + 2], e)
    u32 = lambda o: int.from_bytes(t[o:o + 4], e)
    try:
        ifd0 = u32(4)
        count = u16(ifd0)
        ifd1 = u32(ifd0 + 2 + 12 * count)
        if ifd1 == 0 or ifd1 + 2 > len(t):
            return False
        tags = {}
        for k in range(u16(ifd1)):
            o = ifd1 + 2 + 12 * k
            if o + 12 > len(t):
                return False
            typ = u16(o + 2)
            tags[u16(o)] = u32(o + 8) if typ == 4 else u16(o + 8)
        off, length = tags.get(0x201), tags.get(0x202)
        return (off is not None and length is not None and length >= 4
                and off + length <= len(t) and t[off:off + 2] == b"\xff\xd8")
    except IndexError:
        return False


stats = json.load(open(os.path.join(d, "stats.json")))
db = sqlite3.connect(os.path.join(d, "data", "venuebox.db"))
photos = db.execute("SELECT count(*) FROM photos").fetchone()[0]
if photos != n:
    sys.exit(f"ttfp.sh: error: {mode}: the box stored {photos} photos, {n} were sent")
rows0 = db.execute(
    "SELECT p.source, p.original_name, r.route, r.ttfp_end_ms, r.ttfp_start_ms, r.render_ms, r.state "
    "FROM photos p LEFT JOIN renders r ON r.photo_id = p.id").fetchall()
# The name as sent (FTP may store a path).
rows = [(r[0], os.path.basename(r[1])) + tuple(r[2:]) for r in rows0]
bad = [r for r in rows if r[6] != "done"]
if bad:
    sys.exit(f"ttfp.sh: error: {mode}: {len(bad)} photos not rendered: "
             + ", ".join(f"{r[1]} ({r[6]})" for r in bad[:5]))
files = os.path.join(d, "files")
instant = {name: exif_thumbnail(os.path.join(files, name)) for name in os.listdir(files)
           if not name.endswith(".chunks")}
# Checked against the box: each tus upload, and the total. A box with first looks
# (issue 17, item 5: stats "first_looks") has a preview for every upload at its end:
# the EXIF thumbnail's, or the first look for the rest.
first_looks = stats.get("first_looks")
for line in open(os.path.join(d, "instant")):
    key, name, code = line.split()
    if (first_looks is None and instant[name] != (code == "200")) or (
            first_looks is not None and code != "200"):
        sys.exit(f"ttfp.sh: error: {mode}: {name}: EXIF thumbnail read here: {instant[name]}, "
                 f"instant preview per the box (GET /uploads/{key}/preview): {code}")
expected = sum(instant[r[1]] for r in rows)
if expected != stats["instant_previews"]:
    sys.exit(f"ttfp.sh: error: {mode}: {expected} photos have an EXIF thumbnail, "
             f"the box made {stats['instant_previews']} instant previews")
if first_looks is not None and first_looks != len(rows) - expected:
    sys.exit(f"ttfp.sh: error: {mode}: {len(rows) - expected} photos lack an EXIF thumbnail, "
             f"the box made {first_looks} first looks")


def pct(v, p):
    v = sorted(x for x in v if x is not None)
    if not v:
        return None
    i = max(1, min(len(v), -(-len(v) * p // 100))) - 1
    return v[int(i)]


show = lambda x: "-" if x is None else f"{x:.1f}"
secs = ns / 1e9
by = {"source": {}, "instant": {}, "route": {}}
for r in rows:
    by["source"].setdefault(r[0], []).append(r)
    by["instant"].setdefault("instant preview" if instant[r[1]] else "no instant preview", []).append(r)
    by["route"].setdefault(r[2] or r[6], []).append(r)
    by["instant"].setdefault(f"{r[0]}, {'instant' if instant[r[1]] else 'no instant'}", []).append(r)
how = ("1 tus uploader, back to back" if mode == "idle"
       else f"{uploaders} uploaders at once: {uploaders // 2} FTP, {uploaders // 2} tus")
print(f"\n### {mode}: {how}")
print(f"photos: {n} ({nbytes / 1e6:.2f} MB; tus PATCHes of {chunk} B); uploads {secs:.2f} s: "
      f"{nbytes / 1e6 / secs:.2f} MB/s, {n / secs:.2f} photos/s (all uploaders together, "
      f"first request to last answer); rendered: {len(rows)}; instant previews: {stats['instant_previews']}; first looks: {first_looks if first_looks is not None else 'none (a box without them)'}")
if uploaders > 1:
    ends = sorted((int(open(os.path.join(d, f"done-{i}")).read()) - t0) / 1e9 for i in range(uploaders))
    print(f"uploaders finished after (s): {' '.join(f'{e:.2f}' for e in ends)}")
missing_start = {s: sum(1 for r in g if r[4] is None) for s, g in by["source"].items()}
print("ttfp_start_ms NULL: " + ", ".join(f"{s} {k} of {len(by['source'][s])}" for s, k in missing_start.items()))
print(f"{'group':<28}{'photos':>7}{'end p50':>9}{'end p95':>9}{'start p50':>11}{'start p95':>11}"
      f"{'render p50':>12}{'decode':>8}{'resize':>8}{'encode':>8}")
groups = [("all", rows)]
groups += [(f"source {k}", g) for k, g in sorted(by["source"].items())]
groups += sorted(by["instant"].items())
groups += [(f"route {k}", g) for k, g in sorted(by["route"].items())]
for name, g in groups:
    t = stats["routes"].get(name[6:], {}) if name.startswith("route ") else {}
    fmt = lambda k: f"{t[k]:.1f}" if k in t else ""
    print(f"{name:<28}{len(g):>7}{show(pct([r[3] for r in g], 50)):>9}{show(pct([r[3] for r in g], 95)):>9}"
          f"{show(pct([r[4] for r in g], 50)):>11}{show(pct([r[4] for r in g], 95)):>11}"
          f"{show(pct([r[5] for r in g], 50)):>12}{fmt('decode_ms_mean'):>8}{fmt('resize_ms_mean'):>8}{fmt('encode_ms_mean'):>8}")
p95 = pct([r[3] for r in rows], 95)
print(f"upload throughput ({mode}): {nbytes / 1e6 / secs:.2f} MB/s, {n / secs:.2f} photos/s")
print(f"TTFP end p95 <= {target:.0f} ms ({mode}): {'met' if p95 is not None and p95 <= target else 'MISSED'} (p95 {show(p95)} ms)")
EOF
}

cat <<EOF
## venuebox time to first preview

- command: \`$COMMAND\`$( [[ -n ${BENCH_BIN:-} ]] && echo " with BENCH_BIN=$BENCH_BIN")$( [[ $MODE != both ]] && echo " BENCH_TTFP_MODE=$MODE")
- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); binary: $built ($("$BIN" --version 2>/dev/null || echo '?'))
- machine: $(nproc) cores, load average at start $(cut -d' ' -f1-3 /proc/loadavg); loopback; curl $curl_v
- corpus: ${#BASE_FILES[@]} distinct photos from $PHOTOS; burst: $ROUNDS copies, $UPLOADERS uploaders
EOF
for m in "${MODES[@]}"; do run_mode "$m"; done
cat <<'EOF'

ms. end: from the box's commit of the upload (stored and recorded: tus, on its last
PATCH; FTP, at the end of the STOR, before its 226) to the photo's first preview (the
instant one from the EXIF thumbnail, or the render's first stored format); start: from
the upload's start (tus: its creation; FTP: the STOR's opening). A box with first looks
(issue 17, item 5) makes one at the commit of every photo without an instant preview:
for those the first preview is the first look (or the render, if that came first). Percentiles are
nearest-rank; the targets are judged on end. "instant preview": the photo's first 128 KiB hold
an EXIF thumbnail (checked against the box per tus upload and in total). decode /
resize / encode: means per render (all derivatives x JPEG+WebP) from
/api/admin/previews/stats.
EOF
