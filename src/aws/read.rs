//! The state reader: live state of every desired resource, and discovery of owned
//! resources that are no longer desired.
//!
//! This module orchestrates; each kind's reader lives with the kind (`aws::resource`).
//! Reads are batched where AWS allows it (IAM roles come with their policies and tags
//! from one paginated `GetAccountAuthorizationDetails` per account; targets come with
//! their rule) and run concurrently within a bound. "Not found" means absent; any other
//! failure fails the plan with the resource address, the AWS code and message.

use super::resource::{self as kinds, ReadScope};
use super::{Aws, AwsError, Clients};
use crate::expand::policy::{PolicyDocument, Principal, Statement};
use crate::expand::{Expansion, TAG_TOPOLOGY};
use crate::plan::normalize::parse;
use crate::resource::*;
use crate::state::{Observed, Owner, State};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::sync::{Semaphore, SemaphorePermit};
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

    pub(crate) fn sid_prefix(&self) -> String {
        format!("tether_{}_", self.topology)
    }

    pub(crate) fn name_prefix(&self) -> String {
        format!("{}-", self.topology)
    }

    pub(crate) fn owner(&self, tags: &BTreeMap<String, String>) -> Owner {
        match tags.get(TAG_TOPOLOGY) {
            Some(t) if *t == self.topology => Owner::This,
            Some(t) => Owner::Other(t.clone()),
            None => Owner::Nobody,
        }
    }
}

pub(crate) fn is_not_found(e: &AwsError, codes: &[&str]) -> bool {
    e.code().is_some_and(|c| codes.contains(&c))
}

/// What one kind's reader works with: the place (an account, and a region or, for
/// account-wide kinds, the region of the account's global calls), the desired resources
/// and the bound on concurrent calls. Cheap to clone into spawned tasks.
#[derive(Clone)]
pub(crate) struct ReadCx {
    aws: Arc<Aws>,
    pub scope: Arc<Scope>,
    sem: Arc<Semaphore>,
    /// Every desired resource, by address.
    pub desired: Arc<BTreeMap<Address, Resource>>,
    /// The desired resources to read in this place (every kind; all of the account for
    /// account-wide kinds).
    pub wanted: Arc<Vec<Resource>>,
    pub account: String,
    /// The account's id.
    pub id: String,
    pub region: String,
    /// What several kinds' readers of one place share, read once.
    pub cache: Arc<PlaceCache>,
}

/// Listings more than one kind's reader of a place needs, made once per place.
#[derive(Default)]
pub(crate) struct PlaceCache {
    /// The place's event buses (`aws::resource::event_bus::census`).
    pub buses: tokio::sync::OnceCell<Vec<kinds::event_bus::LiveBus>>,
}

impl ReadCx {
    pub fn clients(&self) -> Arc<Clients> {
        self.aws.clients(&self.account, &self.region)
    }

    pub fn clients_in(&self, region: &str) -> Arc<Clients> {
        self.aws.clients(&self.account, region)
    }

    /// A permit of the bound on concurrent reads.
    pub async fn permit(&self) -> SemaphorePermit<'_> {
        self.sem
            .acquire()
            .await
            .expect("the semaphore is never closed")
    }

    /// Desired resources of this account and region (of any kind).
    pub fn desired_here(&self) -> impl Iterator<Item = &Resource> {
        self.desired
            .values()
            .filter(|r| r.account == self.account && r.region == self.region)
    }

    /// A resource observed in this place.
    pub fn observed(
        &self,
        address: Address,
        spec: Spec,
        tags: BTreeMap<String, String>,
        owner: Owner,
    ) -> Observed {
        self.observed_in(&self.region, address, spec, tags, owner)
    }

    /// A resource of this account observed in `region` (`global` for IAM).
    pub fn observed_in(
        &self,
        region: &str,
        address: Address,
        spec: Spec,
        tags: BTreeMap<String, String>,
        owner: Owner,
    ) -> Observed {
        Observed {
            address,
            account: self.account.clone(),
            account_id: self.id.clone(),
            region: region.to_string(),
            spec,
            tags,
            owner,
            id: None,
            foreign_statements: 0,
            foreign: Vec::new(),
            broken_principals: BTreeSet::new(),
            pending_deletion: false,
        }
    }

    /// `accounts.<key> <region>`: how messages name the place.
    pub fn context(&self) -> String {
        format!("accounts.{} {}", self.account, self.region)
    }
}

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

    let mut tasks: JoinSet<Result<Vec<Observed>, AwsError>> = JoinSet::new();
    let mut spawn = |kind: &'static str, cx: ReadCx| {
        tasks.spawn(async move { kinds::read(kind, &cx).await });
    };
    for (account, id) in scope.accounts.clone() {
        let place = |region: &str, wanted: Vec<Resource>| ReadCx {
            aws: aws.clone(),
            scope: scope.clone(),
            sem: sem.clone(),
            desired: desired.clone(),
            wanted: Arc::new(wanted),
            account: account.clone(),
            id: id.clone(),
            region: region.to_string(),
            cache: Arc::new(PlaceCache::default()),
        };
        // Account-wide kinds make their calls in any one region of the topology.
        let any_region = scope
            .regions
            .iter()
            .next()
            .cloned()
            .unwrap_or_else(|| "us-east-1".into());
        let of_account: Vec<Resource> = wanted
            .iter()
            .filter(|r| r.account == account)
            .cloned()
            .collect();
        let account_cx = place(&any_region, of_account);
        for (kind, _) in kinds::READS
            .iter()
            .filter(|(_, s)| *s == ReadScope::Account)
        {
            spawn(kind, account_cx.clone());
        }
        let regions: BTreeSet<String> = scope
            .regions
            .iter()
            .chain(scope.extra_regions.get(&account).into_iter().flatten())
            .cloned()
            .collect();
        for region in regions {
            let here: Vec<Resource> = wanted
                .iter()
                .filter(|r| r.account == account && r.region == region)
                .cloned()
                .collect();
            let cx = place(&region, here);
            for (kind, _) in kinds::READS.iter().filter(|(_, s)| *s == ReadScope::Region) {
                spawn(kind, cx.clone());
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

pub(crate) fn policy(text: &str, context: &str) -> Result<PolicyDocument, AwsError> {
    let value = parse(text).map_err(|e| AwsError::Unexpected {
        context: context.to_string(),
        detail: format!("the live policy is not JSON: {e}"),
    })?;
    serde_json::from_value(value).map_err(|e| AwsError::Unexpected {
        context: context.to_string(),
        detail: format!("the live policy has an unexpected shape: {e}"),
    })
}

/// Splits a shared policy into tether's statements and everyone else's.
pub(crate) fn managed(
    doc: Option<PolicyDocument>,
    prefix: &str,
) -> (Vec<Statement>, Vec<Statement>) {
    let Some(doc) = doc else {
        return (Vec::new(), Vec::new());
    };
    doc.statement
        .into_iter()
        .partition(|s| s.sid.as_deref().is_some_and(|sid| sid.starts_with(prefix)))
}

/// Principals shown as unique ids (`AROA…`, `AIDA…`): what they named was deleted.
pub(crate) fn broken(doc: &PolicyDocument) -> BTreeSet<String> {
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

/// Tags as the SDKs return them (a list of key/value pairs) → a map.
pub(crate) fn tag_map<'a, T: 'a>(
    tags: impl IntoIterator<Item = &'a T>,
    kv: impl Fn(&'a T) -> (&'a str, &'a str),
) -> BTreeMap<String, String> {
    tags.into_iter()
        .map(|t| {
            let (k, v) = kv(t);
            (k.to_string(), v.to_string())
        })
        .collect()
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

    /// Any role of an account is read with its policies (external roles included), and
    /// AWS managed policies such as PowerUserAccess use `NotAction`: a statement without
    /// `Action` is valid IAM and must read (and write back) as it is.
    #[test]
    fn a_live_statement_with_not_action_reads() {
        let text = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":["iam:*","organizations:*"],"Resource":"*"}]}"#;
        let doc = policy(text, "test").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            serde_json::to_value(&doc).unwrap(),
            serde_json::from_str::<serde_json::Value>(text).unwrap(),
            "read back as it was, without an empty Action"
        );
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
        assert_eq!(
            theirs.len(),
            2,
            "another topology's statements are not ours"
        );
    }
}
