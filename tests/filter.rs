//! Filters behave like Python's `re.match`, which the original launcher used: each answer here comes
//! from the python3 interpreter itself, asked about the same pattern and name.

use std::collections::BTreeSet;
use std::process::Command;

use crate::harness::TestEnv;

const NAMES: &[&str] = &[
    "facture.pdf",
    "base.db",
    "base.dbf",
    "base.DB",
    "archive.pdf.db",
    "x.db.pdf",
    "noext",
    "a.b.c",
    "a.",
    "a..db",
    "db.pdf",
    "debut_nom_fichier.pdf",
    "debut_nom_fichier",
    "debut_nom_fichier_2.txt",
    "mon_debut_nom_fichier.pdf",
    "Debut_nom_fichier.pdf",
    "rapport final.PDF",
    "été.pdf",
];

const PATTERNS: &[&str] = &[
    // The two examples of the EzGED documentation.
    r"/.*\.(?!db).*/",
    r"/(?!debut_nom_fichier).*\..*/",
    // Anchored at the start only, like re.match.
    r".*\.pdf",
    r"\.pdf",
    r"/.*\.PDF/i",
    r"(?i).*\.pdf$",
    r"facture|base",
    r"[a-z]+\.pdf\Z",
    r"/.*(?<!\.db)$/",
    r"/\w+\.pdf/",
];

/// Runs `script` with python3, `input` as JSON on its standard input; its JSON output.
fn python<T: serde::de::DeserializeOwned>(script: &str, input: &impl serde::Serialize) -> T {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect(
            "python3 is needed to check filters against Python's re (scripts/test installs it)",
        );
    let input = serde_json::to_vec(input).unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &input).unwrap();
    drop(child.stdin.take());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "python3 failed");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Python's verdict for every pattern and name, as one set of (pattern index, name) that match.
fn python_matches() -> BTreeSet<(usize, String)> {
    let script = r#"
import json, re, sys
patterns, names = json.load(sys.stdin)
out = []
for i, written in enumerate(patterns):
    body, flags = written, 0
    if written.startswith('/'):
        close = written.rindex('/')
        body, letters = written[1:close], written[close + 1:]
        for letter in letters:
            flags |= {'i': re.I, 's': re.S, 'm': re.M, 'x': re.X, 'u': 0}[letter]
    rx = re.compile(body, flags)
    out.extend([i, n] for n in names if rx.match(n))
json.dump(out, sys.stdout)
"#;
    let pairs: Vec<(usize, String)> = python(script, &(PATTERNS, NAMES));
    pairs.into_iter().collect()
}

#[test]
#[cfg_attr(windows, ignore = "Python's re.match as the oracle: Linux only")]
fn filters_agree_with_python_re_match() {
    let expected = python_matches();
    // Sanity: the seed's examples do what the documentation says, per Python.
    assert!(expected.contains(&(0, "facture.pdf".into())));
    assert!(!expected.contains(&(0, "base.db".into())));
    assert!(!expected.contains(&(0, "base.dbf".into())));
    assert!(!expected.contains(&(1, "debut_nom_fichier.pdf".into())));
    assert!(expected.contains(&(1, "mon_debut_nom_fichier.pdf".into())));

    let env = TestEnv::new();
    for name in NAMES {
        env.source_file(name, name.as_bytes());
    }
    let mut actual = BTreeSet::new();
    for (index, pattern) in PATTERNS.iter().enumerate() {
        let ran = env.run_dir(&["--dry-run", "--filter", pattern]);
        ran.expect_code(0);
        for line in ran.stdout.lines() {
            if let Some(rest) = line.strip_prefix("deposit  ") {
                let name = rest.split("  ->  ").next().unwrap();
                actual.insert((index, name.to_string()));
            }
        }
    }
    let describe = |set: &BTreeSet<(usize, String)>| -> Vec<String> {
        set.iter()
            .map(|(i, n)| format!("{} on {n:?}", PATTERNS[*i]))
            .collect()
    };
    let missing: BTreeSet<_> = expected.difference(&actual).cloned().collect();
    let extra: BTreeSet<_> = actual.difference(&expected).cloned().collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "lanceur and Python disagree.\nPython matches, lanceur does not: {:#?}\nlanceur matches, Python does not: {:#?}",
        describe(&missing),
        describe(&extra)
    );
}

#[test]
#[cfg_attr(
    windows,
    ignore = "file names Windows cannot hold (`:`, `?`, a final dot…)"
)]
fn seed_examples_deposit_exactly_what_the_documentation_says() {
    let env = TestEnv::new();
    for name in NAMES {
        env.source_file(name, name.as_bytes());
    }
    env.run_dir(&["--filter", r"/(?!debut_nom_fichier).*\..*/"])
        .expect_code(0);
    let left = crate::harness::names(&env.source);
    assert_eq!(
        left,
        vec![
            "debut_nom_fichier",
            "debut_nom_fichier.pdf",
            "debut_nom_fichier_2.txt",
            "noext"
        ],
        "{}",
        env.listing()
    );
}

#[test]
#[cfg_attr(windows, ignore = "Python's re.compile as the oracle: Linux only")]
fn a_bad_pattern_is_told_where_python_would_tell_it_with_the_launchers_name() {
    // See: issue 16. Python's re.compile is the oracle for the position of the mistake.
    let bad = [
        "*.pdf", "/ab(c/", "a)", "/?x/i", r"/x\/", "+1", "[a", "/x[^]y/", "(a(b)",
    ];
    let script = r#"
import json, re, sys
out = []
for written in json.load(sys.stdin):
    body = written[1:written.rindex('/')] if written.startswith('/') else written
    try:
        re.compile(body)
        out.append(None)
    except re.error as e:
        out.append(e.pos + (1 if written.startswith('/') else 0))
json.dump(out, sys.stdout)
"#;
    let positions: Vec<Option<usize>> = python(script, &bad);
    let env = TestEnv::new();
    let mut disagree = Vec::new();
    for (pattern, position) in bad.iter().zip(positions) {
        let position = position.unwrap_or_else(|| panic!("Python accepts {pattern}"));
        let ran = env.run_dir(&["--name", "factures", "--filter", pattern]);
        ran.expect_code(2).expect_stderr_contains(&format!(
            "lanceur: factures: invalid configuration: invalid filter pattern {pattern:?}: "
        ));
        assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
        if !ran.stderr.contains(&format!(" at position {position}")) {
            disagree.push(format!("{pattern}: Python says {position}: {}", ran.stderr));
        }
    }
    assert!(disagree.is_empty(), "{disagree:#?}");
    env.source_file("scan.pdf", b"%PDF-1.4");
    env.run_dir(&["--filter", "*.pdf"])
        .expect_code(2)
        .expect_stderr_contains(
            r"patterns are regular expressions, not wildcards: for *.pdf write /.*\.pdf$/i",
        );
    assert!(env.source.join("scan.pdf").exists() && env.cold_visible().is_empty());
}
