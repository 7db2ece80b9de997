#!/usr/bin/env bash
# QR detection benchmark (issue 14): the tagger's search of each photo's 1280 preview
# against the photo's whole render, and whether a photographed pass is found in the
# 1280 preview and in the 320 thumb. See benches/qr.rs for what is measured.
#
#   bash benches/qr.sh [PHOTO_DIR]     (default: $VENUEBOX_TESTDATA/photos)
#
# Release build (the box's), one thread: the render and the search run one after the
# other on the same core, as the tagger's single idle-priority thread does.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cores; cargo bench --bench qr -- ${1:-}"
exec nice cargo bench --bench qr -- "$@"
