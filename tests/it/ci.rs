//! The workflows of `docs/ci/` that users copy: they must be GitHub Actions workflows,
//! and every `tether` command in them must be one the real CLI accepts, so a renamed
//! subcommand, flag or value breaks this test rather than a user's CI.

use crate::{root, text};
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::process::Command;

fn workflows() -> Vec<(String, Value)> {
    let dir = root().join("docs/ci");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let yaml = std::fs::read_to_string(&p).unwrap();
            let v = serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no workflow files in docs/ci/");
    out
}

/// Every `run:` script of a workflow, after checking the shape GitHub Actions requires.
fn run_scripts(name: &str, w: &Value) -> Vec<String> {
    let w = w
        .as_mapping()
        .unwrap_or_else(|| panic!("{name}: not a mapping"));
    assert!(w.get("on").is_some(), "{name}: no `on`");
    let jobs = w
        .get("jobs")
        .and_then(Value::as_mapping)
        .unwrap_or_else(|| panic!("{name}: no `jobs` mapping"));
    assert!(!jobs.is_empty(), "{name}: no jobs");
    let mut scripts = Vec::new();
    for (id, job) in jobs {
        let id = id.as_str().unwrap();
        assert!(
            job.get("runs-on").is_some(),
            "{name}: job {id} has no `runs-on`"
        );
        let steps = job
            .get("steps")
            .and_then(Value::as_sequence)
            .unwrap_or_else(|| panic!("{name}: job {id} has no `steps` list"));
        assert!(!steps.is_empty(), "{name}: job {id} has no steps");
        for (i, step) in steps.iter().enumerate() {
            let uses = step.get("uses").and_then(Value::as_str);
            let run = step.get("run").and_then(Value::as_str);
            assert!(
                uses.is_some() != run.is_some(),
                "{name}: job {id} step {i} needs exactly one of `uses` and `run`"
            );
            scripts.extend(run.map(String::from));
        }
    }
    scripts
}

/// The `tether` command lines of a shell script, as tokens after `tether`: every place
/// a command starts (a line, or after `;`, `&&`, `||`, `|`, `$(`, `!`, `then`, `do`).
fn tether_commands(script: &str) -> Vec<Vec<String>> {
    let joined = script.replace("\\\n", " ");
    let mut out = Vec::new();
    for line in joined.lines() {
        let spaced = line
            .replace("$(", " $( ")
            .replace(')', " ) ")
            .replace(';', " ; ");
        let tokens: Vec<&str> = spaced.split_whitespace().collect();
        for (i, t) in tokens.iter().enumerate() {
            let starts = i == 0
                || matches!(
                    tokens[i - 1],
                    ";" | "&&" | "||" | "|" | "$(" | "!" | "then" | "do" | "else" | "if"
                );
            if *t == "tether" && starts {
                let end = tokens[i + 1..]
                    .iter()
                    .position(|t| matches!(*t, ";" | "&&" | "||" | "|" | ")" | ">" | "2>"))
                    .map_or(tokens.len(), |p| i + 1 + p);
                out.push(tokens[i + 1..end].iter().map(|t| t.to_string()).collect());
            }
        }
    }
    out
}

fn help(sub: &str) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args([sub, "-h"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "tether {sub} -h: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// The line of `help` that documents `flag` (`--out <FILE>`, `-f, --file <FILE>`).
fn flag_line<'h>(help: &'h str, flag: &str) -> Option<&'h str> {
    help.lines().find(|l| {
        l.split(|c: char| c.is_whitespace() || c == ',')
            .any(|w| w == flag)
    })
}

#[test]
fn every_tether_command_in_the_ci_workflows_is_one_the_cli_accepts() {
    let mut helps: BTreeMap<String, String> = BTreeMap::new();
    let mut used: Vec<String> = Vec::new();
    for (name, w) in workflows() {
        let commands: Vec<Vec<String>> = run_scripts(&name, &w)
            .iter()
            .flat_map(|s| tether_commands(s))
            .collect();
        assert!(!commands.is_empty(), "{name}: no tether command");
        for args in commands {
            let line = format!("tether {}", args.join(" "));
            let sub = args.first().unwrap_or_else(|| panic!("{name}: `{line}`"));
            let help = helps.entry(sub.clone()).or_insert_with(|| help(sub));
            for (i, a) in args.iter().enumerate().skip(1) {
                if !a.starts_with('-') || a == "-" {
                    continue;
                }
                let flag = a.split('=').next().unwrap();
                let documented = flag_line(help, flag)
                    .unwrap_or_else(|| panic!("{name}: `{line}`: `tether {sub}` has no {flag}"));
                // A value from a closed list must be in it.
                if let Some((_, values)) = documented.split_once("[possible values: ") {
                    let values: Vec<&str> = values.trim_end_matches(']').split(", ").collect();
                    let value = match a.split_once('=') {
                        Some((_, v)) => v.to_string(),
                        None => args.get(i + 1).cloned().unwrap_or_default(),
                    };
                    let value = value.trim_matches('"');
                    assert!(
                        values.contains(&value),
                        "{name}: `{line}`: {flag} takes {values:?}, not {value:?}"
                    );
                }
            }
            used.push(line);
        }
    }
    // What docs/ci.md promises the workflows do.
    for wanted in [
        "tether plan",
        "--detailed-exitcode",
        "--format markdown",
        "--out plan.json",
        "tether apply",
        "--auto-approve",
        "tether show",
        "tether validate",
    ] {
        assert!(
            used.iter().any(|l| l.contains(wanted)),
            "no `{wanted}` in the workflows' commands: {used:#?}"
        );
    }
}

#[test]
fn the_command_extractor_finds_commands_wherever_they_start() {
    let script = "set +e\ntether plan -f \"$F\" --out p.json \\\n  --detailed-exitcode > plan.md\n\
                  code=$?; tether show p.json | head\necho \"tether plan failed\"\n\
                  x=$(tether validate -f t.yaml)\n";
    assert_eq!(
        tether_commands(script),
        vec![
            vec![
                "plan",
                "-f",
                "\"$F\"",
                "--out",
                "p.json",
                "--detailed-exitcode"
            ],
            vec!["show", "p.json"],
            vec!["validate", "-f", "t.yaml"],
        ]
    );
}
