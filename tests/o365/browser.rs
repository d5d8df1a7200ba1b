//! The o365 launcher's browser login: the authorization code with PKCE and a loopback redirect,
//! where Conditional Access blocks the device code, the test acting as the browser. The OAuth
//! sign-ins of IMAP and POP3 launchers are in `oauth/`. See: issue 15.

use super::O365;
use crate::harness::browser::login_in_browser;
use crate::harness::graph::Mail;

#[test]
fn the_o365_login_has_the_browser_flow_too() {
    let t = O365::new();
    let mut command = t.env.command();
    command.args(t.args(true, &[])).args(["--flow", "browser"]);
    let ran = login_in_browser(command);
    ran.expect_code(0);
    assert!(
        ran.stdout.contains("me:inbox is readable"),
        "{}",
        ran.explain()
    );
    assert!(t.cache_path().is_file(), "{}", ran.explain());
    t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("x").file("x.pdf", "application/pdf", b"%PDF-1.4 x"),
    );
    t.run(&[]).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_visible(), vec!["x.pdf"]);
}
