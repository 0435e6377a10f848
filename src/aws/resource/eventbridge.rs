//! What the EventBridge kinds (bus, rule, target) share: their tags, read and written
//! the same way for buses and rules.

use crate::aws::read::tag_map;
use crate::aws::write::{sdk, tag_list, Writer};
use crate::aws::{AwsError, Clients};
use crate::plan::ResourceChange;
use crate::resource::Resource;
use std::collections::BTreeMap;

/// A resource's tags as EventBridge takes them.
pub(crate) fn tags(r: &Resource) -> Vec<aws_sdk_eventbridge::types::Tag> {
    tag_list(&r.tags, |k, v| {
        aws_sdk_eventbridge::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
    })
}

/// The tags of a bus or rule, by ARN.
pub(crate) async fn read_tags(
    c: &Clients,
    arn: &str,
    context: &str,
) -> Result<BTreeMap<String, String>, AwsError> {
    let t = c
        .events
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("{context}: reading tags"), e))?;
    Ok(tag_map(t.tags(), |t| (t.key(), t.value())))
}

/// Brings a bus's or rule's tags in line: removes the keys no longer wanted, writes the rest.
pub(crate) async fn update_tags(
    w: &Writer<'_>,
    r: &Resource,
    arn: &str,
    change: &ResourceChange,
) -> Result<(), AwsError> {
    let ev = &w.clients.events;
    let a = &r.address;
    let untag = |keys| async {
        let req = ev
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys));
        req.send().await.map(drop).map_err(sdk(a, "removing tags"))
    };
    let req = ev.tag_resource().resource_arn(arn).set_tags(Some(tags(r)));
    let tag = async { req.send().await.map(drop).map_err(sdk(a, "writing tags")) };
    crate::aws::write::retag(change, r, untag, tag).await
}
