//! The TLS client on Linux and the other Unix systems but Apple's: OpenSSL, the library native-tls
//! wraps there, driven directly so that trust anchors are loaded as `trust.rs` says (native-tls
//! always parses the whole system bundle, twice, before it looks at `--ca-file`).
//!
//! The set-up is the one native-tls and the `openssl` crate's `SslConnector` make (options,
//! cipher list, peer verification, host name checked with partial wildcards refused, SNI for
//! names), minus `set_default_verify_paths`: TLS 1.2 at least. The context holding the system's
//! anchors is built once per process and shared by every connection of the run (a session opened
//! again after a dropped connection finds the issuer already loaded); a `--ca-file` context holds
//! that file's certificates and nothing else.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use openssl::ssl::{
    HandshakeError, Ssl, SslContext, SslContextBuilder, SslFiletype, SslMethod, SslMode,
    SslOptions, SslStream, SslVerifyMode, SslVersion,
};
use openssl::x509::store::{X509Lookup, X509Store, X509StoreBuilder};
use openssl::x509::verify::X509CheckFlags;
use openssl::x509::{X509VerifyResult, X509};

use super::trust::{self, Anchors, Defaults};
use super::Refusal;

pub type TlsStream<S> = SslStream<S>;

/// What a handshake can end with besides a connection.
pub enum Refused {
    /// OpenSSL's reason, with the certificate check's verdict when that is what failed.
    Failed(Refusal),
    TimedOut,
}

pub struct Client {
    context: SslContext,
    verify: bool,
}

impl Client {
    /// A client trusting `ca_pem` alone, or the system's anchors; `accept_invalid` checks nothing.
    pub fn new(ca_pem: Option<&[u8]>, accept_invalid: bool) -> Result<Client> {
        let context = match ca_pem {
            Some(pem) => {
                let mut store = X509StoreBuilder::new()?;
                for certificate in X509::stack_from_pem(pem).context("invalid CA certificate")? {
                    store.add_cert(certificate)?;
                }
                context(store.build())?
            }
            None => system_context()?,
        };
        Ok(Client {
            context,
            verify: !accept_invalid,
        })
    }

    pub fn connect<S: Read + Write>(&self, host: &str, stream: S) -> Result<SslStream<S>, Refused> {
        let failed = |err: openssl::error::ErrorStack| Refused::Failed(Refusal::new(err));
        let mut ssl = Ssl::new(&self.context).map_err(failed)?;
        let ip = host.parse::<IpAddr>().ok();
        if ip.is_none() {
            ssl.set_hostname(host).map_err(failed)?;
        }
        if self.verify {
            let param = ssl.param_mut();
            param.set_hostflags(X509CheckFlags::NO_PARTIAL_WILDCARDS);
            match ip {
                Some(ip) => param.set_ip(ip).map_err(failed)?,
                None => param.set_host(host).map_err(failed)?,
            }
        } else {
            ssl.set_verify(SslVerifyMode::NONE);
        }
        match ssl.connect(stream) {
            Ok(stream) => Ok(stream),
            Err(HandshakeError::SetupFailure(err)) => Err(failed(err)),
            Err(HandshakeError::Failure(mid)) => {
                let verdict = mid.ssl().verify_result();
                let text = if verdict == X509VerifyResult::OK {
                    mid.error().to_string()
                } else {
                    format!("{} ({verdict})", mid.error())
                };
                Err(Refused::Failed(Refusal::told(text, mid.into_error())))
            }
            Err(HandshakeError::WouldBlock(_)) => Err(Refused::TimedOut),
        }
    }
}

/// The context trusting the system's anchors, made once per process.
fn system_context() -> Result<SslContext> {
    static SYSTEM: OnceLock<Result<SslContext, String>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| {
            let began = Instant::now();
            let anchors = trust::anchors(
                std::env::var_os("SSL_CERT_DIR"),
                std::env::var_os("SSL_CERT_FILE"),
                &Defaults::of_this_system(),
                &trust::is_hashed,
            );
            let made = system_store(&anchors)
                .and_then(context)
                .map_err(|err| format!("{err:#}"));
            log::debug!(
                "trust anchors: hashed directories {:?} (searched on demand), bundle {:?}; \
                 ready in {:?}",
                anchors.hashed_dirs,
                anchors.bundle,
                began.elapsed()
            );
            made
        })
        .clone()
        .map_err(|err| anyhow!(err).context("cannot load the system's trust anchors"))
}

fn system_store(anchors: &Anchors) -> Result<X509Store> {
    let mut store = X509StoreBuilder::new()?;
    if !anchors.hashed_dirs.is_empty() {
        let lookup = store.add_lookup(X509Lookup::hash_dir())?;
        for dir in &anchors.hashed_dirs {
            // OpenSSL takes the name as a C string; a name that is not UTF-8 is passed over.
            if let Some(name) = dir.to_str() {
                lookup.add_dir(name, SslFiletype::PEM)?;
            }
        }
    }
    if let Some(bundle) = anchors.bundle.as_ref().filter(|b| b.to_str().is_some()) {
        let lookup = store.add_lookup(X509Lookup::file())?;
        if let Err(err) = lookup.load_cert_file(bundle, SslFiletype::PEM) {
            log::debug!("cannot load {}: {err}", bundle.display());
        }
    }
    Ok(store.build())
}

/// `SslConnector`'s set-up, with `store` as the only trust.
fn context(store: X509Store) -> Result<SslContext> {
    let mut builder = SslContextBuilder::new(SslMethod::tls_client())?;
    let mut options = SslOptions::ALL
        | SslOptions::NO_COMPRESSION
        | SslOptions::NO_SSLV2
        | SslOptions::NO_SSLV3
        | SslOptions::SINGLE_DH_USE
        | SslOptions::SINGLE_ECDH_USE;
    options &= !SslOptions::DONT_INSERT_EMPTY_FRAGMENTS;
    builder.set_options(options);
    builder.set_mode(
        SslMode::AUTO_RETRY
            | SslMode::ACCEPT_MOVING_WRITE_BUFFER
            | SslMode::ENABLE_PARTIAL_WRITE
            | SslMode::RELEASE_BUFFERS,
    );
    builder.set_min_proto_version(Some(SslVersion::TLS1_2))?;
    builder.set_cipher_list(
        "DEFAULT:!aNULL:!eNULL:!MD5:!3DES:!DES:!RC4:!IDEA:!SEED:!aDSS:!SRP:!PSK",
    )?;
    builder.set_verify(SslVerifyMode::PEER);
    builder.set_cert_store(store);
    Ok(builder.build())
}
