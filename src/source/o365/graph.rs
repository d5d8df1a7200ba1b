//! Microsoft Graph over HTTP: one `ureq` agent per run, bearer tokens, retries, paging, error bodies.
//!
//! Every request carries `Prefer: IdType="ImmutableId"`, so that the ids Graph hands out (the
//! journal keys) survive a mail being moved between folders. Statuses are never turned into errors
//! by the agent (`http_status_as_error(false)`): this module looks at each one.
//!
//! - `429` and `503`/`504` are retried after `Retry-After` (or a growing pause when absent), at most
//!   `MAX_ATTEMPTS` times and never sleeping more than `MAX_WAIT` at once; past that the run stops
//!   (`Failure::Source`), since every other request would be throttled too. A signal or the run's
//!   deadline ends the pause at once, and the run with it (`stop::pause`).
//! - Each exchange, body included, is bounded by `--answer-timeout` and by the run's deadline
//!   (`oauth::http::bounded`); a Graph that trickles its answer ends the run with exit 4 and a
//!   line naming the deadline.
//! - `401` gets one fresh token and one retry; a second `401` is `Failure::Auth`.
//! - Network failures (DNS, connect, TLS, timeouts) are `Failure::Source`.
//! - Any other status comes back as a `GraphError` holding Graph's own `error.code` and message,
//!   untagged: the caller knows whether it concerns the whole run or one mail.
//!
//! `@odata.nextLink` is followed as the opaque URL it is, after checking that it points at the
//! configured Graph host (the bearer token must not go anywhere else).

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use ureq::http::Response;
use ureq::{Agent, Body};

use crate::exit::Failure;
pub use crate::oauth::http::{agent, encode, origin, read_text};
use crate::oauth::http::{bounded, failed, unreachable};
use crate::oauth::Tokens;

/// Tries for one request answered 429/503/504.
pub const MAX_ATTEMPTS: u32 = 5;
/// Longest single pause; a longer `Retry-After` stops the run instead of blocking cron for ages.
pub const MAX_WAIT: Duration = Duration::from_secs(120);
/// Names of attachments being downloaded: `.lanceur-o365-XXXXXX.part`.
pub const DOWNLOAD_PREFIX: &str = ".lanceur-o365-";
pub const DOWNLOAD_SUFFIX: &str = ".part";
/// Graph as messages name it.
const GRAPH: &str = "Microsoft Graph";
/// Most pages followed for one listing, against a server sending the same link forever.
const MAX_PAGES: usize = 100_000;

/// A non-success answer from Graph, with its own error code and message.
#[derive(Debug, Clone)]
pub struct GraphError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Graph answered {}", self.status)?;
        if !self.code.is_empty() {
            write!(f, " {}", self.code)?;
        }
        if !self.message.is_empty() {
            write!(f, " ({})", self.message.trim_end_matches('.'))?;
        }
        Ok(())
    }
}

impl std::error::Error for GraphError {}

impl GraphError {
    /// From an error body already parsed (the answer to one request of a batch).
    pub fn from_body(status: u16, body: &serde_json::Value) -> GraphError {
        let text = |key: &str| {
            body.pointer(&format!("/error/{key}"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        GraphError {
            status,
            code: text("code"),
            message: text("message"),
        }
    }
}

/// The status of a `GraphError` anywhere in `err`'s chain.
pub fn status_of(err: &anyhow::Error) -> Option<u16> {
    err.downcast_ref::<GraphError>().map(|e| e.status)
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorInner,
}

#[derive(Deserialize)]
struct ErrorInner {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct Page<T> {
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Patch,
    Post,
    Delete,
}

pub struct Graph {
    agent: Agent,
    /// `https://graph.microsoft.com/v1.0`
    base: String,
    /// `https://graph.microsoft.com/`: every URL we send a token to starts with it.
    origin: String,
    tokens: Tokens,
}

impl Graph {
    /// The sign-in's tokens, for what of them expires.
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// The run's HTTP agent, whose `--answer-timeout` tells a deadline's error (`oauth::http::failed`).
    pub(super) fn agent(&self) -> &Agent {
        &self.agent
    }

    pub fn new(agent: Agent, base: &str, tokens: Tokens) -> Graph {
        Graph {
            agent,
            base: base.to_string(),
            origin: format!("{}/", origin(base)),
            tokens,
        }
    }

    /// Gets an access token now (renewing it if needed), so sign-in problems show first.
    pub fn authenticate(&mut self) -> Result<()> {
        self.tokens.access_token(&self.agent).map(|_| ())
    }

    /// `https://graph.microsoft.com/v1.0`, as configured.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `base` + `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends one request, with the retries described above. Returns any answer but 401, 429 and
    /// 503/504, which are dealt with here.
    pub fn send(
        &mut self,
        method: Method,
        url: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<Response<Body>> {
        if !url.starts_with(&self.origin) {
            bail!(
                "refusing to send the access token to {url}, outside {}",
                self.origin
            );
        }
        let mut renewed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.tokens.access_token(&self.agent)?;
            let response = self
                .once(method, url, json, token.expose())
                .map_err(|err| {
                    unreachable(err, &self.agent, GRAPH, self.origin.trim_end_matches('/'))
                })?;
            let status = response.status().as_u16();
            match status {
                401 if !renewed => {
                    log::debug!("Graph answered 401 to {method:?} {url}; renewing the token");
                    drop(response);
                    self.tokens.invalidate();
                    renewed = true;
                }
                401 => {
                    let err = graph_error(response);
                    return Err(anyhow!(err)
                        .context("Graph refused a freshly renewed access token")
                        .context(Failure::Auth));
                }
                429 | 503 | 504 => {
                    let wait = retry_after(&response).unwrap_or_else(|| backoff(attempt));
                    let err = graph_error(response);
                    if attempt >= MAX_ATTEMPTS {
                        return Err(anyhow!(err)
                            .context(format!(
                                "Microsoft Graph is still throttling or unavailable after \
                                 {attempt} tries; the next run will try again"
                            ))
                            .context(Failure::Source));
                    }
                    if wait > MAX_WAIT {
                        return Err(anyhow!(err)
                            .context(format!(
                                "Microsoft Graph asks to wait {}s before trying again; the next \
                                 run will",
                                wait.as_secs()
                            ))
                            .context(Failure::Source));
                    }
                    log::info!(
                        "Graph answered {status} to {method:?}; waiting {}s before try {}",
                        wait.as_secs(),
                        attempt + 1
                    );
                    // A signal or the run's deadline ends the wait, and the run.
                    crate::stop::pause(wait).map_err(crate::stop::Reason::error)?;
                }
                _ => return Ok(response),
            }
        }
    }

    fn once(
        &self,
        method: Method,
        url: &str,
        json: Option<&serde_json::Value>,
        token: &str,
    ) -> Result<Response<Body>, ureq::Error> {
        let bearer = format!("Bearer {token}");
        const PREFER: &str = "IdType=\"ImmutableId\"";
        match method {
            Method::Get | Method::Delete => {
                let request = if method == Method::Get {
                    self.agent.get(url)
                } else {
                    self.agent.delete(url)
                };
                bounded(&self.agent, request)
                    .header("Authorization", &bearer)
                    .header("Prefer", PREFER)
                    .header("Accept", "application/json")
                    .call()
            }
            Method::Patch | Method::Post => {
                let request = if method == Method::Patch {
                    self.agent.patch(url)
                } else {
                    self.agent.post(url)
                };
                let request = bounded(&self.agent, request)
                    .header("Authorization", &bearer)
                    .header("Prefer", PREFER)
                    .header("Accept", "application/json");
                match json {
                    Some(value) => request.send_json(value),
                    None => request.send_empty(),
                }
            }
        }
    }

    /// GET `url` as JSON; a non-2xx answer is a `GraphError`.
    pub fn get_json<T: DeserializeOwned>(&mut self, url: &str) -> Result<T> {
        let response = self.send(Method::Get, url, None)?;
        json_body(response, &self.agent)
    }

    /// Every item of a collection, following `@odata.nextLink` to the last page.
    pub fn get_all<T: DeserializeOwned>(&mut self, first: &str) -> Result<Vec<T>> {
        let mut items = Vec::new();
        let mut url = first.to_string();
        for page_number in 1..=MAX_PAGES {
            let page: Page<T> = self.get_json(&url)?;
            items.extend(page.value);
            match page.next_link {
                None => return Ok(items),
                Some(next) if next == url => {
                    return Err(anyhow!(
                        "Graph sent the same next page link twice ({next}); stopping"
                    ))
                    .context(Failure::Source)
                }
                Some(next) => {
                    log::debug!("page {page_number} done, following {next}");
                    url = next;
                }
            }
        }
        Err(anyhow!("more than {MAX_PAGES} pages; stopping")).context(Failure::Source)
    }

    /// GET `url`'s raw bytes into a new temporary file in `dir`, without holding them in memory.
    /// Returns the file and the Content-Type Graph gave.
    pub fn download(
        &mut self,
        url: &str,
        dir: &Path,
    ) -> Result<(tempfile::TempPath, Option<String>)> {
        let response = self.send(Method::Get, url, None)?;
        if !response.status().is_success() {
            return Err(graph_error(response).into());
        }
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut file = tempfile::Builder::new()
            .prefix(DOWNLOAD_PREFIX)
            .suffix(DOWNLOAD_SUFFIX)
            .tempfile_in(dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))
            .context(Failure::Cold)?;
        let mut reader = response.into_body().into_reader();
        let mut buffer = vec![0u8; 256 * 1024];
        loop {
            let n = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    let context = "the download from Microsoft Graph broke off".to_string();
                    return Err(failed(anyhow!(err), &self.agent, GRAPH, context));
                }
            };
            file.write_all(&buffer[..n])
                .with_context(|| format!("cannot write a temporary file in {}", dir.display()))
                .context(Failure::Cold)?;
        }
        file.flush()
            .with_context(|| format!("cannot write a temporary file in {}", dir.display()))
            .context(Failure::Cold)?;
        Ok((file.into_temp_path(), content_type))
    }

    /// A request whose answer body does not matter; a non-2xx answer is a `GraphError`.
    pub fn call(
        &mut self,
        method: Method,
        url: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<()> {
        let response = self.send(method, url, json)?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(graph_error(response).into())
        }
    }
}

pub(super) fn json_body<T: DeserializeOwned>(
    mut response: Response<Body>,
    agent: &Agent,
) -> Result<T> {
    if !response.status().is_success() {
        return Err(graph_error(response).into());
    }
    response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_json()
        .map_err(|err| {
            let context = "Graph sent a reply that is not the expected JSON".to_string();
            failed(anyhow!(err), agent, GRAPH, context)
        })
}

/// Decodes Graph's `{"error":{"code","message"}}`, or keeps the first words of whatever came.
pub fn graph_error(mut response: Response<Body>) -> GraphError {
    let status = response.status().as_u16();
    let text = read_text(&mut response).unwrap_or_default();
    match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => GraphError {
            status,
            code: body.error.code,
            message: body.error.message,
        },
        Err(_) => GraphError {
            status,
            code: String::new(),
            message: text.chars().take(200).collect(),
        },
    }
}

/// `Retry-After` in seconds (Graph's form); an HTTP date is treated as absent.
fn retry_after(response: &Response<Body>) -> Option<Duration> {
    response
        .headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

pub(super) fn backoff(attempt: u32) -> Duration {
    Duration::from_secs((1u64 << attempt.min(5)).min(30))
}

/// An OData string literal: single quotes doubled.
pub fn odata_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odata_strings() {
        assert_eq!(odata_string("l'été"), "'l''été'");
    }

    #[test]
    fn error_display() {
        let err = GraphError {
            status: 403,
            code: "ErrorAccessDenied".into(),
            message: "Access is denied.".into(),
        };
        assert_eq!(
            err.to_string(),
            "Graph answered 403 ErrorAccessDenied (Access is denied)"
        );
    }
}
