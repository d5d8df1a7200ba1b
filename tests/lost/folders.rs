//! The folder sources' side of the same rules, on every platform (under Wine too): a poison
//! envelope goes to `--failed` and comes back with `lanceur retry`.

use crate::harness::{names, TestEnv};

#[test]
fn a_file_that_keeps_failing_goes_to_failed_and_comes_back_with_retry() {
    let env = TestEnv::new();
    let failed = env.dir("failed");
    let failed_arg = failed.to_str().unwrap().to_string();
    // A folder envelope holding a subfolder cannot be decoded, run after run.
    env.source_file("dossier/a.pdf", b"%PDF");
    env.source_file("dossier/fichier_termine.txt", b"");
    std::fs::create_dir(env.source.join("dossier/sub")).unwrap();
    // `lanceur BEFORE… adullact … --name env EXTRA…`
    let adullact = |before: &[&str], extra: &[&str]| {
        let mut args = before.to_vec();
        args.extend(env.folder_args("adullact", &["--name", "env"]));
        args.extend_from_slice(extra);
        env.run(&args)
    };
    let run = || adullact(&[], &["--set-aside-after", "2"]);
    let retry = || adullact(&["retry", "--all"], &["--failed", &failed_arg]);
    run()
        .expect_code(1)
        .expect_stderr_contains("left at the source");
    // Without --failed it stays where it is, set aside, and later runs are silent.
    run()
        .expect_code(1)
        .expect_stderr_contains("failed 2 runs in a row; set aside: left where it is");
    run().expect_code(0).expect_quiet();
    assert!(env.source.join("dossier/a.pdf").exists());
    // Retried with --failed: back in the queue, fails, and goes to --failed at once.
    let ran = retry();
    ran.expect_code(1).expect_stderr_contains(&format!(
        "set aside: moved to {}",
        failed.join("dossier").display()
    ));
    assert!(!env.source.join("dossier").exists());
    assert!(failed.join("dossier/a.pdf").exists());
    // Retried again: moved back where it was.
    std::fs::remove_dir(failed.join("dossier/sub")).unwrap();
    let ran = retry();
    ran.expect_code(0);
    assert!(
        env.cold_visible().contains(&"a.pdf".to_string()),
        "{}",
        ran.explain()
    );
    assert!(names(&failed).is_empty(), "{}", ran.explain());
}
