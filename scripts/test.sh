#!/usr/bin/env bash
# test.sh — install the test prerequisites (scripts/setup.sh) and run the whole test
# suite; exits with cargo's status. Run as root (FUSE mounts, FTP servers).
#
#   scripts/test.sh                 # everything
#   scripts/test.sh some_test_name  # extra arguments go to the test binaries
#
# FTPFS_TEST_THREADS overrides the number of parallel tests (default 4: every FUSE
# test starts its own FTP server and mount point, so they can run side by side; the
# work is mostly waiting on sockets, so more threads than the 2 cores is fine).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
if ! command -v cargo >/dev/null 2>&1 && [ -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
    export PATH="${HOME:-/root}/.cargo/bin:$PATH"
fi

bash scripts/setup.sh

threads=${FTPFS_TEST_THREADS:-4}
echo "test: cargo test --all-targets -- --test-threads=$threads $*"
exec cargo test --all-targets -- --test-threads="$threads" "$@"
