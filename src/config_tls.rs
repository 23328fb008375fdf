//! The FTPS mount options (`tls`, `tls_ca`, `tls_fingerprint`, `tls_name`, `tls_insecure`,
//! `tls_max`) and how they combine with the URL's scheme (`ftps://` implicit TLS on port 990,
//! `ftpes://` explicit TLS, `ftp://` plain unless `-o tls`).
//!
//! Invariants:
//! - A TLS option on a mount without TLS is an error, never silently ignored.
//! - `tls_insecure` excludes `tls_fingerprint` and `tls_ca` (each says whom to trust), and
//!   `tls_fingerprint` excludes `tls_ca`.
//! - Nothing here turns TLS off for a URL that asks for it.

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::remote::ftp::tls::{TlsMax, TlsMode, TlsOptions};
use crate::remote::ftp::tls_verify::parse_fingerprint;

/// Default port of implicit FTPS.
pub const IMPLICIT_PORT: u16 = 990;

/// The TLS options as given (`None`/`false`: not given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// `-o tls` (= explicit), `-o tls=explicit|implicit`.
    pub mode: Option<TlsMode>,
    pub ca_file: Option<PathBuf>,
    pub fingerprint: Option<[u8; 32]>,
    pub name: Option<String>,
    pub insecure: bool,
    pub max: Option<TlsMax>,
}

fn bad(key: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::BadValue {
        option: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn need<'a>(key: &str, value: Option<&'a str>, hint: &'static str) -> Result<&'a str, ConfigError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        Some(v) => Err(bad(key, v, "must not be empty")),
        None => Err(ConfigError::MissingValue {
            option: key.to_string(),
            hint,
        }),
    }
}

fn parse_max(v: &str) -> Option<TlsMax> {
    match v {
        "1.2" => Some(TlsMax::V12),
        "1.3" => Some(TlsMax::V13),
        _ => None,
    }
}

impl TlsSettings {
    /// Applies `key=value` when it is a TLS option (`None` otherwise).
    pub fn apply(&mut self, key: &str, value: Option<&str>) -> Option<Result<(), ConfigError>> {
        let r = match key {
            "tls" => match value {
                None | Some("explicit") => {
                    self.mode = Some(TlsMode::Explicit);
                    Ok(())
                }
                Some("implicit") => {
                    self.mode = Some(TlsMode::Implicit);
                    Ok(())
                }
                Some(v) => Err(bad(
                    key,
                    v,
                    "must be explicit (AUTH TLS) or implicit (TLS from the start); there is \
                     no way to turn TLS off for an ftps:// or ftpes:// URL",
                )),
            },
            "tls_ca" => need(key, value, "FILE").map(|v| self.ca_file = Some(PathBuf::from(v))),
            "tls_fingerprint" => need(key, value, "sha256:HEX").and_then(|v| {
                self.fingerprint = Some(parse_fingerprint(v).map_err(|r| bad(key, v, &r))?);
                Ok(())
            }),
            "tls_name" => need(key, value, "HOST").map(|v| self.name = Some(v.to_string())),
            "tls_insecure" => match value {
                None => {
                    self.insecure = true;
                    Ok(())
                }
                Some(v) => Err(ConfigError::UnexpectedValue {
                    option: key.to_string(),
                    value: v.to_string(),
                }),
            },
            "tls_max" => need(key, value, "1.2|1.3").and_then(|v| {
                self.max = Some(parse_max(v).ok_or_else(|| bad(key, v, "must be 1.2 or 1.3"))?);
                Ok(())
            }),
            _ => return None,
        };
        Some(r)
    }

    /// Whether any option other than the mode was given (they need a TLS mount).
    fn any(&self) -> Option<&'static str> {
        if self.ca_file.is_some() {
            Some("tls_ca")
        } else if self.fingerprint.is_some() {
            Some("tls_fingerprint")
        } else if self.name.is_some() {
            Some("tls_name")
        } else if self.insecure {
            Some("tls_insecure")
        } else if self.max.is_some() {
            Some("tls_max")
        } else {
            None
        }
    }

    /// The TLS settings of a mount whose URL asked for `scheme` (`None`: `ftp://`), and its
    /// port (`url_port` when the URL names one).
    pub fn resolve(
        &self,
        scheme: Option<TlsMode>,
        url_port: Option<u16>,
    ) -> Result<(Option<TlsOptions>, u16), ConfigError> {
        let mode = self.mode.or(scheme);
        let default_port = match mode {
            Some(TlsMode::Implicit) => IMPLICIT_PORT,
            _ => crate::config::DEFAULT_PORT,
        };
        let port = url_port.unwrap_or(default_port);
        let Some(mode) = mode else {
            return match self.any() {
                Some(opt) => Err(ConfigError::TlsOptionWithoutTls(opt)),
                None => Ok((None, port)),
            };
        };
        if self.insecure && self.fingerprint.is_some() {
            return Err(ConfigError::Conflict("tls_insecure", "tls_fingerprint"));
        }
        if self.insecure && self.ca_file.is_some() {
            return Err(ConfigError::Conflict("tls_insecure", "tls_ca"));
        }
        if self.fingerprint.is_some() && self.ca_file.is_some() {
            return Err(ConfigError::Conflict("tls_fingerprint", "tls_ca"));
        }
        let mut o = TlsOptions::new(mode);
        o.ca_file = self.ca_file.clone();
        o.fingerprint = self.fingerprint;
        o.name = self.name.clone();
        o.insecure = self.insecure;
        o.max = self.max.unwrap_or(TlsMax::V13);
        Ok((Some(o), port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OptionSettings;
    use crate::mount_opts::parse_mount_options;

    fn tls(s: &str) -> Result<TlsSettings, ConfigError> {
        OptionSettings::from_options(&parse_mount_options(s)?).map(|o| o.tls)
    }

    fn err(s: &str, scheme: Option<TlsMode>) -> String {
        match tls(s).and_then(|t| t.resolve(scheme, None)) {
            Ok(_) => panic!("{s} should be rejected"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn schemes_and_the_tls_option_pick_mode_and_port() {
        let none = TlsSettings::default();
        assert_eq!(none.resolve(None, None).ok(), Some((None, 21)));
        let (t, p) = none.resolve(Some(TlsMode::Implicit), None).expect("ftps");
        assert_eq!((t.map(|t| t.mode), p), (Some(TlsMode::Implicit), 990));
        let (t, p) = none
            .resolve(Some(TlsMode::Explicit), Some(2121))
            .expect("ftpes");
        assert_eq!((t.map(|t| t.mode), p), (Some(TlsMode::Explicit), 2121));
        let (t, p) = tls("tls")
            .expect("tls")
            .resolve(None, None)
            .expect("-o tls");
        assert_eq!((t.map(|t| t.mode), p), (Some(TlsMode::Explicit), 21));
        let (t, p) = tls("tls=implicit")
            .expect("tls")
            .resolve(None, None)
            .expect("-o tls=implicit");
        assert_eq!((t.map(|t| t.mode), p), (Some(TlsMode::Implicit), 990));
    }

    #[test]
    fn trust_options_are_parsed_and_kept() {
        let fp = format!("sha256:{}", "ab".repeat(32));
        let s = tls(&format!(
            "tls,tls_fingerprint={fp},tls_name=ftp.example.org,tls_max=1.2"
        ))
        .expect("options");
        let (t, _) = s.resolve(None, None).expect("resolve");
        let t = t.expect("tls");
        assert_eq!(t.fingerprint, Some([0xab; 32]));
        assert_eq!(t.name.as_deref(), Some("ftp.example.org"));
        assert_eq!(t.max, TlsMax::V12);
        let e = tls("tls_insecure=yes").expect_err("flag with a value");
        assert!(e.to_string().contains("takes no value"), "{e}");
    }

    #[test]
    fn tls_options_without_tls_and_contradictions_are_errors() {
        assert!(err("tls_ca=/x", None).contains("tls_ca"));
        assert!(err("tls_insecure", None).contains("ftps://"));
        assert!(err("tls_max=1.2", None).contains("tls_max"));
        let fp = format!("tls_fingerprint=sha256:{}", "00".repeat(32));
        assert!(
            err(&format!("tls_insecure,{fp}"), Some(TlsMode::Explicit))
                .contains("cannot be used together")
        );
        assert!(
            err("tls_insecure,tls_ca=/x", Some(TlsMode::Explicit))
                .contains("cannot be used together")
        );
        assert!(err("tls=off", Some(TlsMode::Implicit)).contains("no way to turn TLS off"));
        assert!(err("tls_max=1.1", Some(TlsMode::Implicit)).contains("1.2 or 1.3"));
        assert!(err("tls_fingerprint=sha256:12", Some(TlsMode::Implicit)).contains("64 hex"));
        assert!(err("tls_name=", Some(TlsMode::Implicit)).contains("must not be empty"));
    }
}
