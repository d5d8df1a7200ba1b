//! The client against a scripted stream: what the server says is given up front, what the client
//! writes is recorded, and reads come in small pieces so that lines cross buffer boundaries.

use std::io::{self, Read, Write};

use super::*;

/// A scripted server: `input` is everything it will say, handed out at most `piece` bytes per
/// read; then end of stream (or `fail` as the read error).
struct Script {
    input: Vec<u8>,
    position: usize,
    piece: usize,
    fail: Option<io::ErrorKind>,
    written: Vec<u8>,
}

impl Script {
    fn new(input: &[u8]) -> Script {
        Script {
            input: input.to_vec(),
            position: 0,
            piece: 7,
            fail: None,
            written: Vec::new(),
        }
    }

    fn failing(input: &[u8], kind: io::ErrorKind) -> Script {
        Script {
            fail: Some(kind),
            ..Script::new(input)
        }
    }
}

impl Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = &self.input[self.position..];
        if left.is_empty() {
            return match self.fail {
                Some(kind) => Err(io::Error::new(kind, "scripted failure")),
                None => Ok(0),
            };
        }
        let n = left.len().min(buf.len()).min(self.piece);
        buf[..n].copy_from_slice(&left[..n]);
        self.position += n;
        Ok(n)
    }
}

impl Write for Script {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn client(server: &[u8]) -> Client<Script> {
    Client::new(Script::new(server)).expect("greeting")
}

fn written(client: Client<Script>) -> String {
    String::from_utf8(client.stream.into_inner().written).unwrap()
}

#[test]
fn a_whole_session() {
    let mut c = client(
        b"+OK Dovecot ready.\r\n\
          +OK\r\n+OK Logged in.\r\n\
          +OK 2 320\r\n\
          +OK\r\n1 000000017b1e2a4c\r\n2 000000027b1e2a4c\r\n.\r\n\
          +OK 2 messages:\r\n1 120\r\n2 200\r\n.\r\n\
          +OK\r\n+OK\r\n+OK\r\n+OK Logging out.\r\n",
    );
    assert_eq!(c.greeting(), "Dovecot ready.");
    c.login("alice", "s3cret").unwrap();
    assert_eq!(c.stat().unwrap(), (2, 320));
    assert_eq!(
        c.uidl().unwrap(),
        vec![
            (1, "000000017b1e2a4c".to_string()),
            (2, "000000027b1e2a4c".to_string())
        ]
    );
    assert_eq!(c.list().unwrap(), vec![(1, 120), (2, 200)]);
    c.noop().unwrap();
    c.dele(2).unwrap();
    c.rset().unwrap();
    // quit consumes the client; check the commands through a second session below.
    let script = {
        c.simple("QUIT", "QUIT", "ending").unwrap();
        written(c)
    };
    assert_eq!(
        script,
        "USER alice\r\nPASS s3cret\r\nSTAT\r\nUIDL\r\nLIST\r\nNOOP\r\nDELE 2\r\nRSET\r\nQUIT\r\n"
    );
}

#[test]
fn quit_succeeds_only_on_ok() {
    client(b"+OK hi\r\n+OK bye\r\n").quit().unwrap();
    let err = client(b"+OK hi\r\n-ERR [SYS/PERM] could not expunge\r\n")
        .quit()
        .unwrap_err();
    assert_eq!(err.response_code(), Some("SYS/PERM"));
    // The connection dropping before the answer: the deletions may or may not have happened.
    let err = client(b"+OK hi\r\n").quit().unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

#[test]
fn a_refused_greeting_or_garbage_is_an_error() {
    let err = Client::new(Script::new(b"-ERR [SYS/TEMP] too busy\r\n"))
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "greeting refused: -ERR [SYS/TEMP] too busy"
    );
    let err = Client::new(Script::new(b"* OK IMAP4rev1 ready\r\n"))
        .err()
        .unwrap();
    assert!(err.to_string().contains("neither +OK nor -ERR"), "{err}");
    assert!(
        matches!(&err, Error::Unexpected { line, .. } if line == "* OK IMAP4rev1 ready"),
        "{err:?}"
    );
}

#[test]
fn end_of_stream_is_reported_not_taken_for_an_answer() {
    let err = Client::new(Script::new(b"")).err().unwrap();
    assert_eq!(
        err.to_string(),
        "the server closed the connection while waiting for the greeting"
    );
    let err = Client::new(Script::new(b"+OK half a line")).err().unwrap();
    assert!(
        matches!(&err, Error::Io { source, .. } if source.kind() == io::ErrorKind::UnexpectedEof)
    );
    // Mid-message: a short message must never pass for a whole one.
    let mut c = client(b"+OK\r\n+OK 50 octets\r\nSubject: cut\r\n\r\nhalf");
    let err = c.retr(1, 0, 1000).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the server closed the connection while receiving message 1 (RETR)"
    );
}

#[test]
fn timeouts_are_recognised() {
    let script = Script::failing(b"+OK\r\n", io::ErrorKind::WouldBlock);
    let mut c = Client::new(script).unwrap();
    let err = c.stat().unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(
        err.to_string(),
        "the server stopped answering while counting the messages (STAT)"
    );
}

#[test]
fn err_lines_are_kept_verbatim_and_the_password_never_shows() {
    let mut c = client(b"+OK\r\n+OK\r\n-ERR [AUTH] Authentication failed.\r\n");
    let err = c.login("alice", "hunter2").unwrap_err();
    assert_eq!(
        err.to_string(),
        "PASS refused: -ERR [AUTH] Authentication failed."
    );
    assert_eq!(err.response_code(), Some("AUTH"));
    assert!(!format!("{err:?}").contains("hunter2"));
    let mut c = client(b"+OK\r\n-ERR [IN-USE] Mailbox locked\r\n");
    let err = c.login("alice", "x").unwrap_err();
    assert_eq!(err.response_code(), Some("IN-USE"));
    assert_eq!(
        Error::Refused {
            command: "X".into(),
            line: "-ERR plain".into()
        }
        .response_code(),
        None
    );
}

#[test]
fn arguments_with_line_breaks_are_never_sent() {
    let mut c = client(b"+OK\r\n");
    assert!(c.login("alice\r\nDELE 1", "pw").is_err());
    assert!(c.login("alice", "").is_err());
    assert_eq!(written(c), "");
}

#[test]
fn retr_undoes_dot_stuffing_and_keeps_line_ends() {
    let mut c = client(
        b"+OK\r\n+OK 60 octets\r\n\
          Subject: dots\r\n\
          \r\n\
          ..hidden line\r\n\
          ...\r\n\
          ..\r\n\
          bare LF line\n\
          . not the end\r\n\
          last\r\n\
          .\r\n\
          +OK\r\n",
    );
    let message = c.retr(7, 0, 1000).unwrap();
    assert_eq!(
        message,
        b"Subject: dots\r\n\r\n.hidden line\r\n..\r\n.\r\nbare LF line\n not the end\r\nlast\r\n"
    );
    // The response ended exactly at the terminator: the next answer is read correctly.
    c.noop().unwrap();
    assert_eq!(written(c), "RETR 7\r\nNOOP\r\n");
}

#[test]
fn retr_accepts_a_bare_lf_terminator_and_an_empty_message() {
    let mut c = client(b"+OK\n+OK\n.\n+OK\nline\n.\n");
    assert_eq!(c.retr(1, 0, 10).unwrap(), b"");
    assert_eq!(c.retr(2, 0, 10).unwrap(), b"line\n");
}

#[test]
fn lines_far_longer_than_the_buffer_arrive_whole() {
    // One 300 KB line (a base64 attachment without line breaks), read 7 bytes at a time through
    // a 64 KB buffer.
    let long: Vec<u8> = (0..300_000u32).map(|i| b'A' + (i % 26) as u8).collect();
    let mut server = b"+OK\r\n+OK\r\n".to_vec();
    server.extend_from_slice(b".");
    server.extend_from_slice(&long);
    server.extend_from_slice(b"\r\n.\r\n");
    let mut script = Script::new(&server);
    script.piece = 4096;
    let mut c = Client::new(script).unwrap();
    let message = c.retr(1, 0, 400_000).unwrap();
    assert_eq!(message.len(), long.len() + 2);
    assert_eq!(&message[..long.len()], &long[..]);
}

#[test]
fn a_message_larger_than_the_limit_is_refused() {
    let mut server = b"+OK\r\n+OK\r\n".to_vec();
    for _ in 0..100 {
        server.extend_from_slice(b"0123456789\r\n");
    }
    server.extend_from_slice(b".\r\n");
    let mut c = client(&server);
    let err = c.retr(1, 0, 500).unwrap_err();
    assert!(err.to_string().contains("larger than 500 bytes"), "{err}");
    // Also when the excess is one endless line.
    let mut server = b"+OK\r\n+OK\r\n".to_vec();
    server.extend(std::iter::repeat_n(b'x', 10_000));
    let mut c = client(&server);
    assert!(c
        .retr(1, 0, 500)
        .unwrap_err()
        .to_string()
        .contains("larger than"));
}

#[test]
fn an_endless_status_line_is_refused() {
    let mut server = b"+OK ".to_vec();
    server.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
    let err = Client::new(Script::new(&server)).err().unwrap();
    assert!(matches!(err, Error::Protocol { .. }), "{err}");
}

#[test]
fn malformed_listings_are_protocol_errors() {
    let mut c = client(b"+OK\r\n+OK\r\n1 abc\r\nnot a line\r\n.\r\n");
    let err = c.uidl().unwrap_err();
    assert!(err.to_string().contains("bad line \"not a line\""), "{err}");
    let mut c = client(b"+OK\r\n+OK\r\n1 many\r\n.\r\n");
    assert!(c.list().is_err());
    let mut c = client(b"+OK\r\n+OK lots\r\n");
    assert!(c.stat().is_err());
    let mut c = client(b"+OK\r\n-ERR UIDL not supported\r\n");
    let err = c.uidl().unwrap_err();
    assert_eq!(err.to_string(), "UIDL refused: -ERR UIDL not supported");
}

#[test]
fn capabilities_and_their_absence() {
    let mut c = client(
        b"+OK\r\n+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nSTLS\r\n\
          SASL PLAIN xoauth2\r\nUSER\r\n.\r\n",
    );
    let capabilities = c.capa().unwrap();
    assert!(capabilities.has("stls"));
    assert!(capabilities.has("UIDL"));
    assert!(!capabilities.has("APOP"));
    assert_eq!(capabilities.sasl(), vec!["PLAIN", "XOAUTH2"]);
    assert!(c.pipelining);
    let mut c = client(b"+OK\r\n-ERR unknown command\r\n");
    assert_eq!(c.capa().unwrap(), Capabilities::default());
    assert!(!c.pipelining);
}

#[test]
fn stls_hands_the_stream_back_untouched() {
    let c = client(b"+OK\r\n+OK Begin TLS negotiation now.\r\n");
    let script = c.stls().unwrap();
    assert_eq!(script.written, b"STLS\r\n");
    assert_eq!(script.position, script.input.len());
    // Bytes after the +OK would be plaintext pretending to come from inside TLS.
    let mut script = Script::new(b"+OK\r\n+OK go\r\n+OK Logged in.\r\n");
    script.piece = 100;
    let err = Client::new(script).unwrap().stls().err().unwrap();
    assert!(
        err.to_string().contains("before the TLS handshake"),
        "{err}"
    );
    let err = client(b"+OK\r\n-ERR TLS support isn't enabled.\r\n")
        .stls()
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "STLS refused: -ERR TLS support isn't enabled."
    );
}

#[test]
fn xoauth2_success_and_refusal() {
    let mut c = client(b"+OK\r\n+ \r\n+OK Logged in.\r\n");
    c.auth_xoauth2("a@b.c", "tok").unwrap();
    let expected = format!(
        "AUTH XOAUTH2\r\n{}\r\n",
        base64(b"user=a@b.c\x01auth=Bearer tok\x01\x01")
    );
    assert_eq!(written(c), expected);
    // Refused: the error arrives as a challenge, answered with an empty line.
    let mut c = client(b"+OK\r\n+\r\n+ eyJzdGF0dXMiOiI0MDEifQ==\r\n-ERR [AUTH] Invalid token\r\n");
    let err = c.auth_xoauth2("a@b.c", "tok").unwrap_err();
    assert_eq!(err.response_code(), Some("AUTH"));
    assert!(written(c).ends_with("\r\n\r\n"));
    // A server without XOAUTH2.
    let mut c = client(b"+OK\r\n-ERR Unsupported authentication mechanism.\r\n");
    let err = c.auth_xoauth2("a", "t").unwrap_err();
    assert!(matches!(err, Error::Refused { .. }));
}

#[test]
fn oauthbearer_success_and_refusal() {
    let mut c = client(b"+OK\r\n+ \r\n+OK Logged in.\r\n");
    c.auth_oauthbearer("a@b.c", "pop.test", 995, "tok").unwrap();
    let expected = format!(
        "AUTH OAUTHBEARER\r\n{}\r\n",
        base64(b"n,a=a@b.c,\x01host=pop.test\x01port=995\x01auth=Bearer tok\x01\x01")
    );
    assert_eq!(written(c), expected);
    // Refused: the error challenge is answered with %x01 (RFC 7628 §3.2.3), never taken for +OK.
    let mut c = client(
        b"+OK\r\n+ \r\n+ eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=\r\n-ERR [AUTH] Authentication failed.\r\n",
    );
    let err = c
        .auth_oauthbearer("a@b.c", "pop.test", 995, "tok")
        .unwrap_err();
    assert_eq!(err.response_code(), Some("AUTH"));
    assert!(written(c).ends_with("\r\nAQ==\r\n"));
}

#[test]
fn deletions_are_pipelined_when_allowed() {
    let mut c = client(b"+OK\r\n+OK\r\nPIPELINING\r\n.\r\n+OK\r\n-ERR no such message\r\n+OK\r\n");
    c.capa().unwrap();
    let results = c.dele_all(&[1, 2, 3]).unwrap();
    assert!(results[0].is_ok() && results[1].is_err() && results[2].is_ok());
    assert_eq!(written(c), "CAPA\r\nDELE 1\r\nDELE 2\r\nDELE 3\r\n");
    // Without PIPELINING, one at a time; a lost connection is the outer error.
    let mut c = client(b"+OK\r\n+OK\r\n");
    assert!(c.dele_all(&[1, 2]).is_err());
}

#[test]
fn retrievals_may_be_pipelined() {
    let mut c = client(
        b"+OK\r\n+OK\r\nPIPELINING\r\n.\r\n\
          +OK\r\none\r\n.\r\n-ERR no such message\r\n+OK\r\n..three\r\n.\r\n",
    );
    c.capa().unwrap();
    assert!(c.pipelining());
    c.send_retr(&[1, 2, 3]).unwrap();
    assert_eq!(c.read_retr(1, 5, 100).unwrap(), b"one\r\n");
    let err = c.read_retr(2, 5, 100).unwrap_err();
    assert_eq!(err.to_string(), "RETR 2 refused: -ERR no such message");
    assert_eq!(c.read_retr(3, 5, 100).unwrap(), b".three\r\n");
    assert_eq!(written(c), "CAPA\r\nRETR 1\r\nRETR 2\r\nRETR 3\r\n");
}

#[test]
fn base64_matches_rfc_4648() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
}
