//! Connecting to a mail server: DNS, TCP with timeouts, then TLS, knowing nothing of the protocol
//! spoken over it (IMAP and POP3 both use it).
//!
//! Three ways to connect (`TlsMode`):
//! - `Implicit`: TLS from the first byte (IMAPS 993, POP3S 995). The default.
//! - `StartTls`: plaintext first; the protocol sends its upgrade command (`STARTTLS`, `STLS`) with
//!   `read_line` (which never reads past the line, so no TLS byte is swallowed), then hands the
//!   socket to `Connector::upgrade`.
//! - `Plain`: no TLS at all, only when the user asked for it (a local stunnel in front of an old
//!   server): `Connector::connect` then warns unless the server is on loopback.
//!
//! Certificates are checked against the system's store (OpenSSL's on Linux, SChannel on Windows),
//! or against the private CA of `--ca-file` alone. Turning verification off is possible, and
//! warned about on every run. The TLS library itself is behind `Client` (`openssl.rs` on Linux and
//! the other Unix systems, `native.rs` on Windows and macOS): on Linux the system's trust anchors
//! are looked up on demand in its hashed CA directory rather than parsed whole on every run
//! (`trust.rs`). SChannel's status codes are told in
//! words (`schannel.rs`).
//!
//! Every failure here is tagged `Failure::Source` (exit 4) with the remedy in its message: the name
//! does not resolve, the port does not answer, the certificate is not trusted.
//!
//! Time is bounded three ways (`Paced`, under TLS): each read by `--timeout`, each answer (from the
//! first byte awaited after a command to the last one read before the next command) by
//! `--answer-timeout`, so that a server trickling a byte a second cannot hold a run forever, and
//! the whole run by `--run-timeout` (`stop`). Reads wait in short slices, so that a signal ends a
//! run blocked on a silent server too.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use native_tls::Certificate;

use crate::exit::Failure;

mod diagnose;
pub mod schannel;

pub use diagnose::Service;

#[cfg(any(windows, target_vendor = "apple"))]
#[path = "tls/native.rs"]
mod backend;
#[cfg(not(any(windows, target_vendor = "apple")))]
#[path = "tls/openssl.rs"]
mod backend;
#[cfg(not(any(windows, target_vendor = "apple")))]
mod trust;

use backend::{Client, Refused, TlsStream};

/// A handshake the TLS library refused, as `diagnose` reads it: the library's words, the kind of
/// the I/O error behind it if there is one (a reset, an early end), and the error itself, whose
/// chain carries SChannel's status codes on Windows.
pub struct Refusal {
    pub text: String,
    pub io: Option<io::ErrorKind>,
    pub error: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl Refusal {
    /// `err` in its own words.
    pub fn new(err: impl std::error::Error + Send + Sync + 'static) -> Refusal {
        Refusal::told(err.to_string(), err)
    }

    /// `err`, told as `text`.
    pub fn told(text: String, err: impl std::error::Error + Send + Sync + 'static) -> Refusal {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        let mut io = None;
        while let Some(error) = cause {
            if let Some(found) = error.downcast_ref::<io::Error>() {
                io = Some(found.kind());
                break;
            }
            cause = error.source();
        }
        Refusal {
            text,
            io,
            error: Box::new(err),
        }
    }
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum TlsMode {
    /// TLS from the start (IMAPS 993, POP3S 995)
    #[default]
    Implicit,
    /// Plaintext connection upgraded with STARTTLS (IMAP 143) or STLS (POP3 110)
    Starttls,
    /// No encryption at all: only for a local tunnel such as stunnel
    None,
}

/// Where and how to connect; checked by `config` before any socket opens.
#[derive(Clone)]
pub struct TlsConfig {
    /// The protocol spoken over the connection, for the diagnoses of `diagnose.rs`.
    pub service: Service,
    pub host: String,
    pub port: u16,
    pub mode: TlsMode,
    /// A private CA to trust instead of the system's store, as read (and checked) from `ca_file`.
    pub ca_pem: Option<Vec<u8>>,
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate and any name. Only for tests and emergencies.
    pub accept_invalid_certs: bool,
    /// For connecting, and for each read or write afterwards.
    pub timeout: Duration,
    /// For each whole answer of the server.
    pub answer_timeout: Duration,
}

/// A TCP connection whose reads are bounded by the read timeout, the answer deadline and the run's
/// deadline, and end early on a signal (see the module's comment).
#[derive(Debug)]
pub struct Paced {
    tcp: TcpStream,
    timeout: Duration,
    answer_timeout: Duration,
    /// When the answer being read began: the first read after the last write.
    answer_started: Option<Instant>,
}

/// The longest single wait, so that a signal or a deadline is noticed soon.
const SLICE: Duration = Duration::from_millis(250);

impl Paced {
    fn new(tcp: TcpStream, timeout: Duration, answer_timeout: Duration) -> Paced {
        Paced {
            tcp,
            timeout,
            answer_timeout,
            answer_started: None,
        }
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.peer_addr()
    }
}

impl Read for Paced {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let began = Instant::now();
        let answer_started = *self.answer_started.get_or_insert(began);
        loop {
            if let Some(reason) = crate::stop::reason() {
                return Err(io::Error::other(format!("{:#}", reason.error())));
            }
            let now = Instant::now();
            let idle_left = self.timeout.saturating_sub(now - began);
            let answer_left = (answer_started + self.answer_timeout).saturating_duration_since(now);
            let run_left = crate::stop::run_left().unwrap_or(Duration::MAX);
            if answer_left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the server did not finish its answer within --answer-timeout {}",
                        humantime::format_duration(self.answer_timeout)
                    ),
                ));
            }
            if idle_left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the server sent nothing for --timeout {}",
                        humantime::format_duration(self.timeout)
                    ),
                ));
            }
            let wait = idle_left.min(answer_left).min(run_left).min(SLICE);
            // A zero run_left is seen by `stop::reason` on the next turn.
            self.tcp
                .set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
            match self.tcp.read(buf) {
                Ok(n) => return Ok(n),
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(err) => return Err(err),
            }
        }
    }
}

impl Write for Paced {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // A new command: its answer gets its own deadline.
        self.answer_started = None;
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// `-vv` dumps the launcher: the CA file's certificates would come out as one number per byte, a
/// few thousand lines saying nothing the file's name does not.
impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("service", &self.service)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("mode", &self.mode)
            .field(
                "ca_pem",
                &self
                    .ca_pem
                    .as_ref()
                    .map(|pem| format!("{} bytes", pem.len())),
            )
            .field("ca_file", &self.ca_file)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .field("timeout", &self.timeout)
            .field("answer_timeout", &self.answer_timeout)
            .finish()
    }
}

/// Reads and checks a CA file (PEM). A mistake is a configuration error (exit 2).
pub fn load_ca_file(path: &Path) -> Result<Vec<u8>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("cannot read CA file {}", path.display()))
        .context(Failure::Usage)?;
    Certificate::from_pem(&pem)
        .with_context(|| {
            format!(
                "CA file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            )
        })
        .context(Failure::Usage)?;
    Ok(pem)
}

/// A connection, encrypted or not; one type so a protocol client need not be generic over it.
#[derive(Debug)]
pub enum Stream {
    Plain(Paced),
    Tls(Box<TlsStream<Paced>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

pub struct Connector {
    config: TlsConfig,
    tls: Client,
}

impl Connector {
    pub fn new(config: &TlsConfig) -> Result<Connector> {
        // A CA file replaces the system's store, as curl's --cacert does: a private server's
        // chain ends at its own CA.
        let tls = Client::new(config.ca_pem.as_deref(), config.accept_invalid_certs)
            .context("cannot set up TLS")
            .context(if config.ca_pem.is_some() {
                Failure::Usage
            } else {
                Failure::Source
            })?;
        Ok(Connector {
            config: config.clone(),
            tls,
        })
    }

    /// `host:port`, for messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.config.host, self.config.port)
    }

    /// Connects as the mode says: TLS for `Implicit`, plaintext for `StartTls` (upgrade it with
    /// `upgrade` after the protocol's command) and `None`.
    pub fn connect(&self) -> Result<Stream> {
        if self.config.accept_invalid_certs && self.config.mode != TlsMode::None {
            log::warn!(
                "certificate verification is OFF for {} (--danger-accept-invalid-certs): anyone \
                 on the network path can read the password and the mail; use --ca-file instead",
                self.address()
            );
        }
        let tcp = self.connect_tcp()?;
        match self.config.mode {
            TlsMode::Implicit => self.upgrade(tcp),
            TlsMode::Starttls => Ok(Stream::Plain(tcp)),
            TlsMode::None => {
                if !tcp.peer_addr().is_ok_and(|a| a.ip().is_loopback()) {
                    log::warn!(
                        "{} is not on this machine and --tls none sends the password and the mail \
                         unencrypted; use --tls implicit or starttls",
                        self.address()
                    );
                }
                Ok(Stream::Plain(tcp))
            }
        }
    }

    /// The TLS handshake over an open socket (implicit TLS, or after STARTTLS/STLS).
    pub fn upgrade(&self, tcp: Paced) -> Result<Stream> {
        let host = self.config.host.as_str();
        let began = Instant::now();
        match self.tls.connect(host, tcp) {
            Ok(stream) => {
                log::debug!(
                    "TLS handshake with {} in {:?}",
                    self.address(),
                    began.elapsed()
                );
                Ok(Stream::Tls(Box::new(stream)))
            }
            Err(Refused::Failed(refusal)) => Err(self.handshake_failed(&refusal)),
            Err(Refused::TimedOut) => Err(anyhow!(
                "TLS handshake with {} timed out after {}",
                self.address(),
                humantime::format_duration(self.config.timeout)
            ))
            .context(Failure::Source),
        }
    }

    fn connect_tcp(&self) -> Result<Paced> {
        let address = self.address();
        let addrs: Vec<SocketAddr> = (self.config.host.as_str(), self.config.port)
            .to_socket_addrs()
            .with_context(|| {
                format!(
                    "cannot resolve {}; check --server and the DNS",
                    self.config.host
                )
            })
            .context(Failure::Source)?
            .collect();
        let mut last: Option<io::Error> = None;
        for addr in &addrs {
            match TcpStream::connect_timeout(addr, self.config.timeout) {
                Ok(tcp) => {
                    let timeouts = tcp
                        .set_read_timeout(Some(self.config.timeout))
                        .and_then(|()| tcp.set_write_timeout(Some(self.config.timeout)))
                        .and_then(|()| tcp.set_nodelay(true));
                    if let Err(err) = timeouts {
                        log::debug!("cannot set socket options: {err}");
                    }
                    return Ok(Paced::new(
                        tcp,
                        self.config.timeout,
                        self.config.answer_timeout,
                    ));
                }
                Err(err) => {
                    log::debug!("cannot connect to {addr}: {err}");
                    last = Some(err);
                }
            }
        }
        let err = last.unwrap_or_else(|| io::Error::other("no address"));
        let hint = if err.kind() == io::ErrorKind::TimedOut {
            format!(
                "no answer within {}",
                humantime::format_duration(self.config.timeout)
            )
        } else {
            err.to_string()
        };
        Err(anyhow!(hint))
            .with_context(|| {
                format!("cannot connect to {address}; check --server, --port and the firewall")
            })
            .context(Failure::Source)
    }
}

/// Reads one line (up to and including LF) without reading a byte beyond it, for the plaintext
/// exchange before STARTTLS/STLS. Lines longer than `max` bytes are an error.
pub fn read_line(stream: &mut impl Read, max: usize) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte)? {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ))
            }
            _ => line.push(byte[0]),
        }
        if byte[0] == b'\n' {
            return Ok(line);
        }
        if line.len() > max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "line too long from the server",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn config(port: u16, mode: TlsMode) -> TlsConfig {
        TlsConfig {
            service: Service::Imap,
            host: "127.0.0.1".into(),
            port,
            mode,
            ca_pem: None,
            ca_file: None,
            accept_invalid_certs: false,
            timeout: Duration::from_secs(2),
            answer_timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn refused_connection_is_a_source_failure_with_a_remedy() {
        // A port that was free a moment ago: nothing listens there.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let connector = Connector::new(&config(port, TlsMode::Implicit)).unwrap();
        let err = connector.connect().unwrap_err();
        assert_eq!(crate::exit::code_for(&err), crate::exit::SOURCE);
        assert!(
            format!("{err:#}").contains("check --server, --port"),
            "{err:#}"
        );
    }

    #[test]
    fn a_plaintext_server_fails_the_handshake_with_advice() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let _ = socket.write_all(b"* OK plaintext IMAP\r\n");
            let mut sink = [0u8; 512];
            let _ = socket.read(&mut sink);
        });
        let connector = Connector::new(&config(port, TlsMode::Implicit)).unwrap();
        let err = connector.connect().unwrap_err();
        assert_eq!(crate::exit::code_for(&err), crate::exit::SOURCE);
        assert!(
            format!("{err:#}").contains("TLS handshake with 127.0.0.1"),
            "{err:#}"
        );
        server.join().unwrap();
    }

    #[test]
    fn read_line_stops_at_the_line_end() {
        let mut input: &[u8] = b"* OK ready\r\nTLS bytes";
        assert_eq!(read_line(&mut input, 100).unwrap(), b"* OK ready\r\n");
        assert_eq!(input, b"TLS bytes");
        let mut short: &[u8] = b"no end";
        assert!(read_line(&mut short, 100).is_err());
    }

    #[test]
    fn a_bad_ca_file_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let err = load_ca_file(&path).unwrap_err();
        assert_eq!(crate::exit::code_for(&err), crate::exit::USAGE);
    }
}
