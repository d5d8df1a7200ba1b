//! HTTP for the identity platforms (and for Graph, which shares the agent): one `ureq` agent per
//! run with native TLS and explicit timeouts, statuses left to the caller, and the token
//! endpoint's form POST with its two kinds of answer. A request that gets no answer says why in
//! words, Windows' TLS status codes included (`tls/schannel.rs`).
//!
//! Time is bounded as for the mail servers (`tls.rs`): each read by a fixed idle timeout, each
//! whole exchange, however steadily the server trickles, by `--answer-timeout` (the agent's
//! global timeout), and by the run's deadline (`--run-timeout`) when that comes first: every
//! request goes through `bounded`. An exchange cut short by either is told as such by `failed`,
//! not as an unreachable server.
//!
//! Nothing here logs a request or an answer: forms carry refresh tokens, secrets and assertions,
//! and answers carry access tokens.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use serde::Deserialize;
use ureq::http::Response;
use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
use ureq::{Agent, Body, RequestBuilder};

use crate::exit::Failure;
use crate::tls::schannel;

/// `--answer-timeout`'s default, for the login step, which has no such option.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(600);

/// The one agent of a run: native TLS with the system's certificate store, explicit timeouts,
/// each whole exchange bounded by `answer_timeout`, statuses left to us.
pub fn agent(answer_timeout: Duration) -> Agent {
    let tls = TlsConfig::builder()
        .provider(TlsProvider::NativeTls)
        .root_certs(RootCerts::PlatformVerifier)
        .build();
    Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .timeout_global(Some(answer_timeout))
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_send_request(Some(Duration::from_secs(60)))
        .timeout_recv_response(Some(Duration::from_secs(120)))
        // A large attachment may take long as a whole, but never sit idle for this long.
        .timeout_per_read(Some(Duration::from_secs(120)))
        // A token endpoint never redirects; following one would resend a secret elsewhere.
        .max_redirects(0)
        .user_agent(concat!("lanceur/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// `request`, bounded by the run's deadline when that comes before the agent's `--answer-timeout`.
pub fn bounded<B>(agent: &Agent, request: RequestBuilder<B>) -> RequestBuilder<B> {
    let answer = agent.config().timeouts().global;
    match crate::stop::run_left() {
        Some(left) if answer.is_none_or(|answer| left < answer) => request
            .config()
            // Zero would mean no bound at all; the deadline has passed and the run ends anyway.
            .timeout_global(Some(left.max(Duration::from_millis(1))))
            .build(),
        _ => request,
    }
}

/// `err`, an exchange with `service` that failed, said as what it is: the run's deadline
/// (`stop::Reason::error`) or `--answer-timeout` when one of them cut it short (`Failure::Source`
/// either way); otherwise `err` with `context` (`Failure::Source`).
pub fn failed(err: anyhow::Error, agent: &Agent, service: &str, context: String) -> anyhow::Error {
    if !err.chain().any(cut_short) {
        return err.context(context).context(Failure::Source);
    }
    if let Some(reason) = crate::stop::reason() {
        return reason.error();
    }
    // ureq's own words ("timeout: global") would only repeat it less clearly.
    let limit = agent.config().timeouts().global.unwrap_or_default();
    anyhow!(
        "{service} did not finish its answer within --answer-timeout {}; what was not taken \
         waits for the next run",
        humantime::format_duration(limit)
    )
    .context(Failure::Source)
}

/// Whether `err` is ureq's global timeout, as it is or inside the `io::Error` a body reader gives
/// (whose `source` skips the error it holds, hence `get_ref`).
fn cut_short(err: &(dyn std::error::Error + 'static)) -> bool {
    let is_global = |e: &(dyn std::error::Error + 'static)| {
        matches!(
            e.downcast_ref::<ureq::Error>(),
            Some(ureq::Error::Timeout(ureq::Timeout::Global))
        )
    };
    is_global(err)
        || err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .is_some_and(|inner| is_global(inner))
}

/// A successful token answer (RFC 6749 §5.1).
#[derive(Deserialize)]
pub struct TokenReply {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// An error answer (RFC 6749 §5.2), with Microsoft's AADSTS codes when it sends them.
#[derive(Deserialize, Default, Debug)]
pub struct TokenError {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_description: String,
    #[serde(default)]
    pub error_codes: Vec<u64>,
}

/// POSTs a form to an identity endpoint. `Ok(Err(..))` is the provider's own error answer;
/// `provider` names it in messages.
pub fn post_form(
    agent: &Agent,
    provider: &str,
    url: &str,
    form: &[(&str, &str)],
) -> Result<std::result::Result<TokenReply, (u16, TokenError)>> {
    let (status, text) = post(agent, provider, url, form)?;
    if (200..300).contains(&status) {
        let reply: TokenReply = serde_json::from_str(&text)
            // serde's message names the field, never the values.
            .map_err(|err| anyhow!("the sign-in service sent an unexpected answer: {err}"))
            .context(Failure::Source)?;
        return Ok(Ok(reply));
    }
    Ok(Err((status, token_error(status, &text))))
}

/// POSTs a form; returns the status and the answer's text. No answer at all is `Failure::Source`.
pub fn post(
    agent: &Agent,
    provider: &str,
    url: &str,
    form: &[(&str, &str)],
) -> Result<(u16, String)> {
    let service = format!("{provider}'s sign-in service");
    let mut response = bounded(agent, agent.post(url))
        .header("Accept", "application/json")
        .send_form(form.iter().copied())
        .map_err(|err| unreachable(err, agent, &service, &origin(url)))?;
    let status = response.status().as_u16();
    let text = read_text(&mut response).map_err(|err| {
        let context = format!("the answer of {service} broke off");
        failed(anyhow!(err), agent, &service, context)
    })?;
    Ok((status, text))
}

/// The provider's error body, or the first words of whatever came instead.
pub fn token_error(status: u16, text: &str) -> TokenError {
    serde_json::from_str::<TokenError>(text).unwrap_or_else(|_| TokenError {
        error: format!("HTTP {status}"),
        error_description: text.chars().take(200).collect(),
        error_codes: Vec::new(),
    })
}

/// Reads a small text answer (JSON, an error page): at most 1 MiB, bad UTF-8 replaced, since it is
/// only ever parsed or quoted in a message.
pub fn read_text(response: &mut Response<Body>) -> Result<String, ureq::Error> {
    response
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .lossy_utf8(true)
        .read_to_string()
}

/// The error for a request that got no answer from `service` ("Microsoft Graph") at `origin`
/// (`https://host`), tagged `Failure::Source`. A certificate or handshake Windows refuses is said in
/// words, an exchange cut short by a deadline as such (`failed`); anything else is a network
/// problem.
pub fn unreachable(err: ureq::Error, agent: &Agent, service: &str, origin: &str) -> anyhow::Error {
    if let Some(known) = schannel::known_code(&err) {
        log::debug!("{service} at {origin}: {err}");
        let host = origin
            .split_once("://")
            .map_or(origin, |(_, rest)| rest)
            .split([':', '/'])
            .next()
            .unwrap_or(origin);
        return anyhow!(
            "cannot reach {service} at {origin}: {}; {}",
            known.describe(host),
            known.remedy(schannel::TRUST_STORE)
        )
        .context(Failure::Source);
    }
    let context = format!("cannot reach {service} at {origin} (network, proxy or firewall?)");
    failed(anyhow!(err), agent, service, context)
}

/// `https://graph.microsoft.com/v1.0` → `https://graph.microsoft.com`.
pub fn origin(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(slash) => url[..after_scheme + slash].to_string(),
        None => url.to_string(),
    }
}

/// Percent-encodes a query value or a path segment: only unreserved characters (and `@`, which
/// addresses carry and paths allow) stay as they are.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~@".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding() {
        assert_eq!(
            encode("displayName eq 'Factures 2024'"),
            "displayName%20eq%20%27Factures%202024%27"
        );
        assert_eq!(encode("a@b.fr"), "a@b.fr");
        assert_eq!(encode("AAk/+="), "AAk%2F%2B%3D");
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin("https://graph.microsoft.com/v1.0"),
            "https://graph.microsoft.com"
        );
        assert_eq!(origin("http://127.0.0.1:5/v1.0"), "http://127.0.0.1:5");
        assert_eq!(origin("https://login.example"), "https://login.example");
    }
}
