#!/usr/bin/env bash
# memory.sh — the daemon's memory under load (issue 12): peak RSS (VmHWM) and RSS after the
# burst and after a pause (VmRSS after MEM_IDLE s, default 60), for five workloads, plus the
# throughput of a single 1 GiB read and 256 MiB write. Several builds can be compared in
# one run (their runs alternate, so they share the machine's noise).
#
#   scripts/bench/memory.sh [[LABEL=]BIN ...]   # default: target/release/ftpfs
#   e.g. scripts/bench/memory.sh before=target/before/ftpfs after=target/release/ftpfs
#
# Starts a private pure-ftpd on 127.0.0.1 (root on tmpfs, the recipe of scripts/bench.sh) and
# a second one that requires TLS (-Y 3, a throwaway certificate; ftpfs pins it with
# tls_fingerprint), creates the data, then for each repetition, each row and each build:
# a fresh mount (-f, defaults plus MEM_OPTS), VmRSS once the mount has settled ("idle"),
# the workload, VmHWM ("peak") and VmRSS right after it ("after"), and VmRSS MEM_IDLE s
# later ("idle later"; these pauses overlap the next rows: a mount that waits does nothing).
# Rows (MEM_ROWS selects some):
#   rw      cat of a 1 GiB file and cp of a 256 MiB file into the mount, at once
#   rw-tls  the same over FTPS (ftpes://)
#   par16   16 parallel cat of 64 MiB files
#   wr8     8 parallel cp of 64 MiB files into the mount
#   sparse  a 2 GiB file written at 256 random 1 MiB-aligned offsets (1 MiB each) and closed
#           (a staged copy: the whole 2 GiB is uploaded at close)
#   small   find + cat over 10 000 files of 1–4 KiB (100 directories)
#   read    cat of the 1 GiB file alone, cold (drop_caches): MB/s (read-tls: over FTPS)
#   write   cp of the 256 MiB file alone: MB/s (until cp returns: close waits for the 226;
#           write-tls: over FTPS)
# Uploads are compared with their source; sizes of what was read are checked.
# Prints a table of medians per build (and every run in MEM_OUT, default
# target/bench/memory.tsv). Run as root.
#
# Environment: MEM_QUICK=1 (1 repetition, 10 s pause, smaller files), MEM_REPS (3),
# MEM_IDLE (60), MEM_ROWS ("rw rw-tls par16 wr8 sparse small read write read-tls
# write-tls"), MEM_OPTS (extra
# -o options for every mount, e.g. memory_budget=8M), MEM_WRAP (a command put before the
# daemon, e.g. "heaptrack -o /tmp/ht"; the serving process is found by its mount point),
# MEM_REPORT=TSV (only print the tables of an earlier run's results), MEM_SMAPS=DIR (save /proc/PID/smaps at the peak of every run into DIR, sampled every 50 ms;
# `scripts/bench/smaps_peak.py show DIR/*` says what it was).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export LC_ALL=C
QUICK=${MEM_QUICK:-0}
if [ "$QUICK" = 1 ]; then
    d_reps=1 d_idle=10 d_big=256 d_up=64 d_par=16 d_small=2000
else
    d_reps=3 d_idle=60 d_big=1024 d_up=256 d_par=64 d_small=10000
fi
REPS=${MEM_REPS:-$d_reps}
IDLE=${MEM_IDLE:-$d_idle}
BIG_MB=${MEM_BIG_MB:-$d_big}
UP_MB=${MEM_UP_MB:-$d_up}
PAR_MB=${MEM_PAR_MB:-$d_par}
SMALL=${MEM_SMALL:-$d_small}
ROWS=${MEM_ROWS:-rw rw-tls par16 wr8 sparse small read write read-tls write-tls}
OPTS=${MEM_OPTS:-}
WRAP=${MEM_WRAP:-}
OUT=${MEM_OUT:-$REPO/target/bench/memory.tsv}
SMAPS=${MEM_SMAPS:-}
SPARSE_MB=2048
SPARSE_WRITES=256

# shellcheck source=scripts/bench/pureftpd.sh
. "$REPO/scripts/bench/pureftpd.sh"

say() { echo "memory: $*" >&2; }
die() {
    echo "memory: ERROR: $*" >&2
    exit 1
}
[ "$(id -u)" = 0 ] || die "run as root (servers chroot, drop_caches)"

LABELS=() BINS=()
[ $# -gt 0 ] || set -- "$REPO/target/release/ftpfs"
for a in "$@"; do
    case "$a" in
        *=*) l=${a%%=*} b=${a#*=} ;;
        *) l=$(basename "$(dirname "$a")") b=$a ;;
    esac
    [ -x "$b" ] || die "$b missing (cargo build --release)"
    LABELS+=("$l")
    BINS+=("$(cd "$(dirname "$b")" && pwd)/$(basename "$b")")
done

WORK=$(mktemp -d /dev/shm/ftpfs-memory.XXXXXX)
chmod 755 "$WORK"
PGIDS=()
declare -A MPID=() # mount point -> serving pid
IDLERS=()
cleanup() {
    local rc=$? m p
    set +e
    for p in "${IDLERS[@]}"; do kill "$p" 2>/dev/null; done
    for m in "${!MPID[@]}"; do
        fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null
    done
    for m in "${!MPID[@]}"; do
        p=${MPID[$m]}
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    for p in "${PGIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
now() { echo "$EPOCHREALTIME"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }

# ------------------------------------------------------------------ report
report() {
    med() { # LABEL.ROW SUFFIX: the median over repetitions (kB or s)
        awk -v pre="$1" -v suf="$2" '{ n = split($1, a, "."); if (a[1] "." a[2] == pre && a[n] == suf) print $2 }' "$OUT" |
            sort -g | awk '{ v[NR] = $1 } END { if (!NR) print "–"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
    }
    mib() { awk -v k="$1" 'BEGIN { if (k ~ /^[0-9.]+$/) printf "%.1f", k / 1024; else print k }'; }
    mbps_of() { # LABEL ROW -> MB/s of the median run
        awk -v s="$(med "$1.$2" s)" -v m="$(case "$2" in read*) echo "$BIG_MB" ;; *) echo "$UP_MB" ;; esac)" \
            'BEGIN { if (s > 0) printf "%.0f", m * 1048576 / s / 1e6; else print "–" }'
    }
    echo
    local runs
    runs=$(awk '{ n = split($1, a, "."); if (a[3] + 0 > m) m = a[3] + 0 } END { print m + 0 }' "$OUT")
    echo "Memory of the ftpfs daemon (VmRSS/VmHWM, MiB; medians of $runs run(s); pause $IDLE s; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); ${OPTS:+-o $OPTS; }run time $(($(date +%s) - T0)) s)"
    echo
    printf '| workload |'
    for l in "${LABELS[@]}"; do printf ' %s: idle → peak → after → %s s later |' "$l" "$IDLE"; done
    echo
    printf '|---|'
    for _ in "${LABELS[@]}"; do printf -- '---:|'; done
    echo
    for row in $ROWS; do
        case "$row" in
            rw) name="read ${BIG_MB} MiB + write ${UP_MB} MiB at once" ;;
            rw-tls) name="same over FTPS" ;;
            par16) name="16 parallel readers of ${PAR_MB} MiB" ;;
            wr8) name="8 parallel writers of ${PAR_MB} MiB" ;;
            sparse) name="2 GiB sparse file, $SPARSE_WRITES random 1 MiB writes" ;;
            small) name="find + cat over $SMALL small files" ;;
            read) name="read ${BIG_MB} MiB alone (cold)" ;;
            write) name="write ${UP_MB} MiB alone" ;;
            read-tls) name="read ${BIG_MB} MiB alone over FTPS (cold)" ;;
            write-tls) name="write ${UP_MB} MiB alone over FTPS" ;;
        esac
        printf '| %s |' "$name"
        for l in "${LABELS[@]}"; do
            case "$row" in
                read*| write*)
                    printf ' %s MB/s (peak %s MiB) |' "$(mbps_of "$l" "$row")" "$(mib "$(med "$l.$row" peak)")"
                    ;;
                *)
                    printf ' %s → %s → %s → %s |' "$(mib "$(med "$l.$row" idle)")" "$(mib "$(med "$l.$row" peak)")" \
                        "$(mib "$(med "$l.$row" after)")" "$(mib "$(med "$l.$row" idle_later)")"
                    ;;
            esac
        done
        echo
    done
    echo
    echo "Targets of issue 12: peak ≤ 64 MiB in every row (default memory_budget), RSS ${IDLE} s after the burst ≤ 1.5 × the idle RSS:"
    for l in "${LABELS[@]}"; do
        over="" slow=""
        for row in $ROWS; do
            p=$(med "$l.$row" peak)
            awk -v p="$p" 'BEGIN { exit !(p + 0 > 64 * 1024) }' && over="$over $row ($(mib "$p"))"
            case "$row" in read* | write*) continue ;; esac
            i=$(med "$l.$row" idle) a=$(med "$l.$row" idle_later)
            awk -v i="$i" -v a="$a" 'BEGIN { exit !(a + 0 > 1.5 * i) }' && slow="$slow $row ($(mib "$i") → $(mib "$a"))"
        done
        [ -n "$over" ] && over="above 64 MiB in:$over" || over="within 64 MiB everywhere"
        [ -n "$slow" ] && slow="above 1.5× idle in:$slow" || slow="within 1.5× idle everywhere"
        echo "- $l: peak $over; after the pause $slow"
    done
    if [ ${#LABELS[@]} -gt 1 ]; then
        first=${LABELS[0]}
        for l in "${LABELS[@]:1}"; do
            line="- throughput $l ÷ $first:"
            for row in read write read-tls write-tls; do
                case " $ROWS " in *" $row "*) ;; *) continue ;; esac
                r=$(awk -v a="$(mbps_of "$l" "$row")" -v b="$(mbps_of "$first" "$row")" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "–" }')
                runs_a=$(grep "^$l\.$row\.[0-9]*\.s " "$OUT" | awk '{ printf "%s%s", s, $2; s = " " }')
                runs_b=$(grep "^$first\.$row\.[0-9]*\.s " "$OUT" | awk '{ printf "%s%s", s, $2; s = " " }')
                line="$line $row $r ([$runs_a] s vs [$runs_b] s);"
            done
            echo "${line%;}"
        done
    fi
    if [ ${#FAILS[@]} -gt 0 ]; then
        echo
        for f in "${FAILS[@]}"; do echo "- FAILED: $f"; done
        exit 1
    fi
}

FAILS=()
if [ -n "${MEM_REPORT:-}" ]; then
    OUT=$MEM_REPORT
    T0=$(date +%s)
    report
    exit 0
fi

# ------------------------------------------------------------------ data
ROOT=$WORK/root
mkdir -p "$ROOT/par" "$ROOT/up" "$ROOT/small" "$WORK/src" "$WORK/mnt" "$WORK/cache"
say "creating test data in $WORK (tmpfs)"
head -c "$((BIG_MB << 20))" /dev/urandom >"$ROOT/big.bin"
head -c "$((UP_MB << 20))" /dev/urandom >"$WORK/src/up.bin"
head -c "$((PAR_MB << 20))" /dev/urandom >"$WORK/src/par.bin"
for i in $(seq 0 15); do
    # 16 different files (a shared prefix would not matter: each is a transfer of its own)
    { printf '%02d' "$i"; tail -c +3 "$WORK/src/par.bin"; } >"$ROOT/par/p$i.bin"
done
"$PY" - "$ROOT/small" "$SMALL" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(7)
for i in range(n):
    d = os.path.join(root, "d%02d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(rnd.randbytes(rnd.randint(1024, 4096)))
EOF
chown -R "$FTP_USER:$FTP_USER" "$ROOT"

# ------------------------------------------------------------------ servers
pure_userdb "$ROOT" "$WORK/pdb"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=ftpfs-memory \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null || die "openssl could not make a certificate"
cat "$WORK/cert.pem" "$WORK/key.pem" >"$WORK/both.pem"
PIN=sha256:$(openssl x509 -in "$WORK/cert.pem" -outform der | sha256sum | cut -c1-64)
PORT=$(free_port)
TPORT=$(free_port)
# Mounts wait out their pause side by side: room for their pooled connections.
for spec in "$PORT:" "$TPORT:-Y 3 -2 $WORK/both.pem"; do
    p=${spec%%:*} extra=${spec#*:}
    # shellcheck disable=SC2086
    setsid "$PUREFTPD" -S "127.0.0.1,$p" -l "puredb:$WORK/pdb" -E -A -H -D -4 -c 400 -C 400 -I 120 \
        -P 127.0.0.1 -U 022:022 -f none $extra </dev/null >"$WORK/pure-$p.out" 2>&1 &
    PGIDS+=($!)
done
for p in "$PORT" "$TPORT"; do
    for _ in $(seq 100); do
        "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1)' "$p" 2>/dev/null && break
        sleep 0.1
    done
done

# ------------------------------------------------------------------ mounts
SEQ=0
# mount_it BIN TLS(0|1): a fresh mount in $mnt, its serving process in $fpid
mount_it() {
    local bin=$1 tls=$2 url log p
    SEQ=$((SEQ + 1))
    mnt=$WORK/mnt/m$SEQ
    log=$WORK/ftpfs-$SEQ.log
    mkdir -p "$mnt"
    local o=(-o "cache_dir=$WORK/cache")
    [ -z "$OPTS" ] || o+=(-o "$OPTS")
    if [ "$tls" = 1 ]; then
        o+=(-o "tls_fingerprint=$PIN")
        url=ftpes://$FTP_USER@127.0.0.1:$TPORT/
    else
        url=ftp://$FTP_USER@127.0.0.1:$PORT/
    fi
    # shellcheck disable=SC2086
    FTPFS_PASSWORD=$FTP_PASS $WRAP "$bin" -f "${o[@]}" "$url" "$mnt" </dev/null >"$log" 2>&1 &
    p=$!
    for _ in $(seq 400); do
        awk -v m="$mnt" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts && break
        kill -0 "$p" 2>/dev/null || { cat "$log" >&2; die "ftpfs exited before mounting"; }
        sleep 0.05
    done
    fpid=$p
    if [ -n "$WRAP" ]; then # the wrapper's child: the process whose command line has $mnt
        for d in /proc/[0-9]*; do
            [ "$(readlink "$d/exe" 2>/dev/null)" = "$bin" ] && tr '\0' ' ' <"$d/cmdline" | grep -qF " $mnt" && fpid=${d#/proc/}
        done
    fi
    MPID[$mnt]=$fpid
}
umount_it() { # MNT
    local m=$1 p=${MPID[$1]}
    fusermount3 -u "$m" 2>/dev/null || { sleep 1; fusermount3 -u "$m" 2>/dev/null; } || fusermount3 -uz "$m" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    unset "MPID[$m]"
}
# Later: VmRSS after IDLE s, then the unmount (in the background; the next rows go on).
idle_later() { # KEY MNT PID
    local key=$1 m=$2 p=$3
    (
        sleep "$IDLE"
        echo "$key.idle_later $(status_kb "$p" VmRSS)" >>"$WORK/later.tsv"
        fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || true
    ) &
    IDLERS+=($!)
    unset "MPID[$m]"
    LATER_PIDS+=("$p")
}
LATER_PIDS=()

put() { echo "$1 $2" >>"$WORK/results.tsv"; }

# ------------------------------------------------------------------ workloads
check() { # LABEL CONDITION-RESULT
    if [ "$2" != 0 ]; then
        FAILS+=("$1")
        say "  FAILED: $1"
    fi
}
sizes_ok() { # FILE SIZE...
    local f=$1 s
    s=$(stat -c %s "$f" 2>/dev/null || echo -1)
    [ "$s" = "$2" ]
}
run_row() { # ROW MNT LABEL -> exit status
    local row=${1%-tls} m=$2 label=$3 rc=0 i pids=()
    case "$row" in
        rw)
            cat "$m/big.bin" >/dev/null &
            pids+=($!)
            cp "$WORK/src/up.bin" "$m/up/rw-$label.bin" &
            pids+=($!)
            for i in "${pids[@]}"; do wait "$i" || rc=1; done
            cmp -s "$WORK/src/up.bin" "$ROOT/up/rw-$label.bin" || rc=2
            rm -f "$ROOT/up/rw-$label.bin"
            ;;
        par16)
            for i in $(seq 0 15); do
                cat "$m/par/p$i.bin" >/dev/null &
                pids+=($!)
            done
            for i in "${pids[@]}"; do wait "$i" || rc=1; done
            ;;
        wr8)
            for i in $(seq 0 7); do
                cp "$WORK/src/par.bin" "$m/up/w$i-$label.bin" &
                pids+=($!)
            done
            for i in "${pids[@]}"; do wait "$i" || rc=1; done
            for i in $(seq 0 7); do
                cmp -s "$WORK/src/par.bin" "$ROOT/up/w$i-$label.bin" || rc=2
                rm -f "$ROOT/up/w$i-$label.bin"
            done
            ;;
        sparse)
            "$PY" - "$m/up/sparse-$label.bin" "$ROOT/up/sparse-$label.bin" "$SPARSE_MB" "$SPARSE_WRITES" <<'EOF' || rc=1
import os, random, sys
path, server, mb, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(12)
size = mb << 20
writes = [(rnd.randrange(0, (size >> 20) - 1) << 20, rnd.randbytes(1 << 20)) for _ in range(n)]
writes.append((size - (1 << 20), rnd.randbytes(1 << 20)))
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for off, data in writes:
    os.pwrite(fd, data, off)
os.close(fd)
# the server's copy: every block as last written, zeros elsewhere (checked at a few places)
final = {}
for off, data in writes:
    final[off] = data
with open(server, "rb") as f:
    if os.fstat(f.fileno()).st_size != size:
        sys.exit("sparse: wrong size on the server")
    for off, data in final.items():
        f.seek(off)
        if f.read(len(data)) != data:
            sys.exit("sparse: block at %d differs" % off)
    for off in range(0, size, 64 << 20):
        if off not in final and all(not (o <= off < o + (1 << 20)) for o in final):
            f.seek(off)
            if f.read(4096) != bytes(4096):
                sys.exit("sparse: a hole at %d is not zeros" % off)
EOF
            rm -f "$ROOT/up/sparse-$label.bin"
            ;;
        small)
            local n
            n=$(find "$m/small" -type f | tee "$WORK/small.list" | wc -l)
            [ "$n" = "$SMALL" ] || rc=3
            xargs -d '\n' cat <"$WORK/small.list" | wc -c >"$WORK/small.bytes" || rc=1
            [ "$(cat "$WORK/small.bytes")" = "$(find "$ROOT/small" -type f -printf '%s\n' | awk '{ t += $1 } END { print t }')" ] || rc=4
            ;;
        read)
            sync
            echo 3 >/proc/sys/vm/drop_caches
            local t0
            t0=$(now)
            cat "$m/big.bin" >/dev/null || rc=1
            put "$KEY.s" "$(sub "$(now)" "$t0")"
            ;;
        write)
            local t0
            t0=$(now)
            cp "$WORK/src/up.bin" "$m/up/wr-$label.bin" || rc=1
            put "$KEY.s" "$(sub "$(now)" "$t0")"
            cmp -s "$WORK/src/up.bin" "$ROOT/up/wr-$label.bin" || rc=2
            rm -f "$ROOT/up/wr-$label.bin"
            ;;
        *) die "unknown row $row" ;;
    esac
    return "$rc"
}

: >"$WORK/results.tsv"
: >"$WORK/later.tsv"
T0=$(date +%s)
for rep in $(seq "$REPS"); do
    for row in $ROWS; do
        for k in "${!BINS[@]}"; do
            label=${LABELS[$k]}
            KEY="$label.$row.$rep"
            tls=0
            case "$row" in *-tls) tls=1 ;; esac
            mount_it "${BINS[$k]}" "$tls"
            # let the logins made at mount finish
            sleep 2
            put "$KEY.idle" "$(status_kb "$fpid" VmRSS)"
            rc=0
            wpid=""
            if [ -n "$SMAPS" ]; then
                mkdir -p "$SMAPS"
                "$PY" "$REPO/scripts/bench/smaps_peak.py" watch "$fpid" "$SMAPS/$KEY.smaps" &
                wpid=$!
            fi
            run_row "$row" "$mnt" "$label-$rep" || rc=$?
            [ -z "$wpid" ] || { kill -TERM "$wpid"; wait "$wpid" || true; }
            check "$row, $label, run $rep (status $rc)" "$rc"
            put "$KEY.peak" "$(status_kb "$fpid" VmHWM)"
            put "$KEY.after" "$(status_kb "$fpid" VmRSS)"
            say "$KEY: idle $(status_kb "$fpid" VmRSS) kB → peak $(status_kb "$fpid" VmHWM) kB"
            case "$row" in
                read* | write*) umount_it "$mnt" ;;
                *) idle_later "$KEY" "$mnt" "$fpid" ;;
            esac
        done
    done
done
say "waiting for the last pauses (${IDLE} s)"
for p in "${IDLERS[@]}"; do wait "$p" 2>/dev/null || true; done
IDLERS=()
for p in "${LATER_PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
done
cat "$WORK/later.tsv" >>"$WORK/results.tsv"
mkdir -p "$(dirname "$OUT")"
cp "$WORK/results.tsv" "$OUT"
report
