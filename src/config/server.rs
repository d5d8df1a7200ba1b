//! A mail server and how to log in to it: checking the options shared by `imap` and `pop`, and
//! reading their secrets, so that a mistake exits 2 before any socket opens.

use anyhow::{bail, Result};

use super::absolute;
use crate::cli::file::FileSecrets;
use crate::cli::{ServerArgs, TlsMode};
use crate::secret;
use crate::settings::{Auth, ServerConfig};
use crate::tls::{self, TlsConfig};

/// Checks the server options and reads the secrets. `tls_port` and `plain_port` are the
/// protocol's defaults.
/// `file` holds the secrets of the launcher file, if any: the command line's secret files and the
/// environment win over them.
pub fn server_config(
    args: &ServerArgs,
    file: &FileSecrets,
    tls_port: u16,
    plain_port: u16,
) -> Result<ServerConfig> {
    let host = args.server.trim().to_string();
    if host.is_empty() || host.contains(['/', ' ']) {
        bail!(
            "invalid --server {:?}: give a host name such as imap.gmail.com",
            args.server
        );
    }
    if args.account.is_empty() {
        bail!("--account is empty; give the account to log in as");
    }
    // The hidden --password and --token options exist only so that clap reads the environment;
    // a value that did not come from there was typed on the command line, where `ps` shows it.
    for (value, variable, flag) in [
        (&args.password, "LANCEUR_PASSWORD", "--password"),
        (&args.token, "LANCEUR_TOKEN", "--token"),
    ] {
        if value.is_some() && std::env::var(variable).ok() != *value {
            bail!(
                "{flag} on the command line is refused: every user of this machine can read it \
                 with ps; set {variable} or use {flag}-file"
            );
        }
    }
    let password = secret::resolve(
        args.password_file.as_deref(),
        args.password.as_deref(),
        "LANCEUR_PASSWORD",
        "give the password in LANCEUR_PASSWORD or with --password-file",
    )?
    .or_else(|| file.password.clone());
    let token = secret::resolve(
        args.token_file.as_deref(),
        args.token.as_deref(),
        "LANCEUR_TOKEN",
        "give the token in LANCEUR_TOKEN or with --token-file",
    )?
    .or_else(|| file.token.clone());
    let auth = match (password, token) {
        (Some(_), Some(_)) if args.password_file.is_some() && args.token_file.is_some() => {
            bail!("give --password-file or --token-file, not both")
        }
        (Some(password), Some(_)) if args.password_file.is_some() => Auth::Password(password),
        (Some(_), Some(token)) if args.token_file.is_some() => Auth::XOAuth2(token),
        (Some(_), Some(_)) => {
            bail!("both LANCEUR_PASSWORD and LANCEUR_TOKEN are set; keep only one")
        }
        (Some(password), None) => Auth::Password(password),
        (None, Some(token)) => Auth::XOAuth2(token),
        (None, None) => bail!(
            "no password: set LANCEUR_PASSWORD or give --password-file (or an OAuth2 token with \
             LANCEUR_TOKEN or --token-file)"
        ),
    };
    let port = args.port.unwrap_or(match args.tls {
        TlsMode::Implicit => tls_port,
        TlsMode::Starttls | TlsMode::None => plain_port,
    });
    if port == 0 {
        bail!("--port 0 is not a port");
    }
    let ca_file = args.ca_file.as_deref().map(absolute).transpose()?;
    let ca_pem = ca_file.as_deref().map(tls::load_ca_file).transpose()?;
    if args.danger_accept_invalid_certs && ca_file.is_some() {
        bail!("--ca-file and --danger-accept-invalid-certs contradict each other; keep --ca-file");
    }
    if args.timeout.is_zero() {
        bail!("--timeout 0 would give up at once");
    }
    Ok(ServerConfig {
        tls: TlsConfig {
            host,
            port,
            mode: args.tls,
            ca_pem,
            ca_file,
            accept_invalid_certs: args.danger_accept_invalid_certs,
            timeout: args.timeout,
        },
        account: args.account.clone(),
        auth,
    })
}
