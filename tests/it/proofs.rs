//! Flow proofs against the emulator (issue 9): what another tool did to the policies
//! tether does not own is read by `plan`, the first hop AWS would deny is named (the
//! foreign statement's Sid, or the policies that lack the allow), nothing of the foreign
//! statement is planned for change, and `apply` refuses the plan unless told otherwise.

use crate::emulator::{take, Topology, AMBIENT};
use crate::plan::plan;
use crate::text;
use serde_json::Value;

fn flow<'a>(p: &'a Value, name: &str) -> &'a Value {
    p["flows"]
        .as_array()
        .expect("the plan has flows")
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no flow {name}: {:#}", p["flows"]))
}

/// The first broken hop of a flow.
fn broken<'a>(p: &'a Value, name: &str) -> &'a Value {
    let f = flow(p, name);
    assert_eq!(f["verdict"]["status"], "broken", "{f:#}");
    &f["hops"][f["verdict"]["hop"].as_u64().unwrap() as usize]
}

fn change<'a>(p: &'a Value, address: &str) -> Option<&'a Value> {
    p["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == address)
}

#[test]
fn a_foreign_deny_on_the_receiving_bus_is_the_first_broken_hop() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow1-upload-trigger.yaml");
    let o = emu.tether(&["apply", "--auto-approve", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let before = plan(emu, &t, &[]);
    assert_eq!(
        flow(&before, "trigger on-upload")["verdict"]["status"],
        "proven"
    );

    // Another tool adds a Deny to the bus policy, keeping tether's statement.
    emu.oob(&format!(
        r#"
e = c("events", "{AMBIENT}")
doc = json.loads(e.describe_event_bus(Name="flow1-triggers")["Policy"])
doc["Statement"].append({{"Sid": "OtherToolDeny", "Effect": "Deny",
    "Principal": {{"AWS": "arn:aws:iam::222222222222:root"}}, "Action": "events:PutEvents",
    "Resource": "arn:aws:events:us-east-1:{AMBIENT}:event-bus/flow1-triggers"}})
e.put_permission(EventBusName="flow1-triggers", Policy=json.dumps(doc))
"#
    ));
    let p = plan(emu, &t, &[]);
    let hop = broken(&p, "trigger on-upload");
    assert_eq!(hop["action"], "events:PutEvents", "{hop:#}");
    assert_eq!(hop["outcome"]["statement"], "`OtherToolDeny`", "{hop:#}");
    assert_eq!(
        hop["outcome"]["policies"],
        serde_json::json!(["tools/us-east-1/event_bus.flow1-triggers"])
    );
    // Nothing of the foreign statement is planned for change.
    let bus = change(&p, "tools/us-east-1/event_bus.flow1-triggers").unwrap();
    assert_eq!(bus["action"], "no-op", "{bus:#}");
    assert_eq!(bus["before"]["foreign_statements"], 1);

    // The text plan names the flow and the statement; apply refuses, then is told.
    let o = emu.tether(&["plan", "-f", t.arg()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("trigger on-upload: BROKEN at hop"), "{out}");
    assert!(out.contains("`OtherToolDeny`"), "{out}");
    let o = emu.tether(&["apply", "--auto-approve", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("refusing to apply") && err.contains("trigger on-upload"),
        "{err}"
    );
    let o = emu.tether(&[
        "apply",
        "--auto-approve",
        "--allow-broken-flows",
        "-f",
        t.arg(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // The foreign statement is still there.
    let policy = emu.oob(&format!(
        r#"print(c("events", "{AMBIENT}").describe_event_bus(Name="flow1-triggers")["Policy"])"#
    ));
    assert!(policy.contains("OtherToolDeny"), "{policy}");
}

#[test]
fn an_external_build_role_without_assume_role_is_named() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow2-tools-deploys.yaml");
    // The build's service role, made by another tool: it reads artifacts but may not
    // assume the Terraform role in `dev`.
    emu.oob(&format!(
        r#"
iam = c("iam", "{AMBIENT}")
iam.create_role(RoleName="tf-runner", AssumeRolePolicyDocument=json.dumps({{"Version": "2012-10-17",
    "Statement": [{{"Effect": "Allow", "Principal": {{"Service": "codebuild.amazonaws.com"}}, "Action": "sts:AssumeRole"}}]}}))
iam.put_role_policy(RoleName="tf-runner", PolicyName="build", PolicyDocument=json.dumps({{"Version": "2012-10-17",
    "Statement": [{{"Effect": "Allow", "Action": ["s3:GetObject", "kms:Decrypt"], "Resource": "*"}}]}}))
"#
    ));
    let p = plan(emu, &t, &[]);
    let hop = broken(&p, "pipeline infra");
    let runner = format!("arn:aws:iam::{AMBIENT}:role/tf-runner");
    assert_eq!(hop["principal"], runner.as_str(), "{hop:#}");
    assert_eq!(hop["action"], "sts:AssumeRole");
    assert!(hop["resource"]
        .as_str()
        .unwrap()
        .ends_with("flow2-terraform"));
    assert_eq!(
        hop["outcome"]["policies"],
        serde_json::json!([format!("the policies of {runner}")])
    );
    // The external role is never planned for change.
    assert!(change(&p, "tools/global/iam_role.tf-runner").is_none_or(|c| c["action"] == "no-op"));

    // Once its owner grants the assume, that hop is proven.
    emu.oob(&format!(
        r#"
c("iam", "{AMBIENT}").put_role_policy(RoleName="tf-runner", PolicyName="assume", PolicyDocument=json.dumps({{"Version": "2012-10-17",
    "Statement": [{{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::333333333333:role/tether/flow2/flow2-terraform"}}]}}))
"#
    ));
    let p = plan(emu, &t, &[]);
    let f = flow(&p, "pipeline infra");
    let hop = f["hops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["principal"] == runner.as_str() && h["action"] == "sts:AssumeRole")
        .unwrap();
    assert_eq!(hop["outcome"]["result"], "allowed", "{hop:#}");
}

#[test]
fn an_adopted_bucket_with_a_foreign_deny_is_named() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow1-upload-trigger.yaml");
    t.rewrite(|s| {
        s.replace(
            "name: flow1-app-uploads }",
            "name: flow1-app-uploads, adopt: true }",
        )
    });
    emu.oob(
        r#"
s3 = c("s3", "222222222222")
s3.create_bucket(Bucket="flow1-app-uploads")
s3.put_bucket_policy(Bucket="flow1-app-uploads", Policy=json.dumps({"Version": "2012-10-17",
    "Statement": [{"Sid": "NoReleaseReads", "Effect": "Deny", "Principal": "*",
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::flow1-app-uploads/releases/*"}]}))
"#,
    );
    let p = plan(emu, &t, &[]);
    let hop = broken(&p, "pipeline release");
    assert_eq!(hop["action"], "s3:GetObject", "{hop:#}");
    assert_eq!(hop["outcome"]["statement"], "`NoReleaseReads`", "{hop:#}");
    assert_eq!(
        hop["outcome"]["policies"],
        serde_json::json!(["app/us-east-1/s3_bucket.flow1-app-uploads"])
    );
    // The adoption changes tether's statements and tags, never the foreign one.
    let bucket = change(&p, "app/us-east-1/s3_bucket.flow1-app-uploads").unwrap();
    assert_eq!(bucket["before"]["foreign_statements"], 1);
    assert!(
        !serde_json::to_string(&bucket["after"])
            .unwrap()
            .contains("NoReleaseReads"),
        "{bucket:#}"
    );
    for f in bucket["changes"].as_array().into_iter().flatten() {
        assert!(
            !serde_json::to_string(&f["after"])
                .unwrap()
                .contains("NoReleaseReads"),
            "{f:#}"
        );
    }
}

/// What `tether flows` prints for each example, as a snapshot a reviewer reads: every
/// hop, who calls what, and each verdict. Offline, so no emulator.
#[test]
fn the_flows_of_every_example_render_as_their_snapshots() {
    for (example, snapshot) in [
        ("topology.example.yaml", "topology.example.txt"),
        (
            "docs/examples/flow1-upload-trigger.yaml",
            "flow1-upload-trigger.txt",
        ),
        (
            "docs/examples/flow2-tools-deploys.yaml",
            "flow2-tools-deploys.txt",
        ),
        (
            "docs/examples/flow3-cross-account-source.yaml",
            "flow3-cross-account-source.txt",
        ),
        (
            "docs/examples/flow4-multi-region.yaml",
            "flow4-multi-region.txt",
        ),
    ] {
        let c = tether::check_file(&crate::root().join(example)).unwrap();
        let world = tether::flows::World::new(&c.expansion, None);
        let flows = tether::flows::prove(&c.topology, &world);
        let text = tether::plan::render::flows_text(&flows, false);
        crate::expect_file(
            &crate::root().join("tests/data/flows").join(snapshot),
            &text,
        );
    }
}
