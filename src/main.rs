//! lanceur: feeds documents from folders, mailboxes and Adullact envelopes into EzGED COLD folders.
//!
//! `main` parses the command line (with its launcher file, if it names one), starts logging, runs
//! the command and says how it ended: every command ends in an `Ended`, which `main` alone turns
//! into a message and an exit code (see `exit.rs`). `cycle.rs` is the place to start reading.
//!
//! Modules, each importing only those on later lines (see the README's "Development" section):
//!
//! - `cli` (what the user typed, clap), `config` (checks it into `settings`);
//! - `cycle` (the order of a run's steps) and `check` (`lanceur check`);
//! - `source` (one module per protocol), `deposit`, `journal`, `lock`, `report`;
//! - `settings` (what a launcher is), then `extract` (MIME, archives), `tls`, `secret`;
//! - `item` (items, documents, outcomes), `exit`, `durable`, `private`, `names`, `clock`,
//!   `filter`.

use std::ffi::OsString;
use std::process::ExitCode;

mod aside;
mod check;
mod cli;
mod clock;
mod config;
mod cycle;
mod deposit;
mod durable;
mod exit;
mod extract;
mod filter;
mod item;
mod journal;
mod lock;
mod names;
mod oauth;
mod private;
mod report;
mod secret;
mod settings;
mod source;
mod status;
mod stop;
mod tls;
mod watch;

use report::{Progress, Reporter, RunLog, Summary};
use settings::Launcher;

fn main() -> ExitCode {
    ExitCode::from(run(std::env::args_os().collect()).say())
}

/// How a command ended, for `main` to say. Every command ends in one, so there is one way out.
struct Ended {
    /// Who speaks: the launcher's reporter once one is known, so that messages carry its name.
    reporter: Option<Reporter>,
    /// With `--json`: the summary to print, whatever happened.
    json: Option<Summary>,
    /// What stopped the command early, if anything; it decides the exit code.
    error: Option<anyhow::Error>,
    /// The exit code when nothing stopped it: 0, 1 when items failed, or `check`'s verdict.
    code: u8,
    /// `-v`: say even what cron need not hear (another run still working).
    verbose: u8,
}

impl Ended {
    /// A command that stopped before any launcher was known (a bad launcher file or option).
    fn early(error: anyhow::Error) -> Ended {
        Ended {
            reporter: exit::launcher_of(&error).map(Reporter::new),
            json: None,
            error: Some(error),
            code: exit::OK,
            verbose: 0,
        }
    }

    /// Prints the one line for the error and the `--json` summary; returns the exit code.
    fn say(self) -> u8 {
        let code = self.error.as_ref().map_or(self.code, exit::code_for);
        let message = self.error.as_ref().map(exit::message_for);
        // cron runs a launcher every minute and mails whatever it prints: a run that finds the
        // previous one still working did nothing wrong, and says so only when asked (-v). Its
        // exit code and its --json line still tell.
        let quiet = code == exit::LOCKED && self.verbose == 0;
        if let Some(message) = message.as_ref().filter(|_| !quiet) {
            match &self.reporter {
                Some(reporter) => reporter.problem(message),
                None => report::problem_without_launcher(message),
            }
        }
        if let Some(summary) = &self.json {
            report::print_json(summary, code, message.as_deref());
        }
        code
    }
}

fn run(argv: Vec<OsString>) -> Ended {
    let parsed = match cli::file::parse(argv) {
        Ok(parsed) => parsed,
        Err(err) => return Ended::early(err),
    };
    for warning in &parsed.warnings {
        report::problem_without_launcher(warning);
    }
    if let cli::Command::Status(args) = &parsed.cli.command {
        return match config::status(&args.dir) {
            Ok(launchers) => Ended {
                reporter: None,
                json: None,
                error: None,
                code: status::run(&args.dir, launchers, args.json),
                verbose: 0,
            },
            Err(err) => Ended::early(err),
        };
    }
    if let Some(login) = config::login(&parsed.cli.command, &parsed.secrets) {
        return match login {
            Ok(config) => sign_in(&config),
            Err(err) => Ended::early(err),
        };
    }
    let launcher = match config::launcher(parsed.cli.command, &parsed.secrets) {
        Ok(launcher) => launcher,
        Err(err) => return Ended::early(err),
    };
    if launcher
        .retry
        .as_ref()
        .is_some_and(|r| !r.all && r.keys.is_empty())
    {
        return Ended {
            reporter: None,
            json: None,
            error: None,
            code: check::list_set_aside(&launcher),
            verbose: launcher.verbose,
        };
    }
    if launcher.check {
        start_logging(&launcher.name, launcher.verbose, None);
        log::debug!("{launcher:#?}");
        return Ended {
            reporter: None,
            json: None,
            error: None,
            code: check::run(&launcher),
            verbose: launcher.verbose,
        };
    }
    cycle_run(&launcher)
}

/// One cycle of `launcher`.
fn cycle_run(launcher: &Launcher) -> Ended {
    // A dry run's listing goes to standard output, often the same terminal: no display then.
    let progress = if launcher.dry_run {
        None
    } else {
        Progress::if_watched(launcher.verbose)
    };
    start_logging(&launcher.name, launcher.verbose, progress.as_ref());
    log::debug!("{launcher:#?}");
    stop::install();
    let reporter = Reporter::new(&launcher.name).with_progress(progress);
    let json = |summary: Summary| launcher.json.then_some(summary);
    // The run log opens before any work, so that a bad --log-file costs nothing. A dry run deposits
    // nothing, so it neither writes nor creates it.
    let run_log = match launcher
        .log_file
        .as_deref()
        .filter(|_| !launcher.dry_run)
        .map(RunLog::open)
        .transpose()
    {
        Ok(run_log) => run_log,
        Err(err) => {
            return Ended {
                json: json(Summary::new(&launcher.name, launcher.dry_run)),
                reporter: Some(reporter),
                error: Some(err),
                code: exit::OK,
                verbose: launcher.verbose,
            }
        }
    };
    let outcome = cycle::run(launcher, &reporter.clone().with_run_log(run_log));
    reporter.progress_end();
    Ended {
        code: outcome.exit_code(),
        json: json(outcome.summary),
        reporter: Some(reporter),
        error: outcome.error,
        verbose: launcher.verbose,
    }
}

/// `lanceur imap|pop|o365 login`: an interactive step with no cycle; it prints the provider's
/// instructions.
fn sign_in(config: &settings::oauth::LoginConfig) -> Ended {
    start_logging(&config.launcher, 0, None);
    let mut stdout = std::io::stdout();
    Ended {
        reporter: Some(Reporter::new(&config.launcher)),
        json: None,
        error: source::login(config, &mut stdout).err(),
        code: exit::OK,
        verbose: 0,
    }
}

/// `RUST_LOG` wins; otherwise warnings only, `-v` info, `-vv` debug, for lanceur's own messages.
/// Every line starts as the launcher's problems do, `lanceur: NAME: `, so that a warning from deep
/// inside (a certificate check turned off, a link that is not an attachment) reads like the rest
/// and a shared log tells launchers apart; the lines of a multi-line record are indented.
/// While a progress display is shown, log lines are written around it.
fn start_logging(launcher: &str, verbose: u8, progress: Option<&Progress>) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let mut builder = env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or(format!("lanceur={level}")),
    );
    let launcher = launcher.to_string();
    builder.format(move |out, record| {
        use std::io::Write;
        let level = match record.level() {
            log::Level::Error => "error: ",
            log::Level::Warn => "warning: ",
            log::Level::Info => "",
            log::Level::Debug => "debug: ",
            log::Level::Trace => "trace: ",
        };
        let text = record.args().to_string();
        let lines: Vec<String> = text.lines().map(report::printable).collect();
        writeln!(out, "lanceur: {launcher}: {level}{}", lines.join("\n    "))
    });
    if let Some(progress) = progress {
        builder.target(env_logger::Target::Pipe(Box::new(progress.writer())));
    }
    let logger = builder.build();
    log::set_max_level(logger.filter());
    // Nothing can be done if a logger is already set (it is not: this runs once).
    let _ = log::set_boxed_logger(Box::new(OwnTrace(logger)));
}

/// Other crates' trace level is dropped whatever `RUST_LOG` says: ureq's is the raw HTTP
/// exchange, unredacted, with the bearer tokens, refresh tokens and client secrets it carries.
/// Their debug level (ureq redacts headers there) and lanceur's own trace level pass.
struct OwnTrace(env_logger::Logger);

impl log::Log for OwnTrace {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        (metadata.level() < log::Level::Trace || metadata.target().starts_with("lanceur"))
            && self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}
