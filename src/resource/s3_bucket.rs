//! S3 bucket: artifact stores and the user's buckets (created or adopted), and how they
//! are compared. Reading and writing: `aws::resource::s3_bucket`.

use super::Kind;
use crate::expand::policy::Statement;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "algorithm", rename_all = "snake_case")]
pub enum Encryption {
    /// SSE-S3 (AES256).
    Aes256,
    /// SSE-KMS with the key behind this alias ARN, with S3 bucket keys on.
    AwsKms { key: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BucketSpec {
    pub name: String,
    pub arn: String,
    pub versioning: bool,
    /// Default encryption; `None` when tether leaves it as it is live (an adopted
    /// bucket: its owner's SSE-KMS setting is never downgraded).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub encryption: Option<Encryption>,
    /// All four public access block settings on.
    pub block_public_access: bool,
    /// Statements tether manages inside the bucket policy (their `Sid`s carry its prefix).
    pub policy_statements: Vec<Statement>,
    /// S3 sends object events to EventBridge.
    pub eventbridge_notifications: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub protect: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub force_destroy: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub adopt: bool,
}

impl Kind for BucketSpec {
    const KIND: &'static str = "s3_bucket";
    const DELETION_RANK: u8 = 4;

    fn display_name(&self) -> String {
        self.name.clone()
    }
    fn adopt(&self) -> bool {
        self.adopt
    }
    fn identifiers(&self) -> Vec<String> {
        vec![self.name.clone()]
    }
    fn leaves(&self, field: &str) -> bool {
        field == "encryption" && self.encryption.is_none()
    }
    fn resource_policy(&self) -> Option<(String, &[Statement])> {
        Some((format!("bucket {}", self.name), &self.policy_statements))
    }
}
