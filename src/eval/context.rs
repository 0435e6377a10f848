//! The request context: the condition keys a call carries, the keys it is known not to
//! carry, and, by default, ignorance of every other key.
//!
//! AWS evaluates a condition against the keys of the request context ("IAM JSON policy
//! elements: Condition operators": a key not present makes a positive operator false and a
//! negated one true). The evaluator must therefore know, for each key a policy tests,
//! whether the call carries it. A key the context neither sets nor declares absent is
//! *unknown*: a condition on it can go either way, and an answer that depends on it is
//! "cannot prove", never "allowed".
//!
//! Keys are matched case-insensitively ("Condition key names are not case-sensitive",
//! Condition element page; EventBridge's "Using IAM policy conditions" says the same).
//!
//! What services send, as the constructors below record it:
//! - EventBridge, when it assumes a target's role, sends `aws:SourceArn` = the rule's ARN
//!   and `aws:SourceAccount` = the rule's account (EventBridge User Guide, "Using IAM
//!   policy conditions in Amazon EventBridge": *aws:SourceArn — the ARN of the rule that
//!   sent the event; aws:SourceAccount — the account where the rule exists*).
//! - CodePipeline assumes its service role for a pipeline; the context records the
//!   pipeline's ARN and account as `aws:SourceArn`/`aws:SourceAccount`, the keys "AWS
//!   global condition context keys" describes for a service principal acting for one of
//!   its resources. CodePipeline's own pages ("Create the CodePipeline service role")
//!   show a trust policy without conditions, so no page confirms the exact ARN it sends:
//!   tether's derived trust tests only `aws:SourceAccount` there.
//! - `iam:PassRole` carries `iam:PassedToService`, the service the role is passed to
//!   (IAM User Guide, "IAM and AWS STS condition context keys", iam:PassedToService).
//! - A role session calling an API over the SDK uses TLS (`aws:SecureTransport` true) and
//!   carries no `aws:SourceArn`/`aws:SourceAccount`: those are set only when a service
//!   principal calls ("AWS global condition context keys", aws:SourceArn: *available only
//!   when a call is made directly by an AWS service principal*).

/// What a context says of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup<'a> {
    /// One value (the common case, and every key the evaluator derives itself).
    One(&'a str),
    /// Several values (a multivalued key such as `kms:ResourceAliases`); may be empty.
    Many(&'a [String]),
    /// The call does not carry the key.
    Absent,
    /// Nobody said whether the call carries the key.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Values(Vec<String>),
    Absent,
}

/// The condition keys of one request, as far as they are known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    entries: Vec<(String, Entry)>,
}

impl Context {
    /// A context that knows nothing: every key a condition tests is unknown.
    pub fn new() -> Self {
        Self::default()
    }

    fn put(mut self, key: &str, entry: Entry) -> Self {
        match self
            .entries
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
        {
            Some((_, e)) => *e = entry,
            None => self.entries.push((key.to_string(), entry)),
        }
        self
    }

    /// The call carries `key` with this one value.
    pub fn with(self, key: &str, value: impl Into<String>) -> Self {
        self.put(key, Entry::Values(vec![value.into()]))
    }

    /// The call carries the multivalued `key` with these values (possibly none).
    pub fn with_list<S: Into<String>>(
        self,
        key: &str,
        values: impl IntoIterator<Item = S>,
    ) -> Self {
        self.put(
            key,
            Entry::Values(values.into_iter().map(Into::into).collect()),
        )
    }

    /// The call carries a Boolean `key`.
    pub fn with_bool(self, key: &str, value: bool) -> Self {
        self.with(key, if value { "true" } else { "false" })
    }

    /// The call is known not to carry `key`.
    pub fn without(self, key: &str) -> Self {
        self.put(key, Entry::Absent)
    }

    /// What the context says of `key` (case-insensitive).
    pub(crate) fn get(&self, key: &str) -> Lookup<'_> {
        match self
            .entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
        {
            Some((_, Entry::Values(v))) if v.len() == 1 => Lookup::One(&v[0]),
            Some((_, Entry::Values(v))) => Lookup::Many(v),
            Some((_, Entry::Absent)) => Lookup::Absent,
            None => Lookup::Unknown,
        }
    }

    /// A role session calling an AWS API directly (SDK, CLI, a service's run-time role
    /// acting for itself): over TLS, not on behalf of a service principal.
    pub fn role_call() -> Self {
        Context::new()
            .with_bool("aws:SecureTransport", true)
            .without("aws:SourceArn")
            .without("aws:SourceAccount")
    }

    /// A service principal assuming a role (or calling a resource) on behalf of one of its
    /// resources: EventBridge for a rule (`source_arn` = the rule's ARN), CodePipeline for
    /// a pipeline (the pipeline's ARN). `source_account` owns that resource.
    pub fn service_call(source_arn: &str, source_account: &str) -> Self {
        Context::new()
            .with_bool("aws:SecureTransport", true)
            .with("aws:SourceArn", source_arn)
            .with("aws:SourceAccount", source_account)
    }

    /// `iam:PassRole` of a role to `service` (for example `cloudformation.amazonaws.com`).
    pub fn passing_to(self, service: &str) -> Self {
        self.with("iam:PassedToService", service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive_and_unset_keys_unknown() {
        let c = Context::new()
            .with(
                "aws:SourceArn",
                "arn:aws:events:us-east-1:111111111111:rule/r",
            )
            .without("aws:SourceAccount")
            .with_list("kms:ResourceAliases", ["alias/a", "alias/b"]);
        assert_eq!(
            c.get("AWS:SOURCEARN"),
            Lookup::One("arn:aws:events:us-east-1:111111111111:rule/r")
        );
        assert_eq!(c.get("aws:sourceaccount"), Lookup::Absent);
        assert!(matches!(c.get("kms:resourcealiases"), Lookup::Many(v) if v.len() == 2));
        assert_eq!(c.get("aws:PrincipalOrgID"), Lookup::Unknown);
    }

    #[test]
    fn a_later_setting_replaces_an_earlier_one() {
        let c = Context::role_call().with("aws:SourceArn", "x");
        assert_eq!(c.get("aws:sourcearn"), Lookup::One("x"));
    }
}
