//! Mailbox names on the wire: IMAP's modified UTF-7 (RFC 3501 §5.1.3).
//!
//! Printable ASCII stands for itself, except `&`, written `&-`. Any other run of characters is
//! written as `&`, the base64 of its UTF-16BE code units (with `,` instead of `/`, no padding),
//! then `-`. So `Reçus` is `Re&AOc-us` and `[Gmail]/Messages envoyés` is
//! `[Gmail]/Messages envoy&AOk-s`. Gmail's own names are ASCII and pass unchanged.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

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
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let symbols = chunk.len() + 1;
        for i in 0..symbols {
            let index = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
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
