//! A launcher file's mistakes, told in one line that names the file and the key: TOML that does
//! not parse, a key no option has (with the closest one that exists), a pattern TOML changed
//! before lanceur saw it, and clap's verdict on a value the file gave (`min-age = 10`), which clap
//! alone would tell with the option's name and a usage line listing options the file never used.

use std::collections::HashSet;
use std::path::Path;

use clap::error::{ContextKind, ContextValue, ErrorKind};

use super::FileArg;

/// "line 3, column 13: invalid escape sequence: filter = "/.*\.pdf/"; …": one line, the line
/// as typed, and for a backslash in double quotes the same line in single quotes.
pub(super) fn toml_error(text: &str, err: &toml::de::Error) -> String {
    let message = err.message().trim_end();
    let Some(span) = err.span() else {
        return message.to_string();
    };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |at| at + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |at| start + at);
    let line = text[line_start..line_end].trim_end_matches('\r');
    let number = text[..line_start].matches('\n').count() + 1;
    let column = text[line_start..start].chars().count() + 1;
    let mut out = format!("line {number}, column {column}: {message}: {}", line.trim());
    if message.contains("escape") {
        if let Some(single) = single_quoted(line, start - line_start) {
            out.push_str(&format!(
                "; between double quotes TOML reads a backslash as the start of an escape: write \
                 patterns between single quotes, as typed: {single}"
            ));
        }
    }
    out
}

/// `line` with the double-quoted string around byte `at` put between single quotes, when its
/// text holds no single quote.
fn single_quoted(line: &str, at: usize) -> Option<String> {
    let open = line[..at.min(line.len())].rfind('"')?;
    let close = open + 1 + line[open + 1..].find('"')?;
    let inner = &line[open + 1..close];
    if inner.contains('\'') {
        return None;
    }
    Some(format!("{}'{inner}'{}", &line[..open], &line[close + 1..]))
}

/// For a pattern in which TOML turned an escape into a control character (`"\bfacture"` holds a
/// backspace): what happened and the line to write instead.
pub(super) fn escaped_pattern(key: &str, text: &str) -> Option<String> {
    let (character, letter) = text.chars().find_map(|c| {
        Some(match c {
            '\u{8}' => ("a backspace", 'b'),
            '\t' => ("a tab", 't'),
            '\n' => ("a line break", 'n'),
            '\r' => ("a carriage return", 'r'),
            '\u{c}' => ("a form feed", 'f'),
            '\u{1b}' => ("an escape character", 'e'),
            _ => return None,
        })
    })?;
    let mut typed = String::new();
    for c in text.chars() {
        match c {
            '\u{8}' => typed.push_str(r"\b"),
            '\t' => typed.push_str(r"\t"),
            '\n' => typed.push_str(r"\n"),
            '\r' => typed.push_str(r"\r"),
            '\u{c}' => typed.push_str(r"\f"),
            '\u{1b}' => typed.push_str(r"\e"),
            c => typed.push(c),
        }
    }
    Some(format!(
        "{key}: the pattern holds {character}, because between double quotes TOML reads \
         \\{letter} as one; write patterns between single quotes, as typed: {key} = '{typed}'"
    ))
}

/// "unknown setting "min_ag" for protocol dir; did you mean min-age? …".
pub(super) fn unknown_key(raw_key: &str, protocol: &str, root: &clap::Command) -> String {
    let key = raw_key.replace('_', "-");
    let mut message = format!("unknown setting {raw_key:?} for protocol {protocol}");
    let own = super::protocol_command(root, protocol);
    let candidates: Vec<String> = own
        .iter()
        .flat_map(|c| c.get_arguments())
        .filter_map(|a| a.get_long().map(str::to_string))
        .chain(["protocol".to_string()])
        .chain(super::SECRETS.iter().map(|s| s.to_string()))
        .chain(super::SECRETS.iter().map(|s| format!("{s}-env")))
        .collect();
    let closest = candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(&key, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((_, name)) = closest {
        message.push_str(&format!("; did you mean {name}?"));
    } else {
        let elsewhere: Vec<&str> = root
            .get_subcommands()
            .filter(|c| super::protocol_command(root, c.get_name()).is_some())
            .filter(|c| c.get_arguments().any(|a| a.get_long() == Some(&key)))
            .map(|c| c.get_name())
            .collect();
        if !elsewhere.is_empty() {
            message.push_str(&format!(
                "; {key} is a setting of protocol {}",
                elsewhere.join(" and ")
            ));
        }
    }
    message.push_str(&format!(
        "; settings are the long options of `lanceur {protocol} --help`"
    ));
    message
}

/// clap's error about arguments the file gave, told as the file's: `None` when the error is about
/// the command line's own arguments (clap then says it as usual). `given` holds the ids the
/// command line gave, which replaced the file's.
pub(super) fn clap_error(
    err: &clap::Error,
    path: &Path,
    args: &[FileArg],
    given: &HashSet<String>,
    root: &clap::Command,
    protocol: &str,
) -> Option<String> {
    let from_file = |long: &str| {
        args.iter()
            .find(|a| !given.contains(&a.id) && long_of(root, protocol, &a.id) == Some(long))
    };
    let file = path.display();
    let longs = invalid_args(err);
    match err.kind() {
        ErrorKind::MissingRequiredArgument => {
            // Nothing gave them, so the file lacks them.
            let command = super::protocol_command(root, protocol)?;
            let lines: Vec<String> = longs
                .iter()
                .filter_map(|long| command.get_arguments().find(|a| a.get_long() == Some(long)))
                .map(|arg| {
                    let long = arg.get_long().unwrap_or_default();
                    let value = match arg.get_action() {
                        clap::ArgAction::SetTrue => "true".to_string(),
                        _ => format!(
                            "\"{}\"",
                            arg.get_value_names()
                                .and_then(|names| names.first())
                                .map_or("…", |name| name.as_str())
                        ),
                    };
                    let env = arg
                        .get_env()
                        .map(|env| format!(", or {}", env.to_string_lossy()))
                        .unwrap_or_default();
                    format!("{long} is missing: add {long} = {value} (or give --{long}{env})")
                })
                .collect();
            (!lines.is_empty()).then(|| format!("launcher file {file}: {}", lines.join("; ")))
        }
        _ => {
            let arg = from_file(longs.first()?)?;
            Some(format!(
                "launcher file {file}: {} = {}: {}",
                arg.key,
                arg.value,
                detail(err)
            ))
        }
    }
}

/// What clap found wrong with a value, without the option's name or a usage line.
fn detail(err: &clap::Error) -> String {
    use std::error::Error;
    match err.kind() {
        ErrorKind::ValueValidation => err
            .source()
            .map(|source| source.to_string())
            .unwrap_or_else(|| first_line(err)),
        ErrorKind::InvalidValue => {
            let mut text = String::from("not a valid value");
            if let Some(ContextValue::Strings(valid)) = err.get(ContextKind::ValidValue) {
                text.push_str(&format!("; use one of {}", valid.join(", ")));
            }
            let typed = match err.get(ContextKind::InvalidValue) {
                Some(ContextValue::String(typed)) => typed.to_ascii_lowercase(),
                _ => String::new(),
            };
            let suggested = match err.get(ContextKind::SuggestedValue) {
                Some(ContextValue::String(suggested)) => Some(suggested.clone()),
                _ => match err.get(ContextKind::ValidValue) {
                    // clap suggests by spelling, not by case: `IDX` gets nothing from it.
                    Some(ContextValue::Strings(valid)) => valid
                        .iter()
                        .find(|v| v.to_ascii_lowercase() == typed)
                        .cloned(),
                    _ => None,
                },
            };
            if let Some(suggested) = suggested {
                text.push_str(&format!(" (did you mean {suggested}?)"));
            }
            text
        }
        _ => first_line(err),
    }
}

pub(super) fn first_line(err: &clap::Error) -> String {
    let text = err.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

/// The long names of the arguments an error is about (`--min-age <DURATION>` → `min-age`).
fn invalid_args(err: &clap::Error) -> Vec<String> {
    match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(text)) => long_in(text).into_iter().collect(),
        Some(ContextValue::Strings(texts)) => texts.iter().filter_map(|t| long_in(t)).collect(),
        _ => Vec::new(),
    }
}

fn long_in(text: &str) -> Option<String> {
    let rest = text.trim().strip_prefix("--")?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

fn long_of<'c>(root: &'c clap::Command, protocol: &str, id: &str) -> Option<&'c str> {
    let command = super::protocol_command(root, protocol)?;
    let in_login = command.find_subcommand("login").into_iter();
    std::iter::once(command)
        .chain(in_login)
        .flat_map(|c| c.get_arguments())
        .find(|a| a.get_id() == id)
        .and_then(|a| a.get_long())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_error_is_one_line_with_the_line_as_typed_and_single_quotes_for_backslashes() {
        let text = "protocol = 'dir'\nsource = '/in'\nfilter = \"/.*\\.pdf$/i\"\n";
        let err = text.parse::<toml::Table>().unwrap_err();
        let line = toml_error(text, &err);
        assert!(line.starts_with("line 3, column "), "{line}");
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains(r#": filter = "/.*\.pdf$/i""#), "{line}");
        assert!(
            line.ends_with(r"as typed: filter = '/.*\.pdf$/i'"),
            "{line}"
        );
        // What single quotes give is what was meant.
        let fixed: toml::Table = r"x = '/.*\.pdf$/i'".parse().unwrap();
        assert_eq!(fixed["x"].as_str(), Some(r"/.*\.pdf$/i"));
    }

    #[test]
    fn an_escape_toml_accepted_is_caught_in_a_pattern() {
        let table: toml::Table = "filter = \"\\bfacture\\t\"".parse().unwrap();
        let hint = escaped_pattern("filter", table["filter"].as_str().unwrap()).unwrap();
        assert!(hint.contains("holds a backspace"), "{hint}");
        assert!(hint.ends_with(r"filter = '\bfacture\t'"), "{hint}");
        assert_eq!(escaped_pattern("filter", r"/.*\.pdf/"), None);
    }

    #[test]
    fn long_names_are_read_from_clap_contexts() {
        assert_eq!(long_in("--min-age <DURATION>").as_deref(), Some("min-age"));
        assert_eq!(long_in("--dest=<COLD_FOLDER>").as_deref(), Some("dest"));
        assert_eq!(long_in("<FILE>"), None);
    }
}
