//! Splitting fstab-style option strings (`-o a,b=c,d`) into `(key, value)` pairs.
//!
//! This module only does the *syntax*; what each option means and whether it is
//! known is decided in [`crate::config`].
//!
//! Grammar and invariants of [`parse_mount_options`]:
//! * Items are separated by unescaped commas. `\,` stands for a literal comma and
//!   `\\` for a literal backslash; a backslash before any other character is kept
//!   as is (so ordinary paths are not mangled). A lone backslash at the very end
//!   of the string is an error, because it almost always means an escape got lost.
//! * Each item is split at its *first* `=`: the key is what comes before, the value
//!   everything after (so values may themselves contain `=`). An item without `=`
//!   has no value (`None`); `key=` has an empty value (`Some("")`).
//! * Keys and values are trimmed of surrounding whitespace. Returned keys are never
//!   empty: an item like `=x` is rejected. Items that are entirely blank (`a,,b`, a
//!   trailing comma, an empty `-o ''`) are skipped, since they carry no option.
//! * Order is preserved and duplicates are kept; callers apply "last one wins".
//!
//! Callers with several `-o` flags should parse each flag separately and
//! concatenate the results rather than joining the strings with `,`: joining
//! would turn a trailing backslash of one flag into an escape of the next comma.

use thiserror::Error;

/// Syntax errors in an option string.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OptError {
    /// An item such as `=value` that has no option name before the `=`.
    #[error("mount option '{item}' has an empty name")]
    EmptyKey {
        /// The offending item, after unescaping and trimming.
        item: String,
    },
    /// The string ends with a backslash that escapes nothing.
    #[error("mount options end with a lone backslash (write '\\\\' for a literal backslash)")]
    TrailingBackslash,
}

/// Splits an fstab-style option string into `(key, value)` pairs.
///
/// See the module documentation for the exact grammar. Example:
/// `"ro, fsname=a\,b ,x=y=z"` gives `[("ro", None), ("fsname", Some("a,b")), ("x", Some("y=z"))]`.
pub fn parse_mount_options(s: &str) -> Result<Vec<(String, Option<String>)>, OptError> {
    let mut out = Vec::new();
    for item in split_items(s)? {
        if let Some(pair) = split_item(&item)? {
            out.push(pair);
        }
    }
    Ok(out)
}

/// Splits at unescaped commas and resolves the `\,` and `\\` escapes.
fn split_items(s: &str) -> Result<Vec<String>, OptError> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(',') => cur.push(','),
                Some('\\') => cur.push('\\'),
                Some(other) => {
                    cur.push('\\');
                    cur.push(other);
                }
                None => return Err(OptError::TrailingBackslash),
            },
            ',' => items.push(std::mem::take(&mut cur)),
            other => cur.push(other),
        }
    }
    items.push(cur);
    Ok(items)
}

/// Turns one unescaped item into a pair; `Ok(None)` for a blank item.
fn split_item(item: &str) -> Result<Option<(String, Option<String>)>, OptError> {
    let item = item.trim();
    if item.is_empty() {
        return Ok(None);
    }
    let (key, value) = match item.split_once('=') {
        Some((k, v)) => (k.trim(), Some(v.trim().to_string())),
        None => (item, None),
    };
    if key.is_empty() {
        return Err(OptError::EmptyKey {
            item: item.to_string(),
        });
    }
    Ok(Some((key.to_string(), value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<(String, Option<String>)> {
        parse_mount_options(s).expect("should parse")
    }

    fn kv(k: &str, v: Option<&str>) -> (String, Option<String>) {
        (k.to_string(), v.map(str::to_string))
    }

    #[test]
    fn simple_flags_and_values() {
        assert_eq!(
            p("a,b=c,d"),
            vec![kv("a", None), kv("b", Some("c")), kv("d", None)]
        );
    }

    #[test]
    fn trims_keys_and_values() {
        assert_eq!(
            p("  ro ,  timeout = 5  "),
            vec![kv("ro", None), kv("timeout", Some("5"))]
        );
    }

    #[test]
    fn value_may_contain_equals() {
        assert_eq!(p("fsname=a=b=c"), vec![kv("fsname", Some("a=b=c"))]);
    }

    #[test]
    fn empty_value_is_some_empty() {
        assert_eq!(p("fsname="), vec![kv("fsname", Some(""))]);
    }

    #[test]
    fn escaped_comma_stays_in_value() {
        assert_eq!(
            p(r"fsname=a\,b,ro"),
            vec![kv("fsname", Some("a,b")), kv("ro", None)]
        );
    }

    #[test]
    fn escaped_backslash_and_other_backslashes() {
        // `\\,` is a literal backslash followed by a separator.
        assert_eq!(
            p(r"x=a\\,y=c\d"),
            vec![kv("x", Some(r"a\")), kv("y", Some(r"c\d"))]
        );
    }

    #[test]
    fn trailing_backslash_is_an_error() {
        assert_eq!(
            parse_mount_options(r"fsname=a\"),
            Err(OptError::TrailingBackslash)
        );
    }

    #[test]
    fn empty_key_is_rejected() {
        let err = parse_mount_options("ro,=5").expect_err("must fail");
        assert_eq!(
            err,
            OptError::EmptyKey {
                item: "=5".to_string()
            }
        );
        assert_eq!(err.to_string(), "mount option '=5' has an empty name");
        assert!(parse_mount_options(" = x").is_err());
    }

    #[test]
    fn blank_items_are_skipped() {
        assert_eq!(p(""), vec![]);
        assert_eq!(p(",a,, ,b,"), vec![kv("a", None), kv("b", None)]);
    }

    #[test]
    fn order_and_duplicates_are_preserved() {
        assert_eq!(
            p("ro,rw,ro"),
            vec![kv("ro", None), kv("rw", None), kv("ro", None)]
        );
    }
}
