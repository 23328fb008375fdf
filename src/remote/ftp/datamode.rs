//! How data connections are made, decided once per mount: the four methods (EPSV, PASV, EPRT,
//! PORT), the `-o data_mode` choice that narrows them, the parsers for the 227/229 replies, and
//! the shared state machine that picks a method for every data command, learns from failures
//! and remembers what works (the gvfs model).
//!
//! Invariants:
//! - The state machine only learns from *data-connection* outcomes (connect refused or timed
//!   out, 425/426, a method the server rejects with 5xx); a failure of the command itself
//!   (550 …) says nothing about the method and is not reported here.
//! - A method the server rejected (500/501/502/504) is never planned again for this mount.
//! - `plan()` always returns every method not yet rejected, the remembered one first, so an
//!   operation fails only after every untried method was tried.
//! - When a method's data connection times out (a firewall that drops packets), the other
//!   method of the same family (EPSV/PASV, EPRT/PORT) is not tried in that operation: the same
//!   firewall blocks its ports too, and the fallback must cost one data-connect timeout, not
//!   two. After a refusal (instant) the sibling is tried after the other family.

use std::collections::HashSet;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};

/// A way to open a data connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Epsv,
    Pasv,
    Eprt,
    Port,
}

impl Method {
    pub const ALL: [Method; 4] = [Method::Epsv, Method::Pasv, Method::Eprt, Method::Port];

    pub fn is_passive(self) -> bool {
        matches!(self, Method::Epsv | Method::Pasv)
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Epsv => "EPSV",
            Method::Pasv => "PASV",
            Method::Eprt => "EPRT",
            Method::Port => "PORT",
        }
    }

    /// The `-o data_mode=` value that pins this method's family.
    pub fn family_option(self) -> &'static str {
        if self.is_passive() {
            "passive"
        } else {
            "active"
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `-o data_mode=`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DataMode {
    /// Passive first, active when passive cannot connect.
    #[default]
    Auto,
    Passive,
    Epsv,
    Pasv,
    Active,
    Eprt,
    Port,
}

impl DataMode {
    /// The methods this mode allows, in preference order.
    pub fn methods(self) -> Vec<Method> {
        use Method::*;
        match self {
            DataMode::Auto => vec![Epsv, Pasv, Eprt, Port],
            DataMode::Passive => vec![Epsv, Pasv],
            DataMode::Epsv => vec![Epsv],
            DataMode::Pasv => vec![Pasv],
            DataMode::Active => vec![Eprt, Port],
            DataMode::Eprt => vec![Eprt],
            DataMode::Port => vec![Port],
        }
    }
}

impl DataMode {
    /// The `-o data_mode=` value.
    pub fn name(self) -> &'static str {
        match self {
            DataMode::Auto => "auto",
            DataMode::Passive => "passive",
            DataMode::Epsv => "epsv",
            DataMode::Pasv => "pasv",
            DataMode::Active => "active",
            DataMode::Eprt => "eprt",
            DataMode::Port => "port",
        }
    }
}

impl FromStr for DataMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "auto" => DataMode::Auto,
            "passive" => DataMode::Passive,
            "epsv" => DataMode::Epsv,
            "pasv" => DataMode::Pasv,
            "active" => DataMode::Active,
            "eprt" => DataMode::Eprt,
            "port" => DataMode::Port,
            _ => return Err("must be auto, passive, epsv, pasv, active, eprt or port".into()),
        })
    }
}

/// `-o pasv_address=`: where a PASV data connection goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PasvAddress {
    /// The control connection's peer, with the reply's port (NAT'd servers, no PASV bounce).
    #[default]
    Control,
    /// The address in the 227 reply.
    Reply,
}

impl FromStr for PasvAddress {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "control" => Ok(PasvAddress::Control),
            "reply" => Ok(PasvAddress::Reply),
            _ => Err("must be control or reply".into()),
        }
    }
}

/// How a data-connection attempt failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The connection was refused (RST).
    Refused(String),
    /// No answer within the data-connect timeout.
    TimedOut(String),
    /// The server answered the method's command with 5xx: it does not do this method.
    Rejected(String),
    /// The server said it could not make or keep the data connection (425/426, or another
    /// non-5xx refusal of EPRT/PORT): worth trying again later, unlike [`Failure::Rejected`].
    Declined(String),
    /// Anything else on our side (cannot listen, unreadable reply …).
    Failed(String),
}

impl Failure {
    pub fn verdict(&self) -> &'static str {
        match self {
            Failure::Refused(_) => "refused",
            Failure::TimedOut(_) => "timeout",
            Failure::Rejected(_) | Failure::Declined(_) => "rejected",
            Failure::Failed(_) => "error",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Failure::Refused(s)
            | Failure::TimedOut(s)
            | Failure::Rejected(s)
            | Failure::Declined(s)
            | Failure::Failed(s) => s,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.verdict(), self.detail())
    }
}

/// Parses a 227 reply: six comma-separated numbers anywhere in the text, with or without
/// parentheses (RFC 1123 4.1.2.6 tells clients to scan for them).
pub fn parse_227(text: &str) -> Option<SocketAddrV4> {
    let body = text.get(3..).unwrap_or("");
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit()) {
            let rest = &body[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == ',' || c == ' '))
                .unwrap_or(rest.len());
            let nums: Vec<&str> = rest[..end].split(',').map(str::trim).collect();
            if nums.len() >= 6 {
                let n: Option<Vec<u8>> = nums[..6].iter().map(|s| s.parse::<u8>().ok()).collect();
                if let Some(n) = n {
                    let ip = Ipv4Addr::new(n[0], n[1], n[2], n[3]);
                    let port = u16::from(n[4]) << 8 | u16::from(n[5]);
                    return Some(SocketAddrV4::new(ip, port));
                }
            }
        }
        i += 1;
    }
    None
}

/// Parses a 229 reply: `(<d><d><d>port<d>)` where `<d>` is any delimiter (RFC 2428), usually
/// `|`; tolerates missing parentheses and surrounding text.
pub fn parse_229(text: &str) -> Option<u16> {
    let body = text.get(3..).unwrap_or("");
    let chars: Vec<char> = body.chars().collect();
    for i in 0..chars.len() {
        let d = chars[i];
        if !(('!'..='~').contains(&d)) || d.is_ascii_alphanumeric() || d == '(' {
            continue;
        }
        if chars.get(i + 1) == Some(&d) && chars.get(i + 2) == Some(&d) {
            let digits: String = chars[i + 3..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if !digits.is_empty() && chars.get(i + 3 + digits.len()) == Some(&d) {
                return digits.parse().ok().filter(|p| *p != 0);
            }
        }
    }
    None
}

struct State {
    /// Allowed methods, in the order they are planned.
    order: Vec<Method>,
    /// Methods the server rejected (never planned again).
    rejected: HashSet<Method>,
    /// The method that last worked.
    current: Option<Method>,
    /// Data connections a method could not make (for `ftpfs stats`).
    failures: u64,
    /// The last fallback: what failed, and the method that worked instead.
    last_fallback: Option<String>,
}

/// The per-mount data-connection state, shared by every pooled connection.
pub struct DataModes {
    mode: DataMode,
    state: Mutex<State>,
}

/// What `record` learned, for the log.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    None,
    /// The working method changed (after failures of others).
    SwitchedTo(Method),
}

impl DataModes {
    pub fn new(mode: DataMode) -> Self {
        DataModes {
            mode,
            state: Mutex::new(State {
                order: mode.methods(),
                rejected: HashSet::new(),
                current: None,
                failures: 0,
                last_fallback: None,
            }),
        }
    }

    pub fn mode(&self) -> DataMode {
        self.mode
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The methods to try for one data command, in order.
    pub fn plan(&self) -> Vec<Method> {
        let st = self.lock();
        let mut plan: Vec<Method> = st
            .order
            .iter()
            .copied()
            .filter(|m| !st.rejected.contains(m))
            .collect();
        if let Some(cur) = st.current
            && let Some(i) = plan.iter().position(|m| *m == cur)
        {
            plan.remove(i);
            plan.insert(0, cur);
        }
        plan
    }

    /// After `method` failed: adjusts what comes next in `plan` (the rest of this operation's
    /// plan) and the state for later operations.
    pub fn failed(&self, method: Method, failure: &Failure, plan: &mut Vec<Method>) {
        let mut st = self.lock();
        st.failures += 1;
        if matches!(failure, Failure::Rejected(_)) {
            st.rejected.insert(method);
        }
        if st.current == Some(method) {
            st.current = None;
        }
        match failure {
            // A silent drop: the sibling's ports sit behind the same firewall, and trying it
            // would cost another full timeout. It counts as tried for this operation (it is
            // planned again for the next one).
            Failure::TimedOut(_) => plan.retain(|m| m.is_passive() != method.is_passive()),
            // A refusal is instant: try the other family first, the sibling after it.
            Failure::Refused(_) => {
                let (same, other): (Vec<Method>, Vec<Method>) = plan
                    .iter()
                    .partition(|m| m.is_passive() == method.is_passive());
                *plan = other.into_iter().chain(same).collect();
            }
            Failure::Rejected(_) | Failure::Declined(_) | Failure::Failed(_) => {}
        }
    }

    /// After `method` worked. Returns whether this is a change worth logging.
    pub fn succeeded(&self, method: Method) -> Change {
        let mut st = self.lock();
        let was = st.current.replace(method);
        match was {
            Some(m) if m == method => Change::None,
            None if st.order.first() == Some(&method) => Change::None,
            _ => Change::SwitchedTo(method),
        }
    }

    /// The method in use, if one has worked.
    pub fn current(&self) -> Option<Method> {
        self.lock().current
    }

    /// Records why the mount uses another method now (`why`: what failed, what works).
    pub fn note_fallback(&self, why: String) {
        self.lock().last_fallback = Some(why);
    }

    /// What `ftpfs stats` shows: the mode, the method in use, the rejected ones, and why.
    pub fn snapshot(&self) -> crate::remote::stats::DataStats {
        let st = self.lock();
        let rejected: Vec<String> = Method::ALL
            .iter()
            .filter(|m| st.rejected.contains(m))
            .map(|m| m.name().to_string())
            .collect();
        crate::remote::stats::DataStats {
            configured: self.mode.name().to_string(),
            current: st.current.map(|m| m.name().to_string()),
            rejected,
            failures: st.failures,
            last_fallback: st.last_fallback.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_227_in_odd_but_legal_forms() {
        let want = Some(SocketAddrV4::new(Ipv4Addr::new(10, 1, 2, 3), 4 * 256 + 5));
        for reply in [
            "227 Entering Passive Mode (10,1,2,3,4,5).",
            "227 Entering Passive Mode 10,1,2,3,4,5",
            "227 =10,1,2,3,4,5",
            "227 Passive (10, 1, 2, 3, 4, 5)",
            "227 ok 10,1,2,3,4,5,extra",
        ] {
            assert_eq!(parse_227(reply), want, "{reply}");
        }
        assert_eq!(parse_227("227 Entering Passive Mode (300,1,2,3,4,5)"), None);
        assert_eq!(parse_227("227 nothing here"), None);
        assert_eq!(parse_227("227 (1,2,3)"), None);
    }

    #[test]
    fn parses_229_with_any_delimiter() {
        assert_eq!(
            parse_229("229 Entering Extended Passive Mode (|||6446|)"),
            Some(6446)
        );
        assert_eq!(
            parse_229("229 Entering Extended Passive Mode (!!!6446!)"),
            Some(6446)
        );
        assert_eq!(parse_229("229 |||6446|"), Some(6446));
        assert_eq!(parse_229("229 EPSV ok (|||50001|) thanks"), Some(50001));
        assert_eq!(parse_229("229 (|||0|)"), None);
        assert_eq!(parse_229("229 (|||99999|)"), None);
        assert_eq!(parse_229("229 no port"), None);
    }

    #[test]
    fn data_mode_narrows_the_methods() {
        assert_eq!(DataMode::Auto.methods(), Method::ALL.to_vec());
        assert_eq!("passive".parse(), Ok(DataMode::Passive));
        assert_eq!(DataMode::Active.methods(), vec![Method::Eprt, Method::Port]);
        assert!("sideways".parse::<DataMode>().is_err());
    }

    /// Drives the machine like the transfer loop does, against a fake network in which the
    /// given methods fail the given way; returns the methods tried in order and the winner.
    fn run(
        dm: &DataModes,
        fail: &dyn Fn(Method) -> Option<Failure>,
    ) -> (Vec<Method>, Option<Method>) {
        let mut plan = dm.plan();
        let mut tried = vec![];
        while !plan.is_empty() {
            let m = plan.remove(0);
            tried.push(m);
            match fail(m) {
                None => {
                    dm.succeeded(m);
                    return (tried, Some(m));
                }
                Some(f) => dm.failed(m, &f, &mut plan),
            }
        }
        (tried, None)
    }

    #[test]
    fn blocked_passive_falls_back_to_active_once_and_remembers() {
        use Method::*;
        let dm = DataModes::new(DataMode::Auto);
        let fw = |m: Method| m.is_passive().then(|| Failure::TimedOut("3s".into()));
        // First operation: EPSV times out, PASV is moved behind the active methods.
        assert_eq!(run(&dm, &fw), (vec![Epsv, Eprt], Some(Eprt)));
        // Later operations go straight to what works.
        assert_eq!(run(&dm, &fw), (vec![Eprt], Some(Eprt)));
        assert_eq!(dm.current(), Some(Eprt));
    }

    #[test]
    fn the_snapshot_says_what_failed_and_what_works() {
        use Method::*;
        let dm = DataModes::new(DataMode::Auto);
        let no_ext = |m: Method| matches!(m, Epsv).then(|| Failure::Rejected("500".into()));
        assert_eq!(run(&dm, &no_ext).1, Some(Pasv));
        dm.note_fallback("EPSV rejected (500); fell back to PASV".into());
        let s = dm.snapshot();
        assert_eq!(s.configured, "auto");
        assert_eq!(s.current.as_deref(), Some("PASV"));
        assert_eq!(s.rejected, ["EPSV"]);
        assert_eq!(s.failures, 1);
        assert!(s.last_fallback.is_some_and(|w| w.contains("PASV")));
        for mode in ["auto", "passive", "epsv", "pasv", "active", "eprt", "port"] {
            assert_eq!(mode.parse::<DataMode>().map(DataMode::name), Ok(mode));
        }
    }

    #[test]
    fn rejected_methods_are_never_asked_again() {
        use Method::*;
        let dm = DataModes::new(DataMode::Auto);
        let no_ext = |m: Method| matches!(m, Epsv | Eprt).then(|| Failure::Rejected("500".into()));
        assert_eq!(run(&dm, &no_ext), (vec![Epsv, Pasv], Some(Pasv)));
        assert_eq!(dm.plan(), vec![Pasv, Eprt, Port]);
    }

    #[test]
    fn remembered_mode_that_stops_working_is_probed_again() {
        use Method::*;
        let dm = DataModes::new(DataMode::Auto);
        assert_eq!(
            run(&dm, &|m| m
                .is_passive()
                .then(|| Failure::Refused("rst".into())))
            .1,
            Some(Eprt)
        );
        // Now the client side blocks active, passive works again.
        let (tried, won) = run(&dm, &|m| {
            (!m.is_passive()).then(|| Failure::Failed("425".into()))
        });
        assert_eq!(won, Some(Epsv));
        assert_eq!(tried[0], Eprt);
    }

    #[test]
    fn nothing_works_costs_one_timeout_per_family_and_every_refusing_method() {
        use Method::*;
        let dm = DataModes::new(DataMode::Auto);
        let (tried, won) = run(&dm, &|_| Some(Failure::TimedOut("x".into())));
        assert_eq!((tried, won), (vec![Epsv, Eprt], None));
        let dm = DataModes::new(DataMode::Auto);
        let (tried, won) = run(&dm, &|_| Some(Failure::Refused("x".into())));
        assert_eq!(won, None);
        let set: HashSet<Method> = tried.into_iter().collect();
        assert_eq!(set.len(), 4);
        let pinned = DataModes::new(DataMode::Active);
        let (tried, won) = run(&pinned, &|_| Some(Failure::Refused("x".into())));
        assert_eq!((tried, won), (vec![Method::Eprt, Method::Port], None));
    }
}
