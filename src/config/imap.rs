//! `lanceur imap`: checking the mailbox options.

use std::time::SystemTime;

use anyhow::{bail, Result};

use super::oauth::MailOAuth;
use super::server::{mail_auth, mail_login, server_config, with_login_command, LoginArgs};
use super::{absolute, common, derived_name_from};
use crate::cli::file::FileSecrets;
use crate::cli::imap::ImapLoginArgs;
use crate::cli::{After, ImapArgs, Select, Since};
use crate::settings::oauth::{LoginConfig, LoginTarget};
use crate::settings::{ImapAfter, ImapConfig, Launcher, ServerConfig, SourceConfig};
use crate::tls::Service;

pub(super) fn launcher(args: ImapArgs, secrets: &FileSecrets) -> Result<Launcher> {
    let oauth = MailOAuth {
        args: &args.oauth,
        secrets,
        account: &args.server.account,
        protocol: "IMAP",
    }
    .config()?;
    let auth = mail_auth(&args.password, secrets, oauth)?;
    let mut server = server_config(&args.server, auth, Service::Imap)?;
    let mailbox = mailbox(&args.folder)?;
    let after = match (args.after, args.move_to) {
        (Some(After::Move) | None, Some(target)) => {
            if target.trim().is_empty() {
                bail!("--move-to is empty; give the mailbox to move mails to");
            }
            if target == mailbox {
                bail!("--move-to is the mailbox being read ({mailbox}): mails would come back");
            }
            ImapAfter::Move(target)
        }
        (Some(After::Move), None) => bail!("--after move needs --move-to MAILBOX"),
        (Some(other), Some(_)) => {
            bail!("--move-to goes with --after move, not --after {other:?}")
        }
        (Some(After::Seen) | None, None) => ImapAfter::Seen,
        (Some(After::Delete), None) => ImapAfter::Delete,
        (Some(After::Keep), None) => ImapAfter::Keep,
    };
    let since = args.since.map(|since| match since {
        Since::Date(y, m, d) => (y, m, d),
        Since::Age(age) => day_of(
            std::time::SystemTime::now()
                .checked_sub(age)
                .unwrap_or(std::time::UNIX_EPOCH),
        ),
    });
    let derived = derived(&server, &mailbox);
    let name = args.common.name.clone().unwrap_or_else(|| derived.clone());
    let root = super::state_root(args.common.state_dir.as_deref())?;
    with_login_command(
        &mut server,
        "imap",
        &args.oauth,
        &folder_words(&mailbox),
        &name,
        &root,
        secrets,
    );
    let dest = absolute(&args.common.dest)?;
    let source = SourceConfig::Imap(ImapConfig {
        server,
        mailbox,
        unseen_only: args.select == Select::Unseen,
        since,
        after,
        mail: super::mail_settings(&args.mail)?,
        unmatched_seen: args.mail.unmatched == crate::cli::Unmatched::Seen,
        set_aside_to: args.set_aside_to,
    });
    common(args.common, dest, &derived, source)
}

/// `lanceur imap login`: the sign-in of an IMAP launcher, and what to check afterwards.
pub fn login(args: ImapLoginArgs, secrets: &FileSecrets) -> Result<LoginConfig> {
    let mailbox = mailbox(&args.folder)?;
    mail_login(
        LoginArgs {
            protocol: "imap",
            args: &args.login,
            service: Service::Imap,
            extra: folder_words(&mailbox),
        },
        secrets,
        |server| derived(server, &mailbox),
        |server| LoginTarget::Imap {
            server,
            mailbox: mailbox.clone(),
        },
    )
}

fn mailbox(folder: &str) -> Result<String> {
    let mailbox = folder.trim().to_string();
    if mailbox.is_empty() {
        bail!("--folder is empty; give the mailbox to read, e.g. INBOX");
    }
    Ok(mailbox)
}

/// `imap-factures-inbox-1f3a9c0e`: the account and mailbox for people, a hash of the whole source.
fn derived(server: &ServerConfig, mailbox: &str) -> String {
    let identity = format!(
        "{}@{}:{}/{}",
        server.account, server.tls.host, server.tls.port, mailbox
    );
    let readable = format!("{} {}", server.account, mailbox);
    derived_name_from("imap", &identity, Some(readable.into()))
}

/// The mailbox, as a login must repeat it.
fn folder_words(mailbox: &str) -> Vec<String> {
    if mailbox.eq_ignore_ascii_case("INBOX") {
        Vec::new()
    } else {
        vec!["--folder".to_string(), mailbox.to_string()]
    }
}

/// The UTC calendar day (year, month, day) of `time`.
fn day_of(time: SystemTime) -> (i32, u32, u32) {
    // RFC 3339 starts with YYYY-MM-DD; humantime already knows the calendar.
    let text = humantime::format_rfc3339_seconds(time).to_string();
    let year = text.get(0..4).and_then(|s| s.parse().ok());
    let month = text.get(5..7).and_then(|s| s.parse().ok());
    let day = text.get(8..10).and_then(|s| s.parse().ok());
    match (year, month, day) {
        (Some(y), Some(m), Some(d)) => (y, m, d),
        _ => (1970, 1, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::launcher;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn calendar_days() {
        assert_eq!(day_of(UNIX_EPOCH), (1970, 1, 1));
        assert_eq!(
            day_of(UNIX_EPOCH + Duration::from_secs(20_089 * 86_400)),
            (2025, 1, 1)
        );
        assert_eq!(
            day_of(UNIX_EPOCH + Duration::from_secs(19_782 * 86_400 + 86_399)),
            (2024, 2, 29)
        );
    }

    fn imap(extra: &[&str]) -> Result<Launcher> {
        let mut args = vec![
            "lanceur",
            "imap",
            "--server",
            "mail.test",
            "--account",
            "a",
            "-d",
            "/y",
            "--state-dir",
            "/s",
            "--password-file",
            "/dev/null",
        ];
        args.extend_from_slice(extra);
        launcher(&args)
    }

    #[test]
    fn imap_options_are_checked() {
        // An empty password file is a usage error, before any connection.
        let err = imap(&[]).unwrap_err();
        assert_eq!(crate::exit::code_for(&err), crate::exit::USAGE);
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "secret\n").unwrap();
        let pw = pw.to_str().unwrap();
        let l = launcher(&[
            "lanceur",
            "imap",
            "--server",
            "mail.test",
            "--account",
            "a",
            "-d",
            "/y",
            "--state-dir",
            "/s",
            "--password-file",
            pw,
            "--move-to",
            "Archives",
        ])
        .unwrap();
        let SourceConfig::Imap(config) = &l.source else {
            panic!()
        };
        assert_eq!(config.after, ImapAfter::Move("Archives".into()));
        assert_eq!(config.server.tls.port, 993);
        assert!(l.name.starts_with("imap-a-inbox-"), "{}", l.name);
        let err = launcher(&[
            "lanceur",
            "imap",
            "--server",
            "mail.test",
            "--account",
            "a",
            "-d",
            "/y",
            "--state-dir",
            "/s",
            "--password-file",
            pw,
            "--after",
            "move",
        ])
        .unwrap_err();
        assert!(format!("{err:#}").contains("--move-to"), "{err:#}");
        let l = launcher(&[
            "lanceur",
            "imap",
            "--server",
            "mail.test",
            "--account",
            "a",
            "-d",
            "/y",
            "--state-dir",
            "/s",
            "--password-file",
            pw,
            "--tls",
            "starttls",
        ])
        .unwrap();
        let SourceConfig::Imap(config) = &l.source else {
            panic!()
        };
        assert_eq!(config.server.tls.port, 143);
    }
}
