//! Derived roles that trust principals tether does not manage, and whether those
//! principals may really assume them.
//!
//! A role's trust policy is only half of an `sts:AssumeRole` across accounts: "the
//! requester in the trusted AccountA must have an identity-based policy" that allows the
//! request too (IAM User Guide, "Cross-account policy evaluation logic"). tether writes
//! that half for every caller it manages (a pipeline role gets `sts:AssumeRole` on its
//! action roles), but never for a principal the topology only names (a build's
//! CodeBuild `service_role`, a trust `arn:`): it never changes what it does not own. So
//! `plan` reads those principals' own policies (read-only, `aws::external`) and warns,
//! with the statement to add, when they do not allow the call.
//!
//! Within one account the trust policy suffices when it names the caller's ARN: a
//! resource-based policy that grants an IAM role ARN is limited only by "an implicit
//! deny in a permissions boundary or session policy" ("Policy evaluation logic",
//! resource-based policies within the same account). There only an explicit `Deny` in
//! the caller's policies and its permissions boundary can stand in the way.
//!
//! Everything here is pure: the pairs come from the expansion, the verdicts from what
//! the reader found ([`Read`]).

pub mod allows;

use crate::expand::Expansion;
use crate::resource::{Address, Spec};
use allows::{Source, Verdict};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The action every pair is about.
pub const ASSUME_ROLE: &str = "sts:AssumeRole";

/// Who calls `sts:AssumeRole`, as far as tether can read its policies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Caller {
    /// A role, by name: named by its ARN, or by an assumed-role session ARN (whose
    /// permissions are the role's).
    Role(String),
    /// An IAM user: its policies (and its groups') are not read.
    User,
}

/// A derived role and a principal it trusts that tether does not manage.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pair {
    /// The principal as the trust policy names it.
    pub principal: String,
    pub caller: Caller,
    pub principal_account_id: String,
    /// The derived role that trusts it.
    pub role: Address,
    pub role_arn: String,
    pub role_account_id: String,
}

impl Pair {
    pub fn cross_account(&self) -> bool {
        self.principal_account_id != self.role_account_id
    }
}

/// Every pair of the expansion: each principal of an `Allow` of `sts:AssumeRole` in a
/// derived role's trust policy that names an IAM user, a role or a role session
/// tether does not manage. Account principals (`:root`, or a bare id) are left out:
/// the account delegates to principals of its own choosing, which no one can name here.
pub fn pairs(expansion: &Expansion) -> Vec<Pair> {
    let roles: Vec<(&crate::resource::Resource, &crate::resource::RoleSpec)> = expansion
        .resources
        .iter()
        .filter_map(|r| match &r.spec {
            Spec::IamRole(x) => Some((r, x)),
            _ => None,
        })
        .collect();
    let managed: BTreeSet<(&str, &str)> = roles
        .iter()
        .map(|(r, x)| (r.account_id.as_str(), x.name.as_str()))
        .collect();
    let mut out = BTreeSet::new();
    for (r, x) in &roles {
        for s in &x.trust_policy.statement {
            let assumes = s.action.iter().any(|a| a.eq_ignore_ascii_case(ASSUME_ROLE));
            if s.effect != crate::expand::policy::Effect::Allow || !assumes {
                continue;
            }
            for p in s.aws_principals() {
                let Some((account, caller)) = caller(p) else {
                    continue;
                };
                if let Caller::Role(name) = &caller {
                    if managed.contains(&(account, name.as_str())) {
                        continue;
                    }
                }
                out.insert(Pair {
                    principal: p.to_string(),
                    caller,
                    principal_account_id: account.to_string(),
                    role: r.address.clone(),
                    role_arn: x.arn.clone(),
                    role_account_id: r.account_id.clone(),
                });
            }
        }
    }
    out.into_iter().collect()
}

/// The account and caller a principal ARN names; `None` for account principals and
/// anything that is not an IAM user, role or role session.
fn caller(principal: &str) -> Option<(&str, Caller)> {
    let a = crate::names::arn(principal)?;
    let last = |path: &str| path.rsplit('/').next().map(str::to_string);
    let caller = match (a.service, a.resource.split_once('/')) {
        ("iam", Some(("role", path))) => Caller::Role(last(path)?),
        ("iam", Some(("user", _))) => Caller::User,
        ("sts", Some(("assumed-role", rest))) => Caller::Role(rest.split('/').next()?.to_string()),
        _ => return None,
    };
    Some((a.account, caller))
}

/// What the reader found of a calling role.
#[derive(Debug, Clone, PartialEq)]
pub enum Read {
    /// Its identity policies (inline by name, managed by ARN, as JSON) and its
    /// permissions boundary (ARN and document), when it has one.
    Policies {
        policies: Vec<(String, Value)>,
        boundary: Option<(String, Value)>,
    },
    /// Why they could not be read.
    Unreadable(String),
}

/// The statement that lets a caller assume `role_arn`, as the warning shows it.
pub fn statement(role_arn: &str) -> String {
    format!(r#"{{"Effect":"Allow","Action":"{ASSUME_ROLE}","Resource":"{role_arn}"}}"#)
}

/// The plan warning for `pair`, given what was read of its caller (`None` for an IAM
/// user, which is not read); `None` when the caller may assume the role.
pub fn warning(pair: &Pair, read: Option<&Read>) -> Option<String> {
    let who = format!("`{}`", pair.principal);
    let whom = format!("`{}` ({})", pair.role, pair.role_arn);
    let add = statement(&pair.role_arn);
    let needs = "a cross-account sts:AssumeRole needs an Allow in the caller's own policies \
                 besides the trust tether writes, and tether does not change principals it \
                 does not manage";
    let Some(read) = read else {
        return pair.cross_account().then(|| {
            format!(
                "{who} is trusted by {whom}, but tether does not read IAM users' policies: \
                 {needs}; make sure the user's policies (or its groups') hold {add}"
            )
        });
    };
    let (policies, boundary) = match read {
        Read::Unreadable(why) if pair.cross_account() => {
            return Some(format!(
                "cannot check that {who} may assume {whom}: {why}. A{}; make sure one of \
                 its policies holds {add}",
                &needs[1..]
            ))
        }
        Read::Unreadable(why) => {
            return Some(format!("cannot check that {who} may assume {whom}: {why}"))
        }
        Read::Policies { policies, boundary } => (policies, boundary),
    };
    let verdict = allows::evaluate(policies, ASSUME_ROLE, &pair.role_arn);
    let identity = match verdict {
        Verdict::Denied(s) => Some(denied(&who, &whom, &s)),
        Verdict::NotAllowed if pair.cross_account() => Some(format!(
            "{who} may not assume {whom}: none of its policies allows sts:AssumeRole on \
             it; {needs}. Add this statement to one of its policies: {add}"
        )),
        Verdict::Unproven { allows, denies } if pair.cross_account() || !denies.is_empty() => {
            let allows = if pair.cross_account() {
                allows
            } else {
                Vec::new()
            };
            Some(unproven(
                &who,
                &whom,
                "its policies",
                &allows,
                &denies,
                &add,
            ))
        }
        // Within the account the trust suffices, unless a Deny (handled above) stands.
        _ => None,
    };
    let boundary = boundary.as_ref().and_then(|(arn, doc)| {
        let name = format!("permissions boundary {arn}");
        match allows::evaluate(&[(name, doc.clone())], ASSUME_ROLE, &pair.role_arn) {
            Verdict::Allowed => None,
            Verdict::Denied(s) => Some(denied(&who, &whom, &s)),
            Verdict::NotAllowed => Some(format!(
                "{who} may not assume {whom}: its permissions boundary {arn} does not allow \
                 sts:AssumeRole on it, and a boundary limits even what a trust policy \
                 grants; add this statement to the boundary policy: {add}"
            )),
            Verdict::Unproven { allows, denies } => Some(unproven(
                &who,
                &whom,
                &format!("its permissions boundary {arn}"),
                &allows,
                &denies,
                &add,
            )),
        }
    });
    match (identity, boundary) {
        (Some(a), Some(b)) if a != b => Some(format!("{a}; also, {b}")),
        (a, b) => a.or(b),
    }
}

fn denied(who: &str, whom: &str, s: &Source) -> String {
    format!(
        "{who} may not assume {whom}: {s} denies sts:AssumeRole on it, and an explicit \
         Deny overrides every Allow; narrow or remove that statement"
    )
}

fn unproven(
    who: &str,
    whom: &str,
    what: &str,
    allows: &[Source],
    denies: &[Source],
    add: &str,
) -> String {
    let list = |v: &[Source]| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut why = Vec::new();
    if !allows.is_empty() {
        why.push(format!(
            "{what} allow sts:AssumeRole on it only under conditions or policy variables \
             ({}); unless they hold whenever it calls, add {add}",
            list(allows)
        ));
    }
    if !denies.is_empty() {
        why.push(format!(
            "{what} may deny it under conditions ({}); make sure they never hold when it calls",
            list(denies)
        ));
    }
    format!(
        "cannot prove that {who} may assume {whom}: {} (tether does not evaluate conditions)",
        why.join("; ")
    )
}

/// The callers `pairs` need read: every role, once, by its principal ARN, with the
/// account id it is in and its name.
pub fn callers(pairs: &[Pair]) -> BTreeMap<String, (String, String)> {
    pairs
        .iter()
        .filter_map(|p| match &p.caller {
            Caller::Role(name) => Some((
                p.principal.clone(),
                (p.principal_account_id.clone(), name.clone()),
            )),
            Caller::User => None,
        })
        .collect()
}

/// The warnings of every pair, given what was read of each caller (by principal ARN).
pub fn warnings(pairs: &[Pair], read: &BTreeMap<String, Read>) -> Vec<String> {
    let unread = Read::Unreadable("it was not read".to_string());
    pairs
        .iter()
        .filter_map(|p| {
            let r = match p.caller {
                Caller::Role(_) => Some(read.get(&p.principal).unwrap_or(&unread)),
                Caller::User => None,
            };
            warning(p, r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TF: &str = "arn:aws:iam::111111111111:role/tf-runner";
    const TERRAFORM: &str = "arn:aws:iam::333333333333:role/tether/flow2/flow2-terraform";

    fn expansion(yaml: &str) -> Expansion {
        crate::check_bytes(yaml.as_bytes(), "t.yaml")
            .expect("valid")
            .expansion
    }

    fn flow2() -> Expansion {
        expansion(include_str!("../../docs/examples/flow2-tools-deploys.yaml"))
    }

    fn pair(principal: &str, caller: Caller, account: &str) -> Pair {
        Pair {
            principal: principal.into(),
            caller,
            principal_account_id: account.into(),
            role: Address("dev/global/iam_role.flow2-terraform".into()),
            role_arn: TERRAFORM.into(),
            role_account_id: "333333333333".into(),
        }
    }

    fn tf_runner() -> Pair {
        pair(TF, Caller::Role("tf-runner".into()), "111111111111")
    }

    fn policies(statements: Value) -> Read {
        Read::Policies {
            policies: vec![(
                "inline policy `ci`".into(),
                json!({"Version": "2012-10-17", "Statement": statements}),
            )],
            boundary: None,
        }
    }

    fn allow(resource: &str) -> Value {
        json!([{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": resource}])
    }

    #[test]
    fn flow2_terraform_role_trusts_the_external_build_role() {
        assert_eq!(pairs(&flow2()), [tf_runner()]);
    }

    /// Only the user's `roles` trust principals by ARN; every derived role trusts a
    /// service or a role tether derives, which is not a pair.
    #[test]
    fn pairs_are_the_principals_tether_does_not_manage() {
        let e = expansion(
            r#"
version: 1
name: t
defaults: { region: us-east-1 }
accounts:
  tools: { id: "111111111111" }
  dev: { id: "333333333333", role: OrganizationAccountAccessRole }
roles:
  deployer:
    account: dev
    trust:
      - { arn: "arn:aws:iam::111111111111:role/ci/runner" }
      - { arn: "arn:aws:iam::444444444444:user/alice" }
      - { arn: "arn:aws:sts::333333333333:assumed-role/ops/bob" }
      - { arn: "arn:aws:iam::555555555555:root" }
      - { account: tools }
      - { role: helper }
      - { arn: "arn:aws:iam::333333333333:role/tether/t/t-helper" }
      - { service: lambda.amazonaws.com }
  helper:
    account: dev
    trust: [{ service: lambda.amazonaws.com }]
"#,
        );
        let found: Vec<(String, Caller, String)> = pairs(&e)
            .into_iter()
            .map(|p| {
                assert_eq!(p.role.as_str(), "dev/global/iam_role.t-deployer");
                assert_eq!(p.role_account_id, "333333333333");
                (p.principal, p.caller, p.principal_account_id)
            })
            .collect();
        assert_eq!(
            found,
            [
                (
                    "arn:aws:iam::111111111111:role/ci/runner".to_string(),
                    Caller::Role("runner".into()),
                    "111111111111".to_string()
                ),
                (
                    "arn:aws:iam::444444444444:user/alice".to_string(),
                    Caller::User,
                    "444444444444".to_string()
                ),
                (
                    "arn:aws:sts::333333333333:assumed-role/ops/bob".to_string(),
                    Caller::Role("ops".into()),
                    "333333333333".to_string()
                ),
            ]
        );
        let cross: Vec<bool> = pairs(&e).iter().map(Pair::cross_account).collect();
        assert_eq!(cross, [true, true, false]);
    }

    #[test]
    fn examples_without_external_principals_have_no_pairs() {
        let flow1 = crate::fixtures::flow1();
        assert!(pairs(&flow1).is_empty());
        // Flow 3's build has a service role, but no derived role trusts it.
        let flow3 = expansion(include_str!(
            "../../docs/examples/flow3-cross-account-source.yaml"
        ));
        assert!(pairs(&flow3).is_empty());
    }

    #[test]
    fn a_caller_allowed_to_assume_the_role_gets_no_warning() {
        assert_eq!(
            warning(&tf_runner(), Some(&policies(allow(TERRAFORM)))),
            None
        );
        assert_eq!(
            warning(
                &tf_runner(),
                Some(&policies(allow("arn:aws:iam::333333333333:role/tether/*")))
            ),
            None
        );
    }

    #[test]
    fn a_cross_account_caller_without_the_allow_is_told_the_statement_to_add() {
        let w = warning(
            &tf_runner(),
            Some(&policies(allow("arn:aws:iam::444444444444:role/*"))),
        )
        .expect("a warning");
        assert!(
            w.starts_with(&format!(
                "`{TF}` may not assume `dev/global/iam_role.flow2-terraform` ({TERRAFORM}): none of its policies allows sts:AssumeRole on it"
            )),
            "{w}"
        );
        assert!(
            w.ends_with(&format!(
                r#"Add this statement to one of its policies: {{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"{TERRAFORM}"}}"#
            )),
            "{w}"
        );
        // The statement it names is one the matcher accepts.
        let fixed: Value = serde_json::from_str(&statement(TERRAFORM)).unwrap();
        assert_eq!(warning(&tf_runner(), Some(&policies(json!([fixed])))), None);
    }

    #[test]
    fn an_explicit_deny_is_named() {
        let w = warning(
            &tf_runner(),
            Some(&policies(json!([
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Sid": "NoCrossAccount", "Effect": "Deny", "Action": "sts:*", "Resource": "*"}
            ]))),
        )
        .unwrap();
        assert!(
            w.contains(
                "statement `NoCrossAccount` of inline policy `ci` denies sts:AssumeRole on it"
            ),
            "{w}"
        );
    }

    #[test]
    fn a_conditional_allow_cannot_be_proven() {
        let w = warning(
            &tf_runner(),
            Some(&policies(json!([{
                "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/team": "platform"}}
            }]))),
        )
        .unwrap();
        assert!(
            w.starts_with(&format!("cannot prove that `{TF}` may assume")),
            "{w}"
        );
        assert!(
            w.contains(
                "only under conditions or policy variables (statement #1 of inline policy `ci`)"
            ),
            "{w}"
        );
        assert!(w.contains(&statement(TERRAFORM)), "{w}");
    }

    #[test]
    fn an_unreadable_caller_is_said_so_with_the_statement() {
        let w = warning(
            &tf_runner(),
            Some(&Read::Unreadable(
                "account 111111111111 is not in the topology, so tether has no credentials there"
                    .into(),
            )),
        )
        .unwrap();
        assert!(w.starts_with(&format!("cannot check that `{TF}` may assume `dev/global/iam_role.flow2-terraform` ({TERRAFORM}): account 111111111111 is not in the topology")), "{w}");
        assert!(w.ends_with(&statement(TERRAFORM)), "{w}");
    }

    /// Within one account the trust names the caller's ARN, which suffices: no identity
    /// allow is needed, but an explicit Deny and the permissions boundary still count.
    #[test]
    fn within_one_account_only_denies_and_boundaries_count() {
        let same = pair(
            "arn:aws:iam::333333333333:role/ops",
            Caller::Role("ops".into()),
            "333333333333",
        );
        assert_eq!(warning(&same, Some(&policies(json!([])))), None);
        let conditional = json!([{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*",
                                  "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]);
        assert_eq!(warning(&same, Some(&policies(conditional))), None);
        let deny = json!([{"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*"}]);
        assert!(warning(&same, Some(&policies(deny)))
            .unwrap()
            .contains("denies sts:AssumeRole"));
        let bounded = Read::Policies {
            policies: Vec::new(),
            boundary: Some((
                "arn:aws:iam::333333333333:policy/boundary".into(),
                json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}),
            )),
        };
        let w = warning(&same, Some(&bounded)).unwrap();
        assert!(
            w.contains("its permissions boundary arn:aws:iam::333333333333:policy/boundary does not allow sts:AssumeRole on it"),
            "{w}"
        );
        // An IAM user in the same account: the trust suffices.
        let user = pair(
            "arn:aws:iam::333333333333:user/bob",
            Caller::User,
            "333333333333",
        );
        assert_eq!(warning(&user, None), None);
    }

    #[test]
    fn a_boundary_must_allow_it_too_across_accounts() {
        let read = Read::Policies {
            policies: vec![(
                "inline policy `ci`".into(),
                json!({"Statement": allow(TERRAFORM)}),
            )],
            boundary: Some((
                "arn:aws:iam::111111111111:policy/boundary".into(),
                json!({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}),
            )),
        };
        assert_eq!(warning(&tf_runner(), Some(&read)), None);
        let Read::Policies { policies, .. } = read else {
            unreachable!()
        };
        let read = Read::Policies {
            policies,
            boundary: Some((
                "arn:aws:iam::111111111111:policy/boundary".into(),
                json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}),
            )),
        };
        let w = warning(&tf_runner(), Some(&read)).unwrap();
        assert!(
            w.contains("add this statement to the boundary policy"),
            "{w}"
        );
    }

    #[test]
    fn users_across_accounts_are_not_read_and_say_so() {
        let user = pair(
            "arn:aws:iam::444444444444:user/alice",
            Caller::User,
            "444444444444",
        );
        let w = warning(&user, None).unwrap();
        assert!(
            w.contains("tether does not read IAM users' policies"),
            "{w}"
        );
        assert!(w.ends_with(&statement(TERRAFORM)), "{w}");
    }
}
