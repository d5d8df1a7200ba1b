//! Test harness: a `TestEnv` of temporary folders (source, COLD, state) and the real `lanceur` binary
//! run against them, with a clean environment.
//!
//! Assertions go through `Ran::expect_code`, which on failure prints the command, its exit code,
//! both outputs and a listing of every folder of the environment, so a failing test explains itself.
//!
//! The binary is the one cargo built beside the tests, or the one `LANCEUR_TEST_BINARY` names:
//! `scripts/test-windows` cross-builds the suite and runs it under Wine against the release
//! `lanceur.exe`, the very file that ships.

#![allow(dead_code)] // each test module uses its own part of the harness

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

// Dovecot and stunnel are Linux programs, started by the tests themselves: the mail protocols are
// tested on Linux only.
pub mod browser;
#[cfg(unix)]
pub mod dovecot;
pub mod graph;
pub mod imap_proxy;
pub mod mail;
pub mod proxy;
pub mod secrets;
#[cfg(unix)]
pub mod strace;
#[cfg(unix)]
pub mod stunnel;
// Servers that refuse TLS as old or broken ones do, with Dovecot's certificate: for diagnoses.rs.
#[cfg(unix)]
pub mod tls_faults;

pub struct TestEnv {
    root: tempfile::TempDir,
    pub source: PathBuf,
    pub cold: PathBuf,
    pub state: PathBuf,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let root = tempfile::Builder::new()
            .prefix("lanceur-test-")
            .tempdir()
            .expect("temp dir");
        let source = root.path().join("source");
        let cold = root.path().join("cold");
        let state = root.path().join("state");
        for dir in [&source, &cold] {
            fs::create_dir_all(dir).unwrap();
        }
        TestEnv {
            root,
            source,
            cold,
            state,
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// A folder of the environment, created.
    pub fn dir(&self, name: &str) -> PathBuf {
        let path = self.root.path().join(name);
        fs::create_dir_all(&path).unwrap();
        path
    }

    /// The binary with an empty environment but for PATH and the state folder, so that nothing from
    /// the developer's shell (LANCEUR_*, RUST_LOG) changes what a test sees.
    pub fn command(&self) -> Command {
        let mut command = Command::new(binary());
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LANCEUR_STATE_DIR", &self.state)
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null());
        // What every Windows process finds in its environment, even a scheduled task's: without
        // SystemRoot, sockets and cryptography do not start; without TEMP, the temporary folder is
        // the Windows folder.
        #[cfg(windows)]
        for name in ["SystemRoot", "SystemDrive", "TEMP", "TMP", "USERPROFILE"] {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        command
    }

    /// Runs `lanceur ARGS` and returns what happened.
    pub fn run(&self, args: &[&str]) -> Ran {
        let mut command = self.command();
        command.args(args);
        self.run_command(command)
    }

    pub fn run_command(&self, mut command: Command) -> Ran {
        let description = format!("{command:?}");
        let output = command.output().expect("cannot start lanceur");
        Ran::new(description, output, self.listing())
    }

    /// `lanceur dir --source SOURCE --dest COLD --min-age 0s EXTRA…`
    pub fn run_dir(&self, extra: &[&str]) -> Ran {
        self.run(&self.dir_args(extra))
    }

    /// The arguments of `run_dir`, for a test that runs them its own way.
    pub fn dir_args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        self.folder_args("dir", extra)
    }

    /// `PROTOCOL --source SOURCE --dest COLD --min-age 0s EXTRA…`, for the sources that read the
    /// source folder (`dir`, `adullact`).
    pub fn folder_args<'a>(&'a self, protocol: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            protocol,
            "--source",
            self.source.to_str().unwrap(),
            "--dest",
            self.cold.to_str().unwrap(),
            "--min-age",
            "0s",
        ];
        args.extend_from_slice(extra);
        args
    }

    /// Writes a file holding a secret (a password), readable by its owner only, as the README
    /// asks.
    pub fn secret_file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.root.path().join(name);
        fs::write(&path, content).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        }
        // On Windows the file takes its folder's ACL: the user's own temporary folder is private.
        path
    }

    /// Writes a source file and backdates it by a minute, so that it is old enough to be taken.
    pub fn source_file(&self, relative: &str, content: &[u8]) -> PathBuf {
        let path = self.source.join(relative);
        write_old(&path, content);
        path
    }

    /// Names in the COLD folder, sorted, hidden ones included.
    /// How many files of the COLD folder end with `suffix` (`.pdf`): cheap enough to poll.
    pub fn cold_count(&self, suffix: &str) -> usize {
        self.cold_names()
            .iter()
            .filter(|n| n.ends_with(suffix))
            .count()
    }

    pub fn cold_names(&self) -> Vec<String> {
        names(&self.cold)
    }

    /// Names in the COLD folder that a COLD would take (not hidden).
    pub fn cold_visible(&self) -> Vec<String> {
        self.cold_names()
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .collect()
    }

    pub fn cold_read(&self, name: &str) -> Vec<u8> {
        fs::read(self.cold.join(name))
            .unwrap_or_else(|e| panic!("cannot read {name} in COLD: {e}\n{}", self.listing()))
    }

    /// SHA-256 of every visible COLD document (sidecars aside), with the names holding that content.
    pub fn cold_by_hash(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for name in self.cold_visible() {
            if name.ends_with(".json") || name.ends_with(".idx") {
                continue;
            }
            out.entry(sha256(&self.cold_read(&name)))
                .or_default()
                .push(name);
        }
        out
    }

    /// Every file of the environment with its size, for failure messages.
    pub fn listing(&self) -> String {
        let mut out = String::new();
        list_tree(self.root.path(), self.root.path(), &mut out);
        out
    }
}

/// A loopback port nobody listens on (it was free a moment ago), for an unreachable server.
pub fn closed_port() -> String {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string()
}

/// The lanceur binary the tests run: `LANCEUR_TEST_BINARY`, else the one built with the tests.
pub fn binary() -> PathBuf {
    match std::env::var_os("LANCEUR_TEST_BINARY") {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "LANCEUR_TEST_BINARY names {}, which is not a file",
                path.display()
            );
            path
        }
        _ => PathBuf::from(env!("CARGO_BIN_EXE_lanceur")),
    }
}

pub fn write_old(path: &Path, content: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, content).unwrap();
    let old = SystemTime::now() - Duration::from_secs(60);
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(old).unwrap();
}

/// Waits for `child`, a `lanceur … --json` run with both outputs piped, to be mid-work (documents
/// in the COLD folder), sends it `kill -SIGNAL`, and checks that it ended as a signal ends a run:
/// exit 7, one line on stderr holding `line`, the `--json` summary saying 7, no temporary file
/// left in the COLD folder. Returns how many documents (`.pdf`) it had deposited, fewer than
/// `total`, or the signal interrupted nothing.
#[cfg(unix)]
pub fn interrupt_mid_work(
    env: &TestEnv,
    mut child: std::process::Child,
    signal: &str,
    line: &str,
    total: usize,
) -> usize {
    while env.cold_count(".pdf") == 0 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before the signal"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(&pid)
        .status()
        .unwrap()
        .success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(7), "{stderr}");
    assert!(stderr.contains(line), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["exit_code"], 7);
    let interrupted = env.cold_count(".pdf");
    assert!(interrupted < total, "the signal interrupted nothing");
    assert!(
        names(&env.cold).iter().all(|n| !n.starts_with('.')),
        "temporary file left\n{}",
        env.listing()
    );
    interrupted
}

/// Sets the modification time of the folder `path`, as the last file arriving in it would.
pub fn set_folder_modified(path: &Path, when: SystemTime) {
    let mut options = fs::OpenOptions::new();
    #[cfg(unix)]
    options.read(true);
    // A folder opens only with backup semantics, and its times change with write-attributes
    // access alone.
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        const FILE_WRITE_ATTRIBUTES: u32 = 0x100;
        const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
        options
            .access_mode(FILE_WRITE_ATTRIBUTES)
            .custom_flags(FILE_FLAG_BACKUP_SEMANTICS);
    }
    options
        .open(path)
        .and_then(|folder| folder.set_modified(when))
        .unwrap_or_else(|e| panic!("cannot date the folder {}: {e}", path.display()));
}

pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn list_tree(root: &Path, dir: &Path, out: &mut String) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let relative = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        match entry.metadata() {
            Ok(meta) if meta.is_dir() => {
                out.push_str(&format!("  {relative}/\n"));
                list_tree(root, &path, out);
            }
            Ok(meta) => out.push_str(&format!("  {relative} ({} bytes)\n", meta.len())),
            Err(_) => out.push_str(&format!("  {relative} (?)\n")),
        }
    }
}

/// What a run of the binary produced.
pub struct Ran {
    pub command: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    listing: String,
}

impl Ran {
    fn new(command: String, output: Output, listing: String) -> Ran {
        Ran {
            command,
            // A signal death has no code; -1 never matches an expected code.
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            listing,
        }
    }

    /// What a process the test ran itself produced (see `browser::login_in_browser`).
    pub fn from_parts(command: String, code: i32, stdout: String, stderr: String) -> Ran {
        Ran {
            command,
            code,
            stdout,
            stderr,
            listing: String::new(),
        }
    }

    pub fn explain(&self) -> String {
        format!(
            "command: {}\nexit code: {}\n--- stdout\n{}--- stderr\n{}--- files\n{}",
            self.command, self.code, self.stdout, self.stderr, self.listing
        )
    }

    /// Panics with the whole story unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Ran {
        assert_eq!(self.code, code, "unexpected exit code\n{}", self.explain());
        self
    }

    #[track_caller]
    pub fn expect_stderr_contains(&self, text: &str) -> &Ran {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}\n{}",
            self.explain()
        );
        self
    }

    #[track_caller]
    pub fn expect_stdout_contains(&self, text: &str) -> &Ran {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}\n{}",
            self.explain()
        );
        self
    }

    #[track_caller]
    pub fn expect_quiet(&self) -> &Ran {
        assert!(
            self.stdout.is_empty() && self.stderr.is_empty(),
            "expected no output\n{}",
            self.explain()
        );
        self
    }

    /// The `--json` summary line.
    pub fn summary(&self) -> serde_json::Value {
        let line = self
            .stdout
            .lines()
            .last()
            .unwrap_or_else(|| panic!("no JSON summary on stdout\n{}", self.explain()));
        serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("summary is not JSON ({e})\n{}", self.explain()))
    }
}

/// A command that runs `lanceur ARGS` after mounting a fresh tmpfs at `mount_point` in a private mount
/// namespace (`unshare`): a real file system on another volume, read-only or filling up after a
/// size given in `options`. Works as root and, through a user namespace, as an ordinary user.
/// `mount_point` must exist. The tmpfs vanishes with the command; with `keep`, its content is copied
/// there first so the test can look at it.
pub fn with_private_tmpfs(
    env: &TestEnv,
    mount_point: &Path,
    options: &str,
    keep: Option<&Path>,
    args: &[&str],
) -> Command {
    let command = env.command();
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let mut wrapped = Command::new("unshare");
    // Map to root in a user namespace only when we are not root already.
    wrapped.arg(if is_root { "-m" } else { "-rm" });
    let script = r#"mount -t tmpfs -o "$1" tmpfs "$2" || exit 99
mount_point=$2 keep=$3
shift 3
"$@"
code=$?
[ -z "$keep" ] || cp -a "$mount_point"/. "$keep"/ || exit 98
exit $code"#;
    wrapped
        .args(["sh", "-c", script, "sh"])
        .arg(options)
        .arg(mount_point)
        .arg(keep.map(Path::as_os_str).unwrap_or_default())
        .arg(command.get_program())
        .args(args)
        .env_clear()
        .stdin(Stdio::null());
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            wrapped.env(key, value);
        }
    }
    wrapped
}

/// What a kill -9 loop did.
#[derive(Debug, Default)]
pub struct Kills {
    pub rounds: usize,
    /// Runs that ended on their own before their kill.
    pub finished: usize,
    /// Runs killed in the middle of their work: after some of it was done, before the end.
    pub mid_work: usize,
}

/// The kill -9 loop of a crash test: starts `command()` and kills it with SIGKILL, `rounds` times,
/// calling `after(round)` after each (the test's consistency check). `work()` must be cheap: it
/// measures the work done so far (documents visible in the COLD folder), and a kill lands mid-work
/// when `work()` grew during the run it killed, i.e. after some document was deposited and before
/// the run ended.
///
/// Two kinds of kill:
/// - *aimed*: `work()` is watched while the run works, and the run is killed as soon as it grows:
///   in the middle of a batch's renames or just after them, before the source is acknowledged.
///   The first two rounds are aimed, so every loop kills where it matters most while work remains.
/// - *random*: after a delay drawn below a bound that starts at `max_micros` and follows the runs
///   (it grows while kills land before any work is done, and shrinks when runs end before their
///   kill), so that kills spread over the whole length of a run, recovery and listing included.
///
/// A loop in which no kill landed mid-work proves nothing: it goes on with aimed kills for at most
/// `rounds` more rounds, and fails the test if none ever lands.
pub fn kill_loop(
    rounds: usize,
    random: &mut Random,
    max_micros: u64,
    mut command: impl FnMut() -> Command,
    mut work: impl FnMut() -> usize,
    mut after: impl FnMut(usize),
) -> Kills {
    let mut kills = Kills::default();
    let mut longest = max_micros.max(1000);
    for round in 0..rounds * 2 {
        if round >= rounds && kills.mid_work > 0 {
            break;
        }
        let aimed = round < 2 || round >= rounds;
        let before = work();
        let finished = if aimed {
            run_then_kill_when(&mut command(), &mut || work() > before, round)
        } else {
            run_then_kill(&mut command(), random, longest, round)
        };
        kills.rounds += 1;
        if finished {
            kills.finished += 1;
            if !aimed {
                longest = (longest * 4 / 5).max(1000);
            }
        } else if work() > before {
            kills.mid_work += 1;
        } else if !aimed {
            longest = longest * 5 / 4;
        }
        after(round);
    }
    eprintln!("{kills:?}, last random delay bound {} ms", longest / 1000);
    assert!(
        kills.mid_work > 0,
        "no kill landed in the middle of a run's work ({kills:?}): the loop proves nothing; \
         give the runs more work"
    );
    kills
}

/// Starts `command` with its output discarded and kills it with SIGKILL as soon as `kill_now()`
/// says so, if it is still running then. A run that ended on its own must have succeeded. Returns
/// whether it ended before the kill.
pub fn run_then_kill_when(
    command: &mut Command,
    kill_now: &mut dyn FnMut() -> bool,
    round: usize,
) -> bool {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start lanceur");
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "run {round} failed before the kill: {status}"
            );
            return true;
        }
        if kill_now() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            return false;
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

#[cfg(unix)]
/// Starts `command`, sends it SIGTERM once `ready()` says so (the run must still be running then),
/// and collects what it printed and its exit code.
pub fn run_then_sigterm_when(mut command: Command, ready: &mut dyn FnMut() -> bool) -> Ran {
    let description = format!("{command:?}");
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start lanceur");
    while !ready() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before the signal"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success(), "cannot send SIGTERM to {pid}");
    let output = child.wait_with_output().unwrap();
    Ran::from_parts(
        description,
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `run_then_kill_when`, with the kill after a random delay below `max_micros`.
pub fn run_then_kill(
    command: &mut Command,
    random: &mut Random,
    max_micros: u64,
    round: usize,
) -> bool {
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_micros(random.below(max_micros));
    run_then_kill_when(
        command,
        &mut || std::time::Instant::now() >= deadline,
        round,
    )
}

/// A small, seedable generator, so a failing run can be replayed with the printed seed.
pub struct Random(u64);

impl Random {
    pub fn from_time() -> Random {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Random::new(seed)
    }

    pub fn new(seed: u64) -> Random {
        eprintln!("random seed: {seed}");
        Random(seed | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}
