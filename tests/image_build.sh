#!/usr/bin/env bash
# Tests image-build/stage-rootfs.sh and the systemd files it installs.
#
#   bash tests/image_build.sh
#
# Stages a fake binary into a temporary root file system and checks every file, mode
# and the enablement symlink; checks that a second run keeps an edited config, and
# that a missing or non-executable binary fails. Then checks the unit with
# `systemd-analyze verify` and `systemd-analyze security`, and the sysusers snippet
# with `systemd-sysusers`: these need the Debian package `systemd` (not systemd as
# PID 1); without it the test fails, it does not skip.
# Prints "image_build: ok" and exits 0 when everything passes.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
stage="$repo/image-build/stage-rootfs.sh"
unit_src="$repo/systemd/venuebox.service"
sysusers_src="$repo/systemd/venuebox-sysusers.conf"
config_src="$repo/config/venuebox.toml"

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
pass() {
    echo "ok:   $*"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Tools first: a missing systemd-analyze is a failure with a fix, not a skip.
for tool in systemd-analyze systemd-sysusers; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "FAIL: $tool is not on PATH. Install the Debian package 'systemd'" >&2
        echo "      (sudo apt-get install -y systemd; it does not need systemd as PID 1)." >&2
        exit 1
    fi
done

fake_binary() { # fake_binary PATH VERSION: an executable that says which it is
    printf '#!/bin/sh\necho "fake venuebox %s"\n' "$2" >"$1"
    chmod 0755 "$1"
}

mode_of() { stat -c '%a' "$1"; }

# expect_file PATH_IN_ROOTFS MODE [SOURCE]: exists, regular, has MODE, same bytes.
expect_file() {
    local path="$rootfs$1" mode=$2 src=${3:-}
    if [ ! -f "$path" ] || [ -L "$path" ]; then
        fail "$1 is missing or not a regular file"
        return
    fi
    if [ "$(mode_of "$path")" != "$mode" ]; then
        fail "$1 has mode $(mode_of "$path"), want $mode"
        return
    fi
    if [ -n "$src" ] && ! cmp -s "$src" "$path"; then
        fail "$1 differs from $src"
        return
    fi
    pass "$1 (mode $mode)"
}

# --- First run: a fresh root file system -----------------------------------------
rootfs="$work/rootfs"
mkdir -p "$rootfs"
fake_binary "$work/venuebox-v1" v1
if ! out=$("$stage" --binary "$work/venuebox-v1" --rootfs "$rootfs" 2>&1); then
    echo "$out" >&2
    fail "stage-rootfs.sh failed on a fresh rootfs"
else
    pass "stage-rootfs.sh into a fresh rootfs"
fi
echo "$out" | sed 's/^/      | /'

expect_file /usr/bin/venuebox 755 "$work/venuebox-v1"
expect_file /etc/venuebox/venuebox.toml 640 "$config_src"
expect_file /usr/lib/systemd/system/venuebox.service 644 "$unit_src"
expect_file /usr/lib/systemd/system/venuebox-names.service 644 "$repo/systemd/venuebox-names.service"
expect_file /usr/lib/sysusers.d/venuebox.conf 644 "$sysusers_src"
for dropin in hostapd.service.d/venuebox.conf dnsmasq.service.d/venuebox.conf; do
    expect_file "/usr/lib/systemd/system/$dropin" 644 "$repo/systemd/$dropin"
done
expect_file /usr/lib/udev/rules.d/99-venuebox-serial.rules 644 "$repo/hardware/99-venuebox-serial.rules"
expect_file /etc/hostapd/hostapd.conf 600 "$repo/config/hostapd.conf"
expect_file /etc/polkit-1/rules.d/50-venuebox-poweroff.rules 644 "$repo/systemd/venuebox-poweroff.rules"
expect_file /etc/dnsmasq.d/venuebox.conf 644 "$repo/config/dnsmasq.conf"
expect_file /etc/nftables.conf 644 "$repo/config/nftables.conf"
if [ "$(readlink "$rootfs/etc/systemd/system/multi-user.target.wants/venuebox-names.service")" = /usr/lib/systemd/system/venuebox-names.service ]; then
    pass "venuebox-names.service enabled"
else
    fail "venuebox-names.service is not enabled"
fi
for unit in nftables hostapd dnsmasq; do
    wants_link="$rootfs/etc/systemd/system/multi-user.target.wants/$unit.service"
    if [ "$(readlink "$wants_link" 2>/dev/null)" = "/lib/systemd/system/$unit.service" ]; then
        pass "$unit.service enabled"
    else
        fail "$unit.service is not enabled ($wants_link)"
    fi
done

link="$rootfs/etc/systemd/system/multi-user.target.wants/venuebox.service"
if [ ! -L "$link" ]; then
    fail "the enablement symlink $link is missing"
elif [ "$(readlink "$link")" != /usr/lib/systemd/system/venuebox.service ]; then
    fail "the enablement symlink points to $(readlink "$link")"
else
    pass "multi-user.target.wants/venuebox.service -> /usr/lib/systemd/system/venuebox.service"
fi

for dir in /etc/venuebox /usr/lib/systemd/system /etc/systemd/system/multi-user.target.wants; do
    if [ "$(mode_of "$rootfs$dir")" != 755 ]; then
        fail "$dir has mode $(mode_of "$rootfs$dir"), want 755 (the service user must reach the config)"
    fi
done

for word in "/usr/bin/venuebox" "/etc/venuebox/venuebox.toml" "enabled"; do
    case "$out" in
        *"$word"*) ;;
        *) fail "stage-rootfs.sh output does not mention $word" ;;
    esac
done

# --- Second run: an update keeps the vendor's config --------------------------------
# ... and the venue network's, and unmasks a hostapd that Debian masked.
printf 'ssid=Stall 42\n' >"$rootfs/etc/hostapd/hostapd.conf"
ln -sfn /dev/null "$rootfs/etc/systemd/system/hostapd.service"
edited='# edited on the box
[box]
name = "stall-42"'
printf '%s\n' "$edited" >"$rootfs/etc/venuebox/venuebox.toml"
chmod 0600 "$rootfs/etc/venuebox/venuebox.toml"
fake_binary "$work/venuebox-v2" v2
# Run from another directory, with a restrictive umask: neither may matter.
if ! out=$(cd / && umask 077 && "$stage" --binary "$work/venuebox-v2" --rootfs "$rootfs" 2>&1); then
    echo "$out" >&2
    fail "stage-rootfs.sh failed on the second run"
fi
if [ "$(cat "$rootfs/etc/venuebox/venuebox.toml")" != "$edited" ]; then
    fail "the second run overwrote the edited /etc/venuebox/venuebox.toml"
elif [ "$(mode_of "$rootfs/etc/venuebox/venuebox.toml")" != 600 ]; then
    fail "the second run changed the mode of the edited config"
else
    pass "second run kept the edited config"
fi
case "$out" in
    *kept*) pass "second run says it kept the config" ;;
    *) fail "second run does not say it kept the config: $out" ;;
esac
expect_file /usr/bin/venuebox 755 "$work/venuebox-v2"
if [ "$(cat "$rootfs/etc/hostapd/hostapd.conf")" = "ssid=Stall 42" ]; then
    pass "second run kept the edited hostapd.conf"
else
    fail "the second run overwrote the edited /etc/hostapd/hostapd.conf"
fi
if [ -e "$rootfs/etc/systemd/system/hostapd.service" ] || [ -L "$rootfs/etc/systemd/system/hostapd.service" ]; then
    fail "hostapd.service is still masked after the second run"
else
    pass "second run unmasked hostapd.service"
fi
if [ "$(readlink "$link")" != /usr/lib/systemd/system/venuebox.service ]; then
    fail "the second run broke the enablement symlink"
fi
if find "$rootfs" -name '*.stage.*' | grep -q .; then
    fail "temporary files left behind: $(find "$rootfs" -name '*.stage.*')"
fi

# --- A package's default config: replaced while unedited, kept once edited ---------
# (nftables ships /etc/nftables.conf; dpkg's status records its MD5 under Conffiles.)
pkgfs="$work/pkgfs"
mkdir -p "$pkgfs/etc" "$pkgfs/var/lib/dpkg"
printf '#!/usr/sbin/nft -f\nflush ruleset\n' >"$pkgfs/etc/nftables.conf"
debian_md5=$(md5sum <"$pkgfs/etc/nftables.conf" | cut -d' ' -f1)
printf 'Package: nftables\nStatus: install ok installed\nConffiles:\n /etc/nftables.conf %s\n\n' \
    "$debian_md5" >"$pkgfs/var/lib/dpkg/status"
"$stage" --binary "$work/venuebox-v1" --rootfs "$pkgfs" >/dev/null 2>&1 || fail "stage-rootfs.sh on a rootfs with nftables"
cmp -s "$repo/config/nftables.conf" "$pkgfs/etc/nftables.conf" &&
    pass "the package's unedited /etc/nftables.conf is replaced by venuebox's" ||
    fail "the package's unedited /etc/nftables.conf was kept"
printf '# the vendor edited this\n' >"$pkgfs/etc/nftables.conf"
printf 'Package: nftables\nStatus: install ok installed\nConffiles:\n /etc/nftables.conf %s\n\n' \
    "$debian_md5" >"$pkgfs/var/lib/dpkg/status"
"$stage" --binary "$work/venuebox-v1" --rootfs "$pkgfs" >/dev/null 2>&1 || fail "stage-rootfs.sh, second run"
[ "$(cat "$pkgfs/etc/nftables.conf")" = "# the vendor edited this" ] &&
    pass "an edited /etc/nftables.conf is kept" || fail "an edited /etc/nftables.conf was overwritten"
# --packages without an index is refused before anything is installed.
mkdir -p "$work/nopkgs"
out=$("$stage" --binary "$work/venuebox-v1" --rootfs "$pkgfs" --packages "$work/nopkgs" 2>&1) &&
    fail "--packages with an empty directory was accepted" ||
    case "$out" in
        *"no Packages index"*|*"needs root"*) pass "--packages without an index is refused: ${out##*error: }" ;;
        *) fail "--packages without an index: $out" ;;
    esac

# --- Failures: each exits non-zero with a message -----------------------------------
# expect_failure DESCRIPTION WORD ARGS...: stage-rootfs.sh fails and stderr has WORD.
expect_failure() {
    local what=$1 word=$2 err status=0
    shift 2
    err=$("$stage" "$@" 2>&1 >/dev/null) || status=$?
    if [ "$status" -eq 0 ]; then
        fail "$what: exited 0"
    elif ! grep -qi -- "$word" <<<"$err"; then
        fail "$what: exit $status but the message does not mention '$word': $err"
    else
        pass "$what fails (exit $status): $(head -n1 <<<"$err")"
    fi
}
empty="$work/empty-rootfs"
mkdir -p "$empty"
expect_failure "a missing binary" "does not exist" --binary "$work/no-such-binary" --rootfs "$empty"
printf 'not a program\n' >"$work/not-executable"
chmod 0644 "$work/not-executable"
if [ "$(id -u)" -eq 0 ] || [ ! -x "$work/not-executable" ]; then
    expect_failure "a non-executable binary" "not executable" --binary "$work/not-executable" --rootfs "$empty"
fi
expect_failure "a directory as the binary" "binary" --binary "$work" --rootfs "$empty"
expect_failure "a missing rootfs" "not a directory" --binary "$work/venuebox-v1" --rootfs "$work/no-such-dir"
expect_failure "no --binary" "binary" --rootfs "$empty"
expect_failure "no --rootfs" "rootfs" --binary "$work/venuebox-v1"
if [ -n "$(ls -A "$empty")" ]; then
    fail "a failed run left files in the rootfs: $(ls -A "$empty")"
fi

# --- As an unprivileged user (when this test runs as root) --------------------------
if [ "$(id -u)" -eq 0 ]; then
    if command -v setpriv >/dev/null 2>&1 && id nobody >/dev/null 2>&1; then
        userfs="$work/user-rootfs"
        mkdir -p "$userfs"
        chown nobody "$userfs"
        chmod 0755 "$work"
        # The repository may sit in a directory nobody cannot enter (a 0700 temp dir):
        # run a copy of what the script needs from the test's own directory.
        userrepo="$work/user-repo"
        mkdir -p "$userrepo"
        cp -r "$repo/image-build" "$repo/systemd" "$repo/config" "$repo/hardware" "$userrepo/"
        chmod -R a+rX "$userrepo"
        chmod a+r "$work/venuebox-v1"
        if out=$(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
            "$userrepo/image-build/stage-rootfs.sh" --binary "$work/venuebox-v1" --rootfs "$userfs" 2>&1) &&
            [ -x "$userfs/usr/bin/venuebox" ] && [ -L "$userfs/etc/systemd/system/multi-user.target.wants/venuebox.service" ]; then
            pass "stage-rootfs.sh as user nobody"
        else
            fail "stage-rootfs.sh as user nobody: $out"
        fi
    else
        fail "running as root but setpriv or the user nobody is missing: cannot test a non-root run"
    fi
fi

# --- systemd-analyze verify ---------------------------------------------------------
# verify checks that ExecStart's program exists on this host, where /usr/bin/venuebox
# does not: check a copy whose ExecStart points at the staged binary. Any output at all
# (unknown keys, bad values, missing programs) is a failure, since verify exits 0 on
# mere warnings.
verify_dir="$work/verify"
mkdir -p "$verify_dir"
sed "s#^ExecStart=/usr/bin/venuebox #ExecStart=$rootfs/usr/bin/venuebox #" \
    "$unit_src" >"$verify_dir/venuebox.service"
grep -q "^ExecStart=$rootfs/usr/bin/venuebox " "$verify_dir/venuebox.service" ||
    fail "the unit's ExecStart= does not start with /usr/bin/venuebox"
status=0
verify_out=$(cd "$verify_dir" && SYSTEMD_LOG_COLOR=0 systemd-analyze verify ./venuebox.service 2>&1) || status=$?
if [ "$status" -ne 0 ] || [ -n "$verify_out" ]; then
    fail "systemd-analyze verify (exit $status): $verify_out"
else
    pass "systemd-analyze verify venuebox.service: no complaints"
fi
# The unchanged unit: the only complaint allowed is the missing /usr/bin/venuebox.
status=0
verify_out=$(cd "$repo/systemd" && systemd-analyze verify ./venuebox.service 2>&1) || status=$?
other=$(grep -v 'Command /usr/bin/venuebox is not executable' <<<"$verify_out" || true)
if [ -n "$other" ]; then
    fail "systemd-analyze verify on the shipped unit: $other"
else
    pass "systemd-analyze verify on the shipped unit: only the missing /usr/bin/venuebox"
fi

# venuebox-names.service, on a copy pointing at the staged binary: no complaints.
sed "s#^ExecStart=/usr/bin/venuebox #ExecStart=$rootfs/usr/bin/venuebox #" \
    "$repo/systemd/venuebox-names.service" >"$verify_dir/venuebox-names.service"
status=0
verify_out=$(cd "$verify_dir" && SYSTEMD_LOG_COLOR=0 systemd-analyze verify ./venuebox-names.service 2>&1) || status=$?
if [ "$status" -ne 0 ] || [ -n "$verify_out" ]; then
    fail "systemd-analyze verify venuebox-names.service (exit $status): $verify_out"
else
    pass "systemd-analyze verify venuebox-names.service: no complaints"
fi

# The drop-ins: each verified on a stand-in for its service (hostapd and dnsmasq are
# not installed here), so an unknown key or bad value in them is a failure; and each
# orders its service after venuebox and the firewall.
for svc in hostapd dnsmasq; do
    units="$work/dropin-$svc"
    mkdir -p "$units/$svc.service.d"
    printf '[Service]\nExecStart=/bin/true\n' >"$units/$svc.service"
    cp "$rootfs/usr/lib/systemd/system/$svc.service.d/venuebox.conf" "$units/$svc.service.d/"
    status=0
    verify_out=$(cd "$units" && SYSTEMD_UNIT_PATH="$units:" SYSTEMD_LOG_COLOR=0 \
        systemd-analyze verify "$svc.service" 2>&1) || status=$?
    if [ "$status" -ne 0 ] || [ -n "$verify_out" ]; then
        fail "systemd-analyze verify $svc.service with its drop-in (exit $status): $verify_out"
    elif ! grep -Eq '^After=(.* )?venuebox\.service( |$)' "$units/$svc.service.d/venuebox.conf" ||
        ! grep -Eq '^After=(.* )?nftables\.service( |$)' "$units/$svc.service.d/venuebox.conf"; then
        fail "$svc.service.d/venuebox.conf does not order $svc After=venuebox.service nftables.service"
    else
        pass "$svc.service.d/venuebox.conf: verified, $svc after venuebox and nftables"
    fi
done

# The hardening stays strong: systemd's own exposure score (0 best, 10 worst; shown
# with one decimal, while --threshold takes tenths: 20 means 2.0). 2.3 before the unit
# became Type=notify with PrivateMounts= and ~@privileged; see docs/decisions.md.
threshold=2.0
status=0
security_out=$(cd "$verify_dir" && systemd-analyze security --offline=true \
    --threshold=20 ./venuebox.service 2>&1) || status=$?
score=$(grep -o 'Overall exposure level for venuebox.service: [0-9.]*' <<<"$security_out" | grep -o '[0-9.]*$' || true)
if [ "$status" -ne 0 ] || [ -z "$score" ]; then
    fail "systemd-analyze security: exposure ${score:-unknown} is above $threshold (exit $status)"
    grep -E '^✗' <<<"$security_out" >&2 || true
else
    pass "systemd-analyze security: exposure $score (at most $threshold)"
fi

# Effective settings that must not drift (as systemd parses them, not as text).
declare -A want=(
    [Type]=notify
    [NotifyAccess]=main
    [WatchdogSec]=30s
    [PrivateMounts]=yes
    [StartLimitBurst]=20
    [StartLimitAction]=reboot
    [User]=venuebox
    [Restart]=on-failure
    [StateDirectory]=venuebox
    [StateDirectoryMode]=0700
    [AmbientCapabilities]=cap_net_bind_service
    [CapabilityBoundingSet]=cap_net_bind_service
    [NoNewPrivileges]=yes
    [ProtectSystem]=strict
    [ProtectHome]=yes
    [PrivateTmp]=yes
    [MemoryDenyWriteExecute]=yes
    [DynamicUser]=""
    [TimeoutStopSec]=20
)
for key in "${!want[@]}"; do
    got=$({ grep -E "^$key=" "$unit_src" || true; } | tail -n1 | cut -d= -f2- | tr 'A-Z' 'a-z')
    if [ "$got" != "$(tr 'A-Z' 'a-z' <<<"${want[$key]}")" ]; then
        fail "venuebox.service: $key=${got:-(unset)}, want ${want[$key]:-(unset)}"
    fi
done
if ! grep -q '^RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK$' "$unit_src"; then
    fail "venuebox.service: RestrictAddressFamilies must be AF_UNIX AF_INET AF_INET6 AF_NETLINK"
fi
if grep -q '^SupplementaryGroups=' "$unit_src"; then
    fail "venuebox.service: SupplementaryGroups= is active, but gpio may not exist on the image"
fi
# The stop timeout stays above the shipped shutdown grace.
grace=$({ grep -E '^shutdown_grace_secs *=' "$config_src" || true; } | grep -o '[0-9]*' | head -n1 || true)
stop=$({ grep -E '^TimeoutStopSec=' "$unit_src" || true; } | grep -o '[0-9]*' | head -n1 || true)
if [ -z "$grace" ] || [ -z "$stop" ] || [ "$stop" -le $((grace + 5)) ]; then
    fail "TimeoutStopSec=${stop:-?} must exceed http.shutdown_grace_secs=${grace:-?} by more than 5 s"
else
    pass "TimeoutStopSec=$stop > shutdown_grace_secs=$grace + 5"
fi

# --- sysusers.d ------------------------------------------------------------------
sysroot="$work/sysusers-root"
mkdir -p "$sysroot/etc"
status=0
sysusers_out=$(systemd-sysusers --root="$sysroot" "$rootfs/usr/lib/sysusers.d/venuebox.conf" 2>&1) || status=$?
entry=$(grep '^venuebox:' "$sysroot/etc/passwd" 2>/dev/null || true)
if [ "$status" -ne 0 ] || [ -z "$entry" ] || ! grep -q '^venuebox:' "$sysroot/etc/group"; then
    fail "systemd-sysusers did not create venuebox (exit $status): $sysusers_out"
else
    uid=$(cut -d: -f3 <<<"$entry")
    home=$(cut -d: -f6 <<<"$entry")
    shell=$(cut -d: -f7 <<<"$entry")
    if [ "$uid" -ge 1000 ] || [ "$home" != /var/lib/venuebox ] || [ "$shell" != /usr/sbin/nologin ]; then
        fail "systemd-sysusers made $entry (want a system uid, home /var/lib/venuebox, no shell)"
    else
        pass "systemd-sysusers creates the system user: $entry"
    fi
fi

if [ "$failures" -ne 0 ]; then
    echo "image_build: $failures failure(s)" >&2
    exit 1
fi
echo "image_build: ok"
