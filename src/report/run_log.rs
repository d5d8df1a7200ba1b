//! `--log-file`: one JSON line per item deposited or failed, appended, for monitoring.
//!
//! The file is opened in append mode before the run does anything, so a path that cannot be written
//! stops the run at once rather than after the work. Each line is written with a single `write` on
//! an `O_APPEND` file, so launchers sharing one log never interleave inside a line. Lines are not
//! synced: the journal is what makes a run safe, the log only tells about it. Should writing fail
//! half-way (a full disk), the run goes on, says so once, and logs no more.
//!
//! A line: `{"time":"2025-01-31T08:15:02.123Z","launcher":"factures","event":"deposited",
//! "item":"UID 42 «Facture»","key":"imap:INBOX:7:42","documents":["facture.pdf"],"bytes":5120}`;
//! `failed` and `acknowledge_failed` lines carry `error` instead of `documents` and `bytes`;
//! `not_taken` lines (a file a folder source left untaken past `--grace-period`) carry `item` and
//! `error` only; `unmatched` lines (an item none of whose documents passed the filters, left at the
//! source) `item` and `key`; `set_aside` lines (an item that failed once too often) `error` too.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::exit::Failure;

/// What happened to an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Its documents have their final names in the COLD folder and the journal says so.
    Deposited,
    /// It could not be fetched, read or deposited; it stays at the source (or in `--failed`).
    Failed,
    /// It was deposited, but the source's post-action failed; the next run applies it again.
    AcknowledgeFailed,
    /// It was left at the source, untaken as it stands, for longer than `--grace-period`.
    NotTaken,
    /// None of its documents passed the filters: left at the source, not deleted or moved.
    Unmatched,
    /// It failed `--set-aside-after` runs in a row (or could not be decoded) and was set aside.
    SetAside,
}

/// One line of the log.
#[derive(Debug, Serialize)]
pub struct Line<'a> {
    pub event: Event,
    pub item: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documents: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

/// The open log of one run; cheap to clone.
#[derive(Debug, Clone)]
pub struct RunLog {
    path: PathBuf,
    file: Arc<File>,
    broken: Arc<AtomicBool>,
}

impl RunLog {
    /// Opens (or creates) `path` for appending. Failing is a configuration error: exit 2.
    pub fn open(path: &Path) -> Result<RunLog> {
        // Owner-only when created here: it names items and attachments. On Windows a new file
        // takes its folder's ACL, narrowed if it lets others read (a failure to is only logged:
        // the folder is the administrator's choice).
        let open = || -> std::io::Result<File> {
            let created = crate::private::options()
                .create_new(true)
                .append(true)
                .open(path);
            match created {
                Ok(file) => {
                    if let Err(err) = crate::private::restrict(path) {
                        log::warn!(
                            "--log-file {} stays as its folder makes it: {err}",
                            path.display()
                        );
                    }
                    Ok(file)
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    std::fs::OpenOptions::new().append(true).open(path)
                }
                Err(err) => Err(err),
            }
        };
        let file = open()
            .with_context(|| {
                format!(
                    "cannot open --log-file {} for appending; give a file in a folder this user \
                     can write to",
                    path.display()
                )
            })
            .context(Failure::Usage)?;
        Ok(RunLog {
            path: path.to_path_buf(),
            file: Arc::new(file),
            broken: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Appends `line` for `launcher`. Returns the error message the first time writing fails, for
    /// the caller to report; later lines are dropped quietly.
    pub fn write(&self, launcher: &str, line: &Line) -> Option<String> {
        if self.broken.load(Ordering::Relaxed) {
            return None;
        }
        #[derive(Serialize)]
        struct Stamped<'a> {
            time: String,
            launcher: &'a str,
            #[serde(flatten)]
            line: &'a Line<'a>,
        }
        let stamped = Stamped {
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            launcher,
            line,
        };
        let mut text = match serde_json::to_vec(&stamped) {
            Ok(text) => text,
            Err(err) => return Some(format!("cannot encode a --log-file line: {err}")),
        };
        text.push(b'\n');
        match (&*self.file).write_all(&text) {
            Ok(()) => None,
            Err(err) => {
                self.broken.store(true, Ordering::Relaxed);
                Some(format!(
                    "cannot write to --log-file {}: {err}; the run goes on without it",
                    self.path.display()
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_appended_and_parse() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        std::fs::write(&path, "earlier line\n").unwrap();
        let log = RunLog::open(&path).unwrap();
        let deposited = Line {
            event: Event::Deposited,
            item: "a \"b\".pdf",
            key: "dir:a:1:2",
            documents: Some(vec!["a.pdf"]),
            bytes: Some(3),
            error: None,
        };
        assert_eq!(log.write("scans", &deposited), None);
        let failed = Line {
            event: Event::AcknowledgeFailed,
            item: "UID 4",
            key: "imap:INBOX:1:4",
            documents: None,
            bytes: None,
            error: Some("gone"),
        };
        assert_eq!(log.write("scans", &failed), None);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "earlier line");
        let first: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(first["event"], "deposited");
        assert_eq!(first["item"], "a \"b\".pdf");
        assert_eq!(first["documents"][0], "a.pdf");
        assert!(first["time"].as_str().unwrap().ends_with('Z'));
        let second: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
        assert_eq!(second["event"], "acknowledge_failed");
        assert_eq!(second["error"], "gone");
        assert!(second.get("bytes").is_none());
    }

    #[test]
    fn an_unopenable_log_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = RunLog::open(&dir.path().join("missing/run.jsonl")).unwrap_err();
        assert_eq!(crate::exit::code_for(&err), crate::exit::USAGE);
    }
}
