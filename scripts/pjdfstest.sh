#!/usr/bin/env bash
# pjdfstest.sh — run pjdfstest (the POSIX file system test suite) against ftpfs mounts of
# pure-ftpd and vsftpd, and print passed/failed/skipped per group.
#
#   scripts/pjdfstest.sh                 run it (as root, after scripts/setup.sh)
#   PJDFSTEST_DIR=DIR scripts/pjdfstest.sh
#                                        use the pjdfstest build in DIR (DIR/bin/pjdfstest,
#                                        DIR/pjdfstest or DIR/target/release/pjdfstest)
#   PJDFSTEST_BIN=/path/to/pjdfstest scripts/pjdfstest.sh
#   PJDFSTEST_OUT=DIR                    where the logs go (default target/pjdfstest)
#   PJDFSTEST_PATTERNS="open::etxtbsy …" only the tests whose names contain one of these
#
# Groups run: open, unlink, mkdir, rmdir, rename, truncate, ftruncate, chmod. Each server
# gets a fresh mount (-o allow_other,default_permissions: pjdfstest switches to the users
# nobody and daemon for its permission tests) and a fresh directory; the servers are the
# test suite's own (tests/common/servers.rs), started on 127.0.0.1 and stopped afterwards.
# The run itself is the opt-in test `mount::pjdfstest` (tests/mount/pjdfstest.rs).
# docs/pjdfstest.md has the counts and classes every failure.
#
# It fetches nothing: pjdfstest must already be built. It is not vendored here (the
# project commits no code of other repositories). The Rust rewrite of pjdfstest is
# published on crates.io; install it once with cargo (it needs libacl1-dev):
#     apt-get install -y libacl1-dev && cargo install pjdfstest --version 0.2.2 --locked
# or point PJDFSTEST_DIR at an existing build. Without one the script fails.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
if ! command -v cargo >/dev/null 2>&1 && [ -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
    export PATH="${HOME:-/root}/.cargo/bin:$PATH"
fi

die() {
    echo "pjdfstest.sh: ERROR: $*" >&2
    exit 1
}

find_pjdfstest() {
    if [ -n "${PJDFSTEST_BIN:-}" ]; then
        [ -x "$PJDFSTEST_BIN" ] || die "PJDFSTEST_BIN=$PJDFSTEST_BIN is not an executable"
        echo "$PJDFSTEST_BIN"
        return
    fi
    if [ -n "${PJDFSTEST_DIR:-}" ]; then
        for c in "$PJDFSTEST_DIR/bin/pjdfstest" "$PJDFSTEST_DIR/pjdfstest" \
            "$PJDFSTEST_DIR/target/release/pjdfstest" "$PJDFSTEST_DIR/target/debug/pjdfstest"; do
            if [ -x "$c" ]; then
                echo "$c"
                return
            fi
        done
        die "no pjdfstest binary in PJDFSTEST_DIR=$PJDFSTEST_DIR (looked for bin/pjdfstest, pjdfstest, target/release/pjdfstest)"
    fi
    for c in "$(command -v pjdfstest 2>/dev/null || true)" "${HOME:-/root}/.cargo/bin/pjdfstest"; do
        if [ -n "$c" ] && [ -x "$c" ]; then
            echo "$c"
            return
        fi
    done
    die "pjdfstest is not installed. Install it from crates.io once:
    apt-get install -y libacl1-dev && cargo install pjdfstest --version 0.2.2 --locked
or set PJDFSTEST_DIR to an existing pjdfstest build (this script downloads nothing)."
}

[ "$(id -u)" -eq 0 ] || die "run as root (pjdfstest switches users; the servers need root)"
[ -e /dev/fuse ] || die "/dev/fuse is missing"
BIN=$(find_pjdfstest)
OUT=${PJDFSTEST_OUT:-$REPO/target/pjdfstest}
mkdir -p "$OUT"
echo "pjdfstest.sh: $("$BIN" --version 2>/dev/null || echo pjdfstest) at $BIN; logs in $OUT"
PJDFSTEST_BIN=$BIN PJDFSTEST_OUT=$OUT \
    cargo test --offline --test main mount::pjdfstest -- --ignored --nocapture --test-threads=1
echo
echo "pjdfstest.sh: per-server logs: $OUT/pure-ftpd.log, $OUT/vsftpd.log; summary: $OUT/summary.txt"
