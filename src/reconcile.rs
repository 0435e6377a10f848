//! Glue between the pure core and the provider layer: making a plan against live AWS,
//! and checking a saved plan against a fresh one before it is applied.

use crate::aws::read::{self, Scope};
use crate::aws::{Aws, AwsError, CallCounter, Stats};
use crate::marker::{self, MarkerChange};
use crate::plan::diff::{self, PlanError};
use crate::plan::{verify, Plan};
use crate::resource::Address;
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
    /// Who claims the topology name: the repository and path of the topology file (see
    /// `crate::marker`); recorded in each account's ownership marker.
    pub claim: String,
}

impl Default for PlanRequest {
    fn default() -> Self {
        PlanRequest {
            targets: Vec::new(),
            parallelism: DEFAULT_PARALLELISM,
            claim: String::new(),
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
    #[error("{}", .0.join("\n"))]
    /// The ownership markers forbid going on: another file claims the name, or a
    /// marker would outgrow IAM's tag limit.
    Ownership(Vec<String>),
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
    // The markers first: they name the regions to search besides the topology's, and
    // another file's claim on the name stops the plan before it could mistake that
    // topology's resources for leftovers of this one.
    let markers = read_markers(&aws, checked, &request.claim).await?;
    let mut refused = marker::foreign_claims(&checked.topology.name, &markers);
    refused.extend(marker::too_large(&markers));
    if !refused.is_empty() {
        return Err(ReconcileError::Ownership(refused));
    }
    search_marked_regions(&mut scope, &markers);
    // Derived roles (of the plan's scope) trusting principals tether does not manage.
    let mut pairs = crate::external::pairs(expansion);
    pairs.retain(|p| scope.only.as_ref().is_none_or(|o| o.contains(&p.role)));
    let state = read::read(aws.clone(), scope, expansion, request.parallelism).await?;
    let options = diff::Options {
        targets: request.targets.clone(),
    };
    let mut plan = diff::diff(expansion, &state, &checked.source.sha256, &options)
        .map_err(ReconcileError::Plan)?;
    // Every flow, against the planned state: desired policies, live foreign statements.
    // (The world is not `Send`: it is dropped before the next await.)
    plan.flows = {
        let world = crate::flows::World::new(expansion, Some(&state));
        crate::flows::prove(&checked.topology, &world)
    };
    plan.warnings = marker::lost_accounts(&checked.topology.name, &markers);
    let (topology, region) = (&checked.topology, &home_region(checked));
    let place = crate::aws::external::Place::new(topology, region, request.parallelism);
    let external = crate::aws::external::warnings(&aws, &place, &state, &pairs).await;
    plan.warnings.extend(external);
    plan.warnings
        .extend(crate::plan::adopted::customer_keys(&plan, expansion));
    plan.markers = markers;
    plan.access = crate::plan::access::summary(&plan);
    Ok(plan)
}

/// Adds to `scope` the regions markers record that the topology no longer names.
fn search_marked_regions(scope: &mut Scope, markers: &[MarkerChange]) {
    for m in markers {
        if let Some(before) = &m.before {
            let extra: std::collections::BTreeSet<String> = before
                .regions
                .iter()
                .filter(|r| !scope.regions.contains(*r))
                .cloned()
                .collect();
            if !extra.is_empty() {
                scope.extra_regions.insert(m.account.clone(), extra);
            }
        }
    }
}

/// The plan of `tether destroy`: the removal of everything the topology owns, in every
/// region its markers record (protected resources are kept, and listed as kept). The
/// markers are carried unchanged: apply neither grows nor prunes them, and the command
/// deletes them once nothing of the topology is left.
pub async fn destroy_plan(
    aws: Arc<Aws>,
    checked: &Checked,
    request: &PlanRequest,
) -> Result<Plan, ReconcileError> {
    let mut markers = read_markers(&aws, checked, &request.claim).await?;
    let foreign = marker::foreign_claims(&checked.topology.name, &markers);
    if !foreign.is_empty() {
        return Err(ReconcileError::Ownership(foreign));
    }
    let mut scope = Scope::new(&checked.topology, &checked.expansion);
    search_marked_regions(&mut scope, &markers);
    // Nothing is desired: every owned resource discovery finds is a leftover.
    let nothing = crate::expand::Expansion {
        topology: checked.topology.name.clone(),
        resources: Vec::new(),
    };
    let state = read::read(aws, scope, &nothing, request.parallelism).await?;
    let mut plan = diff::diff(
        &nothing,
        &state,
        &checked.source.sha256,
        &diff::Options::default(),
    )
    .map_err(ReconcileError::Plan)?;
    markers.retain(|m| m.before.is_some());
    for m in &mut markers {
        m.after = m.before.clone().expect("kept only markers that exist");
    }
    plan.markers = markers;
    plan.access = crate::plan::access::summary(&plan);
    Ok(plan)
}

/// Every account's ownership marker, as observed and as the topology implies it.
async fn read_markers(
    aws: &Arc<Aws>,
    checked: &Checked,
    claim: &str,
) -> Result<Vec<MarkerChange>, ReconcileError> {
    let name = &checked.topology.name;
    let accounts: Vec<(String, String)> = checked
        .topology
        .accounts
        .iter()
        .map(|(k, a)| (k.clone(), a.id.clone()))
        .collect();
    let mut observed =
        crate::aws::marker::read_all(aws.clone(), name, &accounts, &home_region(checked)).await?;
    Ok(accounts
        .into_iter()
        .map(|(key, id)| MarkerChange {
            arn: marker::arn(&id, name),
            after: marker::desired(&checked.topology, &checked.expansion, &key, claim),
            before: observed.remove(&key).flatten(),
            account: key,
            account_id: id,
        })
        .collect())
}

/// The region for global (IAM) clients.
pub fn home_region(checked: &Checked) -> String {
    checked
        .topology
        .default_region
        .as_ref()
        .map_or_else(|| "us-east-1".to_string(), |r| r.to_string())
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
    // The ownership markers: what they recorded, and what the topology makes of them
    // (apply writes them, so a saved plan's must be a fresh plan's).
    for m in &saved.markers {
        if fresh.markers.iter().find(|f| f.account == m.account) != Some(m) {
            changed.push(format!("the ownership marker of account `{}`", m.account));
        }
    }
    changed
}
