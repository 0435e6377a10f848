//! SQS queue: the dead-letter queues of derived EventBridge targets, one per topology,
//! account and region, and how they are compared. Reading and writing:
//! `aws::resource::sqs_queue`.

use super::Kind;
use crate::expand::policy::Statement;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QueueSpec {
    pub name: String,
    /// `arn:<partition>:sqs:<region>:<account>:<name>`: known from the name, so targets
    /// name it before the queue exists.
    pub arn: String,
    /// Seconds a message is kept (SQS `MessageRetentionPeriod`).
    pub message_retention_seconds: u32,
    /// Server-side encryption with SQS-owned keys (SSE-SQS, `SqsManagedSseEnabled`).
    pub sqs_managed_sse: bool,
    /// Statements tether manages inside the queue policy (their `Sid`s carry its
    /// prefix; others' are kept as they are).
    pub policy_statements: Vec<Statement>,
}

impl Kind for QueueSpec {
    const KIND: &'static str = "sqs_queue";
    // After the targets that name it as their dead-letter queue (rank 0).
    const DELETION_RANK: u8 = 1;

    fn display_name(&self) -> String {
        self.name.clone()
    }
    /// Targets name their dead-letter queue by ARN.
    fn identifiers(&self) -> Vec<String> {
        vec![self.arn.clone()]
    }
    fn resource_policy(&self) -> Option<(String, &[Statement])> {
        Some((format!("queue {}", self.name), &self.policy_statements))
    }
}
