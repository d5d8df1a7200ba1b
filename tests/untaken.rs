//! Whatever is not taken is named: files a folder source cannot take as they stand are logged while
//! they may still be arriving, then reported on every run, with exit code 1, once older than
//! `--grace-period`; `lanceur check` lists them for what they are. See: issue 11 (point 3), issue 13
//! (point 9).

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, SystemTime};
use std::{fs, path::Path};

use crate::harness::{names, write_old, Ran, TestEnv};

fn fixture(relative: &str) -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/adullact")
            .join(relative),
    )
    .unwrap()
}

/// What no envelope can take, each written a minute ago: (name in the source, what its line says).
fn untaken(env: &TestEnv) -> Vec<(&'static str, &'static str)> {
    let put = |name: &str, bytes: &[u8]| write_old(&env.source.join(name), bytes);
    put("scan-0042.pdf", b"%PDF-1.4 a plain file nobody names\n");
    put(
        "EACT--214502494--20170717-6.xml",
        &fixture("acte_nature/EACT--214502494--20170717-6.xml"),
    );
    put(
        "045-214502494-20170717-D201717-DE-1-1_0.xml",
        &fixture("acte_nature/045-214502494-20170717-D201717-DE-1-1_0.xml"),
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
    let folder = fs::File::open(env.source.join("depot-17")).unwrap();
    folder
        .set_modified(SystemTime::now() - Duration::from_secs(60))
        .unwrap();
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

fn adullact(env: &TestEnv, extra: &[&str]) -> Ran {
    let mut args = vec![
        "adullact",
        "--source",
        env.source.to_str().unwrap(),
        "--dest",
        env.cold.to_str().unwrap(),
        "--min-age",
        "0s",
    ];
    args.extend_from_slice(extra);
    env.run(&args)
}

#[test]
fn untaken_envelope_files_are_named_once_past_the_grace_period() {
    let env = TestEnv::new();
    let expected = untaken(&env);
    let before = names(&env.source);

    // Within the grace period (one hour by default) they may still be arriving: silent, exit 0.
    adullact(&env, &[]).expect_code(0).expect_quiet();
    let verbose = adullact(&env, &["-v"]);
    for (name, what) in &expected {
        assert!(
            verbose.stderr.contains(name) && verbose.stderr.contains(what),
            "-v does not log {name}\n{}",
            verbose.explain()
        );
    }

    // Past it: one line each, naming the file and what is missing or unknown, and exit code 1.
    let log = env.root().join("run.log");
    let ran = adullact(
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
    assert_eq!(ran.summary()["failed"], expected.len());
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
    adullact(&env, &["--grace-period", "30s"]).expect_code(1);
    write_old(
        &env.source
            .join("045-214502494-20170717-D201717-DE-1-1_1.pdf"),
        b"%PDF-1.4 the acte, at last\n",
    );
    write_old(&env.source.join("depot-17/fichier_termine.txt"), b"");
    fs::remove_file(env.source.join("scan-0042.pdf")).unwrap();
    fs::remove_file(env.source.join("rapport.xml")).unwrap();
    adullact(&env, &["--grace-period", "30s"])
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
    let dir = |extra: &[&str]| {
        let mut args = vec![
            "dir",
            "--source",
            env.source.to_str().unwrap(),
            "--dest",
            env.cold.to_str().unwrap(),
            "--min-age",
            "0s",
        ];
        args.extend_from_slice(extra);
        without_root_powers(&env, &args)
    };
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
