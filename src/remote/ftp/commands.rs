//! The metadata commands of a [`Session`]: MKD, RMD, DELE, RNFR/RNTO, `SITE SYMLINK`,
//! `SITE CHMOD`, and setting modification times with the first method the server takes
//! (MFMT, `SITE UTIME` in two forms, `MDTM time path`), remembered for the mount.
//!
//! Invariants: each command runs within the operation's deadline (set on the session's
//! control connection by the pool); a reply other than the expected ones is classified
//! with [`classify_reply`] and never taken for success.

use std::time::SystemTime;

use suppaftp::Status;

use super::session::{Session, classify_reply};
use crate::remote::{RemoteError, RemoteResult};

/// A way to set a file's modification time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MtimeMethod {
    Mfmt,
    SiteUtime5,
    SiteUtime2,
    MdtmSet,
}

impl MtimeMethod {
    const ALL: [MtimeMethod; 4] = [
        MtimeMethod::Mfmt,
        MtimeMethod::SiteUtime5,
        MtimeMethod::SiteUtime2,
        MtimeMethod::MdtmSet,
    ];

    fn name(self) -> &'static str {
        match self {
            MtimeMethod::Mfmt => "MFMT",
            MtimeMethod::SiteUtime5 => "SITE UTIME (5 arguments)",
            MtimeMethod::SiteUtime2 => "SITE UTIME (2 arguments)",
            MtimeMethod::MdtmSet => "MDTM with a time",
        }
    }

    /// The command line; `stamp` is `YYYYMMDDHHMMSS` in UTC.
    fn command(self, stamp: &str, path: &str) -> String {
        match self {
            MtimeMethod::Mfmt => format!("MFMT {stamp} {path}"),
            MtimeMethod::SiteUtime5 => format!("SITE UTIME {path} {stamp} {stamp} {stamp} UTC"),
            MtimeMethod::SiteUtime2 => format!("SITE UTIME {stamp} {path}"),
            MtimeMethod::MdtmSet => format!("MDTM {stamp} {path}"),
        }
    }
}

impl Session {
    pub fn mkdir(&mut self, path: &str) -> RemoteResult<()> {
        let abs = self.abs(path)?;
        self.command(
            &format!("MKD {abs}"),
            &[Status::PathCreated, Status::CommandOk],
        )
    }

    pub fn rmdir(&mut self, path: &str) -> RemoteResult<()> {
        let abs = self.abs(path)?;
        self.command(
            &format!("RMD {abs}"),
            &[Status::RequestedFileActionOk, Status::CommandOk],
        )
    }

    pub fn delete(&mut self, path: &str) -> RemoteResult<()> {
        let abs = self.abs(path)?;
        self.command(
            &format!("DELE {abs}"),
            &[Status::RequestedFileActionOk, Status::CommandOk],
        )
    }

    pub fn rename(&mut self, from: &str, to: &str) -> RemoteResult<()> {
        let (from, to) = (self.abs(from)?, self.abs(to)?);
        self.command(&format!("RNFR {from}"), &[Status::RequestFilePending])?;
        self.command(
            &format!("RNTO {to}"),
            &[Status::RequestedFileActionOk, Status::CommandOk],
        )
    }

    pub fn symlink(&mut self, target: &str, path: &str) -> RemoteResult<()> {
        let abs = self.abs(path)?;
        let target = self
            .shared
            .names
            .path_to_wire(target)
            .map_err(|e| RemoteError::Unencodable(e.into()))?;
        self.command(
            &format!("SITE SYMLINK {target} {abs}"),
            &[Status::CommandOk, Status::RequestedFileActionOk],
        )
    }

    /// `SIZE path` (the session is in binary mode, so this is the byte count a RETR sends).
    pub fn size(&mut self, path: &str) -> RemoteResult<u64> {
        let abs = self.abs(path)?;
        let cmd = format!("SIZE {abs}");
        let r = self.ctl.command(&cmd).map_err(|e| self.note(e))?;
        if r.code != 213 {
            return Err(classify_reply(r.code, r.last_line(), &cmd));
        }
        r.last_line()
            .trim_start_matches("213")
            .trim()
            .parse()
            .map_err(|_| {
                RemoteError::Other(format!("{cmd}: unreadable reply {:?}", r.last_line()).into())
            })
    }

    pub fn chmod(&mut self, path: &str, mode: u32) -> RemoteResult<()> {
        let abs = self.abs(path)?;
        self.command(
            &format!("SITE CHMOD {mode:o} {abs}"),
            &[Status::CommandOk, Status::RequestedFileActionOk],
        )
    }

    /// Sets a modification time with the first method that works on this server, remembered
    /// for the mount: MFMT (RFC draft, where advertised), `SITE UTIME` in its 5-argument
    /// (pure-ftpd, FileZilla) and 2-argument (ProFTPD) forms, then vsftpd's `MDTM time path`
    /// (where MDTM is advertised). A method the server does not understand moves to the next;
    /// a refusal by a method that works (550 …) is the answer.
    pub fn set_mtime(&mut self, path: &str, mtime: SystemTime) -> RemoteResult<()> {
        let abs = self.abs(path)?;
        let stamp = mfmt_stamp(mtime);
        let known = *self
            .shared
            .mtime_method
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let candidates: Vec<MtimeMethod> = match known {
            Some(m) => vec![m],
            None => MtimeMethod::ALL
                .into_iter()
                .filter(|m| match m {
                    MtimeMethod::Mfmt => self.feats.mfmt,
                    MtimeMethod::MdtmSet => self.feats.mdtm,
                    _ => true,
                })
                .collect(),
        };
        let mut last = None;
        for m in candidates {
            let line = m.command(&stamp, &abs);
            let r = self.ctl.command(&line).map_err(|e| self.note(e))?;
            match (m, r.code) {
                (_, 200 | 213 | 250) => {
                    let mut known = self
                        .shared
                        .mtime_method
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    if known.is_none() {
                        log::info!("setting modification times with {}", m.name());
                        *known = Some(m);
                    }
                    return Ok(());
                }
                // Not understood: try the next method. (A server without the two-argument
                // MDTM reads "MDTM stamp path" as a file name, hence the 550.)
                (_, 500 | 501 | 502 | 504) | (MtimeMethod::MdtmSet, 550) => {
                    last = Some(classify_reply(r.code, r.last_line(), &line));
                }
                _ if known.is_none() && r.code == 550 && m != MtimeMethod::Mfmt => {
                    last = Some(classify_reply(r.code, r.last_line(), &line));
                }
                _ => return Err(classify_reply(r.code, r.last_line(), &line)),
            }
        }
        Err(RemoteError::Unsupported(format!(
            "setting the modification time of {abs}: the server accepts none of MFMT, SITE UTIME, \
             MDTM with a time ({})",
            last.map_or_else(|| "none advertised".to_string(), |e| e.to_string())
        ).into()))
    }
}

/// `YYYYMMDDHHMMSS` in UTC, as MFMT wants.
pub fn mfmt_stamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm): ten lines instead of a date crate.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn mfmt_stamp_is_utc_civil_time() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(mfmt_stamp(t), "20231114221320");
        assert_eq!(mfmt_stamp(SystemTime::UNIX_EPOCH), "19700101000000");
    }
}
