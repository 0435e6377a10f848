//! SQS queues (the dead-letter queues of derived targets): listed by tether's name
//! prefix once per place (`ListQueues`), each listed queue's tags read for ownership
//! (`ListQueueTags`) and, when wanted or owned, its attributes (`GetQueueAttributes`:
//! policy, retention, encryption); created with their tags and attributes in one
//! `CreateQueue`, updated with `SetQueueAttributes` and `TagQueue`/`UntagQueue`, deleted
//! with `DeleteQueue`. The queue policy is merged like the other shared policies:
//! statements without tether's `Sid` prefix are kept. The spec:
//! `crate::resource::sqs_queue`.

use super::{Provider, ReadScope};
use crate::aws::read::{managed, policy, ReadCx};
use crate::aws::write::{changed, gone, sdk, tags_changed, Put, Writer};
use crate::aws::AwsError;
use crate::resource::{Address, Kind, QueueSpec, Spec};
use crate::state::{Observed, Owner};
use aws_sdk_sqs::types::QueueAttributeName as Attr;
use std::collections::BTreeMap;

/// "Not found" as SQS says it: its JSON protocol keeps the query protocol's error code
/// (`AWS.SimpleQueueService.NonExistentQueue`); the modelled name, should an endpoint
/// send that instead.
const NOT_FOUND: &[&str] = &[
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
];

/// The queue's name: the last segment of its URL (`https://sqs…/<account>/<name>`).
fn name_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

impl Provider for QueueSpec {
    const READ: ReadScope = ReadScope::Region;

    /// Queues with tether's prefix: wanted ones, and (discovery) owned ones that are not
    /// desired. One listing per place; tags and attributes per listed queue that
    /// matters.
    async fn read(cx: &ReadCx) -> Result<Vec<Observed>, AwsError> {
        let ctx = cx.context();
        let c = cx.clients();
        let mut urls: Vec<String> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let _p = cx.permit().await;
            // `MaxResults` makes SQS paginate (without it, at most 1,000 URLs and no
            // token: SQS API reference, ListQueues).
            let page = c
                .sqs
                .list_queues()
                .queue_name_prefix(cx.scope.name_prefix())
                .max_results(1000)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(format!("{ctx}: listing queues"), e))?;
            urls.extend(page.queue_urls().iter().cloned());
            token = page.next_token().map(String::from);
            if token.is_none() {
                break;
            }
        }
        let mut out = Vec::new();
        for url in urls {
            let name = name_of(&url).to_string();
            let address = Address::new(&cx.account, &cx.region, QueueSpec::KIND, &name);
            let is_desired = cx.desired.contains_key(&address);
            let is_wanted = cx.wanted.iter().any(|r| r.address == address);
            if is_desired && !is_wanted {
                continue;
            }
            let _p = cx.permit().await;
            let tags = match c.sqs.list_queue_tags().queue_url(&url).send().await {
                Ok(t) => t
                    .tags()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
                Err(e) => {
                    let e = AwsError::from_sdk(format!("{address}: reading tags"), e);
                    // Deleted since it was listed: absent.
                    if crate::aws::read::is_not_found(&e, NOT_FOUND) {
                        continue;
                    }
                    return Err(e);
                }
            };
            let owner = cx.scope.owner(&tags);
            if !is_desired && owner != Owner::This {
                continue;
            }
            let attrs = match c
                .sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(Attr::QueueArn)
                .attribute_names(Attr::Policy)
                .attribute_names(Attr::MessageRetentionPeriod)
                .attribute_names(Attr::SqsManagedSseEnabled)
                .send()
                .await
            {
                Ok(a) => a.attributes().cloned().unwrap_or_default(),
                Err(e) => {
                    let e = AwsError::from_sdk(format!("{address}: reading attributes"), e);
                    if crate::aws::read::is_not_found(&e, NOT_FOUND) {
                        continue;
                    }
                    return Err(e);
                }
            };
            let get = |a: &Attr| attrs.get(a).map(String::as_str);
            let doc = get(&Attr::Policy)
                .filter(|p| !p.is_empty())
                .map(|p| policy(p, &address.to_string()))
                .transpose()?;
            let (statements, foreign) = managed(doc, &cx.scope.sid_prefix());
            let spec = Spec::SqsQueue(QueueSpec {
                name: name.clone(),
                arn: get(&Attr::QueueArn).unwrap_or_default().to_string(),
                // SQS's default (4 days) when it does not say.
                message_retention_seconds: get(&Attr::MessageRetentionPeriod)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(345_600),
                sqs_managed_sse: get(&Attr::SqsManagedSseEnabled)
                    .is_some_and(|v| v.eq_ignore_ascii_case("true")),
                policy_statements: statements,
            });
            let mut o = cx.observed(address, spec, tags, owner);
            o.foreign_statements = foreign.len();
            o.foreign = foreign;
            o.id = Some(url);
            out.push(o);
        }
        Ok(out)
    }

    async fn put(x: &Self, p: Put<'_>) -> Result<(), AwsError> {
        let (w, r, change, create) = (p.w, p.r, p.change, p.create);
        let sqs = &w.clients.sqs;
        let a = &r.address;
        let fields = changed(change);
        let settings = |b: aws_sdk_sqs::operation::set_queue_attributes::builders::SetQueueAttributesFluentBuilder| {
            b.attributes(
                Attr::MessageRetentionPeriod,
                x.message_retention_seconds.to_string(),
            )
            .attributes(Attr::SqsManagedSseEnabled, x.sqs_managed_sse.to_string())
        };
        if create {
            let policy = w.merge(None, &x.policy_statements, a)?;
            let mut req = sqs
                .create_queue()
                .queue_name(&x.name)
                .attributes(
                    Attr::MessageRetentionPeriod,
                    x.message_retention_seconds.to_string(),
                )
                .attributes(Attr::SqsManagedSseEnabled, x.sqs_managed_sse.to_string())
                .set_tags(Some(r.tags.clone().into_iter().collect()));
            if let Some(policy) = policy {
                req = req.attributes(Attr::Policy, policy);
            }
            match req.send().await {
                Ok(_) => return Ok(()),
                Err(e) => {
                    let e = AwsError::from_sdk(format!("{a}: creating the queue"), e);
                    // There with other attributes (an earlier, interrupted apply that
                    // got further): write them, as an update of every field would.
                    if e.code() != Some("QueueAlreadyExists") {
                        return Err(e);
                    }
                }
            }
        }
        let url = sqs
            .get_queue_url()
            .queue_name(&x.name)
            .send()
            .await
            .map_err(sdk(a, "finding the queue"))?
            .queue_url()
            .unwrap_or_default()
            .to_string();
        let mut set = None;
        if create
            || fields.contains("message_retention_seconds")
            || fields.contains("sqs_managed_sse")
        {
            set = Some(settings(sqs.set_queue_attributes().queue_url(&url)));
        }
        if create || fields.contains("policy_statements") {
            let live = sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(Attr::Policy)
                .send()
                .await
                .map_err(sdk(a, "reading the queue policy"))?
                .attributes()
                .and_then(|m| m.get(&Attr::Policy).cloned());
            let policy = w
                .merge(live.as_deref(), &x.policy_statements, a)?
                // An empty value removes the policy (SQS API reference,
                // SetQueueAttributes).
                .unwrap_or_default();
            set = Some(
                set.unwrap_or_else(|| sqs.set_queue_attributes().queue_url(&url))
                    .attributes(Attr::Policy, policy),
            );
        }
        if let Some(req) = set {
            req.send()
                .await
                .map_err(sdk(a, "writing the queue attributes"))?;
        }
        if create || tags_changed(change) {
            let untag = |keys: Vec<String>| {
                let req = sqs.untag_queue().queue_url(&url).set_tag_keys(Some(keys));
                async move { req.send().await.map(drop).map_err(sdk(a, "removing tags")) }
            };
            let tags: BTreeMap<String, String> = r.tags.clone();
            let tag = sqs
                .tag_queue()
                .queue_url(&url)
                .set_tags(Some(tags.into_iter().collect()));
            let tag = async { tag.send().await.map(drop).map_err(sdk(a, "writing tags")) };
            crate::aws::write::retag(change, r, untag, tag).await?;
        }
        Ok(())
    }

    async fn delete(w: &Writer<'_>, o: &Observed, x: &Self) -> Result<(), AwsError> {
        let a = &o.address;
        let sqs = &w.clients.sqs;
        let url = match &o.id {
            Some(url) => url.clone(),
            None => {
                let found = sqs
                    .get_queue_url()
                    .queue_name(&x.name)
                    .send()
                    .await
                    .map_err(sdk(a, "finding the queue"));
                match found {
                    Ok(u) => u.queue_url().unwrap_or_default().to_string(),
                    Err(e) if e.code().is_some_and(|c| NOT_FOUND.contains(&c)) => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
        };
        gone(
            sqs.delete_queue()
                .queue_url(&url)
                .send()
                .await
                .map_err(sdk(a, "deleting the queue")),
            NOT_FOUND,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_is_named_by_the_last_segment_of_its_url() {
        assert_eq!(
            name_of("https://sqs.us-east-1.amazonaws.com/123456789012/t-dead-letter"),
            "t-dead-letter"
        );
        assert_eq!(name_of("t"), "t");
    }
}
