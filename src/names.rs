//! File names are bytes; the core keeps them in `String`s. This module is the one lossless,
//! reversible mapping between the two, used at both edges of the program: the FUSE adapter
//! (kernel names, `OsStr` bytes) and the FTP layer (names on the wire, reply and listing
//! bytes). See ARCHITECTURE.md ("Names are bytes") for why names are not bytes throughout.
//!
//! The mapping ([`decode`]): valid UTF-8 stays as it is; every byte of an invalid sequence
//! becomes one *escape character*, U+10FD00 + the byte (bytes 0x80–0xFF only: an ASCII byte is
//! always valid UTF-8), in a private-use range of plane 16. A name that genuinely holds an
//! escape character (valid UTF-8 `F4 8F B6 80`…) has each of its four bytes escaped too, so no
//! two byte strings map to the same `String`. [`encode`] turns escape characters back into
//! their bytes and everything else into UTF-8.
//!
//! Invariants (property tests below):
//! - `encode(decode(b)) == b` for every byte string `b` (nothing is ever lost or altered);
//! - `decode(b)` is *canonical*: `decode(encode(s)) == s`. Every name the core holds came from
//!   [`decode`] (at the kernel edge or the FTP edge), so it is canonical and maps back to
//!   exactly the bytes it came from. A non-canonical string (escape characters whose bytes
//!   form valid UTF-8) never comes out of `decode`;
//! - any piece of a decoded string cut at character boundaries is canonical too (the listing
//!   parsers cut names out of decoded lines);
//! - a string without escape characters is its own UTF-8: for UTF-8 names (nearly all) both
//!   directions borrow and copy nothing.

use std::borrow::Cow;

/// Byte `b` (0x80..=0xFF) is escaped as `ESCAPE_BASE + b`: U+10FD80..=U+10FDFF.
pub const ESCAPE_BASE: u32 = 0x10_FD00;

/// The longest name the kernel takes (`NAME_MAX`), in bytes.
pub const NAME_MAX: usize = 255;

/// The first byte of the UTF-8 form of every escape character (U+100000..U+10FFFF start so):
/// a string without it holds no escape character.
const PLANE16_LEAD: u8 = 0xF4;

/// Whether `c` is an escape character (stands for one byte).
pub fn is_escape(c: char) -> bool {
    (ESCAPE_BASE + 0x80..=ESCAPE_BASE + 0xFF).contains(&(c as u32))
}

/// The byte an escape character stands for.
pub fn escaped_byte(c: char) -> Option<u8> {
    if is_escape(c) {
        Some((c as u32 - ESCAPE_BASE) as u8)
    } else {
        None
    }
}

/// The escape character of a byte 0x80..=0xFF.
fn escape(b: u8) -> char {
    debug_assert!(b >= 0x80);
    char::from_u32(ESCAPE_BASE + u32::from(b)).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// Whether `s` may hold an escape character (cheap: one byte scan).
fn may_hold_escapes(s: &str) -> bool {
    s.as_bytes().contains(&PLANE16_LEAD)
}

/// Whether `s` holds an escape character.
pub fn has_escapes(s: &str) -> bool {
    may_hold_escapes(s) && s.chars().any(is_escape)
}

/// Bytes (a name, a path, a listing line, a reply) as a `String`, losslessly.
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(bytes)
        && !has_escapes(s)
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if is_escape(c) {
                let mut buf = [0u8; 4];
                out.extend(c.encode_utf8(&mut buf).bytes().map(escape));
            } else {
                out.push(c);
            }
        }
        out.extend(chunk.invalid().iter().map(|&b| escape(b)));
    }
    Cow::Owned(out)
}

/// The bytes a decoded string stands for.
pub fn encode(s: &str) -> Cow<'_, [u8]> {
    if !may_hold_escapes(s) {
        return Cow::Borrowed(s.as_bytes());
    }
    let mut out = Vec::with_capacity(s.len());
    encode_into(s, &mut out);
    Cow::Owned(out)
}

/// Appends the bytes `s` stands for to `out`.
pub fn encode_into(s: &str, out: &mut Vec<u8>) {
    if !may_hold_escapes(s) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    let mut buf = [0u8; 4];
    for c in s.chars() {
        match escaped_byte(c) {
            Some(b) => out.push(b),
            None => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
        }
    }
}

/// The length in bytes of what `s` stands for (`encode(s).len()`, without building it).
pub fn byte_len(s: &str) -> usize {
    if !may_hold_escapes(s) {
        return s.len();
    }
    s.chars()
        .map(|c| if is_escape(c) { 1 } else { c.len_utf8() })
        .sum()
}

/// Why a name cannot be a file name in the mount, if it cannot: `EINVAL` (empty, `.`, `..`,
/// `/`, NUL, CR or LF: the kernel or the FTP command line cannot carry it) or `ENAMETOOLONG`
/// (more than [`NAME_MAX`] bytes).
pub fn name_errno(name: &str) -> Option<i32> {
    if matches!(name, "" | "." | "..") || name.contains(['/', '\0', '\r', '\n']) {
        Some(libc::EINVAL)
    } else if byte_len(name) > NAME_MAX {
        Some(libc::ENAMETOOLONG)
    } else {
        None
    }
}

/// A name for log lines: the text, with each escaped byte shown as `\xNN` (as `ls -b` would).
pub fn shown(s: &str) -> Cow<'_, str> {
    if !has_escapes(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match escaped_byte(c) {
            Some(b) => out.push_str(&format!("\\x{b:02x}")),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn esc(b: u8) -> char {
        escape(b)
    }

    #[test]
    fn utf8_passes_through_and_other_bytes_are_escaped() {
        assert!(matches!(
            decode("café.txt".as_bytes()),
            Cow::Borrowed("café.txt")
        ));
        let latin1 = decode(b"caf\xe9.txt");
        assert_eq!(latin1, format!("caf{}.txt", esc(0xe9)));
        assert_eq!(encode(&latin1).as_ref(), b"caf\xe9.txt");
        assert_eq!(byte_len(&latin1), 8);
        assert_eq!(shown(&latin1), "caf\\xe9.txt");
        // Shift-JIS "日本" (93 fa 96 7b) is not UTF-8.
        let sjis = decode(b"\x93\xfa\x96\x7b.txt");
        assert_eq!(encode(&sjis).as_ref(), b"\x93\xfa\x96\x7b.txt");
        assert_eq!(byte_len(&sjis), 8);
    }

    #[test]
    fn a_genuine_escape_character_is_escaped_too() {
        let genuine = format!("a{}b", esc(0xe9));
        let d = decode(genuine.as_bytes());
        assert_ne!(d, genuine, "must differ from the escape of the byte e9");
        assert_eq!(d.chars().filter(|&c| is_escape(c)).count(), 4);
        assert_eq!(encode(&d).as_ref(), genuine.as_bytes());
        assert_ne!(decode(b"a\xe9b"), d);
    }

    #[test]
    fn name_errnos() {
        for bad in ["", ".", "..", "a/b", "a\0b", "a\rb", "a\nb"] {
            assert_eq!(name_errno(bad), Some(libc::EINVAL), "{bad:?}");
        }
        assert_eq!(name_errno(&"x".repeat(255)), None);
        assert_eq!(name_errno(&"x".repeat(256)), Some(libc::ENAMETOOLONG));
        // 255 escaped bytes are 255 bytes, though 1020 in UTF-8.
        let latin1 = decode(&[0xe9; 255]).into_owned();
        assert_eq!(name_errno(&latin1), None);
        assert_eq!(name_errno(&"é".repeat(128)), Some(libc::ENAMETOOLONG));
        assert_eq!(name_errno("..."), None);
    }

    /// Bytes biased towards what breaks decoders: UTF-8 pieces, lone continuation and lead
    /// bytes, and the escape range's own encoding.
    fn nasty_bytes() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            any::<u8>().prop_map(|b| vec![b]),
            Just(vec![0xf4, 0x8f, 0xb6, 0x80]),
            Just(vec![0xf4, 0x8f, 0xb7, 0xbf]),
            Just(vec![0xf4, 0x8f, 0xb6]),
            Just("é".as_bytes().to_vec()),
            Just("日本".as_bytes().to_vec()),
            Just(vec![0xe6, 0x97]),
            Just(vec![0xed, 0xa0, 0x80]), // a UTF-16 surrogate in UTF-8: invalid
            Just(vec![0xc0, 0xaf]),       // overlong '/'
            Just(b" ".to_vec()),
            Just(b"/".to_vec()),
        ];
        prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn bytes_round_trip(b in nasty_bytes()) {
            let s = decode(&b);
            let bytes = encode(&s).into_owned();
            prop_assert_eq!(bytes, b.clone());
            prop_assert_eq!(byte_len(&s), b.len());
            let back = decode(&encode(&s)).into_owned();
            prop_assert_eq!(back, s.clone().into_owned());
        }

        #[test]
        fn decoding_is_injective(a in nasty_bytes(), b in nasty_bytes()) {
            prop_assume!(a != b);
            prop_assert_ne!(decode(&a), decode(&b));
        }

        #[test]
        fn pieces_of_a_decoded_string_are_canonical(b in nasty_bytes(), i in any::<usize>(), j in any::<usize>()) {
            let s = decode(&b);
            let bounds: Vec<usize> = s.char_indices().map(|(k, _)| k).chain([s.len()]).collect();
            let (x, y) = (bounds[i % bounds.len()], bounds[j % bounds.len()]);
            let piece = &s[x.min(y)..x.max(y)];
            let back = decode(&encode(piece)).into_owned();
            prop_assert_eq!(back.as_str(), piece);
        }

        #[test]
        fn any_string_encodes_and_canonical_ones_come_back(s in "\\PC{0,12}") {
            // Ordinary text has no escape characters: it is its own UTF-8.
            prop_assume!(!has_escapes(&s));
            let bytes = encode(&s).into_owned();
            prop_assert_eq!(bytes.as_slice(), s.as_bytes());
            let back = decode(s.as_bytes()).into_owned();
            prop_assert_eq!(back, s.clone());
        }
    }
}
