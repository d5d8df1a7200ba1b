use super::*;

fn origin() -> Origin {
    Origin {
        mailbox: "INBOX".into(),
        id: "uid-7".into(),
        fields: vec![("uid".into(), "7".into())],
    }
}

fn options(take: Take) -> Options {
    Options {
        take,
        ..Options::default()
    }
}

fn docs(mail: &str, take: Take) -> Vec<(String, Vec<u8>)> {
    documents(
        mail.replace('\n', "\r\n").into_bytes(),
        &options(take),
        &origin(),
    )
    .unwrap()
    .documents
    .into_iter()
    .map(|d| match d.content {
        Content::Bytes(b) => (d.name, b),
        Content::Temp(p) => (d.name, std::fs::read(p).unwrap()),
        _ => unreachable!(),
    })
    .collect()
}

const MIXED: &str = "From: =?utf-8?q?Ren=C3=A9e?= <renee@example.test>
To: a@example.test, B <b@example.test>
Subject: =?iso-8859-1?q?Facture_de_mars_=E9t=E9?=
Date: Tue, 1 Jul 2025 10:20:30 +0200
Message-ID: <m1@example.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=\"outer\"

--outer
Content-Type: multipart/related; boundary=\"rel\"

--rel
Content-Type: text/html; charset=utf-8

<p>Bonjour <img src=\"cid:logo1\"></p>
--rel
Content-Type: image/png; name=\"logo.png\"
Content-ID: <logo1>
Content-Disposition: inline; filename=\"logo.png\"
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--rel--

--outer
Content-Type: application/pdf
Content-Disposition: attachment;
 filename*=iso-8859-1''relev%E9%20n%B01.pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQKJeLjz9M=
--outer
Content-Type: application/pdf; name=\"inline.pdf\"
Content-Disposition: inline
Content-Transfer-Encoding: base64

JVBERi0xLjcK
--outer
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

AAEC
--outer
Content-Type: text/csv; charset=windows-1252; name=\"=?iso-8859-1?q?donn=E9es.csv?=\"
Content-Disposition: attachment
Content-Transfer-Encoding: quoted-printable

caf=E9;1
--outer
Content-Type: application/pkcs7-signature; name=\"smime.p7s\"
Content-Disposition: attachment; filename=\"smime.p7s\"
Content-Transfer-Encoding: base64

AAEC
--outer--
";

#[test]
fn documents_are_chosen_named_and_decoded() {
    let got = docs(MIXED, Take::Attachments);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "relevé n°1.pdf",
            "inline.pdf",
            "uid-7-part7.bin",
            "données.csv"
        ]
    );
    assert_eq!(got[0].1, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3");
    assert_eq!(got[1].1, b"%PDF-1.7\n");
    assert_eq!(got[2].1, [0u8, 1, 2]);
    // The CSV keeps its Windows-1252 bytes.
    assert_eq!(got[3].1, b"caf\xe9;1");
}

#[test]
fn sidecar_fields_have_the_shared_names() {
    let documents = documents(
        MIXED.replace('\n', "\r\n").into_bytes(),
        &options(Take::Both),
        &origin(),
    )
    .unwrap()
    .documents;
    let fields = &documents[0].fields;
    let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "message_id",
            "from",
            "to",
            "subject",
            "date",
            "mailbox",
            "uid",
            "attachment_name"
        ]
    );
    let value = |n: &str| &fields.iter().find(|(k, _)| k == n).unwrap().1;
    assert_eq!(value("message_id"), "m1@example.test");
    assert_eq!(value("from"), "Renée <renee@example.test>");
    assert_eq!(value("to"), "a@example.test, B <b@example.test>");
    assert_eq!(value("subject"), "Facture de mars été");
    assert_eq!(value("date"), "2025-07-01T10:20:30+02:00");
    assert_eq!(value("attachment_name"), "relevé n°1.pdf");
    let eml = documents.last().unwrap();
    assert_eq!(eml.name, "uid-7 Facture de mars été.eml");
    assert!(!eml.fields.iter().any(|(k, _)| k == "attachment_name"));
}

#[test]
fn eml_is_the_mail_byte_for_byte() {
    let raw = MIXED.replace('\n', "\r\n");
    let got = docs(MIXED, Take::Eml);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, raw.as_bytes());
}

#[test]
fn attached_mails_are_eml_files_cut_from_the_outer_mail() {
    let inner =
        "From: x@example.test\nSubject: Inner one\nMessage-ID: <in@x>\n\nbody of the inner mail\n";
    let mail = format!(
        "From: y@example.test\nSubject: Fwd\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nsee attached\n--b\nContent-Type: message/rfc822\n\n{inner}--b\nContent-Type: message/rfc822\nContent-Disposition: attachment; filename=\"named.eml\"\n\n{inner}--b--\n"
    );
    let got = docs(&mail, Take::Attachments);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["Inner one.eml", "named.eml"]);
    let expected = inner.replace('\n', "\r\n");
    let expected = expected.trim_end_matches("\r\n").as_bytes();
    assert_eq!(
        String::from_utf8_lossy(&got[0].1),
        String::from_utf8_lossy(expected)
    );
    assert_eq!(got[1].1, expected);
}

#[test]
fn a_mail_with_only_a_body_has_no_document() {
    assert!(docs("Subject: hi\n\nhello\n", Take::Attachments).is_empty());
    let got = docs("Subject: hi\n\nhello\n", Take::Both);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "uid-7 hi.eml");
}

#[test]
fn a_damaged_attachment_fails_the_mail() {
    let mail = "Subject: broken\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: application/pdf; name=a.pdf\nContent-Disposition: attachment; filename=a.pdf\nContent-Transfer-Encoding: base64\n\nJVBER!!!i0xLjQK\n--b--\n";
    let err = documents(
        mail.replace('\n', "\r\n").into_bytes(),
        &options(Take::Attachments),
        &origin(),
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("«a.pdf»"), "{err:#}");
    let err = documents(Vec::new(), &options(Take::Eml), &origin()).unwrap_err();
    assert!(format!("{err:#}").contains("no header"), "{err:#}");
}

#[test]
fn a_single_part_pdf_mail_is_a_document() {
    let mail = "Subject: scan\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n";
    let got = docs(mail, Take::Attachments);
    assert_eq!(
        got,
        vec![("uid-7-part1.pdf".to_string(), b"%PDF-1.4\n".to_vec())]
    );
}
