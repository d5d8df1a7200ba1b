//! The OAuth 2 options of the mail protocols, as the user types them, and the `login`
//! subcommand that `imap`, `pop` and `o365` share.
//!
//! clap's derive cannot give an optional subcommand beside a parent with required arguments
//! (`--dest`), so `WithLogin` implements `Args` by hand: the `login` subcommand, or the run's
//! arguments.

use std::path::PathBuf;

use clap::{ArgMatches, Args, FromArgMatches};

pub use crate::settings::oauth::{Flow, Provider};

/// The help of a protocol's `login` subcommand.
pub trait LoginHelp {
    const ABOUT: &'static str;
    const LONG_ABOUT: &'static str;
    const AFTER_HELP: &'static str;
}

/// `lanceur PROTOCOL …`: a login (`lanceur PROTOCOL login …`) or a run.
#[derive(Debug)]
pub enum WithLogin<R, L: LoginHelp> {
    Login(L),
    Run(R),
}

impl<R: FromArgMatches, L: FromArgMatches + LoginHelp> FromArgMatches for WithLogin<R, L> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        match matches.subcommand() {
            Some(("login", sub)) => Ok(WithLogin::Login(L::from_arg_matches(sub)?)),
            _ => Ok(WithLogin::Run(R::from_arg_matches(matches)?)),
        }
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = WithLogin::from_arg_matches(matches)?;
        Ok(())
    }
}

impl<R: Args, L: Args + LoginHelp> Args for WithLogin<R, L> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let login = L::augment_args(
            clap::Command::new("login")
                .about(L::ABOUT)
                .long_about(L::LONG_ABOUT)
                .after_help(L::AFTER_HELP),
        );
        R::augment_args(cmd)
            .subcommand(login)
            .args_conflicts_with_subcommands(true)
            .subcommand_negates_reqs(true)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// Where the launcher's state lives: the same options as the run's, for the login step.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "State options")]
pub struct LoginStateArgs {
    /// Launcher name: the same as the runs' (default: derived from the source)
    #[arg(
        short = 'n',
        long,
        value_name = "NAME",
        long_help = "The launcher whose tokens to save: give the same --name as its runs, or none \
on both, in which case it is derived from the mailbox as for the runs."
    )]
    pub name: Option<String>,

    /// Folder holding each launcher's state (the same as the runs')
    #[arg(
        value_hint = clap::ValueHint::DirPath,
        long,
        value_name = "DIR",
        env = "LANCEUR_STATE_DIR",
        long_help = "Where launchers keep their state; the tokens go to STATE_DIR/NAME. The same \
default as the runs: $XDG_STATE_HOME/lanceur or ~/.local/state/lanceur on Linux, \
%LOCALAPPDATA%\\lanceur on Windows."
    )]
    pub state_dir: Option<PathBuf>,
}

/// How the person signs in at `login`.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Sign-in options")]
pub struct FlowArgs {
    /// device (a code to enter on any device) or browser (a link to open on this machine)
    #[arg(
        long,
        value_enum,
        value_name = "FLOW",
        long_help = "How you sign in. device (Microsoft's default): lanceur shows a code and a \
link; open the link on any device, enter the code and sign in. browser (Google's only way, and \
Microsoft's where a Conditional Access policy blocks the device code): lanceur prints a link to \
open in a browser on this machine; once you have signed in, the browser comes back to \
http://localhost:PORT, where lanceur waits. On a server without a browser, forward the port \
from your workstation (ssh -L PORT:localhost:PORT server) and give --redirect-port PORT."
    )]
    pub flow: Option<Flow>,

    /// The loopback port the browser comes back to (default: any free port)
    #[arg(
        long,
        value_name = "PORT",
        requires = "flow",
        long_help = "With --flow browser: the port of http://localhost:PORT where lanceur waits \
for the browser. Default: a free port chosen by the system (Microsoft and Google accept any \
port of a loopback redirect)."
    )]
    pub redirect_port: Option<u16>,
}

/// What `lanceur imap login` and `lanceur pop login` share: the server, the OAuth sign-in and
/// its flow, the launcher's state.
#[derive(Debug, Args, Clone)]
pub struct MailLoginArgs {
    #[command(flatten)]
    pub server: crate::cli::ServerArgs,

    #[command(flatten)]
    pub oauth: OAuthArgs,

    #[command(flatten)]
    pub flow: FlowArgs,

    #[command(flatten)]
    pub state: LoginStateArgs,
}

/// App-only with a certificate (Microsoft's recommended credential).
#[derive(Debug, Args, Clone)]
pub struct CertificateArgs {
    /// App-only: the app's certificate (PEM), whose key signs the client assertion
    #[arg(
        value_hint = clap::ValueHint::FilePath,
        long,
        value_name = "FILE",
        help_heading = "OAuth options",
        long_help = "Authenticate as the application with a certificate credential (Microsoft's \
recommended one, and the only one some tenants allow): lanceur signs each token request with the \
certificate's private key (a JWT client assertion, RS256). FILE holds the certificate in PEM \
(-----BEGIN CERTIFICATE-----), and its private key too unless --client-key names another file; \
upload the certificate's public part (.cer or .pem) to the app registration under Certificates & \
secrets. Convert a .pfx with: openssl pkcs12 -in app.pfx -out app.pem -nodes. Keep the key \
readable by the account running lanceur only. lanceur warns --warn-before days before the \
certificate expires."
    )]
    pub client_certificate: Option<PathBuf>,

    /// The certificate's private key (PEM), when not in the --client-certificate file
    #[arg(
        value_hint = clap::ValueHint::FilePath,
        long,
        value_name = "FILE",
        requires = "client_certificate",
        help_heading = "OAuth options",
        long_help = "The private key of --client-certificate, PEM, unencrypted (PKCS#8 \
-----BEGIN PRIVATE KEY----- or PKCS#1 -----BEGIN RSA PRIVATE KEY-----). It must belong to the \
certificate; lanceur checks before any request."
    )]
    pub client_key: Option<PathBuf>,
}

/// Expiry warnings.
#[derive(Debug, Args, Clone)]
pub struct ExpiryArgs {
    /// When the client secret expires (YYYY-MM-DD), to be warned before
    #[arg(
        long,
        value_name = "DATE",
        value_parser = parse_date,
        help_heading = "OAuth options",
        long_help = "The expiry date of the client secret, as the app registration shows it \
(Certificates & secrets > Expires). A secret carries no date of its own, so lanceur can warn \
--warn-before days ahead only if told."
    )]
    pub client_secret_expires: Option<std::time::SystemTime>,

    /// Warn this many days before a sign-in, certificate or secret expires
    #[arg(
        long,
        value_name = "DAYS",
        default_value_t = 14,
        help_heading = "OAuth options",
        long_help = "Each run prints one line, this many days ahead (default 14), when the \
certificate (--client-certificate) or the client secret (--client-secret-expires) is about to \
expire, and when a sign-in has gone unused so long that the provider is about to drop it \
(Microsoft: 90 days, Google: six months), so that a launcher does not go silent on the day it \
breaks. 0 warns only once expired."
    )]
    pub warn_before: u32,
}

/// OAuth 2 for `imap` and `pop`: the provider, the app, and the credential.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "OAuth options")]
pub struct OAuthArgs {
    /// Sign in with OAuth 2 instead of a password: microsoft or google
    #[arg(
        long,
        value_enum,
        value_name = "PROVIDER",
        long_help = "Sign in with OAuth 2, and let lanceur obtain and renew the tokens: microsoft \
(Exchange Online, Outlook.com) or google (Gmail, Google Workspace). Delegated: run `lanceur imap \
login` (or pop login) once with the same options; the runs then renew their access from the saved \
refresh token. App-only (unattended servers): Microsoft with --client-secret-file or \
--client-certificate, Google with --service-account; no login needed. The server is asked with \
OAUTHBEARER (RFC 7628) where it offers it, XOAUTH2 otherwise."
    )]
    pub oauth: Option<Provider>,

    /// The OAuth client (application) id
    #[arg(
        long,
        value_name = "ID",
        env = "LANCEUR_OAUTH_CLIENT_ID",
        long_help = "The application (client) id of your app registration (Microsoft Entra ID), \
or the client id of your organisation's OAuth client (Google Cloud console > APIs & Services > \
Credentials, type Desktop app). Not needed with --service-account, whose key names it."
    )]
    pub client_id: Option<String>,

    /// Microsoft tenant: organizations (default), a tenant id or a domain
    #[arg(
        long,
        value_name = "TENANT",
        env = "LANCEUR_OAUTH_TENANT",
        long_help = "Microsoft's tenant: organizations (default for delegated sign-ins: any work \
or school account), consumers (Outlook.com), a tenant id or one of its domains (example.fr). \
App-only needs a tenant id or domain."
    )]
    pub tenant: Option<String>,

    /// The identity platform's root URL (national clouds, tests)
    #[arg(
        long,
        value_name = "URL",
        env = "LANCEUR_OAUTH_LOGIN_URL",
        long_help = "Where to sign in. Microsoft: https://login.microsoftonline.com (default), \
https://login.microsoftonline.us (US government). Google: by default \
https://accounts.google.com for the browser and https://oauth2.googleapis.com/token for tokens; \
a URL given here serves both (URL/o/oauth2/v2/auth and URL/token). Plain http:// is refused \
except to this machine."
    )]
    pub login_url: Option<String>,

    /// The OAuth client secret: a file (or LANCEUR_OAUTH_CLIENT_SECRET)
    #[arg(
        value_hint = clap::ValueHint::FilePath,
        long,
        value_name = "FILE",
        long_help = "The client secret, from FILE (one line) or from the environment variable \
LANCEUR_OAUTH_CLIENT_SECRET; never on the command line, where other users can see it. \
Microsoft: app-only authentication (client credentials) with the secret's value (not its id), \
for unattended servers. Google: the secret of your Desktop app OAuth client, which Google's \
sign-in and each renewal need."
    )]
    pub client_secret_file: Option<PathBuf>,

    /// The client secret, from LANCEUR_OAUTH_CLIENT_SECRET only
    #[arg(
        long = "client-secret",
        env = "LANCEUR_OAUTH_CLIENT_SECRET",
        hide_env_values = true,
        hide = true,
        value_name = "SECRET"
    )]
    pub client_secret: Option<String>,

    /// Google Workspace: a service account's JSON key (domain-wide delegation)
    #[arg(
        value_hint = clap::ValueHint::FilePath,
        long,
        value_name = "FILE",
        long_help = "Sign in as a Google Workspace service account with domain-wide delegation, \
acting for --account: no login step, for unattended servers. FILE is the account's JSON key \
(IAM > Service accounts > Keys > Add key > JSON); the Workspace administrator allows the \
account's client id the scope https://mail.google.com/ (Admin console > Security > API controls > \
Domain-wide delegation)."
    )]
    pub service_account: Option<PathBuf>,

    #[command(flatten)]
    pub certificate: CertificateArgs,

    #[command(flatten)]
    pub expiry: ExpiryArgs,
}

/// `2026-06-30` as the start of that day, UTC.
fn parse_date(text: &str) -> Result<std::time::SystemTime, String> {
    humantime::parse_rfc3339_weak(&format!("{}T00:00:00", text.trim()))
        .map_err(|_| format!("invalid date {text:?} (example: 2026-06-30)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let when = parse_date("2026-06-30").unwrap();
        assert_eq!(
            humantime::format_rfc3339_seconds(when).to_string(),
            "2026-06-30T00:00:00Z"
        );
        assert!(parse_date("30/06/2026").is_err());
    }
}
