//! Carrying out one resource change of a plan: the dispatch to the kind's provider
//! (`aws::resource`) and what every kind's writer shares.
//!
//! Each kind's writer is idempotent: a create that finds the resource already there (an
//! earlier, interrupted apply) goes on to write what differs, and updates write only the
//! fields the plan lists. Tags, the IAM path and managed `Sid`s are written with every
//! created resource, so ownership never depends on a later step. Shared policies (bucket,
//! key, bus) are merged: statements with tether's `Sid` prefix are replaced, all others
//! are kept exactly as they are.

use super::resource;
use super::{AwsError, Clients};
use crate::expand::policy::{PolicyDocument, Statement};
use crate::expand::TAG_LIFECYCLE;
use crate::plan::normalize::parse;
use crate::plan::{Action, ResourceChange};
use crate::resource::{Address, Resource};
use std::collections::{BTreeMap, BTreeSet};

/// What the executor needs to write one change.
pub struct Writer<'a> {
    pub clients: &'a Clients,
    /// `tether_<name>_`: statements with this prefix are tether's.
    pub sid_prefix: String,
    /// The ARN AWS assigned to what this change created, for the kinds whose ARN is
    /// known only after apply (a KMS key): set by the kind's writer.
    pub assigned: std::sync::OnceLock<String>,
}

pub(crate) fn sdk<E>(
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
pub(crate) fn gone<T>(r: Result<T, AwsError>, not_found: &[&str]) -> Result<(), AwsError> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.code().is_some_and(|c| not_found.contains(&c)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether a failed call may succeed when tried again: no answer, a 5xx, or throttling.
pub(crate) fn transient(e: &AwsError) -> bool {
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

pub(crate) fn unexpected(address: &Address, detail: impl Into<String>) -> AwsError {
    AwsError::Unexpected {
        context: address.to_string(),
        detail: detail.into(),
    }
}

pub(crate) fn json(doc: &PolicyDocument) -> String {
    serde_json::to_string(doc).expect("policy serialises")
}

/// The fields of an update, by name.
pub(crate) fn changed(change: &ResourceChange) -> BTreeSet<&str> {
    change.changes.iter().map(|f| f.field.as_str()).collect()
}

/// Tag keys the live resource has and the topology no longer wants.
pub(crate) fn removed_tags(change: &ResourceChange, r: &Resource) -> Vec<String> {
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

pub(crate) fn tags_changed(change: &ResourceChange) -> bool {
    change.changes.iter().any(|f| f.field.starts_with("tags."))
}

/// One create or update being carried out: what a kind's `put` works with.
#[derive(Clone, Copy)]
pub(crate) struct Put<'a> {
    pub w: &'a Writer<'a>,
    /// The desired resource.
    pub r: &'a Resource,
    pub change: &'a ResourceChange,
    /// A create (the plan's create, or the create half of a replacement), else an update.
    pub create: bool,
}

/// Brings a resource's live tags in line with `r`'s: removes the keys the topology no
/// longer wants (`untag`, called only when there are some), then writes every wanted
/// tag (`tag`). For the services whose tag call adds and overwrites but never removes
/// (IAM, KMS, EventBridge, CodePipeline).
pub(crate) async fn retag<U>(
    change: &ResourceChange,
    r: &Resource,
    untag: impl FnOnce(Vec<String>) -> U,
    tag: impl std::future::Future<Output = Result<(), AwsError>>,
) -> Result<(), AwsError>
where
    U: std::future::Future<Output = Result<(), AwsError>>,
{
    let gone = removed_tags(change, r);
    if !gone.is_empty() {
        untag(gone).await?;
    }
    tag.await
}

/// Tags as an SDK takes them, built by `make` (each SDK has its own tag type).
pub(crate) fn tag_list<T, E: std::fmt::Debug>(
    tags: &BTreeMap<String, String>,
    make: impl Fn(&str, &str) -> Result<T, E>,
) -> Vec<T> {
    tags.iter()
        .map(|(k, v)| make(k, v).expect("key and value set"))
        .collect()
}

impl Writer<'_> {
    /// Applies one change. Returns the ARN AWS assigned to what it created, for the kinds
    /// whose ARN is known only after apply (later steps' `unknowns` need it).
    pub async fn apply(&self, change: &ResourceChange) -> Result<Option<String>, AwsError> {
        self.carry_out(change).await?;
        Ok(self.assigned.get().cloned())
    }

    async fn carry_out(&self, change: &ResourceChange) -> Result<(), AwsError> {
        match change.action {
            Action::NoOp => Ok(()),
            Action::Create | Action::Update => {
                let r = change.after.as_ref().ok_or_else(|| {
                    unexpected(
                        &change.address,
                        "the plan has no desired state for this change",
                    )
                })?;
                resource::put(self, r, change, change.action == Action::Create).await
            }
            Action::Delete => {
                let o = change.before.as_ref().ok_or_else(|| {
                    unexpected(&change.address, "the plan has no observed state to delete")
                })?;
                self.delete(o).await
            }
            Action::Replace => {
                let o = change.before.as_ref().ok_or_else(|| {
                    unexpected(&change.address, "the plan has no observed state to replace")
                })?;
                self.delete(o).await?;
                let r = change
                    .after
                    .as_ref()
                    .ok_or_else(|| unexpected(&change.address, "no desired state"))?;
                let mut create = change.clone();
                create.action = Action::Create;
                resource::put(self, r, &create, true).await
            }
        }
    }

    /// Deletes an observed resource, unless it records `lifecycle: protect`.
    async fn delete(&self, o: &crate::state::Observed) -> Result<(), AwsError> {
        if o.tags.get(TAG_LIFECYCLE).map(String::as_str) == Some("protect") {
            return Err(unexpected(
                &o.address,
                "refusing to delete a protected resource (tether:lifecycle=protect)",
            ));
        }
        resource::delete(self, o).await
    }

    /// A shared policy with tether's statements replaced by `ours` and all others kept.
    pub(crate) fn merge(
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
}
