//! EventBridge target: where a rule sends its events (a bus or a pipeline), the role it
//! sends them as, how long EventBridge retries, and where what it fails to deliver goes.
//! Reading (with its rule) and writing: `aws::resource::event_target`.

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
    /// How long and how often EventBridge retries a failed delivery. Every derived
    /// target has one; `None` only as read from a target that has none.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub retry_policy: Option<RetryPolicy>,
    /// The SQS queue (ARN) that receives the events EventBridge could not deliver
    /// (`DeadLetterConfig`); `None`: they are dropped.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub dead_letter_arn: Option<String>,
}

/// EventBridge's `RetryPolicy` of a target (EventBridge API reference, RetryPolicy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RetryPolicy {
    /// `MaximumRetryAttempts`: 0 to 185.
    pub maximum_retry_attempts: u32,
    /// `MaximumEventAgeInSeconds`: 60 to 86400.
    pub maximum_event_age_seconds: u32,
}

impl Kind for TargetSpec {
    const KIND: &'static str = "event_target";
    // First: a target names its rule, where it sends, and its dead-letter queue.
    const DELETION_RANK: u8 = 0;

    fn display_name(&self) -> String {
        format!("{}/{}", self.rule, self.id)
    }
    /// Nothing names a target.
    fn identifiers(&self) -> Vec<String> {
        Vec::new()
    }
}
