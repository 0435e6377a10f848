//! An S3 object as the source (CodePipeline's `S3` source action).

use super::{Declared, Pipe};
use crate::expand::cfg;
use crate::expand::Ex;
use crate::model::Key;
use crate::resource::{ActionSpec, Address};

pub(super) fn declare(
    ex: &mut Ex,
    p: &Pipe,
    bucket: &Key,
    key: &str,
    base: ActionSpec,
) -> Declared {
    ex.source_buckets.insert(bucket.clone());
    let b = &ex.t.buckets[bucket];
    // A pipeline that a trigger starts does not poll its source as well.
    let poll = if ex.triggered.contains(&p.pl.key) {
        "false"
    } else {
        "true"
    };
    Declared {
        spec: ActionSpec {
            category: "Source".into(),
            provider: "S3".into(),
            configuration: cfg(&[
                ("S3Bucket", b.name.as_str()),
                ("S3ObjectKey", key),
                ("PollForSourceChanges", poll),
            ]),
            ..base
        },
        account: b.account.clone(),
    }
}

/// What the S3 source action reference lists for the role that runs the action
/// ("Service role permissions: S3 source action",
/// https://docs.aws.amazon.com/codepipeline/latest/userguide/action-reference-S3.html),
/// on exactly the source object and its bucket.
pub(super) fn grant(ex: &mut Ex, reader: &Address, bucket: &Key, key: &str) {
    let b = &ex.t.buckets[bucket];
    let barn = format!("arn:{}:s3:::{}", b.region.partition(), b.name);
    ex.allow(
        reader,
        "SourceObjects",
        [
            "s3:GetObject",
            "s3:GetObjectTagging",
            "s3:GetObjectVersion",
            "s3:GetObjectVersionTagging",
        ],
        [format!("{barn}/{key}")],
    );
    ex.allow(
        reader,
        "SourceBuckets",
        [
            "s3:GetBucketAcl",
            "s3:GetBucketLocation",
            "s3:GetBucketVersioning",
        ],
        [barn],
    );
}
