#!/usr/bin/env bash
# Builds the fuzz corpora fuzz/corpus/<target>/ (not committed) from the hand-made seeds
# in fuzz/seeds/<target>/, the inputs in fuzz/regressions/ and fuzz/findings/, and the
# shared test photos ($VENUEBOX_TESTDATA, default ../shared/testdata next to the
# repository): every JPEG of photos/ and bad/, cut down
# to its metadata segments and a token scan (so an input is kilobytes, not megabytes),
# plus PNG, WebP, TIFF and HEIC files made from a camera JPEG by ImageMagick, cwebp and
# heif-enc and tagged by exiftool with GPS, serial and owner fields (as
# tests/derivatives.rs makes them). Existing corpus files are kept (libFuzzer adds its
# finds there). Needs python3, convert, cwebp, heif-enc and exiftool (tests/run.sh
# installs them).
set -euo pipefail
fuzz="$(cd "$(dirname "$0")" && pwd)"
testdata="${VENUEBOX_TESTDATA:-$fuzz/../../shared/testdata}"
[ -d "$testdata/photos" ] || { echo "fuzz/seed.sh: no test photos at $testdata (set VENUEBOX_TESTDATA)" >&2; exit 1; }
for tool in python3 convert cwebp heif-enc exiftool; do
  command -v "$tool" >/dev/null || { echo "fuzz/seed.sh: $tool is missing" >&2; exit 1; }
done
corpus="$fuzz/corpus"
mkdir -p "$corpus"
# Hand-made seeds, and the inputs of crashes fixed (fuzz/regressions/, which unit tests
# also read) and still open (fuzz/findings/).
for dir in "$fuzz"/seeds/*/ "$fuzz"/regressions/*/ "$fuzz"/findings/*/; do
  [ -d "$dir" ] || continue
  mkdir -p "$corpus/$(basename "$dir")"
  find "$dir" -maxdepth 1 -type f -exec cp -t "$corpus/$(basename "$dir")/" {} +
done

# JPEGs: the segments before the first scan, the scan's header, 8 bytes of scan data
# and EOI; files without a scan (truncated) are cut at 64 KiB. Names keep the source's.
mkdir -p "$corpus/privacy_jpeg" "$corpus/jpeg_meta" "$corpus/exif_colour"
python3 - "$testdata" "$corpus" <<'PY'
import os, sys
testdata, corpus = sys.argv[1], sys.argv[2]
def shrink(data):
    if data[:2] != b"\xff\xd8":
        return data[:65536]
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xDA:
            return data[:pos + 2 + length] + b"\x00" * 8 + b"\xff\xd9"
        pos += 2 + length
    return data[:65536]
for sub in ("photos", "bad"):
    for name in sorted(os.listdir(os.path.join(testdata, sub))):
        if name.endswith((".md", ".tsv")):
            continue
        data = open(os.path.join(testdata, sub, name), "rb").read()
        small = shrink(data)
        targets = ["exif_colour", "jpeg_meta"] + (["privacy_jpeg"] if data[:2] == b"\xff\xd8" else [])
        if name.lower().endswith(".png"):
            targets.append("privacy_png")
            small = data[:65536]
        for target in targets:
            os.makedirs(os.path.join(corpus, target), exist_ok=True)
            open(os.path.join(corpus, target, f"{sub}_{name}"), "wb").write(small)
PY

# PNG, WebP, TIFF, HEIC with private metadata, from a Nikon JPEG (its maker note holds
# the body serial), 64 px wide.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
convert "$testdata/photos/nikon-d90_DSC_0003.JPG" -resize 64x64 "$work/small.jpg"
convert "$work/small.jpg" "$work/photo.png"
convert "$work/small.jpg" "$work/photo.tif"
cwebp -quiet -metadata all "$work/small.jpg" -o "$work/photo.webp"
heif-enc -q 30 "$work/small.jpg" -o "$work/photo.heic" >/dev/null
for ext in png webp tif heic; do
  cp "$work/photo.$ext" "$work/plain.$ext"
  exiftool -q -overwrite_original -GPSLatitude=48.8566 -GPSLatitudeRef=N \
    -GPSLongitude=2.3522 -GPSLongitudeRef=E -SerialNumber=SN-4242 \
    -LensSerialNumber=LS-4242 -OwnerName="Jo Owner" -Artist="Ana Artist" \
    -Copyright="(c) Ana 2026" -XMP-photoshop:City=Paris "$work/photo.$ext"
done
for pair in png:privacy_png webp:privacy_webp tif:privacy_tiff heic:privacy_heif; do
  ext="${pair%%:*}" target="${pair#*:}"
  mkdir -p "$corpus/$target"
  cp "$work/photo.$ext" "$corpus/$target/tagged.$ext"
  cp "$work/plain.$ext" "$corpus/$target/plain.$ext"
  cp "$work/photo.$ext" "$corpus/exif_colour/tagged.$ext"
done
# Whole small JPEGs for the scaled decoder (jpeg_eighth): every sampling the decoder
# takes, grey, sizes that are not whole MCUs, and a progressive one it leaves.
mkdir -p "$corpus/jpeg_eighth"
src="$testdata/photos/nikon-d90_DSC_0003.JPG"
for sf in 1x1 2x1 1x2 2x2; do
  convert "$src" -resize '75x50!' -sampling-factor "$sf" -quality 90 -strip "$corpus/jpeg_eighth/s$sf.jpg"
done
convert "$src" -resize '203x133!' -sampling-factor 2x2 -quality 75 -strip "$corpus/jpeg_eighth/s2x2-large.jpg"
convert "$src" -resize '41x29!' -colorspace Gray -quality 90 -strip "$corpus/jpeg_eighth/grey.jpg"
convert "$src" -resize '75x50!' -interlace JPEG -quality 90 -strip "$corpus/jpeg_eighth/progressive.jpg"
echo "fuzz/seed.sh: corpora in $corpus: $(find "$corpus" -type f | wc -l) files"
