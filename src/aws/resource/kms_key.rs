//! KMS keys and their aliases: found through the alias (the key id is AWS's), created
//! without SDK retries (CreateKey is not idempotent) and recovered by their address tag
//! when an apply was interrupted, deleted by scheduling deletion. The spec:
//! `crate::resource::kms_key`.

use super::{Provider, ReadScope};
use crate::aws::read::{managed, policy, tag_map, ReadCx};
use crate::aws::write::{
    changed, gone, retag, sdk, tag_list, tags_changed, transient, unexpected, Put, Writer,
};
use crate::aws::AwsError;
use crate::resource::{Address, KeySpec, Kind, Spec};
use crate::state::{Observed, Owner};
use std::collections::BTreeSet;

impl Provider for KeySpec {
    const READ: ReadScope = ReadScope::Region;

    /// Keys behind the wanted aliases, and (discovery) keys behind other aliases with
    /// the topology's name prefix that carry its tag.
    async fn read(cx: &ReadCx) -> Result<Vec<Observed>, AwsError> {
        let c = cx.clients();
        let wanted_aliases: BTreeSet<&str> = cx
            .wanted
            .iter()
            .filter_map(|r| r.key())
            .map(|k| k.alias.as_str())
            .collect();
        let desired_aliases: BTreeSet<String> = cx
            .desired_here()
            .filter_map(|r| r.key().map(|k| k.alias.clone()))
            .collect();
        let prefix = format!("alias/{}", cx.scope.name_prefix());
        let mut aliases: Vec<(String, String)> = Vec::new();
        {
            let _p = cx.permit().await;
            let mut pages = c.kms.list_aliases().into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| {
                    AwsError::from_sdk(format!("{}: listing KMS aliases", cx.context()), e)
                })?;
                for a in page.aliases() {
                    if let (Some(name), Some(key)) = (a.alias_name(), a.target_key_id()) {
                        let relevant = wanted_aliases.contains(name)
                            || (name.starts_with(&prefix) && !desired_aliases.contains(name));
                        if relevant {
                            aliases.push((name.to_string(), key.to_string()));
                        }
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (alias, key_id) in aliases {
            let _p = cx.permit().await;
            let address = Address::new(
                &cx.account,
                &cx.region,
                KeySpec::KIND,
                alias.trim_start_matches("alias/"),
            );
            let ctx = |what: &str| format!("{address}: reading {what}");
            let (described, key_policy, rotation, tags) = tokio::join!(
                c.kms.describe_key().key_id(&key_id).send(),
                c.kms
                    .get_key_policy()
                    .key_id(&key_id)
                    .policy_name("default")
                    .send(),
                c.kms.get_key_rotation_status().key_id(&key_id).send(),
                c.kms.list_resource_tags().key_id(&key_id).send(),
            );
            let described = described.map_err(|e| AwsError::from_sdk(ctx("the key"), e))?;
            let meta = described.key_metadata();
            let pending = meta
                .and_then(|m| m.key_state())
                .is_some_and(|s| s.as_str() == "PendingDeletion");
            let doc = key_policy
                .map_err(|e| AwsError::from_sdk(ctx("the key policy"), e))?
                .policy()
                .map(|p| policy(p, &address.to_string()))
                .transpose()?;
            let rotation = rotation
                .map_err(|e| AwsError::from_sdk(ctx("the key rotation"), e))?
                .key_rotation_enabled();
            let tags = tags.map_err(|e| AwsError::from_sdk(ctx("the tags"), e))?;
            let tags = tag_map(tags.tags(), |t| (t.tag_key(), t.tag_value()));
            let owner = cx.scope.owner(&tags);
            if !wanted_aliases.contains(alias.as_str()) && owner != Owner::This {
                continue; // a key with our prefix that someone else owns: not ours to delete
            }
            let (statements, foreign) = managed(doc, &cx.scope.sid_prefix());
            let spec = Spec::KmsKey(KeySpec {
                alias_arn: String::new(),
                arn: meta
                    .map(|m| m.arn().unwrap_or_default().to_string())
                    .unwrap_or_default(),
                alias,
                description: meta
                    .and_then(|m| m.description())
                    .unwrap_or_default()
                    .to_string(),
                rotation,
                policy_statements: statements,
                deletion_window_days: 0,
            });
            let mut o = cx.observed(address, spec, tags, owner);
            o.id = Some(key_id);
            o.foreign_statements = foreign.len();
            o.foreign = foreign;
            o.pending_deletion = pending;
            out.push(o);
        }
        Ok(out)
    }

    async fn put(x: &Self, p: Put<'_>) -> Result<(), AwsError> {
        let (w, r, change, create) = (p.w, p.r, p.change, p.create);
        let kms = &w.clients.kms;
        let a = &r.address;
        let tags = tag_list(&r.tags, |k, v| {
            aws_sdk_kms::types::Tag::builder()
                .tag_key(k)
                .tag_value(v)
                .build()
        });
        if create {
            let policy = w.merge(None, &x.policy_statements, a)?;
            // An interrupted apply may have created the key but not its alias: find it by
            // its address tag and finish it, instead of creating a duplicate.
            let (id, fresh) = match unaliased_key(w, a).await? {
                Some(id) => (id, false),
                None => create_key(w, a, x, policy.clone(), tags.clone()).await?,
            };
            create_alias(w, a, &x.alias, &id).await?;
            // The key's ARN is its alias ARN's account and region with `key/<id>` (KMS
            // developer guide, "Key identifiers"): what later steps name it by.
            let arn = x
                .alias_arn
                .split_once(":alias/")
                .map(|(head, _)| format!("{head}:key/{id}"))
                .ok_or_else(|| unexpected(a, "the key's alias ARN is malformed"))?;
            let _ = w.assigned.set(arn);
            if !fresh {
                if let Some(policy) = policy {
                    kms.put_key_policy()
                        .key_id(&id)
                        .policy_name("default")
                        .policy(policy)
                        .send()
                        .await
                        .map_err(sdk(a, "writing the key policy"))?;
                }
                kms.tag_resource()
                    .key_id(&id)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(sdk(a, "writing tags"))?;
            }
            if x.rotation {
                kms.enable_key_rotation()
                    .key_id(&id)
                    .send()
                    .await
                    .map_err(sdk(a, "enabling rotation"))?;
            }
            return Ok(());
        }
        let id = change
            .before
            .as_ref()
            .and_then(|o| o.id.clone())
            .ok_or_else(|| unexpected(a, "the plan does not record the key id"))?;
        let fields = changed(change);
        if fields.contains("pending_deletion") {
            revive(w, a, &id).await?;
        }
        if fields.contains("policy_statements") {
            let live = kms
                .get_key_policy()
                .key_id(&id)
                .policy_name("default")
                .send()
                .await
                .map_err(sdk(a, "reading the key policy"))?;
            if let Some(policy) = w.merge(live.policy(), &x.policy_statements, a)? {
                kms.put_key_policy()
                    .key_id(&id)
                    .policy_name("default")
                    .policy(policy)
                    .send()
                    .await
                    .map_err(sdk(a, "writing the key policy"))?;
            }
        }
        if fields.contains("rotation") {
            if x.rotation {
                kms.enable_key_rotation()
                    .key_id(&id)
                    .send()
                    .await
                    .map_err(sdk(a, "enabling rotation"))?;
            } else {
                kms.disable_key_rotation()
                    .key_id(&id)
                    .send()
                    .await
                    .map_err(sdk(a, "disabling rotation"))?;
            }
        }
        if fields.contains("description") {
            kms.update_key_description()
                .key_id(&id)
                .description(&x.description)
                .send()
                .await
                .map_err(sdk(a, "writing the description"))?;
        }
        if tags_changed(change) {
            let untag = |keys| async {
                let req = kms.untag_resource().key_id(&id).set_tag_keys(Some(keys));
                req.send().await.map(drop).map_err(sdk(a, "removing tags"))
            };
            let req = kms.tag_resource().key_id(&id).set_tags(Some(tags));
            let tag = async { req.send().await.map(drop).map_err(sdk(a, "writing tags")) };
            retag(change, r, untag, tag).await?;
        }
        Ok(())
    }

    /// The alias goes first, then the key is scheduled for deletion (KMS deletes keys
    /// only after a waiting period: KMS API reference, ScheduleKeyDeletion).
    async fn delete(w: &Writer<'_>, o: &Observed, x: &Self) -> Result<(), AwsError> {
        let (a, id) = (&o.address, o.id.as_deref());
        let kms = &w.clients.kms;
        let id = id.ok_or_else(|| unexpected(a, "the plan does not record the key id"))?;
        gone(
            kms.delete_alias()
                .alias_name(&x.alias)
                .send()
                .await
                .map_err(sdk(a, "deleting the alias")),
            &["NotFoundException"],
        )?;
        let scheduled = kms
            .schedule_key_deletion()
            .key_id(id)
            .pending_window_in_days(crate::expand::KEY_DELETION_WINDOW_DAYS as i32)
            .send()
            .await
            .map_err(sdk(a, "scheduling key deletion"));
        if let Err(e) = scheduled {
            // Already scheduled by an attempt whose answer was lost: done.
            if key_state(w, a, id).await?.as_deref() != Some("PendingDeletion") {
                return Err(e);
            }
        }
        Ok(())
    }
}

/// CreateKey is not idempotent (the KMS API reference, CreateKey, offers no client
/// token, and every call makes a new key): when its answer is lost (a dropped connection, a 5xx
/// after the key was made), trying again blindly would make a second key. So the SDK
/// does not retry it; this does, after looking for the key a lost attempt may have
/// made (by its address tag). Returns the key id and whether this call created it
/// (`false`: it was found, and its policy and tags must still be written).
async fn create_key(
    w: &Writer<'_>,
    a: &Address,
    x: &KeySpec,
    policy: Option<String>,
    tags: Vec<aws_sdk_kms::types::Tag>,
) -> Result<(String, bool), AwsError> {
    let kms = &w.clients.kms;
    let attempts = kms.config().retry_config().map_or(1, |r| r.max_attempts());
    let mut delay = std::time::Duration::from_secs(1);
    for attempt in 1.. {
        let made = kms
            .create_key()
            .description(&x.description)
            .set_policy(policy.clone())
            .set_tags(Some(tags.clone()))
            .customize()
            .config_override(
                aws_sdk_kms::config::Builder::default()
                    .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(sdk(a, "creating the key"));
        match made {
            Ok(key) => {
                let id = key
                    .key_metadata()
                    .map(|m| m.key_id().to_string())
                    .ok_or_else(|| unexpected(a, "CreateKey returned no key id"))?;
                return Ok((id, true));
            }
            Err(e) if transient(&e) && attempt < attempts => {
                tracing::info!(address = %a, "CreateKey failed transiently ({e}); looking for a key it may have made");
                if let Some(id) = unaliased_key(w, a).await? {
                    return Ok((id, false));
                }
                tokio::time::sleep(delay + std::time::Duration::from_millis(fastrand::u64(0..500)))
                    .await;
                delay = (delay * 2).min(std::time::Duration::from_secs(20));
            }
            Err(e) => return Err(e),
        }
    }
    unreachable!("the loop returns")
}

/// CreateAlias, accepting an alias that an earlier attempt (whose answer was lost)
/// already pointed at this key. An alias is unique in its account and region (KMS API
/// reference, CreateAlias), so `AlreadyExistsException` says it exists: it is ours
/// only if DescribeKey through it names this key.
async fn create_alias(w: &Writer<'_>, a: &Address, alias: &str, id: &str) -> Result<(), AwsError> {
    let kms = &w.clients.kms;
    let made = kms
        .create_alias()
        .alias_name(alias)
        .target_key_id(id)
        .send()
        .await
        .map_err(sdk(a, "creating the alias"));
    match made {
        Err(e) if e.code() == Some("AlreadyExistsException") => {
            let target = kms
                .describe_key()
                .key_id(alias)
                .send()
                .await
                .map_err(sdk(a, "reading the alias's key"))?
                .key_metadata()
                .map(|m| m.key_id().to_string());
            if target.as_deref() == Some(id) {
                Ok(())
            } else {
                Err(e)
            }
        }
        other => other.map(|_| ()),
    }
}

/// A key tagged with `address` that no alias points to (left by a crash between
/// CreateKey and CreateAlias). Costs a tag read per unaliased key, on create only.
async fn unaliased_key(w: &Writer<'_>, a: &Address) -> Result<Option<String>, AwsError> {
    let kms = &w.clients.kms;
    let mut aliased = BTreeSet::new();
    let mut pages = kms.list_aliases().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(sdk(a, "listing aliases"))?;
        aliased.extend(
            page.aliases()
                .iter()
                .filter_map(|x| x.target_key_id().map(String::from)),
        );
    }
    let mut pages = kms.list_keys().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(sdk(a, "listing keys"))?;
        for k in page.keys() {
            let Some(id) = k.key_id() else { continue };
            if aliased.contains(id) {
                continue;
            }
            let tags = match kms.list_resource_tags().key_id(id).send().await {
                Ok(t) => t,
                Err(e) => {
                    let e = AwsError::from_sdk(format!("{a}: reading a key's tags"), e);
                    // Another principal's key we may not read is not ours; any other
                    // failure could hide our own key, so it fails the step.
                    if e.code().is_some_and(|c| c.starts_with("AccessDenied")) {
                        continue;
                    }
                    return Err(e);
                }
            };
            let ours = tags
                .tags()
                .iter()
                .any(|t| t.tag_key() == crate::expand::TAG_ADDRESS && t.tag_value() == a.as_str());
            if !ours {
                continue;
            }
            match key_state(w, a, id).await?.as_deref() {
                Some("Enabled") => return Ok(Some(id.to_string())),
                Some("PendingDeletion") => {
                    revive(w, a, id).await?;
                    return Ok(Some(id.to_string()));
                }
                _ => continue,
            }
        }
    }
    Ok(None)
}

/// The key's state (`Enabled`, `PendingDeletion`, …).
async fn key_state(w: &Writer<'_>, a: &Address, id: &str) -> Result<Option<String>, AwsError> {
    Ok(w.clients
        .kms
        .describe_key()
        .key_id(id)
        .send()
        .await
        .map_err(sdk(a, "reading the key"))?
        .key_metadata()
        .and_then(|m| m.key_state().map(|s| s.as_str().to_string())))
}

/// Makes a key scheduled for deletion usable again: cancelling leaves it disabled (KMS
/// API reference, CancelKeyDeletion), so it is enabled too.
async fn revive(w: &Writer<'_>, a: &Address, id: &str) -> Result<(), AwsError> {
    let kms = &w.clients.kms;
    let cancel = kms.cancel_key_deletion().key_id(id).send().await;
    cancel.map_err(sdk(a, "cancelling deletion"))?;
    let enable = kms.enable_key().key_id(id).send().await;
    enable.map_err(sdk(a, "enabling the key"))?;
    Ok(())
}
