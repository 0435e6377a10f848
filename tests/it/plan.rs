//! `tether plan` against the emulator: an empty world, a world another tool built and one
//! written by hand, drift made out of band, deletions, ownership, exit codes and output
//! formats.

use crate::emulator::{take, Emulator, Topology, AMBIENT};
use crate::root;
use crate::text;
use serde_json::Value;
use std::collections::BTreeSet;

const EXAMPLES: &[&str] = &[
    "topology.example.yaml",
    "docs/examples/flow1-upload-trigger.yaml",
    "docs/examples/flow2-tools-deploys.yaml",
    "docs/examples/flow3-cross-account-source.yaml",
    "docs/examples/flow4-multi-region.yaml",
];

pub fn plan(emu: &Emulator, t: &Topology, extra: &[&str]) -> Value {
    let mut args = vec!["plan", "--format", "json", "-f", t.arg()];
    args.extend_from_slice(extra);
    let o = emu.tether(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

/// `(action, address)` of every change that is not a no-op.
pub fn changes(plan: &Value) -> BTreeSet<(String, String)> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no-op")
        .map(|c| {
            (
                c["action"].as_str().unwrap().to_string(),
                c["address"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn change<'a>(plan: &'a Value, address: &str) -> &'a Value {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == address)
        .unwrap_or_else(|| {
            panic!(
                "no change for {address} in {}",
                serde_json::to_string_pretty(plan).unwrap()
            )
        })
}

fn fields(c: &Value) -> Vec<String> {
    c["changes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["field"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn expansion_addresses(t: &Topology) -> BTreeSet<String> {
    let c = tether::check_file(&t.path).unwrap();
    c.expansion
        .resources
        .iter()
        .map(|r| r.address.to_string())
        .collect()
}

#[test]
fn an_empty_world_plans_every_resource_as_a_create() {
    let (_g, emu) = take();
    for example in EXAMPLES {
        let t = Topology::example(example);
        let p = plan(emu, &t, &[]);
        let creates: BTreeSet<String> = changes(&p)
            .into_iter()
            .map(|(action, address)| {
                assert_eq!(action, "create", "{example}: {address}");
                address
            })
            .collect();
        assert_eq!(creates, expansion_addresses(&t), "{example}");
    }
}

/// Another tool built every example, each policy document and event pattern written in
/// other shapes than tether's (see `Reshaper` in `tests/emulator/oob_apply.py`): tether
/// must see that they mean the same.
#[test]
fn what_another_tool_built_plans_no_changes() {
    let mut used = BTreeSet::new();
    let mut known = BTreeSet::new();
    for example in EXAMPLES {
        let (_g, emu) = take();
        let t = Topology::example(example);
        let (u, k) = emu.create_reshaped(&t.path);
        used.extend(u);
        known = k;
        let o = emu.tether(&["plan", "--detailed-exitcode", "--stats", "-f", t.arg()]);
        assert_eq!(o.status.code(), Some(0), "{example}: {}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("No changes."), "{example}: {out}");
        assert!(out.contains("Plan: 0 to add, 0 to change, 0 to replace, 0 to destroy."));
        // Planning never writes; the counter saw this plan's sessions and reads.
        let calls = crate::calls(&o);
        assert_eq!(calls.writes, 0, "{example}: {calls:?}");
        assert!(calls.session > 0 && calls.reads > 0, "{example}: {calls:?}");
    }
    // The examples together exercise every shape the reshaper knows.
    let missing: Vec<&String> = known.difference(&used).collect();
    assert!(missing.is_empty(), "shapes never written: {missing:?}");
}

/// Flow 1 written by hand (`tests/emulator/handwritten_flow1.py`): literal boto3 calls
/// and policy JSON in a platform engineer's shapes, not derived from tether's output.
#[test]
fn a_world_written_by_hand_plans_no_changes() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow1-upload-trigger.yaml");
    emu.create_flow1_by_hand(None);
    let o = emu.tether(&["plan", "--detailed-exitcode", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("No changes."), "{out}");
}

/// The negative control of the hand-written world: one meaningful change, and the plan
/// is exactly an update of that resource's field, so "no changes" above can fail.
#[test]
fn a_world_written_by_hand_with_one_change_plans_exactly_that_update() {
    for (what, address, field) in [
        // The source role trusts the pipeline role of another account.
        (
            "trust-account",
            "app/global/iam_role.flow1-release-source",
            "trust_policy",
        ),
        // The key policy grants one more action.
        (
            "extra-action",
            "tools/us-east-1/kms_key.flow1-artifacts",
            "policy_statements",
        ),
        // The start target hands the object's version to another action.
        (
            "other-action",
            "tools/us-east-1/event_target.flow1-triggers/flow1-on-upload-start/pipeline-release",
            "input_transformer",
        ),
    ] {
        let (_g, emu) = take();
        let t = Topology::example("docs/examples/flow1-upload-trigger.yaml");
        emu.create_flow1_by_hand(Some(what));
        let p = plan(emu, &t, &[]);
        let want: BTreeSet<(String, String)> = [("update".to_string(), address.to_string())].into();
        assert_eq!(changes(&p), want, "{what}");
        assert_eq!(fields(change(&p, address)), [field], "{what}");
        let o = emu.tether(&["plan", "--detailed-exitcode", "-f", t.arg()]);
        assert_eq!(o.status.code(), Some(2), "{what}: {}", text(&o));
    }
}

#[test]
fn out_of_band_drift_is_reported_precisely() {
    let (_g, emu) = take();
    let t = Topology::example("topology.example.yaml");
    emu.create_out_of_band(&t.path, &[]);
    let app = "222222222222";
    emu.oob(&format!(
        r#"
iam = c("iam", "{app}")
# A trust policy edited by hand: one more principal.
iam.update_assume_role_policy(RoleName="acme-on-upload-forward", PolicyDocument=json.dumps({{
    "Version": "2012-10-17",
    "Statement": [{{"Effect": "Allow", "Principal": {{"Service": "events.amazonaws.com", "AWS": "arn:aws:iam::{app}:root"}}, "Action": "sts:AssumeRole"}}]}}))
# An inline policy deleted.
iam.delete_role_policy(RoleName="acme-app-main-source", PolicyName="tether")
# A tag removed.
iam.untag_role(RoleName="acme-service-source", TagKeys=["team"])
events = c("events", "{app}")
# A rule disabled.
events.disable_rule(Name="acme-on-upload-forward")
tools = c("events")
# A target removed.
tools.remove_targets(Rule="acme-on-upload-start", EventBusName="acme-releases", Ids=["pipeline-app-main"])
s3 = c("s3")
# Versioning suspended.
s3.put_bucket_versioning(Bucket="acme-tfstate-{AMBIENT}", VersioningConfiguration={{"Status": "Suspended"}})
# A statement someone else manages, added to a bucket policy: not drift.
policy = json.loads(s3.get_bucket_policy(Bucket="acme-artifacts-{AMBIENT}-us-east-1")["Policy"])
policy["Statement"].append({{"Sid": "AuditorsRead", "Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{AMBIENT}:root"}}, "Action": "s3:GetBucketLocation", "Resource": "arn:aws:s3:::acme-artifacts-{AMBIENT}-us-east-1"}})
s3.put_bucket_policy(Bucket="acme-artifacts-{AMBIENT}-us-east-1", Policy=json.dumps(policy))
# A pipeline stage changed.
cp = c("codepipeline")
p = cp.get_pipeline(name="acme-service")["pipeline"]
p["stages"][1]["name"] = "Development"
cp.update_pipeline(pipeline=p)
"#
    ));
    let p = plan(emu, &t, &[]);
    let want: BTreeSet<(String, String)> = [
        ("update", "app/global/iam_role.acme-on-upload-forward"),
        ("update", "app/global/iam_role.acme-app-main-source"),
        ("update", "app/global/iam_role.acme-service-source"),
        (
            "update",
            "app/us-east-1/event_rule.default/acme-on-upload-forward",
        ),
        (
            "create",
            "tools/us-east-1/event_target.acme-releases/acme-on-upload-start/pipeline-app-main",
        ),
        (
            "update",
            "tools/us-east-1/s3_bucket.acme-tfstate-123456789012",
        ),
        ("update", "tools/us-east-1/pipeline.acme-service"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(changes(&p), want);
    assert_eq!(
        fields(change(&p, "app/global/iam_role.acme-on-upload-forward")),
        ["trust_policy"]
    );
    assert_eq!(
        fields(change(&p, "app/global/iam_role.acme-app-main-source")),
        ["inline_policies.tether"]
    );
    assert_eq!(
        fields(change(&p, "app/global/iam_role.acme-service-source")),
        ["tags.team"]
    );
    let rule = change(
        &p,
        "app/us-east-1/event_rule.default/acme-on-upload-forward",
    );
    assert_eq!(fields(rule), ["state"]);
    assert_eq!(rule["changes"][0]["before"], "DISABLED");
    assert_eq!(rule["changes"][0]["after"], "ENABLED");
    let bucket = change(&p, "tools/us-east-1/s3_bucket.acme-tfstate-123456789012");
    assert_eq!(fields(bucket), ["versioning"]);
    assert_eq!(
        fields(change(&p, "tools/us-east-1/pipeline.acme-service")),
        ["stages"]
    );
    // The foreign statement is preserved, counted, and not drift.
    let artifacts = change(
        &p,
        "tools/us-east-1/s3_bucket.acme-artifacts-123456789012-us-east-1",
    );
    assert_eq!(artifacts["action"], "no-op");
    assert_eq!(artifacts["before"]["foreign_statements"], 1);

    // The text output shows the policy change as a unified diff.
    let o = emu.tether(&["plan", "-f", t.arg()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("~ trust_policy:"), "{out}");
    assert!(
        out.contains("--- live") && out.contains("+++ topology"),
        "{out}"
    );
    assert!(
        out.contains("~ state: \"DISABLED\" -> \"ENABLED\""),
        "{out}"
    );
    assert!(
        out.contains("Plan: 1 to add, 6 to change, 0 to replace, 0 to destroy."),
        "{out}"
    );
}

#[test]
fn owned_resources_left_out_of_the_topology_plan_as_deletes() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow1-upload-trigger.yaml");
    emu.create_out_of_band(&t.path, &[]);
    let before = expansion_addresses(&t);
    // Remove the trigger: its whole chain goes, the pipeline stays.
    t.rewrite(|s| s[..s.find("triggers:").unwrap()].to_string());
    let after = expansion_addresses(&t);
    let p = plan(emu, &t, &[]);
    let deletes: BTreeSet<String> = changes(&p)
        .into_iter()
        .filter(|(a, _)| a == "delete")
        .map(|(_, addr)| addr)
        .collect();
    let gone: BTreeSet<String> = before.difference(&after).cloned().collect();
    assert_eq!(deletes, gone);
    assert!(gone.contains("tools/us-east-1/event_bus.flow1-triggers"));
    assert!(gone.contains("app/global/iam_role.flow1-on-upload-forward"));
    // The bucket stays, its notifications go off, and the pipeline polls again.
    let bucket = change(&p, "app/us-east-1/s3_bucket.flow1-app-uploads");
    assert_eq!(fields(bucket), ["eventbridge_notifications"]);
    assert_eq!(
        change(&p, "tools/us-east-1/pipeline.flow1-release")["action"],
        "update"
    );
    // Deletions come after everything else, dependents first.
    let order: Vec<&str> = p["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "delete")
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    let first_role = order.iter().position(|k| *k == "iam_role").unwrap();
    assert!(order[..first_role].contains(&"event_target"));
    assert!(!order[first_role..].contains(&"event_target"));
}

#[test]
fn protected_resources_are_kept_when_removed() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow2-tools-deploys.yaml");
    emu.create_out_of_band(&t.path, &[]);
    t.rewrite(|s| {
        let start = s.find("buckets:").unwrap();
        let end = s.find("roles:").unwrap();
        format!("{}{}", &s[..start], &s[end..])
    });
    let p = plan(emu, &t, &[]);
    let kept = change(&p, "tools/eu-west-1/s3_bucket.flow2-tfstate-123456789012");
    assert_eq!(kept["action"], "no-op");
    assert!(
        kept["reason"].as_str().unwrap().starts_with("kept"),
        "{kept}"
    );
    // The grant on the role goes with the bucket entry.
    assert_eq!(
        fields(change(&p, "dev/global/iam_role.flow2-terraform")),
        ["inline_policies.tether"]
    );
}

#[test]
fn an_unowned_resource_with_a_wanted_name_is_an_error_unless_adopted() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow1-upload-trigger.yaml");
    emu.oob(r#"c("s3", "222222222222").create_bucket(Bucket="flow1-app-uploads")"#);
    let o = emu.tether(&["plan", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("app/us-east-1/s3_bucket.flow1-app-uploads: `flow1-app-uploads` exists and is not managed by this topology"),
        "{err}"
    );
    assert!(err.contains("adopt: true"), "{err}");
    t.rewrite(|s| {
        s.replace(
            "name: flow1-app-uploads }",
            "name: flow1-app-uploads, adopt: true }",
        )
    });
    let p = plan(emu, &t, &[]);
    let c = change(&p, "app/us-east-1/s3_bucket.flow1-app-uploads");
    assert_eq!(c["action"], "update");
    assert!(c["reason"].as_str().unwrap().contains("adopting"));
    assert!(fields(c).contains(&"tags.tether:topology".to_string()));
}

#[test]
fn detailed_exitcode_says_whether_there_are_changes() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow3-cross-account-source.yaml");
    let o = emu.tether(&["plan", "--detailed-exitcode", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = emu.tether(&["plan", "-f", t.arg()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "without the flag, changes are success: {}",
        text(&o)
    );
    emu.create_out_of_band(&t.path, &[]);
    let o = emu.tether(&["plan", "--detailed-exitcode", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let bad = Topology::from_text("version: 1\nname: x\naccounts: { a: { id: 12 } }\n");
    let o = emu.tether(&["plan", "--detailed-exitcode", "-f", bad.arg()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

#[test]
fn the_json_plan_validates_against_its_schema_and_saves_fingerprints() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow1-upload-trigger.yaml");
    // Half the world exists: the plan holds creates, no-ops and fingerprints of both.
    emu.create_out_of_band(
        &t.path,
        &[
            "app/global/iam_role.flow1-on-upload-forward",
            "tools/us-east-1/event_bus.flow1-triggers",
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("plan.json");
    let o = emu.tether(&[
        "plan",
        "--format",
        "json",
        "--out",
        saved.to_str().unwrap(),
        "-f",
        t.arg(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let printed: Value = serde_json::from_slice(&o.stdout).unwrap();
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(printed, file);
    assert_eq!(file["format_version"], 1);
    let sha = tether::loader::sha256_hex(&std::fs::read(&t.path).unwrap());
    assert_eq!(file["topology_sha256"], sha);
    let role = change(&file, "app/global/iam_role.flow1-on-upload-forward");
    assert_eq!(role["action"], "no-op");
    assert_ne!(role["fingerprint"], "absent");
    assert_eq!(
        change(&file, "tools/us-east-1/pipeline.flow1-release")["fingerprint"],
        "absent"
    );
    // The saved plan parses back into the plan type.
    let _: tether::plan::Plan = serde_json::from_value(file).unwrap();

    let out = emu.oob(&format!(
        r#"
import jsonschema
schema = json.load(open({schema:?}))
plan = json.load(open({plan:?}))
jsonschema.validate(plan, schema)
print("valid")
"#,
        schema = root().join("schemas/plan.schema.json").to_str().unwrap(),
        plan = saved.to_str().unwrap()
    ));
    assert_eq!(out.trim(), "valid");
}

#[test]
fn targets_limit_the_plan_to_what_they_need() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow1-upload-trigger.yaml");
    let target = "app/us-east-1/event_target.default/flow1-on-upload-forward/bus";
    let p = plan(emu, &t, &["--target", target]);
    let got: BTreeSet<String> = changes(&p).into_iter().map(|(_, a)| a).collect();
    let want: BTreeSet<String> = [
        target,
        "app/us-east-1/event_rule.default/flow1-on-upload-forward",
        "app/global/iam_role.flow1-on-upload-forward",
        "tools/us-east-1/event_bus.flow1-triggers",
        // The target's dead-letter queue, which it names.
        "app/us-east-1/sqs_queue.flow1-dead-letter",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(got, want);
    let o = emu.tether(&[
        "plan",
        "--target",
        "app/us-east-1/event_rule.nope",
        "-f",
        t.arg(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such resource in the topology"));
}

#[test]
fn markdown_output_is_for_pull_requests() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow3-cross-account-source.yaml");
    emu.create_out_of_band(&t.path, &[]);
    emu.oob(r#"c("iam", "222222222222").delete_role_policy(RoleName="flow3-app-source", PolicyName="tether")"#);
    let o = emu.tether(&["plan", "--format", "markdown", "-f", t.arg()]);
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.starts_with("### tether plan for `flow3`"), "{md}");
    assert!(
        md.contains("**Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy.**"),
        "{md}"
    );
    assert!(
        md.contains("| `~` | `app/global/iam_role.flow3-app-source` |"),
        "{md}"
    );
    assert!(
        md.contains("<details><summary>") && md.contains("```diff"),
        "{md}"
    );
}

#[test]
fn credentials_of_the_wrong_account_are_refused_clearly() {
    let (_g, emu) = take();
    // The example as written: its ambient account is not the emulator's.
    let t = Topology::from_text(
        &std::fs::read_to_string(root().join("docs/examples/flow3-cross-account-source.yaml"))
            .unwrap(),
    );
    let o = emu.tether(&["plan", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "the ambient credentials belong to account {AMBIENT}, but `accounts.tools`"
        )),
        "{err}"
    );
    assert!(
        !err.contains("testing"),
        "credentials must never be printed: {err}"
    );
}

#[test]
fn a_read_that_fails_for_another_reason_than_not_found_fails_the_plan() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow1-upload-trigger.yaml");
    emu.create_out_of_band(&t.path, &[]);
    let faults = emu.with_faults(&["GET:app-uploads/?policy:1:403:AccessDenied:Access Denied"]);
    let o = emu.tether_via(&faults.endpoint, &["plan", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("app/us-east-1/s3_bucket.flow1-app-uploads: reading the bucket policy: S3 GetBucketPolicy failed with 403 Forbidden, AccessDenied: Access Denied (1 attempt)"),
        "the address, the AWS code and message: {err}"
    );
}
