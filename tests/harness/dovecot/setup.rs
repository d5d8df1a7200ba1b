//! What a private Dovecot instance is made of: its configuration, the loopback ports it listens
//! on, and the self-signed certificate every instance (and the tests' other TLS servers) share.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::MAIL_UID;

/// The certificate and its key (PEM), made once per process and shared by the instances.
static CERT: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();

/// What the usual instances offer: passwords, and tokens with both OAuth mechanisms.
pub(super) const ALL_MECHANISMS: &str = "plain login xoauth2 oauthbearer";

pub(super) fn config(dir: &Path, host: &str, [imap, imaps, pop3, pop3s]: [u16; 4]) -> String {
    let d = dir.display();
    format!(
        "# private test instance, written by tests/harness/dovecot.rs
instance_name = lanceur-test-{imaps}
base_dir = {d}/run
state_dir = {d}/state
protocols = imap pop3
listen = {host}
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
auth_verbose = yes
auth_failure_delay = 0
ssl = yes
ssl_cert = <{d}/ssl/cert.pem
ssl_key = <{d}/ssl/key.pem
ssl_dh = </usr/share/dovecot/dh.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = MECHANISMS
auth_cache_size = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {d}/users/%u
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {d}/dovecot-oauth2.conf.ext
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/users/%u
}}
first_valid_uid = {MAIL_UID}
mail_location = maildir:~/Maildir
mail_fsync = never
mail_max_userip_connections = 200
pop3_uidl_format = %08Xu%08Xv
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {imap}
  }}
  inet_listener imaps {{
    address = {host}
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = {host}
    port = {pop3}
  }}
  inet_listener pop3s {{
    address = {host}
    port = {pop3s}
    ssl = yes
  }}
}}
"
    )
}

/// Four ports free on `host` a moment ago (the listeners are closed before Dovecot binds them).
pub(super) fn free_ports(host: &str) -> [u16; 4] {
    let listeners: Vec<TcpListener> = (0..4)
        .map(|_| TcpListener::bind((host, 0)).expect("cannot bind a free port"))
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    [ports[0], ports[1], ports[2], ports[3]]
}

/// A self-signed certificate for localhost, 127.0.0.1 and 127.0.0.2, made once per process.
/// The test certificate (PEM) and its key, for other TLS servers of the tests: a client given the
/// Dovecot's `ca_file` trusts them too.
pub fn certificate() -> &'static (Vec<u8>, Vec<u8>) {
    CERT.get_or_init(make_certificate)
}

fn make_certificate() -> (Vec<u8>, Vec<u8>) {
    let dir = tempfile::Builder::new()
        .prefix("lanceur-cert-")
        .tempdir()
        .unwrap();
    let cert = dir.path().join("cert.pem");
    let key = self_signed(
        &cert,
        "localhost",
        30,
        &["subjectAltName=DNS:localhost,IP:127.0.0.1,IP:127.0.0.2"],
    );
    (fs::read(cert).unwrap(), fs::read(key).unwrap())
}

/// Makes a self-signed certificate (which is its own CA) for `/CN=common_name`, valid `days`,
/// with each of `extensions` (`-addext`), as PEM in `cert`; returns where its key went (`cert`
/// with the extension `key`).
pub fn self_signed(cert: &Path, common_name: &str, days: u32, extensions: &[&str]) -> PathBuf {
    let key = cert.with_extension("key");
    let mut command = Command::new("openssl");
    command
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days"])
        .arg(days.to_string())
        .arg("-subj")
        .arg(format!("/CN={common_name}"));
    for extension in extensions {
        command.args(["-addext", extension]);
    }
    let output = command
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(cert)
        .output()
        .expect("cannot run openssl (apt-get install openssl)");
    assert!(
        output.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    key
}
