//! Attachments in few requests (issue 17): 200 mails must not cost 200 requests or more. Small
//! mails come with their attachments expanded (`$expand=attachments`), 20 to a JSON batch;
//! larger ones have their attachments listed in the same batches and streamed through `$value`;
//! one batch at a time, so that Graph's four requests at once per mailbox are never exceeded.
//! The fake serves the documented batch shapes and counts what it was asked. See: issue 17.

use super::*;
use crate::harness::graph::Request;

/// The requests that fetched attachments (batches, listings, `$value`), as sent by lanceur.
fn attachment_requests(t: &O365) -> Vec<Request> {
    t.fake
        .requests()
        .into_iter()
        .filter(|r| {
            r.path == "/v1.0/$batch"
                || r.path.contains("/attachments")
                || r.path.ends_with("/$value")
        })
        .collect()
}

fn document(i: usize, size: usize) -> Vec<u8> {
    let mut content = format!("%PDF-1.4\n% document {i}\n").into_bytes();
    content.resize(size, b'0' + (i % 10) as u8);
    content.extend_from_slice(b"\n%%EOF\n");
    content
}

/// `count` mails `m0`, `m1`… in the inbox, each with one PDF `m{i}.pdf` of `size` bytes; their ids.
fn add_mails(t: &O365, count: usize, size: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            t.fake.add_mail(
                "me",
                "inbox",
                Mail::new(&format!("m{i}")).file(
                    &format!("m{i}.pdf"),
                    "application/pdf",
                    &document(i, size),
                ),
            )
        })
        .collect()
}

// See: issue 17
#[test]
fn two_hundred_mails_take_fewer_requests_than_mails() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    let mut expected = BTreeMap::new();
    for i in 0..200 {
        let mut mail = Mail::new(&format!("Facture {i}"));
        let name = format!("facture-{i:03}.pdf");
        let bytes = document(i, 20_000 + i * 300);
        mail = mail.file(&name, "application/pdf", &bytes);
        expected.insert(name, bytes);
        if i % 10 == 0 {
            let name = format!("annexe-{i:03}.pdf");
            let bytes = document(i + 1000, 5000);
            mail = mail.file(&name, "application/pdf", &bytes);
            expected.insert(name, bytes);
        }
        if i % 50 == 7 {
            // Large by its size: attachments listed, then streamed.
            mail = mail.size(5 << 20);
        }
        t.fake.add_mail("me", "inbox", mail);
    }
    t.run(&[]).expect_code(0).expect_quiet();
    let deposited = t.env.cold_visible();
    assert_eq!(deposited.len(), expected.len());
    for (name, bytes) in &expected {
        assert_eq!(&t.env.cold_read(name), bytes, "{name}");
    }

    let fetching = attachment_requests(&t);
    assert!(
        fetching.len() < 200,
        "{} requests for 200 mails' attachments",
        fetching.len()
    );
    let batches: Vec<&Request> = fetching
        .iter()
        .filter(|r| r.path == "/v1.0/$batch")
        .collect();
    // One request per mail inside the batches, at most 20 per batch, none depending on another.
    let mut inside = 0;
    for batch in &batches {
        let body: Value = serde_json::from_slice(&batch.body).unwrap();
        let requests = body["requests"].as_array().unwrap();
        assert!(
            (1..=20).contains(&requests.len()),
            "{} requests in a batch",
            requests.len()
        );
        for one in requests {
            assert!(one.get("dependsOn").is_none());
            assert_eq!(one["method"], "GET");
            assert_eq!(one["headers"]["Prefer"], "IdType=\"ImmutableId\"");
        }
        inside += requests.len();
    }
    assert_eq!(inside, 200);
    assert_eq!(batches.len(), 10);
    // Only the four large mails' attachments came through $value, one request each.
    let values = fetching
        .iter()
        .filter(|r| r.path.ends_with("/$value"))
        .count();
    assert_eq!(values, 4);
    let state = t.fake.state();
    assert!(
        state.max_in_flight <= 4,
        "{} requests in flight at once",
        state.max_in_flight
    );
    assert_eq!(state.concurrency_refusals, 0);
    let expanded = state
        .batched
        .iter()
        .filter(|r| r.param("$expand") == Some("attachments"))
        .count();
    assert_eq!(expanded, 196);
}

// See: issue 17
#[test]
fn a_request_throttled_inside_a_batch_is_sent_again_after_its_retry_after() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    let ids = add_mails(&t, 5, 900);
    // Graph answers 429 to the request for mail 2 inside the batch, once.
    t.fake.fail(
        Some("GET"),
        &format!("/messages/{}", ids[2]),
        429,
        Some(1),
        1,
    );
    t.run(&[]).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_visible().len(), 5);
    let batches: Vec<Value> = attachment_requests(&t)
        .iter()
        .map(|r| {
            assert_eq!(
                r.path, "/v1.0/$batch",
                "a request outside the batches: {}",
                r.path
            );
            serde_json::from_slice(&r.body).unwrap()
        })
        .collect();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0]["requests"].as_array().unwrap().len(), 5);
    let again = batches[1]["requests"].as_array().unwrap();
    assert_eq!(again.len(), 1);
    // Ids end in `=`, which the URL carries percent-encoded.
    assert!(again[0]["url"]
        .as_str()
        .unwrap()
        .contains(ids[2].trim_end_matches('=')));
    // After the Retry-After it was given.
    let sent = t.fake.requests();
    let at: Vec<_> = sent
        .iter()
        .filter(|r| r.path == "/v1.0/$batch")
        .map(|r| r.at)
        .collect();
    assert!(at[1].duration_since(at[0]) >= std::time::Duration::from_secs(1));
}

// See: issue 17
#[test]
fn a_batch_holds_at_most_eight_mebibytes_of_small_mails() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    add_mails(&t, 12, 2 << 20);
    t.run(&[]).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_visible().len(), 12);
    let sizes: Vec<usize> = attachment_requests(&t)
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["requests"].as_array().unwrap().len()
        })
        .collect();
    // About 2.7 MiB per mail as stored: two to a batch, since three would pass 8 MiB.
    assert_eq!(sizes, vec![2, 2, 2, 2, 2, 2]);
}

// See: issue 17
#[test]
fn a_batch_refused_as_a_whole_falls_back_to_one_mail_at_a_time() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    add_mails(&t, 3, 900);
    t.fake.fail(Some("POST"), "/$batch", 400, None, 1);
    t.run(&[]).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_visible().len(), 3);
    // Each mail's attachments listed alone, then their bytes through $value.
    assert_eq!(t.graph_requests("GET", "/attachments"), 3);
    assert_eq!(t.graph_requests("GET", "/$value"), 3);
}
