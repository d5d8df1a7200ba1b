//! XML past the 16 MB that listing once read whole: decoded as a stream, grouped with its files.
//! See: issue 13 (point 8).

use roxmltree::Document;

use super::*;

/// Bytes that do not compress, so that a gzipped PJ stays as large as its file.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[test]
fn an_actes_form_over_16_mb_is_grouped_with_its_acte() {
    let env = TestEnv::new();
    let stem = "034-491011698-20171207-CL20171227_06-DE";
    let form = read_fixture(&format!("acte_nature/{stem}-1-1_0.xml"));
    // A producer's comment block inside the form (before its closing tag) takes it past 16 MB.
    let close = b"</actes:Acte>";
    let at = form.windows(close.len()).rposition(|w| w == close).unwrap();
    let mut big = form[..at].to_vec();
    big.extend_from_slice(b"<!--");
    big.extend(std::iter::repeat_n(b'x', 17 << 20));
    big.extend_from_slice(b"-->");
    big.extend_from_slice(&form[at..]);
    assert!(big.len() > 16 << 20);
    put(&env, &format!("{stem}-1-1_0.xml"), &big);
    let pdf = read_fixture(&format!("acte_nature/{stem}-1-1_1.pdf"));
    put(&env, &format!("{stem}-1-1_1.pdf"), &pdf);
    run(&env, &[]).expect_code(0).expect_quiet();
    let docs = deposited(&env);
    assert_eq!(docs.len(), 2, "{docs:#?}");
    assert_eq!(find(&docs, &format!("{stem}-1-1_0.xml")).sha, sha256(&big));
    let acte = find(&docs, &format!("{stem}-1-1_1.pdf"));
    assert_eq!(acte.sha, sha256(&pdf));
    assert_eq!(acte.field("role"), "acte");
    let text = xml_text(&form);
    let doc = Document::parse(&text).unwrap();
    assert_eq!(acte.field("acte_object"), text_of(&doc, "Objet"));
    assert!(names(&env.source).is_empty(), "{}", env.listing());
}

#[test]
fn a_pes_over_16_mb_gives_its_attachments() {
    let env = TestEnv::new();
    let pes = xml_text(&read_fixture("helios/PES_Aller_avec_PES_PJ-handbuilt.xml"));
    let content = noise(24 << 20);
    let encoded = base64::engine::general_purpose::STANDARD.encode(gzip(&content));
    // The first PJ's file replaced by a 24 MB one, base64 in 76-column lines as encoders write.
    let wrapped: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let start = pes.find("<Fichier MIMEType=\"application/pdf\">").unwrap();
    let open_end = pes[start..].find('>').unwrap() + start + 1;
    let close = pes[open_end..].find("</Fichier>").unwrap() + open_end;
    let big = format!(
        "{}{}{}",
        &pes[..open_end],
        wrapped.join("\n"),
        &pes[close..]
    );
    let bytes = encoding_rs::WINDOWS_1252.encode(&big).0.into_owned();
    assert!(bytes.len() > 16 << 20);
    put(&env, "PESALR2_21340172200017_240402_0001.xml", &bytes);
    run(&env, &[]).expect_code(0).expect_quiet();
    let docs = deposited(&env);
    assert_eq!(docs.len(), 3, "{docs:#?}");
    assert_eq!(
        find(&docs, "PESALR2_21340172200017_240402_0001.xml").sha,
        sha256(&bytes)
    );
    let pj = find(&docs, "facture-fournitures-2024-77.pdf");
    assert_eq!(pj.sha, sha256(&content));
    let doc = Document::parse(&pes).unwrap();
    assert_eq!(pj.field("pes_collectivity_id"), v_of(&doc, "IdColl"));
}
