//! Launcher state that cannot fork: where a launcher's journal is when nothing says, what the
//! examples pin down, and what a launcher says when its journal is empty but its source holds what
//! an earlier lanceur took. See: issue 16.

use std::process::Command;

use crate::harness::TestEnv;

/// `lanceur dir --dry-run` for launcher `scans`, with the environment `env` gives it but no
/// `LANCEUR_STATE_DIR`, and HOME as given: the state folder the run would use.
fn state_folder(env: &TestEnv, home: Option<&std::path::Path>) -> String {
    let mut command = env.command();
    command.env_remove("LANCEUR_STATE_DIR");
    if let Some(home) = home {
        command.env("HOME", home);
    }
    command
        .args(["dir", "--dry-run", "--name", "scans", "--source"])
        .arg(&env.source)
        .arg("--dest")
        .arg(&env.cold);
    let ran = env.run_command(command);
    ran.expect_code(0);
    let line = ran.stdout.lines().next().unwrap_or_default().to_string();
    line.strip_prefix("dry run of launcher scans (state in ")
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no state folder in\n{}", ran.explain()))
        .to_string()
}

fn uid() -> u32 {
    let output = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn root_and_service_accounts_use_the_system_wide_state_folder() {
    let env = TestEnv::new();
    // A service manager that gives no HOME: the system-wide folder, whoever runs it.
    assert_eq!(state_folder(&env, None), "/var/lib/lanceur/scans");
    // With a home: root and system accounts still share the system-wide folder; a person's own
    // account keeps its state in its home.
    let home = env.dir("home");
    let expected = if uid() < 1000 {
        "/var/lib/lanceur/scans".to_string()
    } else {
        home.join(".local/state/lanceur/scans")
            .display()
            .to_string()
    };
    assert_eq!(state_folder(&env, Some(&home)), expected);
    // A dry run created nothing, there or anywhere.
    assert!(crate::harness::names(&home).is_empty());
    // --state-dir wins.
    let ran = env.run(&[
        "dir",
        "--dry-run",
        "--name",
        "scans",
        "--state-dir",
        "/srv/lanceur-state",
        "--source",
        env.source.to_str().unwrap(),
        "--dest",
        env.cold.to_str().unwrap(),
    ]);
    ran.expect_stdout_contains("(state in /srv/lanceur-state/scans)");
}
