//! Shell commands (CodePipeline's V2 `Commands` compute action), run as seed 001 runs
//! them. CodePipeline supports no cross-account or cross-Region Commands action and runs
//! the commands as the pipeline role ("Commands action reference", Considerations,
//! https://docs.aws.amazon.com/codepipeline/latest/userguide/action-reference-Commands.html),
//! so the action always runs in the pipeline's account and region, as the pipeline
//! role, which writes its logs. Commands that act in another account assume a role
//! there that tether derives; that role's ARN and the execution role's reach the
//! commands as environment variables ([`ROLE_VAR`], [`EXECUTION_ROLE_VAR`]).

use super::{Pipe, Purpose};
use crate::expand::Ex;
use crate::model::{Action, ActionKind};
use crate::resource::ActionSpec;
use std::collections::BTreeMap;

/// The role the commands assume to act in the account the action names (set only when
/// that is not the pipeline's account).
pub const ROLE_VAR: &str = "TETHER_ROLE_ARN";
/// The execution role the commands pass to CloudFormation (`--role-arn`) for `stacks`.
pub const EXECUTION_ROLE_VAR: &str = "TETHER_EXECUTION_ROLE_ARN";

pub(super) fn declare(ex: &mut Ex, p: &mut Pipe, act: &Action, base: ActionSpec) -> ActionSpec {
    let ActionKind::Commands {
        account: target,
        region: _,
        commands,
        stacks,
        execution,
    } = &act.kind
    else {
        unreachable!("dispatched on the kind")
    };
    // `validate` holds the action's region to the pipeline's.
    let region = p.pl.region.clone();
    let pid = ex.id(&p.pl.account);
    // "Service role permissions: Commands action": the logs of the pipeline's own log
    // group (log-group and log-stream ARNs: Service Authorization Reference, Amazon
    // CloudWatch Logs).
    let group = format!(
        "arn:{}:logs:{region}:{pid}:log-group:/aws/codepipeline/{}",
        region.partition(),
        p.pl.name
    );
    ex.allow(
        &p.role,
        "CommandLogs",
        [
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        ],
        [group.clone(), format!("{group}:log-stream:*")],
    );
    let mut env = BTreeMap::new();
    if let Some(execution) = execution {
        let actor = if *target == p.pl.account {
            p.role.clone()
        } else {
            let (address, arn) = ex.pipeline_role(p, Purpose::Commands, target, &act.origin);
            env.insert(ROLE_VAR.to_string(), arn);
            address
        };
        let exec = ex.execution(p, target, &region, execution, &act.origin);
        ex.deploys(&actor, target, &region, stacks, &exec);
        env.insert(EXECUTION_ROLE_VAR.to_string(), exec);
    }
    ActionSpec {
        category: "Compute".into(),
        provider: "Commands".into(),
        commands: commands.clone(),
        environment_variables: env,
        ..base
    }
}

#[cfg(test)]
mod tests {
    use crate::expand::actions::testing::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn topology(commands: &str) -> String {
        with_stage(
            "",
            &format!(
                r#"{{ name: migrate, commands: {{ {commands}, commands: ["echo migrate"], stacks: [app-db], execution_policies: ["arn:aws:iam::aws:policy/PowerUserAccess"] }} }}"#
            ),
        )
    }

    const PIPELINE_ROLE: &str = "arn:aws:iam::111111111111:role/tether/t/t-main-pipeline";

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// "Commands action reference", Service role permissions: the action writes its
    /// logs to `/aws/codepipeline/<pipeline>` as the pipeline role.
    fn logs() -> serde_json::Value {
        json!({
            "Sid": "CommandLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [
                "arn:aws:logs:us-east-1:111111111111:log-group:/aws/codepipeline/t-main",
                "arn:aws:logs:us-east-1:111111111111:log-group:/aws/codepipeline/t-main:log-stream:*"
            ]
        })
    }

    /// CodePipeline runs a Commands action in the pipeline's account and region as the
    /// pipeline role (no cross-account or cross-Region Commands action): that role
    /// writes the logs and, for stacks of its own account, deploys them itself.
    #[test]
    fn commands_run_as_the_pipeline_role_in_its_account_and_region() {
        let e = expand(&topology("account: tools"));
        let a = action(pipeline(&e, "t-main"), "migrate");
        assert_eq!(
            (a.category.as_str(), a.provider.as_str()),
            ("Compute", "Commands")
        );
        assert_eq!(a.role_arn, None);
        assert_eq!(a.region, None);
        let exec = "arn:aws:iam::111111111111:role/tether/t/t-main-cfn-exec";
        assert_eq!(
            a.environment_variables,
            env(&[("TETHER_EXECUTION_ROLE_ARN", exec)])
        );
        assert_eq!(sid(&e, "t-main-pipeline", "CommandLogs").unwrap(), logs());
        assert_eq!(
            sid(&e, "t-main-pipeline", "DeployStacks").unwrap()["Resource"],
            json!("arn:aws:cloudformation:us-east-1:111111111111:stack/app-db/*")
        );
        assert_eq!(
            sid(&e, "t-main-pipeline", "PassExecutionRoles").unwrap(),
            json!({
                "Sid": "PassExecutionRoles",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": exec,
                "Condition": {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}
            })
        );
    }

    /// To act in another account the commands assume a role there: trusted by the
    /// pipeline role, allowed CloudFormation on the named stacks and to pass the
    /// execution role to CloudFormation, and nothing else; both ARNs reach the commands
    /// as environment variables.
    #[test]
    fn commands_in_another_account_assume_a_role_there() {
        let e = expand(&topology("account: dev"));
        let a = action(pipeline(&e, "t-main"), "migrate");
        assert_eq!(
            a.role_arn, None,
            "the action itself runs as the pipeline role"
        );
        let role = "arn:aws:iam::333333333333:role/tether/t/t-main-commands";
        let exec = "arn:aws:iam::333333333333:role/tether/t/t-main-cfn-exec";
        assert_eq!(
            a.environment_variables,
            env(&[
                ("TETHER_ROLE_ARN", role),
                ("TETHER_EXECUTION_ROLE_ARN", exec)
            ])
        );
        // The role trusts exactly the pipeline role …
        assert_eq!(
            serde_json::to_value(&role_spec(&e, "t-main-commands").trust_policy).unwrap()
                ["Statement"],
            json!([{"Sid": "TrustedRoles", "Effect": "Allow", "Principal": {"AWS": PIPELINE_ROLE}, "Action": "sts:AssumeRole"}])
        );
        // … which may assume it …
        assert_eq!(
            sid(&e, "t-main-pipeline", "AssumeCommandRoles").unwrap(),
            json!({"Sid": "AssumeCommandRoles", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role})
        );
        assert_eq!(sid(&e, "t-main-pipeline", "CommandLogs").unwrap(), logs());
        assert_eq!(sid(&e, "t-main-pipeline", "DeployStacks"), None);
        // … and it may deploy the stacks and pass the execution role, nothing else.
        let statements = identity(&e, "t-main-commands");
        let sids: Vec<&str> = statements
            .iter()
            .map(|s| s["Sid"].as_str().unwrap())
            .collect();
        assert_eq!(sids, ["DeployStacks", "PassExecutionRoles"]);
        assert_eq!(
            statements[0]["Resource"],
            json!("arn:aws:cloudformation:us-east-1:333333333333:stack/app-db/*")
        );
        assert_eq!(statements[1]["Resource"], json!(exec));
        assert_eq!(
            statements[1]["Condition"],
            json!({"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}})
        );
        // No action role is drafted for commands.
        assert!(e.named("iam_role", "t-main-action").is_none());
    }

    fn role_spec<'a>(e: &'a crate::expand::Expansion, name: &str) -> &'a crate::resource::RoleSpec {
        role(e, name)
    }
}
