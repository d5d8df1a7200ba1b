//! `kill -9` at random instants, many times over, then one clean run: every document is in the COLD
//! folder exactly once, none is lost, and the COLD never sees a partial file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use crate::harness::{kill_loop, names, sha256, Random, TestEnv};

/// What the COLD folder may hold at any instant: complete documents with known content, their
/// sidecars (only beside their document), and hidden temporary files.
fn check_cold_is_consistent(env: &TestEnv, known: &BTreeSet<String>, context: &str) {
    for name in env.cold_names() {
        if name.starts_with('.') {
            assert!(
                name.ends_with(".tmp"),
                "unexpected hidden file {name} {context}"
            );
            continue;
        }
        let bytes = env.cold_read(&name);
        if let Some(stem) = name.strip_suffix(".idx") {
            assert!(
                env.cold.join(format!("{stem}.pdf")).exists(),
                "sidecar {name} without its document {context}\n{}",
                env.listing()
            );
            continue;
        }
        assert!(
            known.contains(&sha256(&bytes)),
            "partial or unknown document {name} ({} bytes) visible in the COLD {context}\n{}",
            bytes.len(),
            env.listing()
        );
    }
}

fn crash_many_times(extra: &[&str], files: usize, kills: usize) {
    let env = TestEnv::new();
    let mut random = Random::from_time();
    let mut known = BTreeSet::new();
    for i in 0..files {
        // Distinct contents of varied sizes, up to 30 KB: enough files for several batches (and
        // commits) per run, so that kills land between them.
        let size = 1 + random.below(30 * 1024) as usize;
        let mut content = format!("document {i}\n").into_bytes();
        content.resize(size.max(content.len()), b'0' + (i % 10) as u8);
        known.insert(sha256(&content));
        env.source_file(&format!("doc{i:04}.pdf"), &content);
    }
    let archive = env.dir("archive");
    let mut args: Vec<String> = vec![
        "dir".into(),
        "--source".into(),
        env.source.display().to_string(),
        "--dest".into(),
        env.cold.display().to_string(),
        "--min-age".into(),
        "0s".into(),
        "--name".into(),
        "crash".into(),
        "--index".into(),
        "idx".into(),
    ];
    args.extend(
        extra
            .iter()
            .map(|s| s.replace("ARCHIVE", &archive.display().to_string())),
    );
    let visible = || {
        env.cold_names()
            .iter()
            .filter(|n| !n.starts_with('.'))
            .count()
    };
    let loop_ = kill_loop(
        kills,
        &mut random,
        40_000,
        || {
            let mut command = env.command();
            command.args(&args);
            command
        },
        visible,
        |round| check_cold_is_consistent(&env, &known, &format!("after kill {round}")),
    );
    // Clean runs until the source is empty (a capped launcher needs several).
    for _ in 0..=files {
        let ran = env.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        ran.expect_code(0);
        if names(&env.source).is_empty() {
            break;
        }
    }

    // Exactly once each, by content.
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in env.cold_names() {
        assert!(
            !name.starts_with('.'),
            "temporary file {name} left after a clean run\n{}",
            env.listing()
        );
        if name.ends_with(".pdf") {
            seen.entry(sha256(&env.cold_read(&name)))
                .or_default()
                .push(name);
        }
    }
    let twice: Vec<_> = seen.values().filter(|n| n.len() > 1).collect();
    assert!(twice.is_empty(), "deposited more than once: {twice:?}");
    let missing: Vec<_> = known.iter().filter(|h| !seen.contains_key(*h)).collect();
    assert!(
        missing.is_empty(),
        "{} documents lost\n{}",
        missing.len(),
        env.listing()
    );
    assert_eq!(seen.len(), files);
    // Every document has its sidecar.
    for names in seen.values() {
        let stem = names[0].strip_suffix(".pdf").unwrap();
        assert!(
            env.cold.join(format!("{stem}.idx")).exists(),
            "no sidecar for {}",
            names[0]
        );
    }
    assert!(
        names(&env.source).is_empty(),
        "files left at the source\n{}",
        env.listing()
    );
    if extra.contains(&"--archive") {
        assert_eq!(names(&archive).len(), files, "{}", env.listing());
    }
    eprintln!(
        "{} kills, {} runs finished before their kill, {} killed mid-work",
        loop_.rounds, loop_.finished, loop_.mid_work
    );
}

#[test]
fn kill_9_at_random_instants_loses_nothing_and_deposits_nothing_twice() {
    crash_many_times(&[], 1000, 40);
}

#[test]
fn kill_9_with_archive_and_copies() {
    crash_many_times(&["--archive", "ARCHIVE"], 600, 25);
}

#[test]
fn kill_9_with_small_batches_of_a_capped_run() {
    crash_many_times(&["--max-items", "512"], 1000, 30);
}

#[test]
fn leftover_temporary_files_of_this_launcher_are_removed_and_others_kept() {
    let env = TestEnv::new();
    env.source_file("a.pdf", b"a");
    env.run_dir(&["--name", "sweep", "--index", "idx"])
        .expect_code(0);
    assert_eq!(env.cold_names(), vec!["a.idx", "a.pdf"]);
    fs::write(env.cold.join(".someone-else.tmp"), b"not ours").unwrap();
    // A run killed while writing leaves a temporary file of ours that no journal entry knows:
    // reuse the temporary name the journal recorded for a.idx.
    let journal = fs::read_to_string(env.state.join("sweep").join("journal")).unwrap();
    let tmp = journal
        .split("\"sidecar_tmp\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a staged temporary name in the journal")
        .to_string();
    fs::write(env.cold.join(&tmp), b"half written").unwrap();
    env.run_dir(&["--name", "sweep"]).expect_code(0);
    let left = env.cold_names();
    assert!(!left.contains(&tmp), "{left:?}");
    assert!(left.contains(&".someone-else.tmp".to_string()), "{left:?}");
}
