//! A Lambda invocation (CodePipeline's `Lambda` invoke action): run by the pipeline
//! role in its own account or by the pipeline's action role in the function's account.

use super::Pipe;
use crate::expand::Ex;
use crate::model::{Action, ActionKind};
use crate::resource::ActionSpec;

pub(super) fn declare(ex: &mut Ex, p: &mut Pipe, act: &Action, base: ActionSpec) -> ActionSpec {
    let ActionKind::Invoke {
        function,
        account: target,
        region,
        parameters,
    } = &act.kind
    else {
        unreachable!("dispatched on the kind")
    };
    let actor = ex.actor(p, target, region, &act.origin);
    let function_arn = format!(
        "arn:{}:lambda:{region}:{}:function:{function}",
        region.partition(),
        ex.id(target)
    );
    ex.allow(
        &actor,
        "InvokeFunctions",
        ["lambda:InvokeFunction"],
        [function_arn],
    );
    let mut spec = ActionSpec {
        category: "Invoke".into(),
        provider: "Lambda".into(),
        role_arn: ex.actor_arn(p, target),
        region: p.elsewhere(region),
        ..base
    };
    spec.configuration
        .insert("FunctionName".into(), function.clone());
    if let Some(params) = parameters {
        spec.configuration
            .insert("UserParameters".into(), params.clone());
    }
    spec
}
