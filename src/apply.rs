//! The executor: carries out a [`Plan`] value, and nothing else.
//!
//! The work graph comes from the plan's changes only: creations, updates and
//! replacements in dependency order (a step waits for the steps it depends on), then
//! deletions in the plan's order (dependents first). Independent steps run in parallel
//! within a bound. A failed step skips every step that depends on it; unrelated steps go
//! on. Known IAM propagation errors are retried with bounded exponential backoff.

use crate::aws::write::Writer;
use crate::aws::{Aws, AwsError};
use crate::expand::resource::Address;
use crate::plan::{Action, Plan, ResourceChange};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tracing::Instrument;

/// How long propagation errors are retried before the step fails.
pub const DEFAULT_RETRY_BOUND: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Failed(String),
    /// Not attempted because a step it depends on failed (named).
    Skipped(Address),
}

/// What happened to every step.
#[derive(Debug, Default)]
pub struct Report {
    pub steps: BTreeMap<Address, (Action, Outcome)>,
}

impl Report {
    pub fn failed(&self) -> usize {
        self.steps
            .values()
            .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
            .count()
    }

    pub fn skipped(&self) -> usize {
        self.steps
            .values()
            .filter(|(_, o)| matches!(o, Outcome::Skipped(_)))
            .count()
    }

    pub fn done(&self) -> usize {
        self.steps
            .values()
            .filter(|(_, o)| *o == Outcome::Done)
            .count()
    }

    pub fn render(&self) -> String {
        let mut out = format!(
            "Apply: {} done, {} failed, {} skipped.\n",
            self.done(),
            self.failed(),
            self.skipped()
        );
        for (a, (action, o)) in &self.steps {
            match o {
                Outcome::Done => {}
                Outcome::Failed(e) => {
                    out.push_str(&format!("  failed  {} {a}: {e}\n", action.verb()))
                }
                Outcome::Skipped(because) => out.push_str(&format!(
                    "  skipped {} {a}: depends on {because}, which did not succeed\n",
                    action.verb()
                )),
            }
        }
        out
    }
}

/// Progress events, for the command line to show.
#[derive(Debug, Clone)]
pub enum Event {
    Started(Address, Action),
    Waiting(Address, String, Duration),
    Finished(Address, Action, Outcome),
}

/// Options of one apply.
#[derive(Debug, Clone)]
pub struct Options {
    pub parallelism: usize,
    pub retry_bound: Duration,
    /// Region for global (IAM) clients.
    pub home_region: String,
}

/// Whether an error is one of the known eventual-consistency errors worth waiting for.
pub fn propagation(e: &AwsError) -> Option<&'static str> {
    let AwsError::Service { code, message, .. } = e else {
        return None;
    };
    let m = message.to_ascii_lowercase();
    match code.as_str() {
        "MalformedPolicyDocument"
        | "MalformedPolicyDocumentException"
        | "MalformedPolicy"
        | "InvalidParameterValue"
            if m.contains("principal") =>
        {
            Some("a role named in a policy is not visible yet (IAM propagation)")
        }
        "InvalidStructureException" | "InvalidParameterValueException" | "ValidationException"
            if m.contains("assume") || m.contains("not authorized") =>
        {
            Some("CodePipeline cannot assume a role created moments ago yet")
        }
        "NoSuchEntity" if m.contains("role") => {
            Some("a role created moments ago is not visible yet")
        }
        _ => None,
    }
}

/// Executes `plan`, reporting progress through `on_event`.
pub async fn execute(
    aws: Arc<Aws>,
    plan: &Plan,
    options: &Options,
    on_event: Arc<dyn Fn(Event) + Send + Sync>,
) -> Report {
    let sid_prefix = format!("tether_{}_", plan.topology);
    let changes: BTreeMap<Address, ResourceChange> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| (c.address.clone(), c.clone()))
        .collect();

    // Dependencies between steps: what a create/update needs; a deletion waits for the
    // creations and updates (which may stop referring to it) and for the deletion of
    // every resource that refers to it (a target before its rule, a pipeline before its
    // role), so that a failed deletion holds back only what it really blocks.
    let deletions: Vec<&ResourceChange> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .collect();
    let mut needs: BTreeMap<Address, BTreeSet<Address>> = BTreeMap::new();
    for c in plan.changes.iter().filter(|c| c.action != Action::NoOp) {
        let mut deps = BTreeSet::new();
        if c.action == Action::Delete {
            deps.extend(
                changes
                    .values()
                    .filter(|x| x.action != Action::Delete)
                    .map(|x| x.address.clone()),
            );
            let ids = identifiers(c);
            for other in &deletions {
                if other.address != c.address
                    && deletion_rank(other) < deletion_rank(c)
                    && refers(other, &ids)
                {
                    deps.insert(other.address.clone());
                }
            }
        } else if let Some(after) = &c.after {
            deps.extend(
                after
                    .depends_on
                    .iter()
                    .filter(|d| changes.contains_key(*d))
                    .cloned(),
            );
        }
        needs.insert(c.address.clone(), deps);
    }
    let mut dependents: BTreeMap<Address, Vec<Address>> = BTreeMap::new();
    for (a, deps) in &needs {
        for d in deps {
            dependents.entry(d.clone()).or_default().push(a.clone());
        }
    }

    let mut report = Report::default();
    let mut waiting: BTreeMap<Address, usize> =
        needs.iter().map(|(a, d)| (a.clone(), d.len())).collect();
    let mut ready: Vec<Address> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(a, _)| a.clone())
        .collect();
    ready.reverse();
    let mut running: JoinSet<(Address, Action, Outcome)> = JoinSet::new();

    loop {
        while running.len() < options.parallelism.max(1) {
            let Some(a) = ready.pop() else { break };
            waiting.remove(&a);
            let change = changes[&a].clone();
            let aws = aws.clone();
            let on_event = on_event.clone();
            let sid_prefix = sid_prefix.clone();
            let options = options.clone();
            let span = tracing::info_span!("apply", address = %change.address, action = change.action.verb());
            running.spawn(
                async move {
                    on_event(Event::Started(change.address.clone(), change.action));
                    let region = if change.region == "global" {
                        options.home_region.clone()
                    } else {
                        change.region.clone()
                    };
                    let clients = aws.clients(&change.account, &region);
                    let writer = Writer {
                        clients: &clients,
                        sid_prefix,
                    };
                    let started = Instant::now();
                    let mut delay = Duration::from_secs(1);
                    let outcome = loop {
                        match writer.apply(&change).await {
                            Ok(()) => break Outcome::Done,
                            Err(e) => match propagation(&e) {
                                Some(why) if started.elapsed() + delay <= options.retry_bound => {
                                    // Jitter from the clock: spread retries of parallel steps.
                                    let jitter = Duration::from_millis(u64::from(
                                        Instant::now().elapsed().subsec_nanos() % 500,
                                    ));
                                    let wait = delay + jitter;
                                    tracing::info!(
                                        reason = why,
                                        wait_ms = wait.as_millis() as u64,
                                        "waiting for propagation"
                                    );
                                    on_event(Event::Waiting(
                                        change.address.clone(),
                                        why.to_string(),
                                        wait,
                                    ));
                                    tokio::time::sleep(wait).await;
                                    delay = (delay * 2).min(Duration::from_secs(20));
                                }
                                _ => break Outcome::Failed(e.to_string()),
                            },
                        }
                    };
                    on_event(Event::Finished(
                        change.address.clone(),
                        change.action,
                        outcome.clone(),
                    ));
                    (change.address, change.action, outcome)
                }
                .instrument(span),
            );
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (a, action, outcome) = match joined {
            Ok(x) => x,
            Err(e) => {
                // A panicking step is a bug; report it and stop starting new work.
                tracing::error!("a step panicked: {e}");
                break;
            }
        };
        let failed = outcome != Outcome::Done;
        report.steps.insert(a.clone(), (action, outcome));
        if failed {
            // Skip everything that (transitively) depends on the failed step.
            let mut todo = dependents.get(&a).cloned().unwrap_or_default();
            while let Some(d) = todo.pop() {
                if report.steps.contains_key(&d) {
                    continue;
                }
                waiting.remove(&d);
                ready.retain(|r| r != &d);
                let act = changes[&d].action;
                report
                    .steps
                    .insert(d.clone(), (act, Outcome::Skipped(a.clone())));
                on_event(Event::Finished(d.clone(), act, Outcome::Skipped(a.clone())));
                todo.extend(dependents.get(&d).cloned().unwrap_or_default());
            }
        } else {
            for d in dependents.get(&a).cloned().unwrap_or_default() {
                if let Some(n) = waiting.get_mut(&d) {
                    *n -= 1;
                    if *n == 0 {
                        ready.insert(0, d);
                    }
                }
            }
        }
    }
    report
}

/// Dependents are deleted first: targets, rules, pipelines, buses, buckets, keys, roles.
fn deletion_rank(c: &ResourceChange) -> usize {
    [
        "event_target",
        "event_rule",
        "pipeline",
        "event_bus",
        "s3_bucket",
        "kms_key",
        "iam_role",
    ]
    .iter()
    .position(|k| *k == c.kind)
    .unwrap_or(usize::MAX)
}

/// How other resources name this one (ARN, name or alias).
fn identifiers(c: &ResourceChange) -> Vec<String> {
    use crate::expand::resource::Spec;
    let Some(o) = &c.before else {
        return Vec::new();
    };
    match &o.spec {
        Spec::IamRole(x) => vec![x.arn.clone()],
        Spec::S3Bucket(x) => vec![x.name.clone()],
        Spec::KmsKey(x) => vec![x.alias.clone()],
        Spec::EventBus(x) => vec![x.arn.clone(), format!("\"bus\":\"{}\"", x.name)],
        Spec::EventRule(x) => vec![format!("\"rule\":\"{}\"", x.name)],
        Spec::Pipeline(x) => vec![x.arn.clone()],
        Spec::EventTarget(_) => Vec::new(),
    }
}

fn refers(c: &ResourceChange, ids: &[String]) -> bool {
    let Some(o) = &c.before else { return false };
    let text = serde_json::to_string(&o.spec).unwrap_or_default();
    ids.iter().any(|id| text.contains(id.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(code: &str, message: &str) -> AwsError {
        AwsError::Service {
            context: "x".into(),
            code: code.into(),
            message: message.into(),
        }
    }

    #[test]
    fn only_known_propagation_errors_are_retried() {
        assert!(propagation(&service(
            "MalformedPolicyDocument",
            "Invalid principal in policy: \"AWS\":\"arn:aws:iam::1:role/x\""
        ))
        .is_some());
        assert!(propagation(&service(
            "InvalidStructureException",
            "CodePipeline is not authorized to perform AssumeRole on role arn:…"
        ))
        .is_some());
        assert!(propagation(&service(
            "NoSuchEntity",
            "The role with name x cannot be found."
        ))
        .is_some());
        assert!(propagation(&service(
            "MalformedPolicyDocument",
            "Syntax errors in policy."
        ))
        .is_none());
        assert!(propagation(&service(
            "AccessDenied",
            "not authorized to perform: iam:CreateRole"
        ))
        .is_none());
        assert!(propagation(&AwsError::Unexpected {
            context: "x".into(),
            detail: "principal".into()
        })
        .is_none());
    }
}
