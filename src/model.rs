//! The validated topology: every reference resolved, every name checked.
//!
//! Values of these types exist only after `validate` succeeded, so expansion never
//! re-checks anything: an account key always names an account, a region is always
//! known, a source stage is always first. Each entry keeps the YAML path it came from so
//! that later stages (cycle detection, name collisions) can still point at the file.

use crate::diag::YamlPath;
pub use crate::raw::Access;
use crate::region::Region;
use serde::Serialize;
use std::collections::BTreeMap;

/// Key of an entry in one of the topology's sections (`accounts.app` has key `app`).
pub type Key = String;
pub type Tags = BTreeMap<String, String>;

#[derive(Debug, Clone, Serialize)]
pub struct Topology {
    pub name: String,
    pub default_region: Option<Region>,
    pub tags: Tags,
    pub accounts: BTreeMap<Key, Account>,
    pub buckets: BTreeMap<Key, Bucket>,
    pub roles: BTreeMap<Key, Role>,
    pub buses: BTreeMap<Key, Bus>,
    pub pipelines: BTreeMap<Key, Pipeline>,
    pub triggers: BTreeMap<Key, Trigger>,
    /// `defaults.dead_letter` (default `true`): whether derived event targets that have
    /// no setting of their own dead-letter what EventBridge fails to deliver.
    pub dead_letter: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub key: Key,
    /// Twelve digits.
    pub id: String,
    pub access: AccountAccess,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountAccess {
    /// The ambient credentials, which must belong to this account.
    Ambient,
    AssumeRole {
        role_arn: String,
        external_id: Option<String>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    pub key: Key,
    pub account: Key,
    pub region: Region,
    pub name: String,
    pub versioning: bool,
    pub grants: Vec<Grant>,
    pub protect: bool,
    pub force_destroy: bool,
    pub adopt: bool,
    pub tags: Tags,
    pub origin: YamlPath,
}

#[derive(Debug, Clone, Serialize)]
pub struct Grant {
    /// A key of `roles`.
    pub role: Key,
    pub access: Access,
    pub prefix: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Role {
    pub key: Key,
    pub account: Key,
    pub name: String,
    pub trust: Vec<Trust>,
    pub statements: Vec<Statement>,
    pub managed_policies: Vec<String>,
    pub adopt: bool,
    pub tags: Tags,
    pub origin: YamlPath,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trust {
    /// The CodeBuild service role of a build action.
    Build {
        pipeline: Key,
        stage: String,
        action: String,
        service_role: String,
    },
    Pipeline(Key),
    Role(Key),
    Account(Key),
    Service(String),
    Arn(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct Statement {
    pub sid: Option<String>,
    pub allow: bool,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    pub condition: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bus {
    pub key: Key,
    pub account: Key,
    pub region: Region,
    pub name: String,
    pub accept_from: Vec<Key>,
    pub adopt: bool,
    pub tags: Tags,
    pub origin: YamlPath,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pipeline {
    pub key: Key,
    pub account: Key,
    pub region: Region,
    pub name: String,
    pub variables: BTreeMap<String, String>,
    /// All stages, the source stage first.
    pub stages: Vec<Stage>,
    pub tags: Tags,
    pub origin: YamlPath,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub name: String,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub name: String,
    /// Explicit run order; `None` runs after the previous action of the stage.
    pub run_order: Option<u32>,
    /// Name of the input artifact (the output of an earlier action).
    pub input: Option<String>,
    /// Name of the output artifact, for source actions and builds with `output: true`.
    pub output: Option<String>,
    pub kind: ActionKind,
    pub origin: YamlPath,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Source(Source),
    Build {
        project: String,
        region: Region,
        service_role: Option<String>,
        env: BTreeMap<String, String>,
    },
    CloudFormation {
        account: Key,
        region: Region,
        stack: String,
        template: String,
        parameters: BTreeMap<String, String>,
        capabilities: Vec<String>,
        change_set: bool,
        execution: Execution,
    },
    Commands {
        account: Key,
        region: Region,
        commands: Vec<String>,
        stacks: Vec<String>,
        execution: Option<Execution>,
    },
    Approval {
        notify: Option<String>,
        message: Option<String>,
        url: Option<String>,
    },
    Invoke {
        function: String,
        account: Key,
        region: Region,
        parameters: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Execution {
    /// A role the user names: one of this topology's roles or any role ARN.
    Existing(RoleRef),
    /// tether derives the execution role with these managed policies.
    Derived { policies: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleRef {
    Topology(Key),
    Arn(String),
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    S3 {
        bucket: Key,
        key: String,
    },
    CodeCommit {
        account: Key,
        region: Region,
        repository: String,
        branch: String,
    },
    Connection {
        arn: String,
        repository: String,
        branch: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Trigger {
    pub key: Key,
    pub bucket: Key,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
    pub via: Option<Key>,
    /// Pipelines to start; all share one account and region.
    pub start: Vec<Key>,
    pub enabled: bool,
    /// Undelivered events go to a derived SQS dead-letter queue in each rule's account
    /// and region (resolved: the trigger's own setting, else `defaults.dead_letter`).
    pub dead_letter: bool,
    /// The object the started pipelines read from the trigger's bucket, when they read
    /// one; `None` when the trigger is only a signal (their sources are elsewhere).
    pub object: Option<TriggerObject>,
    pub origin: YamlPath,
}

/// The one object of a trigger's bucket that its pipelines build: the rule matches
/// exactly its key and passes the version that fired it to each pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct TriggerObject {
    pub key: String,
    /// Per started pipeline, the name of its S3 source action that reads the key: where
    /// `StartPipelineExecution` overrides the source revision.
    pub actions: BTreeMap<Key, String>,
}

impl Topology {
    pub fn account_id(&self, key: &str) -> &str {
        &self.accounts[key].id
    }

    /// Partition of the topology's default region (all regions share one partition).
    pub fn partition(&self, region: &Region) -> &'static str {
        region.partition()
    }
}
