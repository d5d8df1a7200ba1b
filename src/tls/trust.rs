//! Where the system's trust anchors are, and which of them to load up front.
//!
//! OpenSSL's own default (`SSL_CTX_set_default_verify_paths`, which native-tls calls, and then
//! loads the bundle a second time) parses the whole system bundle (`cert.pem`, some 150
//! certificates) on every run: tens of milliseconds of CPU, most of an idle run's cost, to check a
//! chain that needs one root. A hashed directory (`/etc/ssl/certs`, kept by
//! `update-ca-certificates` or `openssl rehash`) holds the same roots one file each, named after
//! their subject's hash, so OpenSSL can look up just the issuer it needs when it needs it
//! (`X509_LOOKUP_hash_dir`). So:
//!
//! - the directories are those OpenSSL would search: `SSL_CERT_DIR` (colon-separated) when set,
//!   else `OPENSSLDIR/certs`, else the usual places of other distributions (`openssl-probe`);
//!   only those holding hash-named entries (`5ad8a5d6.0`) are used, lazily;
//! - the bundle file is loaded up front only when the administrator named it (`SSL_CERT_FILE`),
//!   or when no hashed directory exists (Fedora and RHEL without their `directory-hash`): then it
//!   is the only store there is, as before.
//!
//! `--ca-file` replaces all of this (see `openssl.rs`): nothing of the system is read then.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// What to load: directories searched on demand, and a bundle parsed whole.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Anchors {
    pub hashed_dirs: Vec<PathBuf>,
    pub bundle: Option<PathBuf>,
}

/// The places a system keeps its trust anchors, before the environment says otherwise.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    pub dirs: Vec<PathBuf>,
    pub files: Vec<PathBuf>,
}

impl Defaults {
    /// OpenSSL's compiled-in places (`OPENSSLDIR/certs`, `OPENSSLDIR/cert.pem`), then those
    /// `openssl-probe` knows of, for an OpenSSL whose OPENSSLDIR is not where this system keeps
    /// its roots.
    pub fn of_this_system() -> Defaults {
        let mut defaults = Defaults::default();
        if let Some(dir) = openssl_dir() {
            defaults.dirs.push(dir.join("certs"));
            defaults.files.push(dir.join("cert.pem"));
        }
        let probed = openssl_probe::probe();
        defaults.dirs.extend(probed.cert_dir);
        defaults.files.extend(probed.cert_file);
        defaults
    }
}

/// `/usr/lib/ssl` out of OpenSSL's `OPENSSLDIR: "/usr/lib/ssl"`.
fn openssl_dir() -> Option<PathBuf> {
    let text = openssl::version::dir();
    let quoted = text.split_once('"')?.1.rsplit_once('"')?.0;
    (!quoted.is_empty()).then(|| PathBuf::from(quoted))
}

/// The anchors to load, from `SSL_CERT_DIR` and `SSL_CERT_FILE` (`env_dir`, `env_file`) and the
/// system's `defaults`; `hashed` tells whether a directory holds hash-named certificates.
pub fn anchors(
    env_dir: Option<OsString>,
    env_file: Option<OsString>,
    defaults: &Defaults,
    hashed: &dyn Fn(&Path) -> bool,
) -> Anchors {
    let candidates: Vec<PathBuf> = match env_dir.filter(|d| !d.is_empty()) {
        Some(dirs) => std::env::split_paths(&dirs).collect(),
        None => defaults.dirs.clone(),
    };
    let mut hashed_dirs: Vec<PathBuf> = Vec::new();
    for dir in candidates {
        // `/usr/lib/ssl/certs` is often a link to `/etc/ssl/certs`: one lookup is enough.
        let real = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        if !hashed_dirs.contains(&real) && hashed(&real) {
            hashed_dirs.push(real);
        }
    }
    let bundle = match env_file.filter(|f| !f.is_empty()) {
        Some(file) => Some(PathBuf::from(file)),
        None if hashed_dirs.is_empty() => defaults.files.iter().find(|f| f.is_file()).cloned(),
        None => None,
    };
    Anchors {
        hashed_dirs,
        bundle,
    }
}

/// Whether `dir` holds at least one certificate under its subject hash (`5ad8a5d6.0`), the names
/// `X509_LOOKUP_hash_dir` looks for.
pub fn is_hashed(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Some((hash, n)) = name.split_once('.') else {
            return false;
        };
        hash.len() == 8
            && hash.bytes().all(|b| b.is_ascii_hexdigit())
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults {
            dirs: vec!["/nowhere/a".into(), "/nowhere/b".into()],
            files: vec![],
        }
    }

    #[test]
    fn a_hashed_directory_is_searched_and_the_bundle_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("cert.pem");
        std::fs::write(&bundle, "").unwrap();
        let mut defaults = defaults();
        defaults.files.push(bundle.clone());
        let only_b = |d: &Path| d.ends_with("b");
        let got = anchors(None, None, &defaults, &only_b);
        assert_eq!(got.hashed_dirs, vec![PathBuf::from("/nowhere/b")]);
        assert_eq!(got.bundle, None);
        // No hashed directory: the bundle is all there is.
        let got = anchors(None, None, &defaults, &|_| false);
        assert!(got.hashed_dirs.is_empty());
        assert_eq!(got.bundle, Some(bundle));
    }

    #[test]
    fn the_environment_replaces_the_defaults_as_in_openssl() {
        let defaults = defaults();
        let got = anchors(
            Some("/env/one:/env/two".into()),
            Some("/env/bundle.pem".into()),
            &defaults,
            &|_| true,
        );
        assert_eq!(
            got.hashed_dirs,
            vec![PathBuf::from("/env/one"), PathBuf::from("/env/two")]
        );
        // Named by the administrator: loaded even beside a hashed directory.
        assert_eq!(got.bundle, Some(PathBuf::from("/env/bundle.pem")));
    }

    #[test]
    fn hash_named_entries_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("GlobalSign_Root.pem"), "").unwrap();
        std::fs::write(dir.path().join("ca-certificates.crt"), "").unwrap();
        assert!(!is_hashed(dir.path()));
        std::fs::write(dir.path().join("5ad8a5d6.0"), "").unwrap();
        assert!(is_hashed(dir.path()));
        assert!(!is_hashed(&dir.path().join("absent")));
    }
}
