//! The structure of a MIME entity, read from its raw bytes: its header fields, its body and, for a
//! multipart, the raw bytes of each part. Everything is a slice of the mail as received, never a
//! copy, so that an attached mail can be deposited byte for byte and a 200 MB part costs no
//! second 200 MB before it is decoded.
//!
//! The reading is the forgiving one of Python's `email.feedparser`, which real mail needs:
//! - the header block ends at the first empty line, or at the first line that cannot be a header
//!   (a part whose headers run straight into its base64 still has its body);
//! - a delimiter line is `--boundary`, optionally `--`, optional white space, then the line end:
//!   never a prefix match (Lotus Notes nests `=_mixed X_=_1` inside `=_mixed X_=`);
//! - the line break before a delimiter belongs to the delimiter (RFC 2046 §5.1.1);
//! - a multipart whose closing delimiter never comes ends at the end of the mail, and says so
//!   (`Split::closed`), so that its last part can be checked for completeness.

use std::borrow::Cow;

/// One header field: its name as written, and its value unfolded (line breaks of continuation
/// lines removed, their white space kept) and trimmed.
#[derive(Debug)]
pub struct Field<'a> {
    pub name: &'a [u8],
    pub value: Cow<'a, [u8]>,
}

/// A MIME entity: a whole mail, an attached mail or one part of a multipart.
#[derive(Debug)]
pub struct Entity<'a> {
    pub fields: Vec<Field<'a>>,
    pub body: &'a [u8],
}

impl<'a> Entity<'a> {
    pub fn parse(data: &'a [u8]) -> Entity<'a> {
        let mut fields: Vec<Field<'a>> = Vec::new();
        // Start and end of the field being read (its first line and continuations).
        let mut current: Option<(usize, usize)> = None;
        let mut body_start = data.len();
        let mut first = true;
        let flush = |current: &mut Option<(usize, usize)>, fields: &mut Vec<Field<'a>>| {
            if let Some((start, end)) = current.take() {
                if let Some(field) = field(&data[start..end]) {
                    fields.push(field);
                }
            }
        };
        for (start, end) in lines(data) {
            let line = &data[start..end];
            let content = trim_eol(line);
            if content.is_empty() {
                flush(&mut current, &mut fields);
                body_start = end;
                break;
            }
            let continuation = matches!(content[0], b' ' | b'\t');
            if continuation && current.is_some() {
                current = current.map(|(s, _)| (s, end));
            } else if first && content.starts_with(b"From ") {
                // An mbox "From sender date" line, as Python's parser takes it: no field.
            } else if continuation || is_field_start(content) {
                flush(&mut current, &mut fields);
                if !continuation {
                    current = Some((start, end));
                }
            } else {
                // Not a header: the body starts here, without the empty line.
                flush(&mut current, &mut fields);
                body_start = start;
                break;
            }
            first = false;
        }
        flush(&mut current, &mut fields);
        Entity {
            fields,
            body: &data[body_start.min(data.len())..],
        }
    }

    /// The value of the first field called `name` (case-insensitive).
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|f| f.value.as_ref())
    }
}

/// `Name:` with printable ASCII before the colon, as RFC 5322 has it.
fn is_field_start(line: &[u8]) -> bool {
    for &b in line {
        match b {
            b':' => return true,
            0x21..=0x7e => {}
            _ => return false,
        }
    }
    false
}

fn field(raw: &[u8]) -> Option<Field<'_>> {
    let colon = raw.iter().position(|&b| b == b':')?;
    let name = trim(&raw[..colon]);
    let value = &raw[colon + 1..];
    let unfolded: Cow<'_, [u8]> = if value.iter().any(|&b| b == b'\n' || b == b'\r') {
        let mut out = Vec::with_capacity(value.len());
        out.extend(value.iter().copied().filter(|&b| b != b'\n' && b != b'\r'));
        Cow::Owned(trim(&out).to_vec())
    } else {
        Cow::Borrowed(trim(value))
    };
    Some(Field {
        name,
        value: unfolded,
    })
}

/// The parts of a multipart body, and whether its closing delimiter was found.
#[derive(Debug)]
pub struct Split<'a> {
    pub parts: Vec<&'a [u8]>,
    pub closed: bool,
}

pub fn split<'a>(body: &'a [u8], boundary: &[u8]) -> Split<'a> {
    let mut delimiter = Vec::with_capacity(boundary.len() + 2);
    delimiter.extend_from_slice(b"--");
    delimiter.extend_from_slice(boundary);
    let mut parts = Vec::new();
    // Start of the current part's content, once the first delimiter was seen.
    let mut open: Option<usize> = None;
    let mut closed = false;
    for (start, end) in lines(body) {
        let line = &body[start..end];
        if !line.starts_with(&delimiter) {
            continue;
        }
        let rest = trim_eol(&line[delimiter.len()..]);
        let (is_close, rest) = match rest.strip_prefix(b"--") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        if !rest.iter().all(|&b| b == b' ' || b == b'\t') {
            continue;
        }
        if let Some(from) = open {
            parts.push(before_delimiter(&body[from..start]));
        }
        if is_close {
            closed = true;
            open = None;
            break;
        }
        open = Some(end);
    }
    if let Some(from) = open {
        parts.push(&body[from..]);
    }
    Split { parts, closed }
}

/// `part` without the line break that belongs to the delimiter after it.
fn before_delimiter(part: &[u8]) -> &[u8] {
    part.strip_suffix(b"\r\n")
        .or_else(|| part.strip_suffix(b"\n"))
        .unwrap_or(part)
}

/// `(start, end)` of each line of `data`, its line end included.
pub fn lines(data: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= data.len() {
            return None;
        }
        let start = at;
        let end = match memchr::memchr(b'\n', &data[at..]) {
            Some(offset) => at + offset + 1,
            None => data.len(),
        };
        at = end;
        Some((start, end))
    })
}

pub fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

pub fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |p| p + 1);
    &bytes[start..end.max(start)]
}

/// The mail without the blank lines or white space some gateways put before its first header.
pub fn skip_leading_space(raw: &[u8]) -> &[u8] {
    let start = raw
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(raw.len());
    &raw[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_end_at_an_empty_line_or_at_a_line_that_is_no_header() {
        let entity = Entity::parse(b"A: 1\r\nB: two\r\n  folded\r\n\r\nbody\r\n");
        assert_eq!(entity.field("b"), Some(&b"two  folded"[..]));
        assert_eq!(entity.body, b"body\r\n");
        let entity = Entity::parse(b"Content-Type: x\r\nJVBERi0x\r\nQQ==\r\n");
        assert_eq!(entity.field("content-type"), Some(&b"x"[..]));
        assert_eq!(entity.body, b"JVBERi0x\r\nQQ==\r\n");
        let entity = Entity::parse(b"From someone Mon Jan  1 00:00:00 2024\nSubject: s\n\nb");
        assert_eq!(entity.field("subject"), Some(&b"s"[..]));
        assert_eq!(entity.body, b"b");
    }

    #[test]
    fn delimiters_match_whole_lines_only() {
        let body =
            b"preamble\r\n--b\r\none\r\n--b_1\r\nstill one\r\n--b \r\ntwo\r\n--b--\r\nepilogue\r\n";
        let split = split(body, b"b");
        assert!(split.closed);
        assert_eq!(split.parts, vec![&b"one\r\n--b_1\r\nstill one"[..], b"two"]);
        let split = super::split(b"--b\nlast part, cut", b"b");
        assert!(!split.closed);
        assert_eq!(split.parts, vec![&b"last part, cut"[..]]);
    }
}
