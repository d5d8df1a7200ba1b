//! What only Windows does, through the real lanceur.exe (under Wine in CI: `scripts/test-windows`).
//! See: issue 14.
//!
//! - `files.rs`: a file held open by its writer waits, and is reported past --grace-period; a
//!   rename interrupted by an older lanceur (two names, one file) is recognised; journal
//!   compaction works over an open journal; `.idx` sidecars keep LF line ends; links and
//!   junctions are refused (real Windows only).
//! - `acl.rs`: owner-only state folders and log files, and the warning for secrets other users
//!   can read.
//! - `volume.rs`: `lanceur check` names the volume and its free space, on one drive or two.
//! - `tls.rs`: SChannel's refusals of a certificate, in lanceur's words.
//!
//! Ctrl-C comes from the Linux side, as the SIGINT that Wine turns into it: `tests/wine.rs`.
//! `processprng.c` beside this file is test equipment, not a test: see its header.

use std::fs::{self, File};
use std::path::Path;

pub mod acl;
mod files;
mod tls;
mod volume;

/// Opens `path` as a program writing it would: with write access, sharing it with readers only
/// (`share` `FILE_SHARE_READ`), or with nobody (`0`), as some scanners and copies do.
fn hold_for_writing(path: &Path, share: u32) -> File {
    use std::os::windows::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .append(true)
        .share_mode(share)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot hold {}: {e}", path.display()))
}

const FILE_SHARE_READ: u32 = 0x1;

/// An environment variable `scripts/test-windows` sets for these tests; its absence is a failure,
/// never a skip.
fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: scripts/test-windows sets it (and starts what it points to) for \
             the Windows tests"
        )
    })
}
