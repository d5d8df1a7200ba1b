//! Owner-only ACLs and the warning for secrets other users can read. See: issue 14.
//!
//! Wine keeps no ACL of its own: it derives one from the Unix mode bits, and sets the mode bits
//! from an ACL it is given, merging in what the folder above passes on. `scripts/test-windows`
//! runs Wine under umask 077, so the test folders are private on the Unix side too, and what
//! these tests read back is what Wine would let other Unix users do. That a protected ACL keeps a
//! folder's inherited entries out, and that other Windows accounts are really kept out, needs a
//! real Windows machine.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use windows_permissions::constants::{SeObjectType, SecurityInformation};
use windows_permissions::{utilities, wrappers};

use crate::harness::TestEnv;

/// The SIDs an "allow" entry of `path`'s ACL names, as SDDL writes them (`SY`, `WD`, `S-1-…`).
fn granted_sids(path: &Path) -> BTreeSet<String> {
    let sddl = wrappers::GetNamedSecurityInfo(
        path.as_os_str(),
        SeObjectType::SE_FILE_OBJECT,
        SecurityInformation::Dacl,
    )
    .and_then(|sd| sd.as_sddl())
    .unwrap_or_else(|e| panic!("cannot read the ACL of {}: {e}", path.display()))
    .to_string_lossy()
    .into_owned();
    assert!(
        !sddl.contains("NO_ACCESS_CONTROL"),
        "{}: null ACL",
        path.display()
    );
    sddl.split(['(', ')'])
        .filter(|ace| ace.starts_with("A;"))
        .filter_map(|ace| ace.rsplit(';').next().map(String::from))
        .collect()
}

fn me() -> String {
    utilities::current_process_sid().unwrap().to_string()
}

/// Asserts that only this account, SYSTEM and the Administrators are granted anything on `path`.
#[track_caller]
pub fn assert_owner_only(path: &Path) {
    let trusted: BTreeSet<String> = [me(), "SY".into(), "BA".into()].into();
    let granted = granted_sids(path);
    assert!(
        granted.is_subset(&trusted),
        "{} grants {granted:?}, beyond this account, SYSTEM and the Administrators",
        path.display()
    );
}

/// Lets Everyone read `path`, as a shared folder (C:\ProgramData, a share) does.
fn open_to_everyone(path: &Path) {
    let sddl = format!("D:(A;OICI;FA;;;{})(A;OICI;FR;;;WD)", me());
    let descriptor =
        wrappers::ConvertStringSecurityDescriptorToSecurityDescriptor(sddl.as_str()).unwrap();
    wrappers::SetNamedSecurityInfo(
        path.as_os_str(),
        SeObjectType::SE_FILE_OBJECT,
        SecurityInformation::Dacl | SecurityInformation::UnprotectedDacl,
        None,
        None,
        descriptor.dacl(),
        None,
    )
    .unwrap();
    assert!(granted_sids(path).contains("WD"), "{}", path.display());
}

#[test]
fn a_state_folder_made_by_a_run_is_owner_only_under_a_shared_root() {
    let env = TestEnv::new();
    fs::create_dir_all(&env.state).unwrap();
    open_to_everyone(&env.state);
    env.source_file("a.pdf", b"%PDF");
    env.run_dir(&["--name", "private"])
        .expect_code(0)
        .expect_quiet();
    let state = env.state.join("private");
    // status.json says what was taken and when, for `lanceur status`: as private as the journal.
    let status = state.join("status.json");
    assert!(status.is_file(), "no {}", status.display());
    for path in [
        state.clone(),
        state.join("journal"),
        state.join("lock"),
        status,
    ] {
        assert_owner_only(&path);
    }
}

// A `--log-file` lanceur creates names items and attachments: owner-only, even in a folder others
// may read, as on Unix (0600). Wine gives a new file none of its folder's entries (its mode comes
// from the umask), so under Wine this passes either way; on a real Windows machine a file created
// in such a folder takes Everyone's read access from it, and this fails without the narrowing.
#[test]
fn a_log_file_made_by_a_run_is_owner_only_in_a_shared_folder() {
    let env = TestEnv::new();
    let logs = env.dir("logs");
    open_to_everyone(&logs);
    let log = logs.join("lanceur.log");
    env.source_file("facture-0042.pdf", b"%PDF");
    env.run_dir(&["--log-file", log.to_str().unwrap()])
        .expect_code(0)
        .expect_quiet();
    assert!(fs::read_to_string(&log)
        .unwrap()
        .contains("facture-0042.pdf"));
    assert_owner_only(&log);
}

/// `lanceur imap` from a launcher file holding its password, against a port nobody listens on:
/// the warnings come first, then the run fails to connect (exit 4).
fn run_imap_file(env: &TestEnv, file: &Path, extra: &[&str]) -> crate::harness::Ran {
    let port = crate::harness::closed_port();
    let mut args = vec!["run", file.to_str().unwrap(), "--port", &port];
    args.extend_from_slice(extra);
    let ran = env.run(&args);
    ran.expect_code(4);
    ran
}

#[test]
fn a_launcher_file_or_password_file_others_can_read_draws_a_warning() {
    let env = TestEnv::new();
    let file = env.root().join("factures.toml");
    let dest = env.cold.display().to_string();
    fs::write(
        &file,
        format!(
            "protocol = 'imap'\nserver = '127.0.0.1'\naccount = 'a'\npassword = 'secret'\n\
             dest = '{dest}'\n"
        ),
    )
    .unwrap();
    let password = env.secret_file("password", "other secret\n");
    let password_arg = format!("--password-file={}", password.display());
    let ran = run_imap_file(&env, &file, &[]);
    assert!(
        !ran.stderr.contains("other users can read"),
        "{}",
        ran.explain()
    );

    open_to_everyone(&file);
    let ran = run_imap_file(&env, &file, &[]);
    let warning = format!(
        "lanceur: {} holds a secret but other users can read it; run icacls \"{}\" \
         /inheritance:r /grant:r *{}:F",
        file.display(),
        file.display(),
        me()
    );
    assert!(ran.stderr.contains(&warning), "{}", ran.explain());
    assert!(!ran.stderr.contains("secret\n"), "{}", ran.explain());

    open_to_everyone(&password);
    let ran = run_imap_file(&env, &file, &[&password_arg]);
    assert!(
        ran.stderr.contains(&format!(
            "{} holds a secret but other users can read it",
            password.display()
        )),
        "{}",
        ran.explain()
    );
}

// The login step makes the state folder when it saves the first tokens.
#[test]
fn the_token_cache_of_a_login_is_owner_only_under_a_shared_root() {
    use crate::harness::graph::{FakeGraph, CLIENT_ID};
    let env = TestEnv::new();
    let fake = FakeGraph::start();
    fs::create_dir_all(&env.state).unwrap();
    open_to_everyone(&env.state);
    let (login_url, graph_url) = (fake.login_url(), fake.graph_url());
    let ran = env.run(&[
        "o365",
        "login",
        "--client-id",
        CLIENT_ID,
        "--login-url",
        &login_url,
        "--graph-url",
        &graph_url,
        "--name",
        "box",
    ]);
    ran.expect_code(0);
    let cache = env.state.join("box").join("o365-tokens.json");
    assert!(cache.is_file(), "{}", ran.explain());
    assert_owner_only(&cache);
    assert_owner_only(cache.parent().unwrap());
}
