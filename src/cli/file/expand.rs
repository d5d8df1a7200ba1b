//! A launcher file's table, turned into the arguments its launcher would have on the command line.
//!
//! Each argument keeps the key and the value it came from, so that an error clap finds in it later
//! is told as the file's (`explain.rs`). Values are checked here only for what clap cannot see: the
//! TOML type (a switch is `true`, a list goes to a repeatable option) and what TOML itself did to
//! the text (a `\b` read as a backspace in a double-quoted pattern).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use clap::{ArgAction, CommandFactory, ValueHint};

use super::explain;
use super::{Expanded, FileArg, FileSecrets, SECRETS};
use crate::cli::Cli;
use crate::names::is_launcher_name;
use crate::secret::Secret;

pub(super) fn from_table(path: &Path, table: &toml::Table, login: bool) -> Result<Expanded> {
    let protocol = match table.get("protocol") {
        Some(toml::Value::String(protocol)) => protocol.clone(),
        Some(_) => bail!("protocol must be a string such as \"imap\""),
        None => bail!("no protocol: add a line such as protocol = \"imap\""),
    };
    let root = Cli::command();
    let mut command = super::protocol_command(&root, &protocol)
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
            bail!(explain::unknown_key(raw_key, &expanded.protocol, &root));
        };
        let id = arg.get_id().to_string();
        let mut args = Vec::new();
        push_arg(&mut args, arg, raw_key, value, &folder)?;
        expanded.args.extend(args.into_iter().map(|arg| FileArg {
            id: id.clone(),
            key: raw_key.clone(),
            value: as_written(value),
            arg,
        }));
    }
    let takes_name = command
        .get_arguments()
        .any(|a| a.get_long() == Some("name"));
    if !table.contains_key("name") && takes_name {
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
            // The file's name is the launcher's name: factures.toml keeps its journal in factures/.
            if is_launcher_name(stem) {
                expanded.args.push(FileArg {
                    id: "name".to_string(),
                    key: "name".to_string(),
                    value: format!("{stem:?} (the file's name)"),
                    arg: format!("--name={stem}").into(),
                });
            }
        }
    }
    if has_secret {
        expanded.warnings.extend(crate::secret::exposed(path));
    }
    Ok(expanded)
}

/// A value as the file wrote it, near enough for a message: `10`, `"IDX"`, `[…]`.
fn as_written(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => format!("{text:?}"),
        toml::Value::Integer(number) => number.to_string(),
        toml::Value::Float(number) => number.to_string(),
        toml::Value::Boolean(on) => on.to_string(),
        toml::Value::Datetime(when) => when.to_string(),
        toml::Value::Array(_) => "[…]".to_string(),
        toml::Value::Table(_) => "{…}".to_string(),
    }
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
    let is_pattern = arg
        .get_value_names()
        .is_some_and(|names| names.iter().any(|n| n == "PATTERN"));
    if is_pattern {
        if let Some(hint) = explain::escaped_pattern(key, &text) {
            bail!(hint);
        }
    }
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
