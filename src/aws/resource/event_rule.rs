//! EventBridge rules: listed by tether's name prefix on the default bus and on tether's
//! buses (from the bus census), each read with its targets (`ListTargetsByRule`);
//! deleted after their targets. The spec: `crate::resource::event_rule`.

use super::{event_bus, event_target, eventbridge, Provider, ReadScope};
use crate::aws::read::{is_not_found, ReadCx};
use crate::aws::write::{changed, gone, sdk, tags_changed, Put, Writer};
use crate::aws::AwsError;
use crate::resource::{Address, Kind, RuleSpec, Spec};
use crate::state::{Observed, Owner};
use std::collections::BTreeSet;

impl Provider for RuleSpec {
    const READ: ReadScope = ReadScope::Region;

    /// Rules with tether's prefix on the default bus and on tether's buses, with their
    /// targets: wanted ones, and (discovery) owned ones that are not desired.
    async fn read(cx: &ReadCx) -> Result<Vec<Observed>, AwsError> {
        let ctx = cx.context();
        let c = cx.clients();
        let mut rule_buses: BTreeSet<String> = BTreeSet::from(["default".to_string()]);
        rule_buses.extend(event_bus::census(cx).await?.iter().map(|b| b.name.clone()));
        let mut out = Vec::new();
        for bus in rule_buses {
            let mut token: Option<String> = None;
            loop {
                let _p = cx.permit().await;
                let page = c
                    .events
                    .list_rules()
                    .event_bus_name(&bus)
                    .name_prefix(cx.scope.name_prefix())
                    .set_next_token(token.clone())
                    .send()
                    .await;
                let page = match page {
                    Ok(p) => p,
                    Err(e) => {
                        let e = AwsError::from_sdk(format!("{ctx}: listing rules on bus {bus}"), e);
                        if is_not_found(&e, &["ResourceNotFoundException"]) {
                            break;
                        }
                        return Err(e);
                    }
                };
                for rule in page.rules() {
                    let name = rule.name().unwrap_or_default().to_string();
                    let arn = rule.arn().unwrap_or_default().to_string();
                    let address = Address::new(
                        &cx.account,
                        &cx.region,
                        RuleSpec::KIND,
                        &format!("{bus}/{name}"),
                    );
                    let is_desired = cx.desired.contains_key(&address);
                    let is_wanted = cx.wanted.iter().any(|r| {
                        r.address == address
                            || r.target().is_some_and(|t| t.rule == name && t.bus == bus)
                    });
                    if is_desired && !is_wanted {
                        continue;
                    }
                    let tags = eventbridge::read_tags(&c, &arn, &address.to_string()).await?;
                    let owner = cx.scope.owner(&tags);
                    if !is_desired && owner != Owner::This {
                        continue;
                    }
                    let pattern = rule
                        .event_pattern()
                        .map(|p| {
                            serde_json::from_str(p)
                                .unwrap_or(serde_json::Value::String(p.to_string()))
                        })
                        .unwrap_or(serde_json::Value::Null);
                    let targets = c
                        .events
                        .list_targets_by_rule()
                        .rule(&name)
                        .event_bus_name(&bus)
                        .send()
                        .await
                        .map_err(|e| {
                            AwsError::from_sdk(format!("{address}: listing targets"), e)
                        })?;
                    for t in targets.targets() {
                        out.push(event_target::observed(cx, &bus, &name, t, owner.clone()));
                    }
                    let spec = Spec::EventRule(RuleSpec {
                        name: name.clone(),
                        arn,
                        bus: bus.clone(),
                        event_pattern: pattern,
                        state: rule
                            .state()
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_default(),
                        description: rule.description().unwrap_or_default().to_string(),
                    });
                    out.push(cx.observed(address, spec, tags, owner));
                }
                token = page.next_token().map(String::from);
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(out)
    }

    async fn put(x: &Self, p: Put<'_>) -> Result<(), AwsError> {
        let (w, r, change, create) = (p.w, p.r, p.change, p.create);
        let ev = &w.clients.events;
        let a = &r.address;
        let fields = changed(change);
        let rule_fields = ["event_pattern", "state", "description"];
        if create || rule_fields.iter().any(|f| fields.contains(f)) {
            ev.put_rule()
                .name(&x.name)
                .event_bus_name(&x.bus)
                .event_pattern(x.event_pattern.to_string())
                .state(aws_sdk_eventbridge::types::RuleState::from(
                    x.state.as_str(),
                ))
                .description(&x.description)
                .set_tags(create.then(|| eventbridge::tags(r)))
                .send()
                .await
                .map_err(sdk(a, "writing the rule"))?;
        }
        if !create && tags_changed(change) {
            eventbridge::update_tags(w, r, &x.arn, change).await?;
        }
        Ok(())
    }

    /// Targets are removed first: EventBridge refuses to delete a rule that has targets
    /// (EventBridge API reference, DeleteRule).
    async fn delete(w: &Writer<'_>, o: &Observed, x: &Self) -> Result<(), AwsError> {
        let a = &o.address;
        let ev = &w.clients.events;
        let targets = ev
            .list_targets_by_rule()
            .rule(&x.name)
            .event_bus_name(&x.bus)
            .send()
            .await
            .map_err(sdk(a, "listing targets"))?;
        let ids: Vec<String> = targets
            .targets()
            .iter()
            .map(|t| t.id().to_string())
            .collect();
        if !ids.is_empty() {
            ev.remove_targets()
                .rule(&x.name)
                .event_bus_name(&x.bus)
                .set_ids(Some(ids))
                .send()
                .await
                .map_err(sdk(a, "removing targets"))?;
        }
        gone(
            ev.delete_rule()
                .name(&x.name)
                .event_bus_name(&x.bus)
                .send()
                .await
                .map_err(sdk(a, "deleting the rule")),
            &["ResourceNotFoundException"],
        )?;
        Ok(())
    }
}
