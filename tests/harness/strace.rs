//! Running `lanceur` under strace and reading back the system calls it made: which files it
//! opened, and in what order its threads flushed, renamed and wrote them. What a power cut can
//! leave is decided by that order (a file's contents are on disk once its `fdatasync` has
//! returned, a name once its folder's `fsync` has returned after the name was made), which no
//! kill -9 test can show: the page cache survives a killed process.
//!
//! `strace -f -ttt -T -y`: every thread, start time and duration of each call, file descriptors
//! shown with their paths. Needs Debian's strace, which `scripts/test` installs.

use std::path::Path;
use std::process::Command;

/// One finished system call.
#[derive(Debug, Clone)]
pub struct Call {
    pub pid: u32,
    pub name: String,
    /// Arguments as strace printed them, paths of descriptors included (`5</tmp/x>`).
    pub args: String,
    pub result: String,
    /// Seconds since the epoch when the call began and when it returned.
    pub start: f64,
    pub end: f64,
}

impl Call {
    pub fn ok(&self) -> bool {
        !self.result.trim_start().starts_with('-')
    }
}

/// `command` wrapped in strace, tracing the calls named in `calls` (strace's `-e trace=` list)
/// into `log`; its environment is carried over (test commands start from an empty one).
pub fn traced(command: &Command, calls: &str, log: &Path) -> Command {
    let mut wrapped = Command::new("strace");
    wrapped
        .args(["-f", "-qq", "-ttt", "-T", "-y", "-s", "4194304", "-e"])
        .arg(format!("trace={calls}"))
        .arg("-o")
        .arg(log)
        .arg(command.get_program())
        .args(command.get_args());
    super::same_environment(&mut wrapped, command);
    wrapped
}

/// The calls of a log written by `traced`, in the order they began.
pub fn read(log: &Path) -> Vec<Call> {
    let text = std::fs::read_to_string(log)
        .unwrap_or_else(|e| panic!("no strace log at {}: {e}", log.display()));
    let mut pending: Vec<(u32, String, String)> = Vec::new();
    let mut calls = Vec::new();
    for line in text.lines() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(pid) = pid.trim().parse::<u32>() else {
            continue;
        };
        let Some((time, body)) = rest.trim_start().split_once(' ') else {
            continue;
        };
        let Ok(time) = time.parse::<f64>() else {
            continue;
        };
        if let Some(head) = body.strip_suffix(" <unfinished ...>") {
            let (name, args) = head.split_once('(').unwrap_or((head, ""));
            pending.push((pid, name.to_string(), args.to_string()));
            continue;
        }
        let (name, args, tail, resumed) = if let Some(resumed) = body.strip_prefix("<... ") {
            let Some((name, tail)) = resumed.split_once(" resumed>") else {
                continue;
            };
            let Some(at) = pending.iter().position(|(p, n, _)| *p == pid && n == name) else {
                continue;
            };
            let (_, name, head) = pending.remove(at);
            (name, head, tail.to_string(), true)
        } else {
            let Some((name, tail)) = body.split_once('(') else {
                continue;
            };
            (name.to_string(), String::new(), tail.to_string(), false)
        };
        // `args) = result <duration>`
        let Some((args_tail, outcome)) = tail.rsplit_once(") = ") else {
            continue;
        };
        let (result, duration) = match outcome.rsplit_once(" <") {
            Some((result, duration)) => (
                result.to_string(),
                duration.trim_end_matches('>').parse::<f64>().unwrap_or(0.0),
            ),
            None => (outcome.to_string(), 0.0),
        };
        let (start, end) = if resumed {
            (time - duration, time)
        } else {
            (time, time + duration)
        };
        calls.push(Call {
            pid,
            name,
            args: format!("{args}{args_tail}"),
            result,
            start,
            end,
        });
    }
    calls.sort_by(|a, b| a.start.total_cmp(&b.start));
    calls
}

/// The paths `calls` opened (`openat`, `open`) successfully.
pub fn opened(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| (c.name == "openat" || c.name == "open") && c.ok())
        .filter_map(|c| {
            let quoted = c.args.split('"').nth(1)?;
            Some(quoted.to_string())
        })
        .collect()
}

/// The path of the descriptor a call's first argument names (`5</tmp/x>` → `/tmp/x`).
pub fn fd_path(call: &Call) -> Option<&str> {
    let open = call.args.find('<')?;
    let close = call.args[open..].find('>')? + open;
    Some(&call.args[open + 1..close])
}
