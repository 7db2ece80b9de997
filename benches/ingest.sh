#!/usr/bin/env bash
# Ingest benchmark: how fast photos get into the box, and how much memory that takes.
#
#   bash benches/ingest.sh
#
# Measures, in one run, against a release build (built here if needed):
#   1. FTP ingest vs vsftpd: the photo corpus uploaded over loopback with the same
#      client (lftp mput, passive mode, plain FTP) to venuebox and to vsftpd, in
#      alternating rounds (the machine is shared and noisy); best-of MB/s and the ratio.
#      Then the same comparison again with both servers' data directories on a tmpfs
#      mounted here (root only): fsync costs nothing there, so those rows compare the
#      software pipelines alone (venuebox's durability work minus the disk's latency).
#      Context rows: the issue's durability steps alone (write, fsync, rename, folder
#      fsync, SQLite commit per file, locally) and SHA-256 of the corpus alone, each
#      with the ratio to vsftpd that no server taking that step could exceed.
#   2. tus ingest with checksums on: 8 photo-headed files uploaded one after another,
#      in fixed-size PATCHes each carrying Upload-Checksum: sha256; MB/s end to end.
#   3. Peak RSS (VmHWM) of the box while 8 tus uploads run at once, for two file sizes
#      (fresh process each), to show memory does not grow with file size.
#
# Prints a table (stdout; progress goes to stderr). Exits non-zero when a step fails:
# an upload refused or short, a server not starting, or a stored count that does not
# match what was sent.
#
# Needs: cargo, curl, lftp, vsftpd, python3 (the hashing context row), sqlite3 or python3. As root it
# installs missing lftp/vsftpd with apt-get.
#
# Environment (all optional; none may start with VENUEBOX_, which venuebox reads as
# configuration):
#   VENUEBOX_TESTDATA     test data (default ../shared/testdata, from the repo root)
#   BENCH_FTP_ROUNDS      FTP rounds per server (default 5), on disk and on tmpfs each
#   BENCH_FTP_TMPFS       1: also the FTP rounds on a tmpfs (needs root: mount); 0: not;
#                         default 1 as root, else 0
#   BENCH_TUS_ROUNDS      tus rounds (default 3)
#   BENCH_TUS_FILES       files per tus round (default 8)
#   BENCH_TUS_FILE_MIB    size of each tus file (default 8)
#   BENCH_TUS_CHUNK_MIB   PATCH size (default 4)
#   BENCH_RSS_UPLOADS     concurrent uploads in the RSS scenarios (default 8)
#   BENCH_RSS_SIZES_MIB   file sizes of the RSS scenarios (default "20 80")
#   BENCH_KEEP=1          keep the temporary directory (logs, data dirs; not what was
#                         on the tmpfs, which goes with the unmount)

set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

FTP_ROUNDS=${BENCH_FTP_ROUNDS:-5}
TUS_ROUNDS=${BENCH_TUS_ROUNDS:-3}
TUS_FILES=${BENCH_TUS_FILES:-8}
TUS_FILE_MIB=${BENCH_TUS_FILE_MIB:-8}
TUS_CHUNK_MIB=${BENCH_TUS_CHUNK_MIB:-4}
RSS_UPLOADS=${BENCH_RSS_UPLOADS:-8}
read -r -a RSS_SIZES <<<"${BENCH_RSS_SIZES_MIB:-20 80}"
FTP_TMPFS=${BENCH_FTP_TMPFS:-$([[ $(id -u) == 0 ]] && echo 1 || echo 0)}
COMMAND="bash benches/ingest.sh${*:+ $*}"

die() {
    echo "ingest.sh: error: $*" >&2
    exit 1
}
note() { echo "[ingest] $*" >&2; }

for n in FTP_ROUNDS TUS_ROUNDS TUS_FILES TUS_FILE_MIB TUS_CHUNK_MIB RSS_UPLOADS; do
    [[ ${!n} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$n must be a positive integer (got '${!n}')"
done
for s in "${RSS_SIZES[@]}"; do
    [[ $s =~ ^[1-9][0-9]*$ ]] || die "BENCH_RSS_SIZES_MIB must be positive integers (got '$s')"
done
[[ $FTP_TMPFS == [01] ]] || die "BENCH_FTP_TMPFS must be 0 or 1 (got '$FTP_TMPFS')"
if [[ $FTP_TMPFS == 1 && $(id -u) != 0 ]]; then
    die "BENCH_FTP_TMPFS=1 mounts a tmpfs and needs root (or set BENCH_FTP_TMPFS=0)"
fi

# --- Clean-up: every process started here, and the temporary directory. ---

PIDS=()   # processes to stop on exit
GROUPS_=() # process groups to stop on exit (vsftpd and its session processes)
WORK=""
TMPFS="" # the tmpfs mount point while mounted

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local p
    for p in "${GROUPS_[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}" "${GROUPS_[@]}"; do
        # Give venuebox its graceful stop, then insist.
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    for p in "${GROUPS_[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
    # Every process using it is gone; a lazy unmount only if something still holds it.
    if [[ -n $TMPFS ]] && mountpoint -q -- "$TMPFS"; then
        umount -- "$TMPFS" 2>/dev/null || umount -l -- "$TMPFS" || note "could not unmount $TMPFS"
    fi
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ ${BENCH_KEEP:-0} == 1 ]]; then
            note "kept $WORK"
        else
            rm -rf -- "$WORK"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

forget_pid() {
    local p=$1 kept=() q
    for q in "${PIDS[@]}"; do [[ $q == "$p" ]] || kept+=("$q"); done
    PIDS=("${kept[@]}")
    kept=()
    for q in "${GROUPS_[@]}"; do [[ $q == "$p" ]] || kept+=("$q"); done
    GROUPS_=("${kept[@]}")
}

# Stops a process started here (TERM, then KILL after 15 s) and reaps it.
stop_pid() {
    local p=$1 group=${2:-}
    if [[ -n $group ]]; then kill -TERM -- "-$p" 2>/dev/null || true; else kill -TERM "$p" 2>/dev/null || true; fi
    for _ in $(seq 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
        note "process $p did not stop within 15 s; killing it"
        kill -KILL "$p" 2>/dev/null || true
    fi
    wait "$p" 2>/dev/null || true
    if [[ -n $group ]]; then kill -KILL -- "-$p" 2>/dev/null || true; fi
    forget_pid "$p"
}

# --- Small helpers. ---

now_ns() { date +%s%N; }
# MB/s (10^6 bytes per second) from bytes and nanoseconds.
mbps() { awk -v b="$1" -v ns="$2" 'BEGIN { printf "%.1f", (b / 1e6) / (ns / 1e9) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }
max_of() { printf '%s\n' "$@" | sort -g | tail -n1; }
mib_of_kib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

b64_sha256() {
    if command -v openssl >/dev/null; then
        openssl dgst -sha256 -binary "$1" | base64 -w0
    else
        python3 -c 'import base64,hashlib,sys; print(base64.b64encode(hashlib.sha256(open(sys.argv[1],"rb").read()).digest()).decode())' "$1"
    fi
}

# One row of a query on a SQLite file, fields joined by '|'.
db_query() {
    local db=$1 sql=$2
    if command -v sqlite3 >/dev/null; then
        sqlite3 -batch -noheader -readonly "$db" "$sql"
    else
        python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print("|".join("" if v is None else str(v) for v in c.execute(sys.argv[2]).fetchone()))' "$db" "$sql"
    fi
}

vmhwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# Ports: a block of unused ones below the ephemeral range, handed out one by one, so
# every server start gets ports nobody (not even a TIME_WAIT of ours) is using.
PORT_NEXT=0
PORT_END=0
pick_port_block() {
    local size=1200 base used
    used=$(ss -Htan 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }' | sort -un)
    for _ in $(seq 50); do
        base=$((20000 + RANDOM % 10000))
        if ! awk -v lo="$base" -v hi="$((base + size))" '$1 >= lo && $1 < hi { found = 1 } END { exit !found }' <<<"$used"; then
            PORT_NEXT=$base
            PORT_END=$((base + size))
            return 0
        fi
    done
    die "found no block of $size free TCP ports between 20000 and 31200"
}
# take_ports N: sets PORT to the first of N consecutive ports.
take_ports() {
    ((PORT_NEXT + $1 <= PORT_END)) || die "ran out of ports in the block"
    PORT=$PORT_NEXT
    PORT_NEXT=$((PORT_NEXT + $1))
}

wait_tcp() {
    local port=$1 pid=$2 what=$3 log=$4
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "$what exited while starting (log above)"; }
        # Looked up, not connected to: a probe connection would be a session of its own.
        [[ -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]] && return 0
        sleep 0.1
    done
    tail -n 20 "$log" >&2
    die "$what is not listening on 127.0.0.1:$port after 30 s"
}

# --- Requirements. ---

command -v cargo >/dev/null || die "cargo is not on PATH"
command -v curl >/dev/null || die "curl is not installed (apt-get install -y curl)"
curl_v=$(curl --version | awk 'NR == 1 { print $2 }')
[[ $(printf '%s\n7.84.0\n' "$curl_v" | sort -V | head -n1) == 7.84.0 ]] ||
    die "curl $curl_v is too old: needs 7.84 or later (for -w %header{})"
command -v ss >/dev/null || die "ss is not installed (apt-get install -y iproute2)"
command -v python3 >/dev/null || die "needs python3 (apt-get install -y python3)"
command -v sqlite3 >/dev/null || command -v python3 >/dev/null || die "needs sqlite3 or python3"
VSFTPD=$(command -v vsftpd || true)
[[ -z $VSFTPD && -x /usr/sbin/vsftpd ]] && VSFTPD=/usr/sbin/vsftpd
missing=()
command -v lftp >/dev/null || missing+=(lftp)
[[ -n $VSFTPD ]] || missing+=(vsftpd)
if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        note "installing ${missing[*]} with apt-get"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null 2>&1; then
            DEBIAN_FRONTEND=noninteractive apt-get update >/dev/null 2>&1 || true
            DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null 2>&1 ||
                die "apt-get install -y ${missing[*]} failed"
        fi
        VSFTPD=$(command -v vsftpd || echo /usr/sbin/vsftpd)
    else
        die "${missing[*]} not installed; run this as root (it installs them) or: sudo apt-get install -y vsftpd lftp"
    fi
fi
[[ -x $VSFTPD ]] || die "vsftpd not found after installing"

# --- The binary. ---

note "building: cargo build --release --bin venuebox"
cargo build --release --bin venuebox >&2 || die "cargo build --release --bin venuebox failed"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/venuebox"
[[ -x $BIN ]] || die "no binary at $BIN after the build"
# What was built: the commit, and whether the sources differed from it.
git_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git_dirty=""
if git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | grep -q .; then
    git_dirty=" + uncommitted changes in src/Cargo"
fi

# --- Work area and corpus. ---

WORK=$(mktemp -d "${TMPDIR:-/tmp}/venuebox-ingest.XXXXXX")
chmod 755 "$WORK" # vsftpd's unprivileged session process must reach its root in here
pick_port_block

TESTDATA=${VENUEBOX_TESTDATA:-../shared/testdata}
[[ $TESTDATA == /* ]] || TESTDATA="$ROOT/$TESTDATA"
PHOTOS_DIR="$TESTDATA/photos"
[[ -d $PHOTOS_DIR ]] || die "no photo corpus at $PHOTOS_DIR (set VENUEBOX_TESTDATA)"
PHOTOS_DIR=$(cd "$PHOTOS_DIR" && pwd)

# What venuebox accepts, by magic bytes (as ingest::sniff): JPEG, PNG, WebP, TIFF,
# ISO media (HEIC/HEIF/CR3). The corpus folder also holds its README and manifest,
# which the box refuses by design; they are left out for both servers.
is_photo() {
    local h
    h=$(head -c 12 -- "$1" | od -An -tx1 | tr -d ' \n')
    [[ $h == ffd8ff* || $h == 89504e470d0a1a0a* || ($h == 52494646* && ${h:16:8} == 57454250) ||
        $h == 49492a00* || $h == 4d4d002a* || ${h:8:8} == 66747970 ]]
}

CORPUS="$WORK/corpus"
mkdir -p "$CORPUS"
PHOTO_FILES=()
SKIPPED=()
for f in "$PHOTOS_DIR"/*; do
    [[ -f $f ]] || continue
    if is_photo "$f"; then
        cp -- "$f" "$CORPUS/"
        chmod 644 -- "$CORPUS/$(basename -- "$f")"
        PHOTO_FILES+=("$CORPUS/$(basename -- "$f")")
    else
        SKIPPED+=("$(basename -- "$f")")
    fi
done
N_FILES=${#PHOTO_FILES[@]}
((N_FILES > 0)) || die "no photos in $PHOTOS_DIR"
TOTAL_BYTES=$(cat -- "${PHOTO_FILES[@]}" | wc -c) # also warms the page cache
N_DISTINCT=$(sha256sum -- "${PHOTO_FILES[@]}" | awk '{ print $1 }' | sort -u | wc -l)
DISTINCT_BYTES=$(sha256sum -- "${PHOTO_FILES[@]}" | sort -u -k1,1 | cut -c67- | xargs -d '\n' cat -- | wc -c)
note "corpus: $N_FILES photos ($N_DISTINCT distinct), $TOTAL_BYTES bytes; skipped: ${SKIPPED[*]:-none}"

# --- venuebox instances. ---

# vb_setup DIR: a fresh data dir with creator "bench"; sets VB_TOKEN, VB_USER, VB_PASS.
vb_setup() {
    local d=$1 out
    out=$("$BIN" --data-dir "$d" creator add bench) || die "venuebox creator add failed"
    VB_TOKEN=$(tail -n1 <<<"$out")
    out=$("$BIN" --data-dir "$d" creator ftp bench) || die "venuebox creator ftp failed"
    VB_USER=$(sed -n 's/^FTP user: //p' <<<"$out")
    VB_PASS=$(tail -n1 <<<"$out")
    [[ -n $VB_TOKEN && -n $VB_USER && -n $VB_PASS ]] || die "could not read the upload token / FTP login from the CLI"
}

# vb_start DIR LOG [ftp]: starts `venuebox run` on fresh loopback ports; sets VB_PID,
# VB_HTTP (base URL), VB_FTP_PORT.
vb_start() {
    local d=$1 log=$2 ftp=${3:-} pasv_lo pasv_hi hp
    take_ports 2
    hp=$PORT
    VB_FTP_PORT=$((PORT + 1))
    take_ports 32
    pasv_lo=$PORT
    pasv_hi=$((PORT + 31))
    VENUEBOX_MDNS__ENABLED=false \
        VENUEBOX_FTP__ENABLED=$([[ $ftp == ftp ]] && echo true || echo false) \
        VENUEBOX_FTP__PASSIVE_PORTS="[$pasv_lo, $pasv_hi]" \
        "$BIN" --data-dir "$d" run --http "127.0.0.1:$hp" --ftp "127.0.0.1:$VB_FTP_PORT" >"$log" 2>&1 &
    VB_PID=$!
    PIDS+=("$VB_PID")
    VB_HTTP="http://127.0.0.1:$hp"
    for _ in $(seq 300); do
        kill -0 "$VB_PID" 2>/dev/null || { tail -n 20 "$log" >&2; die "venuebox exited while starting (log above)"; }
        curl -fsS -o /dev/null "$VB_HTTP/healthz" 2>/dev/null && break
        sleep 0.1
    done
    curl -fsS -o /dev/null "$VB_HTTP/healthz" || { tail -n 20 "$log" >&2; die "venuebox /healthz not answering after 30 s"; }
    if [[ $ftp == ftp ]]; then wait_tcp "$VB_FTP_PORT" "$VB_PID" venuebox "$log"; fi
}

# photos_in DIR: "count|bytes" of the photos table (after the service stopped).
photos_in() { db_query "$1/venuebox.db" "SELECT count(*), coalesce(sum(size), 0) FROM photos"; }

# --- vsftpd instances. ---

FTP_SYSUSER=ftp
id -u ftp >/dev/null 2>&1 || FTP_SYSUSER=nobody
if [[ $(id -u) == 0 ]]; then
    VSFTPD_MODE="as root: privilege-separated sessions, anonymous chroot, uploads as user $FTP_SYSUSER, seccomp_sandbox=NO"
else
    VSFTPD_MODE="as $(id -un): run_as_launching_user=YES, no chroot"
fi

# vsftpd_start DIR LOG: anonymous upload into DIR/root/up; sets VS_PID, VS_PORT, VS_UP.
vsftpd_start() {
    local d=$1 log=$2 pasv_lo
    take_ports 1
    VS_PORT=$PORT
    take_ports 32
    pasv_lo=$PORT
    mkdir -p "$d/root/up" "$d/empty"
    chmod 755 "$d" "$d/empty"
    chmod 555 "$d/root" # vsftpd refuses a writable chroot
    VS_UP="$d/root/up"
    {
        echo "listen=YES"
        echo "listen_ipv6=NO"
        echo "listen_address=127.0.0.1"
        echo "listen_port=$VS_PORT"
        echo "background=NO"
        echo "anonymous_enable=YES"
        echo "no_anon_password=YES"
        echo "local_enable=NO"
        echo "write_enable=YES"
        echo "anon_upload_enable=YES"
        echo "anon_mkdir_write_enable=YES"
        echo "anon_root=$d/root"
        echo "anon_umask=022"
        echo "pasv_enable=YES"
        echo "pasv_address=127.0.0.1"
        echo "pasv_min_port=$pasv_lo"
        echo "pasv_max_port=$((pasv_lo + 31))"
        echo "port_enable=NO"
        echo "connect_from_port_20=NO"
        echo "ssl_enable=NO"
        echo "seccomp_sandbox=NO"
        echo "isolate=NO"
        echo "isolate_network=NO"
        echo "secure_chroot_dir=$d/empty"
        echo "xferlog_enable=NO"
        echo "dirmessage_enable=NO"
        echo "hide_ids=YES"
        echo "max_clients=0"
        echo "max_per_ip=0"
        if [[ $(id -u) == 0 ]]; then
            echo "ftp_username=$FTP_SYSUSER"
            echo "nopriv_user=$FTP_SYSUSER"
        else
            echo "run_as_launching_user=YES"
        fi
    } >"$d/vsftpd.conf"
    if [[ $(id -u) == 0 ]]; then chown "$FTP_SYSUSER" "$VS_UP"; fi
    chmod 755 "$VS_UP"
    # Its own session (process group), so stopping it also stops its per-login processes.
    setsid "$VSFTPD" "$d/vsftpd.conf" >"$log" 2>&1 &
    VS_PID=$!
    GROUPS_+=("$VS_PID")
    wait_tcp "$VS_PORT" "$VS_PID" vsftpd "$log"
}

# --- The FTP client: one lftp process uploads the whole corpus. ---

# lftp_mput USER PASS PORT REMOTE_DIR LOG: prints elapsed nanoseconds.
lftp_mput() {
    local user=$1 pass=$2 port=$3 dir=$4 log=$5 t0 t1
    # Plain FTP (no AUTH TLS: vsftpd here has none), passive, no retries (a retry would
    # hide a failure and skew the time), no SITE UTIME after each file (cameras do not
    # send it; neither server supports it).
    local script="set cmd:fail-exit yes; set ftp:ssl-allow no; set ftp:passive-mode yes;
set net:max-retries 1; set net:timeout 60; set ftp:use-site-utime no; set ftp:use-site-utime2 no;
set xfer:clobber yes;
open -u \"$user\",\"$pass\" -p $port 127.0.0.1; cd \"$dir\"; lcd \"$CORPUS\"; mput *"
    t0=$(now_ns)
    if ! lftp -c "$script" >"$log" 2>&1; then
        cat "$log" >&2
        die "lftp upload to 127.0.0.1:$port failed (output above)"
    fi
    t1=$(now_ns)
    echo $((t1 - t0))
}

sync_fs() { sync -f "$WORK" 2>/dev/null || sync; }

# ==========================================================================
# 1. FTP ingest: venuebox vs vsftpd, alternating rounds, fresh dirs each round.
# ==========================================================================

VB_FTP=()
VS_FTP=()
# ftp_round_venuebox ROUND BASE TAG RESULTS: one upload into a fresh data dir under
# BASE; the MB/s is appended to the array named RESULTS. Logs stay in $WORK (BASE may
# be the tmpfs), named $WORK/TAG-r<round>-venuebox.*.
ftp_round_venuebox() {
    local r=$1 base=$2 tag=$3
    local -n results=$4
    local d="$base/$tag-r$r-venuebox" log="$WORK/$tag-r$r-venuebox" ns got in_tree
    vb_setup "$d/data"
    vb_start "$d/data" "$log.log" ftp
    ns=$(lftp_mput "$VB_USER" "$VB_PASS" "$VB_FTP_PORT" / "$log.lftp.log")
    stop_pid "$VB_PID"
    got=$(photos_in "$d/data")
    [[ $got == "$N_DISTINCT|$DISTINCT_BYTES" ]] ||
        die "FTP round $r ($tag): venuebox stored photos|bytes = $got, expected $N_DISTINCT|$DISTINCT_BYTES"
    in_tree=$(find "$d/data/ftp" -type f ! -name '.vbx-*' | wc -l)
    ((in_tree == N_FILES)) || die "FTP round $r ($tag): venuebox FTP tree holds $in_tree files, expected $N_FILES"
    results+=("$(mbps "$TOTAL_BYTES" "$ns")")
    note "FTP round $r ($tag) venuebox: $(mbps "$TOTAL_BYTES" "$ns") MB/s ($((ns / 1000000)) ms)"
    rm -rf -- "$d"
    sync_fs
}
# ftp_round_vsftpd ROUND BASE TAG RESULTS: as ftp_round_venuebox, for vsftpd.
ftp_round_vsftpd() {
    local r=$1 base=$2 tag=$3
    # shellcheck disable=SC2178 # a nameref to the caller's array, as in ftp_round_venuebox
    local -n results=$4
    local d="$base/$tag-r$r-vsftpd" log="$WORK/$tag-r$r-vsftpd" ns files bytes
    vsftpd_start "$d" "$log.log"
    ns=$(lftp_mput anonymous "" "$VS_PORT" /up "$log.lftp.log")
    stop_pid "$VS_PID" group
    files=$(find "$VS_UP" -type f | wc -l)
    bytes=$(find "$VS_UP" -type f -print0 | xargs -0 cat | wc -c)
    [[ $files == "$N_FILES" && $bytes == "$TOTAL_BYTES" ]] ||
        die "FTP round $r ($tag): vsftpd holds $files files / $bytes bytes, expected $N_FILES / $TOTAL_BYTES"
    results+=("$(mbps "$TOTAL_BYTES" "$ns")")
    note "FTP round $r ($tag) vsftpd: $(mbps "$TOTAL_BYTES" "$ns") MB/s ($((ns / 1000000)) ms)"
    rm -rf -- "$d"
    sync_fs
}

# Context, not a contender: the durability steps the issue requires of every upload,
# alone: the same files written locally by one process, each to a temporary file,
# fsynced, renamed into a store folder, the folder fsynced, then a row committed to a
# SQLite database in WAL mode with synchronous=FULL (as venuebox's store), before the
# next. No network, no hashing. The corpus is read into memory before the clock starts.
# A server that acknowledges each file only after these steps cannot beat this rate
# with a client that waits for each 226 (lftp mput does).
FLOOR=()
floor_round() {
    local r=$1
    local d="$WORK/floor-r$r" bytes mb
    mkdir -p "$d/store"
    mb=$(python3 - "$d" "${PHOTO_FILES[@]}" <<'PY'
import os, sqlite3, sys, time
out, files = sys.argv[1], sys.argv[2:]
data = [(os.path.basename(f), open(f, "rb").read()) for f in files]
db = sqlite3.connect(os.path.join(out, "floor.db"), isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT NOT NULL, size INTEGER NOT NULL)")
store = os.path.join(out, "store")
t0 = time.perf_counter_ns()
for i, (name, d) in enumerate(data):
    temp = os.path.join(out, f"temp-{i}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    view = memoryview(d)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)
    os.close(fd)
    os.rename(temp, os.path.join(store, f"{i}-{name}"))
    dfd = os.open(store, os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO photos (name, size) VALUES (?, ?)", (name, len(d)))
    db.execute("COMMIT")
t1 = time.perf_counter_ns()
print(f"{sum(len(d) for _, d in data) / 1e6 / ((t1 - t0) / 1e9):.1f}")
PY
) || die "local durable copy into $d failed"
    bytes=$(cat -- "$d"/store/* | wc -c)
    [[ $bytes == "$TOTAL_BYTES" ]] || die "local copy holds $bytes bytes, expected $TOTAL_BYTES"
    FLOOR+=("$mb")
    rm -rf -- "$d"
    sync_fs
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
sync_fs
for r in $(seq "$FTP_ROUNDS"); do
    if ((r % 2)); then
        ftp_round_venuebox "$r" "$WORK" ftp VB_FTP
        ftp_round_vsftpd "$r" "$WORK" ftp VS_FTP
    else
        ftp_round_vsftpd "$r" "$WORK" ftp VS_FTP
        ftp_round_venuebox "$r" "$WORK" ftp VB_FTP
    fi
    floor_round "$r"
done
VB_FTP_BEST=$(max_of "${VB_FTP[@]}")
VS_FTP_BEST=$(max_of "${VS_FTP[@]}")
FLOOR_BEST=$(max_of "${FLOOR[@]}")
FTP_RATIO=$(ratio "$VB_FTP_BEST" "$VS_FTP_BEST")

# The same comparison with both servers' data on a tmpfs: fsync there returns at once,
# so what is left is the software (protocol, copy, hashing, SQLite, the syscalls of the
# durability steps) without the disk's latency. The corpus stays where it was (read
# from the page cache, as above). Sized for one round of either server (the box keeps
# one copy: its FTP tree hard-links the store) plus venuebox's free-disk reserve
# (ingest.free_disk_reserve_bytes, 256 MiB by default), under which it refuses uploads.
VB_TMPFS=()
VS_TMPFS=()
if ((FTP_TMPFS)); then
    TMPFS="$WORK/tmpfs"
    mkdir -p "$TMPFS"
    tmpfs_mib=$(((2 * TOTAL_BYTES >> 20) + 512))
    mount -t tmpfs -o "size=${tmpfs_mib}m,mode=755" tmpfs "$TMPFS" ||
        die "mount -t tmpfs on $TMPFS failed"
    [[ $(findmnt -n -o FSTYPE -T "$TMPFS") == tmpfs ]] || die "$TMPFS is not a tmpfs after mounting"
    for r in $(seq "$FTP_ROUNDS"); do
        if ((r % 2)); then
            ftp_round_venuebox "$r" "$TMPFS" ftp-tmpfs VB_TMPFS
            ftp_round_vsftpd "$r" "$TMPFS" ftp-tmpfs VS_TMPFS
        else
            ftp_round_vsftpd "$r" "$TMPFS" ftp-tmpfs VS_TMPFS
            ftp_round_venuebox "$r" "$TMPFS" ftp-tmpfs VB_TMPFS
        fi
    done
    umount -- "$TMPFS" || die "umount $TMPFS failed"
    TMPFS=""
    VB_TMPFS_BEST=$(max_of "${VB_TMPFS[@]}")
    VS_TMPFS_BEST=$(max_of "${VS_TMPFS[@]}")
    TMPFS_RATIO=$(ratio "$VB_TMPFS_BEST" "$VS_TMPFS_BEST")
fi
# Context: what the issue's SHA-256 alone costs on this CPU. The corpus hashed from
# memory in one process (python3 hashlib, which is OpenSSL's SHA-256 with the CPU's SHA
# extensions, the speed of the sha2 crate venuebox uses), best of the FTP rounds. A
# server doing what vsftpd does plus that hash in line could reach at most
# hash / (hash + vsftpd) of vsftpd's rate, before any commit.
HASH=()
for r in $(seq "$FTP_ROUNDS"); do
    HASH+=("$(python3 - "${PHOTO_FILES[@]}" <<'PY'
import hashlib, sys, time
data = [open(f, "rb").read() for f in sys.argv[1:]]
t0 = time.perf_counter_ns()
for d in data:
    hashlib.sha256(d).digest()
t1 = time.perf_counter_ns()
print(f"{sum(map(len, data)) / 1e6 / ((t1 - t0) / 1e9):.1f}")
PY
)")
done
HASH_BEST=$(max_of "${HASH[@]}")
# hash_ceiling MBPS: the ratio a server at vsftpd's MBPS plus the hash would reach.
hash_ceiling() { awk -v h="$HASH_BEST" -v v="$1" 'BEGIN { printf "%.2f", h / (h + v) }'; }

# Milliseconds per file in the best round.
per_file_ms() { awk -v m="$1" -v b="$TOTAL_BYTES" -v n="$N_FILES" 'BEGIN { printf "%.1f", (b / 1e6 / m) * 1000 / n }'; }

# ==========================================================================
# 2. tus ingest with checksums: sequential uploads in fixed-size PATCHes.
# ==========================================================================

# Synthetic photos: a real photo's bytes, the file's index (so no two are the same
# content, even if the corpus repeats a photo), then random padding up to SIZE (ingest
# sniffs only the first bytes; bytes after a JPEG's end are common, Sony pads too).
MAX_MIB=$TUS_FILE_MIB
for s in "${RSS_SIZES[@]}"; do ((s > MAX_MIB)) && MAX_MIB=$s; done
head -c $((MAX_MIB << 20)) /dev/urandom >"$WORK/padding"
make_synthetic() { # OUT INDEX SIZE_BYTES
    local out=$1 i=$2 size=$3 photo psize
    photo=${PHOTO_FILES[i % N_FILES]}
    psize=$(stat -c %s -- "$photo")
    ((psize + 16 < size)) || die "photo $photo is too large for a $size-byte file"
    { cat -- "$photo"; printf '%016d' "$i"; head -c $((size - psize - 16)) "$WORK/padding"; } >"$out"
}

TUS_DIR="$WORK/tus-files"
mkdir -p "$TUS_DIR"
TUS_SIZE=$((TUS_FILE_MIB << 20))
CHUNK=$((TUS_CHUNK_MIB << 20))
for i in $(seq 0 $((TUS_FILES - 1))); do
    f="$TUS_DIR/photo-$i.jpg"
    make_synthetic "$f" "$i" "$TUS_SIZE"
    split -b "$CHUNK" -d -a 4 -- "$f" "$TUS_DIR/photo-$i.chunk."
    : >"$TUS_DIR/photo-$i.plan"
    off=0
    for c in "$TUS_DIR/photo-$i.chunk."*; do
        end=$((off + $(stat -c %s -- "$c")))
        echo "$c $off $end $(b64_sha256 "$c")" >>"$TUS_DIR/photo-$i.plan"
        off=$end
    done
done
TUS_NAMES=()
for i in $(seq 0 $((TUS_FILES - 1))); do TUS_NAMES+=("$(printf 'photo-%s.jpg' "$i" | base64 -w0)"); done
TUS_TOTAL=$((TUS_FILES * TUS_SIZE))
TUS_PATCHES=$(cat "$TUS_DIR"/photo-*.plan | wc -l)
sync_fs

# Status and headers are read from curl's -w output (%header{}, curl >= 7.84), and a
# file's PATCHes share one curl process, so the client adds little to the time.
# tus_create BASE TOKEN LENGTH NAME_B64: sets TUS_LOC to the upload's path (/files/<id>).
tus_create() {
    local base=$1 token=$2 length=$3 name_b64=$4 out code
    out=$(curl -sS -o "$WORK/last-body" -w '%{http_code} %header{location}' -X POST "$base/files/" \
        -H "Authorization: Bearer $token" -H 'Tus-Resumable: 1.0.0' \
        -H "Upload-Length: $length" -H "Upload-Metadata: filename $name_b64") || die "tus POST failed (curl)"
    read -r code TUS_LOC <<<"$out"
    [[ $code == 201 && $TUS_LOC == /files/* ]] ||
        die "tus POST answered '$out', expected 201 and a Location: $(head -c 300 "$WORK/last-body")"
}

# tus_patches BASE TOKEN PATH PLAN: every chunk of PLAN (lines "file offset end b64"),
# one PATCH each, in order, from one curl (one keep-alive connection); each checked.
tus_patches() {
    local base=$1 token=$2 path=$3 plan=$4 args=() want=() c off end sum out i=0 code got
    while read -r c off end sum; do
        ((${#args[@]} == 0)) || args+=(--next)
        args+=(-sS -o "$WORK/last-body" -w '%{http_code} %header{upload-offset}\n' -X PATCH "$base$path"
            -H "Authorization: Bearer $token" -H 'Tus-Resumable: 1.0.0'
            -H 'Content-Type: application/offset+octet-stream' -H 'Expect:'
            -H "Upload-Offset: $off" -H "Upload-Checksum: sha256 $sum" --data-binary "@$c")
        want+=("204 $end")
    done <"$plan"
    out=$(curl "${args[@]}") || die "tus PATCHes to $path failed (curl): $out"
    while read -r code got; do
        [[ "$code $got" == "${want[i]}" ]] ||
            die "tus PATCH $((i + 1)) to $path answered '$code $got', expected '${want[i]}': $(head -c 300 "$WORK/last-body")"
        i=$((i + 1))
    done <<<"$out"
    ((i == ${#want[@]})) || die "tus PATCHes to $path: $i answers for ${#want[@]} requests"
}

TUS_MBPS=()
for r in $(seq "$TUS_ROUNDS"); do
    d="$WORK/tus-r$r"
    vb_setup "$d/data"
    vb_start "$d/data" "$d.log"
    t0=$(now_ns)
    for i in $(seq 0 $((TUS_FILES - 1))); do
        tus_create "$VB_HTTP" "$VB_TOKEN" "$TUS_SIZE" "${TUS_NAMES[i]}"
        tus_patches "$VB_HTTP" "$VB_TOKEN" "$TUS_LOC" "$TUS_DIR/photo-$i.plan"
    done
    t1=$(now_ns)
    stop_pid "$VB_PID"
    got=$(photos_in "$d/data")
    [[ $got == "$TUS_FILES|$TUS_TOTAL" ]] || die "tus round $r: venuebox stored photos|bytes = $got, expected $TUS_FILES|$TUS_TOTAL"
    TUS_MBPS+=("$(mbps "$TUS_TOTAL" $((t1 - t0)))")
    note "tus round $r: $(mbps "$TUS_TOTAL" $((t1 - t0))) MB/s ($(((t1 - t0) / 1000000)) ms)"
    rm -rf -- "$d"
    sync_fs
done
TUS_BEST=$(max_of "${TUS_MBPS[@]}")
rm -rf -- "$TUS_DIR"

# ==========================================================================
# 3. Peak RSS with concurrent uploads, per file size (fresh process each).
# ==========================================================================

declare -A RSS_IDLE RSS_PEAK RSS_MBPS
for s in "${RSS_SIZES[@]}"; do
    d="$WORK/rss-$s"
    files="$d/files"
    mkdir -p "$files"
    size=$((s << 20))
    for i in $(seq 0 $((RSS_UPLOADS - 1))); do
        make_synthetic "$files/photo-$i.jpg" "$i" "$size"
        b64_sha256 "$files/photo-$i.jpg" >"$files/photo-$i.sum"
    done
    sync_fs
    vb_setup "$d/data"
    vb_start "$d/data" "$d.log"
    sleep 0.5
    RSS_IDLE[$s]=$(vmhwm_kib "$VB_PID")
    locs=()
    for i in $(seq 0 $((RSS_UPLOADS - 1))); do
        tus_create "$VB_HTTP" "$VB_TOKEN" "$size" "$(printf 'photo-%s.jpg' "$i" | base64 -w0)"
        locs+=("$TUS_LOC")
    done
    # Each upload is one PATCH of the whole file (with its sha256), all at once: a box
    # that buffered bodies would need uploads x size bytes.
    curls=()
    t0=$(now_ns)
    for i in $(seq 0 $((RSS_UPLOADS - 1))); do
        curl -sS -o "$files/out-$i.body" -D "$files/out-$i.hdr" -w '%{http_code}' -X PATCH "$VB_HTTP${locs[i]}" \
            -H "Authorization: Bearer $VB_TOKEN" -H 'Tus-Resumable: 1.0.0' \
            -H 'Content-Type: application/offset+octet-stream' -H 'Expect:' \
            -H 'Upload-Offset: 0' -H "Upload-Checksum: sha256 $(cat "$files/photo-$i.sum")" \
            --upload-file "$files/photo-$i.jpg" >"$files/out-$i.code" 2>"$files/out-$i.err" &
        curls+=($!)
        PIDS+=($!)
    done
    failed=0
    for i in "${!curls[@]}"; do
        wait "${curls[i]}" || failed=1
        forget_pid "${curls[i]}"
    done
    t1=$(now_ns)
    RSS_PEAK[$s]=$(vmhwm_kib "$VB_PID")
    for i in $(seq 0 $((RSS_UPLOADS - 1))); do
        code=$(cat "$files/out-$i.code")
        got=$(awk 'tolower($1) == "upload-offset:" { print $2 }' "$files/out-$i.hdr" | tr -d '\r')
        if [[ $code != 204 || $got != "$size" ]]; then
            cat "$files/out-$i.err" "$files/out-$i.body" >&2 || true
            failed=1
        fi
    done
    ((failed == 0)) || die "a concurrent ${s} MiB upload failed (status/offset not 204/$size)"
    stop_pid "$VB_PID"
    got=$(photos_in "$d/data")
    [[ $got == "$RSS_UPLOADS|$((RSS_UPLOADS * size))" ]] ||
        die "RSS ${s} MiB: venuebox stored photos|bytes = $got, expected $RSS_UPLOADS|$((RSS_UPLOADS * size))"
    RSS_MBPS[$s]=$(mbps $((RSS_UPLOADS * size)) $((t1 - t0)))
    note "RSS ${s} MiB: VmHWM $(mib_of_kib "${RSS_PEAK[$s]}") MiB (idle $(mib_of_kib "${RSS_IDLE[$s]}") MiB), ${RSS_MBPS[$s]} MB/s aggregate"
    rm -rf -- "$d"
    sync_fs
done
S_LO=${RSS_SIZES[0]}
S_HI=${RSS_SIZES[${#RSS_SIZES[@]} - 1]}

# ==========================================================================
# Report.
# ==========================================================================

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
fs=$(findmnt -n -o FSTYPE -T "$WORK" 2>/dev/null || stat -f -c %T "$WORK" 2>/dev/null || echo "?")
# vsftpd -v writes its version to file descriptor 0.
vs_version=$("$VSFTPD" -v 0>&1 2>&1 | head -n1 | sed 's/^vsftpd: version //') || vs_version="?"
lftp_version=$(lftp --version | head -n1 | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' | sed 's/Version//')
curl_version=$(curl --version | head -n1 | awk '{ print $2 }')
target_met=$(awk -v r="$FTP_RATIO" 'BEGIN { print (r >= 0.9) ? "met" : "NOT met" }')
rss_ratio=$(ratio "${RSS_PEAK[$S_HI]}" "${RSS_PEAK[$S_LO]}")

cat <<EOF

## venuebox ingest benchmark

- command: \`$COMMAND\` (in $ROOT)
- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)
- machine: $(nproc) cores (nproc), $cpu, $mem RAM, Linux $(uname -r); load average at start $LOAD_START
- versions: venuebox $("$BIN" --version | awk '{ print $2 }') (git $git_rev$git_dirty, release build), vsftpd $vs_version, lftp $lftp_version, curl $curl_version
- temp dir: $fs filesystem (same for both servers' data)$( ((FTP_TMPFS)) && echo "; the tmpfs rows: both servers' data on a tmpfs mounted for them")$( ((FTP_TMPFS)) || echo "; no tmpfs rows (BENCH_FTP_TMPFS=0)"); all traffic over loopback
- corpus: $N_FILES photos ($N_DISTINCT distinct), $(awk -v b="$TOTAL_BYTES" 'BEGIN { printf "%.2f MB", b / 1e6 }') from $PHOTOS_DIR; not uploaded (not photos, which the box refuses): ${SKIPPED[*]:-none}

| measurement | venuebox | vsftpd (or reference) | ratio |
| --- | --- | --- | --- |
| FTP upload, whole corpus, \`lftp mput\`, passive, plain FTP: best of $FTP_ROUNDS rounds | $VB_FTP_BEST MB/s | $VS_FTP_BEST MB/s | $FTP_RATIO venuebox/vsftpd (target >= 0.9: $target_met) |
| FTP rounds, in order (MB/s) | ${VB_FTP[*]} | ${VS_FTP[*]} | |
| FTP wall time per file, best round | $(per_file_ms "$VB_FTP_BEST") ms | $(per_file_ms "$VS_FTP_BEST") ms | |
| context: the issue's durability steps alone, locally in one process (per file: write, fsync, rename, directory fsync, SQLite WAL commit with synchronous=FULL; no network, no hashing), best of $FTP_ROUNDS | | $FLOOR_BEST MB/s (durable local copy) | $(ratio "$VB_FTP_BEST" "$FLOOR_BEST") venuebox FTP / durable local copy; a server that takes these steps before each 226 reaches at most $(ratio "$FLOOR_BEST" "$VS_FTP_BEST") of vsftpd |
| context: SHA-256 of the corpus from memory (python3 hashlib = OpenSSL), one process, best of $FTP_ROUNDS | | $HASH_BEST MB/s | vsftpd + this hash in line: at most $(hash_ceiling "$VS_FTP_BEST") of vsftpd on disk |
EOF
if ((FTP_TMPFS)); then
    cat <<EOF
| FTP upload as above, both servers' data on a tmpfs (fsync free: the software pipeline alone): best of $FTP_ROUNDS rounds | $VB_TMPFS_BEST MB/s | $VS_TMPFS_BEST MB/s | $TMPFS_RATIO venuebox/vsftpd |
| FTP rounds on tmpfs, in order (MB/s) | ${VB_TMPFS[*]} | ${VS_TMPFS[*]} | |
| FTP wall time per file on tmpfs, best round | $(per_file_ms "$VB_TMPFS_BEST") ms | $(per_file_ms "$VS_TMPFS_BEST") ms | |
| ceiling on tmpfs: vsftpd's rate plus the SHA-256 above, in line | | | at most $(hash_ceiling "$VS_TMPFS_BEST") venuebox/vsftpd |
EOF
fi
cat <<EOF
| tus upload, $TUS_FILES files x $TUS_FILE_MIB MiB one after another, $TUS_CHUNK_MIB MiB PATCHes with \`Upload-Checksum: sha256\` ($TUS_PATCHES PATCHes): best of $TUS_ROUNDS | $TUS_BEST MB/s | | |
| tus rounds, in order (MB/s) | ${TUS_MBPS[*]} | | |
EOF
for s in "${RSS_SIZES[@]}"; do
    echo "| peak RSS (VmHWM) with $RSS_UPLOADS concurrent $s MiB tus uploads, one PATCH each (idle after start: $(mib_of_kib "${RSS_IDLE[$s]}") MiB; aggregate ${RSS_MBPS[$s]} MB/s) | $(mib_of_kib "${RSS_PEAK[$s]}") MiB | | |"
done
if ((${#RSS_SIZES[@]} > 1)); then
    echo "| peak RSS ratio, $S_HI MiB / $S_LO MiB uploads | | | $rss_ratio |"
fi
cat <<EOF

How it was measured:
- MB = 10^6 bytes. Times are wall clock around the client: for FTP, one \`lftp -c\` from start
  to exit (connect, login, one STOR per file, QUIT; SITE UTIME off, no retries); for tus,
  from the first POST to the last PATCH's 204 (the box answers the last PATCH only after
  the photo is committed); per file one curl sends the POST and one more sends its PATCHes
  over one keep-alive connection. Splitting files and hashing chunks on the client happen
  before the clock starts.
- Every FTP round uploads into a fresh venuebox data dir (new process, new creator) and a
  fresh vsftpd directory (new process), so venuebox's de-duplication never applies; rounds
  alternate which server goes first, and the filesystem is synced between runs. Each round
  is checked: the box's \`photos\` table holds $N_DISTINCT rows with the corpus's distinct
  bytes and its FTP tree $N_FILES files; vsftpd's directory holds $N_FILES files and every byte.
- venuebox makes each upload durable before it answers (fsyncs of the file and of the
  directories it is renamed into, then a SQLite commit with synchronous=FULL); vsftpd only
  writes to the page cache. vsftpd ran $VSFTPD_MODE.
- tus rounds and RSS scenarios each use a fresh data dir and process; the tus files are
  real photos padded with random bytes to size. VmHWM is read from /proc/<pid>/status
  of the venuebox process after all uploads of the scenario finished (page cache excluded).
EOF
