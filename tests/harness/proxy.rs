//! A TCP proxy on 127.0.0.1 between lanceur and a real server (the test Dovecot, the fake Graph)
//! that fails as networks do, whatever the protocol: it cuts a connection after some of the
//! server's bytes (a link that drops), or passes the server's bytes one at a time after a pause
//! (a server or link that trickles, never silent long enough for a read timeout).
//!
//! Each connection gets the behaviour `plan(n)` gives for it (`n` counts connections from 0), its
//! own threads, and its count of the server's bytes forwarded to lanceur; the proxy accepts until
//! dropped. Only what the server sends is shaped: lanceur's bytes go through as they come.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does with one connection.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// Forwards everything.
    Pass,
    /// Forwards this many of the server's bytes, then closes both sides.
    CutAfter(usize),
    /// Forwards `after` of the server's bytes at full speed, then one byte every `pause`.
    Trickle { after: usize, pause: Duration },
    /// Closes the connection at once, before the server says anything: a server gone down.
    Close,
}

pub struct Proxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
    /// Per connection, in the order they came: the server's bytes forwarded so far.
    forwarded: Arc<Mutex<Vec<Arc<AtomicUsize>>>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl Proxy {
    /// A proxy to `upstream` on 127.0.0.1 giving connection `n` the behaviour `plan(n)`.
    pub fn start(upstream: u16, plan: impl FnMut(usize) -> Behaviour + Send + 'static) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("the proxy cannot listen");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let forwarded: Arc<Mutex<Vec<Arc<AtomicUsize>>>> = Arc::default();
        let (stopped, counts) = (stop.clone(), forwarded.clone());
        let mut plan = plan;
        std::thread::spawn(move || {
            for (n, client) in listener.incoming().enumerate() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let count = Arc::new(AtomicUsize::new(0));
                counts.lock().unwrap().push(count.clone());
                let behaviour = plan(n);
                if matches!(behaviour, Behaviour::Close) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                std::thread::spawn(move || forward(client, server, behaviour, &count));
            }
        });
        Proxy {
            port,
            stop,
            forwarded,
        }
    }

    /// Cuts connection `n` after `limits[n]` of the server's bytes; later ones pass whole.
    pub fn cutting(upstream: u16, limits: Vec<usize>) -> Proxy {
        Proxy::start(upstream, move |n| {
            limits
                .get(n)
                .map_or(Behaviour::Pass, |&limit| Behaviour::CutAfter(limit))
        })
    }

    /// Cuts the first connection after `limit` of the server's bytes and closes later ones at
    /// once: a server that went down in the middle of an answer and is not back yet.
    pub fn cutting_once(upstream: u16, limit: usize) -> Proxy {
        Proxy::start(upstream, move |n| match n {
            0 => Behaviour::CutAfter(limit),
            _ => Behaviour::Close,
        })
    }

    /// Trickles every connection: `after` bytes at full speed, then one every `pause`.
    pub fn trickling(upstream: u16, after: usize, pause: Duration) -> Proxy {
        Proxy::start(upstream, move |_| Behaviour::Trickle { after, pause })
    }

    /// The server's bytes forwarded on each connection so far, in the order they came.
    pub fn forwarded(&self) -> Vec<usize> {
        self.forwarded
            .lock()
            .unwrap()
            .iter()
            .map(|count| count.load(Ordering::SeqCst))
            .collect()
    }
}

/// One connection: lanceur's bytes to the server as they come, the server's back as `behaviour`
/// says, counted in `count` as they go (so the count is final before lanceur sees the end).
fn forward(
    mut client: TcpStream,
    mut server: TcpStream,
    behaviour: Behaviour,
    count: &AtomicUsize,
) {
    let (mut client_in, mut server_out) =
        (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut server_out);
        // lanceur went away: let the server go too, so that the loop below ends.
        let _ = server_out.shutdown(Shutdown::Both);
    });
    let (limit, trickle) = match behaviour {
        Behaviour::Pass => (usize::MAX, None),
        Behaviour::Close => (0, None),
        Behaviour::CutAfter(limit) => (limit, None),
        Behaviour::Trickle { after, pause } => (usize::MAX, Some((after, pause))),
    };
    let mut sent = 0usize;
    let mut buffer = [0u8; 16 * 1024];
    'connection: while sent < limit {
        let n = match server.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n.min(limit - sent),
        };
        let mut chunk = &buffer[..n];
        while !chunk.is_empty() {
            // At full speed up to the trickle's start, then one byte at a time.
            let take = match trickle {
                Some((after, pause)) if sent >= after => {
                    std::thread::sleep(pause);
                    1
                }
                Some((after, _)) => chunk.len().min(after - sent),
                None => chunk.len(),
            };
            if client.write_all(&chunk[..take]).is_err() {
                break 'connection;
            }
            sent += take;
            count.store(sent, Ordering::SeqCst);
            chunk = &chunk[take..];
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
}

/// A proxy to `upstream` on 127.0.0.1, for up to `connections` connections, that hands each line
/// the server sends through `rewrite` (the bytes it returns go to lanceur instead): a server
/// whose answers differ from the test Dovecot's in one known way. Returns its port.
pub fn rewriting_lines(upstream: u16, connections: usize, rewrite: fn(Vec<u8>) -> Vec<u8>) -> u16 {
    use std::io::{BufRead, BufReader};
    let listener = TcpListener::bind("127.0.0.1:0").expect("the proxy cannot listen");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().take(connections) {
            let Ok(mut client) = client else { return };
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                return;
            };
            let (mut client_in, mut server_out) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut client_in, &mut server_out);
                let _ = server_out.shutdown(Shutdown::Both);
            });
            std::thread::spawn(move || {
                let mut reader = BufReader::new(server);
                let mut line = Vec::new();
                while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                    if client
                        .write_all(&rewrite(std::mem::take(&mut line)))
                        .is_err()
                    {
                        break;
                    }
                }
                let _ = client.shutdown(Shutdown::Both);
            });
        }
    });
    port
}
