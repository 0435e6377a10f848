//! The plan: a plain, serialisable list of resource changes.
//!
//! A plan is computed by [`diff::diff`] from the desired resources and the observed
//! state, with no I/O. Each change carries its action, the reason, the full desired
//! resource (`after`), the observed one (`before`) and a fingerprint of what was
//! observed, so that `apply` can execute exactly this value and refuse a stale one.
//! [`verify`] refuses a saved plan that asks for anything the topology does not imply.
//! `schemas/plan.schema.json` documents the JSON form (`format_version` 1).

pub mod access;
pub mod adopted;
pub mod diff;
pub mod normalize;
pub mod render;
pub mod unknown;
pub mod verify;

use crate::resource::{Address, Resource};
use crate::state::Observed;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of the plan's JSON form; bumped on incompatible change.
pub const FORMAT_VERSION: u32 = 1;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    /// Delete and create again: an immutable field changed.
    Replace,
    Delete,
    NoOp,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::NoOp => " ",
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
            Action::NoOp => "no-op",
        }
    }
}

/// One field that differs between live and desired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FieldChange {
    /// Dotted path of the field, for example `inline_policies.tether` or `tags.team`.
    pub field: String,
    /// The live value (`null` when absent).
    pub before: serde_json::Value,
    /// The desired value (`null` when it should go away).
    pub after: serde_json::Value,
    /// Policies are compared by meaning and shown as unified diffs.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub policy: bool,
    /// Changing this field requires replacing the resource.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub forces_replacement: bool,
}

/// What will happen to one resource, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceChange {
    pub address: Address,
    pub kind: String,
    pub account: String,
    pub account_id: String,
    pub region: String,
    pub action: Action,
    pub reason: String,
    /// Field-level differences for updates and replacements.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub changes: Vec<FieldChange>,
    /// What was observed; absent for creations.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub before: Option<Observed>,
    /// What is desired; absent for deletions. A value AWS assigns only when an earlier
    /// step creates its resource (a new key's ARN) reads `(known after apply)`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub after: Option<Resource>,
    /// Where `after` reads `(known after apply)`: JSON pointer → the address whose ARN
    /// apply puts there once that resource's step has created it.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty", default)]
    pub unknowns: unknown::Unknowns,
    /// Fingerprint of what was observed at this address (`absent` when nothing was).
    pub fingerprint: String,
}

/// A whole plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    pub format_version: u32,
    pub topology: String,
    /// SHA-256 of the topology file's bytes.
    pub topology_sha256: String,
    /// In execution order: creations and updates in dependency order, then deletions in
    /// reverse dependency order. No-ops are kept so the plan records every fingerprint.
    pub changes: Vec<ResourceChange>,
    /// tether's ownership marker in each account, as observed and as the topology implies
    /// it (see `crate::marker`): bookkeeping, not infrastructure, so not counted as changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub markers: Vec<crate::marker::MarkerChange>,
    /// The grants the plan adds, changes or removes, from the policy documents of its
    /// changes, cross-account first (see `access`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access: Vec<access::Grant>,
    /// What the reviewer should know that is not a change (an account the topology lost).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Every declared flow proven against the planned state (see `crate::flows`):
    /// `apply` refuses a plan with a broken one unless told otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<crate::flows::Flow>,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub replace: usize,
    pub destroy: usize,
}

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            match c.action {
                Action::Create => s.add += 1,
                Action::Update => s.change += 1,
                Action::Replace => s.replace += 1,
                Action::Delete => s.destroy += 1,
                Action::NoOp => {}
            }
        }
        s
    }

    /// The flows AWS would stop at a hop.
    pub fn broken_flows(&self) -> impl Iterator<Item = &crate::flows::Flow> {
        self.flows.iter().filter(|f| f.broken())
    }

    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::NoOp)
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Plan: {} to add, {} to change, {} to replace, {} to destroy.",
            self.add, self.change, self.replace, self.destroy
        )
    }
}

/// The JSON Schema of the plan file.
pub fn schema() -> serde_json::Value {
    schemars::schema_for!(Plan).to_value()
}
