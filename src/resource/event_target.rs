//! EventBridge target: where a rule sends its events (a bus or a pipeline) and the role it
//! sends them as. Reading (with its rule) and writing: `aws::resource::event_target`.

use super::Kind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TargetSpec {
    pub rule: String,
    pub bus: String,
    pub id: String,
    /// Where events go: an event bus or a pipeline ARN.
    pub arn: String,
    pub role_arn: String,
}

impl Kind for TargetSpec {
    const KIND: &'static str = "event_target";
    // First: a target names its rule and where it sends.
    const DELETION_RANK: u8 = 0;

    fn display_name(&self) -> String {
        format!("{}/{}", self.rule, self.id)
    }
    /// Nothing names a target.
    fn identifiers(&self) -> Vec<String> {
        Vec::new()
    }
}
