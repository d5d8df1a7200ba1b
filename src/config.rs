//! From what the user typed (`cli.rs`) to a checked `Launcher`.
//!
//! Everything that can be checked without touching the source is checked here, before any file is
//! read or any socket opened: patterns compile, names are valid, folders are not nested in a way that
//! would make a launcher eat its own output. A mistake exits with the usage code and one line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::cli::{
    After, Command, CommonArgs, DirArgs, ImapArgs, PopArgs, Select, ServerArgs, Since,
};
use crate::deposit::IndexFormat;
use crate::exit::Failure;
use crate::extract::mail::Take;
use crate::filter::Filter;
use crate::secret::{self, Secret};
use crate::tls::{self, TlsConfig, TlsMode};

/// A launcher, ready to run one cycle.
#[derive(Debug)]
pub struct Launcher {
    /// Keys the state folder, prefixes messages.
    pub name: String,
    /// This launcher's own state folder (lock, journal).
    pub state_dir: PathBuf,
    pub dest: PathBuf,
    pub filter: Filter,
    pub index: IndexFormat,
    pub max_items: Option<usize>,
    pub max_bytes: Option<u64>,
    pub dry_run: bool,
    pub json: bool,
    pub verbose: u8,
    pub source: SourceConfig,
}

#[derive(Debug, Clone)]
pub enum SourceConfig {
    Dir(DirConfig),
    Imap(ImapConfig),
    Pop(PopConfig),
}

/// A mail server and how to log in to it; shared by the mail protocols.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub tls: TlsConfig,
    pub account: String,
    pub auth: Auth,
}

#[derive(Debug, Clone)]
pub enum Auth {
    Password(Secret),
    /// An OAuth2 access token, sent with SASL XOAUTH2.
    XOAuth2(Secret),
}

#[derive(Debug, Clone)]
pub struct PopConfig {
    pub server: ServerConfig,
    pub after: PopAfter,
    pub take: Take,
}

/// What happens to a POP3 mail once deposited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopAfter {
    /// `DELE`, committed by `QUIT`.
    Delete,
    /// Left on the server; with a number of days, deleted that long after it was taken.
    Keep { delete_after_days: Option<u32> },
}

#[derive(Debug, Clone)]
pub struct ImapConfig {
    pub server: ServerConfig,
    /// As the user wrote it (UTF-8); encoded for the wire by the IMAP source.
    pub mailbox: String,
    pub unseen_only: bool,
    /// Only mails received on or after this day (year, month, day).
    pub since: Option<(i32, u32, u32)>,
    pub after: ImapAfter,
    pub take: Take,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImapAfter {
    Seen,
    Move(String),
    Delete,
    Keep,
}

#[derive(Debug, Clone)]
pub struct DirConfig {
    pub folder: PathBuf,
    pub recursive: bool,
    pub min_age: Duration,
    pub archive: Option<PathBuf>,
}

impl Launcher {
    pub fn from_command(command: Command) -> Result<Launcher> {
        match command {
            Command::Dir(args) => dir_launcher(args),
            Command::Imap(args) => imap_launcher(args),
            Command::Pop(args) => pop_launcher(args),
        }
        .context(Failure::Usage)
    }
}

fn dir_launcher(args: DirArgs) -> Result<Launcher> {
    let folder = absolute(&args.source)?;
    let dest = absolute(&args.common.dest)?;
    let archive = args.archive.as_deref().map(absolute).transpose()?;
    // Compare real paths where they exist, so a symlinked COLD folder is recognised too.
    let real = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let (real_folder, real_dest) = (real(&folder), real(&dest));
    if real_folder == real_dest {
        bail!(
            "the source folder and the COLD folder are the same ({}): files would be taken from \
             where they are deposited",
            folder.display()
        );
    }
    if args.recursive && real_dest.starts_with(&real_folder) {
        bail!(
            "the COLD folder {} is inside the source folder {} and --recursive is on: deposited \
             files would be taken again",
            dest.display(),
            folder.display()
        );
    }
    if let Some(archive) = &archive {
        let real_archive = real(archive);
        if real_archive == real_folder || real_archive == real_dest {
            bail!(
                "the archive folder {} must differ from the source and COLD folders",
                archive.display()
            );
        }
    }
    let derived = derived_name("dir", &real_folder);
    let source = SourceConfig::Dir(DirConfig {
        folder,
        recursive: args.recursive,
        min_age: args.min_age,
        archive,
    });
    common(args.common, dest, &derived, source)
}

fn imap_launcher(args: ImapArgs) -> Result<Launcher> {
    let server = server_config(&args.server, 993, 143)?;
    let mailbox = args.folder.trim().to_string();
    if mailbox.is_empty() {
        bail!("--folder is empty; give the mailbox to read, e.g. INBOX");
    }
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
        Since::Age(age) => {
            let then = std::time::SystemTime::now()
                .checked_sub(age)
                .unwrap_or(std::time::UNIX_EPOCH);
            let secs = then
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            civil_from_days(i64::try_from(secs / 86_400).unwrap_or(0))
        }
    });
    let identity = format!(
        "{}@{}:{}/{}",
        server.account, server.tls.host, server.tls.port, mailbox
    );
    let readable = format!("{} {}", server.account, mailbox);
    let derived = derived_name_from("imap", &identity, Some(readable.into()));
    let dest = absolute(&args.common.dest)?;
    let source = SourceConfig::Imap(ImapConfig {
        server,
        mailbox,
        unseen_only: args.select == Select::Unseen,
        since,
        after,
        take: args.mail.take,
    });
    common(args.common, dest, &derived, source)
}

fn pop_launcher(args: PopArgs) -> Result<Launcher> {
    let server = server_config(&args.server, 995, 110)?;
    let after = if args.keep {
        PopAfter::Keep {
            delete_after_days: args.delete_after,
        }
    } else {
        PopAfter::Delete
    };
    let identity = format!("{}@{}:{}", server.account, server.tls.host, server.tls.port);
    let readable = format!("{} {}", server.account, server.tls.host);
    let derived = derived_name_from("pop", &identity, Some(readable.into()));
    let dest = absolute(&args.common.dest)?;
    let source = SourceConfig::Pop(PopConfig {
        server,
        after,
        take: args.mail.take,
    });
    common(args.common, dest, &derived, source)
}

/// Checks the server options and reads the secrets, so that a mistake exits 2 before any socket
/// opens. `tls_port` and `plain_port` are the protocol's defaults.
pub fn server_config(args: &ServerArgs, tls_port: u16, plain_port: u16) -> Result<ServerConfig> {
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
    )?;
    let token = secret::resolve(
        args.token_file.as_deref(),
        args.token.as_deref(),
        "LANCEUR_TOKEN",
        "give the token in LANCEUR_TOKEN or with --token-file",
    )?;
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

/// (year, month, day) of a day number since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        i32::try_from(year).unwrap_or(1970),
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

fn common(
    args: CommonArgs,
    dest: PathBuf,
    derived: &str,
    source: SourceConfig,
) -> Result<Launcher> {
    let name = match args.name {
        Some(name) => {
            check_name(&name)?;
            name
        }
        None => derived.to_string(),
    };
    let filter = Filter::new(&args.filter, &args.exclude)?;
    if args.max_items == Some(0) {
        bail!("--max-items 0 would never take anything; leave it out for no limit");
    }
    if args.max_bytes == Some(0) {
        bail!("--max-bytes 0 would never take anything; leave it out for no limit");
    }
    let root = match args.state_dir {
        Some(dir) => absolute(&dir)?,
        None => default_state_root()?,
    };
    Ok(Launcher {
        state_dir: root.join(&name),
        name,
        dest,
        filter,
        index: args.index,
        max_items: args.max_items,
        max_bytes: args.max_bytes,
        dry_run: args.dry_run,
        json: args.json,
        verbose: args.verbose,
        source,
    })
}

fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid {
        bail!(
            "invalid launcher name {name:?}: use letters, digits, '.', '_' and '-' (not first), \
             at most 100 characters"
        );
    }
    Ok(())
}

/// `dir-scans-1f3a9c0e`: the protocol, the last part of the source for people, and a hash of the whole
/// source so that two folders both called `scans` get different launchers.
pub fn derived_name(protocol: &str, source: &Path) -> String {
    let text = source.to_string_lossy();
    derived_name_from(
        protocol,
        &text,
        source.file_name().map(|n| n.to_string_lossy()),
    )
}

/// Same as `derived_name`, for sources that are not paths (`alice@mail.example/INBOX`).
pub fn derived_name_from(
    protocol: &str,
    identity: &str,
    readable: Option<std::borrow::Cow<'_, str>>,
) -> String {
    let slug: String = readable
        .as_deref()
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let slug: String = slug.chars().take(40).collect();
    let tag = crate::deposit::short_tag(identity);
    if slug.is_empty() {
        format!("{protocol}-{tag}")
    } else {
        format!("{protocol}-{slug}-{tag}")
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("invalid path {}", path.display()))
}

fn default_state_root() -> Result<PathBuf> {
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .map(|dir| dir.join("lanceur"))
        .ok_or_else(|| {
            anyhow!(
                "cannot find a folder for lanceur's state; give --state-dir or LANCEUR_STATE_DIR"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn launcher(args: &[&str]) -> Result<Launcher> {
        let cli = crate::cli::Cli::try_parse_from(args).unwrap();
        Launcher::from_command(cli.command)
    }

    #[test]
    fn derived_names_are_readable_and_distinct() {
        let a = derived_name("dir", Path::new("/srv/a/Scans Entrée"));
        let b = derived_name("dir", Path::new("/srv/b/Scans Entrée"));
        assert!(a.starts_with("dir-scans-entr-e-"), "{a}");
        assert_ne!(a, b);
        check_name(&a).unwrap();
    }

    #[test]
    fn nested_or_identical_folders_are_refused() {
        let err = launcher(&[
            "lanceur",
            "dir",
            "-s",
            "/x",
            "-d",
            "/x",
            "--state-dir",
            "/s",
        ])
        .unwrap_err();
        assert_eq!(crate::exit::code_for(&err), crate::exit::USAGE);
        let err = launcher(&[
            "lanceur",
            "dir",
            "-r",
            "-s",
            "/x",
            "-d",
            "/x/cold",
            "--state-dir",
            "/s",
        ])
        .unwrap_err();
        assert!(format!("{err:#}").contains("inside the source folder"));
        launcher(&[
            "lanceur",
            "dir",
            "-s",
            "/x",
            "-d",
            "/x/cold",
            "--state-dir",
            "/s",
        ])
        .unwrap();
    }

    #[test]
    fn invalid_pattern_and_name_are_usage_errors() {
        let err = launcher(&[
            "lanceur",
            "dir",
            "-s",
            "/x",
            "-d",
            "/y",
            "-f",
            "(",
            "--state-dir",
            "/s",
        ])
        .unwrap_err();
        assert_eq!(crate::exit::code_for(&err), crate::exit::USAGE);
        assert!(format!("{err:#}").contains("invalid filter pattern \"(\""));
        let err = launcher(&[
            "lanceur",
            "dir",
            "-s",
            "/x",
            "-d",
            "/y",
            "-n",
            "../etc",
            "--state-dir",
            "/s",
        ])
        .unwrap_err();
        assert!(format!("{err:#}").contains("invalid launcher name"));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_089), (2025, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
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

    #[test]
    fn state_folder_is_keyed_by_name() {
        let l = launcher(&[
            "lanceur",
            "dir",
            "-s",
            "/x",
            "-d",
            "/y",
            "-n",
            "scans",
            "--state-dir",
            "/s",
        ])
        .unwrap();
        assert_eq!(l.state_dir, PathBuf::from("/s/scans"));
    }
}
