//! Opening an IMAP session: connection (implicit TLS, STARTTLS or plaintext), greeting, login
//! with a password or XOAUTH2, and the classification of what can go wrong on the way.

use std::net::TcpStream;

use anyhow::{anyhow, Context, Result};
use imap::{Client, Session};

use super::wire::Shared;
use crate::exit::Failure;
use crate::settings::Auth;
use crate::tls::{self, Connector, Stream, TlsMode};

/// Connects and reads the greeting; with STARTTLS, upgrades first. Returns the client and a second
/// handle on its connection, for `wire`.
pub fn connect(connector: &Connector, mode: TlsMode) -> Result<(Client<Shared>, Shared)> {
    let address = connector.address();
    let stream = connector.connect()?;
    if mode == TlsMode::Starttls {
        let Stream::Plain(mut tcp) = stream else {
            unreachable!("STARTTLS starts in plaintext")
        };
        starttls(&mut tcp, &address)?;
        // No greeting after the upgrade (RFC 3501 §6.2.1).
        let shared = Shared::new(connector.upgrade(tcp)?);
        return Ok((Client::new(shared.clone()), shared));
    }
    let shared = Shared::new(stream);
    let mut client = Client::new(shared.clone());
    client
        .read_greeting()
        .map_err(|err| lost(err, &address, "waiting for its greeting"))?;
    Ok((client, shared))
}

/// The plaintext part of STARTTLS: greeting, command, tagged OK. Nothing is read past that line.
fn starttls(tcp: &mut TcpStream, address: &str) -> Result<()> {
    use std::io::Write;
    let io_lost = |err: std::io::Error| {
        anyhow!(err)
            .context(format!("connection to {address} lost before STARTTLS"))
            .context(Failure::Source)
    };
    let greeting = tls::read_line(tcp, 8192).map_err(io_lost)?;
    if !greeting.starts_with(b"* OK") {
        return Err(anyhow!(
            "unexpected greeting from {address}: {}",
            String::from_utf8_lossy(&greeting).trim_end()
        ))
        .context(Failure::Source);
    }
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
    };
    result.map_err(|(err, _client)| match err {
        imap::Error::No(why) | imap::Error::Bad(why) => {
            let remedy = if why.contains("PRIVACYREQUIRED") || why.contains("Plaintext") {
                "the server will not log in without encryption; use --tls implicit or --tls \
                 starttls"
            } else if matches!(auth, Auth::XOAuth2(_)) {
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
}
