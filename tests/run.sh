#!/usr/bin/env bash
# The test command (README): installs what the tests need on a fresh Debian/Ubuntu
# machine with Rust, then checks formatting and lints and runs every test.
# Fails loudly on anything missing; never skips a test.
set -euo pipefail
cd "$(dirname "$0")/.."

# What building needs (cmake, nasm), shared with the run command.
bash image-build/build-deps.sh

# Debian packages providing the tools the tests call: command -> package.
declare -A tools=(
  [curl]=curl                 # tus tests drive the server with curl
  [node]=nodejs               # tus-js-client runs under Node
  [npm]=npm
  [lftp]=lftp                 # FTP resume test
  [python3]=python3           # ftplib camera tests; tests/zip.rs reads archives with zipfile;
                              # tests/soak.py, the crash soak
  [unzip]=unzip               # tests/zip.rs: `unzip -t` of the order ZIP
  [zip]=zip                   # benches/zip.sh compares with `zip -0`
  [unshare]=util-linux        # tests/mdns.rs runs in a network namespace of its own
  [ip]=iproute2
  [systemd-analyze]=systemd   # tests/image_build.sh checks the unit
  [systemd-sysusers]=systemd
  [mount]=mount               # tests/doctor.rs mounts a 1 MiB tmpfs (as root) and fills it
  [umount]=mount
  [socat]=socat               # tests/door.rs, serial.rs, stall_scanner.rs: a pty pair stands in for a scanner
  [dnsmasq]=dnsmasq           # tests/netns_portal.rs runs the shipped dnsmasq.conf
  [dhclient]=isc-dhcp-client  # ... and takes a lease from it like a phone
  [dig]=bind9-dnsutils        # ... and resolves through it
  [nft]=nftables              # shipped nftables.conf is loaded in the namespace
  [hostapd]=hostapd           # (config check reads hostapd.conf; no radio here)
  [chromium]=chromium         # tests/browser: the portal in a real browser
  [rclone]=rclone             # benches/sync.sh compares sync with rclone copy
  [exiftool]=libimage-exiftool-perl  # tests/derivatives.rs: writes and reads private metadata
  [heif-enc]=libheif-examples # ... makes a HEIC, and heif-convert decodes it
  [heif-convert]=libheif-examples
  [cwebp]=webp                # ... makes a WebP with metadata
  [identify]=imagemagick      # ... its `convert` makes PNG and TIFF and decodes for pixel
                              # comparison (checked by `identify`: some machines carry a
                              # stand-in `convert` that is not ImageMagick)
  [debootstrap]=debootstrap   # tests/image_boot.sh builds a Debian rootfs ...
  [systemd-nspawn]=systemd-container  # ... and boots it under systemd
  [promtool]=prometheus       # tests/metrics.rs: `promtool check metrics` on GET /metrics
                              # (22.5 MB download; the server it also ships is not started)
  [fusermount3]=fuse3         # tests/powerfs.py, the layer that drops unsynced writes at a
                              # power cut (soak --power-loss); libfuse 3 and its tools
)
# Python modules of Debian's own python3 (/usr/bin/python3): module -> package.
declare -A python_modules=(
  [pyfuse3]=python3-pyfuse3   # tests/powerfs.py is a pyfuse3 file system (libfuse 3, trio)
)
missing=()
for cmd in "${!tools[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${tools[$cmd]}")
done
for module in "${!python_modules[@]}"; do
  /usr/bin/python3 -c "import $module" >/dev/null 2>&1 || missing+=("${python_modules[$module]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$(id -u)" -ne 0 ]; then
    echo "tests/run.sh: missing packages: ${missing[*]} (run as root, or: sudo apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Garage, the S3-compatible store tests/sync.rs syncs to (not packaged in Debian 12;
# building it takes ~12 minutes on 2 cores, so only when it is missing).
export PATH="$HOME/.cargo/bin:$PATH"
command -v garage >/dev/null 2>&1 || cargo install garage --locked
garage --version >/dev/null || { echo "tests/run.sh: garage is missing" >&2; exit 1; }

# The official tus client, pinned by tests/tus-client/package-lock.json.
(cd tests/tus-client && npm ci --no-audit --no-fund --loglevel=error)
# playwright-core drives Debian's chromium (no browser download), pinned likewise.
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component" || { echo "tests/run.sh: cargo $component is missing" >&2; exit 1; }
  fi
done

echo "== cargo fmt --check"
cargo fmt --all -- --check
# A one-shot build gains nothing from incremental caches, which cost gigabytes of
# disk (target/debug/incremental); CI builds from a clean clone every time.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --locked
echo "== crash soak (15 rounds of SIGKILL, the debug binary cargo test built)"
python3 tests/soak.py --rounds 15 --bin "${CARGO_TARGET_DIR:-target}/debug/venuebox"
echo "== power-loss layer (tests/powerfs.py drops unsynced writes, keeps synced ones)"
[ -c /dev/fuse ] || { echo "tests/run.sh: /dev/fuse is missing (the power-loss soak needs FUSE)" >&2; exit 1; }
python3 tests/powerfs_test.py
echo "== power-loss soak (10 rounds: SIGKILL, then the layer drops what was not fsynced)"
python3 tests/soak.py --rounds 10 --power-loss --bin "${CARGO_TARGET_DIR:-target}/debug/venuebox"
echo "== fuzzing (every target of fuzz/, 10 s each; docs/fuzzing.md)"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
bash fuzz/run.sh 10
echo "== image build"
bash tests/image_build.sh
echo "== image boot (systemd-nspawn)"
bash tests/image_boot.sh target/debug/venuebox
echo "tests/run.sh: all passed"
