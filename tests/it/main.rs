//! The one integration test binary: every test that runs the crate from the outside.

mod apply;
mod ci;
mod cli;
mod dead_letter;
mod destroy;
mod emulator;
mod examples;
mod external;
mod faults;
mod flows;
mod harness;
mod input;
mod invalid;
mod plan;
mod proofs;
mod regions;
mod render;
mod robustness;
mod schema;

use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A command's exit code and output, for assertion messages.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The API calls a run made, parsed from its `--stats` output on stderr.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Calls {
    pub session: u64,
    pub reads: u64,
    pub writes: u64,
    /// `service.Operation` → calls.
    pub by_operation: std::collections::BTreeMap<String, u64>,
}

/// Parses `--stats`; a run without stats fails the test (the counts must exist to mean
/// anything), and the per-class totals must add up to the per-operation rows.
pub fn calls(o: &std::process::Output) -> Calls {
    let err = String::from_utf8_lossy(&o.stderr);
    let mut c = Calls::default();
    let mut seen = 0;
    let mut class_total = 0;
    for line in err.lines() {
        if let Some(rest) = line.strip_prefix("AWS API ") {
            let (title, n) = rest.split_once(": ").unwrap_or_else(|| panic!("{line}"));
            let n: u64 = n.trim().parse().unwrap();
            class_total += n;
            seen += 1;
            match title {
                "session calls" => c.session = n,
                "reads" => c.reads = n,
                "writes" => c.writes = n,
                other => panic!("unknown stats class {other}"),
            }
        } else if seen > 0 && line.starts_with("  ") {
            let (n, op) = line
                .trim()
                .split_once("  ")
                .unwrap_or_else(|| panic!("{line}"));
            c.by_operation
                .insert(op.trim().to_string(), n.trim().parse().unwrap());
        }
    }
    assert_eq!(seen, 3, "no complete --stats output:\n{}", text(o));
    assert_eq!(class_total, c.by_operation.values().sum::<u64>(), "{err}");
    c
}

/// Whether expected-output files should be rewritten instead of compared, decided from
/// the values of `TETHER_BLESS` and `CI`: only `TETHER_BLESS=1` blesses (any other value,
/// `0` included, compares), and never under CI, where a rewrite would turn a failing
/// comparison green.
pub fn bless_mode(bless: Option<&str>, ci: Option<&str>) -> Result<bool, String> {
    let on_ci = ci.is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
    match bless {
        Some("1") if on_ci => Err(
            "TETHER_BLESS=1 is refused under CI: expected files are blessed on a developer's machine and reviewed, never rewritten by CI"
                .to_string(),
        ),
        Some("1") => Ok(true),
        None | Some("" | "0") => Ok(false),
        Some(other) => Err(format!(
            "TETHER_BLESS={other:?} is not understood: set TETHER_BLESS=1 to rewrite the expected files, or unset it to compare"
        )),
    }
}

/// [`bless_mode`] for this process's environment; a refused setting fails the test.
pub fn blessing() -> bool {
    let bless = std::env::var("TETHER_BLESS").ok();
    let ci = std::env::var("CI").ok();
    bless_mode(bless.as_deref(), ci.as_deref()).unwrap_or_else(|e| panic!("{e}"))
}

/// Compares `actual` with the file at `path`, or rewrites it when blessing.
pub fn expect_file(path: &Path, actual: &str) {
    if blessing() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|_| {
        panic!(
            "{} is missing; run `TETHER_BLESS=1 cargo test` to create it, then review it",
            path.display()
        )
    });
    if expected != actual {
        let diff = similar::TextDiff::from_lines(expected.as_str(), actual)
            .unified_diff()
            .header("expected", "actual")
            .to_string();
        panic!(
            "{} differs (run `TETHER_BLESS=1 cargo test` to accept, then review):\n{diff}",
            path.display()
        );
    }
}

#[test]
fn blessing_needs_an_explicit_one_and_is_refused_under_ci() {
    assert_eq!(bless_mode(None, None), Ok(false));
    assert_eq!(bless_mode(Some("0"), None), Ok(false));
    assert_eq!(bless_mode(Some(""), None), Ok(false));
    assert_eq!(bless_mode(Some("1"), None), Ok(true));
    assert_eq!(bless_mode(Some("1"), Some("false")), Ok(true));
    assert!(bless_mode(Some("yes"), None).is_err());
    assert!(bless_mode(Some("1"), Some("true"))
        .unwrap_err()
        .contains("CI"));
    assert!(bless_mode(Some("1"), Some("1")).is_err());
    assert_eq!(bless_mode(Some("0"), Some("true")), Ok(false));
}
