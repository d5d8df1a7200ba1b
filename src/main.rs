//! lanceur: feeds documents from folders, mailboxes and Adullact envelopes into EzGED COLD folders.
//!
//! `main` parses the command line, starts logging, runs one cycle and maps the result to an exit code
//! (see `exit.rs`). Everything else lives in the modules below; `cycle.rs` is the place to start.

use std::process::ExitCode;

use clap::Parser;

mod check;
mod cli;
mod config;
mod cycle;
mod deposit;
mod durable;
mod exit;
mod extract;
mod filter;
mod journal;
mod lock;
mod report;
mod secret;
mod source;
mod tls;

use config::Launcher;
use report::{Progress, Reporter, RunLog};

fn main() -> ExitCode {
    let argv = match cli::file::rewrite(std::env::args_os().collect()) {
        Ok(argv) => argv,
        Err(err) => {
            eprintln!("lanceur: {}", report::printable(&exit::message_for(&err)));
            return ExitCode::from(exit::code_for(&err));
        }
    };
    // clap prints usage errors itself and exits with 2, our usage code.
    let cli = cli::Cli::parse_from(argv);
    ExitCode::from(run(cli))
}

fn run(cli: cli::Cli) -> u8 {
    let command = match cli.command {
        cli::Command::O365(cli::o365::O365Command::Login(args)) => return o365_login(args),
        command => command,
    };
    let launcher = match Launcher::from_command(command) {
        Ok(launcher) => launcher,
        Err(err) => {
            eprintln!("lanceur: {}", report::printable(&exit::message_for(&err)));
            return exit::code_for(&err);
        }
    };
    if launcher.check {
        start_logging(launcher.verbose, None);
        log::debug!("{launcher:#?}");
        return check::run(&launcher);
    }
    // A dry run's listing goes to standard output, often the same terminal: no display then.
    let progress = if launcher.dry_run {
        None
    } else {
        Progress::if_watched(launcher.verbose)
    };
    start_logging(launcher.verbose, progress.as_ref());
    log::debug!("{launcher:#?}");
    let reporter = Reporter::new(&launcher.name).with_progress(progress);
    // The run log opens before any work, so that a bad --log-file costs nothing. A dry run deposits
    // nothing, so it neither writes nor creates it.
    let result = launcher
        .log_file
        .as_deref()
        .filter(|_| !launcher.dry_run)
        .map(RunLog::open)
        .transpose()
        .and_then(|run_log| cycle::run(&launcher, &reporter.clone().with_run_log(run_log)));
    reporter.progress_end();
    match result {
        Ok(outcome) => {
            let code = outcome.exit_code();
            let message = outcome.error.as_ref().map(exit::message_for);
            if let Some(message) = &message {
                reporter.problem(message);
            }
            if launcher.json {
                report::print_json(&outcome.summary, code, message.as_deref());
            }
            code
        }
        Err(err) => {
            let code = exit::code_for(&err);
            let message = exit::message_for(&err);
            reporter.problem(&message);
            if launcher.json {
                let summary = report::Summary::new(&launcher.name, launcher.dry_run);
                report::print_json(&summary, code, Some(&message));
            }
            code
        }
    }
}

/// `lanceur o365 login`: an interactive step with no cycle; it prints Microsoft's instructions.
fn o365_login(args: cli::o365::O365LoginArgs) -> u8 {
    let config = match config::o365::login(args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("lanceur: {}", report::printable(&exit::message_for(&err)));
            return exit::code_for(&err);
        }
    };
    start_logging(0, None);
    let reporter = Reporter::new(&config.launcher);
    let mut stdout = std::io::stdout();
    match source::o365::login(&config, &mut stdout) {
        Ok(()) => exit::OK,
        Err(err) => {
            reporter.problem(&exit::message_for(&err));
            exit::code_for(&err)
        }
    }
}

/// `RUST_LOG` wins; otherwise warnings only, `-v` info, `-vv` debug, for lanceur's own messages.
/// While a progress display is shown, log lines (warnings) are written around it.
fn start_logging(verbose: u8, progress: Option<&Progress>) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let mut builder = env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or(format!("lanceur={level}")),
    );
    builder.format_target(false);
    if let Some(progress) = progress {
        builder.target(env_logger::Target::Pipe(Box::new(progress.writer())));
    }
    builder.init();
}
