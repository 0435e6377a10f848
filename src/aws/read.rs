//! The state reader: live state of every desired resource, and discovery of owned
//! resources that are no longer desired.
//!
//! Reads are batched where AWS allows it (IAM roles come with their policies and tags
//! from one paginated `GetAccountAuthorizationDetails` per account; targets come with
//! their rule) and run concurrently within a bound. "Not found" means absent; any other
//! failure fails the plan with the resource address, the AWS code and message.

use super::{Aws, AwsError, Clients};
use crate::expand::policy::{PolicyDocument, Principal, Statement};
use crate::expand::resource::*;
use crate::expand::{Expansion, TAG_TOPOLOGY};
use crate::plan::normalize::parse;
use crate::state::{Observed, Owner, State};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// What the reader needs to know about the topology.
#[derive(Debug, Clone)]
pub struct Scope {
    pub topology: String,
    /// Account key → account id.
    pub accounts: BTreeMap<String, String>,
    /// Every region the topology names.
    pub regions: BTreeSet<String>,
    /// Per account key: regions its ownership marker records that the topology no longer
    /// names, searched for owned leftovers too.
    pub extra_regions: BTreeMap<String, BTreeSet<String>>,
    /// Read only these desired addresses (all when `None`); discovery still runs.
    pub only: Option<BTreeSet<Address>>,
}

impl Scope {
    pub fn new(topology: &crate::model::Topology, expansion: &Expansion) -> Scope {
        let mut regions: BTreeSet<String> = expansion
            .resources
            .iter()
            .filter(|r| r.region != "global")
            .map(|r| r.region.clone())
            .collect();
        if let Some(r) = &topology.default_region {
            regions.insert(r.to_string());
        }
        Scope {
            topology: topology.name.clone(),
            accounts: topology
                .accounts
                .iter()
                .map(|(k, a)| (k.clone(), a.id.clone()))
                .collect(),
            regions,
            extra_regions: BTreeMap::new(),
            only: None,
        }
    }

    fn sid_prefix(&self) -> String {
        format!("tether_{}_", self.topology)
    }

    fn name_prefix(&self) -> String {
        format!("{}-", self.topology)
    }

    fn owner(&self, tags: &BTreeMap<String, String>) -> Owner {
        match tags.get(TAG_TOPOLOGY) {
            Some(t) if *t == self.topology => Owner::This,
            Some(t) => Owner::Other(t.clone()),
            None => Owner::Nobody,
        }
    }
}

fn is_not_found(e: &AwsError, codes: &[&str]) -> bool {
    e.code().is_some_and(|c| codes.contains(&c))
}

type Found = Vec<Observed>;

/// Reads the live state of `expansion` and discovers owned leftovers.
pub async fn read(
    aws: Arc<Aws>,
    scope: Scope,
    expansion: &Expansion,
    parallelism: usize,
) -> Result<State, AwsError> {
    let scope = Arc::new(scope);
    let sem = Arc::new(Semaphore::new(parallelism.max(1)));
    let wanted: Vec<Resource> = expansion
        .resources
        .iter()
        .filter(|r| scope.only.as_ref().is_none_or(|o| o.contains(&r.address)))
        .cloned()
        .collect();
    let desired: Arc<BTreeMap<Address, Resource>> = Arc::new(
        expansion
            .resources
            .iter()
            .map(|r| (r.address.clone(), r.clone()))
            .collect(),
    );

    let mut tasks: JoinSet<Result<Found, AwsError>> = JoinSet::new();
    for (account, id) in scope.accounts.clone() {
        // IAM: one listing per account serves every role, desired or not.
        {
            let (aws, scope, sem) = (aws.clone(), scope.clone(), sem.clone());
            let (account, id) = (account.clone(), id.clone());
            let region = scope
                .regions
                .iter()
                .next()
                .cloned()
                .unwrap_or_else(|| "us-east-1".into());
            tasks.spawn(async move {
                let _p = sem.acquire().await.expect("semaphore");
                roles(&aws.clients(&account, &region), &scope, &account, &id).await
            });
        }
        // S3: the account's bucket list, then each relevant bucket.
        {
            let (aws, scope, sem, desired) =
                (aws.clone(), scope.clone(), sem.clone(), desired.clone());
            let (account, id) = (account.clone(), id.clone());
            let wanted: Vec<Resource> = wanted
                .iter()
                .filter(|r| r.account == account && r.bucket().is_some())
                .cloned()
                .collect();
            tasks
                .spawn(async move { buckets(aws, scope, sem, desired, wanted, account, id).await });
        }
        let regions: BTreeSet<String> = scope
            .regions
            .iter()
            .chain(scope.extra_regions.get(&account).into_iter().flatten())
            .cloned()
            .collect();
        for region in regions {
            let wanted_here: Vec<Resource> = wanted
                .iter()
                .filter(|r| r.account == account && r.region == region)
                .cloned()
                .collect();
            for kind in ["kms", "events", "pipeline"] {
                let (aws, scope, sem, desired) =
                    (aws.clone(), scope.clone(), sem.clone(), desired.clone());
                let (account, id, region) = (account.clone(), id.clone(), region.clone());
                let wanted_here = wanted_here.clone();
                tasks.spawn(async move {
                    let c = aws.clients(&account, &region);
                    let place = Place {
                        account: &account,
                        id: &id,
                        region: &region,
                    };
                    match kind {
                        "kms" => keys(&c, &scope, &sem, &desired, &wanted_here, place).await,
                        "events" => events(&c, &scope, &sem, &desired, &wanted_here, place).await,
                        _ => pipelines(&c, &scope, &sem, &desired, &wanted_here, place).await,
                    }
                });
            }
        }
    }

    let mut found: BTreeMap<Address, Observed> = BTreeMap::new();
    while let Some(r) = tasks.join_next().await {
        let r = r.map_err(|e| AwsError::Unexpected {
            context: "reading state".into(),
            detail: e.to_string(),
        })?;
        for o in r? {
            found.insert(o.address.clone(), o);
        }
    }

    let mut state = State::default();
    for r in &wanted {
        state
            .resources
            .insert(r.address.clone(), found.remove(&r.address));
    }
    // What is left was discovered: live, not desired (or outside `only`).
    for (a, o) in found {
        if !desired.contains_key(&a) {
            state.resources.insert(a, Some(o));
        }
    }
    Ok(state)
}

#[derive(Clone, Copy)]
struct Place<'a> {
    account: &'a str,
    id: &'a str,
    region: &'a str,
}

impl Place<'_> {
    fn observed(
        &self,
        address: Address,
        spec: Spec,
        tags: BTreeMap<String, String>,
        owner: Owner,
    ) -> Observed {
        Observed {
            address,
            account: self.account.to_string(),
            account_id: self.id.to_string(),
            region: self.region.to_string(),
            spec,
            tags,
            owner,
            id: None,
            foreign_statements: 0,
            broken_principals: BTreeSet::new(),
            pending_deletion: false,
        }
    }
}

fn policy(text: &str, context: &str) -> Result<PolicyDocument, AwsError> {
    let value = parse(text).map_err(|e| AwsError::Unexpected {
        context: context.to_string(),
        detail: format!("the live policy is not JSON: {e}"),
    })?;
    serde_json::from_value(value).map_err(|e| AwsError::Unexpected {
        context: context.to_string(),
        detail: format!("the live policy has an unexpected shape: {e}"),
    })
}

/// Splits a shared policy into tether's statements and a count of everyone else's.
fn managed(doc: Option<PolicyDocument>, prefix: &str) -> (Vec<Statement>, usize) {
    let Some(doc) = doc else {
        return (Vec::new(), 0);
    };
    let (ours, theirs): (Vec<Statement>, Vec<Statement>) = doc
        .statement
        .into_iter()
        .partition(|s| s.sid.as_deref().is_some_and(|sid| sid.starts_with(prefix)));
    (ours, theirs.len())
}

/// Principals shown as unique ids (`AROA…`, `AIDA…`): what they named was deleted.
fn broken(doc: &PolicyDocument) -> BTreeSet<String> {
    doc.statement
        .iter()
        .filter_map(|s| match &s.principal {
            Some(Principal::Aws(p)) => Some(p.iter()),
            _ => None,
        })
        .flatten()
        .filter(|p| {
            !p.starts_with("arn:")
                && *p != "*"
                && !(p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .cloned()
        .collect()
}

// ----- IAM ---------------------------------------------------------------------------

async fn roles(c: &Clients, scope: &Scope, account: &str, id: &str) -> Result<Found, AwsError> {
    let path = format!("/tether/{}/", scope.topology);
    let mut out = Vec::new();
    let mut pages = c
        .iam
        .get_account_authorization_details()
        .filter(aws_sdk_iam::types::EntityType::Role)
        .into_paginator()
        .send();
    let place = Place {
        account,
        id,
        region: "global",
    };
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(|e| AwsError::from_sdk(format!("accounts.{account}: listing IAM roles"), e))?;
        for r in page.role_detail_list() {
            let name = r.role_name().unwrap_or_default().to_string();
            let tags: BTreeMap<String, String> = r
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            let role_path = r.path().unwrap_or("/").to_string();
            let mut owner = scope.owner(&tags);
            if role_path == path && owner == Owner::Nobody {
                owner = Owner::This;
            }
            let address = Address::new(account, "global", "iam_role", &name);
            let context = address.to_string();
            let trust = policy(r.assume_role_policy_document().unwrap_or("{}"), &context)?;
            let broken_principals = broken(&trust);
            let inline = r
                .role_policy_list()
                .iter()
                .map(|p| {
                    Ok((
                        p.policy_name().unwrap_or_default().to_string(),
                        policy(p.policy_document().unwrap_or("{}"), &context)?,
                    ))
                })
                .collect::<Result<BTreeMap<_, _>, AwsError>>()?;
            let spec = Spec::IamRole(RoleSpec {
                arn: r.arn().unwrap_or_default().to_string(),
                name,
                path: role_path,
                trust_policy: trust,
                inline_policies: inline,
                managed_policies: r
                    .attached_managed_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn().map(String::from))
                    .collect(),
                adopt: false,
            });
            let mut o = place.observed(address, spec, tags, owner);
            o.broken_principals = broken_principals;
            out.push(o);
        }
    }
    Ok(out)
}

// ----- S3 ----------------------------------------------------------------------------

async fn buckets(
    aws: Arc<Aws>,
    scope: Arc<Scope>,
    sem: Arc<Semaphore>,
    desired: Arc<BTreeMap<Address, Resource>>,
    wanted: Vec<Resource>,
    account: String,
    id: String,
) -> Result<Found, AwsError> {
    let any_region = scope
        .regions
        .iter()
        .next()
        .cloned()
        .unwrap_or_else(|| "us-east-1".into());
    let listed: Vec<(String, Option<String>)> = {
        let _p = sem.acquire().await.expect("semaphore");
        let out = aws
            .clients(&account, &any_region)
            .s3
            .list_buckets()
            .send()
            .await
            .map_err(|e| {
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
    let desired_names: BTreeSet<String> = desired
        .values()
        .filter_map(|r| r.bucket().map(|b| b.name.clone()))
        .collect();

    let mut tasks: JoinSet<Result<Option<Observed>, AwsError>> = JoinSet::new();
    for r in wanted {
        let b = r.bucket().expect("filtered to buckets").clone();
        let (aws, scope, sem, account, id) = (
            aws.clone(),
            scope.clone(),
            sem.clone(),
            account.clone(),
            id.clone(),
        );
        let ours = mine.contains_key(&b.name);
        tasks.spawn(async move {
            let _p = sem.acquire().await.expect("semaphore");
            let c = aws.clients(&account, &r.region);
            let place = Place {
                account: &account,
                id: &id,
                region: &r.region,
            };
            if !ours {
                // The namespace is global: the name may be taken by another account.
                return match c.s3.head_bucket().bucket(&b.name).send().await {
                    Ok(_) => Ok(Some(foreign_bucket(place, &r, &b))),
                    Err(e) => {
                        let status = e.raw_response().map(|r| r.status().as_u16());
                        match status {
                            Some(404) => Ok(None),
                            Some(403) | Some(301) => Ok(Some(foreign_bucket(place, &r, &b))),
                            _ => Err(AwsError::from_sdk(r.address.to_string(), e)),
                        }
                    }
                };
            }
            read_bucket(&c, &scope, place, &b.name).await.map(Some)
        });
    }
    // Discovery: other buckets of the account in the topology's regions and those its
    // ownership marker records, owned by tag.
    for (name, region) in mine {
        if desired_names.contains(&name) {
            continue;
        }
        let (aws, scope, sem, account, id) = (
            aws.clone(),
            scope.clone(),
            sem.clone(),
            account.clone(),
            id.clone(),
        );
        let any_region = any_region.clone();
        tasks.spawn(async move {
            let _p = sem.acquire().await.expect("semaphore");
            let region = match region {
                Some(r) => r,
                None => {
                    let loc = aws
                        .clients(&account, &any_region)
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
            let marked = scope
                .extra_regions
                .get(&account)
                .is_some_and(|r| r.contains(&region));
            if !scope.regions.contains(&region) && !marked {
                return Ok(None);
            }
            let c = aws.clients(&account, &region);
            let tags = bucket_tags(&c, &name).await?;
            if scope.owner(&tags) != Owner::This {
                return Ok(None);
            }
            let place = Place {
                account: &account,
                id: &id,
                region: &region,
            };
            read_bucket(&c, &scope, place, &name).await.map(Some)
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

fn foreign_bucket(place: Place<'_>, r: &Resource, b: &BucketSpec) -> Observed {
    let spec = Spec::S3Bucket(BucketSpec {
        name: b.name.clone(),
        arn: b.arn.clone(),
        versioning: false,
        encryption: Encryption::Aes256,
        block_public_access: false,
        policy_statements: Vec::new(),
        eventbridge_notifications: false,
        protect: false,
        force_destroy: false,
        adopt: false,
    });
    place.observed(
        r.address.clone(),
        spec,
        BTreeMap::new(),
        Owner::OtherAccount,
    )
}

async fn bucket_tags(c: &Clients, name: &str) -> Result<BTreeMap<String, String>, AwsError> {
    match c.s3.get_bucket_tagging().bucket(name).send().await {
        Ok(t) => Ok(t
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect()),
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
    c: &Clients,
    scope: &Scope,
    place: Place<'_>,
    name: &str,
) -> Result<Observed, AwsError> {
    let address = Address::new(place.account, place.region, "s3_bucket", name);
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
    let (statements, foreign) = managed(doc, &scope.sid_prefix());
    let eventbridge = notification
        .map_err(|e| AwsError::from_sdk(ctx("the notification configuration"), e))?
        .event_bridge_configuration()
        .is_some();
    let spec = Spec::S3Bucket(BucketSpec {
        name: name.to_string(),
        arn: format!("arn:aws:s3:::{name}"),
        versioning,
        encryption,
        block_public_access,
        policy_statements: statements,
        eventbridge_notifications: eventbridge,
        protect: false,
        force_destroy: false,
        adopt: false,
    });
    let owner = scope.owner(&tags);
    let mut o = place.observed(address, spec, tags, owner);
    o.foreign_statements = foreign;
    Ok(o)
}

// ----- KMS ---------------------------------------------------------------------------

async fn keys(
    c: &Clients,
    scope: &Scope,
    sem: &Semaphore,
    desired: &BTreeMap<Address, Resource>,
    wanted: &[Resource],
    place: Place<'_>,
) -> Result<Found, AwsError> {
    let wanted_aliases: BTreeSet<&str> = wanted
        .iter()
        .filter_map(|r| r.key())
        .map(|k| k.alias.as_str())
        .collect();
    let desired_aliases: BTreeSet<String> = desired
        .values()
        .filter(|r| r.account == place.account && r.region == place.region)
        .filter_map(|r| r.key().map(|k| k.alias.clone()))
        .collect();
    let prefix = format!("alias/{}", scope.name_prefix());
    let mut aliases: Vec<(String, String)> = Vec::new();
    {
        let _p = sem.acquire().await.expect("semaphore");
        let mut pages = c.kms.list_aliases().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                AwsError::from_sdk(
                    format!(
                        "accounts.{} {}: listing KMS aliases",
                        place.account, place.region
                    ),
                    e,
                )
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
        let _p = sem.acquire().await.expect("semaphore");
        let address = Address::new(
            place.account,
            place.region,
            "kms_key",
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
        let tags: BTreeMap<String, String> = tags
            .map_err(|e| AwsError::from_sdk(ctx("the tags"), e))?
            .tags()
            .iter()
            .map(|t| (t.tag_key().to_string(), t.tag_value().to_string()))
            .collect();
        let owner = scope.owner(&tags);
        if !wanted_aliases.contains(alias.as_str()) && owner != Owner::This {
            continue; // a key with our prefix that someone else owns: not ours to delete
        }
        let (statements, foreign) = managed(doc, &scope.sid_prefix());
        let spec = Spec::KmsKey(KeySpec {
            alias_arn: String::new(),
            alias,
            description: meta
                .and_then(|m| m.description())
                .unwrap_or_default()
                .to_string(),
            rotation,
            policy_statements: statements,
            deletion_window_days: 0,
        });
        let mut o = place.observed(address, spec, tags, owner);
        o.id = Some(key_id);
        o.foreign_statements = foreign;
        o.pending_deletion = pending;
        out.push(o);
    }
    Ok(out)
}

// ----- EventBridge -------------------------------------------------------------------

async fn events(
    c: &Clients,
    scope: &Scope,
    sem: &Semaphore,
    desired: &BTreeMap<Address, Resource>,
    wanted: &[Resource],
    place: Place<'_>,
) -> Result<Found, AwsError> {
    let ctx = format!("accounts.{} {}", place.account, place.region);
    let here = |r: &&Resource| r.account == place.account && r.region == place.region;
    let desired_buses: BTreeSet<String> = desired
        .values()
        .filter(here)
        .filter_map(|r| r.bus().map(|b| b.name.clone()))
        .collect();
    let wanted_buses: BTreeSet<String> = wanted
        .iter()
        .filter_map(|r| r.bus().map(|b| b.name.clone()))
        .collect();
    let wanted_rules = wanted
        .iter()
        .any(|r| r.rule().is_some() || r.target().is_some());

    let mut buses: Vec<(String, String, Option<String>)> = Vec::new();
    {
        let _p = sem.acquire().await.expect("semaphore");
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
                    buses.push((n.to_string(), a.to_string(), b.policy().map(String::from)));
                }
            }
            token = page.next_token().map(String::from);
            if token.is_none() {
                break;
            }
        }
    }
    let mut out = Vec::new();
    // Buses: desired ones, and others owned by tag (discovery).
    let mut rule_buses: BTreeSet<String> = BTreeSet::from(["default".to_string()]);
    for (name, arn, policy_text) in buses {
        if name == "default" {
            continue;
        }
        let desired_here = desired_buses.contains(&name);
        if desired_here && !wanted_buses.contains(&name) && !wanted_rules {
            continue;
        }
        let _p = sem.acquire().await.expect("semaphore");
        let tags = event_tags(c, &arn, &format!("{ctx}: bus {name}")).await?;
        let owner = scope.owner(&tags);
        if !desired_here && owner != Owner::This {
            continue;
        }
        rule_buses.insert(name.clone());
        if !wanted_buses.contains(&name) && desired_here {
            continue;
        }
        let address = Address::new(place.account, place.region, "event_bus", &name);
        let doc = policy_text
            .map(|p| policy(&p, &address.to_string()))
            .transpose()?;
        let (statements, foreign) = managed(doc, &scope.sid_prefix());
        let spec = Spec::EventBus(BusSpec {
            name,
            arn,
            policy_statements: statements,
            adopt: false,
        });
        let mut o = place.observed(address, spec, tags, owner);
        o.foreign_statements = foreign;
        out.push(o);
    }
    // Rules with tether's prefix on the default bus and on tether's buses, with targets.
    for bus in rule_buses {
        let mut token: Option<String> = None;
        loop {
            let _p = sem.acquire().await.expect("semaphore");
            let page = c
                .events
                .list_rules()
                .event_bus_name(&bus)
                .name_prefix(scope.name_prefix())
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
                    place.account,
                    place.region,
                    "event_rule",
                    &format!("{bus}/{name}"),
                );
                let is_desired = desired.contains_key(&address);
                let is_wanted = wanted.iter().any(|r| {
                    r.address == address
                        || r.target().is_some_and(|t| t.rule == name && t.bus == bus)
                });
                if is_desired && !is_wanted {
                    continue;
                }
                let tags = event_tags(c, &arn, &address.to_string()).await?;
                let owner = scope.owner(&tags);
                if !is_desired && owner != Owner::This {
                    continue;
                }
                let pattern = rule
                    .event_pattern()
                    .map(|p| {
                        serde_json::from_str(p).unwrap_or(serde_json::Value::String(p.to_string()))
                    })
                    .unwrap_or(serde_json::Value::Null);
                let targets = c
                    .events
                    .list_targets_by_rule()
                    .rule(&name)
                    .event_bus_name(&bus)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(format!("{address}: listing targets"), e))?;
                for t in targets.targets() {
                    let taddr = Address::new(
                        place.account,
                        place.region,
                        "event_target",
                        &format!("{bus}/{name}/{}", t.id()),
                    );
                    let spec = Spec::EventTarget(TargetSpec {
                        rule: name.clone(),
                        bus: bus.clone(),
                        id: t.id().to_string(),
                        arn: t.arn().to_string(),
                        role_arn: t.role_arn().unwrap_or_default().to_string(),
                    });
                    out.push(place.observed(taddr, spec, BTreeMap::new(), owner.clone()));
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
                out.push(place.observed(address, spec, tags, owner));
            }
            token = page.next_token().map(String::from);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(out)
}

async fn event_tags(
    c: &Clients,
    arn: &str,
    context: &str,
) -> Result<BTreeMap<String, String>, AwsError> {
    let t = c
        .events
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("{context}: reading tags"), e))?;
    Ok(t.tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect())
}

// ----- CodePipeline ------------------------------------------------------------------

async fn pipelines(
    c: &Clients,
    scope: &Scope,
    sem: &Semaphore,
    desired: &BTreeMap<Address, Resource>,
    wanted: &[Resource],
    place: Place<'_>,
) -> Result<Found, AwsError> {
    let mut names: Vec<(String, bool)> = wanted
        .iter()
        .filter_map(|r| r.pipeline().map(|p| (p.name.clone(), true)))
        .collect();
    // Discovery: pipelines of this place that are not desired, owned by tag.
    {
        let _p = sem.acquire().await.expect("semaphore");
        let mut pages = c.pipeline.list_pipelines().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                AwsError::from_sdk(
                    format!(
                        "accounts.{} {}: listing pipelines",
                        place.account, place.region
                    ),
                    e,
                )
            })?;
            for p in page.pipelines() {
                let Some(name) = p.name() else { continue };
                let address = Address::new(place.account, place.region, "pipeline", name);
                if !desired.contains_key(&address) {
                    names.push((name.to_string(), false));
                }
            }
        }
    }
    let mut out = Vec::new();
    for (name, is_desired) in names {
        let _p = sem.acquire().await.expect("semaphore");
        let address = Address::new(place.account, place.region, "pipeline", &name);
        let arn = format!("arn:aws:codepipeline:{}:{}:{name}", place.region, place.id);
        let tags = match c
            .pipeline
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
        {
            Ok(t) => t
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect::<BTreeMap<_, _>>(),
            Err(e) => {
                let e = AwsError::from_sdk(format!("{address}: reading tags"), e);
                if is_not_found(
                    &e,
                    &["ResourceNotFoundException", "PipelineNotFoundException"],
                ) {
                    continue;
                }
                return Err(e);
            }
        };
        let owner = scope.owner(&tags);
        if !is_desired && owner != Owner::This {
            continue;
        }
        let got = match c.pipeline.get_pipeline().name(&name).send().await {
            Ok(p) => p,
            Err(e) => {
                let e = AwsError::from_sdk(format!("{address}: reading the pipeline"), e);
                if is_not_found(&e, &["PipelineNotFoundException"]) {
                    continue;
                }
                return Err(e);
            }
        };
        let Some(decl) = got.pipeline() else { continue };
        let spec = Spec::Pipeline(pipeline_spec(decl, &arn, place.region));
        out.push(place.observed(address, spec, tags, owner));
    }
    Ok(out)
}

fn pipeline_spec(
    d: &aws_sdk_codepipeline::types::PipelineDeclaration,
    arn: &str,
    region: &str,
) -> PipelineSpec {
    let mut stores = BTreeMap::new();
    let store = |s: &aws_sdk_codepipeline::types::ArtifactStore| ArtifactStore {
        bucket: s.location().to_string(),
        key: s
            .encryption_key()
            .map(|k| k.id().to_string())
            .unwrap_or_default(),
    };
    if let Some(m) = d.artifact_stores() {
        for (r, s) in m {
            stores.insert(r.clone(), store(s));
        }
    } else if let Some(s) = d.artifact_store() {
        stores.insert(region.to_string(), store(s));
    }
    PipelineSpec {
        name: d.name().to_string(),
        arn: arn.to_string(),
        role_arn: d.role_arn().to_string(),
        pipeline_type: d
            .pipeline_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_else(|| "V1".into()),
        execution_mode: d
            .execution_mode()
            .map(|t| t.as_str().to_string())
            .unwrap_or_else(|| "SUPERSEDED".into()),
        artifact_stores: stores,
        variables: d
            .variables()
            .iter()
            .map(|v| PipelineVariable {
                name: v.name().to_string(),
                default_value: v.default_value().unwrap_or_default().to_string(),
            })
            .collect(),
        stages: d
            .stages()
            .iter()
            .map(|s| StageSpec {
                name: s.name().to_string(),
                actions: s
                    .actions()
                    .iter()
                    .map(|a| {
                        let t = a.action_type_id();
                        ActionSpec {
                            name: a.name().to_string(),
                            category: t
                                .map(|t| t.category().as_str().to_string())
                                .unwrap_or_default(),
                            owner: t
                                .map(|t| t.owner().as_str().to_string())
                                .unwrap_or_default(),
                            provider: t.map(|t| t.provider().to_string()).unwrap_or_default(),
                            version: t.map(|t| t.version().to_string()).unwrap_or_default(),
                            run_order: a.run_order().unwrap_or(1) as u32,
                            configuration: a
                                .configuration()
                                .map(|c| c.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                                .unwrap_or_default(),
                            commands: a.commands().to_vec(),
                            input_artifacts: a
                                .input_artifacts()
                                .iter()
                                .map(|i| i.name().to_string())
                                .collect(),
                            output_artifacts: a
                                .output_artifacts()
                                .iter()
                                .map(|o| o.name().to_string())
                                .collect(),
                            role_arn: a.role_arn().map(String::from),
                            region: a.region().filter(|r| *r != region).map(String::from),
                        }
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_ids_in_principals_are_broken_trust() {
        let doc: PolicyDocument = serde_json::from_value(serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": ["AROAEXAMPLE123", "arn:aws:iam::111111111111:role/x", "111111111111"]}},
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "events.amazonaws.com"}}
            ]
        }))
        .unwrap();
        assert_eq!(broken(&doc), BTreeSet::from(["AROAEXAMPLE123".to_string()]));
    }

    #[test]
    fn shared_policies_split_into_ours_and_theirs() {
        let doc: PolicyDocument = serde_json::from_value(serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "tether_acme_A", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
                {"Sid": "tether_acme-other_A", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
            ]
        }))
        .unwrap();
        let (ours, theirs) = managed(Some(doc), "tether_acme_");
        assert_eq!(ours.len(), 1);
        assert_eq!(theirs, 2, "another topology's statements are not ours");
    }
}
