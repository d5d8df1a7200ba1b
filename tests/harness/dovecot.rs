//! A private Dovecot (IMAP and POP3, plaintext + STARTTLS/STLS and implicit TLS) for the tests:
//! started once per test process on loopback, on ports the kernel chose, with its own config,
//! passwd-file users, Maildir storage and a self-signed certificate (which is also the CA the tests
//! give lanceur with --ca-file). Nothing under /etc, /run or /var/lib is touched.
//!
//! `Dovecot::get()` is the instance on 127.0.0.1; `Dovecot::remote()` a second one on 127.0.0.2,
//! for STARTTLS tests: Dovecot counts a client whose address equals the server's as secure and
//! lets it log in in plaintext, so only there is a plaintext login refused (LOGINDISABLED).
//!
//! Each test takes its own user (`Dovecot::user`), with a passwd-file of its own.
//! Mail goes straight into the user's Maildir as nobody (`User::deliver`), and tests read the
//! server's state back from the Maildir (flags are in the file names, `User::messages`).
//!
//! The instance runs in the foreground under a small shell that holds a pipe from this process:
//! when the test process ends, however it ends, the pipe closes and the shell kills Dovecot and
//! removes its folder. A Dovecot that cannot start makes the test panic with its log: a test that
//! needs the server never skips.
//!
//! OAuth: XOAUTH2 and OAUTHBEARER tokens are checked by Dovecot's `oauth2` passdb, which asks the
//! harness's introspection fake (`graph::oauth::introspection_url`) about each token; passwords
//! and tokens each have their own passdb (`mechanisms =`), so that neither is ever taken for the
//! other. The auth cache is off, so a revoked token is refused at once, and so is the anvil auth
//! penalty: otherwise every failed login from 127.0.0.1 (the wrong-password and wrong-token
//! tests) would slow every later login of every test by up to 15 s. `auth_debug` stays off: it
//! logs tokens in clear.
//!
//! Needs root (Dovecot's mail processes run as nobody, uid 65534) and Debian's dovecot-imapd,
//! dovecot-pop3d and openssl, which `scripts/test` installs.

use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

mod setup;
pub use setup::{certificate, self_signed};
use setup::{config, free_ports, ALL_MECHANISMS};

/// uid and gid of nobody:nogroup on Debian; Dovecot refuses mail access as root.
const MAIL_UID: u32 = 65534;
const MAIL_GID: u32 = 65534;

pub struct Dovecot {
    pub dir: PathBuf,
    /// The address it listens on: 127.0.0.1, or 127.0.0.2 for `remote`.
    pub host: String,
    pub imap_port: u16,
    pub imaps_port: u16,
    pub pop3_port: u16,
    pub pop3s_port: u16,
    /// The self-signed certificate: give it to lanceur with --ca-file.
    pub ca_file: PathBuf,
    users: Mutex<()>,
    _keeper: Mutex<Child>,
}

static LOCAL: OnceLock<Dovecot> = OnceLock::new();
static REMOTE: OnceLock<Dovecot> = OnceLock::new();
static LEGACY: OnceLock<Dovecot> = OnceLock::new();
static NO_MOVE: OnceLock<Dovecot> = OnceLock::new();
static XOAUTH2_ONLY: OnceLock<Dovecot> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A user of one instance, with an empty Maildir.
pub struct User {
    pub name: String,
    pub password: String,
    pub maildir: PathBuf,
    pub dovecot: &'static Dovecot,
}

/// A mail as the server holds it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub file: PathBuf,
    /// Maildir flags: S seen, T deleted, …
    pub flags: String,
    pub bytes: Vec<u8>,
}

impl Stored {
    pub fn seen(&self) -> bool {
        self.flags.contains('S')
    }
}

impl Dovecot {
    /// The shared instance on 127.0.0.1.
    pub fn get() -> &'static Dovecot {
        LOCAL.get_or_init(|| Dovecot::start("127.0.0.1", "", ALL_MECHANISMS))
    }

    /// A second instance on 127.0.0.2, where plaintext logins from 127.0.0.1 are refused.
    pub fn remote() -> &'static Dovecot {
        REMOTE.get_or_init(|| Dovecot::start("127.0.0.2", "", ALL_MECHANISMS))
    }

    /// An instance that takes tokens with XOAUTH2 only, as Exchange Online does.
    pub fn xoauth2_only() -> &'static Dovecot {
        XOAUTH2_ONLY.get_or_init(|| Dovecot::start("127.0.0.1", "", "plain login xoauth2"))
    }

    /// An instance that advertises neither MOVE nor UIDPLUS after login, like older servers.
    pub fn legacy() -> &'static Dovecot {
        LEGACY.get_or_init(|| {
            Dovecot::start(
                "127.0.0.1",
                "imap_capability = IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE\n",
                ALL_MECHANISMS,
            )
        })
    }

    /// An instance without MOVE but with UIDPLUS: a move is COPY, STORE \Deleted, UID EXPUNGE.
    pub fn no_move() -> &'static Dovecot {
        NO_MOVE.get_or_init(|| {
            Dovecot::start(
                "127.0.0.1",
                "imap_capability = IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE \
                 UIDPLUS\n",
                ALL_MECHANISMS,
            )
        })
    }

    fn start(host: &str, extra_config: &str, mechanisms: &str) -> Dovecot {
        assert!(
            is_root(),
            "the Dovecot tests need root: Dovecot's mail processes run as nobody"
        );
        let (cert, key) = certificate();
        let dir = tempfile::Builder::new()
            .prefix("lanceur-dovecot-")
            .tempdir()
            .expect("temp dir")
            .keep();
        // Dovecot's own users (dovecot, dovenull) must traverse the folder.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        for sub in ["mail", "state", "ssl", "run"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::os::unix::fs::chown(dir.join("mail"), Some(MAIL_UID), Some(MAIL_GID)).unwrap();
        fs::write(dir.join("ssl/cert.pem"), cert).unwrap();
        fs::write(dir.join("ssl/key.pem"), key).unwrap();
        fs::set_permissions(dir.join("ssl/key.pem"), fs::Permissions::from_mode(0o600)).unwrap();
        // One passwd-file per user: Dovecot re-reads a changed file only when its mtime moves,
        // which two users added within the same second would not do.
        fs::create_dir_all(dir.join("users")).unwrap();
        fs::set_permissions(dir.join("users"), fs::Permissions::from_mode(0o755)).unwrap();
        let [imap_port, imaps_port, pop3_port, pop3s_port] = free_ports(host);
        let mut text = config(&dir, host, [imap_port, imaps_port, pop3_port, pop3s_port]);
        text = text.replace(
            "auth_mechanisms = MECHANISMS",
            &format!("auth_mechanisms = {mechanisms}"),
        );
        text.push_str(extra_config);
        // Read by Dovecot's auth process, which runs as the dovecot user.
        fs::write(
            dir.join("dovecot-oauth2.conf.ext"),
            format!(
                "introspection_mode = post\nintrospection_url = {}\nusername_attribute = \
                 username\nactive_attribute = active\nactive_value = true\ntimeout_msecs = 5000\n",
                crate::harness::graph::oauth::introspection_url()
            ),
        )
        .unwrap();
        fs::set_permissions(
            dir.join("dovecot-oauth2.conf.ext"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        fs::write(dir.join("dovecot.conf"), text).unwrap();
        // Dovecot in the foreground under a shell that kills it once our end of the pipe closes.
        // The shell ignores Ctrl-C and TERM sent to the whole group, so that it still cleans up.
        let script = "trap '' INT TERM HUP; PATH=/usr/sbin:/usr/bin:$PATH; \
                      dovecot -F -c \"$1/dovecot.conf\" & pid=$!; cat >/dev/null; \
                      kill -KILL $pid 2>/dev/null; sleep 0.2; rm -rf \"$1\"";
        let keeper = Command::new("sh")
            .args(["-c", script, "sh"])
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start sh for dovecot");
        let dovecot = Dovecot {
            ca_file: dir.join("ssl/cert.pem"),
            dir,
            host: host.to_string(),
            imap_port,
            imaps_port,
            pop3_port,
            pop3s_port,
            users: Mutex::new(()),
            _keeper: Mutex::new(keeper),
        };
        dovecot.wait_until_listening();
        dovecot
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let ports = [
            self.imap_port,
            self.imaps_port,
            self.pop3_port,
            self.pop3s_port,
        ];
        loop {
            if ports
                .iter()
                .all(|port| TcpStream::connect((self.host.as_str(), *port)).is_ok())
            {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "Dovecot did not start on {} (ports {ports:?}); its log:\n{}",
                    self.host,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("dovecot.log"))
            .unwrap_or_else(|e| format!("(no log: {e})"))
    }

    /// A new user with an empty INBOX. `hint` makes the name readable in logs.
    pub fn user(&'static self, hint: &str) -> User {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let clean: String = hint
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(20)
            .collect();
        let name = format!("u{n}{clean}");
        let password = format!("pw-{n}-{clean}");
        let home = self.dir.join("mail").join(&name);
        let maildir = home.join("Maildir");
        let _guard = self.users.lock().unwrap();
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        chown_tree(&home);
        let passwd = self.dir.join("users").join(&name);
        let mut file = fs::File::create(&passwd).unwrap();
        writeln!(
            file,
            "{name}:{{PLAIN}}{password}:{MAIL_UID}:{MAIL_GID}::{}::",
            home.display()
        )
        .unwrap();
        fs::set_permissions(&passwd, fs::Permissions::from_mode(0o644)).unwrap();
        User {
            name,
            password,
            maildir,
            dovecot: self,
        }
    }

    /// Runs doveadm against this instance.
    pub fn doveadm(&self, args: &[&str]) -> std::process::Output {
        let output = Command::new("doveadm")
            .arg("-c")
            .arg(self.dir.join("dovecot.conf"))
            .args(args)
            .output()
            .expect("cannot run doveadm");
        assert!(
            output.status.success(),
            "doveadm {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
        output
    }
}

impl User {
    /// The Maildir++ folder of mailbox `name` (`INBOX` is the Maildir itself), created.
    pub fn folder(&self, name: &str) -> PathBuf {
        let path = if name.eq_ignore_ascii_case("INBOX") {
            self.maildir.clone()
        } else {
            // The namespace separator is '/', stored as '.' on disk, names in modified UTF-7.
            self.maildir
                .join(format!(".{}", mutf7(name).replace('/', ".")))
        };
        if !path.join("cur").exists() {
            for sub in ["cur", "new", "tmp"] {
                fs::create_dir_all(path.join(sub)).unwrap();
            }
            chown_tree(&path);
        }
        path
    }

    /// Puts a mail into `mailbox`, as a delivery agent would: tmp/, then new/, owned by nobody.
    /// Mails delivered in order get increasing UIDs.
    pub fn deliver_to(&self, mailbox: &str, raw: &[u8]) {
        let folder = self.folder(mailbox);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("1700000000.M{n:09}P{}.lanceur-test", std::process::id());
        let tmp = folder.join("tmp").join(&name);
        fs::write(&tmp, raw).unwrap();
        std::os::unix::fs::chown(&tmp, Some(MAIL_UID), Some(MAIL_GID)).unwrap();
        fs::rename(&tmp, folder.join("new").join(&name)).unwrap();
    }

    pub fn deliver(&self, raw: &[u8]) {
        self.deliver_to("INBOX", raw);
    }

    /// Puts a mail into INBOX as received at `when` (Maildir's arrival date is the file's mtime).
    pub fn deliver_received(&self, raw: &[u8], when: std::time::SystemTime) {
        self.deliver_to("INBOX", raw);
        let newest = self
            .messages("INBOX")
            .into_iter()
            .last()
            .expect("the mail just delivered");
        fs::File::options()
            .write(true)
            .open(&newest.file)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }

    /// The mails of `mailbox` as the server stores them, in delivery order.
    pub fn messages(&self, mailbox: &str) -> Vec<Stored> {
        // Dovecot may still be working on the mailbox (a session whose client was just killed
        // moving files from new/ to cur/ or renaming them for their flags): a listing taken then
        // could miss a mail. Take listings until two in a row agree and every file could be read.
        let mut previous: Option<Vec<Stored>> = None;
        for _ in 0..200 {
            if let Some(listing) = self.try_messages(mailbox) {
                let same = previous.as_ref().is_some_and(|p| {
                    p.len() == listing.len()
                        && p.iter()
                            .zip(&listing)
                            .all(|(a, b)| a.file == b.file && a.bytes == b.bytes)
                });
                if same {
                    return listing;
                }
                previous = Some(listing);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the Maildir of {} never settled", self.name);
    }

    /// One listing of the mailbox, or `None` if a file moved while it was being read.
    fn try_messages(&self, mailbox: &str) -> Option<Vec<Stored>> {
        let folder = self.folder(mailbox);
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = fs::read_dir(folder.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                let file_name = entry.file_name().to_string_lossy().into_owned();
                let flags = file_name
                    .split_once(":2,")
                    .map(|(_, f)| f.to_string())
                    .unwrap_or_default();
                out.push(Stored {
                    file: entry.path(),
                    flags,
                    bytes: fs::read(entry.path()).ok()?,
                });
            }
        }
        out.sort_by_key(|m| m.file.file_name().unwrap().to_owned());
        Some(out)
    }

    /// `imap_args` without the test CA: the server's certificate is then unknown to lanceur.
    pub fn imap_args_without_ca(&self, folder: &str) -> Vec<String> {
        let mut args = self.imap_args(folder);
        let at = args.iter().position(|a| a == "--ca-file").unwrap();
        args.drain(at..at + 2);
        args
    }

    /// `lanceur imap` arguments reaching this user over implicit TLS, trusting the test CA.
    pub fn imap_args(&self, folder: &str) -> Vec<String> {
        vec![
            "imap".into(),
            "--server".into(),
            self.dovecot.host.clone(),
            "--port".into(),
            self.dovecot.imaps_port.to_string(),
            "--account".into(),
            self.name.clone(),
            "--folder".into(),
            folder.into(),
            "--ca-file".into(),
            self.dovecot.ca_file.display().to_string(),
            "--timeout".into(),
            "20s".into(),
        ]
    }
}

/// Modified UTF-7 (RFC 3501 §5.1.3), as Dovecot names Maildir++ folders on disk. Written anew
/// here so that the tests check lanceur's encoder rather than reuse it.
pub fn mutf7(name: &str) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
    let mut out = String::new();
    let mut run: Vec<u8> = Vec::new();
    let flush = |run: &mut Vec<u8>, out: &mut String| {
        if run.is_empty() {
            return;
        }
        out.push('&');
        let mut bits = 0u32;
        let mut count = 0;
        for &b in run.iter() {
            bits = (bits << 8) | u32::from(b);
            count += 8;
            while count >= 6 {
                count -= 6;
                out.push(B64[((bits >> count) & 63) as usize] as char);
            }
        }
        if count > 0 {
            out.push(B64[((bits << (6 - count)) & 63) as usize] as char);
        }
        out.push('-');
        run.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut run, &mut out);
            out.push_str(if c == '&' { "&-" } else { "" });
            if c != '&' {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                run.extend_from_slice(&unit.to_be_bytes());
            }
        }
    }
    flush(&mut run, &mut out);
    out
}

fn chown_tree(path: &Path) {
    std::os::unix::fs::chown(path, Some(MAIL_UID), Some(MAIL_GID)).unwrap();
    if path.is_dir() {
        for entry in fs::read_dir(path).unwrap().flatten() {
            chown_tree(&entry.path());
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
