//! Access tokens for a run: refresh-token rotation for delegated launchers (whose first tokens come
//! from the device code login, `device.rs`), client credentials for app-only ones, and the identity
//! platform's error answers.
//!
//! The tokens live in the cache (`cache.rs`). Microsoft answers each refresh with a *new* refresh token; it is
//! saved before the new access token is used, every time, because a launcher that kept using its
//! first refresh token would stop working once that one expires (90 days at most). The one window
//! left is a kill between Microsoft's answer and the rename; the next run then needs a login.
//!
//! Errors from the identity platform carry AADSTS codes; `advice` turns the common ones into what the
//! administrator should do. A refresh token that is expired or revoked (`invalid_grant`,
//! `interaction_required`) is `Failure::Auth` with the exact `lanceur o365 login` to run again.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};
use serde::Deserialize;
use ureq::Agent;

use super::cache::{save, tighten_permissions, Cache, CACHE_FILE};
use super::graph;
use crate::exit::Failure;
use crate::secret::Secret;
use crate::settings::o365::{AccountConfig, Mailbox};
/// An access token closer than this to its expiry is renewed before use.
const MARGIN: Duration = Duration::from_secs(300);

#[derive(Deserialize)]
pub(super) struct TokenReply {
    pub(super) access_token: String,
    #[serde(default)]
    pub(super) refresh_token: Option<String>,
    #[serde(default)]
    pub(super) expires_in: Option<u64>,
}

#[derive(Deserialize, Default)]
pub(super) struct TokenError {
    #[serde(default)]
    pub(super) error: String,
    #[serde(default)]
    pub(super) error_description: String,
    #[serde(default)]
    pub(super) error_codes: Vec<u64>,
}

/// How a run gets access tokens.
pub enum Tokens {
    Delegated {
        account: AccountConfig,
        launcher: String,
        path: PathBuf,
        cache: Cache,
        /// Whether the access token was obtained by this process: then it serves until it
        /// expires, even if the server gives lifetimes shorter than `MARGIN`.
        fresh: bool,
    },
    AppOnly {
        account: AccountConfig,
        secret: Secret,
        access: Option<(String, SystemTime)>,
    },
}

impl Tokens {
    /// Delegated tokens from the cache that `lanceur o365 login` wrote.
    pub fn delegated(account: &AccountConfig, launcher: &str, state_dir: &Path) -> Result<Tokens> {
        let path = state_dir.join(CACHE_FILE);
        let relogin = || login_command(account, launcher);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(anyhow!(
                    "this launcher has not signed in to Microsoft 365 yet (no {}); run `{}` once, \
                     interactively",
                    path.display(),
                    relogin()
                ))
                .context(Failure::Auth)
            }
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("cannot read the token cache {}", path.display()))
                    .context(Failure::Cold)
            }
        };
        let cache: Cache = serde_json::from_str(&text)
            .map_err(|err| {
                anyhow!(
                    "the token cache {} is damaged ({err}); run `{}` again",
                    path.display(),
                    relogin()
                )
            })
            .context(Failure::Auth)?;
        let wanted = scope(account);
        let mismatch = if !cache.client_id.eq_ignore_ascii_case(&account.client_id) {
            Some(format!("for client id {}", cache.client_id))
        } else if !cache.tenant.eq_ignore_ascii_case(&account.tenant) {
            Some(format!("for tenant {}", cache.tenant))
        } else if cache.login_url != account.login_url {
            Some(format!("at {}", cache.login_url))
        } else if !wanted
            .split(' ')
            .all(|s| cache.scope.split(' ').any(|c| c == s))
        {
            Some(format!(
                "without the permissions this mailbox needs (granted {:?}, needed {wanted:?})",
                cache.scope
            ))
        } else {
            None
        };
        if let Some(what) = mismatch {
            return Err(anyhow!(
                "the saved sign-in was made {what}; run `{}` again",
                relogin()
            ))
            .context(Failure::Auth);
        }
        tighten_permissions(&path);
        Ok(Tokens::Delegated {
            account: account.clone(),
            launcher: launcher.to_string(),
            path,
            cache,
            fresh: false,
        })
    }

    /// Notes that the cached access token was just obtained (by the login step).
    pub fn mark_fresh(&mut self) {
        if let Tokens::Delegated { fresh, .. } = self {
            *fresh = true;
        }
    }

    pub fn app_only(account: &AccountConfig, secret: Secret) -> Tokens {
        Tokens::AppOnly {
            account: account.clone(),
            secret,
            access: None,
        }
    }

    /// A valid access token, renewed first if it expires soon.
    pub fn access_token(&mut self, agent: &Agent) -> Result<String> {
        let now = SystemTime::now();
        match self {
            Tokens::Delegated {
                account,
                launcher,
                path,
                cache,
                fresh,
            } => {
                let margin = if *fresh {
                    Duration::from_secs(10)
                } else {
                    MARGIN
                };
                if !cache.access_token.is_empty()
                    && UNIX_EPOCH + Duration::from_secs(cache.expires_at) > now + margin
                {
                    return Ok(cache.access_token.clone());
                }
                refresh(agent, account, launcher, path, cache)?;
                *fresh = true;
                Ok(cache.access_token.clone())
            }
            Tokens::AppOnly {
                account,
                secret,
                access,
            } => {
                if let Some((token, expires)) = access {
                    if *expires > now + MARGIN {
                        return Ok(token.clone());
                    }
                }
                let reply = client_credentials(agent, account, secret)?;
                let expires = now + Duration::from_secs(reply.expires_in.unwrap_or(3599));
                *access = Some((reply.access_token.clone(), expires));
                Ok(reply.access_token)
            }
        }
    }

    /// Forgets the access token, so the next `access_token` gets a new one (after a 401).
    pub fn invalidate(&mut self) {
        match self {
            Tokens::Delegated { cache, fresh, .. } => {
                cache.access_token.clear();
                *fresh = false;
            }
            Tokens::AppOnly { access, .. } => *access = None,
        }
    }
}

/// The scopes a delegated sign-in asks for: mail of the account, and of shared mailboxes if needed.
pub fn scope(account: &AccountConfig) -> String {
    let resource = graph::origin(&account.graph_url);
    let mut scope = format!("offline_access {resource}/Mail.ReadWrite");
    if account.mailbox != Mailbox::Me {
        scope.push_str(&format!(" {resource}/Mail.ReadWrite.Shared"));
    }
    scope
}

/// The command that signs this launcher in again, for messages.
pub fn login_command(account: &AccountConfig, launcher: &str) -> String {
    let mut command = format!(
        "lanceur o365 login --client-id {} --tenant {} --mailbox {}",
        account.client_id,
        account.tenant,
        quoted(account.mailbox.display())
    );
    if !account.folder.eq_ignore_ascii_case("inbox") {
        command.push_str(&format!(" --folder {}", quoted(&account.folder)));
    }
    command.push_str(&format!(" --name {launcher}"));
    if account.login_url != "https://login.microsoftonline.com" {
        command.push_str(&format!(" --login-url {}", account.login_url));
    }
    if account.graph_url != "https://graph.microsoft.com/v1.0" {
        command.push_str(&format!(" --graph-url {}", account.graph_url));
    }
    command
}

/// A value as a shell would need it.
fn quoted(value: &str) -> String {
    if value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "@._-:/".contains(c))
    {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', "'\\''"))
    }
}

pub(super) fn token_url(account: &AccountConfig, endpoint: &str) -> String {
    format!(
        "{}/{}/oauth2/v2.0/{endpoint}",
        account.login_url,
        graph::encode(&account.tenant)
    )
}

/// POSTs a form to the identity platform. `Ok(Err(..))` is Microsoft's own error answer.
pub(super) fn post_form(
    agent: &Agent,
    url: &str,
    form: &[(&str, &str)],
) -> Result<std::result::Result<TokenReply, (u16, TokenError)>> {
    let mut response = agent
        .post(url)
        .header("Accept", "application/json")
        .send_form(form.iter().copied())
        .map_err(|err| {
            graph::unreachable(err, "Microsoft's sign-in service", &graph::origin(url))
        })?;
    let status = response.status().as_u16();
    let text = graph::read_text(&mut response)
        .map_err(|err| anyhow!(err).context("the sign-in service's answer broke off"))
        .context(Failure::Source)?;
    if (200..300).contains(&status) {
        let reply: TokenReply = serde_json::from_str(&text)
            .map_err(|err| anyhow!("the sign-in service sent an unexpected answer: {err}"))
            .context(Failure::Source)?;
        return Ok(Ok(reply));
    }
    let error = serde_json::from_str::<TokenError>(&text).unwrap_or_else(|_| TokenError {
        error: format!("HTTP {status}"),
        error_description: text.chars().take(200).collect(),
        error_codes: Vec::new(),
    });
    Ok(Err((status, error)))
}

/// Microsoft's error as one line: the AADSTS sentence without its trace lines, and advice.
pub(super) fn describe(error: &TokenError) -> String {
    let first = error
        .error_description
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .trim_end_matches('.');
    let mut text = if first.is_empty() {
        error.error.clone()
    } else {
        format!("{} ({first})", error.error)
    };
    if let Some(advice) = error.error_codes.iter().find_map(|&code| advice(code)) {
        text.push_str("; ");
        text.push_str(advice);
    }
    text
}

/// Plain advice for the AADSTS codes an administrator meets.
fn advice(code: u64) -> Option<&'static str> {
    Some(match code {
        7000218 => {
            "enable \"Allow public client flows\" in the app registration (Entra ID > App \
             registrations > Authentication), or use app-only authentication with a client secret"
        }
        65001 => {
            "the permissions were never granted: sign in and accept them, or have an administrator \
             grant admin consent (App registrations > API permissions)"
        }
        50076 | 50079 => "multi-factor authentication is now required: sign in again",
        53003 => {
            "a Conditional Access policy blocks this sign-in; ask the tenant's administrator to \
             allow it (location, device) or use app-only authentication"
        }
        700082 => "the sign-in expired after 90 days without use: sign in again",
        70043 | 70044 => "the sign-in expired (session lifetime policy): sign in again",
        50173 | 50133 => "the account's password changed since the sign-in: sign in again",
        700016 => {
            "no application with this client id in this tenant: check --client-id and --tenant"
        }
        90002 => "no such tenant: check --tenant",
        7000215 => "the client secret is wrong: check the secret (its value, not its id)",
        7000222 => "the client secret has expired: create a new one in the app registration",
        500011 => "the Graph resource is unknown in this cloud: check --graph-url and --login-url",
        70011 => "Microsoft refused the permissions asked for (invalid scope)",
        50059 | 90009 => "give your tenant id or domain with --tenant",
        50034 | 50126 => "unknown account or wrong password",
        50057 => "the account is disabled",
        _ => return None,
    })
}

fn refresh(
    agent: &Agent,
    account: &AccountConfig,
    launcher: &str,
    path: &Path,
    cache: &mut Cache,
) -> Result<()> {
    log::debug!("renewing the access token");
    let scope = cache.scope.clone();
    let refresh_token = cache.refresh_token.clone();
    let reply = post_form(
        agent,
        &token_url(account, "token"),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &account.client_id),
            ("refresh_token", &refresh_token),
            ("scope", &scope),
        ],
    )?;
    match reply {
        Ok(reply) => {
            if let Some(new) = reply.refresh_token {
                cache.refresh_token = new;
            } else {
                log::warn!("Microsoft sent no new refresh token; keeping the old one");
            }
            cache.access_token = reply.access_token;
            cache.expires_at = expiry(reply.expires_in);
            // Before the new access token is used: the old refresh token may already be dead.
            save(path, cache)
        }
        Err((status, error)) => {
            let text = describe(&error);
            let relogin = login_command(account, launcher);
            if matches!(
                error.error.as_str(),
                "invalid_grant" | "interaction_required" | "consent_required"
            ) {
                Err(anyhow!(
                    "the Microsoft 365 sign-in of this launcher has expired or was revoked: {text}; \
                     run `{relogin}` again, interactively"
                ))
                .context(Failure::Auth)
            } else if status >= 500 || error.error == "temporarily_unavailable" {
                Err(anyhow!(
                    "Microsoft's sign-in service is unavailable ({text}); the next run will try again"
                ))
                .context(Failure::Source)
            } else {
                Err(anyhow!(
                    "Microsoft refused to renew the access token: {text}"
                ))
                .context(Failure::Auth)
            }
        }
    }
}

fn client_credentials(
    agent: &Agent,
    account: &AccountConfig,
    secret: &Secret,
) -> Result<TokenReply> {
    let scope = format!("{}/.default", graph::origin(&account.graph_url));
    let reply = post_form(
        agent,
        &token_url(account, "token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &account.client_id),
            ("client_secret", secret.expose()),
            ("scope", &scope),
        ],
    )?;
    reply.map_err(|(status, error)| {
        let failure = if status >= 500 || error.error == "temporarily_unavailable" {
            Failure::Source
        } else {
            Failure::Auth
        };
        anyhow!(
            "Microsoft refused the application's credentials (app-only): {}",
            describe(&error)
        )
        .context(failure)
    })
}

pub(super) fn expiry(expires_in: Option<u64>) -> u64 {
    crate::clock::now_unix_seconds().saturating_add(expires_in.unwrap_or(3599))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_one_line_with_advice() {
        let error = TokenError {
            error: "invalid_client".into(),
            error_description: "AADSTS7000218: The request body must contain the following \
                parameter: 'client_assertion' or 'client_secret'.\r\nTrace ID: x\r\nCorrelation ID: y"
                .into(),
            error_codes: vec![7000218],
        };
        let text = describe(&error);
        assert!(!text.contains("Trace ID"), "{text}");
        assert!(
            text.starts_with("invalid_client (AADSTS7000218: "),
            "{text}"
        );
        assert!(text.contains("Allow public client flows"), "{text}");
    }

    #[test]
    fn shared_mailboxes_ask_for_the_shared_permission() {
        let mut account = AccountConfig {
            mailbox: Mailbox::Me,
            folder: "inbox".into(),
            client_id: "c".into(),
            tenant: "organizations".into(),
            login_url: "https://login.microsoftonline.com".into(),
            graph_url: "https://graph.microsoft.com/v1.0".into(),
        };
        assert_eq!(
            scope(&account),
            "offline_access https://graph.microsoft.com/Mail.ReadWrite"
        );
        account.mailbox = Mailbox::User("a@b.fr".into());
        assert!(scope(&account).ends_with(" https://graph.microsoft.com/Mail.ReadWrite.Shared"));
    }

    #[test]
    fn login_command_repeats_what_the_run_was_given() {
        let account = AccountConfig {
            mailbox: Mailbox::User("factures@example.fr".into()),
            folder: "Inbox/L'été".into(),
            client_id: "c".into(),
            tenant: "example.fr".into(),
            login_url: "https://login.microsoftonline.us".into(),
            graph_url: "https://graph.microsoft.us/v1.0".into(),
        };
        assert_eq!(
            login_command(&account, "box"),
            "lanceur o365 login --client-id c --tenant example.fr --mailbox factures@example.fr \
             --folder 'Inbox/L'\\''été' --name box --login-url https://login.microsoftonline.us \
             --graph-url https://graph.microsoft.us/v1.0"
        );
    }
}
