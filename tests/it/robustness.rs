//! Hostile and malformed input: every one gets diagnostics, none panics or hangs.

use crate::root;

fn must_fail(bytes: &[u8], what: &str) -> tether::diag::Diagnostics {
    match tether::check_bytes(bytes, "input.yaml") {
        Ok(_) => panic!("{what}: accepted"),
        Err(d) => {
            assert!(!d.is_empty(), "{what}: failed without a diagnostic");
            d
        }
    }
}

#[test]
fn binary_garbage_is_refused() {
    let mut seed = 0x2545F4914F6CDD1Du64;
    for len in [1usize, 7, 64, 4096, 65536] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8
            })
            .collect();
        must_fail(&bytes, &format!("{len} random bytes"));
    }
    let d = must_fail(b"version: 1\x00\x01\x02", "NUL byte");
    assert!(d.render().contains("NUL byte"));
}

#[test]
fn deep_nesting_is_refused() {
    for depth in [65usize, 1_000, 200_000] {
        let text = format!(
            "version: 1\nname: a\ndefaults: {}{}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        must_fail(text.as_bytes(), &format!("depth {depth}"));
        let text = format!(
            "version: 1\nname: a\nx: {}1{}",
            "{a: ".repeat(depth),
            "}".repeat(depth)
        );
        must_fail(text.as_bytes(), &format!("mapping depth {depth}"));
    }
}

#[test]
fn huge_documents_are_refused_quickly() {
    let big = vec![b'a'; tether::loader::MAX_FILE_BYTES + 1];
    let d = must_fail(&big, "oversized file");
    assert!(d.render().contains("limited to"));
    // A billion-laughs alias bomb stays bounded.
    let mut text = String::from("version: 1\nname: a\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    must_fail(text.as_bytes(), "alias bomb");
}

#[test]
fn mutations_of_the_example_never_panic() {
    // Cut, duplicate and corrupt the example at many places; each variant must either
    // validate or fail with located diagnostics.
    let text = std::fs::read_to_string(root().join("topology.example.yaml")).unwrap();
    let bytes = text.as_bytes();
    let step = (bytes.len() / 150).max(1);
    let mut checked = 0;
    for at in (0..bytes.len()).step_by(step) {
        let variants: [Vec<u8>; 4] = [
            bytes[..at].to_vec(),
            [&bytes[..at], &bytes[at + 1..]].concat(),
            [&bytes[..at], b": [", &bytes[at..]].concat(),
            [&bytes[..at], b"\n  - ", &bytes[at..]].concat(),
        ];
        for v in variants {
            if let Err(d) = tether::check_bytes(&v, "mutant.yaml") {
                assert!(!d.is_empty());
                assert!(d.errors.iter().all(|e| e.pos.is_some()));
            }
            checked += 1;
        }
    }
    assert!(checked > 400);
}

#[test]
fn byte_order_marks_and_utf16_never_panic() {
    // A byte-order mark is accepted only at the start of the file; anywhere else it is a
    // character like any other, and the file validates or fails with located diagnostics.
    let text = std::fs::read_to_string(root().join("topology.example.yaml")).unwrap();
    let bom = "\u{feff}";
    let step = (text.len() / 60).max(1);
    let mut at = 0;
    while at < text.len() {
        if text.is_char_boundary(at) {
            let v = format!("{bom}{}{bom}{}", &text[..at], &text[at..]);
            if let Err(d) = tether::check_bytes(v.as_bytes(), "bom.yaml") {
                assert!(d.errors.iter().all(|e| e.pos.is_some()), "{d}");
            }
        }
        at += step;
    }
    // Windows PowerShell's `>` writes UTF-16: refused with a message saying so.
    for big_endian in [false, true] {
        let mut bytes = if big_endian {
            vec![0xFE, 0xFF]
        } else {
            vec![0xFF, 0xFE]
        };
        for unit in text.encode_utf16() {
            let b = if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            };
            bytes.extend_from_slice(&b);
        }
        let d = must_fail(&bytes, "UTF-16");
        assert!(d.render().contains("UTF-16"), "{d}");
    }
}
