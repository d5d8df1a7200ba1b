//! `lanceur status DIR`: one line per launcher file of a folder, from what each launcher's runs
//! recorded in its state folder (`status.json`, see `watch.rs`; `set-aside/`, see `aside.rs`):
//! last run, last deposit, items set aside, next expiry, and what the watchdogs would say now.
//! It contacts no server and changes nothing. `--json` gives the same as one object for
//! monitoring.
//!
//! Exit code: 0 when every launcher is well, 1 when one needs attention (see `Row::attention`),
//! 2 when the folder cannot be read.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use crate::aside::Store;
use crate::exit;
use crate::item::Expiry;
use crate::report::printable;
use crate::settings::Launcher;
use crate::watch::{self, LastRun, Status};

/// What `lanceur status` says of one launcher file.
#[derive(Debug, Serialize)]
struct Row {
    file: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    launcher: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_run: Option<LastRun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_deposit: Option<String>,
    /// Keys of the items set aside.
    set_aside: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_expiry: Option<Expiry>,
    /// What the watchdogs would say now.
    alerts: Vec<String>,
    /// Why the file or the launcher's status cannot be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Whether someone should look at this launcher.
    attention: bool,
}

#[derive(Serialize)]
struct Listing<'a> {
    dir: &'a Path,
    launchers: &'a [Row],
}

/// Prints the status of `launchers`, the launcher files of `dir`; returns the exit code.
pub fn run(dir: &Path, launchers: Vec<(PathBuf, anyhow::Result<Launcher>)>, json: bool) -> u8 {
    let now = SystemTime::now();
    let rows: Vec<Row> = launchers
        .into_iter()
        .map(|(file, launcher)| match launcher {
            Ok(launcher) => row(file, &launcher, now),
            Err(err) => Row::broken(file, exit::message_for(&err)),
        })
        .collect();
    let text = if json {
        let mut text = serde_json::to_string(&Listing {
            dir,
            launchers: &rows,
        })
        .unwrap_or_default();
        text.push('\n');
        text
    } else {
        render(dir, &rows)
    };
    // A closed pipe ends the output quietly.
    let _ = io::stdout().lock().write_all(text.as_bytes());
    if rows.iter().any(|r| r.attention) {
        exit::ITEM_FAILED
    } else {
        exit::OK
    }
}

impl Row {
    fn broken(file: PathBuf, error: String) -> Row {
        Row {
            file,
            launcher: None,
            state_dir: None,
            last_run: None,
            last_deposit: None,
            set_aside: Vec::new(),
            next_expiry: None,
            alerts: Vec::new(),
            error: Some(error),
            attention: true,
        }
    }

    /// Its last run failed, it never ran, it set items aside, a watchdog speaks, or it cannot be
    /// read.
    fn attention(&self) -> bool {
        let ran_well = self.last_run.as_ref().is_some_and(|run| {
            matches!(run.exit_code, exit::OK | exit::LOCKED | exit::INTERRUPTED)
        });
        !ran_well || !self.set_aside.is_empty() || !self.alerts.is_empty() || self.error.is_some()
    }
}

fn row(file: PathBuf, launcher: &Launcher, now: SystemTime) -> Row {
    let (status, error) = match Status::read(&launcher.state_dir) {
        Ok(status) => (status, None),
        Err(err) => (None, Some(format!("{err:#}"))),
    };
    let mut alerts = Vec::new();
    if let Some(status) = &status {
        if let Some(within) = launcher.watch.expect_within {
            alerts.extend(watch::nothing_new(status, now, within).map(|v| v.line));
        }
        if let Some(within) = launcher.watch.expect_pickup_within {
            let late = watch::not_consumed(&status.awaiting_pickup, &launcher.dest, now, within);
            alerts.extend(late.1.map(|v| v.line));
        }
    }
    let mut row = Row {
        file,
        launcher: Some(launcher.name.clone()),
        state_dir: Some(launcher.state_dir.clone()),
        last_run: status.as_ref().and_then(|s| s.last_run.clone()),
        last_deposit: status.as_ref().and_then(|s| s.last_deposit.clone()),
        // The poison-item store (`aside.rs`): what later runs leave alone until `lanceur retry`.
        set_aside: Store::new(&launcher.state_dir)
            .list()
            .into_iter()
            .map(|record| record.key)
            .collect(),
        next_expiry: status
            .as_ref()
            .and_then(|s| watch::next_expiry(&s.expiries).cloned()),
        alerts,
        error,
        attention: false,
    };
    row.attention = row.attention();
    row
}

/// "2025-03-01 08:15" from RFC 3339.
fn short(time: &str) -> String {
    time.get(..16).unwrap_or(time).replace('T', " ")
}

/// A header line, then one line per launcher, then each alert or error under its launcher.
fn render(dir: &Path, rows: &[Row]) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        out.push_str(&format!("no launcher file (*.toml) in {}\n", dir.display()));
        return out;
    }
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|row| {
            let name = row.launcher.clone().unwrap_or_else(|| {
                row.file
                    .file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into_owned())
            });
            let (ran, code) = match &row.last_run {
                Some(run) => (short(&run.ended), run.exit_code.to_string()),
                None if row.error.is_some() => ("?".to_string(), "-".to_string()),
                None => ("never".to_string(), "-".to_string()),
            };
            let deposit = match (&row.last_deposit, &row.last_run) {
                (Some(time), _) => short(time),
                (None, None) if row.error.is_some() => "?".to_string(),
                (None, _) => "never".to_string(),
            };
            let expiry = row.next_expiry.as_ref().map_or("-".to_string(), |e| {
                format!("{} ({})", e.at.get(..10).unwrap_or(&e.at), e.what)
            });
            [
                name,
                ran,
                code,
                deposit,
                row.set_aside.len().to_string(),
                expiry,
            ]
        })
        .collect();
    let header = [
        "LAUNCHER",
        "LAST RUN",
        "EXIT",
        "LAST DEPOSIT",
        "SET ASIDE",
        "NEXT EXPIRY",
    ];
    let mut widths = header.map(str::len);
    for cell in &cells {
        for (width, text) in widths.iter_mut().zip(cell) {
            *width = (*width).max(text.chars().count());
        }
    }
    let line = |texts: [&str; 6], mark: &str| {
        let mut text = format!("{mark} ");
        for (n, (cell, width)) in texts.iter().zip(widths).enumerate() {
            if n + 1 == texts.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        format!("{}\n", printable(text.trim_end()))
    };
    out.push_str(&line(header, " "));
    for (row, cell) in rows.iter().zip(&cells) {
        let texts = [
            cell[0].as_str(),
            &cell[1],
            &cell[2],
            &cell[3],
            &cell[4],
            &cell[5],
        ];
        out.push_str(&line(texts, if row.attention { "!" } else { " " }));
        for text in row.error.iter().chain(&row.alerts) {
            out.push_str(&format!("    {}\n", printable(text)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launcher_needs_attention_unless_its_last_run_went_well() {
        let mut row = Row::broken(PathBuf::from("a.toml"), String::new());
        row.error = None;
        assert!(row.attention(), "never ran");
        for (code, attention) in [
            (0, false),
            (1, true),
            (4, true),
            (6, false),
            (7, false),
            (8, true),
        ] {
            row.last_run = Some(LastRun {
                exit_code: code,
                ..LastRun::default()
            });
            assert_eq!(row.attention(), attention, "exit code {code}");
        }
        row.last_run = Some(LastRun::default());
        row.set_aside = vec!["imap:INBOX:1:2".into()];
        assert!(row.attention(), "set-aside items");
    }
}
