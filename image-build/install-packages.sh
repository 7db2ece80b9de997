#!/usr/bin/env bash
# Installs the venue network's packages (hostapd, dnsmasq, nftables) into a root file
# system from a directory fetch-packages.sh filled, without a network: apt inside the
# rootfs (run by systemd-nspawn with a private network, so nothing can be downloaded)
# resolves the install against that directory alone and skips what the image already
# has. Called by stage-rootfs.sh --packages DIR.
#
# Usage: image-build/install-packages.sh --dir DIR --rootfs DIR
#
# Needs root and systemd-nspawn (Debian package systemd-container). For an arm64
# image on an x86-64 machine the kernel must run arm64 programs through qemu
# (Debian packages qemu-user-static and binfmt-support register it); on a Pi, or for
# an image of the machine's own architecture, nothing more.
set -euo pipefail

prog=$(basename "$0")
die() {
    echo "$prog: error: $*" >&2
    exit 1
}
usage() {
    echo "usage: $prog --dir DIR --rootfs DIR" >&2
}

dir=""
rootfs=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) [ $# -ge 2 ] || { usage; exit 2; }; dir=$2; shift 2 ;;
        --rootfs) [ $# -ge 2 ] || { usage; exit 2; }; rootfs=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "$prog: unknown argument: $1" >&2; usage; exit 2 ;;
    esac
done
[ -n "$dir" ] && [ -n "$rootfs" ] || { usage; exit 2; }
[ "$(id -u)" -eq 0 ] || die "installing packages into an image needs root"
command -v systemd-nspawn >/dev/null || die "systemd-nspawn is missing (apt-get install systemd-container)"
[ -f "$dir/Packages" ] || die "$dir has no Packages index: fill it with image-build/fetch-packages.sh"
[ -x "$rootfs/usr/bin/apt-get" ] || die "$rootfs has no apt-get: is it a Debian or Raspberry Pi OS root file system?"

packages=(hostapd dnsmasq nftables)
# The packages' architecture must be the image's.
image_arch=$(sed -n 's/^Architecture: //p' "$rootfs/var/lib/dpkg/status" | grep -v '^all$' | sort | uniq -c | sort -rn | awk 'NR==1 {print $2}')
deb_arch=$(sed -n '/^Package: hostapd$/,/^$/s/^Architecture: //p' "$dir/Packages")
[ -n "$deb_arch" ] || die "$dir has no hostapd package"
[ "$image_arch" = "$deb_arch" ] ||
    die "the packages in $dir are for $deb_arch, the image is $image_arch (fetch-packages.sh --arch $image_arch)"

cache=/var/cache/venuebox-packages
rm -rf "$rootfs$cache"
mkdir -p "$rootfs$cache/lists/partial"
cp "$dir"/*.deb "$dir/Packages" "$rootfs$cache/"
echo "deb [trusted=yes] file:$cache ./" >"$rootfs$cache/sources.list"
# No service starts while installing (invoke-rc.d's policy, Debian policy 9.3.3).
policy="$rootfs/usr/sbin/policy-rc.d"
had_policy=false
[ -e "$policy" ] && had_policy=true && mv "$policy" "$policy.venuebox-saved"
printf '#!/bin/sh\nexit 101\n' >"$policy"
chmod 0755 "$policy"
restore() {
    rm -f "$policy"
    if $had_policy; then mv "$policy.venuebox-saved" "$policy"; fi
    rm -rf "$rootfs$cache"
}
trap restore EXIT

apt=(apt-get -q -o "Dir::Etc::SourceList=$cache/sources.list" -o "Dir::Etc::SourceParts=-"
    -o "Dir::State::Lists=$cache/lists" -o "Dir::Cache::Archives=$cache/archives")
mkdir -p "$rootfs$cache/archives/partial"
log=$(mktemp)
if ! systemd-nspawn --quiet --register=no --keep-unit --private-network -D "$rootfs" \
    --setenv=DEBIAN_FRONTEND=noninteractive \
    /bin/sh -c "${apt[*]} update && ${apt[*]} install -y --no-install-recommends \
        -o Dpkg::Options::=--force-confold ${packages[*]}" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    die "installing ${packages[*]} failed (output above)"
fi
rm -f "$log"
installed=$(dpkg-query --admindir="$rootfs/var/lib/dpkg" -W -f '${Package} ${Version} ${db:Status-Status}\n' "${packages[@]}")
echo "$installed" | grep -qv ' installed$' && die "not installed: $installed"
echo "installed offline into $rootfs:"
echo "$installed" | sed 's/^/    /'
