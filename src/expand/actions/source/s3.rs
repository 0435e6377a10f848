//! An S3 object as the source (CodePipeline's `S3` source action).

use super::{Declared, Pipe};
use crate::expand::cfg;
use crate::expand::policy::Statement;
use crate::expand::resource::{ActionSpec, Address};
use crate::expand::Ex;
use crate::model::Key;

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

pub(super) fn grant(ex: &mut Ex, reader: &Address, bucket: &Key, key: &str) {
    let b = &ex.t.buckets[bucket];
    let barn = format!("arn:{}:s3:::{}", b.region.partition(), b.name);
    ex.grant(
        reader,
        "tether",
        Statement::allow(["s3:GetObject", "s3:GetObjectVersion"])
            .sid("SourceObjects")
            .on([format!("{barn}/{key}")]),
    );
    ex.grant(
        reader,
        "tether",
        Statement::allow(["s3:GetBucketVersioning"])
            .sid("SourceBuckets")
            .on([barn]),
    );
}
