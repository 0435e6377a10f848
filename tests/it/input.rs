//! Input as real editors and real organisations produce it: files saved on Windows (a
//! UTF-8 byte-order mark, CRLF line endings) and topologies with thousands of mistakes.

use crate::root;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// `bytes` as a Windows editor saves them: a byte-order mark and CRLF line endings.
fn windows(bytes: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(bytes).unwrap();
    assert!(!text.contains('\r'), "the original already has CRLF");
    [BOM, text.replace('\n', "\r\n").as_bytes()].concat()
}

#[test]
fn the_example_saved_with_a_bom_and_crlf_expands_exactly_like_the_original() {
    let original = std::fs::read(root().join("topology.example.yaml")).unwrap();
    let saved = windows(&original);
    let a = tether::check_bytes(&original, "topology.yaml").unwrap_or_else(|d| panic!("{d}"));
    let b = tether::check_bytes(&saved, "topology.yaml").unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(
        serde_yaml::to_string(&b.expansion).unwrap(),
        serde_yaml::to_string(&a.expansion).unwrap()
    );
    // The hash identifies the bytes as given, so a plan saved from one is stale for the
    // other: they are different files, even if they mean the same.
    assert_eq!(b.source.sha256, tether::loader::sha256_hex(&saved));
    assert_ne!(b.source.sha256, a.source.sha256);
}

#[test]
fn bad_topologies_saved_with_a_bom_and_crlf_report_the_same_positions() {
    let dir = root().join("tests/data/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut compared = 0;
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let original = std::fs::read(&file).unwrap();
        let Ok(text) = std::str::from_utf8(&original) else {
            continue;
        };
        if text.contains('\r') || text.contains('\0') {
            continue;
        }
        let expected = tether::check_bytes(&original, &name).unwrap_err().render();
        let actual = match tether::check_bytes(&windows(&original), &name) {
            Ok(_) => panic!("{name}: validates once saved with a BOM and CRLF"),
            Err(d) => d.render(),
        };
        assert_eq!(actual, expected, "{name} with a BOM and CRLF");
        compared += 1;
    }
    assert!(compared >= 40, "only {compared} files compared");
}
