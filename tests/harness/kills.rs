//! Interrupting real runs: kill -9 loops aimed at the middle of the work (`kill_loop`, whose
//! `Kills` say how many kills really interrupted it), a kill or a SIGTERM once a condition holds,
//! and the seeded random delays they use.

use std::process::{Command, Stdio};
use std::time::Duration;

#[cfg(unix)]
use super::Ran;

/// What a kill -9 loop did.
#[derive(Debug, Default)]
pub struct Kills {
    pub rounds: usize,
    /// Runs that ended on their own before their kill.
    pub finished: usize,
    /// Runs killed in the middle of their work: after some of it was done, before the end.
    pub mid_work: usize,
}

/// The kill -9 loop of a crash test: starts `command()` and kills it with SIGKILL, `rounds` times,
/// calling `after(round)` after each (the test's consistency check). `work()` must be cheap: it
/// measures the work done so far (documents visible in the COLD folder), and a kill lands mid-work
/// when `work()` grew during the run it killed, i.e. after some document was deposited and before
/// the run ended.
///
/// Two kinds of kill:
/// - *aimed*: `work()` is watched while the run works, and the run is killed as soon as it grows:
///   in the middle of a batch's renames or just after them, before the source is acknowledged.
///   The first two rounds are aimed, so every loop kills where it matters most while work remains.
/// - *random*: after a delay drawn below a bound that starts at `max_micros` and follows the runs
///   (it grows while kills land before any work is done, and shrinks when runs end before their
///   kill), so that kills spread over the whole length of a run, recovery and listing included.
///
/// A loop in which no kill landed mid-work proves nothing: it goes on with aimed kills for at most
/// `rounds` more rounds, and fails the test if none ever lands.
pub fn kill_loop(
    rounds: usize,
    random: &mut Random,
    max_micros: u64,
    mut command: impl FnMut() -> Command,
    mut work: impl FnMut() -> usize,
    mut after: impl FnMut(usize),
) -> Kills {
    let mut kills = Kills::default();
    let mut longest = max_micros.max(1000);
    for round in 0..rounds * 2 {
        if round >= rounds && kills.mid_work > 0 {
            break;
        }
        let aimed = round < 2 || round >= rounds;
        let before = work();
        let finished = if aimed {
            run_then_kill_when(&mut command(), &mut || work() > before, round)
        } else {
            run_then_kill(&mut command(), random, longest, round)
        };
        kills.rounds += 1;
        if finished {
            kills.finished += 1;
            if !aimed {
                longest = (longest * 4 / 5).max(1000);
            }
        } else if work() > before {
            kills.mid_work += 1;
        } else if !aimed {
            longest = longest * 5 / 4;
        }
        after(round);
    }
    eprintln!("{kills:?}, last random delay bound {} ms", longest / 1000);
    assert!(
        kills.mid_work > 0,
        "no kill landed in the middle of a run's work ({kills:?}): the loop proves nothing; \
         give the runs more work"
    );
    kills
}

/// Starts `command` with its standard output discarded and kills it with SIGKILL as soon as
/// `kill_now()` says so, if it is still running then. A run that ended on its own must have
/// succeeded; if it did not, the test fails with what it printed on stderr. Returns whether it
/// ended before the kill.
pub fn run_then_kill_when(
    command: &mut Command,
    kill_now: &mut dyn FnMut() -> bool,
    round: usize,
) -> bool {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start lanceur");
    // Read on the side, so that a talkative run never blocks on a full pipe; the thread ends with
    // the pipe, when the run ends or is killed.
    let mut stderr = child.stderr.take().unwrap();
    let said = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            if !status.success() {
                let said = said.join().unwrap_or_default();
                panic!("run {round} failed before the kill: {status}\n{said}");
            }
            return true;
        }
        if kill_now() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            return false;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[cfg(unix)]
/// Starts `command`, sends it SIGTERM once `ready()` says so (the run must still be running then),
/// and collects what it printed and its exit code.
pub fn run_then_sigterm_when(mut command: Command, ready: &mut dyn FnMut() -> bool) -> Ran {
    let description = format!("{command:?}");
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start lanceur");
    while !ready() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before the signal"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success(), "cannot send SIGTERM to {pid}");
    let output = child.wait_with_output().unwrap();
    Ran::from_parts(
        description,
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `run_then_kill_when`, with the kill after a random delay below `max_micros`.
pub fn run_then_kill(
    command: &mut Command,
    random: &mut Random,
    max_micros: u64,
    round: usize,
) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_micros(random.below(max_micros));
    run_then_kill_when(
        command,
        &mut || std::time::Instant::now() >= deadline,
        round,
    )
}

/// A small, seedable generator, so a failing run can be replayed with the printed seed.
pub struct Random(u64);

impl Random {
    pub fn from_time() -> Random {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Random::new(seed)
    }

    pub fn new(seed: u64) -> Random {
        eprintln!("random seed: {seed}");
        Random(seed | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}
