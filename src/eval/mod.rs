//! Policy evaluation: would AWS allow this one request, given these policies?
//!
//! A pure function of its inputs, following AWS's documented logic (IAM User Guide:
//! "Policy evaluation logic", "How AWS enforcement code logic evaluates requests to allow
//! or deny access", "Policy evaluation for requests within a single account",
//! "Cross-account policy evaluation logic"):
//!
//! - an explicit `Deny` in any policy that applies wins;
//! - within one account, an `Allow` in the caller's identity policies **or** in the
//!   resource's policy suffices, but a resource policy that names only the *account*
//!   (`"AWS": "123456789012"` or `…:root`) delegates to that account's IAM policies and
//!   grants nothing by itself ("AWS JSON policy elements: Principal", AWS account
//!   principals: *this delegates authority to the account*);
//! - across accounts, the identity policies **and** the resource policy must both allow;
//! - role trust policies and KMS key policies must allow themselves ("Policy evaluation
//!   logic": *IAM role trust policies and KMS key policies are exceptions to this logic,
//!   because they must explicitly allow access for principals*); a key policy statement
//!   for the key's own account root enables that account's IAM policies (AWS KMS
//!   Developer Guide, "Key policies in AWS KMS": *Unless the key policy explicitly allows
//!   it, you cannot use IAM policies to allow access to a KMS key*).
//!
//! Every answer is one of three: [`Decision::Allowed`], [`Decision::Denied`] (naming the
//! statement that denies or the policies that lack the allow), or
//! [`Decision::CannotProve`]: an operator, a condition key, a principal form or a policy
//! the evaluator cannot read makes the answer unknown, never "allowed". Uncertainty is
//! carried in three-valued logic, so an unknown condition on a statement that cannot
//! change the outcome does not spoil a proof.
//!
//! Not modelled, so never part of an answer: SCPs and RCPs, permissions boundaries,
//! session policies, KMS grants, S3 ACLs, VPC endpoint policies. A caller that has any
//! of them must not take `Allowed` as the last word.
//!
//! Files: [`context`] (the request context and what services send), `matching`
//! (Action, Resource and Principal of one statement), `conditions` (the Condition
//! block), `compose` (which policies apply and how their answers combine).

mod compose;
mod conditions;
pub mod context;
mod matching;

pub use context::Context;
/// IAM's `*`/`?` wildcard match, for the other readers of policies.
pub(crate) use matching::glob;

use crate::expand::policy::Statement;
use std::fmt;

/// Who makes a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A session of an IAM role: every run-time call by a pipeline, an action or a rule
    /// target is made by one.
    Role(RoleCaller),
    /// A service principal acting itself, such as `events.amazonaws.com` assuming a
    /// target's role.
    Service(String),
    /// The account root user.
    Root { account: String },
}

/// A session of an IAM role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleCaller {
    /// The role's ARN, with its path: `arn:aws:iam::111111111111:role/tether/acme/x`.
    pub arn: String,
    pub account: String,
    /// The role's name: the last part of its ARN (session ARNs carry no path).
    pub name: String,
    /// The session name when known; `None` is "some session of this role".
    pub session: Option<String>,
}

impl Caller {
    /// A session of the role with this ARN (`arn:<partition>:iam::<account>:role/<path><name>`).
    pub fn role(arn: &str) -> Option<Caller> {
        let a = crate::names::role_arn(arn).ok()?;
        Some(Caller::Role(RoleCaller {
            arn: arn.to_string(),
            account: a.account.to_string(),
            name: a.resource.rsplit('/').next()?.to_string(),
            session: None,
        }))
    }

    /// A session of the role with this ARN, under a known session name.
    pub fn role_session(arn: &str, session: &str) -> Option<Caller> {
        match Caller::role(arn)? {
            Caller::Role(mut r) => {
                r.session = Some(session.to_string());
                Some(Caller::Role(r))
            }
            _ => None,
        }
    }

    pub fn service(name: &str) -> Caller {
        Caller::Service(name.to_string())
    }

    pub fn root(account: &str) -> Caller {
        Caller::Root {
            account: account.to_string(),
        }
    }

    /// The account the caller belongs to (none for a service principal).
    pub fn account(&self) -> Option<&str> {
        match self {
            Caller::Role(r) => Some(&r.account),
            Caller::Root { account } => Some(account),
            Caller::Service(_) => None,
        }
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::Role(r) => write!(f, "{}", r.arn),
            Caller::Service(s) => write!(f, "service {s}"),
            Caller::Root { account } => write!(f, "root of {account}"),
        }
    }
}

/// One request: who calls which action on which resource, with which context.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub caller: &'a Caller,
    /// `service:Action`, for example `s3:GetObject` (case-insensitive).
    pub action: &'a str,
    /// The resource's ARN (for a KMS key, the key ARN; for `sts:AssumeRole`, the role ARN).
    pub resource: &'a str,
    /// The account that owns the resource (S3 ARNs carry none).
    pub resource_account: &'a str,
    /// Other names of the resource: the references `${<address>.arn}` tether's policies
    /// name it by before its ARN is known (a KMS key's). A Resource entry that is one of
    /// these covers it; a reference to any other resource does not.
    pub names: &'a [&'a str],
    pub context: &'a Context,
}

/// How messages name a policy or a set of policies. Its parts are borrowed and the text
/// is written only when an answer names it: a proof at scale asks tens of thousands of
/// questions of policies that are named only when one is denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name<'a> {
    /// The name as it is: a resource address, `the policies of …`.
    Text(&'a str),
    /// `inline policy `<policy>` of <role>`.
    Inline { policy: &'a str, of: &'a str },
    /// `managed policy <arn>`.
    Managed(&'a str),
    /// `the policies of <role>`: all of a role's identity policies.
    PoliciesOf(&'a str),
    /// `the trust policy of <role>`.
    TrustOf(&'a str),
}

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Name::Text(t) => f.write_str(t),
            Name::Inline { policy, of } => write!(f, "inline policy `{policy}` of {of}"),
            Name::Managed(arn) => write!(f, "managed policy {arn}"),
            Name::PoliciesOf(role) => write!(f, "the policies of {role}"),
            Name::TrustOf(role) => write!(f, "the trust policy of {role}"),
        }
    }
}

impl<'a> From<&'a str> for Name<'a> {
    fn from(text: &'a str) -> Self {
        Name::Text(text)
    }
}

/// A policy document by name, as messages should name it (a resource address, or a
/// role's inline policy name): its statements.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub name: Name<'a>,
    pub statements: &'a [Statement],
}

/// The identity-based policies of the caller: inline policies and the documents of its
/// managed policies.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    /// How messages name them all, for example `the policies of role acme-deploy`.
    pub name: Name<'a>,
    pub policies: &'a [Policy<'a>],
    /// Policies attached to the caller whose documents are not known (a managed policy
    /// that was not read): they may allow or deny, so no proof can rest on their absence.
    pub unread: &'a [String],
}

impl Identity<'_> {
    /// No identity policies at all: a service principal, or a role with none.
    pub const NONE: Identity<'static> = Identity {
        name: Name::Text("no identity policies"),
        policies: &[],
        unread: &[],
    };
}

/// The resource side of a request.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A resource that may have a policy (S3 bucket, EventBridge bus, …): within one
    /// account either side may allow. `None` when it has no policy; `name` names the
    /// resource then.
    Resource {
        name: &'a str,
        policy: Option<&'a [Statement]>,
    },
    /// The role being assumed (`sts:AssumeRole`): its trust policy must allow.
    Trust(Policy<'a>),
    /// A KMS key: its key policy must allow; a statement for the key account's root
    /// enables that account's IAM policies.
    Key(Policy<'a>),
    /// A resource policy (`key: false`) or a key policy (`key: true`) read for the
    /// caller: only its statements that may name the caller, as [`Reading`]s. The
    /// answer is the one the whole policy gives, provided the readings keep every
    /// statement, principal and value that may name or match the caller.
    Read {
        name: &'a str,
        key: bool,
        statements: &'a [Reading<'a>],
    },
}

/// One statement of a resource-side policy as read for one caller.
#[derive(Debug, Clone)]
pub struct Reading<'a> {
    pub statement: &'a Statement,
    /// Its position in the whole policy, which messages name it by (`#3`).
    pub position: usize,
    /// `Some`: of its `"AWS"` principals, only those that may name the caller.
    pub principals: Option<Vec<&'a str>>,
    /// Condition values read instead of the statement's, by operator and key.
    pub values: Vec<Values<'a>>,
}

/// The values of one operator and key of a condition, as read for one caller.
#[derive(Debug, Clone)]
pub struct Values<'a> {
    pub operator: &'a str,
    pub key: &'a str,
    pub values: Vec<&'a str>,
}

impl<'a> Reading<'a> {
    /// The statement as it is.
    pub fn whole(statement: &'a Statement, position: usize) -> Self {
        Reading {
            statement,
            position,
            principals: None,
            values: Vec::new(),
        }
    }
}

/// The evaluator's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Denied(Denied),
    /// Why the answer cannot be known from what was given.
    CannotProve(String),
}

/// Why AWS would deny a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// A statement denies it: the policy that holds it and the statement's `Sid` (or its
    /// position, `#2`, when it has none).
    Explicit { policy: String, statement: String },
    /// No statement allows it where one must: the policies that lack the allow, and the
    /// rule that required it.
    NoAllow {
        lacking: Vec<String>,
        rule: &'static str,
    },
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denied::Explicit { policy, statement } => {
                write!(f, "statement {statement} of {policy} denies it")
            }
            Denied::NoAllow { lacking, rule } => {
                write!(f, "no allow in {} ({rule})", lacking.join(" nor in "))
            }
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allowed => write!(f, "allowed"),
            Decision::Denied(d) => write!(f, "denied: {d}"),
            Decision::CannotProve(r) => write!(f, "cannot prove: {r}"),
        }
    }
}

/// Would AWS allow `request`, given the caller's identity policies and the resource side?
pub fn evaluate(request: &Request, identity: &Identity, target: &Target) -> Decision {
    compose::evaluate(request, identity, target)
}

/// Three-valued truth: what can be proven of one part of a statement or a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tri {
    Yes,
    No,
    /// Could be either; the reason says why it is not known.
    Unknown(String),
}

impl Tri {
    pub(crate) fn from_bool(b: bool) -> Tri {
        if b {
            Tri::Yes
        } else {
            Tri::No
        }
    }

    /// Kleene AND; `other` is not evaluated when `self` is already `No`.
    pub(crate) fn and(self, other: impl FnOnce() -> Tri) -> Tri {
        match self {
            Tri::No => Tri::No,
            Tri::Yes => other(),
            Tri::Unknown(r) => match other() {
                Tri::No => Tri::No,
                _ => Tri::Unknown(r),
            },
        }
    }

    /// Kleene OR; `other` is not evaluated when `self` is already `Yes`.
    pub(crate) fn or(self, other: impl FnOnce() -> Tri) -> Tri {
        match self {
            Tri::Yes => Tri::Yes,
            Tri::No => other(),
            Tri::Unknown(r) => match other() {
                Tri::Yes => Tri::Yes,
                _ => Tri::Unknown(r),
            },
        }
    }

    /// OR over `items`, stopping at the first `Yes`.
    pub(crate) fn any<T>(items: impl IntoIterator<Item = T>, mut f: impl FnMut(T) -> Tri) -> Tri {
        let mut acc = Tri::No;
        for item in items {
            acc = acc.or(|| f(item));
            if acc == Tri::Yes {
                break;
            }
        }
        acc
    }

    /// AND over `items`, stopping at the first `No` (De Morgan holds in three values).
    pub(crate) fn all<T>(items: impl IntoIterator<Item = T>, mut f: impl FnMut(T) -> Tri) -> Tri {
        Tri::any(items, |item| f(item).not()).not()
    }

    pub(crate) fn not(self) -> Tri {
        match self {
            Tri::Yes => Tri::No,
            Tri::No => Tri::Yes,
            u => u,
        }
    }
}

/// Tables read best one row a line.
#[cfg(test)]
#[rustfmt::skip]
mod tests;
