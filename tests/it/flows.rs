//! The four flows of the spec, checked on the policies themselves: who may do what on
//! which ARN, not how many resources there are.

use crate::root;
use tether::expand::policy::{Effect, PolicyDocument, Principal, Statement};
use tether::expand::resource::{Resource, Spec};
use tether::expand::Expansion;

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

fn role<'a>(e: &'a Expansion, address: &str) -> &'a tether::expand::resource::RoleSpec {
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
fn trusted_aws(r: &tether::expand::resource::RoleSpec) -> std::collections::BTreeSet<String> {
    r.trust_policy
        .statement
        .iter()
        .flat_map(|s| s.aws_principals().map(String::from).collect::<Vec<_>>())
        .collect()
}

fn trusted_service(r: &tether::expand::resource::RoleSpec) -> Vec<&Statement> {
    r.trust_policy
        .statement
        .iter()
        .filter(|s| matches!(s.principal, Some(Principal::Service(_))))
        .collect()
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

    // Source side: a rule on the app account's default bus matching the bucket and prefix.
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
            "detail": {"bucket": {"name": ["flow1-app-uploads"]}, "object": {"key": [{"prefix": "releases/"}]}}
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
    let sp = identity(&e, "app/global/iam_role.flow1-release-source");
    assert!(sp.allows(
        "",
        "s3:GetObject",
        "arn:aws:s3:::flow1-app-uploads/releases/app.zip"
    ));
    assert!(!sp.allows("", "s3:GetObject", "arn:aws:s3:::flow1-app-uploads/*"));

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
    let objects = "arn:aws:s3:::flow2-tfstate-111111111111/dev/*";
    for action in ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"] {
        assert!(bucket_policy.allows(terraform, action, objects), "{action}");
    }
    assert!(!bucket_policy.allows(
        terraform,
        "s3:PutObject",
        "arn:aws:s3:::flow2-tfstate-111111111111/*"
    ));
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
    assert!(tf_policy.allows("", "s3:PutObject", objects));

    // The action role in dev trusts exactly the pipeline role.
    let ar = role(&e, "dev/global/iam_role.flow2-infra-action");
    assert_eq!(ar.arn, action_role);
    assert_eq!(trusted_aws(ar), set(&[pipeline_role]));
    let ap = identity(&e, "dev/global/iam_role.flow2-infra-action");
    for stack in ["app", "app-db"] {
        let arn = format!("arn:aws:cloudformation:eu-west-1:333333333333:stack/{stack}/*");
        assert!(ap.allows("", "cloudformation:CreateStack", &arn), "{stack}");
        assert!(
            ap.allows("", "cloudformation:ExecuteChangeSet", &arn),
            "{stack}"
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
    assert_eq!(
        condition(svc[0], "StringEquals", "aws:SourceAccount"),
        Some(set(&["333333333333"]))
    );
    assert!(trusted_aws(ex).is_empty());

    // The pipeline role may assume the action role and nothing else; start exactly its
    // build project; use exactly its connection.
    let pp = identity(&e, "tools/global/iam_role.flow2-infra-pipeline");
    let assume: Vec<_> = pp
        .statement
        .iter()
        .filter(|s| s.action.contains("sts:AssumeRole"))
        .collect();
    assert_eq!(assume.len(), 1);
    assert_eq!(resources(assume[0]), set(&[action_role]));
    assert!(pp.allows(
        "",
        "codebuild:StartBuild",
        "arn:aws:codebuild:eu-west-1:111111111111:project/tf-runner"
    ));
    assert!(pp.allows(
        "",
        "codeconnections:UseConnection",
        "arn:aws:codeconnections:eu-west-1:111111111111:connection/6a1b9f3e-0000-4000-8000-000000000000"
    ));

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
    let migrate = &pl.stages[2].actions[1];
    assert_eq!(migrate.provider, "Commands");
    assert_eq!(migrate.role_arn.as_deref(), Some(action_role));
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
    let bucket_arn = "arn:aws:s3:::flow3-artifacts-111111111111-us-east-1";

    // A role in the source account trusts exactly the pipeline role …
    let sr = role(&e, "app/global/iam_role.flow3-app-source");
    assert_eq!(sr.arn, source_role);
    assert_eq!(trusted_aws(sr), set(&[pipeline_role]));
    // … reads exactly the repository and writes artifacts to the pipeline's store.
    let sp = identity(&e, "app/global/iam_role.flow3-app-source");
    assert!(sp.allows(
        "",
        "codecommit:GetBranch",
        "arn:aws:codecommit:us-east-1:222222222222:app"
    ));
    assert!(sp.allows(
        "",
        "codecommit:UploadArchive",
        "arn:aws:codecommit:us-east-1:222222222222:app"
    ));
    assert!(sp.allows("", "s3:PutObject", &format!("{bucket_arn}/*")));
    let kms = sp
        .statement
        .iter()
        .find(|s| s.action.contains("kms:GenerateDataKey"))
        .unwrap();
    assert_eq!(
        resources(kms),
        set(&["arn:aws:kms:us-east-1:111111111111:key/*"])
    );
    assert_eq!(
        condition(kms, "ForAnyValue:StringEquals", "kms:ResourceAliases"),
        Some(set(&["alias/flow3-artifacts"]))
    );

    // The artifact bucket and key policies admit the source role to write.
    let bucket = get(
        &e,
        "tools/us-east-1/s3_bucket.flow3-artifacts-111111111111-us-east-1",
    )
    .bucket()
    .unwrap();
    let bp = PolicyDocument::new(bucket.policy_statements.clone());
    assert!(bp.allows(source_role, "s3:PutObject", &format!("{bucket_arn}/*")));
    assert!(bp.allows(pipeline_role, "s3:GetObject", &format!("{bucket_arn}/*")));
    // The build's service role (external) may read but not write: the build's output
    // is written by … the build itself, so it writes too.
    assert!(bp.allows(
        "arn:aws:iam::111111111111:role/app-build",
        "s3:PutObject",
        &format!("{bucket_arn}/*")
    ));
    let key = get(&e, "tools/us-east-1/kms_key.flow3-artifacts")
        .key()
        .unwrap();
    let kp = PolicyDocument::new(key.policy_statements.clone());
    assert!(kp.allows(source_role, "kms:GenerateDataKey", "*"));
    assert!(kp.allows(source_role, "kms:Decrypt", "*"));
    assert!(kp.allows("arn:aws:iam::111111111111:root", "kms:*", "*"));
    assert_eq!(key.alias, "alias/flow3-artifacts");

    // The bucket is encrypted with that key, versioned, private.
    assert_eq!(
        bucket.encryption,
        tether::expand::resource::Encryption::AwsKms {
            key: "arn:aws:kms:us-east-1:111111111111:alias/flow3-artifacts".into()
        }
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
    assert!(pp.allows("", "sts:AssumeRole", source_role));
    // The pipeline role is trusted by CodePipeline in its own account.
    let prole = role(&e, "tools/global/iam_role.flow3-app-pipeline");
    let svc = trusted_service(prole);
    assert_eq!(
        svc[0].principal,
        Some(Principal::Service(["codepipeline.amazonaws.com"].into()))
    );
    assert_eq!(
        condition(svc[0], "StringEquals", "aws:SourceAccount"),
        Some(set(&["111111111111"]))
    );
    // Invoking the function in its own account needs no action role.
    assert!(pp.allows(
        "",
        "lambda:InvokeFunction",
        "arn:aws:lambda:us-east-1:111111111111:function:release-notes"
    ));
    assert_eq!(pl.stages[2].actions[0].input_artifacts, ["Build-build"]);
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
            format!("arn:aws:kms:{region}:111111111111:alias/flow4-artifacts")
        );
        get(
            &e,
            &format!("tools/{region}/s3_bucket.flow4-artifacts-111111111111-{region}"),
        );
        get(&e, &format!("tools/{region}/kms_key.flow4-artifacts"));
    }
    // Change sets: create-replace then execute; the approval comes first in Prod.
    let prod = &pl.stages[3];
    let names: Vec<(&str, u32)> = prod
        .actions
        .iter()
        .map(|a| (a.name.as_str(), a.run_order))
        .collect();
    assert_eq!(
        names,
        [("approve", 1), ("deploy-create", 2), ("deploy-execute", 3)]
    );
    assert_eq!(
        prod.actions[1].configuration["ActionMode"],
        "CHANGE_SET_REPLACE"
    );
    assert_eq!(
        prod.actions[2].configuration["ActionMode"],
        "CHANGE_SET_EXECUTE"
    );
    assert_eq!(prod.actions[1].region.as_deref(), Some("eu-central-1"));
    assert_eq!(
        pl.stages[1].actions[0].region, None,
        "dev deploys in the pipeline's region"
    );
    assert_eq!(pl.stages[2].actions[0].region.as_deref(), Some("eu-west-1"));
    // The approval may notify exactly its topic.
    let pp = identity(&e, "tools/global/iam_role.flow4-service-pipeline");
    assert!(pp.allows(
        "",
        "sns:Publish",
        "arn:aws:sns:us-east-1:111111111111:releases"
    ));

    // The prod action role reads only the eu-central-1 store, and that store admits it.
    let prod_role = "arn:aws:iam::444444444444:role/tether/flow4/flow4-service-action";
    let ap = identity(&e, "prod/global/iam_role.flow4-service-action");
    assert!(ap.allows(
        "",
        "s3:GetObject",
        "arn:aws:s3:::flow4-artifacts-111111111111-eu-central-1/*"
    ));
    assert!(!ap.allows(
        "",
        "s3:GetObject",
        "arn:aws:s3:::flow4-artifacts-111111111111-us-east-1/*"
    ));
    assert!(!ap.allows(
        "",
        "s3:PutObject",
        "arn:aws:s3:::flow4-artifacts-111111111111-eu-central-1/*"
    ));
    let eu = get(
        &e,
        "tools/eu-central-1/s3_bucket.flow4-artifacts-111111111111-eu-central-1",
    )
    .bucket()
    .unwrap();
    let bp = PolicyDocument::new(eu.policy_statements.clone());
    assert!(bp.allows(
        prod_role,
        "s3:GetObject",
        "arn:aws:s3:::flow4-artifacts-111111111111-eu-central-1/*"
    ));
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
                        if let Some(Principal::Service(_)) = &s.principal {
                            assert!(
                                condition(s, "StringEquals", "aws:SourceAccount").is_some(),
                                "{}: service trust without aws:SourceAccount",
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
