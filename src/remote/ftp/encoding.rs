//! Names between the wire and the core: `-o encoding=NAME` ([`NameCodec`]).
//!
//! Inside the FTP layer every byte string from the server (reply text, listing lines, paths)
//! is held as a *wire string*: [`crate::names::decode`] of its bytes, so it is lossless and
//! [`crate::names::encode`] gives the exact bytes back when a command is sent
//! (`Control::send_many`). The core holds *core strings*: what the kernel sees, decoded the
//! same way from the kernel's bytes.
//!
//! - Without an encoding (the default, also `-o encoding=utf-8`) a wire string *is* the core
//!   string: names go from the listing to the kernel and back byte for byte, UTF-8 or not.
//! - With `-o encoding=NAME` (any ASCII-compatible encoding `encoding_rs` knows: latin1,
//!   windows-1252, cp1251, koi8-r, shift_jis, gbk, euc-kr, big5, …) a name whose bytes decode
//!   in that encoding *and encode back to the very same bytes* is shown as that text in UTF-8;
//!   any other name (bytes the encoding does not have, or that would come back different) is
//!   shown as its bytes, as without an encoding.
//!
//! Invariants (tested below):
//! - [`NameCodec::to_core`] is injective: two names of a directory never show as one. A name
//!   shown as its bytes whose bytes read as UTF-8 text the encoding could write (that text
//!   then belongs to another name's bytes) has no name of its own: `to_core` says `None` and
//!   the listing leaves it out (with a warning).
//! - [`NameCodec::to_wire`] only returns bytes that `to_core` maps back to the name it was
//!   given; a name that does not convert back exactly is refused (`RemoteError::Unencodable`, EINVAL), never
//!   sent altered.
//! - ASCII is ASCII in both directions (FTP verbs, spaces and digits of listings are never
//!   touched), so only ASCII-compatible encodings are accepted.

use std::borrow::Cow;

use encoding_rs::Encoding;

use crate::names;

/// How names on the wire become names in the mount, and back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NameCodec {
    /// `None`: names are the server's bytes (UTF-8 or not).
    enc: Option<&'static Encoding>,
}

/// Labels servers' users know that the WHATWG label list (which `encoding_rs` follows) lacks.
const ALIASES: &[(&str, &str)] = &[
    ("cp932", "shift_jis"),
    ("ms932", "shift_jis"),
    ("sjis", "shift_jis"),
    ("cp936", "gbk"),
    ("cp949", "euc-kr"),
    ("cp950", "big5"),
    ("cp1250", "windows-1250"),
    ("cp1253", "windows-1253"),
    ("cp1254", "windows-1254"),
    ("cp1255", "windows-1255"),
    ("cp1256", "windows-1256"),
    ("cp1257", "windows-1257"),
    ("cp1258", "windows-1258"),
    ("latin-1", "windows-1252"),
];

impl NameCodec {
    /// Names as the server's bytes (no conversion).
    pub const BYTES: NameCodec = NameCodec { enc: None };

    /// The codec for `-o encoding=LABEL`. `utf-8`/`utf8` is the default (no conversion).
    pub fn for_label(label: &str) -> Result<NameCodec, String> {
        let l = label.trim().to_ascii_lowercase();
        if matches!(l.as_str(), "utf-8" | "utf8") {
            return Ok(NameCodec::BYTES);
        }
        let l = ALIASES
            .iter()
            .find(|(a, _)| *a == l)
            .map_or(l.as_str(), |(_, to)| to);
        let enc = Encoding::for_label(l.as_bytes()).ok_or_else(|| {
            "not an encoding ftpfs knows (e.g. latin1, windows-1252, cp1251, koi8-r, \
             shift_jis, gbk, euc-kr, big5)"
                .to_string()
        })?;
        if enc == encoding_rs::UTF_8 {
            return Ok(NameCodec::BYTES);
        }
        if !enc.is_ascii_compatible() || enc.output_encoding() != enc {
            return Err(format!(
                "{} cannot carry FTP commands (they are ASCII)",
                enc.name()
            ));
        }
        Ok(NameCodec { enc: Some(enc) })
    }

    /// The encoding's name (`None`: names are bytes).
    pub fn encoding(&self) -> Option<&'static str> {
        self.enc.map(Encoding::name)
    }

    /// Whether names are converted (an encoding other than UTF-8 was asked for).
    pub fn converts(&self) -> bool {
        self.enc.is_some()
    }

    /// The text `bytes` are in the encoding, when they decode and encode back exactly and
    /// the text holds no escape character.
    fn exact(enc: &'static Encoding, bytes: &[u8]) -> Option<String> {
        let text = enc.decode_without_bom_handling_and_without_replacement(bytes)?;
        if names::has_escapes(&text) {
            return None;
        }
        let (back, _, unmappable) = enc.encode(&text);
        (!unmappable && back.as_ref() == bytes).then(|| text.into_owned())
    }

    /// The name in the mount of a name on the wire (a wire string); `None` when it cannot be
    /// told from another name (see the module docs).
    pub fn to_core<'a>(&self, wire: &'a str) -> Option<Cow<'a, str>> {
        let Some(enc) = self.enc else {
            return Some(Cow::Borrowed(wire));
        };
        if wire.is_ascii() {
            return Some(Cow::Borrowed(wire));
        }
        let bytes = names::encode(wire);
        if let Some(text) = Self::exact(enc, &bytes) {
            return Some(Cow::Owned(text));
        }
        // Shown as its bytes. When those are UTF-8 text (no escape character) that the
        // encoding could write, that text is the name of other bytes: no name for this one.
        if !names::has_escapes(wire) {
            let (_, _, unmappable) = enc.encode(wire);
            if !unmappable {
                return None;
            }
        }
        Some(Cow::Borrowed(wire))
    }

    /// The wire string of a name in the mount, or why it cannot be sent.
    pub fn to_wire<'a>(&self, core: &'a str) -> Result<Cow<'a, str>, String> {
        let Some(enc) = self.enc else {
            return Ok(Cow::Borrowed(core));
        };
        if core.is_ascii() {
            return Ok(Cow::Borrowed(core));
        }
        // The name as its bytes when it has escaped bytes or the encoding cannot write it
        // (a UTF-8 name on a legacy server: shown as its bytes, sent as them).
        let mut unmappable = false;
        let wire: Cow<'a, str> = if names::has_escapes(core) {
            Cow::Borrowed(core)
        } else {
            let (bytes, _, failed) = enc.encode(core);
            unmappable = failed;
            if failed {
                Cow::Borrowed(core)
            } else {
                Cow::Owned(names::decode(&bytes).into_owned())
            }
        };
        match self.to_core(&wire) {
            Some(back) if back == core => Ok(wire),
            _ if unmappable => Err(format!(
                "{core:?} cannot be written in {} (-o encoding)",
                enc.name()
            )),
            _ => Err(format!(
                "{} would not come back from the server as the same name in {} (-o encoding)",
                names::shown(core),
                enc.name()
            )),
        }
    }

    /// A path of the mount (`/a/b`) as a wire string, component by component.
    pub fn path_to_wire<'a>(&self, core: &'a str) -> Result<Cow<'a, str>, String> {
        if self.enc.is_none() || core.is_ascii() {
            return Ok(Cow::Borrowed(core));
        }
        let parts: Result<Vec<Cow<'_, str>>, String> =
            core.split('/').map(|c| self.to_wire(c)).collect();
        Ok(Cow::Owned(parts?.join("/")))
    }

    /// A server path (a wire string) in the mount's terms, component by component, as far as
    /// it can be (a component without a name of its own stays as its bytes).
    pub fn path_to_core<'a>(&self, wire: &'a str) -> Cow<'a, str> {
        if self.enc.is_none() || wire.is_ascii() {
            return Cow::Borrowed(wire);
        }
        let parts: Vec<Cow<'_, str>> = wire
            .split('/')
            .map(|c| self.to_core(c).unwrap_or(Cow::Borrowed(c)))
            .collect();
        Cow::Owned(parts.join("/"))
    }

    /// A listing line (its bytes, without the line end) as the parsers read it, and whether
    /// the names cut from it are core strings already (`true`) or wire strings that still go
    /// through [`NameCodec::to_core`] (`false`). With an encoding, a line that decodes exactly
    /// is read as text, so month names and owners in that encoding parse too.
    pub fn line<'a>(&self, bytes: &'a [u8]) -> (Cow<'a, str>, bool) {
        match self.enc {
            None => (names::decode(bytes), true),
            Some(_) if bytes.is_ascii() => (names::decode(bytes), true),
            Some(enc) => match Self::exact(enc, bytes) {
                Some(text) => (Cow::Owned(text), true),
                None => (names::decode(bytes), false),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn codec(label: &str) -> NameCodec {
        NameCodec::for_label(label).expect(label)
    }

    #[test]
    fn labels() {
        assert_eq!(codec("UTF-8"), NameCodec::BYTES);
        assert_eq!(codec("utf8"), NameCodec::BYTES);
        assert_eq!(codec("latin1").encoding(), Some("windows-1252"));
        assert_eq!(codec("iso-8859-1").encoding(), Some("windows-1252"));
        assert_eq!(codec("cp1251").encoding(), Some("windows-1251"));
        assert_eq!(codec("KOI8-R").encoding(), Some("KOI8-R"));
        assert_eq!(codec("shift_jis").encoding(), Some("Shift_JIS"));
        assert_eq!(codec("cp932").encoding(), Some("Shift_JIS"));
        assert_eq!(codec("gbk").encoding(), Some("GBK"));
        assert_eq!(codec("euc-kr").encoding(), Some("EUC-KR"));
        assert!(NameCodec::for_label("utf-16le").is_err());
        assert!(NameCodec::for_label("iso-2022-jp").is_err());
        assert!(NameCodec::for_label("klingon").is_err());
    }

    #[test]
    fn latin1_names_are_shown_in_utf8_and_sent_in_latin1() {
        let c = codec("latin1");
        let wire = names::decode(b"caf\xe9.txt");
        assert_eq!(c.to_core(&wire).as_deref(), Some("café.txt"));
        let back = c.to_wire("café.txt").expect("encodable");
        assert_eq!(names::encode(&back).as_ref(), b"caf\xe9.txt");
        // Not in windows-1252: refused, never sent altered.
        assert!(c.to_wire("日本.txt").is_err());
        assert_eq!(c.to_wire("plain").as_deref(), Ok("plain"));
    }

    #[test]
    fn shift_jis_names_and_bytes_it_does_not_have() {
        let c = codec("shift_jis");
        let wire = names::decode(b"\x93\xfa\x96\x7b.txt");
        assert_eq!(c.to_core(&wire).as_deref(), Some("日本.txt"));
        assert_eq!(
            names::encode(&c.to_wire("日本.txt").expect("sjis")).as_ref(),
            b"\x93\xfa\x96\x7b.txt"
        );
        // 0xa0 is not Shift_JIS: the name is shown as bytes, sent back as the same bytes.
        let odd = names::decode(b"x\x80\xa0");
        let core = c.to_core(&odd).expect("has a name").into_owned();
        assert_eq!(core, odd);
        assert_eq!(
            names::encode(&c.to_wire(&core).expect("back")).as_ref(),
            b"x\x80\xa0"
        );
        // The bytes of "é" in UTF-8 (c3 a9) are half-width katakana in Shift_JIS.
        assert_eq!(
            c.to_core(&names::decode("é".as_bytes())).as_deref(),
            Some("ﾃｩ")
        );
    }

    #[test]
    fn lines_decode_whole_when_they_can() {
        let c = codec("latin1");
        let (line, core) = c.line(b"-rw-r--r-- 1 ftp ftp 5 M\xe4r 5 2024 caf\xe9");
        assert!(core);
        assert!(line.ends_with("Mär 5 2024 café"), "{line}");
        let (line, core) = NameCodec::BYTES.line(b"caf\xe9");
        assert!(core);
        assert_eq!(names::encode(&line).as_ref(), b"caf\xe9");
        let sjis = codec("shift_jis");
        let (line, core) = sjis.line(b"x \x93\xfa y \xa0");
        assert!(!core);
        assert_eq!(names::encode(&line).as_ref(), b"x \x93\xfa y \xa0");
    }

    #[test]
    fn paths_convert_component_by_component() {
        let c = codec("latin1");
        let wire = c.path_to_wire("/Müll/café").expect("latin1");
        assert_eq!(names::encode(&wire).as_ref(), b"/M\xfcll/caf\xe9");
        assert_eq!(c.path_to_core(&wire), "/Müll/café");
        assert!(c.path_to_wire("/ok/日本").is_err());
    }

    fn labels_to_try() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "utf-8",
            "latin1",
            "cp1251",
            "koi8-r",
            "shift_jis",
            "gbk",
            "euc-kr",
            "big5",
            "iso-8859-7",
        ])
    }

    fn name_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                4 => 0x20u8..0x7f,
                4 => 0x80u8..=0xff,
                1 => Just(0xf4u8),
                1 => Just(0x8fu8),
            ],
            0..12,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Every name a server lists either has a name in the mount that goes back to exactly
        /// its bytes, or none at all (left out); two names never share one.
        #[test]
        fn wire_names_round_trip_and_never_collide(
            label in labels_to_try(), a in name_bytes(), b in name_bytes(),
        ) {
            let c = codec(label);
            let (wa, wb) = (names::decode(&a), names::decode(&b));
            if let Some(core) = c.to_core(&wa) {
                let wire = c.to_wire(&core).map_err(TestCaseError::fail)?;
                let sent = names::encode(&wire).into_owned();
                prop_assert_eq!(sent, a.clone());
                if a != b {
                    prop_assert_ne!(Some(core), c.to_core(&wb));
                }
            }
        }

        /// Whatever the kernel hands in, what is sent comes back as the same name.
        #[test]
        fn what_is_sent_comes_back_as_the_same_name(label in labels_to_try(), k in name_bytes()) {
            let c = codec(label);
            let core = names::decode(&k);
            if let Ok(wire) = c.to_wire(&core) {
                let back = c.to_core(&wire).map(Cow::into_owned);
                prop_assert_eq!(back.as_deref(), Some(core.as_ref()));
            }
        }

        /// Text the encoding can write is sent in it (not refused).
        #[test]
        fn encodable_text_is_accepted(label in labels_to_try(), s in "[a-zé日本ыΩ가]{0,6}") {
            let c = codec(label);
            if let Some(enc) = c.enc {
                let (bytes, _, unmappable) = enc.encode(&s);
                if !unmappable {
                    let wire = c.to_wire(&s).map_err(TestCaseError::fail)?;
                    let sent = names::encode(&wire).into_owned();
                    prop_assert_eq!(sent.as_slice(), bytes.as_ref());
                }
            }
        }
    }
}
