#!/usr/bin/env bash
# Delivery's serving cost (issue 14, "Benchmark"): wrk on loopback against a release
# `venuebox run`, in one go:
#
#  1. The cached watermarked preview an attendee sees for a public photo
#     (`GET /portal/photos/{id}/watermarked` with the attendee's pass cookie: the
#     policy shows an anonymous phone no watermarked copy) against nginx serving the
#     same bytes from disk, same wrk threads, connections and duration, in alternating
#     rounds: requests/s, p50/p99, and the ratios (target: >= 1.0x nginx's requests/s,
#     p99 no worse). A third server in the same rounds, examples/serve_floor.rs (axum
#     on hyper with one route and the bytes in memory, nothing else), shows the floor
#     of the HTTP stack venuebox is built on: hyper copies a body into the socket,
#     nginx's sendfile does not.
#  2. The public gallery page (`GET /portal/gallery`, as an attendee with a pass:
#     without one the page only points to the start page) with 500 concurrent
#     connections while a tus ingest of the corpus runs: p50/p95/p99 (target p95 <=
#     100 ms).
#
#   bash benches/delivery.sh
#   BENCH_SECS=30 bash benches/delivery.sh
#
# Environment (all optional; none may start with VENUEBOX_, which venuebox reads as
# configuration, except VENUEBOX_TESTDATA):
#   VENUEBOX_TESTDATA      test data (default ../shared/testdata, from the repo root)
#   BENCH_SECS             seconds per wrk run (default 10)
#   BENCH_ROUNDS           preview rounds, each venuebox and nginx once, the order
#                          alternating (default 2)
#   BENCH_PREVIEW_CONNS    wrk connections for the preview (default 50)
#   BENCH_GALLERY_CONNS    wrk connections for the gallery (default 500, the issue's)
#   BENCH_WRK_THREADS      wrk threads (default 2)
#   BENCH_BIN              a venuebox binary to measure instead of building one (an
#                          older build, for a before/after)
#   BENCH_KEEP=1           keep the temporary directory (logs, data dir, wrk output)
#   BENCH_MAX_ERROR_PCT    the run fails when more than this share of a wrk run's
#                          requests failed (non-2xx/3xx, timeouts, socket errors;
#                          default 1)
#
# Needs: cargo, curl, python3, wrk, nginx. As root it installs missing wrk/nginx with
# apt-get. Fails loudly on a missing tool, a refused upload, a non-200 answer, bytes
# that differ between the two servers, or too many failed requests.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SECS=${BENCH_SECS:-10}
ROUNDS=${BENCH_ROUNDS:-2}
PREVIEW_CONNS=${BENCH_PREVIEW_CONNS:-50}
GALLERY_CONNS=${BENCH_GALLERY_CONNS:-500}
THREADS=${BENCH_WRK_THREADS:-2}
MAX_ERROR_PCT=${BENCH_MAX_ERROR_PCT:-1}
COMMAND="bash benches/delivery.sh${*:+ $*}"

die() {
    echo "delivery.sh: error: $*" >&2
    exit 1
}
note() { echo "[delivery] $*" >&2; }

for n in SECS ROUNDS PREVIEW_CONNS GALLERY_CONNS THREADS; do
    [[ ${!n} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$n must be a positive integer (got '${!n}')"
done
[[ $MAX_ERROR_PCT =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "BENCH_MAX_ERROR_PCT must be a number (got '$MAX_ERROR_PCT')"

# --- Requirements. ---

command -v cargo >/dev/null || die "cargo is not on PATH"
for tool in curl python3 sha256sum; do
    command -v $tool >/dev/null || die "$tool is not installed (apt-get install -y curl python3 coreutils)"
done
NGINX=$(command -v nginx || true)
[[ -z $NGINX && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx
missing=()
command -v wrk >/dev/null || missing+=(wrk)
[[ -n $NGINX ]] || missing+=(nginx)
if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        note "installing ${missing[*]} with apt-get"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
            DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 || true
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
                die "apt-get install -y ${missing[*]} failed"
        fi
        NGINX=$(command -v nginx || echo /usr/sbin/nginx)
    else
        die "${missing[*]} not installed; run this as root (it installs them) or: sudo apt-get install -y ${missing[*]}"
    fi
fi
[[ -x $NGINX ]] || die "nginx not found after installing"
command -v wrk >/dev/null || die "wrk not found after installing"
# Connections from one client: wrk's, plus the ingest's and nginx's own files.
if (($(ulimit -n) < GALLERY_CONNS * 2 + 256)); then
    ulimit -n $((GALLERY_CONNS * 2 + 256)) 2>/dev/null ||
        die "open files limit $(ulimit -n) is too low for $GALLERY_CONNS connections (ulimit -n)"
fi

TESTDATA=${VENUEBOX_TESTDATA:-../shared/testdata}
[[ $TESTDATA == /* ]] || TESTDATA="$ROOT/$TESTDATA"
PHOTOS="$TESTDATA/photos"
[[ -d $PHOTOS ]] || die "no photo corpus at $PHOTOS (set VENUEBOX_TESTDATA)"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# --- The binary. ---

if [[ -n ${BENCH_BIN:-} ]]; then
    BIN=$BENCH_BIN
    [[ -x $BIN ]] || die "BENCH_BIN=$BIN is not an executable"
    BUILT="the binary $BIN (BENCH_BIN), not built here"
else
    note "building: cargo build --release --bin venuebox"
    cargo build --release --quiet --bin venuebox >&2 || die "cargo build --release --bin venuebox failed"
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/venuebox"
    [[ -x $BIN ]] || die "no binary at $BIN after the build"
    git_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    git_dirty=""
    if git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | grep -q .; then
        git_dirty=" + uncommitted changes in src/Cargo"
    fi
    BUILT="git $git_rev$git_dirty, release build"
fi
# The floor of the stack venuebox is built on (examples/serve_floor.rs: axum on hyper,
# one route, the bytes from memory, nothing else), run beside the two servers.
note "building: cargo build --release --example serve_floor"
cargo build --release --quiet --example serve_floor >&2 || die "cargo build --release --example serve_floor failed"
FLOOR_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/serve_floor"
[[ -x $FLOOR_BIN ]] || die "no binary at $FLOOR_BIN after the build"

# --- Clean-up: every process started here, and the temporary directory. ---

WORK=$(mktemp -d "${TMPDIR:-/tmp}/venuebox-delivery.XXXXXX")
PID=
NGINX_PID=
FLOOR_PID=
INGEST_PID=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -n $INGEST_PID ]] && touch "$WORK/stop-ingest" && kill "$INGEST_PID" 2>/dev/null
    [[ -n $NGINX_PID ]] && kill -QUIT "$NGINX_PID" 2>/dev/null
    [[ -n $FLOOR_PID ]] && kill "$FLOOR_PID" 2>/dev/null
    [[ -n $PID ]] && kill "$PID" 2>/dev/null
    for p in $INGEST_PID $NGINX_PID $FLOOR_PID $PID; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then note "kept $WORK"; else rm -rf -- "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# nginx's workers may run as another user (as root: nobody): they must reach www/.
chmod 755 "$WORK"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# --- The corpus: JPEGs (MPO too: a JPEG first), each distinct file once. ---

declare -A SEEN=()
FILES=()
for f in "$PHOTOS"/*; do
    [[ -f $f && $(head -c 3 -- "$f" | od -An -tx1 | tr -d ' \n') == ffd8ff ]] || continue
    sum=$(sha256sum -- "$f" | cut -d' ' -f1)
    [[ -n ${SEEN[$sum]:-} ]] && continue
    SEEN[$sum]=1
    FILES+=("$f")
done
N=${#FILES[@]}
((N > 0)) || die "no JPEG photos in $PHOTOS"
CORPUS_BYTES=$(cat -- "${FILES[@]}" | wc -c)
note "corpus: $N distinct JPEGs, $CORPUS_BYTES bytes"

# --- venuebox, with the request limits raised. ---

DATA=$WORK/data
TOKEN=$("$BIN" --data-dir "$DATA" creator add bench | tail -n1)
[[ $TOKEN == vbu_* ]] || die "venuebox creator add printed no upload token (got '$TOKEN')"
ADMIN_CODE=bench-admin-code-$$-$RANDOM
PORT=$(port)
BASE=http://127.0.0.1:$PORT
# Every client here is 127.0.0.1: the per-client caps (32 requests in flight, 64
# connections) and the box's (256 in flight, 1024 connections) would answer wrk's 500
# connections with 429/503 or closed sockets, which measures the limits, not serving.
# They are raised for this run only.
# tus.max_open_uploads_per_creator too: builds before 4e739ce count a creator's
# finished uploads against it until they expire (24 h), so the 65th upload of the run
# got 429 (kept so that BENCH_BIN can measure such a build).
LIMITS=(VENUEBOX_HTTP__MAX_IN_FLIGHT=4096 VENUEBOX_HTTP__MAX_IN_FLIGHT_PER_CLIENT=4096
    VENUEBOX_HTTP__MAX_CONNECTIONS=4096 VENUEBOX_HTTP__MAX_CONNECTIONS_PER_CLIENT=4096
    VENUEBOX_TUS__MAX_OPEN_UPLOADS_PER_CREATOR=100000)
env "${LIMITS[@]}" VENUEBOX_ADMIN_TOKEN="$ADMIN_CODE" VENUEBOX_MDNS__ENABLED=false \
    VENUEBOX_FTP__ENABLED=false \
    "$BIN" --data-dir "$DATA" run --http "127.0.0.1:$PORT" >"$WORK/venuebox.log" 2>&1 &
PID=$!
for _ in $(seq 300); do
    kill -0 "$PID" 2>/dev/null || { tail -n 20 "$WORK/venuebox.log" >&2; die "venuebox exited while starting"; }
    curl -fsS -o /dev/null "$BASE/healthz" 2>/dev/null && break
    sleep 0.1
done
curl -fsS -o /dev/null "$BASE/healthz" || { tail -n 20 "$WORK/venuebox.log" >&2; die "venuebox did not start"; }
ADMIN=$(curl -fsS -H 'Content-Type: application/json' -d "{\"code\":\"$ADMIN_CODE\"}" "$BASE/api/admin/login" |
    json 'd["token"]') || die "admin login failed"
stats() { curl -fsS -H "Authorization: Bearer $ADMIN" "$BASE/api/admin/previews/stats"; }

# Every photo of this creator is public: the creator's default, set with their token.
code=$(curl -sS -o "$WORK/out" -w '%{http_code}' -X PUT "$BASE/api/vendor/public" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"public":true}')
[[ $code == 200 ]] || die "PUT /api/vendor/public answered $code: $(cat "$WORK/out")"

# upload FILE SUFFIX: one tus upload (creation-with-upload: the whole file in the POST),
# FILE with SUFFIX appended after its end (SUFFIX not empty: a new photo, same pixels).
# Retries while the box answers 503 (render backpressure) or 429 (too many open
# uploads), as a tus client does, for at most 60 s; prints the number of retries.
upload() {
    local src=$1 suffix=$2 body="$WORK/body.$BASHPID" len code retries=0 name
    cat -- "$src" >"$body"
    printf '%s' "$suffix" >>"$body"
    len=$(stat -c %s "$body")
    name=$(printf '%s' "$(basename -- "$src")" | base64 -w0)
    while :; do
        code=$(curl -sS -o "$WORK/upload.$BASHPID.out" -w '%{http_code}' -X POST "$BASE/files/" \
            -H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $len" \
            -H "Upload-Metadata: filename $name" -H 'Expect:' \
            -H 'Content-Type: application/offset+octet-stream' --data-binary @"$body") || code=000
        [[ $code == 503 || $code == 429 ]] || break
        ((retries < 60)) || break
        retries=$((retries + 1))
        sleep 1
    done
    rm -f -- "$body"
    [[ $code == 201 ]] || {
        echo "tus upload of $src answered $code: $(head -c 300 "$WORK/upload.$BASHPID.out")" >&2
        return 1
    }
    echo "$retries"
}

note "uploading the corpus ($N photos) and waiting for every render"
for f in "${FILES[@]}"; do upload "$f" "" >/dev/null || die "upload failed"; done
rendered=0
for _ in $(seq 1800); do
    read -r rendered depth < <(stats | json 'd["renders"], d["queue_depth"] + d["in_flight"]' | tr -d '(),')
    ((rendered >= N && depth == 0)) && break
    sleep 0.1
done
((rendered >= N && depth == 0)) || die "only $rendered of $N photos rendered after 3 minutes"

# An attendee: the portal's consent form (CSRF cookie and token), gallery ticked.
curl -fsS -c "$WORK/jar" -b "$WORK/jar" -o "$WORK/portal.html" "$BASE/portal?lang=en" || die "GET /portal failed"
csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$WORK/portal.html" | head -n1)
[[ -n $csrf ]] || die "no CSRF token on /portal"
code=$(curl -sS -c "$WORK/jar" -b "$WORK/jar" -o /dev/null -w '%{http_code}' "$BASE/portal/consent" \
    --data-urlencode "csrf=$csrf" -d action=accept -d lang=en -d gallery=yes)
[[ $code == 303 || $code == 302 ]] || die "POST /portal/consent answered $code"
PASS=$(awk '$6 == "vb_pass" { print $7 }' "$WORK/jar")
[[ -n $PASS ]] || die "no pass cookie after consenting"
COOKIE="Cookie: vb_pass=$PASS"

# The photo: every photo of the public gallery (all its pages) fetched once by the
# attendee (so each is rendered and in the box's cache); the one whose watermarked
# preview is of median size is measured.
# The gallery with the pass: without one it shows only a pointer to the start page.
code=$(curl -sS -H "$COOKIE" -o "$WORK/gallery.html" -w '%{http_code}' "$BASE/portal/gallery")
[[ $code == 200 ]] || die "GET /portal/gallery answered $code"
GALLERY_BYTES=$(stat -c %s "$WORK/gallery.html")
GALLERY_PHOTOS=$(grep -o '/portal/photos/[0-9]*/watermarked' "$WORK/gallery.html" | wc -l)
IDS=()
page=/portal/gallery
while [[ -n $page ]]; do
    curl -fsS -H "$COOKIE" -o "$WORK/page.html" "$BASE$page" || die "GET $page failed"
    mapfile -t -O "${#IDS[@]}" IDS < <(grep -o '/portal/photos/[0-9]*/watermarked' "$WORK/page.html" | cut -d/ -f4)
    # The "more" link to the next page; none on the last.
    page=$({ grep -o 'href="/portal/gallery?[^"]*before=[0-9]*"' "$WORK/page.html" || true; } |
        head -n1 | sed 's/^href="//; s/"$//; s/&amp;/\&/g')
done
# (A photo whose render failed is listed in no gallery.)
LISTED=${#IDS[@]}
((LISTED > 0)) || die "the public gallery lists no photo"
: >"$WORK/sizes"
for id in "${IDS[@]}"; do
    code=$(curl -sS -H "$COOKIE" -o "$WORK/one.jpg" -w '%{http_code}' "$BASE/portal/photos/$id/watermarked")
    [[ $code == 200 ]] || die "GET /portal/photos/$id/watermarked with the pass answered $code"
    echo "$(stat -c %s "$WORK/one.jpg") $id" >>"$WORK/sizes"
done
read -r _ ID < <(sort -n "$WORK/sizes" | sed -n "$(((LISTED + 1) / 2))p")
PREVIEW_RANGE=$(sort -n "$WORK/sizes" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }')
PREVIEW_PATH="/portal/photos/$ID/watermarked"
code=$(curl -sS -H "$COOKIE" -D "$WORK/preview.hdr" -o "$WORK/preview.jpg" -w '%{http_code}' "$BASE$PREVIEW_PATH")
[[ $code == 200 ]] || die "GET $PREVIEW_PATH with the pass answered $code"
code=$(curl -sS -o /dev/null -w '%{http_code}' "$BASE$PREVIEW_PATH")
[[ $code != 200 ]] || die "GET $PREVIEW_PATH without a pass answered 200: the policy changed, fix this script"
PREVIEW_BYTES=$(stat -c %s "$WORK/preview.jpg")
[[ $(head -c 3 "$WORK/preview.jpg" | od -An -tx1 | tr -d ' \n') == ffd8ff ]] || die "the watermarked preview is not a JPEG"
note "photo $ID: watermarked preview $PREVIEW_BYTES bytes (median of the $LISTED listed, range $PREVIEW_RANGE); gallery page $GALLERY_BYTES bytes, $GALLERY_PHOTOS photos"

# --- nginx: the same bytes from disk. ---

# As many worker processes as the box's tokio runtime has worker threads (tokio's
# default: one per CPU the process may use, which nproc counts too).
WORKERS=$(nproc)
NGINX_PORT=$(port)
mkdir -p "$WORK/www/portal/photos/$ID" "$WORK/nginx/logs"
cp "$WORK/preview.jpg" "$WORK/www$PREVIEW_PATH"
chmod -R a+rX "$WORK/www"
# The headers venuebox sends with the preview, so both answers are about the same size.
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes $WORKERS;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=100;
    keepalive_requests 1000000;
    server_tokens off;
    types { image/jpeg jpg; }
    default_type image/jpeg;
    client_body_temp_path $WORK/nginx/tmp-body;
    proxy_temp_path $WORK/nginx/tmp-proxy;
    fastcgi_temp_path $WORK/nginx/tmp-fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp-uwsgi;
    scgi_temp_path $WORK/nginx/tmp-scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WORK/www;
        add_header Cache-Control "private, max-age=86400";
        add_header Vary "Accept, Cookie, Authorization";
        add_header X-Content-Type-Options nosniff;
        add_header X-Frame-Options DENY;
        add_header Referrer-Policy no-referrer;
    }
}
EOF
"$NGINX" -p "$WORK/nginx/" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/logs/error.log" >"$WORK/nginx/logs/stdout" 2>&1 &
NGINX_PID=$!
NGINX_URL="http://127.0.0.1:$NGINX_PORT$PREVIEW_PATH"
for _ in $(seq 100); do
    kill -0 "$NGINX_PID" 2>/dev/null || { cat "$WORK/nginx/logs/"* >&2; die "nginx exited while starting"; }
    curl -fsS -o /dev/null "$NGINX_URL" 2>/dev/null && break
    sleep 0.1
done
curl -fsS -H "$COOKIE" -D "$WORK/nginx.hdr" -o "$WORK/nginx.jpg" "$NGINX_URL" || die "nginx does not serve $NGINX_URL"
cmp -s "$WORK/preview.jpg" "$WORK/nginx.jpg" || die "nginx does not serve the same bytes"
FLOOR_PORT=$(port)
"$FLOOR_BIN" "$WORK/preview.jpg" "127.0.0.1:$FLOOR_PORT" >"$WORK/floor.log" 2>&1 &
FLOOR_PID=$!
FLOOR_URL="http://127.0.0.1:$FLOOR_PORT$PREVIEW_PATH"
for _ in $(seq 100); do
    kill -0 "$FLOOR_PID" 2>/dev/null || { cat "$WORK/floor.log" >&2; die "serve_floor exited while starting"; }
    curl -fsS -o /dev/null "$FLOOR_URL" 2>/dev/null && break
    sleep 0.1
done
curl -fsS -o "$WORK/floor.jpg" "$FLOOR_URL" || die "serve_floor does not serve $FLOOR_URL"
cmp -s "$WORK/preview.jpg" "$WORK/floor.jpg" || die "serve_floor does not serve the same bytes"
VB_HDR_BYTES=$(stat -c %s "$WORK/preview.hdr")
NG_HDR_BYTES=$(stat -c %s "$WORK/nginx.hdr")

# --- wrk. ---

# Prints the figures as "key value" lines: requests/s, latency percentiles in ms (wrk's
# own output stops at p99 and has no p95), the request count, bytes, and errors by kind
# (status: answers >= 400; wrk's "Non-2xx or 3xx responses").
cat >"$WORK/report.lua" <<'EOF'
done = function(summary, latency, requests)
    local secs = summary.duration / 1e6
    io.write(string.format("rps %.1f\n", summary.requests / secs))
    for _, p in ipairs({50, 75, 90, 95, 99}) do
        io.write(string.format("p%d %.3f\n", p, latency:percentile(p) / 1000))
    end
    io.write(string.format("max %.3f\n", latency.max / 1000))
    io.write(string.format("mean %.3f\n", latency.mean / 1000))
    io.write(string.format("requests %d\n", summary.requests))
    io.write(string.format("bytes %d\n", summary.bytes))
    local e = summary.errors
    io.write(string.format("err_connect %d\nerr_read %d\nerr_write %d\nerr_timeout %d\nerr_status %d\n",
        e.connect, e.read, e.write, e.timeout, e.status))
end
EOF
# wrk_run NAME CONNECTIONS URL [wrk options...]: one wrk run; its figures in $WORK/NAME,
# its whole output in $WORK/NAME.out. Fails when more than MAX_ERROR_PCT of the requests
# failed.
wrk_run() {
    local name=$1 conns=$2 url=$3
    shift 3
    note "wrk $name: -t$THREADS -c$conns -d${SECS}s $url"
    wrk -t"$THREADS" -c"$conns" -d"${SECS}s" --timeout 10s --latency -s "$WORK/report.lua" "$@" "$url" \
        >"$WORK/$name.out" 2>&1 || die "wrk $name failed: $(cat "$WORK/$name.out")"
    grep -E '^(rps|p[0-9]+|max|mean|requests|bytes|err_[a-z]+) ' "$WORK/$name.out" >"$WORK/$name" ||
        die "no figures from wrk $name: $(cat "$WORK/$name.out")"
    local requests errors
    requests=$(fig "$name" requests)
    errors=$(awk '$1 ~ /^err_/ { n += $2 } END { print n + 0 }' "$WORK/$name")
    echo "errors $errors" >>"$WORK/$name"
    note "  $(fig "$name" rps) req/s, p50 $(fig "$name" p50) ms, p99 $(fig "$name" p99) ms, $errors errors of $requests"
    ((requests > 0)) || die "wrk $name made no request"
    awk -v e="$errors" -v r="$requests" -v m="$MAX_ERROR_PCT" 'BEGIN { exit !(100 * e / r <= m) }' ||
        die "wrk $name: $errors of $requests requests failed (more than $MAX_ERROR_PCT %): $(cat "$WORK/$name.out")"
}
fig() { awk -v k="$2" '$1 == k { print $2 }' "$WORK/$1"; }

# --- 1. The watermarked preview: venuebox against nginx, alternating. ---

hits_before=$(stats | json 'd["cache"]["watermarked"]["hits"]')
for r in $(seq "$ROUNDS"); do
    if ((r % 2)); then order="venuebox nginx floor"; else order="floor nginx venuebox"; fi
    for who in $order; do
        case $who in
        venuebox) wrk_run "venuebox-$r" "$PREVIEW_CONNS" "$BASE$PREVIEW_PATH" -H "$COOKIE" ;;
        nginx) wrk_run "nginx-$r" "$PREVIEW_CONNS" "$NGINX_URL" -H "$COOKIE" ;;
        floor) wrk_run "floor-$r" "$PREVIEW_CONNS" "$FLOOR_URL" -H "$COOKIE" ;;
        esac
    done
done
hits_after=$(stats | json 'd["cache"]["watermarked"]["hits"]')
misses=$(stats | json 'd["cache"]["watermarked"]["misses"]')
vb_requests=0
for r in $(seq "$ROUNDS"); do vb_requests=$((vb_requests + $(fig "venuebox-$r" requests))); done

# --- 2. The gallery page under a tus ingest, 500 connections. ---

# The corpus again and again, each file with a new suffix (a new photo each time: the
# box keeps one photo per content), until told to stop; the count and the retries in
# files. Renders of the new photos run meanwhile, as at an event.
: >"$WORK/ingest.done"
: >"$WORK/ingest.retries"
: >"$WORK/ingest.failed"
(
    i=0
    while [[ ! -e $WORK/stop-ingest ]]; do
        for f in "${FILES[@]}"; do
            [[ -e $WORK/stop-ingest ]] && break
            i=$((i + 1))
            if retries=$(upload "$f" "venuebox-bench-$i"); then
                echo "$(stat -c %s "$f")" >>"$WORK/ingest.done"
                echo "$retries" >>"$WORK/ingest.retries"
            else
                echo "$f" >>"$WORK/ingest.failed"
            fi
        done
    done
) 2>"$WORK/ingest.err" &
INGEST_PID=$!
renders_before=$(stats | json 'd["renders"]')
# Until the ingest is under way: its first upload committed.
for _ in $(seq 300); do [[ -s $WORK/ingest.done || -s $WORK/ingest.failed ]] && break; sleep 0.1; done
uploads_before=$(wc -l <"$WORK/ingest.done")
wrk_run gallery "$GALLERY_CONNS" "$BASE/portal/gallery" -H "$COOKIE"
uploads_after=$(wc -l <"$WORK/ingest.done")
renders_after=$(stats | json 'd["renders"]')
touch "$WORK/stop-ingest"
wait "$INGEST_PID" || true
INGEST_PID=
[[ ! -s $WORK/ingest.failed ]] || die "uploads failed during the gallery run: $(cat "$WORK/ingest.err")"
((uploads_after > uploads_before)) || die "no upload finished during the gallery run"
ingest_n=$((uploads_after - uploads_before))
ingest_bytes=$(sed -n "$((uploads_before + 1)),${uploads_after}p" "$WORK/ingest.done" | awk '{ s += $1 } END { print s + 0 }')
ingest_retries=$(awk '{ s += $1 } END { print s + 0 }' "$WORK/ingest.retries")
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# --- Report. ---

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
python3 - "$WORK" "$ROUNDS" <<EOF
import sys
work, rounds = sys.argv[1], int(sys.argv[2])
def figs(name):
    return {k: float(v) for k, v in (l.split() for l in open(f"{work}/{name}"))}
vb = [figs(f"venuebox-{r}") for r in range(1, rounds + 1)]
ng = [figs(f"nginx-{r}") for r in range(1, rounds + 1)]
fl = [figs(f"floor-{r}") for r in range(1, rounds + 1)]
g = figs("gallery")
mean = lambda rows, k: sum(x[k] for x in rows) / len(rows)
print()
print("## venuebox delivery benchmark")
print()
print("- command: \`$COMMAND\` (in $ROOT), at nice $(nice)")
print("- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)")
print("- machine: $(nproc) cores (nproc), $cpu, $mem RAM, Linux $(uname -r); load average at start $LOAD_START, at end $LOAD_END; wrk, the servers and the ingest share these cores")
print("- versions: venuebox $("$BIN" --version | awk '{ print $2 }') ($BUILT), $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), $(wrk --version 2>&1 | head -n1 | awk '{ print $1, $2 }')")
print("- wrk -t$THREADS --timeout 10s --latency, keep-alive; venuebox's request limits raised for the run (http.max_in_flight, max_in_flight_per_client, max_connections, max_connections_per_client = 4096: every client here is 127.0.0.1; tus.max_open_uploads_per_creator = 100000: older builds count finished uploads against it)")
print()
print(f"watermarked preview of photo $ID ($PREVIEW_BYTES bytes, the median of the $LISTED photos the public gallery lists, which range $PREVIEW_RANGE bytes; response headers venuebox $VB_HDR_BYTES B, nginx $NG_HDR_BYTES B), {rounds} alternating rounds, $PREVIEW_CONNS connections, ${SECS} s each; nginx: $WORKERS worker processes (= tokio's worker threads), sendfile, open_file_cache; axum floor: examples/serve_floor.rs, the bytes from memory, tokio's default worker threads:")
print()
print("| round | server | req/s | p50 ms | p99 ms | max ms | errors |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for r in range(rounds):
    for name, x in (("venuebox", vb[r]), ("nginx", ng[r]), ("axum floor", fl[r])):
        print(f"| {r + 1} | {name} | {x['rps']:.0f} | {x['p50']:.2f} | {x['p99']:.2f} | {x['max']:.1f} | {int(x['errors'])} |")
rv, rn = mean(vb, "rps"), mean(ng, "rps")
pv, pn = mean(vb, "p99"), mean(ng, "p99")
print(f"| mean | venuebox | {rv:.0f} | {mean(vb, 'p50'):.2f} | {pv:.2f} | | |")
print(f"| mean | nginx | {rn:.0f} | {mean(ng, 'p50'):.2f} | {pn:.2f} | | |")
rf = mean(fl, "rps")
print(f"| mean | axum floor | {rf:.0f} | {mean(fl, 'p50'):.2f} | {mean(fl, 'p99'):.2f} | | |")
print()
print(f"- ratio venuebox/nginx, requests/s: **{rv / rn:.2f}x** (target >= 1.0: {'met' if rv >= rn else 'NOT met'})")
print(f"- ratio venuebox/nginx, p99: **{pv / pn:.2f}x** (target <= 1.0, no worse: {'met' if pv <= pn else 'NOT met'})")
print(f"- the floor of venuebox's HTTP stack (examples/serve_floor.rs: axum/hyper, one route, the same bytes from memory, no middleware): **{rf / rn:.2f}x** nginx; venuebox reaches **{rv / rf:.2f}x** of it")
print(f"- venuebox's cache: {$hits_after - $hits_before} watermarked hits during the runs for {$vb_requests} requests ({$misses} misses since start)")
print()
print(f"gallery page (/portal/gallery, $GALLERY_BYTES bytes, $GALLERY_PHOTOS photos), $GALLERY_CONNS connections, ${SECS} s, while a tus ingest ran: $ingest_n uploads ({$ingest_bytes / 1e6:.1f} MB) committed and {$renders_after - $renders_before} photos rendered during the run; {$ingest_retries} upload retries (503/429)")
print()
print("| req/s | p50 ms | p75 ms | p90 ms | p95 ms | p99 ms | max ms | requests | errors (non-2xx/3xx, timeouts, socket) |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
print(f"| {g['rps']:.0f} | {g['p50']:.1f} | {g['p75']:.1f} | {g['p90']:.1f} | **{g['p95']:.1f}** | {g['p99']:.1f} | {g['max']:.0f} | {int(g['requests'])} | {int(g['errors'])} (status {int(g['err_status'])}, timeout {int(g['err_timeout'])}, connect {int(g['err_connect'])}, read {int(g['err_read'])}, write {int(g['err_write'])}) |")
print()
print(f"- p95 {g['p95']:.1f} ms (target <= 100 ms: {'met' if g['p95'] <= 100 else 'NOT met'})")
EOF
