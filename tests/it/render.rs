//! The plan as a reviewer reads it, built without AWS from the example expansions and
//! states made here: creates show what they create, deletes what goes, and updates show
//! policies as AWS holds them. The text and Markdown renderings are reviewed snapshots
//! (`tests/data/plan/`).

use crate::{expect_file, root};
use serde_json::{json, Value};
use tether::expand::Expansion;
use tether::plan::diff::{diff, Options};
use tether::plan::render::{markdown, text};
use tether::plan::Plan;
use tether::resource::{Address, Resource, Spec};
use tether::state::{Observed, State};

fn expansion(file: &str) -> Expansion {
    tether::check_file(&root().join(file)).unwrap().expansion
}

/// Nothing exists yet.
fn empty(e: &Expansion) -> State {
    let mut s = State::default();
    for r in &e.resources {
        s.resources.insert(r.address.clone(), None);
    }
    s
}

/// What a read finds right after tether created `r`.
fn observed(r: &Resource) -> Observed {
    Observed::as_created(r)
}

const FORWARD: &str = "app/global/iam_role.flow1-on-upload-forward";
const RETIRED: &str = "app/global/iam_role.flow1-retired";

/// Flow 1 as applied, then drifted by hand: the forwarding role's trust policy trusts
/// one more principal, and its inline policy was rewritten in another case and shape
/// (a lone statement object, lower-case actions) with one more action. A role this
/// topology owns and no longer has is left over.
fn drifted(e: &Expansion) -> State {
    let mut s = State::default();
    for r in &e.resources {
        s.resources.insert(r.address.clone(), Some(observed(r)));
    }
    let o = s
        .resources
        .get_mut(&Address(FORWARD.into()))
        .unwrap()
        .as_mut()
        .unwrap();
    let Spec::IamRole(role) = &mut o.spec else {
        panic!("{FORWARD} is a role")
    };
    role.trust_policy = serde_json::from_value(json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com", "AWS": "arn:aws:iam::222222222222:root"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "ArnEquals": {"aws:SourceArn": "arn:aws:events:us-east-1:222222222222:rule/flow1-on-upload-forward"},
                "StringEquals": {"aws:SourceAccount": "222222222222"}
            }
        }]
    }))
    .unwrap();
    role.inline_policies.insert(
        "tether".into(),
        serde_json::from_value(json!({
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Allow",
                "Action": ["events:putevents", "events:putrule"],
                "Resource": "arn:aws:events:us-east-1:111111111111:event-bus/flow1-triggers"
            }
        }))
        .unwrap(),
    );
    let mut retired = s.resources[&Address("app/global/iam_role.flow1-release-source".into())]
        .clone()
        .unwrap();
    retired.address = Address(RETIRED.into());
    retired.tags.insert("tether:address".into(), RETIRED.into());
    retired.tags.insert("team".into(), "platform".into());
    let Spec::IamRole(role) = &mut retired.spec else {
        panic!()
    };
    role.name = "flow1-retired".into();
    role.arn = "arn:aws:iam::222222222222:role/tether/flow1/flow1-retired".into();
    s.resources.insert(retired.address.clone(), Some(retired));
    s
}

fn plan(e: &Expansion, s: &State) -> Plan {
    diff(e, s, "0000", &Options::default()).unwrap()
}

/// Every statement of every policy document a resource holds: (Sid, actions).
fn statements(r: &Resource) -> Vec<(Option<String>, Vec<String>)> {
    let mut docs: Vec<Value> = Vec::new();
    match &r.spec {
        Spec::IamRole(x) => {
            docs.push(serde_json::to_value(&x.trust_policy).unwrap());
            for d in x.inline_policies.values() {
                docs.push(serde_json::to_value(d).unwrap());
            }
        }
        Spec::S3Bucket(x) => docs.push(json!({"Statement": x.policy_statements})),
        Spec::KmsKey(x) => docs.push(json!({"Statement": x.policy_statements})),
        Spec::EventBus(x) => docs.push(json!({"Statement": x.policy_statements})),
        _ => {}
    }
    let mut out = Vec::new();
    for d in docs {
        for s in d["Statement"].as_array().unwrap() {
            let sid = s["Sid"].as_str().map(str::to_string);
            let actions = match &s["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
                other => panic!("{other}"),
            };
            out.push((sid, actions));
        }
    }
    out
}

/// The lines of the text plan that belong to the resource at `address`.
fn text_section(out: &str, address: &str) -> String {
    let mut lines = out
        .lines()
        .skip_while(|l| !l.ends_with(&format!(" {address}")));
    let head = lines
        .next()
        .unwrap_or_else(|| panic!("{address} not in:\n{out}"));
    let body: Vec<&str> = lines.take_while(|l| l.starts_with("        ")).collect();
    format!("{head}\n{}", body.join("\n"))
}

/// The `<details>` block of the Markdown plan for the resource at `address`.
fn markdown_section(md: &str, address: &str) -> String {
    let start = md
        .find(&format!(" {address}</code>"))
        .unwrap_or_else(|| panic!("no <details> for {address} in:\n{md}"));
    let end = start + md[start..].find("</details>").unwrap();
    md[start..end].to_string()
}

#[test]
fn plans_render_as_their_snapshots() {
    let e = expansion("topology.example.yaml");
    let p = plan(&e, &empty(&e));
    let dir = root().join("tests/data/plan");
    expect_file(&dir.join("example-create.txt"), &text(&p, false));
    expect_file(&dir.join("example-create.md"), &markdown(&p));
    let e = expansion("docs/examples/flow1-upload-trigger.yaml");
    let p = plan(&e, &drifted(&e));
    expect_file(&dir.join("flow1-drift.txt"), &text(&p, false));
    expect_file(&dir.join("flow1-drift.md"), &markdown(&p));
}

#[test]
fn a_create_shows_every_derived_policy_statement() {
    for file in crate::examples::examples() {
        let e = tether::check_file(&file).unwrap().expansion;
        let p = plan(&e, &empty(&e));
        let out = text(&p, false);
        let md = markdown(&p);
        assert!(!out.contains('\x1b'), "no colour when it is off");
        for r in &e.resources {
            let t = text_section(&out, r.address.as_str());
            let m = markdown_section(&md, r.address.as_str());
            for (sid, actions) in statements(r) {
                for section in [&t, &m] {
                    if let Some(sid) = &sid {
                        assert!(
                            section.contains(&format!("\"Sid\": \"{sid}\"")),
                            "{}: {sid} not shown in:\n{section}",
                            r.address
                        );
                    }
                    for a in &actions {
                        assert!(
                            section.contains(&format!("\"{a}\"")),
                            "{}: {a} not shown in:\n{section}",
                            r.address
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn a_drift_diff_shows_policies_as_aws_spells_them() {
    let e = expansion("docs/examples/flow1-upload-trigger.yaml");
    let p = plan(&e, &drifted(&e));
    let c = p
        .changes
        .iter()
        .find(|c| c.address.as_str() == FORWARD)
        .unwrap();
    // Only what differs in meaning is a field change.
    let fields: Vec<&str> = c.changes.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["inline_policies.tether", "trust_policy"]);

    // The JSON plan carries each side in its own spelling.
    let json = serde_json::to_value(&p).unwrap().to_string();
    assert!(!json.contains("sts:assumerole"), "{json}");
    assert!(!json.contains("aws:sourceaccount"), "{json}");
    let inline = &c.changes[0];
    assert_eq!(
        inline.before["Statement"][0]["Action"],
        json!(["events:putevents", "events:putrule"])
    );
    assert_eq!(inline.after["Statement"][0]["Action"], "events:PutEvents");

    for shown in [text(&p, false), markdown(&p)] {
        assert!(shown.contains("\"Action\": \"sts:AssumeRole\""), "{shown}");
        assert!(!shown.contains("sts:assumerole"), "{shown}");
        assert!(!shown.contains("aws:sourceaccount"), "{shown}");
        // The live document as read, the desired one as derived.
        assert!(shown.contains("-      \"Action\": ["), "{shown}");
        assert!(shown.contains("-        \"events:putevents\","), "{shown}");
        assert!(
            shown.contains("+      \"Action\": \"events:PutEvents\","),
            "{shown}"
        );
        assert!(shown.contains("+      \"Sid\": \"PutEvents\","), "{shown}");
    }

    // A deletion shows what goes.
    let out = text(&p, false);
    let gone = text_section(&out, RETIRED);
    assert!(gone.contains("- name: \"flow1-retired\""), "{gone}");
    assert!(gone.contains("- trust_policy:"), "{gone}");
    assert!(gone.contains("- tags: {\"team\": \"platform\"}"), "{gone}");
    let md = markdown_section(&markdown(&p), RETIRED);
    assert!(md.contains("- name: \"flow1-retired\""), "{md}");
}

/// Against the emulator, as a pull request sees it: the Markdown plan of the example on an
/// empty world opens with the access summary (cross-account grants first) and shows every
/// derived statement of every resource it creates.
#[test]
fn the_markdown_plan_of_a_new_topology_shows_access_and_every_statement() {
    let (_g, emu) = crate::emulator::take();
    let t = crate::emulator::Topology::example("topology.example.yaml");
    let o = emu.tether(&["plan", "--format", "markdown", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(0), "{}", crate::text(&o));
    let md = String::from_utf8_lossy(&o.stdout).to_string();
    let access = md
        .find("#### Access this plan grants or takes away")
        .expect("an access summary");
    assert!(
        access < md.find("<details>").expect("resources"),
        "summary first"
    );
    let first = &md[access..];
    let first_item = first.lines().find(|l| l.starts_with("- ")).unwrap();
    assert!(first_item.contains("cross-account"), "{first_item}");
    assert!(
        md.contains("cross-account: account 222222222222 (app) may events:PutEvents on bus acme-releases (tools, us-east-1)"),
        "{md}"
    );
    let e = tether::check_file(&t.path).unwrap().expansion;
    for r in &e.resources {
        let section = markdown_section(&md, r.address.as_str());
        for (sid, actions) in statements(r) {
            if let Some(sid) = sid {
                assert!(section.contains(&sid), "{}: {sid} not shown", r.address);
            }
            for a in actions {
                assert!(section.contains(&a), "{}: {a} not shown", r.address);
            }
        }
    }
}

/// A pipeline shows the artifact store form it declares: one `artifactStore` when all
/// its actions run in its region, `artifactStores` by region otherwise.
#[test]
fn a_pipeline_shows_the_artifact_store_form_it_declares() {
    for (file, address, single) in [
        (
            "docs/examples/flow1-upload-trigger.yaml",
            "tools/us-east-1/pipeline.flow1-release",
            true,
        ),
        (
            "docs/examples/flow4-multi-region.yaml",
            "tools/us-east-1/pipeline.flow4-service",
            false,
        ),
    ] {
        let e = expansion(file);
        let pipeline = e.get(address).unwrap().pipeline().unwrap();
        assert_eq!(pipeline.artifact_store().is_some(), single, "{file}");
        let p = plan(&e, &empty(&e));
        for section in [
            text_section(&text(&p, false), address),
            markdown_section(&markdown(&p), address),
        ] {
            assert_eq!(section.contains("artifact_store:"), single, "{section}");
            assert_eq!(section.contains("artifact_stores"), !single, "{section}");
        }
    }
    let e = expansion("docs/examples/flow1-upload-trigger.yaml");
    let store = e
        .get("tools/us-east-1/pipeline.flow1-release")
        .unwrap()
        .pipeline()
        .unwrap()
        .artifact_store()
        .unwrap();
    assert_eq!(store.bucket, "flow1-artifacts-111111111111-us-east-1");
}
