//! Nothing lost, nothing hidden (see: issue 11): unmatched mails are never deleted, poison items
//! are set aside once and can be retried, a move without MOVE never duplicates mails on the
//! server, a trickling server and a signal end a run cleanly, and state files are owner-only.
//!
//! The folder sources' part is here and runs on every platform (under Wine too); `mail.rs` needs
//! the real Dovecot (and variants without MOVE), a Linux program.

use crate::harness::{names, TestEnv};

#[cfg(unix)]
mod mail;

#[test]
fn a_file_that_keeps_failing_goes_to_failed_and_comes_back_with_retry() {
    let env = TestEnv::new();
    let failed = env.dir("failed");
    let failed_arg = failed.to_str().unwrap().to_string();
    // A folder envelope holding a subfolder cannot be decoded, run after run.
    env.source_file("dossier/a.pdf", b"%PDF");
    env.source_file("dossier/fichier_termine.txt", b"");
    std::fs::create_dir(env.source.join("dossier/sub")).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "adullact",
            "--source",
            env.source.to_str().unwrap(),
            "--dest",
            env.cold.to_str().unwrap(),
            "--min-age",
            "0s",
            "--name",
            "env",
            "--set-aside-after",
            "2",
        ];
        args.extend_from_slice(extra);
        env.run(&args)
    };
    run(&[])
        .expect_code(1)
        .expect_stderr_contains("left at the source");
    // Without --failed it stays where it is, set aside, and later runs are silent.
    run(&[])
        .expect_code(1)
        .expect_stderr_contains("failed 2 runs in a row; set aside: left where it is");
    run(&[]).expect_code(0).expect_quiet();
    assert!(env.source.join("dossier/a.pdf").exists());
    // Retried with --failed: back in the queue, fails, and goes to --failed at once.
    let ran = env.run(&[
        "retry",
        "--all",
        "adullact",
        "--source",
        env.source.to_str().unwrap(),
        "--dest",
        env.cold.to_str().unwrap(),
        "--min-age",
        "0s",
        "--name",
        "env",
        "--failed",
        &failed_arg,
    ]);
    ran.expect_code(1).expect_stderr_contains(&format!(
        "set aside: moved to {}",
        failed.join("dossier").display()
    ));
    assert!(!env.source.join("dossier").exists());
    assert!(failed.join("dossier/a.pdf").exists());
    // Retried again: moved back where it was.
    std::fs::remove_dir(failed.join("dossier/sub")).unwrap();
    let ran = env.run(&[
        "retry",
        "--all",
        "adullact",
        "--source",
        env.source.to_str().unwrap(),
        "--dest",
        env.cold.to_str().unwrap(),
        "--min-age",
        "0s",
        "--name",
        "env",
        "--failed",
        &failed_arg,
    ]);
    ran.expect_code(0);
    assert!(
        env.cold_visible().contains(&"a.pdf".to_string()),
        "{}",
        ran.explain()
    );
    assert!(names(&failed).is_empty(), "{}", ran.explain());
}
