//! Opening an IMAP session: connection (implicit TLS, STARTTLS or plaintext), greeting, login
//! with a password, a fixed XOAUTH2 token, or OAuth tokens that lanceur renews itself (SASL
//! OAUTHBEARER, RFC 7628, where the server offers it, else XOAUTH2), and the classification of what
//! can go wrong on the way.
//!
//! With OAuth, a token the server refuses is renewed once and tried again: a token revoked before
//! its expiry is replaced by the refresh that follows, and a second refusal is the server's word
//! (the token is not for this account, or the account may not use IMAP).

use std::io::Write;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use imap::{Client, Session};

use super::wire::Shared;
use crate::exit::Failure;
use crate::item::Expiry;
use crate::oauth::Tokens;
use crate::secret::Secret;
use crate::settings::oauth::OAuthConfig;
use crate::settings::{Auth, ServerConfig};
use crate::tls::{self, Connector, Stream, TlsMode};

/// A logged-in session, its connection for `wire`, and the sign-in's warnings and expiries.
pub struct Opened {
    pub session: Session<Shared>,
    pub wire: Shared,
    pub notices: Vec<String>,
    pub expiries: Vec<Expiry>,
}

/// Connects, reads the greeting (with STARTTLS, upgrades first) and logs in. `signed_in`: the
/// OAuth tokens were obtained just now (by the login step), so they serve until they expire.
pub fn open(server: &ServerConfig, state_dir: &Path, signed_in: bool) -> Result<Opened> {
    let connector = Connector::new(&server.tls)?;
    let address = connector.address();
    let (client, mut wire) = connect(&connector, server.tls.mode)?;
    let (session, notices, expiries) = match &server.auth {
        Auth::OAuth(oauth) => {
            let mut tokens = Tokens::open(oauth, state_dir)?;
            if signed_in {
                tokens.mark_fresh();
            }
            let notices = tokens.warnings();
            let mechanisms = sasl_mechanisms(&mut wire, &address)?;
            let session = oauth_login(
                client,
                &server.account,
                &server.tls.host,
                server.tls.port,
                &address,
                &mechanisms,
                oauth,
                &mut tokens,
            )?;
            // After the login, which renewed the sign-in if it had to.
            (session, notices, tokens.expiries())
        }
        auth => (
            login(client, &server.account, auth, &address)?,
            Vec::new(),
            Vec::new(),
        ),
    };
    Ok(Opened {
        session,
        wire,
        notices,
        expiries,
    })
}

/// Connects and reads the greeting; with STARTTLS, upgrades first. Returns the client and a second
/// handle on its connection, for `wire`.
pub fn connect(connector: &Connector, mode: TlsMode) -> Result<(Client<Shared>, Shared)> {
    let address = connector.address();
    let stream = connector.connect()?;
    if mode == TlsMode::Starttls {
        let Stream::Plain(mut tcp) = stream else {
            unreachable!("STARTTLS starts in plaintext")
        };
        starttls(connector, &mut tcp, &address)?;
        // No greeting after the upgrade (RFC 3501 §6.2.1).
        let shared = Shared::new(connector.upgrade(tcp)?);
        return Ok((Client::new(shared.clone()), shared));
    }
    let mut shared = Shared::new(stream);
    // Read here rather than by the crate, so that a greeting of another protocol (POP3 on this
    // port) is recognised and said. Nothing past the line is read.
    let greeting = tls::read_line(&mut shared, 8192)
        .map_err(|err| no_greeting(connector, err, "waiting for its greeting"))?;
    check_greeting(connector, &greeting)?;
    Ok((Client::new(shared.clone()), shared))
}

/// A greeting is `* OK` (or `* PREAUTH`); anything else is said with what the port speaks.
fn check_greeting(connector: &Connector, greeting: &[u8]) -> Result<()> {
    let upper = greeting.to_ascii_uppercase();
    if upper.starts_with(b"* OK") || upper.starts_with(b"* PREAUTH") {
        return Ok(());
    }
    Err(connector.greeting_mismatch(greeting).unwrap_or_else(|| {
        anyhow!(
            "unexpected greeting from {}: {}",
            connector.address(),
            String::from_utf8_lossy(greeting).trim_end()
        )
        .context(Failure::Source)
    }))
}

/// The connection gave no greeting: an implicit-TLS port reached in plaintext says so, anything
/// else is a connection lost while `doing`.
fn no_greeting(connector: &Connector, err: std::io::Error, doing: &str) -> anyhow::Error {
    connector.no_greeting(&err).unwrap_or_else(|| {
        let what = if is_timeout(&err) {
            "the server stopped answering"
        } else {
            "the connection was lost"
        };
        anyhow!(err)
            .context(format!("{what} while {doing} ({})", connector.address()))
            .context(Failure::Source)
    })
}

/// The plaintext part of STARTTLS: greeting, command, tagged OK. Nothing is read past that line.
fn starttls(connector: &Connector, tcp: &mut tls::Paced, address: &str) -> Result<()> {
    use std::io::Write;
    let io_lost = |err: std::io::Error| {
        anyhow!(err)
            .context(format!("connection to {address} lost before STARTTLS"))
            .context(Failure::Source)
    };
    let greeting = tls::read_line(tcp, 8192)
        .map_err(|err| no_greeting(connector, err, "waiting for its greeting before STARTTLS"))?;
    check_greeting(connector, &greeting)?;
    tcp.write_all(b"a0 STARTTLS\r\n").map_err(io_lost)?;
    loop {
        let line = tls::read_line(tcp, 8192).map_err(io_lost)?;
        if line.starts_with(b"a0 OK") {
            return Ok(());
        }
        if line.starts_with(b"a0 ") {
            return Err(anyhow!(
                "{address} refused STARTTLS: {}; use --tls implicit (port 993)",
                String::from_utf8_lossy(&line).trim_end()
            ))
            .context(Failure::Source);
        }
    }
}

/// The SASL mechanisms the server offers before login (`AUTH=…` capabilities), asked with a
/// CAPABILITY of our own: Gmail's and Outlook's greetings list none. Read line by line, so that
/// nothing past the tagged answer is taken from the imap crate's reader.
fn sasl_mechanisms(wire: &mut Shared, address: &str) -> Result<Vec<String>> {
    let io_lost = |err: std::io::Error| {
        anyhow!(err)
            .context(format!(
                "connection to {address} lost while asking for its capabilities"
            ))
            .context(Failure::Source)
    };
    wire.write_all(b"c0 CAPABILITY\r\n")
        .and_then(|()| wire.flush())
        .map_err(io_lost)?;
    let mut mechanisms = Vec::new();
    loop {
        let line = tls::read_line(wire, 64 << 10).map_err(io_lost)?;
        let text = String::from_utf8_lossy(&line);
        if text.starts_with("c0 ") {
            if !text.starts_with("c0 OK") {
                return Err(anyhow!("{address} refused CAPABILITY: {}", text.trim_end()))
                    .context(Failure::Source);
            }
            return Ok(mechanisms);
        }
        if text.to_ascii_uppercase().starts_with("* CAPABILITY ") {
            mechanisms.extend(text.split_whitespace().filter_map(|word| {
                let upper = word.to_ascii_uppercase();
                upper.strip_prefix("AUTH=").map(str::to_string)
            }));
        }
    }
}

/// SASL OAUTHBEARER's client response (RFC 7628 §3.1). Dovecot 2.3 wants the `a=` authorization
/// identity, which the RFC leaves optional.
struct OAuthBearer<'a> {
    user: &'a str,
    host: &'a str,
    port: u16,
    token: &'a str,
}

impl imap::Authenticator for OAuthBearer<'_> {
    type Response = String;
    fn process(&self, challenge: &[u8]) -> String {
        if challenge.is_empty() {
            format!(
                "n,a={},\x01host={}\x01port={}\x01auth=Bearer {}\x01\x01",
                self.user.replace('=', "=3D").replace(',', "=2C"),
                self.host,
                self.port,
                self.token
            )
        } else {
            // The error challenge is answered with %x01, and the server's NO follows (§3.2.3).
            "\x01".to_string()
        }
    }
}

#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
fn oauth_login(
    mut client: Client<Shared>,
    account: &str,
    host: &str,
    port: u16,
    address: &str,
    mechanisms: &[String],
    oauth: &OAuthConfig,
    tokens: &mut Tokens,
) -> Result<Session<Shared>> {
    let bearer = mechanisms.iter().any(|m| m == "OAUTHBEARER");
    if !bearer && !mechanisms.iter().any(|m| m == "XOAUTH2") {
        let offered = if mechanisms.is_empty() {
            "none".to_string()
        } else {
            mechanisms.join(" ")
        };
        return Err(anyhow!(
            "{address} offers neither OAUTHBEARER nor XOAUTH2 before login (it offers: \
             {offered}); with --tls none or starttls the server may offer them only once the \
             connection is encrypted, otherwise it does not take OAuth tokens"
        ))
        .context(Failure::Auth);
    }
    let mechanism = if bearer { "OAUTHBEARER" } else { "XOAUTH2" };
    let agent = crate::oauth::http::agent();
    let mut renewed = false;
    loop {
        let token: Secret = tokens.access_token(&agent)?;
        let result = if bearer {
            let auth = OAuthBearer {
                user: account,
                host,
                port,
                token: token.expose(),
            };
            client.authenticate(mechanism, &auth)
        } else {
            let auth = XOAuth2 {
                user: account,
                token: token.expose(),
            };
            client.authenticate(mechanism, &auth)
        };
        let (err, back) = match result {
            Ok(session) => {
                log::debug!("{address}: logged in as {account} with {mechanism}");
                return Ok(session);
            }
            Err(pair) => pair,
        };
        let why = match err {
            imap::Error::No(why) | imap::Error::Bad(why) => why,
            err => return Err(lost(err, address, "logging in")),
        };
        if why.contains("UNAVAILABLE") {
            return Err(anyhow!(
                "{address} could not check the token of {account} now: {why}; the next run will \
                 try again"
            ))
            .context(Failure::Source);
        }
        if !renewed && !why.contains("PRIVACYREQUIRED") {
            log::debug!("{address} refused the token ({why}); renewing it once");
            tokens.invalidate();
            renewed = true;
            client = back;
            continue;
        }
        return Err(anyhow!(
            "{address} refused the {mechanism} login of {account} with a fresh {} token: {why}; \
             {}",
            oauth.provider.name(),
            crate::oauth::advice::server_refusal(oauth, "IMAP")
        ))
        .context(Failure::Auth);
    }
}

struct XOAuth2<'a> {
    user: &'a str,
    token: &'a str,
}

impl imap::Authenticator for XOAuth2<'_> {
    type Response = String;
    fn process(&self, challenge: &[u8]) -> String {
        // After a refused token the server sends its error as a challenge and waits for an empty
        // answer before its final NO (Gmail, Outlook).
        if challenge.is_empty() {
            format!("user={}\x01auth=Bearer {}\x01\x01", self.user, self.token)
        } else {
            String::new()
        }
    }
}

pub fn login(
    client: Client<Shared>,
    account: &str,
    auth: &Auth,
    address: &str,
) -> Result<Session<Shared>> {
    let result = match auth {
        Auth::Password(password) => client.login(account, password.expose()),
        Auth::XOAuth2(token) => client.authenticate(
            "XOAUTH2",
            &XOAuth2 {
                user: account,
                token: token.expose(),
            },
        ),
        Auth::OAuth(_) => unreachable!("OAuth logins go through oauth_login"),
    };
    result.map_err(|(err, _client)| match err {
        imap::Error::No(why) | imap::Error::Bad(why) => {
            let remedy = if why.contains("PRIVACYREQUIRED") || why.contains("Plaintext") {
                "the server will not log in without encryption; use --tls implicit or --tls \
                 starttls"
            } else if matches!(auth, Auth::XOAuth2(_) | Auth::OAuth(_)) {
                "check --account and that the token is fresh and allows IMAP"
            } else {
                "check --account and the password (Gmail: an app password, not the account's)"
            };
            anyhow!("{address} refused the login of {account}: {why}; {remedy}")
                .context(Failure::Auth)
        }
        err => lost(err, address, "logging in"),
    })
}

/// A protocol or connection error that stops the run (exit 4).
pub fn lost(err: imap::Error, address: &str, doing: &str) -> anyhow::Error {
    let what = match &err {
        imap::Error::Io(io) if is_timeout(io) => "the server stopped answering".to_string(),
        imap::Error::Io(_) | imap::Error::ConnectionLost => "the connection was lost".to_string(),
        imap::Error::No(_) | imap::Error::Bad(_) => "the server refused".to_string(),
        _ => "the server's answer could not be read".to_string(),
    };
    anyhow!("{err}")
        .context(format!(
            "{what} while {doing} ({address}); mails not yet acknowledged are taken by the next run"
        ))
        .context(Failure::Source)
}

fn is_timeout(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoauth2_answer() {
        use imap::Authenticator;
        let auth = XOAuth2 {
            user: "a@b",
            token: "t",
        };
        assert_eq!(auth.process(b""), "user=a@b\x01auth=Bearer t\x01\x01");
        assert_eq!(auth.process(b"{\"status\":\"401\"}"), "");
    }

    #[test]
    fn oauthbearer_answer() {
        use imap::Authenticator;
        let auth = OAuthBearer {
            user: "a,b=c@d",
            host: "imap.example",
            port: 993,
            token: "t",
        };
        assert_eq!(
            auth.process(b""),
            "n,a=a=2Cb=3Dc@d,\x01host=imap.example\x01port=993\x01auth=Bearer t\x01\x01"
        );
        assert_eq!(auth.process(b"{\"status\":\"invalid_token\"}"), "\x01");
    }
}
