//! What a launcher's runs leave for its watchdogs and for `lanceur status`
//! (`STATE_DIR/NAME/status.json`), and the watchdogs' verdicts. cron and the Task Scheduler only
//! see a run fail; these see what does not happen:
//!
//! - `--expect-within DURATION`: nothing deposited for longer than that (since the last run that
//!   deposited, or since the state folder's first run) means the source stopped receiving: a
//!   mailbox nobody writes to any more, a scanner that died. One line, exit code 8.
//! - `--expect-pickup-within DURATION`: documents that earlier runs deposited and that are still in
//!   the COLD folder after that long mean the COLD is not consuming: EzGED stopped, or the launcher
//!   deposits into a folder no COLD watches. One line, exit code 9. Only the names deposited while
//!   the option is given are watched, at most `MAX_WATCHED` at a time, the oldest kept.
//!
//! The file is replaced whole after each run (not dry runs, not `check`), under a temporary name
//! renamed into place, so that a reader never sees half of it. It tells, it does not protect:
//! losing it (a crash between the two) restarts the watchdogs' clocks at the next run, nothing
//! more. A run that found the lock taken writes nothing: the run holding it will.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::exit;
use crate::item::Expiry;
use crate::report::{Reporter, Summary};
use crate::settings::Launcher;

/// The file in the launcher's state folder.
pub const FILE: &str = "status.json";

/// Documents watched for pickup at a time; when more wait, the newest are not added (the oldest
/// are those that tell).
const MAX_WATCHED: usize = 1000;

/// What a launcher's runs recorded. Times are RFC 3339, UTC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// When the first run recorded here started: where `--expect-within` counts from until a
    /// run deposits.
    pub since: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<LastRun>,
    /// When the last run that deposited a document ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_deposit: Option<String>,
    /// What expires unless someone acts (a sign-in, a client secret, a certificate), as the last
    /// run knew it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expiries: Vec<Expiry>,
    /// Documents deposited and not yet seen gone from the COLD folder (`--expect-pickup-within`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub awaiting_pickup: Vec<Pickup>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRun {
    pub started: String,
    pub ended: String,
    pub exit_code: u8,
    /// The line that stopped it, if something did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub items_deposited: usize,
    pub documents_deposited: usize,
    pub items_failed: usize,
}

/// A document deposited into the COLD folder, under its final name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pickup {
    pub name: String,
    pub deposited: String,
}

/// A watchdog's verdict: its exit code and its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub code: u8,
    pub line: String,
}

impl Status {
    fn path(state_dir: &Path) -> PathBuf {
        state_dir.join(FILE)
    }

    /// The status a launcher's runs left, `None` when none did. A damaged file is an error.
    pub fn read(state_dir: &Path) -> Result<Option<Status>> {
        let path = Status::path(state_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
        };
        serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("{} is damaged", path.display()))
    }

    /// Replaces the file: a temporary name in the same folder, owner-only, then a rename.
    pub fn write(&self, state_dir: &Path) -> Result<()> {
        let path = Status::path(state_dir);
        let tmp = state_dir.join(format!(".{FILE}.{}", std::process::id()));
        let text = serde_json::to_vec_pretty(self).context("cannot encode the status")?;
        let written = crate::private::create_file(&tmp)
            .and_then(|mut file| std::io::Write::write_all(&mut file, &text))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.with_context(|| format!("cannot write {}", path.display()))
    }
}

/// RFC 3339 in UTC, to the second.
pub fn timestamp(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

fn parse(time: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(time).ok()
}

fn ago(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or_default()
}

/// Whole minutes, hours or days, as `--expect-within` is written.
fn human(duration: Duration) -> String {
    let rounded = Duration::from_secs(duration.as_secs() / 60 * 60);
    humantime::format_duration(rounded.max(Duration::from_secs(60))).to_string()
}

/// `--expect-within`: whether nothing was deposited for longer than `within`.
pub fn nothing_new(status: &Status, now: SystemTime, within: Duration) -> Option<Verdict> {
    let (then, what) = match status.last_deposit.as_deref().and_then(parse) {
        Some(then) => (then, "since the last deposit"),
        None => (parse(&status.since)?, "since this launcher's first run"),
    };
    let quiet = ago(now, then);
    (quiet > within).then(|| Verdict {
        code: exit::NOTHING_NEW,
        line: format!(
            "nothing new deposited for {} {what} ({}), longer than --expect-within {}: has the \
             source stopped receiving (a mailbox nobody writes to, a scanner that died), or does \
             the launcher look in the wrong place?",
            human(quiet),
            timestamp(then),
            human(within)
        ),
    })
}

/// `--expect-pickup-within`: the watched documents still in `cold`, and the verdict when some of
/// them have been there longer than `within`.
pub fn not_consumed(
    watched: &[Pickup],
    cold: &Path,
    now: SystemTime,
    within: Duration,
) -> (Vec<Pickup>, Option<Verdict>) {
    let waiting: Vec<Pickup> = watched
        .iter()
        .filter(|pickup| cold.join(&pickup.name).exists())
        .cloned()
        .collect();
    let late: Vec<&Pickup> = waiting
        .iter()
        .filter(|p| parse(&p.deposited).is_some_and(|then| ago(now, then) > within))
        .collect();
    let verdict = late
        .iter()
        .min_by_key(|p| p.deposited.clone())
        .map(|oldest| {
            let since = parse(&oldest.deposited).map_or(Duration::ZERO, |then| ago(now, then));
            Verdict {
                code: exit::COLD_IDLE,
                line: format!(
                "{} deposited more than --expect-pickup-within {} ago {} still in the COLD folder \
                 {} (the oldest, {}, for {}): the COLD is not taking its documents; is the EzGED \
                 COLD running, and is this the folder it watches?",
                if late.len() == 1 {
                    "1 document".to_string()
                } else {
                    format!("{} documents", late.len())
                },
                human(within),
                if late.len() == 1 { "is" } else { "are" },
                cold.display(),
                crate::report::printable(&oldest.name),
                human(since)
            ),
            }
        });
    (waiting, verdict)
}

/// Adds the documents of this run to those watched, a name deposited again replacing its entry.
pub fn watch(waiting: &mut Vec<Pickup>, deposited: &[String], now: SystemTime) {
    let stamp = timestamp(now);
    for name in deposited {
        waiting.retain(|p| &p.name != name);
        if waiting.len() < MAX_WATCHED {
            waiting.push(Pickup {
                name: name.clone(),
                deposited: stamp.clone(),
            });
        }
    }
}

/// What a run that held the lock tells `after_run`.
pub struct Record<'a> {
    pub started: SystemTime,
    /// The line that stopped the run, if something did.
    pub error: Option<String>,
    /// Its exit code before the watchdogs' verdicts.
    pub code: u8,
    pub summary: &'a Summary,
    /// The names this run gave documents in the COLD folder (when pickups are watched).
    pub deposited: &'a [String],
    /// What the source says expires, when it could say (it opened).
    pub expiries: Vec<Expiry>,
}

/// After a run that held the lock: the watchdogs' verdicts, each said in one line with
/// `reporter`, and the launcher's status written with this run in it. Returns the exit code of
/// the first verdict, for a run that went through (exit code 0 or 1): one whose source was out of
/// reach deposited nothing, and has already said why.
pub fn after_run(launcher: &Launcher, record: Record, reporter: &Reporter) -> Option<u8> {
    let now = SystemTime::now();
    let previous = Status::read(&launcher.state_dir).unwrap_or_else(|err| {
        log::warn!("{err:#}; it is written anew");
        None
    });
    let mut status = previous.unwrap_or_else(|| Status {
        since: timestamp(record.started),
        ..Status::default()
    });
    if record.summary.documents > 0 {
        status.last_deposit = Some(timestamp(now));
    }
    let mut verdicts = Vec::new();
    if let Some(within) = launcher.watch.expect_within {
        verdicts.extend(nothing_new(&status, now, within));
    }
    match launcher.watch.expect_pickup_within {
        Some(within) => {
            // What earlier runs deposited is judged; this run's documents only start waiting.
            let (mut waiting, verdict) =
                not_consumed(&status.awaiting_pickup, &launcher.dest, now, within);
            watch(&mut waiting, record.deposited, now);
            status.awaiting_pickup = waiting;
            verdicts.extend(verdict);
        }
        None => status.awaiting_pickup.clear(),
    }
    let went_through = matches!(record.code, exit::OK | exit::ITEM_FAILED);
    let watchdog = if went_through {
        for verdict in &verdicts {
            reporter.problem(&verdict.line);
        }
        verdicts.first().map(|v| v.code)
    } else {
        None
    };
    if went_through || !record.expiries.is_empty() {
        status.expiries = record.expiries;
    }
    let exit_code = match (record.code, watchdog) {
        (exit::OK, Some(code)) => code,
        (code, _) => code,
    };
    status.last_run = Some(LastRun {
        started: timestamp(record.started),
        ended: timestamp(now),
        exit_code,
        error: record.error,
        items_deposited: record.summary.deposited,
        documents_deposited: record.summary.documents,
        items_failed: record.summary.failed,
    });
    if let Err(err) = status.write(&launcher.state_dir) {
        log::warn!("{err:#}");
    }
    watchdog
}

/// The next of `expiries`, if any.
pub fn next_expiry(expiries: &[Expiry]) -> Option<&Expiry> {
    expiries.iter().min_by_key(|e| e.at.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn nothing_new_counts_from_the_last_deposit_or_the_first_run() {
        let hour = Duration::from_secs(3600);
        let mut status = Status {
            since: "2025-03-01T08:00:00Z".into(),
            ..Status::default()
        };
        assert_eq!(nothing_new(&status, at("2025-03-01T08:59:00Z"), hour), None);
        let verdict = nothing_new(&status, at("2025-03-01T10:30:00Z"), hour).unwrap();
        assert_eq!(verdict.code, exit::NOTHING_NEW);
        assert!(
            verdict.line.starts_with(
                "nothing new deposited for 2h 30m since this launcher's first run \
                 (2025-03-01T08:00:00Z), longer than --expect-within 1h"
            ),
            "{}",
            verdict.line
        );
        status.last_deposit = Some("2025-03-01T10:00:00Z".into());
        assert_eq!(nothing_new(&status, at("2025-03-01T10:30:00Z"), hour), None);
    }

    #[test]
    fn only_documents_still_there_after_the_delay_are_late() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("old.pdf"), "x").unwrap();
        std::fs::write(dir.path().join("new.pdf"), "x").unwrap();
        let mut watched = Vec::new();
        watch(
            &mut watched,
            &["old.pdf".into(), "gone.pdf".into()],
            at("2025-03-01T08:00:00Z"),
        );
        watch(
            &mut watched,
            &["new.pdf".into()],
            at("2025-03-01T09:50:00Z"),
        );
        let (waiting, verdict) = not_consumed(
            &watched,
            dir.path(),
            at("2025-03-01T10:00:00Z"),
            Duration::from_secs(3600),
        );
        let names: Vec<&str> = waiting.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["old.pdf", "new.pdf"], "gone.pdf was taken");
        let verdict = verdict.unwrap();
        assert_eq!(verdict.code, exit::COLD_IDLE);
        assert!(
            verdict.line.starts_with("1 document deposited more than"),
            "{}",
            verdict.line
        );
        assert!(
            verdict.line.contains("(the oldest, old.pdf, for 2h)"),
            "{}",
            verdict.line
        );
    }

    #[test]
    fn the_file_is_replaced_whole_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Status::read(dir.path()).unwrap(), None);
        let status = Status {
            since: "2025-03-01T08:00:00Z".into(),
            last_deposit: Some("2025-03-01T09:00:00Z".into()),
            ..Status::default()
        };
        status.write(dir.path()).unwrap();
        assert_eq!(Status::read(dir.path()).unwrap(), Some(status));
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [FILE], "no temporary file left");
        std::fs::write(dir.path().join(FILE), "{").unwrap();
        assert!(Status::read(dir.path()).is_err());
    }
}
