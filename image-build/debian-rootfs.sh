#!/usr/bin/env bash
# Builds a bootable Debian 12 (bookworm) root file system for this machine's
# architecture with debootstrap and stages venuebox into it with stage-rootfs.sh: the
# same install a Raspberry Pi OS image gets, on a rootfs that systemd-nspawn can boot
# on an x86-64 CI machine (tests/image_boot.sh boots it). No internet beyond a Debian
# mirror.
#
# Usage: image-build/debian-rootfs.sh --binary PATH --rootfs DIR [--mirror URL]
#
#   --binary PATH  the venuebox executable (built for this machine)
#   --rootfs DIR   an empty or missing directory to build in
#   --mirror URL   Debian mirror (default: the first deb.debian.org-style URI in
#                  /etc/apt/sources.list.d/*.sources, else http://deb.debian.org/debian)
#
# Needs root, debootstrap (Debian package `debootstrap`). Takes about a minute on a
# good link (about 90 MB downloaded).
set -euo pipefail

prog=$(basename "$0")
die() {
    echo "$prog: error: $*" >&2
    exit 1
}
usage() {
    echo "usage: $prog --binary PATH --rootfs DIR [--mirror URL]" >&2
}

binary=""
rootfs=""
mirror=""
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) [ $# -ge 2 ] || { usage; exit 2; }; binary=$2; shift 2 ;;
        --rootfs) [ $# -ge 2 ] || { usage; exit 2; }; rootfs=$2; shift 2 ;;
        --mirror) [ $# -ge 2 ] || { usage; exit 2; }; mirror=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "$prog: unknown argument: $1" >&2; usage; exit 2 ;;
    esac
done
[ -n "$binary" ] && [ -n "$rootfs" ] || { usage; exit 2; }
[ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
[ -x "$binary" ] || die "binary $binary is missing or not executable"

if [ -z "$mirror" ]; then
    mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 || true)
    mirror=${mirror:-http://deb.debian.org/debian}
fi
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

mkdir -p "$rootfs"
[ -z "$(ls -A "$rootfs")" ] || die "$rootfs is not empty"
# systemd as init, dbus for systemctl, logind and polkit (which decide whether the
# service user may power off, as on Raspberry Pi OS), curl to ask /healthz from
# inside, iproute2 to see the addresses; minbase keeps the rest out.
debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,libpam-systemd,polkitd,curl,ca-certificates,iproute2 \
    bookworm "$rootfs" "$mirror" >"$rootfs.debootstrap.log" 2>&1 ||
    die "debootstrap failed; see $rootfs.debootstrap.log"
rm -f "$rootfs.debootstrap.log"
# A machine id is made at first boot, as on a fresh Pi image.
rm -f "$rootfs/etc/machine-id"
: >"$rootfs/etc/machine-id"
echo venuebox >"$rootfs/etc/hostname"

# The venue network's packages the way a Pi image gets them: fetched once (the online
# step), then installed without a network by stage-rootfs.sh.
packages="$rootfs.packages"
arch=$(dpkg --print-architecture)
"$repo/image-build/fetch-packages.sh" --arch "$arch" --dir "$packages" --mirror "$mirror" ||
    die "fetching hostapd, dnsmasq and nftables failed"
"$repo/image-build/stage-rootfs.sh" --binary "$binary" --rootfs "$rootfs" --packages "$packages"
rm -rf "$packages"
echo "built a bootable rootfs with venuebox in $rootfs"
