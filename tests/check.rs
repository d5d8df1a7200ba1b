//! `lanceur check …`: the right exit code for each kind of problem, the counts of what a run would
//! take, and nothing changed anywhere: source, COLD folder, state folder (not even created), and on
//! Dovecot the mails and their flags. See: issue 7.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::UNIX_EPOCH;

use crate::harness::{sha256, with_private_tmpfs, write_old, Ran, TestEnv};

// IMAP and POP3, against the harness's Dovecot (Linux only).
#[cfg(unix)]
mod mail;

/// Every file and folder under `root`: kind, size, modification time and content hash. The COLD
/// folder's own time is left out: the writability probe creates and removes a file there, which is
/// the one trace a check leaves, and the only proof a network share will take a file.
fn tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(root).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&path).unwrap();
            let mtime = meta
                .modified()
                .unwrap()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            if meta.is_dir() && relative == "cold" {
                out.insert(relative, "dir".into());
                walk(root, &path, out);
            } else if meta.is_dir() {
                out.insert(relative, format!("dir {mtime}"));
                walk(root, &path, out);
            } else {
                let hash = sha256(&fs::read(&path).unwrap());
                out.insert(relative, format!("{} {mtime} {hash}", meta.len()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Runs `command` and asserts that the test environment is the same afterwards.
#[track_caller]
fn run_changing_nothing(env: &TestEnv, command: Command) -> Ran {
    let before = tree(env.root());
    let ran = env.run_command(command);
    let after = tree(env.root());
    assert_eq!(before, after, "check changed files\n{}", ran.explain());
    ran
}

fn check_json(ran: &Ran) -> serde_json::Value {
    serde_json::from_str(ran.stdout.trim())
        .unwrap_or_else(|e| panic!("the report is not one JSON object ({e})\n{}", ran.explain()))
}

fn dir_check(env: &TestEnv, extra: &[&str]) -> Command {
    let mut command = env.command();
    command
        .args(["check", "dir", "--min-age", "0s", "--source"])
        .arg(&env.source)
        .arg("--dest")
        .arg(&env.cold)
        .args(extra);
    command
}

#[test]
fn a_ready_folder_launcher_is_counted_and_nothing_moves() {
    let env = TestEnv::new();
    // An earlier run took one file; the journal remembers it.
    env.source_file("earlier.pdf", b"earlier");
    env.run_dir(&["--name", "scans"])
        .expect_code(0)
        .expect_quiet();
    env.source_file("a.pdf", &[b'a'; 250]);
    env.source_file("b.pdf", &[b'b'; 250]);
    env.source_file("notes.db", b"filtered out");
    env.source_file(".hidden.pdf", b"passed over");
    env.source_file("upload.pdf.part", b"passed over");
    let log = env.root().join("logs/run.jsonl");
    fs::create_dir_all(log.parent().unwrap()).unwrap();
    let log = log.to_str().unwrap();
    let args = [
        "--name",
        "scans",
        "--exclude",
        r"/.*\.db$/",
        "--max-items",
        "1",
        "--log-file",
        log,
    ];

    let ran = run_changing_nothing(&env, dir_check(&env, &[&args[..], &["--json"]].concat()));
    ran.expect_code(0);
    let report = check_json(&ran);
    assert_eq!(report["launcher"], "scans");
    assert_eq!(report["ready"], true);
    let source = &report["source"];
    assert_eq!(source["listed"], 5, "{report:#}");
    assert_eq!(source["new"], 2);
    assert_eq!(source["new_bytes"], 500);
    assert_eq!(source["next_run"], 1, "--max-items 1");
    assert_eq!(source["next_run_bytes"], 250);
    assert_eq!(source["filtered"], 1);
    assert_eq!(source["passed_over"], 2);
    assert_eq!(report["state"]["journal_entries"], 1);
    assert_eq!(report["state"]["unfinished"], 0);
    assert_eq!(report["cold"]["writable"], true);
    assert_eq!(report["cold"]["same_volume_as_source"], true);
    let volume = &report["cold"]["volume"];
    assert!(volume["mount_point"].as_str().is_some(), "{report:#}");
    assert!(volume["free_bytes"].as_u64().unwrap() <= volume["total_bytes"].as_u64().unwrap());
    assert!(!Path::new(log).exists(), "check created the log file");

    let ran = run_changing_nothing(&env, dir_check(&env, &args));
    ran.expect_code(0);
    assert!(ran.stderr.is_empty(), "{}", ran.explain());
    for text in [
        "launcher scans: ready",
        "5 items listed",
        "1 new item (250 B) for the next run; 1 left for later runs by --max-items/--max-bytes",
        "1 item skipped by the filters; 2 items passed over",
        "same volume as the source folder",
        "journal of 1 entry, nothing unfinished",
        "can be appended to",
    ] {
        assert!(ran.stdout.contains(text), "{text:?}\n{}", ran.explain());
    }
}

#[test]
fn a_first_check_creates_no_state_folder() {
    let env = TestEnv::new();
    env.source_file("a.pdf", b"a");
    let ran = run_changing_nothing(&env, dir_check(&env, &[]));
    ran.expect_code(0);
    assert!(!env.state.exists(), "{}", ran.explain());
    assert!(
        ran.stdout
            .contains("not created yet (the first run creates it)"),
        "{}",
        ran.explain()
    );
    // A run afterwards takes the file: the check left it for the run.
    env.run_dir(&[]).expect_code(0);
    assert_eq!(env.cold_visible(), vec!["a.pdf"]);
}

#[test]
fn a_missing_source_folder_exits_4() {
    let env = TestEnv::new();
    fs::remove_dir(&env.source).unwrap();
    let ran = run_changing_nothing(&env, dir_check(&env, &[]));
    ran.expect_code(4);
    assert!(
        ran.stdout.contains("NOT READY (exit code 4)")
            && ran.stdout.contains("source   FAILED: source unavailable")
            && ran
                .stdout
                .contains("is not reachable (is the share mounted?)"),
        "{}",
        ran.explain()
    );
    // The other steps are still checked and reported.
    assert!(ran.stdout.contains(": writable"), "{}", ran.explain());
    assert!(!env.state.exists());
}

#[test]
#[cfg_attr(windows, ignore = "a private tmpfs through unshare(1): Linux only")]
fn a_read_only_cold_folder_exits_5() {
    let env = TestEnv::new();
    env.source_file("a.pdf", b"a");
    let source = env.source.to_str().unwrap();
    let cold = env.cold.to_str().unwrap();
    let args = [
        "check",
        "dir",
        "--min-age",
        "0s",
        "--source",
        source,
        "--dest",
        cold,
        "--json",
    ];
    let before = tree(env.root());
    let ran = env.run_command(with_private_tmpfs(
        &env,
        &env.cold,
        "ro,size=1m",
        None,
        &args,
    ));
    ran.expect_code(5);
    assert_eq!(before, tree(env.root()), "{}", ran.explain());
    let report = check_json(&ran);
    assert_eq!(report["ready"], false);
    assert_eq!(report["exit_code"], 5);
    assert_eq!(report["cold"]["writable"], false);
    let error = report["cold"]["error"]["message"].as_str().unwrap();
    // A read-only file system is not a permission problem. See: issue 16.
    assert!(
        error.contains("it is on a read-only file system"),
        "{error}"
    );
    assert!(!error.contains("permission denied"), "{error}");
    // The source is fine, and says so.
    assert_eq!(report["source"]["new"], 1, "{report:#}");
    assert!(!env.state.exists());
}

#[test]
#[cfg_attr(windows, ignore = "a private tmpfs through unshare(1): Linux only")]
fn the_cold_volume_is_named_with_its_free_space() {
    let env = TestEnv::new();
    // 2 MiB to take, into a COLD folder on its own 1 MiB file system.
    write_old(&env.source.join("big.pdf"), &vec![7u8; 2 << 20]);
    let source = env.source.to_str().unwrap();
    let cold = env.cold.to_str().unwrap();
    let base = [
        "check",
        "dir",
        "--min-age",
        "0s",
        "--source",
        source,
        "--dest",
        cold,
    ];
    let ran = env.run_command(with_private_tmpfs(
        &env,
        &env.cold,
        "size=1m",
        None,
        &[&base[..], &["--json"]].concat(),
    ));
    ran.expect_code(0);
    let report = check_json(&ran);
    let volume = &report["cold"]["volume"];
    assert_eq!(volume["mount_point"], cold, "{report:#}");
    assert_eq!(volume["fs_type"], "tmpfs");
    assert_eq!(volume["total_bytes"], 1 << 20);
    assert_eq!(report["cold"]["same_volume_as_source"], false);
    let ran = env.run_command(with_private_tmpfs(&env, &env.cold, "size=1m", None, &base));
    ran.expect_code(0);
    for text in [
        &format!("volume {cold} (tmpfs, tmpfs): "),
        "free of 1.0 MiB",
        "warning: the next run takes about 2.0 MiB, more than the",
        "not the source folder's volume: files are copied",
    ] {
        assert!(ran.stdout.contains(text), "{text:?}\n{}", ran.explain());
    }
}

#[test]
fn an_unusable_state_folder_or_log_file_is_reported() {
    let env = TestEnv::new();
    env.source_file("a.pdf", b"a");
    let blocker = env.root().join("not-a-folder");
    fs::write(&blocker, b"").unwrap();
    let mut command = dir_check(&env, &[]);
    command.env("LANCEUR_STATE_DIR", blocker.join("state"));
    let ran = run_changing_nothing(&env, command);
    ran.expect_code(5);
    assert!(
        ran.stdout
            .contains("state    FAILED: cannot deposit: cannot create state folder"),
        "{}",
        ran.explain()
    );
    // A run would stop at the log file first, with the usage code: so does the check.
    let missing = env.root().join("no-such-folder/run.jsonl");
    let mut command = dir_check(&env, &["--log-file", missing.to_str().unwrap()]);
    command.env("LANCEUR_STATE_DIR", blocker.join("state"));
    let ran = run_changing_nothing(&env, command);
    ran.expect_code(2);
    assert!(
        ran.stdout.contains("log      FAILED:") && ran.stdout.contains("its folder does not exist"),
        "{}",
        ran.explain()
    );
}

#[test]
fn check_needs_a_protocol_and_a_run_s_options() {
    let env = TestEnv::new();
    env.run(&["check"]).expect_code(2);
    env.run(&["check", "dir", "--source", "x"]).expect_code(2);
    env.run(&["check", "o365", "login", "--client-id", "c"])
        .expect_code(2);
    let ran = env.run(&["check", "--help"]);
    ran.expect_code(0);
    for text in [
        "Ajouter",
        "changes nothing",
        "dir",
        "imap",
        "pop",
        "o365",
        "adullact",
    ] {
        assert!(ran.stdout.contains(text), "{text}\n{}", ran.explain());
    }
    let ran = env.run(&["check", "imap", "--help"]);
    ran.expect_code(0);
    assert!(ran.stdout.contains("--server"), "{}", ran.explain());
}

// --- Office 365, against the harness's fake Graph (app-only: no token cache to write) ---

#[test]
fn o365_check_lists_without_reading_or_marking() {
    use crate::harness::graph::{FakeGraph, Mail, CLIENT_ID, CLIENT_SECRET};
    let fake = FakeGraph::start();
    let env = TestEnv::new();
    fake.add_mailbox("shared@contoso.com", false);
    let ids: Vec<String> = ["a", "b"]
        .iter()
        .map(|n| {
            let mail = Mail::new(n).file(&format!("{n}.pdf"), "application/pdf", b"%PDF-1.4 x");
            fake.add_mail("shared@contoso.com", "inbox", mail)
        })
        .collect();
    let check = |folder: &str, secret: &str| {
        let mut command = env.command();
        command
            .env("LANCEUR_O365_CLIENT_SECRET", secret)
            .args([
                "check",
                "o365",
                "--client-id",
                CLIENT_ID,
                "--tenant",
                "contoso.com",
            ])
            .args([
                "--login-url",
                &fake.login_url(),
                "--graph-url",
                &fake.graph_url(),
            ])
            .args([
                "--mailbox",
                &format!("shared@contoso.com:{folder}"),
                "--dest",
            ])
            .arg(&env.cold);
        run_changing_nothing(&env, command)
    };

    let ran = check("inbox", CLIENT_SECRET);
    ran.expect_code(0);
    assert!(
        ran.stdout.contains("2 new items (") && ran.stdout.contains("ready"),
        "{}",
        ran.explain()
    );
    for id in &ids {
        assert!(!fake.mail("shared@contoso.com", id).unwrap().is_read);
    }
    let graph: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.is_graph())
        .collect();
    assert!(!graph.is_empty());
    for request in &graph {
        assert_eq!(request.method, "GET", "{request:?}");
        assert!(!request.path.contains("/attachments"), "{request:?}");
    }
    assert!(!env.state.exists());

    check("Nulle part", CLIENT_SECRET).expect_code(4);
    let ran = check("inbox", "not-the-secret");
    ran.expect_code(3);
    assert!(
        ran.stdout
            .contains("source   FAILED: authentication failed"),
        "{}",
        ran.explain()
    );
}
