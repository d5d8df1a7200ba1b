//! A POP3 server that crashes on one mail (issue 12, class 14): that mail fails alone, the
//! others are taken. See: issue 12.

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};

use super::{pop_command_on, run};
use crate::harness::dovecot::Dovecot;
use crate::harness::mail::pdf_mail;
use crate::harness::{sha256, TestEnv};

/// Passes every connection through to `upstream`, and hangs up on the client as soon as it asks
/// for message `number` (`RETR number`): a server that crashes on one mail. Returns the port and
/// the count of hang-ups.
fn proxy_crashing_on(
    upstream: u16,
    number: u32,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::BufRead;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let crashes = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = crashes.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
            let counter = counter.clone();
            std::thread::spawn(move || {
                let (mut from_server, mut to_client) =
                    (server.try_clone().unwrap(), client.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from_server, &mut to_client);
                    let _ = to_client.shutdown(Shutdown::Both);
                });
                let mut lines = std::io::BufReader::new(client.try_clone().unwrap());
                let mut to_server = server;
                let crash = format!("RETR {number}\r\n");
                loop {
                    let mut line = String::new();
                    if lines.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if line.eq_ignore_ascii_case(&crash) {
                        counter.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    if to_server.write_all(line.as_bytes()).is_err() {
                        break;
                    }
                }
                let _ = to_server.shutdown(Shutdown::Both);
                let _ = client.shutdown(Shutdown::Both);
            });
        }
    });
    (port, crashes)
}

#[test]
fn a_mail_the_server_crashes_on_fails_alone_and_the_others_are_taken() {
    // See: issue 12 (class 14).
    let dovecot = Dovecot::get();
    let user = dovecot.user("crashpop");
    let mails: Vec<(Vec<u8>, Vec<u8>)> = (120..126).map(|n| pdf_mail(n, 20_000)).collect();
    for (raw, _) in &mails {
        user.deliver(raw);
    }
    let env = TestEnv::new();
    let (port, crashes) = proxy_crashing_on(dovecot.pop3_port, 3);
    let ran = env.run_command(pop_command_on(
        &env,
        &user,
        port,
        &["--tls", "none", "--keep", "--name", "crash"],
    ));
    ran.expect_code(1)
        .expect_stderr_contains("the server dropped the connection while sending this mail");
    assert!(crashes.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    let landed = env.cold_by_hash();
    assert!(
        !landed.contains_key(&sha256(&mails[2].1)),
        "{}",
        ran.explain()
    );
    for (_, pdf) in &mails[3..] {
        assert!(landed.contains_key(&sha256(pdf)), "{}", ran.explain());
    }
    // Kept on the server, so nothing is lost; without the crashing server, the next run takes it.
    assert_eq!(user.messages("INBOX").len(), 6);
    run(&env, &user, &["--keep", "--name", "crash"]).expect_code(0);
    assert_eq!(env.cold_by_hash().len(), 6);
}
