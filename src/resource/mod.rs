//! The desired resources an expansion produces, and the registry of resource kinds.
//!
//! Each AWS resource kind lives in one module here (its spec type and how its fields
//! are compared: the pure half) and in one module of the same name under
//! `src/aws/resource/` (how it is read, discovered, created, updated and deleted: the
//! provider half). `for_each_kind!` below is the registry: one line per kind, from which
//! the [`Spec`] enum and every per-kind dispatch (here and in the provider layer) are
//! generated, so adding a kind is two modules of one name and one line.

pub mod event_bus;
pub mod event_rule;
pub mod event_target;
pub mod iam_role;
pub mod kms_key;
pub mod pipeline;
pub mod s3_bucket;
pub mod sqs_queue;

pub use event_bus::BusSpec;
pub use event_rule::RuleSpec;
pub use event_target::{InputTransformer, RetryPolicy, TargetSpec};
pub use iam_role::RoleSpec;
pub use kms_key::KeySpec;
pub use pipeline::{ActionSpec, ArtifactStore, PipelineSpec, PipelineVariable, StageSpec};
pub use s3_bucket::{BucketSpec, Encryption};
pub use sqs_queue::QueueSpec;

use crate::expand::policy::Statement;
use crate::state::Observed;
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

/// What a resource kind says about itself: the pure half of a kind (its spec type
/// implements it). The provider half is `aws::resource::Provider`.
pub trait Kind {
    /// The kind in addresses and in JSON (`"kind": …`), as the registry names it.
    const KIND: &'static str;
    /// Deletion order: lower goes first, so dependents are deleted before what they use.
    const DELETION_RANK: u8;
    /// Fields of this kind the diff does not compare (besides [`COMMON_IGNORED`]):
    /// derived from the address, or recorded in tags.
    const IGNORED: &'static [&'static str] = &[];

    /// The name shown in ownership errors.
    fn display_name(&self) -> String;
    /// Whether the topology asks to take over an existing resource (`adopt: true`).
    fn adopt(&self) -> bool {
        false
    }
    /// Fields AWS cannot change in place: a change replaces the resource.
    fn immutable(_field: &str) -> bool {
        false
    }
    /// Whether `field` is left alone for this live resource (beyond the ignored ones).
    fn kept_as_is(_field: &str, _observed: &Observed) -> bool {
        false
    }
    /// Whether this desired resource leaves `field` as it is live (not compared, not
    /// written).
    fn leaves(&self, _field: &str) -> bool {
        false
    }
    /// How other resources' documents name this one (ARN, name or alias): a deletion of
    /// this resource waits for the updates that stop naming it.
    fn identifiers(&self) -> Vec<String>;
    /// The statements of its resource policy tether manages, with how a reader names the
    /// resource (`bucket x`): for the access summary. `None` for kinds without one.
    fn resource_policy(&self) -> Option<(String, &[Statement])> {
        None
    }
}

/// Fields no kind compares: the kind itself, the ARN (derived from the address), and
/// settings recorded in tags (`adopt`, `protect`, `force_destroy`).
pub const COMMON_IGNORED: &[&str] = &["kind", "arn", "adopt", "protect", "force_destroy"];

/// Generates [`Spec`], its dispatch to [`Kind`], and [`KINDS`] from the registry
/// ([`for_each_kind!`]).
macro_rules! kinds {
    ($($variant:ident($module:ident::$spec:ident)),* $(,)?) => {
        /// One resource's kind-specific settings; serialised with its `kind`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum Spec {
            $($variant($spec),)*
        }

        /// Every kind, in registry order: `(kind, deletion rank)`.
        pub const KINDS: &[(&str, u8)] = &[
            $((<$spec as Kind>::KIND, <$spec as Kind>::DELETION_RANK),)*
        ];

        impl Spec {
            pub fn kind(&self) -> &'static str {
                match self { $(Spec::$variant(_) => <$spec as Kind>::KIND,)* }
            }
            pub fn deletion_rank(&self) -> u8 {
                match self { $(Spec::$variant(_) => <$spec as Kind>::DELETION_RANK,)* }
            }
            pub fn display_name(&self) -> String {
                match self { $(Spec::$variant(x) => x.display_name(),)* }
            }
            pub fn adopt(&self) -> bool {
                match self { $(Spec::$variant(x) => x.adopt(),)* }
            }
            pub fn identifiers(&self) -> Vec<String> {
                match self { $(Spec::$variant(x) => x.identifiers(),)* }
            }
            pub fn resource_policy(&self) -> Option<(String, &[Statement])> {
                match self { $(Spec::$variant(x) => x.resource_policy(),)* }
            }
            /// Whether the diff compares `field` of this kind against `observed`.
            pub fn compared(&self, field: &str, observed: &Observed) -> bool {
                match self {
                    $(Spec::$variant(x) => {
                        !COMMON_IGNORED.contains(&field)
                            && !<$spec as Kind>::IGNORED.contains(&field)
                            && !<$spec as Kind>::kept_as_is(field, observed)
                            && !x.leaves(field)
                    })*
                }
            }
            pub fn immutable(&self, field: &str) -> bool {
                match self { $(Spec::$variant(_) => <$spec as Kind>::immutable(field),)* }
            }
        }

    };
}

/// The registry of resource kinds: `Variant(module::SpecType)`, one line per kind. The
/// module names the kind's pure half here and its provider half in `aws::resource`.
/// Calls `$m!` with the list: [`kinds!`] here, the provider dispatch there.
macro_rules! for_each_kind {
    ($m:ident) => {
        $m! {
            IamRole(iam_role::RoleSpec),
            S3Bucket(s3_bucket::BucketSpec),
            KmsKey(kms_key::KeySpec),
            EventBus(event_bus::BusSpec),
            EventRule(event_rule::RuleSpec),
            EventTarget(event_target::TargetSpec),
            Pipeline(pipeline::PipelineSpec),
            SqsQueue(sqs_queue::QueueSpec),
        }
    };
}
pub(crate) use for_each_kind;

for_each_kind!(kinds);

/// The deletion rank of a kind by name (`usize::MAX` for one the registry lacks).
pub fn deletion_rank(kind: &str) -> usize {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(usize::MAX, |(_, r)| *r as usize)
}

macro_rules! accessors {
    ($($f:ident: $variant:ident($spec:ident)),* $(,)?) => {
        impl Resource {
            $(pub fn $f(&self) -> Option<&$spec> {
                match &self.spec {
                    Spec::$variant(x) => Some(x),
                    _ => None,
                }
            })*
        }
    };
}

accessors! {
    role: IamRole(RoleSpec),
    bucket: S3Bucket(BucketSpec),
    key: KmsKey(KeySpec),
    bus: EventBus(BusSpec),
    rule: EventRule(RuleSpec),
    target: EventTarget(TargetSpec),
    pipeline: Pipeline(PipelineSpec),
    queue: SqsQueue(QueueSpec),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_serialises_under_its_registered_name() {
        for r in crate::fixtures::flow1().resources {
            let v = serde_json::to_value(&r.spec).unwrap();
            assert_eq!(v["kind"], r.spec.kind(), "{}", r.address);
        }
        let names: BTreeSet<&str> = KINDS.iter().map(|(k, _)| *k).collect();
        assert_eq!(names.len(), KINDS.len(), "kinds are unique");
    }

    #[test]
    fn dependents_are_deleted_before_what_they_use() {
        let rank = |k| deletion_rank(k);
        assert!(rank("event_target") < rank("event_rule"));
        assert!(rank("event_rule") < rank("event_bus"));
        assert!(rank("event_target") < rank("sqs_queue"));
        assert!(rank("pipeline") < rank("s3_bucket"));
        assert!(rank("s3_bucket") < rank("kms_key"));
        assert!(rank("kms_key") < rank("iam_role"));
        assert_eq!(rank("no_such_kind"), usize::MAX);
    }
}
