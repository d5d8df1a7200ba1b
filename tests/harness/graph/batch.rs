//! The fake's JSON batching (`POST /v1.0/$batch`, microsoft-graph-docs
//! `concepts/json-batching.md`) and Outlook's concurrency limit per mailbox
//! (`concepts/throttling-limits.md`).
//!
//! A batch holds 1 to 20 requests, each with a unique `id`, a `method` and a `url` relative to the
//! version (`/me/messages/…`); a `body` needs a `Content-Type` header. Each request goes through
//! the same routing as a request of its own (faults included), with the envelope's
//! `Authorization`; the answers come in another order than the requests (Graph does not promise
//! one), each with its `status`, `headers` and `body` (JSON, or base64 for any other content).
//!
//! Concurrency: Outlook serves at most four requests of one application per mailbox at a time,
//! and Graph dispatches up to four requests of a batch at once. The fake counts the requests in
//! flight per mailbox (a batch counting as up to four), answers one beyond the limit with 429
//! `ApplicationThrottled`, "Application is over its MailboxConcurrency limit.", and remembers the
//! highest count seen and the refusals, for tests to check. (A run killed in the middle of a batch
//! leaves it in flight for a moment, as Exchange would, so the next run may be refused once and
//! wait.)

use super::http::*;
use super::identity::route_locked;
use super::*;

/// Outlook's concurrent requests per application and mailbox.
pub const MAILBOX_CONCURRENCY: usize = 4;

pub(super) fn serve(state: &mut State, request: &Request) -> Response {
    let Ok(envelope) = serde_json::from_slice::<Value>(&request.body) else {
        return graph_error(400, "BadRequest", "Invalid batch payload format.");
    };
    let Some(requests) = envelope.get("requests").and_then(Value::as_array) else {
        return graph_error(400, "BadRequest", "Invalid batch payload format.");
    };
    if requests.is_empty() || requests.len() > 20 {
        return graph_error(
            400,
            "BadRequest",
            "Number of batch requests must be between 1 and 20.",
        );
    }
    let mut ids = HashSet::new();
    let mut inner = Vec::new();
    for one in requests {
        let (Some(id), Some(method), Some(url)) = (
            one.get("id").and_then(Value::as_str),
            one.get("method").and_then(Value::as_str),
            one.get("url").and_then(Value::as_str),
        ) else {
            return graph_error(
                400,
                "BadRequest",
                "A batch request needs id, method and url.",
            );
        };
        if !ids.insert(id.to_ascii_lowercase()) {
            return graph_error(400, "BadRequest", "Batch request ids must be unique.");
        }
        if url.starts_with("http") || url.contains("$batch") {
            return graph_error(400, "BadRequest", "Invalid request url in a batch.");
        }
        let mut headers: Vec<(String, String)> = request
            .headers
            .iter()
            .filter(|(name, _)| name == "authorization")
            .cloned()
            .collect();
        for (name, value) in one
            .get("headers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            headers.push((
                name.to_ascii_lowercase(),
                value.as_str().unwrap_or_default().to_string(),
            ));
        }
        let body = match one.get("body") {
            Some(_) if !headers.iter().any(|(n, _)| n == "content-type") => {
                return graph_error(400, "BadRequest", "A request body needs a Content-Type.");
            }
            Some(body) => body.to_string().into_bytes(),
            None => Vec::new(),
        };
        let relative = url.strip_prefix('/').unwrap_or(url);
        let (path, query) = match relative.split_once('?') {
            Some((path, query)) => (path, parse_query(query, false)),
            None => (relative, Vec::new()),
        };
        inner.push((
            id.to_string(),
            Request {
                method: method.to_string(),
                path: format!("/v1.0/{}", decode(path, false)),
                query,
                headers,
                body,
                at: Instant::now(),
            },
        ));
    }
    let mut responses = Vec::new();
    for (id, one) in inner {
        state.batched.push(one.clone());
        let answer = route_locked(state, &one);
        let mut headers = serde_json::Map::new();
        headers.insert("Content-Type".into(), json!(answer.content_type));
        for (name, value) in &answer.headers {
            headers.insert(name.clone(), json!(value));
        }
        let body = if answer.content_type.starts_with("application/json") {
            serde_json::from_slice(&answer.body).unwrap_or(Value::Null)
        } else {
            json!(base64(&answer.body))
        };
        responses
            .push(json!({"id": id, "status": answer.status, "headers": headers, "body": body}));
    }
    // Graph promises no order: the client must match answers by id.
    responses.reverse();
    Response::json(200, json!({ "responses": responses }))
}

/// The mailboxes a request reaches, with how many of Outlook's concurrent slots it takes in each.
pub(super) fn mailbox_slots(request: &Request) -> Vec<(String, usize)> {
    let mailbox_of = |path: &str| -> Option<String> {
        let rest = path.strip_prefix("/v1.0/")?;
        let mut segments = rest.split('/');
        match segments.next()? {
            "me" => Some("me".into()),
            "users" => segments.next().map(str::to_ascii_lowercase),
            _ => None,
        }
    };
    if request.path != "/v1.0/$batch" {
        return mailbox_of(&request.path)
            .map(|m| (m, 1))
            .into_iter()
            .collect();
    }
    let envelope: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for one in envelope["requests"].as_array().into_iter().flatten() {
        let url = one["url"].as_str().unwrap_or_default();
        let path = format!("/v1.0/{}", url.trim_start_matches('/'));
        if let Some(mailbox) = mailbox_of(&decode(path.split('?').next().unwrap(), false)) {
            *counts.entry(mailbox).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .map(|(mailbox, n)| (mailbox, n.min(MAILBOX_CONCURRENCY)))
        .collect()
}

/// Takes `slots` for a request about to be served, or answers the 429 Outlook would.
pub(super) fn enter(state: &mut State, slots: &[(String, usize)]) -> Option<Response> {
    let over = slots.iter().any(|(mailbox, n)| {
        state.in_flight.get(mailbox).copied().unwrap_or(0) + n > MAILBOX_CONCURRENCY
    });
    if over {
        state.concurrency_refusals += 1;
        let mut response = graph_error(
            429,
            "ApplicationThrottled",
            "Application is over its MailboxConcurrency limit.",
        );
        response.headers.push(("Retry-After".into(), "1".into()));
        return Some(response);
    }
    for (mailbox, n) in slots {
        let count = state.in_flight.entry(mailbox.clone()).or_default();
        *count += n;
        state.max_in_flight = state.max_in_flight.max(*count);
    }
    None
}

/// Gives back what `enter` took.
pub(super) fn leave(state: &mut State, slots: &[(String, usize)]) {
    for (mailbox, n) in slots {
        if let Some(count) = state.in_flight.get_mut(mailbox) {
            *count = count.saturating_sub(*n);
        }
    }
}
