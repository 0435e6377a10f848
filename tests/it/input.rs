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

/// A topology of `n` pipelines, each broken in one of three ways: every third has no
/// `account`, one in a hundred of the others names an unknown region, and the rest have
/// a misspelt key. Returns the text and the (path, message) of every error it holds.
fn broken_pipelines(n: usize) -> (String, Vec<(String, String)>) {
    let mut text = String::from(
        "version: 1\nname: acme\ndefaults: { region: us-east-1 }\naccounts:\n  tools: { id: \"111111111111\" }\npipelines:\n",
    );
    let rest = "source: { codecommit: { repository: r, branch: main } }, stages: [{ name: D, actions: [{ name: a, approval: {} }] }]";
    let mut errors = Vec::new();
    for i in 0..n {
        let (fields, path, message) = if i % 3 == 2 {
            (
                "",
                format!("pipelines.p{i}"),
                "missing field `account`".to_string(),
            )
        } else if i % 100 == 0 {
            (
                "account: tools, region: eu-wset-1, ",
                format!("pipelines.p{i}.region"),
                "unknown region `eu-wset-1`".to_string(),
            )
        } else {
            (
                "account: tools, nmae: x, ",
                format!("pipelines.p{i}.nmae"),
                format!("unknown key `nmae` in `pipelines.p{i}`"),
            )
        };
        text.push_str(&format!("  p{i}: {{ {fields}{rest} }}\n"));
        errors.push((path, message));
    }
    (text, errors)
}

#[test]
fn thousands_of_errors_are_all_reported_and_counted_by_kind() {
    let (topology, expected) = broken_pipelines(3000);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.yaml");
    std::fs::write(&file, topology).unwrap();
    let file = file.to_str().unwrap();
    let tether = |args: &[&str]| {
        crate::emulator::isolated(
            env!("CARGO_BIN_EXE_tether"),
            std::env::vars(),
            "http://127.0.0.1:9",
        )
        .args(args)
        .output()
        .expect("running tether")
    };

    // JSON keeps every error, each located.
    let o = tether(&["validate", "--format", "json", "-f", file]);
    assert_eq!(o.status.code(), Some(1), "{}", crate::text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let errors = v["errors"].as_array().unwrap();
    let mut actual: Vec<(String, String)> = errors
        .iter()
        .map(|e| {
            assert!(e["pos"]["line"].is_u64(), "{e}");
            let s = |k: &str| e[k].as_str().unwrap().to_string();
            (s("path"), s("message"))
        })
        .collect();
    let mut expected = expected;
    actual.sort();
    expected.sort();
    assert_eq!(actual.len(), 3000);
    assert_eq!(actual, expected);

    // Text shows every error too, and ends with the count of each kind.
    let o = tether(&["validate", "-f", file]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(err.matches(": error: ").count(), 3000);
    let summary = format!(
        "{file}: 3000 errors of 3 kinds\n  1980 × unknown key `nmae` in `…`\n  1000 × missing field `account`\n    20 × unknown region `eu-wset-1`\n"
    );
    assert!(
        err.ends_with(&summary),
        "the report ends with:\n{}",
        &err[err.len().saturating_sub(600)..]
    );
}
