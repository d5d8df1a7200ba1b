//! `lanceur check`'s view of the watchdogs: what the launcher's runs recorded
//! (`STATE_DIR/NAME/status.json`, see `watch.rs`) and the verdicts a run would reach now, without
//! a run's update of the file.

use std::time::SystemTime;

use serde::Serialize;

use super::Problem;
use crate::settings::Launcher;
use crate::watch::{self, LastRun, Status};

#[derive(Debug, Serialize)]
pub(super) struct WatchSection {
    #[serde(skip_serializing_if = "Option::is_none")]
    last_run: Option<LastRun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_deposit: Option<String>,
    /// What `--expect-within` and `--expect-pickup-within` would say now.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    alerts: Vec<Problem>,
    /// The status file cannot be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The section, when there is something to say: runs recorded, or watchdogs asked for.
pub(super) fn section(launcher: &Launcher) -> Option<WatchSection> {
    let watching =
        launcher.watch.expect_within.is_some() || launcher.watch.expect_pickup_within.is_some();
    let (status, error) = match Status::read(&launcher.state_dir) {
        Ok(status) => (status, None),
        Err(err) => (None, Some(format!("{err:#}"))),
    };
    if status.is_none() && error.is_none() && !watching {
        return None;
    }
    let now = SystemTime::now();
    let mut alerts = Vec::new();
    if let Some(status) = &status {
        let verdicts = [
            launcher
                .watch
                .expect_within
                .and_then(|within| watch::nothing_new(status, now, within)),
            launcher.watch.expect_pickup_within.and_then(|within| {
                watch::not_consumed(&status.awaiting_pickup, &launcher.dest, now, within).1
            }),
        ];
        alerts.extend(verdicts.into_iter().flatten().map(|v| Problem {
            message: v.line,
            exit_code: v.code,
        }));
    }
    Some(WatchSection {
        last_run: status.as_ref().and_then(|s| s.last_run.clone()),
        last_deposit: status.and_then(|s| s.last_deposit),
        alerts,
        error,
    })
}

impl WatchSection {
    /// A watchdog's exit code, for a launcher otherwise ready.
    pub(super) fn exit_code(&self) -> Option<u8> {
        self.alerts.first().map(|a| a.exit_code)
    }

    /// The report's lines: the last run and deposit, then each alert.
    pub(super) fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let runs = match (&self.last_run, &self.last_deposit) {
            (None, _) => "no run recorded yet".to_string(),
            (Some(run), deposit) => format!(
                "last run {} (exit code {}), last deposit {}",
                run.ended,
                run.exit_code,
                deposit.as_deref().unwrap_or("never")
            ),
        };
        lines.push(runs);
        if let Some(error) = &self.error {
            lines.push(format!("FAILED: {error}"));
        }
        lines.extend(self.alerts.iter().map(|a| format!("ALERT: {}", a.message)));
        lines
    }
}
