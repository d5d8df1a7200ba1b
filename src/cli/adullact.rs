//! `lanceur adullact`: options for Libriciel/Adullact envelopes.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{parse_duration, parse_size, CommonArgs, GraceArgs};

pub(super) const AFTER_HELP: &str = "\
Examples:
  lanceur adullact --source /srv/pastell/depot --dest /srv/ezged/cold/actes --index idx
  lanceur adullact -s /srv/s2low/in -d /srv/cold/helios --type helios --archive /srv/s2low/done \\
      --failed /srv/s2low/failed

crontab line (every minute; overlapping runs exit with code 6 and do nothing):
  * * * * *  lanceur adullact --source /srv/pastell/depot --dest /srv/ezged/cold/actes --index idx

Environment: LANCEUR_DEST, LANCEUR_STATE_DIR, RUST_LOG (e.g. RUST_LOG=debug).

Exit codes: 0 done, 1 some envelopes failed or files stayed untaken past --grace-period,
2 usage, 4 source folder unavailable,
5 COLD folder not writable, 6 already running.";

/// `--type`: which envelopes a launcher takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum EnvelopeType {
    /// Recognise each envelope's type from its content
    #[default]
    Auto,
    /// Actes (collectivity and prefecture): ACTES XML, S²LOW tarballs, Pastell actes
    #[value(name = "acte_nature")]
    ActeNature,
    /// PES V2 (collectivity and treasury): PES_Aller (with PES_PJ), PES_Retour, PES_ACQUIT
    /// and their acknowledgements
    Helios,
    /// Chorus Pro invoices: CPPFacturePivot, CPPFactureMixte, CPPStatut, CII and UBL invoices
    #[value(name = "chorus_fact")]
    ChorusFact,
}

#[derive(Debug, Args, Clone)]
pub struct AdullactArgs {
    /// The folder where the platform drops its envelopes
    #[arg(
        value_hint = clap::ValueHint::DirPath,
        short = 's',
        long,
        value_name = "FOLDER",
        long_help = "The folder where Pastell's depot connector or S²LOW drops envelopes. Its \
subfolders are folder envelopes (taken once their --marker is there); its .zip, .tar.gz and \
.tgz files are archive envelopes; its other files are grouped around the file that names them \
(metadata file, ACTES, PES or Chorus XML). A file that nothing names is left alone, and \
reported once it is older than --grace-period."
    )]
    pub source: PathBuf,

    /// Envelope type: auto, acte_nature, helios or chorus_fact
    #[arg(
        long = "type",
        value_enum,
        default_value_t = EnvelopeType::Auto,
        value_name = "TYPE",
        long_help = "auto (default): recognise each envelope's type from its content (ACTES, PES \
or Chorus XML, Pastell's flux type or keys); an envelope with none of them is deposited as \
ENVELOPE_TYPE = generic. acte_nature, helios, chorus_fact: this folder holds that type only; an \
envelope recognised as another type fails (and goes to --failed), and one without a recognisable \
type is taken as this type."
    )]
    pub envelope_type: EnvelopeType,

    /// Take an envelope only once it has not changed for this long
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5s",
        value_parser = parse_duration,
        long_help = "An envelope with a file more recent than this is left for a later run, \
because the platform may still be writing it; sizes and times are checked again just before it \
is taken. Examples: 5s (default), 1m, 0s to take envelopes at once."
    )]
    pub min_age: Duration,

    #[command(flatten)]
    pub grace: GraceArgs,

    /// Name of the file that marks a folder envelope complete
    #[arg(
        long,
        value_name = "NAME",
        default_value = "fichier_termine.txt",
        long_help = "A folder envelope is taken only once this file is in it: Pastell's depot \
connector writes it after everything else when its \"create a completion file\" option is on \
(turn it on; its name is configurable there too). The marker itself is not deposited. Default: \
fichier_termine.txt."
    )]
    pub marker: String,

    /// Move deposited envelopes here instead of deleting them
    #[arg(
        value_hint = clap::ValueHint::DirPath,
        long,
        value_name = "FOLDER",
        long_help = "After an envelope's documents are deposited and journaled, move the \
envelope (folder, archive or files) to FOLDER instead of deleting it. A name already present \
gets a number. The folder must exist."
    )]
    pub archive: Option<PathBuf>,

    /// Move envelopes that cannot be decoded here
    #[arg(
        value_hint = clap::ValueHint::DirPath,
        long,
        value_name = "FOLDER",
        long_help = "An envelope that cannot be decoded is reported (exit code 1) and, without \
this option, left in place, so it is reported again on every run until someone removes it. With \
it, the envelope is moved to FOLDER and the message says so. The folder must exist."
    )]
    pub failed: Option<PathBuf>,

    /// Refuse an envelope that expands to more than this (e.g. 500M, 2G)
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "2G",
        value_parser = parse_size,
        long_help = "Bound on the bytes an envelope's archives expand to, counted as they are \
read (nested attachments included): past it the envelope is refused as a possible zip bomb and \
nothing of it is deposited. Suffixes K, M, G. Default: 2G."
    )]
    pub max_expanded_size: u64,

    /// Refuse an envelope whose archives hold more files than this
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10_000,
        long_help = "Bound on the number of files in an envelope's archives (nested attachments \
included): past it the envelope is refused. Default: 10000."
    )]
    pub max_entries: usize,

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
    fn adullact_flags_parse() {
        let cli = Cli::try_parse_from([
            "lanceur",
            "adullact",
            "-s",
            "in",
            "-d",
            "cold",
            "--type",
            "chorus_fact",
            "--marker",
            "FIN",
            "--archive",
            "a",
            "--failed",
            "f",
            "--max-expanded-size",
            "500M",
            "--max-entries",
            "50",
            "--index",
            "json",
        ])
        .unwrap();
        let Command::Adullact(args) = cli.command else {
            panic!("not adullact");
        };
        assert_eq!(args.envelope_type, EnvelopeType::ChorusFact);
        assert_eq!(args.marker, "FIN");
        assert_eq!(args.archive, Some(PathBuf::from("a")));
        assert_eq!(args.failed, Some(PathBuf::from("f")));
        assert_eq!(args.max_expanded_size, 500 << 20);
        assert_eq!(args.max_entries, 50);
        assert_eq!(args.min_age, Duration::from_secs(5));
        assert_eq!(args.common.index, IndexFormat::Json);
        let defaults = Cli::try_parse_from(["lanceur", "adullact", "-s", "i", "-d", "c"]).unwrap();
        let Command::Adullact(args) = defaults.command else {
            panic!("not adullact");
        };
        assert_eq!(args.envelope_type, EnvelopeType::Auto);
        assert_eq!(args.marker, "fichier_termine.txt");
        assert!(Cli::try_parse_from([
            "lanceur", "adullact", "-s", "i", "-d", "c", "--type", "pes"
        ])
        .is_err());
    }
}
