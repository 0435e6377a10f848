//! The instruments the other tests rely on, and the project's claims about its own
//! structure: each is checked here, so that a broken instrument fails instead of letting
//! everything pass.

use crate::emulator::{isolated, take, Topology};
use crate::{root, text};
use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running git");
    assert!(o.status.success(), "git {args:?}: {}", text(&o));
}

fn tracked_state(dir: &Path) -> String {
    let o = Command::new(root().join("scripts/tracked-state"))
        .current_dir(dir)
        .output()
        .expect("running scripts/tracked-state");
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// `scripts/test` compares this fingerprint before and after the run: a run that
/// rewrites a tracked file (a blessed expected file) must change it, and an untracked
/// file (build output, `.venv`) must not.
#[test]
fn tracked_state_changes_exactly_when_a_tracked_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q"]);
    std::fs::write(d.join("expected.yaml"), "a: 1\n").unwrap();
    git(d, &["add", "expected.yaml"]);
    git(d, &["commit", "-qm", "x"]);
    let clean = tracked_state(d);
    std::fs::write(d.join("untracked.log"), "noise").unwrap();
    assert_eq!(tracked_state(d), clean, "untracked files do not count");
    std::fs::write(d.join("expected.yaml"), "a: 2\n").unwrap();
    let blessed = tracked_state(d);
    assert_ne!(blessed, clean, "a rewritten tracked file is seen");
    // A second rewrite of an already-modified file is seen too (a developer may run the
    // suite with uncommitted changes).
    std::fs::write(d.join("expected.yaml"), "a: 3\n").unwrap();
    assert_ne!(tracked_state(d), blessed);
    // And scripts/test uses it around the whole run.
    let script = std::fs::read_to_string(root().join("scripts/test")).unwrap();
    let before = script.find("before=\"$(scripts/tracked-state)\"").unwrap();
    let tests = script.find("cargo test --locked").unwrap();
    let after = script.find("after=\"$(scripts/tracked-state)\"").unwrap();
    assert!(before < tests && tests < after);
}

/// Children of the tests see none of the parent's AWS settings: a per-service endpoint
/// (which would win over `AWS_ENDPOINT_URL`), a profile, a session token.
#[test]
fn children_of_the_tests_cannot_reach_another_endpoint() {
    let parent = vec![
        (
            "PATH".to_string(),
            std::env::var("PATH").unwrap_or_default(),
        ),
        (
            "AWS_ENDPOINT_URL_S3".to_string(),
            "http://127.0.0.1:9".to_string(),
        ),
        (
            "AWS_ENDPOINT_URL_IAM".to_string(),
            "http://127.0.0.1:9".to_string(),
        ),
        ("AWS_PROFILE".to_string(), "production".to_string()),
        ("AWS_SESSION_TOKEN".to_string(), "secret".to_string()),
        ("AWS_USE_FIPS_ENDPOINT".to_string(), "true".to_string()),
    ];
    let o = isolated("env", parent.clone(), "http://127.0.0.1:1")
        .output()
        .expect("running env");
    let seen = String::from_utf8_lossy(&o.stdout);
    let aws: Vec<&str> = seen.lines().filter(|l| l.starts_with("AWS_")).collect();
    for (k, _) in &parent[1..] {
        assert!(
            !aws.iter().any(|l| l.starts_with(&format!("{k}="))),
            "{k} reached the child: {aws:?}"
        );
    }
    assert!(
        aws.contains(&"AWS_ENDPOINT_URL=http://127.0.0.1:1"),
        "{aws:?}"
    );

    // And tether, given that parent environment, plans against the emulator.
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow1-upload-trigger.yaml");
    let o = isolated(env!("CARGO_BIN_EXE_tether"), parent, &emu.endpoint)
        .args(["plan", "-f", t.arg()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// Rust sources of the library and the binary, without their `#[cfg(test)]` modules.
fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            // Test modules sit at the end of a file (the house convention checked here).
            let code = match text.find("#[cfg(test)]") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            let rel = p.strip_prefix(root()).unwrap().to_path_buf();
            (rel, code)
        })
        .collect()
}

fn users(pattern: &str) -> Vec<String> {
    sources()
        .into_iter()
        .filter(|(_, code)| code.contains(pattern))
        .map(|(p, _)| p.to_string_lossy().to_string())
        .collect()
}

fn only_under(users: &[String], allowed: &[&str]) -> Vec<String> {
    users
        .iter()
        .filter(|u| !allowed.iter().any(|a| u.starts_with(a)))
        .cloned()
        .collect()
}

/// The invariants ARCHITECTURE.md states that grep can check.
#[test]
fn the_architecture_invariants_hold() {
    let arch = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    for sdk in [
        "aws_sdk_",
        "aws_config",
        "aws_smithy",
        "aws_credential_types",
    ] {
        let outside = only_under(&users(sdk), &["src/aws/"]);
        assert!(
            outside.is_empty(),
            "{sdk} used outside src/aws/: {outside:?}"
        );
    }
    assert!(arch.contains("Only `src/aws/` imports `aws_sdk_*`"));

    let tokio = users("tokio");
    let allowed = ["src/aws/", "src/apply.rs", "src/main.rs"];
    assert!(
        only_under(&tokio, &allowed).is_empty(),
        "tokio used outside {allowed:?}: {tokio:?}"
    );
    for a in allowed {
        assert!(
            tokio.iter().any(|u| u.starts_with(a)),
            "ARCHITECTURE.md names {a} as a tokio user; it no longer is one"
        );
    }
    assert!(arch.contains("only `src/aws/`, `src/apply.rs` and `main.rs` use tokio"));

    for parse in ["yaml_rust2", "serde_yaml::from"] {
        let outside = only_under(&users(parse), &["src/loader/"]);
        assert!(
            outside.is_empty(),
            "{parse} outside the loader: {outside:?}"
        );
    }
    assert!(arch.contains("Only `src/loader/` parses YAML"));

    // The pure core: no file, network, environment, clock, randomness or tasks.
    let core = [
        "src/diag.rs",
        "src/model.rs",
        "src/names.rs",
        "src/region.rs",
        "src/raw.rs",
        "src/validate",
        "src/expand/",
        "src/eval/",
        "src/graph.rs",
        "src/state.rs",
        "src/plan/",
        "src/marker.rs",
        "src/external/",
    ];
    for effect in [
        "std::fs",
        "std::net",
        "std::env",
        "std::thread",
        "Instant",
        "SystemTime",
        "fastrand",
        "tokio",
    ] {
        let impure: Vec<String> = users(effect)
            .into_iter()
            .filter(|u| core.iter().any(|c| u.starts_with(c)))
            .collect();
        assert!(impure.is_empty(), "{effect} in the pure core: {impure:?}");
    }
}

/// Every module says what it is for.
#[test]
fn every_module_opens_with_a_doc_comment() {
    for (path, code) in sources() {
        assert!(
            code.trim_start().starts_with("//!"),
            "{} does not open with //!",
            path.display()
        );
    }
}

/// The corrections of moto that the launcher applies are the ones docs/testing.md lists.
#[test]
fn the_documented_emulator_corrections_are_the_applied_ones() {
    let server = std::fs::read_to_string(root().join("tests/emulator/server.py")).unwrap();
    let docs = std::fs::read_to_string(root().join("docs/testing.md")).unwrap();
    let main = &server[server.find("def main():").unwrap()..];
    let applied: Vec<&str> = main
        .lines()
        .filter_map(|l| l.trim().strip_suffix("()"))
        .filter(|f| f.starts_with("_patch_"))
        .collect();
    assert!(!applied.is_empty());
    let docstring_end = server.find("\"\"\"\n\nimport").unwrap();
    for f in &applied {
        assert!(
            docs.contains(&format!("`{f}`")),
            "docs/testing.md does not name the correction {f}"
        );
        assert!(
            server[..docstring_end].contains(&format!("({f})")),
            "server.py's docstring does not name the correction {f}"
        );
    }
    let named = docs.matches("`_patch_").count();
    assert_eq!(
        named,
        applied.len(),
        "docs/testing.md names corrections the launcher does not apply"
    );
}

/// The counter behind `--stats` (and behind every "plan never writes" and "a second
/// apply writes nothing" assertion) counts every call, per operation: pinned for a known
/// plan. Flow 1 on an empty world: two accounts, one region.
#[test]
fn the_call_counter_counts_every_call_of_a_known_plan() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow1-upload-trigger.yaml");
    let o = emu.tether(&["plan", "--stats", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let c = crate::calls(&o);
    // Per account (tools, ambient; app, assumed): who am I, the role's session (app
    // only), one page of roles with their policies, the bucket list; per account and
    // region: aliases, buses, the default bus's rules, pipelines. Per desired resource
    // that may exist: the two buckets' HeadBucket and the pipeline's tags (not found, so
    // nothing more is read). Per account too: tether's ownership marker (GetPolicy). Per
    // account and region: the queues with tether's prefix (the dead-letter queues, and
    // owned leftovers to discover), one listing that finds none here.
    let expected: Vec<(&str, u64)> = vec![
        ("CodePipeline.ListPipelines", 2),
        ("CodePipeline.ListTagsForResource", 1),
        ("EventBridge.ListEventBuses", 2),
        ("EventBridge.ListRules", 2),
        ("IAM.GetAccountAuthorizationDetails", 2),
        ("IAM.GetPolicy", 2),
        ("KMS.ListAliases", 2),
        ("S3.HeadBucket", 2),
        ("S3.ListBuckets", 2),
        ("SQS.ListQueues", 2),
        ("STS.AssumeRole", 1),
        ("STS.GetCallerIdentity", 2),
    ];
    let actual: Vec<(&str, u64)> = c
        .by_operation
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(actual, expected, "{}", text(&o));
    assert_eq!((c.session, c.reads, c.writes), (3, 19, 0));
}

/// A Markdown table broken by a blank line renders its remaining rows as a paragraph of
/// pipes: every table row after a blank line must start a new table (a header followed
/// by its `|---` separator).
#[test]
fn the_docs_tables_are_whole() {
    let mut files = vec![root().join("README.md"), root().join("ARCHITECTURE.md")];
    for e in std::fs::read_dir(root().join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            files.push(p);
        }
    }
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut in_code = false;
        for (i, l) in lines.iter().enumerate() {
            if l.starts_with("```") {
                in_code = !in_code;
            }
            let starts_table = l.starts_with('|') && (i == 0 || lines[i - 1].trim().is_empty());
            if !in_code && starts_table {
                let next = lines.get(i + 1).copied().unwrap_or("");
                assert!(
                    next.starts_with("|---") || next.starts_with("| ---"),
                    "{}:{}: a table row follows a blank line but starts no table: {l}",
                    f.display(),
                    i + 1
                );
            }
        }
    }
}
