#!/usr/bin/env bash
# ZIP download benchmark (issue 14): the order ZIP streamed by venuebox's own code
# (`delivery::zip`, through examples/zip_stream.rs, release build) against Info-ZIP's
# `zip -0 -` (store, to stdout) of the same files, both into a pipe, in the same run.
#
#   bash benches/zip.sh
#
# The payload is the photo corpus ($VENUEBOX_TESTDATA/photos) hard-linked BENCH_ZIP_COPIES
# times into one work directory (zip refuses repeated names; hard links share the page
# cache, so both tools read the same cached bytes). A first untimed pass warms the cache;
# then BENCH_ZIP_ROUNDS alternating rounds (the machine is shared and noisy), each tool's
# output piped into `cat > /dev/null`. Throughput is photo bytes per second of wall time,
# best of the rounds; the ratio is venuebox / zip (target >= 1.0).
#
# Also (BENCH_ZIP64=1, the default): the ZIP64 check tests/zip.rs leaves out for time,
# `unzip -t` of a whole archive holding a 4.5 GiB sparse file and a photo after it.
#
# Prints a table on stdout (progress on stderr); exits non-zero when a step fails
# (a tool missing, an archive `unzip -t` rejects, a length that differs from the
# computed one).
#
# Needs: cargo, zip, unzip, python3. As root it installs missing zip/unzip with apt-get.
#
# Environment (optional; none starts with VENUEBOX_ except the test data):
#   VENUEBOX_TESTDATA   test data (default ../shared/testdata, from the repo root)
#   BENCH_ZIP_COPIES    corpus copies in the payload (default 10)
#   BENCH_ZIP_ROUNDS    timed rounds per tool (default 5)
#   BENCH_ZIP64         1: the ZIP64 check (default); 0: not
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${VENUEBOX_TESTDATA:-$ROOT/../shared/testdata}
PHOTOS=$DATA/photos
COPIES=${BENCH_ZIP_COPIES:-10}
ROUNDS=${BENCH_ZIP_ROUNDS:-5}
ZIP64=${BENCH_ZIP64:-1}

die() { echo "benches/zip.sh: $*" >&2; exit 1; }
note() { echo "-- $*" >&2; }

[ -d "$PHOTOS" ] || die "no photos at $PHOTOS (set VENUEBOX_TESTDATA)"
missing=()
for tool in zip unzip; do command -v $tool >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "missing: ${missing[*]} (apt-get install -y ${missing[*]})"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
for tool in cargo python3; do command -v $tool >/dev/null || die "$tool is not on PATH"; done

note "building: cargo build --release --example zip_stream"
(cd "$ROOT" && cargo build --release --quiet --example zip_stream) || die "build failed"
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/zip_stream

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/payload"
n=0
for copy in $(seq 1 "$COPIES"); do
  for f in "$PHOTOS"/*; do
    case "${f,,}" in *.jpg|*.jpeg) ;; *) continue ;; esac
    n=$((n + 1))
    ln "$f" "$WORK/payload/$(printf '%05d' $n)-$(basename "$f")" 2>/dev/null ||
      cp "$f" "$WORK/payload/$(printf '%05d' $n)-$(basename "$f")"
  done
done
# (Apparent sizes added one by one: du would count each hard-linked file once.)
bytes=$(find "$WORK/payload" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
note "payload: $n files, $bytes bytes"

cd "$WORK/payload"
files=(*)
run_venuebox() { "$BIN" "${files[@]}" 2>"$WORK/venuebox.err" | cat >/dev/null; }
run_zip() { zip -0 -q - "${files[@]}" | cat >/dev/null; }
now() { date +%s.%N; }

# Untimed: warm the cache, and check both archives are what they claim.
"$BIN" "${files[@]}" >"$WORK/venuebox.zip" 2>"$WORK/venuebox.err" || { cat "$WORK/venuebox.err" >&2; die "zip_stream failed"; }
unzip -t -qq "$WORK/venuebox.zip" >&2 || die "unzip -t rejected venuebox's archive"
zip -0 -q - "${files[@]}" >"$WORK/zip.zip"
unzip -t -qq "$WORK/zip.zip" >&2 || die "unzip -t rejected zip's archive"
vsize=$(stat -c %s "$WORK/venuebox.zip")
zsize=$(stat -c %s "$WORK/zip.zip")
rm -f "$WORK/venuebox.zip" "$WORK/zip.zip"

best_v=999999
best_z=999999
for round in $(seq 1 "$ROUNDS"); do
  t0=$(now); run_venuebox || die "zip_stream failed: $(cat "$WORK/venuebox.err")"; t1=$(now)
  run_zip || die "zip -0 failed"; t2=$(now)
  v=$(python3 -c "print($t1 - $t0)")
  z=$(python3 -c "print($t2 - $t1)")
  note "round $round: venuebox ${v}s, zip -0 ${z}s"
  best_v=$(python3 -c "print(min($best_v, $v))")
  best_z=$(python3 -c "print(min($best_z, $z))")
done

zip64_row=""
if [ "$ZIP64" = 1 ]; then
  note "ZIP64: a 4.5 GiB sparse entry and a photo after it"
  python3 - "$WORK/big.jpg" <<'EOF'
import sys
with open(sys.argv[1], "wb") as f:
    f.write(b"\xff\xd8 start")
    f.seek((4 << 30) + 12345)
    f.write(b"past four gibibytes")
    f.truncate((4 << 30) + (512 << 20))
EOF
  first=$(ls "$PHOTOS"/*.jpg "$PHOTOS"/*.JPG 2>/dev/null | head -1)
  t0=$(now)
  "$BIN" "$WORK/big.jpg" "$first" >"$WORK/big.zip" 2>"$WORK/venuebox.err" ||
    die "zip_stream (ZIP64) failed: $(cat "$WORK/venuebox.err")"
  t1=$(now)
  unzip -t -qq "$WORK/big.zip" >&2 || die "unzip -t rejected the ZIP64 archive"
  t2=$(now)
  zip64_row="| ZIP64: 4.5 GiB sparse entry + photo, \`unzip -t\` of the whole archive | ok: $(stat -c %s "$WORK/big.zip") bytes, streamed in $(python3 -c "print(f'{$t1 - $t0:.1f}')") s, tested in $(python3 -c "print(f'{$t2 - $t1:.1f}')") s |"
  rm -f "$WORK/big.zip" "$WORK/big.jpg"
fi

python3 - "$bytes" "$n" "$best_v" "$best_z" "$vsize" "$zsize" "$ROUNDS" <<EOF
import sys
payload, n, v, z, vsize, zsize, rounds = sys.argv[1:]
payload, v, z = int(payload), float(v), float(z)
mbps = lambda t: payload / t / 1e6
print(f"| what | figure |")
print(f"| --- | --- |")
print(f"| payload | {n} photos, {payload / 1e6:.1f} MB (corpus x $COPIES, hard links, page cache warm) |")
print(f"| venuebox delivery::zip (examples/zip_stream, release) -> pipe | {mbps(v):.0f} MB/s (best of {rounds}: {v:.3f} s), archive {int(vsize)} bytes |")
print(f"| zip -0 - -> pipe | {mbps(z):.0f} MB/s (best of {rounds}: {z:.3f} s), archive {int(zsize)} bytes |")
print(f"| ratio venuebox / zip | {z / v:.2f}x (target >= 1.0) |")
EOF
[ -n "$zip64_row" ] && echo "$zip64_row"
exit 0
