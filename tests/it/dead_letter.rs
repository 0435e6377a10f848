//! Failed deliveries are not lost silently: every derived target's retry policy and
//! dead-letter queue, and the SQS queues themselves (read, compared, written, owned by
//! tags, deleted), against the emulator, read back as another tool sees them (boto3).

use crate::emulator::{take, Emulator, Topology, AMBIENT};
use crate::plan::{changes, plan};
use crate::text;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const FLOW1: &str = "docs/examples/flow1-upload-trigger.yaml";

fn applied(emu: &Emulator, t: &Topology) {
    let o = emu.tether(&["apply", "--auto-approve", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

fn plan_is_empty(emu: &Emulator, t: &Topology) {
    let o = emu.tether(&["plan", "--detailed-exitcode", "-f", t.arg()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "the re-plan must be empty: {}",
        text(&o)
    );
}

/// What another tool sees of flow 1's delivery settings: per rule, its targets'
/// `RetryPolicy` and `DeadLetterConfig`; per account, the queues with tether's prefix
/// and, for the dead-letter queue, its policy and settings.
fn seen(emu: &Emulator) -> Value {
    let out = emu.oob(&format!(
        r#"
out = {{"targets": {{}}, "queues": {{}}}}
for account, bus, rule in [("222222222222", "default", "flow1-on-upload-forward"),
                           ("{AMBIENT}", "flow1-triggers", "flow1-on-upload-start")]:
    try:
        ts = c("events", account).list_targets_by_rule(Rule=rule, EventBusName=bus)["Targets"]
    except Exception:
        ts = []
    out["targets"][rule] = [{{"retry": t.get("RetryPolicy"), "dlq": t.get("DeadLetterConfig")}} for t in ts]
for account in ["222222222222", "{AMBIENT}"]:
    sqs = c("sqs", account)
    queues = {{}}
    for url in sqs.list_queues(QueueNamePrefix="flow1-").get("QueueUrls", []):
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        queues[url.rsplit("/", 1)[1]] = {{
            "policy": json.loads(a["Policy"]) if a.get("Policy") else None,
            "retention": a.get("MessageRetentionPeriod"),
            "sse": a.get("SqsManagedSseEnabled", "").lower(),
            "tags": sqs.list_queue_tags(QueueUrl=url).get("Tags", {{}}),
        }}
    out["queues"][account] = queues
print(json.dumps(out))
"#
    ));
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn queue_arn(account: &str) -> String {
    format!("arn:aws:sqs:us-east-1:{account}:flow1-dead-letter")
}

#[test]
fn every_target_retries_and_dead_letters_to_a_queue_that_admits_only_its_rule() {
    let (_g, emu) = take();
    let t = Topology::example(FLOW1);
    applied(emu, &t);
    plan_is_empty(emu, &t);
    let s = seen(emu);
    let retry = json!({"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400});
    for (rule, account, rule_arn) in [
        (
            "flow1-on-upload-forward",
            "222222222222",
            "arn:aws:events:us-east-1:222222222222:rule/flow1-on-upload-forward".to_string(),
        ),
        (
            "flow1-on-upload-start",
            AMBIENT,
            format!("arn:aws:events:us-east-1:{AMBIENT}:rule/flow1-triggers/flow1-on-upload-start"),
        ),
    ] {
        assert_eq!(
            s["targets"][rule],
            json!([{"retry": retry, "dlq": {"Arn": queue_arn(account)}}]),
            "{rule}: {s:#}"
        );
        let q = &s["queues"][account]["flow1-dead-letter"];
        assert_eq!(q["retention"], "1209600", "{s:#}");
        assert_eq!(q["sse"], "true", "{s:#}");
        assert_eq!(q["tags"]["tether:topology"], "flow1");
        assert_eq!(
            q["policy"]["Statement"],
            json!([{
                "Sid": "tether_flow1_DeadLetter",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn(account),
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}
            }]),
            "{account}: {s:#}"
        );
    }
}

#[test]
fn drift_in_retries_dead_letters_and_the_queue_is_seen_and_repaired_keeping_others_statements() {
    let (_g, emu) = take();
    let t = Topology::example(FLOW1);
    applied(emu, &t);
    // Another tool rewrites the start target without a retry policy or a dead-letter
    // queue (the rest of it, its input transformer too, as it was), shortens the
    // queue's retention, and replaces its policy with one of its own statements.
    emu.oob(&format!(
        r#"
ev = c("events")
(t,) = [x for x in ev.list_targets_by_rule(Rule="flow1-on-upload-start", EventBusName="flow1-triggers")["Targets"]
        if x["Id"] == "pipeline-release"]
assert "InputTransformer" in t, t
del t["RetryPolicy"], t["DeadLetterConfig"]
ev.put_targets(Rule="flow1-on-upload-start", EventBusName="flow1-triggers", Targets=[t])
sqs = c("sqs")
url = sqs.get_queue_url(QueueName="flow1-dead-letter")["QueueUrl"]
sqs.set_queue_attributes(QueueUrl=url, Attributes={{
    "MessageRetentionPeriod": "60",
    "Policy": json.dumps({{"Version": "2012-10-17", "Statement": [{{
        "Sid": "TheirReader", "Effect": "Allow",
        "Principal": {{"AWS": "arn:aws:iam::{AMBIENT}:root"}},
        "Action": "sqs:ReceiveMessage", "Resource": "arn:aws:sqs:us-east-1:{AMBIENT}:flow1-dead-letter"}}]}})}})
"#
    ));
    let p = plan(emu, &t, &[]);
    let target =
        "tools/us-east-1/event_target.flow1-triggers/flow1-on-upload-start/pipeline-release"
            .to_string();
    let queue = "tools/us-east-1/sqs_queue.flow1-dead-letter".to_string();
    assert_eq!(
        changes(&p),
        BTreeSet::from([
            ("update".to_string(), target.clone()),
            ("update".to_string(), queue.clone())
        ]),
        "{p:#}"
    );
    let fields = |address: &str| -> BTreeSet<String> {
        p["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["address"] == address)
            .unwrap()["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        fields(&target),
        BTreeSet::from(["dead_letter_arn".into(), "retry_policy".into()])
    );
    assert_eq!(
        fields(&queue),
        BTreeSet::from([
            "message_retention_seconds".into(),
            "policy_statements".into()
        ])
    );
    applied(emu, &t);
    plan_is_empty(emu, &t);
    let s = seen(emu);
    let q = &s["queues"][AMBIENT]["flow1-dead-letter"];
    assert_eq!(q["retention"], "1209600", "{s:#}");
    let sids: BTreeSet<&str> = q["policy"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["Sid"].as_str().unwrap())
        .collect();
    assert_eq!(
        sids,
        BTreeSet::from(["TheirReader", "tether_flow1_DeadLetter"]),
        "the other tool's statement stays: {s:#}"
    );
    assert_eq!(
        s["targets"]["flow1-on-upload-start"][0]["dlq"],
        json!({"Arn": queue_arn(AMBIENT)})
    );
}

#[test]
fn turning_dead_letter_off_clears_the_targets_and_deletes_the_queues_but_never_anothers() {
    let (_g, emu) = take();
    let t = Topology::example(FLOW1);
    // Queues with tether's prefix that tether does not own: untagged, and tagged by
    // another topology.
    emu.oob(
        r#"
sqs = c("sqs", "222222222222")
sqs.create_queue(QueueName="flow1-theirs")
sqs.create_queue(QueueName="flow1-other-topology", tags={"tether:topology": "flow1-other"})
"#,
    );
    applied(emu, &t);
    let before = seen(emu);
    let theirs = before["queues"]["222222222222"]["flow1-theirs"].clone();
    assert!(theirs.is_object(), "{before:#}");

    t.rewrite(|s| {
        s.replace(
            "    start: [release]",
            "    start: [release]\n    dead_letter: false",
        )
    });
    let p = plan(emu, &t, &[]);
    let want: BTreeSet<(String, String)> = [
        ("delete", "app/us-east-1/sqs_queue.flow1-dead-letter"),
        ("delete", "tools/us-east-1/sqs_queue.flow1-dead-letter"),
        (
            "update",
            "app/us-east-1/event_target.default/flow1-on-upload-forward/bus",
        ),
        (
            "update",
            "tools/us-east-1/event_target.flow1-triggers/flow1-on-upload-start/pipeline-release",
        ),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(changes(&p), want, "{p:#}");
    applied(emu, &t);
    plan_is_empty(emu, &t);

    let after = seen(emu);
    let retry = json!({"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400});
    for rule in ["flow1-on-upload-forward", "flow1-on-upload-start"] {
        assert_eq!(
            after["targets"][rule],
            json!([{"retry": retry, "dlq": null}]),
            "{rule}: {after:#}"
        );
    }
    let names = |account: &str| -> BTreeSet<String> {
        after["queues"][account]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(
        names("222222222222"),
        BTreeSet::from(["flow1-other-topology".into(), "flow1-theirs".into()]),
        "{after:#}"
    );
    assert!(names(AMBIENT).is_empty(), "{after:#}");
    assert_eq!(
        after["queues"]["222222222222"]["flow1-theirs"], theirs,
        "untouched"
    );
}

#[test]
fn a_queue_with_the_wanted_name_that_tether_does_not_own_is_an_error_not_a_takeover() {
    let (_g, emu) = take();
    let t = Topology::example(FLOW1);
    emu.oob(r#"c("sqs", "222222222222").create_queue(QueueName="flow1-dead-letter")"#);
    let o = emu.tether(&["plan", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(
            "app/us-east-1/sqs_queue.flow1-dead-letter: `flow1-dead-letter` exists and is not managed by this topology"
        ),
        "{}",
        text(&o)
    );
    let o = emu.tether(&["apply", "--auto-approve", "-f", t.arg()]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    let out = emu.oob(
        r#"
sqs = c("sqs", "222222222222")
url = sqs.get_queue_url(QueueName="flow1-dead-letter")["QueueUrl"]
print(json.dumps([sqs.list_queue_tags(QueueUrl=url).get("Tags", {}),
                  sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {})]))
"#,
    );
    assert_eq!(out.trim(), "[{}, {}]", "the queue is left as it was");
}
