//! Launcher files: expansion, errors, the forms of the command line.

use super::*;
use clap::ValueHint;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn args(expanded: &Expanded) -> Vec<String> {
    expanded
        .args
        .iter()
        .map(|a| a.arg.to_string_lossy().into_owned())
        .collect()
}

fn strings(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// An absolute path on this system: `/srv/cold` is relative to the current drive on Windows.
const ABSOLUTE_COLD: &str = if cfg!(windows) {
    r"C:\srv\cold"
} else {
    "/srv/cold"
};

#[test]
fn settings_become_options() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "scans.toml",
        &format!(
            r#"
protocol = "dir"
source = "in"
dest = '{ABSOLUTE_COLD}'
filter = ['/.*\.pdf/i', "-odd"]
min_age = "10s"
recursive = true
dry-run = false
verbose = 2
max-items = 50
"#
        ),
    );
    let expanded = expand(&path, false).unwrap();
    assert_eq!(expanded.protocol, "dir");
    let source = format!("--source={}", dir.path().join("in").display());
    let dest = format!("--dest={ABSOLUTE_COLD}");
    assert_eq!(
        args(&expanded),
        vec![
            dest.as_str(),
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
fn secrets_are_values_beside_the_arguments_and_a_readable_file_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "mail.toml",
        "protocol = 'imap'\nserver = 'h'\naccount = 'a'\npassword = 'pw'\n",
    );
    let expanded = expand(&path, false).unwrap();
    assert_eq!(
        expanded.secrets.password.as_ref().map(Secret::expose),
        Some("pw")
    );
    assert!(expanded.secrets.token.is_none());
    assert!(args(&expanded).iter().all(|a| !a.contains("pw")));
    assert!(std::env::var_os("LANCEUR_PASSWORD").is_none());
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
        argv.extend(expanded.args.into_iter().map(|a| a.arg));
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
        argv.extend(expanded.args.into_iter().map(|a| a.arg));
        if let Err(err) = Cli::try_parse_from(&argv) {
            panic!("{}: {err}", path.display());
        }
    }
    assert!(
        seen >= 5,
        "one example launcher file per protocol, found {seen}"
    );
}

#[test]
fn the_command_line_replaces_the_files_options_however_it_spells_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "scans.toml",
        &format!(
            "protocol = 'dir'\nsource = '/in'\ndest = '{ABSOLUTE_COLD}'\nfilter = ['a', 'b']\n\
             min-age = '1h'\nverbose = 2\n"
        ),
    );
    let file = path.to_str().unwrap();
    let parsed = parse(strings(&[
        "lanceur",
        "run",
        file,
        "-f",
        "c",
        "--min-age=0s",
        "-v",
    ]))
    .unwrap();
    let crate::cli::Command::Dir(args) = parsed.cli.command else {
        panic!("not dir")
    };
    assert_eq!(args.common.filter, vec!["c"]);
    assert_eq!(args.min_age, std::time::Duration::ZERO);
    assert_eq!(args.common.verbose, 1);
    assert_eq!(args.common.dest, PathBuf::from(ABSOLUTE_COLD));
    assert_eq!(args.common.name.as_deref(), Some("scans"));
    // Without command-line options, the file's own.
    let parsed = parse(strings(&["lanceur", "--config", file])).unwrap();
    let crate::cli::Command::Dir(args) = parsed.cli.command else {
        panic!("not dir")
    };
    assert_eq!(args.common.filter, vec!["a", "b"]);
    assert_eq!(args.common.verbose, 2);
    // check FILE keeps the check.
    let parsed = parse(strings(&["lanceur", "check", file, "--dry-run"])).unwrap();
    assert!(matches!(parsed.cli.command, crate::cli::Command::Check(_)));
}

#[test]
fn every_path_option_declares_a_path_hint() {
    // Relative paths in a launcher file are resolved for options with a path value hint, so
    // an option taking a path without one would be resolved from the wrong folder.
    use std::any::TypeId;
    fn walk(command: &clap::Command, missing: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let takes_path = arg.get_value_parser().type_id() == TypeId::of::<PathBuf>();
            let hinted = matches!(
                arg.get_value_hint(),
                ValueHint::FilePath | ValueHint::DirPath | ValueHint::AnyPath
            );
            if takes_path && !hinted {
                missing.push(format!("{} --{}", command.get_name(), arg.get_id()));
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, missing);
        }
    }
    let mut missing = Vec::new();
    walk(&Cli::command(), &mut missing);
    assert!(
        missing.is_empty(),
        "path options without a path hint: {missing:?}"
    );
}
