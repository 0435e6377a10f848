//! A manual approval (CodePipeline's `Manual` approval action), optionally announced on
//! an SNS topic that the pipeline role publishes to.

use super::Pipe;
use crate::expand::Ex;
use crate::model::{Action, ActionKind};
use crate::resource::ActionSpec;

pub(super) fn declare(ex: &mut Ex, p: &mut Pipe, act: &Action, base: ActionSpec) -> ActionSpec {
    let ActionKind::Approval {
        notify,
        message,
        url,
    } = &act.kind
    else {
        unreachable!("dispatched on the kind")
    };
    let mut spec = ActionSpec {
        category: "Approval".into(),
        provider: "Manual".into(),
        ..base
    };
    if let Some(topic) = notify {
        spec.configuration
            .insert("NotificationArn".into(), topic.clone());
        ex.allow(&p.role, "NotifyApprovers", ["sns:Publish"], [topic.clone()]);
    }
    if let Some(m) = message {
        spec.configuration.insert("CustomData".into(), m.clone());
    }
    if let Some(u) = url {
        spec.configuration
            .insert("ExternalEntityLink".into(), u.clone());
    }
    spec
}

#[cfg(test)]
mod tests {
    use crate::expand::actions::testing::*;

    /// The run orders of a stage of `actions` (YAML flow items).
    fn stage(actions: &str) -> Vec<(String, u32)> {
        let e = expand(&with_stage("", actions));
        let p = pipeline(&e, "t-main");
        p.stages[1]
            .actions
            .iter()
            .map(|a| (a.name.clone(), a.run_order))
            .collect()
    }

    const CFN: &str = r#"account: dev, template: t.yaml, change_set: true, execution_policies: ["arn:aws:iam::aws:policy/PowerUserAccess"]"#;

    fn names(v: &[(&str, u32)]) -> Vec<(String, u32)> {
        v.iter().map(|(n, o)| (n.to_string(), *o)).collect()
    }

    /// The approver reviews a change set that exists: it is created before the approval
    /// and executed after it (CDK's prepare → approve → execute).
    #[test]
    fn a_change_set_is_created_before_the_approval_and_executed_after_it() {
        assert_eq!(
            stage(&format!(
                "{{ name: approve, approval: {{}} }}, {{ name: deploy, cloudformation: {{ stack: app, {CFN} }} }}"
            )),
            names(&[("deploy-create", 1), ("approve", 2), ("deploy-execute", 3)])
        );
        // What runs before the approval still does; the change sets listed after it
        // are all prepared just before it, side by side (preparing changes nothing),
        // and executed after it in their order.
        assert_eq!(
            stage(&format!(
                "{{ name: smoke, invoke: {{ function: smoke }} }}, {{ name: approve, approval: {{}} }}, \
                 {{ name: app, cloudformation: {{ stack: app, {CFN} }} }}, \
                 {{ name: db, cloudformation: {{ stack: db, {CFN} }} }}"
            )),
            names(&[
                ("smoke", 1),
                ("app-create", 2),
                ("db-create", 2),
                ("approve", 3),
                ("app-execute", 4),
                ("db-execute", 5),
            ])
        );
        // Parallel change sets (one run order) stay parallel, around the approval.
        assert_eq!(
            stage(&format!(
                "{{ name: approve, approval: {{}} }}, \
                 {{ name: app, run_order: 2, cloudformation: {{ stack: app, {CFN} }} }}, \
                 {{ name: db, run_order: 2, cloudformation: {{ stack: db, {CFN} }} }}"
            )),
            names(&[
                ("app-create", 1),
                ("db-create", 1),
                ("approve", 2),
                ("app-execute", 3),
                ("db-execute", 3),
            ])
        );
        // A change set listed before the approval is not gated by it: unchanged.
        assert_eq!(
            stage(&format!(
                "{{ name: deploy, cloudformation: {{ stack: app, {CFN} }} }}, {{ name: approve, approval: {{}} }}"
            )),
            names(&[("deploy-create", 1), ("deploy-execute", 2), ("approve", 3)])
        );
    }
}
