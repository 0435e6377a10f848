//! EventBridge event bus: the receiving buses of cross-account triggers (created or
//! adopted), and how they are compared. Reading and writing: `aws::resource::event_bus`.

use super::Kind;
use crate::expand::policy::Statement;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BusSpec {
    pub name: String,
    pub arn: String,
    /// Statements tether manages inside the bus policy.
    pub policy_statements: Vec<Statement>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub adopt: bool,
}

impl Kind for BusSpec {
    const KIND: &'static str = "event_bus";
    const DELETION_RANK: u8 = 3;

    fn display_name(&self) -> String {
        self.name.clone()
    }
    fn adopt(&self) -> bool {
        self.adopt
    }
    /// Rules and targets name a bus by ARN, and their JSON by `"bus": name`.
    fn identifiers(&self) -> Vec<String> {
        vec![self.arn.clone(), format!("\"bus\":\"{}\"", self.name)]
    }
    fn resource_policy(&self) -> Option<(String, &[Statement])> {
        Some((format!("bus {}", self.name), &self.policy_statements))
    }
}
