//! Reading, read-only, the policies of the principals that derived roles trust and
//! tether does not manage (see [`crate::external`]), for the plan's warnings.
//!
//! Nothing is read when the topology has no such principal, so such topologies cost
//! no call. Otherwise, per calling role in an account of the topology: its inline
//! policies and the ARNs of its managed policies come from the account's role listing
//! the state reader already made (`GetAccountAuthorizationDetails`); one `GetRole` gives
//! its permissions boundary (the listing's entries are not kept for roles tether does
//! not own); each managed policy and boundary, once however many roles attach it, costs
//! a `GetPolicy` (its default version) and a `GetPolicyVersion` (the document). Any
//! failure makes that role's check say why it could not be made instead of failing the
//! plan: these are warnings, not the plan itself.

use super::Aws;
use crate::external::{self, Pair, Read};
use crate::model::Topology;
use crate::plan::normalize::parse;
use crate::resource::Spec;
use crate::state::State;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Where to read: the topology's accounts (id → key), the region of IAM calls, and the
/// bound on concurrent calls.
pub struct Place<'a> {
    accounts: BTreeMap<String, String>,
    region: &'a str,
    parallelism: usize,
}

impl<'a> Place<'a> {
    pub fn new(topology: &Topology, region: &'a str, parallelism: usize) -> Self {
        let accounts = topology.accounts.iter();
        Place {
            accounts: accounts.map(|(k, a)| (a.id.clone(), k.clone())).collect(),
            region,
            parallelism,
        }
    }
}

/// The warnings of `pairs`: reads what their calling roles' checks need, then judges.
pub async fn warnings(
    aws: &Arc<Aws>,
    place: &Place<'_>,
    state: &State,
    pairs: &[Pair],
) -> Vec<String> {
    if pairs.is_empty() {
        return Vec::new();
    }
    let read = read(aws, place, state, &external::callers(pairs)).await;
    external::warnings(pairs, &read)
}

/// A calling role found in the listing, before its managed policies are read.
struct Found {
    account: String,
    name: String,
    inline: Vec<(String, Value)>,
    managed: Vec<String>,
}

/// What was read of each caller (principal ARN → account id, role name).
async fn read(
    aws: &Arc<Aws>,
    place: &Place<'_>,
    state: &State,
    callers: &BTreeMap<String, (String, String)>,
) -> BTreeMap<String, Read> {
    let mut out = BTreeMap::new();
    let mut found = BTreeMap::new();
    for (principal, (id, name)) in callers {
        match find(&place.accounts, state, principal, id, name) {
            Ok(f) => {
                found.insert(principal.clone(), f);
            }
            Err(why) => {
                out.insert(principal.clone(), Read::Unreadable(why));
            }
        }
    }
    let sem = Arc::new(Semaphore::new(place.parallelism.max(1)));

    // The permissions boundary of each role found.
    let mut tasks = JoinSet::new();
    for (principal, f) in &found {
        let (aws, sem, region) = (aws.clone(), sem.clone(), place.region.to_string());
        let (principal, account, name) = (principal.clone(), f.account.clone(), f.name.clone());
        tasks.spawn(async move {
            let _p = sem.acquire().await;
            let got = aws
                .clients(&account, &region)
                .iam
                .get_role()
                .role_name(&name)
                .send()
                .await
                .map_err(|e| {
                    super::AwsError::from_sdk(format!("accounts.{account}: reading role {name}"), e)
                        .to_string()
                })
                .map(|o| {
                    o.role()
                        .and_then(|r| r.permissions_boundary())
                        .and_then(|b| b.permissions_boundary_arn())
                        .map(String::from)
                });
            (principal, got)
        });
    }
    let mut boundaries = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        let (principal, got) = done.expect("a boundary read does not panic");
        match got {
            Ok(b) => {
                boundaries.insert(principal, b);
            }
            Err(why) => {
                found.remove(&principal);
                out.insert(principal, Read::Unreadable(why));
            }
        }
    }

    // Every managed policy and boundary, once, read in an account that uses it.
    let mut wanted: BTreeMap<String, String> = BTreeMap::new();
    for (principal, f) in &found {
        for arn in f
            .managed
            .iter()
            .chain(boundaries.get(principal).into_iter().flatten())
        {
            wanted
                .entry(arn.clone())
                .or_insert_with(|| f.account.clone());
        }
    }
    let mut tasks = JoinSet::new();
    for (arn, account) in wanted {
        let (aws, sem, region) = (aws.clone(), sem.clone(), place.region.to_string());
        tasks.spawn(async move {
            let _p = sem.acquire().await;
            let doc = managed_policy(&aws, &account, &region, &arn).await;
            (arn, doc)
        });
    }
    let mut documents: BTreeMap<String, Result<Value, String>> = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        let (arn, doc) = done.expect("a policy read does not panic");
        documents.insert(arn, doc);
    }

    for (principal, f) in found {
        let doc = |arn: &String| {
            documents
                .get(arn)
                .cloned()
                .unwrap_or_else(|| Err(format!("managed policy {arn} was not read")))
        };
        let assembled = (|| {
            let mut policies = f.inline;
            for arn in &f.managed {
                policies.push((format!("managed policy {arn}"), doc(arn)?));
            }
            let boundary = match boundaries.get(&principal).cloned().flatten() {
                Some(arn) => Some((arn.clone(), doc(&arn)?)),
                None => None,
            };
            Ok::<_, String>(Read::Policies { policies, boundary })
        })();
        out.insert(principal, assembled.unwrap_or_else(Read::Unreadable));
    }
    out
}

/// The calling role in the state reader's listing, or why it cannot be read.
fn find(
    accounts: &BTreeMap<String, String>,
    state: &State,
    principal: &str,
    id: &str,
    name: &str,
) -> Result<Found, String> {
    let Some(account) = accounts.get(id) else {
        return Err(format!(
            "account {id} is not in the topology, so tether has no credentials to read its policies"
        ));
    };
    let role = state
        .resources
        .values()
        .flatten()
        .filter(|o| o.account_id == id)
        .find_map(|o| match &o.spec {
            Spec::IamRole(x) if x.name.eq_ignore_ascii_case(name) => Some(x),
            _ => None,
        });
    let Some(role) = role else {
        return Err(format!(
            "account `{account}` ({id}) has no role named `{name}`"
        ));
    };
    // A role ARN names the role's path too; a session ARN names the role only.
    if principal.contains(":role/") && role.arn != principal {
        return Err(format!(
            "account `{account}` ({id}) has no role {principal}; its role named `{name}` is {}",
            role.arn
        ));
    }
    Ok(Found {
        account: account.clone(),
        name: role.name.clone(),
        inline: role
            .inline_policies
            .iter()
            .map(|(n, doc)| {
                let doc = serde_json::to_value(doc).expect("a policy document serialises");
                (format!("inline policy `{n}`"), doc)
            })
            .collect(),
        managed: role.managed_policies.iter().cloned().collect(),
    })
}

/// The default version's document of a managed policy, or why it could not be read.
async fn managed_policy(
    aws: &Aws,
    account: &str,
    region: &str,
    arn: &str,
) -> Result<Value, String> {
    let iam = aws.clients(account, region).iam.clone();
    let context = format!("accounts.{account}: reading managed policy {arn}");
    let policy = iam
        .get_policy()
        .policy_arn(arn)
        .send()
        .await
        .map_err(|e| super::AwsError::from_sdk(context.clone(), e).to_string())?;
    let Some(version) = policy.policy().and_then(|p| p.default_version_id()) else {
        return Err(format!("{context}: it has no default version"));
    };
    let got = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
        .map_err(|e| super::AwsError::from_sdk(context.clone(), e).to_string())?;
    let text = got
        .policy_version()
        .and_then(|v| v.document())
        .ok_or_else(|| format!("{context}: its default version has no document"))?;
    parse(text).map_err(|e| format!("{context}: the document is not JSON: {e}"))
}
