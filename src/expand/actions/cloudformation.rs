//! A CloudFormation deployment (CodePipeline's `CloudFormation` deploy action): run by
//! the pipeline role in its own account or by the pipeline's action role in the target
//! account, which passes the stack's execution role to CloudFormation.

use super::Pipe;
use crate::expand::cfg;
use crate::expand::Ex;
use crate::model::{Action, ActionKind};
use crate::resource::ActionSpec;

/// One declaration, or two for a change set: create-replace it, then execute it.
pub(super) fn declare(
    ex: &mut Ex,
    p: &mut Pipe,
    act: &Action,
    base: ActionSpec,
) -> Vec<ActionSpec> {
    let ActionKind::CloudFormation {
        account: target,
        region,
        stack,
        template,
        parameters,
        capabilities,
        change_set,
        execution,
    } = &act.kind
    else {
        unreachable!("dispatched on the kind")
    };
    let actor = ex.actor(p, target, region, &act.origin);
    let exec = ex.execution(p, target, region, execution, &act.origin);
    ex.deploys(&actor, target, region, std::slice::from_ref(stack), &exec);
    let mut conf = cfg(&[("StackName", stack.as_str()), ("RoleArn", exec.as_str())]);
    if let Some(i) = &act.input {
        conf.insert("TemplatePath".into(), format!("{i}::{template}"));
    }
    if !capabilities.is_empty() {
        conf.insert("Capabilities".into(), capabilities.join(","));
    }
    if !parameters.is_empty() {
        conf.insert(
            "ParameterOverrides".into(),
            serde_json::to_string(parameters).expect("string map serialises"),
        );
    }
    let deploy = ActionSpec {
        category: "Deploy".into(),
        provider: "CloudFormation".into(),
        role_arn: ex.actor_arn(p, target),
        region: p.elsewhere(region),
        ..base
    };
    if !*change_set {
        let mut s = deploy;
        conf.insert("ActionMode".into(), "CREATE_UPDATE".into());
        s.configuration = conf;
        return vec![s];
    }
    let change_set_name = format!("tether-{stack}");
    let mut create = deploy.clone();
    create.name = format!("{}-create", act.name);
    create.configuration = conf;
    create
        .configuration
        .insert("ActionMode".into(), "CHANGE_SET_REPLACE".into());
    create
        .configuration
        .insert("ChangeSetName".into(), change_set_name.clone());
    let mut execute = deploy;
    execute.name = format!("{}-execute", act.name);
    execute.run_order = create.run_order + 1;
    execute.input_artifacts = Vec::new();
    execute.configuration = cfg(&[
        ("ActionMode", "CHANGE_SET_EXECUTE"),
        ("ChangeSetName", change_set_name.as_str()),
        ("StackName", stack.as_str()),
    ]);
    vec![create, execute]
}

#[cfg(test)]
mod tests {
    use crate::expand::actions::testing::*;
    use serde_json::json;

    /// Deployments into `dev` in another region, with each kind of execution role.
    fn topology(execution: &str) -> String {
        with_stage(
            "roles:\n  deployer: { account: dev, trust: [{ service: cloudformation.amazonaws.com }] }",
            &format!(
                "{{ name: deploy, cloudformation: {{ account: dev, region: eu-west-1, stack: app, template: t.yaml, {execution} }} }}"
            ),
        )
    }

    const EU_BUCKET: &str = "arn:aws:s3:::t-artifacts-111111111111-eu-west-1";
    const EU_OBJECTS: &str = "arn:aws:s3:::t-artifacts-111111111111-eu-west-1/*";

    /// Read-only admission of `principal` to the eu-west-1 store: both sides of the
    /// bucket and of the key, and nothing that writes.
    fn admitted_read_only(e: &crate::expand::Expansion, principal: &str) {
        let bucket = "t-artifacts-111111111111-eu-west-1";
        let read = managed(e, "s3_bucket", bucket, "_ArtifactsRead").unwrap();
        assert_eq!(
            read["Action"],
            json!(["s3:GetObject", "s3:GetObjectVersion"])
        );
        assert!(principals(&read).contains(&principal.to_string()), "{read}");
        for writes in ["_ArtifactsWrite", "_ArtifactsWriteAcl"] {
            if let Some(w) = managed(e, "s3_bucket", bucket, writes) {
                assert!(!principals(&w).contains(&principal.to_string()), "{w}");
            }
        }
        // The key of eu-west-1 (the keys of a topology share an alias). Its policy names
        // the roles' accounts, narrowed to the roles by aws:PrincipalArn.
        let keys: Vec<_> = e
            .resources
            .iter()
            .filter(|r| r.region == "eu-west-1")
            .filter_map(|r| r.key())
            .collect();
        assert_eq!(keys.len(), 1);
        let in_key = |suffix: &str| {
            keys[0]
                .policy_statements
                .iter()
                .find(|s| s.sid.as_deref().unwrap().ends_with(suffix))
                .and_then(|s| s.condition.get("ArnEquals"))
                .and_then(|c| c.get("aws:PrincipalArn"))
                .is_some_and(|arns| arns.contains(principal))
        };
        assert!(in_key("_ArtifactsDecrypt"));
        assert!(!in_key("_ArtifactsEncrypt"));
    }

    fn principals(s: &serde_json::Value) -> Vec<String> {
        match &s["Principal"]["AWS"] {
            serde_json::Value::String(p) => vec![p.clone()],
            serde_json::Value::Array(a) => {
                a.iter().map(|p| p.as_str().unwrap().to_string()).collect()
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn a_derived_execution_role_reads_the_artifacts_of_its_region() {
        let e = expand(&topology(
            r#"execution_policies: ["arn:aws:iam::aws:policy/PowerUserAccess"]"#,
        ));
        let exec = "arn:aws:iam::333333333333:role/tether/t/t-main-cfn-exec";
        // Its own policy: the objects and the key of eu-west-1, read-only, nothing else.
        assert_eq!(
            identity(&e, "t-main-cfn-exec"),
            vec![
                json!({
                    "Sid": "ArtifactKeysRead",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt", "kms:DescribeKey"],
                    "Resource": "${tools/eu-west-1/kms_key.t-artifacts.arn}"
                }),
                json!({
                    "Sid": "ArtifactsRead",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                    "Resource": EU_OBJECTS
                }),
            ]
        );
        admitted_read_only(&e, exec);
    }

    #[test]
    fn a_referenced_execution_role_is_admitted_to_the_artifacts_of_its_region() {
        // A role of the topology: tether writes its policy too.
        let e = expand(&topology("execution_role: deployer"));
        let deployer = "arn:aws:iam::333333333333:role/tether/t/t-deployer";
        admitted_read_only(&e, deployer);
        assert_eq!(
            sid(&e, "t-deployer", "ArtifactsRead").unwrap()["Resource"],
            json!(EU_OBJECTS)
        );
        // A role by ARN is never modified: the bucket and key policies admit it.
        let arn = "arn:aws:iam::333333333333:role/Deployer";
        let e = expand(&topology(&format!("execution_role: \"{arn}\"")));
        admitted_read_only(&e, arn);
        // Bucket-level reads stay with the roles that run actions.
        let bucket = managed(
            &e,
            "s3_bucket",
            "t-artifacts-111111111111-eu-west-1",
            "_ArtifactsBucket",
        )
        .unwrap();
        assert!(!principals(&bucket).contains(&arn.to_string()));
        assert_eq!(bucket["Resource"], json!(EU_BUCKET));
    }

    #[test]
    fn the_deploying_role_may_do_what_the_cloudformation_action_needs_on_its_stack() {
        let e = expand(&topology(
            r#"execution_policies: ["arn:aws:iam::aws:policy/PowerUserAccess"]"#,
        ));
        assert_eq!(
            sid(&e, "t-main-action", "DeployStacks").unwrap(),
            json!({
                "Sid": "DeployStacks",
                "Effect": "Allow",
                "Action": super::super::DEPLOY_ACTIONS,
                "Resource": "arn:aws:cloudformation:eu-west-1:333333333333:stack/app/*"
            })
        );
    }
}
