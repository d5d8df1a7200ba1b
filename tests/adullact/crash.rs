//! `kill -9` at random instants during `lanceur adullact` runs over envelopes of every shape, then
//! clean runs: each envelope's documents are in the COLD folder exactly once, none is lost, no
//! partial file is ever visible, and the source folder ends empty. See: issue 6.

use std::collections::{BTreeMap, BTreeSet};

use super::{put, tar_gz_of, zip_of};
use crate::harness::{kill_loop, names, sha256, with_private_tmpfs, Random, TestEnv};

/// Puts envelope `i` in the source folder, in one of four shapes, and returns the contents of the
/// documents it must deposit.
fn put_envelope(env: &TestEnv, i: usize, random: &mut Random) -> Vec<Vec<u8>> {
    let mut doc = format!("%PDF-1.4 envelope {i}\n").into_bytes();
    doc.resize(
        doc.len() + random.below(150 * 1024) as usize,
        b'a' + (i % 26) as u8,
    );
    let annex = format!("%PDF-1.4 annex of envelope {i}\n").into_bytes();
    let metadata = format!(
        "{{\"objet\":\"envelope {i}\",\"fichier\":[\"doc{i}.pdf\"],\"annexe\":[\"annex{i}.pdf\"]}}"
    )
    .into_bytes();
    let doc_name = format!("doc{i}.pdf");
    let annex_name = format!("annex{i}.pdf");
    match i % 4 {
        0 => put(
            env,
            &format!("env{i}.zip"),
            &zip_of(&[
                ("metadata.json", &metadata),
                (&doc_name, &doc),
                (&annex_name, &annex),
            ]),
        ),
        1 => {
            put(env, &format!("env{i}/metadata.json"), &metadata);
            put(env, &format!("env{i}/{doc_name}"), &doc);
            put(env, &format!("env{i}/{annex_name}"), &annex);
            put(env, &format!("env{i}/fichier_termine.txt"), b"fin");
        }
        2 => {
            // Loose files: acknowledging them takes several renames.
            put(env, &format!("metadata_{i}.json"), &metadata);
            put(env, &doc_name, &doc);
            put(env, &annex_name, &annex);
        }
        _ => put(
            env,
            &format!("env{i}.tar.gz"),
            &tar_gz_of(&[
                ("metadata.json", &metadata),
                (&doc_name, &doc),
                (&annex_name, &annex),
            ]),
        ),
    }
    vec![doc, annex, metadata]
}

fn args(env: &TestEnv, archive: Option<&str>, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "adullact",
        "--source",
        env.source.to_str().unwrap(),
        "--dest",
        env.cold.to_str().unwrap(),
        "--min-age",
        "0s",
        "--name",
        "crash",
        "--index",
        "idx",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(archive) = archive {
        args.extend(["--archive".to_string(), archive.to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Visible COLD files are complete known documents or sidecars beside their document.
fn check_cold(env: &TestEnv, known: &BTreeSet<String>, context: &str) {
    let visible = env.cold_visible();
    for name in &visible {
        if let Some(stem) = name.strip_suffix(".idx") {
            assert!(
                visible
                    .iter()
                    .any(|n| n != name && n.starts_with(&format!("{stem}."))),
                "sidecar {name} without its document {context}\n{}",
                env.listing()
            );
            continue;
        }
        let sha = sha256(&env.cold_read(name));
        assert!(
            known.contains(&sha),
            "partial or unknown document {name} visible {context}\n{}",
            env.listing()
        );
    }
}

/// `kills` runs, each killed after a random delay below `max_delay_ms` unless done by then.
fn crash_many_times(
    envelopes: usize,
    kills: usize,
    max_delay_ms: u64,
    archive: bool,
    extra: &[&str],
) {
    let env = TestEnv::new();
    let archive_dir = env.dir("archive");
    let archive_arg = archive.then(|| archive_dir.to_str().unwrap().to_string());
    let mut random = Random::from_time();
    let mut known = BTreeSet::new();
    for i in 0..envelopes {
        for content in put_envelope(&env, i, &mut random) {
            known.insert(sha256(&content));
        }
    }
    let args = args(&env, archive_arg.as_deref(), extra);
    let kills = kill_loop(
        kills,
        &mut random,
        max_delay_ms * 1000,
        || {
            let mut command = env.command();
            command.args(&args);
            command
        },
        || {
            env.cold_names()
                .iter()
                .filter(|n| !n.starts_with('.'))
                .count()
        },
        |round| check_cold(&env, &known, &format!("after kill {round}")),
    );
    eprintln!(
        "{} kills, {} runs finished before their kill, {} killed mid-work",
        kills.rounds, kills.finished, kills.mid_work
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Clean runs until the source is empty (a capped launcher needs several).
    for _ in 0..=envelopes {
        env.run(&args).expect_code(0);
        if names(&env.source).iter().all(|n| n.starts_with('.')) {
            break;
        }
    }
    // A run killed after hiding a deposited folder leaves it for the next acknowledgement to
    // delete: one more envelope makes that happen.
    let last = put_envelope(&env, envelopes, &mut random);
    known.extend(last.iter().map(|c| sha256(c)));
    env.run(&args).expect_code(0);

    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in env.cold_names() {
        assert!(
            !name.starts_with('.'),
            "temporary {name} left\n{}",
            env.listing()
        );
        if !name.ends_with(".idx") {
            seen.entry(sha256(&env.cold_read(&name)))
                .or_default()
                .push(name);
        }
    }
    let twice: Vec<_> = seen.values().filter(|n| n.len() > 1).collect();
    assert!(twice.is_empty(), "deposited more than once: {twice:?}");
    let missing = known.iter().filter(|h| !seen.contains_key(*h)).count();
    assert_eq!(missing, 0, "documents lost\n{}", env.listing());
    assert_eq!(seen.len(), known.len(), "{}", env.listing());
    assert!(
        names(&env.source).is_empty(),
        "source not empty\n{}",
        env.listing()
    );
    if archive {
        // Every envelope's files (folders as folders) reached the archive.
        let archived = names(&archive_dir);
        assert!(archived.len() >= envelopes, "{}", env.listing());
    }
}

#[test]
fn kill_9_during_adullact_runs_deposits_each_envelope_once() {
    // One uncapped run takes about 200 ms here (debug build): kills land in every phase.
    crash_many_times(60, 30, 150, false, &[]);
}

#[test]
fn kill_9_during_adullact_runs_with_archive() {
    crash_many_times(40, 40, 25, true, &["--max-items", "5"]);
}

#[test]
fn kill_9_during_small_capped_adullact_runs() {
    // Small capped runs: many acknowledgements, each a window for a kill.
    crash_many_times(40, 60, 20, false, &["--max-items", "3"]);
}

#[test]
#[cfg_attr(windows, ignore = "a private tmpfs through unshare(1): Linux only")]
fn an_acknowledgement_that_failed_half_way_is_finished_by_the_next_run() {
    let env = TestEnv::new();
    let archive = env.dir("archive");
    let mut random = Random::new(7);
    let mut known = BTreeSet::new();
    // A loose group (acknowledged through a hidden staging folder) and a folder envelope.
    for i in [1, 2] {
        for content in put_envelope(&env, i, &mut random) {
            known.insert(sha256(&content));
        }
    }
    let args = args(&env, archive.to_str(), &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // The archive folder is read-only for this run: deposits succeed, moving to the archive fails.
    let ran = env.run_command(with_private_tmpfs(
        &env,
        &archive,
        "ro,size=1m",
        None,
        &args,
    ));
    ran.expect_code(1)
        .expect_stderr_contains("it will be acknowledged on the next run, not deposited again");
    let deposited = env.cold_visible().len();
    assert_eq!(deposited, 2 * known.len(), "{}", ran.explain());
    let left = names(&env.source);
    assert!(
        left.iter().any(|n| n.starts_with(".lanceur-ack-")),
        "the loose files were gathered aside first\n{}",
        ran.explain()
    );
    env.run(&args).expect_code(0);
    assert_eq!(env.cold_visible().len(), deposited, "{}", env.listing());
    assert!(names(&env.source).is_empty(), "{}", env.listing());
    assert_eq!(
        names(&archive),
        vec!["annex2.pdf", "doc2.pdf", "env1", "metadata_2.json"]
    );
}
