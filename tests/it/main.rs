//! The one integration test binary: every test that runs the crate from the outside.

mod apply;
mod emulator;
mod examples;
mod flows;
mod invalid;
mod plan;
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

/// Whether expected-output files should be rewritten instead of compared.
pub fn blessing() -> bool {
    std::env::var_os("TETHER_BLESS").is_some()
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
