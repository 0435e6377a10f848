//! IAM policy documents as tether derives them and reads them back.
//!
//! Typed so that the expansion builds statements from their parts (principals,
//! actions, resources, conditions), the reader can tell tether's statements in a live
//! policy from everyone else's, and checks can look at those parts instead of text.
//! Serialised in AWS's canonical JSON shape: a one-element list is written as its
//! scalar, as AWS itself returns it (and as CodePipeline requires for the service
//! principal of a pipeline role's trust policy).
//!
//! Nothing here evaluates a policy: no code decides whether a document grants an
//! access (that would take Deny, wildcards and conditions into account), so tests pin
//! the exact statements that concern an action instead.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};

pub const VERSION: &str = "2012-10-17";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyDocument {
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "Statement", deserialize_with = "one_or_many_statements")]
    pub statement: Vec<Statement>,
}

/// AWS accepts a single statement object in place of a list.
fn one_or_many_statements<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<Statement>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        One(Box<Statement>),
        Many(Vec<Statement>),
    }
    Ok(match Repr::deserialize(d)? {
        Repr::One(s) => vec![*s],
        Repr::Many(v) => v,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Effect {
    Allow,
    Deny,
}

/// Condition block: operator → condition key → values.
pub type Condition = BTreeMap<String, BTreeMap<String, OneOrMany>>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Statement {
    #[serde(rename = "Sid", skip_serializing_if = "Option::is_none", default)]
    pub sid: Option<String>,
    #[serde(rename = "Effect")]
    pub effect: Effect,
    #[serde(rename = "Principal", skip_serializing_if = "Option::is_none", default)]
    pub principal: Option<Principal>,
    /// Empty when a live statement has `NotAction` instead (kept in `other`).
    #[serde(
        rename = "Action",
        default,
        skip_serializing_if = "OneOrMany::is_empty"
    )]
    pub action: OneOrMany,
    #[serde(rename = "Resource", skip_serializing_if = "Option::is_none", default)]
    pub resource: Option<OneOrMany>,
    #[serde(
        rename = "Condition",
        skip_serializing_if = "BTreeMap::is_empty",
        default
    )]
    pub condition: Condition,
    /// Keys tether never writes (`NotAction`, `NotPrincipal`, …) found in live policies,
    /// kept so that they show up as differences instead of vanishing.
    #[serde(flatten, default, skip_serializing_if = "BTreeMap::is_empty")]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// A sorted, de-duplicated list written as a scalar when it has one element.
///
/// A sorted `Vec` rather than a `BTreeSet`: most lists hold one or two ARNs, and a
/// tree node per list would dominate the memory of a large expansion.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize)]
#[serde(from = "OneOrManyRepr")]
pub struct OneOrMany(Vec<String>);

impl JsonSchema for OneOrMany {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OneOrMany".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A string, or a sorted list of strings when there are several.",
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
        })
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrManyRepr {
    // `Many` first: a `Value` would also match a list.
    Many(Vec<serde_json::Value>),
    One(serde_json::Value),
}

/// Condition values may be written as booleans or numbers; they mean their text.
fn text(v: serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

impl From<OneOrManyRepr> for OneOrMany {
    fn from(r: OneOrManyRepr) -> Self {
        match r {
            OneOrManyRepr::One(s) => OneOrMany::new(vec![text(s)]),
            OneOrManyRepr::Many(v) => OneOrMany::new(v.into_iter().map(text).collect()),
        }
    }
}

impl Serialize for OneOrMany {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.len() == 1 {
            s.serialize_str(self.0.first().expect("one element"))
        } else {
            s.collect_seq(&self.0)
        }
    }
}

impl OneOrMany {
    fn new(mut items: Vec<String>) -> Self {
        items.sort();
        items.dedup();
        items.shrink_to_fit();
        OneOrMany(items)
    }

    pub fn contains(&self, s: &str) -> bool {
        self.0.binary_search_by(|x| x.as_str().cmp(s)).is_ok()
    }

    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.0.iter()
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The values as a set, for comparisons in tests and checks.
    pub fn to_set(&self) -> BTreeSet<String> {
        self.0.iter().cloned().collect()
    }

    pub fn insert(&mut self, s: String) {
        if let Err(i) = self.0.binary_search(&s) {
            self.0.insert(i, s);
        }
    }

    pub fn extend(&mut self, other: OneOrMany) {
        let mut all = std::mem::take(&mut self.0);
        all.extend(other.0);
        *self = OneOrMany::new(all);
    }
}

impl<S: Into<String>, I: IntoIterator<Item = S>> From<I> for OneOrMany {
    fn from(items: I) -> Self {
        OneOrMany::new(items.into_iter().map(Into::into).collect())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub enum Principal {
    /// `"*"`, used only in Deny statements.
    #[serde(rename = "*")]
    Anyone,
    #[serde(rename = "AWS")]
    Aws(OneOrMany),
    #[serde(rename = "Service")]
    Service(OneOrMany),
    /// Any other principal found in a live policy (federated, several kinds at once, …).
    #[serde(untagged)]
    Other(serde_json::Value),
}

impl<'de> Deserialize<'de> for Principal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        if v == serde_json::Value::String("*".into()) {
            return Ok(Principal::Anyone);
        }
        if let Some(m) = v.as_object() {
            if m.len() == 1 {
                let (kind, value) = m.iter().next().expect("one entry");
                let parsed = serde_json::from_value::<OneOrMany>(value.clone());
                match (kind.as_str(), parsed) {
                    ("AWS", Ok(p)) => return Ok(Principal::Aws(p)),
                    ("Service", Ok(p)) => return Ok(Principal::Service(p)),
                    _ => {}
                }
            }
        }
        Ok(Principal::Other(v))
    }
}

impl Statement {
    pub fn allow(actions: impl Into<OneOrMany>) -> Self {
        Statement {
            sid: None,
            effect: Effect::Allow,
            principal: None,
            action: actions.into(),
            resource: None,
            condition: BTreeMap::new(),
            other: BTreeMap::new(),
        }
    }

    pub fn deny(actions: impl Into<OneOrMany>) -> Self {
        Statement {
            effect: Effect::Deny,
            ..Statement::allow(actions)
        }
    }

    pub fn sid(mut self, sid: impl Into<String>) -> Self {
        self.sid = Some(sid.into());
        self
    }

    pub fn on(mut self, resources: impl Into<OneOrMany>) -> Self {
        self.resource = Some(resources.into());
        self
    }

    pub fn aws(mut self, principals: impl Into<OneOrMany>) -> Self {
        self.principal = Some(Principal::Aws(principals.into()));
        self
    }

    pub fn service(mut self, service: &str) -> Self {
        self.principal = Some(Principal::Service([service].into()));
        self
    }

    pub fn anyone(mut self) -> Self {
        self.principal = Some(Principal::Anyone);
        self
    }

    pub fn when(mut self, operator: &str, key: &str, values: impl Into<OneOrMany>) -> Self {
        self.condition
            .entry(operator.to_string())
            .or_default()
            .insert(key.to_string(), values.into());
        self
    }

    /// The AWS principals of this statement (empty for service or anonymous principals).
    pub fn aws_principals(&self) -> impl Iterator<Item = &str> {
        match &self.principal {
            Some(Principal::Aws(p)) => Some(p.0.iter().map(String::as_str)),
            _ => None,
        }
        .into_iter()
        .flatten()
    }
}

impl PolicyDocument {
    pub fn new(statement: Vec<Statement>) -> Self {
        PolicyDocument {
            version: VERSION.to_string(),
            statement,
        }
    }
}
