//! A file still being written when a run lists it: never taken while it changes.

use std::fs;
use std::time::{Duration, SystemTime};

use crate::harness::TestEnv;

/// See: issue 10. A file that changes between the listing and the moment it is taken is left for
/// a later run by the re-check of its size and time, whatever `--min-age` said at listing time;
/// and while it keeps growing, `--min-age` keeps it back.
#[test]
fn a_file_that_keeps_growing_is_never_taken() {
    use std::io::{BufRead, BufReader, Read, Write};
    let env = TestEnv::new();
    // growing.pdf looks finished when it is listed (changed two hours ago, --min-age 1h)...
    let path = env.source.join("growing.pdf");
    fs::write(&path, b"first part\n").unwrap();
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(7200))
        .unwrap();
    // ...and thousands of young files each get a "skipped" line on stderr (-v), written after the
    // listing and before anything is taken. Their lines overflow the pipe, so a run whose stderr
    // is not read stops there: between the listing and the taking, deterministically.
    for i in 0..3000 {
        env.source_file(
            &format!("scan in progress, not yet old enough {i:04}.pdf"),
            b"young",
        );
    }
    let mut command = env.command();
    command
        .args(["dir", "--source", env.source.to_str().unwrap()])
        .args([
            "--dest",
            env.cold.to_str().unwrap(),
            "--min-age",
            "1h",
            "-v",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(first.contains("skipped"), "{first}");
    // The listing is done and the run is blocked on its log: the writer adds to the file now.
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"second part\n")
        .unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}\n{first}{rest}");
    assert!(
        rest.contains("growing.pdf changed since it was listed"),
        "the re-check did not catch the change:\n{}",
        rest.lines()
            .filter(|l| l.contains("growing"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(env.cold_names().is_empty(), "{}", env.listing());

    // While it keeps growing, it stays young: --min-age keeps it back run after run.
    for i in 0..3000 {
        fs::remove_file(
            env.source
                .join(format!("scan in progress, not yet old enough {i:04}.pdf")),
        )
        .unwrap();
    }
    let writer = {
        let path = path.clone();
        std::thread::spawn(move || {
            for _ in 0..20 {
                let mut file = fs::OpenOptions::new().append(true).open(&path).unwrap();
                file.write_all(&[b'x'; 1000]).unwrap();
                std::thread::sleep(Duration::from_millis(25));
            }
        })
    };
    for _ in 0..3 {
        env.run(&[
            "dir",
            "--source",
            env.source.to_str().unwrap(),
            "--dest",
            env.cold.to_str().unwrap(),
            "--min-age",
            "2s",
        ])
        .expect_code(0);
        assert!(env.cold_names().is_empty(), "{}", env.listing());
        std::thread::sleep(Duration::from_millis(100));
    }
    writer.join().unwrap();
    assert_eq!(
        fs::read(&path).unwrap().len(),
        "first part\nsecond part\n".len() + 20_000
    );
}
