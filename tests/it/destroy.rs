//! `tether destroy` against the emulator: everything the topology owns goes, in every
//! region it wrote to; protected resources and what tether does not own stay.

use crate::emulator::{take, Topology, AMBIENT};
use crate::text;
use serde_json::Value;

#[test]
fn destroy_removes_what_the_topology_owns_and_keeps_the_rest() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow2-tools-deploys.yaml");
    let o = emu.tether(&["apply", "--auto-approve", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let state = format!("flow2-tfstate-{AMBIENT}");
    // Another tool's role, and another tool's statement in the protected bucket's policy.
    emu.oob(&format!(
        r#"
iam = c("iam")
iam.create_role(RoleName="someone-elses-role", AssumeRolePolicyDocument=json.dumps({{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Principal": {{"Service": "ec2.amazonaws.com"}}, "Action": "sts:AssumeRole"}}]}}))
s3 = c("s3", region="eu-west-1")
p = json.loads(s3.get_bucket_policy(Bucket="{state}")["Policy"])
p["Statement"].append({{"Sid": "AuditRead", "Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::999999999999:root"}}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{state}/*"}})
s3.put_bucket_policy(Bucket="{state}", Policy=json.dumps(p))
"#
    ));

    // Without a terminal and without --auto-approve: refused, nothing removed.
    let o = emu.tether(&["destroy", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("refusing to destroy without confirmation"),
        "{}",
        text(&o)
    );

    let o = emu.tether(&["destroy", "--auto-approve", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(" 0 failed, 0 skipped."), "{out}");
    assert!(
        out.contains(&format!(
            "These stay:\n  tools/eu-west-1/s3_bucket.{state} (kept"
        )),
        "{out}"
    );

    // What is left, as tether sees it: everything would be created again, except the
    // protected bucket, which is still there.
    let p = emu.tether(&["plan", "--format", "json", "-f", t.arg()]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    let plan: Value = serde_json::from_slice(&p.stdout).unwrap();
    for c in plan["changes"].as_array().unwrap() {
        let address = c["address"].as_str().unwrap();
        if address.ends_with(&state) {
            assert_ne!(c["action"], "create", "{address} was kept");
        } else {
            assert_eq!(c["action"], "create", "{address} was removed");
        }
    }
    // What tether does not own is untouched; keys are scheduled, not deleted.
    let left = emu.oob(&format!(
        r#"
roles = sorted(r["RoleName"] for r in c("iam").list_roles()["Roles"])
policy = json.loads(c("s3", region="eu-west-1").get_bucket_policy(Bucket="{state}")["Policy"])
kms = c("kms", region="eu-west-1")
states = sorted(kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] for k in kms.list_keys()["Keys"])
aliases = [a["AliasName"] for a in kms.list_aliases()["Aliases"] if a["AliasName"].startswith("alias/flow2")]
print(roles, [s.get("Sid") for s in policy["Statement"] if s.get("Sid") == "AuditRead"], states, aliases)
"#
    ));
    assert_eq!(
        left.trim(),
        "['someone-elses-role'] ['AuditRead'] ['PendingDeletion'] []"
    );
}

#[test]
fn destroy_of_an_unprotected_topology_leaves_nothing_not_even_its_markers() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow1-upload-trigger.yaml");
    let o = emu.tether(&["apply", "--auto-approve", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = emu.tether(&["destroy", "--auto-approve", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("These stay"));
    let markers = emu.oob(&format!(
        r#"
out = []
for account in ["{AMBIENT}", "222222222222"]:
    try:
        c("iam", account).get_policy(PolicyArn=f"arn:aws:iam::{{account}}:policy/tether/flow1/tether-flow1-marker")
        out.append("present")
    except c("iam", account).exceptions.NoSuchEntityException:
        out.append("gone")
print(out)
"#
    ));
    assert_eq!(markers.trim(), "['gone', 'gone']");
    // A second destroy finds nothing.
    let o = emu.tether(&["destroy", "--auto-approve", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Nothing to destroy."),
        "{}",
        text(&o)
    );
}
