//! `tether plan` against the local AWS emulator: a generated topology of about 350
//! resources (25 pipelines across 4 accounts and 2 regions, each with a cross-account S3
//! trigger), first built out of band, then planned (no changes expected).
//!
//! Prints the plan's wall time, tether's own CPU time (this process; the emulator runs
//! in another), and the AWS API calls: in total, per resource, and for discovery.
//! The emulator answers about 140 requests a second whatever the concurrency, so the
//! wall time measures the emulator more than tether; the call counts and the CPU time
//! are the figures that carry over to AWS.
//!
//! Run: `cargo bench --bench plan` (needs `.venv`, which `scripts/test` creates).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

const PIPELINES: usize = 25;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn topology() -> String {
    let mut t = String::from(
        "version: 1\nname: bench\ndefaults: { region: us-east-1 }\naccounts:\n  tools: { id: \"123456789012\" }\n  app: { id: \"222222222222\", role: OrganizationAccountAccessRole }\n  dev: { id: \"333333333333\", role: OrganizationAccountAccessRole }\n  prod: { id: \"444444444444\", role: OrganizationAccountAccessRole }\nbuckets:\n",
    );
    for i in 0..PIPELINES {
        t.push_str(&format!(
            "  src{i}: {{ account: app, name: bench-src-{i} }}\n"
        ));
    }
    t.push_str("pipelines:\n");
    for i in 0..PIPELINES {
        t.push_str(&format!(
            "  p{i}:\n    account: tools\n    source: {{ s3: {{ bucket: src{i}, key: in/app.zip }} }}\n    stages:\n      - name: Build\n        actions:\n          - {{ name: build, build: {{ project: build-{i} }} }}\n      - name: Dev\n        actions:\n          - name: deploy\n            cloudformation: {{ account: dev, stack: app{i}, template: t.yaml, execution_policies: [\"arn:aws:iam::aws:policy/PowerUserAccess\"] }}\n      - name: Prod\n        actions:\n          - {{ name: approve, approval: {{}} }}\n          - name: deploy\n            cloudformation: {{ account: prod, region: eu-west-1, stack: app{i}, template: t.yaml, change_set: true, execution_policies: [\"arn:aws:iam::aws:policy/AdministratorAccess\"] }}\n"
        ));
    }
    t.push_str("triggers:\n");
    for i in 0..PIPELINES {
        t.push_str(&format!(
            "  t{i}: {{ bucket: src{i}, prefix: in/, start: [p{i}] }}\n"
        ));
    }
    t
}

/// User and system CPU time of this process so far, in seconds (all threads).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat (Linux)");
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // Fields 14 and 15 of stat(5), counted after the command name; USER_HZ is 100.
    let utime: f64 = fields[11].parse().unwrap();
    let stime: f64 = fields[12].parse().unwrap();
    (utime + stime) / 100.0
}

fn main() {
    let python = root().join(".venv/bin/python");
    if !python.exists() {
        eprintln!("the emulator's Python environment is missing: run scripts/test once (it creates .venv)");
        std::process::exit(1);
    }
    let mut server = Command::new(&python)
        .arg(root().join("tests/emulator/server.py"))
        .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the emulator");
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoint = format!(
        "http://127.0.0.1:{}",
        line.trim().trim_start_matches("PORT ")
    );
    // Set before any thread starts: the SDK reads the standard environment.
    for (k, v) in [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        std::env::set_var(k, v);
    }

    let text = topology();
    let checked =
        tether::check_bytes(text.as_bytes(), "bench.yaml").unwrap_or_else(|d| panic!("{d}"));
    let resources = checked.expansion.resources.len();
    println!("topology: {PIPELINES} pipelines, {resources} resources");

    let started = Instant::now();
    let mut oob = Command::new(&python)
        .arg(root().join("tests/emulator/oob_apply.py"))
        .arg(&endpoint)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    oob.stdin
        .take()
        .unwrap()
        .write_all(
            serde_json::to_string(&checked.expansion)
                .unwrap()
                .as_bytes(),
        )
        .unwrap();
    assert!(
        oob.wait().unwrap().success(),
        "building the world out of band failed"
    );
    println!(
        "built out of band in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let request = tether::reconcile::PlanRequest::default();
    for run in 1..=3 {
        let cpu0 = cpu_seconds();
        let t0 = Instant::now();
        let (plan, stats) = runtime
            .block_on(tether::reconcile::plan(&checked, &request))
            .unwrap_or_else(|e| panic!("{e}"));
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        assert!(
            !plan.has_changes(),
            "the world was built to match: {}",
            plan.summary()
        );
        // Calls that do not depend on how many resources are read: sessions, and the
        // per-account and per-region listings that also discover owned leftovers.
        let discovery: u64 = [
            ("STS", "GetCallerIdentity"),
            ("IAM", "GetAccountAuthorizationDetails"),
            ("S3", "ListBuckets"),
            ("KMS", "ListAliases"),
            ("EventBridge", "ListEventBuses"),
            ("EventBridge", "ListRules"),
            ("CodePipeline", "ListPipelines"),
            ("SQS", "ListQueues"),
        ]
        .iter()
        .map(|(svc, op)| stats.count(svc, op))
        .sum();
        let total = stats.total();
        println!(
            "run {run}: plan {wall:.2} s wall, tether CPU {cpu:.2} s ({:.0}% of wall); API calls {total} ({:.2} per resource; {discovery} for sessions and listings/discovery, {:.2} per resource besides), writes {}",
            100.0 * cpu / wall,
            total as f64 / resources as f64,
            (total - discovery) as f64 / resources as f64,
            stats.writes()
        );
        if run == 3 {
            print!("{}", stats.render());
        }
    }
    let _ = server.kill();
    let _ = server.wait();
}
