//! What becomes of Office 365 mails that are not deposited (see: issue 11): a mail none of whose
//! documents passes the filters is never moved or deleted, only marked read with `--unmatched
//! seen`; a mail failing run after run is set aside once, with the Outlook category
//! `LanceurSetAside` or in `--set-aside-to`, kept whole, listed, and taken again by `retry`.

use super::*;

/// `lanceur BEFORE… o365 … EXTRA…`, e.g. `retry --all`.
fn run_after(t: &O365, before: &[&str], extra: &[&str]) -> Ran {
    let mut args: Vec<String> = before.iter().map(|s| s.to_string()).collect();
    args.extend(t.args(false, extra));
    t.env
        .run(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Requests for a mail's attachment listing: the sign that the mail was fetched.
fn fetches(t: &O365, id: &str) -> usize {
    t.fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(&format!("{id}/attachments")))
        .count()
}

#[test]
fn unmatched_mails_are_never_moved_and_only_marked_read_when_asked() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    let invoice = t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("Facture").file("facture.pdf", "application/pdf", &pdf("f")),
    );
    let note = t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("Note").file("note.txt", "text/plain", b"note"),
    );
    let typo = [
        "--filter",
        r"/.*\.pdf$/i",
        "--after",
        "move",
        "--move-to",
        "archive",
        "--json",
    ];
    let mut dry = typo.to_vec();
    dry.push("--dry-run");
    let ran = t.run(&dry);
    ran.expect_code(0);
    assert!(
        ran.stdout
            .lines()
            .any(|l| l.starts_with("unmatched") && l.contains("«Note»") && l.contains("untouched")),
        "{}",
        ran.explain()
    );
    let ran = t.run(&typo);
    ran.expect_code(0);
    assert_eq!(
        (
            ran.summary()["items_deposited"].as_u64(),
            ran.summary()["items_unmatched"].as_u64()
        ),
        (Some(1), Some(1)),
        "{}",
        ran.explain()
    );
    assert_eq!(t.fake.folder_of("me", &invoice).as_deref(), Some("Archive"));
    assert_eq!(t.fake.folder_of("me", &note).as_deref(), Some("Inbox"));
    assert!(!t.fake.mail("me", &note).unwrap().is_read);
    // Not fetched again while the filters stay the same.
    let before = fetches(&t, &note);
    assert_eq!(t.run(&typo).summary()["items_unmatched"], 0);
    assert_eq!(fetches(&t, &note), before, "fetched again");
    // --unmatched seen: marked read, still not moved.
    let second = t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("Note 2").file("note2.txt", "text/plain", b"note 2"),
    );
    let mut seen = typo.to_vec();
    seen.extend(["--unmatched", "seen"]);
    assert_eq!(t.run(&seen).summary()["items_unmatched"], 1);
    let second = t.fake.mail("me", &second).unwrap();
    assert!(second.is_read);
    assert_eq!(
        t.fake.folder_of("me", &second.immutable_id).as_deref(),
        Some("Inbox")
    );
    assert_eq!(t.env.cold_visible(), vec!["facture.pdf"]);
}

/// A mail whose attachment Graph cannot serve (500), run after run. Its size (PR_MESSAGE_SIZE)
/// is over 3 MiB, so that the attachment is downloaded on its own through `$value`, where the
/// fault is, rather than with its mail in a batch.
fn poison(t: &O365) -> String {
    let id = t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("Facture abîmée")
            .file("abimee.pdf", "application/pdf", &pdf("abimee"))
            .size(4 << 20)
            .category("Finance"),
    );
    let attachment = t.fake.mail("me", &id).unwrap().attachments[0].id.clone();
    t.fake.fail(
        Some("GET"),
        &format!("{attachment}/$value"),
        500,
        None,
        1000,
    );
    id
}

#[test]
fn a_poison_mail_gets_a_category_once_and_retry_takes_it_off_and_takes_the_mail() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    let id = poison(&t);
    let args = ["--set-aside-after", "2"];
    t.run(&args)
        .expect_code(1)
        .expect_stderr_contains("left at the source");
    assert_eq!(t.fake.mail("me", &id).unwrap().categories, vec!["Finance"]);
    let ran = t.run(&args);
    ran.expect_code(1).expect_stderr_contains(
        "failed 2 runs in a row; set aside: marked with the Outlook category LanceurSetAside",
    );
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    let mail = t.fake.mail("me", &id).unwrap();
    // Its own category is kept; it is neither read nor moved.
    assert_eq!(mail.categories, vec!["Finance", "LanceurSetAside"]);
    assert!(!mail.is_read);
    assert_eq!(t.fake.folder_of("me", &id).as_deref(), Some("Inbox"));
    // The whole mail is kept, byte for byte.
    let aside = t.env.state.join(NAME).join("set-aside");
    let kept = aside.join(&names(&aside)[0]).join("message.eml");
    assert!(fs::read(&kept).unwrap() == *mail.mime, "kept bytes differ");
    // Later runs are silent and do not fetch it.
    let before = fetches(&t, &id);
    t.run(&args).expect_code(0).expect_quiet();
    assert_eq!(fetches(&t, &id), before);
    let ran = run_after(&t, &["check"], &args);
    ran.expect_code(0);
    assert!(ran.stdout.contains("1 item set aside"), "{}", ran.explain());
    // Retried: the category comes off, and the mail fails again, as it still would.
    let ran = run_after(&t, &["retry", "--all"], &args);
    ran.expect_code(1)
        .expect_stderr_contains("left at the source");
    assert!(ran.stdout.contains("retrying"), "{}", ran.explain());
    assert_eq!(t.fake.mail("me", &id).unwrap().categories, vec!["Finance"]);
    assert!(names(&aside).is_empty());
    // Once Graph serves it, it is taken like any other.
    t.fake.state().faults.clear();
    t.run(&args).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_visible(), vec!["abimee.pdf"]);
    assert!(t.fake.mail("me", &id).unwrap().is_read);
}

#[test]
fn with_set_aside_to_a_poison_mail_is_moved_and_retry_moves_it_back() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    t.fake.add_folder("me", "inbox", "Quarantaine");
    let id = poison(&t);
    let args = [
        "--set-aside-after",
        "1",
        "--set-aside-to",
        "Inbox/Quarantaine",
    ];
    t.run(&args)
        .expect_code(1)
        .expect_stderr_contains("set aside: moved to Inbox/Quarantaine");
    assert_eq!(t.fake.folder_of("me", &id).as_deref(), Some("Quarantaine"));
    assert_eq!(t.fake.mail("me", &id).unwrap().categories, vec!["Finance"]);
    t.fake.state().faults.clear();
    let ran = run_after(&t, &["retry", "--all"], &args);
    ran.expect_code(0);
    assert!(ran.stdout.contains("retrying"), "{}", ran.explain());
    assert_eq!(t.fake.folder_of("me", &id).as_deref(), Some("Inbox"));
    assert_eq!(t.env.cold_visible(), vec!["abimee.pdf"]);
}
