#!/usr/bin/env bash
# syscalls.sh — small-file reads on loopback: files per second, and the daemon's system calls
# per file (strace -c -f), for comparing builds of the FTP layer.
#
#   scripts/bench/syscalls.sh [BIN]    # BIN defaults to target/release/ftpfs (not built here)
#
# Starts a private pure-ftpd on 127.0.0.1 (root on tmpfs, the recipe of scripts/bench.sh),
# creates FILES (default 500) files of 4 KiB, then for each of RUNS (default 3) fresh mounts:
# `ls` the directory (so the listing is cached), then `cat` every file one after another —
# once timed without strace (files/s), once under `strace -c -f -p PID` (calls per file, by
# syscall). Prints one summary line per run and the medians. Run as root.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${1:-$REPO/target/release/ftpfs}
FILES=${FILES:-500}
RUNS=${RUNS:-3}
# shellcheck source=scripts/bench/pureftpd.sh
. "$REPO/scripts/bench/pureftpd.sh"

[ "$(id -u)" = 0 ] || { echo "syscalls.sh: run as root" >&2; exit 1; }
[ -x "$BIN" ] || { echo "syscalls.sh: $BIN missing (cargo build --release)" >&2; exit 1; }
command -v strace >/dev/null || { echo "syscalls.sh: strace missing (apt-get install strace)" >&2; exit 1; }

WORK=$(mktemp -d /dev/shm/ftpfs-syscalls.XXXXXX)
chmod 755 "$WORK"
PGID=""
MNT=$WORK/mnt
FPID=""
cleanup() {
    set +e
    if [ -n "$FPID" ]; then
        fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
        wait "$FPID" 2>/dev/null
    fi
    [ -z "$PGID" ] || { kill -KILL -- "-$PGID" 2>/dev/null; wait "$PGID" 2>/dev/null; }
    rm -rf "$WORK"
}
trap cleanup EXIT

ROOT=$WORK/root
mkdir -p "$ROOT/small" "$MNT"
for i in $(seq "$FILES"); do head -c 4096 /dev/urandom >"$ROOT/small/f$i"; done
chown -R "$FTP_USER:$FTP_USER" "$ROOT"
pure_userdb "$ROOT" "$WORK/pdb"
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
setsid "$PUREFTPD" -S "127.0.0.1,$PORT" -l "puredb:$WORK/pdb" -E -A -H -D -4 -c 64 -C 64 -I 15 \
    -P 127.0.0.1 -U 022:022 -f none </dev/null >"$WORK/pure.out" 2>&1 &
PGID=$!
for _ in $(seq 100); do
    "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1)' "$PORT" 2>/dev/null && break
    sleep 0.1
done

mount_it() {
    FTPFS_PASSWORD=$FTP_PASS "$BIN" -f "ftp://$FTP_USER@127.0.0.1:$PORT/" "$MNT" 2>"$WORK/ftpfs.log" &
    FPID=$!
    for _ in $(seq 100); do
        awk -v m="$MNT" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts && return 0
        sleep 0.05
    done
    cat "$WORK/ftpfs.log" >&2
    exit 1
}
umount_it() {
    fusermount3 -u "$MNT"
    wait "$FPID" 2>/dev/null || true
    FPID=""
}
read_all() { for i in $(seq "$FILES"); do cat "$MNT/small/f$i" >/dev/null; done; }

rates=()
calls=()
for run in $(seq "$RUNS"); do
    mount_it
    ls "$MNT/small" >/dev/null
    sleep 0.5 # let the prewarmed logins finish
    t0=$EPOCHREALTIME
    read_all
    t1=$EPOCHREALTIME
    umount_it
    rate=$(awk -v n="$FILES" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')

    mount_it
    ls "$MNT/small" >/dev/null
    sleep 0.5
    strace -c -f -p "$FPID" -o "$WORK/strace.$run" &
    SPID=$!
    sleep 0.5
    read_all
    kill -INT "$SPID"
    wait "$SPID" 2>/dev/null || true
    umount_it
    total=$(awk '$NF == "total" { print $4 }' "$WORK/strace.$run")
    per=$(awk -v t="$total" -v n="$FILES" 'BEGIN { printf "%.1f", t / n }')
    top=$(awk -v n="$FILES" 'NR > 2 && $1 ~ /^[0-9.]+$/ && $NF != "total" { printf "%s %.1f\n", $NF, $4 / n }' "$WORK/strace.$run" | sort -k2 -g -r | head -"${SYSCALLS_TOP:-8}" | paste -sd, -)
    echo "run $run: $rate files/s; $per syscalls/file ($top)"
    rates+=("$rate")
    calls+=("$per")
done
med() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo "median: $(med "${rates[@]}") files/s, $(med "${calls[@]}") syscalls/file ($FILES files of 4 KiB, pure-ftpd on loopback)"
