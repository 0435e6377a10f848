//! The corpus of bad topologies: each file under `tests/data/invalid/` must fail with
//! exactly the diagnostics in its `.expected` file (file, line, column, YAML path,
//! message and help), so a reviewer sees every change to what users are told.

use crate::{expect_file, root};

#[test]
fn every_bad_topology_fails_with_its_expected_diagnostics() {
    let dir = root().join("tests/data/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 40,
        "the corpus has {} files; it must keep at least 40",
        files.len()
    );
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(&file).unwrap();
        let diags = match tether::check_bytes(&bytes, &name) {
            Ok(_) => panic!("{name} is in the invalid corpus but validates"),
            Err(d) => d,
        };
        assert!(!diags.is_empty(), "{name}: failed without a diagnostic");
        for d in &diags.errors {
            assert!(d.pos.is_some(), "{name}: `{}` has no position", d.message);
        }
        expect_file(&file.with_extension("expected"), &diags.render());
    }
}
