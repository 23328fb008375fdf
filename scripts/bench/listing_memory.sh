#!/usr/bin/env bash
# listing_memory.sh — what a very large directory costs ftpfs in memory: the bytes per
# entry of a cached listing, measured on a 1 000 000-entry directory (BENCHMARKS.md row
# "listing memory per entry").
#
#   scripts/bench/listing_memory.sh             build release, run MLSD and LIST, print rows
#   scripts/bench/listing_memory.sh --no-build  use $FTPFS_BIN (default target/release/ftpfs)
#
# Environment: BENCH_DIR_ENTRIES (1000000), FTPFS_BIN, BENCH_FORMATS ("mlsd list").
#
# How: scripts/bench/bigdir_ftpd.py serves /big with N synthetic entries (generated while
# sent: no files on disk, the server stays small). For each listing format, a fresh
# `ftpfs -f` mount (dir_cache_ttl=3600, so the listing stays cached; dir_max_entries=N) is
# measured: VmRSS of the mount process after mounting (baseline), then `ls -f MNT/big | wc -l`
# (one listing, readdir of every entry), then VmRSS again (the listing is cached and the
# directory closed: what stays) and VmHWM (the peak while listing and reading it). The rows
# give (RSS after - baseline) / N and (HWM - baseline) / N, in bytes per entry, names of 19
# bytes included, and the time of the `ls`. A second `ls -f` must be served from the cache:
# its time is shown too. Everything stays on 127.0.0.1; the script stops what it started (by
# PID) and unmounts its mount on exit.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
export LC_ALL=C
BUILD=1
for a in "$@"; do
    case "$a" in
        --no-build) BUILD=0 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "listing_memory: unknown argument $a" >&2
            exit 2
            ;;
    esac
done
N=${BENCH_DIR_ENTRIES:-1000000}
FORMATS=${BENCH_FORMATS:-mlsd list}
BIN=${FTPFS_BIN:-$REPO/target/release/ftpfs}
PY=/usr/bin/python3
if [ "$BUILD" = 1 ]; then
    cargo build --release --quiet
fi
[ -x "$BIN" ] || { echo "listing_memory: no $BIN" >&2; exit 1; }

WORK=$(mktemp -d)
SRV_PID="" FTPFS_PID="" MNT=""
cleanup() {
    if [ -n "$MNT" ] && grep -q " $MNT " /proc/self/mountinfo 2>/dev/null; then
        fusermount3 -u -z "$MNT" 2>/dev/null || true
    fi
    [ -n "$FTPFS_PID" ] && kill "$FTPFS_PID" 2>/dev/null || true
    [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
per_entry() { awk -v a="$1" -v b="$2" -v n="$N" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }'; }
port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

printf '| format | entries | ls -f (s) | ls -f again (s) | RSS kept (B/entry) | peak (B/entry) | RSS kept (MiB) | peak (MiB) |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for fmt in $FORMATS; do
    extra=()
    [ "$fmt" = list ] && extra=(--no-mlsd)
    "$PY" "$REPO/scripts/bench/bigdir_ftpd.py" --port "$port" --entries "$N" "${extra[@]}" \
        >"$WORK/server-$fmt.log" 2>&1 &
    SRV_PID=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.05
    done
    MNT=$WORK/mnt-$fmt
    mkdir -p "$MNT"
    FTPFS_PASSWORD=bench "$BIN" -f "ftp://bench@127.0.0.1:$port/" "$MNT" \
        -o dir_cache_ttl=3600 -o "dir_max_entries=$N" 2>"$WORK/ftpfs-$fmt.log" &
    FTPFS_PID=$!
    for _ in $(seq 300); do
        grep -q " $MNT " /proc/self/mountinfo && break
        sleep 0.05
    done
    grep -q " $MNT " /proc/self/mountinfo || { cat "$WORK/ftpfs-$fmt.log" >&2; exit 1; }
    base=$(kb "$FTPFS_PID" VmRSS)
    t0=$EPOCHREALTIME
    got=$(ls -f "$MNT/big" | wc -l)
    t1=$EPOCHREALTIME
    ls -f "$MNT/big" >/dev/null
    t2=$EPOCHREALTIME
    rss=$(kb "$FTPFS_PID" VmRSS)
    hwm=$(kb "$FTPFS_PID" VmHWM)
    if [ "$got" -ne $((N + 2)) ]; then
        echo "listing_memory: $fmt: ls showed $got entries, not $((N + 2))" >&2
        tail -20 "$WORK/ftpfs-$fmt.log" >&2
        exit 1
    fi
    printf '| %s | %d | %.2f | %.2f | %s | %s | %.0f | %.0f |\n' "$fmt" "$N" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
        "$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')" \
        "$(per_entry "$rss" "$base")" "$(per_entry "$hwm" "$base")" \
        "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$(awk -v k="$hwm" 'BEGIN { print k / 1024 }')"
    fusermount3 -u "$MNT"
    wait "$FTPFS_PID" || true
    FTPFS_PID=""
    kill "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
    SRV_PID=""
done
