//! Mailbox names on the wire: IMAP's modified UTF-7 (RFC 3501 §5.1.3).
//!
//! Printable ASCII stands for itself, except `&`, written `&-`. Any other run of characters is
//! written as `&`, the base64 of its UTF-16BE code units (with `,` instead of `/`, no padding),
//! then `-`. So `Reçus` is `Re&AOc-us` and `[Gmail]/Messages envoyés` is
//! `[Gmail]/Messages envoy&AOk-s`. Gmail's own names are ASCII and pass unchanged.

use base64::engine::{general_purpose::GeneralPurposeConfig, DecodePaddingMode, GeneralPurpose};
use base64::{alphabet, Engine};

/// Base64 with `,` for `/` and no padding, as RFC 3501 wants it.
const MODIFIED_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::IMAP_MUTF7,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// Encodes a mailbox name as the server expects it.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut pending, &mut out);
    out
}

fn flush(pending: &mut Vec<u16>, out: &mut String) {
    if pending.is_empty() {
        return;
    }
    let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
    out.push('&');
    MODIFIED_BASE64.encode_string(&bytes, out);
    out.push('-');
    pending.clear();
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn examples_from_rfc_3501_and_real_folders() {
        assert_eq!(encode("INBOX"), "INBOX");
        assert_eq!(encode("[Gmail]/All Mail"), "[Gmail]/All Mail");
        assert_eq!(encode("Reçus"), "Re&AOc-us");
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(
            encode("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(encode("Factures été"), "Factures &AOk-t&AOk-");
        // Outside the BMP: a surrogate pair.
        assert_eq!(encode("📎"), "&2D3czg-");
    }
}
