//! The token cache of a delegated launcher: `o365-tokens.json` in its state folder.
//!
//! It holds the refresh token, the current access token and what they were obtained for (client id,
//! tenant, sign-in endpoint, scopes), so that a run whose settings no longer match asks for a new
//! login instead of failing obscurely. It is readable by its owner only (0600 on Unix, an owner-only
//! ACL on Windows, see `private.rs`), made so before the token is written into it, and always
//! replaced whole: written under a temporary name, fsynced, renamed over the old one, the folder
//! fsynced.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::durable;
use crate::exit::Failure;
use crate::private;

pub const CACHE_FILE: &str = "o365-tokens.json";

/// The token cache, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cache {
    pub version: u32,
    pub client_id: String,
    pub tenant: String,
    pub login_url: String,
    /// The scopes granted at login, space-separated, as requested.
    pub scope: String,
    pub refresh_token: String,
    #[serde(default)]
    pub access_token: String,
    /// Seconds since the epoch.
    #[serde(default)]
    pub expires_at: u64,
}

/// Whether `name` is a draft of the cache, as `save` writes it before the rename.
pub fn is_draft(name: &str) -> bool {
    name.starts_with(&format!(".{CACHE_FILE}.")) && name.ends_with(".tmp")
}

/// Replaces the cache atomically, readable by its owner only.
pub fn save(path: &Path, cache: &Cache) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let write = || -> std::io::Result<()> {
        let tmp = dir.join(format!(".{CACHE_FILE}.{}.tmp", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let result = options.open(&tmp).and_then(|mut file| {
            // On Windows the new file takes the folder's ACL, which may let others read it (a
            // state folder made by hand, or by an older lanceur): it is narrowed while empty.
            if let Err(err) = private::restrict(&tmp) {
                log::warn!(
                    "the token cache {} could not be made readable by this account only ({err}); \
                     {}",
                    path.display(),
                    private::remedy(dir)
                );
            }
            let text = serde_json::to_vec_pretty(cache).map_err(std::io::Error::other)?;
            file.write_all(&text)?;
            file.sync_all()
        });
        let result = result.and_then(|()| fs::rename(&tmp, path));
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
        durable::sync_dir(dir)
    };
    write()
        .with_context(|| format!("cannot save the token cache {}", path.display()))
        .context(Failure::Cold)
}

/// A cache someone made readable to others is made private again.
pub fn tighten_permissions(path: &Path) {
    if !private::readable_by_others(path).unwrap_or(false) {
        return;
    }
    log::warn!(
        "{} was readable by others; making it private again",
        path.display()
    );
    if let Err(err) = private::restrict(path) {
        log::warn!(
            "{} is still readable by others ({err}); {}",
            path.display(),
            private::remedy(path)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_is_private_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        // Even in a folder that others may read.
        private::tests::open_to_everyone(dir.path());
        let path = dir.path().join(CACHE_FILE);
        let mut cache = Cache {
            version: 1,
            client_id: "c".into(),
            tenant: "t".into(),
            login_url: "u".into(),
            scope: "s".into(),
            refresh_token: "one".into(),
            access_token: String::new(),
            expires_at: 0,
        };
        save(&path, &cache).unwrap();
        cache.refresh_token = "two".into();
        save(&path, &cache).unwrap();
        let read: Cache = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(read.refresh_token, "two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(is_draft(&format!(".{CACHE_FILE}.1234.tmp")));
        assert!(!is_draft(CACHE_FILE));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!private::readable_by_others(&path).unwrap());
    }
}
