//! The topology file as written: serde types that mirror the YAML, key for key.
//!
//! These types only describe shape. Nothing here is checked beyond what serde checks
//! (types, unknown keys); `validate` turns them into the resolved types of `model`.
//! `schemas/topology.schema.json` is generated from them.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// A topology file, version 1.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "tether topology")]
pub struct RawTopology {
    /// Format version; only `1` exists.
    pub version: u32,
    /// Prefix of every derived name and value of the `tether:topology` ownership tag.
    /// Lowercase letters, digits and hyphens.
    pub name: String,
    #[serde(default)]
    pub defaults: RawDefaults,
    /// Accounts by short name. Every other entry refers to accounts by these names.
    #[serde(default)]
    pub accounts: BTreeMap<String, RawAccount>,
    #[serde(default)]
    pub buckets: BTreeMap<String, RawBucket>,
    /// Roles the user describes; the plumbing roles are derived instead.
    #[serde(default)]
    pub roles: BTreeMap<String, RawRole>,
    #[serde(default)]
    pub buses: BTreeMap<String, RawBus>,
    #[serde(default)]
    pub pipelines: BTreeMap<String, RawPipeline>,
    #[serde(default)]
    pub triggers: BTreeMap<String, RawTrigger>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    /// Region of every entry that names none.
    pub region: Option<String>,
    /// Tags put on every taggable resource tether creates.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Whether derived event targets send what EventBridge fails to deliver to a derived
    /// SQS dead-letter queue (per rule account and region); a trigger's own
    /// `dead_letter` wins. Default `true`.
    pub dead_letter: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAccount {
    /// The 12-digit account ID, as a quoted string.
    pub id: RawAccountId,
    /// Role to assume in the account: a role name or a full role ARN. Without it the
    /// ambient credentials are used, and they must belong to this account.
    pub role: Option<String>,
    /// External ID passed when assuming `role`.
    pub external_id: Option<String>,
}

/// An account ID as written. A bare YAML number is accepted by the parser so that
/// validation can say "quote it" instead of a type error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAccountId {
    pub text: String,
    pub was_number: bool,
}

impl<'de> Deserialize<'de> for RawAccountId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = RawAccountId;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a 12-digit account ID string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawAccountId {
                    text: v.to_string(),
                    was_number: false,
                })
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(RawAccountId {
                    text: v.to_string(),
                    was_number: true,
                })
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(RawAccountId {
                    text: v.to_string(),
                    was_number: true,
                })
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(RawAccountId {
                    text: v.to_string(),
                    was_number: true,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for RawAccountId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AccountId".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]{12}$",
            "description": "A 12-digit AWS account ID. Quote it: a bare number loses leading zeros."
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Lifecycle {
    /// Never delete, even after the entry is removed (recorded as a tag on the resource).
    Protect,
    /// Delete when removed from the topology (the default).
    Default,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBucket {
    pub account: String,
    pub region: Option<String>,
    /// The S3 bucket name; derived from the topology name, key and account when omitted.
    pub name: Option<String>,
    /// Object versioning. Buckets used as a pipeline source are always versioned.
    pub versioning: Option<bool>,
    /// Principals (roles of this topology) admitted by the bucket policy.
    #[serde(default)]
    pub grants: Vec<RawGrant>,
    pub lifecycle: Option<Lifecycle>,
    /// Allow deleting the bucket with its objects once it leaves the topology.
    #[serde(default)]
    pub force_destroy: bool,
    /// Take over an existing bucket of this name instead of refusing to touch it.
    #[serde(default)]
    pub adopt: bool,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    Read,
    ReadWrite,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGrant {
    /// A role of this topology (its key under `roles`).
    pub role: String,
    pub access: Access,
    /// Limit the grant to keys under this prefix.
    pub prefix: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRole {
    pub account: String,
    /// The IAM role name; `<topology>-<key>` when omitted.
    pub name: Option<String>,
    /// Who may assume the role: one key per entry.
    #[serde(default)]
    pub trust: Vec<RawTrust>,
    /// Inline permissions.
    #[serde(default)]
    pub statements: Vec<RawStatement>,
    /// ARNs of managed policies to attach.
    #[serde(default)]
    pub managed_policies: Vec<String>,
    #[serde(default)]
    pub adopt: bool,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// One trusted principal. Exactly one key is set.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTrust {
    /// A build action, as `pipeline.Stage.action`; trusts that action's CodeBuild service role.
    pub build: Option<String>,
    /// The service role of a pipeline of this topology.
    pub pipeline: Option<String>,
    /// Another role of this topology (its key under `roles`).
    pub role: Option<String>,
    /// An account of this topology (its root principal).
    pub account: Option<String>,
    /// An AWS service principal such as `lambda.amazonaws.com`.
    pub service: Option<String>,
    /// Any IAM principal ARN outside the topology.
    pub arn: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
pub enum Effect {
    #[default]
    Allow,
    Deny,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStatement {
    pub sid: Option<String>,
    #[serde(default)]
    pub effect: Effect,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    /// IAM condition block: operator → key → values.
    #[serde(default)]
    pub condition: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBus {
    pub account: String,
    pub region: Option<String>,
    /// The event bus name; `<topology>-<key>` when omitted.
    pub name: Option<String>,
    /// Accounts allowed to put events on the bus.
    #[serde(default)]
    pub accept_from: Vec<String>,
    #[serde(default)]
    pub adopt: bool,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPipeline {
    pub account: String,
    pub region: Option<String>,
    /// The pipeline name; `<topology>-<key>` when omitted.
    pub name: Option<String>,
    /// Pipeline-level variables and their defaults (CodePipeline V2), passed to every
    /// build action as environment variables.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Shorthand for a first stage `Source` with one source action `source`.
    pub source: Option<RawSource>,
    pub stages: Vec<RawStage>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Where a pipeline's code comes from. Exactly one key is set.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub s3: Option<RawS3Source>,
    pub codecommit: Option<RawCodeCommitSource>,
    pub connection: Option<RawConnectionSource>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawS3Source {
    /// A bucket of this topology (its key under `buckets`).
    pub bucket: String,
    /// The object key of the source archive.
    pub key: String,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCodeCommitSource {
    /// The account holding the repository; the pipeline's account when omitted.
    pub account: Option<String>,
    pub region: Option<String>,
    pub repository: String,
    pub branch: String,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConnectionSource {
    /// ARN of an existing CodeConnections (CodeStar) connection.
    pub arn: String,
    /// `owner/repository`.
    pub repository: String,
    pub branch: String,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub name: String,
    pub actions: Vec<RawAction>,
}

/// One action: a name and exactly one kind key.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAction {
    pub name: String,
    /// Actions run in the order listed; actions with the same `run_order` run in parallel.
    pub run_order: Option<u32>,
    /// Input artifact: `Stage.action` of an earlier action; the first source when omitted.
    pub input: Option<String>,
    pub source: Option<RawSource>,
    pub build: Option<RawBuild>,
    pub cloudformation: Option<RawCloudFormation>,
    pub commands: Option<RawCommands>,
    pub approval: Option<RawApproval>,
    pub invoke: Option<RawInvoke>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBuild {
    /// Name of an existing CodeBuild project in the pipeline's account.
    pub project: String,
    pub region: Option<String>,
    /// ARN of the project's service role; needed when a role trusts this build.
    pub service_role: Option<String>,
    /// Extra environment variables (plain text).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Whether the build produces an output artifact.
    #[serde(default)]
    pub output: bool,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCloudFormation {
    /// Target account; the pipeline's account when omitted.
    pub account: Option<String>,
    pub region: Option<String>,
    pub stack: String,
    /// Template path inside the input artifact.
    pub template: String,
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Create-replace a change set, then execute it in the next run order.
    #[serde(default)]
    pub change_set: bool,
    /// An existing execution role: a role of this topology or a role ARN.
    pub execution_role: Option<String>,
    /// Managed policies for the derived execution role.
    #[serde(default)]
    pub execution_policies: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCommands {
    /// Account the commands act in, through a role tether derives there (its ARN is
    /// `$TETHER_ROLE_ARN`); the pipeline's account, as the pipeline role, when omitted.
    /// The action itself always runs in the pipeline's account.
    pub account: Option<String>,
    /// Only the pipeline's region: CodePipeline runs no cross-Region Commands action.
    pub region: Option<String>,
    /// Single-line shell commands (at most 50, each at most 1000 characters).
    pub commands: Vec<String>,
    /// CloudFormation stacks the commands may deploy, passing the execution role
    /// (`$TETHER_EXECUTION_ROLE_ARN`) with `--role-arn`.
    #[serde(default)]
    pub stacks: Vec<String>,
    pub execution_role: Option<String>,
    #[serde(default)]
    pub execution_policies: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawApproval {
    /// ARN of an SNS topic to notify.
    pub notify: Option<String>,
    pub message: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawInvoke {
    /// Lambda function name.
    pub function: String,
    /// Account of the function; the pipeline's account when omitted.
    pub account: Option<String>,
    pub region: Option<String>,
    /// `UserParameters` passed to the function.
    pub parameters: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTrigger {
    /// A bucket of this topology whose uploads start the pipelines.
    pub bucket: String,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
    /// The receiving bus; a derived bus in the pipelines' account when omitted.
    pub via: Option<String>,
    /// Pipelines to start.
    pub start: Vec<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Events EventBridge fails to deliver (after its retries, or at once for errors it
    /// does not retry) go to a derived SQS dead-letter queue instead of being dropped.
    /// Default: `defaults.dead_letter`, else `true`.
    pub dead_letter: Option<bool>,
}

fn yes() -> bool {
    true
}
