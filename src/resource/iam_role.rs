//! IAM role: the spec tether derives for every role it owns (or adopts), and how it is
//! compared. Reading and writing: `aws::resource::iam_role`.

use super::Kind;
use crate::expand::policy::PolicyDocument;
use crate::state::{Observed, Owner};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoleSpec {
    pub name: String,
    /// Always `/tether/<topology>/`: part of how tether recognises its roles.
    pub path: String,
    pub arn: String,
    pub trust_policy: PolicyDocument,
    /// Inline policies by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub inline_policies: BTreeMap<String, PolicyDocument>,
    #[serde(skip_serializing_if = "BTreeSet::is_empty", default)]
    pub managed_policies: BTreeSet<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub adopt: bool,
}

impl Kind for RoleSpec {
    const KIND: &'static str = "iam_role";
    // Last: everything else may name a role.
    const DELETION_RANK: u8 = 6;

    fn display_name(&self) -> String {
        self.name.clone()
    }
    fn adopt(&self) -> bool {
        self.adopt
    }
    /// IAM has no call that moves a role to another path (IAM API reference, UpdateRole
    /// takes no path).
    fn immutable(field: &str) -> bool {
        field == "path"
    }
    /// An adopted role keeps its IAM path: changing it would mean replacing a role tether
    /// is taking over, not creating.
    fn kept_as_is(field: &str, observed: &Observed) -> bool {
        field == "path" && observed.owner != Owner::This
    }
    fn identifiers(&self) -> Vec<String> {
        vec![self.arn.clone()]
    }
}
