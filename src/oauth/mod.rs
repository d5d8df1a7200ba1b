//! OAuth 2 sign-in for every protocol that needs it (IMAP, POP3, Office 365): the logins, the
//! token cache, access tokens for a run, the providers' error advice, and expiry warnings.
//!
//! This module knows identity providers (Microsoft Entra ID, Google) and nothing of mail: it
//! depends on `settings`, `secret`, `exit`, `durable` and `clock`, never on `source`, `cli` or
//! `config`.
//!
//! - Delegated sign-ins: a person signs in once (`login`: the device code, `device.rs`, or the
//!   authorization code with PKCE through a loopback redirect, `browser.rs`), and the tokens go
//!   to the launcher's cache (`cache.rs`). Each run renews the access token with the refresh
//!   token. Microsoft answers each refresh with a *new* refresh token; it is saved before the new
//!   access token is used, every time, because a launcher that kept using its first refresh token
//!   would stop working once that one expires. The one window left is a kill between the answer
//!   and the rename; the next run then needs a login.
//! - App-only: Microsoft's client credentials with a secret or a certificate (a signed client
//!   assertion, `assertion.rs`), Google's service accounts with domain-wide delegation. Nothing is
//!   cached: each run asks for an access token.
//!
//! A refresh token that is expired or revoked is `Failure::Auth` with the exact login command to
//! run again; the provider's other refusals are `Failure::Auth` with advice (`advice.rs`); an
//! unreachable or failing provider is `Failure::Source`. No token, secret or assertion is ever put
//! in a message or a log line.

pub mod advice;
pub mod assertion;
mod browser;
pub mod cache;
mod device;
pub mod http;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};
use ureq::Agent;

use self::advice::{describe, needs_login};
use self::cache::{restrict, save, Cache};
use self::http::{post_form, TokenError, TokenReply};
use crate::clock::now_unix_seconds;
use crate::exit::Failure;
use crate::item::Expiry;
use crate::secret::Secret;
use crate::settings::oauth::{Flow, Grant, LoginConfig, OAuthConfig, Provider};

/// An access token closer than this to its expiry is renewed before use.
const MARGIN: Duration = Duration::from_secs(300);

/// The access tokens of a run.
pub struct Tokens {
    config: OAuthConfig,
    state: State,
}

enum State {
    /// Delegated: tokens from the cache, renewed with its refresh token.
    Cached {
        path: PathBuf,
        cache: Box<Cache>,
        /// Whether the access token was obtained by this process: then it serves until it
        /// expires, even if the provider gives lifetimes shorter than `MARGIN`.
        fresh: bool,
        /// Days the refresh token had been unused when this run opened the cache.
        idle_days: Option<u64>,
    },
    /// App-only: a token asked for with the app's own credential, kept in memory only.
    Issued {
        access: Option<(Secret, SystemTime)>,
    },
}

impl Tokens {
    /// The tokens of a launcher whose state folder is `state_dir`. A delegated launcher must have
    /// signed in (`login`) with the same settings.
    pub fn open(config: &OAuthConfig, state_dir: &Path) -> Result<Tokens> {
        let state = match config.grant {
            Grant::Delegated { .. } => {
                let (path, cache) = read_cache(config, state_dir)?;
                let idle_days = (cache.renewed_at > 0)
                    .then(|| now_unix_seconds().saturating_sub(cache.renewed_at) / 86_400);
                State::Cached {
                    path,
                    cache: Box::new(cache),
                    fresh: false,
                    idle_days,
                }
            }
            _ => State::Issued { access: None },
        };
        Ok(Tokens {
            config: config.clone(),
            state,
        })
    }

    /// Notes that the cached access token was just obtained (by the login step).
    pub fn mark_fresh(&mut self) {
        if let State::Cached { fresh, .. } = &mut self.state {
            *fresh = true;
        }
    }

    /// A valid access token, renewed first if it expires soon.
    pub fn access_token(&mut self, agent: &Agent) -> Result<Secret> {
        let now = SystemTime::now();
        match &mut self.state {
            State::Cached {
                path, cache, fresh, ..
            } => {
                let margin = if *fresh {
                    Duration::from_secs(10)
                } else {
                    MARGIN
                };
                if !cache.access_token.is_empty()
                    && UNIX_EPOCH + Duration::from_secs(cache.expires_at) > now + margin
                {
                    return Ok(Secret::new(cache.access_token.clone()));
                }
                refresh(agent, &self.config, path, cache)?;
                *fresh = true;
                Ok(Secret::new(cache.access_token.clone()))
            }
            State::Issued { access } => {
                if let Some((token, expires)) = access {
                    if *expires > now + MARGIN {
                        return Ok(token.clone());
                    }
                }
                let reply = app_token(agent, &self.config)?;
                let expires = now + Duration::from_secs(reply.expires_in.unwrap_or(3599));
                let token = Secret::new(reply.access_token);
                *access = Some((token.clone(), expires));
                Ok(token)
            }
        }
    }

    /// Forgets the access token, so the next `access_token` gets a new one (after a refusal).
    pub fn invalidate(&mut self) {
        match &mut self.state {
            State::Cached { cache, fresh, .. } => {
                cache.access_token.clear();
                *fresh = false;
            }
            State::Issued { access } => *access = None,
        }
    }

    /// One line for each sign-in or credential that expires within the configured days.
    pub fn warnings(&self) -> Vec<String> {
        let config = &self.config;
        let days = i64::from(config.warn_days);
        let provider = config.provider.name();
        let mut out = Vec::new();
        if let State::Cached {
            idle_days: Some(idle),
            ..
        } = &self.state
        {
            let limit = config.provider.idle_limit_days();
            let idle = i64::try_from(*idle).unwrap_or(i64::MAX);
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            if idle >= limit - days {
                out.push(format!(
                    "the {provider} sign-in had not been used for {idle} days, and {provider} \
                     drops sign-ins unused for {limit} days; this run renews it if it still can, \
                     but run this launcher more often, or it will need `{}` again",
                    config.login_command
                ));
            }
        }
        let mut expiring = |what: String, when: SystemTime, remedy: &str| {
            let left = assertion::days_until(when);
            let date = humantime::format_rfc3339_seconds(when).to_string();
            let date = date.get(..10).unwrap_or(&date).to_string();
            if left < 0 {
                out.push(format!("{what} expired on {date}; {remedy}"));
            } else if left <= days {
                out.push(format!(
                    "{what} expires on {date}, in {left} days; {remedy} before then"
                ));
            }
        };
        match &config.grant {
            Grant::AppSecret {
                expires: Some(when),
                ..
            } => expiring(
                "the client secret".into(),
                *when,
                "create a new one in the app registration (Certificates & secrets) and give it \
                 to this launcher",
            ),
            Grant::AppCertificate(certificate) => {
                if let Some(when) = certificate.not_after {
                    expiring(
                        format!("the certificate {}", certificate.path.display()),
                        when,
                        "upload a new certificate to the app registration and give it with \
                         --client-certificate",
                    );
                }
            }
            _ => {}
        }
        out
    }
}

impl Tokens {
    /// What of this sign-in expires unless someone acts, and when, for `lanceur status`: a
    /// delegated sign-in left unused (the provider's limit after its last renewal, which each run
    /// moves on), a client secret whose date was given, a certificate.
    pub fn expiries(&self) -> Vec<Expiry> {
        let config = &self.config;
        let provider = config.provider.name();
        let at = |when: SystemTime| humantime::format_rfc3339_seconds(when).to_string();
        let mut out = Vec::new();
        if let State::Cached { cache, .. } = &self.state {
            if cache.renewed_at > 0 {
                let limit = config.provider.idle_limit_days() * 86_400;
                let when = UNIX_EPOCH + Duration::from_secs(cache.renewed_at.saturating_add(limit));
                out.push(Expiry {
                    what: format!("the {provider} sign-in, unless a run uses it before"),
                    at: at(when),
                });
            }
        }
        match &config.grant {
            Grant::AppSecret {
                expires: Some(when),
                ..
            } => out.push(Expiry {
                what: "the client secret".to_string(),
                at: at(*when),
            }),
            Grant::AppCertificate(certificate) => {
                if let Some(when) = certificate.not_after {
                    out.push(Expiry {
                        what: format!("the certificate {}", certificate.path.display()),
                        at: at(when),
                    });
                }
            }
            _ => {}
        }
        out
    }
}

/// Reads and checks the cache of a delegated launcher.
fn read_cache(config: &OAuthConfig, state_dir: &Path) -> Result<(PathBuf, Cache)> {
    let path = state_dir.join(config.cache_file);
    let provider = config.provider.name();
    let relogin = &config.login_command;
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(anyhow!(
                "this launcher has not signed in to {provider} yet (no {}); run `{relogin}` once, \
                 interactively",
                path.display(),
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
                "the token cache {} is damaged (line {}, column {}); run `{relogin}` again",
                path.display(),
                err.line(),
                err.column()
            )
        })
        .context(Failure::Auth)?;
    let wanted = &config.scope;
    let mismatch = if !cache.provider.eq_ignore_ascii_case(config.provider.key()) {
        Some(format!("with {}", cache.provider))
    } else if !cache.client_id.eq_ignore_ascii_case(&config.client_id) {
        Some(format!("for client id {}", cache.client_id))
    } else if !cache.tenant.eq_ignore_ascii_case(&config.tenant) {
        Some(format!("for tenant {}", cache.tenant))
    } else if cache.login_url != config.login_url {
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
            "the saved sign-in was made {what}; run `{relogin}` again"
        ))
        .context(Failure::Auth);
    }
    restrict(&path);
    Ok((path, cache))
}

fn refresh(agent: &Agent, config: &OAuthConfig, path: &Path, cache: &mut Cache) -> Result<()> {
    log::debug!("renewing the access token");
    let refresh_token = cache.refresh_token.clone();
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", config.client_id.as_str()),
        ("refresh_token", refresh_token.as_str()),
    ];
    if config.provider == Provider::Microsoft {
        form.push(("scope", cache.scope.as_str()));
    }
    if let Grant::Delegated {
        client_secret: Some(secret),
    } = &config.grant
    {
        form.push(("client_secret", secret.expose()));
    }
    let provider = config.provider.name();
    match post_form(agent, provider, &config.endpoints.token, &form)? {
        Ok(reply) => {
            match reply.refresh_token {
                Some(new) => cache.refresh_token = new,
                // Google keeps one refresh token for good; Microsoft always sends a new one.
                None if config.provider == Provider::Microsoft => {
                    log::warn!("Microsoft sent no new refresh token; keeping the old one")
                }
                None => {}
            }
            cache.access_token = reply.access_token;
            cache.expires_at = expiry(reply.expires_in);
            cache.renewed_at = now_unix_seconds();
            // Before the new access token is used: the old refresh token may already be dead.
            save(path, cache)
        }
        Err((status, error)) => Err(refused(config, status, &error, true)),
    }
}

/// A refusal of the token endpoint as a tagged error. `delegated`: the refresh of a sign-in.
fn refused(
    config: &OAuthConfig,
    status: u16,
    error: &TokenError,
    delegated: bool,
) -> anyhow::Error {
    let provider = config.provider.name();
    let text = describe(config.provider, error);
    if status >= 500 || error.error == "temporarily_unavailable" {
        return anyhow!(
            "{provider}'s sign-in service is unavailable ({text}); the next run will try again"
        )
        .context(Failure::Source);
    }
    if delegated && needs_login(error) {
        return anyhow!(
            "the {provider} sign-in of this launcher has expired or was revoked: {text}; run `{}` \
             again, interactively",
            config.login_command
        )
        .context(Failure::Auth);
    }
    if delegated {
        anyhow!("{provider} refused to renew the access token: {text}").context(Failure::Auth)
    } else {
        anyhow!("{provider} refused the application's credentials (app-only): {text}")
            .context(Failure::Auth)
    }
}

/// An access token for the application itself.
fn app_token(agent: &Agent, config: &OAuthConfig) -> Result<TokenReply> {
    let token_url = &config.endpoints.token;
    let assertion;
    let mut form = vec![];
    match &config.grant {
        Grant::AppSecret { secret, .. } => {
            form.extend([
                ("grant_type", "client_credentials"),
                ("client_id", config.client_id.as_str()),
                ("client_secret", secret.expose()),
                ("scope", config.scope.as_str()),
            ]);
        }
        Grant::AppCertificate(certificate) => {
            assertion = assertion::client_assertion(certificate, &config.client_id, token_url)?;
            form.extend([
                ("grant_type", "client_credentials"),
                ("client_id", config.client_id.as_str()),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.expose()),
                ("scope", config.scope.as_str()),
            ]);
        }
        Grant::ServiceAccount(account) => {
            assertion = assertion::service_account_assertion(account, &config.scope, token_url)?;
            form.extend([
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.expose()),
            ]);
        }
        Grant::Delegated { .. } => unreachable!("delegated tokens come from the cache"),
    }
    post_form(agent, config.provider.name(), token_url, &form)?
        .map_err(|(status, error)| refused(config, status, &error, false))
}

/// The sign-in of `lanceur … login`: the chosen flow, then the tokens saved in the cache.
/// Instructions go to `out`. Returns the cache's path.
pub fn login(config: &LoginConfig, agent: &Agent, out: &mut dyn Write) -> Result<PathBuf> {
    let oauth = &config.oauth;
    let reply = match config.flow {
        Flow::Device => device::sign_in(agent, oauth, out)?,
        Flow::Browser => browser::sign_in(agent, oauth, config.redirect_port, out)?,
    };
    let Some(refresh_token) = reply.refresh_token else {
        return Err(anyhow!(
            "{} granted no refresh token (was offline access refused?); runs could not renew \
             their access",
            oauth.provider.name()
        ))
        .context(Failure::Auth);
    };
    let now = now_unix_seconds();
    let cache = Cache {
        version: 1,
        provider: oauth.provider.key().to_string(),
        client_id: oauth.client_id.clone(),
        tenant: oauth.tenant.clone(),
        login_url: oauth.login_url.clone(),
        scope: oauth.scope.clone(),
        refresh_token,
        access_token: reply.access_token,
        expires_at: expiry(reply.expires_in),
        signed_in_at: now,
        renewed_at: now,
    };
    let exposed = crate::private::create_dir(&config.state_dir)
        .with_context(|| format!("cannot create {}", config.state_dir.display()))
        .context(Failure::Cold)?;
    if let Some(err) = exposed {
        log::warn!(
            "state folder {} could not be made readable by this account only ({err}); {}",
            config.state_dir.display(),
            crate::private::remedy(&config.state_dir)
        );
    }
    let path = config.state_dir.join(oauth.cache_file);
    save(&path, &cache)?;
    if oauth.provider == Provider::Google {
        writeln!(
            out,
            "note: if this OAuth client's app is still in \"Testing\" (Google Cloud console > \
             OAuth consent screen), Google lets its refresh tokens expire after 7 days; publish \
             it (\"In production\") so that this launcher keeps working"
        )
        .context("cannot print to standard output")?;
    }
    Ok(path)
}

pub(crate) fn expiry(expires_in: Option<u64>) -> u64 {
    now_unix_seconds().saturating_add(expires_in.unwrap_or(3599))
}
