//! `lanceur dir`: the folder source's options.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{parse_duration, CommonArgs, GraceArgs};

pub(super) const AFTER_HELP: &str = "\
Examples:
  lanceur dir --source /srv/scans --dest /srv/ezged/cold/scans --filter '/.*\\.pdf/i'
  lanceur dir -s /mnt/share/in -d /srv/cold/in --archive /mnt/share/done --index idx

crontab line (every minute; overlapping runs exit with code 6 and do nothing):
  * * * * *  lanceur dir --source /srv/scans --dest /srv/ezged/cold/scans

Environment: LANCEUR_DEST, LANCEUR_STATE_DIR, RUST_LOG (e.g. RUST_LOG=debug).

Exit codes: 0 done, 1 some files failed or stayed untaken past --grace-period, 2 usage, 3 authentication, 4 source unavailable,
5 COLD folder not writable, 6 already running.";

#[derive(Debug, Args, Clone)]
pub struct DirArgs {
    /// The folder to take files from
    #[arg(
        value_hint = clap::ValueHint::DirPath,
        short = 's',
        long,
        value_name = "FOLDER",
        long_help = "The folder to take files from (\"chemin source\" in the EzGED form). Only \
regular files directly inside it are taken, unless --recursive."
    )]
    pub source: PathBuf,

    /// Also take files from subfolders
    #[arg(
        short = 'r',
        long,
        long_help = "Also take files from subfolders, at any depth (hidden folders excepted). \
The folders themselves are left in place, even when emptied."
    )]
    pub recursive: bool,

    /// Take a file only once it has not changed for this long
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5s",
        value_parser = parse_duration,
        long_help = "A file whose modification time is more recent than this is left for a later \
run, because a scanner, a copy or an upload may still be writing it; its size and time are \
checked again just before it is taken. Examples: 5s (default), 1m, 0s to take files at once."
    )]
    pub min_age: Duration,

    #[command(flatten)]
    pub grace: GraceArgs,

    /// Move taken files here instead of deleting them
    #[arg(
        value_hint = clap::ValueHint::DirPath,
        long,
        value_name = "FOLDER",
        long_help = "After a file is deposited and journaled, move it to FOLDER instead of \
deleting it (subfolders are recreated with --recursive). A name already present in FOLDER gets \
a number. Moving across volumes is a copy, fsync and delete."
    )]
    pub archive: Option<PathBuf>,

    /// Move a file set aside (see --set-aside-after) to this folder
    #[arg(
        value_hint = clap::ValueHint::DirPath,
        long,
        value_name = "FOLDER",
        long_help = "Where a file that failed --set-aside-after runs in a row goes (its \
subfolders kept). The folder must exist. Without it, the file stays where it is and lanceur no \
longer takes it, until `lanceur retry`. Either way a copy is kept in the state folder when it can \
be read."
    )]
    pub failed: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use crate::settings::IndexFormat;
    use clap::Parser;

    #[test]
    fn dir_flags_parse() {
        let cli = Cli::try_parse_from([
            "lanceur",
            "dir",
            "-s",
            "in",
            "-d",
            "cold",
            "-f",
            "a",
            "-f",
            "b",
            "-x",
            "c",
            "--index",
            "idx",
            "--max-items",
            "3",
            "--max-bytes",
            "1M",
            "--min-age",
            "0s",
            "-vv",
        ])
        .unwrap();
        let Command::Dir(args) = cli.command else {
            panic!("not dir")
        };
        assert_eq!(args.source, PathBuf::from("in"));
        assert_eq!(args.common.filter, vec!["a", "b"]);
        assert_eq!(args.common.exclude, vec!["c"]);
        assert_eq!(args.common.index, IndexFormat::Idx);
        assert_eq!(args.common.max_items, Some(3));
        assert_eq!(args.common.max_bytes, Some(1 << 20));
        assert_eq!(args.min_age, Duration::ZERO);
        assert_eq!(args.common.verbose, 2);
    }
}
