//! The scheduling examples in `examples/` are valid for the programs that read them: systemd's own
//! checker accepts the units, the Task Scheduler XML is well formed with the settings it promises,
//! and every crontab line runs a launcher file that `examples/` holds. (The launcher files
//! themselves are parsed by a unit test in `src/cli/file.rs`.)

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

#[test]
#[cfg_attr(windows, ignore = "systemd-analyze(1): Linux only")]
fn the_systemd_units_pass_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    // The unit runs /usr/local/bin/lanceur as ezged; verify checks that the program exists, so
    // point it at the binary under test and at a user this machine has.
    let service = fs::read_to_string(examples().join("scheduling/lanceur@.service")).unwrap();
    assert!(service.contains("ExecStart=/usr/local/bin/lanceur run /etc/lanceur/%i.toml"));
    let service = service
        .replace("/usr/local/bin/lanceur", env!("CARGO_BIN_EXE_lanceur"))
        .replace("User=ezged", "User=root")
        .replace("Group=ezged", "Group=root");
    fs::write(dir.path().join("lanceur@.service"), service).unwrap();
    fs::copy(
        examples().join("scheduling/lanceur@.timer"),
        dir.path().join("lanceur@.timer"),
    )
    .unwrap();
    let output = Command::new("systemd-analyze")
        .args([
            "verify",
            "./lanceur@factures.service",
            "./lanceur@factures.timer",
        ])
        .current_dir(dir.path())
        .output()
        .expect("systemd-analyze (Debian package systemd) is needed; scripts/test installs it");
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_task_scheduler_xml_is_well_formed_and_never_overlaps() {
    let text = fs::read_to_string(examples().join("scheduling/lanceur-task.xml")).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
    let ns = "http://schemas.microsoft.com/windows/2004/02/mit/task";
    let root = doc.root_element();
    assert!(root.has_tag_name((ns, "Task")));
    let text_of = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name((ns, name)))
            .and_then(|n| n.text())
            .unwrap_or_else(|| panic!("no <{name}>"))
            .to_string()
    };
    assert_eq!(text_of("MultipleInstancesPolicy"), "IgnoreNew");
    assert_eq!(text_of("Interval"), "PT5M");
    assert!(text_of("Command").ends_with("lanceur.exe"));
    assert!(text_of("Arguments").starts_with("run "));
}

#[test]
fn every_crontab_line_runs_an_example_launcher_file() {
    let text = fs::read_to_string(examples().join("scheduling/crontab")).unwrap();
    let mut jobs = 0;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.contains('=') && !line.contains(' ') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert!(fields.len() >= 8, "not a cron job: {line}");
        for field in &fields[..5] {
            assert!(
                field
                    .chars()
                    .all(|c| c.is_ascii_digit() || "*/,-".contains(c)),
                "bad schedule field {field:?} in {line}"
            );
        }
        assert_eq!(&fields[5..7], ["lanceur", "run"], "{line}");
        let file = Path::new(fields[7]).file_name().unwrap();
        assert!(
            examples().join(file).exists(),
            "{line}: no {file:?} in examples/"
        );
        jobs += 1;
    }
    assert!(jobs >= 3, "{jobs} jobs");
}

#[test]
#[cfg_attr(windows, ignore = "scripts/demo is a POSIX shell script: Linux only")]
fn scripts_demo_deposits_the_sample_and_installs_what_a_build_needs() {
    // See: issue 16. The demo is the first command a new administrator runs.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = tempfile::tempdir().unwrap();
    let output = Command::new(root.join("scripts/demo"))
        .arg(scratch.path())
        .env("LANCEUR_BIN", env!("CARGO_BIN_EXE_lanceur"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut cold: Vec<String> = fs::read_dir(scratch.path().join("cold"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    cold.sort();
    assert_eq!(
        cold,
        [
            "Facture 2024-0117 Dupont SARL.idx",
            "Facture 2024-0117 Dupont SARL.pdf",
            "Facture 2024-0118 Dupont SARL.idx",
            "Facture 2024-0118 Dupont SARL.pdf",
            "courrier-prefecture.idx",
            "courrier-prefecture.pdf",
            "releve.csv",
            "releve.idx",
        ]
    );
    assert!(stdout.contains("\"documents_deposited\":4"), "{stdout}");
    // Without LANCEUR_BIN it builds, so it first installs OpenSSL's headers and says the build
    // is slow the first time.
    let script = fs::read_to_string(root.join("scripts/demo")).unwrap();
    assert!(script.contains("scripts/install-needed libssl-dev pkg-config"));
    assert!(script.contains("the first build takes a couple of minutes"));
    assert!(script.contains("Rust 1.89 or later through rustup"));
}

#[test]
fn systemd_counts_as_success_only_the_codes_where_nothing_went_wrong() {
    // See: issue 16. Exit code 1 means items failed: systemd must show it.
    let service = fs::read_to_string(examples().join("scheduling/lanceur@.service")).unwrap();
    let success: Vec<&str> = service
        .lines()
        .filter_map(|l| l.strip_prefix("SuccessExitStatus="))
        .flat_map(str::split_whitespace)
        .collect();
    let help = Command::new(env!("CARGO_BIN_EXE_lanceur"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    // The codes whose meaning is that nothing went wrong with the work: 0, "this one did
    // nothing", and a stop asked for by a signal (systemctl stop) after the batch was finished.
    let harmless: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Exit codes:"))
        .filter_map(|l| {
            let (code, meaning) = l.trim().split_once("  ")?;
            let harmless =
                meaning.contains("this one did nothing") || meaning.contains("stopped by a signal");
            (code != "0" && harmless).then(|| code.to_string())
        })
        .collect();
    assert_eq!(harmless, ["6", "7"], "{help}");
    assert_eq!(success, harmless, "{service}");
}

#[test]
fn every_example_launcher_file_pins_its_name_and_state_folder() {
    // See: issue 16. Renaming factures.toml, or running it as another user, must not start an
    // empty journal.
    let mut seen = 0;
    for entry in fs::read_dir(examples()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        seen += 1;
        let table: toml::Table = fs::read_to_string(&path).unwrap().parse().unwrap();
        let stem = path.file_stem().unwrap().to_str().unwrap();
        assert_eq!(table["name"].as_str(), Some(stem), "{}", path.display());
        assert_eq!(
            table["state-dir"].as_str(),
            Some("/var/lib/lanceur"),
            "{}",
            path.display()
        );
    }
    assert!(seen >= 5);
}
