//! Reading mail bodies in bulk straight off the connection.
//!
//! The `imap` crate reads a response line by line and parses the response again from its start at
//! every line, to learn whether it is complete. A mail is mostly base64 in 76-byte lines, so a
//! batch of PDFs costs one parse per 76 bytes: a third of lanceur's CPU time on a mailbox of
//! invoices. For `UID FETCH <set> BODY.PEEK[]` alone, lanceur therefore sends the command and reads
//! the answer itself, each literal in one bulk read; everything else goes through the crate.
//!
//! Both share the connection through `Shared`. The crate reads only while a command of its own is
//! running; this module writes its command and reads up to its tagged line, passing over the
//! untagged responses a server may send at any time (RFC 3501 §7: EXISTS, EXPUNGE, FETCH FLAGS
//! when another client changes the mailbox; Exchange and Gmail do). Whatever it read past its
//! tagged line is put back into `Shared`, so the crate reads it next: nothing is dropped. Lines are
//! bounded (`MAX_LINE`), literals by the size the listing announced, and the crate's commands by a
//! byte budget (`Shared::limit`), so a hostile server cannot make lanceur allocate gigabytes. A
//! mail that this reader does not find in the answer (a server sending `BODY[]` as a quoted
//! string, say) is simply missing, and the caller fetches it again through the crate.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::rc::Rc;

use crate::tls::Stream;

/// One connection, used by the `imap` crate and by `fetch_bodies` in turn.
#[derive(Clone)]
pub struct Shared(Rc<RefCell<Inner>>);

struct Inner {
    stream: Stream,
    /// Bytes `fetch_bodies` read past the end of its command (a server may send untagged
    /// responses at any time, RFC 3501 §7): handed out first, to whoever reads next.
    pending: Vec<u8>,
    /// Bytes the current command of the crate may still read (`limit`), so that a hostile server
    /// cannot make the crate, which keeps a whole response in memory, allocate without end.
    budget: Option<u64>,
}

impl Shared {
    pub fn new(stream: Stream) -> Shared {
        Shared(Rc::new(RefCell::new(Inner {
            stream,
            pending: Vec::new(),
            budget: None,
        })))
    }

    /// Reads from now on fail past `bytes` (`None`: no bound), until the next call.
    pub fn limit(&self, bytes: Option<u64>) {
        self.0.borrow_mut().budget = bytes;
    }

    fn unread(&self, bytes: &[u8]) {
        let mut inner = self.0.borrow_mut();
        let mut pending = bytes.to_vec();
        pending.extend_from_slice(&inner.pending);
        inner.pending = pending;
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared(stream)")
    }
}

/// What the `imap` crate reads: never past the end of a line. The crate keeps its own buffer,
/// which this module cannot reach; were it handed a tagged line and the head of an untagged
/// response in one read, the head would sit there while `fetch_bodies` reads the rest off the
/// socket, and the crate would later read garbage. Line by line, its buffer is empty whenever one
/// of its commands has ended.
impl Read for Shared {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_bounded(buf, true)
    }
}

impl Shared {
    fn read_bounded(&self, buf: &mut [u8], one_line: bool) -> io::Result<usize> {
        let mut inner = self.0.borrow_mut();
        let mut want = match inner.budget {
            Some(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the server's answer is far larger than any answer to this command can be",
                ))
            }
            Some(left) => buf.len().min(usize::try_from(left).unwrap_or(usize::MAX)),
            None => buf.len(),
        };
        if inner.pending.is_empty() {
            let mut chunk = vec![0u8; 16 << 10];
            let got = inner.stream.read(&mut chunk)?;
            inner.pending.extend_from_slice(&chunk[..got]);
        }
        if one_line {
            if let Some(end) = memchr::memchr(b'\n', &inner.pending) {
                want = want.min(end + 1);
            }
        }
        let n = want.min(inner.pending.len());
        buf[..n].copy_from_slice(&inner.pending[..n]);
        inner.pending.drain(..n);
        if let Some(left) = inner.budget.as_mut() {
            *left -= n as u64;
        }
        Ok(n)
    }
}

/// What `fetch_bodies` reads: everything that is there, literals in bulk.
struct Raw(Shared);

impl Read for Raw {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.len() >= 64 << 10 && self.0 .0.borrow().pending.is_empty() {
            // A large read with nothing pending goes straight to the socket, without a copy.
            let mut inner = self.0 .0.borrow_mut();
            let want = match inner.budget {
                Some(left) => buf.len().min(usize::try_from(left).unwrap_or(usize::MAX)),
                None => buf.len(),
            };
            return inner.stream.read(&mut buf[..want]);
        }
        self.0.read_bounded(buf, false)
    }
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.borrow_mut().stream.flush()
    }
}

/// How a bulk fetch ended badly.
#[derive(Debug)]
pub enum FetchError {
    /// The connection failed or the answer made no sense: the run stops.
    Io(io::Error),
    /// The server answered NO or BAD, with its text.
    Refused(String),
}

impl From<io::Error> for FetchError {
    fn from(err: io::Error) -> FetchError {
        FetchError::Io(err)
    }
}

/// Longest line accepted outside literals: a FETCH response line holds a few items, not a mail.
const MAX_LINE: usize = 1 << 20;

/// Sends `<tag> UID FETCH <set> BODY.PEEK[]` and returns the bodies of the `wanted` UIDs found in
/// the answer. `tag` must differ from the crate's own tags (`a1`, `a2`, …). A literal larger than
/// `max_literal` (what the listing announced, with room) is refused as a broken answer. Untagged
/// responses are read and passed over wherever they come, and whatever was read past the tagged
/// line stays for the next reader.
pub fn fetch_bodies(
    stream: &Shared,
    tag: &str,
    set: &str,
    wanted: &HashSet<u32>,
    max_literal: u64,
) -> Result<HashMap<u32, Vec<u8>>, FetchError> {
    let mut connection = stream.clone();
    connection.limit(None);
    connection.write_all(format!("{tag} UID FETCH {set} BODY.PEEK[]\r\n").as_bytes())?;
    connection.flush()?;
    let mut reader = BufReader::with_capacity(64 << 10, Raw(connection));
    let answer = read_answer(&mut reader, tag, wanted, max_literal);
    stream.unread(reader.buffer());
    answer
}

/// Reads one line into `line`, failing past `MAX_LINE` bytes.
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<usize> {
    let got = reader.take(MAX_LINE as u64 + 1).read_until(b'\n', line)?;
    if line.len() > MAX_LINE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the server sent a line longer than {MAX_LINE} bytes"),
        ));
    }
    Ok(got)
}

fn read_answer(
    reader: &mut impl BufRead,
    tag: &str,
    wanted: &HashSet<u32>,
    max_literal: u64,
) -> Result<HashMap<u32, Vec<u8>>, FetchError> {
    let mut bodies = HashMap::new();
    let tagged = format!("{tag} ");
    loop {
        // One response: its text outside literals, and the literal that follows `BODY[]`.
        let mut text: Vec<u8> = Vec::new();
        let mut body: Option<Vec<u8>> = None;
        loop {
            let mut line = Vec::new();
            if read_line(reader, &mut line)? == 0 {
                return Err(FetchError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                )));
            }
            match literal_start(&line) {
                Some((open, size)) => {
                    if size as u64 > max_literal {
                        return Err(FetchError::Io(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "the server announced {size} bytes for a mail listed smaller; \
                                 refused"
                            ),
                        )));
                    }
                    let before = &line[..open];
                    // Bounded above by what the listing announced, so allocated at once: no
                    // regrowth, no copy of a large mail.
                    let mut literal = Vec::with_capacity(size);
                    let got = (&mut *reader).take(size as u64).read_to_end(&mut literal)?;
                    if got < size {
                        return Err(FetchError::Io(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the server closed the connection in the middle of a mail",
                        )));
                    }
                    if ends_with_ignore_case(trim_end(before), b"BODY[]") {
                        body = Some(literal);
                    }
                    text.extend_from_slice(before);
                    text.extend_from_slice(b"\"\"");
                }
                None => {
                    text.extend_from_slice(&line);
                    break;
                }
            }
        }
        if text.starts_with(tagged.as_bytes()) {
            let status = String::from_utf8_lossy(&text[tagged.len()..])
                .trim_end()
                .to_string();
            return if status
                .get(..2)
                .is_some_and(|s| s.eq_ignore_ascii_case("OK"))
            {
                Ok(bodies)
            } else {
                Err(FetchError::Refused(status))
            };
        }
        if let (Some(uid), Some(body)) = (fetch_uid(&text), body) {
            if wanted.contains(&uid) {
                bodies.insert(uid, body);
            }
        }
    }
}

/// Where a literal `{N}` at the end of `line` opens, and N.
fn literal_start(line: &[u8]) -> Option<(usize, usize)> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    if digits.is_empty() || digits.len() > 12 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let size: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((open, size))
}

/// The UID of an untagged FETCH response, from its text outside literals.
fn fetch_uid(text: &[u8]) -> Option<u32> {
    if !text.starts_with(b"* ") {
        return None;
    }
    let upper = text.to_ascii_uppercase();
    let fetch = find(&upper, b" FETCH (")?;
    let items = &upper[fetch..];
    let mut at = 0;
    while let Some(found) = find(&items[at..], b"UID ") {
        let start = at + found;
        let boundary = start == 0 || matches!(items[start - 1], b'(' | b' ');
        let digits: Vec<u8> = items[start + 4..]
            .iter()
            .copied()
            .take_while(u8::is_ascii_digit)
            .collect();
        if boundary && !digits.is_empty() {
            return std::str::from_utf8(&digits).ok()?.parse().ok();
        }
        at = start + 4;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn trim_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    &bytes[..end]
}

fn ends_with_ignore_case(bytes: &[u8], suffix: &[u8]) -> bool {
    bytes.len() >= suffix.len() && bytes[bytes.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(text: &[u8], wanted: &[u32]) -> Result<HashMap<u32, Vec<u8>>, FetchError> {
        let wanted: HashSet<u32> = wanted.iter().copied().collect();
        read_answer(&mut &text[..], "L1", &wanted, 1 << 20)
    }

    #[test]
    fn literals_are_read_whole_whatever_they_hold() {
        // A mail that looks like IMAP itself must not confuse the reader.
        let tricky = b"UID 9 {3}\r\n\r\n) FETCH (\r\nL1 OK".to_vec();
        let mut text = format!("* 1 FETCH (UID 7 BODY[] {{{}}}\r\n", tricky.len()).into_bytes();
        text.extend_from_slice(&tricky);
        text.extend_from_slice(
            b")\r\n* 2 FETCH (BODY[] {2}\r\nhi UID 8)\r\n\
* 3 FETCH (FLAGS (\\Seen) UID 10)\r\n\
* 4 EXISTS\r\n\
L1 OK Fetch completed.\r\n",
        );
        let bodies = answer(&text, &[7, 8, 10]).unwrap();
        assert_eq!(bodies.len(), 2);
        assert_eq!(bodies[&7], tricky);
        assert_eq!(bodies[&8], b"hi");
    }

    #[test]
    fn refusals_and_cuts_are_told_apart() {
        let text = b"L1 NO [SERVERBUG] oops\r\n";
        assert!(matches!(answer(text, &[1]), Err(FetchError::Refused(s)) if s.contains("oops")));
        let text = b"* 1 FETCH (UID 1 BODY[] {100}\r\nshort";
        assert!(matches!(answer(text, &[1]), Err(FetchError::Io(_))));
        let text = b"* 1 FETCH (UID 1 BODY[] {2}\r\nok)\r\n";
        assert!(matches!(answer(text, &[1]), Err(FetchError::Io(_))));
    }

    #[test]
    fn literal_markers() {
        assert_eq!(literal_start(b"* 1 FETCH (BODY[] {42}\r\n"), Some((18, 42)));
        assert_eq!(literal_start(b"text {x}\r\n"), None);
        assert_eq!(literal_start(b"no marker\r\n"), None);
    }
}
