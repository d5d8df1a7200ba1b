//! Launcher files: every option of a launcher in one TOML file, so that the Task Scheduler and cron
//! run `lanceur run factures.toml` instead of a long command line, and a secret can sit in a file
//! readable by its owner only.
//!
//! A launcher file is turned into the argument list the same launcher would have on the command line
//! (`expand`), which clap then checks like any other: there is one definition of every option, and a
//! file accepts exactly what the command line accepts. Keys are the long option names (`min-age` or
//! `min_age`); `protocol` names the subcommand. Values: strings and numbers as the option's value,
//! `true` for a flag (`recursive = true`), a list for a repeatable option (`filter = ["a", "b"]`), a
//! number for `verbose`. Paths relative to the file's folder are made absolute, because the Task
//! Scheduler starts programs in `C:\Windows\System32`.
//!
//! Secrets are not options: `password`, `token` and `client-secret` put their value where lanceur
//! reads it from the environment (`LANCEUR_PASSWORD`, `LANCEUR_TOKEN`, `LANCEUR_O365_CLIENT_SECRET`);
//! `password-env = "VAR"` and the like name another variable to take it from; `password-file` is the
//! ordinary option. The environment of the run wins over the file, as the command line does. A file
//! holding a secret that other users may read draws a warning on every run.
//!
//! Forms recognised before clap parses anything (`rewrite`):
//!   `lanceur run FILE [OPTIONS…]`, `lanceur --config FILE [OPTIONS…]`, `lanceur check FILE
//!   [OPTIONS…]`, and `lanceur login FILE` (the `o365 login` step of an o365 launcher file).

use std::any::TypeId;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::{ArgAction, CommandFactory};

use super::Cli;
use crate::exit::Failure;

pub(super) const RUN_LONG_ABOUT: &str = "\
Runs the launcher described in FILE, a TOML file holding its protocol and options, so that cron \
and the Task Scheduler need only `lanceur run FILE`. Options given after FILE override the file's. \
`lanceur --config FILE` is the same; `lanceur check FILE` checks it without moving anything; \
`lanceur login FILE` runs the o365 login step for it.

Keys are the protocol's long options (min-age or min_age), plus protocol = \"dir|imap|pop|o365|\
adullact\". A switch is written recursive = true, a repeatable option as a list, verbose as a \
number. Relative paths are taken from the file's folder. The launcher's name defaults to the \
file's name (factures.toml: launcher factures).

Secrets: password, token and client-secret may sit in the file (make it readable by its owner \
only: lanceur warns on every run otherwise), or password-env = \"VAR\" names the environment \
variable to read, or password-file is given as usual. The environment of the run overrides the \
file.";

pub(super) const RUN_AFTER_HELP: &str = "\
Example (factures.toml):
  protocol = \"imap\"
  server = \"imap.gmail.com\"
  account = \"factures@example.fr\"
  password-file = \"/etc/lanceur/factures.pw\"
  folder = \"INBOX\"
  dest = \"/srv/ezged/cold/factures\"
  filter = ['/.*\\.pdf/i']
  index = \"idx\"

crontab line:
  */5 * * * *  lanceur run /etc/lanceur/factures.toml

examples/ in the source tree has a launcher file per protocol.";

/// The secret keys a file may hold, and the environment variable each one stands for.
const SECRETS: [(&str, &str); 3] = [
    ("password", "LANCEUR_PASSWORD"),
    ("token", "LANCEUR_TOKEN"),
    ("client-secret", "LANCEUR_O365_CLIENT_SECRET"),
];

/// What a launcher file gives: the subcommand's arguments, and secrets to put in the environment.
#[derive(Debug)]
pub struct Expanded {
    /// The subcommand: dir, imap, pop, o365 or adullact.
    pub protocol: String,
    pub args: Vec<OsString>,
    pub secrets: Vec<(&'static str, String)>,
    /// A warning to print, e.g. a secret in a file others can read.
    pub warnings: Vec<String>,
}

/// Rewrites the forms that name a launcher file into ordinary arguments, or returns `argv` as it is.
/// Secrets from the file are put in the environment, where the options that take them look.
pub fn rewrite(argv: Vec<OsString>) -> Result<Vec<OsString>> {
    let Some(first) = argv.get(1).and_then(|a| a.to_str()) else {
        return Ok(argv);
    };
    let (prefix, file, rest): (&[&str], &OsString, &[OsString]) = match (first, argv.get(2)) {
        ("run", Some(file)) if !starts_with_dash(file) => (&[], file, &argv[3..]),
        ("check", Some(file)) if looks_like_file(file) => (&["check"], file, &argv[3..]),
        ("login", Some(file)) if !starts_with_dash(file) => (&[], file, &argv[3..]),
        ("--config", Some(file)) => (&[], file, &argv[3..]),
        (flag, _) if flag.starts_with("--config=") => {
            let file = OsString::from(&flag["--config=".len()..]);
            return rewrite(
                [argv[0].clone(), "--config".into(), file]
                    .into_iter()
                    .chain(argv[2..].iter().cloned())
                    .collect(),
            );
        }
        _ => return Ok(argv),
    };
    let login = first == "login";
    let expanded = expand(Path::new(file), login)?;
    for warning in &expanded.warnings {
        eprintln!("lanceur: {warning}");
    }
    for (variable, value) in &expanded.secrets {
        // The environment of the run wins, as the command line does.
        if std::env::var_os(variable).is_none() {
            std::env::set_var(variable, value);
        }
    }
    // An option given on the command line replaces the file's, lists included (clap would
    // append a second --filter to the file's instead).
    let given = options_in(&expanded.protocol, rest);
    let mut out = vec![argv[0].clone()];
    out.extend(prefix.iter().map(OsString::from));
    out.push(expanded.protocol.clone().into());
    if login {
        out.push("login".into());
    }
    out.extend(expanded.args.into_iter().filter(|arg| {
        let long = arg
            .to_str()
            .and_then(|a| a.strip_prefix("--"))
            .map(|a| a.split('=').next().unwrap_or(a));
        !long.is_some_and(|long| given.contains(long))
    }));
    out.extend(rest.iter().cloned());
    Ok(out)
}

/// The long names of the `protocol` options that appear in `args`, spelt long or short.
fn options_in(protocol: &str, args: &[OsString]) -> std::collections::HashSet<String> {
    let root = Cli::command();
    let Some(command) = root.find_subcommand(protocol) else {
        return Default::default();
    };
    let mut given = std::collections::HashSet::new();
    for arg in args.iter().filter_map(|a| a.to_str()) {
        if let Some(long) = arg.strip_prefix("--") {
            given.insert(long.split('=').next().unwrap_or(long).to_string());
        } else if let Some(short) = arg.strip_prefix('-').and_then(|s| s.chars().next()) {
            let long = command
                .get_arguments()
                .find(|a| a.get_short() == Some(short))
                .and_then(|a| a.get_long());
            if let Some(long) = long {
                given.insert(long.to_string());
            }
        }
    }
    given
}

fn starts_with_dash(arg: &OsString) -> bool {
    arg.to_str().is_some_and(|a| a.starts_with('-'))
}

/// `check FILE` against `check imap …`: a protocol name is a subcommand, anything else a file.
fn looks_like_file(arg: &OsString) -> bool {
    let Some(text) = arg.to_str() else {
        return true;
    };
    !text.starts_with('-') && Cli::command().find_subcommand(text).is_none()
}

/// Reads a launcher file. With `login`, only the options of `o365 login` are kept, so that one file
/// serves both the login step and the runs.
pub fn expand(path: &Path, login: bool) -> Result<Expanded> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read launcher file {}", path.display()))
        .context(Failure::Usage)?;
    let table: toml::Table = text
        .parse()
        .map_err(|err: toml::de::Error| anyhow!("{}", err.to_string().trim_end()))
        .with_context(|| format!("launcher file {} is not valid TOML", path.display()))
        .context(Failure::Usage)?;
    from_table(path, &table, login)
        .with_context(|| format!("launcher file {}", path.display()))
        .context(Failure::Usage)
}

fn from_table(path: &Path, table: &toml::Table, login: bool) -> Result<Expanded> {
    let protocol = match table.get("protocol") {
        Some(toml::Value::String(protocol)) => protocol.clone(),
        Some(_) => bail!("protocol must be a string such as \"imap\""),
        None => bail!("no protocol: add a line such as protocol = \"imap\""),
    };
    let root = Cli::command();
    let mut command = root
        .find_subcommand(&protocol)
        .filter(|c| !matches!(c.get_name(), "run" | "check" | "help"))
        .ok_or_else(|| {
            anyhow!("unknown protocol {protocol:?}; use dir, imap, pop, o365 or adullact")
        })?
        .clone();
    if login {
        command = command
            .find_subcommand("login")
            .ok_or_else(|| anyhow!("only o365 launchers have a login step"))?
            .clone();
    }
    let folder = path
        .parent()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()))
        .unwrap_or_default();
    let mut expanded = Expanded {
        protocol,
        args: Vec::new(),
        secrets: Vec::new(),
        warnings: Vec::new(),
    };
    let mut has_secret = false;
    for (raw_key, value) in table {
        let key = raw_key.replace('_', "-");
        if key == "protocol" {
            continue;
        }
        if let Some((_, variable)) = SECRETS.iter().find(|(name, _)| *name == key) {
            expanded.secrets.push((variable, text_of(raw_key, value)?));
            has_secret = true;
            continue;
        }
        if let Some(name) = key.strip_suffix("-env") {
            if let Some((_, variable)) = SECRETS.iter().find(|(secret, _)| *secret == name) {
                let from = text_of(raw_key, value)?;
                let secret = std::env::var(&from).map_err(|_| {
                    anyhow!("{raw_key} names the environment variable {from}, which is not set")
                })?;
                expanded.secrets.push((variable, secret));
                continue;
            }
        }
        let Some(arg) = command.get_arguments().find(|a| a.get_long() == Some(&key)) else {
            if login {
                // The login step ignores what only runs need (COLD folder, filters…).
                continue;
            }
            bail!(
                "unknown setting {raw_key:?} for protocol {}; settings are the long options of \
                 `lanceur {} --help`",
                expanded.protocol,
                expanded.protocol
            );
        };
        push_arg(&mut expanded.args, arg, raw_key, value, &folder)?;
    }
    let takes_name = command
        .get_arguments()
        .any(|a| a.get_long() == Some("name"));
    if !table.contains_key("name") && takes_name {
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
            // The file's name is the launcher's name: factures.toml keeps its journal in factures/.
            if is_plain_name(stem) {
                expanded.args.push(format!("--name={stem}").into());
            }
        }
    }
    if has_secret && readable_by_others(path) {
        expanded.warnings.push(format!(
            "{} holds a secret but other users can read it; run chmod 600 {}",
            path.display(),
            path.display()
        ));
    }
    Ok(expanded)
}

fn push_arg(
    args: &mut Vec<OsString>,
    arg: &clap::Arg,
    key: &str,
    value: &toml::Value,
    folder: &Path,
) -> Result<()> {
    let long = arg.get_long().unwrap_or(key);
    match (arg.get_action(), value) {
        (ArgAction::SetTrue, toml::Value::Boolean(on)) => {
            if *on {
                args.push(format!("--{long}").into());
            }
        }
        (ArgAction::SetTrue, _) => bail!("{key} is a switch: write {key} = true or false"),
        (ArgAction::Count, toml::Value::Integer(times)) => {
            for _ in 0..*times {
                args.push(format!("--{long}").into());
            }
        }
        (ArgAction::Count, _) => bail!("{key} is a count: write {key} = 1 or 2"),
        (ArgAction::Append, toml::Value::Array(values)) => {
            for value in values {
                args.push(option(long, &value_text(key, value, arg, folder)?));
            }
        }
        (_, toml::Value::Array(_)) => bail!("{key} takes one value, not a list"),
        _ => args.push(option(long, &value_text(key, value, arg, folder)?)),
    }
    Ok(())
}

/// `--long=value`: the `=` form keeps a value starting with '-' from reading as an option.
fn option(long: &str, value: &OsString) -> OsString {
    let mut text = OsString::from(format!("--{long}="));
    text.push(value);
    text
}

fn value_text(key: &str, value: &toml::Value, arg: &clap::Arg, folder: &Path) -> Result<OsString> {
    let text = match value {
        toml::Value::String(text) => text.clone(),
        toml::Value::Integer(number) => number.to_string(),
        toml::Value::Float(number) => number.to_string(),
        toml::Value::Datetime(when) => when.to_string(),
        toml::Value::Boolean(_) => bail!("{key} takes a value, not true or false"),
        toml::Value::Array(_) | toml::Value::Table(_) => bail!("{key} takes a single value"),
    };
    if arg.get_value_parser().type_id() == TypeId::of::<PathBuf>() {
        let path = PathBuf::from(&text);
        if path.is_relative() && !text.is_empty() {
            return Ok(folder.join(path).into_os_string());
        }
    }
    Ok(text.into())
}

fn text_of(key: &str, value: &toml::Value) -> Result<String> {
    match value {
        toml::Value::String(text) if !text.is_empty() => Ok(text.clone()),
        toml::Value::String(_) => bail!("{key} is empty"),
        _ => bail!("{key} must be a string"),
    }
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(unix)]
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

#[cfg(not(unix))]
fn readable_by_others(_path: &Path) -> bool {
    // NTFS permissions are ACLs; checking them needs the Windows API. The README says to keep the
    // file in a folder only the service account can read.
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn args(expanded: &Expanded) -> Vec<String> {
        expanded
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn settings_become_options() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "scans.toml",
            r#"
protocol = "dir"
source = "in"
dest = "/srv/cold"
filter = ['/.*\.pdf/i', "-odd"]
min_age = "10s"
recursive = true
dry-run = false
verbose = 2
max-items = 50
"#,
        );
        let expanded = expand(&path, false).unwrap();
        assert_eq!(expanded.protocol, "dir");
        let source = format!("--source={}", dir.path().join("in").display());
        assert_eq!(
            args(&expanded),
            vec![
                "--dest=/srv/cold",
                r"--filter=/.*\.pdf/i",
                "--filter=-odd",
                "--max-items=50",
                "--min-age=10s",
                "--recursive",
                source.as_str(),
                "--verbose",
                "--verbose",
                "--name=scans",
            ]
        );
    }

    #[test]
    fn mistakes_name_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        for (text, expected) in [
            ("source = 'x'", "no protocol"),
            ("protocol = 'ftp'", "unknown protocol \"ftp\""),
            ("protocol = 'dir'\nsorce = 'x'", "unknown setting \"sorce\""),
            (
                "protocol = 'dir'\nrecursive = 'yes'",
                "recursive is a switch",
            ),
            ("protocol = 'dir'\nsource = ['a', 'b']", "takes one value"),
            ("protocol = 'dir'\nsource = 'unclosed", "not valid TOML"),
        ] {
            let path = write(dir.path(), "bad.toml", text);
            let err = format!("{:#}", expand(&path, false).unwrap_err());
            assert!(err.contains(expected), "{text:?}: {err}");
            assert!(err.contains("bad.toml"), "{err}");
        }
    }

    #[test]
    fn secrets_go_to_the_environment_and_a_readable_file_is_flagged() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "mail.toml",
            "protocol = 'imap'\nserver = 'h'\naccount = 'a'\npassword = 'pw'\n",
        );
        let expanded = expand(&path, false).unwrap();
        assert_eq!(
            expanded.secrets,
            vec![("LANCEUR_PASSWORD", "pw".to_string())]
        );
        assert!(args(&expanded).iter().all(|a| !a.contains("pw")));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert_eq!(expand(&path, false).unwrap().warnings.len(), 1);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            assert!(expand(&path, false).unwrap().warnings.is_empty());
        }
    }

    #[test]
    fn a_login_keeps_only_the_login_options() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "o365-factures.toml",
            "protocol = 'o365'\nclient-id = 'c'\nmailbox = 'f@example.fr:inbox'\ndest = '/srv/cold'\nfilter = ['x']\n",
        );
        let argv = {
            let expanded = expand(&path, true).unwrap();
            let mut argv: Vec<OsString> = vec!["lanceur".into(), "o365".into(), "login".into()];
            argv.extend(expanded.args);
            argv
        };
        Cli::try_parse_from(argv).unwrap();
    }

    #[test]
    fn the_example_launcher_files_parse() {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut seen = 0;
        for entry in std::fs::read_dir(&examples).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            seen += 1;
            let expanded = expand(&path, false).unwrap();
            let mut argv: Vec<OsString> = vec!["lanceur".into(), expanded.protocol.into()];
            argv.extend(expanded.args);
            if let Err(err) = Cli::try_parse_from(&argv) {
                panic!("{}: {err}", path.display());
            }
        }
        assert!(
            seen >= 5,
            "one example launcher file per protocol, found {seen}"
        );
    }
}
