//! Looking for secrets (passwords, tokens, client secrets) in everything a run prints or logs, at
//! every verbosity a user can ask for (see: issue 11, point 8).

use std::path::Path;
use std::process::Command;

use super::Ran;

/// One way of asking for detail: command-line flags and a `RUST_LOG`.
pub struct Verbosity {
    pub flags: &'static [&'static str],
    pub rust_log: Option<String>,
}

impl Verbosity {
    /// Adds the flags and the `RUST_LOG` to `command`.
    pub fn apply(&self, command: &mut Command) {
        command.args(self.flags);
        if let Some(rust_log) = &self.rust_log {
            command.env("RUST_LOG", rust_log);
        }
    }
}

impl std::fmt::Display for Verbosity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let log = self.rust_log.as_deref().unwrap_or("");
        let log: String = log.chars().take(60).collect();
        write!(f, "flags {:?}, RUST_LOG {log:?}", self.flags)
    }
}

/// No flag, `-v`, `-vv`, `RUST_LOG=trace`, and `RUST_LOG` naming every crate lanceur is built
/// from (Cargo.lock) at trace, with `-vv`.
pub fn verbosities() -> Vec<Verbosity> {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
        .expect("Cargo.lock");
    let every_crate: Vec<String> = lock
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .map(|name| format!("{}=trace", name.trim_end_matches('"').replace('-', "_")))
        .collect();
    assert!(every_crate.len() > 50, "Cargo.lock lists few crates");
    vec![
        Verbosity {
            flags: &[],
            rust_log: None,
        },
        Verbosity {
            flags: &["-v"],
            rust_log: None,
        },
        Verbosity {
            flags: &["-vv"],
            rust_log: None,
        },
        Verbosity {
            flags: &[],
            rust_log: Some("trace".into()),
        },
        Verbosity {
            flags: &["-vv"],
            rust_log: Some(every_crate.join(",")),
        },
    ]
}

/// Panics, naming where, if any of `secrets` is in `ran`'s output or in one of `files` (a
/// `--log-file`). An empty secret is a test's mistake.
#[track_caller]
pub fn assert_hidden(ran: &Ran, secrets: &[&str], files: &[&Path]) {
    let mut places = vec![
        ("stdout".to_string(), ran.stdout.clone()),
        ("stderr".to_string(), ran.stderr.clone()),
    ];
    for file in files {
        let text = std::fs::read(file)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        places.push((file.display().to_string(), text));
    }
    for secret in secrets {
        assert!(!secret.is_empty(), "an empty secret is found everywhere");
        for (place, text) in &places {
            assert!(
                !text.contains(secret),
                "{place} shows the secret {secret:?}\n{}",
                ran.explain()
            );
        }
    }
}
