//! The progress display: items and bytes, on standard error, for a person watching a long run.
//!
//! It exists only when standard error is a terminal and no logging was asked for (`-v`, `RUST_LOG`):
//! under cron, the Task Scheduler or a pipe there is nobody to watch it, and escape sequences would
//! end up in mails and log files; with logging on, log lines would fight with it for the last line.
//! indicatif also keeps it hidden on a terminal that cannot move its cursor (`TERM` unset or `dumb`
//! on Unix).
//! It is drawn at most `DRAWS_PER_SECOND` times a second (plus a tick a second, so the elapsed time
//! and estimate move while one big item is fetched), and cleared at the end of the run, so a run that
//! went well still leaves nothing on the screen. Everything else lanceur writes to standard error
//! while it is shown (problem lines, warnings) goes through `suspend`, which takes the display away,
//! writes, and draws it again below.
//!
//! indicatif does the drawing: rate limiting, terminal width, clearing its own lines and the
//! suspend/redraw dance are what it is for, and it is the progress crate the Rust tools people know
//! (cargo-binstall, uv, rustup…) use.

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Most redraws per second.
const DRAWS_PER_SECOND: u8 = 4;

/// The display of one run; cheap to clone (every clone is the same display).
#[derive(Debug, Clone)]
pub struct Progress {
    bar: ProgressBar,
    done: Arc<AtomicUsize>,
    total: Arc<AtomicUsize>,
}

impl Progress {
    /// A display on standard error if a person is watching it: standard error is a terminal and
    /// neither `-v` nor `RUST_LOG` asked for log lines.
    pub fn if_watched(verbose: u8) -> Option<Progress> {
        let logging = verbose > 0 || std::env::var_os("RUST_LOG").is_some_and(|v| !v.is_empty());
        if logging || !io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(
            None,
            ProgressDrawTarget::stderr_with_hz(DRAWS_PER_SECOND),
        );
        Some(Progress {
            bar,
            done: Arc::new(AtomicUsize::new(0)),
            total: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// A spinner saying what the run is doing before it knows how much there is to do.
    pub fn status(&self, what: &str) {
        self.bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}  {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner())
                .tick_chars("|/-\\ "),
        );
        self.bar.set_message(what.to_string());
        self.bar.enable_steady_tick(Duration::from_secs(1));
    }

    /// From now on a bar: `items` items of `bytes` bytes (as listed) to take.
    pub fn start(&self, items: usize, bytes: u64) {
        self.total.store(items, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        // The message first: under the spinner's style it is short, under the bar's it must be.
        self.bar.set_message(self.items());
        self.bar.set_length(bytes);
        self.bar.set_position(0);
        self.bar.reset_eta();
        self.bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes}  {elapsed}, {eta} left",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        self.bar.tick();
    }

    /// One more item handled (deposited, failed or skipped), of `bytes` bytes as listed.
    pub fn advance(&self, bytes: u64) {
        self.done.fetch_add(1, Ordering::Relaxed);
        self.bar.set_message(self.items());
        self.bar.inc(bytes);
    }

    /// Runs `write` with the display taken off the screen, then draws it again.
    pub fn suspend<R>(&self, write: impl FnOnce() -> R) -> R {
        self.bar.suspend(write)
    }

    /// Takes the display off the screen for good.
    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }

    /// A writer for log lines (`env_logger`'s target) that suspends the display around each line.
    pub fn writer(&self) -> SuspendingStderr {
        SuspendingStderr {
            progress: self.clone(),
            line: Vec::new(),
        }
    }

    fn items(&self) -> String {
        format!(
            "{}/{} items",
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed)
        )
    }
}

/// Standard error, written a whole line at a time with the progress display out of the way.
pub struct SuspendingStderr {
    progress: Progress,
    line: Vec<u8>,
}

impl Write for SuspendingStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        if self.line.ends_with(b"\n") {
            self.flush()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.line.is_empty() {
            return Ok(());
        }
        let line = std::mem::take(&mut self.line);
        self.progress
            .suspend(|| io::stderr().lock().write_all(&line))
    }
}
