//! A small synchronous POP3 client: RFC 1939 (USER/PASS, STAT, UIDL, LIST, RETR, DELE, RSET, NOOP,
//! QUIT), RFC 2449 (CAPA, PIPELINING, response codes), RFC 2595 (STLS) and RFC 5034 (SASL `AUTH`,
//! here XOAUTH2 for Gmail and Outlook tokens).
//!
//! It is generic over any `Read + Write` stream and knows nothing of lanceur: no TLS (the caller
//! connects, and after `stls` gets the plaintext stream back to upgrade it), no configuration, no
//! exit codes. Errors say what was being done and, for a server's `-ERR`, carry its line verbatim.
//!
//! Reading is careful about what servers really send:
//! - a multi-line response ends at a line holding only `.`; a line starting with `.` had one more
//!   `.` put in front of it by the server (dot-stuffing), which is taken away again;
//! - lines end with CRLF, but a bare LF is accepted; a message keeps the line ends it was sent with;
//! - a message line may be of any length (a base64 attachment on one line), a status line may not
//!   (`MAX_LINE`), and a message may not grow past the limit the caller gives (the listed size
//!   plus slack), so a broken or hostile server cannot fill the memory;
//! - the connection closing in the middle of a response is an error, never a short message.
//!
//! Timeouts are the stream's (`TcpStream::set_read_timeout`); they surface as `Error::Io`, and
//! `Error::is_timeout` tells them apart.

use std::io::{self, BufRead, BufReader, Read, Write};

/// Longest status or listing line accepted. RFC 2449 caps responses at 512 octets; some servers
/// send longer greetings, so be lenient but bounded.
const MAX_LINE: usize = 64 * 1024;
/// Commands written at once when the server announces PIPELINING.
const PIPELINE: usize = 64;

mod error;

pub use error::Error;

pub type Result<T> = std::result::Result<T, Error>;

/// What `CAPA` announced; empty when the server does not know `CAPA`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities(Vec<String>);

impl Capabilities {
    /// Whether a capability (its first word, any case) was announced: `has("STLS")`.
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|line| {
            line.split_whitespace()
                .next()
                .is_some_and(|word| word.eq_ignore_ascii_case(name))
        })
    }

    /// The SASL mechanisms of the `SASL` line.
    pub fn sasl(&self) -> Vec<String> {
        self.0
            .iter()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                let first = words.next()?;
                first
                    .eq_ignore_ascii_case("SASL")
                    .then(|| words.map(str::to_ascii_uppercase).collect::<Vec<_>>())
            })
            .flatten()
            .collect()
    }
}

pub struct Client<S: Read + Write> {
    stream: BufReader<S>,
    greeting: String,
    pipelining: bool,
}

impl<S: Read + Write> Client<S> {
    /// Reads the server's greeting, which must be `+OK`.
    pub fn new(stream: S) -> Result<Client<S>> {
        let mut client = Client {
            stream: BufReader::with_capacity(64 * 1024, stream),
            greeting: String::new(),
            pipelining: false,
        };
        client.greeting = client.status("greeting", "waiting for the greeting")?;
        Ok(client)
    }

    /// A session whose greeting was read before the stream changed hands: after `STLS` and the
    /// TLS handshake, where no new greeting comes (RFC 2595 §4).
    pub fn resumed(stream: S) -> Client<S> {
        Client {
            stream: BufReader::with_capacity(64 * 1024, stream),
            greeting: String::new(),
            pipelining: false,
        }
    }

    /// The text of the greeting after `+OK`.
    pub fn greeting(&self) -> &str {
        &self.greeting
    }

    /// `CAPA`. A server that does not know it (`-ERR`) has no capabilities beyond RFC 1939.
    /// Remembers PIPELINING for `dele_all`.
    pub fn capa(&mut self) -> Result<Capabilities> {
        self.send("CAPA", "CAPA")?;
        match self.status("CAPA", "reading the capabilities") {
            Ok(_) => {}
            Err(Error::Refused { .. }) => return Ok(Capabilities::default()),
            Err(err) => return Err(err),
        }
        let mut lines = Vec::new();
        self.multiline("reading the capabilities", |line| {
            lines.push(String::from_utf8_lossy(line).trim().to_string());
            Ok(())
        })?;
        let capabilities = Capabilities(lines);
        self.pipelining = capabilities.has("PIPELINING");
        Ok(capabilities)
    }

    /// `STLS`, then hands back the stream for the TLS handshake. Fails if the server sent anything
    /// after its `+OK`: those bytes would be plaintext injected into the encrypted session.
    pub fn stls(mut self) -> Result<S> {
        self.simple("STLS", "STLS", "asking for TLS (STLS)")?;
        if !self.stream.buffer().is_empty() {
            return Err(Error::protocol(
                "asking for TLS (STLS)",
                "the server sent data before the TLS handshake",
            ));
        }
        Ok(self.stream.into_inner())
    }

    /// `USER` and `PASS`. The password never appears in an error.
    pub fn login(&mut self, user: &str, password: &str) -> Result<()> {
        check_argument(user, "USER")?;
        check_argument(password, "PASS")?;
        self.simple(&format!("USER {user}"), "USER", "sending the user name")?;
        self.simple(&format!("PASS {password}"), "PASS", "sending the password")?;
        Ok(())
    }

    /// `AUTH XOAUTH2` with an OAuth2 access token (Google's and Microsoft's XOAUTH2 message).
    pub fn auth_xoauth2(&mut self, user: &str, token: &str) -> Result<()> {
        check_argument(user, "AUTH XOAUTH2")?;
        check_argument(token, "AUTH XOAUTH2")?;
        let message = format!("user={user}\x01auth=Bearer {token}\x01\x01");
        self.auth_bearer("XOAUTH2", &message, "")
    }

    /// `AUTH OAUTHBEARER` (RFC 7628) with an OAuth 2 access token. Dovecot 2.3 wants the `a=`
    /// authorization identity, which the RFC leaves optional.
    pub fn auth_oauthbearer(
        &mut self,
        user: &str,
        host: &str,
        port: u16,
        token: &str,
    ) -> Result<()> {
        check_argument(user, "AUTH OAUTHBEARER")?;
        check_argument(token, "AUTH OAUTHBEARER")?;
        let user = user.replace('=', "=3D").replace(',', "=2C");
        let message =
            format!("n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01");
        // RFC 7628 §3.2.3: the error challenge is answered with %x01.
        self.auth_bearer("OAUTHBEARER", &message, &base64(b"\x01"))
    }

    /// The RFC 5034 exchange of a bearer-token mechanism. The message travels as a continuation
    /// line, since an initial response would overflow the 255 octets RFC 5034 allows a command.
    /// A refused token comes back as a continuation holding a JSON error, which the client answers
    /// with `after_error` before the server sends its `-ERR`. A `+ ` continuation is told apart
    /// from `+OK`: a client that took the error challenge for a success would carry on unlogged.
    fn auth_bearer(&mut self, mechanism: &str, message: &str, after_error: &str) -> Result<()> {
        let command = format!("AUTH {mechanism}");
        let doing = format!("authenticating ({command})");
        self.send(&command, &command)?;
        let line = self.line(&doing)?;
        if !line.starts_with(b"+") || line.starts_with(b"+OK") {
            return Err(self.refusal_or_garbage(&command, &doing, &line));
        }
        self.send(&base64(message.as_bytes()), &command)?;
        let line = self.line(&doing)?;
        if starts_with_ignore_case(&line, b"+OK") {
            return Ok(());
        }
        if line.starts_with(b"+") {
            // The error challenge: answer it, then the final -ERR follows.
            self.send(after_error, &command)?;
            let last = self.line(&doing)?;
            return Err(self.refusal_or_garbage(&command, &doing, &last));
        }
        Err(self.refusal_or_garbage(&command, &doing, &line))
    }

    /// `STAT`: number of messages and their total size.
    #[allow(dead_code)] // the client's API is whole; lanceur's source does not need this one
    pub fn stat(&mut self) -> Result<(u32, u64)> {
        const DOING: &str = "counting the messages (STAT)";
        let text = self.simple("STAT", "STAT", DOING)?;
        let mut words = text.split_whitespace();
        match (
            words.next().and_then(|w| w.parse().ok()),
            words.next().and_then(|w| w.parse().ok()),
        ) {
            (Some(count), Some(size)) => Ok((count, size)),
            _ => Err(Error::protocol(DOING, format!("+OK {text}"))),
        }
    }

    /// `UIDL`: every message's number and unique id, in the server's order.
    pub fn uidl(&mut self) -> Result<Vec<(u32, String)>> {
        const DOING: &str = "listing the unique ids (UIDL)";
        self.simple("UIDL", "UIDL", DOING)?;
        let mut out = Vec::new();
        self.multiline(DOING, |line| {
            let text = String::from_utf8_lossy(line);
            let mut words = text.split_whitespace();
            match (words.next().and_then(|w| w.parse().ok()), words.next()) {
                (Some(number), Some(uid)) if words.next().is_none() => {
                    out.push((number, uid.to_string()));
                    Ok(())
                }
                _ => Err(Error::protocol(DOING, format!("bad line {text:?}"))),
            }
        })?;
        Ok(out)
    }

    /// `LIST`: every message's number and size in octets.
    pub fn list(&mut self) -> Result<Vec<(u32, u64)>> {
        const DOING: &str = "listing the sizes (LIST)";
        self.simple("LIST", "LIST", DOING)?;
        let mut out = Vec::new();
        self.multiline(DOING, |line| {
            let text = String::from_utf8_lossy(line);
            let mut words = text.split_whitespace();
            match (
                words.next().and_then(|w| w.parse().ok()),
                words.next().and_then(|w| w.parse().ok()),
            ) {
                (Some(number), Some(size)) => {
                    out.push((number, size));
                    Ok(())
                }
                _ => Err(Error::protocol(DOING, format!("bad line {text:?}"))),
            }
        })?;
        Ok(out)
    }

    /// Whether the server announced PIPELINING (known after `capa`): several commands may then
    /// be sent before their answers are read.
    pub fn pipelining(&self) -> bool {
        self.pipelining
    }

    /// `RETR n`: the message, dot-unstuffed, with the line ends it was sent with. `expected` is
    /// its listed size (a hint); more than `limit` bytes is an error (the connection is then
    /// unusable: the rest of the message is unread).
    #[allow(dead_code)] // the client's API is whole; lanceur's source pipelines instead
    pub fn retr(&mut self, number: u32, expected: u64, limit: u64) -> Result<Vec<u8>> {
        self.send_retr(&[number])?;
        self.read_retr(number, expected, limit)
    }

    /// Sends `RETR n` for each number, in one write, without waiting for the answers, which
    /// `read_retr` reads in the same order. More than one only when `pipelining` allows it.
    pub fn send_retr(&mut self, numbers: &[u32]) -> Result<()> {
        let commands: String = numbers.iter().map(|n| format!("RETR {n}\r\n")).collect();
        self.write_all(commands.as_bytes(), "asking for messages (RETR)")
    }

    /// Reads the answer to a `RETR n` sent earlier: see `retr`.
    pub fn read_retr(&mut self, number: u32, expected: u64, limit: u64) -> Result<Vec<u8>> {
        let doing = format!("receiving message {number} (RETR)");
        self.status(&format!("RETR {number}"), &doing)?;
        self.read_message(&doing, expected, limit)
    }

    /// `TOP n 0` for each number (the header blocks), pipelined when the server allows it, in
    /// groups of 64. One result per number; a refusal of one is its own `Err`.
    pub fn top_headers(&mut self, numbers: &[u32], limit: u64) -> Result<Vec<Result<Vec<u8>>>> {
        let group = if self.pipelining() { 64 } else { 1 };
        let mut out = Vec::with_capacity(numbers.len());
        for chunk in numbers.chunks(group) {
            let commands: String = chunk.iter().map(|n| format!("TOP {n} 0\r\n")).collect();
            self.write_all(commands.as_bytes(), "asking for headers (TOP)")?;
            for &number in chunk {
                let doing = format!("receiving the header of message {number} (TOP)");
                match self.status(&format!("TOP {number} 0"), &doing) {
                    Ok(_) => out.push(Ok(self.read_message(&doing, 0, limit)?)),
                    Err(err @ Error::Refused { .. }) => out.push(Err(err)),
                    Err(err) => return Err(err),
                }
            }
        }
        Ok(out)
    }

    /// A multi-line answer whose status line was read: dot-unstuffed, at most `limit` bytes.
    fn read_message(&mut self, doing: &str, expected: u64, limit: u64) -> Result<Vec<u8>> {
        let doing = doing.to_string();
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let expected = usize::try_from(expected).unwrap_or(0);
        let mut message = Vec::with_capacity(expected.min(limit).min(256 << 20));
        loop {
            let start = message.len();
            let room = limit.saturating_sub(start).saturating_add(3);
            match read_line_into(&mut self.stream, &mut message, room) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::InvalidData => {
                    return Err(Error::protocol(
                        &doing,
                        format!(
                            "the message is larger than {limit} bytes, far above its listed size"
                        ),
                    ))
                }
                Err(err) => return Err(Error::io(&doing, err)),
            }
            let line = &message[start..];
            if line == b".\r\n" || line == b".\n" {
                message.truncate(start);
                return Ok(message);
            }
            if line[0] == b'.' {
                message.remove(start);
            }
            if message.len() > limit {
                return Err(Error::protocol(
                    &doing,
                    format!("the message is larger than {limit} bytes, far above its listed size"),
                ));
            }
        }
    }

    /// `DELE n`. The deletion happens only at a successful `QUIT`.
    pub fn dele(&mut self, number: u32) -> Result<()> {
        let command = format!("DELE {number}");
        self.simple(&command, &command, &format!("deleting message {number}"))?;
        Ok(())
    }

    /// `DELE` for each number, pipelined when the server allows it. The outer error is a lost
    /// connection; the inner ones are the server's `-ERR` per message.
    pub fn dele_all(&mut self, numbers: &[u32]) -> Result<Vec<Result<()>>> {
        if !self.pipelining {
            return numbers
                .iter()
                .map(|&n| match self.dele(n) {
                    Err(err @ Error::Refused { .. }) => Ok(Err(err)),
                    other => other.map(Ok),
                })
                .collect();
        }
        let mut results = Vec::with_capacity(numbers.len());
        for chunk in numbers.chunks(PIPELINE) {
            let commands: String = chunk.iter().map(|n| format!("DELE {n}\r\n")).collect();
            self.write_all(commands.as_bytes(), "deleting messages")?;
            for &number in chunk {
                let command = format!("DELE {number}");
                match self.status(&command, &format!("deleting message {number}")) {
                    Ok(_) => results.push(Ok(())),
                    Err(err @ Error::Refused { .. }) => results.push(Err(err)),
                    Err(err) => return Err(err),
                }
            }
        }
        Ok(results)
    }

    /// `RSET`: forgets the deletions of this session.
    #[allow(dead_code)] // the client's API is whole; lanceur's source does not need this one
    pub fn rset(&mut self) -> Result<()> {
        self.simple("RSET", "RSET", "undoing deletions (RSET)")?;
        Ok(())
    }

    /// `NOOP`: checks that the server still answers.
    #[allow(dead_code)] // the client's API is whole; lanceur's source does not need this one
    pub fn noop(&mut self) -> Result<()> {
        self.simple("NOOP", "NOOP", "checking the connection (NOOP)")?;
        Ok(())
    }

    /// `QUIT`: ends the session; the server then really removes the messages marked deleted, and
    /// says `+OK` only if it did. Any other outcome means the deletions may not have happened.
    pub fn quit(mut self) -> Result<()> {
        self.simple("QUIT", "QUIT", "ending the session (QUIT)")?;
        Ok(())
    }

    /// Sends `command` and reads a status line; `+OK` gives the text after it.
    fn simple(&mut self, command: &str, shown: &str, doing: &str) -> Result<String> {
        self.send(command, shown)?;
        self.status(shown, doing)
    }

    fn send(&mut self, command: &str, shown: &str) -> Result<()> {
        let mut bytes = Vec::with_capacity(command.len() + 2);
        bytes.extend_from_slice(command.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        self.write_all(&bytes, &format!("sending {shown}"))
    }

    fn write_all(&mut self, bytes: &[u8], doing: &str) -> Result<()> {
        let stream = self.stream.get_mut();
        stream
            .write_all(bytes)
            .and_then(|()| stream.flush())
            .map_err(|err| Error::io(doing, err))
    }

    /// One line without its line end, at most `MAX_LINE` bytes.
    fn line(&mut self, doing: &str) -> Result<Vec<u8>> {
        let mut line = Vec::new();
        match read_line_into(&mut self.stream, &mut line, MAX_LINE) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::InvalidData => {
                return Err(Error::protocol(
                    doing,
                    format!("a line longer than {MAX_LINE} bytes"),
                ))
            }
            Err(err) => return Err(Error::io(doing, err)),
        }
        while line.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
            line.pop();
        }
        Ok(line)
    }

    /// Reads a status line: `+OK text` gives `text`, `-ERR …` is `Error::Refused`.
    fn status(&mut self, command: &str, doing: &str) -> Result<String> {
        let line = self.line(doing)?;
        if starts_with_ignore_case(&line, b"+OK") {
            let text = String::from_utf8_lossy(&line[3..]);
            return Ok(text.trim().to_string());
        }
        Err(self.refusal_or_garbage(command, doing, &line))
    }

    fn refusal_or_garbage(&self, command: &str, doing: &str, line: &[u8]) -> Error {
        let text = String::from_utf8_lossy(line).into_owned();
        if starts_with_ignore_case(line, b"-ERR") {
            Error::Refused {
                command: command.to_string(),
                line: text,
            }
        } else {
            Error::Unexpected {
                doing: doing.to_string(),
                line: text,
            }
        }
    }

    /// The lines of a multi-line response up to the lone `.`, dot-unstuffed, without line ends.
    fn multiline(&mut self, doing: &str, mut each: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        loop {
            let line = self.line(doing)?;
            if line == b"." {
                return Ok(());
            }
            let line = line.strip_prefix(b".").unwrap_or(&line);
            each(line)?;
        }
    }
}

/// Appends one line, up to and including its LF, to `out`; more than `max` bytes without a LF is
/// `InvalidData`, and the end of the stream before a LF is `UnexpectedEof`. Reads through the
/// buffer, so a long line costs no more than its bytes.
fn read_line_into<R: BufRead>(reader: &mut R, out: &mut Vec<u8>, max: usize) -> io::Result<()> {
    let mut taken = 0usize;
    loop {
        let (done, used) = {
            let available = match reader.fill_buf() {
                Ok(available) => available,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            if available.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ));
            }
            match available.iter().position(|&b| b == b'\n') {
                Some(end) => (true, end + 1),
                None => (false, available.len()),
            }
        };
        if taken + used > max {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
        }
        out.extend_from_slice(&reader.fill_buf()?[..used]);
        reader.consume(used);
        taken += used;
        if done {
            return Ok(());
        }
    }
}

fn starts_with_ignore_case(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// A command argument may not hold a line end (it would start a second command) and may not be
/// empty.
fn check_argument(value: &str, command: &str) -> Result<()> {
    if value.is_empty() || value.contains(['\r', '\n']) {
        return Err(Error::protocol(
            &format!("preparing {command}"),
            "an empty value, or one holding a line break, cannot be sent",
        ));
    }
    Ok(())
}

/// Standard base64 with padding (RFC 4648), for the SASL exchange.
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests;
