//! `lanceur o365`'s documents against the fake Graph: attachments of each kind, in small mails
//! (fetched in batches) and large ones (each on its own), whole mails as `.eml`, a broken mail.

use super::*;

#[test]
fn attachments_of_each_kind() {
    attachments_of_each_kind_when(false, false);
}

#[test]
fn attachments_of_each_kind_in_a_large_mail() {
    attachments_of_each_kind_when(false, true);
}

#[test]
fn attachments_of_each_kind_even_without_their_odata_type() {
    attachments_of_each_kind_when(true, true);
}

#[test]
fn a_mail_whose_only_attachment_is_a_link_is_not_blamed_on_the_filters() {
    // See: issue 16. No filter was given, so no filter dropped anything.
    let t = O365::new();
    t.login(&[]).expect_code(0);
    t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("Shared file").reference("Budget 2025.xlsx"),
    );
    let dry = t.run(&["--dry-run"]);
    dry.expect_code(0);
    assert!(
        dry.stdout
            .contains("(it holds no document to deposit; left at the source"),
        "{}",
        dry.explain()
    );
    let ran = t.run(&["-v"]);
    ran.expect_code(0)
        .expect_stderr_contains("Budget 2025.xlsx")
        .expect_stderr_contains(": it holds no document to deposit");
    assert!(!ran.stderr.contains("filters"), "{}", ran.explain());
    assert!(t.env.cold_visible().is_empty());
}

/// `large`: a mail over 3 MiB (PR_MESSAGE_SIZE), whose attachments are listed without their
/// bytes; `untyped`: listed without `@odata.type`, as some answers are.
fn attachments_of_each_kind_when(untyped: bool, large: bool) {
    let t = O365::new();
    t.fake.state().untyped_selected_attachments = untyped;
    t.login(&[]).expect_code(0);
    let attached_mail = b"From: a@b\r\nSubject: Reminder\r\n\r\nplease bring laptop\r\n";
    let mut mail = Mail::new("Invoice 42")
        .file("facture.pdf", "application/pdf", &pdf("facture"))
        .item("Reminder - please bring laptop", attached_mail)
        .reference("Sales Invoice Template.docx")
        .inline("image001.png", "image/png", b"\x89PNG logo")
        .inline("scan.pdf", "application/pdf", &pdf("inline"));
    if large {
        mail = mail.size(5 << 20);
    }
    let id = t.fake.add_mail("me", "inbox", mail);
    let ran = t.run(&["--index", "json"]);
    ran.expect_code(0)
        .expect_stderr_contains("Sales Invoice Template.docx");
    let visible: Vec<String> = t
        .env
        .cold_visible()
        .into_iter()
        .filter(|n| !n.ends_with(".json"))
        .collect();
    assert_eq!(
        visible,
        vec![
            "Reminder - please bring laptop.eml",
            "facture.pdf",
            "scan.pdf"
        ]
    );
    assert_eq!(t.env.cold_read("facture.pdf"), pdf("facture"));
    assert_eq!(t.env.cold_read("scan.pdf"), pdf("inline"));
    assert_eq!(
        t.env.cold_read("Reminder - please bring laptop.eml"),
        attached_mail
    );
    let sidecar = t.json_sidecar("facture.pdf");
    for field in [
        "message_id",
        "from",
        "to",
        "subject",
        "date",
        "mailbox",
        "attachment_name",
        "graph_id",
    ] {
        assert!(sidecar.get(field).is_some(), "{field} missing in {sidecar}");
    }
    assert_eq!(sidecar["subject"], "Invoice 42");
    assert_eq!(sidecar["from"], "Adele Vance <AdeleV@contoso.com>");
    assert_eq!(sidecar["to"], "Me <me@contoso.com>");
    assert_eq!(sidecar["date"], "2024-03-01T00:01:00Z");
    assert_eq!(sidecar["mailbox"], "me:inbox");
    assert_eq!(sidecar["attachment_name"], "facture.pdf");
    assert_eq!(sidecar["graph_id"].as_str(), Some(id.as_str()));
    assert_eq!(
        sidecar["source_item"].as_str(),
        Some(format!("o365:{id}").as_str())
    );
    let values: Vec<String> = t
        .fake
        .routed()
        .into_iter()
        .filter(|r| r.path.ends_with("/$value"))
        .map(|r| r.path)
        .collect();
    let attachments = t.fake.mail("me", &id).unwrap().attachments;
    let value_of = |i: usize| format!("/attachments/{}/$value", attachments[i].id);
    // The attached mail comes as MIME, through $value, whatever the mail's size.
    assert!(
        values.iter().any(|v| v.ends_with(&value_of(1))),
        "{values:?}"
    );
    let batched = t.fake.state().batched.clone();
    if large {
        // Listed without their bytes, which came through $value, in a batch.
        let listed = batched
            .iter()
            .find(|r| r.path.ends_with("/attachments"))
            .expect("the attachments were not listed in a batch");
        assert!(listed
            .param("$select")
            .is_some_and(|s| !s.contains("contentBytes")));
        assert!(
            values.iter().any(|v| v.ends_with(&value_of(0))),
            "{values:?}"
        );
    } else {
        // A small mail's files came with it, expanded, in a batch: no $value for them.
        assert!(batched
            .iter()
            .any(|r| r.path.ends_with(&format!("/messages/{id}"))
                && r.param("$expand") == Some("attachments")));
        assert!(
            !values
                .iter()
                .any(|v| v.ends_with(&value_of(0)) || v.ends_with(&value_of(4))),
            "{values:?}"
        );
    }
    assert!(t.fake.mail("me", &id).unwrap().is_read);
}

#[test]
fn take_eml_and_both() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    let mime = b"From: a@b\r\nSubject: Whole\r\n\r\nthe whole mail\r\n";
    t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("Whole")
            .mime(mime)
            .file("a.pdf", "application/pdf", b"a"),
    );
    t.run(&["--take", "eml"]).expect_code(0);
    assert_eq!(t.env.cold_names(), vec!["Whole.eml"]);
    assert_eq!(t.env.cold_read("Whole.eml"), mime);
    assert_eq!(t.graph_requests("GET", "/attachments"), 0);
    t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("")
            .mime(mime)
            .file("b.pdf", "application/pdf", b"b"),
    );
    t.run(&["--take", "both"]).expect_code(0);
    assert_eq!(
        t.env.cold_names(),
        vec!["Whole.eml", "b.pdf", "message.eml"]
    );
}

#[test]
fn a_20_mb_attachment_arrives_intact() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    let mut random = Random::new(20);
    let big: Vec<u8> = (0..20 << 20).map(|_| random.below(256) as u8).collect();
    t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("big").file("big.tif", "image/tiff", &big),
    );
    t.run(&[]).expect_code(0).expect_quiet();
    let deposited = t.env.cold_read("big.tif");
    assert_eq!(deposited.len(), big.len());
    assert_eq!(sha256(&deposited), sha256(&big));
    // The temporary download is gone from the state folder.
    let leftovers: Vec<String> = names(&t.env.state.join(NAME))
        .into_iter()
        .filter(|n| n.contains("o365-"))
        .collect();
    assert_eq!(leftovers, vec!["o365-tokens.json"]);
}

#[test]
fn one_broken_mail_fails_alone_and_stays_unread() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    let a = t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("a").file("a.pdf", "application/pdf", b"a"),
    );
    let b = t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("broken").file("b.pdf", "application/pdf", b"b"),
    );
    let c = t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("c").file("c.pdf", "application/pdf", b"c"),
    );
    // A large mail whose attachment Graph fails to serve through $value.
    let d = t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("big and broken")
            .size(5 << 20)
            .file("d.pdf", "application/pdf", b"d"),
    );
    // Graph fails on mail b itself (its request in the batch, and any asked alone).
    t.fake
        .fail(Some("GET"), &format!("/messages/{b}"), 500, None, 1000);
    let attachment = t.fake.mail("me", &d).unwrap().attachments[0].id.clone();
    t.fake.fail(
        Some("GET"),
        &format!("{attachment}/$value"),
        500,
        None,
        1000,
    );
    let ran = t.run(&[]);
    ran.expect_code(1)
        .expect_stderr_contains("«broken»")
        .expect_stderr_contains("«big and broken»")
        .expect_stderr_contains("InternalServerError");
    assert_eq!(t.env.cold_names(), vec!["a.pdf", "c.pdf"]);
    assert!(t.fake.mail("me", &a).unwrap().is_read);
    assert!(!t.fake.mail("me", &b).unwrap().is_read);
    assert!(t.fake.mail("me", &c).unwrap().is_read);
    assert!(!t.fake.mail("me", &d).unwrap().is_read);
}
