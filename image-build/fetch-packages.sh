#!/usr/bin/env bash
# Downloads the Debian packages the venue network needs (hostapd, dnsmasq, nftables)
# and everything they depend on, for one architecture, into a directory: the one
# online step of an image build. stage-rootfs.sh --packages DIR then installs them
# into a Raspberry Pi OS Lite image (or any Debian 12 rootfs) without a network.
#
# Usage: image-build/fetch-packages.sh --arch ARCH --dir DIR [--mirror URL]
#
#   --arch ARCH    Debian architecture of the image: arm64 for a Pi 4/5 (Raspberry Pi
#                  OS Lite bookworm arm64), amd64 for the x86-64 CI rootfs
#   --dir DIR      where the .deb files go (created; a file already there is kept)
#   --mirror URL   Debian mirror (default: the first deb.debian.org-style URI in
#                  /etc/apt/sources.list.d/*.sources, else http://deb.debian.org/debian)
#
# Runs as any user, on any Debian-like machine with apt (a private apt state in a
# temporary directory: the host's apt configuration and package lists are not
# touched). Raspberry Pi OS bookworm is Debian 12 with a few packages of its own;
# hostapd, dnsmasq and nftables come from Debian's bookworm main there too, and apt's
# signature check uses Debian's archive keyring (debian-archive-keyring).
# Downloads the whole dependency closure (about 9 MB for arm64): the install step
# skips what the image already has.
set -euo pipefail

prog=$(basename "$0")
die() {
    echo "$prog: error: $*" >&2
    exit 1
}
usage() {
    echo "usage: $prog --arch ARCH --dir DIR [--mirror URL]" >&2
}

arch=""
dir=""
mirror=""
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) [ $# -ge 2 ] || { usage; exit 2; }; arch=$2; shift 2 ;;
        --dir) [ $# -ge 2 ] || { usage; exit 2; }; dir=$2; shift 2 ;;
        --mirror) [ $# -ge 2 ] || { usage; exit 2; }; mirror=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "$prog: unknown argument: $1" >&2; usage; exit 2 ;;
    esac
done
[ -n "$arch" ] && [ -n "$dir" ] || { usage; exit 2; }
command -v apt-get >/dev/null || die "apt-get is missing (run this on Debian or Ubuntu)"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || die "$keyring is missing (apt-get install debian-archive-keyring)"
if [ -z "$mirror" ]; then
    mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 || true)
    mirror=${mirror:-http://deb.debian.org/debian}
fi

# The packages of the venue network (image-build/README.md, "The venue network").
packages=(hostapd dnsmasq nftables)

state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
mkdir -p "$state/etc/apt/apt.conf.d" "$state/etc/apt/preferences.d" "$state/etc/apt/trusted.gpg.d" \
    "$state/var/lib/apt/lists/partial" "$state/var/cache/apt/archives/partial" "$state/var/lib/dpkg"
: >"$state/var/lib/dpkg/status"
cat >"$state/etc/apt/sources.list" <<EOF
deb [arch=$arch signed-by=$keyring] $mirror bookworm main
deb [arch=$arch signed-by=$keyring] $mirror bookworm-updates main
EOF
apt_opts=(
    -o "Dir=$state"
    -o "Dir::State::status=$state/var/lib/dpkg/status"
    -o "Dir::Etc::SourceParts=$state/etc/apt/sources.list.d"
    -o "Dir::Etc::Parts=$state/etc/apt/apt.conf.d"
    -o "APT::Architecture=$arch"
    -o "APT::Architectures::=$arch"
    -o "Debug::NoLocking=1"
    -o "APT::Sandbox::User=root"
)
[ "$(id -u)" -eq 0 ] || apt_opts+=(-o "APT::Sandbox::User=$(id -un)")
apt-get "${apt_opts[@]}" -qq update || die "apt-get update against $mirror failed"

# The closure: every package reachable through Depends and PreDepends (not
# Recommends: the images install without them, as Raspberry Pi OS Lite does).
mapfile -t closure < <(
    apt-cache "${apt_opts[@]}" depends --recurse --no-recommends --no-suggests \
        --no-conflicts --no-breaks --no-replaces --no-enhances "${packages[@]}" |
        grep -E '^[a-z0-9]' | grep -v '^<' | sort -u
)
[ "${#closure[@]}" -ge "${#packages[@]}" ] || die "no dependency closure for ${packages[*]}"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# Only real packages (apt-cache lists virtual ones too; they have no candidate).
real=()
for p in "${closure[@]}"; do
    if apt-cache "${apt_opts[@]}" show "$p" >/dev/null 2>&1 &&
        [ -n "$(apt-cache "${apt_opts[@]}" policy "$p" | sed -n 's/^ *Candidate: *//p' | grep -v '(none)')" ]; then
        real+=("$p")
    fi
done
(cd "$dir" && apt-get "${apt_opts[@]}" -qq download "${real[@]}") ||
    die "downloading ${#real[@]} packages failed"
# A flat repository index (what dpkg-scanpackages writes, without needing dpkg-dev):
# apt in the image resolves the install against it alone, offline, picking among
# alternatives (libsystemd0 or libelogind0) what the image already has.
command -v dpkg-deb >/dev/null || die "dpkg-deb is missing"
: >"$dir/Packages"
for deb in "$dir"/*.deb; do
    {
        dpkg-deb --field "$deb"
        echo "Filename: ./$(basename "$deb")"
        echo "Size: $(stat -c %s "$deb")"
        echo "SHA256: $(sha256sum "$deb" | cut -d' ' -f1)"
        echo
    } >>"$dir/Packages"
done
count=$(find "$dir" -maxdepth 1 -name '*.deb' | wc -l)
echo "fetched $count packages for $arch into $dir ($(du -sh "$dir" | cut -f1)): ${packages[*]} and their dependencies"
