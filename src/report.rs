//! What the user sees: one-line problems on standard error, the dry-run listing and the JSON summary
//! on standard output; for a person at a terminal, a progress display (`progress.rs`); for
//! monitoring, the `--log-file` lines (`run_log.rs`).
//!
//! cron mails whatever a job prints, so a run that went well prints nothing. Each problem is one line,
//! `lanceur: <launcher>: <what failed, for what, what to do>`, with every name from outside escaped
//! so that a hostile file name cannot rewrite the terminal or hide its real extension. Diagnostics
//! for developers go through `log` (`-v`, `RUST_LOG`) instead.
//!
//! Standard output may be a closed pipe (`lanceur … --json | head -c0`): writing there never panics,
//! and a broken pipe ends the output quietly without changing what the run did or its exit code.

use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use crate::item::{Item, Staged};
use crate::names::is_deceptive;

pub mod progress;
pub mod run_log;

pub use progress::Progress;
pub use run_log::RunLog;
use run_log::{Event, Line};

/// Escapes control, bidi and zero-width characters as `\u{…}` for printing.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || is_deceptive(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// One line on standard error for a problem met before any launcher is known (a launcher file that
/// cannot be read, an invalid option): `lanceur: <message>`.
pub fn problem_without_launcher(message: &str) {
    let line = format!("lanceur: {}\n", printable(message));
    // Nothing sensible can be done if standard error itself is gone.
    let _ = io::stderr().lock().write_all(line.as_bytes());
}

/// Prints problems for one launcher, draws its progress display and writes its run log.
#[derive(Debug, Clone)]
pub struct Reporter {
    launcher: String,
    progress: Option<Progress>,
    run_log: Option<RunLog>,
}

impl Reporter {
    pub fn new(launcher: &str) -> Reporter {
        Reporter {
            launcher: launcher.to_string(),
            progress: None,
            run_log: None,
        }
    }

    /// Shows `progress` (when there is one) while the run works.
    pub fn with_progress(mut self, progress: Option<Progress>) -> Reporter {
        self.progress = progress;
        self
    }

    /// Writes a line per deposited or failed item to `run_log` (when there is one).
    pub fn with_run_log(mut self, run_log: Option<RunLog>) -> Reporter {
        self.run_log = run_log;
        self
    }

    /// One line on standard error. `message` is escaped here.
    pub fn problem(&self, message: &str) {
        let line = format!("lanceur: {}: {}\n", self.launcher, printable(message));
        // Nothing sensible can be done if standard error itself is gone.
        self.beside_progress(|| {
            let _ = io::stderr().lock().write_all(line.as_bytes());
        });
    }

    /// A line on standard output (dry-run listing). Returns false once stdout is a closed pipe.
    pub fn output(&self, line: &str) -> bool {
        self.beside_progress(|| {
            let mut stdout = io::stdout().lock();
            match writeln!(stdout, "{}", printable(line)) {
                Ok(()) => true,
                Err(err) if err.kind() == io::ErrorKind::BrokenPipe => false,
                Err(_) => false,
            }
        })
    }

    fn beside_progress<R>(&self, write: impl FnOnce() -> R) -> R {
        match &self.progress {
            Some(progress) => progress.suspend(write),
            None => write(),
        }
    }

    /// Progress: what the run is doing before it knows how much there is.
    pub fn progress_status(&self, what: &str) {
        if let Some(progress) = &self.progress {
            progress.status(&printable(what));
        }
    }

    /// Progress: `items` items of `bytes` bytes to take.
    pub fn progress_start(&self, items: usize, bytes: u64) {
        if let Some(progress) = &self.progress {
            progress.start(items, bytes);
        }
    }

    /// Progress: one more item handled, whatever became of it.
    pub fn progress_advance(&self, bytes: u64) {
        if let Some(progress) = &self.progress {
            progress.advance(bytes);
        }
    }

    /// Progress: off the screen, before the run's last words.
    pub fn progress_end(&self) {
        if let Some(progress) = &self.progress {
            progress.clear();
        }
    }

    /// Run log: `label` (`key`) is in the COLD folder as `documents`.
    pub fn log_deposited(&self, label: &str, key: &str, documents: &[Staged]) {
        self.log(&Line {
            event: Event::Deposited,
            item: label,
            key,
            documents: Some(documents.iter().map(|d| d.name.as_str()).collect()),
            bytes: Some(documents.iter().map(|d| d.bytes).sum()),
            error: None,
        });
    }

    /// Run log: `item` failed with `error` and was left at the source (or set aside).
    pub fn log_failed(&self, item: &Item, error: &str) {
        self.log(&Line {
            event: Event::Failed,
            item: &item.label,
            key: &item.key.0,
            documents: None,
            bytes: None,
            error: Some(error),
        });
    }

    /// Run log: `label` stays untaken at the source for `reason`, past the grace period.
    pub fn log_not_taken(&self, label: &str, reason: &str) {
        self.log(&Line {
            event: Event::NotTaken,
            item: label,
            key: "",
            documents: None,
            bytes: None,
            error: Some(reason),
        });
    }

    /// Run log: none of `item`'s documents passed the filters; it stays at the source.
    pub fn log_unmatched(&self, item: &Item) {
        self.log(&Line {
            event: Event::Unmatched,
            item: &item.label,
            key: &item.key.0,
            documents: None,
            bytes: None,
            error: None,
        });
    }

    /// Run log: `item` failed with `error` once too often and was set aside.
    pub fn log_set_aside(&self, item: &Item, error: &str) {
        self.log(&Line {
            event: Event::SetAside,
            item: &item.label,
            key: &item.key.0,
            documents: None,
            bytes: None,
            error: Some(error),
        });
    }

    /// Run log: `item` is deposited, but its acknowledgement failed with `error`.
    pub fn log_acknowledge_failed(&self, item: &Item, error: &str) {
        self.log(&Line {
            event: Event::AcknowledgeFailed,
            item: &item.label,
            key: &item.key.0,
            documents: None,
            bytes: None,
            error: Some(error),
        });
    }

    fn log(&self, line: &Line) {
        if let Some(run_log) = &self.run_log {
            if let Some(problem) = run_log.write(&self.launcher, line) {
                self.problem(&problem);
            }
        }
    }
}

/// What one run did, for `--json`. Items (files, mails, envelopes: what the source lists and the
/// journal remembers) and documents (what lands in the COLD folder: a mail's attachments, an
/// envelope's files) are counted apart, and each JSON name says which it counts; the README lists
/// them all.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    pub launcher: String,
    /// Items the source listed.
    #[serde(rename = "items_seen")]
    pub seen: usize,
    /// Items deposited (or, in a dry run, that would be) and journaled in this run.
    #[serde(rename = "items_deposited")]
    pub deposited: usize,
    /// Items skipped: filtered out, too young, temporary names, left for a later run by a cap.
    #[serde(rename = "items_skipped")]
    pub skipped: usize,
    /// Items that failed and were left at the source, and files a folder source left untaken for
    /// longer than `--grace-period`.
    #[serde(rename = "items_failed")]
    pub failed: usize,
    /// Items fetched whose documents the filters all rejected (or that had none): left at the
    /// source, never deleted or moved, and remembered by the journal until the filters change.
    #[serde(rename = "items_unmatched")]
    pub unmatched: usize,
    /// Items set aside by this run after failing too often; counted in `failed` too.
    #[serde(rename = "items_set_aside")]
    pub set_aside: usize,
    /// Items deposited by an earlier run and acknowledged again now.
    #[serde(rename = "items_reacknowledged")]
    pub reacknowledged: usize,
    /// Documents written to the COLD folder.
    #[serde(rename = "documents_deposited")]
    pub documents: usize,
    /// Documents dropped by the filters inside items that were taken.
    pub documents_filtered: usize,
    /// Bytes of the documents written to the COLD folder.
    #[serde(rename = "bytes_deposited")]
    pub bytes: u64,
    pub duration_ms: u64,
    pub dry_run: bool,
}

impl Summary {
    pub fn new(launcher: &str, dry_run: bool) -> Summary {
        Summary {
            launcher: launcher.to_string(),
            dry_run,
            ..Summary::default()
        }
    }

    pub fn set_duration(&mut self, duration: Duration) {
        self.duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    }
}

/// The `--json` line: the summary, the exit code and the error that stopped the run, if any.
pub fn print_json(summary: &Summary, exit_code: u8, error: Option<&str>) {
    #[derive(Serialize)]
    struct Line<'a> {
        #[serde(flatten)]
        summary: &'a Summary,
        exit_code: u8,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<&'a str>,
    }
    let line = Line {
        summary,
        exit_code,
        error,
    };
    if let Ok(mut text) = serde_json::to_string(&line) {
        text.push('\n');
        // A closed pipe must not change the exit code of a run whose work is done.
        let _ = io::stdout().lock().write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_controls_and_bidi() {
        assert_eq!(printable("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("x\u{202E}y"), "x\\u{202e}y");
        assert_eq!(printable("Relevé n°1.pdf"), "Relevé n°1.pdf");
    }
}
