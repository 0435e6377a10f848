//! The executor: carries out a [`Plan`] value, and nothing else.
//!
//! The work graph comes from the plan's changes only: creations, updates and
//! replacements in dependency order (a step waits for the steps it depends on), then
//! deletions in the plan's order (dependents first). Independent steps run in parallel
//! within a bound. A failed step skips every step that depends on it; unrelated steps go
//! on. Known IAM propagation errors are retried with bounded exponential backoff.

use crate::aws::write::Writer;
use crate::aws::{Aws, AwsError};
use crate::plan::{unknown, Action, Plan, ResourceChange};
use crate::resource::Address;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
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
                    // Errors name their resource; the line already does.
                    let e = e.strip_prefix(&format!("{a}: ")).unwrap_or(e);
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
        // "If you delete a queue, you must wait at least 60 seconds before creating a
        // queue with the same name" (SQS API reference, CreateQueue): a dead-letter queue
        // turned off and on again, or a destroy followed by an apply.
        "AWS.SimpleQueueService.QueueDeletedRecently" | "QueueDeletedRecently" => {
            Some("SQS refuses a queue name for 60 seconds after its queue is deleted")
        }
        _ => None,
    }
}

/// One step's work: carry out one change (the writer in production, a fake in tests).
pub type StepFn = Arc<dyn Fn(ResourceChange) -> StepFuture + Send + Sync>;
/// A step's result: the ARN AWS assigned to what it created, when later steps need it.
pub type StepFuture = Pin<Box<dyn Future<Output = Result<Option<String>, AwsError>> + Send>>;

/// Executes `plan`, reporting progress through `on_event`.
pub async fn execute(
    aws: Arc<Aws>,
    plan: &Plan,
    options: &Options,
    on_event: Arc<dyn Fn(Event) + Send + Sync>,
) -> Report {
    let sid_prefix = format!("tether_{}_", plan.topology);
    let home_region = options.home_region.clone();
    let step: StepFn = Arc::new(move |change: ResourceChange| -> StepFuture {
        let aws = aws.clone();
        let sid_prefix = sid_prefix.clone();
        let region = if change.region == "global" {
            home_region.clone()
        } else {
            change.region.clone()
        };
        Box::pin(async move {
            let clients = aws.clients(&change.account, &region);
            Writer {
                clients: &clients,
                sid_prefix,
                assigned: Default::default(),
            }
            .apply(&change)
            .await
        })
    });
    execute_with(plan, options, on_event, step).await
}

/// Executes `plan` with `step` carrying out each change: the scheduling, retries,
/// skipping and reporting of [`execute`], without AWS.
pub async fn execute_with(
    plan: &Plan,
    options: &Options,
    on_event: Arc<dyn Fn(Event) + Send + Sync>,
    step: StepFn,
) -> Report {
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
    // Which step each task runs, so that a panicking task is still reported as its step.
    let mut started_steps: HashMap<tokio::task::Id, (Address, Action)> = HashMap::new();
    // ARNs AWS assigned to what earlier steps created (a new key's), for the places the
    // plan marks as known after apply. A step starts only after the steps it needs.
    let assigned: Arc<std::sync::Mutex<unknown::Known>> = Arc::default();

    loop {
        while running.len() < options.parallelism.max(1) {
            let Some(a) = ready.pop() else { break };
            waiting.remove(&a);
            let mut change = changes[&a].clone();
            let missing = match change.after.as_mut() {
                Some(after) => {
                    let values = assigned.lock().expect("no step panics holding it");
                    unknown::fill(after, &change.unknowns, &values)
                }
                None => Vec::new(),
            };
            let assigned = assigned.clone();
            let on_event = on_event.clone();
            let step = step.clone();
            let options = options.clone();
            let span = tracing::info_span!("apply", address = %change.address, action = change.action.verb());
            let (address, action) = (change.address.clone(), change.action);
            let handle = running.spawn(
                async move {
                    on_event(Event::Started(change.address.clone(), change.action));
                    let started = Instant::now();
                    let mut delay = Duration::from_secs(1);
                    let outcome = loop {
                        if !missing.is_empty() {
                            break Outcome::Failed(format!(
                                "{}: a value is known only after {} is created, and it was not",
                                change.address,
                                missing
                                    .iter()
                                    .map(ToString::to_string)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ));
                        }
                        match step(change.clone()).await {
                            Ok(arn) => {
                                if let Some(arn) = arn {
                                    assigned
                                        .lock()
                                        .expect("no step panics holding it")
                                        .insert(change.address.clone(), arn);
                                }
                                break Outcome::Done;
                            }
                            Err(e) => match propagation(&e) {
                                Some(why) if started.elapsed() + delay <= options.retry_bound => {
                                    let wait = delay + jitter();
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
            started_steps.insert(handle.id(), (address, action));
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (a, action, outcome) = match joined {
            Ok(x) => x,
            Err(e) => {
                // A panicking step is a bug in tether, and a failed step: its dependents
                // are skipped and the run goes on, so the report and the exit code say so.
                let (a, action) = started_steps
                    .get(&e.id())
                    .cloned()
                    .expect("every task is a started step");
                let why = panic_message(e);
                tracing::error!(address = %a, "step panicked: {why}");
                let outcome =
                    Outcome::Failed(format!("tether panicked: {why} (a bug: please report it)"));
                on_event(Event::Finished(a.clone(), action, outcome.clone()));
                (a, action, outcome)
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
    // Every step of the plan is in the report: one that never started (which the
    // scheduling above should make impossible) is a failure, never a silent omission.
    for (a, c) in &changes {
        report.steps.entry(a.clone()).or_insert_with(|| {
            (
                c.action,
                Outcome::Failed("never started (a bug in the executor: please report it)".into()),
            )
        });
    }
    report
}

/// Before the first step: records in each account's ownership marker the regions this
/// run may write to, so that an interrupted run never leaves resources in a region the
/// marker does not name (see [`crate::marker`]). Returns how many markers were written.
pub async fn grow_markers(
    aws: Arc<Aws>,
    plan: &Plan,
    home_region: &str,
) -> Result<usize, AwsError> {
    let mut written = 0;
    for m in plan.markers.iter().filter(|m| m.needs_growth()) {
        let c = aws.clients(&m.account, home_region);
        let span = tracing::info_span!("marker", account = %m.account, action = "grow");
        crate::aws::marker::grow(&c, &plan.topology, m)
            .instrument(span)
            .await?;
        written += 1;
    }
    Ok(written)
}

/// After the run: removes from each marker the regions the topology dropped, in the
/// accounts where every step succeeded (where one failed, what it left behind must be
/// found again by the next plan).
pub async fn prune_markers(
    aws: Arc<Aws>,
    plan: &Plan,
    report: &Report,
    home_region: &str,
) -> Vec<AwsError> {
    let mut errors = Vec::new();
    for m in plan.markers.iter().filter(|m| m.needs_pruning()) {
        let unfinished = plan.changes.iter().any(|c| {
            c.account == m.account
                && report
                    .steps
                    .get(&c.address)
                    .is_some_and(|(_, o)| *o != Outcome::Done)
        });
        if unfinished {
            continue;
        }
        let c = aws.clients(&m.account, home_region);
        let span = tracing::info_span!("marker", account = %m.account, action = "prune");
        if let Err(e) = crate::aws::marker::prune(&c, &plan.topology, m)
            .instrument(span)
            .await
        {
            errors.push(e);
        }
    }
    errors
}

/// After `tether destroy`: deletes every marker when nothing of the topology is left
/// (no step failed or was skipped, nothing was kept because it is protected).
pub async fn delete_markers(
    aws: Arc<Aws>,
    plan: &Plan,
    report: &Report,
    home_region: &str,
) -> Vec<AwsError> {
    let kept = plan.changes.iter().any(|c| c.action == Action::NoOp);
    if kept || report.failed() + report.skipped() > 0 {
        return Vec::new();
    }
    let mut errors = Vec::new();
    for m in &plan.markers {
        let c = aws.clients(&m.account, home_region);
        if let Err(e) = crate::aws::marker::delete(&c, m).await {
            errors.push(e);
        }
    }
    errors
}

/// The random part of a retry's wait: parallel steps that hit the same propagation
/// error must not all retry in the same instant.
fn jitter() -> Duration {
    Duration::from_millis(fastrand::u64(0..500))
}

/// The message a panicking task left, when it left one.
fn panic_message(e: tokio::task::JoinError) -> String {
    if e.is_cancelled() {
        return "the step was cancelled".into();
    }
    let payload = e.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Dependents are deleted first: targets, rules, pipelines, buses, buckets, keys, roles.
fn deletion_rank(c: &ResourceChange) -> usize {
    crate::resource::deletion_rank(&c.kind)
}

/// How other resources name this one (ARN, name or alias).
fn identifiers(c: &ResourceChange) -> Vec<String> {
    c.before
        .as_ref()
        .map(|o| o.spec.identifiers())
        .unwrap_or_default()
}

fn refers(c: &ResourceChange, ids: &[String]) -> bool {
    let Some(o) = &c.before else { return false };
    let text = serde_json::to_string(&o.spec).unwrap_or_default();
    ids.iter().any(|id| text.contains(id.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A plan that creates everything flow 1 derives.
    fn flow1_plan() -> Plan {
        let expansion = crate::fixtures::flow1();
        Plan {
            format_version: crate::plan::FORMAT_VERSION,
            topology: expansion.topology.clone(),
            topology_sha256: String::new(),
            changes: expansion
                .resources
                .iter()
                .map(|r| ResourceChange {
                    address: r.address.clone(),
                    kind: r.spec.kind().into(),
                    account: r.account.clone(),
                    account_id: r.account_id.clone(),
                    region: r.region.clone(),
                    action: Action::Create,
                    reason: "test".into(),
                    changes: Vec::new(),
                    before: None,
                    after: Some(r.clone()),
                    unknowns: Default::default(),
                    fingerprint: "absent".into(),
                })
                .collect(),
            markers: Vec::new(),
            access: Vec::new(),
            warnings: Vec::new(),
            flows: Vec::new(),
        }
    }

    fn options() -> Options {
        Options {
            parallelism: 4,
            retry_bound: Duration::from_secs(1),
            home_region: "us-east-1".into(),
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    fn run(plan: &Plan, step: StepFn) -> (Report, Vec<Event>) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = events.clone();
        let on_event = Arc::new(move |e: Event| seen.lock().unwrap().push(e));
        let rt = runtime();
        let report = rt.block_on(execute_with(plan, &options(), on_event, step));
        let events = events.lock().unwrap().clone();
        (report, events)
    }

    #[test]
    fn a_panicking_step_is_a_failed_step_and_its_dependents_are_skipped() {
        let plan = flow1_plan();
        let bad = "tools/us-east-1/event_bus.flow1-triggers";
        // Everything that (transitively) depends on the bus.
        let mut dependents = BTreeSet::new();
        loop {
            let before = dependents.len();
            for c in &plan.changes {
                let deps = &c.after.as_ref().unwrap().depends_on;
                if deps
                    .iter()
                    .any(|d| d.as_str() == bad || dependents.contains(d))
                {
                    dependents.insert(c.address.clone());
                }
            }
            if dependents.len() == before {
                break;
            }
        }
        assert!(!dependents.is_empty(), "the bus has dependents in flow 1");
        let step: StepFn = Arc::new(move |c: ResourceChange| -> StepFuture {
            Box::pin(async move {
                if c.address.as_str() == bad {
                    panic!("injected fault");
                }
                Ok(None)
            })
        });
        let (report, events) = run(&plan, step);
        assert_eq!(
            report.steps.len(),
            plan.changes.len(),
            "every step is reported"
        );
        match &report.steps[&Address(bad.into())].1 {
            Outcome::Failed(why) => assert!(why.contains("injected fault"), "{why}"),
            other => panic!("{other:?}"),
        }
        for d in &dependents {
            assert!(
                matches!(report.steps[d].1, Outcome::Skipped(_)),
                "{d}: {:?}",
                report.steps[d]
            );
        }
        assert_eq!(report.failed(), 1);
        assert_eq!(report.skipped(), dependents.len());
        assert_eq!(report.done(), plan.changes.len() - 1 - dependents.len());
        assert!(report.render().starts_with(&format!(
            "Apply: {} done, 1 failed, {} skipped.",
            report.done(),
            dependents.len()
        )));
        // The progress view hears of the failure too.
        assert!(events.iter().any(|e| matches!(e,
            Event::Finished(a, _, Outcome::Failed(_)) if a.as_str() == bad)));
    }

    #[test]
    fn retry_jitter_spreads_parallel_waits() {
        let waits: BTreeSet<Duration> = (0..64).map(|_| jitter()).collect();
        assert!(waits.iter().all(|w| *w < Duration::from_millis(500)));
        // 64 draws from 500 values: all equal only if the source is not random.
        assert!(waits.len() > 32, "{waits:?}");
        let spread = *waits.last().unwrap() - *waits.first().unwrap();
        assert!(spread >= Duration::from_millis(200), "{waits:?}");
    }

    #[test]
    fn parallel_steps_retrying_a_propagation_error_wait_different_times() {
        let plan = flow1_plan();
        let tries = Arc::new(Mutex::new(BTreeMap::<Address, usize>::new()));
        let counted = tries.clone();
        let step: StepFn = Arc::new(move |c: ResourceChange| -> StepFuture {
            let tries = counted.clone();
            Box::pin(async move {
                let n = {
                    let mut t = tries.lock().unwrap();
                    let n = t.entry(c.address.clone()).or_default();
                    *n += 1;
                    *n
                };
                if n == 1 {
                    return Err(AwsError::service(
                        c.address.to_string(),
                        "MalformedPolicyDocument",
                        "Invalid principal in policy",
                    ));
                }
                Ok(None)
            })
        });
        let mut options = options();
        options.retry_bound = Duration::from_secs(10);
        options.parallelism = 32;
        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = events.clone();
        let on_event = Arc::new(move |e: Event| seen.lock().unwrap().push(e));
        let rt = runtime();
        let report = rt.block_on(execute_with(&plan, &options, on_event, step));
        assert_eq!(report.failed(), 0, "{}", report.render());
        let waits: Vec<Duration> = events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                Event::Waiting(_, _, w) => Some(*w),
                _ => None,
            })
            .collect();
        assert_eq!(waits.len(), plan.changes.len(), "every step waited once");
        // Uniform jitter over 500 ms: the chance that this many draws all fall within
        // 150 ms of each other is below one in a million; a clock-derived "jitter" puts
        // them within a few milliseconds.
        let spread = *waits.iter().max().unwrap() - *waits.iter().min().unwrap();
        assert!(
            spread >= Duration::from_millis(150),
            "parallel waits must differ: {waits:?}"
        );
    }

    fn service(code: &str, message: &str) -> AwsError {
        AwsError::service("x", code, message)
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
            "AWS.SimpleQueueService.QueueDeletedRecently",
            "You must wait 60 seconds after deleting a queue before you can create another with the same name."
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

    /// A plan that creates flow 1 from nothing: the key's ARN is known after apply.
    fn flow1_from_nothing() -> Plan {
        let expansion = crate::fixtures::flow1();
        let mut state = crate::state::State::default();
        for r in &expansion.resources {
            state.resources.insert(r.address.clone(), None);
        }
        crate::plan::diff::diff(&expansion, &state, "", &Default::default()).unwrap()
    }

    #[test]
    fn values_known_after_apply_come_from_the_step_that_created_them() {
        let plan = flow1_from_nothing();
        let key = plan
            .changes
            .iter()
            .find(|c| c.kind == "kms_key")
            .unwrap()
            .address
            .clone();
        let waiting: Vec<Address> = plan
            .changes
            .iter()
            .filter(|c| c.unknowns.values().any(|a| a.contains(&key)) && c.address != key)
            .map(|c| c.address.clone())
            .collect();
        assert!(
            waiting.len() >= 3,
            "the pipeline, its bucket and roles name the key"
        );
        let arn = "arn:aws:kms:us-east-1:111111111111:key/made-by-the-step";
        let seen: Arc<Mutex<Vec<ResourceChange>>> = Arc::default();
        let record = seen.clone();
        let key_step = key.clone();
        let step: StepFn = Arc::new(move |c: ResourceChange| -> StepFuture {
            record.lock().unwrap().push(c.clone());
            let made = (c.address == key_step).then(|| arn.to_string());
            Box::pin(async move { Ok(made) })
        });
        let (report, _) = run(&plan, step);
        assert_eq!(report.failed(), 0, "{}", report.render());
        for c in seen
            .lock()
            .unwrap()
            .iter()
            .filter(|c| waiting.contains(&c.address))
        {
            let text = serde_json::to_string(&c.after).unwrap();
            assert!(text.contains(arn), "{}: {text}", c.address);
            assert!(
                !text.contains(crate::plan::unknown::KNOWN_AFTER_APPLY),
                "{}: {text}",
                c.address
            );
        }

        // A create that reports no ARN leaves its dependents nothing to write: they fail,
        // they do not write `(known after apply)` to AWS.
        let step: StepFn =
            Arc::new(|_: ResourceChange| -> StepFuture { Box::pin(async { Ok(None) }) });
        let (report, _) = run(&plan, step);
        let mut failed = 0;
        for a in &waiting {
            match &report.steps[a].1 {
                Outcome::Failed(why) => {
                    assert!(why.contains(key.as_str()), "{why}");
                    failed += 1;
                }
                Outcome::Skipped(_) => {} // behind one of those
                Outcome::Done => panic!("{a} ran without the key's ARN"),
            }
        }
        assert!(failed > 0);
    }
}
