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
