//! Shell commands (CodePipeline's V2 `Commands` compute action).

use super::Pipe;
use crate::expand::policy::Statement;
use crate::expand::resource::ActionSpec;
use crate::expand::Ex;
use crate::model::{Action, ActionKind};

pub(super) fn declare(ex: &mut Ex, p: &mut Pipe, act: &Action, base: ActionSpec) -> ActionSpec {
    let ActionKind::Commands {
        account: target,
        region,
        commands,
        stacks,
        execution,
    } = &act.kind
    else {
        unreachable!("dispatched on the kind")
    };
    let actor = ex.actor(p, target, region, &act.origin);
    // Commands write their logs to the pipeline's log group.
    let group = format!(
        "arn:{}:logs:{region}:{}:log-group:/aws/codepipeline/{}",
        region.partition(),
        ex.id(&p.pl.account),
        p.pl.name
    );
    ex.grant(
        &actor,
        "tether",
        Statement::allow([
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        ])
        .sid("CommandLogs")
        .on([group.clone(), format!("{group}:*")]),
    );
    if let Some(execution) = execution {
        let exec = ex.execution(p, target, region, execution, &act.origin);
        ex.deploys(&actor, target, region, stacks, &exec);
    }
    ActionSpec {
        category: "Compute".into(),
        provider: "Commands".into(),
        commands: commands.clone(),
        role_arn: ex.actor_arn(p, target),
        region: p.elsewhere(region),
        ..base
    }
}
