//! A CloudFormation deployment (CodePipeline's `CloudFormation` deploy action): run by
//! the pipeline role in its own account or by the pipeline's action role in the target
//! account, which passes the stack's execution role to CloudFormation.

use super::Pipe;
use crate::expand::cfg;
use crate::expand::resource::ActionSpec;
use crate::expand::Ex;
use crate::model::{Action, ActionKind};

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
    let exec = ex.execution(p, target, execution, &act.origin);
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
