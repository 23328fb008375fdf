//! The FTP remote's snapshot for `ftpfs stats` ([`crate::remote::Remote::stats`]): the
//! counters of `counters.rs`, the pool, the data-connection state, the server's features and
//! TLS. Each part is read under its own short lock or from atomics: nothing here waits on
//! the server or on a connection in use.

use super::FtpRemote;
use super::tls::TlsMode;
use crate::remote::stats::{RemoteStats, TlsStats};

impl FtpRemote {
    pub(super) fn snapshot(&self) -> RemoteStats {
        let c = &self.shared.counters;
        let tls = self.shared.tls.as_ref().map(|t| {
            let seen = c.tls();
            TlsStats {
                mode: match t.mode {
                    TlsMode::Explicit => "explicit",
                    TlsMode::Implicit => "implicit",
                }
                .to_string(),
                version: seen.as_ref().map(|(v, _)| v.clone()),
                cipher: seen.map(|(_, c)| c),
                capped_to_1_2: t.policy.capped(),
            }
        });
        RemoteStats {
            server: Some(self.server.clone()),
            commands: c.commands(),
            pool: Some(self.pool.snapshot()),
            data: Some(self.shared.modes.snapshot()),
            streams: c.streams(),
            retries: c.retries(),
            features: self
                .shared
                .feats
                .get()
                .map(|f| f.raw.clone())
                .unwrap_or_default(),
            tls,
        }
    }
}
