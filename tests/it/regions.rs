//! Ownership without a state file, across regions and topologies (`src/marker.rs`): a
//! region the topology drops is cleaned up, an account it drops is named, and two
//! topologies that share a name cannot plan to delete each other's resources.

use crate::emulator::{take, Emulator, Topology, AMBIENT};
use crate::text;
use serde_json::Value;

fn plan_json(emu: &Emulator, t: &Topology) -> Value {
    crate::plan::plan(emu, t, &[])
}

fn actions(plan: &Value) -> std::collections::BTreeSet<(String, String)> {
    crate::plan::changes(plan)
}

fn applied(emu: &Emulator, t: &Topology) -> String {
    let o = emu.tether(&["apply", "--auto-approve", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn marker_regions(emu: &Emulator, topology: &str) -> String {
    emu.oob(&format!(
        r#"
p = c("iam").get_policy(PolicyArn="arn:aws:iam::{AMBIENT}:policy/tether/{topology}/tether-{topology}-marker")["Policy"]
print(sorted(t["Key"][len("tether:region:"):] for t in p.get("Tags", []) if t["Key"].startswith("tether:region:")))
"#
    ))
    .trim()
    .to_string()
}

#[test]
fn a_region_dropped_from_the_topology_is_cleaned_up() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow4-multi-region.yaml");
    applied(emu, &t);
    assert_eq!(
        marker_regions(emu, "flow4"),
        "['eu-central-1', 'eu-west-1', 'us-east-1']"
    );
    // Production moves from eu-central-1 to the pipeline's own region.
    t.rewrite(|s| s.replace("              region: eu-central-1\n", ""));
    let plan = plan_json(emu, &t);
    let a = actions(&plan);
    for want in [
        "tools/eu-central-1/kms_key.flow4-artifacts",
        &format!("tools/eu-central-1/s3_bucket.flow4-artifacts-{AMBIENT}-eu-central-1"),
    ] {
        assert!(
            a.contains(&("delete".to_string(), want.to_string())),
            "{want} in {a:?}"
        );
    }
    let out = applied(emu, &t);
    assert!(out.contains(" 0 failed, 0 skipped."), "{out}");
    let p = emu.tether(&["plan", "--detailed-exitcode", "-f", t.arg()]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    assert!(
        !String::from_utf8_lossy(&p.stdout).contains("Ownership marker"),
        "{}",
        text(&p)
    );
    // The key is scheduled for deletion without its alias; the bucket is gone; the
    // marker no longer names the region.
    let left = emu.oob(
        r#"
kms = c("kms", region="eu-central-1")
aliases = [a["AliasName"] for a in kms.list_aliases()["Aliases"] if a["AliasName"].startswith("alias/flow4")]
states = sorted(kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] for k in kms.list_keys()["Keys"])
buckets = [b["Name"] for b in c("s3").list_buckets()["Buckets"] if b["Name"].endswith("eu-central-1")]
print(aliases, states, buckets)
"#,
    );
    assert_eq!(left.trim(), "[] ['PendingDeletion'] []");
    assert_eq!(marker_regions(emu, "flow4"), "['eu-west-1', 'us-east-1']");
}

#[test]
fn an_account_dropped_from_the_topology_is_named_in_the_plan() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow4-multi-region.yaml");
    applied(emu, &t);
    t.rewrite(|s| {
        let s = s.replace(
            "  test:  { id: \"555555555555\", role: OrganizationAccountAccessRole }\n",
            "",
        );
        let start = s.find("      - name: Test\n").unwrap();
        let end = s.find("      - name: Prod\n").unwrap();
        format!("{}{}", &s[..start], &s[end..])
    });
    let plan = plan_json(emu, &t);
    let warnings = plan["warnings"].as_array().cloned().unwrap_or_default();
    assert_eq!(warnings.len(), 1, "{plan}");
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .starts_with("account `test` (555555555555) was part of topology `flow4`"),
        "{warnings:?}"
    );
    let o = emu.tether(&["plan", "-f", t.arg()]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Warning: account `test` (555555555555)"),
        "{}",
        text(&o)
    );
    // eu-west-1 served only the test stage: its store goes too.
    assert!(actions(&plan).contains(&(
        "delete".to_string(),
        "tools/eu-west-1/kms_key.flow4-artifacts".to_string()
    )));
}

#[test]
fn a_second_topology_with_the_same_name_is_refused() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow1-upload-trigger.yaml");
    let a = "github.com/team-a/infra:topology.yaml";
    let b = "github.com/team-b/platform:flow1.yaml";
    let o = emu.tether_via_env(
        &emu.endpoint,
        &["apply", "--auto-approve", "-f", t.arg()],
        &[("TETHER_CLAIM", a)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Team b's file: same name, other resources. Its plan must not offer to delete team
    // a's trigger plumbing as leftovers; it stops, naming both files.
    t.rewrite(|s| {
        let start = s.find("triggers:").unwrap();
        s[..start].to_string()
    });
    let o = emu.tether_via_env(
        &emu.endpoint,
        &["plan", "--stats", "-f", t.arg()],
        &[("TETHER_CLAIM", b)],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "claimed in account {AMBIENT} by {a}, and this file is {b}"
        )),
        "{err}"
    );
    // The first file still plans as before.
    let o = emu.tether_via_env(
        &emu.endpoint,
        &["apply", "--auto-approve", "-f", t.arg()],
        &[("TETHER_CLAIM", b)],
    );
    assert_eq!(o.status.code(), Some(1), "apply refuses too: {}", text(&o));
}
