//! A file a folder source cannot read (permissions, a sharing violation) is left for later, then
//! reported on every run, with exit code 1, once it has been so for longer than `--grace-period`.
//! See: issue 11 (point 3).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::harness::{names, write_old, Ran, TestEnv};

/// `lanceur ARGS` without the capabilities that let root read any file, so that permissions apply
/// to it as to the service account of a real installation.
fn without_root_powers(env: &TestEnv, args: &[&str]) -> Ran {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap();
    let plain = env.command();
    let mut command = if is_root {
        let mut setpriv = Command::new("setpriv");
        setpriv.args(["--bounding-set=-all", "--inh-caps=-all", "--"]);
        setpriv.arg(plain.get_program());
        setpriv.env_clear();
        for (key, value) in plain.get_envs() {
            if let Some(value) = value {
                setpriv.env(key, value);
            }
        }
        setpriv
    } else {
        plain
    };
    command.args(args);
    env.run_command(command)
}

#[test]
fn a_file_that_cannot_be_read_is_reported_once_past_the_grace_period() {
    let env = TestEnv::new();
    let file = env.source.join("scan-0043.pdf");
    write_old(
        &file,
        b"%PDF-1.4 a scan written with the wrong permissions\n",
    );
    fs::set_permissions(&file, fs::Permissions::from_mode(0o000)).unwrap();
    let dir = |extra: &[&str]| without_root_powers(&env, &env.dir_args(extra));
    // Not yet: a copy may still be setting it up.
    dir(&[]).expect_code(0).expect_quiet();
    let ran = dir(&["--grace-period", "30s"]);
    ran.expect_code(1);
    let lines: Vec<&str> = ran.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", ran.explain());
    for part in [
        "scan-0043.pdf cannot be read",
        "longer than --grace-period 30s",
        "give this user read access",
    ] {
        assert!(lines[0].contains(part), "{part}\n{}", ran.explain());
    }
    assert_eq!(names(&env.source), vec!["scan-0043.pdf"]);
    assert!(env.cold_names().is_empty(), "{}", env.listing());
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    dir(&["--grace-period", "30s"])
        .expect_code(0)
        .expect_quiet();
    assert_eq!(env.cold_names(), vec!["scan-0043.pdf"]);
}
