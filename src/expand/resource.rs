//! The desired resources an expansion produces: plain data, one value per AWS resource.

use super::policy::{PolicyDocument, Statement};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A resource's stable address: `<account>/<region>/<kind>.<name>`, with `global` as the
/// region of IAM roles. It is also the value of the `tether:address` tag.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct Address(pub String);

impl Address {
    pub fn new(account: &str, region: &str, kind: &str, name: &str) -> Self {
        Address(format!("{account}/{region}/{kind}.{name}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One desired AWS resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Resource {
    pub address: Address,
    /// Account key in the topology.
    pub account: String,
    pub account_id: String,
    /// The region, or `global` for IAM.
    pub region: String,
    #[serde(flatten)]
    pub spec: Spec,
    /// Every tag, ownership tags included. Empty for resources AWS cannot tag.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub tags: BTreeMap<String, String>,
    /// Resources that must exist before this one.
    #[serde(skip_serializing_if = "BTreeSet::is_empty", default)]
    pub depends_on: BTreeSet<Address>,
    /// The topology entry that caused this resource (a YAML path).
    pub origin: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Spec {
    IamRole(RoleSpec),
    S3Bucket(BucketSpec),
    KmsKey(KeySpec),
    EventBus(BusSpec),
    EventRule(RuleSpec),
    EventTarget(TargetSpec),
    Pipeline(PipelineSpec),
}

impl Spec {
    pub fn kind(&self) -> &'static str {
        match self {
            Spec::IamRole(_) => "iam_role",
            Spec::S3Bucket(_) => "s3_bucket",
            Spec::KmsKey(_) => "kms_key",
            Spec::EventBus(_) => "event_bus",
            Spec::EventRule(_) => "event_rule",
            Spec::EventTarget(_) => "event_target",
            Spec::Pipeline(_) => "pipeline",
        }
    }
}

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
    pub encryption: Encryption,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeySpec {
    /// `alias/<name>`: how tether finds the key (its id is assigned by AWS).
    pub alias: String,
    pub alias_arn: String,
    pub description: String,
    pub rotation: bool,
    /// Statements tether manages inside the key policy.
    pub policy_statements: Vec<Statement>,
    /// Days between scheduling deletion and deletion.
    pub deletion_window_days: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BusSpec {
    pub name: String,
    pub arn: String,
    /// Statements tether manages inside the bus policy.
    pub policy_statements: Vec<Statement>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub adopt: bool,
}

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TargetSpec {
    pub rule: String,
    pub bus: String,
    pub id: String,
    /// Where events go: an event bus or a pipeline ARN.
    pub arn: String,
    pub role_arn: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PipelineSpec {
    pub name: String,
    pub arn: String,
    pub role_arn: String,
    /// Always `V2`.
    pub pipeline_type: String,
    pub execution_mode: String,
    /// One artifact store per region the pipeline acts in.
    pub artifact_stores: BTreeMap<String, ArtifactStore>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub variables: Vec<PipelineVariable>,
    pub stages: Vec<StageSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ArtifactStore {
    pub bucket: String,
    /// ARN of the KMS key alias.
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PipelineVariable {
    pub name: String,
    pub default_value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StageSpec {
    pub name: String,
    pub actions: Vec<ActionSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ActionSpec {
    pub name: String,
    pub category: String,
    pub owner: String,
    pub provider: String,
    pub version: String,
    pub run_order: u32,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub configuration: BTreeMap<String, String>,
    /// Shell commands of a V2 `Commands` action.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub commands: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub input_artifacts: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub output_artifacts: Vec<String>,
    /// Role CodePipeline assumes for this action (cross-account actions).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub role_arn: Option<String>,
    /// Set when the action runs outside the pipeline's region.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub region: Option<String>,
}

impl Resource {
    pub fn role(&self) -> Option<&RoleSpec> {
        match &self.spec {
            Spec::IamRole(r) => Some(r),
            _ => None,
        }
    }
    pub fn bucket(&self) -> Option<&BucketSpec> {
        match &self.spec {
            Spec::S3Bucket(b) => Some(b),
            _ => None,
        }
    }
    pub fn key(&self) -> Option<&KeySpec> {
        match &self.spec {
            Spec::KmsKey(k) => Some(k),
            _ => None,
        }
    }
    pub fn bus(&self) -> Option<&BusSpec> {
        match &self.spec {
            Spec::EventBus(b) => Some(b),
            _ => None,
        }
    }
    pub fn rule(&self) -> Option<&RuleSpec> {
        match &self.spec {
            Spec::EventRule(r) => Some(r),
            _ => None,
        }
    }
    pub fn target(&self) -> Option<&TargetSpec> {
        match &self.spec {
            Spec::EventTarget(t) => Some(t),
            _ => None,
        }
    }
    pub fn pipeline(&self) -> Option<&PipelineSpec> {
        match &self.spec {
            Spec::Pipeline(p) => Some(p),
            _ => None,
        }
    }
}
