//! Source actions: the kind of source (one module each) says what the action declares,
//! in which account the source lives and what reading it takes; this module decides who
//! reads it: the pipeline role in its own account, otherwise a source role there that
//! the pipeline role assumes and that writes the source artifact into the pipeline's
//! artifact store.

pub(in crate::expand) mod codecommit;
mod connection;
mod s3;

use super::{Pipe, Purpose};
use crate::expand::{Ex, StoreUse};
use crate::model::{Action, Key, Source};
use crate::resource::{ActionSpec, Address};

/// The declaration of a source action and the account its source lives in.
struct Declared {
    spec: ActionSpec,
    account: Key,
}

pub(super) fn declare(
    ex: &mut Ex,
    p: &mut Pipe,
    act: &Action,
    src: &Source,
    base: ActionSpec,
) -> ActionSpec {
    let Declared { mut spec, account } = match src {
        Source::S3 { bucket, key } => s3::declare(ex, p, bucket, key, base),
        Source::CodeCommit {
            account,
            region,
            repository,
            branch,
        } => codecommit::declare(
            ex,
            codecommit::Watch {
                account: account.clone(),
                region: region.clone(),
                repository: repository.clone(),
                branch: branch.clone(),
                pipeline: p.pl.key.clone(),
                origin: act.origin.clone(),
            },
            base,
        ),
        Source::Connection {
            arn,
            repository,
            branch,
        } => connection::declare(ex, p, arn, repository, branch, base),
    };
    let reader = reader(ex, p, act, &account, &mut spec);
    match src {
        Source::S3 { bucket, key } => s3::grant(ex, &reader, bucket, key),
        Source::CodeCommit {
            account,
            region,
            repository,
            ..
        } => codecommit::grant(ex, &reader, account, region, repository),
        Source::Connection { .. } => {}
    }
    spec
}

/// The identity that reads the source: the pipeline role, or a role in the source's
/// account that the pipeline role assumes (declared as the action's `roleArn`).
fn reader(
    ex: &mut Ex,
    p: &mut Pipe,
    act: &Action,
    account: &Key,
    spec: &mut ActionSpec,
) -> Address {
    if *account == p.pl.account {
        return p.role.clone();
    }
    let (role, arn) = ex.pipeline_role(p, Purpose::Source, account, &act.origin);
    ex.use_store(
        &role,
        &arn,
        &p.pl.account,
        &p.pl.region,
        StoreUse::ReadWrite,
        &act.origin,
    );
    spec.role_arn = Some(arn);
    role
}

#[cfg(test)]
mod tests {
    use crate::expand::actions::testing::*;
    use serde_json::json;

    /// A CodeCommit source in `app` for a pipeline in `tools`.
    fn topology() -> String {
        format!(
            r#"{HEAD}
pipelines:
  main:
    account: tools
    source: {{ codecommit: {{ account: app, repository: app, branch: main }} }}
    stages:
      - {{ name: Build, actions: [{{ name: build, build: {{ project: app-build }} }}] }}
"#
        )
    }

    const OBJECTS: &str = "arn:aws:s3:::t-artifacts-111111111111-us-east-1/*";
    const SOURCE_ROLE: &str = "arn:aws:iam::222222222222:role/tether/t/t-main-source";

    /// A source role in another account uploads the source artifact with an ACL header,
    /// which S3 authorizes as `s3:PutObjectAcl` (S3 API Reference, PutObject,
    /// "Permissions"); both its own policy and the bucket policy must allow it.
    #[test]
    fn a_source_role_in_another_account_may_write_artifacts_with_their_acl() {
        let e = expand(&topology());
        assert_eq!(
            sid(&e, "t-main-source", "ArtifactsReadWrite").unwrap(),
            json!({
                "Sid": "ArtifactsReadWrite",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectAcl"],
                "Resource": OBJECTS
            })
        );
        let bucket = "t-artifacts-111111111111-us-east-1";
        let acl = managed(&e, "s3_bucket", bucket, "_ArtifactsWriteAcl").unwrap();
        assert_eq!(acl["Action"], json!("s3:PutObjectAcl"));
        assert_eq!(acl["Resource"], json!(OBJECTS));
        assert!(acl["Principal"]["AWS"]
            .as_array()
            .unwrap()
            .contains(&json!(SOURCE_ROLE)));
        let meta = managed(&e, "s3_bucket", bucket, "_ArtifactsBucket").unwrap();
        assert_eq!(
            meta["Action"],
            json!([
                "s3:GetBucketAcl",
                "s3:GetBucketLocation",
                "s3:GetBucketVersioning"
            ])
        );
        assert_eq!(
            sid(&e, "t-main-source", "ArtifactBuckets").unwrap()["Action"],
            meta["Action"]
        );
    }

    /// The pipeline role gets what "Manage the CodePipeline service role" lists for the
    /// artifact buckets, on its own buckets only.
    #[test]
    fn the_pipeline_role_may_do_what_the_service_role_policy_lists_on_its_artifacts() {
        let e = expand(&topology());
        assert_eq!(
            sid(&e, "t-main-pipeline", "ArtifactsReadWrite").unwrap()["Action"],
            json!([
                "s3:GetObject",
                "s3:GetObjectVersion",
                "s3:PutObject",
                "s3:PutObjectAcl"
            ])
        );
        assert_eq!(
            sid(&e, "t-main-pipeline", "ArtifactBuckets").unwrap(),
            json!({
                "Sid": "ArtifactBuckets",
                "Effect": "Allow",
                "Action": ["s3:GetBucketAcl", "s3:GetBucketLocation", "s3:GetBucketVersioning"],
                "Resource": "arn:aws:s3:::t-artifacts-111111111111-us-east-1"
            })
        );
    }
}
