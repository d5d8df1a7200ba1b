//! A small IMAP proxy between lanceur and the test Dovecot's plaintext port, that behaves as real
//! (and hostile) servers do: it injects unsolicited responses (EXISTS, EXPUNGE, FETCH FLAGS) into
//! the answers, splitting them so that a tagged line and the start of an untagged one arrive in one
//! read, and it can drop the connection when asked for one UID's body (as a server that crashes
//! on a mail), or answer a body fetch with a literal far larger than the mail.
//!
//! It also keeps the command lines lanceur sent, for tests of what a run asks the server.
//!
//! Each accepted connection gets its own thread pair; the proxy accepts until dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
pub struct Behaviour {
    /// Inject unsolicited responses after every line that ends a command, and between responses.
    pub inject: bool,
    /// Drop the connection when a `UID FETCH` asks for this UID's body.
    pub crash_on_uid: Option<u32>,
    /// Drop the connection when a `UID FETCH` asks for this UID's header fields (listing).
    pub crash_on_header_of: Option<u32>,
    /// Answer body fetches with a literal announcing this many bytes (and never sending them).
    pub huge_literal: Option<u64>,
}

pub struct Proxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
    /// Unsolicited responses injected, crashes simulated: proof the proxy did its work.
    pub injected: Arc<AtomicUsize>,
    pub crashes: Arc<AtomicUsize>,
    /// The command lines lanceur sent, in order, over every connection (without line ends; a
    /// LOGIN line without its arguments).
    pub commands: Arc<Mutex<Vec<String>>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl Proxy {
    pub fn start(upstream: u16, behaviour: Behaviour) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let injected = Arc::new(AtomicUsize::new(0));
        let crashes = Arc::new(AtomicUsize::new(0));
        let commands = Arc::new(Mutex::new(Vec::new()));
        let (s, i, c, k) = (
            stop.clone(),
            injected.clone(),
            crashes.clone(),
            commands.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
                let counters = Counters {
                    injected: i.clone(),
                    crashes: c.clone(),
                    commands: k.clone(),
                };
                let b = behaviour.clone();
                std::thread::spawn(move || session(client, server, b, counters));
            }
        });
        Proxy {
            port,
            stop,
            injected,
            crashes,
            commands,
        }
    }
}

/// Whether the IMAP sequence set `set` (`1:3,7`) holds `uid`.
pub fn set_holds(set: &str, uid: u32) -> bool {
    set.split(',').any(|range| match range.split_once(':') {
        Some((a, b)) => {
            let a: u32 = a.parse().unwrap_or(u32::MAX);
            let b: u32 = if b == "*" {
                u32::MAX
            } else {
                b.parse().unwrap_or(0)
            };
            (a.min(b)..=a.max(b)).contains(&uid)
        }
        None => range.parse() == Ok(uid),
    })
}

/// What a session reports to its `Proxy`.
struct Counters {
    injected: Arc<AtomicUsize>,
    crashes: Arc<AtomicUsize>,
    commands: Arc<Mutex<Vec<String>>>,
}

fn session(client: TcpStream, server: TcpStream, behaviour: Behaviour, counters: Counters) {
    let Counters {
        injected,
        crashes,
        commands,
    } = counters;
    let (mut to_server, from_server) = (server.try_clone().unwrap(), server);
    let (from_client, mut to_client) = (client.try_clone().unwrap(), client);
    let mut to_client_2 = to_client.try_clone().unwrap();
    let huge = behaviour.huge_literal;
    // Client → server, line by line (lanceur sends no literals), watching for body fetches.
    let watcher = std::thread::spawn(move || {
        let mut lines = BufReader::new(from_client);
        loop {
            let mut line = String::new();
            if lines.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            let upper = line.to_ascii_uppercase();
            let words: Vec<&str> = upper.split_whitespace().collect();
            let said = match words.get(1) {
                Some(&"LOGIN") => format!("{} LOGIN", words[0]),
                _ => line.trim_end().to_string(),
            };
            commands.lock().unwrap().push(said);
            let body_fetch = words.len() >= 4
                && words[1] == "UID"
                && words[2] == "FETCH"
                && upper.contains("BODY.PEEK[]");
            let header_fetch = words.len() >= 4
                && words[1] == "UID"
                && words[2] == "FETCH"
                && upper.contains("HEADER.FIELDS");
            if let (true, Some(uid)) = (header_fetch, behaviour.crash_on_header_of) {
                if set_holds(words[3], uid) {
                    crashes.fetch_add(1, Ordering::SeqCst);
                    break;
                }
            }
            if body_fetch {
                if let Some(uid) = behaviour.crash_on_uid {
                    if set_holds(words[3], uid) {
                        crashes.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                }
                if let Some(size) = huge {
                    let _ = to_client_2
                        .write_all(format!("* 1 FETCH (UID 1 BODY[] {{{size}}}\r\n").as_bytes());
                    let _ = to_client_2.write_all(&vec![b'x'; 1 << 20]);
                    break;
                }
            }
            if to_server.write_all(line.as_bytes()).is_err() {
                break;
            }
        }
        let _ = to_server.shutdown(Shutdown::Both);
        let _ = to_client_2.shutdown(Shutdown::Both);
    });
    // Server → client, with unsolicited responses put in where real servers put them.
    let mut reader = BufReader::new(from_server);
    let mut pending_tail: Option<&[u8]> = None;
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        // Literals pass through untouched.
        if let Some(size) = literal(&line) {
            let mut body = vec![0u8; size];
            if reader.read_exact(&mut body).is_err() {
                break;
            }
            line.extend_from_slice(&body);
            if to_client.write_all(&line).is_err() {
                break;
            }
            continue;
        }
        let mut out = Vec::new();
        if let Some(tail) = pending_tail.take() {
            out.extend_from_slice(tail);
        }
        out.extend_from_slice(&line);
        let tagged = !line.starts_with(b"*") && !line.starts_with(b"+");
        if behaviour.inject && line.starts_with(b"* ") && line.windows(7).any(|w| w == b" FETCH ") {
            out.extend_from_slice(b"* 1 FETCH (FLAGS (\\Seen \\Flagged))\r\n* 999 EXISTS\r\n");
            injected.fetch_add(2, Ordering::SeqCst);
        }
        if behaviour.inject && tagged {
            // A tagged line and the head of an untagged one in one write; its tail comes later.
            out.extend_from_slice(b"* 998 EXI");
            pending_tail = Some(b"STS\r\n");
            injected.fetch_add(1, Ordering::SeqCst);
        }
        if to_client.write_all(&out).is_err() {
            break;
        }
        if pending_tail.is_some() {
            std::thread::sleep(Duration::from_millis(5));
            let _ = to_client.write_all(pending_tail.take().unwrap_or_default());
        }
    }
    let _ = to_client.shutdown(Shutdown::Both);
    let _ = watcher.join();
}

fn literal(line: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(line).ok()?.trim_end();
    let inner = text.strip_suffix('}')?;
    let open = inner.rfind('{')?;
    inner[open + 1..].parse().ok()
}
