//! Watchdogs no other tool has: `--expect-within` (a source that stopped receiving),
//! `--expect-pickup-within` (a COLD that is not consuming), and `lanceur status`, one line per
//! launcher file, for a person or for monitoring. The runs record their times in
//! `STATE_DIR/NAME/status.json`; time passing is simulated by writing earlier times there, as a
//! run of yesterday would have. See: issue 16.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::harness::graph::{FakeGraph, Mail, CLIENT_ID};
use crate::harness::{Ran, TestEnv};

fn status_file(env: &TestEnv, name: &str) -> PathBuf {
    env.state.join(name).join("status.json")
}

fn status(env: &TestEnv, name: &str) -> Value {
    let text = fs::read_to_string(status_file(env, name))
        .unwrap_or_else(|e| panic!("no status.json: {e}\n{}", env.listing()));
    serde_json::from_str(&text).unwrap()
}

/// Rewrites the recorded status, as if the runs had happened earlier.
fn backdate(env: &TestEnv, name: &str, change: impl FnOnce(&mut Value)) {
    let mut value = status(env, name);
    change(&mut value);
    fs::write(status_file(env, name), value.to_string()).unwrap();
}

fn dir_run(env: &TestEnv, extra: &[&str]) -> Ran {
    let mut args = vec!["--name", "scans"];
    args.extend_from_slice(extra);
    env.run_dir(&args)
}

#[test]
fn nothing_new_for_longer_than_expected_is_one_line_and_exit_8() {
    let env = TestEnv::new();
    let within = ["--expect-within", "1d"];
    // A first run with nothing: the clock starts now.
    dir_run(&env, &within).expect_code(0).expect_quiet();
    assert!(status(&env, "scans")["last_deposit"].is_null());
    backdate(&env, "scans", |s| {
        s["since"] = json!("2025-01-01T08:00:00Z")
    });
    let ran = dir_run(&env, &within);
    ran.expect_code(8)
        .expect_stderr_contains("lanceur: scans: nothing new deposited for ");
    ran.expect_stderr_contains(
        "since this launcher's first run (2025-01-01T08:00:00Z), longer than --expect-within 1day",
    );
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    assert_eq!(status(&env, "scans")["last_run"]["exit_code"], 8);
    // A deposit: quiet again, and the clock starts from it.
    env.source_file("a.pdf", b"%PDF a");
    dir_run(&env, &within).expect_code(0).expect_quiet();
    let last = status(&env, "scans")["last_deposit"]
        .as_str()
        .unwrap()
        .to_string();
    dir_run(&env, &within).expect_code(0).expect_quiet();
    backdate(&env, "scans", |s| {
        s["last_deposit"] = json!("2025-02-01T08:00:00Z")
    });
    dir_run(&env, &within)
        .expect_code(8)
        .expect_stderr_contains("since the last deposit (2025-02-01T08:00:00Z)");
    assert!(last.ends_with('Z'), "{last}");
    // Without the option, no watchdog.
    dir_run(&env, &[]).expect_code(0).expect_quiet();
    // A run that cannot reach its source says why, not "nothing new".
    let missing = env.root().join("missing");
    let ran = env.run(&[
        "dir",
        "--name",
        "scans",
        "--expect-within",
        "1d",
        "--source",
        missing.to_str().unwrap(),
        "--dest",
        env.cold.to_str().unwrap(),
    ]);
    ran.expect_code(4);
    assert!(!ran.stderr.contains("nothing new"), "{}", ran.explain());
    assert_eq!(status(&env, "scans")["last_run"]["exit_code"], 4);
}

#[test]
fn documents_left_in_the_cold_folder_say_the_cold_is_not_consuming_exit_9() {
    let env = TestEnv::new();
    let pickup = ["--expect-pickup-within", "1h"];
    env.source_file("facture.pdf", b"%PDF f");
    dir_run(&env, &pickup).expect_code(0).expect_quiet();
    let watched = status(&env, "scans")["awaiting_pickup"].clone();
    assert_eq!(watched[0]["name"], "facture.pdf", "{watched}");
    // Still there an hour later: the COLD took nothing.
    backdate(&env, "scans", |s| {
        s["awaiting_pickup"][0]["deposited"] = json!("2025-03-01T06:00:00Z")
    });
    let ran = dir_run(&env, &pickup);
    ran.expect_code(9).expect_stderr_contains(&format!(
        "lanceur: scans: 1 document deposited more than --expect-pickup-within 1h ago is still in \
         the COLD folder {} (the oldest, facture.pdf, for ",
        env.cold.display()
    ));
    ran.expect_stderr_contains("the COLD is not taking its documents");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    // check says the same, and exits as a run would.
    let ran = env.run(&[
        "check",
        "dir",
        "--name",
        "scans",
        "--expect-pickup-within",
        "1h",
        "--source",
        env.source.to_str().unwrap(),
        "--dest",
        env.cold.to_str().unwrap(),
    ]);
    ran.expect_code(9)
        .expect_stdout_contains("ready, but a watchdog speaks (exit code 9)")
        .expect_stdout_contains("ALERT: 1 document deposited more than");
    // The COLD takes it: quiet again, and nothing left to watch.
    fs::remove_file(env.cold.join("facture.pdf")).unwrap();
    dir_run(&env, &pickup).expect_code(0).expect_quiet();
    assert!(status(&env, "scans").get("awaiting_pickup").is_none());
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
    }
    // On Windows the file takes its folder's ACL: the test's own folder is private.
}

#[test]
fn status_gives_one_line_per_launcher_file_and_json_for_monitoring() {
    let env = TestEnv::new();
    let files = env.dir("launchers");
    let state = env.state.display();
    let cold = env.cold.display();
    let inbox = env.dir("inbox");
    fs::write(inbox.join("a.pdf"), b"%PDF").unwrap();
    write(
        &files.join("scans.toml"),
        &format!(
            "protocol = 'dir'\nsource = '{}'\ndest = '{cold}'\nstate-dir = '{state}'\n\
             min-age = '0s'\nexpect-within = '1d'\n",
            env.source.display()
        ),
    );
    write(
        &files.join("courrier.toml"),
        &format!(
            "protocol = 'dir'\nsource = '{}'\ndest = '{cold}'\nstate-dir = '{state}'\n\
             min-age = '0s'\n",
            inbox.display()
        ),
    );
    write(
        &files.join("broken.toml"),
        "protocol = 'dir'\nsorce = 'x'\n",
    );
    fs::write(files.join("notes.txt"), "not a launcher").unwrap();
    let run = |name: &str| env.run(&["run", files.join(format!("{name}.toml")).to_str().unwrap()]);
    run("courrier").expect_code(0).expect_quiet();
    let ran = env.run(&["status", files.to_str().unwrap()]);
    ran.expect_code(1);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert!(
        lines[0].contains("LAUNCHER") && lines[0].contains("NEXT EXPIRY"),
        "{}",
        ran.explain()
    );
    let line_of = |name: &str| {
        lines
            .iter()
            .find(|l| l.split_whitespace().nth(1) == Some(name) || l.contains(&format!(" {name} ")))
            .unwrap_or_else(|| panic!("no line for {name}\n{}", ran.explain()))
            .to_string()
    };
    let courrier = line_of("courrier");
    assert!(
        courrier.starts_with("  courrier"),
        "well: no mark\n{courrier}"
    );
    assert!(courrier.split_whitespace().any(|w| w == "0"), "{courrier}");
    assert!(line_of("scans").starts_with("! scans") && line_of("scans").contains("never"));
    assert!(ran.stdout.contains("broken.toml"), "{}", ran.explain());
    assert!(
        ran.stdout.contains("unknown setting \"sorce\""),
        "{}",
        ran.explain()
    );

    // --json, for monitoring.
    let ran = env.run(&["status", files.to_str().unwrap(), "--json"]);
    ran.expect_code(1);
    let listing: Value = serde_json::from_str(ran.stdout.trim()).unwrap();
    let launchers = listing["launchers"].as_array().unwrap();
    assert_eq!(launchers.len(), 3, "{listing:#}");
    let courrier = launchers
        .iter()
        .find(|l| l["launcher"] == "courrier")
        .unwrap();
    assert_eq!(courrier["last_run"]["exit_code"], 0);
    assert_eq!(courrier["last_run"]["documents_deposited"], 1);
    assert!(courrier["last_deposit"].is_string());
    assert_eq!(courrier["set_aside"], json!([]));
    assert_eq!(courrier["attention"], false);
    let broken = launchers
        .iter()
        .find(|l| l["file"].as_str().unwrap().ends_with("broken.toml"))
        .unwrap();
    assert_eq!(broken["attention"], true);
    assert!(broken["error"].as_str().unwrap().contains("sorce"));

    // Everything well: exit 0.
    fs::remove_file(files.join("broken.toml")).unwrap();
    run("scans").expect_code(0);
    env.run(&["status", files.to_str().unwrap()]).expect_code(0);
    env.run(&["status", env.root().join("nowhere").to_str().unwrap()])
        .expect_code(2)
        .expect_stderr_contains("cannot read the folder of launcher files");
}

#[test]
fn status_tells_the_next_expiry_of_a_sign_in() {
    let fake = FakeGraph::start();
    let env = TestEnv::new();
    let files = env.dir("launchers");
    write(
        &files.join("box.toml"),
        &format!(
            "protocol = 'o365'\nclient-id = '{CLIENT_ID}'\nlogin-url = '{}'\ngraph-url = '{}'\n\
             dest = '{}'\nstate-dir = '{}'\n",
            fake.login_url(),
            fake.graph_url(),
            env.cold.display(),
            env.state.display()
        ),
    );
    let file = files.join("box.toml");
    env.run(&["login", file.to_str().unwrap()]).expect_code(0);
    fake.add_mail(
        "me",
        "inbox",
        Mail::new("x").file("x.pdf", "application/pdf", b"%PDF"),
    );
    env.run(&["run", file.to_str().unwrap()])
        .expect_code(0)
        .expect_quiet();
    let expiry = status(&env, "box")["expiries"][0].clone();
    assert_eq!(
        expiry["what"], "the Microsoft sign-in, unless a run uses it before",
        "{expiry}"
    );
    let ran = env.run(&["status", files.to_str().unwrap()]);
    ran.expect_code(0)
        .expect_stdout_contains("(the Microsoft sign-in, unless a run uses it before)");
    // 90 days after the renewal this run made.
    let at = humantime::parse_rfc3339(expiry["at"].as_str().unwrap()).unwrap();
    let days = at
        .duration_since(std::time::SystemTime::now())
        .unwrap()
        .as_secs()
        / 86_400;
    assert!((89..=90).contains(&days), "{days} days");
}
