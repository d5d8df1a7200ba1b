//! Whatever is not taken is named: what no envelope can be made of is logged while it may still be
//! arriving, then reported on every run, with exit code 1, once older than `--grace-period`;
//! `lanceur check` lists it for what it is. See: issue 11 (point 3), issue 13 (point 9).

use std::time::{Duration, SystemTime};

use super::*;

/// What no envelope can take, each written a minute ago: (name in the source, what its line says).
fn untaken(env: &TestEnv) -> Vec<(&'static str, &'static str)> {
    let put = |name: &str, bytes: &[u8]| put(env, name, bytes);
    put("scan-0042.pdf", b"%PDF-1.4 a plain file nobody names\n");
    put(
        "EACT--214502494--20170717-6.xml",
        &read_fixture("acte_nature/EACT--214502494--20170717-6.xml"),
    );
    put(
        "045-214502494-20170717-D201717-DE-1-1_0.xml",
        &read_fixture("acte_nature/045-214502494-20170717-D201717-DE-1-1_0.xml"),
    );
    put(
        "rapport.xml",
        b"<?xml version=\"1.0\"?><rapport><ligne>unknown flow</ligne></rapport>",
    );
    put(
        "depot-17/document.pdf",
        b"%PDF-1.4 in a folder without its marker\n",
    );
    // A folder changes when files arrive in it: it too was last touched a minute ago.
    crate::harness::set_folder_modified(
        &env.source.join("depot-17"),
        SystemTime::now() - Duration::from_secs(60),
    );
    vec![
        ("scan-0042.pdf", "not named by any envelope file"),
        (
            "045-214502494-20170717-D201717-DE-1-1_0.xml",
            "waits for the files it names: 045-214502494-20170717-D201717-DE-1-1_1.pdf (not there yet)",
        ),
        ("rapport.xml", "root element rapport lanceur does not know"),
        ("depot-17/", "no completion marker fichier_termine.txt yet"),
    ]
}

#[test]
fn untaken_envelope_files_are_named_once_past_the_grace_period() {
    let env = TestEnv::new();
    let expected = untaken(&env);
    let before = names(&env.source);

    // Within the grace period (one hour by default) they may still be arriving: silent, exit 0.
    run(&env, &[]).expect_code(0).expect_quiet();
    let verbose = run(&env, &["-v"]);
    for (name, what) in &expected {
        assert!(
            verbose.stderr.contains(name) && verbose.stderr.contains(what),
            "-v does not log {name}\n{}",
            verbose.explain()
        );
    }

    // Past it: one line each, naming the file and what is missing or unknown, and exit code 1.
    let log = env.root().join("run.log");
    let ran = run(
        &env,
        &[
            "--grace-period",
            "30s",
            "--json",
            "--log-file",
            log.to_str().unwrap(),
        ],
    );
    ran.expect_code(1);
    let lines: Vec<&str> = ran.stderr.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{}", ran.explain());
    for (name, what) in &expected {
        let line = lines
            .iter()
            .find(|l| l.contains(&format!(": {name}: ")))
            .unwrap_or_else(|| panic!("no line for {name}\n{}", ran.explain()));
        assert!(line.starts_with("lanceur: adullact-"), "{line}");
        assert!(line.contains(what), "{line}");
        assert!(line.contains("longer than --grace-period 30s"), "{line}");
    }
    assert_eq!(ran.summary()["items_failed"], expected.len());
    let logged = fs::read_to_string(&log).unwrap();
    assert_eq!(
        logged
            .lines()
            .filter(|l| l.contains("\"event\":\"not_taken\""))
            .count(),
        expected.len(),
        "{logged}"
    );
    // Nothing was touched.
    assert_eq!(names(&env.source), before);
    assert!(env.cold_names().is_empty(), "{}", env.listing());

    // Said again on the next run, until someone sees to it; then taken, and silence.
    run(&env, &["--grace-period", "30s"]).expect_code(1);
    write_old(
        &env.source
            .join("045-214502494-20170717-D201717-DE-1-1_1.pdf"),
        b"%PDF-1.4 the acte, at last\n",
    );
    write_old(&env.source.join("depot-17/fichier_termine.txt"), b"");
    fs::remove_file(env.source.join("scan-0042.pdf")).unwrap();
    fs::remove_file(env.source.join("rapport.xml")).unwrap();
    run(&env, &["--grace-period", "30s"])
        .expect_code(0)
        .expect_quiet();
    assert!(names(&env.source).is_empty(), "{}", env.listing());
}

#[test]
fn check_lists_untaken_files_for_what_they_are() {
    let env = TestEnv::new();
    let expected = untaken(&env);
    let ran = env.run(&[
        "check",
        "adullact",
        "--source",
        env.source.to_str().unwrap(),
        "--dest",
        env.cold.to_str().unwrap(),
        "--grace-period",
        "30s",
    ]);
    ran.expect_code(0);
    assert!(
        !ran.stdout.contains("temporary or system files"),
        "{}",
        ran.explain()
    );
    assert!(
        ran.stdout.contains(&format!(
            "{} items not taken as they stand ({} past --grace-period: a run reports them and \
             exits 1)",
            expected.len(),
            expected.len()
        )),
        "{}",
        ran.explain()
    );
    for (name, what) in &expected {
        assert!(
            ran.stdout
                .lines()
                .any(|l| l.contains(&format!("! {name}: ")) && l.contains(what)),
            "{name}\n{}",
            ran.explain()
        );
    }
}
