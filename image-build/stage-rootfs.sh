#!/usr/bin/env bash
# Installs venuebox into a root file system (a mounted Raspberry Pi OS image, a pi-gen
# stage's ${ROOTFS_DIR}, or any directory):
#
#   /usr/bin/venuebox                                         the binary, 0755
#   /etc/venuebox/venuebox.toml                               config, 0640, kept if present
#   /etc/hostapd/hostapd.conf (0600), /etc/dnsmasq.d/venuebox.conf, /etc/nftables.conf
#                                                             the venue network, kept if present
#   /usr/lib/systemd/system/venuebox.service                  the unit, 0644
#   /usr/lib/systemd/system/venuebox-names.service            unique host/Wi-Fi names, 0644
#   /etc/polkit-1/rules.d/50-venuebox-poweroff.rules          the button may power off, 0644
#   /usr/lib/sysusers.d/venuebox.conf                         the venuebox user, 0644
#   /usr/lib/systemd/system/{hostapd,dnsmasq}.service.d/venuebox.conf
#                                                             drop-ins ordering the Wi-Fi
#                                                             after venuebox, 0644
#   /usr/lib/udev/rules.d/99-venuebox-serial.rules            scanner/printer names, 0644
#   /etc/systemd/system/multi-user.target.wants/venuebox.service -> the unit (enabled)
#   .../multi-user.target.wants/{nftables,hostapd,dnsmasq}.service  enabled (hostapd unmasked)
#
# Usage: image-build/stage-rootfs.sh --binary PATH --rootfs DIR [--packages DIR]
#
# With --packages DIR (filled by fetch-packages.sh, the one online step), hostapd,
# dnsmasq and nftables are first installed from DIR without a network
# (install-packages.sh: needs root and systemd-nspawn). Without it they must already be
# in the image.
#
# Runs as any user. Run as root for an image (files then belong to root); as another
# user the files belong to that user. Running it again updates the binary, the unit
# and the sysusers snippet, and never touches an existing config: a vendor's edits
# survive an update. See image-build/README.md.
set -euo pipefail

prog=$(basename "$0")
usage() {
    echo "usage: $prog --binary PATH --rootfs DIR" >&2
    echo "  --binary PATH  the venuebox executable to install (aarch64 for a Pi)" >&2
    echo "  --rootfs DIR   root of the target file system (must exist)" >&2
    echo "  --packages DIR install hostapd, dnsmasq, nftables offline from DIR (fetch-packages.sh)" >&2
}
die() {
    echo "$prog: error: $*" >&2
    exit 1
}

binary=""
rootfs=""
packages=""
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) [ $# -ge 2 ] || { usage; exit 2; }; binary=$2; shift 2 ;;
        --binary=*) binary=${1#--binary=}; shift ;;
        --rootfs) [ $# -ge 2 ] || { usage; exit 2; }; rootfs=$2; shift 2 ;;
        --rootfs=*) rootfs=${1#--rootfs=}; shift ;;
        --packages) [ $# -ge 2 ] || { usage; exit 2; }; packages=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "$prog: unknown argument: $1" >&2; usage; exit 2 ;;
    esac
done
[ -n "$binary" ] || { echo "$prog: --binary is required" >&2; usage; exit 2; }
[ -n "$rootfs" ] || { echo "$prog: --rootfs is required" >&2; usage; exit 2; }

# The repository root, from this script's own location (works from any cwd).
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
unit_src="$repo/systemd/venuebox.service"
sysusers_src="$repo/systemd/venuebox-sysusers.conf"
config_src="$repo/config/venuebox.toml"
# Drop-ins for the venue network's services, ordered after venuebox (systemd/*.service.d/).
dropins=(hostapd.service.d/venuebox.conf dnsmasq.service.d/venuebox.conf)
udev_src="$repo/hardware/99-venuebox-serial.rules"

[ -e "$binary" ] || die "binary $binary does not exist (build it first, see image-build/README.md)"
[ -f "$binary" ] || die "binary $binary is not a regular file"
[ -x "$binary" ] || die "binary $binary is not executable (chmod +x it, or is it the right file?)"
[ -d "$rootfs" ] || die "root file system $rootfs is not a directory (mount or create it first)"
for f in "$unit_src" "$sysusers_src" "$config_src" "$udev_src" "${dropins[@]/#/$repo/systemd/}"; do
    [ -f "$f" ] || die "$f is missing from the repository"
done

rootfs=$(cd "$rootfs" && pwd)
# New directories get 0755, whatever the caller's umask; existing ones keep their mode.
umask 022

# Makes the parent directories of a path inside the rootfs.
parent() {
    mkdir -p -- "$(dirname -- "$1")"
}

# install_file SRC MODE /ABSOLUTE/PATH/IN/ROOTFS: copies atomically (temp file in the
# same directory, then rename), so a half-written file never appears in the image and
# a binary that is running from a live rootfs is replaced, not overwritten.
install_file() {
    local src=$1 mode=$2 dest="$rootfs$3"
    parent "$dest"
    local tmp
    tmp=$(mktemp "$dest.stage.XXXXXX")
    if ! { cp -- "$src" "$tmp" && chmod "$mode" "$tmp" && mv -f -- "$tmp" "$dest"; }; then
        rm -f -- "$tmp"
        die "cannot install $3"
    fi
    echo "installed  $3 (mode $mode)"
}

install_file "$binary" 0755 /usr/bin/venuebox
install_file "$unit_src" 0644 /usr/lib/systemd/system/venuebox.service
install_file "$repo/systemd/venuebox-names.service" 0644 /usr/lib/systemd/system/venuebox-names.service
install_file "$sysusers_src" 0644 /usr/lib/sysusers.d/venuebox.conf
for dropin in "${dropins[@]}"; do
    install_file "$repo/systemd/$dropin" 0644 "/usr/lib/systemd/system/$dropin"
done
install_file "$udev_src" 0644 /usr/lib/udev/rules.d/99-venuebox-serial.rules
install_file "$repo/systemd/venuebox-poweroff.rules" 0644 /etc/polkit-1/rules.d/50-venuebox-poweroff.rules

# install_config SRC MODE /PATH: a configuration file, installed only where none is:
# an edit made on the box survives every update.
# True when DEST is a Debian package's conffile still as the package shipped it (its
# MD5 in dpkg's status, "Conffiles"): nobody edited it, so ours may replace it.
pristine_conffile() { # DEST
    local md5
    md5=$(awk -v f="$1" '$1 == f && NF >= 2 { print $2; exit }' "$rootfs/var/lib/dpkg/status" 2>/dev/null || true)
    [ -n "$md5" ] && [ -f "$rootfs$1" ] && [ "$(md5sum <"$rootfs$1" | cut -d' ' -f1)" = "$md5" ]
}

install_config() {
    local src=$1 mode=$2 dest=$3
    if pristine_conffile "$dest" && ! cmp -s "$src" "$rootfs$dest"; then
        install_file "$src" "$mode" "$dest"
        echo "           (replaced the package's unedited default)"
    elif [ -e "$rootfs$dest" ] || [ -L "$rootfs$dest" ]; then
        if cmp -s "$src" "$rootfs$dest"; then
            echo "kept       $dest (same as the shipped default)"
        else
            echo "kept       $dest (edited on the box; the shipped default is ${src#"$repo"/})"
        fi
    else
        install_file "$src" "$mode" "$dest"
    fi
}

# The venue network's packages first, so their own default files (nftables ships
# /etc/nftables.conf) are in place before ours replace them.
if [ -n "$packages" ]; then
    "$repo/image-build/install-packages.sh" --dir "$packages" --rootfs "$rootfs"
fi

install_config "$config_src" 0640 /etc/venuebox/venuebox.toml
# The venue network: the access point (its file holds the vendors' WPA2 passphrase,
# so root only), DHCP and DNS, the firewall. The paths are Debian's (and Raspberry Pi
# OS's) defaults for these packages.
install_config "$repo/config/hostapd.conf" 0600 /etc/hostapd/hostapd.conf
install_config "$repo/config/dnsmasq.conf" 0644 /etc/dnsmasq.d/venuebox.conf
install_config "$repo/config/nftables.conf" 0644 /etc/nftables.conf

# What `systemctl enable` does, without needing systemd on the build host: venuebox,
# and the venue network's services (their units come with the Debian packages
# hostapd, dnsmasq and nftables; image-build/README.md lists them). Debian ships
# hostapd masked until it is configured: unmask it.
enable() { # enable UNIT_PATH
    local wants
    wants=/etc/systemd/system/multi-user.target.wants/$(basename "$1")
    parent "$rootfs$wants"
    ln -sfn "$1" "$rootfs$wants"
    echo "enabled    $wants -> $1"
}
enable /usr/lib/systemd/system/venuebox.service
enable /usr/lib/systemd/system/venuebox-names.service
for unit in nftables hostapd dnsmasq; do
    mask="$rootfs/etc/systemd/system/$unit.service"
    if [ -L "$mask" ] && [ "$(readlink "$mask")" = /dev/null ]; then
        rm -f -- "$mask"
        echo "unmasked   /etc/systemd/system/$unit.service"
    fi
    enable "/lib/systemd/system/$unit.service"
done

if [ "$(id -u)" -ne 0 ]; then
    echo "note: staged as $(id -un) (uid $(id -u)), not root: the files belong to that user;"
    echo "      copy them into an image as root (e.g. tar --owner=root --group=root)."
fi
echo "staged venuebox into $rootfs"
