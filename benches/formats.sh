#!/usr/bin/env bash
# Formats: what WebP, AVIF and JPEG XL cost and give beside JPEG, on the test corpus.
#
# 1. `venuebox render --format jpeg` (q85) and `--format webp` (the matched quality,
#    render::webp_quality(85) = 90, method 2) at SIZE (default 1280): wall time, summed encode
#    time (from venuebox's per-derivative lines), total bytes, and SSIMULACRA2 medians
#    from `cargo bench --bench render_quality` (same reference as benches/render.sh).
# 2. AVIF, measured and not shipped unless it fits: the JPEG outputs decoded to PNG
#    (vips), then encoded one by one on one thread by `cwebp -q 90 -m 2` and by libavif's
#    `avifenc` (aom, --min 20 --max 30, speeds 6 and 10) and libjxl's `cjxl` (distance
#    1.0, efforts 3 and 7), the same inputs for each: per-image median wall time, and
#    the ratio to cwebp.
#
#   bash benches/formats.sh [SIZE]
#   BENCH_VENUEBOX=target/release/venuebox bash benches/formats.sh   # skip the build
#
# Needs: cargo, vips (libvips-tools), cwebp (webp), avifenc (libavif-bin), cjxl
# (libjxl-tools), python3.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PHOTOS=${VENUEBOX_TESTDATA:-$ROOT/../shared/testdata}/photos
SIZE=${1:-1280}
die() { echo "formats.sh: $*" >&2; exit 1; }
for tool in vips cwebp avifenc cjxl python3 cargo; do
    command -v $tool >/dev/null || die "$tool is not installed (apt-get install -y libvips-tools webp libavif-bin libjxl-tools python3)"
done
if [[ -n ${BENCH_VENUEBOX:-} ]]; then
    BIN=$BENCH_VENUEBOX
else
    echo "building venuebox (cargo build --release)" >&2
    (cd "$ROOT" && cargo build --release --quiet --bin venuebox) || die "build failed"
    BIN=$ROOT/target/release/venuebox
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mapfile -t FILES < <(cd "$PHOTOS" && for f in *; do
    case $(head -c 4 "$f" | od -An -tx1 | tr -d ' \n') in ffd8ff* | 89504e47) echo "$PHOTOS/$f" ;; esac
done | sort)
now() { date +%s.%N; }

declare -A WALL
for fmt in jpeg webp; do
    mkdir -p "$WORK/$fmt"
    t0=$(now)
    "$BIN" render "${FILES[@]}" --out "$WORK/$fmt" --size "$SIZE" --format "$fmt" >"$WORK/$fmt.lines" ||
        die "venuebox render --format $fmt failed"
    WALL[$fmt]=$(python3 -c "print(round($(now) - $t0, 2))")
done

echo "building the quality scorer (cargo bench --bench render_quality --no-run)" >&2
(cd "$ROOT" && cargo bench --quiet --bench render_quality --no-run 2>/dev/null) || die "render_quality build failed"
(cd "$ROOT" && cargo bench --quiet --bench render_quality -- "$WORK/jpeg" "$WORK/webp" "$PHOTOS" "$SIZE") >"$WORK/quality.txt" 2>&1 ||
    { tail -n 20 "$WORK/quality.txt" >&2; die "quality scoring failed"; }

# AVIF vs WebP encoders on the same PNGs (one thread each).
mkdir -p "$WORK/png" "$WORK/enc"
for f in "$WORK"/jpeg/*.jpg; do vips copy "$f" "$WORK/png/$(basename "${f%.jpg}").png"; done
time_each() { # label command... (the PNG path replaces {} and the output {out})
    local label=$1
    local out=$WORK/enc/$label.times
    shift
    : >"$out"
    for p in "$WORK"/png/*.png; do
        local t0 args=()
        for a in "$@"; do a=${a//\{\}/$p}; args+=("${a//\{out\}/$WORK/enc/$label-$(basename "$p")}"); done
        t0=$(now)
        "${args[@]}" >/dev/null 2>&1 || die "$label failed on $p"
        python3 -c "print(($(now) - $t0) * 1000)" >>"$out"
    done
}
time_each cwebp-q90 cwebp -quiet -q 90 -m 2 {} -o {out}.webp
time_each avif-s6 avifenc -j 1 -c aom -s 6 --min 20 --max 30 {} {out}.avif
time_each avif-s10 avifenc -j 1 -c aom -s 10 --min 20 --max 30 {} {out}.avif
time_each jxl-e3 cjxl --num_threads=1 -e 3 -d 1.0 {} {out}.jxl
time_each jxl-e7 cjxl --num_threads=1 -e 7 -d 1.0 {} {out}.jxl

python3 - "$WORK" "$SIZE" "${WALL[jpeg]}" "${WALL[webp]}" <<'EOF'
import os, statistics, sys
work, size, wall_jpeg, wall_webp = sys.argv[1:]
def lines(fmt):
    return [l.split("\t") for l in open(f"{work}/{fmt}.lines") if l.strip()]
def total_bytes(d):
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
print(f"== venuebox render, size {size}, {len(lines('jpeg'))} photos ==")
print(f"{'format':<8}{'wall s':>8}{'encode ms (sum)':>17}{'encode ms (median)':>20}{'bytes':>12}")
for fmt, wall in (("jpeg", wall_jpeg), ("webp", wall_webp)):
    enc = [float(l[5]) for l in lines(fmt)]
    print(f"{fmt:<8}{wall:>8}{sum(enc):>17.0f}{statistics.median(enc):>20.1f}{total_bytes(f'{work}/{fmt}'):>12}")
print()
print("== SSIMULACRA2 (cargo bench --bench render_quality; higher is better) ==")
q = open(f"{work}/quality.txt").read().splitlines()
start = next((i for i, l in enumerate(q) if "median" in l.lower()), max(0, len(q) - 8))
print("\n".join(q[start:start + 8]))
print()
print("== encoders on the same PNGs, one thread, per image (ms) ==")
base = None
for label in ("cwebp-q90", "avif-s6", "avif-s10", "jxl-e3", "jxl-e7"):
    t = [float(x) for x in open(f"{work}/enc/{label}.times")]
    med = statistics.median(t)
    base = base or med
    size_b = sum(os.path.getsize(os.path.join(f"{work}/enc", f)) for f in os.listdir(f"{work}/enc") if f.startswith(label + "-"))
    print(f"{label:<10} median {med:7.1f}  p95 {sorted(t)[int(len(t) * 0.95) - 1]:7.1f}  x{med / base:5.2f} of cwebp  bytes {size_b}")
EOF
