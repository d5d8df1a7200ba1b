//! The POP3 client's errors: what was being done, and for a server's `-ERR` or an answer that is
//! not POP3, the server's line verbatim.

use std::fmt;
use std::io;

#[derive(Debug)]
pub enum Error {
    /// The connection failed, timed out or was closed while `doing`.
    Io { doing: String, source: io::Error },
    /// The server answered `-ERR` to `command`; `line` is its answer, verbatim, without CRLF.
    Refused { command: String, line: String },
    /// The server's answer to `doing` is not what POP3 says it should be.
    Protocol { doing: String, detail: String },
    /// The server's status line for `doing` is neither `+OK` nor `-ERR`; `line` is it, verbatim
    /// (another protocol's greeting, say: `* OK` is IMAP's).
    Unexpected { doing: String, line: String },
}

impl Error {
    pub(super) fn io(doing: &str, source: io::Error) -> Error {
        Error::Io {
            doing: doing.to_string(),
            source,
        }
    }

    pub(super) fn protocol(doing: &str, detail: impl Into<String>) -> Error {
        Error::Protocol {
            doing: doing.to_string(),
            detail: detail.into(),
        }
    }

    /// Whether the server stopped answering (the stream's read or write timeout).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Io { source, .. }
            if matches!(source.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock))
    }

    /// The RFC 2449 response code of a `-ERR` line, such as `AUTH`, `IN-USE` or `SYS/TEMP`.
    pub fn response_code(&self) -> Option<&str> {
        let Error::Refused { line, .. } = self else {
            return None;
        };
        let rest = line.get(4..)?.trim_start();
        let code = rest.strip_prefix('[')?;
        code.split(']').next()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { doing, source } => match source.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                    write!(f, "the server stopped answering while {doing}")
                }
                io::ErrorKind::UnexpectedEof => {
                    write!(f, "the server closed the connection while {doing}")
                }
                _ => write!(f, "connection lost while {doing}: {source}"),
            },
            Error::Refused { command, line } => write!(f, "{command} refused: {line}"),
            Error::Protocol { doing, detail } => {
                write!(f, "unexpected answer while {doing}: {detail}")
            }
            Error::Unexpected { doing, line } => {
                write!(
                    f,
                    "unexpected answer while {doing}: {line:?} is neither +OK nor -ERR"
                )
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
