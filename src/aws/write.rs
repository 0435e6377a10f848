//! Carrying out one resource change of a plan.
//!
//! Each function is idempotent: a create that finds the resource already there (an
//! earlier, interrupted apply) goes on to write what differs, and updates write only the
//! fields the plan lists. Tags, the IAM path and managed `Sid`s are written with every
//! created resource, so ownership never depends on a later step. Shared policies (bucket,
//! key, bus) are merged: statements with tether's `Sid` prefix are replaced, all others
//! are kept exactly as they are.

use super::{AwsError, Clients};
use crate::expand::policy::{PolicyDocument, Statement};
use crate::expand::resource::*;
use crate::expand::{TAG_FORCE_DESTROY, TAG_LIFECYCLE};
use crate::plan::normalize::parse;
use crate::plan::{Action, ResourceChange};
use std::collections::{BTreeMap, BTreeSet};

/// What the executor needs to write one change.
pub struct Writer<'a> {
    pub clients: &'a Clients,
    /// `tether_<name>_`: statements with this prefix are tether's.
    pub sid_prefix: String,
}

fn sdk<E>(
    address: &Address,
    what: &str,
) -> impl FnOnce(
    aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> AwsError
where
    E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let context = format!("{address}: {what}");
    move |e| AwsError::from_sdk(context, e)
}

/// A deletion whose earlier attempt may have succeeded before its answer was lost (the
/// SDK retries dropped connections): "not found" means it is done.
fn gone<T>(r: Result<T, AwsError>, not_found: &[&str]) -> Result<(), AwsError> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.code().is_some_and(|c| not_found.contains(&c)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether a failed call may succeed when tried again: no answer, a 5xx, or throttling.
fn transient(e: &AwsError) -> bool {
    match e {
        AwsError::Transport { .. } => true,
        AwsError::Service { status, code, .. } => {
            status.is_some_and(|s| s >= 500)
                || code.contains("Throttl")
                || code == "SlowDown"
                || code == "TooManyRequestsException"
        }
        _ => false,
    }
}

fn unexpected(address: &Address, detail: impl Into<String>) -> AwsError {
    AwsError::Unexpected {
        context: address.to_string(),
        detail: detail.into(),
    }
}

fn json(doc: &PolicyDocument) -> String {
    serde_json::to_string(doc).expect("policy serialises")
}

/// The fields of an update, by name.
fn changed(change: &ResourceChange) -> BTreeSet<&str> {
    change.changes.iter().map(|f| f.field.as_str()).collect()
}

/// Tag keys the live resource has and the topology no longer wants.
fn removed_tags(change: &ResourceChange, r: &Resource) -> Vec<String> {
    change
        .before
        .as_ref()
        .map(|o| {
            o.tags
                .keys()
                .filter(|k| !r.tags.contains_key(*k))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn tags_changed(change: &ResourceChange) -> bool {
    change.changes.iter().any(|f| f.field.starts_with("tags."))
}

impl Writer<'_> {
    /// Applies one change. Returns a short description of what was done.
    pub async fn apply(&self, change: &ResourceChange) -> Result<(), AwsError> {
        match change.action {
            Action::NoOp => Ok(()),
            Action::Create | Action::Update => {
                let r = change.after.as_ref().ok_or_else(|| {
                    unexpected(
                        &change.address,
                        "the plan has no desired state for this change",
                    )
                })?;
                self.put(r, change).await
            }
            Action::Delete => {
                let o = change.before.as_ref().ok_or_else(|| {
                    unexpected(&change.address, "the plan has no observed state to delete")
                })?;
                self.delete(&o.spec, &o.tags, o.id.as_deref(), &change.address)
                    .await
            }
            Action::Replace => {
                let o = change.before.as_ref().ok_or_else(|| {
                    unexpected(&change.address, "the plan has no observed state to replace")
                })?;
                self.delete(&o.spec, &o.tags, o.id.as_deref(), &change.address)
                    .await?;
                let r = change
                    .after
                    .as_ref()
                    .ok_or_else(|| unexpected(&change.address, "no desired state"))?;
                let mut create = change.clone();
                create.action = Action::Create;
                self.put(r, &create).await
            }
        }
    }

    async fn put(&self, r: &Resource, change: &ResourceChange) -> Result<(), AwsError> {
        let create = change.action == Action::Create;
        match &r.spec {
            Spec::IamRole(x) => self.role(r, x, change, create).await,
            Spec::S3Bucket(x) => self.bucket(r, x, change, create).await,
            Spec::KmsKey(x) => self.key(r, x, change, create).await,
            Spec::EventBus(x) => self.bus(r, x, change, create).await,
            Spec::EventRule(x) => self.rule(r, x, change, create).await,
            Spec::EventTarget(x) => self.target(r, x).await,
            Spec::Pipeline(x) => self.pipeline(r, x, change, create).await,
        }
    }

    /// A shared policy with tether's statements replaced by `ours` and all others kept.
    fn merge(
        &self,
        live: Option<&str>,
        ours: &[Statement],
        address: &Address,
    ) -> Result<Option<String>, AwsError> {
        let mut statements: Vec<Statement> = Vec::new();
        if let Some(text) = live {
            let value = parse(text)
                .map_err(|e| unexpected(address, format!("the live policy is not JSON: {e}")))?;
            let doc: PolicyDocument = serde_json::from_value(value).map_err(|e| {
                unexpected(
                    address,
                    format!("the live policy has an unexpected shape: {e}"),
                )
            })?;
            statements.extend(doc.statement.into_iter().filter(|s| {
                !s.sid
                    .as_deref()
                    .is_some_and(|sid| sid.starts_with(&self.sid_prefix))
            }));
        }
        statements.extend(ours.iter().cloned());
        if statements.is_empty() {
            return Ok(None);
        }
        Ok(Some(json(&PolicyDocument::new(statements))))
    }

    // ----- IAM -----------------------------------------------------------------------

    async fn role(
        &self,
        r: &Resource,
        x: &RoleSpec,
        change: &ResourceChange,
        create: bool,
    ) -> Result<(), AwsError> {
        let iam = &self.clients.iam;
        let a = &r.address;
        let tags = super::iam_tags(&r.tags);
        let fields = changed(change);
        let (all, live_inline, live_managed) = if create {
            let made = iam
                .create_role()
                .role_name(&x.name)
                .path(&x.path)
                .assume_role_policy_document(json(&x.trust_policy))
                .set_tags(Some(tags.clone()))
                .send()
                .await;
            match made {
                Ok(_) => (false, BTreeSet::new(), BTreeSet::new()),
                Err(e) => {
                    let e = AwsError::from_sdk(format!("{a}: creating the role"), e);
                    if e.code() != Some("EntityAlreadyExists") {
                        return Err(e);
                    }
                    // Left by an interrupted apply: bring every part in line.
                    (true, BTreeSet::new(), BTreeSet::new())
                }
            }
        } else {
            let before = change.before.as_ref().and_then(|o| match &o.spec {
                Spec::IamRole(b) => Some(b),
                _ => None,
            });
            (
                false,
                before
                    .map(|b| b.inline_policies.keys().cloned().collect())
                    .unwrap_or_default(),
                before
                    .map(|b| b.managed_policies.clone())
                    .unwrap_or_default(),
            )
        };
        if all || fields.contains("trust_policy") {
            iam.update_assume_role_policy()
                .role_name(&x.name)
                .policy_document(json(&x.trust_policy))
                .send()
                .await
                .map_err(sdk(a, "writing the trust policy"))?;
        }
        for (name, doc) in &x.inline_policies {
            if create || all || fields.contains(format!("inline_policies.{name}").as_str()) {
                iam.put_role_policy()
                    .role_name(&x.name)
                    .policy_name(name)
                    .policy_document(json(doc))
                    .send()
                    .await
                    .map_err(sdk(a, "writing an inline policy"))?;
            }
        }
        let live_inline: BTreeSet<String> = if all {
            iam.list_role_policies()
                .role_name(&x.name)
                .send()
                .await
                .map_err(sdk(a, "listing inline policies"))?
                .policy_names()
                .iter()
                .cloned()
                .collect()
        } else {
            live_inline
        };
        for name in live_inline
            .iter()
            .filter(|n| !x.inline_policies.contains_key(*n))
        {
            iam.delete_role_policy()
                .role_name(&x.name)
                .policy_name(name)
                .send()
                .await
                .map_err(sdk(a, "deleting an inline policy"))?;
        }
        if create || all || fields.contains("managed_policies") {
            let live: BTreeSet<String> = if all {
                iam.list_attached_role_policies()
                    .role_name(&x.name)
                    .send()
                    .await
                    .map_err(sdk(a, "listing attached policies"))?
                    .attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn().map(String::from))
                    .collect()
            } else {
                live_managed
            };
            for arn in x.managed_policies.difference(&live) {
                iam.attach_role_policy()
                    .role_name(&x.name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(sdk(a, "attaching a managed policy"))?;
            }
            for arn in live.difference(&x.managed_policies) {
                iam.detach_role_policy()
                    .role_name(&x.name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(sdk(a, "detaching a managed policy"))?;
            }
        }
        if !create && (all || tags_changed(change)) {
            let gone = removed_tags(change, r);
            if !gone.is_empty() {
                iam.untag_role()
                    .role_name(&x.name)
                    .set_tag_keys(Some(gone))
                    .send()
                    .await
                    .map_err(sdk(a, "removing tags"))?;
            }
        }
        if all || (!create && tags_changed(change)) {
            iam.tag_role()
                .role_name(&x.name)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(sdk(a, "writing tags"))?;
        }
        Ok(())
    }

    // ----- S3 ------------------------------------------------------------------------

    async fn bucket(
        &self,
        r: &Resource,
        x: &BucketSpec,
        change: &ResourceChange,
        create: bool,
    ) -> Result<(), AwsError> {
        use aws_sdk_s3::types::*;
        let s3 = &self.clients.s3;
        let a = &r.address;
        let fields = changed(change);
        let want = |f: &str| create || fields.contains(f);
        let tag_set: Vec<Tag> = r
            .tags
            .iter()
            .map(|(k, v)| {
                Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("key and value set")
            })
            .collect();
        if create {
            // Tags go with the bucket itself, so it is never without its ownership tags.
            let mut conf = CreateBucketConfiguration::builder().set_tags(Some(tag_set.clone()));
            if r.region != "us-east-1" {
                conf = conf.location_constraint(BucketLocationConstraint::from(r.region.as_str()));
            }
            let req = s3
                .create_bucket()
                .bucket(&x.name)
                .create_bucket_configuration(conf.build());
            if let Err(e) = req.send().await {
                let e = AwsError::from_sdk(format!("{a}: creating the bucket"), e);
                if e.code() != Some("BucketAlreadyOwnedByYou") {
                    return Err(e);
                }
            }
        }
        if create || tags_changed(change) {
            let set = tag_set;
            s3.put_bucket_tagging()
                .bucket(&x.name)
                .tagging(
                    Tagging::builder()
                        .set_tag_set(Some(set))
                        .build()
                        .expect("tag set"),
                )
                .send()
                .await
                .map_err(sdk(a, "writing tags"))?;
        }
        if want("versioning") && (x.versioning || !create) {
            let status = if x.versioning {
                BucketVersioningStatus::Enabled
            } else {
                BucketVersioningStatus::Suspended
            };
            s3.put_bucket_versioning()
                .bucket(&x.name)
                .versioning_configuration(VersioningConfiguration::builder().status(status).build())
                .send()
                .await
                .map_err(sdk(a, "writing versioning"))?;
        }
        if want("encryption") {
            let default = match &x.encryption {
                crate::expand::resource::Encryption::Aes256 => {
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::Aes256)
                        .build()
                }
                crate::expand::resource::Encryption::AwsKms { key } => {
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::AwsKms)
                        .kms_master_key_id(key)
                        .build()
                }
            }
            .map_err(|e| unexpected(a, e.to_string()))?;
            let rule = ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(default)
                .bucket_key_enabled(matches!(
                    x.encryption,
                    crate::expand::resource::Encryption::AwsKms { .. }
                ))
                .build();
            s3.put_bucket_encryption()
                .bucket(&x.name)
                .server_side_encryption_configuration(
                    ServerSideEncryptionConfiguration::builder()
                        .rules(rule)
                        .build()
                        .map_err(|e| unexpected(a, e.to_string()))?,
                )
                .send()
                .await
                .map_err(sdk(a, "writing encryption"))?;
        }
        if want("block_public_access") {
            let on = x.block_public_access;
            s3.put_public_access_block()
                .bucket(&x.name)
                .public_access_block_configuration(
                    PublicAccessBlockConfiguration::builder()
                        .block_public_acls(on)
                        .ignore_public_acls(on)
                        .block_public_policy(on)
                        .restrict_public_buckets(on)
                        .build(),
                )
                .send()
                .await
                .map_err(sdk(a, "writing the public access block"))?;
        }
        if want("policy_statements") {
            let live = if create {
                None
            } else {
                match s3.get_bucket_policy().bucket(&x.name).send().await {
                    Ok(p) => p.policy().map(String::from),
                    Err(e) => {
                        let e = AwsError::from_sdk(format!("{a}: reading the policy"), e);
                        if e.code() != Some("NoSuchBucketPolicy") {
                            return Err(e);
                        }
                        None
                    }
                }
            };
            match self.merge(live.as_deref(), &x.policy_statements, a)? {
                Some(policy) => {
                    s3.put_bucket_policy()
                        .bucket(&x.name)
                        .policy(policy)
                        .send()
                        .await
                        .map_err(sdk(a, "writing the policy"))?;
                }
                None if !create => {
                    s3.delete_bucket_policy()
                        .bucket(&x.name)
                        .send()
                        .await
                        .map_err(sdk(a, "deleting the policy"))?;
                }
                None => {}
            }
        }
        if want("eventbridge_notifications") && (x.eventbridge_notifications || !create) {
            let mut conf = NotificationConfiguration::builder();
            if x.eventbridge_notifications {
                conf = conf.event_bridge_configuration(EventBridgeConfiguration::builder().build());
            }
            s3.put_bucket_notification_configuration()
                .bucket(&x.name)
                .notification_configuration(conf.build())
                .send()
                .await
                .map_err(sdk(a, "writing notifications"))?;
        }
        Ok(())
    }

    // ----- KMS -----------------------------------------------------------------------

    async fn key(
        &self,
        r: &Resource,
        x: &KeySpec,
        change: &ResourceChange,
        create: bool,
    ) -> Result<(), AwsError> {
        let kms = &self.clients.kms;
        let a = &r.address;
        let tags: Vec<aws_sdk_kms::types::Tag> = r
            .tags
            .iter()
            .map(|(k, v)| {
                aws_sdk_kms::types::Tag::builder()
                    .tag_key(k)
                    .tag_value(v)
                    .build()
                    .expect("key and value set")
            })
            .collect();
        if create {
            let policy = self.merge(None, &x.policy_statements, a)?;
            // An interrupted apply may have created the key but not its alias: find it by
            // its address tag and finish it, instead of creating a duplicate.
            let (id, fresh) = match self.unaliased_key(a).await? {
                Some(id) => (id, false),
                None => self.create_key(a, x, policy.clone(), tags.clone()).await?,
            };
            self.create_alias(a, &x.alias, &id).await?;
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
            kms.cancel_key_deletion()
                .key_id(&id)
                .send()
                .await
                .map_err(sdk(a, "cancelling deletion"))?;
            kms.enable_key()
                .key_id(&id)
                .send()
                .await
                .map_err(sdk(a, "enabling the key"))?;
        }
        if fields.contains("policy_statements") {
            let live = kms
                .get_key_policy()
                .key_id(&id)
                .policy_name("default")
                .send()
                .await
                .map_err(sdk(a, "reading the key policy"))?;
            if let Some(policy) = self.merge(live.policy(), &x.policy_statements, a)? {
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
            let gone = removed_tags(change, r);
            if !gone.is_empty() {
                kms.untag_resource()
                    .key_id(&id)
                    .set_tag_keys(Some(gone))
                    .send()
                    .await
                    .map_err(sdk(a, "removing tags"))?;
            }
            kms.tag_resource()
                .key_id(&id)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(sdk(a, "writing tags"))?;
        }
        Ok(())
    }

    /// CreateKey is not idempotent (the KMS API reference, CreateKey, offers no client
    /// token, and every call makes a new key): when its answer is lost (a dropped connection, a 5xx
    /// after the key was made), trying again blindly would make a second key. So the SDK
    /// does not retry it; this does, after looking for the key a lost attempt may have
    /// made (by its address tag). Returns the key id and whether this call created it
    /// (`false`: it was found, and its policy and tags must still be written).
    async fn create_key(
        &self,
        a: &Address,
        x: &KeySpec,
        policy: Option<String>,
        tags: Vec<aws_sdk_kms::types::Tag>,
    ) -> Result<(String, bool), AwsError> {
        let kms = &self.clients.kms;
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
                    if let Some(id) = self.unaliased_key(a).await? {
                        return Ok((id, false));
                    }
                    tokio::time::sleep(
                        delay + std::time::Duration::from_millis(fastrand::u64(0..500)),
                    )
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
    async fn create_alias(&self, a: &Address, alias: &str, id: &str) -> Result<(), AwsError> {
        let kms = &self.clients.kms;
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
    async fn unaliased_key(&self, a: &Address) -> Result<Option<String>, AwsError> {
        let kms = &self.clients.kms;
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
                let ours = tags.tags().iter().any(|t| {
                    t.tag_key() == crate::expand::TAG_ADDRESS && t.tag_value() == a.as_str()
                });
                if !ours {
                    continue;
                }
                let state = kms
                    .describe_key()
                    .key_id(id)
                    .send()
                    .await
                    .map_err(sdk(a, "reading a key"))?
                    .key_metadata()
                    .and_then(|m| m.key_state().map(|s| s.as_str().to_string()));
                match state.as_deref() {
                    Some("Enabled") => return Ok(Some(id.to_string())),
                    Some("PendingDeletion") => {
                        kms.cancel_key_deletion()
                            .key_id(id)
                            .send()
                            .await
                            .map_err(sdk(a, "cancelling deletion"))?;
                        kms.enable_key()
                            .key_id(id)
                            .send()
                            .await
                            .map_err(sdk(a, "enabling the key"))?;
                        return Ok(Some(id.to_string()));
                    }
                    _ => continue,
                }
            }
        }
        Ok(None)
    }

    // ----- EventBridge ---------------------------------------------------------------

    fn event_tags(r: &Resource) -> Vec<aws_sdk_eventbridge::types::Tag> {
        r.tags
            .iter()
            .map(|(k, v)| {
                aws_sdk_eventbridge::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("key and value set")
            })
            .collect()
    }

    async fn event_retag(
        &self,
        r: &Resource,
        arn: &str,
        change: &ResourceChange,
    ) -> Result<(), AwsError> {
        let ev = &self.clients.events;
        let a = &r.address;
        let gone = removed_tags(change, r);
        if !gone.is_empty() {
            ev.untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(gone))
                .send()
                .await
                .map_err(sdk(a, "removing tags"))?;
        }
        ev.tag_resource()
            .resource_arn(arn)
            .set_tags(Some(Self::event_tags(r)))
            .send()
            .await
            .map_err(sdk(a, "writing tags"))?;
        Ok(())
    }

    async fn bus(
        &self,
        r: &Resource,
        x: &BusSpec,
        change: &ResourceChange,
        create: bool,
    ) -> Result<(), AwsError> {
        let ev = &self.clients.events;
        let a = &r.address;
        let mut live: Option<String> = None;
        if create {
            if let Err(e) = ev
                .create_event_bus()
                .name(&x.name)
                .set_tags(Some(Self::event_tags(r)))
                .send()
                .await
            {
                let e = AwsError::from_sdk(format!("{a}: creating the bus"), e);
                if e.code() != Some("ResourceAlreadyExistsException") {
                    return Err(e);
                }
            }
        } else if tags_changed(change) {
            self.event_retag(r, &x.arn, change).await?;
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
            if let Some(policy) = self.merge(live.as_deref(), &x.policy_statements, a)? {
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

    async fn rule(
        &self,
        r: &Resource,
        x: &RuleSpec,
        change: &ResourceChange,
        create: bool,
    ) -> Result<(), AwsError> {
        let ev = &self.clients.events;
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
                .set_tags(create.then(|| Self::event_tags(r)))
                .send()
                .await
                .map_err(sdk(a, "writing the rule"))?;
        }
        if !create && tags_changed(change) {
            self.event_retag(r, &x.arn, change).await?;
        }
        Ok(())
    }

    async fn target(&self, r: &Resource, x: &TargetSpec) -> Result<(), AwsError> {
        let a = &r.address;
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id(&x.id)
            .arn(&x.arn)
            .role_arn(&x.role_arn)
            .build()
            .map_err(|e| unexpected(a, e.to_string()))?;
        let out = self
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

    // ----- CodePipeline --------------------------------------------------------------

    async fn pipeline(
        &self,
        r: &Resource,
        x: &PipelineSpec,
        change: &ResourceChange,
        create: bool,
    ) -> Result<(), AwsError> {
        let cp = &self.clients.pipeline;
        let a = &r.address;
        let declaration = declaration(x).map_err(|e| unexpected(a, e))?;
        let tags: Vec<aws_sdk_codepipeline::types::Tag> = r
            .tags
            .iter()
            .map(|(k, v)| {
                aws_sdk_codepipeline::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("key and value set")
            })
            .collect();
        let fields = changed(change);
        let update = !create && fields.iter().any(|f| !f.starts_with("tags."));
        if create {
            match cp
                .create_pipeline()
                .pipeline(declaration.clone())
                .set_tags(Some(tags.clone()))
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) => {
                    let e = AwsError::from_sdk(format!("{a}: creating the pipeline"), e);
                    if e.code() != Some("PipelineNameInUseException") {
                        return Err(e);
                    }
                }
            }
        }
        if create || update {
            cp.update_pipeline()
                .pipeline(declaration)
                .send()
                .await
                .map_err(sdk(a, "updating the pipeline"))?;
        }
        if create || tags_changed(change) {
            let gone = removed_tags(change, r);
            if !gone.is_empty() {
                cp.untag_resource()
                    .resource_arn(&x.arn)
                    .set_tag_keys(Some(gone))
                    .send()
                    .await
                    .map_err(sdk(a, "removing tags"))?;
            }
            cp.tag_resource()
                .resource_arn(&x.arn)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(sdk(a, "writing tags"))?;
        }
        Ok(())
    }

    // ----- deletion ------------------------------------------------------------------

    async fn delete(
        &self,
        spec: &Spec,
        tags: &BTreeMap<String, String>,
        id: Option<&str>,
        a: &Address,
    ) -> Result<(), AwsError> {
        if tags.get(TAG_LIFECYCLE).map(String::as_str) == Some("protect") {
            return Err(unexpected(
                a,
                "refusing to delete a protected resource (tether:lifecycle=protect)",
            ));
        }
        match spec {
            Spec::IamRole(x) => {
                let iam = &self.clients.iam;
                let names = iam
                    .list_role_policies()
                    .role_name(&x.name)
                    .send()
                    .await
                    .map_err(sdk(a, "listing inline policies"))?;
                for n in names.policy_names() {
                    gone(
                        iam.delete_role_policy()
                            .role_name(&x.name)
                            .policy_name(n)
                            .send()
                            .await
                            .map_err(sdk(a, "deleting an inline policy")),
                        &["NoSuchEntity"],
                    )?;
                }
                let attached = iam
                    .list_attached_role_policies()
                    .role_name(&x.name)
                    .send()
                    .await
                    .map_err(sdk(a, "listing attached policies"))?;
                for p in attached.attached_policies() {
                    gone(
                        iam.detach_role_policy()
                            .role_name(&x.name)
                            .set_policy_arn(p.policy_arn().map(String::from))
                            .send()
                            .await
                            .map_err(sdk(a, "detaching a managed policy")),
                        &["NoSuchEntity"],
                    )?;
                }
                gone(
                    iam.delete_role()
                        .role_name(&x.name)
                        .send()
                        .await
                        .map_err(sdk(a, "deleting the role")),
                    &["NoSuchEntity"],
                )?;
            }
            Spec::S3Bucket(x) => {
                let s3 = &self.clients.s3;
                let force = tags.get(TAG_FORCE_DESTROY).map(String::as_str) == Some("true");
                let versions = s3
                    .list_object_versions()
                    .bucket(&x.name)
                    .send()
                    .await
                    .map_err(sdk(a, "listing objects"))?;
                let objects: Vec<(String, Option<String>)> = versions
                    .versions()
                    .iter()
                    .map(|v| {
                        (
                            v.key().unwrap_or_default().to_string(),
                            v.version_id().map(String::from),
                        )
                    })
                    .chain(versions.delete_markers().iter().map(|m| {
                        (
                            m.key().unwrap_or_default().to_string(),
                            m.version_id().map(String::from),
                        )
                    }))
                    .collect();
                if !objects.is_empty() && !force {
                    return Err(unexpected(
                        a,
                        format!(
                            "bucket `{}` is not empty ({} object versions); empty it, or set `force_destroy: true` on its entry and apply before removing it",
                            x.name,
                            objects.len()
                        ),
                    ));
                }
                for (key, version) in objects {
                    s3.delete_object()
                        .bucket(&x.name)
                        .key(key)
                        .set_version_id(version)
                        .send()
                        .await
                        .map_err(sdk(a, "deleting an object"))?;
                }
                gone(
                    s3.delete_bucket()
                        .bucket(&x.name)
                        .send()
                        .await
                        .map_err(sdk(a, "deleting the bucket")),
                    &["NoSuchBucket"],
                )?;
            }
            Spec::KmsKey(x) => {
                let kms = &self.clients.kms;
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
                    let state = kms
                        .describe_key()
                        .key_id(id)
                        .send()
                        .await
                        .map_err(sdk(a, "reading the key"))?
                        .key_metadata()
                        .and_then(|m| m.key_state().map(|s| s.as_str().to_string()));
                    if state.as_deref() != Some("PendingDeletion") {
                        return Err(e);
                    }
                }
            }
            Spec::EventBus(x) => {
                let deleted = self
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
            }
            Spec::EventRule(x) => {
                let ev = &self.clients.events;
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
            }
            Spec::EventTarget(x) => {
                gone(
                    self.clients
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
            }
            Spec::Pipeline(x) => {
                gone(
                    self.clients
                        .pipeline
                        .delete_pipeline()
                        .name(&x.name)
                        .send()
                        .await
                        .map_err(sdk(a, "deleting the pipeline")),
                    &["PipelineNotFoundException"],
                )?;
            }
        }
        Ok(())
    }
}

/// The CodePipeline declaration of a pipeline spec.
fn declaration(
    x: &PipelineSpec,
) -> Result<aws_sdk_codepipeline::types::PipelineDeclaration, String> {
    use aws_sdk_codepipeline::types::*;
    let e = |e: aws_smithy_types::error::operation::BuildError| e.to_string();
    let mut d = PipelineDeclaration::builder()
        .name(&x.name)
        .role_arn(&x.role_arn)
        .pipeline_type(PipelineType::from(x.pipeline_type.as_str()))
        .execution_mode(ExecutionMode::from(x.execution_mode.as_str()));
    for (region, s) in &x.artifact_stores {
        let store = ArtifactStore::builder()
            .r#type(ArtifactStoreType::S3)
            .location(&s.bucket)
            .encryption_key(
                EncryptionKey::builder()
                    .id(&s.key)
                    .r#type(EncryptionKeyType::Kms)
                    .build()
                    .map_err(e)?,
            )
            .build()
            .map_err(e)?;
        d = d.artifact_stores(region, store);
    }
    for v in &x.variables {
        d = d.variables(
            PipelineVariableDeclaration::builder()
                .name(&v.name)
                .default_value(&v.default_value)
                .build()
                .map_err(e)?,
        );
    }
    for st in &x.stages {
        let mut stage = StageDeclaration::builder().name(&st.name);
        for act in &st.actions {
            let mut b = ActionDeclaration::builder()
                .name(&act.name)
                .action_type_id(
                    ActionTypeId::builder()
                        .category(ActionCategory::from(act.category.as_str()))
                        .owner(ActionOwner::from(act.owner.as_str()))
                        .provider(&act.provider)
                        .version(&act.version)
                        .build()
                        .map_err(e)?,
                )
                .run_order(act.run_order as i32)
                .set_configuration(Some(act.configuration.clone().into_iter().collect()))
                .set_role_arn(act.role_arn.clone())
                .set_region(act.region.clone());
            if !act.commands.is_empty() {
                b = b.set_commands(Some(act.commands.clone()));
            }
            for i in &act.input_artifacts {
                b = b.input_artifacts(InputArtifact::builder().name(i).build().map_err(e)?);
            }
            for o in &act.output_artifacts {
                b = b.output_artifacts(OutputArtifact::builder().name(o).build().map_err(e)?);
            }
            stage = stage.actions(b.build().map_err(e)?);
        }
        d = d.stages(stage.build().map_err(e)?);
    }
    d.build().map_err(e)
}
