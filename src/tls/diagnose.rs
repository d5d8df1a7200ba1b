//! What went wrong on the way to a mail server, told by its real cause. A TLS handshake fails the
//! same way whether the port speaks plain IMAP, the server knows only TLS 1.0, or its certificate
//! is unknown, and OpenSSL's words for each ("wrong version number", "tlsv1 alert protocol
//! version") send an administrator to the wrong remedy. So:
//!
//! - a failed handshake is sorted by OpenSSL's reason: the certificate, a TLS version older than
//!   1.2, the connection reset or closed, a cipher in common, or an answer that is not TLS at all;
//!   for the last two a second, plaintext connection reads what the port says first (`* OK` is
//!   IMAP, `+OK` is POP3) and the remedy names the right option or port;
//! - a plaintext connection (`--tls starttls` or `none`) that gets no greeting is tried once with
//!   TLS: a port that answers it speaks implicit TLS (993, 995);
//! - a greeting of the other protocol (POP3 on the IMAP port) says so.
//!
//! On Windows, a status code SChannel knows (`schannel.rs`) is told in words with its remedy.
//!
//! The OpenSSL error is printed once, reduced to its reason ("certificate verify failed
//! (self-signed certificate)"), never with its file and line.

use std::io::{self, Read};
use std::time::Duration;

use anyhow::anyhow;

use super::{schannel, Client, Connector, Paced, Refusal, TlsMode};
use crate::exit::Failure;

/// The protocol a connection is for, so that a message can say what the port speaks instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Imap,
    Pop3,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Imap => "IMAP",
            Service::Pop3 => "POP3",
        }
    }

    /// The port of implicit TLS, and the plaintext one (for STARTTLS/STLS).
    pub fn ports(self) -> (u16, u16) {
        match self {
            Service::Imap => (993, 143),
            Service::Pop3 => (995, 110),
        }
    }

    fn subcommand(self) -> &'static str {
        match self {
            Service::Imap => "imap",
            Service::Pop3 => "pop",
        }
    }
}

/// What a server's first bytes say it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spoken {
    Service(Service),
    Smtp,
    Tls,
    Other,
}

/// What the first line a server sends says it speaks.
pub fn spoken(first: &[u8]) -> Spoken {
    let upper: Vec<u8> = first.iter().take(12).map(u8::to_ascii_uppercase).collect();
    let starts = |prefix: &[u8]| upper.starts_with(prefix);
    if starts(b"* OK") || starts(b"* PREAUTH") || starts(b"* BYE") {
        Spoken::Service(Service::Imap)
    } else if starts(b"+OK") || starts(b"-ERR") {
        Spoken::Service(Service::Pop3)
    } else if starts(b"220") {
        Spoken::Smtp
    } else if first.len() >= 2 && matches!(first[0], 0x15 | 0x16) && first[1] == 3 {
        // A TLS record: an alert or a handshake message, version 3.x.
        Spoken::Tls
    } else {
        Spoken::Other
    }
}

/// Longest wait for a probe's answer: a plaintext server greets at once.
const PROBE_WAIT: Duration = Duration::from_secs(5);

impl Connector {
    fn service(&self) -> Service {
        self.config.service
    }

    /// The error for a TLS handshake that failed with `err`.
    pub(super) fn handshake_failed(&self, refusal: &Refusal) -> anyhow::Error {
        let address = self.address();
        let error: &(dyn std::error::Error + 'static) = refusal.error.as_ref();
        if let Some(known) = schannel::known_code(error) {
            return self.schannel_failed(known, refusal);
        }
        let reason = openssl_reason(&refusal.text);
        let lower = reason.to_ascii_lowercase();
        let closed = refusal.io.is_some_and(|kind| {
            matches!(
                kind,
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::BrokenPipe
            )
        }) || lower.contains("unexpected eof");
        let not_tls = lower.contains("wrong version number")
            || lower.contains("packet length too long")
            || lower.contains("record layer failure")
            || lower.contains("http request");
        let mut probed = None;
        if (closed || not_tls) && self.config.mode == TlsMode::Implicit {
            probed = self
                .plain_greeting()
                .and_then(|line| self.says_instead(&line));
        }
        let message = if let Some(message) = probed {
            message
        } else if lower.contains("certificate") {
            self.certificate_advice()
        } else if lower.contains("protocol version")
            || lower.contains("unsupported protocol")
            || lower.contains("no protocols available")
            || lower.contains("version too low")
        {
            "the server offers only TLS versions older than 1.2 (TLS 1.0 or 1.1), which lanceur \
             refuses because they are broken: update the server's TLS settings, or reach it \
             through a tunnel on this machine (stunnel) with --tls none"
                .to_string()
        } else if closed {
            "the server closed the connection during the TLS handshake: it may refuse TLS 1.2 and \
             later, limit connections from this address, or not speak TLS on this port; check \
             --port and --tls"
                .to_string()
        } else if lower.contains("handshake failure") || lower.contains("no shared cipher") {
            "the server and lanceur have no TLS cipher in common: update the server's TLS settings"
                .to_string()
        } else if not_tls {
            format!(
                "the server does not answer in TLS on this port: check --port (implicit TLS is \
                 {}) and --tls",
                self.service().ports().0
            )
        } else {
            "check --port and --tls".to_string()
        };
        anyhow!("TLS handshake with {address} failed: {message}: {reason}").context(Failure::Source)
    }

    /// The error for a handshake SChannel (Windows) refused with a status code it knows: the code
    /// in words with its remedy, never the raw number alone. A port that does not answer in TLS is
    /// probed in plaintext as under OpenSSL, so that a plain IMAP port is named as such there too.
    fn schannel_failed(&self, known: &schannel::Known, refusal: &Refusal) -> anyhow::Error {
        let address = self.address();
        log::debug!("TLS handshake with {address}: {}", refusal.text);
        let host = self.config.host.as_str();
        let described = known.describe(host);
        if known.remedy == schannel::Remedy::ServerSettings && self.config.mode == TlsMode::Implicit
        {
            if let Some(message) = self
                .plain_greeting()
                .and_then(|line| self.says_instead(&line))
            {
                return anyhow!("TLS handshake with {address} failed: {message}: {described}")
                    .context(Failure::Source);
            }
        }
        let trust = match &self.config.ca_file {
            Some(ca) => format!(
                "check that {} holds the authority that signed the server's certificate",
                ca.display()
            ),
            None => format!(
                "give a private CA with --ca-file, or {}",
                schannel::TRUST_STORE
            ),
        };
        anyhow!(
            "TLS handshake with {address} failed: {described}; {}",
            known.remedy(&trust)
        )
        .context(Failure::Source)
    }

    fn certificate_advice(&self) -> String {
        let host = &self.config.host;
        match &self.config.ca_file {
            Some(ca) => format!(
                "the server's certificate is not signed by {} nor trusted by the system, or does \
                 not name {host}",
                ca.display()
            ),
            None => format!(
                "the server's certificate is not trusted: if it comes from a private CA, give it \
                 with --ca-file; check that the certificate names {host}"
            ),
        }
    }

    /// What the server's first line says about the port, when it is not the greeting of the
    /// expected protocol: POP3 on an IMAP port, or the reverse, or SMTP.
    pub fn greeting_mismatch(&self, line: &[u8]) -> Option<anyhow::Error> {
        let message = self.says_instead(line)?;
        Some(anyhow!("{}: {message}", self.address()).context(Failure::Source))
    }

    /// A plaintext connection that got no greeting (it timed out or was closed, `err`): when the
    /// port answers a TLS handshake, it speaks implicit TLS and the remedy is the other mode.
    pub fn no_greeting(&self, err: &io::Error) -> Option<anyhow::Error> {
        if self.config.mode == TlsMode::Implicit || !self.speaks_tls() {
            return None;
        }
        let (tls_port, plain_port) = self.service().ports();
        let waited = if matches!(
            err.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        ) {
            format!(
                "no greeting within {}",
                humantime::format_duration(self.config.timeout)
            )
        } else {
            "the server closed the connection without a greeting".to_string()
        };
        let option = match self.config.mode {
            TlsMode::Starttls => "--tls starttls",
            _ => "--tls none",
        };
        Some(
            anyhow!(
                "{}: {waited}: this port looks like an implicit-TLS port (it answers a TLS \
                 handshake): leave out {option} (implicit TLS is the default, port {tls_port}), \
                 or use port {plain_port} for {option}",
                self.address()
            )
            .context(Failure::Source),
        )
    }

    /// The remedy for a port whose first line is not the expected protocol's, if it is not.
    fn says_instead(&self, line: &[u8]) -> Option<String> {
        let service = self.service();
        let port = self.config.port;
        let (tls_port, plain_port) = service.ports();
        Some(match spoken(line) {
            Spoken::Service(other) if other == service => {
                if self.config.mode != TlsMode::Implicit {
                    return None;
                }
                format!(
                    "port {port} speaks plain {}, not TLS: use --tls starttls, or port {tls_port}",
                    service.name()
                )
            }
            Spoken::Service(other) => format!(
                "port {port} speaks {}, not {}: use `lanceur {}` for it, or give the {} port \
                 ({tls_port}, or {plain_port} with --tls starttls)",
                other.name(),
                service.name(),
                other.subcommand(),
                service.name()
            ),
            Spoken::Smtp => format!(
                "port {port} speaks SMTP or FTP (its greeting starts with 220), not {}: give the \
                 {} port ({tls_port}, or {plain_port} with --tls starttls)",
                service.name(),
                service.name()
            ),
            Spoken::Tls | Spoken::Other => return None,
        })
    }

    /// The first line the port sends on a new plaintext connection, if it sends one soon.
    fn plain_greeting(&self) -> Option<Vec<u8>> {
        let mut tcp = self.probe_tcp()?;
        let mut buffer = vec![0u8; 512];
        let read = tcp.read(&mut buffer).ok()?;
        buffer.truncate(read);
        log::debug!(
            "{} greets a plaintext probe with {:?}",
            self.address(),
            String::from_utf8_lossy(&buffer)
        );
        (read > 0).then_some(buffer)
    }

    /// Whether the port completes a TLS handshake, its certificate unchecked: only whether it
    /// speaks TLS is asked.
    fn speaks_tls(&self) -> bool {
        let Some(tcp) = self.probe_tcp() else {
            return false;
        };
        let Ok(probe) = Client::new(None, true) else {
            return false;
        };
        let speaks = probe.connect(&self.config.host, tcp).is_ok();
        log::debug!("{} answers a TLS probe: {speaks}", self.address());
        speaks
    }

    fn probe_tcp(&self) -> Option<Paced> {
        let mut paced = self.connect_tcp().ok()?;
        let wait = self.config.timeout.min(PROBE_WAIT);
        paced.timeout = wait;
        paced.answer_timeout = wait;
        paced.tcp.set_write_timeout(Some(wait)).ok()?;
        Some(paced)
    }
}

/// OpenSSL's `error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify
/// failed:../ssl/statem/statem_clnt.c:1889: (self-signed certificate)` as `certificate verify
/// failed (self-signed certificate)`; any other text as it is.
fn openssl_reason(text: &str) -> String {
    let mut reasons: Vec<String> = Vec::new();
    for part in text.split("error:").skip(1) {
        let fields: Vec<&str> = part.split(':').collect();
        if let Some(reason) = fields.get(3).map(|r| r.trim()).filter(|r| !r.is_empty()) {
            if !reasons.iter().any(|r| r == reason) {
                reasons.push(reason.to_string());
            }
        }
    }
    if reasons.is_empty() {
        return text.trim().to_string();
    }
    let mut out = reasons.join(", ");
    // The verification result native-tls adds, in parentheses, after the stack.
    if let (Some(open), true) = (text.rfind(" ("), text.trim_end().ends_with(')')) {
        out.push_str(&text[open..].trim_end().replace("  ", " "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_are_told_apart() {
        assert_eq!(
            spoken(b"* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n"),
            Spoken::Service(Service::Imap)
        );
        assert_eq!(
            spoken(b"+OK Dovecot ready.\r\n"),
            Spoken::Service(Service::Pop3)
        );
        assert_eq!(spoken(b"220 mail.example ESMTP\r\n"), Spoken::Smtp);
        assert_eq!(spoken(&[0x15, 0x03, 0x01, 0x00, 0x02]), Spoken::Tls);
        assert_eq!(spoken(b"SSH-2.0-OpenSSH_9.2\r\n"), Spoken::Other);
    }

    #[test]
    fn openssl_errors_are_reduced_to_their_reason_once() {
        let text = "error:0A000086:SSL routines:tls_post_process_server_certificate:certificate \
                    verify failed:../ssl/statem/statem_clnt.c:1889: (self-signed certificate)";
        assert_eq!(
            openssl_reason(text),
            "certificate verify failed (self-signed certificate)"
        );
        let text = "error:0A00042E:SSL routines:ssl3_read_bytes:tlsv1 alert protocol version:\
                    ../ssl/record/rec_layer_s3.c:1601:SSL alert number 70";
        assert_eq!(openssl_reason(text), "tlsv1 alert protocol version");
        assert_eq!(
            openssl_reason("Connection reset by peer (os error 104)"),
            "Connection reset by peer (os error 104)"
        );
    }
}
