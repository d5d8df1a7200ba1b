//! From what the user typed (`cli`) to a checked `Launcher` (`settings`).
//!
//! Everything that can be checked without touching the source is checked here, before any file is
//! read or any socket opened: patterns compile, names are valid, folders are not nested in a way that
//! would make a launcher eat its own output. A mistake exits with the usage code and one line.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use crate::cli::file::FileSecrets;
use crate::cli::o365::O365Command;
use crate::cli::oauth::LoginStateArgs;
use crate::cli::{Command, CommonArgs, ImapCommand, PopCommand};
use crate::exit::{Failure, Named};
use crate::extract::archive::Limits;
use crate::extract::mail;
use crate::filter::{Filter, Pattern};
use crate::names;
use crate::settings::oauth::LoginConfig;
use crate::settings::{Launcher, MailSettings, Rules, SourceConfig, Watch};

mod adullact;
mod dir;
mod imap;
pub mod o365;
mod oauth;
mod pop;
mod server;
mod state;

use state::default_state_root;

/// Checks what the user typed (a subcommand's arguments, and the secrets of its launcher file)
/// into a launcher.
pub fn launcher(command: Command, secrets: &FileSecrets) -> Result<Launcher> {
    match command {
        Command::Dir(args) => dir::launcher(args),
        Command::Adullact(args) => adullact::launcher(args),
        Command::O365(O365Command::Run(args)) => o365::launcher(args, secrets),
        Command::Imap(ImapCommand::Run(args)) => imap::launcher(args, secrets),
        Command::Pop(PopCommand::Run(args)) => pop::launcher(args, secrets),
        Command::Run(args) => bail!(
            "cannot read launcher file {}: give the launcher file after `run`",
            args.file.display()
        ),
        Command::Status(_) => bail!("lanceur status has no launcher to run (main reads it)"),
        Command::Login(args) => bail!(
            "cannot read launcher file {}: give the launcher file after `login`",
            args.file.display()
        ),
        Command::O365(O365Command::Login(_))
        | Command::Imap(ImapCommand::Login(_))
        | Command::Pop(PopCommand::Login(_)) => {
            bail!("the login step has no launcher to run (main dispatches it)")
        }
        Command::Retry(args) => {
            let mut launcher = launcher(args.launcher.into_run(), secrets)?;
            if launcher.dry_run {
                bail!("lanceur retry puts items back at the source: it has no --dry-run");
            }
            launcher.retry = Some(crate::settings::Retry {
                all: args.all,
                keys: args.key,
            });
            return Ok(launcher);
        }
        Command::Check(args) => {
            let mut launcher = launcher(args.launcher.into_dry_run(), secrets)?;
            launcher.check = true;
            return Ok(launcher);
        }
    }
    .with_context(|| match &secrets.launcher_file {
        Some(file) => format!("launcher file {}", file.display()),
        None => String::new(),
    })
    .context(Failure::Usage)
}

/// `lanceur status DIR`: each launcher file of `dir` (`*.toml`, by name), with its launcher as a
/// run of it would have it, or why it cannot be read.
pub fn status(dir: &Path) -> Result<Vec<(PathBuf, Result<Launcher>)>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the folder of launcher files {}", dir.display()))
        .context(Failure::Usage)?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml") && path.is_file())
        .collect();
    files.sort();
    Ok(files
        .into_iter()
        .map(|file| {
            let launcher = crate::cli::file::read(&file)
                .and_then(|parsed| launcher(parsed.cli.command, &parsed.secrets));
            (file, launcher)
        })
        .collect())
}

/// Checks what the user typed for a `login` step (`lanceur imap|pop|o365 login`), or `None` when
/// `command` is not one.
pub fn login(command: &Command, secrets: &FileSecrets) -> Option<Result<LoginConfig>> {
    let config = match command {
        Command::O365(O365Command::Login(args)) => o365::login(args.clone(), secrets),
        Command::Imap(ImapCommand::Login(args)) => imap::login(args.clone(), secrets),
        Command::Pop(PopCommand::Login(args)) => pop::login(args.clone(), secrets),
        _ => return None,
    };
    Some(config.context(Failure::Usage))
}

/// A login's launcher name (given, or `derived` as its runs derive it) and state folder.
fn login_state(args: &LoginStateArgs, derived: &str) -> Result<(String, PathBuf)> {
    let name = match &args.name {
        Some(name) => {
            check_name(name)?;
            name.clone()
        }
        None => derived.to_string(),
    };
    let root = state_root(args.state_dir.as_deref())?;
    Ok((name.clone(), root.join(name)))
}

/// The folder holding every launcher's state: `--state-dir` (or `LANCEUR_STATE_DIR`), absolute,
/// or the default for this account.
pub(crate) fn state_root(given: Option<&Path>) -> Result<PathBuf> {
    match given {
        Some(dir) => absolute(dir),
        None => default_state_root(),
    }
}

/// An https URL, or plain http to this machine only (tests, a local proxy); without trailing slash.
/// The host is read as an HTTP client reads it (`http::Uri`), so that `http://127.0.0.1:1@host/`
/// is judged on `host`; a user name or password in the URL is refused outright, since lanceur never
/// means to send one there.
pub(crate) fn check_url(url: &str, option: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    let invalid = || anyhow!("{option} {url} is not a valid base URL");
    if url.contains(['?', '#', ' ', '\\']) {
        return Err(invalid());
    }
    let uri: ureq::http::Uri = url.parse().map_err(|_| invalid())?;
    let authority = uri.authority().ok_or_else(invalid)?;
    if authority.as_str().contains('@') {
        bail!(
            "{option} {url}: a base URL holds no user name or password (the part before '@'); \
             give only https://HOST/PATH"
        );
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err(invalid());
    }
    match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("https") => {}
        Some("http") => {
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                bail!(
                    "{option} {url}: plain http:// would send tokens unencrypted; use https:// \
                     (http is only accepted to this machine)"
                );
            }
        }
        _ => bail!("{option} {url}: give an https:// URL"),
    }
    Ok(url.to_string())
}

/// The folders of a launcher that watches a folder: absolute, and checked against each other so
/// that it never takes what it deposits. Real paths are compared where they exist, so a symlinked
/// COLD folder is recognised too.
pub(crate) struct Folders {
    pub folder: PathBuf,
    pub dest: PathBuf,
    /// `folder` with links resolved, for the derived launcher name.
    pub real_folder: PathBuf,
}

impl Folders {
    /// `what` names the items in messages ("files", "envelopes"). With `cold_inside_is_taken`, a
    /// COLD folder inside the source folder would be read back as items.
    pub(crate) fn check(
        source: &Path,
        dest: &Path,
        what: &str,
        cold_inside_is_taken: bool,
        side: &[(&str, Option<&Path>)],
    ) -> Result<Folders> {
        let folder = absolute(source)?;
        let dest = absolute(dest)?;
        let real = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        let (real_folder, real_dest) = (real(&folder), real(&dest));
        if real_folder == real_dest {
            bail!(
                "the source folder and the COLD folder are the same ({}): {what} would be taken \
                 from where they are deposited",
                folder.display()
            );
        }
        if cold_inside_is_taken && real_dest.starts_with(&real_folder) {
            bail!(
                "the COLD folder {} is inside the source folder {}: deposited {what} would be \
                 taken again; put it elsewhere",
                dest.display(),
                folder.display()
            );
        }
        for (flag, path) in side {
            if let Some(path) = path {
                let real_path = real(path);
                if real_path == real_folder || real_path == real_dest {
                    bail!(
                        "the {flag} folder {} must differ from the source and COLD folders",
                        path.display()
                    );
                }
            }
        }
        Ok(Folders {
            folder,
            dest,
            real_folder,
        })
    }
}

/// The options every mail protocol shares, checked: `--from`/`--subject` patterns compiled.
pub(crate) fn mail_settings(args: &crate::cli::MailArgs) -> Result<MailSettings> {
    let compile = |option: &str, patterns: &[String]| -> Result<Vec<Pattern>> {
        patterns
            .iter()
            .map(|p| Pattern::parse(p).with_context(|| format!("--{option}")))
            .collect()
    };
    Ok(MailSettings {
        extract: mail::Options {
            take: args.take,
            unzip: args.unzip.then(Limits::default),
            spool: mail::Spool::default(),
        },
        rules: Rules {
            from: compile("from", &args.from)?,
            subject: compile("subject", &args.subject)?,
        },
    })
}

pub(crate) fn common(
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
    // From here on, a mistake is told as the launcher's.
    let named = |err: anyhow::Error| err.context(Named(name.clone()));
    let filter = Filter::new(&args.filter, &args.exclude).map_err(named)?;
    if args.max_items == Some(0) {
        return Err(named(anyhow!(
            "--max-items 0 would never take anything; leave it out for no limit"
        )));
    }
    if args.max_bytes == Some(0) {
        return Err(named(anyhow!(
            "--max-bytes 0 would never take anything; leave it out for no limit"
        )));
    }
    for (flag, given) in [
        ("--expect-within", args.expect_within),
        ("--expect-pickup-within", args.expect_pickup_within),
    ] {
        if given == Some(std::time::Duration::ZERO) {
            return Err(named(anyhow!(
                "{flag} 0 would complain on every run; give a duration such as 1d, or leave it out"
            )));
        }
    }
    let root = state_root(args.state_dir.as_deref()).map_err(named)?;
    Ok(Launcher {
        state_dir: root.join(&name),
        name,
        dest,
        filter,
        index: args.index,
        max_items: args.max_items,
        max_bytes: args.max_bytes,
        set_aside_after: args.set_aside_after,
        run_timeout: args.run_timeout,
        watch: Watch {
            expect_within: args.expect_within,
            expect_pickup_within: args.expect_pickup_within,
        },
        dry_run: args.dry_run,
        check: false,
        retry: None,
        json: args.json,
        verbose: args.verbose,
        log_file: args.log_file.as_deref().map(absolute).transpose()?,
        source,
    })
}

fn check_name(name: &str) -> Result<()> {
    if !names::is_launcher_name(name) {
        bail!(
            "invalid launcher name {name:?}: use letters, digits, '.', '_' and '-' (not first), \
             at most {} characters",
            names::MAX_LAUNCHER_NAME
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
    let tag = names::short_tag(identity);
    if slug.is_empty() {
        format!("{protocol}-{tag}")
    } else {
        format!("{protocol}-{slug}-{tag}")
    }
}

pub(crate) fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("invalid path {}", path.display()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use clap::Parser;

    pub(crate) fn launcher(args: &[&str]) -> Result<Launcher> {
        let cli = crate::cli::Cli::try_parse_from(args).unwrap();
        super::launcher(cli.command, &FileSecrets::default())
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
    fn adullact_launcher_is_checked() {
        let l = launcher(&[
            "lanceur",
            "adullact",
            "-s",
            "/srv/Pastell Depot",
            "-d",
            "/y",
            "--type",
            "helios",
            "--max-expanded-size",
            "1M",
            "--state-dir",
            "/s",
        ])
        .unwrap();
        assert!(l.name.starts_with("adullact-pastell-depot-"), "{}", l.name);
        let SourceConfig::Adullact(config) = &l.source else {
            panic!("not adullact")
        };
        assert_eq!(config.kind, Some(crate::settings::Kind::Helios));
        assert_eq!(config.marker, "fichier_termine.txt");
        assert_eq!(config.limits.max_bytes, 1 << 20);
        for bad in [
            &["--marker", "../x"][..],
            &["--max-entries", "0"],
            &["--max-expanded-size", "0"],
            &["--archive", "/x"],
            &["--failed", "/y"],
        ] {
            let mut args = vec!["lanceur", "adullact", "-s", "/x", "-d", "/y"];
            args.extend_from_slice(bad);
            args.extend(["--state-dir", "/s"]);
            let err = launcher(&args).unwrap_err();
            assert_eq!(crate::exit::code_for(&err), crate::exit::USAGE, "{bad:?}");
        }
        let err = launcher(&[
            "lanceur",
            "adullact",
            "-s",
            "/x",
            "-d",
            "/x/cold",
            "--state-dir",
            "/s",
        ])
        .unwrap_err();
        assert!(format!("{err:#}").contains("inside the source folder"));
        let l = launcher(&[
            "lanceur",
            "adullact",
            "-s",
            "/x",
            "-d",
            "/y",
            "--failed",
            "/f",
            "--dry-run",
            "--state-dir",
            "/s",
        ])
        .unwrap();
        let SourceConfig::Adullact(config) = &l.source else {
            panic!("not adullact")
        };
        assert_eq!(config.failed, None, "a dry run moves nothing");
    }

    #[test]
    fn state_folder_is_keyed_by_name() {
        // Absolute on this system (`/s` is relative to the current drive on Windows).
        const STATE_ROOT: &str = if cfg!(windows) { r"C:\s" } else { "/s" };
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
            STATE_ROOT,
        ])
        .unwrap();
        assert_eq!(l.state_dir, Path::new(STATE_ROOT).join("scans"));
    }
}
