//! EventBridge buses: the place's bus list (one listing, with each bus's policy) is read
//! once and shared with the rule reader, which looks for rules on tether's buses; the
//! policy is merged with statements tether does not own. The spec:
//! `crate::resource::event_bus`.

use super::{eventbridge, Provider, ReadScope};
use crate::aws::read::{managed, policy, ReadCx};
use crate::aws::write::{changed, gone, sdk, tags_changed, Put, Writer};
use crate::aws::AwsError;
use crate::resource::{Address, BusSpec, Kind, Spec};
use crate::state::{Observed, Owner};
use std::collections::{BTreeMap, BTreeSet};

/// A custom bus of the place that a reader of this place needs: desired (when something
/// on it is to be read) or owned by this topology.
#[derive(Debug, Clone)]
pub(crate) struct LiveBus {
    pub name: String,
    pub arn: String,
    pub policy: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub owner: Owner,
    pub desired: bool,
}

/// The place's custom buses that matter, listed once per place (the bus and rule
/// readers both need them; the default bus is never listed here).
pub(crate) async fn census(cx: &ReadCx) -> Result<&[LiveBus], AwsError> {
    let buses = cx.cache.buses.get_or_try_init(|| list(cx)).await?;
    Ok(buses.as_slice())
}

async fn list(cx: &ReadCx) -> Result<Vec<LiveBus>, AwsError> {
    let ctx = cx.context();
    let c = cx.clients();
    let desired_buses: BTreeSet<String> = cx
        .desired_here()
        .filter_map(|r| r.bus().map(|b| b.name.clone()))
        .collect();
    let wanted_buses: BTreeSet<String> = cx
        .wanted
        .iter()
        .filter_map(|r| r.bus().map(|b| b.name.clone()))
        .collect();
    let wanted_rules = cx
        .wanted
        .iter()
        .any(|r| r.rule().is_some() || r.target().is_some());
    let mut listed: Vec<(String, String, Option<String>)> = Vec::new();
    {
        let _p = cx.permit().await;
        let mut token: Option<String> = None;
        loop {
            let page = c
                .events
                .list_event_buses()
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(format!("{ctx}: listing event buses"), e))?;
            for b in page.event_buses() {
                if let (Some(n), Some(a)) = (b.name(), b.arn()) {
                    listed.push((n.to_string(), a.to_string(), b.policy().map(String::from)));
                }
            }
            token = page.next_token().map(String::from);
            if token.is_none() {
                break;
            }
        }
    }
    let mut out = Vec::new();
    for (name, arn, policy) in listed {
        if name == "default" {
            continue;
        }
        let desired = desired_buses.contains(&name);
        if desired && !wanted_buses.contains(&name) && !wanted_rules {
            continue;
        }
        let _p = cx.permit().await;
        let tags = eventbridge::read_tags(&c, &arn, &format!("{ctx}: bus {name}")).await?;
        let owner = cx.scope.owner(&tags);
        if !desired && owner != Owner::This {
            continue;
        }
        out.push(LiveBus {
            name,
            arn,
            policy,
            tags,
            owner,
            desired,
        });
    }
    Ok(out)
}

impl Provider for BusSpec {
    const READ: ReadScope = ReadScope::Region;

    /// Wanted buses, and (discovery) buses owned by tag that are not desired.
    async fn read(cx: &ReadCx) -> Result<Vec<Observed>, AwsError> {
        let wanted: BTreeSet<&str> = cx
            .wanted
            .iter()
            .filter_map(|r| r.bus().map(|b| b.name.as_str()))
            .collect();
        let mut out = Vec::new();
        for b in census(cx).await? {
            if b.desired && !wanted.contains(b.name.as_str()) {
                continue;
            }
            let address = Address::new(&cx.account, &cx.region, BusSpec::KIND, &b.name);
            let doc = b
                .policy
                .as_deref()
                .map(|p| policy(p, &address.to_string()))
                .transpose()?;
            let (statements, foreign) = managed(doc, &cx.scope.sid_prefix());
            let spec = Spec::EventBus(BusSpec {
                name: b.name.clone(),
                arn: b.arn.clone(),
                policy_statements: statements,
                adopt: false,
            });
            let mut o = cx.observed(address, spec, b.tags.clone(), b.owner.clone());
            o.foreign_statements = foreign.len();
            o.foreign = foreign;
            out.push(o);
        }
        Ok(out)
    }

    async fn put(x: &Self, p: Put<'_>) -> Result<(), AwsError> {
        let (w, r, change, create) = (p.w, p.r, p.change, p.create);
        let ev = &w.clients.events;
        let a = &r.address;
        let mut live: Option<String> = None;
        if create {
            if let Err(e) = ev
                .create_event_bus()
                .name(&x.name)
                .set_tags(Some(eventbridge::tags(r)))
                .send()
                .await
            {
                let e = AwsError::from_sdk(format!("{a}: creating the bus"), e);
                if e.code() != Some("ResourceAlreadyExistsException") {
                    return Err(e);
                }
            }
        } else if tags_changed(change) {
            eventbridge::update_tags(w, r, &x.arn, change).await?;
        }
        if create || changed(change).contains("policy_statements") {
            if !create {
                live = ev
                    .describe_event_bus()
                    .name(&x.name)
                    .send()
                    .await
                    .map_err(sdk(a, "reading the bus policy"))?
                    .policy()
                    .map(String::from);
            }
            if let Some(policy) = w.merge(live.as_deref(), &x.policy_statements, a)? {
                ev.put_permission()
                    .event_bus_name(&x.name)
                    .policy(policy)
                    .send()
                    .await
                    .map_err(sdk(a, "writing the bus policy"))?;
            }
        }
        Ok(())
    }

    async fn delete(w: &Writer<'_>, o: &Observed, x: &Self) -> Result<(), AwsError> {
        let a = &o.address;
        let deleted = w
            .clients
            .events
            .delete_event_bus()
            .name(&x.name)
            .send()
            .await
            .map_err(sdk(a, "deleting the bus"));
        // The EventBridge API reference (DeleteEventBus) lists no "not found"
        // error; should one come, the bus is gone, which is what was asked.
        gone(deleted, &["ResourceNotFoundException"])?;
        Ok(())
    }
}
