//! Reading a topology file: bytes → YAML node tree → raw serde types.
//!
//! This is the only module that parses YAML. It refuses what is not a topology file
//! (binary, huge, deeply nested, several documents) with a diagnostic, never a panic,
//! and reports every unknown key and type error of the file at once.
//!
//! Files as editors on Windows save them are accepted: a UTF-8 byte-order mark (YAML 1.2
//! allows one at the start of a stream) is dropped before parsing, and CRLF line endings
//! are line breaks to the YAML parser like LF. Positions are counted in the text after
//! the mark, so line 1, column 1 is the first character a user sees in the editor.

pub mod node;
mod shape;

use crate::diag::{Diagnostic, Diagnostics, Pos, Seg, YamlPath};
use crate::raw::RawTopology;
use node::{Node, NodeKind};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

/// Larger files are refused before parsing. A topology of 2,000 pipelines is about 1 MiB.
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// A parsed topology, possibly with entries left out because they were malformed.
#[derive(Debug)]
pub struct Loaded {
    pub file: String,
    /// SHA-256 of the file's bytes as given (a byte-order mark included), recorded in
    /// saved plans: any change to the file, even one an editor hides, makes a plan stale.
    pub sha256: String,
    /// The file's text without its byte-order mark, to locate problems found after the
    /// node tree is dropped (re-parsing it must give the positions parsing gave first).
    pub text: String,
    /// The node tree, kept to locate problems found by later stages.
    pub doc: Node,
    pub raw: RawTopology,
    /// Entries (`section`, `key`) that failed to parse and are missing from `raw`;
    /// validation does not report references to them as undefined.
    pub broken: BTreeSet<(String, String)>,
    /// Problems found so far, not yet located.
    pub problems: Vec<Diagnostic>,
}

impl Loaded {
    /// Turns problems into located diagnostics against this file.
    pub fn diagnostics(&self, problems: Vec<Diagnostic>) -> Diagnostics {
        let mut d = Diagnostics::new(&self.file);
        d.errors = problems;
        d.locate(|p, at_key| {
            at_key
                .then(|| self.doc.locate_key(p))
                .flatten()
                .or_else(|| Some(self.doc.locate(p)))
        });
        d
    }
}

/// Reads and parses `path`. A file that cannot be read at all is a single diagnostic.
pub fn load_file(path: &Path) -> Result<Loaded, Diagnostics> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        let mut d = Diagnostics::new(&file);
        d.push(
            Diagnostic::new(
                YamlPath::root(),
                format!("cannot read the topology file: {e}"),
            )
            .help("pass the file with -f/--file (default: topology.yaml)"),
        );
        d.locate(|_, _| Some(Pos { line: 1, column: 1 }));
        d
    })?;
    load_bytes(&bytes, &file)
}

/// Parses a topology from bytes; `file` names it in diagnostics.
pub fn load_bytes(bytes: &[u8], file: &str) -> Result<Loaded, Diagnostics> {
    let fail = |pos: Pos, message: String, help: &str| {
        let mut d = Diagnostics::new(file);
        let mut diag = Diagnostic::new(YamlPath::root(), message);
        if !help.is_empty() {
            diag = diag.help(help);
        }
        diag.pos = Some(pos);
        d.push(diag);
        d
    };
    let start = Pos { line: 1, column: 1 };
    let given = bytes;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(fail(
            start,
            format!(
                "the file is {} bytes; topology files are limited to {} MiB",
                bytes.len(),
                MAX_FILE_BYTES / 1024 / 1024
            ),
            "split the topology or check that this is the right file",
        ));
    }
    // A byte-order mark is not content: yaml-rust2 would read it as part of the first
    // key (`\u{feff}version`). Offsets in messages still count it, as they are offsets
    // into the file; positions do not, as an editor does not show it.
    let bom = if bytes.starts_with(UTF8_BOM) {
        UTF8_BOM.len()
    } else {
        0
    };
    let bytes = &bytes[bom..];
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        // Windows PowerShell's `>` writes UTF-16 with a byte-order mark; say so rather
        // than point at an invalid UTF-8 byte.
        return Err(fail(
            start,
            "the file is UTF-16 text (it starts with a UTF-16 byte-order mark); topology files are UTF-8".into(),
            "save the file as UTF-8 (with or without a byte-order mark); in PowerShell, use `Out-File -Encoding utf8`",
        ));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) if !t.contains('\0') => t,
        Ok(t) => {
            let at = t.find('\0').unwrap_or(0);
            return Err(fail(
                pos_of_byte(t, at),
                "the file contains a NUL byte; it is not a YAML text file".into(),
                "check that this is the right file",
            ));
        }
        Err(e) => {
            let ok = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or("");
            return Err(fail(
                pos_of_byte(ok, ok.len()),
                format!(
                    "the file is not UTF-8 text (invalid byte at offset {})",
                    bom + e.valid_up_to()
                ),
                "topology files are UTF-8 YAML",
            ));
        }
    };
    let doc = match node::parse(text) {
        Ok(Some(doc)) => doc,
        Ok(None) => {
            return Err(fail(
                start,
                "the file is empty".into(),
                "a topology starts with `version: 1` and `name: <prefix>`",
            ))
        }
        Err(e) => return Err(fail(e.pos, format!("invalid YAML: {}", e.message), "")),
    };
    if !matches!(doc.kind, NodeKind::Map(_)) {
        return Err(fail(
            doc.pos,
            "the document is not a mapping".into(),
            "a topology is a mapping with `version`, `name`, `accounts`, …",
        ));
    }
    let mut loaded = to_raw(doc, file);
    loaded.sha256 = sha256_hex(given);
    loaded.text = text.to_string();
    Ok(loaded)
}

/// The UTF-8 encoding of U+FEFF, the byte-order mark.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn pos_of_byte(text: &str, byte: usize) -> Pos {
    let before = &text[..byte.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Pos { line, column }
}

/// The JSON Schema of the raw types, generated once.
pub fn schema() -> &'static serde_json::Value {
    static SCHEMA: OnceLock<serde_json::Value> = OnceLock::new();
    SCHEMA.get_or_init(|| schemars::schema_for!(RawTopology).to_value())
}

fn to_raw(doc: Node, file: &str) -> Loaded {
    let mut problems = Vec::new();
    let root = schema();
    let value = shape::shape(&doc, root, root, &YamlPath::root(), &mut problems);
    let serde_yaml::Value::Mapping(mut top) = value else {
        unreachable!("load_bytes checked that the document is a mapping")
    };
    let mut broken = BTreeSet::new();
    let mut take = |key: &str| top.remove(key);

    let mut field = |key: &str,
                     problems: &mut Vec<Diagnostic>,
                     broken: &mut BTreeSet<(String, String)>,
                     help: &str|
     -> Option<serde_yaml::Value> {
        match take(key) {
            Some(v) => Some(v),
            None => {
                // A missing required key is reported here, and marked so that later
                // checks of its value stay quiet; a missing optional key is no problem.
                if !help.is_empty() {
                    problems.push(
                        Diagnostic::new(YamlPath::root(), format!("missing key `{key}`"))
                            .help(help),
                    );
                    broken.insert((String::new(), key.to_string()));
                }
                None
            }
        }
    };

    let version = field(
        "version",
        &mut problems,
        &mut broken,
        "add `version: 1` at the top",
    )
    .and_then(|v| {
        parse::<u32>(
            v,
            &YamlPath::keys(&["version"]),
            &mut problems,
            &mut broken,
            ("", "version"),
        )
    })
    .unwrap_or(0);
    let name = field(
        "name",
        &mut problems,
        &mut broken,
        "add `name: <prefix>`: it prefixes every derived name and tags what tether owns",
    )
    .and_then(|v| {
        parse::<String>(
            v,
            &YamlPath::keys(&["name"]),
            &mut problems,
            &mut broken,
            ("", "name"),
        )
    })
    .unwrap_or_default();
    let defaults = field("defaults", &mut problems, &mut broken, "")
        .and_then(|v| {
            parse(
                v,
                &YamlPath::keys(&["defaults"]),
                &mut problems,
                &mut broken,
                ("", "defaults"),
            )
        })
        .unwrap_or_default();

    let mut section =
        |key: &str| -> serde_yaml::Value { take(key).unwrap_or(serde_yaml::Value::Null) };
    let raw = RawTopology {
        version,
        name,
        defaults,
        accounts: entries(section("accounts"), "accounts", &mut problems, &mut broken),
        buckets: entries(section("buckets"), "buckets", &mut problems, &mut broken),
        roles: entries(section("roles"), "roles", &mut problems, &mut broken),
        buses: entries(section("buses"), "buses", &mut problems, &mut broken),
        pipelines: entries(
            section("pipelines"),
            "pipelines",
            &mut problems,
            &mut broken,
        ),
        triggers: entries(section("triggers"), "triggers", &mut problems, &mut broken),
    };
    Loaded {
        file: file.to_string(),
        sha256: String::new(),
        text: String::new(),
        doc,
        raw,
        broken,
        problems,
    }
}

/// Deserialises each entry of a section on its own, so one bad entry does not hide the
/// problems of the others.
fn entries<T: DeserializeOwned>(
    value: serde_yaml::Value,
    section: &str,
    problems: &mut Vec<Diagnostic>,
    broken: &mut BTreeSet<(String, String)>,
) -> BTreeMap<String, T> {
    let path = YamlPath::keys(&[section]);
    let mut out = BTreeMap::new();
    match value {
        serde_yaml::Value::Null => {}
        serde_yaml::Value::Mapping(m) => {
            for (k, v) in m {
                let key = match k {
                    serde_yaml::Value::String(s) => s,
                    other => serde_yaml::to_string(&other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                if let Some(t) = parse(v, &path.key(key.clone()), problems, broken, (section, &key))
                {
                    out.insert(key, t);
                }
            }
        }
        _ => problems.push(
            Diagnostic::new(
                path,
                format!("`{section}` must be a mapping of names to entries"),
            )
            .help(format!(
                "write `{section}:` followed by indented `name: {{ … }}` entries"
            )),
        ),
    }
    out
}

fn parse<T: DeserializeOwned>(
    value: serde_yaml::Value,
    path: &YamlPath,
    problems: &mut Vec<Diagnostic>,
    broken: &mut BTreeSet<(String, String)>,
    entry: (&str, &str),
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(t) => Some(t),
        Err(e) => {
            let mut p = path.clone();
            for seg in e.path().iter() {
                match seg {
                    serde_path_to_error::Segment::Seq { index } => p.0.push(Seg::Index(*index)),
                    serde_path_to_error::Segment::Map { key } => p.0.push(Seg::Key(key.clone())),
                    serde_path_to_error::Segment::Enum { variant } => {
                        p.0.push(Seg::Key(variant.clone()))
                    }
                    serde_path_to_error::Segment::Unknown => {}
                }
            }
            problems.push(Diagnostic::new(p, type_error(&e.inner().to_string())));
            broken.insert((entry.0.to_string(), entry.1.to_string()));
            None
        }
    }
}

/// serde's messages are accurate but terse; name the YAML spelling where it helps.
fn type_error(message: &str) -> String {
    message
        .replace("invalid type: unit value", "invalid type: empty value")
        .replace("expected u32", "expected a whole number")
        .replace("a sequence", "a list")
        .replace("expected a map", "expected a mapping")
        .replace("struct ", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match load_bytes(text.as_bytes(), "t.yaml") {
            Ok(l) => {
                let d = l.diagnostics(l.problems.clone());
                d.errors
                    .iter()
                    .map(|e| format!("{}: {}", e.path, e.message))
                    .collect()
            }
            Err(d) => d
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.path, e.message))
                .collect(),
        }
    }

    #[test]
    fn every_unknown_key_is_reported_with_a_suggestion() {
        let text = "version: 1\nname: a\nacounts: {}\nbuckets:\n  b: { account: x, versoning: true, nmae: y }\n";
        let l = load_bytes(text.as_bytes(), "t.yaml").unwrap();
        let msgs: Vec<_> = l
            .problems
            .iter()
            .map(|d| (d.path.to_string(), d.help.clone()))
            .collect();
        assert!(
            msgs.contains(&("acounts".into(), Some("did you mean `accounts`?".into()))),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(&(
                "buckets.b.versoning".into(),
                Some("did you mean `versioning`?".into())
            )),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(&("buckets.b.nmae".into(), Some("did you mean `name`?".into()))),
            "{msgs:?}"
        );
        // The entry itself still parses once the unknown keys are dropped.
        assert!(l.raw.buckets.contains_key("b"));
    }

    #[test]
    fn type_errors_in_several_entries_are_all_reported() {
        let p = problems("version: 1\nname: a\nbuckets:\n  a: { account: [x] }\n  b: { account: x, force_destroy: maybe }\n");
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("buckets.a.account: invalid type"), "{p:?}");
        assert!(
            p[1].starts_with("buckets.b.force_destroy: invalid type"),
            "{p:?}"
        );
    }

    /// `text` as a Windows editor may save it: with a byte-order mark, CRLF, or both.
    fn windows_variants(text: &str) -> [(&'static str, Vec<u8>); 3] {
        let crlf = text.replace('\n', "\r\n");
        [
            ("BOM", [UTF8_BOM, text.as_bytes()].concat()),
            ("CRLF", crlf.clone().into_bytes()),
            ("BOM+CRLF", [UTF8_BOM, crlf.as_bytes()].concat()),
        ]
    }

    fn located(bytes: &[u8]) -> Vec<(Option<Pos>, String, String)> {
        let d = match load_bytes(bytes, "t.yaml") {
            Ok(l) => l.diagnostics(l.problems.clone()),
            Err(d) => d,
        };
        d.errors
            .iter()
            .map(|e| (e.pos, e.path.to_string(), e.message.clone()))
            .collect()
    }

    #[test]
    fn a_byte_order_mark_and_crlf_are_read_like_the_plain_file() {
        let text = "version: 1\nname: a\nbuckets:\n  b: { account: x, nmae: y }\n";
        let plain = located(text.as_bytes());
        assert_eq!(plain.len(), 1, "{plain:?}");
        assert_eq!(
            plain[0].0,
            Some(Pos {
                line: 4,
                column: 20
            }),
            "{plain:?}"
        );
        for (what, bytes) in windows_variants(text) {
            assert_eq!(located(&bytes), plain, "{what}");
            let l = load_bytes(&bytes, "t.yaml").unwrap();
            assert_eq!(l.raw.name, "a", "{what}");
            assert!(!l.text.starts_with('\u{feff}'), "{what}");
            // The hash is of the file as given: a plan made from the LF file is stale
            // against the CRLF one, and the other way round.
            assert_eq!(l.sha256, sha256_hex(&bytes), "{what}");
            assert_ne!(l.sha256, sha256_hex(text.as_bytes()), "{what}");
        }
        // A file that is only a byte-order mark is empty.
        assert_eq!(problems("\u{feff}"), vec!["(document): the file is empty"]);
    }

    #[test]
    fn crlf_inside_scalars_reads_as_lf() {
        // Block, folded and multi-line quoted scalars: YAML turns every line break into
        // `\n`, so values (and positions) must not depend on how the file ends its lines.
        let text = "a: |\n  one\n  two\nb: >\n  three\n  four\nc: \"five\n  six\"\nd: [x,\n  y]\n";
        let lf = format!("{:?}", node::parse(text).unwrap());
        let crlf = format!("{:?}", node::parse(&text.replace('\n', "\r\n")).unwrap());
        assert_eq!(crlf, lf);
        assert!(!lf.contains("\\r"), "{lf}");
    }

    #[test]
    fn positions_of_encoding_errors_do_not_count_the_byte_order_mark() {
        let nul = located(&[UTF8_BOM, b"version: 1\x00"].concat());
        assert_eq!(
            nul[0].0,
            Some(Pos {
                line: 1,
                column: 11
            }),
            "{nul:?}"
        );
        let bad = located(&[UTF8_BOM, b"ab\xff"].concat());
        assert_eq!(bad[0].0, Some(Pos { line: 1, column: 3 }), "{bad:?}");
        // The offset is into the file, where the mark takes three bytes.
        assert!(bad[0].2.contains("at offset 5"), "{bad:?}");
        for utf16 in [&b"\xFF\xFEv\x00"[..], b"\xFE\xFF\x00v"] {
            let e = located(utf16);
            assert!(e[0].2.contains("UTF-16"), "{e:?}");
        }
    }

    #[test]
    fn non_topologies_are_refused_cleanly() {
        assert_eq!(problems(""), vec!["(document): the file is empty"]);
        assert!(problems("- a\n- b\n")[0].contains("not a mapping"));
        assert!(problems("a: [\n")[0].contains("invalid YAML"));
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        assert!(load_bytes(&garbage, "g").is_err());
    }
}
