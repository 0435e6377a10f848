//! The four flows of the spec, checked on the policies themselves: who may do what on
//! which ARN, not how many resources there are.
//!
//! Access is judged by pinning the exact statements that concern an action, not by
//! asking a matcher: there is no policy evaluator, and a literal one would wave through
//! a wildcard, a Deny or a Condition it does not understand.

use crate::root;
use serde_json::{json, Value};
use tether::expand::policy::{Effect, PolicyDocument, Principal, Statement};
use tether::expand::Expansion;
use tether::resource::{Resource, Spec};

fn expand_file(name: &str) -> Expansion {
    let path = root().join("docs/examples").join(name);
    match tether::check_file(&path) {
        Ok(c) => c.expansion,
        Err(d) => panic!("{name}:\n{d}"),
    }
}

fn expand_text(text: &str) -> Expansion {
    match tether::check_bytes(text.as_bytes(), "test.yaml") {
        Ok(c) => c.expansion,
        Err(d) => panic!("{d}"),
    }
}

fn example_text(name: &str) -> String {
    std::fs::read_to_string(root().join("docs/examples").join(name)).unwrap()
}

fn get<'a>(e: &'a Expansion, address: &str) -> &'a Resource {
    e.get(address).unwrap_or_else(|| {
        let all: Vec<&str> = e.resources.iter().map(|r| r.address.as_str()).collect();
        panic!("no {address}; have:\n{}", all.join("\n"))
    })
}

fn role<'a>(e: &'a Expansion, address: &str) -> &'a tether::resource::RoleSpec {
    get(e, address).role().expect("a role")
}

/// All statements of all inline policies of a role.
fn identity(e: &Expansion, address: &str) -> PolicyDocument {
    let r = role(e, address);
    PolicyDocument::new(
        r.inline_policies
            .values()
            .flat_map(|p| p.statement.iter().cloned())
            .collect(),
    )
}

fn set(items: &[&str]) -> std::collections::BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn actions(s: &Statement) -> std::collections::BTreeSet<String> {
    s.action.to_set()
}

fn resources(s: &Statement) -> std::collections::BTreeSet<String> {
    s.resource.as_ref().map(|r| r.to_set()).unwrap_or_default()
}

/// The only principals a trust policy admits to `sts:AssumeRole`.
fn trusted_aws(r: &tether::resource::RoleSpec) -> std::collections::BTreeSet<String> {
    r.trust_policy
        .statement
        .iter()
        .flat_map(|s| s.aws_principals().map(String::from).collect::<Vec<_>>())
        .collect()
}

fn trusted_service(r: &tether::resource::RoleSpec) -> Vec<&Statement> {
    r.trust_policy
        .statement
        .iter()
        .filter(|s| matches!(s.principal, Some(Principal::Service(_))))
        .collect()
}

/// Every statement of `doc` that could concern `action`, in document order, as the JSON
/// AWS receives. Action patterns are matched the way IAM matches them (`*` and `?`,
/// ignoring case), so a statement widened to `s3:*` or `*` is still found and changes
/// the pinned value; a `NotAction` statement is always included, since it may cover
/// anything. An empty list therefore says the document grants nothing for `action`.
fn concerning(doc: &PolicyDocument, action: &str) -> Value {
    doc.statement
        .iter()
        .filter(|s| {
            s.other.contains_key("NotAction")
                || s.action
                    .iter()
                    .any(|p| glob(p.as_bytes(), action.as_bytes()))
        })
        .map(|s| serde_json::to_value(s).unwrap())
        .collect()
}

/// IAM's match of an action pattern: `*` is any run of characters, `?` any one
/// character, letters compare regardless of case.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((p, rest)) => text
            .split_first()
            .is_some_and(|(t, text)| (*p == b'?' || p.eq_ignore_ascii_case(t)) && glob(rest, text)),
    }
}

/// The pins below are only as strict as `concerning` is wide: a widened statement must
/// be among those it returns, or a pin would pass over it.
#[test]
fn concerning_finds_statements_widened_by_wildcards() {
    let doc: PolicyDocument = serde_json::from_value(json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Exact", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "a"},
            {"Sid": "Service", "Effect": "Allow", "Action": "s3:*", "Resource": "a"},
            {"Sid": "Prefix", "Effect": "Deny", "Action": "S3:Get?bj*", "Resource": "a"},
            {"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Sid": "Not", "Effect": "Allow", "Action": [], "NotAction": "iam:*"},
            {"Sid": "Other", "Effect": "Allow", "Action": ["s3:GetObjectAcl", "s3:PutObject"]},
        ]
    }))
    .unwrap();
    let sids = |action: &str| -> Vec<Value> {
        match concerning(&doc, action) {
            Value::Array(v) => v.into_iter().map(|s| s["Sid"].clone()).collect(),
            other => panic!("{other}"),
        }
    };
    assert_eq!(
        sids("s3:GetObject"),
        ["Exact", "Service", "Prefix", "All", "Not"]
    );
    assert_eq!(sids("s3:PutObject"), ["Service", "All", "Not", "Other"]);
    assert_eq!(sids("kms:Decrypt"), ["All", "Not"]);
}

fn condition(s: &Statement, op: &str, key: &str) -> Option<std::collections::BTreeSet<String>> {
    s.condition
        .get(op)
        .and_then(|m| m.get(key))
        .map(|v| v.to_set())
}

const PIPELINE_ROLE_1: &str = "arn:aws:iam::111111111111:role/tether/flow1/flow1-release-pipeline";

#[test]
fn flow1_upload_in_app_account_starts_pipeline_in_tools() {
    let e = expand_file("flow1-upload-trigger.yaml");
    let bus_arn = "arn:aws:events:us-east-1:111111111111:event-bus/flow1-triggers";
    let pipeline_arn = "arn:aws:codepipeline:us-east-1:111111111111:flow1-release";
    let fwd_rule_arn = "arn:aws:events:us-east-1:222222222222:rule/flow1-on-upload-forward";
    let start_rule_arn =
        "arn:aws:events:us-east-1:111111111111:rule/flow1-triggers/flow1-on-upload-start";

    // The source bucket sends its events to EventBridge and is versioned (S3 source).
    let uploads = get(&e, "app/us-east-1/s3_bucket.flow1-app-uploads")
        .bucket()
        .unwrap();
    assert!(uploads.eventbridge_notifications);
    assert!(uploads.versioning);

    // Source side: a rule on the app account's default bus matching the bucket and
    // exactly the key the pipeline reads (within the trigger's prefix, which validate
    // checked): other uploads under the prefix would run the old object.
    let fwd = get(
        &e,
        "app/us-east-1/event_rule.default/flow1-on-upload-forward",
    )
    .rule()
    .unwrap();
    assert_eq!(fwd.arn, fwd_rule_arn);
    assert_eq!(fwd.bus, "default");
    assert_eq!(fwd.state, "ENABLED");
    assert_eq!(
        fwd.event_pattern,
        serde_json::json!({
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {"bucket": {"name": ["flow1-app-uploads"]}, "object": {"key": ["releases/app.zip"]}}
        })
    );
    // … forwarding through a role that may only put events on exactly the receiving bus.
    let fwd_role = role(&e, "app/global/iam_role.flow1-on-upload-forward");
    let svc = trusted_service(fwd_role);
    assert_eq!(svc.len(), 1);
    assert_eq!(
        svc[0].principal,
        Some(Principal::Service(["events.amazonaws.com"].into()))
    );
    assert_eq!(
        condition(svc[0], "StringEquals", "aws:SourceAccount"),
        Some(set(&["222222222222"]))
    );
    assert_eq!(
        condition(svc[0], "ArnEquals", "aws:SourceArn"),
        Some(set(&[fwd_rule_arn]))
    );
    assert!(trusted_aws(fwd_role).is_empty());
    let policy = identity(&e, "app/global/iam_role.flow1-on-upload-forward");
    assert_eq!(policy.statement.len(), 1);
    assert_eq!(actions(&policy.statement[0]), set(&["events:PutEvents"]));
    assert_eq!(resources(&policy.statement[0]), set(&[bus_arn]));
    let fwd_target = get(
        &e,
        "app/us-east-1/event_target.default/flow1-on-upload-forward/bus",
    )
    .target()
    .unwrap();
    assert_eq!(fwd_target.arn, bus_arn);
    assert_eq!(fwd_target.role_arn, fwd_role.arn);

    // The receiving bus in the pipeline account lets the source account put events.
    let bus = get(&e, "tools/us-east-1/event_bus.flow1-triggers")
        .bus()
        .unwrap();
    assert_eq!(bus.arn, bus_arn);
    assert_eq!(bus.policy_statements.len(), 1);
    let perm = &bus.policy_statements[0];
    assert_eq!(
        perm.aws_principals().collect::<Vec<_>>(),
        ["arn:aws:iam::222222222222:root"]
    );
    assert_eq!(actions(perm), set(&["events:PutEvents"]));
    assert_eq!(resources(perm), set(&[bus_arn]));
    assert!(perm.sid.as_deref().unwrap().starts_with("tether_flow1_"));

    // A rule on that bus starts the pipeline through a role allowed exactly that.
    let start = get(
        &e,
        "tools/us-east-1/event_rule.flow1-triggers/flow1-on-upload-start",
    )
    .rule()
    .unwrap();
    assert_eq!(start.arn, start_rule_arn);
    assert_eq!(start.event_pattern, fwd.event_pattern);
    let start_role = role(&e, "tools/global/iam_role.flow1-on-upload-start");
    let svc = trusted_service(start_role);
    assert_eq!(
        condition(svc[0], "StringEquals", "aws:SourceAccount"),
        Some(set(&["111111111111"]))
    );
    assert_eq!(
        condition(svc[0], "ArnEquals", "aws:SourceArn"),
        Some(set(&[start_rule_arn]))
    );
    let policy = identity(&e, "tools/global/iam_role.flow1-on-upload-start");
    assert_eq!(policy.statement.len(), 1);
    assert_eq!(
        actions(&policy.statement[0]),
        set(&["codepipeline:StartPipelineExecution"])
    );
    assert_eq!(resources(&policy.statement[0]), set(&[pipeline_arn]));
    let target = get(
        &e,
        "tools/us-east-1/event_target.flow1-triggers/flow1-on-upload-start/pipeline-release",
    )
    .target()
    .unwrap();
    assert_eq!(target.arn, pipeline_arn);
    assert_eq!(target.role_arn, start_role.arn);
    // … on the version of the object that fired it (StartPipelineExecution
    // `sourceRevisions`), which the forwarded event still carries.
    assert_eq!(fwd_target.input_transformer, None);
    let input = target.input_transformer.as_ref().expect("a transformer");
    assert_eq!(
        serde_json::to_value(input).unwrap(),
        json!({
            "input_paths": {"revisionValue": "$.detail.object.version-id"},
            "input_template": {"sourceRevisions": [{
                "actionName": "source",
                "revisionType": "S3_OBJECT_VERSION_ID",
                "revisionValue": "<revisionValue>"
            }]}
        })
    );

    // The pipeline does not poll a source that a trigger starts.
    let pl = get(&e, "tools/us-east-1/pipeline.flow1-release")
        .pipeline()
        .unwrap();
    assert_eq!(
        pl.stages[0].actions[0].configuration["PollForSourceChanges"],
        "false"
    );
    assert_eq!(pl.role_arn, PIPELINE_ROLE_1);
    // The source is in the app account: read through a source role there.
    let source_role = "arn:aws:iam::222222222222:role/tether/flow1/flow1-release-source";
    assert_eq!(
        pl.stages[0].actions[0].role_arn.as_deref(),
        Some(source_role)
    );
    assert_eq!(
        trusted_aws(role(&e, "app/global/iam_role.flow1-release-source")),
        set(&[PIPELINE_ROLE_1])
    );
    // It reads exactly the released object of the uploads bucket, not the whole bucket,
    // besides the artifacts it passes on to the pipeline.
    let artifacts = "arn:aws:s3:::flow1-artifacts-111111111111-us-east-1/*";
    let release_object = "arn:aws:s3:::flow1-app-uploads/releases/app.zip";
    let sp = identity(&e, "app/global/iam_role.flow1-release-source");
    assert_eq!(
        concerning(&sp, "s3:GetObject"),
        json!([
            {
                "Sid": "ArtifactsReadWrite",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectAcl"],
                "Resource": artifacts
            },
            {
                "Sid": "SourceObjects",
                "Effect": "Allow",
                "Action": [
                    "s3:GetObject",
                    "s3:GetObjectTagging",
                    "s3:GetObjectVersion",
                    "s3:GetObjectVersionTagging"
                ],
                "Resource": release_object
            }
        ])
    );

    // Creation order: rule and role before their target, bus before the forward target.
    let t = get(
        &e,
        "app/us-east-1/event_target.default/flow1-on-upload-forward/bus",
    );
    for dep in [
        "app/us-east-1/event_rule.default/flow1-on-upload-forward",
        "app/global/iam_role.flow1-on-upload-forward",
        "tools/us-east-1/event_bus.flow1-triggers",
    ] {
        assert!(
            t.depends_on.iter().any(|d| d.as_str() == dep),
            "target must depend on {dep}"
        );
    }
}

#[test]
fn flow1_disabled_trigger_disables_both_rules() {
    let text = example_text("flow1-upload-trigger.yaml")
        .replace("start: [release]", "start: [release]\n    enabled: false");
    let e = expand_text(&text);
    let rules: Vec<_> = e.resources.iter().filter_map(|r| r.rule()).collect();
    assert_eq!(rules.len(), 2);
    assert!(rules.iter().all(|r| r.state == "DISABLED"));
}

#[test]
fn flow1_same_account_and_region_collapses_to_one_rule() {
    let text = example_text("flow1-upload-trigger.yaml")
        .replace("uploads: { account: app,", "uploads: { account: tools,");
    let e = expand_text(&text);
    let rules: Vec<_> = e.resources.iter().filter_map(|r| r.rule()).collect();
    assert_eq!(rules.len(), 1, "one rule on the default bus");
    assert_eq!(rules[0].bus, "default");
    assert!(
        e.resources.iter().all(|r| r.bus().is_none()),
        "no bus is derived"
    );
    let targets: Vec<_> = e.resources.iter().filter_map(|r| r.target()).collect();
    assert_eq!(targets.len(), 1);
    assert_eq!(
        targets[0].arn,
        "arn:aws:codepipeline:us-east-1:111111111111:flow1-release"
    );
    assert!(e
        .resources
        .iter()
        .all(|r| !r.address.as_str().contains("forward")));
}

#[test]
fn flow2_tools_account_deploys_into_target_account() {
    let e = expand_file("flow2-tools-deploys.yaml");
    let pipeline_role = "arn:aws:iam::111111111111:role/tether/flow2/flow2-infra-pipeline";
    let action_role = "arn:aws:iam::333333333333:role/tether/flow2/flow2-infra-action";
    let exec_role = "arn:aws:iam::333333333333:role/tether/flow2/flow2-infra-cfn-exec";
    let commands_role = "arn:aws:iam::333333333333:role/tether/flow2/flow2-infra-commands";
    let terraform = "arn:aws:iam::333333333333:role/tether/flow2/flow2-terraform";

    // The Terraform role in dev trusts exactly the build's service role.
    let tf = role(&e, "dev/global/iam_role.flow2-terraform");
    assert_eq!(tf.arn, terraform);
    assert_eq!(
        trusted_aws(tf),
        set(&["arn:aws:iam::111111111111:role/tf-runner"])
    );
    assert!(trusted_service(tf).is_empty());
    assert_eq!(
        tf.managed_policies,
        set(&["arn:aws:iam::aws:policy/PowerUserAccess"])
    );

    // The state bucket admits that role, read-write, under dev/ only; and it is protected.
    let state = get(&e, "tools/eu-west-1/s3_bucket.flow2-tfstate-111111111111");
    assert_eq!(state.tags["tether:lifecycle"], "protect");
    let b = state.bucket().unwrap();
    assert!(b.protect);
    let bucket_policy = PolicyDocument::new(b.policy_statements.clone());
    let state_bucket = "arn:aws:s3:::flow2-tfstate-111111111111";
    let all_objects = "arn:aws:s3:::flow2-tfstate-111111111111/*";
    let objects = "arn:aws:s3:::flow2-tfstate-111111111111/dev/*";
    // Object access is these two statements and nothing else: the role gets `objects`
    // (dev/) and not `all_objects`, and everyone is refused without TLS.
    for action in ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"] {
        assert_eq!(
            concerning(&bucket_policy, action),
            json!([
                {
                    "Sid": "tether_flow2_DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [state_bucket, all_objects],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}}
                },
                {
                    "Sid": "tether_flow2_GrantObjects-terraform",
                    "Effect": "Allow",
                    "Principal": {"AWS": terraform},
                    "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
                    "Resource": objects
                }
            ]),
            "{action}"
        );
    }
    let list = b
        .policy_statements
        .iter()
        .find(|s| s.action.contains("s3:ListBucket"))
        .unwrap();
    assert_eq!(
        condition(list, "StringLike", "s3:prefix"),
        Some(set(&["dev/*"]))
    );
    // … and the role's own policy says the same, so the access works from both sides.
    let tf_policy = identity(&e, "dev/global/iam_role.flow2-terraform");
    assert_eq!(
        concerning(&tf_policy, "s3:PutObject"),
        json!([{
            "Sid": "BucketObjects0",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            "Resource": objects
        }])
    );

    // The action role in dev trusts exactly the pipeline role.
    let ar = role(&e, "dev/global/iam_role.flow2-infra-action");
    assert_eq!(ar.arn, action_role);
    assert_eq!(trusted_aws(ar), set(&[pipeline_role]));
    // It may deploy exactly the stack of its action.
    let ap = identity(&e, "dev/global/iam_role.flow2-infra-action");
    let app_stack = "arn:aws:cloudformation:eu-west-1:333333333333:stack/app/*";
    let db_stack = "arn:aws:cloudformation:eu-west-1:333333333333:stack/app-db/*";
    let deploy_stacks = |stack: &str| {
        json!([{
            "Sid": "DeployStacks",
            "Effect": "Allow",
            "Action": [
                "cloudformation:CreateChangeSet",
                "cloudformation:CreateStack",
                "cloudformation:DeleteChangeSet",
                "cloudformation:DeleteStack",
                "cloudformation:DescribeChangeSet",
                "cloudformation:DescribeStacks",
                "cloudformation:ExecuteChangeSet",
                "cloudformation:SetStackPolicy",
                "cloudformation:UpdateStack"
            ],
            "Resource": stack
        }])
    };
    for action in [
        "cloudformation:CreateStack",
        "cloudformation:ExecuteChangeSet",
    ] {
        assert_eq!(
            concerning(&ap, action),
            deploy_stacks(app_stack),
            "{action}"
        );
    }
    // It may pass only the execution role, and only to CloudFormation.
    let pass: Vec<_> = ap
        .statement
        .iter()
        .filter(|s| s.action.contains("iam:PassRole"))
        .collect();
    assert_eq!(pass.len(), 1);
    assert_eq!(resources(pass[0]), set(&[exec_role]));
    assert_eq!(
        condition(pass[0], "StringEquals", "iam:PassedToService"),
        Some(set(&["cloudformation.amazonaws.com"]))
    );

    // The execution role is trusted by CloudFormation in its own account only.
    let ex = role(&e, "dev/global/iam_role.flow2-infra-cfn-exec");
    let svc = trusted_service(ex);
    assert_eq!(svc.len(), 1);
    assert_eq!(
        svc[0].principal,
        Some(Principal::Service(["cloudformation.amazonaws.com"].into()))
    );
    // CloudFormation documents no aws:SourceAccount it would send: the guard is that
    // only the action role may pass the role, and only to CloudFormation (above).
    assert!(svc[0].condition.is_empty());
    assert!(trusted_aws(ex).is_empty());

    // The commands of `migrate` act in dev through a role of their own: trusted by
    // exactly the pipeline role, the commands' identity (a Commands action runs as the
    // pipeline role), allowed CloudFormation on exactly their stack and to pass the
    // execution role to CloudFormation only.
    let cr = role(&e, "dev/global/iam_role.flow2-infra-commands");
    assert_eq!(cr.arn, commands_role);
    assert_eq!(trusted_aws(cr), set(&[pipeline_role]));
    let cp = identity(&e, "dev/global/iam_role.flow2-infra-commands");
    assert_eq!(
        concerning(&cp, "cloudformation:CreateChangeSet"),
        deploy_stacks(db_stack)
    );
    assert_eq!(
        concerning(&cp, "iam:PassRole"),
        json!([{
            "Sid": "PassExecutionRoles",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": exec_role,
            "Condition": {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}
        }])
    );
    assert_eq!(cp.statement.len(), 2, "nothing else: {cp:?}");

    // The pipeline role may assume the action role and the commands role and nothing
    // else; start exactly its build project; use exactly its connection; write the
    // Commands action's logs to exactly its own log group.
    let pp = identity(&e, "tools/global/iam_role.flow2-infra-pipeline");
    assert_eq!(
        concerning(&pp, "sts:AssumeRole"),
        json!([
            {"Sid": "AssumeActionRoles", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": action_role},
            {"Sid": "AssumeCommandRoles", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": commands_role}
        ])
    );
    let group = "arn:aws:logs:eu-west-1:111111111111:log-group:/aws/codepipeline/flow2-infra";
    assert_eq!(
        concerning(&pp, "logs:PutLogEvents"),
        json!([{
            "Sid": "CommandLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [group, format!("{group}:log-stream:*")]
        }])
    );
    let project = "arn:aws:codebuild:eu-west-1:111111111111:project/tf-runner";
    let connection = "arn:aws:codeconnections:eu-west-1:111111111111:connection/6a1b9f3e-0000-4000-8000-000000000000";
    assert_eq!(
        concerning(&pp, "codebuild:StartBuild"),
        json!([{
            "Sid": "StartBuilds",
            "Effect": "Allow",
            "Action": ["codebuild:BatchGetBuilds", "codebuild:StartBuild"],
            "Resource": project
        }])
    );
    assert_eq!(
        concerning(&pp, "codeconnections:UseConnection"),
        json!([{
            "Sid": "UseConnections",
            "Effect": "Allow",
            "Action": ["codeconnections:UseConnection", "codestar-connections:UseConnection"],
            "Resource": connection
        }])
    );

    // The deploy actions run as the action role and pass the execution role.
    let pl = get(&e, "tools/eu-west-1/pipeline.flow2-infra")
        .pipeline()
        .unwrap();
    let deploy = &pl.stages[2].actions[0];
    assert_eq!(deploy.role_arn.as_deref(), Some(action_role));
    assert_eq!(deploy.configuration["RoleArn"], exec_role);
    assert_eq!(
        deploy.configuration["ParameterOverrides"],
        r#"{"Environment":"dev"}"#
    );
    // The Commands action runs as the pipeline role, in its account and region; its
    // commands get the role to assume and the execution role to pass, and use them.
    let migrate = &pl.stages[2].actions[1];
    assert_eq!(migrate.provider, "Commands");
    assert_eq!(migrate.role_arn, None);
    assert_eq!(migrate.region, None);
    assert_eq!(
        migrate.environment_variables,
        [
            (
                "TETHER_EXECUTION_ROLE_ARN".to_string(),
                exec_role.to_string()
            ),
            ("TETHER_ROLE_ARN".to_string(), commands_role.to_string()),
        ]
        .into()
    );
    let script = migrate.commands.join("\n");
    assert!(
        script.contains(r#"--role-arn "$TETHER_ROLE_ARN""#),
        "{script}"
    );
    assert!(
        script.contains(r#"--role-arn "$TETHER_EXECUTION_ROLE_ARN""#),
        "{script}"
    );
    // Pipeline variables reach the build.
    assert_eq!(pl.variables[0].name, "TF_ACTION");
    assert!(
        pl.stages[1].actions[0].configuration["EnvironmentVariables"]
            .contains("#{variables.TF_ACTION}")
    );
}

#[test]
fn flow3_source_in_another_account() {
    let e = expand_file("flow3-cross-account-source.yaml");
    let pipeline_role = "arn:aws:iam::111111111111:role/tether/flow3/flow3-app-pipeline";
    let source_role = "arn:aws:iam::222222222222:role/tether/flow3/flow3-app-source";
    let build_role = "arn:aws:iam::111111111111:role/app-build";
    let bucket_arn = "arn:aws:s3:::flow3-artifacts-111111111111-us-east-1";
    let objects = "arn:aws:s3:::flow3-artifacts-111111111111-us-east-1/*";

    // A role in the source account trusts exactly the pipeline role …
    let sr = role(&e, "app/global/iam_role.flow3-app-source");
    assert_eq!(sr.arn, source_role);
    assert_eq!(trusted_aws(sr), set(&[pipeline_role]));
    // … reads exactly the repository and writes artifacts to the pipeline's store.
    let sp = identity(&e, "app/global/iam_role.flow3-app-source");
    let repository = "arn:aws:codecommit:us-east-1:222222222222:app";
    for action in ["codecommit:GetBranch", "codecommit:UploadArchive"] {
        assert_eq!(
            concerning(&sp, action),
            json!([{
                "Sid": "SourceRepositories",
                "Effect": "Allow",
                "Action": [
                    "codecommit:CancelUploadArchive",
                    "codecommit:GetBranch",
                    "codecommit:GetCommit",
                    "codecommit:GetRepository",
                    "codecommit:GetUploadArchiveStatus",
                    "codecommit:UploadArchive"
                ],
                "Resource": repository
            }]),
            "{action}"
        );
    }
    assert_eq!(
        concerning(&sp, "s3:PutObject"),
        json!([{
            "Sid": "ArtifactsReadWrite",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectAcl"],
            "Resource": objects
        }])
    );
    let kms = sp
        .statement
        .iter()
        .find(|s| s.action.contains("kms:GenerateDataKey"))
        .unwrap();
    // The key by its ARN (known once the key exists), not `key/*` and an alias.
    assert_eq!(
        resources(kms),
        set(&["${tools/us-east-1/kms_key.flow3-artifacts.arn}"])
    );
    assert!(kms.condition.is_empty(), "{:?}", kms.condition);

    // The artifact bucket and key policies admit the source role to write.
    let bucket = get(
        &e,
        "tools/us-east-1/s3_bucket.flow3-artifacts-111111111111-us-east-1",
    )
    .bucket()
    .unwrap();
    let bp = PolicyDocument::new(bucket.policy_statements.clone());
    let deny_insecure = json!({
        "Sid": "tether_flow3_DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, objects],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}
    });
    // The build's service role (external) writes too: the build's output is written by
    // the build itself.
    let artifact_principals = json!({"AWS": [build_role, pipeline_role, source_role]});
    assert_eq!(
        concerning(&bp, "s3:PutObject"),
        json!([
            deny_insecure,
            {
                "Sid": "tether_flow3_ArtifactsWrite",
                "Effect": "Allow",
                "Principal": artifact_principals,
                "Action": "s3:PutObject",
                "Resource": objects
            }
        ])
    );
    assert_eq!(
        concerning(&bp, "s3:GetObject"),
        json!([
            deny_insecure,
            {
                "Sid": "tether_flow3_ArtifactsRead",
                "Effect": "Allow",
                "Principal": artifact_principals,
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": objects
            }
        ])
    );
    let key = get(&e, "tools/us-east-1/kms_key.flow3-artifacts")
        .key()
        .unwrap();
    let kp = PolicyDocument::new(key.policy_statements.clone());
    // The key's own account administers it (and so may do anything); the roles that
    // touch artifacts may encrypt and decrypt. `*` in a key policy is this key.
    let key_administration = json!({
        "Sid": "tether_flow3_KeyAdministration",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
        "Action": "kms:*",
        "Resource": "*"
    });
    assert_eq!(concerning(&kp, "kms:*"), json!([key_administration]));
    // The key names the roles' accounts, narrowed to the roles by `aws:PrincipalArn`:
    // the roles, which name the key's ARN, are created after it.
    let key_principals =
        json!({"AWS": ["arn:aws:iam::111111111111:root", "arn:aws:iam::222222222222:root"]});
    let key_users =
        json!({"ArnEquals": {"aws:PrincipalArn": [build_role, pipeline_role, source_role]}});
    assert_eq!(
        concerning(&kp, "kms:GenerateDataKey"),
        json!([
            key_administration,
            {
                "Sid": "tether_flow3_ArtifactsEncrypt",
                "Effect": "Allow",
                "Principal": key_principals,
                "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
                "Resource": "*",
                "Condition": key_users
            }
        ])
    );
    assert_eq!(
        concerning(&kp, "kms:Decrypt"),
        json!([
            key_administration,
            {
                "Sid": "tether_flow3_ArtifactsDecrypt",
                "Effect": "Allow",
                "Principal": key_principals,
                "Action": ["kms:Decrypt", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": key_users
            }
        ])
    );
    assert_eq!(key.alias, "alias/flow3-artifacts");

    // The bucket is encrypted with that key, versioned, private.
    assert_eq!(
        bucket.encryption,
        Some(tether::resource::Encryption::AwsKms {
            key: "${tools/us-east-1/kms_key.flow3-artifacts.arn}".into()
        })
    );
    assert!(bucket.versioning && bucket.block_public_access);

    // The pipeline's source action runs as the source role, which the pipeline may assume.
    let pl = get(&e, "tools/us-east-1/pipeline.flow3-app")
        .pipeline()
        .unwrap();
    let src = &pl.stages[0].actions[0];
    assert_eq!(src.provider, "CodeCommit");
    assert_eq!(src.role_arn.as_deref(), Some(source_role));
    assert_eq!(src.configuration["RepositoryName"], "app");
    let pp = identity(&e, "tools/global/iam_role.flow3-app-pipeline");
    assert_eq!(
        concerning(&pp, "sts:AssumeRole"),
        json!([{
            "Sid": "AssumeActionRoles",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": source_role
        }])
    );
    // The pipeline role is trusted by CodePipeline in its own account.
    let prole = role(&e, "tools/global/iam_role.flow3-app-pipeline");
    let svc = trusted_service(prole);
    assert_eq!(
        svc[0].principal,
        Some(Principal::Service(["codepipeline.amazonaws.com"].into()))
    );
    // CodePipeline's guidance shows this trust without a condition.
    assert!(svc[0].condition.is_empty());
    // Invoking the function in its own account needs no action role.
    assert_eq!(
        concerning(&pp, "lambda:InvokeFunction"),
        json!([{
            "Sid": "InvokeFunctions",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": "arn:aws:lambda:us-east-1:111111111111:function:release-notes"
        }])
    );
    assert_eq!(pl.stages[2].actions[0].input_artifacts, ["Build-build"]);

    // Changes are detected by events, not polling: a rule in `app` forwards the
    // branch's changes to the receiving bus in `tools`, which admits `app`, and a rule
    // there starts exactly this pipeline.
    assert_eq!(src.configuration["PollForSourceChanges"], "false");
    let forward = get(
        &e,
        "app/us-east-1/event_rule.default/flow3-app-commits-to-tools",
    )
    .rule()
    .unwrap();
    assert_eq!(forward.event_pattern["resources"], json!([repository]));
    assert_eq!(
        forward.event_pattern["detail"]["referenceName"],
        json!(["main"])
    );
    let bus_arn = "arn:aws:events:us-east-1:111111111111:event-bus/flow3-triggers";
    assert_eq!(
        concerning(
            &identity(&e, "app/global/iam_role.flow3-app-commits-to-tools"),
            "events:PutEvents"
        ),
        json!([{"Sid": "PutEvents", "Effect": "Allow", "Action": "events:PutEvents", "Resource": bus_arn}])
    );
    let bus = get(&e, "tools/us-east-1/event_bus.flow3-triggers")
        .bus()
        .unwrap();
    assert_eq!(
        bus.policy_statements[0].principal,
        Some(Principal::Aws(["arn:aws:iam::222222222222:root"].into()))
    );
    let start = get(
        &e,
        "tools/us-east-1/event_rule.flow3-triggers/flow3-app-app-starts-app",
    )
    .rule()
    .unwrap();
    assert_eq!(start.event_pattern, forward.event_pattern);
    assert_eq!(
        concerning(
            &identity(&e, "tools/global/iam_role.flow3-app-app-starts-app"),
            "codepipeline:StartPipelineExecution"
        ),
        json!([{
            "Sid": "StartPipelines",
            "Effect": "Allow",
            "Action": "codepipeline:StartPipelineExecution",
            "Resource": "arn:aws:codepipeline:us-east-1:111111111111:flow3-app"
        }])
    );
}

#[test]
fn flow4_cross_account_and_cross_region() {
    let e = expand_file("flow4-multi-region.yaml");
    let pl = get(&e, "tools/us-east-1/pipeline.flow4-service")
        .pipeline()
        .unwrap();
    // One artifact store per region the pipeline acts in, each a bucket and key in tools.
    let regions: Vec<&str> = pl.artifact_stores.keys().map(String::as_str).collect();
    assert_eq!(regions, ["eu-central-1", "eu-west-1", "us-east-1"]);
    for (region, store) in &pl.artifact_stores {
        assert_eq!(
            store.bucket,
            format!("flow4-artifacts-111111111111-{region}")
        );
        assert_eq!(
            store.key,
            format!("${{tools/{region}/kms_key.flow4-artifacts.arn}}")
        );
        get(
            &e,
            &format!("tools/{region}/s3_bucket.flow4-artifacts-111111111111-{region}"),
        );
        get(&e, &format!("tools/{region}/kms_key.flow4-artifacts"));
    }
    // Change sets: create-replace then execute. In Prod the approver reviews a change
    // set that exists: it is created before the approval and executed after it.
    let prod = &pl.stages[3];
    let names: Vec<(&str, u32)> = prod
        .actions
        .iter()
        .map(|a| (a.name.as_str(), a.run_order))
        .collect();
    assert_eq!(
        names,
        [("deploy-create", 1), ("approve", 2), ("deploy-execute", 3)]
    );
    assert_eq!(
        prod.actions[0].configuration["ActionMode"],
        "CHANGE_SET_REPLACE"
    );
    assert_eq!(prod.actions[1].category, "Approval");
    assert_eq!(
        prod.actions[2].configuration["ActionMode"],
        "CHANGE_SET_EXECUTE"
    );
    assert_eq!(
        prod.actions[0].configuration["ChangeSetName"],
        prod.actions[2].configuration["ChangeSetName"]
    );
    assert_eq!(prod.actions[0].region.as_deref(), Some("eu-central-1"));
    assert_eq!(
        pl.stages[1].actions[0].region, None,
        "dev deploys in the pipeline's region"
    );
    assert_eq!(pl.stages[2].actions[0].region.as_deref(), Some("eu-west-1"));
    // The approval may notify exactly its topic.
    let pp = identity(&e, "tools/global/iam_role.flow4-service-pipeline");
    assert_eq!(
        concerning(&pp, "sns:Publish"),
        json!([{
            "Sid": "NotifyApprovers",
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": "arn:aws:sns:us-east-1:111111111111:releases"
        }])
    );

    // The prod action role reads only the eu-central-1 store, and that store admits it.
    let pipeline_role = "arn:aws:iam::111111111111:role/tether/flow4/flow4-service-pipeline";
    let prod_role = "arn:aws:iam::444444444444:role/tether/flow4/flow4-service-action";
    let prod_exec = "arn:aws:iam::444444444444:role/tether/flow4/flow4-service-cfn-exec";
    let eu_bucket = "arn:aws:s3:::flow4-artifacts-111111111111-eu-central-1";
    let eu_objects = "arn:aws:s3:::flow4-artifacts-111111111111-eu-central-1/*";
    let ap = identity(&e, "prod/global/iam_role.flow4-service-action");
    // Reading names the eu-central-1 objects alone (not the us-east-1 store); writing
    // is granted nowhere.
    assert_eq!(
        concerning(&ap, "s3:GetObject"),
        json!([{
            "Sid": "ArtifactsRead",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": eu_objects
        }])
    );
    assert_eq!(concerning(&ap, "s3:PutObject"), json!([]));
    let eu = get(
        &e,
        "tools/eu-central-1/s3_bucket.flow4-artifacts-111111111111-eu-central-1",
    )
    .bucket()
    .unwrap();
    let bp = PolicyDocument::new(eu.policy_statements.clone());
    assert_eq!(
        concerning(&bp, "s3:GetObject"),
        json!([
            {
                "Sid": "tether_flow4_DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [eu_bucket, eu_objects],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            },
            {
                "Sid": "tether_flow4_ArtifactsRead",
                "Effect": "Allow",
                "Principal": {"AWS": [pipeline_role, prod_role, prod_exec]},
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": eu_objects
            }
        ])
    );
    // The stack's execution role reads the artifacts of its region too (a template's
    // packaged code and nested templates are read with it), and only reads: the key
    // lets it decrypt and nothing else, and no statement that writes names it, in the
    // bucket (by principal) or the key (by aws:PrincipalArn, its principals being
    // accounts).
    let eu_key = &get(&e, "tools/eu-central-1/kms_key.flow4-artifacts")
        .key()
        .unwrap()
        .policy_statements;
    let names_exec = |s: &Statement| {
        s.aws_principals().any(|p| p == prod_exec)
            || condition(s, "ArnEquals", "aws:PrincipalArn").is_some_and(|a| a.contains(prod_exec))
    };
    let decrypts: Vec<_> = eu_key
        .iter()
        .filter(|s| names_exec(s))
        .map(actions)
        .collect();
    assert_eq!(decrypts, [set(&["kms:Decrypt", "kms:DescribeKey"])]);
    assert_eq!(concerning(&bp, "s3:PutObject").as_array().unwrap().len(), 2);
    for s in bp.statement.iter().chain(eu_key) {
        let writes = s
            .action
            .iter()
            .any(|a| a.starts_with("s3:Put") || a == "kms:Encrypt" || a == "kms:GenerateDataKey");
        if writes {
            assert!(!names_exec(s), "{s:?}");
        }
    }
    let xp = identity(&e, "prod/global/iam_role.flow4-service-cfn-exec");
    assert_eq!(
        concerning(&xp, "s3:GetObject"),
        json!([{
            "Sid": "ArtifactsRead",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": eu_objects
        }])
    );
    assert_eq!(concerning(&xp, "s3:PutObject"), json!([]));
    assert_eq!(concerning(&xp, "kms:GenerateDataKey"), json!([]));
    let us = get(
        &e,
        "tools/us-east-1/s3_bucket.flow4-artifacts-111111111111-us-east-1",
    )
    .bucket()
    .unwrap();
    assert!(!us
        .policy_statements
        .iter()
        .any(|s| s.aws_principals().any(|p| p == prod_role)));

    // Adding a region is one line: a new store appears, nothing else moves.
    let text = example_text("flow4-multi-region.yaml").replace(
        "              region: eu-central-1\n",
        "              region: ap-southeast-2\n",
    );
    let e2 = expand_text(&text);
    let pl2 = get(&e2, "tools/us-east-1/pipeline.flow4-service")
        .pipeline()
        .unwrap();
    assert!(pl2.artifact_stores.contains_key("ap-southeast-2"));
    assert!(!pl2.artifact_stores.contains_key("eu-central-1"));
    get(&e2, "tools/ap-southeast-2/kms_key.flow4-artifacts");
}

#[test]
fn derived_policies_are_least_privilege_in_every_example() {
    for file in crate::examples::examples() {
        let e = tether::check_file(&file).unwrap().expansion;
        let topology = e.topology.clone();
        for r in &e.resources {
            let mut statements: Vec<(&str, &Statement)> = Vec::new();
            match &r.spec {
                Spec::IamRole(role) => {
                    assert_eq!(role.path, format!("/tether/{topology}/"), "{}", r.address);
                    assert!(role.name.len() <= 64, "{}", r.address);
                    for s in &role.trust_policy.statement {
                        // Only EventBridge documents sending aws:SourceAccount and
                        // aws:SourceArn when it assumes a role; a condition on a key a
                        // service does not send would lock the service out.
                        if let Some(Principal::Service(svc)) = &s.principal {
                            let events = svc.contains("events.amazonaws.com");
                            assert_eq!(
                                condition(s, "StringEquals", "aws:SourceAccount").is_some(),
                                events,
                                "{}: aws:SourceAccount on a service trust means EventBridge",
                                r.address
                            );
                            assert!(
                                events || condition(s, "ArnEquals", "aws:SourceArn").is_none(),
                                "{}",
                                r.address
                            );
                        }
                        assert_eq!(actions(s), set(&["sts:AssumeRole"]), "{}", r.address);
                    }
                    // Inline statements the user wrote are theirs; check only derived ones.
                    if let Some(p) = role.inline_policies.get("tether") {
                        statements.extend(p.statement.iter().map(|s| ("identity", s)));
                    }
                }
                Spec::S3Bucket(b) => {
                    assert!(b.name.len() <= 63);
                    assert!(b.block_public_access);
                    let tls = b
                        .policy_statements
                        .iter()
                        .find(|s| s.effect == Effect::Deny)
                        .expect("TLS-only");
                    assert_eq!(
                        condition(tls, "Bool", "aws:SecureTransport"),
                        Some(set(&["false"]))
                    );
                    statements.extend(b.policy_statements.iter().map(|s| ("bucket", s)));
                }
                Spec::KmsKey(k) => {
                    statements.extend(k.policy_statements.iter().map(|s| ("key", s)))
                }
                Spec::EventBus(b) => {
                    statements.extend(b.policy_statements.iter().map(|s| ("bus", s)))
                }
                _ => {}
            }
            for (kind, s) in statements {
                if kind != "identity" {
                    let sid = s.sid.as_deref().unwrap_or("");
                    assert!(
                        sid.starts_with(&format!("tether_{topology}_")),
                        "{}: managed statement without tether's Sid prefix: {sid}",
                        r.address
                    );
                }
                if s.effect == Effect::Deny {
                    continue;
                }
                let key_admin = kind == "key"
                    && s.sid
                        .as_deref()
                        .is_some_and(|x| x.ends_with("KeyAdministration"));
                for a in s.action.iter() {
                    assert!(
                        !a.contains('*') || key_admin,
                        "{}: derived Allow with wildcard action {a}",
                        r.address
                    );
                }
                if key_admin {
                    assert_eq!(
                        s.aws_principals().collect::<Vec<_>>(),
                        [format!("arn:aws:iam::{}:root", r.account_id)]
                    );
                }
                if s.action.contains("iam:PassRole") {
                    assert!(
                        condition(s, "StringEquals", "iam:PassedToService").is_some(),
                        "{}",
                        r.address
                    );
                }
                if kind == "identity" {
                    for res in resources(s) {
                        assert!(
                            res != "*",
                            "{}: identity statement on every resource",
                            r.address
                        );
                    }
                }
            }
            if !matches!(r.spec, Spec::EventTarget(_)) {
                assert_eq!(r.tags["tether:topology"], topology, "{}", r.address);
                assert_eq!(
                    r.tags["tether:address"],
                    r.address.as_str(),
                    "{}",
                    r.address
                );
            }
        }
    }
}

#[test]
fn long_names_are_shortened_with_a_stable_hash() {
    let text = example_text("flow3-cross-account-source.yaml").replace(
        "  app:\n    account: tools\n    source",
        "  an-application-pipeline-whose-name-is-long-enough-to-overflow:\n    account: tools\n    source",
    );
    let e = expand_text(&text);
    let roles: Vec<&str> = e
        .resources
        .iter()
        .filter_map(|r| r.role())
        .map(|r| r.name.as_str())
        .collect();
    assert!(roles.iter().all(|n| n.len() <= 64), "{roles:?}");
    let pipeline_role = roles
        .iter()
        .find(|n| n.starts_with("flow3-an-application"))
        .unwrap();
    let source_role = roles
        .iter()
        .filter(|n| n.starts_with("flow3-an-application"))
        .nth(1)
        .unwrap();
    assert_ne!(
        pipeline_role, source_role,
        "shortened names must stay distinct"
    );
    assert_eq!(
        serde_yaml::to_string(&e).unwrap(),
        serde_yaml::to_string(&expand_text(&text)).unwrap(),
        "and stable"
    );
}

/// An execution role (or a role to assume) that no command uses is a trap: every
/// Commands action of the examples uses what tether hands it.
#[test]
fn example_commands_use_the_roles_they_are_given() {
    let mut seen = 0;
    for file in crate::examples::examples() {
        let e = tether::check_file(&file).unwrap().expansion;
        for p in e.resources.iter().filter_map(|r| r.pipeline()) {
            for a in p.stages.iter().flat_map(|s| &s.actions) {
                if a.provider != "Commands" {
                    continue;
                }
                let script = a.commands.join("\n");
                for var in a.environment_variables.keys() {
                    seen += 1;
                    assert!(
                        script.contains(&format!("\"${var}\"")),
                        "{}: {}: ${var} is set and no command uses it:\n{script}",
                        file.display(),
                        a.name
                    );
                }
            }
        }
    }
    assert!(
        seen >= 4,
        "the examples show Commands acting in another account"
    );
}
