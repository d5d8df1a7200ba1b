//! Opening a POP3 session: connection (implicit TLS, STLS or plaintext to a local tunnel), CAPA,
//! and the login: USER/PASS, a fixed XOAUTH2 token, or OAuth tokens that lanceur renews itself
//! (AUTH OAUTHBEARER, RFC 7628, where the server offers it, else AUTH XOAUTH2). A session is
//! opened at the start of a run and again after each batch's QUIT, so the OAuth tokens are kept
//! by the source and the access token is reused until it nears its expiry.
//!
//! A token the server refuses is renewed once and tried again on the same connection (a token
//! revoked before its expiry); a second refusal is the server's word. A refused login is
//! `Failure::Auth`, unless the server says the refusal is temporary (`[IN-USE]`, `[SYS/TEMP]`).

use std::path::Path;

use anyhow::{anyhow, Context, Result};

use super::client::{Capabilities, Client, Error as PopError};
use super::lost;
use crate::exit::Failure;
use crate::oauth::Tokens;
use crate::settings::{Auth, ServerConfig};
use crate::tls::{Connector, Stream, TlsMode};

/// Connects (upgrading with STLS when asked), asks CAPA and logs in.
pub fn connect(
    connector: &Connector,
    server: &ServerConfig,
    tokens: Option<&mut Tokens>,
) -> Result<Client<Stream>> {
    let address = connector.address();
    let stream = connector.connect()?;
    let mut client = if server.tls.mode == TlsMode::Starttls {
        let Stream::Plain(tcp) = stream else {
            unreachable!("STLS starts in plaintext")
        };
        let mut plain = Client::new(tcp).map_err(|err| no_greeting(connector, err))?;
        let capabilities = plain
            .capa()
            .map_err(|err| lost(err, &address, "asking for capabilities"))?;
        if capabilities != Default::default() && !capabilities.has("STLS") {
            return Err(anyhow!(
                "{address} does not offer STLS; use --tls implicit (port 995), or a local \
                 stunnel with --tls none"
            ))
            .context(Failure::Source);
        }
        let tcp = plain.stls().map_err(|err| match err {
            PopError::Refused { line, .. } => {
                anyhow!("{address} refused STLS: {line}; use --tls implicit (port 995)")
                    .context(Failure::Source)
            }
            err => lost(err, &address, "asking for TLS"),
        })?;
        // No new greeting after STLS (RFC 2595 §4).
        Client::resumed(connector.upgrade(tcp)?)
    } else {
        Client::new(stream).map_err(|err| no_greeting(connector, err))?
    };
    // After STLS the capabilities may differ (RFC 2595); CAPA also turns on pipelining.
    let capabilities = client
        .capa()
        .map_err(|err| lost(err, &address, "asking for capabilities"))?;
    log::debug!("{address} greets: {}", client.greeting());
    match (&server.auth, tokens) {
        (Auth::OAuth(_), Some(tokens)) => {
            oauth_login(&mut client, server, &capabilities, &address, tokens)?
        }
        _ => {
            if matches!(server.auth, Auth::XOAuth2(_))
                && capabilities.has("SASL")
                && !capabilities.sasl().iter().any(|m| m == "XOAUTH2")
            {
                return Err(anyhow!(
                    "{address} does not offer XOAUTH2 (it offers SASL {}); log in with a \
                     password (LANCEUR_PASSWORD or --password-file) instead of a token",
                    capabilities.sasl().join(" ")
                ))
                .context(Failure::Auth);
            }
            let result = match &server.auth {
                Auth::Password(password) => client.login(&server.account, password.expose()),
                Auth::XOAuth2(token) => client.auth_xoauth2(&server.account, token.expose()),
                Auth::OAuth(_) => unreachable!("the source holds the tokens of --oauth"),
            };
            result.map_err(|err| refusal(err, server, &address))?;
        }
    }
    Ok(client)
}

/// A greeting that did not come, or is not POP3's: the port may speak implicit TLS (reached in
/// plaintext) or IMAP, which `Connector` recognises; anything else is the connection's failure.
fn no_greeting(connector: &Connector, err: PopError) -> anyhow::Error {
    let said = match &err {
        PopError::Io { source, .. } => connector.no_greeting(source),
        PopError::Unexpected { line, .. } => connector.greeting_mismatch(line.as_bytes()),
        _ => None,
    };
    said.unwrap_or_else(|| lost(err, &connector.address(), "waiting for the greeting"))
}

/// OAUTHBEARER where offered, else XOAUTH2; a refused token is renewed and tried once more.
fn oauth_login(
    client: &mut Client<Stream>,
    server: &ServerConfig,
    capabilities: &Capabilities,
    address: &str,
    tokens: &mut Tokens,
) -> Result<()> {
    let offered = capabilities.sasl();
    let bearer = offered.iter().any(|m| m == "OAUTHBEARER");
    if !bearer && !offered.iter().any(|m| m == "XOAUTH2") {
        return Err(anyhow!(
            "{address} offers neither OAUTHBEARER nor XOAUTH2 (it offers SASL {}); with --tls \
             none or starttls a server may offer them only on an encrypted connection",
            if offered.is_empty() {
                "nothing".to_string()
            } else {
                offered.join(" ")
            }
        ))
        .context(Failure::Auth);
    }
    let agent = crate::oauth::http::agent();
    let account = &server.account;
    let mut renewed = false;
    loop {
        let token = tokens.access_token(&agent)?;
        let result = if bearer {
            client.auth_oauthbearer(account, &server.tls.host, server.tls.port, token.expose())
        } else {
            client.auth_xoauth2(account, token.expose())
        };
        match result {
            Ok(()) => {
                let mechanism = if bearer { "OAUTHBEARER" } else { "XOAUTH2" };
                log::debug!("{address}: logged in as {account} with {mechanism}");
                return Ok(());
            }
            Err(PopError::Refused { line, .. })
                if !renewed
                    && !line.to_ascii_lowercase().contains("plaintext")
                    && !line.contains("SYS/TEMP") =>
            {
                log::debug!("{address} refused the token ({line}); renewing it once");
                tokens.invalidate();
                renewed = true;
            }
            Err(err) => return Err(refusal(err, server, address)),
        }
    }
}

/// A refused or failed login, classified.
fn refusal(err: PopError, server: &ServerConfig, address: &str) -> anyhow::Error {
    let account = &server.account;
    let PopError::Refused { line, .. } = &err else {
        return lost(err, address, "logging in");
    };
    match err.response_code().map(str::to_ascii_uppercase).as_deref() {
        Some("IN-USE") => anyhow!(
            "{address} says the maildrop of {account} is in use: {line}; another POP3 client is \
             connected, the next run will try again"
        )
        .context(Failure::Source),
        Some("SYS/TEMP") => {
            anyhow!("{address} cannot open the maildrop of {account} for now: {line}")
                .context(Failure::Source)
        }
        _ => {
            let lower = line.to_ascii_lowercase();
            let remedy = if lower.contains("plaintext") || lower.contains("ssl/tls") {
                "the server will not log in without encryption; use --tls implicit or --tls \
                 starttls"
                    .to_string()
            } else if let Auth::OAuth(oauth) = &server.auth {
                format!(
                    "the {} token was fresh: {}",
                    oauth.provider.name(),
                    crate::oauth::advice::server_refusal(oauth, "POP")
                )
            } else if matches!(server.auth, Auth::XOAuth2(_)) {
                "check --account and that the token is fresh and allows POP".to_string()
            } else {
                "check --account and the password (Gmail: an app password, and POP enabled in \
                 its settings)"
                    .to_string()
            };
            anyhow!("{address} refused the login of {account}: {line}; {remedy}")
                .context(Failure::Auth)
        }
    }
}

/// What `lanceur pop login` checks once signed in: a login with the new tokens.
pub fn check_login(server: &ServerConfig, state_dir: &Path) -> Result<String> {
    let connector = Connector::new(&server.tls)?;
    let mut tokens = match &server.auth {
        Auth::OAuth(oauth) => Some(Tokens::open(oauth, state_dir)?),
        _ => None,
    };
    // Obtained just now by the login step: they serve until they expire.
    tokens.iter_mut().for_each(Tokens::mark_fresh);
    let client = connect(&connector, server, tokens.as_mut())?;
    let _ = client.quit();
    Ok(format!(
        "the maildrop of {}@{}",
        server.account,
        connector.address()
    ))
}
