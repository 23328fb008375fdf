//! Reading netrc files (`~/.netrc`): the parser and the entry lookup.
//!
//! Format: `machine NAME`, `default`, `login`, `password`, `account` (ignored)
//! and `macdef NAME` (its body, up to the next empty line, is skipped). Tokens
//! are separated by any whitespace, so an entry may span lines or share one;
//! `"quoted tokens"` may contain whitespace and the escapes `\"`, `\\`, `\n`,
//! `\r`, `\t`, but not a line break. Lines starting with `#` are comments.
//! Unknown words are ignored, like other netrc readers do.
//!
//! Invariants: passwords are held as [`Secret`] and never appear in errors;
//! errors carry a 1-based line number; `default` entries have `machine == None`.

use crate::config::Secret;

/// One `machine` (or `default`, `machine == None`) entry of a netrc file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetrcEntry {
    pub machine: Option<String>,
    pub login: Option<String>,
    pub password: Option<Secret>,
}

/// A netrc syntax error at a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetrcError {
    pub line: usize,
    pub reason: String,
}

/// Parses netrc text (format in the module doc) into its entries, in file order.
pub fn parse_netrc(text: &str) -> Result<Vec<NetrcEntry>, NetrcError> {
    let mut lx = Lexer {
        s: text.as_bytes(),
        pos: 0,
        line: 1,
    };
    let mut entries: Vec<NetrcEntry> = Vec::new();
    while let Some((tok, line)) = lx.next_token()? {
        let mut value = |what: &str| -> Result<String, NetrcError> {
            match lx.next_token()? {
                Some((v, _)) => Ok(v),
                None => Err(NetrcError {
                    line,
                    reason: format!("'{what}' at end of file without a value"),
                }),
            }
        };
        match tok.as_str() {
            "machine" => {
                let name = value("machine")?;
                entries.push(NetrcEntry {
                    machine: Some(name),
                    login: None,
                    password: None,
                });
            }
            "default" => entries.push(NetrcEntry {
                machine: None,
                login: None,
                password: None,
            }),
            "login" | "password" | "account" => {
                let v = value(&tok)?;
                if let Some(e) = entries.last_mut() {
                    match tok.as_str() {
                        "login" => e.login = Some(v),
                        "password" => e.password = Some(Secret::new(v)),
                        _ => {}
                    }
                }
            }
            "macdef" => {
                value("macdef")?;
                lx.skip_macro_body();
            }
            _ => {}
        }
    }
    Ok(entries)
}

/// The entry to use for `host`: `machine` entries for the host first, then
/// `default`. Without `user`, the first of these; with `user`, the first whose
/// `login` is that user or which names no login.
pub fn netrc_lookup<'a>(
    entries: &'a [NetrcEntry],
    host: &str,
    user: Option<&str>,
) -> Option<&'a NetrcEntry> {
    let machines = entries.iter().filter(|e| {
        e.machine
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case(host))
    });
    let defaults = entries.iter().filter(|e| e.machine.is_none());
    machines.chain(defaults).find(|e| match (user, &e.login) {
        (None, _) | (_, None) => true,
        (Some(u), Some(l)) => u == l,
    })
}

struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
    line: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        if b == b'\n' {
            self.line += 1;
        }
        Some(b)
    }

    fn at_line_start(&self) -> bool {
        self.s[..self.pos]
            .iter()
            .rev()
            .take_while(|&&b| b != b'\n')
            .all(u8::is_ascii_whitespace)
    }

    fn skip_to_next_line(&mut self) {
        while let Some(b) = self.bump() {
            if b == b'\n' {
                break;
            }
        }
    }

    /// Returns the next token and the line it starts on.
    fn next_token(&mut self) -> Result<Option<(String, usize)>, NetrcError> {
        loop {
            match self.peek() {
                None => return Ok(None),
                Some(b) if b.is_ascii_whitespace() => {
                    self.bump();
                }
                Some(b'#') if self.at_line_start() => self.skip_to_next_line(),
                Some(_) => break,
            }
        }
        let line = self.line;
        let mut tok = Vec::new();
        if self.peek() == Some(b'"') {
            self.bump();
            loop {
                match self.bump() {
                    None | Some(b'\n') => {
                        return Err(NetrcError {
                            line,
                            reason: "unterminated quoted string".to_string(),
                        });
                    }
                    Some(b'"') => break,
                    Some(b'\\') => match self.bump() {
                        Some(b'n') => tok.push(b'\n'),
                        Some(b'r') => tok.push(b'\r'),
                        Some(b't') => tok.push(b'\t'),
                        Some(b'\n') | None => {
                            return Err(NetrcError {
                                line,
                                reason: "unterminated quoted string".to_string(),
                            });
                        }
                        Some(other) => tok.push(other),
                    },
                    Some(other) => tok.push(other),
                }
            }
        } else {
            while let Some(b) = self.peek() {
                if b.is_ascii_whitespace() {
                    break;
                }
                tok.push(b);
                self.bump();
            }
        }
        Ok(Some((String::from_utf8_lossy(&tok).into_owned(), line)))
    }

    /// Skips the rest of the `macdef` line and the macro body, which ends at
    /// the first empty line (or the end of the file).
    fn skip_macro_body(&mut self) {
        self.skip_to_next_line();
        while self.peek().is_some() {
            let start = self.pos;
            self.skip_to_next_line();
            let line = &self.s[start..self.pos];
            if line.iter().all(|&b| b == b'\n' || b == b'\r') {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(machine: Option<&str>, login: Option<&str>, password: Option<&str>) -> NetrcEntry {
        NetrcEntry {
            machine: machine.map(str::to_string),
            login: login.map(str::to_string),
            password: password.map(Secret::new),
        }
    }

    #[test]
    fn netrc_multiple_machines_and_default() {
        let text = "machine a login la password pa\n\
                    machine b\tlogin lb\n  password pb account acct\n\
                    default login anonymous password guest@\n";
        let entries = parse_netrc(text).expect("parse");
        assert_eq!(
            entries,
            vec![
                entry(Some("a"), Some("la"), Some("pa")),
                entry(Some("b"), Some("lb"), Some("pb")),
                entry(None, Some("anonymous"), Some("guest@")),
            ]
        );
        assert_eq!(netrc_lookup(&entries, "B", None), Some(&entries[1]));
        assert_eq!(netrc_lookup(&entries, "c", None), Some(&entries[2]));
        assert_eq!(
            netrc_lookup(&entries, "a", Some("anonymous")),
            Some(&entries[2])
        );
        assert_eq!(netrc_lookup(&entries, "c", Some("bob")), None);
    }

    #[test]
    fn netrc_single_line_and_no_login() {
        let entries =
            parse_netrc("machine h password p machine g login x password y").expect("parse");
        assert_eq!(entries[0], entry(Some("h"), None, Some("p")));
        assert_eq!(entries[1], entry(Some("g"), Some("x"), Some("y")));
        // An entry without login applies to any user.
        assert_eq!(netrc_lookup(&entries, "h", Some("bob")), Some(&entries[0]));
    }

    #[test]
    fn netrc_macdef_is_skipped() {
        let text = "macdef init\nmachine evil login x password y\ncd /pub\n\nmachine h login u password p\n";
        let entries = parse_netrc(text).expect("parse");
        assert_eq!(entries, vec![entry(Some("h"), Some("u"), Some("p"))]);
        // A macro running to the end of the file is fine too.
        assert_eq!(
            parse_netrc("machine h login u\nmacdef m\nbin\n"),
            Ok(vec![entry(Some("h"), Some("u"), None)])
        );
    }

    #[test]
    fn netrc_quoted_tokens_and_comments() {
        let text = "# my servers\nmachine h login \"John Doe\" password \"p w\\\"x\\\\y\"\n  # indented comment\n";
        let entries = parse_netrc(text).expect("parse");
        assert_eq!(
            entries,
            vec![entry(Some("h"), Some("John Doe"), Some("p w\"x\\y"))]
        );
        // '#' inside a line is part of a token, not a comment.
        let entries = parse_netrc("machine h login u password a#b").expect("parse");
        assert_eq!(entries[0].password, Some(Secret::new("a#b")));
    }

    #[test]
    fn netrc_keyword_without_value_is_an_error() {
        assert_eq!(
            parse_netrc("machine h\nlogin"),
            Err(NetrcError {
                line: 2,
                reason: "'login' at end of file without a value".to_string()
            })
        );
    }
}
