#!/usr/bin/env bash
# Time to first preview: every photo of the corpus uploaded by tus over loopback to a
# release `venuebox run`, back to back as a phone or a tethered camera would, in
# chunks of BENCH_TTFP_CHUNK bytes (one PATCH each, default 256 KiB). For each photo
# the box records when its first preview existed (the instant preview from the EXIF
# thumbnail, or the render if there was none or it came first), measured from the
# upload's creation (tus POST) and from its commit (the last PATCH). This script
# prints p50/p95 of both, per render route, the per-route decode/resize/encode means
# from the stats API, and how many photos had an instant preview.
#
#   bash benches/ttfp.sh            # whole corpus
#   BENCH_TTFP_CHUNK=65536 bash benches/ttfp.sh
#
# Needs: cargo, curl, python3. Fails loudly on any refused upload or missing render.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PHOTOS=${VENUEBOX_TESTDATA:-$ROOT/../shared/testdata}/photos
CHUNK=${BENCH_TTFP_CHUNK:-262144}
die() { echo "ttfp.sh: $*" >&2; exit 1; }
for tool in curl python3 cargo; do command -v $tool >/dev/null || die "$tool is not installed"; done
[[ -d $PHOTOS ]] || die "no photos at $PHOTOS"

echo "building venuebox (cargo build --release)" >&2
(cd "$ROOT" && cargo build --release --quiet --bin venuebox) || die "cargo build --release failed"
BIN=$ROOT/target/release/venuebox
WORK=$(mktemp -d)
PID=
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

DATA=$WORK/data
TOKEN=$("$BIN" --data-dir "$DATA" creator add bench | tail -n1)
ADMIN_CODE=bench-admin-code-$$
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
VENUEBOX_ADMIN_TOKEN=$ADMIN_CODE VENUEBOX_MDNS__ENABLED=false VENUEBOX_FTP__ENABLED=false \
    "$BIN" --data-dir "$DATA" run --http "127.0.0.1:$PORT" >"$WORK/log" 2>&1 &
PID=$!
BASE=http://127.0.0.1:$PORT
for _ in $(seq 300); do curl -fsS -o /dev/null "$BASE/healthz" 2>/dev/null && break; sleep 0.1; done
curl -fsS -o /dev/null "$BASE/healthz" || { tail "$WORK/log" >&2; die "venuebox did not start"; }
ADMIN=$(curl -fsS -H 'Content-Type: application/json' -d "{\"code\":\"$ADMIN_CODE\"}" "$BASE/api/admin/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

# Distinct image files only (the same bytes twice would be one photo).
mapfile -t FILES < <(cd "$PHOTOS" && for f in *; do
    case $(head -c 4 "$f" | od -An -tx1 | tr -d ' \n') in ffd8ff* | 89504e47) echo "$f" ;; esac
done | sort)
declare -A SEEN=()
N=0
started=$(date +%s.%N)
for f in "${FILES[@]}"; do
    sum=$(sha256sum "$PHOTOS/$f" | cut -d' ' -f1)
    [[ -n ${SEEN[$sum]:-} ]] && continue
    SEEN[$sum]=1
    len=$(stat -c %s "$PHOTOS/$f")
    loc=$(curl -fsS -o /dev/null -w '%header{location}' -X POST "$BASE/files/" \
        -H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $len") ||
        die "tus POST for $f failed"
    off=0
    while ((off < len)); do
        n=$((len - off < CHUNK ? len - off : CHUNK))
        dd if="$PHOTOS/$f" of="$WORK/chunk" bs=64K iflag=skip_bytes,count_bytes skip="$off" count="$n" status=none
        code=$(curl -sS -o /dev/null -w '%{http_code}' -X PATCH "$BASE$loc" \
            -H "Authorization: Bearer $TOKEN" -H 'Tus-Resumable: 1.0.0' -H "Upload-Offset: $off" \
            -H 'Content-Type: application/offset+octet-stream' --data-binary @"$WORK/chunk")
        [[ $code == 204 ]] || die "PATCH of $f at $off answered $code"
        off=$((off + n))
    done
    N=$((N + 1))
done
uploaded=$(date +%s.%N)
# Wait for every render.
for _ in $(seq 600); do
    done_n=$(curl -fsS -H "Authorization: Bearer $ADMIN" "$BASE/api/admin/previews/stats" |
        python3 -c 'import json,sys; s=json.load(sys.stdin); print(sum(r["renders"] for r in s["routes"].values()))')
    ((done_n >= N)) && break
    sleep 0.1
done
curl -fsS -H "Authorization: Bearer $ADMIN" "$BASE/api/admin/previews/stats" >"$WORK/stats.json"
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=

python3 - "$DATA/venuebox.db" "$WORK/stats.json" "$N" "$CHUNK" "$(python3 -c "print(round($uploaded - $started, 2))")" <<'EOF'
import json, sqlite3, sys
db, stats_path, n, chunk, upload_s = sys.argv[1:]
stats = json.load(open(stats_path))
rows = sqlite3.connect(db).execute(
    "SELECT route, ttfp_end_ms, ttfp_start_ms, render_ms, state FROM renders").fetchall()
def pct(v, p):
    v = sorted(x for x in v if x is not None)
    if not v:
        return "-"
    i = max(1, min(len(v), -(-len(v) * p // 100))) - 1
    return f"{v[int(i)]:.1f}"
print(f"photos uploaded by tus: {n} (chunks of {chunk} B, back to back, {upload_s} s in all); rendered: {sum(1 for r in rows if r[4] == 'done')}; instant previews: {stats['instant_previews']}")
print(f"{'route':<16}{'photos':>7}{'end p50':>10}{'end p95':>10}{'start p50':>11}{'start p95':>11}{'render p50':>12}{'decode':>9}{'resize':>9}{'encode':>9}")
groups = {"all": rows}
for r in rows:
    groups.setdefault(r[0] or r[4], []).append(r)
for name, g in groups.items():
    t = stats["routes"].get(name, {})
    fmt = lambda k: f"{t[k]:.1f}" if k in t else "-"
    print(f"{name:<16}{len(g):>7}{pct([r[1] for r in g], 50):>10}{pct([r[1] for r in g], 95):>10}"
          f"{pct([r[2] for r in g], 50):>11}{pct([r[2] for r in g], 95):>11}{pct([r[3] for r in g], 50):>12}"
          f"{fmt('decode_ms_mean'):>9}{fmt('resize_ms_mean'):>9}{fmt('encode_ms_mean'):>9}")
print("ms; end = from the upload's last byte (commit), start = from its tus creation;")
print("decode/resize/encode: means per render (all derivatives x JPEG+WebP) from /api/admin/previews/stats")
EOF
