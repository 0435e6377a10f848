//! EventBridge targets: read with their rule (`aws::resource::event_rule`), written with
//! `PutTargets` (whose per-entry failures are errors too), removed with `RemoveTargets`.
//! An input transformer's template is written as its text and read back as a value when
//! it is JSON (`InputTransformer::template_value`), so a second plan is empty and
//! another tool's spacing is not drift.
//! The spec: `crate::resource::event_target`.

use super::{Provider, ReadScope};
use crate::aws::read::ReadCx;
use crate::aws::write::{gone, sdk, unexpected, Put, Writer};
use crate::aws::AwsError;
use crate::resource::{Address, InputTransformer, Kind, RetryPolicy, Spec, TargetSpec};
use crate::state::{Observed, Owner};
use std::collections::BTreeMap;

/// A target as its rule's reader found it; it carries no tags of its own (EventBridge
/// cannot tag a target), so it belongs to whoever owns its rule.
pub(crate) fn observed(
    cx: &ReadCx,
    bus: &str,
    rule: &str,
    t: &aws_sdk_eventbridge::types::Target,
    owner: Owner,
) -> Observed {
    let address = Address::new(
        &cx.account,
        &cx.region,
        TargetSpec::KIND,
        &format!("{bus}/{rule}/{}", t.id()),
    );
    let spec = Spec::EventTarget(TargetSpec {
        rule: rule.to_string(),
        bus: bus.to_string(),
        id: t.id().to_string(),
        arn: t.arn().to_string(),
        role_arn: t.role_arn().unwrap_or_default().to_string(),
        // A retry policy without one of its fields is compared as EventBridge applies
        // it: the missing one at its default, which is its maximum (EventBridge user
        // guide, "Event retry policy and using dead-letter queues").
        retry_policy: t.retry_policy().map(|p| RetryPolicy {
            maximum_retry_attempts: p.maximum_retry_attempts().map_or(185, |n| n.max(0) as u32),
            maximum_event_age_seconds: p
                .maximum_event_age_in_seconds()
                .map_or(86_400, |n| n.max(0) as u32),
        }),
        dead_letter_arn: t
            .dead_letter_config()
            .and_then(|d| d.arn())
            .filter(|a| !a.is_empty())
            .map(String::from),
        input_transformer: t.input_transformer().map(|x| InputTransformer {
            input_paths: x
                .input_paths_map()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            input_template: InputTransformer::template_value(x.input_template()),
        }),
    });
    cx.observed(address, spec, BTreeMap::new(), owner)
}

impl Provider for TargetSpec {
    const READ: ReadScope = ReadScope::WithParent;

    /// Read with its rule: `ListTargetsByRule` returns every target of a rule at once,
    /// with its retry policy, dead-letter queue and input transformer.
    async fn read(_: &ReadCx) -> Result<Vec<Observed>, AwsError> {
        Ok(Vec::new())
    }

    /// `PutTargets` writes the whole target: a setting it does not send (no
    /// `DeadLetterConfig` once dead-lettering is off, no transformer the spec does not
    /// hold, such as one another tool added) is removed.
    async fn put(x: &Self, p: Put<'_>) -> Result<(), AwsError> {
        use aws_sdk_eventbridge::types;
        let Put { w, r, .. } = p;
        let a = &r.address;
        let input = match &x.input_transformer {
            None => None,
            Some(t) => Some(
                types::InputTransformer::builder()
                    .set_input_paths_map(Some(t.input_paths.clone().into_iter().collect()))
                    .input_template(t.template_text())
                    .build()
                    .map_err(|e| unexpected(a, e.to_string()))?,
            ),
        };
        let target = types::Target::builder()
            .id(&x.id)
            .arn(&x.arn)
            .role_arn(&x.role_arn)
            .set_retry_policy(x.retry_policy.map(|p| {
                types::RetryPolicy::builder()
                    .maximum_retry_attempts(p.maximum_retry_attempts as i32)
                    .maximum_event_age_in_seconds(p.maximum_event_age_seconds as i32)
                    .build()
            }))
            .set_dead_letter_config(
                x.dead_letter_arn
                    .as_ref()
                    .map(|arn| types::DeadLetterConfig::builder().arn(arn).build()),
            )
            .set_input_transformer(input)
            .build()
            .map_err(|e| unexpected(a, e.to_string()))?;
        let out = w
            .clients
            .events
            .put_targets()
            .rule(&x.rule)
            .event_bus_name(&x.bus)
            .targets(target)
            .send()
            .await
            .map_err(sdk(a, "writing the target"))?;
        if let Some(f) = out.failed_entries().first() {
            return Err(AwsError::service(
                format!("{a}: writing the target"),
                f.error_code().unwrap_or("FailedEntry"),
                f.error_message().unwrap_or_default(),
            ));
        }
        Ok(())
    }

    async fn delete(w: &Writer<'_>, o: &Observed, x: &Self) -> Result<(), AwsError> {
        let a = &o.address;
        gone(
            w.clients
                .events
                .remove_targets()
                .rule(&x.rule)
                .event_bus_name(&x.bus)
                .ids(&x.id)
                .send()
                .await
                .map_err(sdk(a, "removing the target")),
            &["ResourceNotFoundException"],
        )?;
        Ok(())
    }
}
