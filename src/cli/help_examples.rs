//! Every command line shown in a `--help` can be pasted into a shell as it is: each example is
//! taken out of the help texts (continuation lines joined at their `\`), split as a shell splits
//! it, and parsed by the same clap definition. An example whose line ends in the middle of its
//! options without a backslash parses as two broken commands and fails here. See: issue 16.

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

use super::Cli;

/// Every command line (from `lanceur` on) in the long help of `command` and its subcommands.
fn examples(command: &mut clap::Command, path: &str, out: &mut Vec<(String, String)>) {
    let help = command.render_long_help().to_string();
    let mut lines = help.lines();
    while let Some(line) = lines.next() {
        let Some(at) = start_of_command(line) else {
            continue;
        };
        let mut text = line[at..].trim_end().to_string();
        while text.ends_with('\\') {
            text.pop();
            match lines.next() {
                Some(next) => text.push_str(next.trim_start()),
                None => break,
            }
        }
        out.push((path.to_string(), text));
    }
    let names: Vec<String> = command
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    for name in names {
        if let Some(sub) = command.find_subcommand_mut(&name) {
            examples(sub, &format!("{path} {name}"), out);
        }
    }
}

/// Where a shown command starts: an indented line beginning with `lanceur ` (maybe after
/// `VAR=value` assignments), or a crontab line's command.
fn start_of_command(line: &str) -> Option<usize> {
    if !line.starts_with("  ") {
        return None;
    }
    let text = line.trim_start();
    let indent = line.len() - text.len();
    // Examples sit under their heading; prose wrapped in an option's help is indented further.
    if indent > 4 {
        return None;
    }
    let mut offset = 0;
    for word in text.split(' ') {
        if word == "lanceur" {
            return Some(indent + offset);
        }
        let assignment = word.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        });
        let cron_field = !word.is_empty() && word.chars().all(|c| "0123456789*/,-".contains(c));
        if !(assignment || cron_field || word.is_empty()) {
            return None;
        }
        offset += word.len() + 1;
    }
    None
}

/// Splits `text` as a POSIX shell does for words: single quotes, double quotes, backslashes.
fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            '#' if !in_word => break, // a comment runs to the end of the line
            // A pipe, a list or a redirection ends the command shown.
            '|' | ';' | '&' | '>' | '<' => break,
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[test]
fn every_example_in_the_help_parses_as_it_is_shown() {
    let mut found = Vec::new();
    examples(&mut Cli::command(), "lanceur", &mut found);
    assert!(found.len() >= 20, "only {} examples found", found.len());
    let mut broken = Vec::new();
    for (help, example) in &found {
        let argv = shell_words(example);
        if let Some(options) = super::file::options_beside_a_file(&argv) {
            // The file cannot be read here; what comes with it must be options lanceur has.
            for option in options.iter().filter_map(|o| o.strip_prefix('-')) {
                let name = option
                    .trim_start_matches('-')
                    .split('=')
                    .next()
                    .unwrap_or("");
                if !super::file::is_an_option(name) {
                    broken.push(format!("{help} --help: {example}\n  no option -{option}"));
                }
            }
            continue;
        }
        match Cli::try_parse_from(&argv) {
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::DisplayHelp => {}
            Err(err) => broken.push(format!(
                "{help} --help: {example}\n  {}",
                err.to_string().lines().next().unwrap_or_default()
            )),
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_extraction_joins_continued_lines_and_splits_as_a_shell() {
    assert_eq!(start_of_command("  lanceur dir -s a"), Some(2));
    assert_eq!(start_of_command("  */5 * * * *  lanceur run f"), Some(15));
    assert_eq!(
        start_of_command("  LANCEUR_PASSWORD=… lanceur imap"),
        Some(23)
    );
    assert_eq!(start_of_command("          lanceur never creates it"), None);
    assert_eq!(start_of_command("  the lanceur binary"), None);
    assert_eq!(start_of_command("lanceur at the margin"), None);
    assert_eq!(
        shell_words(r#"lanceur dir -f '/.*\.pdf/i' "a b" c\ d x#y  # a comment"#),
        ["lanceur", "dir", "-f", r"/.*\.pdf/i", "a b", "c d", "x#y"]
    );
    assert_eq!(
        shell_words("lanceur status >/dev/null || lanceur status"),
        ["lanceur", "status"]
    );
    assert_eq!(
        shell_words(r#"lanceur dir -f '/.*\.pdf/i' "a b" c\ d x#y  # a comment"#),
        ["lanceur", "dir", "-f", r"/.*\.pdf/i", "a b", "c d", "x#y"]
    );
}
