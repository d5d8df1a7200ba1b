//! Header values as people wrote them: RFC 2047 encoded words, RFC 2045 parameters with RFC 2231
//! continuations and charsets, and raw 8-bit bytes that no standard allows and every scanner
//! sends.
//!
//! Charsets are read the way the WHATWG Encoding Standard reads their labels (`encoding_rs`), as
//! mail clients do: `shift_jis` is Windows-31J, `gb2312` is GBK, `ks_c_5601-1987` and `euc-kr`
//! are Windows-949, `iso-8859-1` is Windows-1252. So Outlook's `①` in a Shift_JIS name and
//! Outlook Express's `’` in an ISO-8859-1 one come out right. Bytes in no declared charset are
//! UTF-8 when they are valid UTF-8, else Windows-1252: never U+FFFD for a French scanner's `é`.
//!
//! Parameters are read leniently: white space is allowed around `=` (Exchange folds a long name
//! right after `name=`), an unquoted value runs to the next `;`, and encoded words inside a quoted
//! value are decoded (every client writes `name="=?UTF-8?B?…?="`, although RFC 2047 forbids it).

use encoding_rs::Encoding;

/// `bytes` in the charset `label`, or `None` when the label names no known charset.
pub fn decode_charset(bytes: &[u8], label: &str) -> Option<String> {
    let encoding = Encoding::for_label(label.trim().as_bytes())?;
    // UTF-7 is not in the WHATWG standard; `for_label` does not know it either.
    let (text, _) = encoding.decode_without_bom_handling(bytes);
    Some(text.into_owned())
}

/// Bytes in no declared charset: UTF-8 when valid, else Windows-1252.
pub fn raw8(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    }
}

/// One encoded word `=?charset?B|Q?text?=` at the start of `text`: (charset, decoded bytes,
/// length of the word).
fn encoded_word(text: &[u8]) -> Option<(&[u8], Vec<u8>, usize)> {
    let rest = text.strip_prefix(b"=?")?;
    let q1 = rest.iter().position(|&b| b == b'?')?;
    let charset = &rest[..q1];
    if charset.is_empty() || charset.iter().any(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let encoding = *rest.get(q1 + 1)?;
    if rest.get(q1 + 2) != Some(&b'?') {
        return None;
    }
    let payload_start = q1 + 3;
    let payload_len = rest[payload_start..].windows(2).position(|w| w == b"?=")?;
    let payload = &rest[payload_start..payload_start + payload_len];
    if payload.iter().any(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let decoded = match encoding {
        b'B' | b'b' => base64_word(payload)?,
        b'Q' | b'q' => q_word(payload),
        _ => return None,
    };
    // RFC 2231 §5: `charset*language`.
    let charset = charset.split(|&b| b == b'*').next().unwrap_or(charset);
    Some((charset, decoded, 2 + payload_start + payload_len + 2))
}

fn base64_word(payload: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine;
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    engine.decode(payload).ok()
}

fn q_word(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len());
    let mut i = 0;
    while i < payload.len() {
        match payload[i] {
            b'_' => out.push(b' '),
            b'=' if hex_pair(payload.get(i + 1..i + 3)).is_some() => {
                out.push(hex_pair(payload.get(i + 1..i + 3)).unwrap_or(b'='));
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    out
}

/// The byte two hex digits spell (`E9`), if they are two hex digits.
pub(super) fn hex_pair(pair: Option<&[u8]>) -> Option<u8> {
    let pair = pair?;
    let digit = |b: u8| (b as char).to_digit(16);
    let value = digit(pair[0])? * 16 + digit(pair[1])?;
    u8::try_from(value).ok()
}

/// A header value with its RFC 2047 encoded words decoded; white space between two encoded words
/// is dropped, and adjacent words in one charset are joined before decoding (Outlook splits a
/// multi-byte character across two words). Text outside words is read as `raw8`.
pub fn decode_words(value: &[u8]) -> String {
    let mut out = String::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut pending_charset: Vec<u8> = Vec::new();
    let flush = |out: &mut String, pending: &mut Vec<u8>, charset: &mut Vec<u8>| {
        if !pending.is_empty() {
            let label = String::from_utf8_lossy(charset);
            match decode_charset(pending, &label) {
                Some(text) => out.push_str(&text),
                None => out.push_str(&raw8(pending)),
            }
            pending.clear();
        }
        charset.clear();
    };
    let mut text_start = 0;
    let mut i = 0;
    let mut last_was_word = false;
    while i < value.len() {
        if value[i] == b'=' && value.get(i + 1) == Some(&b'?') {
            if let Some((charset, bytes, len)) = encoded_word(&value[i..]) {
                let between = &value[text_start..i];
                let only_space = between.iter().all(|b| b.is_ascii_whitespace());
                if !(last_was_word && only_space) {
                    flush(&mut out, &mut pending, &mut pending_charset);
                    out.push_str(&raw8(between));
                }
                if !pending_charset.eq_ignore_ascii_case(charset) {
                    flush(&mut out, &mut pending, &mut pending_charset);
                    pending_charset = charset.to_vec();
                }
                pending.extend_from_slice(&bytes);
                i += len;
                text_start = i;
                last_was_word = true;
                continue;
            }
        }
        i += 1;
    }
    flush(&mut out, &mut pending, &mut pending_charset);
    out.push_str(&raw8(&value[text_start..]));
    out
}

/// A `Content-Type` or `Content-Disposition` value: its first word, lower case, and its
/// parameters, names lower case, values decoded.
#[derive(Debug, Default)]
pub struct Structured {
    pub value: String,
    pub params: Vec<(String, String)>,
}

impl Structured {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One `name=value` as written, before RFC 2231 sections are put together.
struct Raw {
    name: String,
    section: Option<u32>,
    extended: bool,
    value: Vec<u8>,
}

pub fn structured(value: &[u8]) -> Structured {
    let mut at = 0;
    let first_end = value.iter().position(|&b| b == b';').unwrap_or(value.len());
    let main = String::from_utf8_lossy(super::mime::trim(&value[..first_end])).to_ascii_lowercase();
    at = at.max(first_end);
    let mut raws: Vec<Raw> = Vec::new();
    while at < value.len() {
        // At a ';'.
        at += 1;
        while at < value.len() && value[at].is_ascii_whitespace() {
            at += 1;
        }
        let name_start = at;
        while at < value.len() && !matches!(value[at], b'=' | b';') {
            at += 1;
        }
        let name = super::mime::trim(&value[name_start..at]);
        if at >= value.len() || value[at] == b';' {
            continue; // a parameter without a value
        }
        at += 1; // '='
        while at < value.len() && value[at].is_ascii_whitespace() {
            at += 1;
        }
        let (raw_value, next) = if value.get(at) == Some(&b'"') {
            quoted(value, at + 1)
        } else {
            let end = value[at..]
                .iter()
                .position(|&b| b == b';')
                .map_or(value.len(), |p| at + p);
            (super::mime::trim(&value[at..end]).to_vec(), end)
        };
        at = next;
        while at < value.len() && value[at] != b';' {
            at += 1;
        }
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        raws.push(split_name(name, raw_value));
    }
    Structured {
        value: main,
        params: combine(raws),
    }
}

/// A quoted string from `start` (just after the opening quote): its content unescaped, and where
/// reading goes on.
fn quoted(value: &[u8], start: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut i = start;
    while i < value.len() {
        match value[i] {
            b'\\' if i + 1 < value.len() => {
                out.push(value[i + 1]);
                i += 2;
            }
            b'"' => return (out, i + 1),
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    (out, i)
}

/// `filename*1*` → name `filename`, section 1, extended.
fn split_name(name: String, value: Vec<u8>) -> Raw {
    let (base, extended) = match name.strip_suffix('*') {
        Some(base) => (base.to_string(), true),
        None => (name, false),
    };
    if let Some((stem, number)) = base.rsplit_once('*') {
        if let Ok(section) = number.parse::<u32>() {
            return Raw {
                name: stem.to_string(),
                section: Some(section),
                extended,
                value,
            };
        }
    }
    Raw {
        name: base,
        section: None,
        extended,
        value,
    }
}

/// Puts RFC 2231 sections together (in section order, whatever order they came in) and decodes
/// every value. The first occurrence of a name wins; `name*` wins over `name`.
fn combine(raws: Vec<Raw>) -> Vec<(String, String)> {
    let mut names: Vec<String> = Vec::new();
    for raw in &raws {
        if !names.contains(&raw.name) {
            names.push(raw.name.clone());
        }
    }
    let mut out = Vec::new();
    for name in names {
        let mine: Vec<&Raw> = raws.iter().filter(|r| r.name == name).collect();
        let mut sections: Vec<&Raw> = mine
            .iter()
            .copied()
            .filter(|r| r.section.is_some())
            .collect();
        let value = if !sections.is_empty() {
            sections.sort_by_key(|r| r.section);
            sections.dedup_by_key(|r| r.section);
            let mut charset = String::new();
            let mut bytes = Vec::new();
            for (index, section) in sections.iter().enumerate() {
                if section.extended {
                    let mut text: &[u8] = &section.value;
                    if index == 0 {
                        let (cs, rest) = charset_prefix(text);
                        charset = cs;
                        text = rest;
                    }
                    bytes.extend(percent_decode(text));
                } else {
                    bytes.extend_from_slice(&section.value);
                }
            }
            in_charset(&bytes, &charset)
        } else if let Some(extended) = mine.iter().find(|r| r.extended) {
            let (charset, rest) = charset_prefix(&extended.value);
            in_charset(&percent_decode(rest), &charset)
        } else {
            decode_words(&mine[0].value)
        };
        out.push((name, value));
    }
    out
}

/// `utf-8'fr'rest` → ("utf-8", "rest"); without two quotes, no charset.
fn charset_prefix(text: &[u8]) -> (String, &[u8]) {
    let mut quotes = text
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\'')
        .map(|(i, _)| i);
    match (quotes.next(), quotes.next()) {
        (Some(first), Some(second)) => (
            String::from_utf8_lossy(&text[..first]).into_owned(),
            &text[second + 1..],
        ),
        _ => (String::new(), text),
    }
}

/// `%XX` escapes undone; a `%` not followed by two hex digits stays.
pub(super) fn percent_decode(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'%' {
            if let Some(byte) = hex_pair(text.get(i + 1..i + 3)) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

fn in_charset(bytes: &[u8], charset: &str) -> String {
    if charset.trim().is_empty() {
        return raw8(bytes);
    }
    decode_charset(bytes, charset).unwrap_or_else(|| raw8(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words_in_any_charset() {
        assert_eq!(
            decode_words(b"=?iso-8859-1?q?Relev=E9_d'ao=FBt?="),
            "Relevé d'août"
        );
        assert_eq!(
            decode_words(b"=?utf-8?B?w6k=?= =?utf-8?B?w6k=?= fin"),
            "éé fin"
        );
        // A multi-byte character split across two words.
        assert_eq!(decode_words(b"=?utf-8?B?ww==?= =?utf-8?B?qQ==?="), "é");
        assert_eq!(decode_words(b"=?shift_jis?B?h0A=?="), "①");
        assert_eq!(
            decode_words(b"=?iso-8859-1?Q?d=92inscription?="),
            "d’inscription"
        );
        assert_eq!(decode_words(b"Num\xe9risation"), "Numérisation");
        assert_eq!(decode_words("déjà".as_bytes()), "déjà");
    }

    #[test]
    fn parameters_fold_continue_and_carry_charsets() {
        let s = structured(
            b"application/PDF; name= \"=?utf-8?Q?Proc=C3=A8s?= =?utf-8?Q?_verbal?=.pdf\"; size=12",
        );
        assert_eq!(s.value, "application/pdf");
        assert_eq!(s.param("name"), Some("Procès verbal.pdf"));
        assert_eq!(s.param("size"), Some("12"));
        let s =
            structured(b"attachment; filename*1=\"suite.pdf\"; filename*0*=iso-8859-1''d%E9but%20");
        assert_eq!(s.param("filename"), Some("début suite.pdf"));
        let s = structured(b"attachment; filename= Rapport_annuel.pdf ;size=3");
        assert_eq!(s.param("filename"), Some("Rapport_annuel.pdf"));
        let s = structured(b"attachment; filename=\"a \\\"b\\\".pdf\"");
        assert_eq!(s.param("filename"), Some("a \"b\".pdf"));
    }
}
