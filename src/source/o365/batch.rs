//! JSON batching: up to 20 GET requests in one `POST {graph}/$batch`
//! (microsoft-graph-docs `concepts/json-batching.md`).
//!
//! - The envelope's own status is handled by `Graph::send` (401 renewed, 429/503 waited out);
//!   each request inside has its own status, 200 on the envelope promises nothing about them.
//! - Requests inside a batch are judged one by one against the throttling limits: those answered
//!   429, 503 or 504 are sent again, in a batch of their own, after the longest `Retry-After`
//!   they carry, up to `MAX_ATTEMPTS` tries; those still throttled come back unanswered, for the
//!   caller to ask one by one (with `Graph::send`'s own waiting).
//! - Concurrency: Graph dispatches at most four requests of a batch at once to Outlook, whatever
//!   their mailbox, and four is Outlook's limit per mailbox ("Outlook service batching" in
//!   `concepts/throttling-limits.md`); one batch at a time with no `dependsOn`, as here, is one of
//!   the two ways it names to stay within it. So a run never has more than four requests in
//!   flight to a mailbox, and needs no thread of its own.
//! - Every request carries `Prefer: IdType="ImmutableId"`, as the envelope does.

use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};

use super::graph::{backoff, Graph, GraphError, Method, MAX_ATTEMPTS, MAX_WAIT};

/// Most requests in one batch (Graph's limit).
pub const MAX_REQUESTS: usize = 20;

/// The answer to one request of a batch.
#[derive(Debug)]
pub enum Answer {
    /// 2xx, with its JSON body.
    Json(Value),
    /// Graph's refusal of this request alone.
    Refused(GraphError),
    /// Still throttled after every try, or not understood: to be asked on its own.
    Unanswered,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    responses: Vec<Response>,
}

#[derive(Deserialize)]
struct Response {
    id: String,
    status: u16,
    #[serde(default)]
    headers: serde_json::Map<String, Value>,
    #[serde(default)]
    body: Value,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.as_str())
    }
}

impl Graph {
    /// GETs each of `urls` (absolute, under the Graph base; at most `MAX_REQUESTS`) in one batch,
    /// with the retries above. One answer per URL, in order. An `Err` is the envelope's: the
    /// batch could not be sent or was refused as a whole.
    pub fn batch_get(&mut self, urls: &[String]) -> Result<Vec<Answer>> {
        assert!(
            urls.len() <= MAX_REQUESTS,
            "a batch holds 20 requests at most"
        );
        let mut answers: Vec<Answer> = urls.iter().map(|_| Answer::Unanswered).collect();
        let mut pending: Vec<usize> = (0..urls.len()).collect();
        for attempt in 1..=MAX_ATTEMPTS {
            if pending.is_empty() {
                break;
            }
            let requests: Vec<Value> = pending
                .iter()
                .map(|&i| {
                    let relative = urls[i].strip_prefix(self.base()).unwrap_or(&urls[i]);
                    json!({
                        "id": (i + 1).to_string(),
                        "method": "GET",
                        "url": relative,
                        "headers": {"Prefer": "IdType=\"ImmutableId\""},
                    })
                })
                .collect();
            let url = self.url("/$batch");
            let envelope: Envelope = self.post_json(&url, &json!({ "requests": requests }))?;
            let mut throttled = Vec::new();
            let mut wait = Duration::ZERO;
            for response in envelope.responses {
                let Some(i) = response
                    .id
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| n.checked_sub(1))
                    .filter(|i| pending.contains(i))
                else {
                    log::debug!("Graph answered an unknown batch request {:?}", response.id);
                    continue;
                };
                match response.status {
                    200..=299 => answers[i] = Answer::Json(response.body),
                    429 | 503 | 504 => {
                        let pause = response
                            .header("Retry-After")
                            .and_then(|s| s.trim().parse::<u64>().ok())
                            .map_or_else(|| backoff(attempt), Duration::from_secs);
                        wait = wait.max(pause);
                        throttled.push(i);
                    }
                    // A token refused inside a batch: asked again alone, with a renewed one.
                    401 => {}
                    status => {
                        answers[i] = Answer::Refused(GraphError::from_body(status, &response.body))
                    }
                }
            }
            if throttled.is_empty() || attempt == MAX_ATTEMPTS || wait > MAX_WAIT {
                break;
            }
            log::info!(
                "Graph throttled {} request(s) of a batch; waiting {}s before try {}",
                throttled.len(),
                wait.as_secs(),
                attempt + 1
            );
            // A signal or the run's deadline ends the wait, and the run.
            crate::stop::pause(wait).map_err(crate::stop::Reason::error)?;
            pending = throttled;
        }
        Ok(answers)
    }

    fn post_json<T: serde::de::DeserializeOwned>(&mut self, url: &str, body: &Value) -> Result<T> {
        let response = self.send(Method::Post, url, Some(body))?;
        super::graph::json_body(response, self.agent())
            .context("in the answer to a batch of requests")
    }
}
