//! Launcher files (`lanceur run FILE`): each protocol's file gives the same launcher as the same
//! options on the command line, command-line options override the file, secrets in a file that
//! others can read draw a warning, and a file launcher really runs.

use std::fs;
use std::path::Path;

#[cfg(unix)]
use crate::harness::dovecot::Dovecot;
#[cfg(unix)]
use crate::harness::mail::{fake_pdf, mail, Part};
#[cfg(unix)]
use crate::harness::names;
use crate::harness::TestEnv;

mod errors;

/// The `Launcher` a run parsed, as `-vv` logs it (secrets redacted), without the log prefix.
fn parsed_launcher(stderr: &str) -> String {
    let start = stderr
        .find("Launcher {")
        .unwrap_or_else(|| panic!("no launcher dump in:\n{stderr}"));
    let dump = &stderr[start..];
    // env_logger indents the lines after the first by four spaces.
    let end = dump.find("\n    }\n").expect("end of the launcher dump") + 6;
    dump[..end].to_string()
}

fn write_file(path: &Path, text: &str, mode: u32) {
    fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }
    // On Windows the file takes the ACL of the test's folder, the user's own.
    #[cfg(not(unix))]
    let _ = mode;
}

/// Runs the launcher file and the command line with `-vv` and compares what each parsed.
fn same_launcher(env: &TestEnv, file_text: &str, command_line: &[&str]) {
    let file = env.root().join("same.toml");
    write_file(&file, file_text, 0o600);
    let by_file = env.run(&["run", file.to_str().unwrap(), "--verbose", "--verbose"]);
    let mut args: Vec<&str> = command_line.to_vec();
    args.extend(["--name", "same", "--verbose", "--verbose"]);
    let by_line = env.run(&args);
    assert_eq!(
        parsed_launcher(&by_file.stderr),
        parsed_launcher(&by_line.stderr),
        "file:\n{}\ncommand line:\n{}",
        by_file.explain(),
        by_line.explain()
    );
    assert_eq!(
        by_file.code,
        by_line.code,
        "{}\n{}",
        by_file.explain(),
        by_line.explain()
    );
}

#[test]
fn each_protocol_reads_the_same_launcher_from_a_file_as_from_the_command_line() {
    let env = TestEnv::new();
    let root = env.root().display().to_string();
    let source = env.source.display().to_string();
    let cold = env.cold.display().to_string();
    let archive = env.dir("archive").display().to_string();
    let password = env.secret_file("pw", "secret\n").display().to_string();

    same_launcher(
        &env,
        &format!(
            "protocol = 'dir'\nsource = 'source'\ndest = '{cold}'\nfilter = ['/.*\\.pdf/i', 'b.*']\n\
             exclude = ['x']\nrecursive = true\nmin-age = '7s'\narchive = 'archive'\nindex = 'idx'\n\
             max-items = 9\nmax-bytes = '2M'\ndry-run = true\njson = true\n"
        ),
        &[
            "dir", "--source", &source, "--dest", &cold, "--filter", "/.*\\.pdf/i", "--filter",
            "b.*", "--exclude", "x", "--recursive", "--min-age", "7s", "--archive", &archive,
            "--index", "idx", "--max-items", "9", "--max-bytes", "2M", "--dry-run", "--json",
        ],
    );
    same_launcher(
        &env,
        &format!(
            "protocol = 'imap'\nserver = '127.0.0.1'\nport = 1\naccount = 'a@b.c'\n\
             password-file = 'pw'\nfolder = 'Reçus'\nselect = 'all'\nsince = '2025-01-31'\n\
             after = 'move'\nmove-to = 'Archives'\ntake = 'both'\ntimeout = '3s'\ndest = '{cold}'\n"
        ),
        &[
            "imap",
            "--server",
            "127.0.0.1",
            "--port",
            "1",
            "--account",
            "a@b.c",
            "--password-file",
            &password,
            "--folder",
            "Reçus",
            "--select",
            "all",
            "--since",
            "2025-01-31",
            "--after",
            "move",
            "--move-to",
            "Archives",
            "--take",
            "both",
            "--timeout",
            "3s",
            "--dest",
            &cold,
        ],
    );
    same_launcher(
        &env,
        &format!(
            "protocol = 'pop'\nserver = '127.0.0.1'\nport = 1\naccount = 'a'\n\
             password-file = '{password}'\ntls = 'none'\nkeep = true\ndelete-after = 30\n\
             dest = '{cold}'\n"
        ),
        &[
            "pop",
            "--server",
            "127.0.0.1",
            "--port",
            "1",
            "--account",
            "a",
            "--password-file",
            &password,
            "--tls",
            "none",
            "--keep",
            "--delete-after",
            "30",
            "--dest",
            &cold,
        ],
    );
    same_launcher(
        &env,
        &format!(
            "protocol = 'o365'\nclient-id = 'c1'\ntenant = 'example.fr'\n\
             mailbox = 'factures@example.fr:inbox'\nlogin-url = 'http://127.0.0.1:1'\n\
             graph-url = 'http://127.0.0.1:1/v1.0'\nafter = 'keep'\ndest = '{cold}'\n\
             state-dir = '{root}/state'\n"
        ),
        &[
            "o365",
            "--client-id",
            "c1",
            "--tenant",
            "example.fr",
            "--mailbox",
            "factures@example.fr:inbox",
            "--login-url",
            "http://127.0.0.1:1",
            "--graph-url",
            "http://127.0.0.1:1/v1.0",
            "--after",
            "keep",
            "--dest",
            &cold,
            "--state-dir",
            &format!("{root}/state"),
        ],
    );
    same_launcher(
        &env,
        &format!(
            "protocol = 'adullact'\nsource = '{source}'\ndest = '{cold}'\ntype = 'helios'\n\
             marker = 'fini.txt'\ndry-run = true\n"
        ),
        &[
            "adullact",
            "--source",
            &source,
            "--dest",
            &cold,
            "--type",
            "helios",
            "--marker",
            "fini.txt",
            "--dry-run",
        ],
    );
}

#[test]
fn a_file_launcher_runs_under_the_files_name_and_options_after_it_override_the_file() {
    let env = TestEnv::new();
    env.source_file("a.pdf", b"a");
    env.source_file("b.txt", b"b");
    let file = env.root().join("scans.toml");
    write_file(
        &file,
        "protocol = \"dir\"\nsource = \"source\"\ndest = \"cold\"\nfilter = ['.*\\.pdf']\n\
         min-age = \"1h\"\n",
        0o644,
    );
    // min-age 1h keeps both files back; the command line overrides it, and replaces the filter.
    env.run(&["run", file.to_str().unwrap()])
        .expect_code(0)
        .expect_quiet();
    assert!(env.cold_names().is_empty());
    env.run(&[
        "run",
        file.to_str().unwrap(),
        "--min-age",
        "0s",
        "--filter",
        ".*\\.txt",
    ])
    .expect_code(0)
    .expect_quiet();
    assert_eq!(env.cold_names(), vec!["b.txt"]);
    assert!(
        env.state.join("scans").join("journal").exists(),
        "{}",
        env.listing()
    );
    // --config FILE is the same as run FILE.
    env.run(&["--config", file.to_str().unwrap(), "--min-age", "0s"])
        .expect_code(0);
    assert_eq!(env.cold_names(), vec!["a.pdf", "b.txt"]);
}

#[test]
fn mistakes_in_a_launcher_file_are_usage_errors_that_name_the_file() {
    let env = TestEnv::new();
    let file = env.root().join("bad.toml");
    write_file(&file, "protocol = \"dir\"\nsorce = \"x\"\n", 0o600);
    let ran = env.run(&["run", file.to_str().unwrap()]);
    ran.expect_code(2)
        .expect_stderr_contains("bad.toml")
        .expect_stderr_contains("unknown setting \"sorce\"");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    env.run(&["run", env.root().join("missing.toml").to_str().unwrap()])
        .expect_code(2)
        .expect_stderr_contains("cannot read launcher file");
}

// Against the harness's Dovecot (Linux only); tests/windows/ has the Windows warning.
#[cfg(unix)]
#[test]
fn an_imap_launcher_file_with_its_password_deposits_and_warns_when_others_can_read_it() {
    let user = Dovecot::get().user("file");
    let pdf = fake_pdf(41, 3000);
    user.deliver(&mail(
        "Facture",
        "<file-1@test>",
        Part::pdf("facture.pdf", &pdf),
    ));
    let env = TestEnv::new();
    let args = user.imap_args("INBOX");
    let value = |flag: &str| {
        let at = args.iter().position(|a| a == flag).unwrap();
        args[at + 1].clone()
    };
    let text = format!(
        "protocol = \"imap\"\nserver = \"{}\"\nport = {}\naccount = \"{}\"\npassword = \"{}\"\n\
         ca-file = \"{}\"\nfolder = \"INBOX\"\ndest = \"{}\"\n",
        value("--server"),
        value("--port"),
        value("--account"),
        user.password,
        value("--ca-file"),
        env.cold.display()
    );
    let file = env.root().join("factures.toml");
    write_file(&file, &text, 0o644);
    let ran = env.run(&["run", file.to_str().unwrap(), "--dry-run"]);
    ran.expect_code(0)
        .expect_stderr_contains("holds a secret but other users can read it");
    assert!(!ran.stderr.contains(&user.password), "{}", ran.explain());
    write_file(&file, &text, 0o600);
    env.run(&["run", file.to_str().unwrap()])
        .expect_code(0)
        .expect_quiet();
    assert_eq!(env.cold_read("facture.pdf"), pdf);
    assert!(user.messages("INBOX")[0].seen());
    assert_eq!(names(&env.state), vec!["factures"]);
}

#[test]
fn check_accepts_a_launcher_file_and_changes_nothing() {
    let env = TestEnv::new();
    env.source_file("a.pdf", b"a");
    let file = env.root().join("scans.toml");
    write_file(
        &file,
        "protocol = \"dir\"\nsource = \"source\"\ndest = \"cold\"\nmin-age = \"0s\"\n",
        0o600,
    );
    let before = env.listing();
    let ran = env.run(&["check", file.to_str().unwrap()]);
    ran.expect_code(0);
    assert!(
        ran.stdout.starts_with("launcher scans: ready"),
        "{}",
        ran.explain()
    );
    assert!(ran.stdout.contains("1 item"), "{}", ran.explain());
    assert_eq!(
        env.listing(),
        before,
        "check changed files\n{}",
        ran.explain()
    );
    // The options after the file still override it: a missing source is exit 4.
    let missing = env.root().join("missing");
    env.run(&[
        "check",
        file.to_str().unwrap(),
        "--source",
        missing.to_str().unwrap(),
    ])
    .expect_code(4);
}

// A password file others can read is as exposed as a launcher file holding the password. See:
// issue 14 (tests/windows/acl.rs has the Windows side, by ACL).
#[cfg(unix)]
#[test]
fn a_password_file_others_can_read_draws_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let password = env.secret_file("pw", "secret\n");
    let port = crate::harness::closed_port();
    let (password_arg, cold) = (
        password.display().to_string(),
        env.cold.display().to_string(),
    );
    let run = || {
        let ran = env.run(&[
            "imap",
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            "--account",
            "a",
            "--folder",
            "INBOX",
            "--password-file",
            &password_arg,
            "--dest",
            &cold,
        ]);
        ran.expect_code(4);
        ran
    };
    let ran = run();
    assert!(
        !ran.stderr.contains("other users can read"),
        "{}",
        ran.explain()
    );
    fs::set_permissions(&password, fs::Permissions::from_mode(0o644)).unwrap();
    run().expect_stderr_contains(&format!(
        "lanceur: {password_arg} holds a secret but other users can read it; run chmod 600 \
         {password_arg}"
    ));
}
