//! Where launchers keep their state when `--state-dir` (or `LANCEUR_STATE_DIR`) is not given.
//!
//! A journal is what keeps a launcher from depositing a mailbox twice, so two runs of one launcher
//! must find the same one. A per-user default forks it as soon as the launcher is tried as root and
//! then scheduled as a service account, or tried by a person and run by the Task Scheduler as a
//! service: each would start an empty journal and, with `--select all` or `--after keep`, deposit
//! everything again. So the default is system-wide whenever lanceur runs as an administrator or as
//! a service, and per-user only for a person's own account:
//!
//! - Linux and other Unix systems: `/var/lib/lanceur` when the effective user is root, or a system
//!   account (a uid below 1000, the range Debian's `adduser --system` and systemd's `DynamicUser`
//!   use), or has no home (`HOME` unset or empty, as under some service managers); otherwise
//!   `$XDG_STATE_HOME/lanceur` or `~/.local/state/lanceur`.
//! - Windows: `%ProgramData%\lanceur` for the service accounts (LocalSystem, LocalService,
//!   NetworkService, whose profiles live under `%SystemRoot%`) and when there is no profile at
//!   all; otherwise `%LOCALAPPDATA%\lanceur`.
//!
//! The README says the same in "State, journal and resetting a launcher".

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

/// The state folder of launchers that are given none.
pub(super) fn default_state_root() -> Result<PathBuf> {
    if let Some(root) = system_root() {
        return Ok(root);
    }
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .map(|dir| dir.join("lanceur"))
        .ok_or_else(|| {
            anyhow!(
                "cannot find a folder for lanceur's state; give --state-dir or LANCEUR_STATE_DIR"
            )
        })
}

/// The system-wide folder, when this account is one that must use it.
#[cfg(unix)]
fn system_root() -> Option<PathBuf> {
    let uid = rustix::process::geteuid().as_raw();
    let home = std::env::var_os("HOME");
    is_service_account(uid, home.as_deref().map(Path::new))
        .then(|| PathBuf::from("/var/lib/lanceur"))
}

/// Root, a system account, or an account without a home.
#[cfg(unix)]
fn is_service_account(uid: u32, home: Option<&Path>) -> bool {
    /// The first uid Debian (and most distributions) give to people; below are system accounts.
    const FIRST_PERSON_UID: u32 = 1000;
    uid < FIRST_PERSON_UID || home.is_none_or(|home| home.as_os_str().is_empty())
}

#[cfg(windows)]
fn system_root() -> Option<PathBuf> {
    let profile = std::env::var_os("USERPROFILE").map(PathBuf::from);
    let system_root = std::env::var_os("SystemRoot").map(PathBuf::from);
    if !is_service_profile(profile.as_deref(), system_root.as_deref()) {
        return None;
    }
    let data = std::env::var_os("ProgramData")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"));
    Some(data.join("lanceur"))
}

/// LocalSystem's profile is `%SystemRoot%\System32\config\systemprofile`, LocalService's and
/// NetworkService's `%SystemRoot%\ServiceProfiles\…`: profiles under the Windows folder.
#[cfg(windows)]
fn is_service_profile(profile: Option<&Path>, system_root: Option<&Path>) -> bool {
    match (profile, system_root) {
        (None, _) => true,
        (Some(profile), Some(system_root)) => {
            let lower = |p: &Path| p.to_string_lossy().to_lowercase();
            lower(profile).starts_with(&lower(system_root))
        }
        (Some(_), None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn root_system_accounts_and_accounts_without_a_home_share_one_state_folder() {
        let home = Some(Path::new("/home/marie"));
        assert!(is_service_account(0, home), "root");
        assert!(
            is_service_account(998, Some(Path::new("/var/lib/ezged"))),
            "adduser --system"
        );
        assert!(is_service_account(1001, None), "no HOME");
        assert!(is_service_account(1001, Some(Path::new(""))), "empty HOME");
        assert!(!is_service_account(1000, home), "a person");
        assert!(!is_service_account(65_000, home), "a person");
    }

    #[cfg(windows)]
    #[test]
    fn windows_service_accounts_share_program_data() {
        let windows = Some(Path::new(r"C:\Windows"));
        let system = Path::new(r"C:\WINDOWS\system32\config\systemprofile");
        assert!(is_service_profile(Some(system), windows));
        let network = Path::new(r"C:\Windows\ServiceProfiles\NetworkService");
        assert!(is_service_profile(Some(network), windows));
        assert!(is_service_profile(None, windows));
        assert!(!is_service_profile(
            Some(Path::new(r"C:\Users\marie")),
            windows
        ));
    }
}
