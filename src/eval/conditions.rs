//! The Condition block of one statement, against the request context.
//!
//! From "IAM JSON policy elements: Condition operators" and "Conditions with multiple
//! context keys or values":
//! - several operators in a block, and several keys under one operator, are ANDed;
//!   several values for one key are ORed, and NORed for a negated operator
//!   (`StringNotEquals`, `StringNotLike`, `ArnNotEquals`, `ArnNotLike`);
//! - a key absent from the request makes a positive operator false and a negated one
//!   true; `…IfExists` is true when the key is absent; `Null` tests presence;
//! - `ForAnyValue:` is true when at least one request value matches (false when the key
//!   is missing or empty); `ForAllValues:` when every request value matches, and also
//!   when the key is missing or empty ("Set operators for multivalued context keys": *It
//!   also returns true if there are no context keys in the request*);
//! - `ArnEquals` and `ArnLike` both compare each of the six ARN components with `*` and
//!   `?`; `Bool` compares `true`/`false`.
//!
//! Evaluated: the String*, Arn*, Bool and Null operators, with `IfExists` and the set
//! prefixes. Anything else (Numeric*, Date*, IpAddress, Binary*, an operator nobody
//! defined), a value holding a policy variable (`${…}`), a key the context does not know
//! about, and a single-valued operator on a key with several values answer "unknown".

use super::context::Lookup;
use super::matching::{arn_like, glob};
use super::{Caller, Request, Tri, Values};
use crate::expand::policy::Condition;

/// The keys a request is known to carry (or not) without being told: derived from who
/// calls what ("AWS global condition context keys").
pub(crate) struct Env<'a> {
    pub request: &'a Request<'a>,
}

impl<'a> Env<'a> {
    pub(crate) fn get(&self, key: &str) -> Lookup<'a> {
        let r = self.request;
        let given = r.context.get(key);
        if given != Lookup::Unknown {
            return given;
        }
        let is = |k: &str| key.eq_ignore_ascii_case(k);
        match r.caller {
            Caller::Role(role) if is("aws:PrincipalArn") => Lookup::One(&role.arn),
            Caller::Role(role) if is("aws:PrincipalAccount") => Lookup::One(&role.account),
            Caller::Root { account } if is("aws:PrincipalAccount") => Lookup::One(account),
            Caller::Service(name) if is("aws:PrincipalServiceName") => Lookup::One(name),
            Caller::Service(_) if is("aws:PrincipalIsAWSService") => Lookup::One("true"),
            // Present only when a service principal calls.
            _ if is("aws:PrincipalServiceName") => Lookup::Absent,
            _ if is("aws:PrincipalIsAWSService") => Lookup::One("false"),
            _ if is("aws:ResourceAccount") && !r.resource_account.is_empty() => {
                Lookup::One(r.resource_account)
            }
            _ => Lookup::Unknown,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    None,
    Any,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Arn,
    Bool,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Op {
    set: Set,
    base: Base,
    negated: bool,
    if_exists: bool,
}

fn parse(op: &str) -> Option<Op> {
    let (set, rest) = if let Some(r) = op.strip_prefix("ForAnyValue:") {
        (Set::Any, r)
    } else if let Some(r) = op.strip_prefix("ForAllValues:") {
        (Set::All, r)
    } else {
        (Set::None, op)
    };
    let (rest, if_exists) = match rest.strip_suffix("IfExists") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let (base, negated) = match rest {
        "StringEquals" => (Base::StringEquals, false),
        "StringNotEquals" => (Base::StringEquals, true),
        "StringEqualsIgnoreCase" => (Base::StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (Base::StringEqualsIgnoreCase, true),
        "StringLike" => (Base::StringLike, false),
        "StringNotLike" => (Base::StringLike, true),
        "ArnEquals" | "ArnLike" => (Base::Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Base::Arn, true),
        "Bool" => (Base::Bool, false),
        "Null" if set == Set::None && !if_exists => (Base::Null, false),
        _ => return None,
    };
    Some(Op {
        set,
        base,
        negated,
        if_exists,
    })
}

fn boolean(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Does one request value `c` match one policy value `p` under `base`?
fn matches(base: Base, c: &str, p: &str) -> Tri {
    match base {
        Base::StringEquals => Tri::from_bool(c == p),
        Base::StringEqualsIgnoreCase => Tri::from_bool(
            c.chars()
                .flat_map(char::to_lowercase)
                .eq(p.chars().flat_map(char::to_lowercase)),
        ),
        Base::StringLike => Tri::from_bool(glob(c, p, false)),
        Base::Arn => Tri::from_bool(arn_like(c, p)),
        Base::Bool => match (boolean(c), boolean(p)) {
            (Some(a), Some(b)) => Tri::from_bool(a == b),
            _ => Tri::Unknown(format!("Bool compares `{c}` with `{p}`")),
        },
        Base::Null => unreachable!("Null is decided on presence"),
    }
}

/// The values of one operator and key: the policy's, or those read for the caller.
#[derive(Clone, Copy)]
struct Vals<'v> {
    policy: &'v [String],
    read: &'v [&'v str],
}

impl<'v> Vals<'v> {
    fn iter(self) -> impl Iterator<Item = &'v str> {
        let policy = self.policy.iter().map(String::as_str);
        policy.chain(self.read.iter().copied())
    }
}

/// One request value against all policy values: OR, or NOR for a negated operator.
fn satisfies(op: Op, c: &str, values: Vals) -> Tri {
    let any = Tri::any(values.iter(), |p| matches(op.base, c, p));
    if op.negated {
        any.not()
    } else {
        any
    }
}

/// One operator, one key, its values.
fn one(operator: &str, key: &str, values: Vals, env: &Env) -> Tri {
    let Some(op) = parse(operator) else {
        return Tri::Unknown(format!("condition operator `{operator}` is not evaluated"));
    };
    if values.iter().any(|v| v.contains("${")) {
        return Tri::Unknown(format!("the `{key}` condition holds a policy variable"));
    }
    let (first, rest): (Option<&str>, &[String]) = match env.get(key) {
        Lookup::Unknown => {
            return Tri::Unknown(format!(
                "whether the request carries `{key}` (tested by {operator}) is not known"
            ))
        }
        Lookup::Absent => (None, &[]),
        Lookup::One(v) => (Some(v), &[]),
        Lookup::Many(v) => (None, v),
    };
    let present = first.is_some() || !rest.is_empty();
    if op.base == Base::Null {
        return Tri::any(values.iter(), |v| match boolean(v) {
            Some(want_absent) => Tri::from_bool(want_absent != present),
            None => Tri::Unknown(format!("Null takes true or false, not `{v}`")),
        });
    }
    if !present {
        return Tri::from_bool(match op.set {
            Set::All => true,
            Set::Any => op.if_exists,
            Set::None => op.if_exists || op.negated,
        });
    }
    let request_values = first.into_iter().chain(rest.iter().map(String::as_str));
    match op.set {
        Set::None if first.is_none() && rest.len() > 1 => Tri::Unknown(format!(
            "`{key}` has several values and {operator} is a single-valued operator"
        )),
        Set::None | Set::Any => Tri::any(request_values, |c| satisfies(op, c, values)),
        Set::All => Tri::all(request_values, |c| satisfies(op, c, values)),
    }
}

/// The whole Condition block: every operator and every key must hold.
#[cfg(test)]
pub(crate) fn evaluate(condition: &Condition, env: &Env) -> Tri {
    evaluate_read(condition, env, &[])
}

/// The Condition block with the values of some operators and keys replaced by those
/// `read` for the request (a policy read for one request keeps, of a long
/// `aws:PrincipalArn` or `aws:SourceArn` list, only the values that may match it).
pub(crate) fn evaluate_read(condition: &Condition, env: &Env, read: &[Values]) -> Tri {
    let pairs = condition
        .iter()
        .flat_map(|(op, keys)| keys.iter().map(move |(k, v)| (op, k, v)));
    Tri::all(pairs, |(operator, key, values)| {
        let replaced = read
            .iter()
            .find(|r| r.operator == operator.as_str() && r.key == key.as_str());
        let values = match replaced {
            Some(r) => Vals {
                policy: &[],
                read: &r.values,
            },
            None => Vals {
                policy: values.as_slice(),
                read: &[],
            },
        };
        one(operator, key, values, env)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{Caller, Context};

    fn cond(op: &str, key: &str, values: &[&str]) -> Condition {
        let mut c = Condition::new();
        c.entry(op.into())
            .or_default()
            .insert(key.into(), values.iter().copied().into());
        c
    }

    fn check(c: &Condition, ctx: &Context) -> Tri {
        let caller = Caller::role("arn:aws:iam::111111111111:role/tether/acme/r").unwrap();
        let request = Request {
            caller: &caller,
            action: "s3:GetObject",
            resource: "arn:aws:s3:::b/k",
            resource_account: "111111111111",
            names: &[],
            context: ctx,
        };
        evaluate(c, &Env { request: &request })
    }

    const Y: Option<bool> = Some(true);
    const N: Option<bool> = Some(false);
    const U: Option<bool> = None;

    fn as_opt(t: Tri) -> Option<bool> {
        match t {
            Tri::Yes => Some(true),
            Tri::No => Some(false),
            Tri::Unknown(_) => None,
        }
    }

    /// Operator, policy values, answer with the key present, answer with it absent.
    type Row<'a> = (&'a str, &'a [&'a str], Option<bool>, Option<bool>);

    /// "IAM JSON policy elements: Condition operators": each operator against a present
    /// key, an absent key, and a key nobody described.
    #[test]
    fn operators_against_present_absent_and_unknown_keys() {
        let k = "aws:SourceAccount";
        let present = Context::new().with(k, "111111111111");
        let absent = Context::new().without(k);
        let unknown = Context::new();
        #[rustfmt::skip]
        let table: &[Row] = &[
            // operator, policy values, with key = 111111111111, key absent
            ("StringEquals", &["111111111111"], Y, N),
            ("StringEquals", &["222222222222", "111111111111"], Y, N),
            ("StringEquals", &["222222222222"], N, N),
            ("StringNotEquals", &["222222222222"], Y, Y),
            ("StringNotEquals", &["222222222222", "111111111111"], N, Y),
            ("StringEqualsIfExists", &["222222222222"], N, Y),
            ("StringNotEqualsIfExists", &["111111111111"], N, Y),
            ("StringLike", &["1111*"], Y, N),
            ("StringLike", &["1111?1111111"], Y, N),
            ("StringNotLike", &["2*"], Y, Y),
            ("StringEqualsIgnoreCase", &["111111111111"], Y, N),
            ("StringNotEqualsIgnoreCase", &["111111111111"], N, Y),
            ("Null", &["true"], N, Y),
            ("Null", &["false"], Y, N),
            ("NumericEquals", &["1"], U, U),
            ("DateGreaterThan", &["2020-01-01T00:00:00Z"], U, U),
            ("IpAddress", &["10.0.0.0/8"], U, U),
            ("StringEqualz", &["111111111111"], U, U),
            ("StringEquals", &["${aws:PrincipalAccount}"], U, U),
            ("NullIfExists", &["true"], U, U),
        ];
        for (op, values, with, without) in table {
            let c = cond(op, k, values);
            assert_eq!(
                as_opt(check(&c, &present)),
                *with,
                "{op} {values:?} present"
            );
            assert_eq!(
                as_opt(check(&c, &absent)),
                *without,
                "{op} {values:?} absent"
            );
            assert_eq!(
                as_opt(check(&c, &unknown)),
                None,
                "{op} {values:?} unknown key"
            );
        }
    }

    #[test]
    fn bool_and_arn_operators() {
        let tls = Context::new().with_bool("aws:SecureTransport", true);
        let plain = Context::new().with_bool("aws:SecureTransport", false);
        let deny_plain = cond("Bool", "aws:SecureTransport", &["false"]);
        assert_eq!(check(&deny_plain, &tls), Tri::No);
        assert_eq!(check(&deny_plain, &plain), Tri::Yes);
        assert_eq!(
            check(&deny_plain, &Context::new().without("aws:SecureTransport")),
            Tri::No
        );
        assert_eq!(
            check(
                &cond("BoolIfExists", "aws:SecureTransport", &["false"]),
                &Context::new().without("aws:SecureTransport")
            ),
            Tri::Yes
        );
        let rule = "arn:aws:events:us-east-1:111111111111:rule/acme/r";
        let ctx = Context::new().with("aws:SourceArn", rule);
        for (op, v, want) in [
            ("ArnEquals", rule, Tri::Yes),
            (
                "ArnLike",
                "arn:aws:events:*:111111111111:rule/acme/*",
                Tri::Yes,
            ),
            (
                "ArnEquals",
                "arn:aws:events:*:111111111111:rule/acme/*",
                Tri::Yes,
            ),
            ("ArnLike", "arn:aws:events:*:222222222222:rule/*", Tri::No),
            (
                "ArnNotLike",
                "arn:aws:events:*:222222222222:rule/*",
                Tri::Yes,
            ),
            ("ArnNotEquals", rule, Tri::No),
        ] {
            assert_eq!(
                check(&cond(op, "aws:SourceArn", &[v]), &ctx),
                want,
                "{op} {v}"
            );
        }
    }

    /// "Multivalued context key examples", Deny policy with `ForAllValues:StringNotLike`
    /// on `aws:TagKeys` = `key1*`, and its table of request contexts.
    #[test]
    fn for_all_values_table_from_the_multivalued_examples() {
        let c = cond("ForAllValues:StringNotLike", "aws:TagKeys", &["key1*"]);
        let tags = |t: &[&str]| Context::new().with_list("aws:TagKeys", t.iter().copied());
        assert_eq!(check(&c, &tags(&["key1:legal"])), Tri::No);
        assert_eq!(check(&c, &tags(&["key1:hr", "key1:personnel"])), Tri::No);
        assert_eq!(check(&c, &tags(&["key2:audit"])), Tri::Yes);
        assert_eq!(check(&c, &Context::new().without("aws:TagKeys")), Tri::Yes);
        // The documented pitfall: an empty or missing set satisfies ForAllValues.
        assert_eq!(check(&c, &tags(&[])), Tri::Yes);

        // Two policy values: every request value must be unlike both (NOR).
        let c = cond(
            "ForAllValues:StringNotLike",
            "aws:TagKeys",
            &["key1*", "key2*"],
        );
        assert_eq!(check(&c, &tags(&["key1:legal"])), Tri::No);
        assert_eq!(check(&c, &tags(&["key1:hr", "key2:audit"])), Tri::No);
        assert_eq!(check(&c, &tags(&["key3:legal"])), Tri::Yes);
        assert_eq!(check(&c, &Context::new().without("aws:TagKeys")), Tri::Yes);
    }

    /// "IAM: Manage a specific tag": `ForAllValues:StringEquals` `aws:TagKeys` =
    /// `Department`; and ForAnyValue, which a missing key never satisfies.
    #[test]
    fn for_any_and_for_all_values() {
        let tags = |t: &[&str]| Context::new().with_list("aws:TagKeys", t.iter().copied());
        let all = cond("ForAllValues:StringEquals", "aws:TagKeys", &["Department"]);
        assert_eq!(check(&all, &tags(&["Department"])), Tri::Yes);
        assert_eq!(check(&all, &tags(&["Department", "Owner"])), Tri::No);
        assert_eq!(
            check(&all, &Context::new().without("aws:TagKeys")),
            Tri::Yes
        );

        let any = cond(
            "ForAnyValue:StringEquals",
            "kms:ResourceAliases",
            &["alias/acme-artifacts"],
        );
        let aliases =
            |a: &[&str]| Context::new().with_list("kms:ResourceAliases", a.iter().copied());
        assert_eq!(
            check(&any, &aliases(&["alias/other", "alias/acme-artifacts"])),
            Tri::Yes
        );
        assert_eq!(check(&any, &aliases(&["alias/other"])), Tri::No);
        assert_eq!(check(&any, &aliases(&[])), Tri::No);
        assert_eq!(
            check(&any, &Context::new().without("kms:ResourceAliases")),
            Tri::No
        );
        assert_eq!(check(&any, &Context::new()), Tri::Unknown(
            "whether the request carries `kms:ResourceAliases` (tested by ForAnyValue:StringEquals) is not known".into()
        ));
        // A single-valued operator on a key with several values is not guessed at.
        let plain = cond("StringEquals", "kms:ResourceAliases", &["alias/other"]);
        assert!(matches!(
            check(&plain, &aliases(&["alias/a", "alias/b"])),
            Tri::Unknown(_)
        ));
    }

    /// "Conditions with multiple context keys or values": operators AND, keys AND,
    /// values OR; here on keys the evaluator derives from the caller.
    #[test]
    fn blocks_and_keys_are_anded_values_ored() {
        let mut c = cond(
            "StringEquals",
            "aws:PrincipalAccount",
            &["222222222222", "111111111111"],
        );
        c.entry("ArnLike".into()).or_default().insert(
            "aws:PrincipalArn".into(),
            ["arn:aws:iam::111111111111:role/tether/*"].into(),
        );
        assert_eq!(check(&c, &Context::new()), Tri::Yes);
        c.entry("StringEquals".into())
            .or_default()
            .insert("aws:ResourceAccount".into(), ["222222222222"].into());
        assert_eq!(check(&c, &Context::new()), Tri::No);
        // An unknown key ANDed with a false one is false; with a true one, unknown.
        let mut c = cond("StringEquals", "aws:PrincipalOrgID", &["o-1"]);
        c.entry("StringEquals".into())
            .or_default()
            .insert("aws:ResourceAccount".into(), ["222222222222"].into());
        assert_eq!(check(&c, &Context::new()), Tri::No);
        let c = cond("StringEquals", "aws:PrincipalOrgID", &["o-1"]);
        assert!(matches!(check(&c, &Context::new()), Tri::Unknown(_)));
    }
}
