//! `tether apply` against the emulator: the flows from empty, convergence, idempotence,
//! topology changes, deletion rules, saved plans and staleness.

use crate::emulator::{take, Emulator, Topology, AMBIENT};
use crate::text;
use std::collections::BTreeMap;
use std::process::Output;

fn apply(emu: &Emulator, t: &Topology) -> Output {
    emu.tether(&["apply", "--auto-approve", "--stats", "-f", t.arg()])
}

fn applied(emu: &Emulator, t: &Topology) -> String {
    let o = apply(emu, t);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).to_string()
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

/// The writes of a run that must have talked to AWS: a run whose counter saw no session
/// and no read did not count at all, and its "0 writes" would mean nothing.
fn writes(o: &Output) -> u64 {
    let c = crate::calls(o);
    assert!(
        c.session > 0 && c.reads > 0,
        "the counter saw nothing: {c:?}"
    );
    c.writes
}

#[test]
fn each_flow_applies_from_empty_converges_and_then_writes_nothing() {
    for example in [
        "docs/examples/flow1-upload-trigger.yaml",
        "docs/examples/flow2-tools-deploys.yaml",
        "docs/examples/flow3-cross-account-source.yaml",
        "docs/examples/flow4-multi-region.yaml",
        "topology.example.yaml",
    ] {
        let (_g, emu) = take();
        let t = Topology::example(example);
        let first = apply(emu, &t);
        assert_eq!(first.status.code(), Some(0), "{}", text(&first));
        let out = String::from_utf8_lossy(&first.stdout);
        assert!(out.contains(" 0 failed, 0 skipped."), "{example}: {out}");
        assert!(writes(&first) > 0, "{example}: the first apply writes");
        plan_is_empty(emu, &t);
        let again = apply(emu, &t);
        assert_eq!(again.status.code(), Some(0), "{}", text(&again));
        assert!(String::from_utf8_lossy(&again.stdout).contains("Nothing to apply."));
        assert_eq!(
            writes(&again),
            0,
            "{example}: a second apply must not write: {}",
            text(&again)
        );
    }
}

#[test]
fn a_single_region_pipeline_declares_one_artifact_store() {
    // CodePipeline API reference, PipelineDeclaration: `artifactStore` or
    // `artifactStores`, the latter for cross-Region pipelines.
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow1-upload-trigger.yaml");
    applied(emu, &t);
    let out = emu.oob(
        r#"
p = c("codepipeline").get_pipeline(name="flow1-release")["pipeline"]
print(json.dumps({"artifactStore": p.get("artifactStore", {}).get("location"),
                  "artifactStores": sorted(p.get("artifactStores", {}))}))
"#,
    );
    let seen: serde_json::Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(
        seen,
        serde_json::json!({"artifactStore": "flow1-artifacts-123456789012-us-east-1", "artifactStores": []})
    );
    plan_is_empty(emu, &t);
}

#[test]
fn artifact_stores_and_buckets_name_their_keys_by_key_arn_once_applied() {
    // Flow 4: a pipeline acting in three regions, with cross-account actions. AWS
    // assigns each key's ARN; apply writes it, read back here with boto3, not tether.
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow4-multi-region.yaml");
    applied(emu, &t);
    let out = emu.oob(
        r#"
cp = c("codepipeline")
stores = cp.get_pipeline(name="flow4-service")["pipeline"]["artifactStores"]
seen = {}
for region, store in sorted(stores.items()):
    kms = c("kms", region=region)
    key = kms.describe_key(KeyId="alias/flow4-artifacts")["KeyMetadata"]["Arn"]
    s3 = c("s3", region=region)
    rule = s3.get_bucket_encryption(Bucket=store["location"])["ServerSideEncryptionConfiguration"]["Rules"][0]
    seen[region] = [key, store["encryptionKey"]["id"], rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"]]
print(json.dumps(seen))
"#,
    );
    let seen: BTreeMap<String, Vec<String>> =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(seen.len(), 3, "{seen:?}");
    for (region, arns) in &seen {
        let key = &arns[0];
        assert!(
            key.starts_with(&format!("arn:aws:kms:{region}:123456789012:key/")),
            "{region}: {key}"
        );
        assert_eq!(
            arns[1], *key,
            "{region}: the pipeline's store names the key by ARN"
        );
        assert_eq!(
            arns[2], *key,
            "{region}: the bucket's default encryption names it by ARN"
        );
    }
    plan_is_empty(emu, &t);
}

#[test]
fn an_adopted_bucket_keeps_the_notifications_and_encryption_another_tool_made() {
    // PutBucketNotificationConfiguration replaces the whole configuration: tether owns
    // only its EventBridge switch, on when triggered and off when the trigger goes. And
    // the bucket's SSE-KMS default encryption is its owner's: kept, and named in a
    // warning, since the source role reading it needs that key.
    let (_g, emu) = take();
    let out = emu.oob(
        r#"
sqs = c("sqs", "222222222222")
q = sqs.create_queue(QueueName="their-queue")["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
s3 = c("s3", "222222222222")
s3.create_bucket(Bucket="flow1-app-uploads")
s3.put_bucket_notification_configuration(Bucket="flow1-app-uploads", NotificationConfiguration={
    "QueueConfigurations": [{"Id": "theirs", "QueueArn": arn, "Events": ["s3:ObjectRemoved:*"]}]})
key = c("kms", "222222222222").create_key(Description="theirs")["KeyMetadata"]["Arn"]
s3.put_bucket_encryption(Bucket="flow1-app-uploads", ServerSideEncryptionConfiguration={"Rules": [
    {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]})
print(key)
"#,
    );
    let their_key = out.trim().to_string();
    let t = Topology::example("docs/examples/flow1-upload-trigger.yaml");
    t.rewrite(|s| {
        s.replace(
            "name: flow1-app-uploads }",
            "name: flow1-app-uploads, adopt: true }",
        )
    });
    let notifications = || {
        let out = emu.oob(
            r#"
s3 = c("s3", "222222222222")
n = s3.get_bucket_notification_configuration(Bucket="flow1-app-uploads")
e = s3.get_bucket_encryption(Bucket="flow1-app-uploads")["ServerSideEncryptionConfiguration"]["Rules"][0]
print(json.dumps({"queues": [q["Id"] for q in n.get("QueueConfigurations", [])],
                  "eventbridge": "EventBridgeConfiguration" in n,
                  "key": e["ApplyServerSideEncryptionByDefault"].get("KMSMasterKeyID")}))
"#,
        );
        serde_json::from_str::<serde_json::Value>(out.trim())
            .unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    let plan = emu.tether(&["plan", "-f", t.arg()]);
    let shown =
        String::from_utf8_lossy(&plan.stdout).to_string() + &String::from_utf8_lossy(&plan.stderr);
    assert!(
        shown.contains(&their_key) && shown.contains("flow1-release-source"),
        "the plan says the source role needs their key: {shown}"
    );
    applied(emu, &t);
    assert_eq!(
        notifications(),
        serde_json::json!({"queues": ["theirs"], "eventbridge": true, "key": their_key}),
        "triggered: EventBridge on, their queue and encryption kept"
    );
    plan_is_empty(emu, &t);
    t.rewrite(|s| s[..s.find("triggers:").expect("flow 1 has a trigger")].to_string());
    applied(emu, &t);
    assert_eq!(
        notifications(),
        serde_json::json!({"queues": ["theirs"], "eventbridge": false, "key": their_key}),
        "trigger removed: EventBridge off, their queue and encryption kept"
    );
    plan_is_empty(emu, &t);
}

#[test]
fn flow1_delivers_uploads_of_the_source_key_across_accounts() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow1-upload-trigger.yaml");
    applied(emu, &t);
    // The test's own observer on the receiving bus: a rule and an SQS queue, out of band.
    let out = emu.oob(
        r#"
sqs = c("sqs")
q = sqs.create_queue(QueueName="observer")["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
ev = c("events")
ev.put_rule(Name="observer", EventBusName="flow1-triggers", EventPattern=json.dumps({"source": ["aws.s3"], "detail-type": ["Object Created"]}))
ev.put_targets(Rule="observer", EventBusName="flow1-triggers", Targets=[{"Id": "q", "Arn": arn}])
s3 = c("s3", "222222222222")
# Two moto limits (docs/testing.md): it enforces the bucket's TLS-only statement against
# its plain-HTTP endpoint, and a rule whose target is a pipeline breaks delivery on its
# bus. Lift both while uploading; the apply below puts them back.
s3.delete_bucket_policy(Bucket="flow1-app-uploads")
ev.remove_targets(Rule="flow1-on-upload-start", EventBusName="flow1-triggers", Ids=["pipeline-release"])
s3.put_object(Bucket="flow1-app-uploads", Key="releases/app.zip", Body=b"v1")
s3.put_object(Bucket="flow1-app-uploads", Key="releases/other.zip", Body=b"x")
s3.put_object(Bucket="flow1-app-uploads", Key="elsewhere/notes.txt", Body=b"x")
keys = []
for _ in range(3):
    for m in sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
        body = json.loads(m["Body"])
        if body.get("detail-type") == "Object Created":
            keys.append(body["detail"]["object"]["key"])
print(json.dumps(sorted(keys)))
"#,
    );
    let keys: Vec<String> =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(
        keys,
        ["releases/app.zip"],
        "only the upload of the pipeline's source key crosses, not others under the prefix"
    );
    // The observer is not tether's: a later apply leaves it alone.
    t.rewrite(|s| s.replace("start: [release]", "start: [release]\n    enabled: false"));
    applied(emu, &t);
    let left = emu.oob(
        r#"
ev = c("events")
print(len(ev.list_targets_by_rule(Rule="observer", EventBusName="flow1-triggers")["Targets"]), len(c("sqs").list_queues(QueueNamePrefix="observer").get("QueueUrls", [])))
"#,
    );
    assert_eq!(left.trim(), "1 1");
    plan_is_empty(emu, &t);
}

/// The start target's input transformer as another tool reads it (`ListTargetsByRule`).
fn start_input(emu: &Emulator) -> serde_json::Value {
    let out = emu.oob(
        r#"
t = c("events").list_targets_by_rule(Rule="flow1-on-upload-start", EventBusName="flow1-triggers")["Targets"]
print(json.dumps([x.get("InputTransformer") for x in t if x["Id"] == "pipeline-release"]))
"#,
    );
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn flow1_starts_the_pipeline_on_the_version_that_was_uploaded() {
    // A trigger whose pipeline reads its bucket matches exactly the source key and passes
    // the uploaded version to StartPipelineExecution (`sourceRevisions`), through an
    // input transformer on the start target.
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow1-upload-trigger.yaml");
    applied(emu, &t);
    let written = serde_json::json!([{
        "InputPathsMap": {"revisionValue": "$.detail.object.version-id"},
        "InputTemplate": r#"{"sourceRevisions":[{"actionName":"source","revisionType":"S3_OBJECT_VERSION_ID","revisionValue":"<revisionValue>"}]}"#
    }]);
    assert_eq!(
        start_input(emu),
        written,
        "the target as EventBridge holds it"
    );
    plan_is_empty(emu, &t);

    // What the pipeline would receive, for real S3 events crossing the accounts: moto
    // cannot deliver to a pipeline (docs/testing.md), so an observer queue stands in as
    // a second target of the start rule, with the transformer read back from the
    // pipeline's target. Two uploads of the source key, one of another key under the
    // prefix.
    let out = emu.oob(
        r#"
sqs = c("sqs")
q = sqs.create_queue(QueueName="observer")["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
ev = c("events")
targets = ev.list_targets_by_rule(Rule="flow1-on-upload-start", EventBusName="flow1-triggers")["Targets"]
(pipeline,) = [x for x in targets if x["Id"] == "pipeline-release"]
ev.remove_targets(Rule="flow1-on-upload-start", EventBusName="flow1-triggers", Ids=["pipeline-release"])
ev.put_targets(Rule="flow1-on-upload-start", EventBusName="flow1-triggers",
               Targets=[{"Id": "observer", "Arn": arn, "InputTransformer": pipeline["InputTransformer"]}])
s3 = c("s3", "222222222222")
s3.delete_bucket_policy(Bucket="flow1-app-uploads")  # TLS-only vs moto's plain HTTP
versions = [s3.put_object(Bucket="flow1-app-uploads", Key="releases/app.zip", Body=b)["VersionId"] for b in (b"v1", b"v2")]
s3.put_object(Bucket="flow1-app-uploads", Key="releases/other.zip", Body=b"x")
got = []
for _ in range(3):
    for m in sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
        got.append(json.loads(m["Body"]))
print(json.dumps({"versions": versions, "got": got}))
"#,
    );
    let seen: serde_json::Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    let versions = seen["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_ne!(versions[0], versions[1], "the bucket is versioned");
    let mut got: Vec<serde_json::Value> = seen["got"].as_array().unwrap().clone();
    got.sort_by_key(|v| v.to_string());
    let mut want: Vec<serde_json::Value> = versions
        .iter()
        .map(|v| {
            serde_json::json!({"sourceRevisions": [{
                "actionName": "source", "revisionType": "S3_OBJECT_VERSION_ID", "revisionValue": v
            }]})
        })
        .collect();
    want.sort_by_key(|v| v.to_string());
    assert_eq!(
        got, want,
        "each upload of the source key, with its own version; no other key"
    );
    // The observer sits on tether's rule: apply removes it and puts the pipeline back.
    applied(emu, &t);
    assert_eq!(start_input(emu), written);
    plan_is_empty(emu, &t);

    // Another tool rewrites the transformer (the object's key instead of its version),
    // keeping the rest of the target (its retry policy and dead-letter queue): drift,
    // planned as exactly that field and written back.
    emu.oob(
        r#"
ev = c("events")
(t,) = [x for x in ev.list_targets_by_rule(Rule="flow1-on-upload-start", EventBusName="flow1-triggers")["Targets"]
        if x["Id"] == "pipeline-release"]
t["InputTransformer"] = {"InputPathsMap": {"key": "$.detail.object.key"},
                         "InputTemplate": '{"sourceRevisions": [{"actionName": "source", "revisionType": "S3_OBJECT_KEY", "revisionValue": "<key>"}]}'}
ev.put_targets(Rule="flow1-on-upload-start", EventBusName="flow1-triggers", Targets=[t])
"#,
    );
    let target =
        "tools/us-east-1/event_target.flow1-triggers/flow1-on-upload-start/pipeline-release";
    let p = crate::plan::plan(emu, &t, &[]);
    assert_eq!(
        crate::plan::changes(&p),
        [("update".to_string(), target.to_string())].into()
    );
    let c = p["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == target)
        .unwrap();
    let fields: Vec<&str> = c["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["input_transformer"]);
    applied(emu, &t);
    assert_eq!(start_input(emu), written);
    plan_is_empty(emu, &t);
}

#[test]
fn flow3_delivers_changes_to_the_branch_across_accounts() {
    // Flow 3 watches its repository by events: a change to `main` of `app` in account
    // 222222222222 crosses to the receiving bus in the pipeline's account and matches
    // the rule that starts the pipeline; other branches, other repositories and a
    // deleted branch do not. moto accepts `aws.codecommit` events from PutEvents (AWS
    // refuses `aws.` sources there), which stands in for CodeCommit.
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow3-cross-account-source.yaml");
    let first = apply(emu, &t);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let polls = emu.oob(
        r#"
p = c("codepipeline").get_pipeline(name="flow3-app")["pipeline"]
print(p["stages"][0]["actions"][0]["configuration"]["PollForSourceChanges"])
"#,
    );
    assert_eq!(polls.trim(), "false");
    let out = emu.oob(
        r#"
sqs, ev = c("sqs"), c("events")
start = ev.describe_rule(Name="flow3-app-app-starts-app", EventBusName="flow3-triggers")
# The test's observers on the receiving bus: what crosses at all, and what matches
# exactly the pattern of tether's start rule.
queues = {}
for name, pattern in [("crossed", json.dumps({"source": ["aws.codecommit"]})),
                      ("matched", start["EventPattern"])]:
    q = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    ev.put_rule(Name=name, EventBusName="flow3-triggers", EventPattern=pattern)
    ev.put_targets(Rule=name, EventBusName="flow3-triggers", Targets=[{"Id": "q", "Arn": arn}])
    queues[name] = q
# moto cannot deliver to a pipeline (docs/testing.md): lift the start rule's target
# while the changes are put; the apply below puts it back.
ev.remove_targets(Rule="flow3-app-app-starts-app", EventBusName="flow3-triggers", Ids=["pipeline-app"])

def change(repo, branch, event="referenceUpdated"):
    return {"Source": "aws.codecommit", "DetailType": "CodeCommit Repository State Change",
            "Resources": [f"arn:aws:codecommit:us-east-1:222222222222:{repo}"],
            "Detail": json.dumps({"event": event, "repositoryName": repo, "referenceType": "branch",
                                  "referenceName": branch, "referenceFullName": f"refs/heads/{branch}",
                                  "commitId": f"{repo}-{branch}-{event}"})}

put = c("events", "222222222222").put_events(Entries=[
    change("app", "main"), change("app", "feature"), change("other", "main"),
    change("app", "main", "referenceDeleted")])
seen = {"failed": put["FailedEntryCount"]}
for name, q in queues.items():
    seen[name] = []
    for _ in range(3):
        for m in sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            seen[name].append(json.loads(m["Body"])["detail"]["commitId"])
    seen[name].sort()
print(json.dumps(seen))
"#,
    );
    let seen: serde_json::Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(
        seen,
        serde_json::json!({
            "failed": 0,
            "crossed": ["app-main-referenceUpdated"],
            "matched": ["app-main-referenceUpdated"]
        }),
        "only the update of `main` of `app` crosses, and it matches the start rule"
    );
    // The next apply puts the pipeline target back and leaves the observers alone; then
    // nothing is left to do.
    applied(emu, &t);
    let left = emu.oob(
        r#"
ev = c("events")
print(len(ev.list_targets_by_rule(Rule="flow3-app-app-starts-app", EventBusName="flow3-triggers")["Targets"]),
      len(ev.list_targets_by_rule(Rule="crossed", EventBusName="flow3-triggers")["Targets"]),
      len(ev.list_targets_by_rule(Rule="matched", EventBusName="flow3-triggers")["Targets"]))
"#,
    );
    assert_eq!(left.trim(), "1 1 1");
    plan_is_empty(emu, &t);
    let again = apply(emu, &t);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(writes(&again), 0, "{}", text(&again));
}

#[test]
fn topology_changes_apply_exactly_what_was_planned() {
    let (_g, emu) = take();
    let t = Topology::example("topology.example.yaml");
    applied(emu, &t);
    // Add a region to a pipeline, disable the trigger, remove the other pipeline.
    t.rewrite(|s| {
        let s = s.replace("              stack: app\n              template: template.yaml\n              change_set: true", "              region: ap-southeast-2\n              stack: app\n              template: template.yaml\n              change_set: true");
        let s = s.replace("    enabled: true", "    enabled: false");
        let start = s.find("  service:\n").unwrap();
        let end = s.find("triggers:").unwrap();
        let s = format!("{}{}", &s[..start], &s[end..]);
        // The trigger that starts the removed pipeline goes with it.
        let long = s.find("  # A long entry name").unwrap();
        s[..long].to_string()
    });
    let planned = emu.tether(&["plan", "--format", "json", "-f", t.arg()]);
    assert!(planned.status.success(), "{}", text(&planned));
    let plan: serde_json::Value = serde_json::from_slice(&planned.stdout).unwrap();
    let expected: Vec<(String, String)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no-op")
        .map(|c| {
            (
                c["action"].as_str().unwrap().to_string(),
                c["address"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(expected.contains(&(
        "create".into(),
        "tools/ap-southeast-2/kms_key.acme-artifacts".into()
    )));
    assert!(expected.contains(&(
        "delete".into(),
        "tools/us-east-1/pipeline.acme-service".into()
    )));
    assert!(expected.contains(&(
        "update".into(),
        "app/us-east-1/event_rule.default/acme-on-upload-forward".into()
    )));
    // Shared with the pipeline that stays: kept (its policy loses the removed pipeline's roles).
    assert!(expected.contains(&(
        "update".into(),
        "tools/us-east-1/s3_bucket.acme-artifacts-123456789012-us-east-1".into()
    )));
    // Stores still used stay; the one only the removed pipeline used (eu-central-1) goes,
    // found through the ownership marker although the topology no longer names the region.
    let deleted: Vec<&String> = expected
        .iter()
        .filter(|(a, addr)| a == "delete" && addr.contains("acme-artifacts"))
        .map(|(_, addr)| addr)
        .collect();
    assert_eq!(
        deleted,
        [
            "tools/eu-central-1/s3_bucket.acme-artifacts-123456789012-eu-central-1",
            "tools/eu-central-1/kms_key.acme-artifacts",
        ],
        "{expected:?}"
    );
    let out = applied(emu, &t);
    assert!(
        out.contains(&format!(
            "Apply: {} done, 0 failed, 0 skipped.",
            expected.len()
        )),
        "{out}"
    );
    plan_is_empty(emu, &t);
    let rule = emu.oob(r#"print(c("events", "222222222222").describe_rule(Name="acme-on-upload-forward")["State"])"#);
    assert_eq!(rule.trim(), "DISABLED");

    // Add a target account (one more deploy stage), and remove the trigger.
    t.rewrite(|s| {
        let s = s.replace(
            "  prod:  {",
            "  qa:    { id: \"666666666666\", role: OrganizationAccountAccessRole }\n  prod:  {",
        );
        let s = s.replace(
            "      - name: Prod\n        actions:\n          - { name: approve",
            "      - name: QA\n        actions:\n          - name: deploy\n            cloudformation: { account: qa, stack: app, template: template.yaml, execution_policies: [\"arn:aws:iam::aws:policy/PowerUserAccess\"] }\n      - name: Prod\n        actions:\n          - { name: approve",
        );
        s[..s.find("triggers:").unwrap()].to_string()
    });
    let planned = emu.tether(&["plan", "--format", "json", "-f", t.arg()]);
    assert!(planned.status.success(), "{}", text(&planned));
    let plan: serde_json::Value = serde_json::from_slice(&planned.stdout).unwrap();
    let actions: Vec<(String, String)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no-op")
        .map(|c| {
            (
                c["action"].as_str().unwrap().to_string(),
                c["address"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for want in [
        ("create", "qa/global/iam_role.acme-app-main-action"),
        ("create", "qa/global/iam_role.acme-app-main-cfn-exec"),
        ("update", "tools/us-east-1/pipeline.acme-app-main"),
        (
            "delete",
            "app/us-east-1/event_rule.default/acme-on-upload-forward",
        ),
        ("delete", "app/global/iam_role.acme-on-upload-forward"),
        (
            "delete",
            "tools/us-east-1/event_target.acme-releases/acme-on-upload-start/pipeline-app-main",
        ),
    ] {
        assert!(
            actions.contains(&(want.0.to_string(), want.1.to_string())),
            "{want:?} in {actions:?}"
        );
    }
    // The bus the user declared stays: only the trigger's own resources go.
    assert!(!actions
        .iter()
        .any(|(_, a)| a == "tools/us-east-1/event_bus.acme-releases"));
    let out = applied(emu, &t);
    assert!(
        out.contains(&format!(
            "Apply: {} done, 0 failed, 0 skipped.",
            actions.len()
        )),
        "{out}"
    );
    plan_is_empty(emu, &t);
}

#[test]
fn deletion_rules_protect_refuse_and_schedule() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow2-tools-deploys.yaml");
    applied(emu, &t);
    // The protected state bucket leaves the topology: kept.
    t.rewrite(|s| {
        let start = s.find("buckets:").unwrap();
        let end = s.find("roles:").unwrap();
        format!("{}{}", &s[..start], &s[end..])
    });
    let out = applied(emu, &t);
    assert!(out.contains("0 failed"), "{out}");
    let buckets = emu.oob(r#"print(sorted(b["Name"] for b in c("s3").list_buckets()["Buckets"]))"#);
    assert!(
        buckets.contains(&format!("flow2-tfstate-{AMBIENT}")),
        "{buckets}"
    );

    // A non-empty bucket without force_destroy is refused, with a clear message.
    let t3 = Topology::example("docs/examples/flow1-upload-trigger.yaml");
    applied(emu, &t3);
    // moto enforces the TLS-only statement against its plain-HTTP endpoint: lift it to upload.
    emu.oob(
        r#"
s3 = c("s3", "222222222222")
s3.delete_bucket_policy(Bucket="flow1-app-uploads")
s3.put_object(Bucket="flow1-app-uploads", Key="keep.txt", Body=b"x")
"#,
    );
    t3.rewrite(|s| {
        let s = s.replace("  uploads: { account: app, name: flow1-app-uploads }\n", "");
        let start = s.find("pipelines:").unwrap();
        s[..start].to_string()
    });
    let o = apply(emu, &t3);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("bucket `flow1-app-uploads` is not empty"),
        "{out}"
    );
    assert!(out.contains("force_destroy: true"), "{out}");
    // Everything else went; the KMS key is scheduled for deletion, not deleted, and its
    // alias is gone.
    let key = emu.oob(
        r#"
kms = c("kms")
aliases = [a["AliasName"] for a in kms.list_aliases()["Aliases"] if a["AliasName"].startswith("alias/flow1")]
states = [kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] for k in kms.list_keys()["Keys"]]
print(aliases, sorted(set(states)))
"#,
    );
    assert_eq!(key.trim(), "[] ['PendingDeletion']", "{key}");
}

#[test]
fn a_saved_plan_applies_exactly_and_refuses_when_stale() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow3-cross-account-source.yaml");
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("plan.json");
    let o = emu.tether(&["plan", "--out", saved.to_str().unwrap(), "-f", t.arg()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = emu.tether(&["apply", saved.to_str().unwrap(), "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    plan_is_empty(emu, &t);

    // Plan a change, then let someone else change one of its resources: refused.
    emu.oob(r#"c("iam", "222222222222").delete_role_policy(RoleName="flow3-app-source", PolicyName="tether")"#);
    let o = emu.tether(&["plan", "--out", saved.to_str().unwrap(), "-f", t.arg()]);
    assert!(o.status.success());
    emu.oob(r#"c("iam", "222222222222").tag_role(RoleName="flow3-app-source", Tags=[{"Key": "owner", "Value": "someone"}])"#);
    let o = emu.tether(&["apply", saved.to_str().unwrap(), "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("plan is stale: app/global/iam_role.flow3-app-source changed"),
        "{err}"
    );
    // A changed topology file makes it stale too.
    let o = emu.tether(&["plan", "--out", saved.to_str().unwrap(), "-f", t.arg()]);
    assert!(o.status.success());
    t.rewrite(|s| s + "\n# edited\n");
    let o = emu.tether(&["apply", saved.to_str().unwrap(), "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("the topology file"),
        "{}",
        text(&o)
    );
}

#[test]
fn apply_without_a_terminal_needs_auto_approve() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow3-cross-account-source.yaml");
    let o = emu.tether(&["apply", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--auto-approve"),
        "{}",
        text(&o)
    );
    // Nothing was written.
    let o = emu.tether(&["plan", "--detailed-exitcode", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_failed_step_skips_only_its_dependents() {
    let (_g, emu) = take();
    // An execution policy that does not exist: attaching it fails (not a propagation
    // error), so the execution role fails; what needs it is skipped (the pipeline, the
    // target of the rule that starts it on commits, and the artifact bucket of its
    // region, whose policy admits it to read), and everything unrelated is still done.
    let t = Topology::example("docs/examples/flow4-multi-region.yaml");
    t.rewrite(|s| {
        s.replacen(
            "\"arn:aws:iam::aws:policy/PowerUserAccess\"",
            "\"arn:aws:iam::aws:policy/NoSuchPolicy\"",
            1,
        )
    });
    let o = apply(emu, &t);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("failed  create dev/global/iam_role.flow4-service-cfn-exec: "),
        "{out}"
    );
    assert!(
        out.contains("NoSuchEntity"),
        "the AWS error code is shown: {out}"
    );
    for skipped in [
        "tools/us-east-1/pipeline.flow4-service",
        "tools/us-east-1/event_target.default/flow4-tools-service-starts-service/pipeline-service",
        "tools/us-east-1/s3_bucket.flow4-artifacts-123456789012-us-east-1",
    ] {
        assert!(
            out.contains(&format!(
                "skipped create {skipped}: depends on dev/global/iam_role.flow4-service-cfn-exec"
            )),
            "{out}"
        );
    }
    assert!(out.contains(" 1 failed, 3 skipped."), "{out}");
    // Partial progress is kept, and the next plan shows exactly what is left.
    let plan = emu.tether(&["plan", "--format", "json", "-f", t.arg()]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let left: Vec<(String, String)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no-op")
        .map(|c| {
            (
                c["action"].as_str().unwrap().to_string(),
                c["address"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let left: std::collections::BTreeSet<(&str, &str)> =
        left.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(
        left,
        [
            ("update", "dev/global/iam_role.flow4-service-cfn-exec"),
            ("create", "tools/us-east-1/pipeline.flow4-service"),
            (
                "create",
                "tools/us-east-1/event_target.default/flow4-tools-service-starts-service/pipeline-service"
            ),
            (
                "create",
                "tools/us-east-1/s3_bucket.flow4-artifacts-123456789012-us-east-1"
            ),
        ]
        .into()
    );
}

#[test]
fn an_interrupted_apply_is_repaired_by_the_next_without_duplicates() {
    use std::io::{BufRead, BufReader};
    // Kill at several points: early (roles), middle (stores), late (pipelines, targets).
    for kill_at in [4, 12, 24] {
        let (_g, emu) = take();
        let t = Topology::example("topology.example.yaml");
        // Kill tether (SIGKILL, no chance to clean up) once some steps are done.
        let mut child = emu.tether_child(&[
            "apply",
            "--auto-approve",
            "--parallelism",
            "4",
            "-f",
            t.arg(),
        ]);
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let mut done = 0;
        for line in stderr.lines() {
            if line.unwrap().ends_with(": done") {
                done += 1;
                if done == kill_at {
                    break;
                }
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(
            done, kill_at,
            "tether finished before it could be interrupted"
        );
        let o = emu.tether(&["plan", "--detailed-exitcode", "-f", t.arg()]);
        assert_eq!(o.status.code(), Some(2), "work must be left: {}", text(&o));
        applied(emu, &t);
        plan_is_empty(emu, &t);
        // No duplicates or orphans: every KMS key has its alias, one per region; one pipeline each.
        let counts = emu.oob(
            r#"
out = []
for region in ["us-east-1", "eu-west-1", "eu-central-1"]:
    kms = c("kms", region=region)
    keys = [k["KeyId"] for k in kms.list_keys()["Keys"]]
    aliased = [a["TargetKeyId"] for a in kms.list_aliases()["Aliases"] if a.get("TargetKeyId")]
    out.append(f"{region}:{len(keys)}:{len(set(aliased) & set(keys))}")
out.append(str(len(c("codepipeline").list_pipelines()["pipelines"])))
print(" ".join(out))
"#,
        );
        assert_eq!(
            counts.trim(),
            "us-east-1:1:1 eu-west-1:1:1 eu-central-1:1:1 2",
            "killed after {kill_at} steps"
        );
    }
}

#[test]
fn propagation_errors_are_waited_out_and_others_fail_at_once() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow3-cross-account-source.yaml");
    // IAM's delay, as AWS shows it: the first two bucket policies naming fresh roles are
    // refused with "Invalid principal", and so is the first key policy.
    let faults = emu.with_faults(&[
        "PUT:policy:2:400:MalformedPolicy:Invalid principal in policy",
        "POST:TrentService.CreateKey:1:400:MalformedPolicyDocumentException:Policy contains a statement with one or more invalid principals.",
    ]);
    let o = emu.tether_via(
        &faults.endpoint,
        &["apply", "--auto-approve", "-f", t.arg()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("waiting") && err.contains("for tools/us-east-1/s3_bucket.flow3-artifacts-123456789012-us-east-1: a role named in a policy is not visible yet"),
        "{err}"
    );
    assert!(
        err.contains("for tools/us-east-1/kms_key.flow3-artifacts:"),
        "{err}"
    );
    plan_is_empty(emu, &t);

    // An error that is not about propagation fails its step at once, with the AWS code.
    emu.reset();
    let faults = emu.with_faults(&["POST:TrentService.CreateKey:1:400:AccessDeniedException:not authorized to perform kms:CreateKey"]);
    let started = std::time::Instant::now();
    let o = emu.tether_via(
        &faults.endpoint,
        &["apply", "--auto-approve", "-f", t.arg()],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "no retrying"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("failed  create tools/us-east-1/kms_key.flow3-artifacts: creating the key: KMS CreateKey failed with 400 Bad Request, AccessDeniedException: not authorized to perform kms:CreateKey (1 attempt); the identity tether uses in this account lacks this permission: grant it, or use other credentials\n"), "{out}");
    // The bucket encrypted with that key and the pipeline storing in it are skipped.
    assert!(
        out.contains(
            "skipped create tools/us-east-1/s3_bucket.flow3-artifacts-123456789012-us-east-1"
        ),
        "{out}"
    );
    assert!(
        out.contains("skipped create tools/us-east-1/pipeline.flow3-app"),
        "{out}"
    );
}

#[test]
fn force_destroy_recorded_on_a_bucket_lets_a_later_apply_empty_and_delete_it() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow1-upload-trigger.yaml");
    t.rewrite(|s| {
        s.replace(
            "name: flow1-app-uploads }",
            "name: flow1-app-uploads, force_destroy: true }",
        )
    });
    applied(emu, &t);
    emu.oob(
        r#"
s3 = c("s3", "222222222222")
s3.delete_bucket_policy(Bucket="flow1-app-uploads")  # moto: TLS-only vs its HTTP endpoint
s3.put_object(Bucket="flow1-app-uploads", Key="a.zip", Body=b"1")
s3.put_object(Bucket="flow1-app-uploads", Key="a.zip", Body=b"2")
"#,
    );
    // The entry goes, and with it the flag: the tag on the bucket still says so.
    t.rewrite(|s| {
        let s = s.replace(
            "  uploads: { account: app, name: flow1-app-uploads, force_destroy: true }\n",
            "",
        );
        s[..s.find("pipelines:").unwrap()].to_string()
    });
    let out = applied(emu, &t);
    assert!(out.contains("0 failed, 0 skipped."), "{out}");
    let left =
        emu.oob(r#"print([b["Name"] for b in c("s3", "222222222222").list_buckets()["Buckets"]])"#);
    assert!(!left.contains("flow1-app-uploads"), "{left}");
    plan_is_empty(emu, &t);
}

#[test]
fn a_saved_plan_cannot_grant_what_the_topology_does_not_say() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow1-upload-trigger.yaml");
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("plan.json");
    let o = emu.tether(&["plan", "--out", saved.to_str().unwrap(), "-f", t.arg()]);
    assert!(o.status.success(), "{}", text(&o));
    let plan: serde_json::Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    let creates = |plan: &serde_json::Value| -> usize {
        let changes = plan["changes"].as_array().unwrap();
        assert!(changes.iter().all(|c| c["action"] == "create"), "{plan}");
        changes.len()
    };
    let all = creates(&plan);
    let edit = |address: &str, f: &dyn Fn(&mut serde_json::Value)| -> std::path::PathBuf {
        let mut p = plan.clone();
        let c = p["changes"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|c| c["address"] == address)
            .unwrap();
        f(c);
        let path = dir
            .path()
            .join(format!("{}.json", address.replace('/', "_")));
        std::fs::write(&path, serde_json::to_string_pretty(&p).unwrap()).unwrap();
        path
    };
    let forward = "app/global/iam_role.flow1-on-upload-forward";
    let start = "tools/global/iam_role.flow1-on-upload-start";
    let cases = [
        (
            forward,
            edit(forward, &|c| {
                let a = &mut c["after"]["inline_policies"]["tether"]["Statement"][0]["Action"];
                assert_eq!(a, "events:PutEvents");
                *a = "events:*".into();
            }),
            "after.inline_policies.tether.Statement[0].Action is \"events:*\", the topology implies \"events:PutEvents\"",
        ),
        (
            start,
            edit(start, &|c| {
                let p = &mut c["after"]["trust_policy"]["Statement"][0]["Principal"];
                assert_eq!(p["Service"], "events.amazonaws.com");
                *p = serde_json::json!({"AWS": "arn:aws:iam::999999999999:root"});
            }),
            "after.trust_policy.Statement[0].Principal.AWS is \"arn:aws:iam::999999999999:root\", not in the topology",
        ),
    ];
    for (address, edited, what) in cases {
        let o = emu.tether(&[
            "apply",
            edited.to_str().unwrap(),
            "--auto-approve",
            "--stats",
            "-f",
            t.arg(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("plan asks for what the topology does not imply"),
            "{err}"
        );
        assert!(err.contains(&format!("\n{address}: {what}")), "{err}");
        // Nothing was written: not one write call, and everything is still to create.
        assert_eq!(writes(&o), 0, "{}", text(&o));
        let o = emu.tether(&["plan", "--format", "json", "-f", t.arg()]);
        assert!(o.status.success(), "{}", text(&o));
        let now: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(creates(&now), all);
    }
    // The plan as it was made still applies.
    let o = emu.tether(&[
        "apply",
        saved.to_str().unwrap(),
        "--auto-approve",
        "-f",
        t.arg(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("Apply: {all} done, 0 failed")),
        "{}",
        text(&o)
    );
    plan_is_empty(emu, &t);
}
