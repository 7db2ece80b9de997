#!/usr/bin/env bash
# Sync benchmark: venuebox's signed-bundle sync against `rclone copy` of the same photos
# to the same Garage, on loopback.
#
#   bash benches/sync.sh
#
# In one run, against a release build (built here if needed):
#   1. Throughput: the photo corpus synced by `venuebox sync push` (cut + sign + EXIF +
#      HEAD-then-PUT, 4 at a time) and copied by `rclone copy` (Debian's rclone, 4
#      transfers) into fresh prefixes of one single-node Garage, in alternating rounds
#      (the machine is shared and noisy); best-of MB/s of asset bytes, and the ratio
#      venuebox/rclone (target >= 1.0).
#   2. Bytes on the wire: one more run of each through a loopback TCP proxy that counts
#      bytes client->Garage; printed against the asset bytes (venuebox's overhead is
#      its manifests, signatures, key statement and HEADs; rclone's its own requests).
#   3. `venuebox bundle verify` of venuebox's last prefix (must pass).
#
# Needs: cargo, garage (cargo install garage --locked), rclone, python3.
# Environment: VENUEBOX_TESTDATA (default ../shared/testdata), BENCH_ROUNDS (default 3),
# BENCH_KEEP=1 keeps the temporary directory.

set -Eeuo pipefail
shopt -s inherit_errexit
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
ROUNDS=${BENCH_ROUNDS:-3}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "sync.sh: BENCH_ROUNDS must be a positive integer" >&2; exit 1; }
DATA=${VENUEBOX_TESTDATA:-$ROOT/../shared/testdata}
PHOTOS=$DATA/photos
[ -d "$PHOTOS" ] || { echo "sync.sh: no test data at $PHOTOS" >&2; exit 1; }
export PATH="$HOME/.cargo/bin:$PATH"
for tool in garage rclone python3; do
    command -v "$tool" >/dev/null || { echo "sync.sh: $tool is missing" >&2; exit 1; }
done
note() { echo "[sync] $*" >&2; }

note "building venuebox (release)"
cargo build --release --quiet
BIN=$ROOT/target/release/venuebox

TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ "${BENCH_KEEP:-}" = 1 ] && note "kept $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- Garage, single node ----------------------------------------------------------
RPC=$(free_port); S3=$(free_port)
cat >"$TMP/garage.toml" <<EOF
metadata_dir = "$TMP/garage/meta"
data_dir = "$TMP/garage/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$RPC"
rpc_public_addr = "127.0.0.1:$RPC"
rpc_secret = "$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$S3"
EOF
G() { garage -c "$TMP/garage.toml" "$@"; }
retry() { for _ in $(seq 150); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done; "$@"; }
RUST_LOG=warn garage -c "$TMP/garage.toml" server >"$TMP/garage.log" 2>&1 &
PIDS+=($!)
retry G status
NODE=$(G node id -q | cut -d@ -f1)
retry G layout assign -z dc1 -c 1G "$NODE"
retry G layout apply --version 1
retry G bucket create bench
KEY=$(G key create bench)
KEY_ID=$(awk '/Key ID:/ {print $3}' <<<"$KEY")
SECRET=$(awk '/Secret key:/ {print $3}' <<<"$KEY")
retry G bucket allow --read --write --owner bench --key bench
ENDPOINT=http://127.0.0.1:$S3

# --- a counting proxy (bytes client -> Garage) --------------------------------------
cat >"$TMP/proxy.py" <<'EOF'
import asyncio, signal, sys
listen, upstream, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sent = 0
async def pipe(r, w, count):
    global sent
    try:
        while data := await r.read(65536):
            if count: sent += len(data)
            w.write(data); await w.drain()
    finally:
        w.close()
async def handle(cr, cw):
    sr, sw = await asyncio.open_connection("127.0.0.1", upstream)
    await asyncio.gather(pipe(cr, sw, True), pipe(sr, cw, False), return_exceptions=True)
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    open(out + ".ready", "w").close()
    await stop.wait()
    open(out, "w").write(str(sent))
asyncio.run(main())
EOF

# --- the box: one data dir with the corpus imported, copied per round --------------
TEMPLATE=$TMP/box
"$BIN" --data-dir "$TEMPLATE" creator add Bench >/dev/null
"$BIN" --data-dir "$TEMPLATE" import "$PHOTOS" --creator Bench >/dev/null 2>&1 || true
ASSET_BYTES=$(python3 - "$TEMPLATE/venuebox.db" <<'EOF'
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("select sum(size) from photos").fetchone()[0])
EOF
)
ASSETS=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from photos').fetchone()[0])" "$TEMPLATE/venuebox.db")
# rclone copies exactly the files the box holds (the refused README/MANIFEST excluded).
mkdir "$TMP/files"
for f in "$PHOTOS"/*; do
    case "$f" in *.tsv|*.md) ;; *) cp "$f" "$TMP/files/" ;; esac
done
note "corpus: $ASSETS photos, $ASSET_BYTES bytes"

export AWS_ACCESS_KEY_ID=$KEY_ID AWS_SECRET_ACCESS_KEY=$SECRET
export RCLONE_CONFIG_G_TYPE=s3 RCLONE_CONFIG_G_PROVIDER=Other RCLONE_CONFIG_G_REGION=garage \
    RCLONE_CONFIG_G_ACCESS_KEY_ID=$KEY_ID RCLONE_CONFIG_G_SECRET_ACCESS_KEY=$SECRET \
    RCLONE_CONFIG_G_FORCE_PATH_STYLE=true

now() { python3 -c 'import time; print(time.monotonic())'; }
venuebox_push() { # prefix endpoint
    rm -rf "$TMP/run" && cp -a "$TEMPLATE" "$TMP/run"
    VENUEBOX_SYNC__TARGET=s3 VENUEBOX_SYNC__ENDPOINT=$2 VENUEBOX_SYNC__REGION=garage \
        VENUEBOX_SYNC__BUCKET=bench VENUEBOX_SYNC__PREFIX=$1 \
        "$BIN" --data-dir "$TMP/run" sync push >/dev/null
}
rclone_copy() { # prefix endpoint
    # AWS_CA_BUNDLE (set on some machines) makes rclone's S3 client fail on plain HTTP.
    env -u AWS_CA_BUNDLE RCLONE_CONFIG_G_ENDPOINT="$2" rclone copy --transfers 4 "$TMP/files" "g:bench/$1"
    local n
    n=$(env -u AWS_CA_BUNDLE RCLONE_CONFIG_G_ENDPOINT="$2" rclone lsf "g:bench/$1" | wc -l)
    [ "$n" -eq "$ASSETS" ] || { echo "sync.sh: rclone copied $n of $ASSETS files" >&2; exit 1; }
}
timed() { local t0 t1; t0=$(now); "$@"; t1=$(now); python3 -c "print($t1-$t0)"; }

BEST_V=999999; BEST_R=999999
for round in $(seq "$ROUNDS"); do
    tv=$(timed venuebox_push "v$round" "$ENDPOINT")
    tr=$(timed rclone_copy "r$round" "$ENDPOINT")
    note "round $round: venuebox ${tv}s, rclone ${tr}s"
    BEST_V=$(python3 -c "print(min($BEST_V,$tv))"); BEST_R=$(python3 -c "print(min($BEST_R,$tr))")
done

wire() { # tool prefix
    local port out; port=$(free_port); out=$TMP/wire-$1
    python3 "$TMP/proxy.py" "$port" "$S3" "$out" & local pid=$!
    for _ in $(seq 100); do [ -e "$out.ready" ] && break; sleep 0.05; done
    "$1" "$2" "http://127.0.0.1:$port" >&2
    kill -TERM "$pid"; wait "$pid"
    cat "$out"
}
WIRE_V=$(wire venuebox_push wire-v)
WIRE_R=$(wire rclone_copy wire-r)

note "verifying venuebox's last prefix"
AWS_ENDPOINT_URL=$ENDPOINT AWS_REGION=garage "$BIN" bundle verify "s3://bench/v$ROUNDS" >"$TMP/verify.txt" \
    || { cat "$TMP/verify.txt" >&2; echo "sync.sh: verify failed" >&2; exit 1; }

python3 - "$ASSETS" "$ASSET_BYTES" "$BEST_V" "$BEST_R" "$WIRE_V" "$WIRE_R" "$ROUNDS" <<'EOF'
import sys
n, size, tv, tr, wv, wr, rounds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
mb = size / 1e6
print(f"corpus: {n} photos, {mb:.1f} MB; best of {rounds} rounds; same Garage, loopback")
print(f"{'':34} {'seconds':>8} {'MB/s':>8} {'wire bytes':>12} {'wire/assets':>12}")
print(f"{'venuebox sync push':34} {tv:8.2f} {mb/tv:8.1f} {wv:12d} {wv/size:12.4f}")
print(f"{'rclone copy --transfers 4':34} {tr:8.2f} {mb/tr:8.1f} {wr:12d} {wr/size:12.4f}")
print(f"throughput ratio venuebox/rclone: {tr/tv:.2f}")
print(f"venuebox wire overhead over asset bytes: {wv-size} bytes ({(wv-size)/size*100:.2f}%)")
EOF
