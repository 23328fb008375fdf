#!/usr/bin/env bash
# install.sh — build ftpfs and install it for mount(8)/fstab use (as root):
#   /usr/local/bin/ftpfs and the mount helper /sbin/mount.ftpfs (a symlink to it), so that
#   `mount -t ftpfs ftp://user@host/dir /mnt -o password_file=/etc/ftpfs/pw` and fstab lines
#   such as
#     ftp://bob@ftp.example.com/pub  /mnt/ftp  ftpfs  noauto,_netdev,password_file=/etc/ftpfs/bob  0 0
#   work. PREFIX (default /usr/local) and SBIN (default /sbin) can be overridden.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=${PREFIX:-/usr/local}
SBIN=${SBIN:-/sbin}
if ! command -v cargo >/dev/null 2>&1 && [ -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
    export PATH="${HOME:-/root}/.cargo/bin:$PATH"
fi
cd "$REPO"
cargo build --release --quiet
install -D -m 0755 target/release/ftpfs "$PREFIX/bin/ftpfs"
ln -sf "$PREFIX/bin/ftpfs" "$SBIN/mount.ftpfs"
echo "installed $PREFIX/bin/ftpfs and $SBIN/mount.ftpfs"
