#!/usr/bin/env bash
# demo.sh — the main job on a fresh Debian 12 machine (as root): install what is needed,
# build ftpfs, start a local FTP server (pyftpdlib on 127.0.0.1) with sample files, mount
# it, and show `ls -l`, `cat` and `cp` through the mount. Unmounts and stops the server at
# the end unless --keep is given (then it prints how to unmount).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1
if ! command -v cargo >/dev/null 2>&1 && [ -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
    export PATH="${HOME:-/root}/.cargo/bin:$PATH"
fi

bash scripts/setup.sh
echo "demo: building ftpfs (release)"
cargo build --release --quiet
BIN=$REPO/target/release/ftpfs

WORK=$(mktemp -d /tmp/ftpfs-demo.XXXXXX)
ROOT=$WORK/ftproot
MNT=$WORK/mnt
mkdir -p "$ROOT/docs/nested" "$MNT"
echo "Hello from the FTP server" >"$ROOT/hello.txt"
printf 'line %s\n' $(seq 1 5) >"$ROOT/docs/lines.txt"
echo "deep" >"$ROOT/docs/nested/deep.txt"
echo "spaces and UTF-8 work" >"$ROOT/docs/héllo wörld.txt"
head -c 3000000 /dev/urandom >"$ROOT/random.bin"
chmod -R a+rwX "$ROOT"

PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
/usr/bin/python3 -m pyftpdlib -i 127.0.0.1 -p "$PORT" -d "$ROOT" -w -u demo -P demo-pass \
    >"$WORK/server.log" 2>&1 &
SERVER=$!
cleanup() {
    if [ "$KEEP" = 0 ]; then
        fusermount3 -u "$MNT" 2>/dev/null || true
        kill "$SERVER" 2>/dev/null || true
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

echo "demo: FTPFS_PASSWORD=**** $BIN ftp://demo@127.0.0.1:$PORT/ $MNT"
FTPFS_PASSWORD=demo-pass "$BIN" "ftp://demo@127.0.0.1:$PORT/" "$MNT" -o log_file="$WORK/ftpfs.log"

run() { echo "\$ $*"; "$@"; }
cd "$MNT"
run ls -l
run ls -l docs
run cat hello.txt
run cat "docs/héllo wörld.txt"
run cp random.bin "$WORK/copy-out.bin"
run cmp random.bin "$WORK/copy-out.bin"
run cp "$WORK/copy-out.bin" uploaded.bin
run sha256sum random.bin uploaded.bin "$ROOT/uploaded.bin"
run mkdir -p new/dir
run mv uploaded.bin new/dir/
run find . -type f
run df -h .
cd /
if [ "$KEEP" = 1 ]; then
    echo "demo: left mounted at $MNT (server pid $SERVER); unmount with: fusermount3 -u $MNT"
else
    echo "demo: unmounting"
fi
