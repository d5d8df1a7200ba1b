//! `lanceur check`: the report on a launcher, from what `cycle::check` found.
//!
//! The checks are those of a run, in a run's order: the `--log-file` can be opened, the state
//! folder can be created or written, the journal can be read, the COLD folder takes a file, the
//! source answers and lists. None of them changes anything (see `cycle::check`). On Unix the log
//! file and the state folder are judged by their permissions, not by creating them; on Windows,
//! where permissions are ACLs that only the system weighs, by trying: a temporary file created in
//! the folder and removed at once (and the folder's time put back), as in the COLD folder, and a
//! log file opened for appending and closed without a byte written.
//!
//! The answer is a short report on standard output, for the person setting the launcher up, or one
//! JSON object with `--json`. The exit code is that of the first problem in a run's order, so a
//! check exits as the run would have; the report still tells every problem found.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::aside::{Record, Store};
use crate::cycle::{self, Inspection, SurveyPlan};
use crate::deposit;
use crate::exit;
use crate::item::Pass;
use crate::report::printable;
use crate::settings::{Launcher, SourceConfig};

mod access;
mod volume;
mod watchdogs;

use access::{may_append, state_section};

use volume::{describe_volume, human_bytes, Volume};

/// Checks `launcher` and prints the report; returns the exit code.
pub fn run(launcher: &Launcher) -> u8 {
    let log_file = launcher.log_file.as_deref().map(|path| LogFileSection {
        path: path.to_path_buf(),
        error: may_append(path).err().map(|err| Problem::new(&err)),
    });
    let state = state_section(launcher);
    let inspection = cycle::check(launcher);
    let report = Report::new(launcher, log_file, state, inspection);
    if launcher.json {
        let mut text = serde_json::to_string(&report).unwrap_or_default();
        text.push('\n');
        print(&text);
    } else {
        print(&report.render());
    }
    report.exit_code
}

/// Writes to standard output; a closed pipe ends the output quietly.
fn print(text: &str) {
    let _ = io::stdout().lock().write_all(text.as_bytes());
}

#[derive(Debug, Serialize)]
struct Report {
    launcher: String,
    ready: bool,
    exit_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_file: Option<LogFileSection>,
    state: StateSection,
    cold: ColdSection,
    source: SourceSection,
    /// Items set aside by earlier runs (`lanceur retry` takes them again).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    set_aside: Vec<Record>,
    /// The runs recorded and the watchdogs' verdicts.
    #[serde(skip_serializing_if = "Option::is_none")]
    watch: Option<watchdogs::WatchSection>,
}

/// An error of a step, with the exit code a run would end with.
#[derive(Debug, Serialize)]
struct Problem {
    message: String,
    exit_code: u8,
}

impl Problem {
    fn new(err: &anyhow::Error) -> Problem {
        Problem {
            message: exit::message_for(err),
            exit_code: exit::code_for(err),
        }
    }
}

#[derive(Debug, Serialize)]
struct LogFileSection {
    path: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Problem>,
}

#[derive(Debug, Serialize)]
struct StateSection {
    path: PathBuf,
    /// Whether the launcher's state folder exists (it is created by the first run).
    exists: bool,
    /// Keys the journal remembers, in any state (an IMAP mail has two: its UID and its
    /// Message-ID).
    #[serde(skip_serializing_if = "Option::is_none")]
    journal_entries: Option<usize>,
    /// Items an interrupted run staged and the next run finishes.
    #[serde(skip_serializing_if = "Option::is_none")]
    unfinished: Option<usize>,
    /// Who holds the launcher's lock, when a run is working now (`pid 4242 since …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    run_in_progress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Problem>,
}

#[derive(Debug, Serialize)]
struct ColdSection {
    path: PathBuf,
    writable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    volume: Option<Volume>,
    /// For folder sources: whether the COLD folder is on the source folder's volume (files are then
    /// moved by a rename rather than copied).
    #[serde(skip_serializing_if = "Option::is_none")]
    same_volume_as_source: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Problem>,
}

#[derive(Debug, Default, Serialize)]
struct SourceSection {
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    reachable: bool,
    /// Items listed, whatever becomes of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    listed: Option<usize>,
    /// Items the next run would see as new, and their bytes as listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    new: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_bytes: Option<u64>,
    /// Of the new items, those the next run takes under --max-items/--max-bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_run: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_run_bytes: Option<u64>,
    /// Deposited and acknowledged by earlier runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    already_done: Option<usize>,
    /// Deposited by an earlier run, still to acknowledge at the source.
    #[serde(skip_serializing_if = "Option::is_none")]
    unacknowledged: Option<usize>,
    /// Rejected by the filters by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    filtered: Option<usize>,
    /// Passed over by the source: still being written, hidden, temporary or system files.
    #[serde(skip_serializing_if = "Option::is_none")]
    passed_over: Option<usize>,
    /// What a run warns about: a sign-in or a credential that expires soon.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    /// What the source cannot take as it stands, each with the reason; `overdue` ones (left past
    /// --grace-period) make a run report them and exit 1.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    not_taken: Vec<NotTaken>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Problem>,
}

#[derive(Debug, Serialize)]
struct NotTaken {
    item: String,
    reason: String,
    overdue: bool,
}

/// Most untaken items the text report lists one by one.
const MAX_LISTED: usize = 20;

impl Report {
    fn new(
        launcher: &Launcher,
        log_file: Option<LogFileSection>,
        mut state: StateSection,
        inspection: Inspection,
    ) -> Report {
        match inspection.journal {
            Ok((items, unfinished)) => {
                state.journal_entries = Some(items);
                state.unfinished = Some(unfinished);
            }
            Err(err) => {
                state.error.get_or_insert_with(|| Problem::new(&err));
            }
        }
        let cold = cold_section(launcher, inspection.cold);
        let source = match inspection.source {
            Ok(survey) => {
                let plan = survey.plan.as_ref();
                let pick = |f: fn(&SurveyPlan) -> usize| plan.map(f);
                SourceSection {
                    label: Some(survey.label),
                    reachable: true,
                    listed: Some(survey.listed),
                    new: pick(|p| p.new),
                    new_bytes: plan.map(|p| p.new_bytes),
                    next_run: pick(|p| p.taken),
                    next_run_bytes: plan.map(|p| p.taken_bytes),
                    already_done: pick(|p| p.acked),
                    unacknowledged: pick(|p| p.unacknowledged),
                    filtered: Some(survey.filtered),
                    passed_over: Some(survey.passed_over),
                    warnings: survey.notices,
                    not_taken: survey
                        .not_taken
                        .into_iter()
                        .map(|s| NotTaken {
                            item: s.label,
                            reason: s.reason,
                            overdue: s.pass == Pass::Overdue,
                        })
                        .collect(),
                    error: None,
                }
            }
            Err(err) => SourceSection {
                error: Some(Problem::new(&err)),
                ..SourceSection::default()
            },
        };
        // A run meets these in this order: the log file, the state folder and journal, the COLD
        // folder, the source.
        let exit_code = [
            log_file.as_ref().and_then(|l| l.error.as_ref()),
            state.error.as_ref(),
            cold.error.as_ref(),
            source.error.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(|p| p.exit_code)
        .next();
        // A launcher that can run, but whose watchdog would speak: the run's exit code too.
        let watch = watchdogs::section(launcher);
        let ready = exit_code.is_none();
        let exit_code = exit_code
            .or_else(|| watch.as_ref().and_then(|w| w.exit_code()))
            .unwrap_or(exit::OK);
        Report {
            launcher: launcher.name.clone(),
            ready,
            exit_code,
            log_file,
            state,
            cold,
            source,
            set_aside: Store::new(&launcher.state_dir).list(),
            watch,
        }
    }

    fn render(&self) -> String {
        let mut out = String::new();
        let verdict = if self.ready && self.exit_code != exit::OK {
            format!(
                "ready, but a watchdog speaks (exit code {})",
                self.exit_code
            )
        } else if self.ready {
            "ready".to_string()
        } else {
            format!("NOT READY (exit code {})", self.exit_code)
        };
        out.push_str(&format!("launcher {}: {verdict}\n", self.launcher));
        let mut line = |heading: &str, text: &str| {
            out.push_str(&format!("  {heading:<8} {}\n", printable(text)));
        };

        let source = &self.source;
        match &source.error {
            Some(problem) => line("source", &format!("FAILED: {}", problem.message)),
            None => {
                let label = source.label.as_deref().unwrap_or_default();
                line(
                    "source",
                    &format!("{label}: reached, {} listed", count(source.listed, "item")),
                );
                line("", &next_run(source));
                let mut skipped = Vec::new();
                if let Some(n) = source.filtered.filter(|n| *n > 0) {
                    skipped.push(format!("{} skipped by the filters", count(Some(n), "item")));
                }
                if let Some(n) = source.passed_over.filter(|n| *n > 0) {
                    skipped.push(format!(
                        "{} passed over (still being written, hidden, temporary or system files)",
                        count(Some(n), "item")
                    ));
                }
                if !skipped.is_empty() {
                    line("", &skipped.join("; "));
                }
                for warning in &source.warnings {
                    line("", &format!("warning: {warning}"));
                }
                if !source.not_taken.is_empty() {
                    let overdue = source.not_taken.iter().filter(|n| n.overdue).count();
                    let mut text = format!(
                        "{} not taken as they stand",
                        count(Some(source.not_taken.len()), "item")
                    );
                    if overdue > 0 {
                        text.push_str(&format!(
                            " ({overdue} past --grace-period: a run reports them and exits 1)"
                        ));
                    }
                    line("", &format!("{text}:"));
                    for untaken in source.not_taken.iter().take(MAX_LISTED) {
                        let mark = if untaken.overdue { "!" } else { "-" };
                        line(
                            "",
                            &format!("  {mark} {}: {}", untaken.item, untaken.reason),
                        );
                    }
                    if source.not_taken.len() > MAX_LISTED {
                        line(
                            "",
                            &format!("  … and {} more", source.not_taken.len() - MAX_LISTED),
                        );
                    }
                }
            }
        }

        let cold = &self.cold;
        match &cold.error {
            Some(problem) => line("COLD", &format!("FAILED: {}", problem.message)),
            None => line("COLD", &format!("{}: writable", cold.path.display())),
        }
        if let Some(volume) = &cold.volume {
            line("", &describe_volume(volume));
            let moved = deposit::MOVES_ON_ONE_VOLUME && cold.same_volume_as_source == Some(true);
            if let (Some(bytes), true) = (source.next_run_bytes, cold.error.is_none()) {
                if bytes > volume.free_bytes && !moved {
                    line(
                        "",
                        &format!(
                            "warning: the next run takes about {}, more than the {} free",
                            human_bytes(bytes),
                            human_bytes(volume.free_bytes)
                        ),
                    );
                }
            }
        }
        match cold.same_volume_as_source {
            Some(true) if deposit::MOVES_ON_ONE_VOLUME => {
                line("", "same volume as the source folder")
            }
            Some(true) => line(
                "",
                "same volume as the source folder (documents are copied all the same, so that \
                 they take the COLD folder's permissions)",
            ),
            Some(false) => line(
                "",
                "not the source folder's volume: files are copied, then removed from the source",
            ),
            None => {}
        }

        let state = &self.state;
        let path = state.path.display();
        match (&state.error, state.exists, state.journal_entries) {
            (Some(problem), _, _) => line("state", &format!("FAILED: {}", problem.message)),
            (None, false, _) => line(
                "state",
                &format!("{path}: not created yet (the first run creates it)"),
            ),
            (None, true, None | Some(0)) => line("state", &format!("{path}: no journal yet")),
            (None, true, Some(items)) => {
                let unfinished = match state.unfinished.unwrap_or(0) {
                    0 => "nothing unfinished".to_string(),
                    n => format!(
                        "{} left unfinished by an interrupted run (the next run completes them)",
                        count(Some(n), "item")
                    ),
                };
                line(
                    "state",
                    &format!(
                        "{path}: journal of {}, {unfinished}",
                        count(Some(items), "entry")
                    ),
                );
            }
        }

        if let Some(holder) = &state.run_in_progress {
            line(
                "",
                &format!(
                    "a run is in progress ({holder}): what it takes now is counted above as new"
                ),
            );
        }

        if !self.set_aside.is_empty() {
            line(
                "aside",
                &format!(
                    "{} set aside after failing (later runs leave them alone; `lanceur retry` \
                     lists them and takes them again):",
                    count(Some(self.set_aside.len()), "item")
                ),
            );
            for record in self.set_aside.iter().take(MAX_LISTED) {
                line("", &format!("  ! {}: {}", record.label, record.error));
            }
            if self.set_aside.len() > MAX_LISTED {
                line(
                    "",
                    &format!("  … and {} more", self.set_aside.len() - MAX_LISTED),
                );
            }
        }

        if let Some(watch) = &self.watch {
            for (n, text) in watch.lines().iter().enumerate() {
                line(if n == 0 { "watch" } else { "" }, text);
            }
        }

        if let Some(log_file) = &self.log_file {
            match &log_file.error {
                Some(problem) => line("log", &format!("FAILED: {}", problem.message)),
                None => line(
                    "log",
                    &format!("{}: can be appended to", log_file.path.display()),
                ),
            }
        }
        out
    }
}

/// `lanceur retry` without --all or --key: the items set aside, each with its key, on standard
/// output (one JSON array with --json).
pub fn list_set_aside(launcher: &Launcher) -> u8 {
    let records = Store::new(&launcher.state_dir).list();
    if launcher.json {
        let mut text = serde_json::to_string(&records).unwrap_or_default();
        text.push('\n');
        print(&text);
        return exit::OK;
    }
    let mut out = format!(
        "launcher {}: {} set aside\n",
        launcher.name,
        count(Some(records.len()), "item")
    );
    for record in &records {
        let failures = match record.failures {
            0 => "could not be decoded".to_string(),
            n => format!("failed {n} runs in a row"),
        };
        let kept = if record.kept.is_empty() {
            "nothing kept".to_string()
        } else {
            record
                .kept
                .iter()
                .map(|name| record.folder.join(name).display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        for text in [
            format!("  {}", record.key),
            format!("      {}", record.label),
            format!("      error: {}", record.error),
            format!(
                "      {failures}, set aside {}: {}",
                record.time, record.how
            ),
            format!("      kept: {kept}"),
        ] {
            out.push_str(&printable(&text));
            out.push('\n');
        }
    }
    if !records.is_empty() {
        out.push_str("take one again with --key KEY, or all with --all\n");
    }
    print(&out);
    exit::OK
}

/// "3 new items (1.2 MiB) for the next run; 8 already deposited"
fn next_run(source: &SourceSection) -> String {
    let (Some(new), Some(taken)) = (source.new, source.next_run) else {
        return "the journal could not be read: cannot tell new items from done ones".into();
    };
    let mut parts = Vec::new();
    if new == 0 {
        parts.push("nothing new".to_string());
    } else {
        let bytes = human_bytes(source.next_run_bytes.unwrap_or(0));
        parts.push(format!(
            "{} ({bytes}) for the next run",
            count(Some(taken), "new item")
        ));
        if taken < new {
            parts.push(format!(
                "{} left for later runs by --max-items/--max-bytes",
                new - taken
            ));
        }
    }
    if let Some(n) = source.already_done.filter(|n| *n > 0) {
        parts.push(format!("{n} already deposited"));
    }
    if let Some(n) = source.unacknowledged.filter(|n| *n > 0) {
        parts.push(format!(
            "{n} deposited but not yet acknowledged (the next run acknowledges them)"
        ));
    }
    parts.join("; ")
}

fn cold_section(launcher: &Launcher, probe: Result<()>) -> ColdSection {
    let cold = &launcher.dest;
    let source_folder = match &launcher.source {
        SourceConfig::Dir(config) => Some(&config.folder),
        SourceConfig::Adullact(config) => Some(&config.folder),
        SourceConfig::Imap(_) | SourceConfig::Pop(_) | SourceConfig::O365(_) => None,
    };
    let exists = cold.is_dir();
    ColdSection {
        path: cold.clone(),
        writable: probe.is_ok(),
        volume: exists.then(|| volume::volume_of(cold)).flatten(),
        same_volume_as_source: source_folder
            .filter(|_| exists)
            .and_then(|folder| volume::same_volume(folder, cold)),
        error: probe.err().map(|err| Problem::new(&err)),
    }
}

/// "1 item", "3 items", "2 entries"
fn count(n: Option<usize>, noun: &str) -> String {
    match (n.unwrap_or(0), noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (n, Some(stem)) => format!("{n} {stem}ies"),
        (n, None) => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_well() {
        assert_eq!(count(Some(1), "item"), "1 item");
        assert_eq!(count(Some(2), "new item"), "2 new items");
        assert_eq!(count(Some(2), "entry"), "2 entries");
    }
}
