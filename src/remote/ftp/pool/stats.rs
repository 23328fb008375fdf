//! The pool as `ftpfs stats` shows it: a snapshot of its state, taken under its lock (which
//! is never held across network I/O, so this never waits on the server).

use super::Pool;
use crate::remote::stats::{Lowered, PoolStats};

impl Pool {
    /// Connections by state, the limit, and whether the server lowered it.
    pub fn snapshot(&self) -> PoolStats {
        let st = self.lock();
        let idle = st.idle.len();
        PoolStats {
            connections: st.total,
            busy: st.total.saturating_sub(idle + st.connecting),
            idle,
            logging_in: st.connecting,
            waiting: st.waiting,
            streams: st.streams,
            limit: st.limit,
            configured: self.cfg.connections.max(1),
            // Logins that were running when the server refused one may have raised it again
            // since: the limit learned is the one in force.
            lowered: st.lowered.map(|code| Lowered { to: st.limit, code }),
        }
    }
}
