//! `lanceur dir`: checking the folder options.

use anyhow::Result;

use super::{absolute, common, derived_name, Folders};
use crate::cli::DirArgs;
use crate::settings::{DirConfig, Launcher, SourceConfig};

pub(super) fn launcher(args: DirArgs) -> Result<Launcher> {
    let archive = args.archive.as_deref().map(absolute).transpose()?;
    let failed = args.failed.as_deref().map(absolute).transpose()?;
    let folders = Folders::check(
        &args.source,
        &args.common.dest,
        "files",
        args.recursive,
        &[
            ("archive", archive.as_deref()),
            ("failed", failed.as_deref()),
        ],
    )?;
    let derived = derived_name("dir", &folders.real_folder);
    let source = SourceConfig::Dir(DirConfig {
        folder: folders.folder,
        recursive: args.recursive,
        min_age: args.min_age,
        grace_period: args.grace.grace_period,
        archive,
        failed,
    });
    common(args.common, folders.dest, &derived, source)
}
