//! A real `stunnel4` (Debian's) in client mode, as the EzGED documentation sets it up for POP3
//! clients that cannot speak TLS: it accepts plaintext on 127.0.0.1 and speaks TLS to the real
//! server, verifying its certificate. The tests point `lanceur pop --tls none` at it.
//!
//! It runs in the foreground (`foreground = yes`) from its own temporary folder, with its own
//! configuration, pid file and log, and is killed when the value is dropped. If it cannot start,
//! the test panics with its log: a test that needs the tunnel never skips.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Stunnel {
    dir: tempfile::TempDir,
    /// The plaintext port on 127.0.0.1.
    pub port: u16,
    child: Child,
}

impl Stunnel {
    /// A tunnel from 127.0.0.1:<free port> to `host:port` over TLS, trusting `ca_file` and
    /// checking that the certificate names `check_host`.
    pub fn client(host: &str, port: u16, ca_file: &Path, check_host: &str) -> Stunnel {
        let dir = tempfile::Builder::new()
            .prefix("lanceur-stunnel-")
            .tempdir()
            .unwrap();
        let local = free_port();
        let config = dir.path().join("stunnel.conf");
        fs::write(
            &config,
            format!(
                "; written by lanceur's tests: a client-mode tunnel, as in the EzGED documentation\n\
                 foreground = yes\n\
                 pid = {pid}\n\
                 output = {log}\n\
                 debug = 5\n\
                 \n\
                 [pop3]\n\
                 client = yes\n\
                 accept = 127.0.0.1:{local}\n\
                 connect = {host}:{port}\n\
                 verifyChain = yes\n\
                 CAfile = {ca}\n\
                 checkHost = {check_host}\n",
                pid = dir.path().join("stunnel.pid").display(),
                log = dir.path().join("stunnel.log").display(),
                ca = ca_file.display(),
            ),
        )
        .unwrap();
        let program = ["stunnel4", "stunnel"]
            .into_iter()
            .find(|p| which(p).is_some())
            .unwrap_or_else(|| {
                panic!("stunnel4 is not installed; scripts/test installs it (apt-get install stunnel4)")
            });
        let child = Command::new(program)
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        let mut tunnel = Stunnel {
            dir,
            port: local,
            child,
        };
        tunnel.wait_ready();
        tunnel
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "stunnel exited at once ({status}); its log:\n{}",
                    self.log()
                );
            }
            // Not by connecting: a test connection would count as traffic through the tunnel.
            if is_listening(self.port) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "stunnel did not listen on 127.0.0.1:{} within 10 s; its log:\n{}",
                    self.port,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("stunnel.log"))
            .unwrap_or_else(|e| format!("(no log: {e})"))
    }

    /// How many connections the tunnel carried to the server (from its log).
    pub fn connections(&self) -> usize {
        self.log().matches("connected remote server").count()
    }

    /// Bytes the tunnel passed from the server to its clients, over closed connections (from
    /// its log's "N byte(s) sent to socket"), waiting up to 5 s for `at_least` of them: stunnel
    /// logs a connection a moment after it closed.
    pub fn bytes_to_clients(&self, at_least: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let bytes = self.logged_bytes_to_clients();
            if bytes >= at_least || Instant::now() > deadline {
                return bytes;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn logged_bytes_to_clients(&self) -> u64 {
        self.log()
            .lines()
            .filter_map(|line| {
                let before = line.split(" byte(s) sent to socket").next()?;
                (before.len() < line.len())
                    .then(|| before.rsplit(' ').next()?.parse::<u64>().ok())
                    .flatten()
            })
            .sum()
    }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether something listens on 127.0.0.1:`port` (Linux: /proc/net/tcp, state 0A).
fn is_listening(port: u16) -> bool {
    let wanted = format!("0100007F:{port:04X}");
    fs::read_to_string("/proc/net/tcp").is_ok_and(|table| {
        table.lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[1] == wanted && fields[3] == "0A"
        })
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}
