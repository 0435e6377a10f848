//! What EventBridge does with an event it cannot deliver: every derived target's retry
//! policy, and the SQS dead-letter queues that keep what it gives up on.
//!
//! "If an event isn't delivered after all retry attempts are exhausted, the event is
//! dropped" (EventBridge user guide, "Using dead-letter queues to process undelivered
//! events in EventBridge", https://docs.aws.amazon.com/eventbridge/latest/userguide/rule-dlq.html),
//! and errors EventBridge does not retry (missing permissions, a target that no longer
//! exists) drop it at once, or send it straight to a dead-letter queue when there is
//! one. So every derived target gets an explicit [`RETRY_POLICY`]
//! (a plan shows it, and drift in it is seen), and the rules a derivation marks with
//! [`Ex::dead_letter`] send what is not delivered to a queue instead.
//!
//! The attaching is done once, over every target of the expansion, when it is
//! assembled ([`Ex::deliveries`]): a kind of derivation only marks its rules, and any
//! target (those of triggers today, any derived later) gets the same settings.
//!
//! One queue per topology, account and region, `<name>-dead-letter`, shared by the
//! rules there: the guide's considerations ask for a standard queue "in the same Region
//! in which you create the rule" (a queue in another account would need the same
//! policy; the rule's own account is the simplest), and every message carries the
//! `RULE_ARN`, `TARGET_ARN` and `ERROR_CODE` of its failure, so one queue per place
//! loses nothing of which trigger failed, while a queue per trigger and place would
//! multiply queues (and their reads) for no information. Its policy is the guide's
//! "Granting permissions to the dead-letter queue": `events.amazonaws.com` may
//! `sqs:SendMessage` on the queue when `aws:SourceArn` is one of the rules that use it
//! (`ArnEquals`, any of the listed values). EventBridge writes to a queue only when the
//! queue policy allows it; the rules' own roles are not involved.
//!
//! Encryption is SSE-SQS (SQS-owned keys, `SqsManagedSseEnabled`): with a customer
//! managed KMS key, every AWS service that sends to the queue would need
//! `kms:GenerateDataKey` and `kms:Decrypt` in the key policy (SQS developer guide,
//! "Key management", Configure KMS permissions for AWS services), which SSE-SQS needs
//! no grant for. Messages are kept 1,209,600 seconds (14 days), the longest SQS allows
//! (SQS API reference, CreateQueue, `MessageRetentionPeriod`; the default is 4 days),
//! since a dead-letter queue is read when someone notices, not at once.

use super::Ex;
use crate::diag::YamlPath;
use crate::model::Key;
use crate::names;
use crate::region::Region;
use crate::resource::*;
use policy::Statement;
use std::collections::{BTreeMap, BTreeSet};

use super::policy;

/// The retry policy of every derived target: EventBridge's maxima (EventBridge API
/// reference, RetryPolicy: `MaximumRetryAttempts` 0 to 185, `MaximumEventAgeInSeconds`
/// 60 to 86400), which are also its defaults when a target names none ("By default,
/// EventBridge retries sending the event for 24 hours and up to 185 times with an
/// exponential back off and jitter"). EventBridge retries only errors that may pass
/// (throttling, an unavailable target); a transient failure of StartPipelineExecution
/// or PutEvents should be waited out as long as EventBridge allows, and what still
/// fails lands in the dead-letter queue. Written explicitly so that it is visible in a
/// plan and a change made by someone else (fewer retries, a shorter age) is drift.
pub const RETRY_POLICY: RetryPolicy = RetryPolicy {
    maximum_retry_attempts: 185,
    maximum_event_age_seconds: 86_400,
};

/// Seconds a dead-letter queue keeps a message: 14 days, SQS's maximum.
pub const DEAD_LETTER_RETENTION_SECONDS: u32 = 1_209_600;

/// A dead-letter queue being assembled: the rules (ARNs) whose targets use it.
pub(super) struct DeadLetterDraft {
    rules: BTreeSet<String>,
    origin: YamlPath,
}

/// A rule whose targets dead-letter: (account key, region, bus, rule name).
pub(super) type RulePlace = (Key, String, String, String);

impl Ex<'_> {
    /// Marks the rule `rule` on `bus` (ARN `rule_arn`) in `account`/`region`: its
    /// targets send what EventBridge does not deliver to the place's dead-letter queue,
    /// whose policy admits the rule. A derivation calls this for each rule it makes when
    /// its entry asks for dead-lettering (a trigger's `dead_letter`, or the topology's
    /// `defaults.dead_letter` for derivations without a setting of their own).
    pub(super) fn dead_letter(
        &mut self,
        account: &str,
        region: &Region,
        bus: &str,
        rule: &str,
        rule_arn: &str,
        origin: &YamlPath,
    ) {
        self.dead_lettered.insert((
            account.to_string(),
            region.to_string(),
            bus.to_string(),
            rule.to_string(),
        ));
        self.dead_letters
            .entry((account.to_string(), region.clone()))
            .or_insert_with(|| DeadLetterDraft {
                rules: BTreeSet::new(),
                origin: origin.clone(),
            })
            .rules
            .insert(rule_arn.to_string());
    }

    /// The dead-letter queue of `account`/`region`: its name, ARN and address.
    fn dead_letter_queue(&self, account: &str, region: &Region) -> (String, String, Address) {
        let name = names::fit(&[&self.t.name, "dead-letter"], names::SQS_QUEUE_MAX);
        let arn = format!(
            "arn:{}:sqs:{region}:{}:{name}",
            region.partition(),
            self.id(account)
        );
        let address = Address::new(account, region.as_str(), QueueSpec::KIND, &name);
        (name, arn, address)
    }

    /// Gives every target its retry policy and, when its rule was marked, its
    /// dead-letter queue; makes those queues. Called once every target is in.
    pub(super) fn deliveries(&mut self) {
        let drafts = std::mem::take(&mut self.dead_letters);
        let mut queues: BTreeMap<(Key, String), (String, Address)> = BTreeMap::new();
        for ((account, region), d) in drafts {
            let (name, arn, address) = self.dead_letter_queue(&account, &region);
            queues.insert(
                (account.clone(), region.to_string()),
                (arn.clone(), address.clone()),
            );
            let statement = Statement::allow(["sqs:SendMessage"])
                .sid(self.sid("DeadLetter"))
                .service("events.amazonaws.com")
                .on([arn.clone()])
                .when("ArnEquals", "aws:SourceArn", d.rules);
            let tags = self.tags(&address, &[]);
            self.insert(Resource {
                address,
                account: account.clone(),
                account_id: self.id(&account).to_string(),
                region: region.to_string(),
                spec: Spec::SqsQueue(QueueSpec {
                    name,
                    arn,
                    message_retention_seconds: DEAD_LETTER_RETENTION_SECONDS,
                    sqs_managed_sse: true,
                    policy_statements: vec![statement],
                }),
                tags,
                depends_on: BTreeSet::new(),
                origin: d.origin.to_string(),
            });
        }
        let lettered = std::mem::take(&mut self.dead_lettered);
        for r in self.resources.values_mut() {
            let Spec::EventTarget(t) = &mut r.spec else {
                continue;
            };
            t.retry_policy = Some(RETRY_POLICY);
            let place = (
                r.account.clone(),
                r.region.clone(),
                t.bus.clone(),
                t.rule.clone(),
            );
            if lettered.contains(&place) {
                let (arn, address) = &queues[&(r.account.clone(), r.region.clone())];
                t.dead_letter_arn = Some(arn.clone());
                // The queue exists before a target names it.
                r.depends_on.insert(address.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expand::actions::testing::{expand, HEAD};
    use crate::expand::Expansion;

    /// The triggers `triggers` (YAML lines) on a bucket in `app` that start pipelines in
    /// `tools` (`main` reads `in/app.zip` of it, `other` reads `other/app.zip`), with
    /// `defaults` as the topology's defaults.
    fn topology(defaults: &str, triggers: &str) -> Expansion {
        let head = HEAD.replace("defaults: { region: us-east-1 }", defaults);
        expand(&format!(
            r#"{head}
buckets:
  up: {{ account: app, name: t-up-bucket }}
pipelines:
  main:
    account: tools
    source: {{ s3: {{ bucket: up, key: in/app.zip }} }}
    stages:
      - name: Build
        actions: [{{ name: build, build: {{ project: bb }} }}]
  other:
    account: tools
    source: {{ s3: {{ bucket: up, key: other/app.zip }} }}
    stages:
      - name: Build
        actions: [{{ name: build, build: {{ project: bb }} }}]
triggers:
{triggers}
"#
        ))
    }

    /// One cross-account trigger with `setting` added to it.
    fn cross(setting: &str, defaults: &str) -> Expansion {
        let defaults = if defaults.is_empty() {
            "defaults: { region: us-east-1 }"
        } else {
            defaults
        };
        topology(
            defaults,
            &format!("  on-up: {{ bucket: up, prefix: in/, start: [main]{setting} }}"),
        )
    }

    fn targets(e: &Expansion) -> Vec<&Resource> {
        e.resources
            .iter()
            .filter(|r| r.target().is_some())
            .collect()
    }

    fn queues(e: &Expansion) -> Vec<&Resource> {
        e.resources.iter().filter(|r| r.queue().is_some()).collect()
    }

    #[test]
    fn every_target_retries_explicitly_the_bus_forwarding_one_too() {
        for e in [cross("", ""), cross(", dead_letter: false", "")] {
            let t = targets(&e);
            assert_eq!(t.len(), 2, "forwarding and starting targets");
            assert!(t.iter().any(|r| r.target().unwrap().id == "bus"));
            // The pass adds to what a target already holds: the starting one keeps the
            // input transformer that passes it the uploaded version.
            let start = t.iter().find(|r| r.target().unwrap().id == "pipeline-main");
            assert!(start.unwrap().target().unwrap().input_transformer.is_some());
            for r in t {
                assert_eq!(
                    r.target().unwrap().retry_policy,
                    Some(RETRY_POLICY),
                    "{}",
                    r.address
                );
            }
        }
        assert_eq!(RETRY_POLICY.maximum_retry_attempts, 185);
        assert_eq!(RETRY_POLICY.maximum_event_age_seconds, 86_400);
    }

    #[test]
    fn each_rule_place_gets_a_queue_that_admits_exactly_its_rules() {
        let e = cross("", "");
        let q = queues(&e);
        let places: BTreeSet<(&str, &str)> = q
            .iter()
            .map(|r| (r.account.as_str(), r.region.as_str()))
            .collect();
        assert_eq!(
            places,
            BTreeSet::from([("app", "us-east-1"), ("tools", "us-east-1")]),
            "one queue where each rule is"
        );
        for r in targets(&e) {
            let t = r.target().unwrap();
            let queue = q
                .iter()
                .find(|x| x.account == r.account && x.region == r.region)
                .unwrap();
            let spec = queue.queue().unwrap();
            assert_eq!(t.dead_letter_arn.as_deref(), Some(spec.arn.as_str()));
            assert!(r.depends_on.contains(&queue.address), "{}", r.address);
            let rule = e
                .resources
                .iter()
                .filter_map(|x| x.rule())
                .find(|x| x.name == t.rule && x.bus == t.bus)
                .unwrap();
            let policy = serde_json::to_value(&spec.policy_statements).unwrap();
            assert_eq!(
                policy,
                serde_json::json!([{
                    "Sid": "tether_t_DeadLetter",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": spec.arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": rule.arn}}
                }])
            );
        }
        let tools = q.iter().find(|x| x.account == "tools").unwrap();
        let spec = tools.queue().unwrap();
        assert_eq!(spec.name, "t-dead-letter");
        assert_eq!(spec.arn, "arn:aws:sqs:us-east-1:111111111111:t-dead-letter");
        assert!(spec.sqs_managed_sse);
        assert_eq!(spec.message_retention_seconds, 1_209_600);
        assert_eq!(
            tools
                .tags
                .get(crate::expand::TAG_ADDRESS)
                .map(String::as_str),
            Some(tools.address.as_str())
        );
    }

    #[test]
    fn rules_of_one_place_share_its_queue() {
        let two = topology(
            "defaults: { region: us-east-1 }",
            "  a: { bucket: up, prefix: in/, start: [main] }\n  b: { bucket: up, prefix: other/, start: [other] }",
        );
        let q = queues(&two);
        assert_eq!(q.len(), 2, "one per place, not per trigger");
        for queue in q {
            let s = &queue.queue().unwrap().policy_statements;
            assert_eq!(s.len(), 1);
            let arns = serde_json::to_value(&s[0].condition).unwrap();
            let arns = arns["ArnEquals"]["aws:SourceArn"].as_array().cloned();
            assert_eq!(arns.map(|a| a.len()), Some(2), "{}", queue.address);
        }
    }

    #[test]
    fn opting_out_derives_no_queue_and_no_dead_letter_config() {
        for e in [
            cross(", dead_letter: false", ""),
            cross("", "defaults: { region: us-east-1, dead_letter: false }"),
        ] {
            assert!(queues(&e).is_empty());
            for r in targets(&e) {
                let t = r.target().unwrap();
                assert_eq!(t.dead_letter_arn, None, "{}", r.address);
                assert!(!r
                    .depends_on
                    .iter()
                    .any(|a| a.as_str().contains("sqs_queue")));
            }
        }
        // The trigger's own setting wins over the default.
        let e = cross(
            ", dead_letter: true",
            "defaults: { region: us-east-1, dead_letter: false }",
        );
        assert_eq!(queues(&e).len(), 2);
    }
}
