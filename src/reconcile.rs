//! Glue between the pure core and the provider layer: making a plan against live AWS,
//! and checking a saved plan against a fresh one before it is applied.

use crate::aws::read::{self, Scope};
use crate::aws::{Aws, AwsError, CallCounter, Stats};
use crate::expand::resource::Address;
use crate::plan::diff::{self, PlanError};
use crate::plan::{verify, Plan};
use crate::Checked;
use std::sync::Arc;

/// Default bound on concurrent AWS reads: enough to hide latency across accounts and
/// regions, low enough to stay clear of API throttling.
pub const DEFAULT_PARALLELISM: usize = 16;

#[derive(Debug, Clone)]
pub struct PlanRequest {
    /// Only these addresses and what they depend on; everything when empty.
    pub targets: Vec<Address>,
    pub parallelism: usize,
}

impl Default for PlanRequest {
    fn default() -> Self {
        PlanRequest {
            targets: Vec::new(),
            parallelism: DEFAULT_PARALLELISM,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Plan(Vec<PlanError>),
    #[error("--target {address}: no such resource in the topology{hint}")]
    UnknownTarget { address: String, hint: String },
    #[error("plan is stale: {} changed since it was made; make a new plan", .0.join(", "))]
    Stale(Vec<String>),
    /// The saved plan asks for what the topology does not imply (it was edited).
    #[error(transparent)]
    Mismatch(#[from] verify::Mismatch),
}

/// Opens the AWS sessions of a topology, counting calls with a fresh counter.
pub async fn connect(checked: &Checked) -> Result<Arc<Aws>, ReconcileError> {
    Ok(Arc::new(
        Aws::connect(&checked.topology, CallCounter::default()).await?,
    ))
}

/// Reads live state and computes the plan. Returns the plan and the API calls it cost.
pub async fn plan(
    checked: &Checked,
    request: &PlanRequest,
) -> Result<(Plan, Stats), ReconcileError> {
    let aws = connect(checked).await?;
    let plan = plan_with(aws.clone(), checked, request).await?;
    Ok((plan, aws.stats()))
}

/// Computes the plan with open sessions.
pub async fn plan_with(
    aws: Arc<Aws>,
    checked: &Checked,
    request: &PlanRequest,
) -> Result<Plan, ReconcileError> {
    let expansion = &checked.expansion;
    for t in &request.targets {
        if expansion.get(t.as_str()).is_none() {
            let hint = crate::diag::closest(
                t.as_str(),
                expansion.resources.iter().map(|r| r.address.as_str()),
            )
            .map(|c| format!(" (did you mean {c}?)"))
            .unwrap_or_default();
            return Err(ReconcileError::UnknownTarget {
                address: t.to_string(),
                hint,
            });
        }
    }
    let mut scope = Scope::new(&checked.topology, expansion);
    if !request.targets.is_empty() {
        scope.only = Some(diff::closure(expansion, &request.targets));
    }
    let state = read::read(aws, scope, expansion, request.parallelism).await?;
    let options = diff::Options {
        targets: request.targets.clone(),
    };
    diff::diff(expansion, &state, &checked.source.sha256, &options).map_err(ReconcileError::Plan)
}

/// Refuses a saved plan that is stale (the topology file or anything it observed has
/// changed) or that asks for anything the topology does not imply (see
/// [`verify`](crate::plan::verify)). Plans again with `aws`, reading only; the plan's
/// changes are still what apply executes.
pub async fn check_saved(
    aws: Arc<Aws>,
    checked: &Checked,
    saved: &Plan,
    request: &PlanRequest,
) -> Result<(), ReconcileError> {
    let fresh = plan_with(aws, checked, request).await?;
    let changed = stale(checked, saved, &fresh);
    if !changed.is_empty() {
        return Err(ReconcileError::Stale(changed));
    }
    let found = verify::discrepancies(saved, &checked.expansion, &fresh);
    if !found.is_empty() {
        return Err(verify::Mismatch(found).into());
    }
    Ok(())
}

/// What changed since `saved` was made: the topology file, and each address whose
/// observed fingerprint is not the one `fresh` has now.
fn stale(checked: &Checked, saved: &Plan, fresh: &Plan) -> Vec<String> {
    let mut changed = Vec::new();
    if saved.topology_sha256 != checked.source.sha256 {
        changed.push(format!("the topology file {}", checked.source.file));
    }
    let now: std::collections::BTreeMap<&Address, &str> = fresh
        .changes
        .iter()
        .map(|c| (&c.address, c.fingerprint.as_str()))
        .collect();
    for c in &saved.changes {
        let current = now.get(&c.address).copied().unwrap_or(crate::state::ABSENT);
        if current != c.fingerprint {
            changed.push(c.address.to_string());
        }
    }
    changed
}
