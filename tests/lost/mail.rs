//! Nothing lost from a mailbox (see: issue 11): unmatched mails are never deleted, poison mails are
//! set aside once and can be retried, a move without MOVE never duplicates mails on the server, a
//! trickling server and a signal end a run cleanly, and state files are owner-only. Against the
//! real Dovecot (and variants without MOVE).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::dovecot::{Dovecot, User};
use crate::harness::mail::{damaged_mail, mail, pdf_mail, Part};
use crate::harness::{interrupt_mid_work, kill_loop, names, sha256, Ran, Random, TestEnv};

fn imap_command(env: &TestEnv, user: &User, port: Option<u16>, extra: &[&str]) -> Command {
    let mut args = user.imap_args("INBOX");
    if let Some(port) = port {
        let at = args.iter().position(|a| a == "--port").unwrap();
        args[at + 1] = port.to_string();
    }
    let mut command = env.command();
    command
        .env("LANCEUR_PASSWORD", &user.password)
        .args(args)
        .arg("--dest")
        .arg(&env.cold)
        .args(extra);
    command
}

fn imap(env: &TestEnv, user: &User, extra: &[&str]) -> Ran {
    env.run_command(imap_command(env, user, None, extra))
}

/// A mail whose only attachment is a `.txt` file, which a PDF filter rejects.
fn text_mail(n: u64) -> Vec<u8> {
    mail(
        &format!("Note {n}"),
        &format!("note-{n}@dupont.example"),
        Part::multipart(
            "mixed",
            vec![
                Part::text("voir la note"),
                Part::base64(
                    &[
                        "Content-Type: text/plain; name=\"note.txt\"",
                        "Content-Disposition: attachment; filename=\"note.txt\"",
                    ],
                    format!("note {n}").as_bytes(),
                ),
            ],
        ),
    )
}

/// Message-IDs of a mailbox's mails, with how many times each is there.
fn message_ids(user: &User, mailbox: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for stored in user.messages(mailbox) {
        let text = String::from_utf8_lossy(&stored.bytes);
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .unwrap_or("?")
            .to_string();
        *out.entry(id).or_default() += 1;
    }
    out
}

#[test]
fn a_filter_typo_deletes_nothing_and_fixing_it_takes_the_mails() {
    let user = Dovecot::get().user("unmatched");
    user.deliver(&pdf_mail(1, 2000).0);
    user.deliver(&text_mail(2));
    let env = TestEnv::new();
    let log = env.root().join("run.jsonl");
    let log_arg = log.to_str().unwrap();
    // The typo: .PDF without /i, and --after delete.
    let typo = ["--filter", r"/.*\.PDF$/", "--after", "delete"];
    let dry: Vec<&str> = typo.iter().copied().chain(["--dry-run"]).collect();
    let ran = imap(&env, &user, &dry);
    ran.expect_code(0);
    assert_eq!(
        ran.stdout
            .lines()
            .filter(|l| l.starts_with("unmatched"))
            .count(),
        2,
        "{}",
        ran.explain()
    );
    let mut args: Vec<&str> = typo.to_vec();
    args.extend(["--json", "--log-file", log_arg]);
    let ran = imap(&env, &user, &args);
    ran.expect_code(0);
    let summary = ran.summary();
    assert_eq!(
        (
            summary["items_deposited"].as_u64(),
            summary["items_unmatched"].as_u64()
        ),
        (Some(0), Some(2))
    );
    assert_eq!(user.messages("INBOX").len(), 2, "a mail was deleted");
    assert!(user.messages("INBOX").iter().all(|m| !m.seen()));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        logged.matches("\"event\":\"unmatched\"").count(),
        2,
        "{logged}"
    );
    // Not downloaded again while the filters stay the same.
    let ran = imap(&env, &user, &args);
    assert_eq!(ran.summary()["items_unmatched"], 0, "{}", ran.explain());
    // The typo fixed: the invoice is taken (and deleted), the note stays.
    let fixed = ["--filter", r"/.*\.pdf$/i", "--after", "delete", "--json"];
    let ran = imap(&env, &user, &fixed);
    ran.expect_code(0);
    assert_eq!(ran.summary()["items_deposited"], 1, "{}", ran.explain());
    assert_eq!(env.cold_visible(), vec!["facture-0001.pdf"]);
    let left = message_ids(&user, "INBOX");
    assert_eq!(
        left.keys().collect::<Vec<_>>(),
        vec!["<note-2@dupont.example>"]
    );
}

#[test]
fn pop_leaves_unmatched_mails_on_the_server_and_does_not_download_them_again() {
    let user = Dovecot::get().user("popunmatched");
    user.deliver(&pdf_mail(3, 2000).0);
    user.deliver(&text_mail(4));
    let env = TestEnv::new();
    let dovecot = user.dovecot;
    let run = |extra: &[&str]| {
        let mut command = env.command();
        command
            .env("LANCEUR_PASSWORD", &user.password)
            .args(["pop", "--server", &dovecot.host, "--port"])
            .arg(dovecot.pop3s_port.to_string())
            .args(["--account", &user.name, "--ca-file"])
            .arg(&dovecot.ca_file)
            .arg("--dest")
            .arg(&env.cold)
            .args(["--filter", r"/.*\.pdf$/i", "--json"])
            .args(extra);
        env.run_command(command)
    };
    let ran = run(&[]);
    ran.expect_code(0);
    assert_eq!(ran.summary()["items_unmatched"], 1, "{}", ran.explain());
    let left = message_ids(&user, "INBOX");
    assert_eq!(
        left.keys().collect::<Vec<_>>(),
        vec!["<note-4@dupont.example>"]
    );
    let ran = run(&[]);
    ran.expect_code(0);
    assert_eq!(
        ran.summary()["items_unmatched"],
        0,
        "downloaded again\n{}",
        ran.explain()
    );
    assert_eq!(message_ids(&user, "INBOX").len(), 1);
    run(&["--unmatched", "seen"]).expect_code(2);
}

#[test]
fn a_poison_mail_is_set_aside_once_listed_by_check_and_retried() {
    let user = Dovecot::get().user("poison");
    let damaged = damaged_mail(5);
    user.deliver(&damaged);
    user.deliver(&pdf_mail(6, 2000).0);
    let env = TestEnv::new();
    let args = ["--name", "poison"];
    for run in 1..=2 {
        imap(&env, &user, &args)
            .expect_code(1)
            .expect_stderr_contains("left at the source");
        assert!(
            !env.state.join("poison/set-aside").exists()
                || names(&env.state.join("poison/set-aside")).is_empty(),
            "set aside too early, run {run}"
        );
    }
    let ran = imap(&env, &user, &args);
    ran.expect_code(1)
        .expect_stderr_contains("failed 3 runs in a row; set aside: flagged $LanceurSetAside");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    // The keyword is on the server (Maildir keeps keywords as lowercase flag letters).
    let stored = user.messages("INBOX");
    assert!(
        stored[0].flags.chars().any(|c| c.is_ascii_lowercase()),
        "{stored:?}"
    );
    assert!(!stored[0].seen());
    // The raw mail is kept, byte for byte.
    let aside = env.state.join("poison/set-aside");
    let folder = aside.join(&names(&aside)[0]);
    assert!(
        std::fs::read(folder.join("message.eml")).unwrap() == damaged,
        "kept bytes differ"
    );
    // Later runs are silent.
    imap(&env, &user, &args).expect_code(0).expect_quiet();
    // check and retry list it.
    let mut check = imap_command(&env, &user, None, &args);
    let argv: Vec<_> = check.get_args().map(|a| a.to_owned()).collect();
    check = env.command();
    check
        .env("LANCEUR_PASSWORD", &user.password)
        .arg("check")
        .args(&argv);
    let ran = env.run_command(check);
    ran.expect_code(0);
    assert!(ran.stdout.contains("1 item set aside"), "{}", ran.explain());
    let retry = |extra: &[&str]| {
        let mut command = env.command();
        command
            .env("LANCEUR_PASSWORD", &user.password)
            .arg("retry")
            .args(extra)
            .args(&argv);
        env.run_command(command)
    };
    let ran = retry(&[]);
    ran.expect_code(0);
    assert!(ran.stdout.contains("Facture abîmée"), "{}", ran.explain());
    // Retried: unflagged, taken again, and reported again (it is still damaged).
    let ran = retry(&["--all"]);
    ran.expect_code(1)
        .expect_stderr_contains("left at the source");
    assert!(ran.stdout.contains("retrying"), "{}", ran.explain());
    let stored = user.messages("INBOX");
    assert!(
        !stored[0].flags.chars().any(|c| c.is_ascii_lowercase()),
        "{stored:?}"
    );
    assert!(names(&aside).is_empty());
}

/// Forwards one connection at a time to `upstream`, cutting each after a number of bytes from the
/// server drawn from `limits` (none: forwarded whole), for as many connections as come.
fn cutting_proxy(upstream: u16, mut limits: Vec<usize>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let limit = limits.pop().unwrap_or(usize::MAX);
            let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                return;
            };
            let (mut client_in, mut server_out) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut client_in, &mut server_out);
                let _ = server_out.shutdown(Shutdown::Both);
            });
            let mut forwarded = 0usize;
            let mut buffer = [0u8; 4096];
            while forwarded < limit {
                let n = match server.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n.min(limit - forwarded),
                };
                if client.write_all(&buffer[..n]).is_err() {
                    break;
                }
                forwarded += n;
            }
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
    });
    port
}

/// Kills and cuts a `--after move` run on a server without MOVE at every step; returns the
/// (trials, lost, duplicated in the COLD, duplicated on the server) figures.
fn move_without_move(dovecot: &'static Dovecot, hint: &str) -> (usize, usize, usize, usize) {
    let user = dovecot.user(hint);
    let mut random = Random::from_time();
    let mut invoices = BTreeSet::new();
    for n in 0..300 {
        let (raw, pdf) = pdf_mail(1000 + n, 1000 + random.below(4000) as usize);
        invoices.insert(sha256(&pdf));
        user.deliver(&raw);
        if n % 10 == 0 {
            user.deliver(&text_mail(n));
        }
    }
    user.folder("Archives");
    let env = TestEnv::new();
    let extra = [
        "--name",
        "mv",
        "--move-to",
        "Archives",
        "--filter",
        r"/.*\.pdf$/i",
        "--max-items",
        "60",
    ];
    // kill -9, aimed at the moment documents land (between deposit and the move) and at random.
    let kills = kill_loop(
        12,
        &mut random,
        600_000,
        || imap_command(&env, &user, None, &extra),
        || env.cold_count(".pdf"),
        |_| {},
    );
    // Cut connections: the server's answers stop after a random number of bytes.
    let limits: Vec<usize> = (0..12)
        .map(|_| 2000 + random.below(150_000) as usize)
        .collect();
    let cuts = limits.len();
    let port = cutting_proxy(dovecot.imaps_port, limits);
    for _ in 0..cuts {
        let ran = env.run_command(imap_command(&env, &user, Some(port), &extra));
        assert!(matches!(ran.code, 0 | 4), "{}", ran.explain());
    }
    for _ in 0..10 {
        imap(&env, &user, &extra).expect_code(0);
    }
    let deposited = env.cold_by_hash();
    let lost = invoices
        .iter()
        .filter(|h| !deposited.contains_key(*h))
        .count();
    let twice_cold = deposited.values().filter(|n| n.len() > 1).count();
    let archived = message_ids(&user, "Archives");
    let twice_server = archived.values().filter(|n| **n > 1).count();
    // Every invoice moved exactly once; every note left in INBOX, never moved.
    assert_eq!(archived.len(), invoices.len(), "{}", env.listing());
    assert!(archived.keys().all(|id| id.contains("facture")));
    let inbox = message_ids(&user, "INBOX");
    assert_eq!(inbox.len(), 30, "{inbox:?}");
    assert!(inbox.keys().all(|id| id.contains("note")), "{inbox:?}");
    assert!(
        names(&env.cold).iter().all(|n| !n.starts_with('.')),
        "temporary files left"
    );
    let trials = kills.rounds + cuts;
    eprintln!(
        "{hint}: {trials} trials ({} kills, {} mid-work; {cuts} cuts): {lost} lost, {twice_cold} \
         twice in the COLD, {twice_server} twice on the server",
        kills.rounds, kills.mid_work
    );
    (trials, lost, twice_cold, twice_server)
}

#[test]
fn kills_and_cuts_during_a_move_without_move_leave_no_duplicate_on_the_server() {
    for (dovecot, hint) in [
        (Dovecot::no_move(), "nomove"),
        (Dovecot::legacy(), "legacymove"),
    ] {
        let (_, lost, twice_cold, twice_server) = move_without_move(dovecot, hint);
        assert_eq!((lost, twice_cold, twice_server), (0, 0, 0), "{hint}");
    }
}

/// Forwards one connection to `upstream`, passing the server's bytes one every `pause` once
/// `after` of them went through at full speed.
fn trickling_proxy(upstream: u16, after: usize, pause: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let Ok((mut client, _)) = listener.accept() else {
            return;
        };
        let mut server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
        let (mut client_in, mut server_out) =
            (client.try_clone().unwrap(), server.try_clone().unwrap());
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut client_in, &mut server_out);
            let _ = server_out.shutdown(Shutdown::Both);
        });
        let mut sent = 0usize;
        let mut buffer = [0u8; 4096];
        loop {
            let n = match server.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for &byte in &buffer[..n] {
                if sent >= after {
                    std::thread::sleep(pause);
                }
                if client.write_all(&[byte]).is_err() {
                    return;
                }
                sent += 1;
            }
        }
    });
    port
}

#[test]
fn a_trickling_server_ends_the_run_with_exit_4_at_the_answer_deadline() {
    let dovecot = Dovecot::get();
    let user = dovecot.user("trickle");
    user.deliver(&pdf_mail(7, 50_000).0);
    let env = TestEnv::new();
    // Login and listing at full speed, then a byte every 20 ms: never silent for --timeout.
    let port = trickling_proxy(dovecot.imaps_port, 12_000, Duration::from_millis(20));
    let ran = env.run_command(imap_command(
        &env,
        &user,
        Some(port),
        &["--timeout", "5s", "--answer-timeout", "3s", "--json"],
    ));
    ran.expect_code(4)
        .expect_stderr_contains("did not finish its answer within --answer-timeout 3s");
    assert_eq!(ran.summary()["exit_code"], 4);
    assert!(env.cold_visible().is_empty());
    assert!(!user.messages("INBOX")[0].seen());
    // The whole run is bounded too.
    let port = trickling_proxy(dovecot.imaps_port, 12_000, Duration::from_millis(20));
    let ran = env.run_command(imap_command(
        &env,
        &user,
        Some(port),
        &["--timeout", "5s", "--run-timeout", "2s"],
    ));
    ran.expect_code(4)
        .expect_stderr_contains("the run reached --run-timeout 2s");
}

#[test]
fn sigterm_ends_a_run_cleanly_with_exit_7_and_the_next_run_finishes() {
    let user = Dovecot::get().user("sigterm");
    let mut known = BTreeSet::new();
    for n in 0..600 {
        let (raw, pdf) = pdf_mail(2000 + n, 20_000);
        known.insert(sha256(&pdf));
        user.deliver(&raw);
    }
    let env = TestEnv::new();
    let mut command = imap_command(&env, &user, None, &["--name", "term", "--json"]);
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let interrupted = interrupt_mid_work(
        &env,
        child,
        "TERM",
        "lanceur: term: interrupted: stopped by SIGTERM",
        known.len(),
    );
    let seen = user.messages("INBOX").iter().filter(|m| m.seen()).count();
    assert_eq!(
        seen, interrupted,
        "a mail marked seen must be deposited, and only those"
    );
    imap(&env, &user, &["--name", "term"])
        .expect_code(0)
        .expect_quiet();
    let deposited = env.cold_by_hash();
    assert_eq!(deposited.len(), known.len());
    assert!(deposited.values().all(|n| n.len() == 1));
}

#[cfg(unix)]
#[test]
fn state_files_are_owner_only_and_no_log_level_shows_the_password() {
    use std::os::unix::fs::PermissionsExt;
    let user = Dovecot::get().user("private");
    user.deliver(&pdf_mail(8, 2000).0);
    let env = TestEnv::new();
    let log = env.root().join("run.jsonl");
    for level in ["", "-v", "-vv"] {
        let mut command = imap_command(&env, &user, None, &["--name", "p", "--log-file"]);
        command
            .arg(&log)
            .args([level].iter().filter(|l| !l.is_empty()));
        let ran = env.run_command(command);
        assert!(!ran.stderr.contains(&user.password), "{}", ran.explain());
    }
    for rust_log in ["trace", "debug", "imap=trace,native_tls=trace"] {
        let mut command = imap_command(&env, &user, None, &["--name", "p", "--select", "all"]);
        command.env("RUST_LOG", rust_log);
        let ran = env.run_command(command);
        ran.expect_code(0);
        assert!(
            !ran.stderr.contains(&user.password),
            "RUST_LOG={rust_log}\n{}",
            ran.explain()
        );
    }
    let state = env.state.join("p");
    for (path, mode) in [
        (state.clone(), 0o700),
        (state.join("journal"), 0o600),
        (state.join("lock"), 0o600),
        (log.clone(), 0o600),
    ] {
        let actual = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(actual, mode, "{}", path.display());
    }
    // A password file others can read is warned about, as a launcher file is.
    let password_file = env.root().join("password");
    std::fs::write(&password_file, &user.password).unwrap();
    std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut command = env.command();
    command
        .args(user.imap_args("INBOX"))
        .arg("--password-file")
        .arg(&password_file)
        .arg("--dest")
        .arg(&env.cold)
        .args(["--name", "p"]);
    let ran = env.run_command(command);
    ran.expect_code(0)
        .expect_stderr_contains("holds a secret but other users can read it");
}
