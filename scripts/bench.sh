#!/usr/bin/env bash
# bench.sh — throughput, latency, command-count and memory benchmark of ftpfs against
# curl and `rclone mount`, on one machine (as root, Debian 12, after scripts/setup.sh,
# which this script runs first).
#
#   scripts/bench.sh            run everything, print the tables (≈ 4–5 min)
#   scripts/bench.sh --write    also (re)write BENCHMARKS.md with the tables, the date
#                               and machine facts (the "Notes" section between the
#                               <!-- BEGIN NOTES --> / <!-- END NOTES --> markers of an
#                               existing BENCHMARKS.md is kept)
#   BENCH_QUICK=1 scripts/bench.sh   1 repetition and smaller sizes (≈ 1–1.5 min)
#   --no-setup                  skip scripts/setup.sh (it is idempotent, but takes a few s)
#   --no-build                  use target/release/ftpfs as it is
#
# What it does (all traffic stays on 127.0.0.1 or inside the lab's network namespaces):
#   * Builds ftpfs (`cargo build --release`, retried while a concurrent edit breaks it).
#   * Starts a private pure-ftpd (same recipe as tests/common/servers.rs: puredb user
#     ftpfs-test / ftpfs-test-pw, chroot, PASV on 127.0.0.1) serving a root on tmpfs
#     (/dev/shm), so that dropping caches empties the client's page cache but the server
#     never waits for a disk. In front of it runs scripts/bench/ftpcount.py, a counting
#     proxy for the control connection: every client (ftpfs, curl, rclone) connects
#     through it, and the FTP commands of a workload are the proxy log lines written
#     during it. Data connections go straight to pure-ftpd.
#   * Workloads (medians of BENCH_REPS=3 runs; each ftpfs/rclone run is a fresh mount):
#      1  cold sequential read of a 1 GiB file: `cat f >/dev/null` after a fresh mount and
#         `echo 3 >/proc/sys/vm/drop_caches`, vs `curl -o /dev/null ftp://…`
#      2  sequential write of 256 MiB: `cp` from tmpfs into the mount, timed until cp
#         returns, vs `curl -T`; also the time until the server's 226 for the STOR (from
#         the proxy log), which matters for rclone --vfs-cache-mode writes (its close()
#         returns before the upload)
#      3  second read of the same file in the same mount (page cache): MB/s and commands
#      4  tree walk, 100 dirs × 100 files: `find MNT/tree -ls >/dev/null` cold (fresh
#         mount) and warm (right after, within dir_cache_ttl=10 s). curl's row is one curl
#         process listing the 101 directories on one connection (a protocol lower bound;
#         curl does not walk trees)
#      5  lab `wan` scenario (tests/lab/netlab.sh --id 47, 20 ms each way, pyftpdlib, whose
#         DEBUG log gives the command counts): 100 files of 4 KiB read one after another
#         (`cat` each, timed from a fresh mount, so the first listing is included; curl:
#         one process with 100 URLs on one connection), then with 8 readers (xargs -P8;
#         curl: 8 processes), ftpfs with its default -o connections and with another value
#         (4 if the default is 8, else 8); a 64 MiB file read. The lab id must not be one
#         the tests use (tests/netlab/scenarios.rs: 59 and up), or a test run tears the
#         bench's lab down (the script notices and stops)
#      6  peak RSS (VmHWM from /proc/PID/status) of the ftpfs process while a 1 GiB read
#         and a 256 MiB write run at the same time (rclone measured the same way)
#      7  memory (scripts/bench/memory.sh, its own pure-ftpd servers): peak RSS (VmHWM) and
#         RSS after a pause (VmRSS 60 s after the burst; BENCH_QUICK: 10 s) for a 1 GiB read
#         + 256 MiB write at once (plain and FTPS), 16 parallel readers of 64 MiB, 8 parallel
#         writers, a 2 GiB sparse file written at random offsets, find + cat over 10 000 small
#         files, and the throughput of the 1 GiB read and the 256 MiB write alone; with
#         BENCH_MEMORY_BASE=PATH (another build of ftpfs, e.g. main's) both builds, their runs
#         alternating
#      1s, 2s  FTPS on loopback: the 1 GiB cold read and the 256 MiB write against a second
#         pure-ftpd that requires TLS on control and data connections (-Y 3, a throwaway
#         self-signed certificate made with openssl; ftpfs pins it with tls_fingerprint, curl
#         runs with --ssl-reqd -k), ftpes:// vs `curl --ssl-reqd`, no proxy (TLS hides the
#         commands)
#      5st, 5pt  the small-file rows of 5 over FTPS: the lab's pyftpdlib restarted with
#         --tls-cert (explicit TLS required), ftpfs ftpes:// only (curl 7.88 starts TLS on
#         a data connection before its RETR, which pyftpdlib resets); RTTs per file as in 5s
#     Every ftpfs mount's VmHWM is recorded; the table shows the largest per workload.
#   * rclone: configured by environment variables (remote "b:"), `rclone mount` in the
#     foreground in the background, --vfs-cache-mode off everywhere, plus a second write
#     run with --vfs-cache-mode writes --vfs-write-back 0s (writes that are not strictly
#     sequential need it; cp's are sequential, so `off` streams them). Everything else is
#     rclone's default (buffer 16 MiB, dir cache 5 min, attr timeout 1 s).
#   * ftpfs runs with -f (foreground) in the background, so the PID whose VmHWM is read
#     is the mount process itself; otherwise default options (dir_cache_ttl=10, the
#     default -o connections, read from `ftpfs --help`) unless a row says otherwise.
#   * A measured command that fails or hangs (BENCH_RUN_LIMIT s, default 300) is recorded
#     as FAIL, left out of the median and listed under the tables; the run goes on.
#
# Environment: BENCH_QUICK=1; BENCH_REPS; sizes BENCH_READ_MB (1024), BENCH_WRITE_MB
# (256), BENCH_TREE_DIRS (100), BENCH_TREE_FILES (100), BENCH_WAN_FILES (100),
# BENCH_WAN_BIG_MB (64), BENCH_WAN_DELAY (20, ms each way); BENCH_LAB_ID (47);
# BENCH_ALT_CONNECTIONS (row 5p′); BENCH_RUN_LIMIT (300 s per measured command);
# BENCH_MEMORY_BASE (section 7); BENCH_NO_MEMORY=1 skips section 7.
# Raw material of the last run (proxy log, ftpfs/rclone/server logs, results.tsv) is
# copied to target/bench/last/.
#
# Cleans up on exit, also on Ctrl-C: unmounts its mounts, stops the processes it
# started (by PID), takes its lab down, removes its tmpfs directory.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
if ! command -v cargo >/dev/null 2>&1 && [ -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
    export PATH="${HOME:-/root}/.cargo/bin:$PATH"
fi
export LC_ALL=C

WRITE=0 SETUP=1 BUILD=1
for a in "$@"; do
    case "$a" in
        --write) WRITE=1 ;;
        --no-setup) SETUP=0 ;;
        --no-build) BUILD=0 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "bench: unknown argument $a (see --help)" >&2
            exit 2
            ;;
    esac
done

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
    d_reps=1 d_read=256 d_write=64 d_dirs=20 d_files=50 d_wanfiles=30 d_wanbig=16
else
    d_reps=3 d_read=1024 d_write=256 d_dirs=100 d_files=100 d_wanfiles=100 d_wanbig=64
fi
REPS=${BENCH_REPS:-$d_reps}
READ_MB=${BENCH_READ_MB:-$d_read}
WRITE_MB=${BENCH_WRITE_MB:-$d_write}
TREE_DIRS=${BENCH_TREE_DIRS:-$d_dirs}
TREE_FILES=${BENCH_TREE_FILES:-$d_files}
WAN_FILES=${BENCH_WAN_FILES:-$d_wanfiles}
WAN_BIG_MB=${BENCH_WAN_BIG_MB:-$d_wanbig}
WAN_DELAY=${BENCH_WAN_DELAY:-20}
LAB_ID=${BENCH_LAB_ID:-47}
READ_BYTES=$((READ_MB * 1048576))
WRITE_BYTES=$((WRITE_MB * 1048576))
WAN_BIG_BYTES=$((WAN_BIG_MB * 1048576))
TREE_ENTRIES=$((TREE_DIRS * TREE_FILES + TREE_DIRS))

# shellcheck source=scripts/bench/pureftpd.sh
. "$REPO/scripts/bench/pureftpd.sh"
NETLAB=$REPO/tests/lab/netlab.sh
BIN=$REPO/target/release/ftpfs
START_TS=$(date +%s)
START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

say() { echo "bench: $*" >&2; }
die() {
    echo "bench: ERROR: $*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || die "must run as root (servers chroot, drop_caches, network namespaces)"

# ------------------------------------------------------------------ cleanup
WORK=""
LAB_UP=0
declare -A MOUNT_PID=() # mountpoint -> pid of the process serving it
BG_PIDS=()              # other processes started here (proxy)
PF_PGID=""
TF_PGID=""

unmount_one() { # MNT PID: unmount, wait for the process, kill it (by PID) if it lingers
    local mnt=$1 pid=$2 i
    if awk -v m="$mnt" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; then
        for i in 1 2 3 4 5; do
            fusermount3 -u "$mnt" 2>/dev/null && break
            sleep 0.5
        done
        awk -v m="$mnt" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts &&
            fusermount3 -uz "$mnt" 2>/dev/null || true
    fi
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        sleep 0.5
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? m p
    trap - EXIT INT TERM
    set +e
    for m in "${!MOUNT_PID[@]}"; do
        unmount_one "$m" "${MOUNT_PID[$m]}"
    done
    if [ "$LAB_UP" = 1 ]; then
        "$NETLAB" --id "$LAB_ID" down >/dev/null 2>&1
    fi
    for p in "${BG_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    for p in "$PF_PGID" "$TF_PGID"; do
        [ -n "$p" ] || continue
        # pure-ftpd: its master and its sessions share the process group we gave it
        kill -KILL -- "-$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        # sessions that left the group would be chrooted into our root: find them by it
        for p in /proc/[0-9]*; do
            case "$(readlink "$p/root" 2>/dev/null)" in "$WORK"/*) kill -KILL "${p#/proc/}" 2>/dev/null ;; esac
        done
        mkdir -p "$REPO/target/bench/last"
        rm -rf "$REPO/target/bench/last"/*
        cp -r "$WORK/logs/." "$REPO/target/bench/last/" 2>/dev/null
        rm -rf "$WORK"
    fi
    [ "$rc" = 0 ] || say "exit status $rc (logs of this run: target/bench/last/)"
    exit "$rc"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM

# ------------------------------------------------------------------ helpers
now() { echo "$EPOCHREALTIME"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a - b }'; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.1f", b / s / 1e6; else print "n/a" }'; }
median() { # numbers... -> median (n/a if none)
    printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g |
        awk '{ a[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.6g\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# speed factor of ftpfs against another client: >1 = ftpfs faster.
# ratio_hi A B: values where higher is better (MB/s); ratio_lo A B: lower is better (s)
ratio_hi() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2f", a / b; else print "–" }'; }
ratio_lo() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2f", b / a; else print "–" }'; }
f1() { awk -v a="$1" 'BEGIN { if (a ~ /^[0-9.]+$/) printf "%.1f", a; else print a }'; }
f2() { awk -v a="$1" 'BEGIN { if (a ~ /^[0-9.]+$/) printf "%.2f", a; else print a }'; }
f3() { awk -v a="$1" 'BEGIN { if (a ~ /^[0-9.]+$/) printf "%.3f", a; else print a }'; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
drop_caches() {
    sync
    echo 3 >/proc/sys/vm/drop_caches
}
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
kb_mib() { awk -v k="$1" 'BEGIN { if (k+0 > 0) printf "%.0f", k / 1024; else print "–" }'; }
is_mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; }

declare -A R=() # results: key -> value
RESULTS_TSV=""
put() { # KEY VALUE
    R[$1]=$2
    printf '%s\t%s\n' "$1" "$2" >>"$RESULTS_TSV"
}
get() { echo "${R[$1]:-–}"; }
# put_runs KEY BYTES RUN...: KEY.all = the runs, KEY.s = their median (failed runs left
# out), KEY.mbps when BYTES > 0
put_runs() {
    local key=$1 bytes=$2
    shift 2
    put "$key.all" "$*"
    put "$key.s" "$(median "$@")"
    [ "$bytes" = 0 ] || put "$key.mbps" "$(mbps "$bytes" "$(get "$key.s")")"
}

# --- measured commands: never abort the run; a failure or a hang (RUN_LIMIT s) is
# recorded as FAIL and listed under the table.
RUN_LIMIT=${BENCH_RUN_LIMIT:-300}
FAILS=()
ELAPSED=""
fail() {
    FAILS+=("$1")
    say "  FAILED: $1"
}
timed() { # LABEL CMD...: ELAPSED = seconds, or FAIL
    local label=$1 t0 t1 rc=0
    shift
    t0=$(now)
    timeout --foreground -k 5 "$RUN_LIMIT" "$@" || rc=$?
    t1=$(now)
    if [ "$rc" = 0 ]; then
        ELAPSED=$(sub "$t1" "$t0")
    else
        ELAPSED=FAIL
        if [ "$rc" = 124 ]; then fail "$label: still running after ${RUN_LIMIT} s, killed"; else fail "$label: exit status $rc"; fi
    fi
}

# --- FTP command counts. Two sources: the loopback proxy log ("ts conn C VERB") and
# the lab's pyftpdlib DEBUG log ("[time] ip:port-[user] <- VERB args").
CMDLOG=""
LABLOG=""
log_of() { if [ "$1" = lab ]; then echo "$LABLOG"; else echo "$CMDLOG"; fi; }
cmark() { wc -l <"$(log_of "$1")"; }
verbs_since() { # SRC FROM -> one verb per line
    local src=$1 from=$2
    if [ "$src" = lab ]; then
        tail -n +"$((from + 1))" "$LABLOG" |
            awk '{ for (i = 1; i < NF; i++) if ($i == "<-") { print toupper($(i + 1)); break } }'
    else
        tail -n +"$((from + 1))" "$CMDLOG" | awk '$3 == "C" { print $4 }'
    fi
}
ncmds() { verbs_since "$1" "$2" | wc -l; }
# cmd_record KEY SRC FROM: KEY.cmds = summary of this run, KEY.ncmds = its total,
# KEY.nall = the totals of all runs ("a / b / c")
cmd_record() {
    local n
    n=$(ncmds "$2" "$3")
    put "$1.cmds" "$(cmd_summary "$2" "$3")"
    put "$1.ncmds" "$n"
    put "$1.nall" "${R[$1.nall]:+${R[$1.nall]} / }$n"
}
cmds_cell() { # KEY: the last run's summary, plus every run's total when they differ
    local s=${R[$1.cmds]:-–} all=${R[$1.nall]:-}
    if [ -n "$all" ] && [ "$(tr '/' '\n' <<<"$all" | tr -d ' ' | sort -u | wc -l)" -gt 1 ]; then
        s="$s — totals per run: $all"
    fi
    echo "$s"
}
cmd_summary() { # SRC FROM -> "N (VERB n, …) [L logins]", the 6 most frequent verbs
    verbs_since "$1" "$2" | sort | uniq -c | sort -k1,1nr -k2 |
        awk '{ t += $1; if ($2 == "USER") u = $1; if (NR <= 6) s = s (s ? ", " : "") $2 " " $1; else more = 1 }
             END { if (t == 0) print "0"; else printf "%d (%s%s)%s\n", t, s, more ? ", …" : "", u ? " [" u " login" (u > 1 ? "s" : "") "]" : "" }'
}
# Wait until every STOR/APPE sent through the proxy since FROM got its final reply and
# the server file has SIZE bytes; print the time of the last such reply (or "n/a").
wait_upload_done() { # FROM FILE SIZE TIMEOUT_S
    local from=$1 file=$2 size=$3 limit=$4 i sent done_
    for ((i = 0; i < limit * 10; i++)); do
        sent=$(tail -n +"$((from + 1))" "$CMDLOG" | awk '$3 == "C" && ($4 == "STOR" || $4 == "APPE")' | wc -l)
        done_=$(tail -n +"$((from + 1))" "$CMDLOG" | awk '$3 == "R" && ($5 == "STOR" || $5 == "APPE")' | wc -l)
        if [ "$sent" -gt 0 ] && [ "$sent" = "$done_" ] && [ "$(stat -c %s "$file" 2>/dev/null || echo -1)" = "$size" ]; then
            tail -n +"$((from + 1))" "$CMDLOG" | awk '$3 == "R" && ($5 == "STOR" || $5 == "APPE") { t = $1 } END { print t }'
            return 0
        fi
        sleep 0.1
    done
    echo "n/a"
}

# --- mounts. Each returns after the mount shows up in /proc/self/mounts; the PID of the
# serving process is in LAST_PID.
LAST_PID=""
MOUNT_SEQ=0
wait_mount() { # MNT PID NAME LOGFILE
    local i
    for i in $(seq 400); do
        is_mounted "$1" && return 0
        if ! kill -0 "$2" 2>/dev/null; then
            tail -n 20 "$4" >&2
            die "$3 exited before mounting $1 (log: $4)"
        fi
        sleep 0.05
    done
    tail -n 20 "$4" >&2
    die "$3 did not mount $1 within 20 s"
}
new_mnt() { # [BASE]: a fresh empty mountpoint in $mnt (not in $(...): it counts mounts)
    MOUNT_SEQ=$((MOUNT_SEQ + 1))
    mnt=${1:-$WORK/mnt}/m$MOUNT_SEQ
    mkdir -p "$mnt"
}
# mount_ftpfs MNT WHERE(loop|lab) [-o OPTS]
mount_ftpfs() {
    local mnt=$1 where=$2
    shift 2
    local log=$WORK/logs/ftpfs-$MOUNT_SEQ.log
    if [ "$where" = lab ]; then
        FTPFS_PASSWORD=lab "$NETLAB" --id "$LAB_ID" exec -- "$BIN" -f "$@" \
            "ftp://lab@$LAB_HOST:21/" "$mnt" >"$log" 2>&1 </dev/null &
    elif [ "$where" = labtls ]; then
        FTPFS_PASSWORD=lab "$NETLAB" --id "$LAB_ID" exec -- "$BIN" -f -o "tls_fingerprint=$LAB_PIN" "$@" \
            "ftpes://lab@$LAB_HOST:21/" "$mnt" >"$log" 2>&1 </dev/null &
    elif [ "$where" = looptls ]; then
        FTPFS_PASSWORD=$FTP_PASS "$BIN" -f -o "tls_fingerprint=$TLS_PIN" "$@" \
            "ftpes://$FTP_USER@127.0.0.1:$TFPORT/" "$mnt" >"$log" 2>&1 </dev/null &
    else
        FTPFS_PASSWORD=$FTP_PASS "$BIN" -f "$@" "ftp://$FTP_USER@127.0.0.1:$PPORT/" "$mnt" \
            >"$log" 2>&1 </dev/null &
    fi
    LAST_PID=$!
    MOUNT_PID[$mnt]=$LAST_PID
    wait_mount "$mnt" "$LAST_PID" ftpfs "$log"
}
# mount_rclone MNT WHERE(loop|lab) CACHEMODE [extra rclone flags]
mount_rclone() {
    local mnt=$1 where=$2 mode=$3
    shift 3
    local log=$WORK/logs/rclone-$MOUNT_SEQ.log remote
    local flags=(--config "$WORK/rclone.conf" --vfs-cache-mode "$mode" --cache-dir "$WORK/rclone-cache"
        --log-file "$log" --log-level NOTICE "$@")
    if [ "$where" = lab ]; then
        remote=l:
        "$NETLAB" --id "$LAB_ID" exec -- rclone mount "$remote" "$mnt" "${flags[@]}" </dev/null >>"$log" 2>&1 &
    else
        remote=b:
        rclone mount "$remote" "$mnt" "${flags[@]}" </dev/null >>"$log" 2>&1 &
    fi
    LAST_PID=$!
    MOUNT_PID[$mnt]=$LAST_PID
    wait_mount "$mnt" "$LAST_PID" rclone "$log"
}
UM_HWM=0
umount_mnt() { # MNT: unmount; UM_HWM = the process's VmHWM (kB) read just before
    local m=$1 pid=${MOUNT_PID[$1]}
    UM_HWM=$(hwm_kb "$pid")
    UM_HWM=${UM_HWM:-0}
    unmount_one "$m" "$pid"
    unset "MOUNT_PID[$m]"
    rmdir "$m" 2>/dev/null || true
}
max_of() { printf '%s\n' "$@" | sort -g | tail -n 1; }

# ------------------------------------------------------------------ preparation
if [ "$SETUP" = 1 ]; then
    say "running scripts/setup.sh"
    bash scripts/setup.sh >/tmp/ftpfs-bench-setup.log 2>&1 ||
        {
            tail -n 20 /tmp/ftpfs-bench-setup.log >&2
            die "scripts/setup.sh failed (log: /tmp/ftpfs-bench-setup.log)"
        }
fi
for t in curl rclone fusermount3 nsenter "$PUREFTPD" "$PUREPW" "$PY"; do
    command -v "$t" >/dev/null 2>&1 || [ -x "$t" ] || die "$t missing: run scripts/setup.sh"
done
if [ "$BUILD" = 1 ]; then
    say "cargo build --release"
    ok=0
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        if cargo build --release >/tmp/ftpfs-bench-build.log 2>&1; then
            ok=1
            break
        fi
        say "build failed (attempt $attempt; maybe a concurrent edit), retrying in 30 s"
        sleep 30
    done
    [ "$ok" = 1 ] || {
        tail -n 30 /tmp/ftpfs-bench-build.log >&2
        die "cargo build --release keeps failing (log: /tmp/ftpfs-bench-build.log)"
    }
fi
[ -x "$BIN" ] || die "$BIN missing"
# ftpfs's default -o connections (from --help), and the other value tried in row 5p
DEF_CONN=$("$BIN" --help | sed -n 's/.*connections=N.*\[\([0-9]*\)\].*/\1/p' | head -n 1)
DEF_CONN=${DEF_CONN:-?}
if [ "$DEF_CONN" = 8 ]; then ALT_CONN=4; else ALT_CONN=8; fi
ALT_CONN=${BENCH_ALT_CONNECTIONS:-$ALT_CONN}
if ip netns list 2>/dev/null | grep -q "^ftplab$LAB_ID-"; then
    die "lab $LAB_ID is already up (someone else's?): set BENCH_LAB_ID to a free id 0-99"
fi

WORK=$(mktemp -d /dev/shm/ftpfs-bench.XXXXXX)
chmod 755 "$WORK"
mkdir -p "$WORK/logs" "$WORK/mnt" "$WORK/rclone-cache" "$WORK/src"
: >"$WORK/rclone.conf"
RESULTS_TSV=$WORK/logs/results.tsv
: >"$RESULTS_TSV"
ROOT=$WORK/root # pure-ftpd's FTP root (tmpfs)
mkdir -p "$ROOT"

say "creating test data in $WORK (tmpfs)"
head -c "$READ_BYTES" /dev/urandom >"$ROOT/big.bin"
head -c "$WRITE_BYTES" /dev/urandom >"$WORK/src/upload.bin"
"$PY" - "$ROOT/tree" "$TREE_DIRS" "$TREE_FILES" <<'EOF'
import os, sys
root, nd, nf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for d in range(nd):
    p = os.path.join(root, "d%03d" % d)
    os.makedirs(p)
    for f in range(nf):
        with open(os.path.join(p, "f%03d.txt" % f), "w") as fh:
            fh.write("file %d/%d\n" % (d, f))
EOF
mkdir -p "$ROOT/up"
chown -R "$FTP_USER:$FTP_USER" "$ROOT"

# ------------------------------------------------------------------ pure-ftpd + proxy
PFDIR=$WORK/pure-ftpd
mkdir -p "$PFDIR"
pure_userdb "$ROOT" "$PFDIR/pureftpd.pdb"
PFPORT=$(free_port)
NONCE="ftpfs-bench-$$-$PFPORT"
echo "$NONCE" >"$PFDIR/fortune"
setsid "$PUREFTPD" -S "127.0.0.1,$PFPORT" -l "puredb:$PFDIR/pureftpd.pdb" -E -A -H -D -4 \
    -c 64 -C 64 -I 15 -P 127.0.0.1 -U 022:022 -L 100000:64 -F "$PFDIR/fortune" \
    -g "$PFDIR/pure-ftpd.pid" -O "clf:$WORK/logs/pure-ftpd-transfer.log" -f none \
    </dev/null >"$WORK/logs/pure-ftpd.out" 2>&1 &
PF_PGID=$!
banner_ok=0
for i in $(seq 100); do
    if banner=$(timeout 2 "$PY" -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1])),1); print(s.recv(4096).decode("latin-1")); s.sendall(b"QUIT\r\n")' "$PFPORT" 2>/dev/null) &&
        [[ "$banner" == *"$NONCE"* ]]; then
        banner_ok=1
        break
    fi
    kill -0 "$PF_PGID" 2>/dev/null || break
    sleep 0.1
done
[ "$banner_ok" = 1 ] || {
    cat "$WORK/logs/pure-ftpd.out" >&2
    die "pure-ftpd did not start on 127.0.0.1:$PFPORT"
}
PPORT=$(free_port)
CMDLOG=$WORK/logs/ftp-commands.log
: >"$CMDLOG"
"$PY" "$REPO/scripts/bench/ftpcount.py" "$PPORT" 127.0.0.1 "$PFPORT" "$CMDLOG" >"$WORK/logs/proxy.out" 2>&1 &
BG_PIDS+=($!)
for i in $(seq 100); do
    grep -q ready "$WORK/logs/proxy.out" 2>/dev/null && break
    sleep 0.05
done
grep -q ready "$WORK/logs/proxy.out" || die "counting proxy did not start"
say "pure-ftpd on 127.0.0.1:$PFPORT, counting proxy on 127.0.0.1:$PPORT"

# the same root behind a second pure-ftpd that requires TLS (rows 1s, 2s)
TLSDIR=$WORK/tls
mkdir -p "$TLSDIR"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=ftpfs-bench \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$TLSDIR/key.pem" \
    -out "$TLSDIR/cert.pem" 2>"$WORK/logs/openssl.log" || die "openssl could not make a certificate"
cat "$TLSDIR/cert.pem" "$TLSDIR/key.pem" >"$TLSDIR/both.pem"
chmod 644 "$TLSDIR/both.pem"
TLS_PIN=sha256:$(openssl x509 -in "$TLSDIR/cert.pem" -outform der | sha256sum | cut -c1-64)
TFPORT=$(free_port)
setsid "$PUREFTPD" -S "127.0.0.1,$TFPORT" -l "puredb:$PFDIR/pureftpd.pdb" -E -A -H -D -4 \
    -c 64 -C 64 -I 15 -P 127.0.0.1 -U 022:022 -L 100000:64 -F "$PFDIR/fortune" \
    -Y 3 -2 "$TLSDIR/both.pem" -g "$PFDIR/pure-ftpd-tls.pid" -f none \
    </dev/null >"$WORK/logs/pure-ftpd-tls.out" 2>&1 &
TF_PGID=$!
for i in $(seq 100); do
    "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1)' "$TFPORT" 2>/dev/null && break
    sleep 0.1
done
TCURL=(curl -sS --fail --ssl-reqd -k -u "$FTP_USER:$FTP_PASS")
TCURL_URL=ftp://127.0.0.1:$TFPORT

export RCLONE_CONFIG_B_TYPE=ftp RCLONE_CONFIG_B_HOST=127.0.0.1 RCLONE_CONFIG_B_PORT=$PPORT
export RCLONE_CONFIG_B_USER=$FTP_USER
RCLONE_CONFIG_B_PASS=$(rclone obscure "$FTP_PASS")
export RCLONE_CONFIG_B_PASS
CURL_URL=ftp://127.0.0.1:$PPORT
CURL=(curl -sS --fail -u "$FTP_USER:$FTP_PASS")

# ================================================================== 1 + 3: reads
say "1/3: sequential read of $READ_MB MiB, cold then again (page cache); $REPS runs each"
for client in ftpfs rclone curl; do
    cold=() warm=() hwm=()
    for ((rep = 1; rep <= REPS; rep++)); do
        if [ "$client" = curl ]; then
            drop_caches
            m0=$(cmark loop)
            timed "1 cold read, curl, run $rep" "${CURL[@]}" -o /dev/null "$CURL_URL/big.bin"
            cold+=("$ELAPSED")
            cmd_record w1.curl loop "$m0"
            continue
        fi
        new_mnt
        if [ "$client" = ftpfs ]; then mount_ftpfs "$mnt" loop; else mount_rclone "$mnt" loop off; fi
        [ "$(stat -c %s "$mnt/big.bin")" = "$READ_BYTES" ] || die "$client: wrong size of big.bin"
        drop_caches
        m0=$(cmark loop)
        timed "1 cold read, $client, run $rep" cat "$mnt/big.bin" >/dev/null
        cold+=("$ELAPSED")
        cmd_record "w1.$client" loop "$m0"
        m0=$(cmark loop)
        timed "3 second read, $client, run $rep" cat "$mnt/big.bin" >/dev/null
        warm+=("$ELAPSED")
        cmd_record "w3.$client" loop "$m0"
        umount_mnt "$mnt"
        hwm+=("$UM_HWM")
    done
    put_runs "w1.$client" "$READ_BYTES" "${cold[@]}"
    if [ "$client" != curl ]; then
        put_runs "w3.$client" "$READ_BYTES" "${warm[@]}"
        put "w13.$client.hwm" "$(max_of "${hwm[@]}")"
    fi
    say "  $client: cold $(get "w1.$client.mbps") MB/s [${cold[*]} s]${warm:+, again $(get "w3.$client.mbps") MB/s [${warm[*]} s]}"
done

# ================================================================== 2: writes
say "2: sequential write of $WRITE_MB MiB (cp / curl -T); $REPS runs each"
for client in ftpfs rclone-off rclone-writes curl; do
    tclose=() t226=() hwm=()
    mnt=""
    case "$client" in
        ftpfs) new_mnt && mount_ftpfs "$mnt" loop ;;
        rclone-off) new_mnt && mount_rclone "$mnt" loop off ;;
        rclone-writes) new_mnt && mount_rclone "$mnt" loop writes --vfs-write-back 0s ;;
    esac
    for ((rep = 1; rep <= REPS; rep++)); do
        name=up/w-$client-$rep.bin
        drop_caches
        m0=$(cmark loop)
        t0=$(now)
        if [ "$client" = curl ]; then
            timed "2 write, curl, run $rep" "${CURL[@]}" -T "$WORK/src/upload.bin" "$CURL_URL/$name"
        else
            timed "2 write, $client, run $rep" cp "$WORK/src/upload.bin" "$mnt/$name"
        fi
        tclose+=("$ELAPSED")
        if [ "$ELAPSED" != FAIL ]; then
            tdone=$(wait_upload_done "$m0" "$ROOT/$name" "$WRITE_BYTES" 120)
            if [ "$tdone" = n/a ]; then
                fail "2 write, $client, run $rep: the upload did not complete (server file: $(stat -c %s "$ROOT/$name" 2>/dev/null || echo missing) bytes)"
                t226+=(FAIL)
            else
                t226+=("$(sub "$tdone" "$t0")")
                if [ "$rep" = 1 ] && ! cmp -s "$WORK/src/upload.bin" "$ROOT/$name"; then
                    fail "2 write, $client: the uploaded file differs from the source"
                fi
            fi
        fi
        cmd_record "w2.$client" loop "$m0"
        rm -f "$ROOT/$name"
    done
    if [ -n "$mnt" ]; then
        umount_mnt "$mnt"
        put "w2.$client.hwm" "$UM_HWM"
    fi
    put_runs "w2.$client" "$WRITE_BYTES" "${tclose[@]}"
    put_runs "w2.$client.to226" "$WRITE_BYTES" "${t226[@]}"
    say "  $client: $(get "w2.$client.mbps") MB/s until close [${tclose[*]} s], $(get "w2.$client.to226.mbps") MB/s until the 226 [${t226[*]} s]"
done

# ================================================================== 1s, 2s: FTPS on loopback
say "1s/2s: FTPS (pure-ftpd -Y 3): read of $READ_MB MiB, write of $WRITE_MB MiB; $REPS runs each"
for client in ftpfs curl; do
    rd=() wr=() hwm=()
    for ((rep = 1; rep <= REPS; rep++)); do
        name=up/t-$client-$rep.bin
        if [ "$client" = curl ]; then
            drop_caches
            timed "1s FTPS read, curl, run $rep" "${TCURL[@]}" -o /dev/null "$TCURL_URL/big.bin"
            rd+=("$ELAPSED")
            timed "2s FTPS write, curl, run $rep" "${TCURL[@]}" -T "$WORK/src/upload.bin" "$TCURL_URL/$name"
            wr+=("$ELAPSED")
        else
            new_mnt
            mount_ftpfs "$mnt" looptls
            drop_caches
            timed "1s FTPS read, ftpfs, run $rep" cat "$mnt/big.bin" >/dev/null
            rd+=("$ELAPSED")
            timed "2s FTPS write, ftpfs, run $rep" cp "$WORK/src/upload.bin" "$mnt/$name"
            wr+=("$ELAPSED")
            umount_mnt "$mnt"
            hwm+=("$UM_HWM")
        fi
        if [ "${wr[-1]}" != FAIL ] && ! cmp -s "$WORK/src/upload.bin" "$ROOT/$name"; then
            fail "2s FTPS write, $client, run $rep: the uploaded file differs from the source"
        fi
        rm -f "$ROOT/$name"
    done
    put_runs "w1s.$client" "$READ_BYTES" "${rd[@]}"
    put_runs "w2s.$client" "$WRITE_BYTES" "${wr[@]}"
    [ ${#hwm[@]} = 0 ] || put "w12s.$client.hwm" "$(max_of "${hwm[@]}")"
    say "  $client: read $(get "w1s.$client.mbps") MB/s [${rd[*]} s], write $(get "w2s.$client.mbps") MB/s [${wr[*]} s]"
done

# ================================================================== 4: tree walk
say "4: tree walk of $TREE_DIRS dirs x $TREE_FILES files (find -ls), cold and warm; $REPS runs each"
tree_urls=("$CURL_URL/tree/")
for ((d = 0; d < TREE_DIRS; d++)); do tree_urls+=("$(printf '%s/tree/d%03d/' "$CURL_URL" "$d")"); done
walk() { # LABEL MNT: timed find, checked entry count
    timed "$1" find "$2/tree" -ls >"$WORK/find.out"
    local n
    n=$(wc -l <"$WORK/find.out")
    if [ "$ELAPSED" != FAIL ] && [ "$n" != "$((TREE_ENTRIES + 1))" ]; then
        fail "$1: find listed $n entries, expected $((TREE_ENTRIES + 1))"
        ELAPSED=FAIL
    fi
}
for client in ftpfs rclone curl; do
    cold=() warm=() hwm=()
    for ((rep = 1; rep <= REPS; rep++)); do
        if [ "$client" = curl ]; then
            m0=$(cmark loop)
            timed "4 listings, curl, run $rep" "${CURL[@]}" "${tree_urls[@]}" >/dev/null
            cold+=("$ELAPSED")
            cmd_record w4c.curl loop "$m0"
            continue
        fi
        new_mnt
        if [ "$client" = ftpfs ]; then mount_ftpfs "$mnt" loop; else mount_rclone "$mnt" loop off; fi
        m0=$(cmark loop)
        walk "4 cold walk, $client, run $rep" "$mnt"
        cold+=("$ELAPSED")
        cmd_record "w4c.$client" loop "$m0"
        m0=$(cmark loop)
        walk "4 warm walk, $client, run $rep" "$mnt"
        warm+=("$ELAPSED")
        cmd_record "w4w.$client" loop "$m0"
        umount_mnt "$mnt"
        hwm+=("$UM_HWM")
    done
    put_runs "w4c.$client" 0 "${cold[@]}"
    if [ "$client" != curl ]; then
        put_runs "w4w.$client" 0 "${warm[@]}"
        put "w4.$client.hwm" "$(max_of "${hwm[@]}")"
    fi
    say "  $client: cold [${cold[*]} s]${warm:+, warm [${warm[*]} s]}"
done

# ================================================================== 6: peak RSS
say "6: peak RSS while reading $READ_MB MiB and writing $WRITE_MB MiB at once"
for client in ftpfs rclone; do
    new_mnt
    if [ "$client" = ftpfs ]; then mount_ftpfs "$mnt" loop; else mount_rclone "$mnt" loop off; fi
    put "w6.$client.idle" "$(hwm_kb "${MOUNT_PID[$mnt]}")"
    drop_caches
    m0=$(cmark loop)
    t0=$(now)
    timeout --foreground -k 5 "$RUN_LIMIT" cat "$mnt/big.bin" >/dev/null &
    rpid=$!
    timeout --foreground -k 5 "$RUN_LIMIT" cp "$WORK/src/upload.bin" "$mnt/up/rss-$client.bin" &
    wpid=$!
    rc=0
    wait "$rpid" || rc=$?
    tr_=$(now)
    if [ "$rc" = 0 ]; then put "w6.$client.read_s" "$(sub "$tr_" "$t0")"; else fail "6 concurrent read, $client: exit status $rc"; fi
    rc=0
    wait "$wpid" || rc=$?
    tw_=$(now)
    if [ "$rc" = 0 ]; then put "w6.$client.write_s" "$(sub "$tw_" "$t0")"; else fail "6 concurrent write, $client: exit status $rc"; fi
    cmd_record "w6.$client" loop "$m0"
    umount_mnt "$mnt"
    put "w6.$client.hwm" "$UM_HWM"
    rm -f "$ROOT/up/rss-$client.bin"
    say "  $client: VmHWM $(kb_mib "$(get "w6.$client.hwm")") MiB (idle mount $(kb_mib "$(get "w6.$client.idle")") MiB); read $(f2 "$(get "w6.$client.read_s")") s, write $(f2 "$(get "w6.$client.write_s")") s"
done

# ================================================================== 7: memory
MEMT="$WORK/memory.md"
: >"$MEMT"
if [ "${BENCH_NO_MEMORY:-0}" != 1 ]; then
    say "7: memory under load (scripts/bench/memory.sh; ~$([ "$QUICK" = 1 ] && echo 2 || echo 8) min)"
    mem_bins=()
    [ -z "${BENCH_MEMORY_BASE:-}" ] || mem_bins+=("base=$BENCH_MEMORY_BASE")
    mem_bins+=("ftpfs=$BIN")
    MEM_QUICK=$QUICK MEM_REPS=$REPS MEM_OUT="$WORK/logs/memory.tsv" FTPFS_SERVERS_DIR=$SERVERS_DIR \
        timeout --foreground -k 10 3600 "$REPO/scripts/bench/memory.sh" "${mem_bins[@]}" \
        >"$MEMT" 2>"$WORK/logs/memory.log" ||
        fail "7 memory: scripts/bench/memory.sh failed (log: target/bench/last/memory.log)"
fi

# ================================================================== 5: WAN lab
say "5: lab $LAB_ID, scenario wan (${WAN_DELAY} ms each way), pyftpdlib"
LABROOT=$WORK/labroot
mkdir -p "$LABROOT/small"
for ((k = 0; k < WAN_FILES; k++)); do head -c 4096 /dev/urandom >"$LABROOT/small/$(printf 'f%03d.bin' "$k")"; done
head -c "$WAN_BIG_BYTES" /dev/urandom >"$LABROOT/big.bin"
LAB_UP=1
"$NETLAB" --id "$LAB_ID" up --scenario wan --delay "$WAN_DELAY" --root "$LABROOT" --quiet >"$WORK/logs/netlab-up.log" 2>&1 ||
    {
        cat "$WORK/logs/netlab-up.log" >&2
        die "netlab up failed"
    }
eval "$("$NETLAB" --id "$LAB_ID" env)"
LAB_HOST=$FTPLAB_HOST
LAB_RUN=${NETLAB_RUN:-/tmp/netlab}/lab$LAB_ID
LABLOG=$LAB_RUN/pyftpdlib.log
LAB_MNT=$FTPLAB_MNT_DIR # netlab down unmounts anything left there
LEXEC=("$NETLAB" --id "$LAB_ID" exec --)
lab_check() { # the lab can be torn down under us by anyone using the same id
    [ -f "$LAB_RUN/state.env" ] && [ -e "/run/netns/ftplab$LAB_ID-srv" ] &&
        grep -q "root=$LABROOT" "$LABLOG" 2>/dev/null ||
        die "lab $LAB_ID disappeared or was rebuilt by someone else during the run (a test using the same id?): rerun with BENCH_LAB_ID=<free id>"
}
RTT_MS=$("${LEXEC[@]}" ping -c 5 -i 0.2 -q "$LAB_HOST" | awk -F/ '/^rtt|^round-trip/ { printf "%.1f", $5 }')
put "w5.rtt_ms" "$RTT_MS"
say "  measured RTT ${RTT_MS} ms"
export RCLONE_CONFIG_L_TYPE=ftp RCLONE_CONFIG_L_HOST=$LAB_HOST RCLONE_CONFIG_L_PORT=21 RCLONE_CONFIG_L_USER=lab
RCLONE_CONFIG_L_PASS=$(rclone obscure lab)
export RCLONE_CONFIG_L_PASS
LCURL=(curl -sS --fail -u lab:lab)
small_names=()
for ((k = 0; k < WAN_FILES; k++)); do small_names+=("$(printf 'f%03d.bin' "$k")"); done
small_urls=()
for nm in "${small_names[@]}"; do small_urls+=("ftp://$LAB_HOST:21/small/$nm"); done
per_proc=$(((WAN_FILES + 7) / 8))

# one run of a small-file workload: ELAPSED = seconds or FAIL. MODE seq|par
small_run() { # CLIENT MODE MNT LABEL
    local client=$1 mode=$2 mnt=$3 label=$4 t0 t1 nm rc=0
    local to=(timeout --foreground -k 5 "$RUN_LIMIT")
    t0=$(now)
    if [ "$client" = curl ]; then
        if [ "$mode" = seq ]; then
            "${to[@]}" "${LEXEC[@]}" "${LCURL[@]}" "${small_urls[@]}" >/dev/null || rc=$?
        else
            printf '%s\n' "${small_urls[@]}" | "${to[@]}" "${LEXEC[@]}" xargs -P8 -n "$per_proc" "${LCURL[@]}" >/dev/null || rc=$?
        fi
    elif [ "$mode" = seq ]; then
        for nm in "${small_names[@]}"; do
            timeout --foreground -k 5 60 cat "$mnt/small/$nm" >/dev/null || rc=$?
        done
    else
        printf '%s\n' "${small_names[@]}" | (cd "$mnt/small" && "${to[@]}" xargs -P8 -n 1 cat) >/dev/null || rc=$?
    fi
    t1=$(now)
    if [ "$rc" = 0 ]; then
        ELAPSED=$(sub "$t1" "$t0")
    else
        ELAPSED=FAIL
        fail "$label: exit status $rc"
    fi
}
# configurations: ftpfs (defaults), ftpfs-alt (-o connections=$ALT_CONN, parallel only), rclone, curl
for cfg in ftpfs ftpfs-alt rclone curl; do
    for mode in seq par; do
        runs=() hwm=()
        nreps=$REPS
        # the slow sequential runs of the other clients once only (medians where cheap)
        if [ "$mode" = seq ] && [ "$cfg" != ftpfs ]; then nreps=1; fi
        if [ "$cfg" = ftpfs-alt ] && [ "$mode" = seq ]; then continue; fi
        for ((rep = 1; rep <= nreps; rep++)); do
            lab_check
            mnt=""
            case "$cfg" in
                ftpfs) new_mnt "$LAB_MNT" && mount_ftpfs "$mnt" lab ;;
                ftpfs-alt) new_mnt "$LAB_MNT" && mount_ftpfs "$mnt" lab -o "connections=$ALT_CONN" ;;
                rclone) new_mnt "$LAB_MNT" && mount_rclone "$mnt" lab off ;;
            esac
            m0=$(cmark lab)
            small_run "${cfg%-alt}" "$mode" "$mnt" "5 $WAN_FILES small files $mode, $cfg, run $rep"
            runs+=("$ELAPSED")
            cmd_record "w5$mode.$cfg" lab "$m0"
            if [ -n "$mnt" ]; then
                umount_mnt "$mnt"
                hwm+=("$UM_HWM")
            fi
        done
        put_runs "w5$mode.$cfg" 0 "${runs[@]}"
        [ ${#hwm[@]} = 0 ] || put "w5$mode.$cfg.hwm" "$(max_of "${hwm[@]}")"
        say "  $cfg $mode x$WAN_FILES: [${runs[*]} s]"
    done
done
# large file over the WAN link
for client in ftpfs rclone curl; do
    runs=() hwm=()
    for ((rep = 1; rep <= REPS; rep++)); do
        lab_check
        if [ "$client" = curl ]; then
            m0=$(cmark lab)
            timed "5 WAN big read, curl, run $rep" "${LEXEC[@]}" "${LCURL[@]}" -o /dev/null "ftp://$LAB_HOST:21/big.bin"
        else
            new_mnt "$LAB_MNT"
            if [ "$client" = ftpfs ]; then mount_ftpfs "$mnt" lab; else mount_rclone "$mnt" lab off; fi
            m0=$(cmark lab)
            timed "5 WAN big read, $client, run $rep" cat "$mnt/big.bin" >/dev/null
            umount_mnt "$mnt"
            hwm+=("$UM_HWM")
        fi
        runs+=("$ELAPSED")
        cmd_record "w5big.$client" lab "$m0"
    done
    put_runs "w5big.$client" "$WAN_BIG_BYTES" "${runs[@]}"
    [ ${#hwm[@]} = 0 ] || put "w5big.$client.hwm" "$(max_of "${hwm[@]}")"
    say "  $client ${WAN_BIG_MB} MiB: $(get "w5big.$client.mbps") MB/s [${runs[*]} s]"
done
lab_check
cp "$LABLOG" "$WORK/logs/lab-pyftpdlib.log" 2>/dev/null || true
# the small-file rows again over FTPS: the lab's server restarted with TLS required
LAB_PIN=$TLS_PIN
"$NETLAB" --id "$LAB_ID" up --scenario wan --delay "$WAN_DELAY" --root "$LABROOT" --quiet \
    --tls-cert "$TLSDIR/both.pem" >"$WORK/logs/netlab-up-tls.log" 2>&1 ||
    {
        cat "$WORK/logs/netlab-up-tls.log" >&2
        die "netlab up (TLS) failed"
    }
# No curl here: curl 7.88 starts TLS on a data connection as soon as it is connected,
# before it sends the transfer command, and pyftpdlib resets such a connection (passive:
# curl then fails with "Bad PASV/EPSV response: 200"; active mode hangs until the run
# limit). ftpfs sends its ClientHello after the command for this reason (ARCHITECTURE.md,
# FTPS). The rows compare ftpfs with the protocol's floor, in RTTs per file.
for cfg in ftpfs; do
    for mode in seq par; do
        runs=() hwm=()
        nreps=$REPS
        if [ "$cfg" = curl ] && [ "$mode" = seq ]; then nreps=1; fi
        for ((rep = 1; rep <= nreps; rep++)); do
            lab_check
            mnt=""
            [ "$cfg" = ftpfs ] && new_mnt "$LAB_MNT" && mount_ftpfs "$mnt" labtls
            small_run "$cfg" "$mode" "$mnt" "5t $WAN_FILES small files over FTPS $mode, $cfg, run $rep"
            runs+=("$ELAPSED")
            if [ -n "$mnt" ]; then
                umount_mnt "$mnt"
                hwm+=("$UM_HWM")
            fi
        done
        put_runs "w5${mode}t.$cfg" 0 "${runs[@]}"
        [ ${#hwm[@]} = 0 ] || put "w5${mode}t.$cfg.hwm" "$(max_of "${hwm[@]}")"
        say "  FTPS $cfg $mode x$WAN_FILES: [${runs[*]} s]"
    done
done
cp "$LABLOG" "$WORK/logs/lab-pyftpdlib-tls.log" 2>/dev/null || true
"$NETLAB" --id "$LAB_ID" down >/dev/null 2>&1 || true
LAB_UP=0
# ================================================================== report
per_file() { awk -v s="$1" -v n="$WAN_FILES" 'BEGIN { if (s+0 > 0) printf "%.1f", s / n * 1000; else print "–" }'; }
rtts() { awk -v s="$1" -v n="$WAN_FILES" -v r="$RTT_MS" 'BEGIN { if (s+0 > 0 && r+0 > 0) printf "%.1f", s / n * 1000 / r; else print "–" }'; }
cpf() { awk -v c="$1" -v n="$WAN_FILES" 'BEGIN { if (c ~ /^[0-9]+$/) printf "%.1f", c / n; else print "–" }'; }
mib() { kb_mib "$(get "$1")"; }
# speed factors of ftpfs against CLIENT for KEY (KEY.mbps when it exists, else KEY.s)
vs() { # FTPFS_KEY OTHER_KEY
    if [ -n "${R[$1.mbps]:-}" ]; then ratio_hi "$(get "$1.mbps")" "$(get "$2.mbps")"; else ratio_lo "$(get "$1.s")" "$(get "$2.s")"; fi
}
WANS() { echo "$(per_file "$(get "w5seq${2:-}.$1.s")") ($(rtts "$(get "w5seq${2:-}.$1.s")"))"; }
WANP() { echo "$(f2 "$(get "w5par.$1.s")") ($(ratio_lo "$(get "w5par.$1.s")" "$(get "w5seq.${2:-$1}.s")")×)"; }
WANPT() { echo "$(f2 "$(get "w5part.$1.s")") ($(ratio_lo "$(get "w5part.$1.s")" "$(get "w5seqt.$1.s")")×)"; }

GiB_label=$(awk -v m="$READ_MB" 'BEGIN { if (m % 1024 == 0) printf "%d GiB", m / 1024; else printf "%d MiB", m }')
T="$WORK/table.md"
{
    echo "Speed factors: ftpfs ÷ the other for MB/s, the other ÷ ftpfs for seconds, so **> 1 means ftpfs is faster**."
    echo "MB/s = 10⁶ bytes/s. Medians of $REPS run(s) unless noted; every ftpfs/rclone run is a fresh mount; ftpfs with its defaults (connections=$DEF_CONN, dir_cache_ttl=10) unless noted."
    echo
    echo "| # | workload | unit | ftpfs | curl | rclone (cache off) | ftpfs ÷ curl | ftpfs ÷ rclone | ftpfs peak RSS |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|"
    echo "| 1 | sequential read $GiB_label, cold (loopback, pure-ftpd) | MB/s | $(get w1.ftpfs.mbps) | $(get w1.curl.mbps) | $(get w1.rclone.mbps) | $(vs w1.ftpfs w1.curl) | $(vs w1.ftpfs w1.rclone) | $(mib w13.ftpfs.hwm) MiB |"
    echo "| 2 | sequential write $WRITE_MB MiB (cp, until it returns) | MB/s | $(get w2.ftpfs.mbps) | $(get w2.curl.mbps) | $(get w2.rclone-off.mbps) | $(vs w2.ftpfs w2.curl) | $(vs w2.ftpfs w2.rclone-off) | $(mib w2.ftpfs.hwm) MiB |"
    echo "| 2w | same, rclone --vfs-cache-mode writes: until cp returns / until the server's 226 | MB/s | | | $(get w2.rclone-writes.mbps) / $(get w2.rclone-writes.to226.mbps) | | $(vs w2.ftpfs w2.rclone-writes.to226) (to the 226) | |"
    echo "| 3 | second read of the same $GiB_label (page cache) | MB/s | $(get w3.ftpfs.mbps) | $(get w1.curl.mbps) ¹ | $(get w3.rclone.mbps) | $(vs w3.ftpfs w1.curl) | $(vs w3.ftpfs w3.rclone) | (row 1) |"
    echo "| 4c | tree walk $TREE_DIRS×$TREE_FILES, cold (find -ls) | s | $(f3 "$(get w4c.ftpfs.s)") | $(f3 "$(get w4c.curl.s)") ² | $(f3 "$(get w4c.rclone.s)") | $(vs w4c.ftpfs w4c.curl) | $(vs w4c.ftpfs w4c.rclone) | $(mib w4.ftpfs.hwm) MiB |"
    echo "| 4w | tree walk, warm (same mount, within the TTL) | s | $(f3 "$(get w4w.ftpfs.s)") | $(f3 "$(get w4c.curl.s)") ² | $(f3 "$(get w4w.rclone.s)") | $(vs w4w.ftpfs w4c.curl) | $(vs w4w.ftpfs w4w.rclone) | (row 4c) |"
    echo "| 5s | WAN: $WAN_FILES × 4 KiB, one after another | ms/file (RTTs/file) | $(WANS ftpfs) | $(WANS curl) ³ | $(WANS rclone) | $(vs w5seq.ftpfs w5seq.curl) | $(vs w5seq.ftpfs w5seq.rclone) | $(mib w5seq.ftpfs.hwm) MiB |"
    echo "| 5p | WAN: same files, 8 parallel readers (xargs -P8) | s total (speed-up vs 5s) | $(WANP ftpfs) | $(WANP curl) ⁴ | $(WANP rclone) | $(vs w5par.ftpfs w5par.curl) | $(vs w5par.ftpfs w5par.rclone) | $(mib w5par.ftpfs.hwm) MiB |"
    echo "| 5p′ | same, ftpfs -o connections=$ALT_CONN | s total (speed-up vs 5s) | $(WANP ftpfs-alt ftpfs) | | | $(vs w5par.ftpfs-alt w5par.curl) | $(vs w5par.ftpfs-alt w5par.rclone) | $(mib w5par.ftpfs-alt.hwm) MiB |"
    echo "| 5b | WAN: sequential read $WAN_BIG_MB MiB | MB/s | $(get w5big.ftpfs.mbps) | $(get w5big.curl.mbps) | $(get w5big.rclone.mbps) | $(vs w5big.ftpfs w5big.curl) | $(vs w5big.ftpfs w5big.rclone) | $(mib w5big.ftpfs.hwm) MiB |"
    echo "| 1s | FTPS (TLS required, pure-ftpd): sequential read $GiB_label, cold | MB/s | $(get w1s.ftpfs.mbps) | $(get w1s.curl.mbps) ⁶ | | $(vs w1s.ftpfs w1s.curl) | | $(mib w12s.ftpfs.hwm) MiB |"
    echo "| 2s | FTPS: sequential write $WRITE_MB MiB (cp, until it returns) | MB/s | $(get w2s.ftpfs.mbps) | $(get w2s.curl.mbps) ⁶ | | $(vs w2s.ftpfs w2s.curl) | | (row 1s) |"
    echo "| 5st | FTPS over the WAN: $WAN_FILES × 4 KiB, one after another | ms/file (RTTs/file) | $(WANS ftpfs t) | ⁷ | | | | $(mib w5seqt.ftpfs.hwm) MiB |"
    echo "| 5pt | FTPS over the WAN: same files, 8 parallel readers | s total (speed-up vs 5st) | $(WANPT ftpfs) | ⁷ | | | | $(mib w5part.ftpfs.hwm) MiB |"
    echo "| 6 | read $GiB_label + write $WRITE_MB MiB at once: peak RSS (idle mount) | MiB | $(mib w6.ftpfs.hwm) ($(mib w6.ftpfs.idle)) | | $(mib w6.rclone.hwm) ($(mib w6.rclone.idle)) | | $(awk -v a="$(get w6.ftpfs.hwm)" -v b="$(get w6.rclone.hwm)" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", b / a; else print "–" }') ⁵ | |"
    echo "| 6t | same: seconds until the read / the write finished | s | $(f2 "$(get w6.ftpfs.read_s)") / $(f2 "$(get w6.ftpfs.write_s)") | | $(f2 "$(get w6.rclone.read_s)") / $(f2 "$(get w6.rclone.write_s)") | | | |"
    echo
    echo "¹ curl has no cache: its row-1 download. ² one curl process listing the $((TREE_DIRS + 1)) directories (LIST) on one connection — the protocol's floor, not a tree walk."
    echo "³ one curl process, $WAN_FILES URLs on one connection. ⁴ 8 curl processes with ≤ $per_proc URLs each (8 logins). ⁵ rclone's peak RSS ÷ ftpfs's (> 1 = ftpfs uses less)."
    echo "⁶ curl --ssl-reqd -k (ftpfs pins the throwaway certificate with tls_fingerprint). rclone is not run over FTPS."
    echo "⁷ curl 7.88 cannot read from the lab's FTPS server (it starts TLS on a data connection before sending RETR; pyftpdlib resets the connection): the floor is ~2 RTTs per file (RETR and the ClientHello, the server's TLS flight, our Finished and the data)."
    echo "WAN RTT measured with ping: $RTT_MS ms (configured $((2 * WAN_DELAY)) ms). 5s: ftpfs median of $REPS, curl and rclone 1 run; 5p: medians of $REPS."
    echo
    echo "FTP commands per workload (control connection; total (most frequent verbs) [new logins]); the mount's own login and first listing are not included:"
    echo
    echo "| # | ftpfs | curl | rclone |"
    echo "|---|---|---|---|"
    echo "| 1 cold read (per run) | $(cmds_cell w1.ftpfs) | $(cmds_cell w1.curl) | $(cmds_cell w1.rclone) |"
    echo "| 2 write (per file) | $(cmds_cell w2.ftpfs) | $(cmds_cell w2.curl) | off: $(cmds_cell w2.rclone-off); writes: $(cmds_cell w2.rclone-writes) |"
    echo "| 3 second read | $(cmds_cell w3.ftpfs) | – | $(cmds_cell w3.rclone) |"
    echo "| 4c walk, cold | $(cmds_cell w4c.ftpfs) | $(cmds_cell w4c.curl) | $(cmds_cell w4c.rclone) |"
    echo "| 4w walk, warm | $(cmds_cell w4w.ftpfs) | – | $(cmds_cell w4w.rclone) |"
    echo "| 5s WAN $WAN_FILES small, sequential (per file: ftpfs $(cpf "$(get w5seq.ftpfs.ncmds)"), curl $(cpf "$(get w5seq.curl.ncmds)"), rclone $(cpf "$(get w5seq.rclone.ncmds)")) | $(cmds_cell w5seq.ftpfs) | $(cmds_cell w5seq.curl) | $(cmds_cell w5seq.rclone) |"
    echo "| 5p WAN $WAN_FILES small, 8 parallel | $(cmds_cell w5par.ftpfs); connections=$ALT_CONN: $(cmds_cell w5par.ftpfs-alt) | $(cmds_cell w5par.curl) | $(cmds_cell w5par.rclone) |"
    echo "| 5b WAN $WAN_BIG_MB MiB read | $(cmds_cell w5big.ftpfs) | $(cmds_cell w5big.curl) | $(cmds_cell w5big.rclone) |"
    echo "| 6 read + write at once | $(cmds_cell w6.ftpfs) | – | $(cmds_cell w6.rclone) |"
    echo
    echo "Individual runs (s): cold read ftpfs [$(get w1.ftpfs.all)] curl [$(get w1.curl.all)] rclone [$(get w1.rclone.all)];"
    echo "second read ftpfs [$(get w3.ftpfs.all)] rclone [$(get w3.rclone.all)];"
    echo "write ftpfs [$(get w2.ftpfs.all)] curl [$(get w2.curl.all)] rclone-off [$(get w2.rclone-off.all)] rclone-writes [$(get w2.rclone-writes.all)];"
    echo "write until the 226 ftpfs [$(get w2.ftpfs.to226.all)] curl [$(get w2.curl.to226.all)] rclone-off [$(get w2.rclone-off.to226.all)] rclone-writes [$(get w2.rclone-writes.to226.all)];"
    echo "walk cold ftpfs [$(get w4c.ftpfs.all)] rclone [$(get w4c.rclone.all)] curl [$(get w4c.curl.all)], warm ftpfs [$(get w4w.ftpfs.all)] rclone [$(get w4w.rclone.all)];"
    echo "WAN small seq ftpfs [$(get w5seq.ftpfs.all)] curl [$(get w5seq.curl.all)] rclone [$(get w5seq.rclone.all)]; par ftpfs [$(get w5par.ftpfs.all)] connections=$ALT_CONN [$(get w5par.ftpfs-alt.all)] curl [$(get w5par.curl.all)] rclone [$(get w5par.rclone.all)];"
    echo "WAN big ftpfs [$(get w5big.ftpfs.all)] curl [$(get w5big.curl.all)] rclone [$(get w5big.rclone.all)];"
    echo "FTPS read ftpfs [$(get w1s.ftpfs.all)] curl [$(get w1s.curl.all)], write ftpfs [$(get w2s.ftpfs.all)] curl [$(get w2s.curl.all)];"
    echo "FTPS WAN small seq ftpfs [$(get w5seqt.ftpfs.all)] curl [$(get w5seqt.curl.all)]; par ftpfs [$(get w5part.ftpfs.all)] curl [$(get w5part.curl.all)]."
} >"$T"

# automatic observations
OBS="$WORK/observations.md"
{
    for f in "${FAILS[@]}"; do echo "- FAILED: $f"; done
    all3=$(get w3.ftpfs.nall)
    if [ "$(tr '/' '\n' <<<"$all3" | tr -d ' ' | grep -vc '^0$')" != 0 ]; then
        echo "- The second read (row 3) sent FTP commands in some runs (totals per run: $all3) instead of none: the page cache was not fully reused."
    fi
    awk -v c="$(get w2.ftpfs.s)" -v d="$(get w2.ftpfs.to226.s)" 'BEGIN { if (c + 0.05 < d) printf "- ftpfs: cp returned %.3f s before the server'"'"'s 226 (median; close() should wait for it).\n", d - c }'
    awk -v c="$(get w4c.ftpfs.s)" 'BEGIN { if (c > 10) printf "- The cold tree walk took %.1f s, longer than dir_cache_ttl=10 s: the warm walk is not fully warm.\n", c }'
    awk -v a="$(get w5par.ftpfs.s)" -v b="$(get w5seq.ftpfs.s)" -v n="$DEF_CONN" 'BEGIN { if (a > 0 && b / a < 2) printf "- 8 parallel readers over the WAN are only %.2f× faster than one (connections=%s).\n", b / a, n }'
    # runs far from their median
    for k in "${!R[@]}"; do
        case "$k" in *.all) ;; *) continue ;; esac
        awk -v k="${k%.all}" -v runs="${R[$k]}" -v m="${R[${k%.all}.s]:-}" 'BEGIN {
            n = split(runs, r, " "); out = ""
            for (i = 1; i <= n; i++) if (r[i] ~ /^[0-9.]+$/ && m > 0 && (r[i] > 3 * m && r[i] - m > 0.5)) out = out sprintf(" run %d took %.2f s (median %.3f s);", i, r[i], m)
            if (out != "") printf "- Outlier in %s:%s\n", k, out }'
    done | sort
} >"$OBS"

FTPFS_REV=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO" diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || FTPFS_REV="$FTPFS_REV + uncommitted changes in src/"
FACTS="$WORK/facts.md"
{
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); total run time $(($(date +%s) - START_TS)) s; BENCH_QUICK=$QUICK, $REPS repetition(s)"
    echo "- machine: $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, kernel $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "- ftpfs $("$BIN" --version | awk '{ print $2 }') (git $FTPFS_REV), $(rustc --version 2>/dev/null | awk '{ print $1, $2 }')"
    echo "- $(curl --version | head -n 1 | awk '{ print $1, $2 }'); $(rclone version 2>/dev/null | head -n 1); $(cat "$SERVERS_DIR/pure-ftpd/PACKAGES" | head -n 1); pyftpdlib $("$PY" -c 'import pyftpdlib; print(pyftpdlib.__ver__)') ($("$PY" --version))"
    echo "- load average at the start: $START_LOAD, at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine disturbs the numbers)"
} >"$FACTS"

echo
echo "## ftpfs benchmark ($(date -u '+%Y-%m-%d'))"
echo
cat "$FACTS"
echo
cat "$T"
if [ -s "$MEMT" ]; then
    echo
    echo "### Memory (section 7)"
    cat "$MEMT"
fi
if [ -s "$OBS" ]; then
    echo
    echo "Observations (automatic):"
    cat "$OBS"
fi
cp "$T" "$FACTS" "$OBS" "$MEMT" "$WORK/logs/" 2>/dev/null || true

if [ "$WRITE" = 1 ]; then
    OUT=$REPO/BENCHMARKS.md
    notes=""
    if [ -f "$OUT" ]; then
        notes=$(awk '/<!-- END NOTES -->/ { p = 0 } p { print } /<!-- BEGIN NOTES -->/ { p = 1 }' "$OUT")
    fi
    [ -n "$notes" ] || notes="(none yet)"
    {
        echo "# ftpfs benchmarks"
        echo
        echo "Generated by \`scripts/bench.sh --write\`; tables and facts below are from its last run."
        echo "ftpfs against \`curl\` (the protocol's floor for one transfer) and \`rclone mount\` (the other FUSE"
        echo "client for FTP). Workloads, methods and choices are documented at the top of \`scripts/bench.sh\`."
        echo
        echo "## How to reproduce"
        echo
        echo '```bash'
        echo "scripts/bench.sh              # as root on Debian 12; runs scripts/setup.sh and cargo build --release,"
        echo "                              # prints the tables (~4-5 min; BENCH_QUICK=1: ~1.5 min, smaller sizes)"
        echo "scripts/bench.sh --write      # same, and rewrites this file (the Notes section is kept)"
        echo '```'
        echo
        echo "Logs of the last run (FTP command log of the counting proxy, ftpfs/rclone logs, results.tsv):"
        echo "\`target/bench/last/\`. Servers: pure-ftpd on 127.0.0.1 (root on tmpfs) behind a counting"
        echo "proxy (\`scripts/bench/ftpcount.py\`) for rows 1-4 and 6; the \`wan\` scenario of"
        echo "\`tests/lab/netlab.sh\` (pyftpdlib, commands counted from its DEBUG log) for row 5."
        echo
        echo "## Last run"
        echo
        cat "$FACTS"
        echo
        cat "$T"
        if [ -s "$MEMT" ]; then
            echo
            echo "### Memory"
            echo
            echo "\`scripts/bench/memory.sh\` (section 7 of the script): each row a fresh mount; \"idle\" is VmRSS once the mount"
            echo "has settled, \"peak\" VmHWM, \"after\" VmRSS right after the workload, then VmRSS after the pause."
            cat "$MEMT"
        fi
        if [ -s "$OBS" ]; then
            echo
            echo "Observations (automatic):"
            echo
            cat "$OBS"
        fi
        echo
        echo "## Notes"
        echo
        echo "<!-- BEGIN NOTES -->"
        echo "$notes"
        echo "<!-- END NOTES -->"
    } >"$OUT"
    say "wrote $OUT"
fi

