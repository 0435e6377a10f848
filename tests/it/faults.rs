//! AWS as it behaves under load and failure, through the fault-injecting proxy
//! (`tests/emulator/faults.py`): bursts of throttling, 5xx answers and dropped
//! connections are retried until the run converges; a service that keeps failing fails
//! the run in bounded time with one readable line.

use crate::emulator::{take, Topology};
use crate::text;
use std::time::{Duration, Instant};

#[test]
fn apply_converges_through_bursts_of_faults_and_dropped_connections() {
    for seed in ["1", "2", "3"] {
        let (_g, emu) = take();
        let t = Topology::example("topology.example.yaml");
        // 15 % of requests answered with throttling or a 5xx, 3 % dropped (half of them
        // after the emulator has acted), for reads and writes alike.
        let faults = emu.with_faults(&["--random", seed, "15", "3"]);
        let o = emu.tether_via(
            &faults.endpoint,
            &["apply", "--auto-approve", "-f", t.arg()],
        );
        assert_eq!(o.status.code(), Some(0), "seed {seed}: {}", text(&o));
        drop(faults);
        // Without faults: nothing left to do, and nothing made twice (a CreateKey whose
        // answer was lost must not leave a second key behind).
        let p = emu.tether(&["plan", "--detailed-exitcode", "-f", t.arg()]);
        assert_eq!(p.status.code(), Some(0), "seed {seed}: {}", text(&p));
        let keys = emu.oob(
            r#"
out = []
for region in ["us-east-1", "eu-west-1", "eu-central-1"]:
    kms = c("kms", region=region)
    out.append(str(len(kms.list_keys()["Keys"])))
print(" ".join(out))
"#,
        );
        assert_eq!(keys.trim(), "1 1 1", "seed {seed}: one key per region");
    }
}

/// Runs a plan of flow 1 (already applied) through `rules` with two attempts per call,
/// and returns its stderr, which must be a failure.
fn failing_plan(rules: &[&str]) -> String {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow1-upload-trigger.yaml");
    let o = emu.tether(&["apply", "--auto-approve", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let faults = emu.with_faults(rules);
    let started = Instant::now();
    let o = emu.tether_via_env(
        &faults.endpoint,
        &["plan", "-f", t.arg()],
        &[("AWS_MAX_ATTEMPTS", "2")],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "gives up in bounded time"
    );
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn a_service_error_reads_as_one_line() {
    let err = failing_plan(&["GET:flow1-app-uploads/?policy:1000:403:AccessDenied:Access Denied"]);
    assert_eq!(
        err,
        "error: app/us-east-1/s3_bucket.flow1-app-uploads: reading the bucket policy: S3 GetBucketPolicy failed with 403 Forbidden, AccessDenied: Access Denied (1 attempt); the identity tether uses in this account lacks this permission: grant it, or use other credentials\n"
    );
}

#[test]
fn an_error_without_a_body_reads_as_one_line() {
    let err = failing_plan(&["GET:flow1-app-uploads/?policy:1000:503::"]);
    assert_eq!(
        err,
        "error: app/us-east-1/s3_bucket.flow1-app-uploads: reading the bucket policy: S3 GetBucketPolicy failed with 503 Service Unavailable, no error body (2 attempts); AWS kept failing on every attempt: run again later, or allow more attempts with AWS_MAX_ATTEMPTS\n"
    );
}

#[test]
fn a_dropped_connection_reads_as_one_line() {
    let err = failing_plan(&["GET:flow1-app-uploads/?policy:1000:0::"]);
    assert_eq!(
        err,
        "error: app/us-east-1/s3_bucket.flow1-app-uploads: reading the bucket policy: S3 GetBucketPolicy failed: the connection failed (connection closed before message completed) (2 attempts); check the network and the endpoint (AWS_ENDPOINT_URL, AWS_REGION), then run again\n"
    );
}

/// CreateKey is not idempotent: when its answer is lost after KMS made the key, trying
/// again blindly makes a second one. Apply finds the key the lost attempt made instead.
#[test]
fn a_create_key_whose_answer_is_lost_makes_one_key() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow3-cross-account-source.yaml");
    let faults = emu.with_faults(&["POST:TrentService.CreateKey:1:-1::"]);
    let o = emu.tether_via(
        &faults.endpoint,
        &["apply", "--auto-approve", "-f", t.arg()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let keys = emu.oob(r#"print(len(c("kms").list_keys()["Keys"]))"#);
    assert_eq!(keys.trim(), "1", "one key, aliased: {}", text(&o));
    let p = emu.tether(&["plan", "--detailed-exitcode", "-f", t.arg()]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
}
