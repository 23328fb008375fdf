# pureftpd.sh — sourced by scripts/bench.sh and scripts/bench/*.sh: the test user and the
# privately unpacked pure-ftpd (scripts/setup.sh), and its virtual-user database.
# Needs REPO set by the caller.

FTP_USER=ftpfs-test
FTP_PASS=ftpfs-test-pw # scripts/setup.sh creates the user; tests/common/servers.rs
# SHA-512 crypt of FTP_PASS (the constant of tests/common/servers.rs)
FTP_HASH='$6$ftpfstestsalt$/NeqKxnPkr/OeKGicCfmLkU0/zuaWXj7qEu90BxfhuQwDf/vTKc0uEXypWgLtePUkOyETNBsVkQ7n461E9501.'
SERVERS_DIR=${FTPFS_SERVERS_DIR:-$REPO/target/ftp-servers}
PUREFTPD=$SERVERS_DIR/pure-ftpd/usr/sbin/pure-ftpd
PUREPW=$SERVERS_DIR/pure-ftpd/usr/bin/pure-pw
PY=/usr/bin/python3

# pure_userdb ROOT PDB: FTP_USER's virtual account chrooted to ROOT, in the database PDB
# (PDB.passwd is its source).
pure_userdb() {
    local uid gid
    uid=$(id -u "$FTP_USER")
    gid=$(id -g "$FTP_USER")
    printf '%s:%s:%s:%s::%s/./::::::::::::\n' "$FTP_USER" "$FTP_HASH" "$uid" "$gid" "$1" >"$2.passwd"
    "$PUREPW" mkdb "$2" -f "$2.passwd" </dev/null >/dev/null
}
