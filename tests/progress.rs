//! The progress display: drawn on standard error when it is a terminal, never when it is a pipe (as
//! under cron or the Task Scheduler), never with logging on, and gone from the screen at the end. A
//! terminal is given to the binary by `script` (util-linux), whose own output is everything the
//! binary wrote to it; a small terminal emulator (vt100) replays that to show what is left on the
//! screen. See: issue 7.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::harness::{write_old, TestEnv};

const FILES: usize = 20;

fn fill(env: &TestEnv) {
    for i in 0..FILES {
        write_old(
            &env.source.join(format!("scan-{i:02}.pdf")),
            &vec![b'a'; 1000 + i],
        );
    }
}

fn good_envelope() -> Vec<u8> {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/adullact/depot_format/Titre_de_mon_document.zip"
    );
    std::fs::read(fixture).unwrap()
}

fn dir_args(env: &TestEnv) -> Vec<String> {
    [
        "dir",
        "--min-age",
        "0s",
        "--source",
        env.source.to_str().unwrap(),
        "--dest",
        env.cold.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

/// What a terminal got from `lanceur ARGS` run on it: the exit code and the raw bytes.
fn on_a_terminal(env: &TestEnv, args: &[String], extra_env: &[(&str, &str)]) -> (i32, Vec<u8>) {
    on_a_terminal_but(env, args, extra_env, None)
}

/// The same, with standard error sent to the file `stderr_to` rather than to the terminal.
fn on_a_terminal_but(
    env: &TestEnv,
    args: &[String],
    extra_env: &[(&str, &str)],
    stderr_to: Option<&Path>,
) -> (i32, Vec<u8>) {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut line = quote(env!("CARGO_BIN_EXE_lanceur"));
    for arg in args {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    if let Some(file) = stderr_to {
        line.push_str(" 2>");
        line.push_str(&quote(file.to_str().unwrap()));
    }
    let base = env.command();
    let mut command = Command::new("script");
    // -q: no "Script started" lines; -e: the binary's exit code; -c: the command line.
    command
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .env_clear()
        .stdin(Stdio::null());
    for (key, value) in base.get_envs() {
        if let Some(value) = value {
            command.env(key, value);
        }
    }
    // A terminal that can move its cursor: indicatif draws nothing when TERM is unset or dumb.
    command.env("SHELL", "/bin/sh").env("TERM", "xterm");
    for (key, value) in extra_env {
        command.env(key, value);
    }
    let output = command
        .output()
        .expect("script (util-linux/bsdutils) is needed to give lanceur a terminal");
    assert!(
        output.stderr.is_empty(),
        "script: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), output.stdout)
}

/// The screen after `bytes`, as an 80×24 terminal shows it, blank lines dropped.
fn screen(bytes: &[u8]) -> String {
    let size = |n| std::num::NonZeroU16::new(n).unwrap();
    let mut parser = vt100::Parser::new(size(24), size(80), 0);
    parser.process(bytes);
    let contents = parser.screen().contents();
    contents
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn never_drawn_on_a_pipe() {
    let env = TestEnv::new();
    fill(&env);
    // TestEnv gives the binary pipes: a successful run prints nothing at all, even where TERM
    // names a real terminal.
    let mut command = env.command();
    command.env("TERM", "xterm").args(dir_args(&env));
    env.run_command(command).expect_code(0).expect_quiet();
    assert_eq!(env.cold_visible().len(), FILES);

    // Standard output on a terminal is not enough: the display is for standard error only.
    let env = TestEnv::new();
    fill(&env);
    let errors = env.root().join("stderr");
    let (code, raw) = on_a_terminal_but(&env, &dir_args(&env), &[], Some(&errors));
    assert_eq!(code, 0, "{:?}", String::from_utf8_lossy(&raw));
    assert_eq!(env.cold_visible().len(), FILES);
    assert!(raw.is_empty(), "{:?}", String::from_utf8_lossy(&raw));
    assert_eq!(std::fs::read(&errors).unwrap(), b"");
}

#[test]
fn drawn_on_a_terminal_then_cleared() {
    let env = TestEnv::new();
    fill(&env);
    let (code, raw) = on_a_terminal(&env, &dir_args(&env), &[]);
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(code, 0, "{text:?}");
    assert_eq!(env.cold_visible().len(), FILES);
    // The display was there: the same run on a pipe printing nothing is no accident of an empty
    // run.
    assert!(
        text.contains(&format!("0/{FILES} items [")),
        "no progress display on a terminal: {text:?}"
    );
    assert!(text.contains(" KiB/"), "no bytes in the display: {text:?}");
    // And it is gone: the screen is blank.
    assert_eq!(screen(&raw), "", "left on the screen; raw output: {text:?}");
}

#[test]
fn problems_stay_on_the_screen_and_the_display_does_not() {
    let env = TestEnv::new();
    // An Adullact envelope that is no ZIP fails its item; the good one beside it is deposited.
    let adullact = env.dir("envelopes");
    write_old(&adullact.join("broken.zip"), b"PK\x03\x04 this is no zip");
    write_old(&adullact.join("good.zip"), &good_envelope());
    let args = [
        "adullact",
        "--min-age",
        "0s",
        "--source",
        adullact.to_str().unwrap(),
        "--dest",
        env.cold.to_str().unwrap(),
    ]
    .map(String::from);
    let (code, raw) = on_a_terminal(&env, &args, &[]);
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(code, 1, "{text:?}");
    assert!(text.contains("0/2 items ["), "no display: {text:?}");
    assert_eq!(env.cold_visible(), vec!["foo.txt"]);
    let shown = screen(&raw);
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 1, "{shown}\nraw: {text:?}");
    assert!(
        lines[0].starts_with("lanceur: adullact-envelopes-") && lines[0].contains("broken.zip"),
        "{shown}"
    );
}

#[test]
fn not_drawn_when_logging_is_on() {
    let env = TestEnv::new();
    fill(&env);
    let mut args = dir_args(&env);
    args.push("-v".into());
    let (code, raw) = on_a_terminal(&env, &args, &[]);
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(code, 0, "{text:?}");
    assert!(!text.contains(" items ["), "{text:?}");
    assert!(text.contains("deposited scan-00.pdf"), "{text:?}");

    let env = TestEnv::new();
    fill(&env);
    let (code, raw) = on_a_terminal(&env, &dir_args(&env), &[("RUST_LOG", "lanceur=info")]);
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(code, 0, "{text:?}");
    assert!(!text.contains(" items ["), "{text:?}");
}
