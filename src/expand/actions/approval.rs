//! A manual approval (CodePipeline's `Manual` approval action), optionally announced on
//! an SNS topic that the pipeline role publishes to.

use super::Pipe;
use crate::expand::policy::Statement;
use crate::expand::resource::ActionSpec;
use crate::expand::Ex;
use crate::model::{Action, ActionKind};

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
        ex.grant(
            &p.role,
            "tether",
            Statement::allow(["sns:Publish"])
                .sid("NotifyApprovers")
                .on([topic.clone()]),
        );
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
