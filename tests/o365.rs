//! `lanceur o365` end to end: the real binary against the fake identity platform and Graph of
//! `harness/graph.rs`. See: issue 5.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::harness::graph::{FakeGraph, Mail, CLIENT_ID, CLIENT_SECRET, USER_CODE};
use crate::harness::{names, sha256, Ran, Random, TestEnv};

const NAME: &str = "box";

struct O365 {
    env: TestEnv,
    fake: FakeGraph,
}

impl O365 {
    fn new() -> O365 {
        O365 {
            env: TestEnv::new(),
            fake: FakeGraph::start(),
        }
    }

    fn endpoints(&self) -> Vec<String> {
        vec![
            "--client-id".into(),
            CLIENT_ID.into(),
            "--login-url".into(),
            self.fake.login_url(),
            "--graph-url".into(),
            self.fake.graph_url(),
            "--name".into(),
            NAME.into(),
        ]
    }

    fn args(&self, login: bool, extra: &[&str]) -> Vec<String> {
        let mut args = vec!["o365".to_string()];
        if login {
            args.push("login".into());
        }
        args.extend(self.endpoints());
        if !login {
            args.extend(["--dest".into(), self.env.cold.display().to_string()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    fn login(&self, extra: &[&str]) -> Ran {
        let args = self.args(true, extra);
        self.env
            .run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn run(&self, extra: &[&str]) -> Ran {
        let args = self.args(false, extra);
        self.env
            .run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn run_with_env(&self, extra: &[&str], vars: &[(&str, &str)]) -> Ran {
        let mut command = self.env.command();
        command.args(self.args(false, extra));
        for (key, value) in vars {
            command.env(key, value);
        }
        self.env.run_command(command)
    }

    fn cache_path(&self) -> std::path::PathBuf {
        self.env.state.join(NAME).join("o365-tokens.json")
    }

    fn cache(&self) -> Value {
        serde_json::from_str(&fs::read_to_string(self.cache_path()).unwrap()).unwrap()
    }

    fn graph_requests(&self, method: &str, path_end: &str) -> usize {
        self.fake
            .requests()
            .iter()
            .filter(|r| r.is_graph() && r.method == method && r.path.ends_with(path_end))
            .count()
    }

    /// The cycle's listings (the login's check asks for one mail, unordered).
    fn listings(&self) -> Vec<crate::harness::graph::Request> {
        self.fake
            .requests()
            .into_iter()
            .filter(|r| {
                r.method == "GET" && r.path.ends_with("/messages") && r.param("$orderby").is_some()
            })
            .collect()
    }

    fn json_sidecar(&self, document: &str) -> Value {
        serde_json::from_slice(&self.env.cold_read(&format!("{document}.json"))).unwrap()
    }
}

fn pdf(tag: &str) -> Vec<u8> {
    format!("%PDF-1.4\n% {tag}\n%%EOF\n").into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Login

#[test]
fn device_code_login_waits_for_the_user_then_saves_private_tokens() {
    let t = O365::new();
    {
        let mut state = t.fake.state();
        state.device_interval = 1;
        state.device_script = ["authorization_pending", "authorization_pending"].into();
    }
    let ran = t.login(&[]);
    ran.expect_code(0);
    assert!(ran.stdout.contains(USER_CODE), "{}", ran.explain());
    assert!(
        ran.stdout.contains("https://microsoft.com/devicelogin"),
        "{}",
        ran.explain()
    );
    let polls = t
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/token") && r.form()["grant_type"].contains("device_code"))
        .count();
    assert_eq!(polls, 3, "{}", ran.explain());
    assert_eq!(
        t.fake.state().early_polls,
        0,
        "polled faster than the interval"
    );
    let cache = t.cache();
    assert_eq!(
        cache["refresh_token"].as_str(),
        t.fake.state().latest_refresh_token.as_deref()
    );
    assert!(cache["scope"].as_str().unwrap().contains("Mail.ReadWrite"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(t.cache_path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "token cache must be private");
    }
    // The login checked the folder; the run now fetches on its own.
    t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("Invoice").file("f.pdf", "application/pdf", &pdf("f")),
    );
    t.run(&[]).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_names(), vec!["f.pdf"]);
}

#[test]
fn slow_down_makes_the_login_poll_five_seconds_slower() {
    let t = O365::new();
    t.fake.state().device_script = ["slow_down"].into();
    t.login(&[]).expect_code(0);
    // The fake answers slow_down again to any poll sooner than the interval then in force.
    assert_eq!(t.fake.state().early_polls, 0, "did not slow down by 5 s");
    assert!(t.cache_path().exists());
}

#[test]
fn failed_logins_exit_3_with_a_plain_reason() {
    for (error, says) in [
        ("expired_token", "the code expired"),
        ("authorization_declined", "declined"),
        ("bad_verification_code", "does not know this sign-in code"),
        ("invalid_client", "Allow public client flows"),
    ] {
        let t = O365::new();
        t.fake.state().device_script = ["authorization_pending", error].into();
        let ran = t.login(&[]);
        ran.expect_code(3).expect_stderr_contains(says);
        assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
        assert!(!t.cache_path().exists(), "{}", ran.explain());
    }
}

#[test]
fn a_run_before_any_login_exits_3_and_says_how_to_sign_in() {
    let t = O365::new();
    t.fake.add_mail("me", "inbox", Mail::new("x"));
    let ran = t.run(&[]);
    ran.expect_code(3)
        .expect_stderr_contains("has not signed in")
        .expect_stderr_contains("lanceur o365 login");
    // Nothing reached Graph, but the fake must have been called: a login then works.
    t.login(&[]).expect_code(0);
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[test]
fn refresh_tokens_rotate_and_the_newest_is_always_saved() {
    let t = O365::new();
    // Access tokens shorter than lanceur's margin: every run must refresh.
    t.fake.state().access_expires_in = 60;
    t.login(&[]).expect_code(0);
    let first = t.cache()["refresh_token"].as_str().unwrap().to_string();
    for i in 0..3 {
        t.fake.add_mail(
            "me",
            "inbox",
            Mail::new(&format!("m{i}")).file(
                &format!("{i}.pdf"),
                "application/pdf",
                &pdf(&i.to_string()),
            ),
        );
        t.run(&[]).expect_code(0).expect_quiet();
    }
    assert_eq!(t.env.cold_names(), vec!["0.pdf", "1.pdf", "2.pdf"]);
    let state = t.fake.state();
    assert_eq!(state.refreshes, 3);
    assert_eq!(state.reused_refresh_tokens, 0);
    let saved = t.cache()["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(Some(saved.as_str()), state.latest_refresh_token.as_deref());
    assert_ne!(saved, first);
    drop(state);
    assert_eq!(
        names(&t.env.state.join(NAME))
            .iter()
            .filter(|n| n.contains("tokens"))
            .count(),
        1
    );
    // The fake really rejects an old refresh token: putting the first one back breaks the run.
    let mut cache = t.cache();
    cache["refresh_token"] = Value::String(first);
    fs::write(t.cache_path(), cache.to_string()).unwrap();
    t.run(&[])
        .expect_code(3)
        .expect_stderr_contains("lanceur o365 login");
    assert_eq!(t.fake.state().reused_refresh_tokens, 1);
}

#[test]
fn an_expired_sign_in_exits_3_with_one_line_saying_to_log_in_again() {
    let t = O365::new();
    t.fake.state().access_expires_in = 60;
    t.login(&[]).expect_code(0);
    let id = t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("x").file("x.pdf", "application/pdf", b"x"),
    );
    t.fake.state().refresh_error = Some(("invalid_grant", 700082));
    let ran = t.run(&[]);
    ran.expect_code(3)
        .expect_stderr_contains("run `lanceur o365 login --client-id")
        .expect_stderr_contains("--name box")
        .expect_stderr_contains("90 days");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    assert!(t.env.cold_names().is_empty());
    assert!(!t.fake.mail("me", &id).unwrap().is_read);
}

#[test]
fn a_rejected_access_token_is_renewed_once_and_the_request_retried() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("x").file("x.pdf", "application/pdf", b"x"),
    );
    t.fake.expire_access_tokens();
    t.run(&[]).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_names(), vec!["x.pdf"]);
    assert_eq!(t.fake.state().refreshes, 1);
}

#[test]
fn app_only_needs_no_login_and_takes_its_secret_from_env_or_file() {
    let t = O365::new();
    t.fake.add_mailbox("shared@contoso.com", false);
    t.fake.add_mail(
        "shared@contoso.com",
        "inbox",
        Mail::new("a").file("a.pdf", "application/pdf", &pdf("a")),
    );
    let shared = [
        "--tenant",
        "contoso.com",
        "--mailbox",
        "shared@contoso.com:inbox",
    ];
    t.run_with_env(&shared, &[("LANCEUR_O365_CLIENT_SECRET", CLIENT_SECRET)])
        .expect_code(0)
        .expect_quiet();
    assert_eq!(t.env.cold_names(), vec!["a.pdf"]);
    assert!(!t.cache_path().exists(), "app-only keeps no token cache");
    let requests = t.fake.requests();
    assert!(requests.iter().any(|r| r.path.ends_with("/token")
        && r.form()["grant_type"] == "client_credentials"
        && r.form()["scope"].ends_with("/.default")));
    assert!(requests
        .iter()
        .filter(|r| r.is_graph())
        .all(|r| r.path.starts_with("/v1.0/users/shared@contoso.com/")));

    t.fake.add_mail(
        "shared@contoso.com",
        "inbox",
        Mail::new("b").file("b.pdf", "application/pdf", &pdf("b")),
    );
    let secret = t.env.root().join("secret");
    fs::write(&secret, format!("{CLIENT_SECRET}\n")).unwrap();
    let mut args = shared.to_vec();
    let secret_arg = secret.display().to_string();
    args.extend(["--client-secret-file", &secret_arg]);
    t.run(&args).expect_code(0);
    assert_eq!(t.env.cold_names(), vec!["a.pdf", "b.pdf"]);

    let ran = t.run_with_env(
        &shared,
        &[("LANCEUR_O365_CLIENT_SECRET", "not-the-secret-42")],
    );
    ran.expect_code(3).expect_stderr_contains("secret is wrong");
    assert!(
        !ran.stderr.contains("not-the-secret-42"),
        "{}",
        ran.explain()
    );
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    // App-only has no "me".
    t.run_with_env(
        &["--tenant", "contoso.com"],
        &[("LANCEUR_O365_CLIENT_SECRET", CLIENT_SECRET)],
    )
    .expect_code(2)
    .expect_stderr_contains("no \"me\"");
}

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
    t.fake.fail(Some("GET"), "/$value", 503, Some(1), 1);
    t.run(&[]).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_names(), vec!["x.pdf"]);
    assert_eq!(t.listings().len(), 2);
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
// Documents

#[test]
fn attachments_of_each_kind() {
    attachments_of_each_kind_when(false);
}

#[test]
fn attachments_of_each_kind_even_without_their_odata_type() {
    attachments_of_each_kind_when(true);
}

fn attachments_of_each_kind_when(untyped: bool) {
    let t = O365::new();
    t.fake.state().untyped_selected_attachments = untyped;
    t.login(&[]).expect_code(0);
    let attached_mail = b"From: a@b\r\nSubject: Reminder\r\n\r\nplease bring laptop\r\n";
    let id = t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("Invoice 42")
            .file("facture.pdf", "application/pdf", &pdf("facture"))
            .item("Reminder - please bring laptop", attached_mail)
            .reference("Sales Invoice Template.docx")
            .inline("image001.png", "image/png", b"\x89PNG logo")
            .inline("scan.pdf", "application/pdf", &pdf("inline")),
    );
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
    // Attachments were listed without their bytes, which came through $value.
    let listed = t
        .fake
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/attachments"))
        .unwrap();
    assert!(listed
        .param("$select")
        .is_some_and(|s| !s.contains("contentBytes")));
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
    let attachment = t.fake.mail("me", &b).unwrap().attachments[0].id.clone();
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
        .expect_stderr_contains("InternalServerError");
    assert_eq!(t.env.cold_names(), vec!["a.pdf", "c.pdf"]);
    assert!(t.fake.mail("me", &a).unwrap().is_read);
    assert!(!t.fake.mail("me", &b).unwrap().is_read);
    assert!(t.fake.mail("me", &c).unwrap().is_read);
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
    t.run(&["--post-action", "move", "--move-to", "Inbox/Traités"])
        .expect_code(0);
    assert_eq!(t.fake.folder_of("me", &moved).as_deref(), Some("Traités"));
    assert!(!t.fake.mail("me", &moved).unwrap().is_read);

    let deleted = add("deleted");
    t.run(&["--post-action", "delete"]).expect_code(0);
    assert!(t.fake.mail("me", &deleted).is_none());

    let kept = add("kept");
    t.run(&["--post-action", "none"]).expect_code(0);
    t.run(&["--post-action", "none"]).expect_code(0);
    assert!(!t.fake.mail("me", &kept).unwrap().is_read);
    assert_eq!(
        t.env.cold_names(),
        vec!["deleted.pdf", "kept.pdf", "moved.pdf", "read.pdf"]
    );

    t.run(&["--post-action", "move"]).expect_code(2);
    t.run(&["--post-action", "move", "--move-to", "Nowhere"])
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
        "--post-action",
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
    t.run(&[
        "--post-action",
        "move",
        "--move-to",
        "archive",
        "--index",
        "idx",
    ])
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

// ---------------------------------------------------------------------------------------------
// Mailboxes, errors, help

#[test]
fn a_shared_mailbox_through_delegation() {
    let t = O365::new();
    t.fake.add_mailbox("shared@contoso.com", true);
    t.fake.add_mail(
        "shared@contoso.com",
        "inbox",
        Mail::new("s").file("s.pdf", "application/pdf", b"s"),
    );
    let shared = ["--mailbox", "shared@contoso.com:inbox"];
    t.login(&shared).expect_code(0);
    assert!(t.cache()["scope"]
        .as_str()
        .unwrap()
        .contains("Mail.ReadWrite.Shared"));
    t.run(&shared).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_names(), vec!["s.pdf"]);
    let graph: Vec<_> = t
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.is_graph())
        .collect();
    assert!(graph
        .iter()
        .all(|r| r.path.starts_with("/v1.0/users/shared@contoso.com/")));
    // Without Full Access on the mailbox: authentication code, with the remedy.
    t.fake
        .state()
        .mailboxes
        .get_mut("shared@contoso.com")
        .unwrap()
        .delegated_access = false;
    t.run(&shared)
        .expect_code(3)
        .expect_stderr_contains("needs Full Access");
    // The sign-in for "me" does not cover a shared mailbox.
    let t = O365::new();
    t.login(&[]).expect_code(0);
    t.run(&["--mailbox", "shared@contoso.com"])
        .expect_code(3)
        .expect_stderr_contains("without the permissions this mailbox needs");
}

#[test]
fn misconfigurations_are_refused_before_any_request() {
    let t = O365::new();
    let cold = t.env.cold.display().to_string();
    let remote = ["o365", "--client-id", CLIENT_ID, "--dest", &cold];
    let mut args = remote.to_vec();
    args.extend(["--graph-url", "http://graph.example.com/v1.0"]);
    t.env
        .run(&args)
        .expect_code(2)
        .expect_stderr_contains("unencrypted");
    let mut args = remote.to_vec();
    args.extend(["--login-url", "http://10.0.0.1"]);
    t.env
        .run(&args)
        .expect_code(2)
        .expect_stderr_contains("unencrypted");
    t.run(&["--mailbox", "a@b:inbox", "--folder", "inbox"])
        .expect_code(2);
    t.run(&["--select", "all", "--since", "soon"])
        .expect_code(2);
    assert!(t.fake.requests().is_empty());
    // A missing well-known folder is the source's problem.
    t.login(&[]).expect_code(0);
    t.run(&["--folder", "junkemail"])
        .expect_code(4)
        .expect_stderr_contains("not found");
}

#[test]
fn help_teaches_the_login_and_the_cron_line() {
    let t = O365::new();
    let ran = t.env.run(&["o365", "--help"]);
    ran.expect_code(0);
    for text in [
        "lanceur o365 login",
        "crontab",
        "LANCEUR_O365_CLIENT_SECRET",
        "--select",
        "Mail.ReadWrite.Shared",
    ] {
        assert!(ran.stdout.contains(text), "{text}\n{}", ran.explain());
    }
    let ran = t.env.run(&["o365", "login", "--help"]);
    ran.expect_code(0);
    assert!(ran.stdout.contains("device code"), "{}", ran.explain());
    // The fake must be called for its drop check; a login does that.
    t.login(&[]).expect_code(0);
}

// ---------------------------------------------------------------------------------------------
// Crash safety

#[test]
fn kill_9_during_runs_loses_nothing_and_deposits_nothing_twice() {
    let t = O365::new();
    t.fake.state().page_cap = 7;
    t.login(&[]).expect_code(0);
    let mut random = Random::from_time();
    let mut known = BTreeSet::new();
    let mut ids = Vec::new();
    const MAILS: usize = 150;
    const CAP: usize = 10;
    const KILLS: usize = 40;
    for i in 0..MAILS {
        let size = 1 + random.below(100 * 1024) as usize;
        let mut content = format!("document {i}\n").into_bytes();
        content.resize(size.max(content.len()), b'a' + (i % 26) as u8);
        known.insert(sha256(&content));
        ids.push(t.fake.add_mail(
            "me",
            "inbox",
            Mail::new(&format!("mail {i}")).file(
                &format!("doc{i:03}.pdf"),
                "application/pdf",
                &content,
            ),
        ));
    }
    let cap = CAP.to_string();
    let args = t.args(false, &["--index", "idx", "--max-items", &cap]);
    let mut finished = 0;
    for round in 0..KILLS {
        let mut child = t
            .env
            .command()
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(random.below(120_000)));
        match child.try_wait().unwrap() {
            Some(status) => {
                finished += 1;
                assert!(
                    status.success(),
                    "run {round} failed before the kill: {status}"
                );
            }
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
            }
        }
        for name in t.env.cold_visible() {
            if name.ends_with(".pdf") {
                assert!(
                    known.contains(&sha256(&t.env.cold_read(&name))),
                    "partial {name} after kill {round}"
                );
            }
        }
    }
    let during_kills = t
        .env
        .cold_visible()
        .iter()
        .filter(|n| n.ends_with(".pdf"))
        .count();
    for _ in 0..=MAILS / CAP {
        t.run(&["--index", "idx", "--max-items", &CAP.to_string()])
            .expect_code(0);
    }
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in t.env.cold_names() {
        assert!(
            !name.starts_with('.'),
            "temporary file {name} left\n{}",
            t.env.listing()
        );
        if name.ends_with(".pdf") {
            seen.entry(sha256(&t.env.cold_read(&name)))
                .or_default()
                .push(name);
        }
    }
    let twice: Vec<_> = seen.values().filter(|n| n.len() > 1).collect();
    assert!(twice.is_empty(), "deposited more than once: {twice:?}");
    assert_eq!(
        seen.len(),
        known.len(),
        "documents lost\n{}",
        t.env.listing()
    );
    assert!(
        ids.iter().all(|id| t.fake.mail("me", id).unwrap().is_read),
        "mails left unread"
    );
    eprintln!(
        "{KILLS} kills, {finished} runs finished before their kill, {during_kills} documents deposited \
         by killed runs"
    );
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
    t.fake.fail(Some("GET"), "/attachments", 404, None, 1);
    t.run(&[]).expect_code(0).expect_quiet();
    assert!(t.env.cold_names().is_empty());
    assert!(!t.fake.mail("me", &id).unwrap().is_read);
    t.run(&[]).expect_code(0);
    assert_eq!(t.env.cold_names(), vec!["x.pdf"]);
}
