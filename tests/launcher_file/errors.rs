//! A mistake in a launcher file is one line that names the file and the key, with the remedy; and
//! the forms of `run`, `login` and `check` an administrator types. See: issue 16.

use super::write_file;
use crate::harness::TestEnv;

/// Runs `lanceur run FILE` on a dir launcher file holding `lines` and expects one line, exit 2.
fn one_line_error(env: &TestEnv, lines: &str) -> String {
    let file = env.root().join("factures.toml");
    let text = format!(
        "protocol = 'dir'\nsource = '{}'\n{lines}\n",
        env.source.display()
    );
    write_file(&file, &text, 0o600);
    let ran = env.run(&["run", file.to_str().unwrap()]);
    ran.expect_code(2);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    assert!(ran.stdout.is_empty(), "{}", ran.explain());
    assert!(
        ran.stderr.contains("launcher file ") && ran.stderr.contains("factures.toml"),
        "{}",
        ran.explain()
    );
    for never in ["Usage:", "\\u{a}", "For more information"] {
        assert!(!ran.stderr.contains(never), "{never}\n{}", ran.explain());
    }
    ran.stderr
}

#[test]
fn clap_value_errors_name_the_file_and_the_key_without_a_usage_line() {
    let env = TestEnv::new();
    let cold = format!("dest = '{}'", env.cold.display());
    let line = one_line_error(&env, &format!("{cold}\nmin-age = 10"));
    assert!(line.contains("min-age = 10: time unit needed"), "{line}");
    let line = one_line_error(&env, &format!("{cold}\nindex = \"IDX\""));
    assert!(
        line.contains(
            r#"index = "IDX": not a valid value; use one of none, idx, json (did you mean idx?)"#
        ),
        "{line}"
    );
    let line = one_line_error(&env, "filter = ['x']");
    assert!(
        line.contains(
            r#"dest is missing: add dest = "COLD_FOLDER" (or give --dest, or LANCEUR_DEST)"#
        ),
        "{line}"
    );
    // A mistake that only the launcher's checks find names the file and the launcher too.
    let line = one_line_error(&env, &format!("{cold}\nmax-items = 0"));
    assert!(
        line.starts_with("lanceur: factures: invalid configuration: launcher file "),
        "{line}"
    );
    let line = one_line_error(&env, &format!("{cold}\nmax_items = 'many'"));
    assert!(line.contains("max_items = \"many\": "), "{line}");
    // An option of the command line keeps clap's own message: it is not the file's mistake.
    let file = env.root().join("factures.toml");
    write_file(
        &file,
        &format!("protocol = 'dir'\nsource = 'source'\n{cold}\n"),
        0o600,
    );
    let ran = env.run(&["run", file.to_str().unwrap(), "--min-age", "soon"]);
    ran.expect_code(2)
        .expect_stderr_contains("invalid value 'soon' for '--min-age");
}

#[test]
fn toml_errors_are_one_readable_line_and_backslashes_get_single_quotes() {
    let env = TestEnv::new();
    let cold = format!("dest = '{}'", env.cold.display());
    let line = one_line_error(&env, &format!("{cold}\nfilter = [\"/.*\\.pdf$/i\"]"));
    assert!(
        line.contains("is not valid TOML: line 4, column "),
        "{line}"
    );
    assert!(
        line.trim_end()
            .ends_with(r"write patterns between single quotes, as typed: filter = ['/.*\.pdf$/i']"),
        "{line}"
    );
    // An escape TOML accepts turns the pattern into something else: said too.
    let line = one_line_error(&env, &format!("{cold}\nfilter = \"\\bfacture\""));
    assert!(
        line.contains("filter: the pattern holds a backspace"),
        "{line}"
    );
    assert!(line.trim_end().ends_with(r"filter = '\bfacture'"), "{line}");
    let line = one_line_error(&env, &format!("{cold}\nrecursive = tru"));
    assert!(line.contains("line 4, column 13: "), "{line}");
}

#[test]
fn an_unknown_key_gets_the_closest_valid_one() {
    let env = TestEnv::new();
    let cold = format!("dest = '{}'", env.cold.display());
    let line = one_line_error(&env, &format!("{cold}\nmin_ag = '1s'"));
    assert!(
        line.contains(r#"unknown setting "min_ag" for protocol dir; did you mean min-age?"#),
        "{line}"
    );
    let line = one_line_error(&env, &format!("{cold}\nfiltre = ['x']"));
    assert!(line.contains("did you mean filter?"), "{line}");
    let line = one_line_error(&env, &format!("{cold}\nserver = 'imap.example.fr'"));
    assert!(
        line.contains("server is a setting of protocol imap and pop"),
        "{line}"
    );
}

#[test]
fn a_key_that_needs_another_says_which_line_to_add() {
    let env = TestEnv::new();
    let file = env.root().join("courrier.toml");
    write_file(
        &file,
        &format!(
            "protocol = 'pop'\nserver = 'pop.example.fr'\naccount = 'a'\npassword = 'x'\n\
             dest = '{}'\ndelete-after = 30\n",
            env.cold.display()
        ),
        0o600,
    );
    let ran = env.run(&["run", file.to_str().unwrap()]);
    ran.expect_code(2)
        .expect_stderr_contains("courrier.toml: keep is missing: add keep = true (or give --keep)");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    assert!(!ran.stderr.contains("Usage:"), "{}", ran.explain());
}

#[test]
fn options_may_come_before_or_after_the_file() {
    let env = TestEnv::new();
    env.source_file("a.pdf", b"%PDF");
    let file = env.root().join("scans.toml");
    write_file(
        &file,
        &format!(
            "protocol = 'dir'\nsource = 'source'\ndest = 'cold'\nmin-age = '0s'\nstate-dir = '{}'\n",
            env.state.display()
        ),
        0o600,
    );
    let file = file.to_str().unwrap();
    for argv in [
        &["run", file, "--dry-run"][..],
        &["run", "--dry-run", file],
        &["run", "--max-items", "5", "--dry-run", file, "-v"],
        &["check", "--json", file],
    ] {
        let ran = env.run(argv);
        ran.expect_code(0);
        assert!(
            ran.stdout.contains("a.pdf") || ran.stdout.contains("\"ready\":true"),
            "{argv:?}\n{}",
            ran.explain()
        );
        assert!(
            env.cold_visible().is_empty(),
            "{argv:?}: a dry run took a.pdf"
        );
    }
    env.run(&["run", "-v", file])
        .expect_code(0)
        .expect_stderr_contains("a.pdf");
    assert_eq!(env.cold_visible(), vec!["a.pdf"]);
}
