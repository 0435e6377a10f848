//! The planned state the flows are proven against: the expansion's desired resources,
//! with what tether does not own taken from live AWS when it was read.
//!
//! - A resource tether manages contributes its desired policies (after apply, they are
//!   what AWS holds).
//! - A shared policy (bucket, bus, key) also holds the statements of others, kept exactly
//!   as they are by apply: the foreign statements the reader observed are added to the
//!   desired ones.
//! - A role tether does not manage (a build's service role, a referenced execution
//!   role) contributes what was read of it live ([`ExternalRole`]); unread, any answer
//!   that depends on it is "unverified".
//! - References `${<address>.arn}` in a policy stand for the ARN of the resource at that
//!   address, known after apply for a KMS key: a request on a key names its reference
//!   too (`eval::Request::names`), so a reference to the key a request uses matches it
//!   and a reference to another key does not.

use crate::eval::context::Lookup;
use crate::eval::{Caller, Context, Name, Policy, Reading, Values};
use crate::expand::policy::{Condition, Effect, Statement};
use crate::expand::Expansion;
use crate::resource::{Resource, Spec};
use crate::state::State;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// What was read live of a role tether does not manage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExternalRole {
    pub trust: Option<Vec<Statement>>,
    /// Inline and managed policy documents that were read, by name.
    pub policies: Vec<(String, Vec<Statement>)>,
    /// Attached policies whose documents could not be read.
    pub unread: Vec<String>,
}

/// A role as the flows see it: everything borrowed, from the expansion or the state, and
/// named only when an answer names it ([`Name`]).
#[derive(Debug, Clone)]
pub struct RoleView<'a> {
    /// Its address, or its ARN for a role tether does not manage.
    pub name: &'a str,
    /// `None`: not read (a role tether does not manage).
    pub trust: Option<&'a [Statement]>,
    pub policies: Vec<Policy<'a>>,
    pub unread: Vec<String>,
}

impl<'a> RoleView<'a> {
    /// How messages name all its identity policies.
    pub fn identity_name(&self) -> Name<'a> {
        Name::PoliciesOf(self.name)
    }
}

/// A resource with a resource policy (bucket, bus, queue) or a key policy.
#[derive(Debug, Clone)]
pub struct PolicyView<'a> {
    pub address: &'a str,
    pub arn: Cow<'a, str>,
    pub account_id: &'a str,
    pub region: &'a str,
    /// The desired statements, then the foreign ones read live.
    pub statements: Vec<&'a Statement>,
    /// `None` for a policy too small for an index to pay. Built on the first read, so
    /// that proving builds it on its threads, and never for a policy no flow reads.
    index: OnceLock<Option<PrincipalIndex<'a>>>,
}

/// Where each `"AWS"` principal of a policy could name a caller, so that a request is
/// evaluated against only the statements and principals that may name its caller (a
/// shared artifact bucket's policy names hundreds of roles). The cut is conservative:
/// every principal form that can name a role session, its account or anyone is kept
/// ("AWS JSON policy elements: Principal": `*`, an account id or its root, a role ARN
/// (by name, any path or case, which the evaluator answers as unknown), an
/// assumed-role session, any wildcard); a unique id or a user names no caller.
#[derive(Debug, Clone, Default)]
struct PrincipalIndex<'a> {
    /// Statements whose principal is not an `"AWS"` list (service, `*` alone, none).
    whole: Vec<usize>,
    /// `(account, lower-case role name)` → (statement, principal).
    roles: HashMap<(&'a str, Cow<'a, str>), Named<'a>>,
    /// Account → its id or root ARN, or one of its sessions: (statement, principal).
    accounts: HashMap<&'a str, Named<'a>>,
    /// `*` and principals with wildcards: (statement, principal).
    any: Vec<(usize, &'a str)>,
    /// Statements whose condition tests a key against listed values (see [`Narrow`]).
    narrow: HashMap<usize, Narrow<'a>>,
    /// Whether a narrowed condition tests a key the request context supplies.
    reads_context: bool,
}

/// Principals of a policy that may name one caller: (statement, principal).
type Named<'a> = Vec<(usize, &'a str)>;

/// `"AWS"` principals and condition values a policy may hold before an index pays (the
/// `aws:PrincipalArn` lists it narrows are condition values).
const INDEX_FROM: usize = 32;

impl<'a> PrincipalIndex<'a> {
    /// An index of a policy that names many principals, else `None`.
    fn of(statements: &[&'a Statement]) -> Option<Self> {
        use crate::expand::policy::Principal;
        let named: usize = statements
            .iter()
            .map(|s| {
                let principals = match &s.principal {
                    Some(Principal::Aws(list)) => list.len(),
                    _ => 0,
                };
                let values: usize = s
                    .condition
                    .values()
                    .flat_map(|k| k.values())
                    .map(|v| v.len())
                    .sum();
                principals + values
            })
            .sum();
        (named >= INDEX_FROM).then(|| PrincipalIndex::new(statements))
    }

    fn new(statements: &[&'a Statement]) -> Self {
        use crate::expand::policy::Principal;
        let mut ix = PrincipalIndex::default();
        for (i, st) in statements.iter().enumerate() {
            if let Some(n) = Narrow::new(&st.condition) {
                ix.narrow.insert(i, n);
            }
            let Some(Principal::Aws(list)) = &st.principal else {
                ix.whole.push(i);
                continue;
            };
            if st.other.contains_key("NotPrincipal") {
                ix.whole.push(i);
                continue;
            }
            for p in list.iter() {
                let entry = (i, p.as_str());
                if p.contains(['*', '?']) {
                    ix.any.push(entry);
                } else if p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()) {
                    ix.accounts.entry(p.as_str()).or_default().push(entry);
                } else if let Some(a) = crate::names::arn(p) {
                    match (a.service, a.resource) {
                        ("iam", r) if r.starts_with("role/") => {
                            let name = lower(r.rsplit('/').next().unwrap_or_default());
                            ix.roles.entry((a.account, name)).or_default().push(entry);
                        }
                        ("iam", "root") | ("sts", _) => {
                            ix.accounts.entry(a.account).or_default().push(entry);
                        }
                        _ => {} // users, groups: never a flow's caller
                    }
                }
                // Not an ARN nor an account (a unique id): names no caller.
            }
        }
        ix.reads_context = ix.narrow.values().any(Narrow::reads_context);
        ix
    }

    /// The statements that may name `caller`, each with only the principals that may,
    /// and only the condition values that may match the request (see [`Narrow`]); in
    /// the policy's order.
    fn read(
        &self,
        statements: &[&'a Statement],
        caller: &Caller,
        context: &Context,
    ) -> Vec<Reading<'a>> {
        let mut named: Vec<(usize, &'a str)> = self.any.clone();
        match caller {
            Caller::Role(r) => {
                named.extend(self.accounts.get(r.account.as_str()).into_iter().flatten());
                let key = (r.account.as_str(), lower(&r.name));
                named.extend(self.roles.get(&key).into_iter().flatten());
            }
            Caller::Root { account } => {
                named.extend(self.accounts.get(account.as_str()).into_iter().flatten())
            }
            Caller::Service(_) => {}
        }
        named.sort_by_key(|(i, _)| *i);
        let values = |i: usize| match self.narrow.get(&i) {
            Some(n) => n.for_request(caller, context),
            None => Vec::new(),
        };
        let mut out: Vec<Reading<'a>> = Vec::with_capacity(named.len() + self.whole.len());
        for (i, p) in named {
            match out.last_mut() {
                Some(last) if last.position == i => {
                    last.principals.get_or_insert_with(Vec::new).push(p)
                }
                _ => out.push(Reading {
                    statement: statements[i],
                    position: i,
                    principals: Some(vec![p]),
                    values: values(i),
                }),
            }
        }
        out.extend(self.whole.iter().map(|i| Reading {
            values: values(*i),
            ..Reading::whole(statements[*i], *i)
        }));
        out.sort_by_key(|r| r.position);
        out
    }
}

/// `name` in lower case, borrowed when it already is (role names mostly are).
fn lower(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) || !name.is_ascii() {
        Cow::Owned(name.to_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// A statement's condition with its tests of single values indexed, so that it can be
/// read for one request without scanning their values (see [`Narrow::for_request`]).
#[derive(Debug, Clone)]
struct Narrow<'a> {
    /// `(operator, key)` → the values that can match only themselves, and the others.
    slots: Vec<(&'a str, &'a str, HashSet<&'a str>, Vec<&'a str>)>,
}

/// The key a caller's own ARN is read from ("AWS global condition context keys").
const PRINCIPAL_ARN: &str = "aws:PrincipalArn";

impl<'a> Narrow<'a> {
    /// `None` when the condition has no positive, case-sensitive test (`StringEquals`,
    /// `StringLike`, `ArnEquals`, `ArnLike`, with `IfExists` or `ForAnyValue:`).
    fn new(condition: &'a Condition) -> Option<Narrow<'a>> {
        let mut slots = Vec::new();
        for (op, keys) in condition {
            let base = op.strip_prefix("ForAnyValue:").unwrap_or(op);
            let base = base.strip_suffix("IfExists").unwrap_or(base);
            if !matches!(
                base,
                "StringEquals" | "StringLike" | "ArnEquals" | "ArnLike"
            ) {
                continue;
            }
            for (key, values) in keys {
                let (exact, rest): (Vec<&str>, Vec<&str>) = values
                    .iter()
                    .map(String::as_str)
                    .partition(|v| !v.contains(['*', '?']) && !v.contains("${"));
                slots.push((op.as_str(), key.as_str(), exact.into_iter().collect(), rest));
            }
        }
        (!slots.is_empty()).then_some(Narrow { slots })
    }

    /// Whether a slot tests a key other than the caller's ARN: its reading then depends
    /// on the request context, not only on the caller.
    fn reads_context(&self) -> bool {
        let other = |(_, key, _, _): &(_, &str, _, _)| !key.eq_ignore_ascii_case(PRINCIPAL_ARN);
        self.slots.iter().any(other)
    }

    /// The values as they read for a request in which each tested key has at most one
    /// value: `aws:PrincipalArn` is a role caller's ARN unless the context says otherwise
    /// ("AWS global condition context keys"), any other key what the context says. Of the
    /// values that can match only themselves, only the request's value is kept: the
    /// answer for this request is the same, and a key policy that narrows its account
    /// principals to hundreds of roles by `ArnEquals aws:PrincipalArn`, or a dead-letter
    /// queue that accepts hundreds of rules by `ArnEquals aws:SourceArn`, is evaluated on
    /// one value, not hundreds. A list left empty matches nothing, as the dropped values
    /// did not. A key with several values, none, or unknown is read as it is.
    fn for_request(&self, caller: &Caller, context: &Context) -> Vec<Values<'a>> {
        self.slots
            .iter()
            .filter_map(|(operator, key, exact, rest)| {
                let value = match (context.get(key), caller) {
                    (Lookup::One(v), _) => Some(v),
                    (Lookup::Unknown, Caller::Role(r))
                        if key.eq_ignore_ascii_case(PRINCIPAL_ARN) =>
                    {
                        Some(r.arn.as_str())
                    }
                    _ => None,
                };
                // Not narrowed: the statement's own values are read.
                let mut values = rest.clone();
                values.extend(exact.get(value?).copied());
                Some(Values {
                    operator,
                    key,
                    values,
                })
            })
            .collect()
    }
}

impl<'a> PolicyView<'a> {
    fn index(&self) -> Option<&PrincipalIndex<'a>> {
        let ix = self
            .index
            .get_or_init(|| PrincipalIndex::of(&self.statements));
        ix.as_ref()
    }

    /// Whether [`PolicyView::read`] depends on the request context, and not only on the
    /// caller (a policy read for a caller can then be reused for that caller's requests).
    pub fn reads_context(&self) -> bool {
        self.index().is_some_and(|ix| ix.reads_context)
    }

    /// The statements that may name `caller`, with the condition values that may match
    /// the request (see [`PrincipalIndex`]), at their positions in the whole policy.
    pub fn read(&self, caller: &Caller, context: &Context) -> Vec<Reading<'a>> {
        match self.index() {
            Some(ix) => ix.read(&self.statements, caller, context),
            None => self
                .statements
                .iter()
                .enumerate()
                .map(|(i, s)| Reading::whole(s, i))
                .collect(),
        }
    }
}

/// A KMS key: its policy, its alias and the ARN requests name it by.
#[derive(Debug, Clone)]
pub struct KeyView<'a> {
    pub policy: PolicyView<'a>,
    /// `${<address>.arn}`: how tether's policies name the key before its ARN is known.
    pub reference: String,
    pub alias: String,
    pub alias_arn: String,
}

/// The planned state: everything a flow's requests are evaluated against.
#[derive(Debug, Default)]
pub struct World<'a> {
    /// By ARN.
    pub roles: HashMap<&'a str, RoleView<'a>>,
    /// By name.
    pub buckets: HashMap<&'a str, PolicyView<'a>>,
    /// By ARN.
    pub buses: HashMap<&'a str, PolicyView<'a>>,
    /// Dead-letter queues by ARN.
    pub queues: HashMap<&'a str, PolicyView<'a>>,
    pub keys: Vec<KeyView<'a>>,
    /// Every name a key goes by (alias, alias ARN, key ARN, reference) → index in `keys`.
    key_names: HashMap<String, usize>,
    /// Bucket name → whether it sends its events to EventBridge.
    pub eventbridge: HashMap<&'a str, bool>,
    pub rules: Vec<&'a Resource>,
    pub targets: Vec<&'a Resource>,
    pub pipelines: Vec<&'a Resource>,
    /// Roles tether does not manage, by ARN, as read (none offline).
    pub external: HashMap<String, ExternalRole>,
    /// Whether live AWS was read (plan) or only the topology (`tether flows`).
    pub live: bool,
    /// Role ARN → the ARNs of tether's roles whose trust policy names it.
    pub trusted_by: HashMap<&'a str, Vec<&'a str>>,
    /// `(account id, region, bus)` → its slot in `on_bus` (the map holds only indexes, so
    /// that it stays covariant, for lookups by shorter-lived names).
    rules_on: HashMap<Bus<'a>, usize>,
    /// By slot: the indexes into `rules` of the rules on one bus, and their patterns
    /// indexed by the exact values they require, built on first use: on the proving
    /// threads, and never for a bus no flow reaches.
    on_bus: Vec<(Vec<usize>, OnceLock<super::pattern::Index<'a>>)>,
    /// `(account id, region, bus, rule)` → indexes into `targets`.
    pub targets_of: HashMap<(Bus<'a>, &'a str), Vec<usize>>,
}

/// An event bus: `(account id, region, name)`.
pub type Bus<'a> = (&'a str, &'a str, &'a str);

/// The ARN requests use for a key whose id AWS assigns at creation.
fn key_arn(r: &Resource, state: Option<&State>) -> String {
    let id = state
        .and_then(|s| s.resources.get(&r.address))
        .and_then(|o| o.as_ref())
        .and_then(|o| o.id.clone())
        .unwrap_or_else(|| "known-after-apply".to_string());
    format!(
        "arn:{}:kms:{}:{}:key/{id}",
        partition_of(&r.region),
        r.region,
        r.account_id
    )
}

fn partition_of(region: &str) -> &'static str {
    crate::region::Region::parse(region).map_or("aws", |r| r.partition())
}

impl<'a> World<'a> {
    /// The planned state of `expansion`: desired policies, plus from `state` (when live
    /// AWS was read) the foreign statements of shared policies and the key ids.
    pub fn new(expansion: &'a Expansion, state: Option<&'a State>) -> World<'a> {
        // Sized once: the maps hold tens of thousands of entries at scale.
        let count = |kind: &str| {
            let of_kind = |r: &&Resource| r.spec.kind() == kind;
            expansion.resources.iter().filter(of_kind).count()
        };
        let (roles, buckets) = (count("iam_role"), count("s3_bucket"));
        let (rules, targets) = (count("event_rule"), count("event_target"));
        let mut w = World {
            live: state.is_some(),
            roles: HashMap::with_capacity_and_hasher(roles, Default::default()),
            buckets: HashMap::with_capacity_and_hasher(buckets, Default::default()),
            eventbridge: HashMap::with_capacity_and_hasher(buckets, Default::default()),
            trusted_by: HashMap::with_capacity_and_hasher(roles, Default::default()),
            rules: Vec::with_capacity(rules),
            targets: Vec::with_capacity(targets),
            targets_of: HashMap::with_capacity_and_hasher(targets, Default::default()),
            ..World::default()
        };
        // References `${<address>.arn}` stay as they are: a key's requests carry its
        // reference among the names of their resource (`Request::names`), so the
        // statements are borrowed, never copied to resolve them.
        let foreign = |r: &Resource| -> &'a [Statement] {
            state
                .and_then(|s| s.resources.get(&r.address))
                .and_then(|o| o.as_ref())
                .map_or(&[], |o| &o.foreign[..])
        };
        for r in &expansion.resources {
            let view = |arn: Cow<'a, str>, statements: &'a [Statement]| {
                let all: Vec<&'a Statement> = statements.iter().chain(foreign(r)).collect();
                PolicyView {
                    address: r.address.as_str(),
                    arn,
                    account_id: &r.account_id,
                    region: &r.region,
                    index: OnceLock::new(),
                    statements: all,
                }
            };
            match &r.spec {
                Spec::IamRole(x) => {
                    let address = r.address.as_str();
                    let mut policies: Vec<Policy<'a>> = x
                        .inline_policies
                        .iter()
                        .map(|(n, d)| Policy {
                            name: Name::Inline {
                                policy: n,
                                of: address,
                            },
                            statements: &d.statement,
                        })
                        .collect();
                    let mut unread = Vec::new();
                    for m in &x.managed_policies {
                        match aws_managed(m) {
                            Some(s) => policies.push(Policy {
                                name: Name::Managed(m),
                                statements: s,
                            }),
                            None => unread.push(format!("managed policy {m}")),
                        }
                    }
                    for p in x
                        .trust_policy
                        .statement
                        .iter()
                        .flat_map(|s| s.aws_principals())
                    {
                        w.trusted_by.entry(p).or_default().push(&x.arn);
                    }
                    w.roles.insert(
                        &x.arn,
                        RoleView {
                            name: address,
                            trust: Some(&x.trust_policy.statement),
                            policies,
                            unread,
                        },
                    );
                }
                Spec::S3Bucket(x) => {
                    w.eventbridge.insert(&x.name, x.eventbridge_notifications);
                    w.buckets
                        .insert(&x.name, view(Cow::Borrowed(&x.arn), &x.policy_statements));
                }
                Spec::EventBus(x) => {
                    w.buses
                        .insert(&x.arn, view(Cow::Borrowed(&x.arn), &x.policy_statements));
                }
                Spec::SqsQueue(x) => {
                    w.queues
                        .insert(&x.arn, view(Cow::Borrowed(&x.arn), &x.policy_statements));
                }
                Spec::KmsKey(x) => {
                    let arn = key_arn(r, state);
                    let reference = crate::plan::unknown::reference(&r.address);
                    for name in [
                        x.alias.clone(),
                        x.alias_arn.clone(),
                        arn.clone(),
                        reference.clone(),
                    ] {
                        w.key_names.entry(name).or_insert(w.keys.len());
                    }
                    w.keys.push(KeyView {
                        policy: view(Cow::Owned(arn), &x.policy_statements),
                        reference,
                        alias: x.alias.clone(),
                        alias_arn: x.alias_arn.clone(),
                    });
                }
                Spec::EventRule(x) => {
                    let bus = (&*r.account_id, &*r.region, &*x.bus);
                    let slot = *w.rules_on.entry(bus).or_insert_with(|| {
                        w.on_bus.push(Default::default());
                        w.on_bus.len() - 1
                    });
                    w.on_bus[slot].0.push(w.rules.len());
                    w.rules.push(r);
                }
                Spec::EventTarget(x) => {
                    let k = ((&*r.account_id, &*r.region, &*x.bus), &*x.rule);
                    w.targets_of.entry(k).or_default().push(w.targets.len());
                    w.targets.push(r);
                }
                Spec::Pipeline(_) => w.pipelines.push(r),
            }
        }
        // Roles tether does not manage, as the reader saw them: every role of every
        // account of the topology comes with its trust and inline policies in the one
        // `GetAccountAuthorizationDetails` listing (no extra read).
        for o in state
            .into_iter()
            .flat_map(|s| s.resources.values().flatten())
        {
            let Spec::IamRole(x) = &o.spec else { continue };
            if w.roles.contains_key(x.arn.as_str()) {
                continue;
            }
            let mut role = ExternalRole {
                trust: Some(x.trust_policy.statement.clone()),
                ..ExternalRole::default()
            };
            for (n, d) in &x.inline_policies {
                role.policies.push((
                    format!("inline policy `{n}` of {}", x.arn),
                    d.statement.clone(),
                ));
            }
            for m in &x.managed_policies {
                match aws_managed(m) {
                    Some(s) => role
                        .policies
                        .push((format!("managed policy {m}"), s.clone())),
                    None => role.unread.push(format!("managed policy {m} of {}", x.arn)),
                }
            }
            w.external.insert(x.arn.clone(), role);
        }
        for v in w.trusted_by.values_mut() {
            v.sort();
            v.dedup();
        }
        w
    }

    /// Adds what was read live of a role tether does not manage.
    pub fn with_external(mut self, arn: &str, role: ExternalRole) -> Self {
        self.external.insert(arn.to_string(), role);
        self
    }

    /// The role with this ARN: tether's, or one read live, or an unread one.
    pub fn role<'s>(&'s self, arn: &'s str) -> Cow<'s, RoleView<'s>> {
        if let Some(r) = self.roles.get(arn) {
            return Cow::Borrowed(r);
        }
        let why = if self.live {
            format!("role {arn}, which tether does not manage, was not found in the accounts read: its policy list")
        } else {
            format!("role {arn}, which tether does not manage and reads only in `plan`: its policy list")
        };
        Cow::Owned(match self.external.get(arn) {
            Some(x) => RoleView {
                name: arn,
                trust: x.trust.as_deref(),
                policies: x
                    .policies
                    .iter()
                    .map(|(n, s)| Policy {
                        name: Name::Text(n),
                        statements: s,
                    })
                    .collect(),
                unread: x.unread.clone(),
            },
            None => RoleView {
                name: arn,
                trust: None,
                policies: Vec::new(),
                unread: vec![why],
            },
        })
    }

    /// The rules on `bus` that `event` may match (see [`super::pattern::Index`]), in
    /// their order: a bus receives the events of many triggers.
    pub fn rules_for(&self, bus: &Bus<'_>, event: &serde_json::Value) -> Vec<&'a Resource> {
        let Some(slot) = self.rules_on.get(bus) else {
            return Vec::new();
        };
        let (rules, patterns) = &self.on_bus[*slot];
        let index = patterns.get_or_init(|| {
            let patterns = rules.iter().filter_map(|i| self.rules[*i].rule());
            super::pattern::Index::new(patterns.map(|x| &x.event_pattern))
        });
        let candidates = index.candidates(event).into_iter();
        candidates.map(|i| self.rules[rules[i]]).collect()
    }

    /// The key a pipeline's artifact store names: by alias ARN, key ARN or reference.
    pub fn key(&self, name: &str) -> Option<&KeyView<'a>> {
        self.key_names.get(name).map(|i| &self.keys[*i])
    }
}

/// Documents of the AWS managed policies the examples attach, as the AWS Managed Policy
/// Reference Guide shows them ("AdministratorAccess", "PowerUserAccess"). Only Allow
/// statements: attaching them cannot deny a flow's request. Any other managed policy is
/// unread, and a proof cannot rest on its absence of a Deny.
fn aws_managed(arn: &str) -> Option<&'static Vec<Statement>> {
    static DOCS: OnceLock<BTreeMap<&'static str, Vec<Statement>>> = OnceLock::new();
    let docs = DOCS.get_or_init(|| {
        let mut power = Statement::allow(Vec::<String>::new()).on(["*"]);
        power.other.insert(
            "NotAction".into(),
            serde_json::json!(["account:*", "iam:*", "organizations:*"]),
        );
        let power_extra = Statement::allow([
            "account:GetAccountInformation",
            "account:GetPrimaryEmail",
            "account:ListRegions",
            "iam:CreateServiceLinkedRole",
            "iam:DeleteServiceLinkedRole",
            "iam:ListRoles",
            "organizations:DescribeOrganization",
        ])
        .on(["*"]);
        let mut m = BTreeMap::new();
        m.insert(
            "arn:aws:iam::aws:policy/AdministratorAccess",
            vec![Statement::allow(["*"]).on(["*"])],
        );
        m.insert(
            "arn:aws:iam::aws:policy/PowerUserAccess",
            vec![power, power_extra],
        );
        m
    });
    let s = docs.get(arn)?;
    debug_assert!(s.iter().all(|s| s.effect == Effect::Allow));
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{self, Context, Decision, Identity, Request, Target};

    /// A key policy that names an account and narrows it to listed roles decides the same
    /// for a caller whether it is evaluated whole or read for that caller.
    #[test]
    fn a_policy_read_for_one_caller_decides_as_the_whole_policy() {
        let role = |n: &str| format!("arn:aws:iam::111111111111:role/tether/x/{n}");
        let listed: Vec<String> = (0..300).map(|i| role(&format!("r{i}"))).collect();
        let mut values = listed.clone();
        values.push("arn:aws:iam::111111111111:role/tether/x/wild-*".into());
        let statements = vec![
            Statement::allow(["kms:Decrypt"])
                .aws(["arn:aws:iam::111111111111:root"])
                .on(["*"])
                .when("ArnEquals", "aws:PrincipalArn", values),
            Statement::deny(["kms:Decrypt"]).aws(["*"]).on(["*"]).when(
                "StringLike",
                "aws:PrincipalArn",
                [role("r7")],
            ),
        ];
        let refs: Vec<&Statement> = statements.iter().collect();
        let ix = PrincipalIndex::new(&refs);
        let ask = |target: &Target, caller: &Caller| {
            let ctx = Context::role_call();
            let r = Request {
                caller,
                action: "kms:Decrypt",
                resource: "arn:aws:kms:us-east-1:111111111111:key/k",
                resource_account: "111111111111",
                names: &[],
                context: &ctx,
            };
            let own = [Policy {
                name: "own".into(),
                statements: &[Statement::allow(["kms:Decrypt"]).on(["*"])],
            }];
            let identity = Identity {
                name: "own".into(),
                policies: &own,
                unread: &[],
            };
            eval::evaluate(&r, &identity, target)
        };
        for (name, allowed) in [
            ("r3", true),
            ("r7", false),
            ("wild-a", true),
            ("other", false),
        ] {
            let caller = Caller::role(&role(name)).unwrap();
            let read = ix.read(&refs, &caller, &Context::role_call());
            let whole = ask(
                &Target::Key(Policy {
                    name: "key".into(),
                    statements: &statements,
                }),
                &caller,
            );
            let reduced = ask(
                &Target::Read {
                    name: "key",
                    key: true,
                    statements: &read,
                },
                &caller,
            );
            assert_eq!(
                matches!(whole, Decision::Allowed),
                allowed,
                "{name}: {whole:?}"
            );
            // The same answer, naming the same statements.
            assert_eq!(whole, reduced, "{name}");
            // Only the caller's own ARN and the wildcard are left of the 301 values.
            let kept = &read[0].values[0].values;
            assert!(kept.len() <= 2, "{name}: {kept:?}");
        }
    }

    /// A dead-letter queue's policy that accepts many rules by `aws:SourceArn` decides
    /// the same for EventBridge whether it is evaluated whole or read for the request,
    /// and the reading keeps only the request's rule of the listed ones.
    #[test]
    fn a_policy_read_for_one_request_decides_as_the_whole_policy() {
        let rule = |n: &str| format!("arn:aws:events:us-east-1:111111111111:rule/b/{n}");
        let mut values: Vec<String> = (0..300).map(|i| rule(&format!("r{i}"))).collect();
        values.push(rule("wild-*"));
        let queue = "arn:aws:sqs:us-east-1:111111111111:dlq";
        let statements = vec![Statement::allow(["sqs:SendMessage"])
            .service("events.amazonaws.com")
            .on([queue])
            .when("ArnEquals", "aws:SourceArn", values)];
        let refs: Vec<&Statement> = statements.iter().collect();
        let ix = PrincipalIndex::new(&refs);
        assert!(ix.reads_context);
        let events = Caller::service("events.amazonaws.com");
        for (name, allowed) in [("r3", true), ("wild-a", true), ("other", false)] {
            let ctx = Context::service_call(&rule(name), "111111111111");
            let ask = |target: &Target| {
                let r = Request {
                    caller: &events,
                    action: "sqs:SendMessage",
                    resource: queue,
                    resource_account: "111111111111",
                    names: &[],
                    context: &ctx,
                };
                eval::evaluate(&r, &Identity::NONE, target)
            };
            let read = ix.read(&refs, &events, &ctx);
            let whole = ask(&Target::Resource {
                name: "dlq",
                policy: Some(&statements),
            });
            let reduced = ask(&Target::Read {
                name: "dlq",
                key: false,
                statements: &read,
            });
            assert_eq!(
                matches!(whole, Decision::Allowed),
                allowed,
                "{name}: {whole:?}"
            );
            assert_eq!(whole, reduced, "{name}");
            // Only the request's rule, if listed, and the wildcard are left of the 301.
            let kept = read[0].values.first().map(|v| v.values.len());
            assert!(matches!(kept, Some(1..=2)), "{name}: {kept:?} values kept");
        }
    }
}
