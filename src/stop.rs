//! Why a run should end before its work is done: a signal (SIGINT, SIGTERM, SIGHUP on Unix;
//! Ctrl-C and Ctrl-Break on Windows), or the run's deadline (`--run-timeout`).
//!
//! Both are process-wide facts, so they live here as such: the handlers only set a flag, and the
//! cycle looks at `reason()` before each item (it stops taking new ones, finishes the batch it has
//! staged, and ends with the reason's error), while the connections' reads look at it between short
//! waits (`tls::Paced`), so that a run blocked on a silent or trickling server ends too, and so do
//! pauses (`pause`: Graph's `Retry-After`). HTTP exchanges are bounded by the deadline as a whole
//! (`oauth::http::bounded`); a signal is seen when the exchange ends. A second
//! signal ends the process at once (exit code 7): the journal makes that safe, and the next run
//! removes any temporary file it left.
//!
//! On Windows the handler runs on `ctrlc`'s own thread, which the console's handler only wakes: a
//! closed console (or a log-off, a shutdown) ends the process at once, whatever this handler does,
//! as a second signal would; the journal makes that safe too.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::anyhow;

use crate::exit::Failure;

/// The signal that asked the run to stop (its number on Unix, 1 on Windows), or 0.
static SIGNAL: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
/// When the run must end, and the `--run-timeout` it comes from.
static DEADLINE: OnceLock<(Instant, Duration)> = OnceLock::new();
/// The longest `pause` sleeps between two looks at `reason`.
const SLICE: Duration = Duration::from_millis(100);

/// Why the run must stop now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Signal(usize),
    Deadline(Duration),
}

impl Reason {
    /// The error the run ends with: exit 7 for a signal, 4 for the deadline.
    pub fn error(self) -> anyhow::Error {
        match self {
            Reason::Signal(number) => anyhow!(
                "stopped by {}: the items already deposited are journaled, the rest waits for \
                 the next run",
                signal_name(number)
            )
            .context(Failure::Interrupted),
            Reason::Deadline(limit) => anyhow!(
                "the run reached --run-timeout {}: what it had not taken waits for the next run",
                humantime::format_duration(limit)
            )
            .context(Failure::Source),
        }
    }
}

/// Installs the signal handlers, once, at the start of a run.
pub fn install() {
    let which = Arc::clone(SIGNAL.get_or_init(Arc::default));
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        use std::sync::atomic::AtomicBool;
        let any = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            // Registered first, so that it sees the flag as the previous signal left it.
            let second = signal_hook::flag::register_conditional_shutdown(
                signal,
                i32::from(crate::exit::INTERRUPTED),
                Arc::clone(&any),
            );
            let first = signal_hook::flag::register(signal, Arc::clone(&any)).and_then(|_| {
                let number = usize::try_from(signal).unwrap_or(1);
                signal_hook::flag::register_usize(signal, Arc::clone(&which), number)
            });
            if let Err(err) = second.and(first) {
                log::warn!("cannot handle signal {signal}: {err}");
            }
        }
    }
    #[cfg(windows)]
    {
        let set = ctrlc::set_handler(move || {
            if which.swap(1, Ordering::SeqCst) != 0 {
                std::process::exit(i32::from(crate::exit::INTERRUPTED));
            }
        });
        if let Err(err) = set {
            log::warn!("cannot handle Ctrl-C: {err}");
        }
    }
}

/// Starts the run's clock: it must end within `limit`.
pub fn start_run(limit: Duration) {
    let _ = DEADLINE.set((Instant::now() + limit, limit));
}

/// Time left before the run's deadline, if it has one.
pub fn run_left() -> Option<Duration> {
    DEADLINE
        .get()
        .map(|(deadline, _)| deadline.saturating_duration_since(Instant::now()))
}

/// Waits `length`, in short slices, unless the run must stop first: then says why, at once.
pub fn pause(length: Duration) -> Result<(), Reason> {
    let end = Instant::now() + length;
    loop {
        if let Some(reason) = reason() {
            return Err(reason);
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(SLICE));
    }
}

/// Why the run must stop now, if it must.
pub fn reason() -> Option<Reason> {
    match SIGNAL.get().map_or(0, |s| s.load(Ordering::SeqCst)) {
        0 => {}
        number => return Some(Reason::Signal(number)),
    }
    let (deadline, limit) = DEADLINE.get()?;
    (Instant::now() >= *deadline).then_some(Reason::Deadline(*limit))
}

fn signal_name(number: usize) -> &'static str {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        match i32::try_from(number).unwrap_or(0) {
            SIGINT => "SIGINT (Ctrl-C)",
            SIGTERM => "SIGTERM",
            SIGHUP => "SIGHUP",
            _ => "a signal",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = number;
        "Ctrl-C or Ctrl-Break"
    }
}
