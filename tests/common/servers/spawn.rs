//! Starting one server process: the config files and command line of each server kind
//! (the plain settings; `ftps.rs` adds the TLS ones), spawned in its own process group
//! in the server's directory with stdout/stderr in `server.out`.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::{
    PYTHON_BIN, SETUP_HINT, ServerKind, ServerOptions, TEST_PASSWORD, TEST_PASSWORD_HASH,
    TEST_USER, VSFTPD_BIN, VSFTPD_PAM_SERVICE, ftps, proftpd_bin, pure_ftpd_bin, pure_pw_bin,
};

/// Write the config for `kind` into `dir` and spawn the server in its own process group.
#[allow(clippy::too_many_arguments)]
pub(super) fn spawn(
    kind: ServerKind,
    dir: &Path,
    root: &Path,
    port: u16,
    nonce: &str,
    uid: u32,
    gid: u32,
    as_root: bool,
    opts: ServerOptions,
) -> Child {
    let ServerOptions { tls, per_ip } = opts;
    let mut cmd = match kind {
        ServerKind::Vsftpd => {
            let empty = dir.join("empty");
            fs::create_dir_all(&empty).unwrap();
            fs::set_permissions(&empty, fs::Permissions::from_mode(0o555)).unwrap();
            let conf = dir.join("vsftpd.conf");
            let mut text = vsftpd_conf(dir, root, port, nonce);
            if let Some(tls) = &tls {
                text.push_str(&ftps::vsftpd_conf(tls));
            }
            fs::write(&conf, text).unwrap();
            let mut cmd = Command::new(VSFTPD_BIN);
            cmd.arg(&conf);
            cmd
        }
        ServerKind::PureFtpd => {
            let passwd = dir.join("pureftpd.passwd");
            // pure-ftpd virtual user: name:hash:uid:gid:gecos:home/./:(12 empty fields);
            // "/./" = chroot to the home directory.
            fs::write(
                &passwd,
                format!(
                    "{TEST_USER}:{TEST_PASSWORD_HASH}:{uid}:{gid}::{}/./::::::::::::\n",
                    root.display()
                ),
            )
            .unwrap();
            let pdb = dir.join("pureftpd.pdb");
            let out = Command::new(pure_pw_bin())
                .arg("mkdb")
                .arg(&pdb)
                .arg("-f")
                .arg(&passwd)
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("running pure-pw: {e}: {SETUP_HINT}"));
            assert!(
                out.status.success(),
                "pure-pw mkdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            fs::write(dir.join("fortune"), format!("{nonce}\n")).unwrap();
            let mut cmd = Command::new(pure_ftpd_bin());
            cmd.arg("-S")
                .arg(format!("127.0.0.1,{port}"))
                .arg("-l")
                .arg(format!("puredb:{}", pdb.display()))
                .args(["-E", "-A", "-H", "-D", "-4"])
                .args(["-c", "64", "-C", "64", "-I", "15"])
                .args(["-P", "127.0.0.1", "-U", "022:022", "-L", "100000:64"])
                .arg("-F")
                .arg(dir.join("fortune"))
                .arg("-g")
                .arg(dir.join("pure-ftpd.pid"))
                .arg("-O")
                .arg(format!("clf:{}", dir.join("transfer.log").display()))
                .args(["-f", "none"]);
            if let Some(tls) = &tls {
                cmd.args(ftps::pure_ftpd_args(tls));
            }
            cmd
        }
        ServerKind::Proftpd => {
            let group = dir.join("ftpd.group");
            let passwd = dir.join("ftpd.passwd");
            fs::write(
                &passwd,
                format!(
                    "{TEST_USER}:{TEST_PASSWORD_HASH}:{uid}:{gid}::{}:/usr/sbin/nologin\n",
                    root.display()
                ),
            )
            .unwrap();
            fs::write(&group, format!("{TEST_USER}:x:{gid}:\n")).unwrap();
            for f in [&passwd, &group] {
                fs::set_permissions(f, fs::Permissions::from_mode(0o600)).unwrap();
            }
            let conf = dir.join("proftpd.conf");
            let mut text = proftpd_conf(dir, port, nonce);
            if let Some(tls) = &tls {
                text.push_str(&ftps::proftpd_conf(dir, tls));
            }
            fs::write(&conf, text).unwrap();
            let mut cmd = Command::new(proftpd_bin());
            cmd.arg("--nodaemon").arg("--config").arg(&conf);
            cmd
        }
        ServerKind::Pyftpdlib => {
            let script = dir.join("pyftpd.py");
            fs::write(&script, PYFTPDLIB_SCRIPT).unwrap();
            let mut cmd = Command::new(PYTHON_BIN);
            cmd.env("FTPFS_TEST_PER_IP", per_ip.unwrap_or(64).to_string());
            cmd.arg("-I")
                .arg(&script)
                .arg(port.to_string())
                .arg(root)
                .arg(TEST_USER)
                .arg(TEST_PASSWORD)
                .arg(nonce);
            if as_root {
                cmd.uid(uid).gid(gid);
            }
            cmd
        }
    };
    if let Some(tls) = &tls {
        ftps::cap_with_openssl_conf(&mut cmd, kind, dir, tls);
    }
    let out = File::create(dir.join("server.out")).unwrap();
    let err = out.try_clone().unwrap();
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .env("LC_ALL", "C.UTF-8")
        .current_dir(dir);
    cmd.spawn().unwrap_or_else(|e| {
        panic!(
            "spawning {kind} ({:?}): {e}: {SETUP_HINT}",
            cmd.get_program()
        )
    })
}

fn vsftpd_conf(dir: &Path, root: &Path, port: u16, nonce: &str) -> String {
    format!(
        "\
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port={port}
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
file_open_mode=0666
chmod_enable=YES
mdtm_write=YES
local_root={root}
chroot_local_user=YES
allow_writeable_chroot=YES
pam_service_name={VSFTPD_PAM_SERVICE}
userlist_enable=NO
tcp_wrappers=NO
secure_chroot_dir={empty}
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
pasv_enable=YES
pasv_address=127.0.0.1
port_enable=YES
connect_from_port_20=NO
utf8_filesystem=YES
force_dot_files=YES
async_abor_enable=YES
max_clients=64
max_per_ip=64
idle_session_timeout=900
data_connection_timeout=900
accept_timeout=60
connect_timeout=60
xferlog_enable=YES
xferlog_std_format=NO
log_ftp_protocol=YES
vsftpd_log_file={log}
dirmessage_enable=NO
use_localtime=NO
ftpd_banner={nonce} vsftpd ready
",
        root = root.display(),
        empty = dir.join("empty").display(),
        log = dir.join("vsftpd.log").display(),
    )
}

fn proftpd_conf(dir: &Path, port: u16, nonce: &str) -> String {
    let d = dir.display();
    format!(
        "\
ServerType standalone
ServerName \"ftpfs-test\"
ServerIdent on \"{nonce} proftpd ready\"
DefaultServer on
DefaultAddress 127.0.0.1
SocketBindTight on
UseIPv6 off
Port {port}
PidFile {d}/proftpd.pid
ScoreboardFile {d}/proftpd.scoreboard
DelayEngine off
User {TEST_USER}
Group {TEST_USER}
MaxInstances 256
MaxClients 64
MaxClientsPerHost 64
MaxConnectionsPerHost 64
MaxLoginAttempts 10
TimeoutIdle 900
TimeoutNoTransfer 900
TimeoutStalled 900
TimeoutLogin 300
MasqueradeAddress 127.0.0.1
AllowForeignAddress on
Umask 022 022
AllowOverwrite on
UseFtpUsers off
RequireValidShell off
AuthPAM off
AuthOrder mod_auth_file.c
AuthUserFile {d}/ftpd.passwd
AuthGroupFile {d}/ftpd.group
DefaultRoot ~
WtmpLog off
UseLastlog off
UseReverseDNS off
UseSendfile off
ListOptions \"-A\"
UseEncoding UTF-8 UTF-8
SystemLog {d}/proftpd.log
TransferLog {d}/transfer.log
LogFormat commands \"%t %m %J -> %s\"
ExtendedLog {d}/commands.log ALL commands
<Directory />
  AllowOverwrite on
  <Limit ALL>
    AllowAll
  </Limit>
</Directory>
"
    )
}

/// pyftpdlib server: argv = port root user password banner.
const PYFTPDLIB_SCRIPT: &str = r#"
import logging, os, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, DTPHandler
from pyftpdlib.servers import FTPServer

port, root, user, password, banner = sys.argv[1:6]
logging.basicConfig(stream=sys.stderr, level=logging.DEBUG,
                    format="%(asctime)s %(levelname)s %(message)s")
authorizer = DummyAuthorizer()
authorizer.add_user(user, password, root, perm="elradfmwMT")

class Dtp(DTPHandler):
    timeout = 900

class Handler(FTPHandler):
    authorizer = authorizer
    banner = banner
    timeout = 900
    dtp_handler = Dtp
    masquerade_address = "127.0.0.1"

server = FTPServer(("127.0.0.1", int(port)), Handler)
server.max_cons = 256
server.max_cons_per_ip = int(os.environ.get("FTPFS_TEST_PER_IP", "64"))
server.serve_forever()
"#;
