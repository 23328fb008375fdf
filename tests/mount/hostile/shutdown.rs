//! A process killed while it waits on the mount is released (fuser answers the kernel's
//! INTERRUPT with ENOSYS, so the request must end by itself); SIGTERM and unmount end the
//! daemon within seconds even while a request hangs on a server that sends nothing, with a
//! timeout far longer than that.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{assert_within, deadline, still_works, timeout_opt, wait_for_line};
use crate::common::badftp::{BadFtp, Fault, Rule};
use crate::mount::harness::{Mount, is_mounted, wait_child};

#[test]
fn a_process_killed_while_it_waits_on_the_mount_is_released() {
    let srv = super::server();
    srv.put_file("/slow/f", "x");
    srv.add(Rule::on("MLSD", Fault::Trickle { bytes_per_sec: 1 }).path("/slow"));
    let m = Mount::of_bad(&srv, &[&timeout_opt()]);
    let mut ls = Command::new("ls")
        .arg(m.p("slow"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ls");
    wait_for_line(&srv, "MLSD /slow");
    // SAFETY: killing our own child by pid.
    unsafe { libc::kill(ls.id() as i32, libc::SIGKILL) };
    let start = Instant::now();
    let st = wait_child(&mut ls, Duration::from_secs(60)).expect("ls never went away");
    let took = start.elapsed();
    eprintln!(
        "killed ls went away after {:.2} s ({st})",
        took.as_secs_f64()
    );
    assert_within("a killed ls going away", took, deadline(), &m);
    still_works(&m, &srv);
}

/// A request hangs on a server that answers nothing (timeout=30); the daemon gets SIGTERM.
fn stuck_ls(srv: &BadFtp, m: &Mount) -> std::process::Child {
    let ls = Command::new("ls")
        .arg(m.p("stuck"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ls");
    wait_for_line(srv, "MLSD /stuck");
    ls
}

#[test]
fn sigterm_ends_the_daemon_within_seconds_while_a_request_hangs() {
    let srv = super::server();
    srv.put_file("/stuck/f", "x");
    srv.add(Rule::on("MLSD", Fault::Stall).path("/stuck"));
    let m = Mount::of_bad(&srv, &["timeout=30"]);
    let path = m.path.clone();
    let mut ls = stuck_ls(&srv, &m);
    let start = Instant::now();
    let status = m.signal(libc::SIGTERM);
    let took = start.elapsed();
    eprintln!(
        "SIGTERM with a request hanging: exit after {:.2} s ({status})",
        took.as_secs_f64()
    );
    assert!(took < Duration::from_secs(5), "took {took:?} (timeout=30)");
    assert!(!is_mounted(&path), "still mounted");
    let st = wait_child(&mut ls, Duration::from_secs(5)).expect("ls still hangs");
    assert!(!st.success(), "ls of the stuck directory succeeded");
}

#[test]
fn unmount_ends_the_daemon_within_seconds_while_a_request_hangs() {
    let srv = super::server();
    srv.put_file("/stuck/f", "x");
    srv.add(Rule::on("MLSD", Fault::Stall).path("/stuck"));
    let m = Mount::of_bad(&srv, &["timeout=30"]);
    let path = m.path.clone();
    let mut ls = stuck_ls(&srv, &m);
    let start = Instant::now();
    // A plain `fusermount3 -u` is refused while a request is in flight (the mount is
    // busy, as for any filesystem); the lazy one detaches it at once, and the daemon must
    // then end the request it still serves instead of waiting for the server.
    let st = Command::new("fusermount3")
        .arg("-u")
        .arg("-z")
        .arg(&path)
        .status();
    assert!(st.is_ok_and(|s| s.success()), "fusermount3 -u -z failed");
    let status = m.wait_exit(Duration::from_secs(30));
    let took = start.elapsed();
    eprintln!(
        "unmount with a request hanging: exit after {:.2} s ({status:?})",
        took.as_secs_f64()
    );
    assert!(took < Duration::from_secs(5), "took {took:?} (timeout=30)");
    let st = wait_child(&mut ls, Duration::from_secs(5)).expect("ls still hangs");
    assert!(!st.success());
    let _ = still_works;
}
