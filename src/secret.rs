//! Secrets (passwords, tokens, client secrets) that must never reach a log line or a process listing.
//!
//! A secret comes from an environment variable or a file, never from a command-line value, because
//! `ps` and the Windows Task Scheduler's history show command lines to other users. `Debug` prints
//! `[redacted]`, so `log::debug!("{launcher:#?}")` stays safe.

use std::fmt;
use std::path::Path;

use anyhow::{anyhow, Context, Result};

use crate::exit::Failure;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// Reads a secret file. One trailing line break is dropped (editors add one); anything else is kept,
    /// since passwords may end in spaces.
    pub fn from_file(path: &Path) -> Result<Secret> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read secret file {}", path.display()))
            .context(Failure::Usage)?;
        let value = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(&text);
        if value.is_empty() {
            return Err(anyhow!("secret file {} is empty", path.display())).context(Failure::Usage);
        }
        if let Some(warning) = exposed(path) {
            // Said before logging starts, as a launcher file's warning is: one line on stderr.
            let line = format!("lanceur: {warning}\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
        }
        Ok(Secret(value.to_string()))
    }

    /// The value, for the one place that sends it over the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The warning for a file holding a secret that other users can read, if it is one (see
/// `private`: the mode on Unix, the ACL on Windows), with the command that fixes it. A file whose
/// permissions cannot be read draws none: reading the secret from it then says what is wrong.
pub fn exposed(path: &Path) -> Option<String> {
    crate::private::readable_by_others(path)
        .unwrap_or(false)
        .then(|| {
            format!(
                "{} holds a secret but other users can read it; {}",
                path.display(),
                crate::private::remedy(path)
            )
        })
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The secret from `file` if given, else from the environment variable `env_value` (already read by
/// clap). `what` names the secret and `how` the ways to give it, for the error when neither is there.
pub fn resolve(
    file: Option<&Path>,
    env_value: Option<&str>,
    what: &str,
    how: &str,
) -> Result<Option<Secret>> {
    if let Some(path) = file {
        return Secret::from_file(path).map(Some);
    }
    match env_value {
        Some("") => Err(anyhow!("{what} is empty; {how}")).context(Failure::Usage),
        Some(value) => Ok(Some(Secret::new(value))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(secret)), "Some([redacted])");
    }

    #[test]
    fn file_keeps_inner_spaces_and_drops_one_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, " pass word \n").unwrap();
        assert_eq!(Secret::from_file(&path).unwrap().expose(), " pass word ");
    }

    #[test]
    fn empty_or_missing_file_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "\n").unwrap();
        let err = Secret::from_file(&path).unwrap_err();
        assert_eq!(crate::exit::code_for(&err), crate::exit::USAGE);
        let err = Secret::from_file(&dir.path().join("missing")).unwrap_err();
        assert_eq!(crate::exit::code_for(&err), crate::exit::USAGE);
    }
}
