//! Quiet and truthful for cron and monitoring: what a run prints when all is well or nearly so,
//! how every line it prints starts, what `check` says while a run works. See: issue 16.

use std::fs;

use crate::harness::dovecot::Dovecot;
use crate::harness::mail::pdf_mail;
use crate::harness::TestEnv;

/// Every line of `stderr` is one of lanceur's (`lanceur: NAME: …`) or the indented continuation
/// of a multi-line log record.
#[track_caller]
fn every_line_is_the_launchers(stderr: &str, name: &str) {
    let prefix = format!("lanceur: {name}: ");
    for line in stderr.lines() {
        assert!(
            line.starts_with(&prefix) || line.starts_with("    "),
            "a line that is not {prefix:?}: {line:?}\n{stderr}"
        );
    }
}

#[test]
fn check_during_a_run_says_a_run_is_in_progress() {
    let env = TestEnv::new();
    env.source_file("a.pdf", b"a");
    let state = env.state.join("scans");
    fs::create_dir_all(&state).unwrap();
    fs::write(state.join("lock"), "pid 4242 since 2025-03-01T08:00:00Z").unwrap();
    let lock = fs::File::open(state.join("lock")).unwrap();
    lock.try_lock().unwrap();
    let check = |extra: &[&str]| {
        let mut args = vec![
            "check",
            "dir",
            "--name",
            "scans",
            "--min-age",
            "0s",
            "--source",
            env.source.to_str().unwrap(),
            "--dest",
            env.cold.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        env.run(&args)
    };
    let ran = check(&[]);
    ran.expect_code(0)
        .expect_stdout_contains("a run is in progress (pid 4242 since 2025-03-01T08:00:00Z)");
    let ran = check(&["--json"]);
    let report: serde_json::Value = serde_json::from_str(ran.stdout.trim()).unwrap();
    assert_eq!(
        report["state"]["run_in_progress"],
        "pid 4242 since 2025-03-01T08:00:00Z"
    );
    drop(lock);
    let ran = check(&[]);
    assert!(!ran.stdout.contains("in progress"), "{}", ran.explain());
    assert_eq!(
        fs::read_to_string(state.join("lock")).unwrap(),
        "pid 4242 since 2025-03-01T08:00:00Z",
        "check changed the lock file"
    );
}

#[test]
fn log_warnings_start_like_every_problem_line() {
    let user = Dovecot::get().user("warnline");
    user.deliver(&pdf_mail(1, 500).0);
    let env = TestEnv::new();
    let args = user.imap_args_without_ca("INBOX");
    let mut command = env.command();
    command
        .env("LANCEUR_PASSWORD", &user.password)
        .args(&args)
        .args([
            "--danger-accept-invalid-certs",
            "--name",
            "courrier",
            "--dest",
        ])
        .arg(&env.cold);
    let ran = env.run_command(command);
    ran.expect_code(0)
        .expect_stderr_contains("lanceur: courrier: warning: certificate verification is OFF");
    every_line_is_the_launchers(&ran.stderr, "courrier");
}

#[test]
fn debug_output_names_the_ca_file_without_dumping_it() {
    let user = Dovecot::get().user("cadump");
    let env = TestEnv::new();
    let mut command = env.command();
    command
        .env("LANCEUR_PASSWORD", &user.password)
        .args(user.imap_args("INBOX"))
        .args(["-vv", "--dry-run", "--name", "factures", "--dest"])
        .arg(&env.cold);
    let ran = env.run_command(command);
    ran.expect_code(0);
    let pem = fs::read(&user.dovecot.ca_file).unwrap();
    ran.expect_stderr_contains("ca_pem: Some(")
        .expect_stderr_contains(&format!("\"{} bytes\",", pem.len()));
    let bytes = ran
        .stderr
        .lines()
        .filter(|l| l.trim().trim_end_matches(',').parse::<u8>().is_ok())
        .count();
    assert_eq!(bytes, 0, "byte-by-byte dump\n{}", ran.explain());
    every_line_is_the_launchers(&ran.stderr, "factures");
}
