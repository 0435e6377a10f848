//! The flows a topology declares, hop by hop, and whether AWS would allow each hop.
//!
//! A flow is what happens at run time: for a trigger, an upload under the prefix starts
//! the pipelines; for a pipeline, a run from the source to the last action. Each hop is
//! one request a service makes (who calls which action on which resource, with which
//! request context), evaluated by [`crate::eval`] against the planned state
//! ([`World`]). The hops are read from the expansion's resources (rules and their
//! targets, roles' trust and inline policies, bucket, key and bus policies, the
//! pipeline declaration: action roles, artifact stores, configurations), not from the
//! expansion's own logic, so they follow whatever the expansion derives; the topology
//! supplies only what a flow is for (a trigger's bucket and prefix and the pipelines
//! it starts) and what the declaration does not hold (a build project's service role).
//!
//! Requests and their context, from AWS documentation:
//! - S3 sends events to EventBridge when the bucket's EventBridge notifications are on
//!   (S3 User Guide, "Using EventBridge"); the rules of the account's default bus see
//!   them.
//! - EventBridge assumes a target's role with `aws:SourceArn` = the rule's ARN and
//!   `aws:SourceAccount` = the rule's account (EventBridge User Guide, "Using IAM policy
//!   conditions in Amazon EventBridge"); the role sends `events:PutEvents` to a bus in
//!   another account ("Sending and receiving events between AWS accounts") or calls
//!   `codepipeline:StartPipelineExecution` ("Amazon EventBridge targets", CodePipeline).
//! - CodePipeline assumes the pipeline's service role. Its guide's trust policy has no
//!   condition ("Create the CodePipeline service role"), and no page says which source
//!   keys it sends, so `aws:SourceArn`/`aws:SourceAccount` stay *unknown*: a trust that
//!   tests them is "unverified", never "allowed".
//! - The pipeline role assumes each action's role (CodePipeline User Guide, "Create a
//!   pipeline in CodePipeline that uses resources from another AWS account"); the action
//!   runs as that role, or as the pipeline role when it has none.
//! - Artifacts: output artifacts are written (`s3:PutObject`) and input artifacts read
//!   (`s3:GetObject`) in the artifact store of the action's region, and CodePipeline
//!   copies artifacts into the store of each region with actions ("Add a cross-Region
//!   action in CodePipeline"). With SSE-KMS, an upload needs `kms:GenerateDataKey` and
//!   a download `kms:Decrypt` on the key (S3 User Guide, "Using server-side encryption
//!   with AWS KMS keys", Permissions); the request to KMS carries `kms:ViaService`,
//!   `kms:CallerAccount` and the key's aliases in `kms:ResourceAliases` (AWS KMS
//!   Developer Guide, "AWS KMS condition keys").
//! - Actions' own calls follow the CodePipeline action reference and "CodePipeline
//!   service role permissions": S3 source `s3:GetObject`, `s3:GetBucketVersioning`;
//!   CodeCommit `codecommit:GetBranch`, `GetCommit`, `UploadArchive`,
//!   `GetUploadArchiveStatus`; connections `codeconnections:UseConnection`; CodeBuild
//!   `codebuild:StartBuild`, `BatchGetBuilds`; CloudFormation the stack operations of its
//!   mode and `iam:PassRole` of the stack role with `iam:PassedToService` =
//!   `cloudformation.amazonaws.com` (IAM User Guide, "IAM and AWS STS condition context
//!   keys"); Commands `logs:CreateLogStream`, `logs:PutLogEvents` on
//!   `/aws/codepipeline/<pipeline>` ("Commands action reference"); Lambda
//!   `lambda:InvokeFunction`.
//! - CloudFormation assumes the stack's execution role (CloudFormation User Guide, "AWS
//!   CloudFormation service role"), which reads the packaged artifacts; a build's
//!   service role reads its input artifacts and assumes the roles that trust it.
//!
//! Not modelled, so never part of a proof: SCPs and RCPs, permissions boundaries,
//! session policies, KMS grants, S3 ACLs and Object Ownership, VPC endpoint policies,
//! CodeBuild project settings, and anything a build's or a stack's own code does.

pub mod pattern;
pub mod world;

pub use world::{ExternalRole, World};

use crate::eval::{self, Caller, Context, Decision, Identity, Policy, Request, Target};
use crate::expand::policy::Statement;
use crate::model::{ActionKind, Topology};
use crate::resource::{ActionSpec, PipelineSpec, Resource};
use rustc_hash::FxHashMap as HashMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// One declared flow and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Flow {
    /// `trigger on-upload` or `pipeline app-main` (the topology's entry).
    pub name: String,
    pub verdict: Verdict,
    /// The trigger is switched off (`enabled: false`): proven as if it were on.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub disabled: bool,
    pub hops: Vec<Hop>,
}

/// Whether a flow would run to its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    /// Every hop is allowed.
    Proven,
    /// AWS would deny a hop: the first one (index into `hops`, from 0).
    Broken { hop: usize, why: String },
    /// No hop is denied, but these could not be proven.
    Unverified { reasons: Vec<String> },
}

/// One request a service makes at run time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Hop {
    /// What happens, in words.
    pub step: String,
    /// Who calls: a role ARN, or `service <name>`.
    pub principal: String,
    pub action: String,
    pub resource: String,
    /// The request context keys the call carries that policies may test.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub context: BTreeMap<String, String>,
    pub outcome: Outcome,
}

/// The evaluator's answer for one hop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    Allowed,
    /// `policies` lack the allow, or `statement` of the one policy holds the deny.
    Denied {
        why: String,
        policies: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        statement: Option<String>,
    },
    Unverified {
        why: String,
    },
}

impl Flow {
    pub fn broken(&self) -> bool {
        matches!(self.verdict, Verdict::Broken { .. })
    }

    fn finish(name: String, disabled: bool, hops: Vec<Hop>) -> Flow {
        let first = hops
            .iter()
            .position(|h| matches!(h.outcome, Outcome::Denied { .. }));
        let verdict = match first {
            Some(i) => {
                let h = &hops[i];
                let why = match &h.outcome {
                    Outcome::Denied { why, .. } => why.clone(),
                    _ => unreachable!(),
                };
                Verdict::Broken {
                    hop: i,
                    why: format!(
                        "{}: {} {} on {}: {why}",
                        h.step, h.principal, h.action, h.resource
                    ),
                }
            }
            None => {
                let mut reasons: Vec<String> = Vec::new();
                for h in &hops {
                    if let Outcome::Unverified { why } = &h.outcome {
                        if !reasons.contains(why) {
                            reasons.push(why.clone());
                        }
                    }
                }
                if reasons.is_empty() {
                    Verdict::Proven
                } else {
                    Verdict::Unverified { reasons }
                }
            }
        };
        Flow {
            name,
            verdict,
            disabled,
            hops,
        }
    }

    /// One line: the flow and its verdict.
    pub fn headline(&self) -> String {
        let off = if self.disabled { " (disabled)" } else { "" };
        match &self.verdict {
            Verdict::Proven => format!("{}{off}: proven ({} hops)", self.name, self.hops.len()),
            Verdict::Broken { hop, why } => {
                format!("{}{off}: BROKEN at hop {}: {why}", self.name, hop + 1)
            }
            Verdict::Unverified { reasons } => {
                format!("{}{off}: unverified: {}", self.name, reasons.join("; "))
            }
        }
    }
}

/// The request context as the evaluator reads it, and as the output shows it.
#[derive(Clone)]
struct Ctx {
    context: Context,
    shown: BTreeMap<String, String>,
}

impl Ctx {
    /// A role session calling an API directly (built once: most hops are such calls).
    fn role() -> &'static Ctx {
        static ROLE: OnceLock<Ctx> = OnceLock::new();
        ROLE.get_or_init(|| Ctx {
            context: Context::role_call(),
            shown: BTreeMap::new(),
        })
    }
    /// A service assuming a role, without source keys it documents sending.
    fn service_unknown_source() -> &'static Ctx {
        static SERVICE: OnceLock<Ctx> = OnceLock::new();
        SERVICE.get_or_init(|| Ctx {
            context: Context::new().with_bool("aws:SecureTransport", true),
            shown: BTreeMap::new(),
        })
    }
    /// EventBridge for a rule.
    fn eventbridge(rule_arn: &str, account: &str) -> Ctx {
        let mut shown = BTreeMap::new();
        shown.insert("aws:SourceArn".into(), rule_arn.to_string());
        shown.insert("aws:SourceAccount".into(), account.to_string());
        Ctx {
            context: Context::service_call(rule_arn, account),
            shown,
        }
    }
    fn with(mut self, key: &str, value: &str) -> Ctx {
        self.context = self.context.with(key, value);
        self.shown.insert(key.into(), value.into());
        self
    }
    fn with_list(mut self, key: &str, values: &[String]) -> Ctx {
        self.context = self.context.with_list(key, values.iter().cloned());
        self.shown.insert(key.into(), values.join(", "));
        self
    }
}

/// What the resource side of a hop is: `'s` borrows what the hop holds, `'w` the world,
/// `'a` what the world borrows.
enum Side<'s, 'w, 'a> {
    /// A resource with a policy (or none): its address or name, its statements.
    Resource(&'s str, Option<&'s [Statement]>),
    Trust(&'s world::RoleView<'s>),
    /// A resource policy tether derives (bucket, bus), with foreign statements.
    Policy(&'w world::PolicyView<'a>),
    Key(&'w world::KeyView<'a>),
}

/// The evaluator's decision as a hop's outcome; `skip` is a resource without a policy,
/// which cannot be what lacks the allow.
fn outcome(d: Decision, skip: Option<&str>) -> Outcome {
    match d {
        Decision::Allowed => Outcome::Allowed,
        Decision::CannotProve(why) => Outcome::Unverified { why },
        Decision::Denied(eval::Denied::Explicit { policy, statement }) => Outcome::Denied {
            why: format!("statement {statement} of {policy} denies it"),
            policies: vec![policy],
            statement: Some(statement),
        },
        Decision::Denied(eval::Denied::NoAllow { mut lacking, rule }) => {
            lacking.retain(|p| Some(p.as_str()) != skip);
            Outcome::Denied {
                why: format!("no allow in {} ({rule})", lacking.join(" nor in ")),
                policies: lacking,
                statement: None,
            }
        }
    }
}

/// Builds and evaluates the hops of one flow.
struct Hops<'w, 'a> {
    world: &'w World<'a>,
    hops: Vec<Hop>,
    /// The context of a request to a key through S3, by key and calling account: a flow
    /// reads and writes the same store many times.
    kms: Vec<(&'w str, String, std::rc::Rc<Ctx>)>,
    /// Policies as read for a caller (by the policy's address and the caller's ARN): a
    /// role reads and writes the same store several times in a flow.
    read: Vec<(&'a str, String, std::rc::Rc<[eval::Reading<'a>]>)>,
}

struct Call<'c> {
    step: String,
    caller: &'c Caller,
    action: &'c str,
    resource: &'c str,
    resource_account: &'c str,
    /// The references tether's policies name the resource by (a key's).
    names: &'c [&'c str],
    ctx: &'c Ctx,
}

impl<'w, 'a> Hops<'w, 'a> {
    fn new(world: &'w World<'a>) -> Self {
        Hops {
            world,
            hops: Vec::new(),
            kms: Vec::new(),
            read: Vec::new(),
        }
    }

    /// `policy` as read for `caller` and `context` (see [`world::PolicyView::read`]).
    fn read(
        &mut self,
        policy: &'w world::PolicyView<'a>,
        caller: &Caller,
        context: &Context,
    ) -> std::rc::Rc<[eval::Reading<'a>]> {
        let address = policy.address;
        // Reused for the caller's other requests only when the reading depends on the
        // caller alone.
        let who = match caller {
            Caller::Role(r) if !policy.reads_context() => r.arn.as_str(),
            _ => "",
        };
        if !who.is_empty() {
            let hit = self.read.iter().find(|(a, w, _)| *a == address && w == who);
            if let Some((_, _, r)) = hit {
                return r.clone();
            }
        }
        let r: std::rc::Rc<[eval::Reading<'a>]> = policy.read(caller, context).into();
        if !who.is_empty() {
            self.read.push((address, who.to_string(), r.clone()));
        }
        r
    }

    /// S3 calling KMS for `account` on the key `k` (see [`Hops::artifact`]).
    fn kms_context(&mut self, k: &'w world::KeyView<'a>, account: &str) -> std::rc::Rc<Ctx> {
        let address = k.policy.address;
        if let Some((_, _, c)) = self
            .kms
            .iter()
            .find(|(a, b, _)| *a == address && b == account)
        {
            return c.clone();
        }
        let via = format!("s3.{}.amazonaws.com", k.policy.region);
        let ctx = std::rc::Rc::new(
            Ctx::role()
                .clone()
                .with("kms:ViaService", &via)
                .with("kms:CallerAccount", account)
                .with_list("kms:ResourceAliases", std::slice::from_ref(&k.alias)),
        );
        self.kms.push((address, account.to_string(), ctx.clone()));
        ctx
    }

    fn push(&mut self, c: Call, outcome: Outcome) {
        let principal = match c.caller {
            Caller::Role(r) => r.arn.clone(),
            other => other.to_string(),
        };
        self.hops.push(Hop {
            step: c.step,
            principal,
            action: c.action.to_string(),
            resource: c.resource.to_string(),
            context: c.ctx.shown.clone(),
            outcome,
        });
    }

    /// A hop that is not a request: a setting or a pattern.
    fn fact(&mut self, step: String, principal: &str, action: &str, resource: &str, o: Outcome) {
        self.hops.push(Hop {
            step,
            principal: principal.to_string(),
            action: action.to_string(),
            resource: resource.to_string(),
            context: BTreeMap::new(),
            outcome: o,
        });
    }

    fn eval(&mut self, c: Call, side: Side<'_, 'w, 'a>) {
        let request = Request {
            caller: c.caller,
            action: c.action,
            resource: c.resource,
            resource_account: c.resource_account,
            names: c.names,
            context: &c.ctx.context,
        };
        let caller_role = match c.caller {
            Caller::Role(r) => Some(self.world.role(&r.arn)),
            _ => None,
        };
        let identity = match &caller_role {
            Some(r) => Identity {
                name: r.identity_name(),
                policies: &r.policies,
                unread: &r.unread,
            },
            None => Identity::NONE,
        };
        let no_policy = match &side {
            Side::Resource(name, None) => Some(*name),
            _ => None,
        };
        let d = match side {
            Side::Resource(name, policy) => {
                eval::evaluate(&request, &identity, &Target::Resource { name, policy })
            }
            Side::Trust(role) => match &role.trust {
                Some(t) => eval::evaluate(
                    &request,
                    &identity,
                    &Target::Trust(Policy {
                        name: eval::Name::TrustOf(role.name),
                        statements: t,
                    }),
                ),
                None => Decision::CannotProve(format!(
                    "the trust policy of {} (not managed by tether) was not read",
                    role.name
                )),
            },
            Side::Policy(v) => eval::evaluate(
                &request,
                &identity,
                &Target::Read {
                    name: v.address,
                    key: false,
                    statements: &self.read(v, c.caller, &c.ctx.context),
                },
            ),
            Side::Key(k) => eval::evaluate(
                &request,
                &identity,
                &Target::Read {
                    name: k.policy.address,
                    key: true,
                    statements: &self.read(&k.policy, c.caller, &c.ctx.context),
                },
            ),
        };
        let o = outcome(d, no_policy);
        self.push(c, o);
    }

    /// `caller` assumes the role `arn`.
    fn assume(&mut self, step: String, caller: &Caller, arn: &str, ctx: &Ctx) -> Option<Caller> {
        let role = self.world.role(arn);
        let next = Caller::role(arn);
        let account = crate::names::arn(arn).map(|a| a.account).unwrap_or("");
        self.eval(
            Call {
                step,
                caller,
                action: "sts:AssumeRole",
                resource: arn,
                resource_account: account,
                names: &[],
                ctx,
            },
            Side::Trust(&role),
        );
        if next.is_none() {
            self.fact(
                format!("{arn} is a role"),
                "tether",
                "parse",
                arn,
                Outcome::Unverified {
                    why: format!("`{arn}` is not a role ARN tether can evaluate"),
                },
            );
        }
        next
    }

    /// `caller` writes (`write`) or reads an object of `bucket` encrypted with `key`.
    fn artifact(&mut self, what: &str, caller: &Caller, store: &Store, write: bool) {
        let object = format!("{}/{what}", store.bucket_arn);
        let (s3, kms, verb) = if write {
            ("s3:PutObject", "kms:GenerateDataKey", "writes")
        } else {
            ("s3:GetObject", "kms:Decrypt", "reads")
        };
        let bucket = self.world.buckets.get(store.bucket.as_str());
        let ctx = Ctx::role();
        match bucket {
            Some(b) => self.eval(
                Call {
                    step: format!("{verb} artifacts in {}", b.address),
                    caller,
                    action: s3,
                    resource: &object,
                    resource_account: b.account_id,
                    names: &[],
                    ctx,
                },
                Side::Policy(b),
            ),
            None => self.fact(
                format!("{verb} artifacts in bucket {}", store.bucket),
                &caller.to_string(),
                s3,
                &object,
                Outcome::Unverified {
                    why: format!("bucket {} is not part of the topology", store.bucket),
                },
            ),
        }
        match store.key.and_then(|k| self.world.key(k)) {
            Some(k) => {
                let account = caller.account().unwrap_or("");
                let ctx = self.kms_context(k, account);
                self.eval(
                    Call {
                        step: format!("{verb} artifacts with key {}", k.policy.address),
                        caller,
                        action: kms,
                        resource: &k.policy.arn,
                        resource_account: k.policy.account_id,
                        names: &[&k.reference],
                        ctx: &ctx,
                    },
                    Side::Key(k),
                )
            }
            None => {
                if let Some(k) = store.key {
                    self.fact(
                        format!("{verb} artifacts with key {k}"),
                        &caller.to_string(),
                        kms,
                        k,
                        Outcome::Unverified {
                            why: format!("the key {k} is not part of the topology"),
                        },
                    )
                }
            }
        }
    }

    /// A call on a resource without a resource policy (CodeBuild project, stack,
    /// pipeline, repository, connection, function, log group, role for PassRole).
    fn call(&mut self, step: String, caller: &Caller, action: &str, resource: &str, ctx: &Ctx) {
        let account = crate::names::arn(resource).map(|a| a.account).unwrap_or("");
        self.eval(
            Call {
                step,
                caller,
                action,
                resource,
                resource_account: account,
                names: &[],
                ctx,
            },
            Side::Resource(resource, None),
        );
    }
}

/// An artifact store: its bucket and key.
struct Store<'s> {
    bucket: String,
    bucket_arn: String,
    key: Option<&'s str>,
}

/// Build service roles by pipeline and action name.
type Services<'t> = HashMap<(&'t str, &'t str), Option<&'t str>>;

/// One flow to prove.
enum Job<'t> {
    Trigger(&'t str, &'t crate::model::Trigger),
    Pipeline(&'t str, &'t Resource, &'t PipelineSpec),
}

/// Flows below this many are proven on the calling thread: threads would cost more.
const FLOWS_PER_THREAD: usize = 256;

/// Every flow of the topology: its triggers, then its pipelines.
///
/// Flows are independent of each other and the world is only read (but for indexes
/// built once, on first use), so a large topology is proven on as many threads as the
/// machine offers, each taking every n-th flow; the answer is the same list, in the same
/// order, as on one thread.
pub fn prove(t: &Topology, world: &World) -> Vec<Flow> {
    prove_on(t, world, None)
}

/// [`prove`] on `threads` threads, or (`None`) as many as the machine has and are worth
/// it. For benchmarks and tests: the answer is the same.
pub fn prove_on(t: &Topology, world: &World, threads: Option<usize>) -> Vec<Flow> {
    let mut jobs = Vec::new();
    for (key, trigger) in &t.triggers {
        jobs.push(Job::Trigger(key, trigger));
    }
    // Build service roles by pipeline and action name: the declaration names only the
    // project.
    let mut services: Services = HashMap::default();
    let mut names: BTreeMap<&str, &str> = BTreeMap::new();
    for (key, p) in &t.pipelines {
        names.insert(p.name.as_str(), key.as_str());
        for s in &p.stages {
            for a in &s.actions {
                if let ActionKind::Build { service_role, .. } = &a.kind {
                    services.insert((p.name.as_str(), a.name.as_str()), service_role.as_deref());
                }
            }
        }
    }
    for r in &world.pipelines {
        let Some(p) = r.pipeline() else { continue };
        let name = names.get(p.name.as_str()).copied().unwrap_or(&p.name);
        jobs.push(Job::Pipeline(name, r, p));
    }
    let run = |job: &Job| match job {
        Job::Trigger(key, trigger) => trigger_flow(t, key, trigger, world),
        Job::Pipeline(name, r, p) => pipeline_flow(name, r, p, &services, world),
    };
    let threads = threads.unwrap_or_else(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        cores.min(jobs.len().div_ceil(FLOWS_PER_THREAD))
    });
    if threads <= 1 {
        return jobs.iter().map(run).collect();
    }
    let mut out: Vec<Option<Flow>> = vec![None; jobs.len()];
    std::thread::scope(|s| {
        let (jobs, run) = (&jobs, &run);
        let share = move |k: usize| {
            let mine = (k..jobs.len()).step_by(threads);
            mine.map(|i| (i, run(&jobs[i]))).collect::<Vec<_>>()
        };
        // The calling thread takes the first share itself.
        let handles: Vec<_> = (1..threads).map(|k| s.spawn(move || share(k))).collect();
        let mut shares = vec![share(0)];
        for h in handles {
            // A panic on a thread is a bug: carry it to the caller as it is.
            shares.push(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        for (i, f) in shares.into_iter().flatten() {
            out[i] = Some(f);
        }
    });
    out.into_iter().flatten().collect()
}

/// A sample S3 `Object Created` event, as EventBridge receives it.
fn upload(bucket: &str, account: &str, region: &str, key: &str) -> serde_json::Value {
    serde_json::json!({
        "version": "0",
        "source": "aws.s3",
        "detail-type": "Object Created",
        "account": account,
        "region": region,
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {"bucket": {"name": bucket}, "object": {"key": key}},
    })
}

/// What a chain of rules is followed with: the event that must start the pipelines and,
/// when there is one, an event of the same kind that must not, as the hops describe them.
struct Probe {
    event: serde_json::Value,
    outside: Option<serde_json::Value>,
    /// "an upload under `releases/`"
    inside_is: String,
    /// "not outside it"
    not_outside: String,
    /// "uploads outside `releases/`"
    outside_are: String,
}

fn trigger_flow(t: &Topology, key: &str, tr: &crate::model::Trigger, world: &World) -> Flow {
    let mut h = Hops::new(world);
    let bucket = &t.buckets[&tr.bucket];
    let account = t.account_id(&bucket.account).to_string();
    let region = bucket.region.as_str().to_string();
    let prefix = tr.prefix.clone().unwrap_or_default();
    let suffix = tr.suffix.clone().unwrap_or_default();
    // A trigger whose pipelines build an object of its bucket matches exactly that key
    // (and hands its version over): another key under the prefix must not start them.
    // A trigger that is only a signal matches the prefix and suffix.
    let (inside, outside_key, inside_is, not_outside, outside_are) = match &tr.object {
        Some(o) => (
            o.key.clone(),
            Some(format!("{prefix}tether-other-{}", o.key.replace('/', "-"))),
            format!("an upload of `{}`", o.key),
            "not of another key".to_string(),
            "uploads of other keys".to_string(),
        ),
        None => (
            format!("{prefix}tether-probe{suffix}"),
            (!prefix.is_empty())
                .then(|| format!("tether-outside-{}{suffix}", prefix.replace('/', "-"))),
            format!("an upload under `{prefix}`"),
            "not outside it".to_string(),
            format!("uploads outside `{prefix}`"),
        ),
    };
    let event = upload(&bucket.name, &account, &region, &inside);
    let outside = outside_key.map(|k| upload(&bucket.name, &account, &region, &k));
    let s3 = Caller::service("s3.amazonaws.com");
    let default_bus = format!("arn:aws:events:{region}:{account}:event-bus/default");
    let on = world.eventbridge.get(bucket.name.as_str()).copied();
    h.fact(
        format!("bucket {} sends its events to EventBridge", bucket.name),
        &s3.to_string(),
        "events:PutEvents",
        &default_bus,
        match on {
            Some(true) => Outcome::Allowed,
            Some(false) => Outcome::Denied {
                why: "EventBridge notifications are off on the bucket".into(),
                policies: vec![format!("bucket {}", bucket.name)],
                statement: None,
            },
            None => Outcome::Unverified {
                why: format!("bucket {} is not part of the expansion", bucket.name),
            },
        },
    );
    let wanted: BTreeSet<String> = tr
        .start
        .iter()
        .map(|p| t.pipelines[p].name.clone())
        .collect();
    let mut started = BTreeSet::new();
    let mut visited = BTreeSet::new();
    let probe = Probe {
        event,
        outside,
        inside_is,
        not_outside,
        outside_are,
    };
    follow(
        &mut h,
        (&account, &region, "default"),
        &probe,
        !tr.enabled,
        &mut started,
        &mut visited,
    );
    for p in &wanted {
        if !started.contains(p) {
            h.fact(
                format!("{} starts pipeline {p}", probe.inside_is),
                "service events.amazonaws.com",
                "codepipeline:StartPipelineExecution",
                p,
                Outcome::Denied {
                    why: "no rule target reached from the upload starts this pipeline".into(),
                    policies: vec![format!("the rules of trigger {key}")],
                    statement: None,
                },
            );
        }
    }
    Flow::finish(format!("trigger {key}"), !tr.enabled, h.hops)
}

/// The rules of one bus that match the probe's event, and their targets, recursively
/// through buses.
fn follow(
    h: &mut Hops,
    bus: (&str, &str, &str),
    probe: &Probe,
    disabled: bool,
    started: &mut BTreeSet<String>,
    visited: &mut BTreeSet<String>,
) {
    let (account, region, bus_name) = bus;
    if !visited.insert(format!("{account}/{region}/{bus_name}")) {
        return;
    }
    let world = h.world;
    let rules = world.rules_for(&(account, region, bus_name), &probe.event);
    let bus_arn = format!("arn:aws:events:{region}:{account}:event-bus/{bus_name}");
    let mut matched = Vec::new();
    let mut unknown = None;
    for r in &rules {
        let x = r.rule().expect("a rule");
        match pattern::matches(&x.event_pattern, &probe.event) {
            Ok(true) => matched.push(*r),
            Ok(false) => {}
            Err(e) => unknown = Some((x.arn.clone(), e)),
        }
    }
    let eventbridge = "service events.amazonaws.com";
    if matched.is_empty() {
        let o = match unknown {
            Some((_, why)) => Outcome::Unverified { why },
            None => Outcome::Denied {
                why: format!("no rule on bus {bus_name} matches {}", probe.inside_is),
                policies: vec![format!("the rules of {bus_arn}")],
                statement: None,
            },
        };
        h.fact(
            format!("a rule on {bus_name} matches {}", probe.inside_is),
            eventbridge,
            "match event pattern",
            &bus_arn,
            o,
        );
        return;
    }
    for r in matched {
        let x = r.rule().expect("a rule");
        let outside_matches = probe
            .outside
            .as_ref()
            .map(|o| pattern::matches(&x.event_pattern, o));
        let o = match (x.state.as_str(), outside_matches) {
            ("DISABLED", _) if !disabled => Outcome::Denied {
                why: "the rule is DISABLED".into(),
                policies: vec![r.address.to_string()],
                statement: None,
            },
            (_, Some(Ok(true))) => Outcome::Denied {
                why: format!("the pattern also matches {}", probe.outside_are),
                policies: vec![r.address.to_string()],
                statement: None,
            },
            (_, Some(Err(why))) => Outcome::Unverified { why },
            _ => Outcome::Allowed,
        };
        h.fact(
            format!(
                "rule {} matches {} and {}",
                r.address, probe.inside_is, probe.not_outside
            ),
            eventbridge,
            "match event pattern",
            &x.arn,
            o,
        );
        let events = Caller::service("events.amazonaws.com");
        let ctx = Ctx::eventbridge(&x.arn, &r.account_id);
        let key = ((&*r.account_id, &*r.region, &*x.bus), &*x.name);
        let targets: Vec<&Resource> = world
            .targets_of
            .get(&key)
            .map(|ix| ix.iter().map(|i| world.targets[*i]).collect())
            .unwrap_or_default();
        for t in targets {
            let y = t.target().expect("a target");
            if let Some(queue) = &y.dead_letter_arn {
                dead_letter(h, t, queue, &ctx);
            }
            let Some(role) = h.assume(
                format!("EventBridge assumes the role of target {}", t.address),
                &events,
                &y.role_arn,
                &ctx,
            ) else {
                continue;
            };
            let Some(a) = crate::names::arn(&y.arn) else {
                continue;
            };
            let rctx = Ctx::role();
            match a.service {
                "events" => {
                    let (target_account, target_region) = (a.account, a.region);
                    let name = a.resource.trim_start_matches("event-bus/");
                    let bus_policy = world.buses.get(y.arn.as_str());
                    let side = match bus_policy {
                        Some(b) => Side::Policy(b),
                        None => Side::Resource(&y.arn, None),
                    };
                    h.eval(
                        Call {
                            step: format!("the forwarding role puts the event on bus {name}"),
                            caller: &role,
                            action: "events:PutEvents",
                            resource: &y.arn,
                            resource_account: target_account,
                            names: &[],
                            ctx: rctx,
                        },
                        side,
                    );
                    follow(
                        h,
                        (target_account, target_region, name),
                        probe,
                        disabled,
                        started,
                        visited,
                    );
                }
                "codepipeline" => {
                    h.call(
                        format!("the start role starts pipeline {}", a.resource),
                        &role,
                        "codepipeline:StartPipelineExecution",
                        &y.arn,
                        rctx,
                    );
                    started.insert(a.resource.to_string());
                }
                _ => {}
            }
        }
    }
}

/// EventBridge sends what it cannot deliver to the target's dead-letter queue, as
/// itself: the queue policy must allow `events.amazonaws.com` `sqs:SendMessage` for the
/// rule (EventBridge user guide, "Using dead-letter queues to process undelivered
/// events", Granting permissions to the dead-letter queue).
fn dead_letter(h: &mut Hops, target: &Resource, queue: &str, ctx: &Ctx) {
    let world = h.world;
    let step = format!(
        "EventBridge can send what {} does not deliver to its dead-letter queue",
        target.address
    );
    let events = Caller::service("events.amazonaws.com");
    let account = crate::names::arn(queue).map(|a| a.account).unwrap_or("");
    let side = match world.queues.get(queue) {
        Some(q) => Side::Policy(q),
        None => {
            h.fact(
                step,
                &events.to_string(),
                "sqs:SendMessage",
                queue,
                Outcome::Unverified {
                    why: format!("queue {queue} is not part of the topology"),
                },
            );
            return;
        }
    };
    h.eval(
        Call {
            step,
            caller: &events,
            action: "sqs:SendMessage",
            resource: queue,
            resource_account: account,
            names: &[],
            ctx,
        },
        side,
    );
}

fn pipeline_flow(
    name: &str,
    r: &Resource,
    p: &PipelineSpec,
    services: &Services,
    world: &World,
) -> Flow {
    let mut h = Hops::new(world);
    let partition = crate::names::arn(&p.arn).map_or("aws", |a| a.partition);
    let stores: BTreeMap<&str, Store> = p
        .artifact_stores
        .iter()
        .map(|(region, s)| {
            (
                region.as_str(),
                Store {
                    bucket: s.bucket.clone(),
                    bucket_arn: format!("arn:{partition}:s3:::{}", s.bucket),
                    key: Some(s.key.as_str()),
                },
            )
        })
        .collect();
    commits_start(&mut h, r, p, partition);
    let codepipeline = Caller::service("codepipeline.amazonaws.com");
    let Some(pipeline_role) = h.assume(
        format!("CodePipeline assumes the role of {}", r.address),
        &codepipeline,
        &p.role_arn,
        Ctx::service_unknown_source(),
    ) else {
        return Flow::finish(format!("pipeline {name}"), false, h.hops);
    };
    let object = |artifact: &str| format!("{}/{artifact}/tether-probe", short(&p.name));
    // CodePipeline copies artifacts into the store of every region with actions.
    for (region, store) in &stores {
        if *region != r.region {
            h.artifact(&object("copy"), &pipeline_role, store, true);
        }
    }
    for stage in &p.stages {
        for a in &stage.actions {
            let region = a.region.as_deref().unwrap_or(&r.region);
            let store = stores.get(region).or_else(|| stores.get(r.region.as_str()));
            let actor = match &a.role_arn {
                Some(arn) => match h.assume(
                    format!(
                        "the pipeline role assumes the role of action {}.{}",
                        stage.name, a.name
                    ),
                    &pipeline_role,
                    arn,
                    Ctx::role(),
                ) {
                    Some(c) => c,
                    None => continue,
                },
                None => pipeline_role.clone(),
            };
            for input in &a.input_artifacts {
                if let Some(s) = store {
                    h.artifact(&object(input), &actor, s, false);
                }
            }
            let account = actor.account().unwrap_or(&r.account_id).to_string();
            action_calls(
                &mut h,
                p,
                stage.name.as_str(),
                a,
                &actor,
                (&account, region),
                partition,
                store,
                services,
            );
            for output in &a.output_artifacts {
                if let Some(s) = store {
                    h.artifact(&object(output), &actor, s, true);
                }
            }
        }
    }
    Flow::finish(format!("pipeline {name}"), false, h.hops)
}

/// A CodeCommit source that does not poll is started by events: a change to its branch
/// ("CodeCommit Repository State Change" on the repository account's default bus, with
/// the repository ARN in `resources`; CodePipeline user guide, "CodeCommit source
/// actions and EventBridge") must reach a rule that starts this pipeline, through the
/// forwarding hops when the repository is in another account, and a change to another
/// branch must not.
fn commits_start(h: &mut Hops, r: &Resource, p: &PipelineSpec, partition: &str) {
    let sources = p.stages.iter().flat_map(|s| &s.actions).filter(|a| {
        a.provider == "CodeCommit"
            && a.configuration
                .get("PollForSourceChanges")
                .map(String::as_str)
                == Some("false")
    });
    for a in sources {
        let (Some(repo), Some(branch)) = (
            a.configuration.get("RepositoryName"),
            a.configuration.get("BranchName"),
        ) else {
            continue;
        };
        let account = a
            .role_arn
            .as_deref()
            .and_then(|x| crate::names::arn(x).map(|a| a.account))
            .unwrap_or(&r.account_id);
        let region = a.region.as_deref().unwrap_or(&r.region);
        let repo_arn = format!("arn:{partition}:codecommit:{region}:{account}:{repo}");
        let change = |branch: &str| {
            serde_json::json!({
                "version": "0",
                "source": "aws.codecommit",
                "detail-type": "CodeCommit Repository State Change",
                "account": account,
                "region": region,
                "resources": [repo_arn],
                "detail": {
                    "event": "referenceUpdated",
                    "repositoryName": repo,
                    "referenceType": "branch",
                    "referenceName": branch,
                    "commitId": "0000000000000000000000000000000000000000",
                },
            })
        };
        let probe = Probe {
            event: change(branch),
            outside: Some(change(&format!("tether-not-{branch}"))),
            inside_is: format!("a change to branch `{branch}` of {repo}"),
            not_outside: "not a change to another branch".into(),
            outside_are: "changes to other branches".into(),
        };
        let mut started = BTreeSet::new();
        follow(
            h,
            (account, region, "default"),
            &probe,
            false,
            &mut started,
            &mut BTreeSet::new(),
        );
        if !started.contains(&p.name) {
            h.fact(
                format!("a change to branch `{branch}` of {repo} starts the pipeline"),
                "service events.amazonaws.com",
                "codepipeline:StartPipelineExecution",
                &p.arn,
                Outcome::Denied {
                    why: "no rule target reached from the change starts this pipeline".into(),
                    policies: vec![format!("the rules watching {repo_arn}")],
                    statement: None,
                },
            );
        }
    }
}

/// CodePipeline shortens the pipeline's name in artifact paths; policies name the
/// whole bucket, so any object name does.
fn short(name: &str) -> &str {
    &name[..name.len().min(20)]
}

#[allow(clippy::too_many_arguments)]
fn action_calls(
    h: &mut Hops,
    p: &PipelineSpec,
    stage: &str,
    a: &ActionSpec,
    actor: &Caller,
    (account, region): (&str, &str),
    partition: &str,
    store: Option<&Store>,
    services: &Services,
) {
    let ctx = Ctx::role();
    let cfg = |k: &str| a.configuration.get(k).map(String::as_str);
    let label = format!("{stage}.{}", a.name);
    match a.provider.as_str() {
        "S3" => {
            let (Some(bucket), Some(key)) = (cfg("S3Bucket"), cfg("S3ObjectKey")) else {
                return;
            };
            let view = h.world.buckets.get(bucket);
            let owner = view.map(|b| b.account_id).unwrap_or_default();
            let object = format!("arn:{partition}:s3:::{bucket}/{key}");
            let bucket_arn = format!("arn:{partition}:s3:::{bucket}");
            for (action, resource) in [
                ("s3:GetObject", object.as_str()),
                ("s3:GetBucketVersioning", bucket_arn.as_str()),
            ] {
                let step = format!("source {label} reads {resource}");
                if view.is_none() {
                    h.fact(
                        step,
                        &actor.to_string(),
                        action,
                        resource,
                        Outcome::Unverified {
                            why: format!("bucket {bucket} is not part of the topology"),
                        },
                    );
                    continue;
                }
                let Some(b) = view else { continue };
                h.eval(
                    Call {
                        step,
                        caller: actor,
                        action,
                        resource,
                        resource_account: owner,
                        names: &[],
                        ctx,
                    },
                    Side::Policy(b),
                );
            }
        }
        "CodeCommit" => {
            let Some(repo) = cfg("RepositoryName") else {
                return;
            };
            let arn = format!("arn:{partition}:codecommit:{region}:{account}:{repo}");
            for action in [
                "codecommit:GetBranch",
                "codecommit:GetCommit",
                "codecommit:UploadArchive",
                "codecommit:GetUploadArchiveStatus",
            ] {
                h.call(
                    format!("source {label} reads repository {repo}"),
                    actor,
                    action,
                    &arn,
                    ctx,
                );
            }
        }
        "CodeStarSourceConnection" => {
            let Some(conn) = cfg("ConnectionArn") else {
                return;
            };
            let action = if conn.contains(":codestar-connections:") {
                "codestar-connections:UseConnection"
            } else {
                "codeconnections:UseConnection"
            };
            h.call(
                format!("source {label} uses its connection"),
                actor,
                action,
                conn,
                ctx,
            );
        }
        "CodeBuild" => {
            let Some(project) = cfg("ProjectName") else {
                return;
            };
            let arn = format!("arn:{partition}:codebuild:{region}:{account}:project/{project}");
            for action in ["codebuild:StartBuild", "codebuild:BatchGetBuilds"] {
                h.call(
                    format!("action {label} runs project {project}"),
                    actor,
                    action,
                    &arn,
                    ctx,
                );
            }
            match services
                .get(&(p.name.as_str(), a.name.as_str()))
                .copied()
                .flatten()
            {
                Some(service) => build_role(h, &label, service, a, store),
                None => h.fact(
                    format!("the build of {label} runs as its project's service role"),
                    "service codebuild.amazonaws.com",
                    "sts:AssumeRole",
                    &arn,
                    Outcome::Unverified {
                        why: format!(
                            "the service role of project {project} is not named in the topology"
                        ),
                    },
                ),
            }
        }
        "CloudFormation" => {
            let Some(stack) = cfg("StackName") else {
                return;
            };
            let stack_arn = format!(
                "arn:{partition}:cloudformation:{region}:{account}:stack/{stack}/tether-probe"
            );
            let mode = cfg("ActionMode").unwrap_or("CREATE_UPDATE");
            let actions: &[&str] = match mode {
                "CHANGE_SET_REPLACE" => &[
                    "cloudformation:CreateChangeSet",
                    "cloudformation:DescribeChangeSet",
                    "cloudformation:DescribeStacks",
                ],
                "CHANGE_SET_EXECUTE" => &[
                    "cloudformation:ExecuteChangeSet",
                    "cloudformation:DescribeChangeSet",
                    "cloudformation:DescribeStacks",
                ],
                "DELETE_ONLY" => &[
                    "cloudformation:DeleteStack",
                    "cloudformation:DescribeStacks",
                ],
                _ => &[
                    "cloudformation:CreateStack",
                    "cloudformation:UpdateStack",
                    "cloudformation:DescribeStacks",
                ],
            };
            for action in actions {
                h.call(
                    format!("action {label} deploys stack {stack}"),
                    actor,
                    action,
                    &stack_arn,
                    ctx,
                );
            }
            if let Some(exec) = cfg("RoleArn") {
                if mode != "CHANGE_SET_EXECUTE" {
                    let pass = Ctx::role()
                        .clone()
                        .with("iam:PassedToService", "cloudformation.amazonaws.com");
                    h.call(
                        format!("action {label} passes the stack's role to CloudFormation"),
                        actor,
                        "iam:PassRole",
                        exec,
                        &pass,
                    );
                }
                execution_role(h, &label, exec, store);
            }
        }
        "Commands" => {
            let group = format!(
                "arn:{partition}:logs:{region}:{account}:log-group:/aws/codepipeline/{}",
                p.name
            );
            let stream = format!("{group}:log-stream:tether-probe");
            for action in ["logs:CreateLogStream", "logs:PutLogEvents"] {
                h.call(
                    format!("commands {label} write their logs"),
                    actor,
                    action,
                    &stream,
                    ctx,
                );
            }
            // Roles the commands assume, handed to them as environment variables.
            if let Ok(v) = serde_json::to_value(a) {
                if let Some(env) = v.get("environment_variables").and_then(|e| e.as_object()) {
                    let mut roles: Vec<&str> = env
                        .values()
                        .filter_map(|x| x.as_str())
                        .filter(|x| crate::names::role_arn(x).is_ok())
                        .collect();
                    roles.sort();
                    for arn in roles {
                        let role = h.world.role(arn);
                        // The stack role is passed, not assumed: only those trusting the actor.
                        let trusts_actor = role.trust.as_ref().is_some_and(|t| {
                            t.iter()
                                .any(|s| s.aws_principals().any(|x| x == actor.to_string()))
                        });
                        if trusts_actor {
                            h.assume(
                                format!("commands {label} assume {arn}"),
                                actor,
                                arn,
                                Ctx::role(),
                            );
                        }
                    }
                }
            }
        }
        "Lambda" => {
            let Some(f) = cfg("FunctionName") else { return };
            let arn = if f.starts_with("arn:") {
                f.to_string()
            } else {
                format!("arn:{partition}:lambda:{region}:{account}:function:{f}")
            };
            h.call(
                format!("action {label} invokes {f}"),
                actor,
                "lambda:InvokeFunction",
                &arn,
                ctx,
            );
        }
        _ => {}
    }
}

/// A build's service role: it reads the input artifacts and assumes the roles whose
/// trust names it.
fn build_role(h: &mut Hops, label: &str, service: &str, a: &ActionSpec, store: Option<&Store>) {
    let Some(caller) = Caller::role(service) else {
        return;
    };
    if let Some(s) = store {
        for input in &a.input_artifacts {
            h.artifact(&format!("build/{input}"), &caller, s, false);
        }
        for output in &a.output_artifacts {
            h.artifact(&format!("build/{output}"), &caller, s, true);
        }
    }
    let trusting: Vec<(String, String)> = h
        .world
        .trusted_by
        .get(service)
        .map(|arns| {
            arns.iter()
                .map(|a| (h.world.roles[a].name.to_string(), a.to_string()))
                .collect()
        })
        .unwrap_or_default();
    for (address, arn) in trusting {
        h.assume(
            format!("the build of {label} assumes {address}"),
            &caller,
            &arn,
            Ctx::role(),
        );
    }
}

/// CloudFormation assumes the stack's role, which reads the packaged artifacts.
fn execution_role(h: &mut Hops, label: &str, exec: &str, store: Option<&Store>) {
    let cfn = Caller::service("cloudformation.amazonaws.com");
    if let Some(role) = h.assume(
        format!("CloudFormation assumes the stack role of {label}"),
        &cfn,
        exec,
        Ctx::service_unknown_source(),
    ) {
        if let Some(s) = store {
            h.artifact("template", &role, s, false);
        }
    }
}

#[cfg(test)]
mod tests;
