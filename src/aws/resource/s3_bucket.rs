//! S3 buckets: the account's bucket list (one call serves every bucket, its region
//! included), then each relevant bucket's settings; created with their tags, updated
//! setting by setting, the policy merged with statements tether does not own; deleted
//! only when empty or `force_destroy`. The spec: `crate::resource::s3_bucket`.

use super::{Provider, ReadScope};
use crate::aws::read::{is_not_found, managed, policy, tag_map, ReadCx};
use crate::aws::write::{changed, gone, sdk, tag_list, tags_changed, unexpected, Put, Writer};
use crate::aws::{AwsError, Clients};
use crate::expand::TAG_FORCE_DESTROY;
use crate::resource::{Address, BucketSpec, Encryption, Kind, Resource, Spec};
use crate::state::{Observed, Owner};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tokio::task::JoinSet;

impl Provider for BucketSpec {
    const READ: ReadScope = ReadScope::Account;

    /// The wanted buckets of the account, and (discovery) its other buckets in the
    /// topology's regions and those its ownership marker records, owned by tag.
    async fn read(cx: &ReadCx) -> Result<Vec<Observed>, AwsError> {
        let account = &cx.account;
        let listed: Vec<(String, Option<String>)> = {
            let _p = cx.permit().await;
            let out = cx.clients().s3.list_buckets().send().await.map_err(|e| {
                AwsError::from_sdk(format!("accounts.{account}: listing S3 buckets"), e)
            })?;
            out.buckets()
                .iter()
                .filter_map(|b| {
                    b.name()
                        .map(|n| (n.to_string(), b.bucket_region().map(String::from)))
                })
                .collect()
        };
        let mine: HashMap<String, Option<String>> = listed.into_iter().collect();
        let desired_names: BTreeSet<String> = cx
            .desired
            .values()
            .filter_map(|r| r.bucket().map(|b| b.name.clone()))
            .collect();

        let mut tasks: JoinSet<Result<Option<Observed>, AwsError>> = JoinSet::new();
        for r in cx.wanted.iter().filter(|r| r.bucket().is_some()) {
            let b = r.bucket().expect("filtered to buckets").clone();
            let (cx, r) = (cx.clone(), r.clone());
            let ours = mine.contains_key(&b.name);
            tasks.spawn(async move {
                let _p = cx.permit().await;
                let c = cx.clients_in(&r.region);
                if !ours {
                    // The namespace is global: the name may be taken by another account.
                    return match c.s3.head_bucket().bucket(&b.name).send().await {
                        Ok(_) => Ok(Some(foreign_bucket(&cx, &r, &b))),
                        Err(e) => {
                            let status = e.raw_response().map(|r| r.status().as_u16());
                            match status {
                                Some(404) => Ok(None),
                                Some(403) | Some(301) => Ok(Some(foreign_bucket(&cx, &r, &b))),
                                _ => Err(AwsError::from_sdk(r.address.to_string(), e)),
                            }
                        }
                    };
                }
                read_bucket(&cx, &c, &r.region, &b.name).await.map(Some)
            });
        }
        for (name, region) in mine {
            if desired_names.contains(&name) {
                continue;
            }
            let cx = cx.clone();
            tasks.spawn(async move {
                let _p = cx.permit().await;
                let region = match region {
                    Some(r) => r,
                    None => {
                        let loc = cx
                            .clients()
                            .s3
                            .get_bucket_location()
                            .bucket(&name)
                            .send()
                            .await
                            .map_err(|e| {
                                AwsError::from_sdk(format!("s3 bucket {name}: locating"), e)
                            })?;
                        match loc.location_constraint().map(|l| l.as_str().to_string()) {
                            Some(l) if !l.is_empty() => l,
                            _ => "us-east-1".to_string(),
                        }
                    }
                };
                let marked = cx
                    .scope
                    .extra_regions
                    .get(&cx.account)
                    .is_some_and(|r| r.contains(&region));
                if !cx.scope.regions.contains(&region) && !marked {
                    return Ok(None);
                }
                let c = cx.clients_in(&region);
                let tags = bucket_tags(&c, &name).await?;
                if cx.scope.owner(&tags) != Owner::This {
                    return Ok(None);
                }
                read_bucket(&cx, &c, &region, &name).await.map(Some)
            });
        }
        let mut out = Vec::new();
        while let Some(r) = tasks.join_next().await {
            let r = r.map_err(|e| AwsError::Unexpected {
                context: "reading buckets".into(),
                detail: e.to_string(),
            })?;
            out.extend(r?);
        }
        Ok(out)
    }

    async fn put(x: &Self, p: Put<'_>) -> Result<(), AwsError> {
        let (w, r, change, create) = (p.w, p.r, p.change, p.create);
        use aws_sdk_s3::types::*;
        let s3 = &w.clients.s3;
        let a = &r.address;
        let fields = changed(change);
        let want = |f: &str| create || fields.contains(f);
        let tag_set = tag_list(&r.tags, |k, v| Tag::builder().key(k).value(v).build());
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
        // `None`: the bucket's own default encryption stays as it is (adopted).
        if let Some(encryption) = x.encryption.as_ref().filter(|_| want("encryption")) {
            let default = match encryption {
                crate::resource::Encryption::Aes256 => ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(ServerSideEncryption::Aes256)
                    .build(),
                crate::resource::Encryption::AwsKms { key } => {
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
                    encryption,
                    crate::resource::Encryption::AwsKms { .. }
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
            match w.merge(live.as_deref(), &x.policy_statements, a)? {
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
            // PutBucketNotificationConfiguration "replaces the existing notification
            // configuration" (S3 API reference): tether owns only the EventBridge switch,
            // so it writes back the topic, queue and function notifications others made.
            let live = if create {
                None
            } else {
                Some(
                    s3.get_bucket_notification_configuration()
                        .bucket(&x.name)
                        .send()
                        .await
                        .map_err(sdk(a, "reading notifications"))?,
                )
            };
            let mut conf = NotificationConfiguration::builder();
            if let Some(live) = live {
                conf = conf
                    .set_topic_configurations(Some(live.topic_configurations().to_vec()))
                    .set_queue_configurations(Some(live.queue_configurations().to_vec()))
                    .set_lambda_function_configurations(Some(
                        live.lambda_function_configurations().to_vec(),
                    ));
            }
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

    /// A bucket with objects is deleted only when its entry said `force_destroy: true`
    /// (recorded in its tags), and then every object version goes first: S3 refuses to
    /// delete a bucket that is not empty (S3 API reference, DeleteBucket).
    async fn delete(w: &Writer<'_>, o: &Observed, x: &Self) -> Result<(), AwsError> {
        let (a, tags) = (&o.address, &o.tags);
        let s3 = &w.clients.s3;
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
        Ok(())
    }
}

/// A bucket whose name another account holds: nothing of it can be read.
fn foreign_bucket(cx: &ReadCx, r: &Resource, b: &BucketSpec) -> Observed {
    let spec = Spec::S3Bucket(BucketSpec {
        name: b.name.clone(),
        arn: b.arn.clone(),
        versioning: false,
        encryption: Some(Encryption::Aes256),
        block_public_access: false,
        policy_statements: Vec::new(),
        eventbridge_notifications: false,
        protect: false,
        force_destroy: false,
        adopt: false,
    });
    cx.observed_in(
        &r.region,
        r.address.clone(),
        spec,
        BTreeMap::new(),
        Owner::OtherAccount,
    )
}

async fn bucket_tags(c: &Clients, name: &str) -> Result<BTreeMap<String, String>, AwsError> {
    match c.s3.get_bucket_tagging().bucket(name).send().await {
        Ok(t) => Ok(tag_map(t.tag_set(), |t| (t.key(), t.value()))),
        Err(e) => {
            let e = AwsError::from_sdk(format!("s3 bucket {name}: reading tags"), e);
            if is_not_found(&e, &["NoSuchTagSet", "NoSuchTagSetError"]) {
                Ok(BTreeMap::new())
            } else {
                Err(e)
            }
        }
    }
}

async fn read_bucket(
    cx: &ReadCx,
    c: &Clients,
    region: &str,
    name: &str,
) -> Result<Observed, AwsError> {
    let address = Address::new(&cx.account, region, BucketSpec::KIND, name);
    let ctx = |what: &str| format!("{address}: reading {what}");
    let (tags, versioning, encryption, pab, policy_text, notification) = tokio::join!(
        bucket_tags(c, name),
        c.s3.get_bucket_versioning().bucket(name).send(),
        c.s3.get_bucket_encryption().bucket(name).send(),
        c.s3.get_public_access_block().bucket(name).send(),
        c.s3.get_bucket_policy().bucket(name).send(),
        c.s3.get_bucket_notification_configuration()
            .bucket(name)
            .send(),
    );
    let tags = tags?;
    let versioning = versioning
        .map_err(|e| AwsError::from_sdk(ctx("the versioning"), e))?
        .status()
        .is_some_and(|s| s.as_str() == "Enabled");
    let encryption = match encryption {
        Ok(e) => e
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default())
            .map(|d| match d.sse_algorithm().as_str() {
                "aws:kms" | "aws:kms:dsse" => Encryption::AwsKms {
                    key: d.kms_master_key_id().unwrap_or_default().to_string(),
                },
                _ => Encryption::Aes256,
            })
            .unwrap_or(Encryption::Aes256),
        Err(e) => {
            let e = AwsError::from_sdk(ctx("the default encryption"), e);
            if is_not_found(&e, &["ServerSideEncryptionConfigurationNotFoundError"]) {
                // Every bucket is SSE-S3 encrypted by default since 2023.
                Encryption::Aes256
            } else {
                return Err(e);
            }
        }
    };
    let block_public_access = match pab {
        Ok(p) => p.public_access_block_configuration().is_some_and(|c| {
            c.block_public_acls() == Some(true)
                && c.ignore_public_acls() == Some(true)
                && c.block_public_policy() == Some(true)
                && c.restrict_public_buckets() == Some(true)
        }),
        Err(e) => {
            let e = AwsError::from_sdk(ctx("the public access block"), e);
            if is_not_found(&e, &["NoSuchPublicAccessBlockConfiguration"]) {
                false
            } else {
                return Err(e);
            }
        }
    };
    let doc = match policy_text {
        Ok(p) => match p.policy() {
            Some(text) => Some(policy(text, &address.to_string())?),
            None => None,
        },
        Err(e) => {
            let e = AwsError::from_sdk(ctx("the bucket policy"), e);
            if is_not_found(&e, &["NoSuchBucketPolicy"]) {
                None
            } else {
                return Err(e);
            }
        }
    };
    let (statements, foreign) = managed(doc, &cx.scope.sid_prefix());
    let eventbridge = notification
        .map_err(|e| AwsError::from_sdk(ctx("the notification configuration"), e))?
        .event_bridge_configuration()
        .is_some();
    let spec = Spec::S3Bucket(BucketSpec {
        name: name.to_string(),
        arn: format!("arn:aws:s3:::{name}"),
        versioning,
        encryption: Some(encryption),
        block_public_access,
        policy_statements: statements,
        eventbridge_notifications: eventbridge,
        protect: false,
        force_destroy: false,
        adopt: false,
    });
    let owner = cx.scope.owner(&tags);
    let mut o = cx.observed_in(region, address, spec, tags, owner);
    o.foreign_statements = foreign.len();
    o.foreign = foreign;
    Ok(o)
}
