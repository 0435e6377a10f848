//! The binary as users run it: exit codes, output formats, bad flags and colour, through
//! the executable rather than the library.

use crate::emulator::{isolated, take, Topology};
use crate::{root, text};
use std::process::{Command, Output};

fn tether(args: &[&str]) -> Output {
    // No emulator needed: an endpoint nothing listens on, so a command that should stay
    // offline and does not would fail.
    isolated(
        env!("CARGO_BIN_EXE_tether"),
        std::env::vars(),
        "http://127.0.0.1:9",
    )
    .args(args)
    .current_dir(root())
    .output()
    .expect("running tether")
}

const BAD: &str = "tests/data/invalid/undefined-input.yaml";
const FLOW1: &str = "docs/examples/flow1-upload-trigger.yaml";

#[test]
fn validate_says_valid_and_exits_0() {
    let o = tether(&["validate", "-f", FLOW1]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let resources = tether::check_file(&root().join(FLOW1))
        .unwrap()
        .expansion
        .resources
        .len();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("{FLOW1}: valid ({resources} resources)\n")
    );
    assert!(o.stderr.is_empty(), "{}", text(&o));
}

#[test]
fn validate_reports_every_problem_in_text_and_json_and_exits_1() {
    let o = tether(&["validate", "-f", BAD]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(o.stdout.is_empty());
    let expected = std::fs::read_to_string(root().join(BAD).with_extension("expected"))
        .unwrap()
        // The corpus test names the file by its base name; the binary by the path given.
        .replace("undefined-input.yaml", BAD);
    assert_eq!(String::from_utf8_lossy(&o.stderr), expected);

    let o = tether(&["validate", "--format", "json", "-f", BAD]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    let errors = v["errors"].as_array().expect("an errors array");
    assert_eq!(errors.len(), 1, "{v}");
    let e = &errors[0];
    assert_eq!(
        e["message"],
        "`Build.biuld` is not the output of an earlier action"
    );
    assert_eq!(e["path"], "pipelines.main.stages[1].actions[0].input");
    assert_eq!(e["pos"]["line"], 29, "{e}");
    assert_eq!(e["pos"]["column"], 20, "{e}");

    let o = tether(&["validate", "--format", "json", "-f", FLOW1]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["errors"], serde_json::json!([]), "{v}");
}

#[test]
fn a_missing_file_is_an_error_that_names_it() {
    let o = tether(&["validate", "-f", "no/such/topology.yaml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no/such/topology.yaml"),
        "{}",
        text(&o)
    );
}

#[test]
fn expand_prints_the_reviewed_snapshot() {
    let o = tether(&["expand", "--format", "yaml", "-f", FLOW1]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let snapshot =
        std::fs::read_to_string(root().join("tests/data/expand/flow1-upload-trigger.yaml"))
            .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout) == snapshot,
        "`tether expand` differs from tests/data/expand/flow1-upload-trigger.yaml"
    );
    let o = tether(&["expand", "--format", "json", "-f", FLOW1]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let json_addresses: Vec<&str> = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["address"].as_str().unwrap())
        .collect();
    let expansion = tether::check_file(&root().join(FLOW1)).unwrap().expansion;
    let addresses: Vec<&str> = expansion
        .resources
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    assert_eq!(json_addresses, addresses);
}

#[test]
fn graph_prints_mermaid_and_dot() {
    let expansion = tether::check_file(&root().join(FLOW1)).unwrap().expansion;
    let edges: usize = expansion.resources.iter().map(|r| r.depends_on.len()).sum();
    let o = tether(&["graph", "-f", FLOW1]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mermaid = String::from_utf8_lossy(&o.stdout);
    assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
    assert_eq!(mermaid.matches(" --> ").count(), edges);
    let o = tether(&["graph", "--format", "dot", "-f", FLOW1]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dot = String::from_utf8_lossy(&o.stdout);
    assert!(dot.starts_with("digraph tether {"), "{dot}");
    assert_eq!(dot.matches(" -> ").count(), edges);
    for r in &expansion.resources {
        assert!(dot.contains(r.address.as_str()), "{} missing", r.address);
    }
}

#[test]
fn a_wrong_command_line_exits_2_and_says_what_is_wrong() {
    for (args, says) in [
        (
            &["plan", "--no-such-flag"][..],
            "unexpected argument '--no-such-flag'",
        ),
        (
            &["validate", "--format", "yaml"][..],
            "invalid value 'yaml'",
        ),
        (&["deploy"][..], "unrecognized subcommand 'deploy'"),
        (&[][..], "Usage:"),
    ] {
        let o = tether(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(says),
            "{args:?}: {}",
            text(&o)
        );
    }
}

/// Runs `tether` with a terminal as its stdout (util-linux `script` gives it one), the
/// way a person runs it; returns what the terminal showed.
fn on_a_terminal(endpoint: &str, args: &[&str], no_color_env: bool) -> String {
    on_a_terminal_with(endpoint, args, no_color_env, &[])
}

fn on_a_terminal_with(
    endpoint: &str,
    args: &[&str],
    no_color_env: bool,
    env: &[(&str, &str)],
) -> String {
    let mut line = String::from(env!("CARGO_BIN_EXE_tether"));
    for a in args {
        line.push(' ');
        line.push_str(a);
    }
    let mut c = isolated("script", std::env::vars(), endpoint);
    if !no_color_env {
        c.env_remove("NO_COLOR");
    }
    c.envs(env.iter().copied());
    let o = c
        .args(["-qec", &line, "/dev/null"])
        .output()
        .expect("running script(1) from util-linux");
    assert_eq!(o.status.code(), Some(0), "{line}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn plan_is_coloured_on_a_terminal_unless_told_not_to() {
    assert!(
        Command::new("script").arg("--version").output().is_ok(),
        "these tests need script(1) (Debian package util-linux) to give tether a terminal"
    );
    let (_g, emu) = take();
    let t = Topology::example(FLOW1);
    let coloured = on_a_terminal(&emu.endpoint, &["plan", "-f", t.arg()], false);
    assert!(
        coloured.contains("\x1b["),
        "no colour on a terminal:\n{coloured}"
    );
    assert!(coloured.contains("to add"), "{coloured}");

    let plain = on_a_terminal(&emu.endpoint, &["plan", "--no-color", "-f", t.arg()], false);
    assert!(!plain.contains("\x1b["), "--no-color:\n{plain}");
    assert!(plain.contains("to add"), "{plain}");

    let plain = on_a_terminal(&emu.endpoint, &["plan", "-f", t.arg()], true);
    assert!(!plain.contains("\x1b["), "NO_COLOR:\n{plain}");

    // Logs on the terminal obey the same switches.
    let logged = [("RUST_LOG", "debug")];
    let args = ["plan", "--no-color", "-f", t.arg()];
    let plain = on_a_terminal_with(&emu.endpoint, &args, false, &logged);
    assert!(plain.contains("DEBUG"), "RUST_LOG=debug logs:\n{plain}");
    assert!(!plain.contains("\x1b["), "--no-color with logs:\n{plain}");
    let coloured = on_a_terminal_with(&emu.endpoint, &["plan", "-f", t.arg()], false, &logged);
    assert!(coloured.contains("\x1b["), "{coloured}");

    // Not a terminal (a pipe, as in CI logs): no colour.
    let mut c = isolated(
        env!("CARGO_BIN_EXE_tether"),
        std::env::vars(),
        &emu.endpoint,
    );
    c.env_remove("NO_COLOR");
    let o = c.args(["plan", "-f", t.arg()]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("\x1b["));
}

/// A plan of FLOW1 against an empty world (everything to create), made offline with the
/// library, saved as `plan --out` saves it.
fn saved_plan(dir: &std::path::Path) -> (tether::plan::Plan, std::path::PathBuf) {
    let checked = tether::check_file(&root().join(FLOW1)).unwrap();
    let state = tether::state::State {
        resources: checked
            .expansion
            .resources
            .iter()
            .map(|r| (r.address.clone(), None))
            .collect(),
    };
    let plan = tether::plan::diff::diff(
        &checked.expansion,
        &state,
        &checked.source.sha256,
        &Default::default(),
    )
    .unwrap();
    assert!(plan.has_changes());
    let path = dir.join("plan.json");
    std::fs::write(&path, serde_json::to_string_pretty(&plan).unwrap() + "\n").unwrap();
    (plan, path)
}

#[test]
fn show_renders_a_saved_plan_in_every_format_offline_without_a_topology() {
    let dir = tempfile::tempdir().unwrap();
    let (plan, path) = saved_plan(dir.path());
    let file = path.to_str().unwrap();
    // No topology at `-f`, and AWS unreachable: show needs neither.
    let missing = "no/such/topology.yaml";
    for (format, expected) in [
        (None, tether::plan::render::text(&plan, false)),
        (Some("text"), tether::plan::render::text(&plan, false)),
        (Some("markdown"), tether::plan::render::markdown(&plan)),
        (Some("json"), std::fs::read_to_string(&path).unwrap()),
    ] {
        let mut args = vec!["show", file, "-f", missing];
        if let Some(f) = format {
            args.extend(["--format", f]);
        }
        let o = tether(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
        assert_eq!(String::from_utf8_lossy(&o.stdout), expected, "{args:?}");
        assert!(o.stderr.is_empty(), "{args:?}: {}", text(&o));
    }
    // Without `-f`: the default topology.yaml does not exist where the tests run.
    assert!(!root().join("topology.yaml").exists());
    let o = tether(&["show", file]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // Coloured on a terminal, as `plan` is, unless told not to.
    let coloured = on_a_terminal("http://127.0.0.1:9", &["show", file], false);
    assert!(coloured.contains("\x1b["), "{coloured}");
    let plain = on_a_terminal("http://127.0.0.1:9", &["show", "--no-color", file], false);
    assert!(!plain.contains("\x1b["), "{plain}");
    assert!(plain.contains("to add"), "{plain}");
}

#[test]
fn show_refuses_what_is_not_a_tether_plan_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = saved_plan(dir.path());
    let mut newer: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    newer["format_version"] = serde_json::json!(tether::plan::FORMAT_VERSION + 1);
    for (name, content, says) in [
        (
            "topology.yaml",
            "version: 1\nname: acme\n".to_string(),
            "is not a tether plan",
        ),
        (
            "other.json",
            r#"{"resources": []}"#.to_string(),
            "is not a tether plan",
        ),
        (
            "broken.json",
            r#"{"format_version": 1}"#.to_string(),
            "is not a tether plan",
        ),
        (
            "newer.json",
            newer.to_string(),
            "has plan format 2, this tether reads format 1",
        ),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, content).unwrap();
        let o = tether(&["show", file.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", text(&o));
        assert!(o.stdout.is_empty(), "{name}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(err.starts_with("error: "), "{name}: {err}");
        assert!(err.contains(name) && err.contains(says), "{name}: {err}");
    }
}

const SUBCOMMANDS: &[&str] = &[
    "validate",
    "expand",
    "graph",
    "plan",
    "apply",
    "show",
    "completions",
];

#[test]
fn completions_are_generated_for_every_shell_without_a_topology() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let o = tether(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", text(&o));
        let script = String::from_utf8_lossy(&o.stdout);
        assert!(!script.trim().is_empty(), "{shell}: empty script");
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell}: no `{sub}` in\n{script}");
        }
        // Flags complete too.
        assert!(script.contains("detailed-exitcode"), "{shell}");
        if shell == "bash" {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("tether.bash");
            std::fs::write(&file, script.as_bytes()).unwrap();
            let b = Command::new("bash").arg("-n").arg(&file).output().unwrap();
            assert!(b.status.success(), "bash -n: {}", text(&b));
        }
    }
    let o = tether(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
