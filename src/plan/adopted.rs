//! What an adopted resource asks of the plumbing that tether cannot derive from the
//! topology alone, said as plan warnings. Pure.
//!
//! An adopted bucket keeps its owner's default encryption. When that is SSE-KMS with a
//! customer key, every role that reads its objects also needs `kms:Decrypt` on that key
//! (to download an object encrypted with a KMS key "you need kms:Decrypt permissions on
//! the key": S3 user guide, "Using server-side encryption with AWS KMS keys (SSE-KMS)"),
//! allowed by the key's policy and, across accounts, by the role's own policy too.
//! tether does not manage that key or its policy,
//! so it says which roles need what, instead of granting half of it.

use super::{Plan, ResourceChange};
use crate::expand::policy::Effect;
use crate::expand::Expansion;
use crate::resource::{Encryption, Spec};

/// One warning per adopted bucket that a customer key encrypts and that roles of the
/// topology read.
pub fn customer_keys(plan: &Plan, expansion: &Expansion) -> Vec<String> {
    plan.changes
        .iter()
        .filter_map(|c| warning(c, expansion))
        .collect()
}

fn warning(c: &ResourceChange, expansion: &Expansion) -> Option<String> {
    let wanted = c.after.as_ref()?.bucket()?;
    if wanted.encryption.is_some() {
        return None;
    }
    let Spec::S3Bucket(live) = &c.before.as_ref()?.spec else {
        return None;
    };
    let Some(Encryption::AwsKms { key }) = &live.encryption else {
        return None;
    };
    // The AWS managed key `aws/s3`: its policy cannot be changed and lets the account's
    // principals use it through S3 (KMS developer guide, "AWS managed keys"), so there is
    // nothing to add to it.
    if key.is_empty() || key.ends_with("alias/aws/s3") {
        return None;
    }
    let objects = format!("{}/", wanted.arn);
    let readers: Vec<&str> = expansion
        .resources
        .iter()
        .filter_map(|r| r.role())
        .filter(|role| {
            role.inline_policies.values().any(|d| {
                d.statement.iter().any(|s| {
                    s.effect == Effect::Allow
                        && s.action.contains("s3:GetObject")
                        && s.resource
                            .as_ref()
                            .is_some_and(|rs| rs.iter().any(|r| r.starts_with(&objects)))
                })
            })
        })
        .map(|role| role.arn.as_str())
        .collect();
    if readers.is_empty() {
        return None;
    }
    Some(format!(
        "{}: the adopted bucket `{}` keeps its default encryption, SSE-KMS with key {key}; \
         tether does not manage that key, so it grants no use of it: {} read{} the bucket \
         and need{} `kms:Decrypt` on {key} in the key's policy and, for a role in another \
         account than the key, in the role's own policy too",
        c.address,
        wanted.name,
        readers.join(", "),
        if readers.len() == 1 { "s" } else { "" },
        if readers.len() == 1 { "s" } else { "" },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::diff::{diff, Options};
    use crate::state::{Observed, State};

    #[test]
    fn an_adopted_bucket_with_a_customer_key_names_the_roles_that_need_it() {
        let text = include_str!("../../docs/examples/flow1-upload-trigger.yaml").replace(
            "name: flow1-app-uploads }",
            "name: flow1-app-uploads, adopt: true }",
        );
        let e = crate::check_bytes(text.as_bytes(), "flow1.yaml")
            .unwrap()
            .expansion;
        let bucket = e.get("app/us-east-1/s3_bucket.flow1-app-uploads").unwrap();
        assert_eq!(
            bucket.bucket().unwrap().encryption,
            None,
            "adopted: left as it is"
        );
        let key = "arn:aws:kms:us-east-1:222222222222:key/their-key";
        let mut state = State::default();
        for r in &e.resources {
            state.resources.insert(r.address.clone(), None);
        }
        let live = |encryption: Encryption| {
            let mut o = Observed::as_created(bucket);
            o.owner = crate::state::Owner::Nobody;
            let Spec::S3Bucket(b) = &mut o.spec else {
                panic!()
            };
            b.encryption = Some(encryption);
            Some(o)
        };
        state.resources.insert(
            bucket.address.clone(),
            live(Encryption::AwsKms { key: key.into() }),
        );
        let plan = diff(&e, &state, "", &Options::default()).unwrap();
        let c = plan
            .changes
            .iter()
            .find(|c| c.address == bucket.address)
            .unwrap();
        assert!(
            !c.changes.iter().any(|f| f.field == "encryption"),
            "the owner's encryption is not drift: {:?}",
            c.changes
        );
        let warnings = customer_keys(&plan, &e);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains(key), "{}", warnings[0]);
        assert!(
            warnings[0]
                .contains("arn:aws:iam::222222222222:role/tether/flow1/flow1-release-source"),
            "the source role reads it: {}",
            warnings[0]
        );
        // SSE-S3, or the AWS managed key: nothing to say.
        state
            .resources
            .insert(bucket.address.clone(), live(Encryption::Aes256));
        let plan = diff(&e, &state, "", &Options::default()).unwrap();
        assert_eq!(customer_keys(&plan, &e), Vec::<String>::new());
    }
}
