//! Mails shaped like real ones, built by hand so that each test knows the exact bytes it put in
//! (and can check what lanceur deposits by SHA-256): multipart/mixed with nested alternative and
//! related parts, attachments in base64 or quoted-printable, RFC 2047 and RFC 2231 names in any
//! charset, attached mails, parts without names. Lines end in CRLF, as on the wire.

/// One MIME part, already encoded.
#[derive(Debug, Clone)]
pub struct Part {
    headers: Vec<String>,
    body: Vec<u8>,
}

impl Part {
    /// A text/plain UTF-8 body.
    pub fn text(text: &str) -> Part {
        Part {
            headers: vec!["Content-Type: text/plain; charset=utf-8".into()],
            body: crlf(text.as_bytes()),
        }
    }

    /// A text/html UTF-8 body.
    pub fn html(html: &str) -> Part {
        Part {
            headers: vec!["Content-Type: text/html; charset=utf-8".into()],
            body: crlf(html.as_bytes()),
        }
    }

    /// Any part with base64 content; `headers` are its Content-Type, Content-Disposition, … lines.
    pub fn base64(headers: &[&str], content: &[u8]) -> Part {
        let mut all: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        all.push("Content-Transfer-Encoding: base64".into());
        Part {
            headers: all,
            body: base64_lines(content),
        }
    }

    /// Any part with quoted-printable content.
    pub fn quoted_printable(headers: &[&str], content: &[u8]) -> Part {
        let mut all: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        all.push("Content-Transfer-Encoding: quoted-printable".into());
        Part {
            headers: all,
            body: quoted_printable(content),
        }
    }

    /// A PDF attachment named `name` (plain ASCII name, base64).
    pub fn pdf(name: &str, content: &[u8]) -> Part {
        Part::base64(
            &[
                &format!("Content-Type: application/pdf; name=\"{name}\""),
                &format!("Content-Disposition: attachment; filename=\"{name}\""),
            ],
            content,
        )
    }

    /// An attached mail (message/rfc822), as it is.
    pub fn rfc822(mail: &[u8], filename: Option<&str>) -> Part {
        let mut headers = vec!["Content-Type: message/rfc822".to_string()];
        if let Some(name) = filename {
            headers.push(format!(
                "Content-Disposition: attachment; filename=\"{name}\""
            ));
        }
        Part {
            headers,
            body: mail.to_vec(),
        }
    }

    /// A multipart of `subtype` (mixed, alternative, related) holding `parts`.
    pub fn multipart(subtype: &str, parts: Vec<Part>) -> Part {
        let boundary = format!("=_{subtype}_{}", boundary_tag(&parts));
        let mut body = Vec::new();
        body.extend_from_slice(b"This is a multi-part message in MIME format.\r\n");
        for part in &parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            part.write(&mut body);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        Part {
            headers: vec![format!(
                "Content-Type: multipart/{subtype}; boundary=\"{boundary}\""
            )],
            body,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        for header in &self.headers {
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
    }
}

/// A whole mail: the usual headers, then `body` (a single part or a multipart).
pub fn mail(subject: &str, message_id: &str, body: Part) -> Vec<u8> {
    let mut out = Vec::new();
    for line in [
        "Return-Path: <expediteur@example.test>".to_string(),
        "From: =?utf-8?q?Soci=C3=A9t=C3=A9_Dupont?= <factures@dupont.example>".to_string(),
        "To: Service courrier <courrier@mairie.example>".to_string(),
        format!("Subject: {subject}"),
        "Date: Mon, 3 Mar 2025 09:15:00 +0100".to_string(),
        format!("Message-ID: <{message_id}>"),
        "MIME-Version: 1.0".to_string(),
    ] {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    body.write(&mut out);
    out
}

/// Content that looks like a PDF: the header, then `size` bytes of seeded noise (binary, so that
/// any mangling by a charset conversion or line-end change shows in the hash).
pub fn fake_pdf(seed: u64, size: usize) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(size.max(16));
    out.extend_from_slice(b"\n%%EOF\n");
    out
}

pub fn base64_lines(content: &[u8]) -> Vec<u8> {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = Vec::with_capacity(content.len() * 4 / 3 + 4);
    for chunk in content.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                encoded.push(B64[((n >> (18 - 6 * i)) & 63) as usize]);
            } else {
                encoded.push(b'=');
            }
        }
    }
    let mut out = Vec::with_capacity(encoded.len() + encoded.len() / 38);
    for line in encoded.chunks(76) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Quoted-printable with soft line breaks; CRLF in the content stays a line break.
pub fn quoted_printable(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut line = 0usize;
    let mut i = 0;
    while i < content.len() {
        let b = content[i];
        if b == b'\r' && content.get(i + 1) == Some(&b'\n') {
            out.extend_from_slice(b"\r\n");
            line = 0;
            i += 2;
            continue;
        }
        let encoded = if (b == b' ' || b == b'\t')
            && matches!(content.get(i + 1), None | Some(b'\r'))
            || !(33..=126).contains(&b) && b != b' ' && b != b'\t'
            || b == b'='
        {
            format!("={b:02X}").into_bytes()
        } else {
            vec![b]
        };
        if line + encoded.len() > 75 {
            out.extend_from_slice(b"=\r\n");
            line = 0;
        }
        line += encoded.len();
        out.extend_from_slice(&encoded);
        i += 1;
    }
    // Content without a final line break ends in a soft one, so the CRLF before the next boundary
    // adds nothing to it.
    if !content.ends_with(b"\r\n") {
        out.extend_from_slice(b"=\r\n");
    }
    out
}

fn crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 16);
    for line in text.split(|&b| b == b'\n') {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn boundary_tag(parts: &[Part]) -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("{n:04}{:x}", parts.len())
}

/// Mail number `n` with one attached PDF `facture-NNNN.pdf` of `size` bytes: (raw mail, PDF).
pub fn pdf_mail(n: u64, size: usize) -> (Vec<u8>, Vec<u8>) {
    let pdf = fake_pdf(n, size);
    let raw = mail(
        &format!("Facture {n}"),
        &format!("facture-{n}@dupont.example"),
        Part::multipart(
            "mixed",
            vec![
                Part::text("Veuillez trouver la facture ci-jointe."),
                Part::pdf(&format!("facture-{n:04}.pdf"), &pdf),
            ],
        ),
    );
    (raw, pdf)
}

/// A mail titled "Facture abîmée" whose PDF attachment has broken base64 in its middle.
pub fn damaged_mail(seed: u64) -> Vec<u8> {
    let mut damaged = mail(
        "Facture abîmée",
        "damaged@dupont.example",
        Part::multipart(
            "mixed",
            vec![
                Part::text("ci-joint"),
                Part::pdf("abimee.pdf", &fake_pdf(seed, 3000)),
            ],
        ),
    );
    let at = damaged.len() - 500;
    damaged[at..at + 4].copy_from_slice(b"!!!!");
    damaged
}
