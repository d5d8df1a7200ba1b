//! Files and folders readable by their owner only: the launcher's state folder (journal, lock, the
//! Office 365 token cache, downloads in progress), and the check that a file holding a secret (a
//! launcher file, a password file) is not readable by other users.
//!
//! On Unix that is the mode: 0700 and 0600, and "others" are the group and everyone else. On
//! Windows it is the file's ACL: owner-only means a protected ACL (nothing inherited from the
//! folder above) that grants full control to the account lanceur runs as, SYSTEM and the
//! Administrators group, and nobody else; a folder passes those entries on to what is created in
//! it. "Others" are every account but those and the file's owner, so a file that Users,
//! Authenticated Users or Everyone may read is readable by others (`windows.rs`, `sddl.rs`).
//!
//! A file system may not keep permissions (FAT, exFAT, some network shares): `restrict` reads the
//! permissions back after setting them and fails when others can still read, so that the caller
//! says so instead of believing the file private.

use std::io;
use std::path::Path;

#[cfg(any(windows, test))]
mod sddl;
#[cfg(windows)]
mod windows;

/// Whether users other than the owner (and, on Windows, SYSTEM and the Administrators) can read
/// `path`.
pub fn readable_by_others(path: &Path) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Ok(std::fs::metadata(path)?.permissions().mode() & 0o077 != 0)
    }
    #[cfg(windows)]
    {
        windows::readable_by_others(path)
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = path;
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// Makes `path` (a file or a folder) readable by its owner only, unless it is already, and checks
/// that it then is.
pub fn restrict(path: &Path) -> io::Result<()> {
    if !readable_by_others(path)? {
        return Ok(());
    }
    protect(path)
}

/// Makes `path` readable by its owner only, and checks that it then is.
fn protect(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
    }
    #[cfg(windows)]
    windows::protect(path)?;
    if readable_by_others(path)? {
        return Err(io::Error::other(
            "other users can still read it: its file system does not seem to keep permissions",
        ));
    }
    Ok(())
}

/// Creates the folder `path`, and the folders above it, unless it exists. The folder itself, when
/// created here, is readable by its owner only, and so is what is later created in it. A folder
/// that exists is left as it is. `Ok(Some(err))`: created, but it could not be made private.
pub fn create_dir(path: &Path) -> io::Result<Option<io::Error>> {
    if path.is_dir() {
        return Ok(None);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    #[cfg(unix)]
    let builder = {
        use std::os::unix::fs::DirBuilderExt;
        let mut builder = std::fs::DirBuilder::new();
        builder.mode(0o700);
        builder
    };
    #[cfg(not(unix))]
    let builder = std::fs::DirBuilder::new();
    match builder.create(path) {
        // On Windows a new folder takes what the folder above passes on: a protected ACL of its
        // own replaces that when it lets others read.
        Ok(()) => Ok(restrict(path).err()),
        // Another run created it at the same instant.
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(None),
        Err(err) => Err(err),
    }
}

/// Options that create a file readable by its owner only: 0600 on Unix; on Windows the file takes
/// what its folder passes on, which is owner-only in a folder `create_dir` made. An existing file
/// keeps its permissions.
pub fn options() -> std::fs::OpenOptions {
    #[allow(unused_mut)]
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Creates (or truncates) `path` for writing, owner-only when created (see `options`).
pub fn create_file(path: &Path) -> io::Result<std::fs::File> {
    options().write(true).create(true).truncate(true).open(path)
}

/// The command that makes `path` readable by the account lanceur runs as only, for a warning.
pub fn remedy(path: &Path) -> String {
    #[cfg(windows)]
    {
        windows::remedy(path)
    }
    #[cfg(not(windows))]
    {
        let mode = if path.is_dir() { "700" } else { "600" };
        format!("run chmod {mode} {}", path.display())
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Lets everyone read `path`, as a careless copy or a shared folder would.
    pub fn open_to_everyone(path: &Path) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = if path.is_dir() { 0o755 } else { 0o644 };
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(windows)]
        windows::tests::open_to_everyone(path);
    }

    #[test]
    fn a_file_open_to_everyone_is_restricted_to_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.toml");
        std::fs::write(&path, "password = 'x'").unwrap();
        open_to_everyone(&path);
        assert!(readable_by_others(&path).unwrap());
        restrict(&path).unwrap();
        assert!(!readable_by_others(&path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "password = 'x'");
        // Already private: nothing to do.
        restrict(&path).unwrap();
        assert!(remedy(&path).contains(&path.display().to_string()));
    }

    #[test]
    fn a_new_folder_and_what_is_created_in_it_are_private() {
        let dir = tempfile::tempdir().unwrap();
        open_to_everyone(dir.path());
        let state = dir.path().join("lanceur").join("factures");
        assert!(create_dir(&state).unwrap().is_none());
        assert!(!readable_by_others(&state).unwrap());
        let journal = state.join("journal");
        std::fs::write(&journal, "{}\n").unwrap();
        #[cfg(unix)]
        {
            // The umask decides a new file's mode; the folder keeps others out of it.
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&state).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        #[cfg(windows)]
        assert!(!readable_by_others(&journal).unwrap());
        // A folder that exists is left alone.
        open_to_everyone(&state);
        assert!(create_dir(&state).unwrap().is_none());
        assert!(readable_by_others(&state).unwrap());
    }
}
