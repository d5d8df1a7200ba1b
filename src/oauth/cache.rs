//! The token cache of a delegated launcher: a JSON file in its state folder (`o365-tokens.json`
//! for Office 365 launchers, `oauth-tokens.json` for IMAP and POP3 ones).
//!
//! It holds the refresh token, the current access token and what they were obtained for (provider,
//! client id, tenant, sign-in endpoint, scopes), so that a run whose settings no longer match asks
//! for a new login instead of failing obscurely, and when the sign-in was made and last renewed,
//! for the expiry warnings. It is readable by its owner only and always replaced whole: written
//! under a temporary name, fsynced, renamed over the old one, the folder fsynced. Who may read it
//! is decided in one place, `restrict`, through `private`: mode 0600 on Unix, an owner-only ACL on
//! Windows, set before the first byte of a token is written.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::durable;
use crate::exit::Failure;
use crate::private;

/// The token cache, as stored. Files written before the provider and the dates were recorded
/// read as Microsoft sign-ins of unknown age.
#[derive(Clone, Serialize, Deserialize)]
pub struct Cache {
    pub version: u32,
    #[serde(default = "microsoft")]
    pub provider: String,
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
    /// When the person signed in (seconds since the epoch; 0: unknown).
    #[serde(default)]
    pub signed_in_at: u64,
    /// When the refresh token was last obtained or used (seconds since the epoch; 0: unknown).
    #[serde(default)]
    pub renewed_at: u64,
}

fn microsoft() -> String {
    "microsoft".to_string()
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("provider", &self.provider)
            .field("client_id", &self.client_id)
            .field("tenant", &self.tenant)
            .field("scope", &self.scope)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Whether `name` is a draft of a cache called `file`, as `save` writes it before the rename.
pub fn is_draft(name: &str, file: &str) -> bool {
    name.starts_with(&format!(".{file}.")) && name.ends_with(".tmp")
}

/// Replaces the cache atomically, readable by its owner only.
pub fn save(path: &Path, cache: &Cache) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("tokens");
    let write = || -> std::io::Result<()> {
        let tmp = dir.join(format!(".{file}.{}.tmp", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let result = private::options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .and_then(|mut file| {
                // Before the first byte of a token is written: on Windows the new file takes the
                // folder's ACL, which may let others read it (a state folder made by hand).
                restrict(&tmp);
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

/// The one place that decides who may read a token cache, called on each draft before a token is
/// written and on the cache before each use: a cache someone made readable to others is made
/// private again, and a file system that keeps no permissions is warned about with the remedy.
pub fn restrict(path: &Path) {
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
        let path = dir.path().join("oauth-tokens.json");
        let mut cache = Cache {
            version: 1,
            provider: microsoft(),
            client_id: "c".into(),
            tenant: "t".into(),
            login_url: "u".into(),
            scope: "s".into(),
            refresh_token: "one".into(),
            access_token: String::new(),
            expires_at: 0,
            signed_in_at: 0,
            renewed_at: 0,
        };
        save(&path, &cache).unwrap();
        cache.refresh_token = "two".into();
        save(&path, &cache).unwrap();
        restrict(&path);
        let read: Cache = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(read.refresh_token, "two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(is_draft(".oauth-tokens.json.1234.tmp", "oauth-tokens.json"));
        assert!(!is_draft("oauth-tokens.json", "oauth-tokens.json"));
        assert!(
            !format!("{cache:?}").contains("two"),
            "Debug shows no token"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!private::readable_by_others(&path).unwrap());
    }
}
