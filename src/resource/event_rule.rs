//! EventBridge rule: what a trigger or a forwarding hop matches, and how it is compared.
//! Reading and writing: `aws::resource::event_rule`.

use super::Kind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RuleSpec {
    pub name: String,
    pub arn: String,
    /// `default` or a custom bus name.
    pub bus: String,
    pub event_pattern: serde_json::Value,
    /// `ENABLED` or `DISABLED`.
    pub state: String,
    pub description: String,
}

impl Kind for RuleSpec {
    const KIND: &'static str = "event_rule";
    const DELETION_RANK: u8 = 1;

    fn display_name(&self) -> String {
        self.name.clone()
    }
    /// Targets name their rule in their JSON as `"rule": name`.
    fn identifiers(&self) -> Vec<String> {
        vec![format!("\"rule\":\"{}\"", self.name)]
    }
}
