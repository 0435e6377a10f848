//! Reading and writing the ownership marker of an account (see [`crate::marker`]): one
//! `iam:GetPolicy` per account in `plan`; in `apply`, `CreatePolicy` the first time, then
//! `TagPolicy`/`UntagPolicy` only when what it records changes.

use super::{iam_tags, Aws, AwsError, Clients};
use crate::marker::{self, Marker, MarkerChange};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The marker of an account, or `None` when it has none.
pub async fn read(
    c: &Clients,
    topology: &str,
    account: &str,
    account_id: &str,
) -> Result<Option<Marker>, AwsError> {
    let arn = marker::arn(account_id, topology);
    match c.iam.get_policy().policy_arn(&arn).send().await {
        Ok(out) => {
            let tags: BTreeMap<String, String> = out
                .policy()
                .map(|p| {
                    p.tags()
                        .iter()
                        .map(|t| (t.key().to_string(), t.value().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            Ok(Some(marker::from_tags(&tags)))
        }
        Err(e) => {
            let e = AwsError::from_sdk(
                format!("accounts.{account}: reading tether's ownership marker {arn}"),
                e,
            );
            if e.code() == Some("NoSuchEntity") {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// The markers of `accounts` (key, id), read in parallel.
pub async fn read_all(
    aws: Arc<Aws>,
    topology: &str,
    accounts: &[(String, String)],
    region: &str,
) -> Result<BTreeMap<String, Option<Marker>>, AwsError> {
    let mut tasks = tokio::task::JoinSet::new();
    for (key, id) in accounts {
        let (aws, key, id) = (aws.clone(), key.clone(), id.clone());
        let (topology, region) = (topology.to_string(), region.to_string());
        tasks.spawn(async move {
            let c = aws.clients(&key, &region);
            let m = read(&c, &topology, &key, &id).await?;
            Ok::<_, AwsError>((key, m))
        });
    }
    let mut out = BTreeMap::new();
    while let Some(r) = tasks.join_next().await {
        let (key, m) = r.map_err(|e| AwsError::Unexpected {
            context: "reading ownership markers".into(),
            detail: e.to_string(),
        })??;
        out.insert(key, m);
    }
    Ok(out)
}

/// Writes `to` over the marker recorded as `from` (absent: creates it).
async fn write(
    c: &Clients,
    topology: &str,
    change: &MarkerChange,
    from: Option<&Marker>,
    to: &Marker,
) -> Result<(), AwsError> {
    let ctx = format!(
        "accounts.{}: recording tether's ownership marker {}",
        change.account, change.arn
    );
    let want = marker::tags(topology, to);
    let Some(from) = from else {
        let made = c
            .iam
            .create_policy()
            .policy_name(marker::policy_name(topology))
            .path(marker::path(topology))
            .description(format!(
                "tether ownership marker of topology {topology}: its tags record the regions tether wrote to and who claims the name. Grants nothing; do not attach or delete."
            ))
            .policy_document(marker::document(&change.account_id, topology))
            .set_tags(Some(iam_tags(&want)))
            .send()
            .await;
        return match made {
            Ok(_) => Ok(()),
            // Made by an attempt whose answer was lost, or by a run that planned before
            // this one created it: write the tags over it.
            Err(e) => {
                let e = AwsError::from_sdk(&ctx, e);
                if e.code() != Some("EntityAlreadyExists") {
                    return Err(e);
                }
                c.iam
                    .tag_policy()
                    .policy_arn(&change.arn)
                    .set_tags(Some(iam_tags(&want)))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| AwsError::from_sdk(&ctx, e))
            }
        };
    };
    let have = marker::tags(topology, from);
    let set: BTreeMap<String, String> = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !set.is_empty() {
        c.iam
            .tag_policy()
            .policy_arn(&change.arn)
            .set_tags(Some(iam_tags(&set)))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&ctx, e))?;
    }
    let gone: Vec<String> = have
        .keys()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect();
    if !gone.is_empty() {
        c.iam
            .untag_policy()
            .policy_arn(&change.arn)
            .set_tag_keys(Some(gone))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&ctx, e))?;
    }
    Ok(())
}

/// Before apply's first step: records the regions the run may write to.
pub async fn grow(c: &Clients, topology: &str, change: &MarkerChange) -> Result<(), AwsError> {
    if !change.needs_growth() {
        return Ok(());
    }
    write(c, topology, change, change.before.as_ref(), &change.grown()).await
}

/// After every step in the account succeeded: forgets what the topology dropped.
pub async fn prune(c: &Clients, topology: &str, change: &MarkerChange) -> Result<(), AwsError> {
    if !change.needs_pruning() {
        return Ok(());
    }
    write(c, topology, change, Some(&change.grown()), &change.after).await
}

/// After `tether destroy` removed everything: deletes the marker (nothing of the
/// topology is left in the account to find).
pub async fn delete(c: &Clients, change: &MarkerChange) -> Result<(), AwsError> {
    match c.iam.delete_policy().policy_arn(&change.arn).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = AwsError::from_sdk(
                format!(
                    "accounts.{}: deleting tether's ownership marker {}",
                    change.account, change.arn
                ),
                e,
            );
            if e.code() == Some("NoSuchEntity") {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}
