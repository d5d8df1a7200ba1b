//! `lanceur pop`: checking the POP3 options.

use anyhow::Result;

use super::oauth::MailOAuth;
use super::server::{mail_auth, mail_login, server_config, with_login_command, LoginArgs};
use super::{absolute, common, derived_name_from};
use crate::cli::file::FileSecrets;
use crate::cli::pop::PopLoginArgs;
use crate::cli::PopArgs;
use crate::settings::oauth::{LoginConfig, LoginTarget};
use crate::settings::{Launcher, PopAfter, PopConfig, ServerConfig, SourceConfig};
use crate::tls::Service;

pub(super) fn launcher(args: PopArgs, secrets: &FileSecrets) -> Result<Launcher> {
    let oauth = MailOAuth {
        args: &args.oauth,
        secrets,
        account: &args.server.account,
        protocol: "POP",
    }
    .config()?;
    let auth = mail_auth(&args.password, secrets, oauth)?;
    let mut server = server_config(&args.server, auth, Service::Pop3)?;
    let after = if args.keep {
        PopAfter::Keep {
            delete_after_days: args.delete_after,
        }
    } else {
        PopAfter::Delete
    };
    let derived = derived(&server);
    let name = args.common.name.clone().unwrap_or_else(|| derived.clone());
    let root = super::state_root(args.common.state_dir.as_deref())?;
    with_login_command(&mut server, "pop", &args.oauth, &[], &name, &root, secrets);
    if args.mail.unmatched == crate::cli::Unmatched::Seen {
        anyhow::bail!(
            "--unmatched seen: POP3 has no seen mark; leave it out (a mail none of whose \
             documents passes the filters stays on the server, and the journal remembers it)"
        );
    }
    let dest = absolute(&args.common.dest)?;
    let source = SourceConfig::Pop(PopConfig {
        server,
        after,
        mail: super::mail_settings(&args.mail)?,
    });
    common(args.common, dest, &derived, source)
}

/// `lanceur pop login`: the sign-in of a POP3 launcher, and the login that checks it.
pub fn login(args: PopLoginArgs, secrets: &FileSecrets) -> Result<LoginConfig> {
    mail_login(
        LoginArgs {
            protocol: "pop",
            args: &args.login,
            service: Service::Pop3,
            extra: Vec::new(),
        },
        secrets,
        derived,
        |server| LoginTarget::Pop { server },
    )
}

/// `pop-factures-example-fr-pop-gmail-com-1f3a9c0e`: account and host for people, a hash of the
/// whole source.
fn derived(server: &ServerConfig) -> String {
    let identity = format!("{}@{}:{}", server.account, server.tls.host, server.tls.port);
    let readable = format!("{} {}", server.account, server.tls.host);
    derived_name_from("pop", &identity, Some(readable.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::launcher;
    use clap::Parser;

    #[test]
    fn pop_options_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "secret\n").unwrap();
        let pw = pw.to_str().unwrap();
        let base = [
            "lanceur",
            "pop",
            "--server",
            "pop.test",
            "--account",
            "a@b.c",
            "-d",
            "/y",
            "--state-dir",
            "/s",
            "--password-file",
            pw,
        ];
        let pop = |extra: &[&str]| {
            let mut args = base.to_vec();
            args.extend_from_slice(extra);
            launcher(&args)
        };
        let l = pop(&[]).unwrap();
        let SourceConfig::Pop(config) = &l.source else {
            panic!("not pop")
        };
        assert_eq!(config.after, PopAfter::Delete);
        assert_eq!(config.server.tls.port, 995);
        assert!(l.name.starts_with("pop-a-b-c-pop-test-"), "{}", l.name);
        let l = pop(&["--keep", "--delete-after", "30", "--tls", "none"]).unwrap();
        let SourceConfig::Pop(config) = &l.source else {
            panic!("not pop")
        };
        assert_eq!(
            config.after,
            PopAfter::Keep {
                delete_after_days: Some(30)
            }
        );
        assert_eq!(config.server.tls.port, 110);
        // --delete-after means nothing without --keep, and 0 days is refused by clap.
        for extra in [
            &["--delete-after", "30"][..],
            &["--keep", "--delete-after", "0"],
        ] {
            let mut args = base.to_vec();
            args.extend_from_slice(extra);
            assert!(crate::cli::Cli::try_parse_from(&args).is_err(), "{extra:?}");
        }
    }
}
