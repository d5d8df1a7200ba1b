//! `lanceur dir` end to end: real folders, the real binary.

use std::collections::BTreeMap;
use std::fs;
use std::time::{Duration, SystemTime};

use crate::harness::{names, sha256, with_private_tmpfs, write_old, TestEnv};

mod growing;

#[test]
fn deposits_files_removes_them_and_says_nothing() {
    let env = TestEnv::new();
    env.source_file("facture-1.pdf", b"%PDF-1.4 one");
    env.source_file("facture-2.pdf", b"%PDF-1.4 two");
    env.run_dir(&[]).expect_code(0).expect_quiet();
    assert_eq!(env.cold_names(), vec!["facture-1.pdf", "facture-2.pdf"]);
    assert_eq!(env.cold_read("facture-2.pdf"), b"%PDF-1.4 two");
    assert!(names(&env.source).is_empty(), "{}", env.listing());
    // Nothing new: still a success, still silent.
    env.run_dir(&[]).expect_code(0).expect_quiet();
}

#[test]
fn filters_choose_files_and_the_rest_stays_at_the_source() {
    let env = TestEnv::new();
    for name in ["a.pdf", "b.db", "c.dbf", "debut_nom_fichier.pdf", "d.PDF"] {
        env.source_file(name, name.as_bytes());
    }
    env.run_dir(&[
        "--filter",
        r"/.*\.(?!db).*/",
        "--exclude",
        "/debut_nom_fichier/",
    ])
    .expect_code(0);
    assert_eq!(env.cold_names(), vec!["a.pdf", "d.PDF"]);
    assert_eq!(
        names(&env.source),
        vec!["b.db", "c.dbf", "debut_nom_fichier.pdf"]
    );
}

#[test]
fn case_insensitive_flag() {
    let env = TestEnv::new();
    env.source_file("a.PDF", b"a");
    env.source_file("b.txt", b"b");
    env.run_dir(&["--filter", r"/.*\.pdf/i"]).expect_code(0);
    assert_eq!(env.cold_names(), vec!["a.PDF"]);
}

#[test]
fn invalid_pattern_is_a_usage_error_that_names_it() {
    let env = TestEnv::new();
    env.source_file("a.pdf", b"a");
    let ran = env.run_dir(&["--filter", "/(?!unclosed/"]);
    ran.expect_code(2)
        .expect_stderr_contains("invalid filter pattern \"/(?!unclosed/\"");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    assert_eq!(names(&env.source), vec!["a.pdf"]);
    assert!(env.cold_names().is_empty());
}

#[test]
fn same_names_from_subfolders_all_survive_and_nothing_is_overwritten() {
    let env = TestEnv::new();
    fs::write(env.cold.join("scan.pdf"), b"already in the COLD").unwrap();
    env.source_file("a/scan.pdf", b"from a");
    env.source_file("b/scan.pdf", b"from b");
    env.source_file("c/Scan.pdf", b"from c");
    env.run_dir(&["--recursive"]).expect_code(0);
    let mut contents: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for name in env.cold_names() {
        contents.insert(name.clone(), env.cold_read(&name));
    }
    assert_eq!(contents["scan.pdf"], b"already in the COLD");
    assert_eq!(contents.len(), 4, "{}", env.listing());
    let mut deposited: Vec<&[u8]> = contents
        .iter()
        .filter(|(n, _)| *n != "scan.pdf")
        .map(|(_, c)| c.as_slice())
        .collect();
    deposited.sort();
    assert_eq!(deposited, vec![&b"from a"[..], b"from b", b"from c"]);
    // Subfolders stay; their files are gone.
    assert!(names(&env.source.join("a")).is_empty());
}

#[test]
#[cfg_attr(
    windows,
    ignore = "file names Windows cannot hold (`:`, `?`, a final dot…)"
)]
fn hostile_names_are_made_safe_and_printed_escaped() {
    let env = TestEnv::new();
    let hostile = [
        ("CON", "_CON"),
        ("aux.txt", "_aux.txt"),
        ("a:b*c?d\"e<f>g|h.pdf", "a_b_c_d_e_f_g_h.pdf"),
        ("back\\slash.pdf", "slash.pdf"),
        ("line\nbreak.pdf", "line_break.pdf"),
        ("invoice\u{202E}fdp.exe", "invoice_fdp.exe"),
        ("trailing dot.", "trailing dot"),
        ("esc\x1b[31mred.pdf", "esc_[31mred.pdf"),
    ];
    for (raw, _) in hostile {
        env.source_file(raw, raw.as_bytes());
    }
    let long = format!("{}.pdf", "x".repeat(250));
    env.source_file(&long, b"long");
    env.run_dir(&["-v"]).expect_code(0);
    for (raw, safe) in hostile {
        assert_eq!(env.cold_read(safe), raw.as_bytes(), "{raw:?} → {safe:?}");
    }
    let long_name = env
        .cold_names()
        .into_iter()
        .find(|n| n.starts_with("xxx"))
        .expect("long name deposited");
    assert!(
        long_name.len() <= 200 && long_name.ends_with(".pdf"),
        "{long_name}"
    );
    assert_eq!(
        env.cold_names().len(),
        hostile.len() + 1,
        "{}",
        env.listing()
    );
}

#[test]
#[cfg_attr(
    windows,
    ignore = "file names Windows cannot hold (`:`, `?`, a final dot…)"
)]
fn hostile_name_in_an_error_line_cannot_reach_the_terminal() {
    let env = TestEnv::new();
    let hostile = "evil\x1b]0;pwned\x07\u{202E}.pdf";
    env.source_file(hostile, b"x");
    let ran = env.run_dir(&["--dry-run"]);
    ran.expect_code(0);
    assert!(
        !ran.stdout.contains('\x1b') && !ran.stdout.contains('\u{202E}'),
        "{}",
        ran.explain()
    );
    assert!(
        ran.stdout
            .contains("evil\\u{1b}]0;pwned\\u{7}\\u{202e}.pdf"),
        "{}",
        ran.explain()
    );
}

#[test]
fn temporary_hidden_and_young_files_are_left_alone() {
    let env = TestEnv::new();
    for name in [
        "a.part",
        "b.filepart",
        "c.tmp",
        "~$d.docx",
        "Thumbs.db",
        "desktop.ini",
        ".hidden.pdf",
        "e.crdownload",
    ] {
        env.source_file(name, b"x");
    }
    env.source_file("ok.pdf", b"ok");
    fs::write(env.source.join("young.pdf"), b"still being scanned").unwrap();
    env.run(&[
        "dir",
        "--source",
        env.source.to_str().unwrap(),
        "--dest",
        env.cold.to_str().unwrap(),
        "--min-age",
        "30s",
    ])
    .expect_code(0)
    .expect_quiet();
    assert_eq!(env.cold_names(), vec!["ok.pdf"]);
    assert_eq!(names(&env.source).len(), 9, "{}", env.listing());
    assert!(env.source.join("young.pdf").exists());
}

#[test]
fn archive_keeps_subfolders_and_numbers_clashes() {
    let env = TestEnv::new();
    let archive = env.dir("archive");
    fs::create_dir_all(archive.join("2024")).unwrap();
    fs::write(archive.join("2024/a.pdf"), b"archived earlier").unwrap();
    env.source_file("2024/a.pdf", b"new a");
    env.source_file("b.pdf", b"new b");
    env.run_dir(&["--recursive", "--archive", archive.to_str().unwrap()])
        .expect_code(0);
    assert_eq!(env.cold_names(), vec!["a.pdf", "b.pdf"]);
    assert_eq!(
        fs::read(archive.join("2024/a.pdf")).unwrap(),
        b"archived earlier"
    );
    assert_eq!(fs::read(archive.join("2024/a_2.pdf")).unwrap(), b"new a");
    assert_eq!(fs::read(archive.join("b.pdf")).unwrap(), b"new b");
    // The COLD copy is its own file, not a second name of the archived one.
    fs::write(env.cold.join("b.pdf"), b"changed by the COLD").unwrap();
    assert_eq!(fs::read(archive.join("b.pdf")).unwrap(), b"new b");
    assert!(names(&env.source.join("2024")).is_empty());
}

#[test]
fn idx_sidecar_describes_the_document() {
    let env = TestEnv::new();
    let content = b"%PDF-1.7 facture";
    env.source_file("Facture n°7.pdf", content);
    env.run_dir(&["--index", "idx", "--name", "factures"])
        .expect_code(0);
    assert_eq!(env.cold_names(), vec!["Facture n°7.idx", "Facture n°7.pdf"]);
    let idx = String::from_utf8(env.cold_read("Facture n°7.idx")).unwrap();
    let fields: BTreeMap<&str, &str> = idx
        .lines()
        .map(|l| l.split_once(" = ").expect("FIELD = value"))
        .collect();
    assert_eq!(fields["ORIGINAL_NAME"], "Facture n°7.pdf");
    assert_eq!(
        fields["SOURCE_PATH"],
        env.source.join("Facture n°7.pdf").to_str().unwrap()
    );
    assert_eq!(fields["SIZE"], content.len().to_string());
    assert_eq!(fields["SHA256"], sha256(content));
    assert_eq!(fields["LAUNCHER"], "factures");
    assert!(
        fields["MODIFIED"].ends_with('Z') && fields.contains_key("DEPOSIT_TIME"),
        "{idx}"
    );
}

#[test]
fn json_sidecar_and_summary() {
    let env = TestEnv::new();
    env.source_file("a.pdf", b"aaaa");
    env.source_file("b.db", b"bb");
    let ran = env.run_dir(&["--index", "json", "--json", "--exclude", r"/.*\.db/"]);
    ran.expect_code(0);
    let summary = ran.summary();
    assert_eq!(summary["items_seen"], 2);
    assert_eq!(summary["items_deposited"], 1);
    assert_eq!(summary["items_skipped"], 1);
    assert_eq!(summary["items_failed"], 0);
    assert_eq!(summary["bytes_deposited"], 4);
    assert_eq!(summary["exit_code"], 0);
    assert!(summary["duration_ms"].is_u64());
    let sidecar: serde_json::Value = serde_json::from_slice(&env.cold_read("a.pdf.json")).unwrap();
    assert_eq!(sidecar["original_name"], "a.pdf");
    assert_eq!(sidecar["sha256"], sha256(b"aaaa"));
}

#[test]
fn max_items_takes_the_oldest_first() {
    let env = TestEnv::new();
    let now = SystemTime::now();
    for (i, name) in ["c.pdf", "a.pdf", "b.pdf"].iter().enumerate() {
        let path = env.source.join(name);
        write_old(&path, name.as_bytes());
        let age = Duration::from_secs(300 - 60 * i as u64);
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(now - age)
            .unwrap();
    }
    env.run_dir(&["--max-items", "2"]).expect_code(0);
    assert_eq!(env.cold_names(), vec!["a.pdf", "c.pdf"]);
    env.run_dir(&["--max-items", "2"]).expect_code(0);
    assert_eq!(env.cold_names(), vec!["a.pdf", "b.pdf", "c.pdf"]);
}

#[test]
fn dry_run_changes_nothing_anywhere() {
    let env = TestEnv::new();
    env.source_file("a.pdf", b"a");
    env.source_file("b.db", b"b");
    env.source_file("c.part", b"c");
    let before = env.listing();
    let ran = env.run_dir(&["--dry-run", "--exclude", r"/.*\.db/", "--index", "idx"]);
    ran.expect_code(0);
    assert_eq!(
        env.listing(),
        before,
        "dry run changed files\n{}",
        ran.explain()
    );
    assert!(!env.state.exists(), "dry run created the state folder");
    assert!(
        ran.stdout.contains("deposit  a.pdf  ->  a.pdf (+ a.idx)"),
        "{}",
        ran.explain()
    );
    assert!(
        ran.stdout
            .contains("skip     b.db  (excluded by /.*\\.db/)"),
        "{}",
        ran.explain()
    );
    assert!(
        ran.stdout.contains("skip     c.part  (temporary name"),
        "{}",
        ran.explain()
    );
}

#[test]
fn missing_cold_folder_is_exit_5_and_never_created() {
    let env = TestEnv::new();
    env.source_file("a.pdf", b"a");
    let missing = env.root().join("not-mounted");
    let ran = env.run(&[
        "dir",
        "--source",
        env.source.to_str().unwrap(),
        "--dest",
        missing.to_str().unwrap(),
    ]);
    ran.expect_code(5)
        .expect_stderr_contains("is not reachable (is the share mounted?");
    assert!(!missing.exists());
    assert_eq!(names(&env.source), vec!["a.pdf"]);
}

#[test]
fn missing_source_folder_is_exit_4() {
    let env = TestEnv::new();
    let ran = env.run(&[
        "dir",
        "--source",
        env.root().join("nope").to_str().unwrap(),
        "--dest",
        env.cold.to_str().unwrap(),
    ]);
    ran.expect_code(4).expect_stderr_contains("source folder");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
}

#[test]
#[cfg_attr(windows, ignore = "a private tmpfs through unshare(1): Linux only")]
fn read_only_cold_folder_is_exit_5_and_the_source_is_untouched() {
    let env = TestEnv::new();
    env.source_file("a.pdf", b"a");
    let args = [
        "dir",
        "--source",
        env.source.to_str().unwrap(),
        "--dest",
        env.cold.to_str().unwrap(),
        "--min-age",
        "0s",
    ];
    let ran = env.run_command(with_private_tmpfs(
        &env,
        &env.cold,
        "ro,size=1m",
        None,
        &args,
    ));
    ran.expect_code(5).expect_stderr_contains("not writable");
    assert_eq!(names(&env.source), vec!["a.pdf"]);
    assert!(!env.state.join("journal").exists());
}

#[test]
#[cfg_attr(windows, ignore = "a private tmpfs through unshare(1): Linux only")]
fn full_cold_folder_is_exit_5_and_nothing_is_lost() {
    let env = TestEnv::new();
    // Twenty 100 KB files into a 1 MB file system: some fit, then the disk is full.
    let mut contents = Vec::new();
    for i in 0..20 {
        let content = vec![b'a' + (i % 26) as u8; 100 * 1024];
        env.source_file(&format!("doc{i:02}.pdf"), &content);
        contents.push(content);
    }
    let archive = env.dir("archive");
    let args = [
        "dir",
        "--source",
        env.source.to_str().unwrap(),
        "--dest",
        env.cold.to_str().unwrap(),
        "--min-age",
        "0s",
        "--archive",
        archive.to_str().unwrap(),
        "--name",
        "full",
    ];
    let ran = env.run_command(with_private_tmpfs(&env, &env.cold, "size=1m", None, &args));
    ran.expect_code(5)
        .expect_stderr_contains("the disk is full");
    // The tmpfs vanished with its namespace; what counts is that every file is still at the
    // source or was archived after a durable deposit. None may be missing.
    let left = names(&env.source).len();
    let archived = names(&archive).len();
    assert_eq!(left + archived, 20, "{}", ran.explain());
    assert!(
        left > 0,
        "nothing was refused, the disk was not full\n{}",
        ran.explain()
    );
}

#[test]
fn a_held_lock_makes_the_second_run_exit_6_at_once() {
    let env = TestEnv::new();
    env.source_file("a.pdf", b"a");
    let state = env.state.join("locked");
    fs::create_dir_all(&state).unwrap();
    let lock = fs::File::create(state.join("lock")).unwrap();
    lock.try_lock().unwrap();
    // cron would mail a line every minute for a run that did nothing wrong: only -v says it.
    // See: issue 16.
    env.run_dir(&["--name", "locked"])
        .expect_code(6)
        .expect_quiet();
    let ran = env.run_dir(&["--name", "locked", "-v"]);
    ran.expect_code(6).expect_stderr_contains(
        "lanceur: locked: already running: another run of this launcher is still working",
    );
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    let ran = env.run_dir(&["--name", "locked", "--json"]);
    ran.expect_code(6);
    assert_eq!(ran.summary()["exit_code"], 6, "{}", ran.explain());
    assert!(ran.stderr.is_empty(), "{}", ran.explain());
    assert_eq!(names(&env.source), vec!["a.pdf"]);
    drop(lock);
    env.run_dir(&["--name", "locked"]).expect_code(0);
    assert_eq!(env.cold_names(), vec!["a.pdf"]);
}

#[test]
fn a_lock_file_left_by_a_killed_run_does_not_block() {
    let env = TestEnv::new();
    env.source_file("a.pdf", b"a");
    let state = env.state.join("killed");
    fs::create_dir_all(&state).unwrap();
    fs::write(state.join("lock"), "pid 999999 since 2020-01-01T00:00:00Z").unwrap();
    env.run_dir(&["--name", "killed"]).expect_code(0);
    assert_eq!(env.cold_names(), vec!["a.pdf"]);
}

#[test]
fn two_real_runs_at_once_one_works_the_other_exits_6() {
    let env = TestEnv::new();
    for i in 0..3000 {
        env.source_file(&format!("f{i:04}.pdf"), format!("{i}").as_bytes());
    }
    // Start many runs together until two overlap; each must exit 0 or 6, never anything else.
    let mut saw_locked = false;
    for _ in 0..20 {
        let spawn = || {
            let mut command = env.command();
            command
                .args(["dir", "--source", env.source.to_str().unwrap(), "--dest"])
                .arg(&env.cold)
                .args(["--min-age", "0s", "--name", "race", "--index", "idx"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            command.spawn().unwrap()
        };
        let (first, second) = (spawn(), spawn());
        for child in [first, second] {
            let output = child.wait_with_output().unwrap();
            let code = output.status.code();
            assert!(
                code == Some(0) || code == Some(6),
                "exit {code:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            saw_locked |= code == Some(6);
        }
        if saw_locked || names(&env.source).is_empty() {
            break;
        }
    }
    assert!(saw_locked, "no overlapping run was seen\n{}", env.listing());
    // Whatever overlapped, each file is deposited once.
    env.run_dir(&["--name", "race", "--index", "idx"])
        .expect_code(0);
    let docs: Vec<String> = env
        .cold_visible()
        .into_iter()
        .filter(|n| n.ends_with(".pdf"))
        .collect();
    assert_eq!(docs.len(), 3000);
}

#[test]
#[cfg_attr(windows, ignore = "a private tmpfs through unshare(1): Linux only")]
fn a_cold_folder_on_another_volume_gets_copies_and_the_sources_go() {
    let env = TestEnv::new();
    env.source_file("a.pdf", b"first");
    env.source_file("sub/b.pdf", &vec![7u8; 3 << 20]);
    let kept = env.dir("cold-content");
    let args = [
        "dir",
        "--source",
        env.source.to_str().unwrap(),
        "--dest",
        env.cold.to_str().unwrap(),
        "--min-age",
        "0s",
        "--recursive",
        "--index",
        "json",
    ];
    let ran = env.run_command(with_private_tmpfs(
        &env,
        &env.cold,
        "size=16m",
        Some(&kept),
        &args,
    ));
    ran.expect_code(0);
    assert_eq!(
        names(&kept),
        vec!["a.pdf", "a.pdf.json", "b.pdf", "b.pdf.json"],
        "{}",
        ran.explain()
    );
    assert_eq!(fs::read(kept.join("a.pdf")).unwrap(), b"first");
    assert_eq!(fs::read(kept.join("b.pdf")).unwrap(), vec![7u8; 3 << 20]);
    let sidecar: serde_json::Value =
        serde_json::from_slice(&fs::read(kept.join("b.pdf.json")).unwrap()).unwrap();
    assert_eq!(sidecar["sha256"], sha256(&vec![7u8; 3 << 20]));
    assert!(names(&env.source.join("sub")).is_empty() && !env.source.join("a.pdf").exists());
}
