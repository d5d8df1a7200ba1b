//! The device code login (OAuth 2.0 device authorization grant, RFC 8628), as Microsoft serves it.
//!
//! Microsoft's instructions (a link and a code) go to standard output at once; then the token
//! endpoint is polled every `interval` seconds, five more after each `slow_down`, until the
//! administrator has signed in, declined, or the code expired. Google's device flow does not
//! allow Gmail's scope, so `config` never sends a Google sign-in here.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use serde::Deserialize;
use ureq::Agent;

use super::advice::describe;
use super::http::{post, post_form, token_error, TokenReply};
use crate::exit::Failure;
use crate::settings::oauth::OAuthConfig;

#[derive(Deserialize)]
struct DeviceCode {
    device_code: String,
    #[serde(default)]
    user_code: String,
    #[serde(default)]
    verification_uri: String,
    #[serde(default = "default_expiry")]
    expires_in: u64,
    #[serde(default = "default_interval")]
    interval: u64,
    #[serde(default)]
    message: String,
}

fn default_expiry() -> u64 {
    900
}

fn default_interval() -> u64 {
    5
}

/// Prints the provider's instructions on `out` and polls until the administrator has signed in.
pub fn sign_in(agent: &Agent, config: &OAuthConfig, out: &mut dyn Write) -> Result<TokenReply> {
    let provider = config.provider.name();
    let Some(device_url) = &config.endpoints.device else {
        return Err(anyhow!(
            "{provider} has no device code sign-in here; use --flow browser"
        ))
        .context(Failure::Usage);
    };
    let form = [
        ("client_id", config.client_id.as_str()),
        ("scope", &config.scope),
    ];
    let (status, text) = post(agent, provider, device_url, &form)?;
    if !(200..300).contains(&status) {
        let failure = if status >= 500 {
            Failure::Source
        } else {
            Failure::Auth
        };
        return Err(anyhow!(
            "{provider} refused to start the sign-in: {}",
            describe(config.provider, &token_error(status, &text))
        ))
        .context(failure);
    }
    let code: DeviceCode = serde_json::from_str(&text)
        .map_err(|err| anyhow!("the sign-in service sent an unexpected answer: {err}"))
        .context(Failure::Source)?;
    let message = if code.message.is_empty() {
        format!(
            "To sign in, use a web browser to open the page {} and enter the code {} to \
             authenticate.",
            code.verification_uri, code.user_code
        )
    } else {
        code.message.clone()
    };
    // The administrator must see this at once, whatever buffering stdout has.
    writeln!(out, "{message}")
        .and_then(|()| out.flush())
        .context("cannot print the sign-in instructions")?;

    let deadline = Instant::now() + Duration::from_secs(code.expires_in);
    let mut interval = Duration::from_secs(code.interval);
    let expired = || {
        anyhow!(
            "the code expired before the sign-in was completed; run the login again and enter \
             the new code within {}",
            lifetime(code.expires_in)
        )
        .context(Failure::Auth)
    };
    loop {
        if Instant::now() + interval > deadline {
            return Err(expired());
        }
        std::thread::sleep(interval);
        let reply = post_form(
            agent,
            provider,
            &config.endpoints.token,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", &config.client_id),
                ("device_code", &code.device_code),
            ],
        )?;
        let error = match reply {
            Ok(reply) => return Ok(reply),
            Err((_, error)) => error,
        };
        match error.error.as_str() {
            "authorization_pending" => {}
            "slow_down" => {
                interval += Duration::from_secs(5);
                log::debug!("asked to slow down; polling every {}s", interval.as_secs());
            }
            "authorization_declined" | "access_denied" => {
                return Err(anyhow!(
                    "the sign-in was declined in the browser; run the login again and accept the \
                     permissions"
                ))
                .context(Failure::Auth)
            }
            "expired_token" => return Err(expired()),
            "bad_verification_code" => {
                return Err(anyhow!(
                    "{provider} does not know this sign-in code ({}); run the login again",
                    describe(config.provider, &error)
                ))
                .context(Failure::Auth)
            }
            _ => {
                return Err(anyhow!(
                    "the sign-in failed: {}",
                    describe(config.provider, &error)
                ))
                .context(Failure::Auth)
            }
        }
    }
}

/// "15 minutes", or "90 seconds" for a code that lives less than two minutes: a provider may
/// hand out short codes, and "within 0 minutes" tells nothing.
fn lifetime(seconds: u64) -> String {
    match seconds {
        1 => "1 second".to_string(),
        0..120 => format!("{seconds} seconds"),
        _ => format!("{} minutes", seconds / 60),
    }
}
