#!/usr/bin/env bash
# setup.sh — install everything the ftpfs test suite needs on Debian 12.
#
# Run as root. Idempotent: a second run checks everything and changes nothing
# (it skips `apt-get update` when every package is already installed).
#
# What it provides:
#   * Debian packages: fuse3, vsftpd, python3-pyftpdlib, nftables, iproute2,
#     iputils-ping, procps, util-linux, curl, lftp, rclone, pkg-config, groff-base, man-db,
#     zsh, fish, systemd (systemd-analyze, systemd-fstab-generator; not started), openssl
#     (the FTPS tests make their throwaway certificates with it), plus the shared
#     libraries the privately unpacked servers below need.
#   * pure-ftpd and proftpd, unpacked privately (apt-get download + dpkg -x) into
#     ${FTPFS_SERVERS_DIR:-<repo>/target/ftp-servers}/{pure-ftpd,proftpd}.
#     proftpd's tree also holds proftpd-mod-crypto of the same version as
#     proftpd-core: it has mod_tls.so, which the FTPS test servers load
#     (ModulePath <tree>/usr/lib/proftpd, LoadModule mod_tls.c).
#     Why not installed as packages: vsftpd, pure-ftpd and proftpd-core all
#     "Provides: ftp-server" and "Conflicts: ftp-server", so at most one of them
#     can be installed (apt reports the other two as "not installable" / removes
#     the installed one). vsftpd is the installed one; the others only need their
#     binaries and their (non-conflicting) library dependencies.
#   * A system user `ftpfs-test` (password `ftpfs-test-pw`, SHA-512 hash, no shell,
#     empty home /var/lib/ftpfs-test) that the test servers' sessions run as;
#     tests/common/servers.rs relies on these values.
#   * /etc/pam.d/ftpfs-test-vsftpd: a PAM service with only pam_unix, used by the
#     test vsftpd (Debian's /etc/pam.d/vsftpd also wants a login shell and checks
#     /etc/ftpusers).
# The test servers themselves are configured and started by tests/common/servers.rs,
# each in its own temporary directory; nothing here starts a daemon.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVERS_DIR=${FTPFS_SERVERS_DIR:-$REPO/target/ftp-servers}
TEST_USER=ftpfs-test
TEST_PASSWORD=ftpfs-test-pw # keep in sync with tests/common/servers.rs
TEST_HOME=/var/lib/ftpfs-test
PAM_SERVICE=/etc/pam.d/ftpfs-test-vsftpd
export DEBIAN_FRONTEND=noninteractive

say() { echo "setup: $*"; }
die() {
    echo "setup: ERROR: $*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and creates a user)"
[ -r /etc/debian_version ] || die "this script expects Debian 12 (apt/dpkg)"

# --- Rust toolchain (not installed here: these machines have it) -------------
if ! command -v cargo >/dev/null 2>&1 && [ -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
    export PATH="${HOME:-/root}/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 ||
    die "cargo not found: install Rust (rustup, stable toolchain with rustfmt and clippy) and put ~/.cargo/bin on PATH"
cargo fmt --version >/dev/null 2>&1 || say "WARNING: rustfmt is missing (rustup component add rustfmt)"
cargo clippy --version >/dev/null 2>&1 || say "WARNING: clippy is missing (rustup component add clippy)"
say "rust: $(cargo --version)"

# --- Debian packages ----------------------------------------------------------
PKGS=(
    fuse3 vsftpd python3-pyftpdlib nftables iproute2 iputils-ping procps util-linux
    curl lftp rclone pkg-config passwd ca-certificates
    # the FTPS tests' throwaway PKI (tests/common/tls.rs)
    openssl
    # programs the write tests drive through the mount (tests/mount/writes.rs)
    vim rsync git
    # the man pages and completions are rendered and loaded by the real tools, and the
    # systemd units and fstab line checked by systemd's own (tests/system/)
    groff-base man-db bash zsh fish systemd mount
    # pure-ftpd's library dependencies
    libc6 libcap2 libcrypt1 libpam0g libsodium23 libssl3
    # proftpd-core's and proftpd-mod-crypto's library dependencies
    libacl1 libhiredis0.14 libidn2-0 libmemcached11 libmemcachedutil2 libncursesw6
    libpcre2-8-0 libpcre2-posix3 libtinfo6 zlib1g
    # PAM module used by the test vsftpd service
    libpam-modules
)

apt_updated=0
apt_update_once() {
    if [ "$apt_updated" = 0 ]; then
        say "apt-get update"
        apt-get update -qq
        apt_updated=1
    fi
}

missing=()
for p in "${PKGS[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt_update_once
    say "installing: ${missing[*]}"
    # Do not let package scripts start system daemons (a system vsftpd on :21).
    made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    # vsftpd conflicts with an installed pure-ftpd/proftpd-core package (all
    # Provide+Conflict ftp-server): apt removes that one, which is intended.
    rc=0
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/ftpfs-setup-apt.log 2>&1 || rc=$?
    [ "$made_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
    if [ "$rc" != 0 ]; then
        tail -n 30 /tmp/ftpfs-setup-apt.log >&2
        die "apt-get install failed (full log: /tmp/ftpfs-setup-apt.log)"
    fi
else
    say "all Debian packages already installed"
fi
command -v vsftpd >/dev/null 2>&1 || [ -x /usr/sbin/vsftpd ] || die "vsftpd binary missing after install"
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import pyftpdlib' ||
    die "/usr/bin/python3 cannot import pyftpdlib (python3-pyftpdlib)"

# --- pure-ftpd and proftpd, unpacked privately ---------------------------------
# unpack NAME BINARY PACKAGE...: extract the packages into $SERVERS_DIR/NAME unless
# BINARY is already there with all its shared libraries resolvable.
unpack() {
    local name=$1 bin=$2
    shift 2
    local dest=$SERVERS_DIR/$name
    if [ -x "$dest/$bin" ] && ! ldd "$dest/$bin" 2>&1 | grep -q 'not found'; then
        say "$name already unpacked in $dest"
        return
    fi
    apt_update_once
    local tmp
    tmp=$(mktemp -d)
    chown _apt "$tmp" 2>/dev/null || true # lets apt download unsandboxed-warning-free
    (cd "$tmp" && apt-get download -qq "$@" >/dev/null) || die "apt-get download $* failed"
    rm -rf "$dest.new"
    mkdir -p "$dest.new"
    local deb
    for deb in "$tmp"/*.deb; do
        dpkg -x "$deb" "$dest.new"
        dpkg-deb -W --showformat='${Package} ${Version}\n' "$deb" >>"$dest.new/PACKAGES"
    done
    rm -rf "$tmp" "$dest"
    mv "$dest.new" "$dest"
    if ldd "$dest/$bin" 2>&1 | grep 'not found'; then
        die "$dest/$bin has unresolved shared libraries (see above)"
    fi
    say "unpacked $(paste -sd, "$dest/PACKAGES") into $dest"
}
# add_to_unpacked NAME FILE PACKAGE BASE: make sure $SERVERS_DIR/NAME, already
# holding package BASE, also holds PACKAGE at exactly BASE's version, checked by
# FILE being there with its shared libraries resolvable. Only adds files: the tree
# is shared with other checkouts (target/ftp-servers may be a symlink), whose tests
# may be running its binaries right now.
add_to_unpacked() {
    local name=$1 file=$2 pkg=$3 base=$4
    local dest=$SERVERS_DIR/$name
    local version
    version=$(awk -v p="$base" '$1 == p { print $2 }' "$dest/PACKAGES")
    [ -n "$version" ] || die "$dest/PACKAGES does not list $base"
    if [ -f "$dest/$file" ] && grep -qxF "$pkg $version" "$dest/PACKAGES" &&
        ! ldd "$dest/$file" 2>&1 | grep -q 'not found'; then
        say "$pkg $version already unpacked in $dest"
        return
    fi
    apt_update_once
    local tmp
    tmp=$(mktemp -d)
    chown _apt "$tmp" 2>/dev/null || true
    (cd "$tmp" && apt-get download -qq "$pkg=$version" >/dev/null) ||
        die "apt-get download $pkg=$version failed (it must match $base $version in $dest; if that version left the archive, delete $dest and run this script again)"
    mkdir "$tmp/x"
    dpkg -x "$tmp"/*.deb "$tmp/x"
    [ -f "$tmp/x/$file" ] || die "$pkg $version has no $file"
    cp -a "$tmp/x/." "$dest/"
    { grep -v "^$pkg " "$dest/PACKAGES" || true; echo "$pkg $version"; } >"$tmp/PACKAGES"
    cp "$tmp/PACKAGES" "$dest/PACKAGES"
    rm -rf "$tmp"
    say "unpacked $pkg $version into $dest"
}
mkdir -p "$SERVERS_DIR"
unpack pure-ftpd usr/sbin/pure-ftpd pure-ftpd
unpack proftpd usr/sbin/proftpd proftpd-core proftpd-mod-crypto
add_to_unpacked proftpd usr/lib/proftpd/mod_tls.so proftpd-mod-crypto proftpd-core
MOD_TLS=$SERVERS_DIR/proftpd/usr/lib/proftpd/mod_tls.so
[ -f "$MOD_TLS" ] || die "$MOD_TLS is missing: the proftpd FTPS test servers cannot load mod_tls"
if ldd "$MOD_TLS" 2>&1 | grep 'not found'; then
    die "$MOD_TLS has unresolved shared libraries (see above)"
fi
command -v openssl >/dev/null 2>&1 || die "openssl binary missing after install"

# --- test user, PAM service -----------------------------------------------------
# vsftpd changes into the user's home before it applies local_root: it must exist.
mkdir -p "$TEST_HOME"
chmod 755 "$TEST_HOME"
if id "$TEST_USER" >/dev/null 2>&1; then
    if [ "$(getent passwd "$TEST_USER" | cut -d: -f6)" != "$TEST_HOME" ]; then
        usermod --home "$TEST_HOME" "$TEST_USER"
        say "set home of $TEST_USER to $TEST_HOME"
    else
        say "user $TEST_USER exists"
    fi
else
    useradd --system --user-group --no-create-home --home-dir "$TEST_HOME" \
        --shell /usr/sbin/nologin "$TEST_USER"
    say "created system user $TEST_USER"
fi
# SHA-512 instead of Debian's default yescrypt: PAM checks it in ~1 ms instead of
# ~100 ms, which matters for tests that open many vsftpd sessions.
echo "$TEST_USER:$TEST_PASSWORD" | chpasswd --crypt-method SHA512

pam_text='# Written by ftpfs scripts/setup.sh: PAM service of the vsftpd test servers.
auth     required pam_unix.so
account  required pam_unix.so
session  required pam_permit.so'
if [ "$(cat "$PAM_SERVICE" 2>/dev/null || true)" != "$pam_text" ]; then
    printf '%s\n' "$pam_text" >"$PAM_SERVICE"
    say "wrote $PAM_SERVICE"
fi

say "done (servers: vsftpd $(dpkg-query -W -f='${Version}' vsftpd), $SERVERS_DIR/{pure-ftpd,proftpd} (with mod_tls), /usr/bin/python3 pyftpdlib, $(openssl version | cut -d' ' -f1-2))"
