//! The command line as users meet it: help, version, usage errors, exit codes, quiet success.

use crate::harness::TestEnv;

#[test]
fn help_documents_exit_codes_and_environment() {
    let env = TestEnv::new();
    let ran = env.run(&["--help"]);
    ran.expect_code(0);
    for code in [
        "0  the cycle ran",
        "1  the cycle ran, but some items failed",
        "6  another run",
    ] {
        assert!(ran.stdout.contains(code), "{code}\n{}", ran.explain());
    }
    let ran = env.run(&["dir", "--help"]);
    ran.expect_code(0);
    for text in [
        "crontab",
        "LANCEUR_STATE_DIR",
        "--min-age",
        "re.match",
        "--dry-run",
    ] {
        assert!(ran.stdout.contains(text), "{text}\n{}", ran.explain());
    }
}

#[test]
#[cfg_attr(windows, ignore = "runs git(1) beside the binary: Linux only")]
fn version() {
    let env = TestEnv::new();
    let ran = env.run(&["--version"]);
    ran.expect_code(0);
    let expected = format!("lanceur {} (", env!("CARGO_PKG_VERSION"));
    assert!(ran.stdout.starts_with(&expected), "{}", ran.explain());
    // Built from a git checkout, the version names the commit.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git");
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    assert!(
        !head.is_empty() && ran.stdout.contains(&head),
        "{head}\n{}",
        ran.explain()
    );
}

#[test]
fn usage_errors_exit_2() {
    let env = TestEnv::new();
    env.run(&["dir"]).expect_code(2);
    env.run(&["nosuchcommand"]).expect_code(2);
    env.run_dir(&["--max-items", "0"])
        .expect_code(2)
        .expect_stderr_contains("--max-items 0");
    env.run_dir(&["--index", "xml"]).expect_code(2);
    env.run_dir(&["--name", "a/b"])
        .expect_code(2)
        .expect_stderr_contains("invalid launcher name");
}

#[test]
fn cold_folder_from_the_environment() {
    let env = TestEnv::new();
    env.source_file("a.pdf", b"a");
    let mut command = env.command();
    command
        .env("LANCEUR_DEST", &env.cold)
        .args(["dir", "--min-age", "0s", "--source"])
        .arg(&env.source);
    env.run_command(command).expect_code(0).expect_quiet();
    assert_eq!(env.cold_names(), vec!["a.pdf"]);
}

#[test]
fn json_summary_survives_a_closed_stdout() {
    let env = TestEnv::new();
    env.source_file("a.pdf", b"a");
    // stdout closed before lanceur writes to it: the run's work and exit code must not change.
    let mut command = env.command();
    command
        .args(["dir", "--min-age", "0s", "--json", "--source"])
        .arg(&env.source)
        .arg("--dest")
        .arg(&env.cold)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(env.cold_names(), vec!["a.pdf"]);
}

#[test]
fn help_puts_what_cron_runs_first_and_explains_launcher_files() {
    // See: issue 16.
    let env = TestEnv::new();
    let ran = env.run(&["--help"]);
    ran.expect_code(0);
    let commands: Vec<&str> = ran
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        &commands[..3],
        ["run", "login", "check"],
        "{}",
        ran.explain()
    );
    for protocol in ["dir", "imap", "pop", "o365", "adullact"] {
        assert!(commands.contains(&protocol), "{protocol}: {commands:?}");
    }
    for (argv, says) in [
        (&["login", "--help"][..], "lanceur login FILE.toml"),
        (&["check", "--help"], "lanceur check FILE.toml"),
        (&["run", "--help"], "lanceur run FILE.toml"),
    ] {
        let ran = env.run(argv);
        ran.expect_code(0).expect_stdout_contains(says);
    }
    // `lanceur login FILE` still runs the login of the launcher file.
    let ran = env.run(&["login", env.root().join("none.toml").to_str().unwrap()]);
    ran.expect_code(2)
        .expect_stderr_contains("cannot read launcher file");
}

#[test]
fn check_shows_only_the_options_it_uses_and_still_accepts_a_runs() {
    // See: issue 16. A check is a dry run that deposits and fetches nothing.
    let env = TestEnv::new();
    for (protocol, hidden) in [
        ("dir", &["--dry-run", "--index"][..]),
        ("imap", &["--dry-run", "--index", "--take"]),
        ("pop", &["--dry-run", "--take", "--delete-after"]),
        ("o365", &["--dry-run", "--take"]),
        ("adullact", &["--dry-run", "--failed"]),
    ] {
        let run = env.run(&[protocol, "--help"]);
        let check = env.run(&["check", protocol, "--help"]);
        check.expect_code(0).expect_stdout_contains("--dest");
        for option in hidden {
            assert!(run.stdout.contains(option), "{protocol} {option}");
            // An option's own line is indented less than the help text wrapped below it.
            let shown = check.stdout.lines().any(|l| {
                let text = l.trim_start();
                l.len() - text.len() <= 6 && text.split([' ', ',']).any(|w| w == *option)
            });
            assert!(!shown, "check {protocol} shows {option}\n{}", check.stdout);
        }
    }
    env.source_file("a.pdf", b"a");
    let ran = env.run(&[
        "check",
        "dir",
        "--source",
        env.source.to_str().unwrap(),
        "--dest",
        env.cold.to_str().unwrap(),
        "--index",
        "idx",
        "--dry-run",
    ]);
    ran.expect_code(0);
    assert!(env.cold_visible().is_empty());
}
