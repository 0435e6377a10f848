//! Which policies apply to a request, and how their answers combine into a decision.
//!
//! Each side is scanned once, statement by statement, into three-valued answers: does a
//! Deny apply, does an Allow apply (and, for the resource side, does it name the caller
//! itself or only its account). The rules then follow the IAM User Guide:
//!
//! | caller | resource side | within one account | across accounts |
//! |---|---|---|---|
//! | role session | resource policy or none (S3 bucket, EventBridge bus) | identity allows, or the resource policy names the role/session/`*` | identity allows, and the resource policy names the caller or its account |
//! | role session | trust policy, key policy | the policy names the role/session/`*`, or names the account root and identity allows | the policy names the caller or its account, and identity allows |
//! | service principal | any | the resource policy names the service | — |
//! | account root | resource policy or none | allowed | the resource policy names the account |
//! | account root | key policy | the key policy names the account | the key policy names the account |
//!
//! Sources: "Policy evaluation for requests within a single account" (*if either the
//! identity-based policy or the resource-based policy within the same account allows the
//! request and the other doesn't, the request is still allowed*); "Cross-account policy
//! evaluation logic" (the identity policy and the resource policy must both allow);
//! "AWS JSON policy elements: Principal", AWS account principals (an account principal
//! delegates to the account, whose administrators must then grant through IAM); "Policy
//! evaluation logic" (role trust and KMS key policies must allow themselves); AWS KMS
//! "Key policies in AWS KMS" (IAM policies take effect only when the key policy allows
//! it, through its statement for the account); IAM API reference, AssumeRole (*you
//! cannot call AssumeRole with the credentials of the root user*). An explicit Deny in
//! any of them wins, whatever the rule ("How AWS enforcement code logic evaluates
//! requests").

use super::conditions::{self, Env};
use super::matching;
use super::{Caller, Decision, Denied, Identity, Name, Request, Target, Tri, Values};
use crate::expand::policy::{Effect, Statement};

/// A Deny that may apply: where, and why it is not known.
struct MaybeDeny(String);

/// Action, Resource, unknown elements and Condition of one statement, with the
/// condition values `read` for the caller.
fn covers(s: &Statement, env: &Env, read: &[Values]) -> Tri {
    let r = env.request;
    matching::action(s, r.action)
        .and(|| matching::resource(s, r.resource, r.names))
        .and(|| matching::elements(s))
        .and(|| conditions::evaluate_read(&s.condition, env, read))
}

fn statement_name(s: &Statement, index: usize) -> String {
    match &s.sid {
        Some(sid) if !sid.is_empty() => format!("`{sid}`"),
        _ => format!("#{}", index + 1),
    }
}

fn explicit(policy: Name, s: &Statement, index: usize) -> Decision {
    Decision::Denied(Denied::Explicit {
        policy: policy.to_string(),
        statement: statement_name(s, index),
    })
}

fn note(maybe: &mut Option<MaybeDeny>, policy: Name, s: &Statement, i: usize, why: String) {
    if maybe.is_none() {
        *maybe = Some(MaybeDeny(format!(
            "statement {} of {policy} may deny it: {why}",
            statement_name(s, i)
        )));
    }
}

/// Keeps the first reason when several allows are unknown.
fn allow_from(acc: &mut Tri, t: Tri) {
    match (&*acc, t) {
        (Tri::Yes, _) => {}
        (_, Tri::Yes) => *acc = Tri::Yes,
        (Tri::No, u @ Tri::Unknown(_)) => *acc = u,
        _ => {}
    }
}

/// The three answers of the resource side.
struct ResourceSide {
    direct: Tri,
    account: Tri,
}

pub(crate) fn evaluate(request: &Request, identity: &Identity, target: &Target) -> Decision {
    let env = Env { request };
    let mut maybe: Option<MaybeDeny> = None;

    // Identity side: only a role session has identity policies here.
    let mut id_allow = Tri::No;
    if let Caller::Role(_) = request.caller {
        for p in identity.policies {
            for (i, s) in p.statements.iter().enumerate() {
                match (s.effect, covers(s, &env, &[])) {
                    (Effect::Deny, Tri::Yes) => return explicit(p.name, s, i),
                    (Effect::Deny, Tri::Unknown(why)) => note(&mut maybe, p.name, s, i, why),
                    (Effect::Allow, t) => allow_from(&mut id_allow, t),
                    (Effect::Deny, Tri::No) => {}
                }
            }
        }
        if let Some(unread) = identity.unread.first() {
            let why = format!("{unread} (attached to the caller) was not read");
            if maybe.is_none() {
                maybe = Some(MaybeDeny(why.clone()));
            }
            allow_from(&mut id_allow, Tri::Unknown(why));
        }
    }

    // Resource side.
    let (name, statements, read) = match target {
        Target::Resource { name, policy } => (Name::Text(name), policy.unwrap_or(&[]), &[][..]),
        Target::Trust(p) | Target::Key(p) => (p.name, p.statements, &[][..]),
        Target::Read {
            name, statements, ..
        } => (Name::Text(name), &[][..], *statements),
    };
    let mut side = ResourceSide {
        direct: Tri::No,
        account: Tri::No,
    };
    // One statement, with what was read of it for the caller: `Some` is an explicit deny.
    let mut scan = |s: &Statement, i: usize, principals: Option<&[&str]>, values: &[Values]| {
        let who = match principals {
            Some(list) => matching::principal_among(s, list, request.caller),
            None => matching::principal(s, request.caller),
        };
        let named = who.any();
        if named == Tri::No {
            return None;
        }
        let covered = covers(s, &env, values);
        match s.effect {
            Effect::Deny => match named.and(|| covered) {
                Tri::Yes => return Some(explicit(name, s, i)),
                Tri::Unknown(why) => note(&mut maybe, name, s, i, why),
                Tri::No => {}
            },
            Effect::Allow => {
                allow_from(&mut side.direct, who.direct.and(|| covered.clone()));
                allow_from(&mut side.account, who.account.and(|| covered));
            }
        }
        None
    };
    for (i, s) in statements.iter().enumerate() {
        if let Some(denied) = scan(s, i, None, &[]) {
            return denied;
        }
    }
    for r in read {
        let principals = r.principals.as_deref();
        if let Some(denied) = scan(r.statement, r.position, principals, &r.values) {
            return denied;
        }
    }

    let (allowed, lacking, rule) = decide(request, identity, target, name, id_allow, side);
    match allowed {
        Tri::No => Decision::Denied(Denied::NoAllow {
            lacking: lacking.iter().map(Name::to_string).collect(),
            rule,
        }),
        Tri::Yes => match maybe {
            Some(MaybeDeny(why)) => Decision::CannotProve(why),
            None => Decision::Allowed,
        },
        Tri::Unknown(why) => Decision::CannotProve(why),
    }
}

const SAME_ACCOUNT: &str =
    "within one account the identity policies or the resource policy naming the caller must allow";
const CROSS_ACCOUNT: &str =
    "across accounts both the identity policies and the resource policy must allow";
const SERVICE: &str = "a service principal is allowed only by the resource's policy";
const ROOT_CROSS: &str = "across accounts the resource policy must allow the account";
const ROOT_ASSUME: &str = "the account root user cannot assume a role";
const TRUST: &str = "a role's trust policy must allow, naming the caller, or its account and then the identity policies must allow too";
const KEY: &str = "a KMS key policy must allow, naming the caller, or its account and then the identity policies must allow too";

/// The rule for this caller and resource side: whether it allows, and when it does not,
/// which policies lack the allow.
fn decide<'a>(
    request: &Request,
    identity: &Identity<'a>,
    target: &Target,
    resource: Name<'a>,
    id: Tri,
    side: ResourceSide,
) -> (Tri, Vec<Name<'a>>, &'static str) {
    let ResourceSide {
        direct: rd,
        account: ra,
    } = side;
    let same = request.caller.account() == Some(request.resource_account);
    let required = match target {
        Target::Resource { .. } | Target::Read { key: false, .. } => None,
        Target::Trust(_) => Some(TRUST),
        Target::Key(_) | Target::Read { key: true, .. } => Some(KEY),
    };
    let assume = matches!(target, Target::Trust(_));
    let lacking = |pairs: [(&Tri, Name<'a>); 2]| -> Vec<Name<'a>> {
        pairs
            .into_iter()
            .filter(|(t, _)| **t == Tri::No)
            .map(|(_, n)| n)
            .collect()
    };
    match (request.caller, required) {
        (Caller::Service(_), _) => (rd, vec![resource], SERVICE),
        (Caller::Root { .. }, Some(_)) if assume => (Tri::No, vec![resource], ROOT_ASSUME),
        (Caller::Root { .. }, Some(rule)) => (rd, vec![resource], rule),
        (Caller::Root { .. }, None) if same => (Tri::Yes, vec![], SAME_ACCOUNT),
        (Caller::Root { .. }, None) => (rd, vec![resource], ROOT_CROSS),
        (Caller::Role(_), None) if same => {
            (id.or(|| rd), vec![identity.name, resource], SAME_ACCOUNT)
        }
        (Caller::Role(_), None) => {
            let res = rd.or(|| ra);
            let names = lacking([(&id, identity.name), (&res, resource)]);
            (id.and(|| res), names, CROSS_ACCOUNT)
        }
        (Caller::Role(_), Some(rule)) if same => {
            let names = if rd == Tri::No && ra == Tri::No {
                vec![resource]
            } else {
                vec![identity.name]
            };
            (rd.or(|| ra.and(|| id)), names, rule)
        }
        (Caller::Role(_), Some(rule)) => {
            let res = rd.or(|| ra);
            let names = lacking([(&res, resource), (&id, identity.name)]);
            (res.and(|| id), names, rule)
        }
    }
}
