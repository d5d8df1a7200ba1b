//! The device code login (OAuth 2.0 device authorization grant) of `lanceur o365 login`.
//!
//! Microsoft's instructions (a link and a code) go to standard output at once; then the token
//! endpoint is polled every `interval` seconds, five more after each `slow_down`, until the
//! administrator has signed in, declined, or the code expired. The tokens go to the cache.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use ureq::Agent;

use super::auth::{describe, expiry, post_form, scope, token_url, TokenError, Tokens};
use super::cache::{save, Cache, CACHE_FILE};
use super::folder::resolve_folder;
use super::graph::{self, encode, Graph};
use super::{root, whole_run};
use crate::exit::Failure;
use crate::settings::o365::{AccountConfig, LoginConfig};

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

/// The device code login: prints Microsoft's instructions on `out`, polls until the administrator
/// has signed in, and saves the tokens. Returns the cache's path.
pub fn device_login(
    agent: &Agent,
    account: &AccountConfig,
    state_dir: &Path,
    out: &mut dyn Write,
) -> Result<PathBuf> {
    let scope = scope(account);
    let mut response = agent
        .post(token_url(account, "devicecode"))
        .header("Accept", "application/json")
        .send_form([("client_id", account.client_id.as_str()), ("scope", &scope)])
        .map_err(|err| {
            graph::unreachable(err, "Microsoft's sign-in service", &account.login_url)
        })?;
    let status = response.status().as_u16();
    let text = graph::read_text(&mut response)
        .map_err(|err| anyhow!(err).context("the sign-in service's answer broke off"))
        .context(Failure::Source)?;
    if !(200..300).contains(&status) {
        let error = serde_json::from_str::<TokenError>(&text).unwrap_or_default();
        let failure = if status >= 500 {
            Failure::Source
        } else {
            Failure::Auth
        };
        return Err(anyhow!(
            "Microsoft refused to start the sign-in: {}",
            if error.error.is_empty() {
                format!("HTTP {status}")
            } else {
                describe(&error)
            }
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
             the new code within {} minutes",
            code.expires_in / 60
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
            &token_url(account, "token"),
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", &account.client_id),
                ("device_code", &code.device_code),
            ],
        )?;
        let error = match reply {
            Ok(reply) => {
                let Some(refresh_token) = reply.refresh_token else {
                    bail!(
                        "Microsoft granted no refresh token (was offline_access refused?); runs \
                         could not renew their access"
                    );
                };
                let cache = Cache {
                    version: 1,
                    client_id: account.client_id.clone(),
                    tenant: account.tenant.clone(),
                    login_url: account.login_url.clone(),
                    scope,
                    refresh_token,
                    access_token: reply.access_token,
                    expires_at: expiry(reply.expires_in),
                };
                let exposed = crate::private::create_dir(state_dir)
                    .with_context(|| format!("cannot create {}", state_dir.display()))
                    .context(Failure::Cold)?;
                if let Some(err) = exposed {
                    log::warn!(
                        "state folder {} could not be made readable by this account only \
                         ({err}); {}",
                        state_dir.display(),
                        crate::private::remedy(state_dir)
                    );
                }
                let path = state_dir.join(CACHE_FILE);
                save(&path, &cache)?;
                return Ok(path);
            }
            Err((_, error)) => error,
        };
        match error.error.as_str() {
            "authorization_pending" => {}
            "slow_down" => {
                interval += Duration::from_secs(5);
                log::debug!("asked to slow down; polling every {}s", interval.as_secs());
            }
            "authorization_declined" => {
                return Err(anyhow!(
                    "the sign-in was declined in the browser; run the login again and accept the \
                     permissions"
                ))
                .context(Failure::Auth)
            }
            "expired_token" => return Err(expired()),
            "bad_verification_code" => {
                return Err(anyhow!(
                    "Microsoft does not know this sign-in code ({}); run the login again",
                    describe(&error)
                ))
                .context(Failure::Auth)
            }
            _ => {
                return Err(anyhow!("the sign-in failed: {}", describe(&error)))
                    .context(Failure::Auth)
            }
        }
    }
}

/// The device code login of `lanceur o365 login`, then a check that the folder can be read.
pub fn login(config: &LoginConfig, out: &mut dyn Write) -> Result<()> {
    let agent = graph::agent();
    let path = device_login(&agent, &config.account, &config.state_dir, out)?;
    writeln!(out, "signed in; tokens saved in {}", path.display())
        .context("cannot print to standard output")?;
    let mut tokens = Tokens::delegated(&config.account, &config.launcher, &config.state_dir)?;
    tokens.mark_fresh();
    let mut graph = Graph::new(agent, &config.account.graph_url, tokens);
    let root = root(&graph, &config.account.mailbox);
    let folder = resolve_folder(&mut graph, &root, &config.account)?;
    let probe = format!(
        "{root}/mailFolders/{}/messages?$select=id&$top=1",
        encode(&folder)
    );
    graph
        .get_json::<serde_json::Value>(&probe)
        .map_err(|err| whole_run(err, &config.account))
        .with_context(|| {
            format!(
                "signed in, but cannot read {}:{}",
                config.account.mailbox.display(),
                config.account.folder
            )
        })?;
    writeln!(
        out,
        "{}:{} is readable; launcher {} is ready for its runs",
        config.account.mailbox.display(),
        config.account.folder,
        config.launcher
    )
    .context("cannot print to standard output")?;
    Ok(())
}
