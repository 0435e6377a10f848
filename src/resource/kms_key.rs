//! KMS key (with its alias): the artifact stores' keys, and how they are compared.
//! Reading and writing: `aws::resource::kms_key`.

use super::Kind;
use crate::expand::policy::Statement;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeySpec {
    /// `alias/<name>`: how tether finds the key (its id is assigned by AWS).
    pub alias: String,
    pub alias_arn: String,
    /// The key's ARN: assigned by AWS, so known only once the key exists (a reference
    /// until then; see `plan::unknown`).
    pub arn: String,
    pub description: String,
    pub rotation: bool,
    /// Statements tether manages inside the key policy.
    pub policy_statements: Vec<Statement>,
    /// Days between scheduling deletion and deletion.
    pub deletion_window_days: u32,
}

impl Kind for KeySpec {
    const KIND: &'static str = "kms_key";
    const DELETION_RANK: u8 = 5;
    // The alias ARN follows from the address; the window is used only when deleting.
    const IGNORED: &'static [&'static str] = &["alias_arn", "deletion_window_days"];

    fn display_name(&self) -> String {
        self.alias.clone()
    }
    fn identifiers(&self) -> Vec<String> {
        vec![self.alias.clone()]
    }
    fn resource_policy(&self) -> Option<(String, &[Statement])> {
        Some((format!("key {}", self.alias), &self.policy_statements))
    }
}
