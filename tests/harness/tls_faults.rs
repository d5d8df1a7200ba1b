//! TLS servers that fail on purpose, on loopback: one that knows only TLS 1.0 (a real `openssl
//! s_server -tls1`, with the test certificate, so that only the version is wrong) and one that
//! resets the connection in the middle of the handshake. Each fails loudly if it cannot start.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `openssl s_server -tls1` on 127.0.0.1; killed when dropped.
pub struct Tls10Server {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Tls10Server {
    pub fn start() -> Tls10Server {
        let (cert, key) = crate::harness::dovecot::certificate();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
        std::fs::write(dir.path().join("key.pem"), key).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // OpenSSL 3 allows TLS 1.0 only at security level 0.
        let mut child = Command::new("openssl")
            .args([
                "s_server",
                "-tls1",
                "-cipher",
                "DEFAULT@SECLEVEL=0",
                "-quiet",
            ])
            .arg("-accept")
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(dir.path().join("cert.pem"))
            .arg("-key")
            .arg(dir.path().join("key.pem"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run openssl (scripts/test installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                let mut stderr = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut stderr)
                    .unwrap();
                panic!("openssl s_server -tls1 exited ({status}): {stderr}");
            }
            assert!(
                Instant::now() < deadline,
                "openssl s_server -tls1 did not listen on 127.0.0.1:{port} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Tls10Server {
            port,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Tls10Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A listener on 127.0.0.1 that takes one connection, reads the first byte of the client's
/// hello and closes with the rest unread, which makes the kernel reset the connection (RST). It
/// listens no more afterwards.
pub struct ResetServer {
    pub port: u16,
    reached: Arc<AtomicBool>,
}

impl ResetServer {
    pub fn start() -> ResetServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("cannot listen on 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let reached = Arc::new(AtomicBool::new(false));
        let flag = reached.clone();
        std::thread::spawn(move || {
            if let Ok((mut socket, _)) = listener.accept() {
                let mut first = [0u8; 1];
                if socket.read_exact(&mut first).is_ok() {
                    flag.store(true, Ordering::SeqCst);
                }
                // Dropped with unread bytes: RST, not FIN.
            }
        });
        ResetServer { port, reached }
    }

    /// Whether a client connected and started its handshake.
    pub fn reached(&self) -> bool {
        self.reached.load(Ordering::SeqCst)
    }
}
