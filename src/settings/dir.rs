//! `lanceur dir`: a folder's files.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct DirConfig {
    /// Absolute.
    pub folder: PathBuf,
    pub recursive: bool,
    /// A file is taken once it has not changed for this long.
    pub min_age: Duration,
    /// How long a file that cannot be taken as it stands may stay unchanged before each run
    /// reports it (`--grace-period`).
    pub grace_period: Duration,
    /// Where taken files go; `None` deletes them.
    pub archive: Option<PathBuf>,
    /// Where files set aside go; `None` leaves them in place.
    pub failed: Option<PathBuf>,
}
