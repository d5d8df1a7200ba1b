//! `--log-file`: one JSON line per deposited, failed or acknowledge_failed item, appended across
//! runs, with the values the test put in. See: issue 7.

use std::fs;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::harness::{names, with_private_tmpfs, write_old, TestEnv};

fn good_envelope() -> Vec<u8> {
    fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/adullact/depot_format/Titre_de_mon_document.zip"
    ))
    .unwrap()
}

/// Every line of the log, parsed; panics on a line that is not one JSON object.
fn lines(log: &Path) -> Vec<Value> {
    let text = fs::read_to_string(log).unwrap();
    assert!(text.ends_with('\n'), "{text}");
    text.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {line}\n{text}"));
            assert!(value.is_object(), "{line}");
            value
        })
        .collect()
}

/// The line's time, checked to be RFC 3339 in UTC and within the run.
#[track_caller]
fn assert_time_within(line: &Value, from: SystemTime, to: SystemTime) {
    let text = line["time"].as_str().unwrap();
    assert!(text.ends_with('Z'), "{text}");
    let time = humantime::parse_rfc3339(text).unwrap();
    // The log keeps milliseconds: compare at that grain.
    let ms = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_millis();
    assert!(ms(from) <= ms(time) && ms(time) <= ms(to), "{text}");
}

fn adullact(env: &TestEnv, extra: &[&str]) -> crate::harness::Ran {
    let mut args = vec![
        "adullact",
        "--min-age",
        "0s",
        "--name",
        "pastell",
        "--source",
        env.source.to_str().unwrap(),
        "--dest",
        env.cold.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    env.run(&args)
}

#[test]
fn deposited_and_failed_items_are_appended_run_after_run() {
    let env = TestEnv::new();
    let log = env.root().join("logs/lanceur.jsonl");
    fs::create_dir_all(log.parent().unwrap()).unwrap();
    let log_arg = log.to_str().unwrap();
    write_old(&env.source.join("good.zip"), &good_envelope());
    write_old(&env.source.join("broken.zip"), b"PK\x03\x04 no zip at all");

    let started = SystemTime::now();
    adullact(&env, &["--log-file", log_arg])
        .expect_code(1)
        .expect_stderr_contains("broken.zip");
    let first = lines(&log);
    assert_eq!(first.len(), 2, "{first:#?}");
    let failed = first.iter().find(|l| l["event"] == "failed").unwrap();
    let deposited = first.iter().find(|l| l["event"] == "deposited").unwrap();
    for line in &first {
        assert_eq!(line["launcher"], "pastell");
        assert_time_within(line, started, SystemTime::now());
    }
    assert_eq!(failed["item"], "broken.zip");
    let key = failed["key"].as_str().unwrap();
    assert!(
        key.starts_with("adullact:")
            && key.contains(&*env.source.join("broken.zip").to_string_lossy()),
        "{key}"
    );
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("not a readable ZIP archive"),
        "{failed}"
    );
    assert!(failed.get("documents").is_none());
    assert_eq!(deposited["item"], "good.zip");
    // The documents are what the COLD folder got, and their bytes add up.
    assert_eq!(
        deposited["documents"],
        serde_json::json!(env.cold_visible())
    );
    let bytes: u64 = env
        .cold_visible()
        .iter()
        .map(|n| env.cold_read(n).len() as u64)
        .sum();
    assert_eq!(deposited["bytes"], bytes);
    assert!(deposited.get("error").is_none());

    // A second run appends: the broken envelope fails again, a new one is deposited.
    write_old(&env.source.join("second.zip"), &good_envelope());
    let started = SystemTime::now();
    adullact(&env, &["--log-file", log_arg]).expect_code(1);
    let all = lines(&log);
    assert_eq!(all.len(), 4, "{all:#?}");
    assert_eq!(all[..2], first[..], "earlier lines are kept as they were");
    let events: Vec<(&str, &str)> = all[2..]
        .iter()
        .map(|l| (l["event"].as_str().unwrap(), l["item"].as_str().unwrap()))
        .collect();
    assert!(events.contains(&("failed", "broken.zip")), "{events:?}");
    assert!(events.contains(&("deposited", "second.zip")), "{events:?}");
    for line in &all[2..] {
        assert_time_within(line, started, SystemTime::now());
    }
}

#[test]
#[cfg_attr(windows, ignore = "a private tmpfs through unshare(1): Linux only")]
fn an_acknowledgement_that_fails_is_logged() {
    let env = TestEnv::new();
    let archive = env.dir("archive");
    let log = env.root().join("run.jsonl");
    env.source_file("a.pdf", b"contents of a");
    let path = env.source.join("a.pdf");
    let meta = fs::metadata(&path).unwrap();
    let mtime = meta
        .modified()
        .unwrap()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let args = [
        "dir",
        "--min-age",
        "0s",
        "--source",
        env.source.to_str().unwrap(),
        "--dest",
        env.cold.to_str().unwrap(),
        "--archive",
        archive.to_str().unwrap(),
        "--log-file",
        log.to_str().unwrap(),
    ];
    // The archive folder is read-only for this run: the deposit succeeds, the move fails.
    let ran = env.run_command(with_private_tmpfs(
        &env,
        &archive,
        "ro,size=1m",
        None,
        &args,
    ));
    ran.expect_code(1);
    let all = lines(&log);
    assert_eq!(all.len(), 2, "{all:#?}\n{}", ran.explain());
    let key = format!("dir:{}:{}:{mtime}", path.display(), meta.len());
    assert_eq!(all[0]["event"], "deposited");
    assert_eq!(all[0]["key"], key.as_str());
    assert_eq!(all[0]["documents"], serde_json::json!(["a.pdf"]));
    assert_eq!(all[0]["bytes"], 13);
    assert_eq!(all[1]["event"], "acknowledge_failed");
    assert_eq!(all[1]["item"], "a.pdf");
    assert_eq!(all[1]["key"], key.as_str());
    assert!(
        all[1]["error"].as_str().unwrap().contains("archive"),
        "{}",
        all[1]
    );
}

#[test]
fn a_log_file_that_cannot_be_opened_stops_the_run_before_any_work() {
    let env = TestEnv::new();
    env.source_file("a.pdf", b"a");
    let log = env.root().join("no-such-folder/run.jsonl");
    env.run_dir(&["--log-file", log.to_str().unwrap()])
        .expect_code(2)
        .expect_stderr_contains("cannot open --log-file");
    assert_eq!(names(&env.source), vec!["a.pdf"]);
    assert!(env.cold_names().is_empty());
    assert!(!env.state.exists());
    assert!(!log.exists());
    // A dry run writes no log, and does not create it either.
    let log = env.root().join("run.jsonl");
    env.run_dir(&["--dry-run", "--log-file", log.to_str().unwrap()])
        .expect_code(0);
    assert!(!log.exists());
    // A run that deposits nothing leaves the log as it was.
    fs::remove_file(env.source.join("a.pdf")).unwrap();
    env.run_dir(&["--log-file", log.to_str().unwrap()])
        .expect_code(0)
        .expect_quiet();
    assert_eq!(fs::read(&log).unwrap(), b"");
}

#[test]
fn every_field_of_the_json_summary_and_the_log_file_is_in_the_readme() {
    // See: issue 16. Items and documents are counted apart, and each name is explained.
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let env = TestEnv::new();
    write_old(&env.source.join("a.pdf"), b"%PDF a");
    let log = env.root().join("run.jsonl");
    let ran = env.run_dir(&["--json", "--log-file", log.to_str().unwrap()]);
    ran.expect_code(0);
    let summary = ran.summary();
    let mut fields: Vec<String> = summary.as_object().unwrap().keys().cloned().collect();
    assert!(fields.contains(&"items_deposited".to_string()));
    assert!(fields.contains(&"documents_deposited".to_string()));
    fields.push("error".into());
    let line: serde_json::Value =
        serde_json::from_str(fs::read_to_string(&log).unwrap().lines().next().unwrap()).unwrap();
    fields.extend(line.as_object().unwrap().keys().cloned());
    let missing: Vec<&String> = fields
        .iter()
        .filter(|f| !readme.contains(&format!("| `{f}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "not in the README's tables: {missing:?}"
    );
}
