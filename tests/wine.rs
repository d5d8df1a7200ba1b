//! `lanceur.exe` under Wine, driven from the Linux side for what only Linux can do to it: send it a
//! signal. Wine turns a SIGINT into the console's Ctrl-C event, the one a person pressing Ctrl-C
//! in a console sends on Windows, so this is lanceur's Windows handler (`ctrlc`) at work. See:
//! issue 14 and issue 11 (point 4).
//!
//! `scripts/test-windows` runs these with the `lanceur.exe` it built (`LANCEUR_TEST_WINE_BINARY`)
//! in its own Wine prefix; `cargo test` alone lists them as ignored. Run without that variable,
//! they fail.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::harness::{interrupt_mid_work, names, sha256, TestEnv};

/// A Unix path as Wine's `lanceur.exe` takes it: on drive Z:, which a Wine prefix maps to `/`.
fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.display().to_string().replace('/', "\\"))
}

/// `wine lanceur.exe dir …` on the environment's folders, launcher `sig`, with only what Wine
/// needs from this process's environment.
fn wine_dir(env: &TestEnv, extra: &[&str]) -> Command {
    let exe = std::env::var_os("LANCEUR_TEST_WINE_BINARY").unwrap_or_else(|| {
        panic!(
            "LANCEUR_TEST_WINE_BINARY is not set: scripts/test-windows sets it to the lanceur.exe \
             it built, with its Wine prefix"
        )
    });
    let mut command = Command::new("wine");
    command.env_clear();
    for name in [
        "PATH",
        "HOME",
        "USER",
        "WINEPREFIX",
        "WINEDEBUG",
        "WINEDLLOVERRIDES",
    ] {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .arg(exe)
        .args(["dir", "--source"])
        .arg(windows_path(&env.source))
        .arg("--dest")
        .arg(windows_path(&env.cold))
        .arg("--state-dir")
        .arg(windows_path(&env.state))
        .args(["--min-age", "0s", "--name", "sig"])
        .args(extra);
    command
}

#[test]
#[ignore = "drives lanceur.exe under Wine: scripts/test-windows runs it"]
fn ctrl_c_under_wine_ends_a_run_cleanly_with_exit_7_and_the_next_run_finishes() {
    let env = TestEnv::new();
    let mut known = BTreeSet::new();
    for n in 0..3000 {
        let body = format!("%PDF-1.4 scan {n}\n{}\n%%EOF\n", "x".repeat(2000));
        known.insert(sha256(body.as_bytes()));
        env.source_file(&format!("scan-{n:04}.pdf"), body.as_bytes());
    }
    let child = wine_dir(&env, &["--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start wine");
    // `wine` execs the Windows program in its own process: the signal reaches lanceur.exe.
    let interrupted = interrupt_mid_work(
        &env,
        child,
        "INT",
        "lanceur: sig: interrupted: stopped by Ctrl-C or Ctrl-Break",
        known.len(),
    );
    // Each file deposited was removed from the source, and only those.
    assert_eq!(
        names(&env.source).len() + interrupted,
        known.len(),
        "{}",
        env.listing()
    );
    let output = wine_dir(&env, &[]).output().unwrap();
    assert_eq!(
        (
            output.status.code(),
            output.stdout.len(),
            output.stderr.len()
        ),
        (Some(0), 0, 0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let deposited = env.cold_by_hash();
    assert_eq!(
        deposited.keys().cloned().collect::<BTreeSet<_>>(),
        known,
        "{}",
        env.listing()
    );
    assert!(deposited.values().all(|n| n.len() == 1));
    assert!(names(&env.source).is_empty(), "{}", env.listing());
}
