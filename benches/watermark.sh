#!/usr/bin/env bash
# Watermark benchmark (issue 17, item 6): Watermark::apply on every corpus photo at
# 1280 px, median and p95 per call, target under 5 ms. See benches/watermark.rs.
#
#   bash benches/watermark.sh [PHOTO_DIR]     (default: $VENUEBOX_TESTDATA/photos)
#
# Release build (the box's), one thread.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cores; cargo bench --bench watermark -- ${1:-}"
exec nice cargo bench --bench watermark -- "$@"
