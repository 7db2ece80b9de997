#!/usr/bin/env bash
# The README's run command: builds venuebox for this machine and starts it as a
# development box (data in ./venuebox-data, HTTP on 127.0.0.1:8080, no hardware).
# Installs the build's tools first when missing (image-build/build-deps.sh), so it
# works on a fresh Debian/Ubuntu machine that has only Rust.
# Arguments go to `venuebox run`, e.g. `./image-build/run.sh --http 0.0.0.0:8080`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash image-build/build-deps.sh
exec cargo run --release --locked -- run "$@"
