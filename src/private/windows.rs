//! Owner-only ACLs on Windows, through `windows-permissions` (safe wrappers of the Win32 security
//! API; lanceur itself forbids `unsafe`).
//!
//! Reading: the file's owner and ACL are asked for, in their text form (SDDL), and judged by
//! `sddl.rs`. The text form also carries a null ACL, which the crate's binary accessors cannot
//! hand back.
//!
//! Setting: the whole ACL in one SDDL string, protected (`P`: nothing inherited from the folder
//! above), full access (`FA`) for the account lanceur runs as, SYSTEM (`SY`) and the
//! Administrators (`BA`), passed on to the files and folders inside (`OICI`) for a folder.

use std::ffi::OsStr;
use std::io;
use std::path::Path;

use windows_permissions::constants::SeObjectType;
use windows_permissions::constants::SecurityInformation as Info;
use windows_permissions::{utilities, wrappers};

use super::sddl;

pub fn readable_by_others(path: &Path) -> io::Result<bool> {
    let text = wrappers::GetNamedSecurityInfo(
        path.as_os_str(),
        SeObjectType::SE_FILE_OBJECT,
        Info::Dacl | Info::Owner,
    )?
    .as_sddl()?;
    Ok(sddl::lets_others_read(&text.to_string_lossy(), &me()?))
}

/// The account lanceur runs as, `S-1-…`.
fn me() -> io::Result<String> {
    Ok(utilities::current_process_sid()?.to_string())
}

pub fn protect(path: &Path) -> io::Result<()> {
    let me = me()?;
    let inherit = if path.is_dir() { "OICI" } else { "" };
    let sddl = format!("D:P(A;{inherit};FA;;;{me})(A;{inherit};FA;;;SY)(A;{inherit};FA;;;BA)");
    set_acl(path, &sddl, true)
}

/// Replaces the ACL of `path` with the one `sddl` describes.
fn set_acl(path: &Path, sddl: &str, protected: bool) -> io::Result<()> {
    let descriptor =
        wrappers::ConvertStringSecurityDescriptorToSecurityDescriptor(OsStr::new(sddl))?;
    let acl = descriptor
        .dacl()
        .ok_or_else(|| io::Error::other("the ACL to set is empty"))?;
    let what = if protected {
        Info::Dacl | Info::ProtectedDacl
    } else {
        Info::Dacl | Info::UnprotectedDacl
    };
    wrappers::SetNamedSecurityInfo(
        path.as_os_str(),
        SeObjectType::SE_FILE_OBJECT,
        what,
        None,
        None,
        Some(acl),
        None,
    )
}

/// `icacls` with SIDs (`*S-1-…`), which every language of Windows understands, for the account
/// lanceur runs as: a scheduled task's account is seldom the administrator reading the warning.
pub fn remedy(path: &Path) -> String {
    let me = me().unwrap_or_else(|_| "%USERNAME%".to_string());
    let inherit = if path.is_dir() { "(OI)(CI)" } else { "" };
    format!(
        "run icacls \"{}\" /inheritance:r /grant:r *{me}:{inherit}F *S-1-5-18:{inherit}F \
         *S-1-5-32-544:{inherit}F",
        path.display()
    )
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Lets Everyone read `path` (and its owner do anything), as a shared folder would.
    pub fn open_to_everyone(path: &Path) {
        set_acl(
            path,
            &format!("D:(A;;FA;;;{})(A;;FR;;;WD)", me().unwrap()),
            false,
        )
        .unwrap();
    }

    #[test]
    fn the_acl_of_a_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "x").unwrap();
        // In a private folder (the user's own temporary folder), a new file is private too.
        assert!(!readable_by_others(&path).unwrap());
        open_to_everyone(&path);
        assert!(readable_by_others(&path).unwrap());
    }

    #[test]
    fn the_remedy_names_the_account_by_its_sid() {
        let me = me().unwrap();
        let text = remedy(Path::new(r"C:\ProgramData\lanceur\factures.toml"));
        assert!(
            text.starts_with(r#"run icacls "C:\ProgramData\lanceur\factures.toml" /inheritance:r"#),
            "{text}"
        );
        assert!(text.contains(&format!("*{me}:F")), "{text}");
    }
}
