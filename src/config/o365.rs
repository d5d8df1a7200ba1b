//! `lanceur o365` options checked into an `O365Config` (runs) or a `LoginConfig` (the login step).
//!
//! Both derive the launcher's name, hence its state folder, from the same account options, so that
//! `lanceur o365 login --mailbox X` saves the tokens where `lanceur o365 --mailbox X` looks for them.

use std::path::Path;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};

use super::oauth::{
    check_tenant, flow, login_command, microsoft_app_grant, microsoft_endpoints, MICROSOFT_LOGIN,
};
use super::{absolute, check_url, common, derived_name_from, login_state};
use crate::cli::file::FileSecrets;
use crate::cli::o365::{AccountArgs, O365Args, O365LoginArgs};
use crate::oauth::http::origin;
use crate::secret;
use crate::settings::o365::{AccountConfig, Mailbox, O365Config, PostAction, Select};
use crate::settings::oauth::{Grant, LoginConfig, LoginTarget, OAuthConfig, Provider};
use crate::settings::{Launcher, SourceConfig};

/// The token cache of an Office 365 launcher, as it has always been called.
const CACHE_FILE: &str = "o365-tokens.json";

pub fn launcher(args: O365Args, secrets: &FileSecrets) -> Result<Launcher> {
    let account = account(&args.account)?;
    let env_secret = std::env::var("LANCEUR_O365_CLIENT_SECRET").ok();
    let secret = secret::resolve(
        args.client_secret_file.as_deref(),
        env_secret.as_deref(),
        "the application secret",
        "put it in LANCEUR_O365_CLIENT_SECRET or in a file given with --client-secret-file",
    )?
    .or_else(|| secrets.client_secret.clone());
    let app = microsoft_app_grant(secret, &args.certificate, &args.expiry, &account.tenant)?;
    if app.is_some() && account.mailbox == Mailbox::Me {
        bail!(
            "app-only authentication (client secret or certificate) has no \"me\": give the \
             mailbox's address with --mailbox"
        );
    }
    let derived = derived(&account);
    let name = args.common.name.clone().unwrap_or_else(|| derived.clone());
    let root = super::state_root(args.common.state_dir.as_deref())?;
    let oauth = oauth(
        &account,
        app,
        args.expiry.warn_before,
        (&name, &root),
        secrets,
    );
    let since = args.since.as_deref().map(parse_since).transpose()?;
    if args.select == Select::All && since.is_none() {
        bail!(
            "--select all needs --since (e.g. --since 30d or --since 2024-01-31), or the first run \
             takes the whole folder; --since 1900-01-01 takes everything"
        );
    }
    if args.move_to.is_some() && args.post_action != PostAction::Move {
        bail!("--move-to only makes sense with --after move");
    }
    if let Some(target) = &args.move_to {
        check_folder(target, "--move-to")?;
        if target.trim().eq_ignore_ascii_case(&account.folder) {
            bail!("--move-to {target:?} is the folder being read; give another folder");
        }
    }
    let dest = absolute(&args.common.dest)?;
    let source = SourceConfig::O365(O365Config {
        account,
        oauth: Box::new(oauth),
        select: args.select,
        since,
        post_action: args.post_action,
        move_to: args.move_to,
        mail: super::mail_settings(&args.mail)?,
        unmatched_read: args.mail.unmatched == crate::cli::Unmatched::Seen,
        set_aside_to: args.set_aside_to,
        answer_timeout: args.answer.answer_timeout,
    });
    common(args.common, dest, &derived, source)
}

pub fn login(args: O365LoginArgs, secrets: &FileSecrets) -> Result<LoginConfig> {
    let account = account(&args.account)?;
    let (launcher, state_dir) = login_state(&args.state, &derived(&account))?;
    let root = state_dir.parent().unwrap_or(&state_dir).to_path_buf();
    let oauth = oauth(&account, None, 14, (&launcher, &root), secrets);
    let (flow, redirect_port) = flow(&args.flow, Provider::Microsoft)?;
    Ok(LoginConfig {
        launcher,
        state_dir,
        oauth,
        flow,
        redirect_port,
        target: LoginTarget::O365(account),
    })
}

/// The sign-in of an Office 365 launcher: delegated (Graph's mail scopes, from `login`) unless
/// `app` is the application's own credential (Graph's `.default`).
fn oauth(
    account: &AccountConfig,
    app: Option<Grant>,
    warn_days: u32,
    (launcher, state_root): (&str, &Path),
    secrets: &FileSecrets,
) -> OAuthConfig {
    let scope = match app {
        Some(_) => format!("{}/.default", origin(&account.graph_url)),
        None => scope(account),
    };
    OAuthConfig {
        provider: Provider::Microsoft,
        client_id: account.client_id.clone(),
        tenant: account.tenant.clone(),
        login_url: account.login_url.clone(),
        endpoints: microsoft_endpoints(&account.login_url, &account.tenant),
        scope,
        grant: app.unwrap_or(Grant::Delegated {
            client_secret: None,
        }),
        cache_file: CACHE_FILE,
        login_command: login_command(
            secrets.launcher_file.as_deref(),
            &login_words(account, launcher, state_root),
        ),
        warn_days,
    }
}

/// The scopes a delegated sign-in asks for: mail of the account, and of shared mailboxes if needed.
pub fn scope(account: &AccountConfig) -> String {
    let resource = origin(&account.graph_url);
    let mut scope = format!("offline_access {resource}/Mail.ReadWrite");
    if account.mailbox != Mailbox::Me {
        scope.push_str(&format!(" {resource}/Mail.ReadWrite.Shared"));
    }
    scope
}

/// The words of the command that signs this launcher in again, into the same state folder.
fn login_words(account: &AccountConfig, launcher: &str, state_root: &Path) -> Vec<String> {
    let mut words: Vec<String> = [
        "o365",
        "login",
        "--client-id",
        &account.client_id,
        "--tenant",
        &account.tenant,
        "--mailbox",
        account.mailbox.display(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if !account.folder.eq_ignore_ascii_case("inbox") {
        words.extend(["--folder".to_string(), account.folder.clone()]);
    }
    // The state folder always, even when the run found it in LANCEUR_STATE_DIR: the shell the
    // command is pasted into may not have that variable, and the tokens would land elsewhere.
    words.extend([
        "--name".to_string(),
        launcher.to_string(),
        "--state-dir".to_string(),
        state_root.display().to_string(),
    ]);
    if account.login_url != MICROSOFT_LOGIN {
        words.extend(["--login-url".to_string(), account.login_url.clone()]);
    }
    if account.graph_url != "https://graph.microsoft.com/v1.0" {
        words.extend(["--graph-url".to_string(), account.graph_url.clone()]);
    }
    words
}

fn account(args: &AccountArgs) -> Result<AccountConfig> {
    let (mailbox, folder_in_mailbox) = match args.mailbox.split_once(':') {
        Some((mailbox, folder)) => (mailbox.trim(), Some(folder.trim())),
        None => (args.mailbox.trim(), None),
    };
    let folder = match (folder_in_mailbox, &args.folder) {
        (Some(_), Some(_)) => bail!(
            "the folder is given twice, in --mailbox {:?} and in --folder; keep one",
            args.mailbox
        ),
        (Some(folder), None) => folder.to_string(),
        (None, Some(folder)) => folder.trim().to_string(),
        (None, None) => "inbox".to_string(),
    };
    check_folder(&folder, "the folder")?;
    let mailbox = if mailbox.eq_ignore_ascii_case("me") {
        Mailbox::Me
    } else {
        let valid = !mailbox.is_empty()
            && !mailbox
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "/?#%\\'\"".contains(c));
        if !valid {
            bail!("invalid --mailbox {mailbox:?}: give me, an address, or address:folder");
        }
        Mailbox::User(mailbox.to_string())
    };
    let client_id = args.client_id.trim().to_string();
    if client_id.is_empty() || client_id.contains(|c: char| !c.is_ascii_alphanumeric() && c != '-')
    {
        bail!(
            "invalid --client-id {client_id:?}: give the application (client) id of your app \
             registration"
        );
    }
    let tenant = check_tenant(&args.tenant)?;
    Ok(AccountConfig {
        mailbox,
        folder,
        client_id,
        tenant,
        login_url: check_url(&args.login_url, "--login-url")?,
        graph_url: check_url(&args.graph_url, "--graph-url")?,
    })
}

/// `o365-factures-inbox-1f3a9c0e`: the mailbox's local part and the folder for people, a hash of the
/// account for uniqueness.
fn derived(account: &AccountConfig) -> String {
    let mailbox = account.mailbox.display().to_ascii_lowercase();
    let identity = format!(
        "{}|{}|{}|{}",
        account.tenant.to_ascii_lowercase(),
        account.client_id.to_ascii_lowercase(),
        mailbox,
        account.folder.to_lowercase()
    );
    let local = mailbox.split('@').next().unwrap_or("");
    let readable = format!("{local} {}", account.folder);
    derived_name_from("o365", &identity, Some(readable.into()))
}

fn check_folder(folder: &str, what: &str) -> Result<()> {
    if folder.is_empty() || folder.split('/').any(|part| part.trim().is_empty()) {
        bail!("{what} {folder:?} is not a folder name or a path such as Inbox/Factures");
    }
    Ok(())
}

/// `2024-01-31`, `2024-01-31T08:00:00Z` or a duration before now (`30d`) as an RFC 3339 instant.
fn parse_since(text: &str) -> Result<String> {
    let text = text.trim();
    if let Ok(duration) = humantime::parse_duration(text) {
        let instant = SystemTime::now()
            .checked_sub(duration)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        return Ok(humantime::format_rfc3339_seconds(instant).to_string());
    }
    let invalid =
        || format!("invalid --since {text:?} (examples: 2024-01-31, 2024-01-31T08:00:00Z, 30d)");
    // Before 1970 means "everything"; Graph's own floor is 1900.
    let year: u32 = text
        .get(..4)
        .and_then(|y| y.parse().ok())
        .with_context(invalid)?;
    if year < 1970 {
        return Ok("1900-01-01T00:00:00Z".to_string());
    }
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_string()
    };
    let instant = humantime::parse_rfc3339_weak(&full)
        .or_else(|_| humantime::parse_rfc3339(&full))
        .with_context(invalid)?;
    Ok(humantime::format_rfc3339_seconds(instant).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_mailboxes_ask_for_the_shared_permission() {
        let mut account = account(&args("me", None)).unwrap();
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
            login_command(
                None,
                &login_words(&account, "box", Path::new("/var/lib/lanceur"))
            ),
            format!(
                "lanceur o365 login --client-id c --tenant example.fr --mailbox \
                 factures@example.fr --folder {} --name box --state-dir /var/lib/lanceur \
                 --login-url https://login.microsoftonline.us --graph-url \
                 https://graph.microsoft.us/v1.0",
                // A POSIX shell's quoting; cmd's and PowerShell's on Windows.
                if cfg!(windows) {
                    r#""Inbox/L'été""#
                } else {
                    r"'Inbox/L'\''été'"
                }
            )
        );
    }

    #[test]
    fn urls() {
        assert_eq!(
            check_url("https://graph.microsoft.com/v1.0/", "x").unwrap(),
            "https://graph.microsoft.com/v1.0"
        );
        check_url("http://127.0.0.1:8080/v1.0", "x").unwrap();
        check_url("http://localhost:1", "x").unwrap();
        check_url("http://[::1]:1/v1.0", "x").unwrap();
        assert!(check_url("http://graph.example.com/v1.0", "x").is_err());
        assert!(check_url("ftp://x", "x").is_err());
        assert!(check_url("https://", "x").is_err());
        // See: issue 16. The host is the part after the user information, as HTTP reads it.
        for sneaky in [
            "http://127.0.0.1:1@graph.example.com/v1.0",
            "http://localhost@evil.example/",
            "https://user:pw@graph.microsoft.com/v1.0",
        ] {
            let err = check_url(sneaky, "--graph-url").unwrap_err().to_string();
            assert!(err.contains("user name or password"), "{sneaky}: {err}");
        }
        assert!(check_url("http://127.0.0.1\\@evil.example/", "x").is_err());
        assert!(check_url("http://evil.example#@127.0.0.1/", "x").is_err());
    }

    #[test]
    fn since_forms() {
        assert_eq!(parse_since("2024-01-31").unwrap(), "2024-01-31T00:00:00Z");
        assert_eq!(
            parse_since("2024-01-31T08:00:00Z").unwrap(),
            "2024-01-31T08:00:00Z"
        );
        assert_eq!(parse_since("1900-01-01").unwrap(), "1900-01-01T00:00:00Z");
        assert!(parse_since("30d").unwrap().ends_with('Z'));
        assert!(parse_since("yesterday").is_err());
    }

    fn args(mailbox: &str, folder: Option<&str>) -> AccountArgs {
        AccountArgs {
            mailbox: mailbox.into(),
            folder: folder.map(Into::into),
            client_id: "abc-123".into(),
            tenant: "organizations".into(),
            login_url: "https://login.microsoftonline.com".into(),
            graph_url: "https://graph.microsoft.com/v1.0".into(),
        }
    }

    #[test]
    fn mailbox_forms() {
        let a = account(&args("factures@example.fr:inbox", None)).unwrap();
        assert_eq!(a.mailbox, Mailbox::User("factures@example.fr".into()));
        assert_eq!(a.folder, "inbox");
        let b = account(&args("factures@example.fr", Some("inbox"))).unwrap();
        assert_eq!(derived(&a), derived(&b));
        assert!(
            derived(&a).starts_with("o365-factures-inbox-"),
            "{}",
            derived(&a)
        );
        let me = account(&args("Me", None)).unwrap();
        assert_eq!(me.mailbox, Mailbox::Me);
        assert_eq!(me.folder, "inbox");
        assert!(account(&args("a@b:inbox", Some("inbox"))).is_err());
        assert!(account(&args("a b@c", None)).is_err());
        assert!(account(&args("me", Some("Inbox//x"))).is_err());
    }
}
