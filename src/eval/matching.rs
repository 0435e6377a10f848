//! Does one statement's Action, Resource and Principal cover a request?
//!
//! - Action / NotAction: `service:Action` patterns with `*` and `?`, compared without
//!   regard to case ("IAM JSON policy elements: Action": *action names are not
//!   case-sensitive*).
//! - Resource / NotResource: ARN patterns, case-sensitive, with `*` and `?` inside a
//!   segment; a `*` that ends a segment may also match across colons ("IAM JSON policy
//!   elements: Resource", *Using wildcards in resource ARNs*). A pattern holding a policy
//!   variable (`${…}`) is not evaluated.
//! - Principal: every form of "AWS JSON policy elements: Principal": `"*"`, an account
//!   id or its `:root` ARN (the whole account, which delegates to its IAM policies), a
//!   role ARN (with its path; any session of that role), an assumed-role session ARN
//!   (that session only), a service principal. A unique id (`AROA…`) matches nothing:
//!   AWS shows a principal as its unique id only once the principal it named is deleted
//!   (same page: *the ARN transforms to the role's unique principal ID … if you delete the
//!   role*). `NotPrincipal`, `CanonicalUser` and wildcards inside an ARN are not evaluated.
//!
//! Each test answers in three values: a statement element the evaluator cannot read
//! answers "unknown", which the composition never turns into an allow.

use super::{Caller, Tri};
use crate::expand::policy::{Principal, Statement};
use serde_json::Value;

/// The statement elements the evaluator reads; any other is "unknown".
const KNOWN_OTHER: &[&str] = &["NotAction", "NotResource", "NotPrincipal"];

/// Whether the statement holds only elements the evaluator understands.
pub(crate) fn elements(s: &Statement) -> Tri {
    match s.other.keys().find(|k| !KNOWN_OTHER.contains(&k.as_str())) {
        Some(k) => Tri::Unknown(format!("the statement has `{k}`, which is not evaluated")),
        None => Tri::Yes,
    }
}

/// OR of `f` over the strings of a JSON string or list of strings.
fn any_string(v: &Value, mut f: impl FnMut(&str) -> Tri) -> Tri {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => Tri::any(items, |item| match item {
            Value::String(s) => f(s),
            _ => Tri::Unknown(format!("`{item}` is not a string")),
        }),
        other => Tri::Unknown(format!("`{other}` is not a string or a list of strings")),
    }
}

/// `action` matches the Action pattern `p`, without regard to case.
fn action_like(action: &str, p: &str) -> bool {
    // Without a wildcard, a case-insensitive comparison (most differ in length).
    if !p.as_bytes().iter().any(|b| matches!(b, b'*' | b'?')) {
        return action.eq_ignore_ascii_case(p);
    }
    glob(action, p, true)
}

/// Does the statement's Action (or NotAction) cover `action`?
pub(crate) fn action(s: &Statement, action: &str) -> Tri {
    match (s.action.is_empty(), s.other.get("NotAction")) {
        (false, None) => Tri::from_bool(s.action.iter().any(|p| action_like(action, p))),
        (true, Some(not)) => any_string(not, |p| Tri::from_bool(action_like(action, p))).not(),
        (true, None) => Tri::No,
        (false, Some(_)) => Tri::Unknown("the statement has both Action and NotAction".into()),
    }
}

fn resource_pattern(resource: &str, names: &[&str], pattern: &str) -> Tri {
    // Neither a reference nor a policy variable: the common case, without the checks.
    if !pattern.as_bytes().contains(&b'$') {
        return Tri::from_bool(resource_glob(resource, pattern));
    }
    if names.contains(&pattern) {
        return Tri::Yes;
    }
    // A reference names the resource at its address, which this request's resource is
    // not (it would be among `names`).
    if crate::plan::unknown::is_reference(pattern) {
        return Tri::No;
    }
    if pattern.contains("${") {
        return Tri::Unknown(format!("resource `{pattern}` holds a policy variable"));
    }
    Tri::from_bool(resource_glob(resource, pattern))
}

/// Does the statement's Resource (or NotResource) cover `resource`? A statement with
/// neither (a trust policy) covers the resource it is attached to.
pub(crate) fn resource(s: &Statement, resource: &str, names: &[&str]) -> Tri {
    match (&s.resource, s.other.get("NotResource")) {
        (Some(list), None) => Tri::any(list.iter(), |p| resource_pattern(resource, names, p)),
        (None, Some(not)) => any_string(not, |p| resource_pattern(resource, names, p)).not(),
        (None, None) => Tri::Yes,
        (Some(_), Some(_)) => {
            Tri::Unknown("the statement has both Resource and NotResource".into())
        }
    }
}

/// How a resource-policy statement's principal covers the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PrincipalMatch {
    /// Named itself: the role, one of its sessions, the service, or anyone (`"*"`).
    pub direct: Tri,
    /// Named only through its account, which delegates to the account's IAM policies.
    pub account: Tri,
}

impl PrincipalMatch {
    const NONE: PrincipalMatch = PrincipalMatch {
        direct: Tri::No,
        account: Tri::No,
    };

    fn direct(t: Tri) -> Self {
        PrincipalMatch {
            direct: t,
            account: Tri::No,
        }
    }

    fn unknown(reason: String) -> Self {
        PrincipalMatch {
            direct: Tri::Unknown(reason.clone()),
            account: Tri::Unknown(reason),
        }
    }

    fn or(self, other: impl FnOnce() -> PrincipalMatch) -> PrincipalMatch {
        if self.direct == Tri::Yes {
            return self;
        }
        let o = other();
        PrincipalMatch {
            direct: self.direct.or(|| o.direct),
            account: self.account.or(|| o.account),
        }
    }

    /// Named at all, directly or through the account: what a Deny needs.
    pub(crate) fn any(&self) -> Tri {
        self.direct.clone().or(|| self.account.clone())
    }
}

/// Does the Principal of a resource-policy statement name the caller?
pub(crate) fn principal(s: &Statement, caller: &Caller) -> PrincipalMatch {
    if s.other.contains_key("NotPrincipal") {
        return PrincipalMatch::unknown(
            "the statement uses NotPrincipal, which is not evaluated".into(),
        );
    }
    match &s.principal {
        None => PrincipalMatch::unknown("a resource policy statement without a Principal".into()),
        Some(Principal::Anyone) => anyone(caller),
        Some(Principal::Aws(list)) => fold(list.iter().map(String::as_str), |p| aws(p, caller)),
        Some(Principal::Service(list)) => {
            fold(list.iter().map(String::as_str), |p| service(p, caller))
        }
        Some(Principal::Other(v)) => other(v, caller),
    }
}

/// As [`principal`], reading only `list` of the statement's `"AWS"` principals: those
/// that may name the caller.
pub(crate) fn principal_among(s: &Statement, list: &[&str], caller: &Caller) -> PrincipalMatch {
    if s.other.contains_key("NotPrincipal") {
        return PrincipalMatch::unknown(
            "the statement uses NotPrincipal, which is not evaluated".into(),
        );
    }
    fold(list.iter().copied(), |p| aws(p, caller))
}

fn fold<'a>(
    items: impl Iterator<Item = &'a str>,
    f: impl Fn(&str) -> PrincipalMatch,
) -> PrincipalMatch {
    let mut acc = PrincipalMatch::NONE;
    for p in items {
        acc = acc.or(|| f(p));
        if acc.direct == Tri::Yes {
            break;
        }
    }
    acc
}

/// A principal object with several kinds (`{"AWS": …, "Service": …}`) or kinds tether
/// never writes.
fn other(v: &Value, caller: &Caller) -> PrincipalMatch {
    let Value::Object(kinds) = v else {
        return PrincipalMatch::unknown(format!("principal `{v}` is not evaluated"));
    };
    let mut acc = PrincipalMatch::NONE;
    for (kind, value) in kinds {
        let each = |f: &dyn Fn(&str) -> PrincipalMatch| -> PrincipalMatch {
            match value {
                Value::String(s) => f(s),
                Value::Array(items) => {
                    let mut acc = PrincipalMatch::NONE;
                    for item in items {
                        acc = acc.or(|| match item {
                            Value::String(s) => f(s),
                            _ => PrincipalMatch::unknown(format!("principal `{item}`")),
                        });
                    }
                    acc
                }
                _ => PrincipalMatch::unknown(format!("principal `{value}`")),
            }
        };
        let m = match kind.as_str() {
            "AWS" => each(&|p| aws(p, caller)),
            "Service" => each(&|p| service(p, caller)),
            // Web identity and SAML providers never make the calls tether proves.
            "Federated" => PrincipalMatch::NONE,
            _ => PrincipalMatch::unknown(format!("{kind} principals are not evaluated")),
        };
        acc = acc.or(|| m);
    }
    acc
}

/// `"*"`: anyone. Whether that covers a service principal calling itself is not
/// something the Principal page settles, so it is unknown for services.
fn anyone(caller: &Caller) -> PrincipalMatch {
    match caller {
        Caller::Service(s) => PrincipalMatch::direct(Tri::Unknown(format!(
            "whether principal \"*\" covers the service principal {s}"
        ))),
        _ => PrincipalMatch::direct(Tri::Yes),
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn account(id: &str, caller: &Caller) -> PrincipalMatch {
    match caller {
        Caller::Role(r) if r.account == id => PrincipalMatch {
            direct: Tri::No,
            account: Tri::Yes,
        },
        // The root user is the account.
        Caller::Root { account } if account == id => PrincipalMatch::direct(Tri::Yes),
        _ => PrincipalMatch::NONE,
    }
}

/// One entry of an `"AWS"` principal.
fn aws(p: &str, caller: &Caller) -> PrincipalMatch {
    if p == "*" {
        return anyone(caller);
    }
    // The role itself by its ARN: what the parse below would find, without it.
    if let Caller::Role(r) = caller {
        if r.arn == p {
            return PrincipalMatch::direct(Tri::Yes);
        }
    }
    if is_account_id(p) {
        return account(p, caller);
    }
    if !p.starts_with("arn:") {
        // A unique id (AROA…, AIDA…): the principal it named was deleted.
        return PrincipalMatch::NONE;
    }
    if p.contains(['*', '?']) {
        return PrincipalMatch::unknown(format!("principal `{p}` holds a wildcard"));
    }
    let Some(crate::names::Arn {
        service,
        account: acct,
        resource: res,
        ..
    }) = crate::names::arn(p)
    else {
        return PrincipalMatch::NONE;
    };
    match service {
        "iam" if res == "root" => account(acct, caller),
        "iam" if res.starts_with("role/") => {
            let name = res.rsplit('/').next().unwrap_or_default();
            match caller {
                Caller::Role(r) if r.arn == p => PrincipalMatch::direct(Tri::Yes),
                Caller::Role(r) if r.account == acct && r.name.eq_ignore_ascii_case(name) => {
                    PrincipalMatch::direct(Tri::Unknown(format!(
                        "principal `{p}` names role {} by another path or case",
                        r.arn
                    )))
                }
                _ => PrincipalMatch::NONE,
            }
        }
        "sts" if res.starts_with("assumed-role/") => {
            let mut it = res.splitn(3, '/').skip(1);
            let (Some(role), Some(session)) = (it.next(), it.next()) else {
                return PrincipalMatch::NONE;
            };
            match caller {
                Caller::Role(r) if r.account == acct && r.name == role => match &r.session {
                    Some(s) => PrincipalMatch::direct(Tri::from_bool(s == session)),
                    None => PrincipalMatch::direct(Tri::Unknown(format!(
                        "principal `{p}` names one session of {}, and the session is not known",
                        r.arn
                    ))),
                },
                _ => PrincipalMatch::NONE,
            }
        }
        // Users, federated users, groups: never the caller of a flow.
        _ => PrincipalMatch::NONE,
    }
}

/// One entry of a `"Service"` principal.
fn service(p: &str, caller: &Caller) -> PrincipalMatch {
    match caller {
        Caller::Service(s) if s == p => PrincipalMatch::direct(Tri::Yes),
        Caller::Service(s) if s.eq_ignore_ascii_case(p) => PrincipalMatch::direct(Tri::Unknown(
            format!("service principal `{p}` differs from {s} in case only"),
        )),
        _ => PrincipalMatch::NONE,
    }
}

/// Length of the UTF-8 character that starts with byte `b`.
fn char_len(b: u8) -> usize {
    match b {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

/// `text` matches `pattern`, where `*` matches any run of characters and `?` any one.
/// Greedy with a single backtrack point, so linear in practice and allocation-free.
pub(crate) fn glob(text: &str, pattern: &str, ignore_case: bool) -> bool {
    let (t, p) = (text.as_bytes(), pattern.as_bytes());
    let same = |a: u8, b: u8| a == b || (ignore_case && a.eq_ignore_ascii_case(&b));
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                pi += 1;
                star = Some((pi, ti));
            }
            Some(b'?') => {
                ti += char_len(t[ti]);
                pi += 1;
            }
            Some(&c) if same(c, t[ti]) => {
                ti += 1;
                pi += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    let next = st + char_len(t[st]);
                    star = Some((sp, next));
                    pi = sp;
                    ti = next;
                }
                None => return false,
            },
        }
    }
    p[pi.min(p.len())..].iter().all(|&c| c == b'*')
}

fn split_colon(s: &str) -> (&str, Option<&str>) {
    match s.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    }
}

/// The Resource element's ARN matching: wildcards within colon-separated segments, and a
/// `*` ending a segment may also take in whole following segments.
pub(crate) fn resource_glob(text: &str, pattern: &str) -> bool {
    // Without a wildcard, segment-wise equality is string equality; with only a final
    // `*` (`arn:aws:s3:::b/*`), that `*` ends the last segment and takes in the rest of
    // the text, colons included, so the match is a prefix test.
    let wild = |b: &u8| matches!(b, b'*' | b'?');
    match pattern.as_bytes().iter().position(wild) {
        None => text == pattern,
        Some(i) if i + 1 == pattern.len() && pattern.as_bytes()[i] == b'*' => {
            text.starts_with(&pattern[..i])
        }
        Some(_) => segments_glob(text, pattern),
    }
}

fn segments_glob(text: &str, pattern: &str) -> bool {
    let (ps, p_rest) = split_colon(pattern);
    let (ts, t_rest) = split_colon(text);
    if !glob(ts, ps, false) {
        return false;
    }
    if ps.ends_with('*') {
        let Some(pr) = p_rest else { return true };
        let mut rest = t_rest;
        while let Some(r) = rest {
            if segments_glob(r, pr) {
                return true;
            }
            rest = split_colon(r).1;
        }
        false
    } else {
        match (p_rest, t_rest) {
            (None, None) => true,
            (Some(pr), Some(tr)) => segments_glob(tr, pr),
            _ => false,
        }
    }
}

/// `ArnEquals`/`ArnLike`: each of the six colon-delimited components checked separately,
/// each with `*` and `?` ("IAM JSON policy elements: Condition operators", ARN condition
/// operators). A value with fewer than six components is not an ARN and matches nothing.
pub(crate) fn arn_like(text: &str, pattern: &str) -> bool {
    // Without a wildcard, component-wise equality is string equality (a shared artifact
    // key's policy lists hundreds of role ARNs: this is the path almost every value takes).
    if !pattern.contains(['*', '?']) {
        return text == pattern && text.bytes().filter(|b| *b == b':').count() >= 5;
    }
    let (mut t, mut p) = (text.splitn(6, ':'), pattern.splitn(6, ':'));
    (0..6).all(|_| matches!((t.next(), p.next()), (Some(a), Some(b)) if glob(a, b, false)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_wildcards() {
        let cases = [
            ("s3:GetObject", "s3:Get*", true, true),
            ("s3:GetObject", "S3:getobject", true, true),
            ("s3:GetObject", "S3:getobject", false, false),
            ("s3:GetObject", "s3:Get?bject", false, true),
            ("s3:GetObject", "s3:Put*", true, false),
            ("s3:GetObject", "*", false, true),
            ("", "*", false, true),
            ("", "?", false, false),
            ("abc", "a*c*", false, true),
            ("abcbd", "a*bd", false, true),
            ("aXé", "aX?", false, true),
            ("é", "??", false, false),
            ("sts:AssumeRole", "sts:AssumeRoleWith*", true, false),
        ];
        for (text, pattern, ci, want) in cases {
            assert_eq!(glob(text, pattern, ci), want, "{text} ~ {pattern}");
        }
    }

    /// The fast paths of `resource_glob` (no wildcard; only a final `*`) answer as the
    /// segment match they stand in for.
    #[test]
    fn fast_paths_answer_as_the_segment_match() {
        let texts = [
            "arn:aws:s3:::b",
            "arn:aws:s3:::b/",
            "arn:aws:s3:::b/x/y",
            "arn:aws:s3:::b/x:y",
            "arn:aws:s3:::bb/x",
            "arn:aws:logs:us-east-1:1:log-group:g:log-stream:s",
            "a:b",
            "",
        ];
        let patterns = [
            "arn:aws:s3:::b",
            "arn:aws:s3:::b/*",
            "arn:aws:s3:::b*",
            "arn:aws:s3:::*",
            "arn:aws:logs:us-east-1:1:log-group:*",
            "arn:aws:logs:us-east-1:1:log-group:g:*",
            "a:b:*",
            "*",
            "",
        ];
        for t in texts {
            for p in patterns {
                assert_eq!(resource_glob(t, p), segments_glob(t, p), "{t} ~ {p}");
            }
        }
    }

    /// "IAM JSON policy elements: Resource", Using wildcards in resource ARNs: the
    /// pattern `amzn-s3-demo-bucket/*/test/*` and the object keys it does and does not
    /// match; and the segment rule (`*` ending a segment may cross colons).
    #[test]
    fn resource_wildcards_follow_the_documented_examples() {
        let pattern = "arn:aws:s3:::amzn-s3-demo-bucket/*/test/*";
        let key = |k: &str| format!("arn:aws:s3:::amzn-s3-demo-bucket/{k}");
        for k in [
            "1/test/object.jpg",
            "1/2/test/3/object.jpg",
            "1/2/test/3/4/object.jpg",
            "1///test///object.jpg",
            "1/test/.jpg",
            "//test/object.jpg",
            "1/test/",
        ] {
            assert!(resource_glob(&key(k), pattern), "{k} should match");
        }
        for k in ["1-test/object.jpg", "test/object.jpg", "1/2/test.jpg"] {
            assert!(!resource_glob(&key(k), pattern), "{k} should not match");
        }
        let cases = [
            (
                "arn:aws:iam::111111111111:user/accounting/bob",
                "arn:aws:iam::111111111111:user/accounting/*",
                true,
            ),
            (
                "arn:aws:iam::111111111111:user/bob",
                "arn:aws:iam::111111111111:user/accounting/*",
                false,
            ),
            (
                "arn:aws:logs:us-east-1:111111111111:log-group:g:log-stream:s",
                "arn:aws:logs:us-east-1:111111111111:log-group:*",
                true,
            ),
            (
                "arn:aws:logs:us-east-1:111111111111:log-group:g:log-stream:s",
                "arn:aws:logs:us-east-1:111111111111:log-group:g",
                false,
            ),
            (
                "arn:aws:sqs:us-east-2:111111111111:queue1",
                "arn:aws:sqs:*:111111111111:queue1",
                true,
            ),
            (
                "arn:aws:sqs:us-east-2:111111111111:queue1",
                "arn:aws:sqs:us-*-2:111111111111:queue1",
                true,
            ),
            // A `*` inside a segment does not cross a colon.
            (
                "arn:aws:sqs:us-east-2:111111111111:queue1",
                "arn:aws:sqs:us*2:queue1",
                false,
            ),
            (
                "arn:aws:sqs:us-east-2:111111111111:queue1",
                "arn:aws:sqs:*",
                true,
            ),
            ("arn:aws:sqs:us-east-2:111111111111:queue1", "*", true),
            (
                "arn:aws:sqs:us-east-2:111111111111:queue1",
                "arn:aws:sqs:us-east-2:222222222222:*",
                false,
            ),
            // ARNs are case-sensitive.
            ("arn:aws:s3:::Bucket/key", "arn:aws:s3:::bucket/*", false),
        ];
        for (text, pattern, want) in cases {
            assert_eq!(resource_glob(text, pattern), want, "{text} ~ {pattern}");
        }
    }

    #[test]
    fn a_reference_covers_only_the_resource_it_names() {
        let key = "arn:aws:kms:us-east-1:111111111111:key/known-after-apply";
        let me = "${tools/us-east-1/kms_key.a.arn}";
        let names = [me];
        assert_eq!(resource_pattern(key, &names, me), Tri::Yes);
        assert_eq!(
            resource_pattern(key, &names, "${tools/us-east-1/kms_key.b.arn}"),
            Tri::No
        );
        assert_eq!(resource_pattern(key, &[], me), Tri::No);
        // A policy variable is not a reference: still unknown.
        assert!(matches!(
            resource_pattern(key, &names, "arn:aws:kms:*:${aws:PrincipalAccount}:key/*"),
            Tri::Unknown(_)
        ));
    }

    #[test]
    fn arn_condition_matching_is_per_component() {
        let rule = "arn:aws:events:us-east-1:111111111111:rule/acme-bus/r1";
        assert!(arn_like(rule, rule));
        assert!(arn_like(
            rule,
            "arn:aws:events:*:111111111111:rule/acme-bus/*"
        ));
        assert!(!arn_like(rule, "arn:aws:events:*:222222222222:rule/*"));
        assert!(!arn_like("not-an-arn", "*"));
        assert!(arn_like(rule, "arn:*:*:*:*:*"));
        // Equal text that is not an ARN matches no ARN pattern, with or without wildcards.
        assert!(!arn_like("arn:aws:s3", "arn:aws:s3"));
        assert!(!arn_like(
            rule,
            "arn:aws:events:us-east-1:111111111111:rule/acme-bus/r2"
        ));
    }
}
