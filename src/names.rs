//! AWS naming rules, and derived names that always fit them.
//!
//! Every rule here is a pure function returning what is wrong in words a user can act
//! on. Derived names are deterministic: too-long names are cut and given a stable hash
//! suffix of the full name, so two long names never collapse into one.

use sha2::{Digest, Sha256};

/// Maximum lengths of the names tether derives.
pub const IAM_ROLE_MAX: usize = 64;
pub const S3_BUCKET_MAX: usize = 63;
pub const RULE_MAX: usize = 64;
pub const BUS_MAX: usize = 256;
pub const PIPELINE_MAX: usize = 100;
pub const KMS_ALIAS_MAX: usize = 256;
/// SQS queue names: 1 to 80 alphanumerics, hyphens and underscores (SQS API
/// reference, CreateQueue, `QueueName`).
pub const SQS_QUEUE_MAX: usize = 80;

/// Joins `parts` with `-`; when the result is longer than `max`, keeps a readable head
/// and appends `-` and eight hex digits of the SHA-256 of the full name.
pub fn fit(parts: &[&str], max: usize) -> String {
    let full = parts.join("-");
    if full.len() <= max {
        return full;
    }
    let digest = Sha256::digest(full.as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let keep = max - hash.len() - 1;
    let mut head: String = full.chars().take(keep).collect();
    while head.ends_with(['-', '.', '_']) {
        head.pop();
    }
    format!("{head}-{hash}")
}

fn chars_ok(s: &str, ok: impl Fn(char) -> bool) -> Option<char> {
    s.chars().find(|c| !ok(*c))
}

fn length(s: &str, what: &str, min: usize, max: usize) -> Result<(), String> {
    let n = s.chars().count();
    if n < min || n > max {
        return Err(format!(
            "{what} `{s}` is {n} characters long; it must be {min} to {max}"
        ));
    }
    Ok(())
}

/// Topology name: it prefixes S3 bucket names and ownership `Sid`s, so it uses the
/// strictest alphabet of them all.
pub fn topology_name(s: &str) -> Result<(), String> {
    length(s, "topology name", 1, 24)?;
    if let Some(c) = chars_ok(s, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
    }) {
        return Err(format!(
            "topology name `{s}` contains `{c}`; use lowercase letters, digits and hyphens"
        ));
    }
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) || s.ends_with('-') || s.contains("--") {
        return Err(format!(
            "topology name `{s}` must start with a letter, not end with a hyphen, and not contain `--`"
        ));
    }
    Ok(())
}

/// Keys of topology entries (accounts, buckets, pipelines, …): they become parts of
/// derived names and addresses.
pub fn entry_key(s: &str) -> Result<(), String> {
    length(s, "name", 1, 64)?;
    if let Some(c) = chars_ok(s, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
    }) {
        return Err(format!(
            "name `{s}` contains `{c}`; entry names use lowercase letters, digits and hyphens"
        ));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err(format!("name `{s}` must not start or end with a hyphen"));
    }
    Ok(())
}

pub fn account_id(s: &str) -> Result<(), String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!("account id `{s}` is not a 12-digit string"))
    }
}

/// S3 general purpose bucket naming rules.
pub fn s3_bucket(s: &str) -> Result<(), String> {
    length(s, "bucket name", 3, S3_BUCKET_MAX)?;
    if let Some(c) = chars_ok(s, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
    }) {
        return Err(format!(
            "bucket name `{s}` contains `{c}`; S3 allows lowercase letters, digits, dots and hyphens"
        ));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge_ok(s.chars().next()) || !edge_ok(s.chars().last()) {
        return Err(format!(
            "bucket name `{s}` must begin and end with a letter or digit"
        ));
    }
    if s.contains("..") || s.contains(".-") || s.contains("-.") {
        return Err(format!(
            "bucket name `{s}` must not contain `..`, `.-` or `-.`"
        ));
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() == 4 && parts.iter().all(|p| p.parse::<u8>().is_ok()) {
        return Err(format!(
            "bucket name `{s}` must not look like an IP address"
        ));
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if s.starts_with(prefix) {
            return Err(format!(
                "bucket name `{s}` must not start with `{prefix}` (reserved by S3)"
            ));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if s.ends_with(suffix) {
            return Err(format!(
                "bucket name `{s}` must not end with `{suffix}` (reserved by S3)"
            ));
        }
    }
    Ok(())
}

pub fn iam_role(s: &str) -> Result<(), String> {
    length(s, "role name", 1, IAM_ROLE_MAX)?;
    if let Some(c) = chars_ok(s, |c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)) {
        return Err(format!(
            "role name `{s}` contains `{c}`; IAM allows letters, digits and `+=,.@_-`"
        ));
    }
    Ok(())
}

pub fn event_rule(s: &str) -> Result<(), String> {
    length(s, "rule name", 1, RULE_MAX)?;
    if let Some(c) = chars_ok(s, |c| c.is_ascii_alphanumeric() || ".-_".contains(c)) {
        return Err(format!(
            "rule name `{s}` contains `{c}`; EventBridge allows letters, digits and `.-_`"
        ));
    }
    Ok(())
}

pub fn event_bus(s: &str) -> Result<(), String> {
    length(s, "event bus name", 1, BUS_MAX)?;
    if s == "default" {
        return Err("`default` is the account's own bus; give a custom bus another name".into());
    }
    if let Some(c) = chars_ok(s, |c| c.is_ascii_alphanumeric() || ".-_".contains(c)) {
        return Err(format!(
            "event bus name `{s}` contains `{c}`; EventBridge allows letters, digits and `.-_`"
        ));
    }
    Ok(())
}

/// Pipeline, stage and action names share CodePipeline's alphabet.
pub fn codepipeline(s: &str, what: &str) -> Result<(), String> {
    length(s, what, 1, PIPELINE_MAX)?;
    if let Some(c) = chars_ok(s, |c| c.is_ascii_alphanumeric() || ".@-_".contains(c)) {
        return Err(format!(
            "{what} `{s}` contains `{c}`; CodePipeline allows letters, digits and `.@-_`"
        ));
    }
    Ok(())
}

pub fn pipeline_variable(s: &str) -> Result<(), String> {
    length(s, "variable name", 1, 128)?;
    if let Some(c) = chars_ok(s, |c| c.is_ascii_alphanumeric() || "@-_".contains(c)) {
        return Err(format!(
            "variable name `{s}` contains `{c}`; CodePipeline allows letters, digits and `@-_`"
        ));
    }
    Ok(())
}

pub fn stack(s: &str) -> Result<(), String> {
    length(s, "stack name", 1, 128)?;
    if !s.starts_with(|c: char| c.is_ascii_alphabetic())
        || chars_ok(s, |c| c.is_ascii_alphanumeric() || c == '-').is_some()
    {
        return Err(format!(
            "stack name `{s}` must start with a letter and contain only letters, digits and hyphens"
        ));
    }
    Ok(())
}

pub fn codebuild_project(s: &str) -> Result<(), String> {
    length(s, "CodeBuild project name", 2, 255)?;
    if !s.starts_with(|c: char| c.is_ascii_alphanumeric())
        || chars_ok(s, |c| c.is_ascii_alphanumeric() || "-_".contains(c)).is_some()
    {
        return Err(format!(
            "CodeBuild project name `{s}` must start with a letter or digit and contain only letters, digits, `-` and `_`"
        ));
    }
    Ok(())
}

pub fn codecommit_repository(s: &str) -> Result<(), String> {
    length(s, "repository name", 1, 100)?;
    if let Some(c) = chars_ok(s, |c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        return Err(format!(
            "repository name `{s}` contains `{c}`; CodeCommit allows letters, digits and `._-`"
        ));
    }
    Ok(())
}

pub fn lambda_function(s: &str) -> Result<(), String> {
    length(s, "function name", 1, 64)?;
    if let Some(c) = chars_ok(s, |c| c.is_ascii_alphanumeric() || "-_".contains(c)) {
        return Err(format!(
            "function name `{s}` contains `{c}`; Lambda allows letters, digits, `-` and `_`"
        ));
    }
    Ok(())
}

/// Tag keys and values as S3, IAM, KMS, EventBridge and CodePipeline all accept them.
pub fn tag(key: &str, value: &str) -> Result<(), String> {
    length(key, "tag key", 1, 128)?;
    if value.chars().count() > 256 {
        return Err(format!(
            "tag `{key}` has a value longer than 256 characters"
        ));
    }
    let lower = key.to_ascii_lowercase();
    if lower.starts_with("aws:") {
        return Err(format!("tag key `{key}` uses the reserved `aws:` prefix"));
    }
    if lower.starts_with("tether:") {
        return Err(format!(
            "tag key `{key}` uses the `tether:` prefix, which tether keeps for ownership"
        ));
    }
    let ok = |c: char| c.is_alphanumeric() || " +-=._:/@".contains(c);
    if let Some(c) = chars_ok(key, ok).or_else(|| chars_ok(value, ok)) {
        return Err(format!(
            "tag `{key}` contains `{c}`; tags allow letters, digits, spaces and `+-=._:/@`"
        ));
    }
    Ok(())
}

/// The parts of an ARN: `arn:partition:service:region:account:resource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

pub fn arn(s: &str) -> Option<Arn<'_>> {
    let mut it = s.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(region), Some(account), Some(resource)) = (
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
    ) else {
        return None;
    };
    if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov")
        || service.is_empty()
        || resource.is_empty()
    {
        return None;
    }
    Some(Arn {
        partition,
        service,
        region,
        account,
        resource,
    })
}

/// An IAM role ARN (`arn:aws:iam::123456789012:role/path/name`).
pub fn role_arn(s: &str) -> Result<Arn<'_>, String> {
    match arn(s) {
        Some(a)
            if a.service == "iam"
                && a.region.is_empty()
                && account_id(a.account).is_ok()
                && a.resource.starts_with("role/")
                && iam_role(a.resource.rsplit('/').next().unwrap_or("")).is_ok() =>
        {
            Ok(a)
        }
        _ => Err(format!(
            "`{s}` is not an IAM role ARN (arn:aws:iam::<12-digit id>:role/<name>)"
        )),
    }
}

/// Any IAM principal ARN: a role, a user or an account root.
pub fn principal_arn(s: &str) -> Result<(), String> {
    match arn(s) {
        Some(a)
            if (a.service == "iam" || a.service == "sts")
                && account_id(a.account).is_ok()
                && (a.resource == "root"
                    || a.resource.starts_with("role/")
                    || a.resource.starts_with("user/")
                    || a.resource.starts_with("assumed-role/")) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "`{s}` is not an IAM principal ARN (a role, user or account root)"
        )),
    }
}

pub fn managed_policy_arn(s: &str) -> Result<(), String> {
    match arn(s) {
        Some(a)
            if a.service == "iam"
                && a.region.is_empty()
                && (a.account == "aws" || account_id(a.account).is_ok())
                && a.resource.starts_with("policy/") =>
        {
            Ok(())
        }
        _ => Err(format!(
            "`{s}` is not a managed policy ARN (arn:aws:iam::aws:policy/<name> or arn:aws:iam::<id>:policy/<name>)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_short_names_and_hashes_long_ones() {
        assert_eq!(fit(&["acme", "app", "pipeline"], 64), "acme-app-pipeline");
        let long = "x".repeat(80);
        let a = fit(&["acme", &long, "pipeline"], 64);
        let b = fit(&["acme", &long, "pipelinf"], 64);
        assert_eq!(a.len(), 64);
        assert_ne!(a, b, "names differing only past the cut must not collide");
        assert_eq!(a, fit(&["acme", &long, "pipeline"], 64), "deterministic");
    }

    /// Golden values: there is no state file, so a change to `fit` would rename live
    /// resources and orphan the old ones. These were computed independently (SHA-256 of
    /// the joined name, first four bytes in hex, head cut at `max - 9` without trailing
    /// separators); change them only together with a migration of existing names.
    #[test]
    fn shortened_names_are_pinned() {
        for (parts, max, name) in [
            (
                &["acme", "rebuild-service-when-the-platform-base-images-are-republished", "forward"][..],
                IAM_ROLE_MAX,
                "acme-rebuild-service-when-the-platform-base-images-are-db8aa0c0",
            ),
            (
                &["acme", "rebuild-service-when-the-platform-base-images-are-republished", "start"][..],
                RULE_MAX,
                "acme-rebuild-service-when-the-platform-base-images-are-50538f37",
            ),
            (
                &["acme", "artifacts", "111111111111", "ap-southeast-2", "and-a-long-suffix-for-the-bucket"][..],
                S3_BUCKET_MAX,
                "acme-artifacts-111111111111-ap-southeast-2-and-a-long-1b6b4146",
            ),
            (
                &["acme", &"x".repeat(80), "pipeline"][..],
                64,
                "acme-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-578bb858",
            ),
            (
                &["acme", &"p".repeat(120)][..],
                PIPELINE_MAX,
                "acme-pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp-96dfd315",
            ),
        ] {
            assert_eq!(fit(parts, max), name, "{parts:?}");
            assert!(name.len() <= max);
        }
    }

    #[test]
    fn bucket_rules() {
        assert!(s3_bucket("acme-app-uploads").is_ok());
        assert!(s3_bucket("Acme").is_err());
        assert!(s3_bucket("ab").is_err());
        assert!(s3_bucket("192.168.1.1").is_err());
        assert!(s3_bucket("a..b").is_err());
        assert!(s3_bucket("xn--abc").is_err());
        assert!(s3_bucket("abc-s3alias").is_err());
        assert!(s3_bucket("-abc").is_err());
    }

    #[test]
    fn arns() {
        assert!(role_arn("arn:aws:iam::444444444444:role/Deploy").is_ok());
        assert!(role_arn("arn:aws:iam::444444444444:role/path/Deploy").is_ok());
        assert!(role_arn("arn:aws:iam::44444:role/Deploy").is_err());
        assert!(role_arn("arn:aws:s3:::bucket").is_err());
        assert!(managed_policy_arn("arn:aws:iam::aws:policy/PowerUserAccess").is_ok());
        assert!(managed_policy_arn("PowerUserAccess").is_err());
    }

    #[test]
    fn tags() {
        assert!(tag("team", "platform").is_ok());
        assert!(tag("aws:x", "y").is_err());
        assert!(tag("tether:address", "y").is_err());
        assert!(tag("a", "b;c").is_err());
    }
}
