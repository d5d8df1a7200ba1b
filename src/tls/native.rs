//! The TLS client on Windows (SChannel, the system's certificate store) and macOS (Security
//! framework), through native-tls. These stores are the system's own services, already loaded:
//! there is nothing to parse per run. `--ca-file` replaces the system's roots.

use std::io::{Read, Write};

use anyhow::{Context, Result};
use native_tls::{Certificate, HandshakeError, TlsConnector};

pub type TlsStream<S> = native_tls::TlsStream<S>;

use super::Refusal;

/// What a handshake can end with besides a connection.
pub enum Refused {
    Failed(Refusal),
    TimedOut,
}

pub struct Client {
    connector: TlsConnector,
}

impl Client {
    /// A client trusting `ca_pem` alone, or the system's store; `accept_invalid` checks nothing.
    pub fn new(ca_pem: Option<&[u8]>, accept_invalid: bool) -> Result<Client> {
        let mut builder = TlsConnector::builder();
        builder.min_protocol_version(Some(native_tls::Protocol::Tlsv12));
        if let Some(pem) = ca_pem {
            builder.disable_built_in_roots(true);
            for certificate in Certificate::stack_from_pem(pem).context("invalid CA certificate")? {
                builder.add_root_certificate(certificate);
            }
        }
        if accept_invalid {
            builder.danger_accept_invalid_certs(true);
            builder.danger_accept_invalid_hostnames(true);
        }
        Ok(Client {
            connector: builder.build()?,
        })
    }

    pub fn connect<S: Read + Write>(&self, host: &str, stream: S) -> Result<TlsStream<S>, Refused> {
        match self.connector.connect(host, stream) {
            Ok(stream) => Ok(stream),
            Err(HandshakeError::Failure(err)) => Err(Refused::Failed(Refusal::new(err))),
            Err(HandshakeError::WouldBlock(_)) => Err(Refused::TimedOut),
        }
    }
}
