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
//! Forms recognised before clap parses anything (`parse`): `lanceur run FILE [OPTIONS…]`,
//! `lanceur --config FILE [OPTIONS…]`, `lanceur check FILE [OPTIONS…]`, `lanceur retry FILE
//! [OPTIONS…]`, and `lanceur login FILE`
//! (the sign-in step of an o365 launcher, or of an imap or pop one with OAuth). Options may come
//! before the file too (`lanceur run --dry-run FILE`).
//!
//! A mistake in the file is one line naming the file and the key (`explain.rs`), clap's verdict on
//! the file's values included; a mistake in the command line's own options is clap's usual error.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, Parser};

use super::Cli;
use crate::exit::Failure;
use crate::secret::Secret;

mod expand;
mod explain;

pub(super) const RUN_LONG_ABOUT: &str = "\
Runs the launcher described in FILE, a TOML file holding its protocol and options, so that cron \
and the Task Scheduler need only `lanceur run FILE`. Options given with it (before or after FILE) \
override the file's. `lanceur --config FILE` is the same; `lanceur check FILE` checks it without \
moving anything; `lanceur login FILE` runs its sign-in step (o365, OAuth imap and pop).

Keys are the protocol's long options (min-age or min_age), plus protocol = \"dir|imap|pop|o365|\
adullact\". A switch is written recursive = true, a repeatable option as a list, verbose as a \
number. Relative paths are taken from the file's folder. The launcher's name defaults to the \
file's name (factures.toml: launcher factures); write name and state-dir into the file so that \
renaming it, or running it as another user, keeps the same journal. Write patterns between single \
quotes: between double quotes TOML reads a backslash as an escape.

Secrets: password, token and client-secret may sit in the file (make it readable by its owner \
only: lanceur warns on every run otherwise), or password-env = \"VAR\" names the environment \
variable to read, or password-file is given as usual. The environment of the run overrides the \
file.";

pub(super) const RUN_AFTER_HELP: &str = "\
Example (factures.toml):
  protocol = \"imap\"
  name = \"factures\"
  state-dir = \"/var/lib/lanceur\"
  server = \"imap.gmail.com\"
  account = \"factures@example.fr\"
  password-file = \"/etc/lanceur/factures.pw\"
  folder = \"INBOX\"
  dest = \"/srv/ezged/cold/factures\"
  filter = ['/.*\\.pdf$/i']
  index = \"idx\"

Examples:
  lanceur run /etc/lanceur/factures.toml
  lanceur run /etc/lanceur/factures.toml --dry-run -v

crontab line:
  */5 * * * *  lanceur run /etc/lanceur/factures.toml

examples/ in the source tree has a launcher file per protocol.";

pub(super) const LOGIN_LONG_ABOUT: &str = "\
Signs in the launcher described in FILE.toml, once, interactively: the device-code or browser \
sign-in of an o365 launcher, or of an imap or pop launcher with --oauth. It reads the same file \
as `lanceur run FILE.toml` (keys only runs need, such as dest or filter, are ignored), so the \
tokens land in the launcher's own state folder, where its runs look for them.

Launchers with app-only credentials (a client secret, a certificate, a service account) need no \
login step.";

pub(super) const LOGIN_AFTER_HELP: &str = "\
Example:
  lanceur login /etc/lanceur/o365-factures.toml

Exit codes: 0 signed in and the mailbox reached, 2 usage or configuration, 3 the sign-in was \
refused or expired, 4 the identity service or the mailbox cannot be reached.";

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

/// One argument a launcher file gives, with where it came from.
#[derive(Debug, Clone)]
pub struct FileArg {
    /// The id of the option it gives, so that a command-line option can replace the file's.
    pub id: String,
    /// The key as written in the file (`min_age`).
    pub key: String,
    /// The value as TOML writes it (`10`, `"IDX"`), for messages.
    pub value: String,
    pub arg: OsString,
}

/// What a launcher file gives: the subcommand's arguments, and its secrets.
#[derive(Debug)]
pub struct Expanded {
    /// The subcommand: dir, imap, pop, o365 or adullact.
    pub protocol: String,
    pub args: Vec<FileArg>,
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
/// (usage) naming the file; clap's own usage errors about the command line, `--help` and
/// `--version` end the process as clap does.
pub fn parse(argv: Vec<OsString>) -> Result<Parsed> {
    let Some(form) = Form::of(&argv) else {
        return Ok(Parsed {
            cli: Cli::parse_from(argv),
            secrets: FileSecrets::default(),
            warnings: Vec::new(),
        });
    };
    parse_form(argv[0].clone(), form).map_err(|err| match err.downcast::<clap::Error>() {
        // clap's own verdict on the command line (and --help): said and ended as clap does.
        Ok(err) => err.exit(),
        Err(err) => err,
    })
}

/// The launcher a launcher file describes, as `lanceur run FILE` reads it, for `lanceur status`.
/// Any mistake is an error, clap's included.
pub fn read(path: &Path) -> Result<Parsed> {
    let form = Form {
        prefix: &[],
        file: path.to_path_buf(),
        rest: Vec::new(),
        login: false,
    };
    parse_form("lanceur".into(), form).map_err(|err| match err.downcast::<clap::Error>() {
        Ok(err) => anyhow!(
            "launcher file {}: {}",
            path.display(),
            explain::first_line(&err)
        )
        .context(Failure::Usage),
        Err(err) => err,
    })
}

/// The arguments of `form`'s launcher file and command line, parsed. An error clap finds in the
/// command line's own arguments comes back as the `clap::Error`, for the caller to end with.
fn parse_form(argv0: OsString, form: Form) -> Result<Parsed> {
    let mut expanded = expand(&form.file, form.login)?;
    expanded.secrets.launcher_file =
        Some(std::path::absolute(&form.file).unwrap_or_else(|_| form.file.clone()));
    // The subcommand path: `[check] PROTOCOL [login]`.
    let mut head: Vec<OsString> = vec![argv0];
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
            .iter()
            .filter(|a| !given.contains(&a.id))
            .map(|a| a.arg.clone()),
    );
    full.extend(form.rest);
    match Cli::try_parse_from(full) {
        Ok(cli) => Ok(Parsed {
            cli,
            secrets: expanded.secrets,
            warnings: expanded.warnings,
        }),
        Err(err) => {
            let root = Cli::command();
            match explain::clap_error(
                &err,
                &form.file,
                &expanded.args,
                &given,
                &root,
                &expanded.protocol,
            ) {
                Some(message) => Err(anyhow!(message)).context(Failure::Usage),
                None => Err(err.into()),
            }
        }
    }
}

/// A command line that names a launcher file.
struct Form {
    /// What goes before the protocol: `check` for `lanceur check FILE`.
    prefix: &'static [&'static str],
    file: PathBuf,
    /// The other arguments, before and after the file, in their order.
    rest: Vec<OsString>,
    /// `lanceur login FILE`.
    login: bool,
}

impl Form {
    fn of(argv: &[OsString]) -> Option<Form> {
        let first = argv.get(1)?.to_str()?;
        if let Some(file) = first.strip_prefix("--config=") {
            return Some(Form {
                prefix: &[],
                file: PathBuf::from(file),
                rest: argv[2..].to_vec(),
                login: false,
            });
        }
        let (prefix, login): (&'static [&'static str], bool) = match first {
            "run" | "--config" => (&[], false),
            "check" => (&["check"], false),
            "retry" => (&["retry"], false),
            "login" => (&[], true),
            _ => return None,
        };
        let after = &argv[2..];
        let at = if first == "--config" {
            // `--config FILE`: the file comes first, as it always did.
            Some(0).filter(|_| !after.is_empty())?
        } else {
            file_position(after)?
        };
        let file = &after[at];
        if matches!(first, "check" | "retry") && !looks_like_file(file) {
            // `lanceur check imap --server …`: clap's own subcommands.
            return None;
        }
        let mut rest = after.to_vec();
        rest.remove(at);
        Some(Form {
            prefix,
            file: PathBuf::from(file),
            rest,
            login,
        })
    }
}

/// For the help examples' test: the options given with a launcher file, when `argv` names one.
#[cfg(test)]
pub(super) fn options_beside_a_file(argv: &[String]) -> Option<Vec<String>> {
    let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
    let form = Form::of(&argv)?;
    Some(
        form.rest
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
    )
}

/// Whether `name` (a long name without `--`, or a short letter) is an option of some protocol.
#[cfg(test)]
pub(super) fn is_an_option(name: &str) -> bool {
    options_taking_values().contains_key(name)
}

/// Where the first argument that is no option, nor an option's value, is: the launcher file.
fn file_position(args: &[OsString]) -> Option<usize> {
    let takes_value = options_taking_values();
    let mut at = 0;
    while at < args.len() {
        let Some(text) = args[at].to_str() else {
            return Some(at);
        };
        if text == "--" {
            return (at + 1 < args.len()).then_some(at + 1);
        }
        let option = if let Some(long) = text.strip_prefix("--") {
            (!long.contains('=')).then(|| long.to_string())
        } else if text.len() == 2 && text.starts_with('-') {
            Some(text[1..].to_string())
        } else if text.starts_with('-') && text.len() > 2 {
            None // a cluster of short switches (-vv) or a short option with its value (-dCOLD)
        } else {
            return Some(at);
        };
        at += 1;
        if option.is_some_and(|name| takes_value.get(&name) == Some(&true)) {
            at += 1;
        }
    }
    None
}

/// Every long and short option name of the protocols, and whether it takes a value.
fn options_taking_values() -> HashMap<String, bool> {
    let root = Cli::command();
    let mut names = HashMap::new();
    for command in root.get_subcommands() {
        for command in std::iter::once(command).chain(command.get_subcommands()) {
            for arg in command.get_arguments() {
                let takes = matches!(arg.get_action(), ArgAction::Set | ArgAction::Append);
                if let Some(long) = arg.get_long() {
                    names.insert(long.to_string(), takes);
                }
                if let Some(short) = arg.get_short() {
                    names.insert(short.to_string(), takes);
                }
            }
        }
    }
    names
}

/// The subcommand of protocol `name`, if it is one (not `run`, `check`, `retry`, `login` or
/// `help`).
fn protocol_command<'c>(root: &'c clap::Command, name: &str) -> Option<&'c clap::Command> {
    root.find_subcommand(name)
        .filter(|c| !matches!(c.get_name(), "run" | "check" | "retry" | "login" | "help"))
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

/// `check FILE` against `check imap …`: a protocol name is a subcommand, anything else a file.
fn looks_like_file(arg: &OsString) -> bool {
    let Some(text) = arg.to_str() else {
        return true;
    };
    Cli::command().find_subcommand(text).is_none()
}

/// Reads a launcher file. With `login`, only the options of the login step are kept, so that one
/// file serves both the login step and the runs.
pub fn expand(path: &Path, login: bool) -> Result<Expanded> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read launcher file {}", path.display()))
        .context(Failure::Usage)?;
    let table: toml::Table = text
        .parse()
        .map_err(|err: toml::de::Error| anyhow!(explain::toml_error(&text, &err)))
        .with_context(|| format!("launcher file {} is not valid TOML", path.display()))
        .context(Failure::Usage)?;
    expand::from_table(path, &table, login)
        .with_context(|| format!("launcher file {}", path.display()))
        .context(Failure::Usage)
}

#[cfg(test)]
mod tests;
