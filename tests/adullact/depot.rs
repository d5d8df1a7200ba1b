//! Pastell depot connector fixtures: metadata in XML, JSON and YAML, in folder, ZIP and loose modes.

use roxmltree::Document;

use super::*;

#[test]
fn pastell_depot_zip_without_metadata() {
    let env = TestEnv::new();
    put_fixture(
        &env,
        "Titre de mon document.zip",
        "depot_format/Titre_de_mon_document.zip",
    );
    run(&env, &[]).expect_code(0);
    let files = unzip(&read_fixture("depot_format/Titre_de_mon_document.zip"));
    let docs = deposited(&env);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].sha, sha256(&files["foo.txt"]));
    assert_eq!(docs[0].field("envelope_type"), "generic");
    assert_eq!(docs[0].field("envelope"), "Titre de mon document.zip");
}

/// foo.txt and bar.txt as the depot fixtures name them.
fn depot_files() -> [(&'static str, Vec<u8>); 2] {
    let zip = unzip(&read_fixture("depot_format/Titre_de_mon_document.zip"));
    [
        ("foo.txt", zip["foo.txt"].clone()),
        ("bar.txt", b"bar, hand-made\n".to_vec()),
    ]
}

fn check_depot_fields(docs: &[Deposited], metadata_data: &[(&str, &str)]) {
    for (name, field) in [("foo.txt", "fichier"), ("bar.txt", "fichier_simple")] {
        let doc = find(docs, name);
        assert_eq!(doc.field("pastell_field"), field, "{name}");
        for (key, value) in metadata_data {
            assert_eq!(doc.field(&format!("pastell_{key}")), *value, "{name}");
        }
    }
}

#[test]
fn pastell_depot_metadata_in_xml_json_and_yaml() {
    let xml_bytes = read_fixture("depot_format/metadata.xml");
    let text = String::from_utf8(xml_bytes.clone()).unwrap();
    let flux = Document::parse(&text).unwrap();
    let data: Vec<(&str, String)> = ["toto", "prenom"]
        .iter()
        .map(|k| (*k, flux_data(&flux, k)))
        .collect();
    let data: Vec<(&str, &str)> = data.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let json: serde_json::Value =
        serde_json::from_slice(&read_fixture("depot_format/metadata.json")).unwrap();
    assert_eq!(
        json["toto"], data[0].1,
        "the fixtures describe the same document"
    );

    for (shape, metadata_name, fixture_name) in [
        ("folder", "metadata.xml", "depot_format/metadata.xml"),
        ("loose", "metadata.json", "depot_format/metadata.json"),
        ("zip", "metadata.txt", "depot_format/metadata.yml"),
    ] {
        let env = TestEnv::new();
        let metadata = read_fixture(fixture_name);
        let mut entries: Vec<(&str, Vec<u8>)> = depot_files().into_iter().collect();
        entries.push((metadata_name, metadata));
        match shape {
            "folder" => {
                for (name, content) in &entries {
                    put(&env, &format!("Titre/{name}"), content);
                }
                put(&env, "Titre/fichier_termine.txt", b"fin");
            }
            "loose" => {
                for (name, content) in &entries {
                    put(&env, name, content);
                }
            }
            _ => {
                let refs: Vec<(&str, &[u8])> =
                    entries.iter().map(|(n, c)| (*n, c.as_slice())).collect();
                put(&env, "Titre.zip", &zip_of(&refs));
            }
        }
        let ran = run(&env, &["--json"]);
        ran.expect_code(0);
        assert_eq!(
            ran.summary()["items_deposited"],
            1,
            "{shape}\n{}",
            ran.explain()
        );
        let docs = deposited(&env);
        assert_eq!(docs.len(), 3, "{shape}: {docs:#?}");
        for (name, content) in &entries {
            assert_eq!(find(&docs, name).sha, sha256(content), "{shape} {name}");
        }
        check_depot_fields(&docs, &data);
        assert_eq!(find(&docs, metadata_name).field("role"), "metadata");
        let group = docs[0].field("group_id");
        assert!(docs.iter().all(|d| d.field("group_id") == group), "{shape}");
        assert!(names(&env.source).is_empty(), "{shape}\n{}", env.listing());
    }
}

#[test]
fn pastell_names_are_replaced_by_original_names() {
    let env = TestEnv::new();
    put_fixture(
        &env,
        "metadata.xml",
        "depot_format/metadata-pastell-name.xml",
    );
    put(&env, "aaaa.yml_fichier_0", b"foo content");
    put(&env, "aaaa.yml_fichier_simple_0", b"bar content");
    put(&env, "unrelated.pdf", b"%PDF nobody names me");
    let ran = run(&env, &["-v"]);
    ran.expect_code(0);
    let docs = deposited(&env);
    assert_eq!(docs.len(), 3, "{docs:#?}");
    assert_eq!(find(&docs, "foo.txt").sha, sha256(b"foo content"));
    assert_eq!(find(&docs, "bar.txt").sha, sha256(b"bar content"));
    assert!(env.cold.join("foo.txt").exists() && env.cold.join("bar.txt").exists());
    // A file no envelope names stays.
    assert_eq!(names(&env.source), vec!["unrelated.pdf"]);
    assert!(
        ran.stderr.contains("not named by any envelope"),
        "{}",
        ran.explain()
    );
}

// See: issue 13 (point 6).
#[test]
fn loose_json_or_yaml_metadata_waits_for_the_files_it_lists() {
    for (metadata_name, fixture_name) in [
        ("metadata.json", "depot_format/metadata.json"),
        ("metadata.txt", "depot_format/metadata.yml"),
    ] {
        let env = TestEnv::new();
        let metadata = read_fixture(fixture_name);
        put(&env, metadata_name, &metadata);
        let [(first, first_content), (second, second_content)] = depot_files();
        put(&env, first, &first_content);
        let dry = run(&env, &["--dry-run"]);
        dry.expect_code(0);
        assert!(
            dry.stdout.contains("waits for the files it names") && dry.stdout.contains(second),
            "{metadata_name}\n{}",
            dry.explain()
        );
        run(&env, &[]).expect_code(0).expect_quiet();
        assert!(env.cold_names().is_empty(), "{}", env.listing());
        assert_eq!(names(&env.source).len(), 2);

        put(&env, second, &second_content);
        run(&env, &[]).expect_code(0).expect_quiet();
        let docs = deposited(&env);
        assert_eq!(docs.len(), 3, "{metadata_name}: {docs:#?}");
        assert_eq!(find(&docs, first).sha, sha256(&first_content));
        assert_eq!(find(&docs, second).sha, sha256(&second_content));
        assert_eq!(find(&docs, second).field("pastell_field"), "fichier_simple");
        assert!(names(&env.source).is_empty(), "{}", env.listing());
    }
}

#[test]
fn a_zip_whose_metadata_lists_a_missing_file_is_incomplete() {
    let env = TestEnv::new();
    let [(first, content), (second, _)] = depot_files();
    let zip = zip_of(&[
        ("metadata.json", &read_fixture("depot_format/metadata.json")),
        (first, &content),
    ]);
    put(&env, "Titre.zip", &zip);
    run(&env, &[])
        .expect_code(1)
        .expect_stderr_contains(&format!("metadata.json names {second}"));
    assert!(env.cold_names().is_empty(), "{}", env.listing());
    assert_eq!(names(&env.source), vec!["Titre.zip"]);
}
