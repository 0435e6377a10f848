//! What tether observed in live AWS, as plain data.
//!
//! The state reader (in `aws`) fills these values; the diff compares them with the
//! desired resources without any I/O. An observed resource is described with the same
//! spec types as a desired one, read back and normalised, plus what only the live side
//! has: ownership, AWS-assigned ids, and statements that belong to someone else.

use crate::resource::{Address, Spec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Who a live resource belongs to, by its tags (or IAM path / `Sid` prefix).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    /// Tagged with this topology's name.
    This,
    /// Tagged by another topology (named).
    Other(String),
    /// No ownership tag: created by someone else.
    Nobody,
    /// The name is taken in another AWS account (S3's global namespace).
    OtherAccount,
}

/// One live resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Observed {
    pub address: Address,
    pub account: String,
    pub account_id: String,
    pub region: String,
    #[serde(flatten)]
    pub spec: Spec,
    pub tags: BTreeMap<String, String>,
    pub owner: Owner,
    /// An AWS-assigned identifier apply needs (the KMS key id). Not `id` in JSON: the
    /// flattened spec of an event target has an `id` of its own, and a plan that
    /// observed a target could not be read back.
    #[serde(rename = "aws_id", skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    /// Number of statements in a shared policy that tether does not manage; kept as
    /// they are and never shown as drift.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub foreign_statements: usize,
    /// Those statements themselves, as read (already in the answer that gave the
    /// policy): the flows are proven against them (`crate::flows`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub foreign: Vec<crate::expand::policy::Statement>,
    /// Principals AWS shows as unique ids (`AROA…`): the role they named was deleted.
    #[serde(skip_serializing_if = "BTreeSet::is_empty", default)]
    pub broken_principals: BTreeSet<String>,
    /// Pending deletion (KMS keys), so not usable as it is.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub pending_deletion: bool,
}

impl Observed {
    /// What a read finds of `r` right after tether created it (tests build worlds with
    /// it): values known only after apply hold [`stand_in`](crate::plan::unknown::stand_in)
    /// ARNs, the same wherever they are named.
    pub fn as_created(r: &crate::resource::Resource) -> Observed {
        let r = crate::plan::unknown::as_applied(r);
        Observed {
            address: r.address.clone(),
            account: r.account.clone(),
            account_id: r.account_id.clone(),
            region: r.region.clone(),
            spec: r.spec.clone(),
            tags: r.tags.clone(),
            owner: Owner::This,
            id: None,
            foreign_statements: 0,
            foreign: Vec::new(),
            broken_principals: BTreeSet::new(),
            pending_deletion: false,
        }
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Observed {
    /// A digest of everything observed, for detecting change between plan and apply.
    pub fn fingerprint(&self) -> String {
        let text = serde_json::to_string(self).expect("observed state serialises");
        let digest = Sha256::digest(text.as_bytes());
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// Whether the resource records `lifecycle: protect` on itself.
    pub fn protected(&self) -> bool {
        self.tags
            .get(crate::expand::TAG_LIFECYCLE)
            .map(String::as_str)
            == Some("protect")
    }
}

/// Everything observed: resources at desired addresses (present or known absent) and
/// owned resources discovered elsewhere.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// Live resource at each address read; `None` when it does not exist.
    pub resources: BTreeMap<Address, Option<Observed>>,
}

/// Fingerprint of a resource that does not exist.
pub const ABSENT: &str = "absent";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::TargetSpec;

    /// A saved plan holds observed resources; every kind must read back as it was written.
    #[test]
    fn an_observed_target_reads_back() {
        let o = Observed {
            address: Address("app/us-east-1/event_target.default/r/bus".into()),
            account: "app".into(),
            account_id: "222222222222".into(),
            region: "us-east-1".into(),
            spec: Spec::EventTarget(TargetSpec {
                rule: "r".into(),
                bus: "default".into(),
                id: "bus".into(),
                arn: "arn:aws:events:us-east-1:111111111111:event-bus/b".into(),
                role_arn: "arn:aws:iam::222222222222:role/x".into(),
                retry_policy: Some(crate::resource::RetryPolicy {
                    maximum_retry_attempts: 185,
                    maximum_event_age_seconds: 86400,
                }),
                dead_letter_arn: Some("arn:aws:sqs:us-east-1:222222222222:q".into()),
                input_transformer: Some(crate::resource::InputTransformer {
                    input_paths: BTreeMap::from([("v".into(), "$.detail.x".into())]),
                    input_template: serde_json::json!({"a": ["<v>"]}),
                }),
            }),
            tags: BTreeMap::new(),
            owner: Owner::This,
            id: Some("1234abcd".into()),
            foreign_statements: 0,
            foreign: Vec::new(),
            broken_principals: BTreeSet::new(),
            pending_deletion: false,
        };
        let text = serde_json::to_string(&o).unwrap();
        let back: Observed = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(back, o);
    }
}
