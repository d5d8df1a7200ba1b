//! Office 365 by bytes (see: issue 11, point 5): mail sizes come from PR_MESSAGE_SIZE, so that
//! `--max-bytes` takes the oldest mails that fit and the cycle's batches are bounded by bytes; a
//! run killed again and again, even one always killed soon after its first batch, drains its
//! backlog, losing nothing and taking nothing twice.

use super::*;
use std::time::Duration;

use crate::harness::{kill_loop, run_then_kill_when};

/// A mail with one PDF attachment of `size` bytes, whose first line makes it unique.
fn sized_mail(t: &O365, n: usize, size: usize) -> (String, Vec<u8>) {
    let mut content = format!("%PDF-1.4\n% document {n}\n").into_bytes();
    content.resize(size.max(content.len()), b'a' + (n % 26) as u8);
    let id = t.fake.add_mail(
        "me",
        "inbox",
        Mail::new(&format!("mail {n}"))
            .file(&format!("doc{n:03}.pdf"), "application/pdf", &content)
            .size(size),
    );
    (id, content)
}

/// Attachment downloads (`/attachments/{id}/$value`) the fake has served so far.
fn downloads(t: &O365) -> usize {
    t.fake
        .requests()
        .iter()
        .filter(|r| {
            r.method == "GET" && r.path.contains("/attachments/") && r.path.ends_with("/$value")
        })
        .count()
}

/// The COLD's PDFs by content hash, checking that each is one the test made (never partial).
fn deposited(t: &O365, known: &BTreeSet<String>) -> BTreeMap<String, Vec<String>> {
    let by_hash = t.env.cold_by_hash();
    for (hash, names) in &by_hash {
        assert!(
            known.contains(hash),
            "partial or unknown document {names:?}"
        );
    }
    by_hash
}

#[test]
fn sizes_come_from_pr_message_size_and_max_bytes_takes_the_oldest_mails_that_fit() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    for (n, size) in [300_000, 300_000, 300_000, 2_000_000, 100_000]
        .into_iter()
        .enumerate()
    {
        sized_mail(&t, n, size);
    }
    // 700,000 bytes: two mails of 300 KB fit, not three; the 2 MB one goes alone, being first.
    let cap = ["--max-bytes", "700000"];
    let ran = t.run(&[&cap[..], &["--dry-run"]].concat());
    ran.expect_code(0);
    let planned: Vec<&str> = ran
        .stdout
        .lines()
        .filter(|l| l.starts_with("deposit"))
        .collect();
    assert_eq!(planned.len(), 2, "{}", ran.explain());
    let ran = t.env.run(
        &[
            &["check"],
            &t.args(false, &cap)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()[..],
        ]
        .concat(),
    );
    ran.expect_code(0);
    assert!(
        ran.stdout.contains("2 new items (")
            && ran
                .stdout
                .contains("for the next run; 3 left for later runs by --max-items/--max-bytes"),
        "{}",
        ran.explain()
    );
    let mut taken = Vec::new();
    for expected in [
        vec!["doc000.pdf", "doc001.pdf"],
        vec!["doc002.pdf"],
        vec!["doc003.pdf"],
        vec!["doc004.pdf"],
    ] {
        t.run(&cap).expect_code(0).expect_quiet();
        taken.extend(expected);
        assert_eq!(t.env.cold_visible(), taken);
    }
    // Every listing asked Graph for PR_MESSAGE_SIZE.
    let listings = t.listings();
    assert!(!listings.is_empty());
    for listing in listings {
        assert_eq!(
            listing.param("$expand"),
            Some("singleValueExtendedProperties($filter=id eq 'Integer 0x0E08')")
        );
    }
}

#[test]
fn kill_9_with_byte_caps_loses_nothing_and_moves_each_mail_once() {
    let t = O365::new();
    t.fake.state().page_cap = 9;
    t.login(&[]).expect_code(0);
    let mut random = Random::from_time();
    let (mut known, mut ids) = (BTreeSet::new(), Vec::new());
    const MAILS: usize = 120;
    for n in 0..MAILS {
        let (id, content) = sized_mail(&t, n, 1 + random.below(200 * 1024) as usize);
        known.insert(sha256(&content));
        ids.push(id);
    }
    let archived = || {
        ids.iter()
            .filter(|id| t.fake.folder_of("me", id).as_deref() == Some("Archive"))
            .count()
    };
    // About ten mails a run, by bytes; each moved to the archive once deposited.
    let extra = [
        "--max-bytes",
        "1M",
        "--after",
        "move",
        "--move-to",
        "archive",
    ];
    let args = t.args(false, &extra);
    let kills = kill_loop(
        30,
        &mut random,
        150_000,
        || {
            let mut command = t.env.command();
            command.args(&args);
            command
        },
        || t.env.cold_visible().len(),
        |_| {
            deposited(&t, &known);
        },
    );
    while archived() < MAILS {
        let before = archived();
        t.run(&extra).expect_code(0);
        assert!(
            archived() > before,
            "a run after the kills took nothing\n{}",
            t.env.listing()
        );
    }
    // The kill loop may have taken everything already; a run after the last kill still comes, as
    // the next cron run would, and removes what that kill left (the COLD folder's write probe).
    t.run(&extra).expect_code(0).expect_quiet();
    let cold = deposited(&t, &known);
    let lost = known.iter().filter(|h| !cold.contains_key(*h)).count();
    let twice_cold = cold.values().filter(|n| n.len() > 1).count();
    // On the server: every mail in the archive, once (by Message-ID), none left in the inbox.
    let mut in_archive: BTreeMap<String, usize> = BTreeMap::new();
    let mut left = 0;
    for id in &ids {
        let mail = t.fake.mail("me", id).expect("a mail vanished");
        match t.fake.folder_of("me", id).as_deref() {
            Some("Archive") => *in_archive.entry(mail.internet_message_id).or_default() += 1,
            _ => left += 1,
        }
    }
    let twice_server = in_archive.values().filter(|n| **n > 1).count();
    assert!(
        names(&t.env.cold).iter().all(|n| !n.starts_with('.')),
        "temporary files left\n{}",
        t.env.listing()
    );
    eprintln!(
        "o365 byte caps: {} trials ({} killed mid-work, {} finished): {lost} lost, {twice_cold} \
         twice in the COLD, {twice_server} twice on the server, {left} left in the inbox",
        kills.rounds, kills.mid_work, kills.finished
    );
    assert_eq!((lost, twice_cold, twice_server, left), (0, 0, 0, 0));
    assert_eq!(in_archive.len(), MAILS);
}

#[test]
fn a_run_always_killed_soon_after_its_first_batch_still_drains_the_backlog() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    // 40 mails of 4 MiB: 160 MiB, fewer than a batch's 256 items, so only bytes (64 MiB a batch,
    // 16 of these mails) cut the backlog into batches.
    const MAILS: usize = 40;
    const SIZE: usize = 4 << 20;
    let mut known = BTreeSet::new();
    for n in 0..MAILS {
        known.insert(sha256(&sized_mail(&t, n, SIZE).1));
    }
    // Each run is killed once it was served 18 attachments (72 MiB), as a task time limit or a slow
    // link would stop it: a little more than one batch. Without batches by bytes it would fetch all
    // 40 before journaling any, and no run would ever get anything done.
    const BUDGET: usize = 18;
    let args = t.args(false, &[]);
    let (mut killed, mut finished) = (0, false);
    for round in 0..10 {
        let served = downloads(&t);
        let before = t.env.cold_visible().len();
        let mut command = t.env.command();
        command.args(&args);
        if run_then_kill_when(
            &mut command,
            &mut || downloads(&t) >= served + BUDGET,
            round,
        ) {
            finished = true;
            break;
        }
        killed += 1;
        t.fake.wait_until_idle(Duration::from_secs(60));
        // The kill really interrupted work: this run had deposited some, and more was left.
        let after = t.env.cold_visible().len();
        assert!(
            after > before,
            "run {round} deposited nothing before its kill\n{}",
            t.env.listing()
        );
        assert!(after < MAILS, "run {round} was killed after its work");
    }
    assert!(
        finished,
        "the backlog was never drained: {} of {MAILS} deposited",
        t.env.cold_visible().len()
    );
    assert!(
        killed >= 2,
        "only {killed} run(s) killed: the loop proves little"
    );
    let cold = deposited(&t, &known);
    assert_eq!(cold.len(), MAILS, "{}", t.env.listing());
    assert!(
        cold.values().all(|n| n.len() == 1),
        "deposited twice: {cold:?}"
    );
    assert!(t.fake.state().mailboxes["me"]
        .messages
        .iter()
        .all(|m| m.is_read));
    eprintln!(
        "o365 always killed after {BUDGET} downloads: {killed} runs killed, then one finished"
    );
}
