//! A mail server and how to log in to it: checking the options shared by `imap` and `pop`, and
//! reading their secrets, so that a mistake exits 2 before any socket opens.

use std::path::Path;

use anyhow::{bail, Result};

use super::absolute;
use super::oauth::{flow, login_command, oauth_words, MailOAuth};
use crate::cli::file::FileSecrets;
use crate::cli::oauth::{MailLoginArgs, OAuthArgs};
use crate::cli::{PasswordArgs, ServerArgs, TlsMode};
use crate::secret;
use crate::settings::oauth::{Grant, LoginConfig, LoginTarget, OAuthConfig};
use crate::settings::{Auth, ServerConfig};
use crate::tls::{self, Service, TlsConfig};

/// Checks the server options of a `service` launcher (its ports are the defaults).
pub fn server_config(args: &ServerArgs, auth: Auth, service: Service) -> Result<ServerConfig> {
    let (tls_port, plain_port) = service.ports();
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
            service,
            host,
            port,
            mode: args.tls,
            ca_pem,
            ca_file,
            accept_invalid_certs: args.danger_accept_invalid_certs,
            timeout: args.timeout,
            answer_timeout: args.answer_timeout,
        },
        account: args.account.clone(),
        auth,
    })
}

/// How a run logs in: a password or a fixed token (read here, with those of the launcher file,
/// `file`, which the command line's secret files and the environment win over), or `oauth`.
pub fn mail_auth(
    args: &PasswordArgs,
    file: &FileSecrets,
    oauth: Option<OAuthConfig>,
) -> Result<Auth> {
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
    if let Some(oauth) = oauth {
        if password.is_some() || token.is_some() {
            bail!(
                "--oauth obtains the tokens itself: leave out the password and the token \
                 (LANCEUR_PASSWORD, LANCEUR_TOKEN, --password-file, --token-file)"
            );
        }
        return Ok(Auth::OAuth(Box::new(oauth)));
    }
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
            "no password: set LANCEUR_PASSWORD or give --password-file or sign in with --oauth \
             microsoft|google (or give an OAuth2 token with LANCEUR_TOKEN or --token-file)"
        ),
    };
    Ok(auth)
}

/// The options of `lanceur imap|pop login`, with what the protocol adds.
pub struct LoginArgs<'a> {
    /// `imap` or `pop`.
    pub protocol: &'static str,
    pub args: &'a MailLoginArgs,
    /// The protocol, for its ports.
    pub service: Service,
    /// Options of the runs a login must repeat (the IMAP mailbox).
    pub extra: Vec<String>,
}

/// `lanceur imap|pop login`: checks the sign-in's options; `derived` names the launcher as its
/// runs do, `target` says what to check once signed in.
pub fn mail_login(
    args: LoginArgs,
    secrets: &FileSecrets,
    derived: impl Fn(&ServerConfig) -> String,
    target: impl FnOnce(ServerConfig) -> LoginTarget,
) -> Result<LoginConfig> {
    let upper = if args.protocol == "imap" {
        "IMAP"
    } else {
        "POP"
    };
    let login = args.args;
    let Some(oauth) = (MailOAuth {
        args: &login.oauth,
        secrets,
        account: &login.server.account,
        protocol: upper,
    })
    .config()?
    else {
        bail!(
            "the login step is for OAuth: give --oauth microsoft or --oauth google (a password \
             needs no login)"
        );
    };
    if !matches!(oauth.grant, Grant::Delegated { .. }) {
        bail!(
            "app-only authentication (client secret, certificate or service account) needs no \
             login: run the launcher itself"
        );
    }
    let (flow, redirect_port) = flow(&login.flow, oauth.provider)?;
    let mut server = server_config(&login.server, Auth::OAuth(Box::new(oauth)), args.service)?;
    let (launcher, state_dir) = super::login_state(&login.state, &derived(&server))?;
    with_login_command(
        &mut server,
        args.protocol,
        &login.oauth,
        &args.extra,
        &launcher,
        state_dir.parent().unwrap_or(&state_dir),
        secrets,
    );
    let Auth::OAuth(oauth) = &server.auth else {
        unreachable!("built above")
    };
    Ok(LoginConfig {
        oauth: (**oauth).clone(),
        launcher,
        state_dir,
        flow,
        redirect_port,
        target: target(server),
    })
}

/// Fills in the command an OAuth launcher's messages give to sign in again.
pub fn with_login_command(
    server: &mut ServerConfig,
    protocol: &str,
    oauth_args: &OAuthArgs,
    extra: &[String],
    name: &str,
    state_root: &Path,
    secrets: &FileSecrets,
) {
    let mut words = vec![
        protocol.to_string(),
        "login".to_string(),
        "--server".to_string(),
        server.tls.host.clone(),
        "--port".to_string(),
        server.tls.port.to_string(),
        "--account".to_string(),
        server.account.clone(),
    ];
    if server.tls.mode != TlsMode::Implicit {
        words.extend([
            "--tls".to_string(),
            format!("{:?}", server.tls.mode).to_ascii_lowercase(),
        ]);
    }
    if let Some(ca_file) = &server.tls.ca_file {
        words.extend(["--ca-file".to_string(), ca_file.display().to_string()]);
    }
    if server.tls.accept_invalid_certs {
        words.push("--danger-accept-invalid-certs".to_string());
    }
    let Auth::OAuth(oauth) = &mut server.auth else {
        return;
    };
    words.extend(oauth_words(oauth_args, oauth));
    words.extend(extra.iter().cloned());
    // The state folder always, even when the run found it in LANCEUR_STATE_DIR: the shell the
    // command is pasted into may not have that variable, and the tokens would land elsewhere.
    words.extend([
        "--name".to_string(),
        name.to_string(),
        "--state-dir".to_string(),
        state_root.display().to_string(),
    ]);
    oauth.login_command = login_command(secrets.launcher_file.as_deref(), &words);
}
