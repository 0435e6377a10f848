//! Expansion: a validated topology → every AWS resource it implies.
//!
//! This is where the plumbing is derived: pipeline, action, source, execution and
//! trigger roles; artifact buckets and keys per account and region; bucket, key and bus
//! policy statements; rules and targets. It is a pure function of the topology: no I/O,
//! no randomness, and the same input always gives byte-identical output.
//!
//! Least privilege is the rule: exact ARNs for every resource, a KMS key's (which AWS
//! assigns) by a reference filled once the key exists (`plan::unknown`);
//! service-principal trusts carry `aws:SourceAccount` (and `aws:SourceArn` where the
//! source is known) where the service documents sending them (see
//! `SENDS_SOURCE_KEYS`); `iam:PassRole` is limited with
//! `iam:PassedToService`. No Allow statement uses an action wildcard, except the key
//! administration statement for the key's own account root.

mod actions;
mod delivery;
pub mod policy;

use crate::diag::{Diagnostic, YamlPath};
use crate::model::*;
use crate::names;
use crate::plan::unknown;
use crate::region::Region;
use crate::resource::*;
use policy::{PolicyDocument, Statement};
use std::collections::{BTreeMap, BTreeSet};

pub use actions::{COMMANDS_EXECUTION_ROLE_VAR, COMMANDS_ROLE_VAR};
pub use delivery::{DEAD_LETTER_RETENTION_SECONDS, RETRY_POLICY};

/// Tag naming the topology that owns a resource.
pub const TAG_TOPOLOGY: &str = "tether:topology";
/// Tag holding the resource's address.
pub const TAG_ADDRESS: &str = "tether:address";
/// Tag recording `lifecycle: protect`, so protection survives removal of the entry.
pub const TAG_LIFECYCLE: &str = "tether:lifecycle";
/// Tag recording `force_destroy: true` for the same reason.
pub const TAG_FORCE_DESTROY: &str = "tether:force-destroy";
/// What the roles that run actions read of an artifact bucket itself: the bucket
/// statement of the CodePipeline service role policy ("Manage the CodePipeline service
/// role").
const BUCKET_ACTIONS: [&str; 3] = [
    "s3:GetBucketAcl",
    "s3:GetBucketLocation",
    "s3:GetBucketVersioning",
];
/// KMS keys wait this many days between scheduled deletion and deletion.
pub const KEY_DELETION_WINDOW_DAYS: u32 = 30;

/// Every resource a topology implies, sorted by address.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Expansion {
    pub topology: String,
    pub resources: Vec<Resource>,
}

impl Expansion {
    pub fn get(&self, address: &str) -> Option<&Resource> {
        self.resources
            .binary_search_by(|r| r.address.as_str().cmp(address))
            .ok()
            .map(|i| &self.resources[i])
    }

    /// The resource of `kind` with AWS name `name` (for roles, buckets, pipelines, …).
    pub fn named(&self, kind: &str, name: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| {
            r.spec.kind() == kind
                && match &r.spec {
                    Spec::IamRole(x) => x.name == name,
                    Spec::S3Bucket(x) => x.name == name,
                    Spec::KmsKey(x) => x.alias == name,
                    Spec::EventBus(x) => x.name == name,
                    Spec::EventRule(x) => x.name == name,
                    Spec::EventTarget(x) => format!("{}/{}", x.rule, x.id) == name,
                    Spec::Pipeline(x) => x.name == name,
                    Spec::SqsQueue(x) => x.name == name,
                }
        })
    }
}

/// Expands a validated topology. The only errors left at this stage are derived names
/// that collide with each other or with names the user chose.
pub fn expand(t: &Topology) -> Result<Expansion, Vec<Diagnostic>> {
    let mut ex = Ex::new(t);
    for pl in t.pipelines.values() {
        ex.pipeline(pl);
    }
    for tr in t.triggers.values() {
        ex.trigger(tr);
    }
    ex.watch_commits();
    for r in t.roles.values() {
        ex.user_role(r);
    }
    for b in t.buckets.values() {
        ex.user_bucket(b);
    }
    for b in t.buses.values() {
        ex.user_bus(b);
    }
    ex.finish()
}

/// An IAM role being assembled from the contributions of several actions.
struct RoleDraft {
    account: Key,
    name: String,
    trust: Vec<Statement>,
    /// Inline policy name → statements by Sid (contributions with one Sid are merged).
    inline: BTreeMap<String, BTreeMap<String, Statement>>,
    managed: BTreeSet<String>,
    tags: Tags,
    adopt: bool,
    deps: BTreeSet<Address>,
    origin: YamlPath,
}

/// Who uses an artifact store (a bucket and key in one account and region).
#[derive(Default)]
struct Store {
    /// Read objects and the bucket's settings: the roles that run actions, builds.
    readers: BTreeSet<String>,
    /// Write objects.
    writers: BTreeSet<String>,
    /// Write objects with an ACL header: the roles that CodePipeline writes artifacts
    /// as (pipeline and source roles).
    acl_writers: BTreeSet<String>,
    /// Read objects only: CloudFormation execution roles, for what a template refers to.
    executors: BTreeSet<String>,
    deps: BTreeSet<Address>,
    origin: Option<YamlPath>,
}

/// What a role does with an artifact store. Each use is what an AWS page lists (see
/// `store_identity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreUse {
    /// Pipeline and source roles: CodePipeline reads and writes artifacts as them.
    ReadWrite,
    /// Action roles: CodePipeline reads an action's input artifacts as them.
    Read,
    /// CloudFormation execution roles: CloudFormation reads the packaged artifacts a
    /// template refers to (Lambda code, nested templates) as them.
    Execution,
}

/// A bus tether derives to receive a trigger's events.
struct BusDraft {
    senders: BTreeSet<Key>,
    origin: YamlPath,
}

/// An event rule tether derives: where it lives and what it matches. Triggers and
/// CodeCommit sources describe their rules with it and hand them to the shared
/// `start_pipelines` and `forward_to_bus`.
struct RuleAt<'r> {
    account: &'r str,
    region: &'r Region,
    /// `default` or a custom bus.
    bus: &'r str,
    /// The bus's address when it is a bus of the topology, which the rule needs first.
    bus_address: Option<Address>,
    name: String,
    pattern: &'r serde_json::Value,
    state: &'r str,
    /// What the rule is for, in its description (`tether <name>: <purpose>`).
    purpose: String,
    /// Its targets send what EventBridge fails to deliver to the dead-letter queue of
    /// the rule's account and region (`Ex::dead_letter`).
    dead_letter: bool,
    origin: &'r YamlPath,
}

impl RuleAt<'_> {
    fn address(&self) -> Address {
        Address::new(
            self.account,
            self.region.as_str(),
            "event_rule",
            &format!("{}/{}", self.bus, self.name),
        )
    }
}

struct Ex<'a> {
    t: &'a Topology,
    /// Partition of IAM ARNs (global resources).
    partition: &'static str,
    role_path: String,
    roles: BTreeMap<Address, RoleDraft>,
    stores: BTreeMap<(Key, Region), Store>,
    buses: BTreeMap<(Key, Region), BusDraft>,
    /// User buckets: tether-managed policy statements added by other entries.
    bucket_statements: BTreeMap<Key, Vec<Statement>>,
    bucket_deps: BTreeMap<Key, BTreeSet<Address>>,
    /// Statements for the `tether` policy of user roles, contributed by the pipelines
    /// (which are expanded before the user roles are drafted), and what they name.
    user_role_grants: BTreeMap<Key, (Vec<Statement>, BTreeSet<Address>)>,
    notifying_buckets: BTreeSet<Key>,
    source_buckets: BTreeSet<Key>,
    /// Pipelines started by a trigger do not poll their source.
    triggered: BTreeSet<Key>,
    /// The branches CodeCommit sources read, each watched by events once every pipeline
    /// is in (`watch_commits`).
    watches: BTreeSet<actions::source::codecommit::Watch>,
    /// Roles tether derives that a user role trusts (`pipeline:` or `role:`), with the
    /// ARN of the trusting role: each gets `sts:AssumeRole` on it once every role is in.
    assumers: Vec<(Address, String)>,
    /// Dead-letter queues per account and region, and the rules whose targets use them
    /// (`delivery`).
    dead_letters: BTreeMap<(Key, Region), delivery::DeadLetterDraft>,
    dead_lettered: BTreeSet<delivery::RulePlace>,
    resources: BTreeMap<Address, Resource>,
    problems: Vec<Diagnostic>,
}

impl<'a> Ex<'a> {
    fn new(t: &'a Topology) -> Self {
        let partition = t.default_region.as_ref().map_or("aws", Region::partition);
        let triggered = t
            .triggers
            .values()
            .flat_map(|tr| tr.start.iter().cloned())
            .collect();
        let notifying_buckets = t.triggers.values().map(|tr| tr.bucket.clone()).collect();
        Ex {
            t,
            partition,
            role_path: format!("/tether/{}/", t.name),
            roles: BTreeMap::new(),
            stores: BTreeMap::new(),
            buses: BTreeMap::new(),
            bucket_statements: BTreeMap::new(),
            bucket_deps: BTreeMap::new(),
            user_role_grants: BTreeMap::new(),
            notifying_buckets,
            source_buckets: BTreeSet::new(),
            triggered,
            watches: BTreeSet::new(),
            assumers: Vec::new(),
            dead_letters: BTreeMap::new(),
            dead_lettered: BTreeSet::new(),
            resources: BTreeMap::new(),
            problems: Vec::new(),
        }
    }

    // ----- names and ARNs -------------------------------------------------------------

    fn id(&self, account: &str) -> &'a str {
        self.t.account_id(account)
    }

    /// `Sid` of a statement tether manages inside a shared policy.
    fn sid(&self, purpose: &str) -> String {
        format!("tether_{}_{}", self.t.name, purpose)
    }

    fn role_name(&self, parts: &[&str]) -> String {
        let mut all = vec![self.t.name.as_str()];
        all.extend_from_slice(parts);
        names::fit(&all, names::IAM_ROLE_MAX)
    }

    fn role_arn(&self, account: &str, name: &str) -> String {
        format!(
            "arn:{}:iam::{}:role{}{}",
            self.partition,
            self.id(account),
            self.role_path,
            name
        )
    }

    fn role_address(&self, account: &str, name: &str) -> Address {
        Address::new(account, "global", "iam_role", name)
    }

    fn root_arn(&self, account: &str) -> String {
        format!("arn:{}:iam::{}:root", self.partition, self.id(account))
    }

    fn store_names(&self, account: &str, region: &Region) -> (String, String) {
        let bucket = names::fit(
            &[&self.t.name, "artifacts", self.id(account), region.as_str()],
            names::S3_BUCKET_MAX,
        );
        let alias = format!("alias/{}-artifacts", self.t.name);
        (bucket, alias)
    }

    fn alias_arn(&self, account: &str, region: &Region, alias: &str) -> String {
        format!(
            "arn:{}:kms:{}:{}:{}",
            region.partition(),
            region,
            self.id(account),
            alias
        )
    }

    fn tags(&self, address: &Address, extra: &[&Tags]) -> Tags {
        let mut tags = self.t.tags.clone();
        for e in extra {
            tags.extend(e.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        tags.insert(TAG_TOPOLOGY.into(), self.t.name.clone());
        // Tag values are limited to 256 characters; long addresses keep a hashed tail.
        tags.insert(TAG_ADDRESS.into(), names::fit(&[address.as_str()], 256));
        tags
    }

    // ----- roles ----------------------------------------------------------------------

    /// The draft of a derived role, created on first use.
    fn role(&mut self, account: &str, name: &str, origin: &YamlPath) -> Address {
        let address = self.role_address(account, name);
        if !self.roles.contains_key(&address) {
            self.roles.insert(
                address.clone(),
                RoleDraft {
                    account: account.to_string(),
                    name: name.to_string(),
                    trust: Vec::new(),
                    inline: BTreeMap::new(),
                    managed: BTreeSet::new(),
                    tags: Tags::new(),
                    adopt: false,
                    deps: BTreeSet::new(),
                    origin: origin.clone(),
                },
            );
        }
        address
    }

    /// Adds `statement` (with an IAM-style alphanumeric Sid) to an inline policy of a
    /// role, merging resources into an existing statement with the same Sid.
    fn grant(&mut self, role: &Address, policy: &str, statement: Statement) {
        let draft = self
            .roles
            .get_mut(role)
            .expect("role drafted before grants");
        let sid = statement
            .sid
            .clone()
            .expect("identity statements carry a Sid");
        let statements = draft.inline.entry(policy.to_string()).or_default();
        match statements.get_mut(&sid) {
            Some(existing) => {
                debug_assert_eq!(existing.action, statement.action, "one Sid, one action set");
                if let (Some(a), Some(b)) = (&mut existing.resource, statement.resource) {
                    a.extend(b);
                }
            }
            None => {
                statements.insert(sid, statement);
            }
        }
    }

    /// Adds to a role's `tether` policy an Allow of `actions` on `resources` (merged into
    /// the statement of the same `sid`, as `grant` does).
    fn allow(
        &mut self,
        role: &Address,
        sid: &str,
        actions: impl Into<policy::OneOrMany>,
        resources: impl Into<policy::OneOrMany>,
    ) {
        self.grant(
            role,
            "tether",
            Statement::allow(actions).sid(sid).on(resources),
        );
    }

    fn trust_role(&mut self, role: &Address, principal_arn: String, principal: Option<&Address>) {
        let draft = self.roles.get_mut(role).expect("role drafted");
        let stmt = Statement::allow(["sts:AssumeRole"]).sid("TrustedRoles");
        match draft
            .trust
            .iter_mut()
            .find(|s| s.sid.as_deref() == Some("TrustedRoles"))
        {
            Some(s) => {
                if let Some(policy::Principal::Aws(p)) = &mut s.principal {
                    p.insert(principal_arn);
                }
            }
            None => draft.trust.push(stmt.aws([principal_arn])),
        }
        if let Some(p) = principal {
            draft.deps.insert(p.clone());
        }
    }

    fn trust_service(
        &mut self,
        role: &Address,
        service: &str,
        source_account: &str,
        source_arn: Option<String>,
    ) {
        let s = service_trust(service, self.id(source_account), source_arn);
        let draft = self.roles.get_mut(role).expect("role drafted");
        draft.trust.push(s);
    }

    // ----- artifact stores ------------------------------------------------------------

    fn store(&mut self, account: &str, region: &Region, origin: &YamlPath) -> &mut Store {
        let s = self
            .stores
            .entry((account.to_string(), region.clone()))
            .or_default();
        if s.origin.is_none() {
            s.origin = Some(origin.clone());
        }
        s
    }

    fn store_addresses(&self, account: &str, region: &Region) -> (Address, Address) {
        let (bucket, alias) = self.store_names(account, region);
        (
            Address::new(account, region.as_str(), "s3_bucket", &bucket),
            Address::new(
                account,
                region.as_str(),
                "kms_key",
                alias.trim_start_matches("alias/"),
            ),
        )
    }

    /// Lets `role` (a derived role) use the artifact store of `account`/`region`, on
    /// both sides: the role's own policy and the store's bucket and key policies.
    fn use_store(
        &mut self,
        role: &Address,
        role_arn: &str,
        account: &str,
        region: &Region,
        how: StoreUse,
        origin: &YamlPath,
    ) {
        self.admit(role_arn, account, region, how, origin)
            .deps
            .insert(role.clone());
        let (statements, key) = self.store_identity(account, region, how);
        for s in statements {
            self.grant(role, "tether", s);
        }
        // The role's policy names the key's ARN, which exists once the key does.
        self.roles
            .get_mut(role)
            .expect("role drafted")
            .deps
            .insert(key);
    }

    /// Admits `principal` to the bucket and key policies of a store.
    fn admit(
        &mut self,
        principal: &str,
        account: &str,
        region: &Region,
        how: StoreUse,
        origin: &YamlPath,
    ) -> &mut Store {
        let store = self.store(account, region, origin);
        let p = principal.to_string();
        match how {
            StoreUse::ReadWrite => {
                store.readers.insert(p.clone());
                store.writers.insert(p.clone());
                store.acl_writers.insert(p);
            }
            StoreUse::Read => {
                store.readers.insert(p);
            }
            StoreUse::Execution => {
                store.executors.insert(p);
            }
        }
        store
    }

    /// The statements a role's own policy needs to use a store, and the address of the
    /// store's key, which they name:
    ///
    /// - read-write, what "Manage the CodePipeline service role" (CodePipeline service
    ///   role policy, https://docs.aws.amazon.com/codepipeline/latest/userguide/how-to-custom-role.html)
    ///   lists for the artifact bucket: `s3:GetBucketAcl`, `s3:GetBucketLocation`,
    ///   `s3:GetBucketVersioning` on the bucket, `s3:GetObject`, `s3:GetObjectVersion`,
    ///   `s3:PutObject`, `s3:PutObjectAcl` on its objects (an upload that carries an ACL
    ///   header needs `s3:PutObjectAcl`: S3 API Reference, PutObject, "Permissions"),
    ///   and the key for encrypting and decrypting them;
    /// - read, the same without the writes (an action role reads its input artifacts);
    /// - execution, the objects and the key only (CloudFormation reads what a template
    ///   refers to with the stack's role: CDK's fix for aws-cdk#3765).
    fn store_identity(
        &self,
        account: &str,
        region: &Region,
        how: StoreUse,
    ) -> (Vec<Statement>, Address) {
        let (bucket, _) = self.store_names(account, region);
        let (_, k_addr) = self.store_addresses(account, region);
        let bucket_arn = format!("arn:{}:s3:::{bucket}", region.partition());
        let write = how == StoreUse::ReadWrite;
        let mut object_actions = vec!["s3:GetObject", "s3:GetObjectVersion"];
        let mut key_actions = vec!["kms:Decrypt", "kms:DescribeKey"];
        let (obj_sid, key_sid) = if write {
            object_actions.extend(["s3:PutObject", "s3:PutObjectAcl"]);
            key_actions.extend(["kms:Encrypt", "kms:GenerateDataKey"]);
            ("ArtifactsReadWrite", "ArtifactKeysReadWrite")
        } else {
            ("ArtifactsRead", "ArtifactKeysRead")
        };
        let mut out = vec![Statement::allow(object_actions)
            .sid(obj_sid)
            .on([format!("{bucket_arn}/*")])];
        if how != StoreUse::Execution {
            out.push(
                Statement::allow(BUCKET_ACTIONS)
                    .sid("ArtifactBuckets")
                    .on([bucket_arn]),
            );
        }
        // The key by its ARN, known once it exists: not `key/*` narrowed by
        // `kms:ResourceAliases`, since alias changes "might take up to five minutes" to
        // affect authorization (KMS developer guide, "Use aliases to control access to
        // KMS keys"), so the first run after an apply could be denied.
        out.push(
            Statement::allow(key_actions)
                .sid(key_sid)
                .on([unknown::reference(&k_addr)]),
        );
        (out, k_addr)
    }

    // ----- pipelines ------------------------------------------------------------------

    fn pipeline(&mut self, pl: &Pipeline) {
        let a = pl.account.as_str();
        let region = &pl.region;
        let part = region.partition();
        let pid = self.id(a);
        let origin = pl.origin.clone();
        let pipeline_arn = format!("arn:{part}:codepipeline:{region}:{pid}:{}", pl.name);
        let address = Address::new(a, region.as_str(), "pipeline", &pl.name);

        let role_name = self.role_name(&[&pl.key, "pipeline"]);
        let role = self.role(a, &role_name, &origin);
        let role_arn = self.role_arn(a, &role_name);
        self.trust_service(&role, "codepipeline.amazonaws.com", a, None);

        let mut p = actions::Pipe {
            pl,
            role: role.clone(),
            role_arn: role_arn.clone(),
            roles: BTreeMap::new(),
            deps: BTreeSet::from([role.clone()]),
        };

        // Every region an action runs in needs an artifact store in the pipeline's account.
        let mut regions: BTreeSet<Region> = BTreeSet::from([region.clone()]);
        regions.extend(
            pl.stages
                .iter()
                .flat_map(|st| &st.actions)
                .filter_map(|act| actions::region(&act.kind))
                .cloned(),
        );
        let mut stores = BTreeMap::new();
        for r in &regions {
            self.use_store(&role, &role_arn, a, r, StoreUse::ReadWrite, &origin);
            let (bucket, _) = self.store_names(a, r);
            let (b_addr, k_addr) = self.store_addresses(a, r);
            p.deps.insert(b_addr);
            // By key ARN: "for cross-account actions, you can only use the key ID or key
            // ARN" (CodePipeline API reference, EncryptionKey), and an ARN AWS assigns
            // is known only once the key exists.
            stores.insert(
                r.to_string(),
                ArtifactStore {
                    bucket,
                    key: unknown::reference(&k_addr),
                },
            );
            p.deps.insert(k_addr);
        }

        let mut stages = Vec::new();
        for st in &pl.stages {
            let mut specs = Vec::new();
            let mut run_order = 0u32;
            for act in &st.actions {
                let declared = self.action(&mut p, act, act.run_order.unwrap_or(run_order + 1));
                run_order = declared
                    .iter()
                    .map(|s| s.run_order)
                    .max()
                    .unwrap_or(run_order);
                specs.extend(declared);
            }
            actions::order_stage(&mut specs);
            stages.push(StageSpec {
                name: st.name.clone(),
                actions: specs,
            });
        }

        let tags = self.tags(&address, &[&pl.tags]);
        self.insert(Resource {
            address,
            account: a.to_string(),
            account_id: pid.to_string(),
            region: region.to_string(),
            spec: Spec::Pipeline(PipelineSpec {
                name: pl.name.clone(),
                arn: pipeline_arn,
                role_arn,
                pipeline_type: "V2".into(),
                execution_mode: "QUEUED".into(),
                artifact_stores: stores,
                variables: pl
                    .variables
                    .iter()
                    .map(|(k, v)| PipelineVariable {
                        name: k.clone(),
                        default_value: v.clone(),
                    })
                    .collect(),
                stages,
            }),
            tags,
            depends_on: p.deps,
            origin: origin.to_string(),
        });
    }

    // ----- triggers -------------------------------------------------------------------

    fn trigger(&mut self, tr: &Trigger) {
        let t = self.t;
        let bucket = &t.buckets[&tr.bucket];
        let first = &t.pipelines[&tr.start[0]];
        let (pa, pr) = (first.account.as_str(), &first.region);
        let (sa, sr) = (bucket.account.as_str(), &bucket.region);
        let state = if tr.enabled { "ENABLED" } else { "DISABLED" };
        // Pipelines that read the trigger's bucket get exactly their object, at the
        // version that fired the rule; a trigger that is only a signal keeps its filter.
        let pattern = match &tr.object {
            Some(o) => object_pattern(&bucket.name, &o.key),
            None => event_pattern(&bucket.name, tr.prefix.as_deref(), tr.suffix.as_deref()),
        };
        let origin = tr.origin.clone();
        let collapsed = tr.via.is_none() && sa == pa && sr == pr;

        // The bus the starting rule lives on.
        let (bus_name, bus_address) = if collapsed {
            ("default".to_string(), None)
        } else if let Some(v) = &tr.via {
            let b = &t.buses[v];
            (
                b.name.clone(),
                Some(Address::new(
                    &b.account,
                    b.region.as_str(),
                    "event_bus",
                    &b.name,
                )),
            )
        } else {
            let (name, address) = self.receiving_bus(pa, pr, sa, &origin);
            (name, Some(address))
        };

        // Start side: rule on the bus, a role that may start exactly these pipelines.
        let start_role = self.role_name(&[&tr.key, "start"]);
        self.start_pipelines(
            &RuleAt {
                account: pa,
                region: pr,
                bus: &bus_name,
                bus_address: bus_address.clone(),
                name: names::fit(&[&t.name, &tr.key, "start"], names::RULE_MAX),
                pattern: &pattern,
                state,
                purpose: format!("trigger {}", tr.key),
                dead_letter: tr.dead_letter,
                origin: &origin,
            },
            &start_role,
            &tr.start,
            |key| tr.object.as_ref().map(|o| source_revision(&o.actions[key])),
        );

        if collapsed {
            return;
        }
        // Forward side: rule on the source account's default bus, a role that may put
        // events on exactly the receiving bus.
        let fwd_role = self.role_name(&[&tr.key, "forward"]);
        self.forward_to_bus(
            &RuleAt {
                account: sa,
                region: sr,
                bus: "default",
                bus_address: None,
                name: names::fit(&[&t.name, &tr.key, "forward"], names::RULE_MAX),
                pattern: &pattern,
                state,
                purpose: format!("trigger {}", tr.key),
                dead_letter: tr.dead_letter,
                origin: &origin,
            },
            &fwd_role,
            (pa, pr, &bus_name),
            bus_address,
        );
    }

    // ----- event rules, shared by triggers and CodeCommit sources ---------------------

    /// The bus tether derives in a pipeline account and region (`<name>-triggers`) to
    /// receive events forwarded from other accounts, with a statement of its policy
    /// admitting `sender` to put events on it ("Sending and receiving events between AWS
    /// accounts in Amazon EventBridge": the receiver edits its bus's permissions).
    fn receiving_bus(
        &mut self,
        account: &str,
        region: &Region,
        sender: &str,
        origin: &YamlPath,
    ) -> (String, Address) {
        let name = names::fit(&[&self.t.name, "triggers"], names::BUS_MAX);
        let d = self
            .buses
            .entry((account.to_string(), region.clone()))
            .or_insert_with(|| BusDraft {
                senders: BTreeSet::new(),
                origin: origin.clone(),
            });
        if sender != account {
            d.senders.insert(sender.to_string());
        }
        let address = Address::new(account, region.as_str(), "event_bus", &name);
        (name, address)
    }

    /// A rule matching `rule.pattern` that starts `pipelines` (all in the rule's account
    /// and region) through the role `role_name`, which may call
    /// `codepipeline:StartPipelineExecution` on exactly those pipelines [EB] and is
    /// trusted by EventBridge for this rule only (`aws:SourceArn`, `aws:SourceAccount`).
    /// A role that several rules use is trusted by each of them and may start the
    /// pipelines of each. `input` gives a pipeline's target its input transformer, if
    /// any (a trigger handing over the object version: `source_revision`).
    fn start_pipelines(
        &mut self,
        rule: &RuleAt,
        role_name: &str,
        pipelines: &[Key],
        input: impl Fn(&Key) -> Option<InputTransformer>,
    ) {
        let t = self.t;
        let (account, region) = (rule.account, rule.region);
        let arn = rule_arn(region, self.id(account), rule.bus, &rule.name);
        let address = rule.address();
        let role = self.role(account, role_name, rule.origin);
        let role_arn = self.role_arn(account, role_name);
        self.trust_service(&role, "events.amazonaws.com", account, Some(arn.clone()));
        self.grant(
            &role,
            "tether",
            Statement::allow(["codepipeline:StartPipelineExecution"])
                .sid("StartPipelines")
                .on(pipelines.iter().map(|k| self.pipeline_arn(k))),
        );
        self.event_rule(rule, &arn, rule.bus_address.iter().cloned().collect());
        for key in pipelines {
            let p = &t.pipelines[key];
            let deps = BTreeSet::from([
                address.clone(),
                role.clone(),
                Address::new(&p.account, p.region.as_str(), "pipeline", &p.name),
            ]);
            self.event_target(
                account,
                region,
                &rule.name,
                rule.bus,
                &format!("pipeline-{key}"),
                &self.pipeline_arn(key),
                &role_arn,
                input(key),
                deps,
                rule.origin,
            );
        }
    }

    /// A rule on another account's bus matching `rule.pattern` that forwards to the bus
    /// `to` (account, region, name) through the role `role_name`, which may
    /// `events:PutEvents` on exactly that bus and is trusted by EventBridge for this
    /// rule only ("Sending and receiving events between AWS accounts in Amazon
    /// EventBridge": a rule on the sender's bus with the receiver's bus as target, and
    /// a role for it; "IAM roles for sending events to targets in Amazon EventBridge").
    fn forward_to_bus(
        &mut self,
        rule: &RuleAt,
        role_name: &str,
        to: (&str, &Region, &str),
        to_address: Option<Address>,
    ) {
        let (account, region) = (rule.account, rule.region);
        let (ba, br, bus) = to;
        let bus_arn = format!(
            "arn:{}:events:{br}:{}:event-bus/{bus}",
            br.partition(),
            self.id(ba)
        );
        let arn = rule_arn(region, self.id(account), rule.bus, &rule.name);
        let address = rule.address();
        let role = self.role(account, role_name, rule.origin);
        let role_arn = self.role_arn(account, role_name);
        self.trust_service(&role, "events.amazonaws.com", account, Some(arn.clone()));
        self.grant(
            &role,
            "tether",
            Statement::allow(["events:PutEvents"])
                .sid("PutEvents")
                .on([bus_arn.clone()]),
        );
        self.event_rule(rule, &arn, rule.bus_address.iter().cloned().collect());
        let mut deps = BTreeSet::from([address, role]);
        deps.extend(to_address);
        self.event_target(
            account,
            region,
            &rule.name,
            rule.bus,
            "bus",
            &bus_arn,
            &role_arn,
            None,
            deps,
            rule.origin,
        );
    }

    fn pipeline_arn(&self, key: &str) -> String {
        let p = &self.t.pipelines[key];
        format!(
            "arn:{}:codepipeline:{}:{}:{}",
            p.region.partition(),
            p.region,
            self.id(&p.account),
            p.name
        )
    }

    /// The rule itself, marked for dead-lettering when `rule.dead_letter`.
    fn event_rule(&mut self, rule: &RuleAt, arn: &str, deps: BTreeSet<Address>) {
        if rule.dead_letter {
            self.dead_letter(
                rule.account,
                rule.region,
                rule.bus,
                &rule.name,
                arn,
                rule.origin,
            );
        }
        let address = rule.address();
        let tags = self.tags(&address, &[]);
        self.insert(Resource {
            address,
            account: rule.account.to_string(),
            account_id: self.id(rule.account).to_string(),
            region: rule.region.to_string(),
            spec: Spec::EventRule(RuleSpec {
                name: rule.name.clone(),
                arn: arn.to_string(),
                bus: rule.bus.to_string(),
                event_pattern: rule.pattern.clone(),
                state: rule.state.to_string(),
                description: format!("tether {}: {}", self.t.name, rule.purpose),
            }),
            tags,
            depends_on: deps,
            origin: rule.origin.to_string(),
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn event_target(
        &mut self,
        account: &str,
        region: &Region,
        rule: &str,
        bus: &str,
        id: &str,
        arn: &str,
        role_arn: &str,
        input_transformer: Option<InputTransformer>,
        deps: BTreeSet<Address>,
        origin: &YamlPath,
    ) {
        let id = names::fit(&[id], 64);
        self.insert(Resource {
            address: Address::new(
                account,
                region.as_str(),
                "event_target",
                &format!("{bus}/{rule}/{id}"),
            ),
            account: account.to_string(),
            account_id: self.id(account).to_string(),
            region: region.to_string(),
            spec: Spec::EventTarget(TargetSpec {
                rule: rule.to_string(),
                bus: bus.to_string(),
                id,
                arn: arn.to_string(),
                role_arn: role_arn.to_string(),
                // Set for every target at assembly (`delivery`).
                retry_policy: None,
                dead_letter_arn: None,
                input_transformer,
            }),
            tags: Tags::new(),
            depends_on: deps,
            origin: origin.to_string(),
        });
    }

    // ----- user entries ---------------------------------------------------------------

    fn user_role(&mut self, r: &Role) {
        let address = self.role_address(&r.account, &r.name);
        if let Some(other) = self.roles.get(&address) {
            self.problems.push(
                Diagnostic::new(
                    r.origin.key("name"),
                    format!(
                        "role name `{}` in account `{}` is also wanted by `{}`",
                        r.name, r.account, other.origin
                    ),
                )
                .help("give the role another `name`"),
            );
            return;
        }
        let address = self.role(&r.account, &r.name, &r.origin);
        let mut aws: BTreeSet<String> = BTreeSet::new();
        let mut deps = BTreeSet::new();
        let mut services = Vec::new();
        for t in &r.trust {
            match t {
                Trust::Build { service_role, .. } => {
                    aws.insert(service_role.clone());
                }
                // A caller tether manages gets the identity half too: across accounts
                // AssumeRole needs an allow in the caller's own policies as well as the
                // trust ("Cross-account policy evaluation logic", IAM user guide).
                Trust::Pipeline(p) => {
                    let pl = &self.t.pipelines[p];
                    let name = self.role_name(&[&pl.key, "pipeline"]);
                    aws.insert(self.role_arn(&pl.account, &name));
                    deps.insert(self.role_address(&pl.account, &name));
                    let me = self.role_arn(&r.account, &r.name);
                    self.assumers
                        .push((self.role_address(&pl.account, &name), me));
                }
                Trust::Role(k) => {
                    let other = &self.t.roles[k];
                    aws.insert(self.role_arn(&other.account, &other.name));
                    deps.insert(self.role_address(&other.account, &other.name));
                    let me = self.role_arn(&r.account, &r.name);
                    self.assumers
                        .push((self.role_address(&other.account, &other.name), me));
                }
                Trust::Account(a) => {
                    aws.insert(self.root_arn(a));
                }
                Trust::Arn(arn) => {
                    aws.insert(arn.clone());
                }
                Trust::Service(s) => services.push(s.clone()),
            }
        }
        let account_id = self.id(&r.account).to_string();
        let draft = self.roles.get_mut(&address).expect("drafted");
        draft.adopt = r.adopt;
        draft.tags = r.tags.clone();
        draft.origin = r.origin.clone();
        draft.deps.extend(deps);
        if !aws.is_empty() {
            draft.trust.push(
                Statement::allow(["sts:AssumeRole"])
                    .sid("TrustedPrincipals")
                    .aws(aws),
            );
        }
        for s in services {
            draft.trust.push(service_trust(&s, &account_id, None));
        }
        draft.managed.extend(r.managed_policies.iter().cloned());
        if !r.statements.is_empty() {
            let statements = draft.inline.entry("statements".into()).or_default();
            for (i, s) in r.statements.iter().enumerate() {
                let sid = s.sid.clone().unwrap_or_else(|| format!("Statement{i}"));
                let mut stmt = if s.allow {
                    Statement::allow(s.actions.iter().cloned())
                } else {
                    Statement::deny(s.actions.iter().cloned())
                }
                .sid(sid.clone())
                .on(s.resources.iter().cloned());
                for (op, keys) in &s.condition {
                    for (k, v) in keys {
                        stmt = stmt.when(op, k, v.iter().cloned());
                    }
                }
                statements.insert(sid, stmt);
            }
        }
        let (grants, named) = self.user_role_grants.remove(&r.key).unwrap_or_default();
        for s in grants {
            self.grant(&address, "tether", s);
        }
        self.roles
            .get_mut(&address)
            .expect("drafted")
            .deps
            .extend(named);
        // Grants on buckets of this topology, mirrored in the role's own policy.
        for b in self.t.buckets.values() {
            for g in b.grants.iter().filter(|g| g.role == r.key) {
                let (objects, list) = grant_statements(b, g);
                let statements = self
                    .roles
                    .get_mut(&address)
                    .expect("drafted")
                    .inline
                    .entry("tether".into())
                    .or_default();
                let n = statements.len();
                statements.insert(
                    format!("BucketObjects{n}"),
                    objects.sid(format!("BucketObjects{n}")),
                );
                statements.insert(format!("BucketList{n}"), list.sid(format!("BucketList{n}")));
            }
        }
    }

    fn user_bucket(&mut self, b: &Bucket) {
        let part = b.region.partition();
        let arn = format!("arn:{part}:s3:::{}", b.name);
        let address = Address::new(&b.account, b.region.as_str(), "s3_bucket", &b.name);
        let mut statements = vec![self.tls_only(&arn)];
        let mut deps = self.bucket_deps.remove(&b.key).unwrap_or_default();
        for g in &b.grants {
            let role = &self.t.roles[&g.role];
            let role_arn = self.role_arn(&role.account, &role.name);
            deps.insert(self.role_address(&role.account, &role.name));
            let (objects, list) = grant_statements(b, g);
            statements.push(
                objects
                    .sid(self.sid(&format!("GrantObjects-{}", g.role)))
                    .aws([role_arn.clone()]),
            );
            statements.push(
                list.sid(self.sid(&format!("GrantList-{}", g.role)))
                    .aws([role_arn]),
            );
        }
        statements.extend(self.bucket_statements.remove(&b.key).unwrap_or_default());
        let mut extra = b.tags.clone();
        if b.protect {
            extra.insert(TAG_LIFECYCLE.into(), "protect".into());
        }
        if b.force_destroy {
            extra.insert(TAG_FORCE_DESTROY.into(), "true".into());
        }
        let tags = self.tags(&address, &[&extra]);
        self.insert(Resource {
            address,
            account: b.account.clone(),
            account_id: self.id(&b.account).to_string(),
            region: b.region.to_string(),
            spec: Spec::S3Bucket(BucketSpec {
                name: b.name.clone(),
                arn,
                versioning: b.versioning || self.source_buckets.contains(&b.key),
                // An adopted bucket keeps its owner's default encryption.
                encryption: (!b.adopt).then_some(Encryption::Aes256),
                block_public_access: true,
                policy_statements: statements,
                eventbridge_notifications: self.notifying_buckets.contains(&b.key),
                protect: b.protect,
                force_destroy: b.force_destroy,
                adopt: b.adopt,
            }),
            tags,
            depends_on: deps,
            origin: b.origin.to_string(),
        });
    }

    fn tls_only(&self, bucket_arn: &str) -> Statement {
        Statement::deny(["s3:*"])
            .sid(self.sid("DenyInsecureTransport"))
            .anyone()
            .on([bucket_arn.to_string(), format!("{bucket_arn}/*")])
            .when("Bool", "aws:SecureTransport", ["false"])
    }

    fn user_bus(&mut self, b: &Bus) {
        let senders: BTreeSet<Key> = b.accept_from.iter().cloned().collect();
        self.bus(
            &b.account, &b.region, &b.name, &senders, b.adopt, &b.tags, &b.origin,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn bus(
        &mut self,
        account: &str,
        region: &Region,
        name: &str,
        senders: &BTreeSet<Key>,
        adopt: bool,
        tags: &Tags,
        origin: &YamlPath,
    ) {
        let arn = format!(
            "arn:{}:events:{region}:{}:event-bus/{name}",
            region.partition(),
            self.id(account)
        );
        let address = Address::new(account, region.as_str(), "event_bus", name);
        let statements = senders
            .iter()
            .map(|s| {
                Statement::allow(["events:PutEvents"])
                    .sid(self.sid(&format!("AcceptFrom-{}", self.id(s))))
                    .aws([self.root_arn(s)])
                    .on([arn.clone()])
            })
            .collect();
        let tags = self.tags(&address, &[tags]);
        self.insert(Resource {
            address,
            account: account.to_string(),
            account_id: self.id(account).to_string(),
            region: region.to_string(),
            spec: Spec::EventBus(BusSpec {
                name: name.to_string(),
                arn,
                policy_statements: statements,
                adopt,
            }),
            tags,
            depends_on: BTreeSet::new(),
            origin: origin.to_string(),
        });
    }

    // ----- assembly -------------------------------------------------------------------

    fn insert(&mut self, r: Resource) {
        if let Some(existing) = self.resources.get(&r.address) {
            self.problems.push(
                Diagnostic::new(
                    YamlPath(Vec::new()),
                    format!(
                        "`{}` is wanted by both `{}` and `{}`: two entries derive the same {} name",
                        r.address,
                        existing.origin,
                        r.origin,
                        r.spec.kind().replace('_', " ")
                    ),
                )
                .help("rename one of the entries or give it an explicit `name`"),
            );
            return;
        }
        self.resources.insert(r.address.clone(), r);
    }

    fn finish(mut self) -> Result<Expansion, Vec<Diagnostic>> {
        // Retry policies and dead-letter queues, now that every target is in.
        self.deliveries();
        // Derived buses.
        let buses = std::mem::take(&mut self.buses);
        for ((account, region), d) in buses {
            let name = names::fit(&[&self.t.name, "triggers"], names::BUS_MAX);
            self.bus(
                &account,
                &region,
                &name,
                &d.senders,
                false,
                &Tags::new(),
                &d.origin,
            );
        }
        // Artifact stores: a bucket and a key per account and region.
        let stores = std::mem::take(&mut self.stores);
        for ((account, region), s) in stores {
            self.artifact_store(&account, &region, s);
        }
        // Callers of the user roles that trust them.
        for (caller, target) in std::mem::take(&mut self.assumers) {
            if self.roles.contains_key(&caller) {
                self.grant(
                    &caller,
                    "tether",
                    Statement::allow(["sts:AssumeRole"])
                        .sid("AssumeTrustingRoles")
                        .on([target]),
                );
            }
        }
        // Roles, now that every contribution is in.
        let roles = std::mem::take(&mut self.roles);
        for (address, d) in roles {
            let arn = self.role_arn(&d.account, &d.name);
            let tags = self.tags(&address, &[&d.tags]);
            let mut deps = d.deps;
            deps.remove(&address);
            let r = Resource {
                address: address.clone(),
                account: d.account.clone(),
                account_id: self.id(&d.account).to_string(),
                region: "global".into(),
                spec: Spec::IamRole(RoleSpec {
                    name: d.name,
                    path: self.role_path.clone(),
                    arn,
                    trust_policy: PolicyDocument::new(d.trust),
                    inline_policies: d
                        .inline
                        .into_iter()
                        .map(|(n, s)| (n, PolicyDocument::new(s.into_values().collect())))
                        .collect(),
                    managed_policies: d.managed,
                    adopt: d.adopt,
                }),
                tags,
                depends_on: deps,
                origin: d.origin.to_string(),
            };
            self.insert(r);
        }
        if !self.problems.is_empty() {
            return Err(self.problems);
        }
        Ok(Expansion {
            topology: self.t.name.clone(),
            resources: {
                let mut v = Vec::with_capacity(self.resources.len());
                v.extend(self.resources.into_values());
                v
            },
        })
    }

    fn artifact_store(&mut self, account: &str, region: &Region, s: Store) {
        let origin = s.origin.clone().unwrap_or_default();
        let (bucket, alias) = self.store_names(account, region);
        let (b_addr, k_addr) = self.store_addresses(account, region);
        let part = region.partition();
        let bucket_arn = format!("arn:{part}:s3:::{bucket}");
        let alias_arn = self.alias_arn(account, region, &alias);
        // The roles that run actions read the bucket's settings; execution roles only
        // read objects. Each statement mirrors what the roles' own policies allow
        // (`store_identity`), so cross-account access works from both sides.
        let actors: BTreeSet<String> = s.readers.union(&s.writers).cloned().collect();
        let everyone: BTreeSet<String> = actors.union(&s.executors).cloned().collect();
        let objects = format!("{bucket_arn}/*");

        let mut bucket_statements = vec![
            self.tls_only(&bucket_arn),
            Statement::allow(BUCKET_ACTIONS)
                .sid(self.sid("ArtifactsBucket"))
                .aws(actors)
                .on([bucket_arn.clone()]),
            Statement::allow(["s3:GetObject", "s3:GetObjectVersion"])
                .sid(self.sid("ArtifactsRead"))
                .aws(everyone.clone())
                .on([objects.clone()]),
        ];
        if !s.writers.is_empty() {
            bucket_statements.push(
                Statement::allow(["s3:PutObject"])
                    .sid(self.sid("ArtifactsWrite"))
                    .aws(s.writers.clone())
                    .on([objects.clone()]),
            );
        }
        if !s.acl_writers.is_empty() {
            bucket_statements.push(
                Statement::allow(["s3:PutObjectAcl"])
                    .sid(self.sid("ArtifactsWriteAcl"))
                    .aws(s.acl_writers.clone())
                    .on([objects]),
            );
        }
        let mut key_statements = vec![
            Statement::allow(["kms:*"])
                .sid(self.sid("KeyAdministration"))
                .aws([self.root_arn(account)])
                .on(["*"]),
            key_users(["kms:Decrypt", "kms:DescribeKey"], &everyone)
                .sid(self.sid("ArtifactsDecrypt")),
        ];
        if !s.writers.is_empty() {
            key_statements.push(
                key_users(["kms:Encrypt", "kms:GenerateDataKey"], &s.writers)
                    .sid(self.sid("ArtifactsEncrypt")),
            );
        }
        let id = self.id(account).to_string();
        let tags = self.tags(&k_addr, &[]);
        self.insert(Resource {
            address: k_addr.clone(),
            account: account.to_string(),
            account_id: id.clone(),
            region: region.to_string(),
            spec: Spec::KmsKey(KeySpec {
                alias: alias.clone(),
                alias_arn,
                arn: unknown::reference(&k_addr),
                description: format!("tether {}: pipeline artifacts in {region}", self.t.name),
                rotation: true,
                policy_statements: key_statements,
                deletion_window_days: KEY_DELETION_WINDOW_DAYS,
            }),
            tags,
            // Nothing: the roles that use the key name it (by ARN), not it them.
            depends_on: BTreeSet::new(),
            origin: origin.to_string(),
        });
        let tags = self.tags(&b_addr, &[]);
        let key_arn = unknown::reference(&k_addr);
        let mut deps = s.deps;
        deps.insert(k_addr);
        self.insert(Resource {
            address: b_addr,
            account: account.to_string(),
            account_id: id,
            region: region.to_string(),
            spec: Spec::S3Bucket(BucketSpec {
                name: bucket,
                arn: bucket_arn,
                versioning: true,
                // By key ARN: "if you are using encryption with cross-account or AWS
                // service operations, you must use a fully qualified KMS key ARN"; an
                // alias is resolved in the requester's account (S3 API reference,
                // ServerSideEncryptionByDefault, KMSMasterKeyID).
                encryption: Some(Encryption::AwsKms { key: key_arn }),
                block_public_access: true,
                policy_statements: bucket_statements,
                eventbridge_notifications: false,
                protect: false,
                force_destroy: false,
                adopt: false,
            }),
            tags,
            depends_on: deps,
            origin: origin.to_string(),
        });
    }
}

/// A key policy statement letting `roles` use the key for `actions`: the principals are
/// the roles' accounts, narrowed to the roles by `aws:PrincipalArn` ("for IAM roles, the
/// request context returns the ARN of the role": IAM user guide, "AWS global condition
/// context keys"). Naming the accounts rather than the roles lets the key exist before
/// the roles: KMS refuses a key policy whose principal does not exist (KMS API
/// reference, CreateKey, MalformedPolicyDocumentException), while the roles' own
/// policies must name the key's ARN, which exists only once the key does. An account
/// principal delegates to that account's IAM policies ("Allowing users in other accounts
/// to use a KMS key"; within the key's account, "Default key policy"): each role's own
/// policy allows the same actions on the key's ARN, so both sides hold.
fn key_users<const N: usize>(actions: [&str; N], roles: &BTreeSet<String>) -> Statement {
    let accounts: BTreeSet<String> = roles
        .iter()
        .filter_map(|arn| {
            let parts: Vec<&str> = arn.splitn(6, ':').collect();
            (parts.len() == 6).then(|| format!("arn:{}:iam::{}:root", parts[1], parts[4]))
        })
        .collect();
    Statement::allow(actions.to_vec())
        .aws(accounts)
        .on(["*"])
        .when("ArnEquals", "aws:PrincipalArn", roles.clone())
}

/// Services whose documentation says that they send `aws:SourceAccount` and
/// `aws:SourceArn` when they assume a role, with the page that says so. Only their trusts
/// carry those conditions: a condition on a key the service does not send denies the
/// service for good. CodePipeline's own guidance ("Create the CodePipeline service role
/// (CLI)", https://docs.aws.amazon.com/codepipeline/latest/userguide/pipelines-create-service-role-cli.html)
/// shows its service role's trust policy without one, and CloudFormation ("CloudFormation
/// service role", https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-iam-servicerole.html)
/// documents none; a role handed to a service is guarded by `iam:PassRole` limited with
/// `iam:PassedToService` instead.
const SENDS_SOURCE_KEYS: &[(&str, &str)] = &[(
    "events.amazonaws.com",
    "https://docs.aws.amazon.com/eventbridge/latest/userguide/cross-service-confused-deputy-prevention.html",
)];

/// A trust statement for `service`, with `aws:SourceAccount` (and `aws:SourceArn` when
/// the source is known) where the service documents sending them.
fn service_trust(service: &str, source_account_id: &str, source_arn: Option<String>) -> Statement {
    let mut s = Statement::allow(["sts:AssumeRole"]).service(service);
    if SENDS_SOURCE_KEYS.iter().any(|(x, _)| *x == service) {
        s = s.when("StringEquals", "aws:SourceAccount", [source_account_id]);
        if let Some(arn) = source_arn {
            s = s.when("ArnEquals", "aws:SourceArn", [arn]);
        }
    }
    s
}

fn cfg(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Rules on the default bus have `rule/<name>` ARNs; on custom buses `rule/<bus>/<name>`.
fn rule_arn(region: &Region, account_id: &str, bus: &str, rule: &str) -> String {
    let resource = if bus == "default" {
        format!("rule/{rule}")
    } else {
        format!("rule/{bus}/{rule}")
    };
    format!(
        "arn:{}:events:{region}:{account_id}:{resource}",
        region.partition()
    )
}

/// The EventBridge pattern of an S3 `Object Created` event for `bucket` and a key filter.
/// Matching is on `detail` only: events forwarded between buses keep their detail.
fn event_pattern(bucket: &str, prefix: Option<&str>, suffix: Option<&str>) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    let key_filter = match (prefix, suffix) {
        (Some(p), Some(s)) => Some(serde_json::json!({
            "wildcard": format!("{}*{}", escape_wildcard(p), escape_wildcard(s))
        })),
        (Some(p), None) => Some(serde_json::json!({ "prefix": p })),
        (None, Some(s)) => Some(serde_json::json!({ "suffix": s })),
        (None, None) => None,
    };
    if let Some(f) = key_filter {
        object.insert("key".into(), serde_json::json!([f]));
    }
    let mut detail = serde_json::json!({ "bucket": { "name": [bucket] } });
    if !object.is_empty() {
        detail["object"] = serde_json::Value::Object(object);
    }
    serde_json::json!({
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": detail,
    })
}

/// The pattern of a trigger that hands its pipelines one object: `Object Created` for
/// exactly that key (an exact match is a string in the pattern's list: "Content
/// filtering in Amazon EventBridge event patterns").
fn object_pattern(bucket: &str, key: &str) -> serde_json::Value {
    serde_json::json!({
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": { "bucket": { "name": [bucket] }, "object": { "key": [key] } },
    })
}

/// Variable of [`source_revision`]'s template.
const REVISION_VARIABLE: &str = "revisionValue";

/// What a pipeline target sends so that the pipeline runs on the object version that
/// fired the rule, not on whatever version is newest when it starts.
///
/// - S3 puts the version in the event: `detail.object.version-id` of `Object Created`
///   (Amazon S3 user guide, "EventBridge event message structure"); a bucket has
///   versions only when versioning is on, which an S3 source bucket always is
///   (`source_buckets`; "Amazon S3 source action reference": the source bucket must be
///   versioned).
/// - The target becomes `StartPipelineExecution`'s input, whose `sourceRevisions` set
///   a source action's revision: `actionName`, `revisionType` `S3_OBJECT_VERSION_ID`,
///   `revisionValue` (CodePipeline API reference, `StartPipelineExecution` and
///   `SourceRevisionOverride`; user guide, "Start a pipeline with a source revision
///   override", which points at an input transformer on the EventBridge rule for this,
///   as does the S3 source action reference). `sourceRevisions` is a list in the API.
/// - The transformer's template is JSON with the placeholder inside quotes: the version
///   is a string, and EventBridge wants quotes around variables that hold JSON strings,
///   none around objects or arrays (EventBridge user guide, "Amazon EventBridge input
///   transformation"; API reference, `InputTransformer`).
///
/// Starting with a source revision is still `codepipeline:StartPipelineExecution` on
/// the pipeline: no page names another action or condition for it, so the starting
/// role's grant is unchanged.
fn source_revision(action: &str) -> InputTransformer {
    InputTransformer {
        input_paths: BTreeMap::from([(
            REVISION_VARIABLE.to_string(),
            "$.detail.object.version-id".to_string(),
        )]),
        input_template: serde_json::json!({
            "sourceRevisions": [{
                "actionName": action,
                "revisionType": "S3_OBJECT_VERSION_ID",
                "revisionValue": format!("<{REVISION_VARIABLE}>"),
            }]
        }),
    }
}

fn escape_wildcard(s: &str) -> String {
    s.replace('\\', "\\\\").replace('*', "\\*")
}

/// The object and list statements of a bucket grant (without Sid or principal).
fn grant_statements(b: &Bucket, g: &Grant) -> (Statement, Statement) {
    let arn = format!("arn:{}:s3:::{}", b.region.partition(), b.name);
    let prefix = g.prefix.clone().unwrap_or_default();
    let mut actions = vec!["s3:GetObject"];
    if g.access == Access::ReadWrite {
        actions.extend(["s3:DeleteObject", "s3:PutObject"]);
    }
    let objects = Statement::allow(actions).on([format!("{arn}/{prefix}*")]);
    let mut list = Statement::allow(["s3:ListBucket"]).on([arn]);
    if !prefix.is_empty() {
        list = list.when("StringLike", "s3:prefix", [format!("{prefix}*")]);
    }
    (objects, list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_managed_caller_of_a_user_role_may_assume_it() {
        // Across accounts the trust alone is not enough: the caller's own policy must
        // allow AssumeRole on the role too.
        let text = r#"version: 1
name: t
defaults: { region: us-east-1 }
accounts:
  tools: { id: "111111111111" }
  dev: { id: "333333333333", role: OrganizationAccountAccessRole }
roles:
  deployer:
    account: dev
    trust: [{ pipeline: app }, { role: helper }]
  helper:
    account: tools
    trust: [{ service: lambda.amazonaws.com }]
pipelines:
  app:
    account: tools
    source: { s3: { bucket: src, key: app.zip } }
    stages:
      - name: Build
        actions:
          - { name: build, build: { project: app-build } }
buckets:
  src: { account: tools }
"#;
        let e = crate::check_bytes(text.as_bytes(), "t.yaml")
            .unwrap_or_else(|d| panic!("{d}"))
            .expansion;
        let deployer = "arn:aws:iam::333333333333:role/tether/t/t-deployer";
        for caller in [
            "tools/global/iam_role.t-app-pipeline",
            "tools/global/iam_role.t-helper",
        ] {
            let role = e
                .get(caller)
                .unwrap_or_else(|| panic!("{caller}"))
                .role()
                .unwrap();
            let assume: Vec<&Statement> = role.inline_policies["tether"]
                .statement
                .iter()
                .filter(|s| s.action.contains("sts:AssumeRole"))
                .collect();
            assert!(
                assume
                    .iter()
                    .any(|s| s.resource.as_ref().is_some_and(|r| r.contains(deployer))),
                "{caller}: {assume:?}"
            );
        }
    }

    #[test]
    fn event_patterns_filter_on_detail() {
        let p = event_pattern("b", Some("in/"), None);
        assert_eq!(
            p["detail"]["object"]["key"],
            serde_json::json!([{"prefix": "in/"}])
        );
        let p = event_pattern("b", Some("in/*x"), Some(".zip"));
        assert_eq!(
            p["detail"]["object"]["key"],
            serde_json::json!([{"wildcard": "in/\\*x*.zip"}])
        );
        let p = event_pattern("b", None, None);
        assert!(p["detail"].get("object").is_none());
        assert_eq!(p["detail"]["bucket"]["name"], serde_json::json!(["b"]));
    }

    /// A pipeline `p` in `tools` reading `source`, started by a trigger on `up`.
    fn triggered(source: &str, trigger: &str) -> Expansion {
        let text = format!(
            r#"{}
buckets:
  up: {{ account: app, name: t-up }}
pipelines:
  p:
    account: tools
    source: {source}
    stages:
      - {{ name: B, actions: [{{ name: b, build: {{ project: xx }} }}] }}
triggers:
  go: {trigger}
"#,
            actions::testing::HEAD
        );
        actions::testing::expand(&text)
    }

    fn target<'a>(e: &'a Expansion, address: &str) -> &'a TargetSpec {
        e.get(address)
            .unwrap_or_else(|| panic!("no {address}"))
            .target()
            .unwrap()
    }

    #[test]
    fn a_trigger_hands_its_pipeline_the_object_version_that_fired_it() {
        let e = triggered(
            "{ s3: { bucket: up, key: releases/app.zip } }",
            "{ bucket: up, prefix: releases/, start: [p] }",
        );
        let exact = serde_json::json!({
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {"bucket": {"name": ["t-up"]}, "object": {"key": ["releases/app.zip"]}}
        });
        // Both hops match exactly the source key, not the prefix.
        for rule in [
            "app/us-east-1/event_rule.default/t-go-forward",
            "tools/us-east-1/event_rule.t-triggers/t-go-start",
        ] {
            assert_eq!(
                e.get(rule).unwrap().rule().unwrap().event_pattern,
                exact,
                "{rule}"
            );
        }
        let start = target(
            &e,
            "tools/us-east-1/event_target.t-triggers/t-go-start/pipeline-p",
        );
        let input = start.input_transformer.as_ref().expect("a transformer");
        assert_eq!(
            input.input_paths,
            BTreeMap::from([("revisionValue".into(), "$.detail.object.version-id".into())])
        );
        assert_eq!(
            input.template_text(),
            r#"{"sourceRevisions":[{"actionName":"source","revisionType":"S3_OBJECT_VERSION_ID","revisionValue":"<revisionValue>"}]}"#
        );
        // Forwarding hands the event on whole: the version is read at the start.
        let fwd = target(&e, "app/us-east-1/event_target.default/t-go-forward/bus");
        assert_eq!(fwd.input_transformer, None);
        // The version exists: the source bucket is versioned.
        assert!(
            e.named("s3_bucket", "t-up")
                .unwrap()
                .bucket()
                .unwrap()
                .versioning
        );
    }

    #[test]
    fn a_trigger_names_the_source_action_it_overrides() {
        let text = format!(
            r#"{}
buckets:
  up: {{ account: tools, name: t-up }}
pipelines:
  p:
    account: tools
    stages:
      - name: Fetch
        actions:
          - {{ name: code, source: {{ codecommit: {{ repository: r, branch: main }} }} }}
          - {{ name: bundle, source: {{ s3: {{ bucket: up, key: in/b.zip }} }} }}
      - {{ name: B, actions: [{{ name: b, input: Fetch.code, build: {{ project: xx }} }}] }}
triggers:
  go: {{ bucket: up, start: [p] }}
"#,
            actions::testing::HEAD
        );
        let e = actions::testing::expand(&text);
        // Same account and region: one rule on the default bus.
        let start = target(
            &e,
            "tools/us-east-1/event_target.default/t-go-start/pipeline-p",
        );
        assert_eq!(
            start.input_transformer.as_ref().unwrap().input_template["sourceRevisions"][0]
                ["actionName"],
            "bundle"
        );
    }

    #[test]
    fn a_trigger_that_is_only_a_signal_keeps_its_prefix_and_sends_the_event() {
        let e = triggered(
            "{ codecommit: { account: app, repository: r, branch: main } }",
            "{ bucket: up, prefix: base/, start: [p] }",
        );
        let rule = e
            .get("tools/us-east-1/event_rule.t-triggers/t-go-start")
            .unwrap()
            .rule()
            .unwrap();
        assert_eq!(
            rule.event_pattern["detail"]["object"]["key"],
            serde_json::json!([{"prefix": "base/"}])
        );
        let start = target(
            &e,
            "tools/us-east-1/event_target.t-triggers/t-go-start/pipeline-p",
        );
        assert_eq!(start.input_transformer, None);
        // Nothing reads a version of it: no versioning is derived for the bucket.
        assert!(
            !e.named("s3_bucket", "t-up")
                .unwrap()
                .bucket()
                .unwrap()
                .versioning
        );
    }

    #[test]
    fn rule_arns_name_custom_buses() {
        let r = Region::parse("eu-west-1").unwrap();
        assert_eq!(
            rule_arn(&r, "1", "default", "x"),
            "arn:aws:events:eu-west-1:1:rule/x"
        );
        assert_eq!(
            rule_arn(&r, "1", "bus", "x"),
            "arn:aws:events:eu-west-1:1:rule/bus/x"
        );
    }
}

#[cfg(test)]
mod trust_tests {
    use super::actions::testing::*;
    use serde_json::json;

    /// A pipeline deploying into `dev`, a trigger, and user roles trusted by services.
    fn topology() -> String {
        format!(
            r#"{HEAD}
buckets:
  uploads: {{ account: tools, name: t-uploads }}
roles:
  by-events: {{ account: dev, trust: [{{ service: events.amazonaws.com }}] }}
  by-cfn: {{ account: dev, trust: [{{ service: cloudformation.amazonaws.com }}] }}
pipelines:
  main:
    account: tools
    source: {{ s3: {{ bucket: uploads, key: app.zip }} }}
    stages:
      - name: Deploy
        actions:
          - name: deploy
            cloudformation: {{ account: dev, stack: app, template: t.yaml, execution_policies: ["arn:aws:iam::aws:policy/PowerUserAccess"] }}
triggers:
  go: {{ bucket: uploads, start: [main] }}
"#
        )
    }

    #[test]
    fn service_trusts_carry_source_conditions_only_where_the_service_documents_them() {
        let e = expand(&topology());
        let trust = |name: &str| serde_json::to_value(&role(&e, name).trust_policy).unwrap();
        // CodePipeline's own guidance shows its service role's trust policy without a
        // condition; CloudFormation documents none it sends: iam:PassRole guards them.
        for (name, service) in [
            ("t-main-pipeline", "codepipeline.amazonaws.com"),
            ("t-main-cfn-exec", "cloudformation.amazonaws.com"),
            ("t-by-cfn", "cloudformation.amazonaws.com"),
        ] {
            assert_eq!(
                trust(name)["Statement"],
                json!([{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]),
                "{name}"
            );
        }
        // EventBridge documents both keys when it assumes a target's role.
        assert_eq!(
            trust("t-go-start")["Statement"],
            json!([{
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "ArnEquals": {"aws:SourceArn": "arn:aws:events:us-east-1:111111111111:rule/t-go-start"},
                    "StringEquals": {"aws:SourceAccount": "111111111111"}
                }
            }])
        );
        assert_eq!(
            trust("t-by-events")["Statement"],
            json!([{
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": "333333333333"}}
            }])
        );
    }
}
