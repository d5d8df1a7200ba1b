//! How to reach a mail server and log in: shared by `imap` and `pop`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{parse_duration, TlsMode};

/// How to reach a mail server and as whom; shared by the mail protocols (imap, pop), their runs
/// and their logins. The protocol chooses the default port.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Server options")]
pub struct ServerArgs {
    /// The mail server's host name, e.g. imap.gmail.com
    #[arg(
        long,
        value_name = "HOST",
        long_help = "The mail server (\"serveur\" in the EzGED form), e.g. imap.gmail.com, \
outlook.office365.com, pop.gmail.com, or 127.0.0.1 for a local stunnel. With TLS, the server's \
certificate must name this host."
    )]
    pub server: String,

    /// The server's port [default: 993 for IMAP, 995 for POP3; 143/110 with --tls starttls|none]
    #[arg(
        long,
        value_name = "PORT",
        long_help = "The server's port. Default: the protocol's TLS port (IMAP 993, POP3 995), \
or its plaintext port (IMAP 143, POP3 110) with --tls starttls or --tls none."
    )]
    pub port: Option<u16>,

    /// The account to log in as, e.g. factures@example.fr
    #[arg(
        long,
        value_name = "USER",
        long_help = "The account (\"compte\" in the EzGED form): usually the full mail address."
    )]
    pub account: String,

    /// implicit (TLS from the start, default), starttls, or none (only for a local tunnel)
    #[arg(
        long,
        value_enum,
        default_value_t = TlsMode::Implicit,
        value_name = "MODE",
        long_help = "How the connection is encrypted. implicit (default): TLS from the first byte \
(ports 993, 995). starttls: a plaintext connection upgraded with STARTTLS/STLS before the login \
(ports 143, 110); lanceur stops if the server cannot upgrade. none: no encryption at all, only \
for a tunnel on this machine such as stunnel (accept = 127.0.0.1:110, connect = pop.gmail.com:995); \
lanceur warns when the server is not on loopback."
    )]
    pub tls: TlsMode,

    /// Trust only the certificate authorities in this PEM file (a private server's CA)
    #[arg(
        value_hint = clap::ValueHint::FilePath,
        long,
        value_name = "FILE",
        long_help = "Verify the server's certificate against the certificate authorities (or \
self-signed certificate) in FILE, PEM format, instead of the system's store, as curl's --cacert \
does. For servers with a private CA. The certificate must still name --server."
    )]
    pub ca_file: Option<PathBuf>,

    /// DANGER: accept any certificate (no verification); warned on every run
    #[arg(
        long,
        long_help = "Accept any certificate and any host name: the connection is encrypted but \
anyone on the network path can pretend to be the server and read the password. Every run warns \
about it. Prefer --ca-file."
    )]
    pub danger_accept_invalid_certs: bool,

    /// Give up on a server that does not answer for this long
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "60s",
        value_parser = parse_duration,
        long_help = "How long to wait for the connection, and for each answer of the server, \
before giving up with exit code 4. Examples: 60s (default), 2m."
    )]
    pub timeout: Duration,

    #[command(flatten)]
    pub answer: AnswerArgs,
}

/// How long one answer may take as a whole: for the mail servers, Microsoft Graph and the
/// sign-in services alike.
#[derive(Debug, Args, Clone)]
pub struct AnswerArgs {
    /// Give up on a server whose answer takes longer than this as a whole
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10m",
        value_parser = parse_duration,
        long_help = "How long one answer of the server may take as a whole, from its first byte \
awaited to its last, however steadily it trickles in; the same for Microsoft Graph and for the \
sign-in service (OAuth) of a run. A server sending a byte a second never trips --timeout, but \
trips this, and the run ends with exit code 4 and a line that says so; what was not taken waits \
for the next run. Raise it for very large mails or attachments on slow links. Examples: 10m \
(default), 30m."
    )]
    pub answer_timeout: Duration,
}

/// A password or a fixed token, for the runs of `imap` and `pop` (the other way is `--oauth`).
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Server options")]
pub struct PasswordArgs {
    /// Read the password from this file (or set LANCEUR_PASSWORD; never on the command line)
    #[arg(
        value_hint = clap::ValueHint::FilePath,
        long,
        value_name = "FILE",
        long_help = "Read the password from FILE (one trailing line break is ignored). Make it \
readable by the user running lanceur only (chmod 600; on Windows an ACL for that account only): \
lanceur warns on every run otherwise. Without it, the password comes from the \
environment variable LANCEUR_PASSWORD. There is deliberately no --password option: a command \
line is visible to every user of the machine (ps) and in the Task Scheduler's history. For Gmail, \
use an app password."
    )]
    pub password_file: Option<PathBuf>,

    /// The password, from LANCEUR_PASSWORD only (a value typed on the command line is refused)
    #[arg(
        long = "password",
        env = "LANCEUR_PASSWORD",
        hide_env_values = true,
        hide = true,
        value_name = "PASSWORD"
    )]
    pub password: Option<String>,

    /// Log in with XOAUTH2, reading the OAuth2 access token from this file (or LANCEUR_TOKEN)
    #[arg(
        value_hint = clap::ValueHint::FilePath,
        long,
        value_name = "FILE",
        long_help = "Log in with SASL XOAUTH2 (Gmail, Outlook) using the OAuth2 access token in \
FILE instead of a password. The environment variable LANCEUR_TOKEN does the same. lanceur does \
not refresh the token: whatever obtains it (a cron job before lanceur) must keep it fresh."
    )]
    pub token_file: Option<PathBuf>,

    /// The OAuth2 token, from LANCEUR_TOKEN only (a value typed on the command line is refused)
    #[arg(
        long = "token",
        env = "LANCEUR_TOKEN",
        hide_env_values = true,
        hide = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
}
