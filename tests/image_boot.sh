#!/usr/bin/env bash
# Boots a venuebox image under systemd and checks what a vendor relies on when they
# plug the box in (issue 15, part 5):
#
#   bash tests/image_boot.sh [BINARY]     (default: target/debug/venuebox)
#
# image-build/debian-rootfs.sh builds a Debian 12 rootfs with debootstrap and stages
# the freshly built real binary into it (the same stage-rootfs.sh a Raspberry Pi OS
# image gets); systemd-nspawn boots it (--register=no --keep-unit --boot, a private
# network). Then, within time bounds: the unit is active, which for Type=notify means
# venuebox sent READY=1, with its watchdog configured and a STATUS= line shown;
# the host name and Wi-Fi names carry the box id's suffix; /healthz answers 200; after
# kill -9 systemd restarts it and it is READY again; `systemctl stop` stops it
# cleanly (Result=success); the simulated button's long press powers it off through
# logind (polkit rule). Prints the times from boot to READY, to /healthz and from the
# long press to power-off.
#
# Needs root, debootstrap and systemd-container (tests/run.sh installs them) and a
# Debian mirror; a missing tool is a failure, not a skip.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
binary=${1:-$repo/target/debug/venuebox}
[ "$(id -u)" -eq 0 ] || { echo "FAIL: the boot test needs root (CI runs as root)" >&2; exit 1; }
for tool in debootstrap systemd-nspawn nsenter; do
    command -v "$tool" >/dev/null || {
        echo "FAIL: $tool is missing (tests/run.sh installs debootstrap and systemd-container)" >&2
        exit 1
    }
done
[ -x "$binary" ] || { echo "FAIL: $binary is missing: build it first (cargo build)" >&2; exit 1; }

work=$(mktemp -d /var/tmp/venuebox-boot.XXXXXX)
rootfs="$work/rootfs"
nspawn_pid=""
cleanup() {
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        kill "$nspawn_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$nspawn_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok:   $*"; }

bash "$repo/image-build/debian-rootfs.sh" --binary "$binary" --rootfs "$rootfs" >"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; echo "FAIL: building the rootfs" >&2; exit 1; }
pass "rootfs built with debootstrap, venuebox staged ($(du -sh "$rootfs" | cut -f1))"

# The LED and the button through the simulated GPIO back end (no Pi here), in the data
# dir the service may write: a drop-in, as a vendor's `systemctl edit` would make.
# The free-space reserve is small here so "ready" does not depend on how full the test
# machine's disk is (the shipped 256 MiB reserve would show "disk nearly full" below
# 512 MiB free; tests/gpio.rs checks that pattern).
mkdir -p "$rootfs/etc/systemd/system/venuebox.service.d"
printf '[Service]\nEnvironment=VENUEBOX_GPIO__BACKEND=simulated VENUEBOX_GPIO__SIM_DIR=/var/lib/venuebox/gpio VENUEBOX_INGEST__FREE_DISK_RESERVE_BYTES=16777216\n' \
    >"$rootfs/etc/systemd/system/venuebox.service.d/gpio-simulated.conf"
gpio=/var/lib/venuebox/gpio

now_ms() { date +%s%3N; }
booted=$(now_ms)
systemd-nspawn --register=no --keep-unit --boot --private-network -D "$rootfs" \
    >"$work/console.log" 2>&1 &
nspawn_pid=$!

# The container's init, as seen from here: the child of systemd-nspawn that runs
# systemd (nspawn forks helpers first, so wait for that one).
init=""
for _ in $(seq 300); do
    for child in $(pgrep -P "$nspawn_pid" || true); do
        if [ "$(ps -o comm= -p "$child" 2>/dev/null)" = systemd ]; then
            init=$child
        fi
    done
    [ -n "$init" ] && break
    sleep 0.1
done
[ -n "$init" ] || { cat "$work/console.log" >&2; echo "FAIL: the container did not start" >&2; exit 1; }
inside() { nsenter -t "$init" -a "$@"; }

# wait_for SECONDS COMMAND...: runs COMMAND until it succeeds or SECONDS pass.
wait_for() {
    local until=$(( $(date +%s) + $1 )); shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$until" ] || return 1
        sleep 0.2
    done
}
active() { [ "$(inside systemctl is-active venuebox 2>/dev/null)" = active ]; }
healthy() { [ "$(inside curl -s -o /dev/null -m 2 -w '%{http_code}' http://127.0.0.1/healthz)" = 200 ]; }
unit() { inside systemctl show -p "$1" --value venuebox; }

if wait_for 90 active; then
    ready_ms=$(( $(now_ms) - booted ))
    pass "venuebox is active (READY=1) $ready_ms ms after systemd-nspawn --boot"
else
    fail "venuebox not active within 90 s: $(inside systemctl status venuebox --no-pager 2>&1 | tail -20)"
fi
[ "$(unit Type)" = notify ] && pass "Type=notify" || fail "Type is $(unit Type), want notify"
watchdog=$(unit WatchdogUSec)
[ -n "$watchdog" ] && [ "$watchdog" != 0 ] && [ "$watchdog" != infinity ] &&
    pass "watchdog configured (WatchdogUSec=$watchdog)" || fail "no watchdog (WatchdogUSec=$watchdog)"
status_line() { unit StatusText | grep -q .; }
if wait_for 15 status_line; then
    pass "systemctl status shows: $(unit StatusText)"
else
    fail "no STATUS= line reached systemd"
fi
if wait_for 30 healthy; then
    pass "/healthz answers 200 $(( $(now_ms) - booted )) ms after boot"
else
    fail "/healthz did not answer 200"
fi

# The status LED says "ready" under systemd.
led_ready() { inside grep -q '^ready' "$gpio/led-pattern"; }
wait_for 15 led_ready && pass "LED: $(inside cat "$gpio/led-pattern")" ||
    fail "LED not ready: $(inside cat "$gpio/led-pattern" 2>&1)"
# polkit lets the service user power off (the long press needs it): logind says yes.
can=$(inside runuser -u venuebox -- busctl call org.freedesktop.login1 /org/freedesktop/login1 \
    org.freedesktop.login1.Manager CanPowerOff 2>&1)
[ "$can" = 's "yes"' ] && pass "logind lets the venuebox user power off" ||
    fail "CanPowerOff for the venuebox user: $can (polkit rule?)"

# The venue network's packages were installed offline by the image build
# (fetch-packages.sh, then stage-rootfs.sh --packages), with our configs in place of
# the packages' defaults, and their services are enabled.
installed=$(inside dpkg-query -W -f '${Package}:${db:Status-Status}\n' hostapd dnsmasq nftables 2>&1 | sort | tr '\n' ' ')
[ "$installed" = "dnsmasq:installed hostapd:installed nftables:installed " ] &&
    pass "installed offline: hostapd, dnsmasq, nftables" || fail "venue packages: $installed"
for u in hostapd dnsmasq nftables; do
    state=$(inside systemctl is-enabled "$u" 2>&1 || true)
    [ "$state" = enabled ] && pass "$u.service enabled" || fail "$u.service is $state"
done
cmp -s "$repo/config/nftables.conf" "$rootfs/etc/nftables.conf" &&
    pass "/etc/nftables.conf is venuebox's (the package's unedited default replaced)" ||
    fail "/etc/nftables.conf is not venuebox's"

# Unique names from the box id (venuebox-names.service, after venuebox): the host name
# and the shipped Wi-Fi names carry the first four hex digits of the box id.
names_done() { [ "$(inside systemctl is-active venuebox-names)" = active ]; }
if wait_for 30 names_done; then
    box_id=$(inside venuebox --config /etc/venuebox/venuebox.toml names | awk '/^box id/ {print $3}')
    want="venuebox-${box_id:4:4}"
    got=$(inside hostname)
    [ -n "$box_id" ] && [ "$got" = "$want" ] && pass "host name $got from box id $box_id" ||
        fail "host name $got, want $want (box id $box_id)"
    inside grep -qx "ssid=Venue Photos ${box_id:4:4}" /etc/hostapd/hostapd.conf &&
        pass "Wi-Fi name: Venue Photos ${box_id:4:4}" ||
        fail "hostapd.conf has no suffixed SSID: $(inside grep '^ssid=' /etc/hostapd/hostapd.conf)"
else
    fail "venuebox-names did not finish: $(inside systemctl status venuebox-names --no-pager 2>&1 | tail -8)"
fi

# Idle memory under systemd, a few seconds after READY (a figure, not a check).
sleep 3
rss=$(inside cat "/proc/$(unit MainPID)/status" 2>/dev/null | awk '/^VmRSS/ {print $2 " " $3}')
echo "info: idle RSS of venuebox under systemd: ${rss:-unknown} ($(basename "$binary") build)"

# kill -9: systemd restarts it (Restart=), and it is READY again.
main_pid=$(unit MainPID)
inside systemctl kill -s KILL venuebox
restarted() { [ "$(unit NRestarts)" -ge 1 ] && active && [ "$(unit MainPID)" != "$main_pid" ]; }
if wait_for 60 restarted && wait_for 30 healthy; then
    pass "restarted after kill -9 (NRestarts=$(unit NRestarts)) and healthy again"
else
    fail "not restarted after kill -9: $(inside systemctl status venuebox --no-pager 2>&1 | tail -10)"
fi

# A clean stop: SIGTERM, graceful shutdown, exit 0.
inside systemctl stop venuebox
state="$(unit ActiveState) $(unit Result) $(unit ExecMainStatus)"
[ "$state" = "inactive success 0" ] && pass "stopped cleanly ($state)" ||
    fail "stop: ActiveState Result ExecMainStatus = $state; $(inside journalctl -u venuebox --no-pager 2>&1 | tail -10)"

# The button's long press (3 s) stops venuebox safely and powers the box off, as the
# venuebox user, through logind and the polkit rule.
inside systemctl start venuebox
if wait_for 60 active && wait_for 15 led_ready; then
    inside sh -c "echo 1 >$gpio/.button.tmp && mv $gpio/.button.tmp $gpio/button"
    pressed=$(now_ms)
    if wait_for 60 bash -c "! kill -0 $nspawn_pid 2>/dev/null"; then
        pass "long press: powered off $(( $(now_ms) - pressed )) ms after the press (3 s hold included)"
    else
        fail "long press did not power off: $(inside journalctl -u venuebox --no-pager 2>&1 | tail -8)"
        inside systemctl poweroff >/dev/null 2>&1 || true
    fi
else
    fail "venuebox did not start again for the long press"
    inside systemctl poweroff >/dev/null 2>&1 || true
fi
wait_for 30 bash -c "! kill -0 $nspawn_pid 2>/dev/null" || fail "the container did not power off"

if [ "$failures" -gt 0 ]; then
    echo "image_boot: $failures failure(s)" >&2
    exit 1
fi
echo "image_boot: ok"
