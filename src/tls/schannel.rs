//! Windows' TLS errors in lanceur's own words.
//!
//! On Windows native-tls hands SChannel's and CryptoAPI's status codes up as raw OS errors, whose
//! text Windows does not always have ("OS Error -2146762487 (FormatMessageW() returned error
//! 317)") and which tell an administrator nothing to do. native-tls keeps its `io::Error` to
//! itself, so the code is read back from the error's text, `(os error N)`, the standard library's
//! own way of printing an OS error, at any level of the error's causes. The codes known here are
//! those a certificate check or a handshake ends with (`winerror.h`); others keep their raw text.

use std::error::Error;

/// What a known code means and what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    pub code: u32,
    pub name: &'static str,
    /// What is wrong, completing "the server …" (`{host}` is replaced by the server's name).
    says: &'static str,
    pub remedy: Remedy,
}

/// Kinds of remedy; the caller words those that depend on how the server was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// The chain ends at an authority this machine does not trust: a private CA, or a proxy that
    /// inspects TLS.
    TrustTheAuthority,
    /// The certificate names another server.
    UseTheCertificatesName,
    Clock,
    /// Revocation lists or OCSP responders cannot be reached.
    ReachRevocation,
    /// The server's certificate itself must change.
    ReplaceTheCertificate,
    /// TLS versions, ciphers, or no TLS at all.
    ServerSettings,
}

const fn known(code: u32, name: &'static str, says: &'static str, remedy: Remedy) -> Known {
    Known {
        code,
        name,
        says,
        remedy,
    }
}

use Remedy::*;

// One line per code, as in winerror.h.
#[rustfmt::skip]
const KNOWN: &[Known] = &[
    known(0x800B_0109, "CERT_E_UNTRUSTEDROOT", "certificate chain ends at a root certificate this machine does not trust", TrustTheAuthority),
    known(0x8009_0325, "SEC_E_UNTRUSTED_ROOT", "certificate comes from an authority this machine does not trust", TrustTheAuthority),
    known(0x800B_010A, "CERT_E_CHAINING", "certificate chain cannot be followed up to a trusted root (an intermediate certificate is missing)", TrustTheAuthority),
    known(0x800B_0112, "CERT_E_UNTRUSTEDCA", "certificate chain holds an authority this machine does not trust", TrustTheAuthority),
    known(0x800B_010D, "CERT_E_UNTRUSTEDTESTROOT", "certificate chain ends at a test root certificate", TrustTheAuthority),
    known(0x800B_010F, "CERT_E_CN_NO_MATCH", "certificate does not name {host}", UseTheCertificatesName),
    known(0x8009_0322, "SEC_E_WRONG_PRINCIPAL", "certificate does not name {host}", UseTheCertificatesName),
    known(0x800B_0101, "CERT_E_EXPIRED", "certificate has expired, or is not valid yet", Clock),
    known(0x8009_0328, "SEC_E_CERT_EXPIRED", "certificate has expired, or is not valid yet", Clock),
    known(0x800B_010C, "CERT_E_REVOKED", "certificate has been revoked by its authority", ReplaceTheCertificate),
    known(0x8009_2010, "CRYPT_E_REVOKED", "certificate has been revoked by its authority", ReplaceTheCertificate),
    known(0x800B_0111, "TRUST_E_EXPLICIT_DISTRUST", "certificate is marked as distrusted on this machine", ReplaceTheCertificate),
    known(0x800B_0110, "CERT_E_WRONG_USAGE", "certificate is not meant for a server", ReplaceTheCertificate),
    known(0x8009_0349, "SEC_E_CERT_WRONG_USAGE", "certificate is not meant for a server", ReplaceTheCertificate),
    known(0x8009_6004, "TRUST_E_CERT_SIGNATURE", "certificate's signature is invalid", ReplaceTheCertificate),
    known(0x8009_0327, "SEC_E_CERT_UNKNOWN", "certificate cannot be read", ReplaceTheCertificate),
    known(0x8009_2012, "CRYPT_E_NO_REVOCATION_CHECK", "certificate could not be checked for revocation", ReachRevocation),
    known(0x8009_2013, "CRYPT_E_REVOCATION_OFFLINE", "certificate could not be checked for revocation: its authority's revocation server cannot be reached", ReachRevocation),
    known(0x800B_010E, "CERT_E_REVOCATION_FAILURE", "certificate could not be checked for revocation", ReachRevocation),
    known(0x8009_0331, "SEC_E_ALGORITHM_MISMATCH", "has no TLS version or cipher in common with this machine (lanceur needs TLS 1.2 or later)", ServerSettings),
    known(0x8009_0302, "SEC_E_UNSUPPORTED_FUNCTION", "asked for a TLS version or feature this machine refuses (lanceur needs TLS 1.2 or later)", ServerSettings),
    known(0x8009_0326, "SEC_E_ILLEGAL_MESSAGE", "broke off the handshake, or does not speak TLS on this port", ServerSettings),
    known(0x8009_0308, "SEC_E_INVALID_TOKEN", "does not speak TLS on this port", ServerSettings),
];

impl Known {
    /// "the server's certificate does not name mail.example.fr (SChannel CERT_E_CN_NO_MATCH,
    /// 0x800B010F)"
    pub fn describe(&self, host: &str) -> String {
        let says = self.says.replace("{host}", host);
        let subject = if says.starts_with("certificate") {
            "the server's"
        } else {
            "the server"
        };
        format!(
            "{subject} {says} (SChannel {}, 0x{:08X})",
            self.name, self.code
        )
    }

    /// What to do. `trust` says how to trust an authority where the server was given (a
    /// `--ca-file`, the certificate store: `TRUST_STORE`).
    pub fn remedy(&self, trust: &str) -> String {
        match self.remedy {
            TrustTheAuthority => trust.to_string(),
            UseTheCertificatesName => "give the server by a name its certificate holds".into(),
            Clock => "check this machine's date and time, or have the certificate renewed".into(),
            ReachRevocation => "let this machine reach the revocation servers (CRL, OCSP) that \
                                the certificate names, through the proxy or the firewall"
                .into(),
            ReplaceTheCertificate => "the server needs another certificate".into(),
            ServerSettings => {
                "check the port and the server's TLS settings (TLS 1.2 or later)".into()
            }
        }
    }
}

/// Trusting an authority through Windows' certificate store.
pub const TRUST_STORE: &str = "add the authority's certificate (a private CA, or that of a proxy \
                               inspecting TLS) to this machine's Trusted Root Certification \
                               Authorities";

/// The known SChannel code anywhere in `err` or its causes, if there is one.
pub fn known_code(err: &(dyn Error + 'static)) -> Option<&'static Known> {
    let mut cause = Some(err);
    while let Some(error) = cause {
        let found = os_error_codes(&error.to_string())
            .into_iter()
            .find_map(|code| KNOWN.iter().find(|known| known.code == code));
        if found.is_some() {
            return found;
        }
        cause = error.source();
    }
    None
}

/// Every `(os error N)` in `text`, as the unsigned 32-bit code Windows documents (HRESULTs are
/// printed as negative numbers).
fn os_error_codes(text: &str) -> Vec<u32> {
    const MARK: &str = "(os error ";
    let mut codes = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        rest = &rest[at + MARK.len()..];
        let Some(end) = rest.find(')') else { break };
        if let Ok(number) = rest[..end].parse::<i64>() {
            let code = i32::try_from(number)
                .map(|signed| u32::from_ne_bytes(signed.to_ne_bytes()))
                .ok()
                .or_else(|| u32::try_from(number).ok());
            codes.extend(code);
        }
        rest = &rest[end..];
    }
    codes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn codes_are_read_from_the_text_windows_gives() {
        // What Wine prints, having no message for the code; Windows puts its own sentence first.
        let text =
            "OS Error -2146762487 (FormatMessageW() returned error 317) (os error -2146762487)";
        assert_eq!(os_error_codes(text), vec![0x800B_0109]);
        assert_eq!(
            os_error_codes("(os error 32) and (os error -2146893048)"),
            vec![32, 0x8009_0308]
        );
        assert!(os_error_codes("(os error x) (os error 1").is_empty());
    }

    #[test]
    fn a_known_code_is_found_among_the_causes_and_worded() {
        let raw = io::Error::from_raw_os_error(-2_146_762_481);
        let err = anyhow::Error::new(raw).context("TLS handshake failed");
        let known = known_code(err.as_ref()).unwrap();
        assert_eq!(known.name, "CERT_E_CN_NO_MATCH");
        let text = known.describe("mail.example.fr");
        assert_eq!(
            text,
            "the server's certificate does not name mail.example.fr (SChannel \
             CERT_E_CN_NO_MATCH, 0x800B010F)"
        );
        let protocol = KNOWN.iter().find(|k| k.code == 0x8009_0308).unwrap();
        assert!(protocol
            .describe("h")
            .starts_with("the server does not speak TLS"));
        assert!(
            known_code(anyhow::anyhow!("connection refused (os error 111)").as_ref()).is_none()
        );
    }

    #[test]
    fn every_known_code_is_listed_once_with_its_windows_name() {
        for (i, known) in KNOWN.iter().enumerate() {
            assert!(
                KNOWN[i + 1..].iter().all(|other| other.code != known.code),
                "{} twice",
                known.name
            );
            assert!(
                known.code >> 28 == 0x8,
                "{} is not an error HRESULT",
                known.name
            );
            let prefix = known.name.split('_').next().unwrap();
            assert!(
                ["CERT", "SEC", "CRYPT", "TRUST"].contains(&prefix),
                "{}",
                known.name
            );
        }
        let untrusted = KNOWN.iter().find(|k| k.code == 0x800B_0109).unwrap();
        assert_eq!(untrusted.remedy(TRUST_STORE), TRUST_STORE);
    }
}
