#!/usr/bin/env bash
# install.sh — build ftpfs and install it for mount(8)/fstab use (as root):
#   $PREFIX/bin/ftpfs and the mount helper $SBIN/mount.ftpfs (a symlink to it), so that
#   `mount -t ftpfs ftp://user@host/dir /mnt -o password_file=/etc/ftpfs/pw` and fstab lines
#   such as
#     ftp://bob@ftp.example.com/pub  /mnt/ftp  ftpfs  noauto,_netdev,password_file=/etc/ftpfs/bob  0 0
#   work (contrib/systemd/ has an automount line and a .mount/.automount pair);
#   the man pages ftpfs(1), ftpfs-SUBCOMMAND(1) in $PREFIX/share/man/man1 and mount.ftpfs(8)
#   in man8, written by the installed binary itself (`ftpfs generate-docs`);
#   completions for bash ($PREFIX/share/bash-completion/completions/ftpfs), zsh
#   ($PREFIX/share/zsh/site-functions/_ftpfs) and fish
#   ($PREFIX/share/fish/vendor_completions.d/ftpfs.fish).
# PREFIX (default /usr/local) and SBIN (default /sbin) can be overridden; FTPFS_BIN=PATH
# installs that binary instead of building the release one (the tests use it).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=${PREFIX:-/usr/local}
SBIN=${SBIN:-/sbin}
if ! command -v cargo >/dev/null 2>&1 && [ -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
    export PATH="${HOME:-/root}/.cargo/bin:$PATH"
fi
cd "$REPO"
BIN=${FTPFS_BIN:-}
if [ -z "$BIN" ]; then
    cargo build --release --quiet
    BIN=target/release/ftpfs
fi
install -D -m 0755 "$BIN" "$PREFIX/bin/ftpfs"
mkdir -p "$SBIN"
ln -sf "$PREFIX/bin/ftpfs" "$SBIN/mount.ftpfs"

docs=$(mktemp -d)
trap 'rm -rf "$docs"' EXIT
"$PREFIX/bin/ftpfs" generate-docs "$docs" >/dev/null
for page in "$docs"/*.1; do
    install -D -m 0644 "$page" "$PREFIX/share/man/man1/$(basename "$page")"
done
install -D -m 0644 "$docs/mount.ftpfs.8" "$PREFIX/share/man/man8/mount.ftpfs.8"
install -D -m 0644 "$docs/ftpfs.bash" "$PREFIX/share/bash-completion/completions/ftpfs"
install -D -m 0644 "$docs/_ftpfs" "$PREFIX/share/zsh/site-functions/_ftpfs"
install -D -m 0644 "$docs/ftpfs.fish" "$PREFIX/share/fish/vendor_completions.d/ftpfs.fish"
# Refresh man's index (whatis, apropos) when man-db is there; man finds the pages without it.
if [ "$PREFIX" = /usr/local ] && command -v mandb >/dev/null 2>&1; then
    mandb -q "$PREFIX/share/man" || echo "install: mandb failed (man ftpfs works all the same)" >&2
fi
echo "installed $PREFIX/bin/ftpfs, $SBIN/mount.ftpfs, the man pages ftpfs(1) and mount.ftpfs(8),"
echo "and completions for bash, zsh and fish"
