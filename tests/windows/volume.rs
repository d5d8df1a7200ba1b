//! `lanceur check` on Windows: the COLD folder's drive and free space, and whether it shares the
//! source folder's volume. See: issue 14.

use std::path::Path;

use super::required_env;
use crate::harness::TestEnv;

fn check(env: &TestEnv, cold: &Path, json: bool) -> crate::harness::Ran {
    let (source, cold) = (env.source.display().to_string(), cold.display().to_string());
    let mut args = vec![
        "check",
        "dir",
        "--source",
        &source,
        "--dest",
        &cold,
        "--min-age",
        "0s",
    ];
    if json {
        args.push("--json");
    }
    let ran = env.run(&args);
    ran.expect_code(0);
    ran
}

/// The drive a path is on, `C:\`.
fn drive_of(path: &Path) -> String {
    let text = path.display().to_string();
    assert_eq!(text.get(1..2), Some(":"), "{text} has no drive letter");
    format!("{}\\", &text[..2])
}

#[test]
fn check_names_the_drive_its_free_space_and_the_same_volume() {
    let env = TestEnv::new();
    env.source_file("a.pdf", b"%PDF");
    let ran = check(&env, &env.cold, false);
    let drive = drive_of(&env.cold);
    assert!(
        ran.stdout.contains(&format!("volume {drive}: ")) && ran.stdout.contains(" free of "),
        "{}",
        ran.explain()
    );
    assert!(
        ran.stdout.contains(
            "same volume as the source folder (documents are copied all the same, so that they \
             take the COLD folder's permissions)"
        ),
        "{}",
        ran.explain()
    );
    let report: serde_json::Value =
        serde_json::from_str(check(&env, &env.cold, true).stdout.trim()).unwrap();
    let volume = &report["cold"]["volume"];
    assert_eq!(volume["mount_point"], drive.as_str(), "{report}");
    let (free, total) = (
        volume["free_bytes"].as_u64().unwrap(),
        volume["total_bytes"].as_u64().unwrap(),
    );
    assert!(0 < free && free <= total, "{report}");
    assert_eq!(report["cold"]["same_volume_as_source"], true);
    assert_eq!(report["state"]["exists"], false, "a check creates nothing");
}

// Under Wine, drive Z: is the Unix root and C: the prefix: two volumes for Windows programs.
#[test]
fn a_cold_folder_on_another_drive_is_named_and_gets_copies() {
    let other = required_env("LANCEUR_TEST_OTHER_VOLUME");
    let env = TestEnv::new();
    let cold = tempfile::Builder::new()
        .prefix("lanceur-test-cold-")
        .tempdir_in(&other)
        .unwrap();
    assert_ne!(drive_of(cold.path()), drive_of(&env.source));
    env.source_file("a.pdf", b"%PDF across");
    let ran = check(&env, cold.path(), false);
    assert!(
        ran.stdout
            .contains(&format!("volume {}: ", drive_of(cold.path())))
            && ran.stdout.contains(
                "not the source folder's volume: files are copied, then removed from the source"
            ),
        "{}",
        ran.explain()
    );
    let (source, cold_arg) = (
        env.source.display().to_string(),
        cold.path().display().to_string(),
    );
    env.run(&[
        "dir",
        "--source",
        &source,
        "--dest",
        &cold_arg,
        "--min-age",
        "0s",
    ])
    .expect_code(0)
    .expect_quiet();
    assert_eq!(
        std::fs::read(cold.path().join("a.pdf")).unwrap(),
        b"%PDF across"
    );
    assert!(!env.source.join("a.pdf").exists());
}
