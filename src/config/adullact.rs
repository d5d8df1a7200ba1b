//! `lanceur adullact`: checking the envelope folder options.

use anyhow::{bail, Result};

use super::{absolute, common, derived_name, Folders};
use crate::cli::{AdullactArgs, EnvelopeType};
use crate::extract::archive::Limits;
use crate::settings::{AdullactConfig, Kind, Launcher, SourceConfig};

pub(super) fn launcher(args: AdullactArgs) -> Result<Launcher> {
    let archive = args.archive.as_deref().map(absolute).transpose()?;
    let failed = args.failed.as_deref().map(absolute).transpose()?;
    // Any subfolder of the source folder is an envelope, so a COLD folder inside it would be one.
    let folders = Folders::check(
        &args.source,
        &args.common.dest,
        "envelopes",
        true,
        &[
            ("archive", archive.as_deref()),
            ("failed", failed.as_deref()),
        ],
    )?;
    let marker = args.marker.trim().to_string();
    if marker.is_empty() || marker.contains(['/', '\\']) || marker.starts_with('.') {
        bail!("invalid --marker {marker:?}: give a plain file name such as fichier_termine.txt");
    }
    if args.max_entries == 0 || args.max_expanded_size == 0 {
        bail!("--max-entries and --max-expanded-size must be above 0");
    }
    let derived = derived_name("adullact", &folders.real_folder);
    let source = SourceConfig::Adullact(AdullactConfig {
        folder: folders.folder,
        kind: match args.envelope_type {
            EnvelopeType::Auto => None,
            EnvelopeType::ActeNature => Some(Kind::ActeNature),
            EnvelopeType::Helios => Some(Kind::Helios),
            EnvelopeType::ChorusFact => Some(Kind::ChorusFact),
        },
        min_age: args.min_age,
        grace_period: args.grace.grace_period,
        archive,
        // A dry run changes nothing at the source, not even by setting a failed envelope aside.
        failed: if args.common.dry_run { None } else { failed },
        marker,
        limits: Limits {
            max_entries: args.max_entries,
            max_bytes: args.max_expanded_size,
            ..Limits::default()
        },
    });
    common(args.common, folders.dest, &derived, source)
}
