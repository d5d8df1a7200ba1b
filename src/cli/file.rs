//! Launcher files: every option of a launcher in one TOML file, so that the Task Scheduler and cron
//! run `lanceur run factures.toml` instead of a long command line, and a secret can sit in a file
//! readable by its owner only.
//!
//! A launcher file is turned into the argument list the same launcher would have on the command line
//! (`expand`), placed before the command line's own arguments, and clap parses the whole once, as
//! ripgrep does with its configuration file: there is one definition of every option, and a file
//! accepts exactly what the command line accepts. Keys are the long option names (`min-age` or
//! `min_age`); `protocol` names the subcommand. Values: strings and numbers as the option's value,
//! `true` for a flag (`recursive = true`), a list for a repeatable option (`filter = ["a", "b"]`), a
//! number for `verbose`. Relative paths (the values of options that declare a path value hint) are
//! taken from the file's folder, because the Task Scheduler starts programs in
//! `C:\Windows\System32`.
//!
//! An option on the command line replaces the file's, lists included: clap itself says which
//! options the command line gives (a lenient parse of the command line's part alone), and the
//! file's arguments for those are left out before the real parse.
//!
//! Secrets are not options: `password`, `token` and `client-secret` come back as values beside the
//! parsed command line (`Parsed::secrets`), for `config` to use where the command line and the
//! environment give none; `password-env = "VAR"` and the like name an environment variable to take
//! one from; `password-file` is the ordinary option. Nothing is put into the process environment.
//! A file holding a secret that other users may read draws a warning on every run.
//!
//! Forms recognised before clap parses anything (`parse`):
//!   `lanceur run FILE [OPTIONS…]`, `lanceur --config FILE [OPTIONS…]`, `lanceur check FILE
//!   [OPTIONS…]`, and `lanceur login FILE` (the `o365 login` step of an o365 launcher file).

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, Parser, ValueHint};

use super::Cli;
use crate::exit::Failure;
use crate::names::is_launcher_name;
use crate::secret::Secret;

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

/// The secret keys a file may hold.
const SECRETS: [&str; 3] = ["password", "token", "client-secret"];

/// Secrets a launcher file holds, as values. The command line's secret files and the environment of
/// the run win over them (`config` decides).
#[derive(Debug, Default, Clone)]
pub struct FileSecrets {
    /// The launcher file itself (absolute), so that messages can say `lanceur login FILE`.
    pub launcher_file: Option<PathBuf>,
    pub password: Option<Secret>,
    pub token: Option<Secret>,
    pub client_secret: Option<Secret>,
}

impl FileSecrets {
    fn set(&mut self, key: &str, value: Secret) {
        match key {
            "password" => self.password = Some(value),
            "token" => self.token = Some(value),
            _ => self.client_secret = Some(value),
        }
    }
}

/// What a launcher file gives: the subcommand's arguments, and its secrets.
#[derive(Debug)]
pub struct Expanded {
    /// The subcommand: dir, imap, pop, o365 or adullact.
    pub protocol: String,
    /// Each argument with the id of the option it gives, so that a command-line option can replace
    /// the file's.
    pub args: Vec<(String, OsString)>,
    pub secrets: FileSecrets,
    /// A warning to print, e.g. a secret in a file others can read.
    pub warnings: Vec<String>,
}

/// The command line, parsed, with what its launcher file (if it names one) adds.
#[derive(Debug)]
pub struct Parsed {
    pub cli: Cli,
    pub secrets: FileSecrets,
    /// Warnings about the launcher file and the secret files, to print once.
    pub warnings: Vec<String>,
}

/// Parses `argv`, expanding a launcher file when it names one. A problem with the file is an error
/// (usage); clap's own usage errors, `--help` and `--version` end the process as clap does.
pub fn parse(argv: Vec<OsString>) -> Result<Parsed> {
    let Some(form) = Form::of(&argv)? else {
        return Ok(Parsed {
            cli: Cli::parse_from(argv),
            secrets: FileSecrets::default(),
            warnings: Vec::new(),
        });
    };
    let mut expanded = expand(&form.file, form.login)?;
    expanded.secrets.launcher_file =
        Some(std::path::absolute(&form.file).unwrap_or_else(|_| form.file.clone()));
    // The subcommand path: `[check] PROTOCOL [login]`.
    let mut head: Vec<OsString> = vec![argv[0].clone()];
    head.extend(form.prefix.iter().map(OsString::from));
    head.push(expanded.protocol.clone().into());
    if form.login {
        head.push("login".into());
    }
    // An option given on the command line replaces the file's, lists included (clap would append
    // a second --filter to the file's instead).
    let given = given_on_command_line(&head, &form.rest);
    let mut full = head;
    full.extend(
        expanded
            .args
            .into_iter()
            .filter(|(id, _)| !given.contains(id))
            .map(|(_, arg)| arg),
    );
    full.extend(form.rest);
    Ok(Parsed {
        cli: Cli::parse_from(full),
        secrets: expanded.secrets,
        warnings: expanded.warnings,
    })
}

/// A command line that names a launcher file.
struct Form {
    /// What goes before the protocol: `check` for `lanceur check FILE`.
    prefix: &'static [&'static str],
    file: PathBuf,
    /// The arguments after the file.
    rest: Vec<OsString>,
    /// `lanceur login FILE`.
    login: bool,
}

impl Form {
    fn of(argv: &[OsString]) -> Result<Option<Form>> {
        let Some(first) = argv.get(1).and_then(|a| a.to_str()) else {
            return Ok(None);
        };
        let form = |prefix, file: &OsString, rest: &[OsString], login| {
            Some(Form {
                prefix,
                file: PathBuf::from(file),
                rest: rest.to_vec(),
                login,
            })
        };
        Ok(match (first, argv.get(2)) {
            ("run", Some(file)) if !starts_with_dash(file) => form(&[], file, &argv[3..], false),
            ("check", Some(file)) if looks_like_file(file) => {
                form(&["check"], file, &argv[3..], false)
            }
            ("retry", Some(file)) if looks_like_file(file) => {
                form(&["retry"], file, &argv[3..], false)
            }
            ("login", Some(file)) if !starts_with_dash(file) => form(&[], file, &argv[3..], true),
            ("--config", Some(file)) => form(&[], file, &argv[3..], false),
            (flag, _) if flag.starts_with("--config=") => {
                let file = OsString::from(&flag["--config=".len()..]);
                form(&[], &file, &argv[2..], false)
            }
            _ => None,
        })
    }
}

/// The ids of the options that `rest`, the arguments after a launcher file, gives to the
/// subcommand `head` names, as clap itself reads them (long or short, `=` or not). The parse is
/// lenient: `rest` alone usually lacks what the file gives.
fn given_on_command_line(head: &[OsString], rest: &[OsString]) -> HashSet<String> {
    let argv: Vec<&OsString> = head.iter().chain(rest).collect();
    let Ok(matches) = Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(argv)
    else {
        return HashSet::new();
    };
    let mut given = HashSet::new();
    collect_given(&matches, &mut given);
    given
}

fn collect_given(matches: &ArgMatches, given: &mut HashSet<String>) {
    for id in matches.ids() {
        if matches.value_source(id.as_str()) == Some(ValueSource::CommandLine) {
            given.insert(id.to_string());
        }
    }
    if let Some((_, sub)) = matches.subcommand() {
        collect_given(sub, given);
    }
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
            .ok_or_else(|| anyhow!("only imap, pop and o365 launchers have a login step"))?
            .clone();
    }
    let folder = path
        .parent()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()))
        .unwrap_or_default();
    let mut expanded = Expanded {
        protocol,
        args: Vec::new(),
        secrets: FileSecrets::default(),
        warnings: Vec::new(),
    };
    let mut has_secret = false;
    for (raw_key, value) in table {
        let key = raw_key.replace('_', "-");
        if key == "protocol" {
            continue;
        }
        if SECRETS.contains(&key.as_str()) {
            expanded
                .secrets
                .set(&key, Secret::new(text_of(raw_key, value)?));
            has_secret = true;
            continue;
        }
        if let Some(name) = key.strip_suffix("-env") {
            if SECRETS.contains(&name) {
                let from = text_of(raw_key, value)?;
                let secret = std::env::var(&from).map_err(|_| {
                    anyhow!("{raw_key} names the environment variable {from}, which is not set")
                })?;
                expanded.secrets.set(name, Secret::new(secret));
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
        let id = arg.get_id().to_string();
        let mut args = Vec::new();
        push_arg(&mut args, arg, raw_key, value, &folder)?;
        expanded
            .args
            .extend(args.into_iter().map(|arg| (id.clone(), arg)));
    }
    let takes_name = command
        .get_arguments()
        .any(|a| a.get_long() == Some("name"));
    if !table.contains_key("name") && takes_name {
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
            // The file's name is the launcher's name: factures.toml keeps its journal in factures/.
            if is_launcher_name(stem) {
                expanded
                    .args
                    .push(("name".to_string(), format!("--name={stem}").into()));
            }
        }
    }
    if has_secret {
        expanded.warnings.extend(crate::secret::exposed(path));
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
    let is_path = matches!(
        arg.get_value_hint(),
        ValueHint::AnyPath | ValueHint::FilePath | ValueHint::DirPath | ValueHint::ExecutablePath
    );
    if is_path {
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

#[cfg(test)]
mod tests;
