//! The flows of every example, and one mutated policy per hop kind: exactly that hop
//! breaks, and the policy that lacks the allow (or the statement that denies) is named.

use super::*;
use crate::expand::policy::Effect;
use crate::resource::Spec;
use crate::state::{Observed, State};

/// Every example, relative to the crate: the root one and each of `docs/examples/`, so
/// that an example added there is proven without being listed here.
fn examples() -> Vec<String> {
    let dir = format!("{}/docs/examples", env!("CARGO_MANIFEST_DIR"));
    let mut docs: Vec<String> = std::fs::read_dir(dir)
        .expect("docs/examples")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".yaml"))
        .map(|n| format!("docs/examples/{n}"))
        .collect();
    docs.sort();
    assert!(docs.len() >= 4, "one example per flow in docs/examples");
    let mut all = vec!["topology.example.yaml".to_string()];
    all.extend(docs);
    all
}

fn checked(path: &str) -> crate::Checked {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    crate::check_file(std::path::Path::new(&full)).unwrap_or_else(|d| panic!("{}", d.render()))
}

fn offline(c: &crate::Checked) -> Vec<Flow> {
    prove(&c.topology, &World::new(&c.expansion, None))
}

fn flow<'f>(flows: &'f [Flow], name: &str) -> &'f Flow {
    flows
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no flow {name}"))
}

/// The first broken hop of `name`.
fn broken<'f>(flows: &'f [Flow], name: &str) -> &'f Hop {
    let f = flow(flows, name);
    match &f.verdict {
        Verdict::Broken { hop, .. } => &f.hops[*hop],
        v => panic!("{name} is not broken: {v:?}\n{}", show(f)),
    }
}

fn show(f: &Flow) -> String {
    let mut s = f.headline();
    for h in &f.hops {
        s.push_str(&format!(
            "\n  {} | {} {} {} -> {:?}",
            h.step, h.principal, h.action, h.resource, h.outcome
        ));
    }
    s
}

fn denied_by(h: &Hop) -> (&[String], Option<&str>) {
    match &h.outcome {
        Outcome::Denied {
            policies,
            statement,
            ..
        } => (policies, statement.as_deref()),
        o => panic!("not denied: {o:?}"),
    }
}

/// The one reason a hop may be unverified offline: it rests on the policies of a role
/// tether does not manage (an external build role), which only a plan reads.
fn expected_offline(why: &str) -> bool {
    why.contains("which tether does not manage") || why.contains("is not named in the topology")
}

/// Proving on several threads gives the flows of one thread, in the same order, for a
/// broken flow as for proven ones.
#[test]
fn flows_proven_on_threads_are_those_of_one_thread() {
    let (mut most, mut broken) = (0, 0);
    for path in &examples() {
        let mut c = checked(path);
        // One broken flow among the others, so that verdicts differ between flows.
        let role = c
            .expansion
            .resources
            .iter_mut()
            .find_map(|r| match &mut r.spec {
                Spec::IamRole(x) => Some(x),
                _ => None,
            });
        role.expect("a role").trust_policy.statement.clear();
        let world = World::new(&c.expansion, None);
        let one = prove_on(&c.topology, &world, Some(1));
        most = most.max(one.len());
        broken += one.iter().filter(|f| f.broken()).count();
        for threads in [2, 3, one.len() + 1] {
            assert_eq!(
                prove_on(&c.topology, &world, Some(threads)),
                one,
                "{path}: {threads}"
            );
        }
    }
    assert!(most >= 3, "an example with flows to share between threads");
    assert!(broken > 0, "a broken flow among them");
}

#[test]
fn every_example_proves_its_flows_offline() {
    for path in &examples() {
        let c = checked(path);
        let flows = offline(&c);
        assert_eq!(
            flows.len(),
            c.topology.triggers.len() + c.topology.pipelines.len(),
            "{path}: one flow per trigger and pipeline"
        );
        for f in &flows {
            for h in &f.hops {
                match &h.outcome {
                    Outcome::Allowed => {}
                    Outcome::Unverified { why } if expected_offline(why) => {}
                    _ => panic!("{path}: {}", show(f)),
                }
            }
        }
        // Triggers rest on nothing outside tether: proven outright.
        for f in flows.iter().filter(|f| f.name.starts_with("trigger ")) {
            assert_eq!(f.verdict, Verdict::Proven, "{path}: {}", show(f));
        }
    }
}

#[test]
fn a_pipeline_flow_holds_every_hop_kind() {
    let c = checked("topology.example.yaml");
    let flows = offline(&c);
    let all: Vec<&Hop> = flows.iter().flat_map(|f| &f.hops).collect();
    for action in [
        "events:PutEvents",
        "codepipeline:StartPipelineExecution",
        "sts:AssumeRole",
        "s3:PutObject",
        "s3:GetObject",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        "codecommit:GetBranch",
        "codebuild:StartBuild",
        "cloudformation:CreateChangeSet",
        "cloudformation:ExecuteChangeSet",
        "iam:PassRole",
    ] {
        assert!(all.iter().any(|h| h.action == action), "no {action} hop");
    }
    let pass = all.iter().find(|h| h.action == "iam:PassRole").unwrap();
    assert_eq!(
        pass.context.get("iam:PassedToService").map(String::as_str),
        Some("cloudformation.amazonaws.com")
    );
    let forward = all
        .iter()
        .find(|h| h.principal == "service events.amazonaws.com" && h.action == "sts:AssumeRole")
        .unwrap();
    assert!(forward.context["aws:SourceArn"].contains(":rule/"));
}

// --- One mutated policy per hop kind: exactly that hop breaks, and is named. ---

fn mutate(c: &mut crate::Checked, address: &str, f: impl FnOnce(&mut Spec)) {
    let r = c
        .expansion
        .resources
        .iter_mut()
        .find(|r| r.address.as_str() == address)
        .unwrap_or_else(|| panic!("no {address}"));
    f(&mut r.spec);
}

fn drop_inline(spec: &mut Spec, sid: &str) {
    let Spec::IamRole(r) = spec else { panic!() };
    for d in r.inline_policies.values_mut() {
        let before = d.statement.len();
        d.statement.retain(|s| s.sid.as_deref() != Some(sid));
        assert_ne!(before, d.statement.len(), "no statement {sid}");
    }
}

/// Takes `principal_part` out of every statement that grants `action`: out of its
/// principals, and out of conditions that name principals (`aws:PrincipalArn`).
fn drop_principal(statements: &mut [Statement], action: &str, principal_part: &str) {
    let mut dropped = false;
    for s in statements.iter_mut().filter(|s| s.action.contains(action)) {
        let kept: Vec<String> = s
            .aws_principals()
            .filter(|p| !p.contains(principal_part))
            .map(str::to_string)
            .collect();
        dropped |= kept.len() != s.aws_principals().count();
        *s = s.clone().aws(kept);
        for keys in s.condition.values_mut() {
            for values in keys.values_mut() {
                let left: Vec<String> = values
                    .iter()
                    .filter(|v| !v.contains(principal_part))
                    .cloned()
                    .collect();
                dropped |= left.len() != values.len();
                *values = left.into();
            }
        }
    }
    assert!(dropped, "no statement grants {action} to {principal_part}");
}

fn policy_of(spec: &mut Spec) -> &mut Vec<Statement> {
    match spec {
        Spec::S3Bucket(b) => &mut b.policy_statements,
        Spec::KmsKey(k) => &mut k.policy_statements,
        Spec::EventBus(b) => &mut b.policy_statements,
        Spec::SqsQueue(q) => &mut q.policy_statements,
        _ => panic!(),
    }
}

fn trust_of(spec: &mut Spec) -> &mut Vec<Statement> {
    let Spec::IamRole(r) = spec else { panic!() };
    &mut r.trust_policy.statement
}

const FLOW1: &str = "docs/examples/flow1-upload-trigger.yaml";
const EXAMPLE: &str = "topology.example.yaml";

#[test]
fn notifications_off_break_the_first_hop() {
    let mut c = checked(FLOW1);
    mutate(&mut c, "app/us-east-1/s3_bucket.flow1-app-uploads", |s| {
        let Spec::S3Bucket(b) = s else { panic!() };
        b.eventbridge_notifications = false;
    });
    let flows = offline(&c);
    let h = broken(&flows, "trigger on-upload");
    assert!(h.step.contains("sends its events to EventBridge"), "{h:?}");
}

#[test]
fn a_pattern_beyond_the_source_key_breaks_the_match() {
    let mut c = checked(FLOW1);
    mutate(
        &mut c,
        "app/us-east-1/event_rule.default/flow1-on-upload-forward",
        |s| {
            let Spec::EventRule(r) = s else { panic!() };
            r.event_pattern["detail"]["object"]["key"] = serde_json::json!([{"prefix": ""}]);
        },
    );
    let flows = offline(&c);
    let h = broken(&flows, "trigger on-upload");
    assert_eq!(h.action, "match event pattern");
    assert!(denied_by(h).0[0].contains("event_rule.default/flow1-on-upload-forward"));
    // And a pattern that misses the prefix: no rule matches at all.
    mutate(
        &mut c,
        "app/us-east-1/event_rule.default/flow1-on-upload-forward",
        |s| {
            let Spec::EventRule(r) = s else { panic!() };
            r.event_pattern["detail"]["object"]["key"] = serde_json::json!([{"prefix": "other/"}]);
        },
    );
    let flows = offline(&c);
    let h = broken(&flows, "trigger on-upload");
    assert_eq!(
        h.step, "a rule on default matches an upload of `releases/app.zip`",
        "{h:?}"
    );
}

#[test]
fn a_forwarding_trust_for_another_rule_breaks_the_assume() {
    let mut c = checked(FLOW1);
    mutate(&mut c, "app/global/iam_role.flow1-on-upload-forward", |s| {
        let t = trust_of(s);
        t[0] = t[0].clone();
        t[0].condition.get_mut("ArnEquals").unwrap().insert(
            "aws:SourceArn".into(),
            ["arn:aws:events:us-east-1:222222222222:rule/another"].into(),
        );
    });
    let flows = offline(&c);
    let h = broken(&flows, "trigger on-upload");
    assert_eq!(h.action, "sts:AssumeRole");
    assert_eq!(
        denied_by(h).0,
        ["the trust policy of app/global/iam_role.flow1-on-upload-forward"]
    );
}

#[test]
fn put_events_needs_the_role_and_the_bus_policy() {
    let mut c = checked(FLOW1);
    mutate(&mut c, "app/global/iam_role.flow1-on-upload-forward", |s| {
        drop_inline(s, "PutEvents")
    });
    let flows = offline(&c);
    let h = broken(&flows, "trigger on-upload");
    assert_eq!(h.action, "events:PutEvents");
    assert_eq!(
        denied_by(h).0,
        ["the policies of app/global/iam_role.flow1-on-upload-forward"]
    );

    let mut c = checked(FLOW1);
    mutate(&mut c, "tools/us-east-1/event_bus.flow1-triggers", |s| {
        policy_of(s).clear()
    });
    let flows = offline(&c);
    let h = broken(&flows, "trigger on-upload");
    assert_eq!(h.action, "events:PutEvents");
    assert_eq!(denied_by(h).0, ["tools/us-east-1/event_bus.flow1-triggers"]);
}

#[test]
fn a_dead_letter_queue_must_admit_its_rule() {
    let c = checked(FLOW1);
    let flows = offline(&c);
    let f = flow(&flows, "trigger on-upload");
    let sends: Vec<&Hop> = f
        .hops
        .iter()
        .filter(|h| h.action == "sqs:SendMessage")
        .collect();
    // The forwarding target in the bucket's account, the start target in the pipeline's.
    assert_eq!(sends.len(), 2, "{}", show(f));
    assert!(sends.iter().all(|h| h.outcome == Outcome::Allowed));
    assert!(sends
        .iter()
        .all(|h| h.context["aws:SourceArn"].contains(":rule/")));

    let mut c = checked(FLOW1);
    mutate(&mut c, "tools/us-east-1/sqs_queue.flow1-dead-letter", |s| {
        for st in policy_of(s) {
            st.condition.clear();
            *st = st.clone().when(
                "ArnEquals",
                "aws:SourceArn",
                ["arn:aws:events:us-east-1:111111111111:rule/other"],
            );
        }
    });
    let flows = offline(&c);
    let h = broken(&flows, "trigger on-upload");
    assert_eq!(h.action, "sqs:SendMessage");
    assert_eq!(
        denied_by(h).0,
        ["tools/us-east-1/sqs_queue.flow1-dead-letter"]
    );
}

#[test]
fn a_foreign_deny_on_the_bus_is_named_by_its_sid() {
    let c = checked(FLOW1);
    let bus = c
        .expansion
        .get("tools/us-east-1/event_bus.flow1-triggers")
        .unwrap();
    let mut o = Observed::as_created(bus);
    o.foreign = vec![Statement::deny(["events:PutEvents"])
        .sid("OtherToolDeny")
        .aws(["222222222222"])
        .on(["arn:aws:events:us-east-1:111111111111:event-bus/flow1-triggers"])];
    o.foreign_statements = 1;
    let mut state = State::default();
    state.resources.insert(bus.address.clone(), Some(o));
    let flows = prove(&c.topology, &World::new(&c.expansion, Some(&state)));
    let h = broken(&flows, "trigger on-upload");
    assert_eq!(h.action, "events:PutEvents");
    assert_eq!(
        denied_by(h),
        (
            &["tools/us-east-1/event_bus.flow1-triggers".to_string()][..],
            Some("`OtherToolDeny`")
        )
    );
}

#[test]
fn the_start_role_needs_its_trust_and_its_policy() {
    let mut c = checked(FLOW1);
    mutate(&mut c, "tools/global/iam_role.flow1-on-upload-start", |s| {
        drop_inline(s, "StartPipelines")
    });
    let flows = offline(&c);
    let h = broken(&flows, "trigger on-upload");
    assert_eq!(h.action, "codepipeline:StartPipelineExecution");
    assert_eq!(
        denied_by(h).0,
        ["the policies of tools/global/iam_role.flow1-on-upload-start"]
    );

    let mut c = checked(FLOW1);
    mutate(&mut c, "tools/global/iam_role.flow1-on-upload-start", |s| {
        let t = trust_of(s);
        t[0] = t[0].clone().service("codepipeline.amazonaws.com");
    });
    let flows = offline(&c);
    let h = broken(&flows, "trigger on-upload");
    assert_eq!(h.action, "sts:AssumeRole");
    assert!(h
        .step
        .contains("event_target.flow1-triggers/flow1-on-upload-start"));
}

#[test]
fn the_pipeline_role_trust_must_name_codepipeline() {
    let mut c = checked(FLOW1);
    mutate(
        &mut c,
        "tools/global/iam_role.flow1-release-pipeline",
        |s| {
            let t = trust_of(s);
            t[0] = t[0].clone().service("codebuild.amazonaws.com");
        },
    );
    let flows = offline(&c);
    let h = broken(&flows, "pipeline release");
    assert_eq!(
        (h.principal.as_str(), h.action.as_str()),
        ("service codepipeline.amazonaws.com", "sts:AssumeRole")
    );
}

#[test]
fn artifact_writes_need_the_bucket_and_the_key_policy() {
    let mut c = checked(FLOW1);
    let bucket = "tools/us-east-1/s3_bucket.flow1-artifacts-111111111111-us-east-1";
    mutate(&mut c, bucket, |s| {
        drop_principal(policy_of(s), "s3:PutObject", "release-source")
    });
    let flows = offline(&c);
    let h = broken(&flows, "pipeline release");
    assert_eq!(h.action, "s3:PutObject");
    assert!(h.principal.ends_with("flow1-release-source"));
    assert_eq!(denied_by(h).0, [bucket]);

    let mut c = checked(FLOW1);
    let key = "tools/us-east-1/kms_key.flow1-artifacts";
    mutate(&mut c, key, |s| {
        drop_principal(policy_of(s), "kms:GenerateDataKey", "release-source")
    });
    let flows = offline(&c);
    let h = broken(&flows, "pipeline release");
    assert_eq!(h.action, "kms:GenerateDataKey");
    assert_eq!(denied_by(h).0, [key]);
}

#[test]
fn a_key_named_by_reference_is_the_key_evaluated() {
    // Issue #7 names keys in IAM policies by `${<address>.arn}`, known after apply.
    let mut c = checked(FLOW1);
    let key = "tools/us-east-1/kms_key.flow1-artifacts";
    mutate(&mut c, "app/global/iam_role.flow1-release-source", |s| {
        let Spec::IamRole(r) = s else { panic!() };
        for d in r.inline_policies.values_mut() {
            for st in &mut d.statement {
                if st.sid.as_deref() == Some("ArtifactKeysReadWrite") {
                    *st = st.clone().on([format!("${{{key}.arn}}")]);
                    st.condition.clear();
                }
            }
        }
    });
    let flows = offline(&c);
    let f = flow(&flows, "pipeline release");
    let gen = f
        .hops
        .iter()
        .find(|h| h.action == "kms:GenerateDataKey" && h.principal.ends_with("release-source"))
        .unwrap();
    assert_eq!(gen.outcome, Outcome::Allowed, "{}", show(f));
    // A reference to another address names another resource, whatever it is: no allow.
    mutate(&mut c, "app/global/iam_role.flow1-release-source", |s| {
        let Spec::IamRole(r) = s else { panic!() };
        for d in r.inline_policies.values_mut() {
            for st in &mut d.statement {
                if st.sid.as_deref() == Some("ArtifactKeysReadWrite") {
                    *st = st.clone().on(["${tools/eu-west-1/kms_key.other.arn}"]);
                }
            }
        }
    });
    let flows = offline(&c);
    let f = flow(&flows, "pipeline release");
    let gen = f
        .hops
        .iter()
        .find(|h| h.action == "kms:GenerateDataKey" && h.principal.ends_with("release-source"))
        .unwrap();
    let (policies, _) = denied_by(gen);
    assert_eq!(
        policies,
        ["the policies of app/global/iam_role.flow1-release-source"],
        "{gen:?}"
    );
}

#[test]
fn the_action_role_trust_must_name_the_pipeline_role() {
    let mut c = checked(FLOW1);
    mutate(&mut c, "app/global/iam_role.flow1-release-source", |s| {
        let t = trust_of(s);
        t[0] = t[0]
            .clone()
            .aws(["arn:aws:iam::111111111111:role/someone-else"]);
    });
    let flows = offline(&c);
    let h = broken(&flows, "pipeline release");
    assert_eq!(h.action, "sts:AssumeRole");
    assert!(h.principal.ends_with("flow1-release-pipeline"));
    assert_eq!(
        denied_by(h).0,
        ["the trust policy of app/global/iam_role.flow1-release-source"]
    );
}

#[test]
fn the_s3_source_needs_its_object() {
    let mut c = checked(FLOW1);
    mutate(&mut c, "app/global/iam_role.flow1-release-source", |s| {
        drop_inline(s, "SourceObjects")
    });
    let flows = offline(&c);
    let h = broken(&flows, "pipeline release");
    assert_eq!(h.action, "s3:GetObject");
    assert!(h.resource.ends_with("flow1-app-uploads/releases/app.zip"));
}

#[test]
fn a_foreign_deny_on_an_adopted_bucket_is_named() {
    let c = checked(FLOW1);
    let bucket = c
        .expansion
        .get("app/us-east-1/s3_bucket.flow1-app-uploads")
        .unwrap();
    let mut o = Observed::as_created(bucket);
    let mut deny = Statement::deny(["s3:GetObject"])
        .sid("NoReadsFromTools")
        .anyone()
        .on(["arn:aws:s3:::flow1-app-uploads/*"]);
    deny.effect = Effect::Deny;
    o.foreign = vec![deny];
    let mut state = State::default();
    state.resources.insert(bucket.address.clone(), Some(o));
    let flows = prove(&c.topology, &World::new(&c.expansion, Some(&state)));
    let h = broken(&flows, "pipeline release");
    assert_eq!(denied_by(h).1, Some("`NoReadsFromTools`"));
    assert_eq!(h.action, "s3:GetObject");
}

#[test]
fn codecommit_codebuild_cloudformation_and_passrole_are_named() {
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        (
            "docs/examples/flow3-cross-account-source.yaml",
            "app/global/iam_role.flow3-app-source",
            "SourceRepositories",
            "pipeline app",
            "codecommit:GetBranch",
        ),
        (
            "docs/examples/flow3-cross-account-source.yaml",
            "tools/global/iam_role.flow3-app-pipeline",
            "StartBuilds",
            "pipeline app",
            "codebuild:StartBuild",
        ),
        (
            "docs/examples/flow4-multi-region.yaml",
            "dev/global/iam_role.flow4-service-action",
            "DeployStacks",
            "pipeline service",
            "cloudformation:CreateChangeSet",
        ),
        (
            "docs/examples/flow4-multi-region.yaml",
            "dev/global/iam_role.flow4-service-action",
            "PassExecutionRoles",
            "pipeline service",
            "iam:PassRole",
        ),
    ];
    for (path, role, sid, name, action) in cases {
        let mut c = checked(path);
        mutate(&mut c, role, |s| drop_inline(s, sid));
        let flows = offline(&c);
        let h = broken(&flows, name);
        assert_eq!(&h.action, action, "{path} {sid}");
        assert_eq!(
            denied_by(h).0,
            [format!("the policies of {role}")],
            "{path}"
        );
    }
}

#[test]
fn passrole_to_another_service_is_denied() {
    let mut c = checked("docs/examples/flow4-multi-region.yaml");
    mutate(&mut c, "dev/global/iam_role.flow4-service-action", |s| {
        let Spec::IamRole(r) = s else { panic!() };
        for d in r.inline_policies.values_mut() {
            for st in &mut d.statement {
                if st.sid.as_deref() == Some("PassExecutionRoles") {
                    st.condition.clear();
                    *st = st.clone().when(
                        "StringEquals",
                        "iam:PassedToService",
                        ["lambda.amazonaws.com"],
                    );
                }
            }
        }
    });
    let flows = offline(&c);
    let h = broken(&flows, "pipeline service");
    assert_eq!(h.action, "iam:PassRole");
}

#[test]
fn the_execution_role_trust_must_name_cloudformation() {
    let mut c = checked("docs/examples/flow4-multi-region.yaml");
    mutate(&mut c, "dev/global/iam_role.flow4-service-cfn-exec", |s| {
        let t = trust_of(s);
        t[0] = t[0].clone().service("codebuild.amazonaws.com");
        t[0].condition.clear();
    });
    let flows = offline(&c);
    let h = broken(&flows, "pipeline service");
    assert_eq!(
        (h.principal.as_str(), h.action.as_str()),
        ("service cloudformation.amazonaws.com", "sts:AssumeRole")
    );
}

#[test]
fn an_external_build_role_is_unverified_offline_and_judged_when_read() {
    let c = checked("docs/examples/flow2-tools-deploys.yaml");
    let flows = offline(&c);
    let f = flow(&flows, "pipeline infra");
    let hop = f
        .hops
        .iter()
        .find(|h| h.principal.ends_with(":role/tf-runner") && h.action == "sts:AssumeRole")
        .expect("the build assumes the terraform role");
    assert!(matches!(hop.outcome, Outcome::Unverified { .. }), "{hop:?}");

    let tf = "arn:aws:iam::111111111111:role/tf-runner";
    let read = |statements: Vec<Statement>| ExternalRole {
        trust: Some(vec![
            Statement::allow(["sts:AssumeRole"]).service("codebuild.amazonaws.com")
        ]),
        policies: vec![("inline policy build of tf-runner".into(), statements)],
        unread: Vec::new(),
    };
    let artifacts = Statement::allow(["s3:GetObject", "kms:Decrypt"]).on(["*"]);
    let without = World::new(&c.expansion, None).with_external(tf, read(vec![artifacts.clone()]));
    let flows = prove(&c.topology, &without);
    let h = broken(&flows, "pipeline infra");
    assert_eq!(h.action, "sts:AssumeRole");
    assert_eq!(h.principal, tf);
    assert_eq!(denied_by(h).0, [format!("the policies of {tf}")]);

    let assume = Statement::allow(["sts:AssumeRole"])
        .on(["arn:aws:iam::333333333333:role/tether/flow2/flow2-terraform"]);
    let with = World::new(&c.expansion, None).with_external(tf, read(vec![artifacts, assume]));
    let flows = prove(&c.topology, &with);
    let f = flow(&flows, "pipeline infra");
    let hop = f
        .hops
        .iter()
        .find(|h| h.principal == tf && h.action == "sts:AssumeRole")
        .unwrap();
    assert_eq!(hop.outcome, Outcome::Allowed, "{}", show(f));
}

#[test]
fn a_disabled_trigger_is_proven_as_if_on_and_marked() {
    let text = std::fs::read_to_string(format!("{}/{FLOW1}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .replace("start: [release]", "start: [release]\n    enabled: false");
    let c = crate::check_bytes(text.as_bytes(), "flow1.yaml").unwrap();
    let flows = offline(&c);
    let f = flow(&flows, "trigger on-upload");
    assert!(f.disabled);
    assert_eq!(f.verdict, Verdict::Proven, "{}", show(f));
}

#[test]
fn print_example_flows() {
    let _ = EXAMPLE;
    for f in offline(&checked(EXAMPLE)) {
        eprintln!("{}", show(&f));
    }
}

const FLOW3: &str = "docs/examples/flow3-cross-account-source.yaml";

#[test]
fn a_change_to_the_branch_starts_the_pipeline_across_accounts() {
    let c = checked(FLOW3);
    let flows = offline(&c);
    let f = flow(&flows, "pipeline app");
    let first: Vec<(&str, &str)> = f
        .hops
        .iter()
        .take_while(|h| !h.step.starts_with("CodePipeline assumes"))
        .filter(|h| h.action != "sqs:SendMessage")
        .map(|h| (h.action.as_str(), h.principal.as_str()))
        .collect();
    assert_eq!(
        first.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
        [
            "match event pattern",
            "sts:AssumeRole",
            "events:PutEvents",
            "match event pattern",
            "sts:AssumeRole",
            "codepipeline:StartPipelineExecution",
        ],
        "{}",
        show(f)
    );
    assert!(f
        .hops
        .iter()
        .take(first.len())
        .all(|h| h.outcome == Outcome::Allowed || h.action == "sqs:SendMessage"));

    // The start rule listens to another branch: the change reaches no rule there.
    let mut c = checked(FLOW3);
    let start = c
        .expansion
        .resources
        .iter()
        .find(|r| {
            r.address
                .as_str()
                .starts_with("tools/us-east-1/event_rule.flow3-triggers/")
                && r.address.as_str().contains("starts")
        })
        .map(|r| r.address.to_string())
        .expect("a start rule on the receiving bus");
    mutate(&mut c, &start, |s| {
        let Spec::EventRule(r) = s else { panic!() };
        r.event_pattern["detail"]["referenceName"] = serde_json::json!(["develop"]);
    });
    let flows = offline(&c);
    let h = broken(&flows, "pipeline app");
    assert_eq!(h.action, "match event pattern");
    assert_eq!(
        h.step,
        "a rule on flow3-triggers matches a change to branch `main` of app"
    );

    // The forward rule also matches every branch: changes to other branches would start it.
    let mut c = checked(FLOW3);
    mutate(
        &mut c,
        "app/us-east-1/event_rule.default/flow3-app-commits-to-tools",
        |s| {
            let Spec::EventRule(r) = s else { panic!() };
            r.event_pattern["detail"]
                .as_object_mut()
                .unwrap()
                .remove("referenceName");
        },
    );
    let flows = offline(&c);
    let h = broken(&flows, "pipeline app");
    assert!(
        matches!(&h.outcome, Outcome::Denied { why, .. } if why.contains("changes to other branches")),
        "{h:?}"
    );
}

#[test]
fn a_polling_codecommit_source_has_no_event_hops() {
    let mut c = checked(FLOW3);
    mutate(&mut c, "tools/us-east-1/pipeline.flow3-app", |s| {
        let Spec::Pipeline(p) = s else { panic!() };
        for a in p.stages.iter_mut().flat_map(|s| s.actions.iter_mut()) {
            if a.provider == "CodeCommit" {
                a.configuration
                    .insert("PollForSourceChanges".into(), "true".into());
            }
        }
    });
    let flows = offline(&c);
    let f = flow(&flows, "pipeline app");
    assert!(
        f.hops[0].step.starts_with("CodePipeline assumes"),
        "{}",
        show(f)
    );
}
