//! Whether a principal's own policies allow one action on one resource: a small,
//! conservative matcher over IAM policy JSON, enough to tell whether an external role
//! may call `sts:AssumeRole` on a derived role.
//!
//! It follows the parts of IAM's evaluation logic that decide that question ("Policy
//! evaluation logic", IAM User Guide; "IAM JSON policy elements": `Action`/`NotAction`,
//! `Resource`/`NotResource`): action names match case-insensitively with the `*` and `?`
//! wildcards, resources case-sensitively with the same wildcards; a statement applies
//! when both its action and its resource element cover the request; an applicable
//! `Deny` overrides any `Allow`. What it cannot evaluate it never counts as proven: a
//! statement with a `Condition`, or whose resource holds a policy variable (`${…}`), only
//! *may* apply, and the verdict then says which statements left it open.

use serde_json::Value;

/// Where a statement is: the policy's name (or ARN) and the statement's `Sid`, or its
/// position when it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub policy: String,
    pub statement: String,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "statement {} of {}", self.statement, self.policy)
    }
}

/// What the policies say about the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// An `Allow` applies, and no `Deny` could.
    Allowed,
    /// No `Allow` applies or could (an implicit deny).
    NotAllowed,
    /// A `Deny` applies: it overrides every `Allow`.
    Denied(Source),
    /// Statements that apply only under conditions the matcher does not evaluate decide
    /// it: `allows` that might grant it (when nothing else does), `denies` that might
    /// refuse it.
    Unproven {
        allows: Vec<Source>,
        denies: Vec<Source>,
    },
}

/// How far one statement covers the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Covers {
    No,
    /// Only under a condition or a policy variable.
    Maybe,
    Yes,
}

/// Evaluates `action` on `resource` against `policies` (name, document), as IAM would for
/// the principal they are attached to, as far as it can tell without a request context.
pub fn evaluate(policies: &[(String, Value)], action: &str, resource: &str) -> Verdict {
    let (mut allow, mut allows, mut denies) = (false, Vec::new(), Vec::new());
    for (name, doc) in policies {
        for (i, s) in statements(doc).enumerate() {
            let source = || Source {
                policy: name.clone(),
                statement: s
                    .get("Sid")
                    .and_then(Value::as_str)
                    .filter(|sid| !sid.is_empty())
                    .map_or_else(|| format!("#{}", i + 1), |sid| format!("`{sid}`")),
            };
            let effect = s.get("Effect").and_then(Value::as_str);
            match (effect, covers(s, action, resource)) {
                (_, Covers::No) | (None, _) => {}
                (Some("Deny"), Covers::Yes) => return Verdict::Denied(source()),
                (Some("Deny"), Covers::Maybe) => denies.push(source()),
                (Some("Allow"), Covers::Yes) => allow = true,
                (Some("Allow"), Covers::Maybe) => allows.push(source()),
                // Any other effect is not valid IAM: it neither allows nor denies.
                (Some(_), _) => {}
            }
        }
    }
    match (allow, allows.is_empty(), denies.is_empty()) {
        (true, _, true) => Verdict::Allowed,
        (true, _, false) => Verdict::Unproven {
            allows: Vec::new(),
            denies,
        },
        (false, true, _) => Verdict::NotAllowed,
        (false, false, _) => Verdict::Unproven { allows, denies },
    }
}

/// The statements of a policy document: `Statement` is a list or a single object.
fn statements(doc: &Value) -> impl Iterator<Item = &Value> {
    let s = doc.get("Statement");
    let list = s.and_then(Value::as_array).map(|v| v.iter());
    let one = s.filter(|s| s.is_object()).into_iter();
    list.into_iter().flatten().chain(one)
}

fn covers(s: &Value, action: &str, resource: &str) -> Covers {
    // Action names are not case-sensitive ("IAM JSON policy elements: Action").
    let names = |v: &Value| strings(v).any(|p| crate::eval::glob(action, p, true));
    let action_applies = match (s.get("Action"), s.get("NotAction")) {
        (Some(a), None) => names(a),
        (None, Some(n)) => !names(n),
        // Both or neither: not a valid statement.
        _ => false,
    };
    if !action_applies {
        return Covers::No;
    }
    let on_resource = match (s.get("Resource"), s.get("NotResource")) {
        (Some(r), None) => any_resource(r, resource),
        (None, Some(n)) => match any_resource(n, resource) {
            Covers::Yes => Covers::No,
            Covers::Maybe => Covers::Maybe,
            Covers::No => Covers::Yes,
        },
        _ => Covers::No,
    };
    let conditional = s
        .get("Condition")
        .is_some_and(|c| c.as_object().is_none_or(|m| !m.is_empty()));
    match on_resource {
        Covers::Yes if conditional => Covers::Maybe,
        other => other,
    }
}

/// Whether any resource pattern covers `resource`: certainly, or only for some values of
/// the policy variables it holds.
fn any_resource(patterns: &Value, resource: &str) -> Covers {
    let mut best = Covers::No;
    for p in strings(patterns) {
        if p.contains("${") {
            if glob(&without_variables(p), resource) {
                best = Covers::Maybe;
            }
        } else if glob(p, resource) {
            return Covers::Yes;
        }
    }
    best
}

/// A pattern with each policy variable (`${aws:username}`, `${*}`, …) replaced by `*`:
/// what the pattern could match for some value of it.
fn without_variables(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut rest = p;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        out.push('*');
        rest = match rest[i..].find('}') {
            Some(j) => &rest[i + j + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// A string or a list of strings (anything else holds none).
fn strings(v: &Value) -> impl Iterator<Item = &str> {
    let one = v.as_str().into_iter();
    let many = v.as_array().into_iter().flatten().filter_map(Value::as_str);
    one.chain(many)
}

/// IAM's wildcard match, `*` any run of characters (none included), `?` any one: the
/// evaluator's, so that both read patterns alike.
fn glob(pattern: &str, text: &str) -> bool {
    crate::eval::glob(text, pattern, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ROLE: &str = "arn:aws:iam::333333333333:role/tether/flow2/flow2-terraform";

    fn verdict(statements: Value) -> Verdict {
        let doc = json!({ "Version": "2012-10-17", "Statement": statements });
        evaluate(&[("p".to_string(), doc)], "sts:AssumeRole", ROLE)
    }

    fn unproven(allows: &[&str], denies: &[&str]) -> Verdict {
        let s = |v: &[&str]| {
            v.iter()
                .map(|st| Source {
                    policy: "p".into(),
                    statement: st.to_string(),
                })
                .collect()
        };
        Verdict::Unproven {
            allows: s(allows),
            denies: s(denies),
        }
    }

    #[test]
    fn globs_follow_iam_wildcards() {
        for (p, t, m) in [
            ("*", "", true),
            ("*", "anything", true),
            ("a*c", "abbbc", true),
            ("a*c", "ac", true),
            ("a*c", "acb", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*role/*", "arn:aws:iam::1:role/x", true),
            ("arn:aws:iam::*:role/flow2-*", ROLE, false),
            ("arn:aws:iam::*:role/*flow2-*", ROLE, true),
            ("**a", "ba", true),
            ("", "", true),
            ("", "a", false),
        ] {
            assert_eq!(glob(p, t), m, "{p} ~ {t}");
        }
    }

    /// Each row: the statements, and what they say about sts:AssumeRole on ROLE.
    #[test]
    fn the_matcher_table() {
        let allow = |action: Value, resource: Value| json!({"Effect": "Allow", "Action": action, "Resource": resource});
        let rows: Vec<(&str, Value, Verdict)> = vec![
            (
                "the exact statement tether suggests",
                json!([allow(json!("sts:AssumeRole"), json!(ROLE))]),
                Verdict::Allowed,
            ),
            (
                "a single statement object, not a list",
                allow(json!("sts:AssumeRole"), json!(ROLE)),
                Verdict::Allowed,
            ),
            (
                "action names are case-insensitive",
                json!([allow(json!("STS:assumerole"), json!(ROLE))]),
                Verdict::Allowed,
            ),
            (
                "action wildcards",
                json!([allow(json!(["s3:GetObject", "sts:Assume*"]), json!("*"))]),
                Verdict::Allowed,
            ),
            (
                "every action",
                json!([allow(json!("*"), json!("*"))]),
                Verdict::Allowed,
            ),
            (
                "another action",
                json!([allow(json!("sts:AssumeRoleWithSAML"), json!(ROLE))]),
                Verdict::NotAllowed,
            ),
            (
                "resource wildcards",
                json!([allow(
                    json!("sts:AssumeRole"),
                    json!("arn:aws:iam::333333333333:role/tether/*")
                )]),
                Verdict::Allowed,
            ),
            (
                "resource ARNs are case-sensitive",
                json!([allow(json!("sts:AssumeRole"), json!(ROLE.to_uppercase()))]),
                Verdict::NotAllowed,
            ),
            (
                "another account's roles",
                json!([allow(
                    json!("sts:AssumeRole"),
                    json!("arn:aws:iam::444444444444:role/*")
                )]),
                Verdict::NotAllowed,
            ),
            (
                "NotAction that leaves the action in (PowerUserAccess)",
                json!([{"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}]),
                Verdict::Allowed,
            ),
            (
                "NotAction that takes it out",
                json!([{"Effect": "Allow", "NotAction": "sts:*", "Resource": "*"}]),
                Verdict::NotAllowed,
            ),
            (
                "NotResource that leaves the role in",
                json!([{"Effect": "Allow", "Action": "sts:AssumeRole", "NotResource": "arn:aws:iam::*:role/admin"}]),
                Verdict::Allowed,
            ),
            (
                "NotResource that takes it out",
                json!([{"Effect": "Allow", "Action": "sts:AssumeRole", "NotResource": "arn:aws:iam::333333333333:role/*"}]),
                Verdict::NotAllowed,
            ),
            (
                "an explicit deny wins",
                json!([
                    allow(json!("*"), json!("*")),
                    {"Sid": "NoRoles", "Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::333333333333:role/*"}
                ]),
                Verdict::Denied(Source {
                    policy: "p".into(),
                    statement: "`NoRoles`".into(),
                }),
            ),
            (
                "a deny elsewhere does not matter",
                json!([
                    allow(json!("sts:AssumeRole"), json!(ROLE)),
                    {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::444444444444:role/*"}
                ]),
                Verdict::Allowed,
            ),
            (
                "a conditional allow proves nothing",
                json!([{"Sid": "Tagged", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*",
                        "Condition": {"StringEquals": {"aws:ResourceTag/team": "platform"}}}]),
                unproven(&["`Tagged`"], &[]),
            ),
            (
                "an empty Condition is no condition",
                json!([{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*", "Condition": {}}]),
                Verdict::Allowed,
            ),
            (
                "a conditional deny leaves an allow open",
                json!([
                    allow(json!("sts:AssumeRole"), json!(ROLE)),
                    {"Effect": "Deny", "Action": "*", "Resource": "*",
                     "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}}
                ]),
                unproven(&[], &["#2"]),
            ),
            (
                "a conditional deny without any allow is still no allow",
                json!([{"Effect": "Deny", "Action": "*", "Resource": "*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]),
                Verdict::NotAllowed,
            ),
            (
                "a policy variable may match",
                json!([allow(
                    json!("sts:AssumeRole"),
                    json!("arn:aws:iam::333333333333:role/${aws:PrincipalTag/team}/*")
                )]),
                unproven(&["#1"], &[]),
            ),
            (
                "a policy variable that cannot match",
                json!([allow(
                    json!("sts:AssumeRole"),
                    json!("arn:aws:iam::444444444444:role/${aws:username}")
                )]),
                Verdict::NotAllowed,
            ),
            ("no statements", json!([]), Verdict::NotAllowed),
            (
                "a statement without a resource element is not valid and grants nothing",
                json!([{"Effect": "Allow", "Action": "sts:AssumeRole"}]),
                Verdict::NotAllowed,
            ),
        ];
        for (what, statements, want) in rows {
            assert_eq!(verdict(statements), want, "{what}");
        }
    }

    /// Verdicts span every policy of the principal: an allow in one, a deny in another.
    #[test]
    fn every_policy_counts() {
        let doc = |effect: &str| json!({"Statement": [{"Effect": effect, "Action": "sts:AssumeRole", "Resource": ROLE}]});
        let both = [
            ("inline".to_string(), doc("Allow")),
            (
                "arn:aws:iam::111111111111:policy/guard".to_string(),
                doc("Deny"),
            ),
        ];
        assert_eq!(
            evaluate(&both, "sts:AssumeRole", ROLE),
            Verdict::Denied(Source {
                policy: "arn:aws:iam::111111111111:policy/guard".into(),
                statement: "#1".into()
            })
        );
        assert_eq!(
            evaluate(&both[..1], "sts:AssumeRole", ROLE),
            Verdict::Allowed
        );
    }
}
