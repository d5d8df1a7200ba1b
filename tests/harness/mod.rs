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

mod kills;
pub use kills::*;

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

    /// `run` (a command made by `command()`) as `lanceur check` with the same arguments and
    /// environment.
    pub fn check_of(&self, run: &Command) -> Command {
        let mut check = self.command();
        check.arg("check").args(run.get_args());
        same_environment(&mut check, run);
        check
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
        .args(args);
    same_environment(&mut wrapped, &command);
    wrapped
}

/// Gives `wrapped` (a command that runs `command`, or stands for it) exactly the environment
/// `command` was given, test commands starting from an empty one, and no standard input.
pub fn same_environment(wrapped: &mut Command, command: &Command) {
    wrapped.env_clear().stdin(Stdio::null());
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            wrapped.env(key, value);
        }
    }
}
