//! `lanceur o365` listing and post-actions against the fake Graph (its documents: `documents.rs`).

use super::*;

// ---------------------------------------------------------------------------------------------
// Listing

#[test]
fn paging_follows_next_links_and_takes_mails_oldest_first() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    t.fake.state().page_cap = 3;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(t.fake.add_mail(
            "me",
            "inbox",
            Mail::new(&format!("m{i}")).file(
                &format!("{i:02}.pdf"),
                "application/pdf",
                &pdf(&i.to_string()),
            ),
        ));
    }
    t.run(&["--index", "json"]).expect_code(0).expect_quiet();
    let pdfs: Vec<String> = t
        .env
        .cold_names()
        .into_iter()
        .filter(|n| n.ends_with(".pdf"))
        .collect();
    assert_eq!(pdfs.len(), 10, "{}", t.env.listing());
    let listings = t.listings();
    assert_eq!(listings.len(), 4);
    assert!(listings[1..].iter().all(|r| r.param("$skip").is_some()));
    let first = &listings[0];
    assert_eq!(first.param("$orderby"), Some("receivedDateTime asc"));
    assert!(first
        .param("$filter")
        .unwrap()
        .starts_with("receivedDateTime ge "));
    assert!(first
        .param("$filter")
        .unwrap()
        .ends_with(" and isRead eq false"));
    assert!(first.param("$select").is_some());
    // Acknowledged oldest first, each by its immutable id.
    let patched: Vec<String> = t
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.path.rsplit('/').next().unwrap().to_string())
        .collect();
    assert_eq!(patched, ids);
    assert!(ids.iter().all(|id| t.fake.mail("me", id).unwrap().is_read));
}

#[test]
fn unread_mode_misses_mails_read_in_webmail_and_all_mode_takes_them() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("seen")
            .read()
            .file("seen.pdf", "application/pdf", b"s"),
    );
    t.run(&[]).expect_code(0);
    assert!(t.env.cold_names().is_empty());
    t.run(&["--select", "all"])
        .expect_code(2)
        .expect_stderr_contains("--since");
    t.run(&["--select", "all", "--since", "2024-01-01"])
        .expect_code(0);
    assert_eq!(t.env.cold_names(), vec!["seen.pdf"]);
    // A window that starts after the mail leaves it out.
    t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("old")
            .read()
            .file("old.pdf", "application/pdf", b"o"),
    );
    t.run(&["--select", "all", "--since", "2025-01-01"])
        .expect_code(0);
    assert_eq!(t.env.cold_names(), vec!["seen.pdf"]);
}

#[test]
fn folder_paths_are_resolved_one_level_at_a_time() {
    let t = O365::new();
    t.fake.add_folder("me", "inbox", "Factures");
    t.fake.add_folder("me", "Inbox/Factures", "L'été 2024");
    t.fake.add_mail(
        "me",
        "Inbox/Factures/L'été 2024",
        Mail::new("x").file("deep.pdf", "application/pdf", b"d"),
    );
    t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("y").file("top.pdf", "application/pdf", b"t"),
    );
    let folder = ["--folder", "Inbox/Factures/L'été 2024"];
    t.login(&folder).expect_code(0);
    t.run(&folder).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_names(), vec!["deep.pdf"]);
    assert!(t
        .fake
        .requests()
        .iter()
        .any(|r| r.path.ends_with("/mailFolders/inbox/childFolders")
            && r.param("$filter") == Some("displayName eq 'Factures'")));
    assert!(t
        .fake
        .requests()
        .iter()
        .any(|r| r.path.ends_with("/childFolders")
            && r.param("$filter") == Some("displayName eq 'L''été 2024'")));
    let ran = t.run(&["--folder", "Inbox/Nope"]);
    ran.expect_code(4)
        .expect_stderr_contains("no folder \"Nope\"");
}

#[test]
fn throttling_is_waited_out_with_retry_after() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("x").file("x.pdf", "application/pdf", b"x"),
    );
    t.fake
        .fail(Some("GET"), "/mailFolders/inbox/messages", 429, Some(1), 1);
    t.fake.fail(Some("POST"), "/$batch", 503, Some(1), 1);
    t.run(&[]).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_names(), vec!["x.pdf"]);
    assert_eq!(t.listings().len(), 2);
    assert_eq!(t.graph_requests("POST", "/$batch"), 2);
    // Throttled for good: the run stops with the source code and leaves the mail.
    t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("y").file("y.pdf", "application/pdf", b"y"),
    );
    t.fake.fail(
        Some("GET"),
        "/mailFolders/inbox/messages",
        429,
        Some(3600),
        1,
    );
    t.run(&[])
        .expect_code(4)
        .expect_stderr_contains("asks to wait 3600s");
}

// ---------------------------------------------------------------------------------------------
// Acknowledging

#[test]
fn each_post_action_is_visible_at_the_source() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    t.fake.add_folder("me", "inbox", "Traités");
    let add = |name: &str| {
        t.fake.add_mail(
            "me",
            "inbox",
            Mail::new(name).file(&format!("{name}.pdf"), "application/pdf", name.as_bytes()),
        )
    };

    let read = add("read");
    t.run(&[]).expect_code(0);
    assert!(t.fake.mail("me", &read).unwrap().is_read);

    let moved = add("moved");
    t.run(&["--after", "move", "--move-to", "Inbox/Traités"])
        .expect_code(0);
    assert_eq!(t.fake.folder_of("me", &moved).as_deref(), Some("Traités"));
    assert!(!t.fake.mail("me", &moved).unwrap().is_read);

    let deleted = add("deleted");
    t.run(&["--after", "delete"]).expect_code(0);
    assert!(t.fake.mail("me", &deleted).is_none());

    let kept = add("kept");
    t.run(&["--after", "keep"]).expect_code(0);
    t.run(&["--after", "keep"]).expect_code(0);
    assert!(!t.fake.mail("me", &kept).unwrap().is_read);
    assert_eq!(
        t.env.cold_names(),
        vec!["deleted.pdf", "kept.pdf", "moved.pdf", "read.pdf"]
    );

    t.run(&["--after", "move"]).expect_code(2);
    t.run(&["--after", "move", "--move-to", "Nowhere"])
        .expect_code(4);
}

#[test]
fn a_mail_already_gone_when_acknowledged_is_fine() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("x").file("x.pdf", "application/pdf", b"x"),
    );
    t.fake.fail(Some("PATCH"), "/messages/", 404, None, 1);
    t.run(&[]).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_names(), vec!["x.pdf"]);
}

#[test]
fn journal_keys_survive_moves_that_change_graph_ids() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    let id = t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("x").file("x.pdf", "application/pdf", b"x"),
    );
    let args = [
        "--after",
        "none",
        "--select",
        "all",
        "--since",
        "2024-01-01",
        "--index",
        "idx",
    ];
    t.run(&args).expect_code(0);
    let rest_id = t.fake.mail("me", &id).unwrap().rest_id;
    // Someone files the mail away and back in Outlook: its REST id is not the same any more.
    t.fake.user_moves("me", &id, "archive");
    t.fake.user_moves("me", &id, "inbox");
    assert_ne!(t.fake.mail("me", &id).unwrap().rest_id, rest_id);
    t.run(&args).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_names(), vec!["x.idx", "x.pdf"]);
    let idx = String::from_utf8(t.env.cold_read("x.idx")).unwrap();
    assert!(idx.contains(&format!("SOURCE_ITEM = o365:{id}")), "{idx}");
    // Our own move: the mail lands in the archive, known by the same id.
    let y = t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("y").file("y.pdf", "application/pdf", b"y"),
    );
    t.run(&["--after", "move", "--move-to", "archive", "--index", "idx"])
        .expect_code(0);
    assert_eq!(t.fake.folder_of("me", &y).as_deref(), Some("Archive"));
    assert_eq!(t.fake.folder_of("me", &id).as_deref(), Some("Inbox"));
    let idx = String::from_utf8(t.env.cold_read("y.idx")).unwrap();
    assert!(idx.contains(&format!("GRAPH_ID = {y}")), "{idx}");
    for request in t.fake.requests().iter().filter(|r| r.is_graph()) {
        assert_eq!(
            request.header("prefer"),
            Some("IdType=\"ImmutableId\""),
            "{} {}",
            request.method,
            request.path
        );
    }
}

#[test]
fn a_dry_run_shows_the_documents_and_changes_nothing() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    let id = t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("Invoice").file("facture.pdf", "application/pdf", b"f"),
    );
    let ran = t.run(&["--dry-run"]);
    ran.expect_code(0);
    assert!(
        ran.stdout.contains("mail «Invoice»") && ran.stdout.contains("->  facture.pdf"),
        "{}",
        ran.explain()
    );
    assert!(t.env.cold_names().is_empty());
    assert!(!t.fake.mail("me", &id).unwrap().is_read);
    assert_eq!(t.graph_requests("PATCH", &id), 0);
}

#[test]
fn a_mail_that_leaves_the_folder_before_its_fetch_is_not_a_failure() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    let id = t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("x").file("x.pdf", "application/pdf", b"x"),
    );
    // Moved away between the listing and the fetch: Graph answers 404 for it.
    t.fake
        .fail(Some("GET"), &format!("/messages/{id}"), 404, None, 1);
    t.run(&[]).expect_code(0).expect_quiet();
    assert!(t.env.cold_names().is_empty());
    assert!(!t.fake.mail("me", &id).unwrap().is_read);
    t.run(&[]).expect_code(0);
    assert_eq!(t.env.cold_names(), vec!["x.pdf"]);
}

#[test]
fn downloads_left_by_a_killed_run_are_removed() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    let state = t.env.state.join(NAME);
    fs::write(
        state.join(".lanceur-o365-Ab12Cd.part"),
        b"half an attachment",
    )
    .unwrap();
    fs::write(state.join("notes.txt"), b"someone else's").unwrap();
    t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("x").file("x.pdf", "application/pdf", b"x"),
    );
    t.run(&[]).expect_code(0).expect_quiet();
    assert_eq!(
        names(&state),
        vec![
            "journal",
            "lock",
            "notes.txt",
            "o365-tokens.json",
            "status.json"
        ]
    );
}

#[test]
fn unzip_and_subject_rules_apply_to_office_365_too() {
    // See: issue 12 (classes 11 and 12).
    use std::io::Write;
    let t = O365::new();
    t.login(&[]).expect_code(0);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("dossier/facture.pdf", options).unwrap();
    zip.write_all(b"%PDF-1.4 facture\n%%EOF\n").unwrap();
    zip.start_file("notes.txt", options).unwrap();
    zip.write_all(b"notes").unwrap();
    let zip = zip.finish().unwrap().into_inner();
    let taken = t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("Facture 12").file("pieces.zip", "application/zip", &zip),
    );
    let left = t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("Lettre d'information").file("lettre.pdf", "application/pdf", b"%PDF lettre"),
    );
    t.run(&[
        "--unzip",
        "--subject",
        "/facture/i",
        "--filter",
        r"/.*\.pdf$/",
    ])
    .expect_code(0)
    .expect_quiet();
    assert_eq!(t.env.cold_names(), vec!["facture.pdf".to_string()]);
    assert_eq!(t.env.cold_read("facture.pdf"), b"%PDF-1.4 facture\n%%EOF\n");
    assert!(t.fake.mail("me", &taken).unwrap().is_read);
    assert!(
        !t.fake.mail("me", &left).unwrap().is_read,
        "a mail the rule rejects stays unread"
    );
}
