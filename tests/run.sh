#!/usr/bin/env bash
# The test command (README): installs what the tests need on a fresh Debian/Ubuntu
# machine with Rust, then checks formatting and lints and runs every test.
# Fails loudly on anything missing; never skips a test.
set -euo pipefail
cd "$(dirname "$0")/.."

# Later issues' real clients (lftp, Node's tus-js-client, Chromium, ...) are installed
# here with apt-get/npm when missing.

for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component" || { echo "tests/run.sh: cargo $component is missing" >&2; exit 1; }
  fi
done

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --locked
echo "== image build"
bash tests/image_build.sh
echo "tests/run.sh: all passed"
