#!/usr/bin/env bash
# bigdir.sh — a directory of N entries (default 100 000): how long ftpfs takes to list it
# cold, next to curl fetching the same MLSD and LIST, and what the daemon's memory grows by
# per entry.
#
#   scripts/bench/bigdir.sh [BIN]    # BIN defaults to target/release/ftpfs (not built here)
#
# Starts a private pure-ftpd on 127.0.0.1 (root on tmpfs, the recipe of scripts/bench.sh;
# -L lifts its listing cap), creates N empty files in big/, then for each of RUNS (default 3):
#   * curl -X MLSD and curl (LIST) of big/ to /dev/null: one login, one listing;
#   * a fresh ftpfs mount (-f -v, defaults): `ls -f big | wc -l` cold (timed; the mount lists
#     with MLSD on pure-ftpd; the daemon logs how long its listing took — MLSD over the pool,
#     parse, names — which is the part comparable with curl), VmRSS before and after, then `ls -l big` (readdirplus gives
#     every entry an inode) and VmRSS again, then the same `ls -f` warm (timed).
# Prints one line per run and the medians, with ftpfs/curl-MLSD and bytes per entry.
# Run as root.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${1:-$REPO/target/release/ftpfs}
N=${N:-100000}
RUNS=${RUNS:-3}
# shellcheck source=scripts/bench/pureftpd.sh
. "$REPO/scripts/bench/pureftpd.sh"

[ "$(id -u)" = 0 ] || { echo "bigdir.sh: run as root" >&2; exit 1; }
[ -x "$BIN" ] || { echo "bigdir.sh: $BIN missing (cargo build --release)" >&2; exit 1; }

WORK=$(mktemp -d /dev/shm/ftpfs-bigdir.XXXXXX)
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
mkdir -p "$ROOT/big" "$MNT"
"$PY" - "$ROOT/big" "$N" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    os.close(os.open(os.path.join(d, "file-%06d.dat" % i), os.O_CREAT | os.O_WRONLY, 0o644))
EOF
chown -R "$FTP_USER:$FTP_USER" "$ROOT"
pure_userdb "$ROOT" "$WORK/pdb"
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
setsid "$PUREFTPD" -S "127.0.0.1,$PORT" -l "puredb:$WORK/pdb" -E -A -H -D -4 -c 64 -C 64 -I 15 \
    -L "$((N * 2)):5" -P 127.0.0.1 -U 022:022 -f none </dev/null >"$WORK/pure.out" 2>&1 &
PGID=$!
for _ in $(seq 100); do
    "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1)' "$PORT" 2>/dev/null && break
    sleep 0.1
done
URL="ftp://$FTP_USER:$FTP_PASS@127.0.0.1:$PORT/big/"

mount_it() {
    FTPFS_PASSWORD=$FTP_PASS "$BIN" -f -v "ftp://$FTP_USER@127.0.0.1:$PORT/" "$MNT" 2>"$WORK/ftpfs.log" &
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
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$FPID/status"; }
secs() { # CMD...: prints the seconds it took
    local t0=$EPOCHREALTIME
    "$@" >/dev/null
    awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'
}
count() { # expected entry count of `ls -f` (with . and ..)
    local got
    got=$(ls -f "$MNT/big" | wc -l)
    [ "$got" = $((N + 2)) ] || { echo "bigdir.sh: ls -f gave $got lines, not $((N + 2))" >&2; exit 1; }
}

c_mlsd=() c_list=() f_list=() f_cold=() f_warm=() f_ll=() per_ls=() per_ll=()
for run in $(seq "$RUNS"); do
    lines=$(curl -s -X MLSD "$URL" | wc -l)
    [ "$lines" -ge "$N" ] || { echo "bigdir.sh: curl MLSD gave $lines lines" >&2; exit 1; }
    cm=$(secs curl -s -X MLSD "$URL" -o /dev/null)
    cl=$(secs curl -s "$URL" -o /dev/null)
    mount_it
    sleep 0.5 # let the prewarmed logins finish
    r0=$(rss_kb)
    cold=$(secs count)
    r1=$(rss_kb)
    ls -l "$MNT/big" >/dev/null
    r2=$(rss_kb)
    warm=$(secs count)
    umount_it
    # `ls -l` on a fresh mount: every entry's attributes (readdirplus, or LOOKUPs).
    mount_it
    sleep 0.5
    llc=$(secs ls -l "$MNT/big")
    umount_it
    # The daemon's own time for the listing (MLSD over the pool + parse), from its log.
    fl=$(awk '/listed \/big: / { for (i = 1; i <= NF; i++) if ($(i + 1) == "ms") print $i / 1000 }' "$WORK/ftpfs.log" | head -n 1)
    pl=$(awk -v a="$r0" -v b="$r1" -v n="$N" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
    pll=$(awk -v a="$r0" -v b="$r2" -v n="$N" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
    echo "run $run: curl MLSD ${cm}s, curl LIST ${cl}s; ftpfs listing ${fl}s, ls -f cold ${cold}s, warm ${warm}s, ls -l cold ${llc}s;" \
        "RSS ${r0} kB -> ${r1} kB after ls -f (${pl} B/entry) -> ${r2} kB after ls -l (${pll} B/entry)"
    c_mlsd+=("$cm") c_list+=("$cl") f_list+=("$fl") f_cold+=("$cold") f_warm+=("$warm") f_ll+=("$llc") per_ls+=("$pl") per_ll+=("$pll")
done
med() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
m_cm=$(med "${c_mlsd[@]}")
m_cold=$(med "${f_cold[@]}")
m_list=$(med "${f_list[@]}")
echo "median ($N entries, pure-ftpd on loopback): curl MLSD ${m_cm}s, curl LIST $(med "${c_list[@]}")s;" \
    "ftpfs's listing ${m_list}s ($(awk -v a="$m_list" -v b="$m_cm" 'BEGIN { printf "%.2f", a / b }')× curl MLSD)," \
    "ftpfs ls -f cold ${m_cold}s ($(awk -v a="$m_cold" -v b="$m_cm" 'BEGIN { printf "%.2f", a / b }')× curl MLSD)," \
    "warm $(med "${f_warm[@]}")s, ls -l cold $(med "${f_ll[@]}")s; memory $(med "${per_ls[@]}") B/entry listed, $(med "${per_ll[@]}") B/entry after ls -l"
