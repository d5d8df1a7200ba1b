//! Archive junk: what macOS, Windows Explorer and Finder add to the ZIPs and tarballs people make
//! by hand is not a document. See: issue 13.

use super::*;

/// The junk archivers add, as real tools name it.
const JUNK: [(&str, &[u8]); 6] = [
    (
        "__MACOSX/._Délibération Libriciel.pdf",
        b"\x00\x05\x16\x07AppleDouble",
    ),
    (
        "__MACOSX/annexes/._plan.pdf",
        b"\x00\x05\x16\x07AppleDouble",
    ),
    ("._manifest.xml", b"\x00\x05\x16\x07AppleDouble"),
    (".DS_Store", b"\x00\x00\x00\x01Bud1"),
    ("Thumbs.db", b"\xd0\xcf\x11\xe0thumbnails"),
    ("annexes/desktop.ini", b"[.ShellClassInfo]\r\n"),
];

#[test]
fn archive_junk_is_left_out_of_zips_and_tarballs() {
    let files = unzip(&read_fixture("acte_nature/acte.zip"));
    let mut entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, c)| (n.as_str(), c.as_slice()))
        .collect();
    entries.extend(JUNK);
    for (shape, bytes) in [("zip", zip_of(&entries)), ("tar.gz", tar_gz_of(&entries))] {
        let env = TestEnv::new();
        put(&env, &format!("acte.{shape}"), &bytes);
        run(&env, &[]).expect_code(0).expect_quiet();
        let docs = deposited(&env);
        assert_eq!(docs.len(), files.len(), "{shape}: {docs:#?}");
        for (name, content) in &files {
            assert_eq!(find(&docs, name).sha, sha256(content), "{shape} {name}");
        }
        for doc in &docs {
            let original = doc.field("original_name");
            assert!(
                !original.starts_with("._") && !original.eq_ignore_ascii_case(".DS_Store"),
                "{shape}: {original} deposited"
            );
        }
        assert!(names(&env.source).is_empty(), "{}", env.listing());
    }
}
