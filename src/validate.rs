//! Validation: raw topology → [`model::Topology`], or every problem found.
//!
//! One pass over the raw types resolves every reference and checks every name,
//! collecting all problems with their YAML paths. References to entries that already
//! failed to parse are not reported again (one mistake, one message).

use crate::diag::{suggest, Diagnostic, YamlPath};
use crate::loader::Loaded;
use crate::model::*;
use crate::names;
use crate::raw::*;
use crate::region::Region;
use std::collections::{BTreeMap, BTreeSet};

/// The most actions CodePipeline accepts in one stage.
pub const MAX_ACTIONS_PER_STAGE: usize = 50;
/// The most pipeline-level variables CodePipeline accepts.
pub const MAX_VARIABLES: usize = 50;

const CAPABILITIES: &[&str] = &[
    "CAPABILITY_IAM",
    "CAPABILITY_NAMED_IAM",
    "CAPABILITY_AUTO_EXPAND",
];

/// Validates a loaded topology. Problems found while loading are included.
pub fn validate(loaded: &Loaded) -> Result<Topology, Vec<Diagnostic>> {
    let mut cx = Cx {
        raw: &loaded.raw,
        broken: &loaded.broken,
        out: loaded.problems.clone(),
        default_region: None,
        partition: "aws",
        regions: Vec::new(),
        arns: Vec::new(),
    };
    let topology = cx.topology();
    if cx.out.is_empty() {
        Ok(topology)
    } else {
        Err(cx.out)
    }
}

struct Cx<'a> {
    raw: &'a RawTopology,
    broken: &'a BTreeSet<(String, String)>,
    out: Vec<Diagnostic>,
    default_region: Option<Region>,
    /// The topology's partition, settled once every region is known ([`Cx::partition`]).
    partition: &'static str,
    /// Every region the file writes, where it writes it: they decide the partition.
    regions: Vec<(YamlPath, Region)>,
    /// Every ARN the user writes that AWS resolves in the topology's partition, with what
    /// it is for messages; checked once the partition is settled.
    arns: Vec<(YamlPath, String, &'static str)>,
}

fn p(keys: &[&str]) -> YamlPath {
    YamlPath::keys(keys)
}

impl Cx<'_> {
    fn err(&mut self, path: YamlPath, message: impl Into<String>) {
        self.out.push(Diagnostic::new(path, message));
    }

    fn err_help(&mut self, path: YamlPath, message: impl Into<String>, help: impl Into<String>) {
        self.out.push(Diagnostic::new(path, message).help(help));
    }

    fn check(&mut self, path: &YamlPath, r: Result<(), String>) -> bool {
        match r {
            Ok(()) => true,
            Err(e) => {
                self.err(path.clone(), e);
                false
            }
        }
    }

    /// Resolves a reference to an entry of `section`; `what` names the kind in messages.
    fn reference<T>(
        &mut self,
        entries: &BTreeMap<String, T>,
        section: &str,
        what: &str,
        path: &YamlPath,
        key: &str,
    ) -> Option<Key> {
        if entries.contains_key(key) {
            return Some(key.to_string());
        }
        if !self
            .broken
            .contains(&(section.to_string(), key.to_string()))
        {
            self.err_help(
                path.clone(),
                format!("unknown {what} `{key}`: there is no `{section}.{key}`"),
                suggest(key, entries.keys().map(String::as_str)),
            );
        }
        None
    }

    fn account(&mut self, path: &YamlPath, key: &str) -> Option<Key> {
        let raw = self.raw;
        let accounts = &raw.accounts;
        self.reference(accounts, "accounts", "account", path, key)
    }

    /// The region written at `path`, or the default region when none is written.
    fn region(&mut self, path: &YamlPath, region: Option<&String>) -> Option<Region> {
        match region {
            Some(r) => match Region::parse(r) {
                Some(r) => {
                    self.regions.push((path.clone(), r.clone()));
                    Some(r)
                }
                None => {
                    let help = match crate::diag::closest(r, Region::all()) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => {
                            "use an AWS region code such as `us-east-1` or `eu-west-1`".to_string()
                        }
                    };
                    self.err_help(path.clone(), format!("unknown region `{r}`"), help);
                    None
                }
            },
            None => match &self.default_region {
                Some(r) => Some(r.clone()),
                None => {
                    if !self.broken.contains(&(String::new(), "defaults".into())) {
                        self.err_help(
                            path.clone(),
                            "no region: this entry names none and there is no `defaults.region`",
                            "add `region: <name>` here or `defaults: { region: <name> }` at the top",
                        );
                    }
                    None
                }
            },
        }
    }

    /// The region written at `path`, or `inherited` (the enclosing pipeline's) when none
    /// is written. Only written regions count towards the partition: an inherited one
    /// was counted where it was written, and may be a stand-in for a bad one.
    fn region_or(
        &mut self,
        path: &YamlPath,
        region: Option<&String>,
        inherited: &Region,
    ) -> Option<Region> {
        match region {
            Some(_) => self.region(path, region),
            None => Some(inherited.clone()),
        }
    }

    /// Records an ARN the user wrote, to be checked against the topology's partition
    /// once it is settled (pipelines, which hold most ARNs, are validated before then).
    fn arn_in_partition(&mut self, path: &YamlPath, arn: &str, what: &'static str) {
        self.arns.push((path.clone(), arn.to_string(), what));
    }

    fn tags(&mut self, path: &YamlPath, tags: &BTreeMap<String, String>) -> Tags {
        for (k, v) in tags {
            self.check(&path.key(k.clone()), names::tag(k, v));
        }
        tags.clone()
    }

    fn key(&mut self, path: &YamlPath, key: &str) {
        if let Err(e) = names::entry_key(key) {
            self.out.push(Diagnostic::new(path.clone(), e).at_key());
        }
    }

    fn topology(&mut self) -> Topology {
        let raw = self.raw;
        if raw.version != 1 && !self.broken.contains(&(String::new(), "version".into())) {
            self.err_help(
                p(&["version"]),
                format!("unsupported topology version {}", raw.version),
                "this tether reads `version: 1`",
            );
        }
        if !self.broken.contains(&(String::new(), "name".into())) {
            self.check(&p(&["name"]), names::topology_name(&raw.name));
        }
        self.default_region = match &raw.defaults.region {
            Some(r) => self.region(&p(&["defaults", "region"]), Some(r)),
            None => None,
        };
        let tags = self.tags(&p(&["defaults", "tags"]), &raw.defaults.tags);

        // Buckets, buses and pipelines are the only entries that name regions. Once they
        // are validated the partition is known, and accounts (whose role ARNs derive
        // from it) and roles come after.
        let buckets = self.buckets();
        let buses = self.buses();
        let pipelines = self.pipelines();
        let mixed = self.partition();
        let accounts = self.accounts();
        let roles = self.roles(&pipelines);
        let triggers = self.triggers(&buckets, &buses, &pipelines);
        self.source_buckets(&buckets, &pipelines);
        if !mixed {
            // With regions in two partitions, which one an ARN should be in is a guess;
            // the regions are reported, and the ARNs are checked once they agree.
            self.arn_partitions();
        }

        Topology {
            name: raw.name.clone(),
            default_region: self.default_region.clone(),
            tags,
            accounts,
            buckets,
            roles,
            buses,
            pipelines,
            triggers,
        }
    }

    /// Settles the topology's partition from the regions it writes, reporting regions in
    /// another one; returns whether the regions mix partitions.
    ///
    /// An account exists in one partition only, credentials and roles never cross
    /// partitions, and the expansion derives IAM ARNs (global, so of no region) from the
    /// partition of `defaults.region`: so one topology is one partition. It is the
    /// partition of `defaults.region`, else the one most written regions are in, else
    /// (no region at all) `aws`, where tether connects without a region (us-east-1).
    fn partition(&mut self) -> bool {
        let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
        for (_, r) in &self.regions {
            *counts.entry(r.partition()).or_default() += 1;
        }
        let home = match &self.default_region {
            Some(r) => r.partition(),
            // Most regions win; a tie goes to the first name, so the choice is stable.
            None => counts
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map_or("aws", |(p, _)| *p),
        };
        self.partition = home;
        let mixed = counts.len() > 1;
        let foreign: Vec<(YamlPath, Region)> = self
            .regions
            .iter()
            .filter(|(_, r)| r.partition() != home)
            .cloned()
            .collect();
        let why = self.home_why();
        for (path, r) in foreign {
            let other = r.partition();
            self.err_help(
                path,
                format!("region `{r}` is in partition `{other}`, but the topology is in `{home}`, {why}"),
                format!("one topology covers one partition: an account exists in one partition only, and roles cannot trust across partitions; move the entries in `{other}` regions to a topology of their own"),
            );
        }
        let written_default = self.raw.defaults.region.is_some()
            || self.broken.contains(&(String::new(), "defaults".into()));
        if home != "aws" && !written_default {
            let first = self.home_regions().into_iter().next().unwrap_or_default();
            self.err_help(
                p(&["defaults", "region"]),
                format!("the topology is in partition `{home}`, {why}, but has no `defaults.region`; tether derives the ARNs of its roles from that region's partition, and connects to us-east-1 without it"),
                format!("add `defaults: {{ region: {first} }}` at the top"),
            );
        }
        mixed
    }

    /// The distinct regions of the topology's partition that the file writes, in order.
    fn home_regions(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self
            .regions
            .iter()
            .filter(|(_, r)| r.partition() == self.partition)
            .map(|(_, r)| r.as_str())
            .collect();
        set.into_iter().map(str::to_string).collect()
    }

    /// Why the topology is in its partition, for messages: the regions that put it there.
    fn home_why(&self) -> String {
        const SHOWN: usize = 4;
        let default = self.default_region.as_ref().map(Region::as_str);
        let regions: Vec<String> = self
            .home_regions()
            .into_iter()
            .filter(|r| Some(r.as_str()) != default)
            .collect();
        let mut list = regions
            .iter()
            .take(SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if regions.len() > SHOWN {
            list.push_str(&format!(" and {} more", regions.len() - SHOWN));
        }
        match (default, regions.is_empty()) {
            (Some(d), true) => format!("the partition of `defaults.region` ({d})"),
            (Some(d), false) => {
                format!(
                    "the partition of `defaults.region` ({d}) and of its other regions ({list})"
                )
            }
            (None, false) => format!("the partition of its regions ({list})"),
            (None, true) => "as it names no region, and tether then connects to us-east-1".into(),
        }
    }

    /// Checks every recorded ARN against the settled partition.
    ///
    /// These are the ARNs a user writes that AWS resolves in the account's partition,
    /// where an ARN of another partition names nothing that could ever exist:
    /// - `accounts.*.role`: assumed through STS, which only issues sessions for roles of
    ///   its own partition;
    /// - trust `arn`s and builds' `service_role`s: principals of a trust policy, which
    ///   IAM refuses (or never matches) across partitions;
    /// - `managed_policies` and `execution_policies`: attached by IAM in the account;
    ///   AWS managed policies have one ARN per partition (`arn:aws-cn:iam::aws:policy/…`);
    /// - `execution_role` ARNs: passed to CloudFormation in the account;
    /// - connection `arn`s and approval `notify` topics: used by CodePipeline in the
    ///   pipeline's region;
    /// - statement `resources` that are ARNs: IAM refuses a policy naming a resource of
    ///   another partition.
    ///
    /// Condition values are not checked: they are compared as strings, tether does not
    /// interpret them, and an ARN there only makes the condition never match.
    fn arn_partitions(&mut self) {
        let home = self.partition;
        let why = self.home_why();
        let others: Vec<&str> = ["aws", "aws-cn", "aws-us-gov"]
            .into_iter()
            .filter(|p| *p != home)
            .collect();
        for (path, arn, what) in std::mem::take(&mut self.arns) {
            let Some(parsed) = names::arn(&arn) else {
                continue;
            };
            let theirs = parsed.partition;
            if theirs == home || !others.contains(&theirs) {
                continue;
            }
            // A global ARN (IAM, S3) means the same thing in the home partition; a
            // regional one names a region of the other partition, and only another
            // resource can replace it.
            let fix = if parsed.region.is_empty() {
                format!("write `arn:{home}:{}`", &arn[4 + theirs.len() + 1..])
            } else {
                format!("use one in a region of `{home}`")
            };
            let regions: Vec<&str> = Region::in_partition(theirs).collect();
            let instead = if self.regions.is_empty() {
                format!(
                    "set `defaults.region` to one of its regions ({})",
                    regions.join(", ")
                )
            } else {
                format!("use its regions ({}) instead", regions.join(", "))
            };
            self.err_help(
                path,
                format!("{what} `{arn}` is in partition `{theirs}`, but the topology is in `{home}`, {why}"),
                format!("AWS resolves this ARN in `{home}` only: {fix}; if the accounts are in `{theirs}`, {instead}"),
            );
        }
    }

    fn accounts(&mut self) -> BTreeMap<Key, Account> {
        let mut out = BTreeMap::new();
        let mut by_id: BTreeMap<String, String> = BTreeMap::new();
        let mut ambient: Vec<String> = Vec::new();
        for (key, a) in &self.raw.accounts {
            let path = p(&["accounts", key]);
            self.key(&path, key);
            let id = a.id.text.clone();
            let id_path = path.key("id");
            if a.id.was_number {
                let lost = if id.len() < 12 {
                    " (YAML read it as a number and dropped its leading zeros)"
                } else {
                    ""
                };
                self.err_help(
                    id_path.clone(),
                    format!("account id is a bare number{lost}; account ids are strings"),
                    format!("quote it: id: \"{:0>12}\"", id),
                );
            } else if let Err(e) = names::account_id(&id) {
                self.err_help(id_path.clone(), e, "account ids have exactly 12 digits");
            } else if let Some(other) = by_id.insert(id.clone(), key.clone()) {
                self.err(
                    id_path.clone(),
                    format!("account id {id} is already used by `accounts.{other}`"),
                );
            }
            let access = match &a.role {
                None => {
                    if a.external_id.is_some() {
                        self.err_help(
                            path.key("external_id"),
                            "`external_id` without `role`: the external id is only sent when assuming a role",
                            "add `role: <name or ARN>` or remove `external_id`",
                        );
                    }
                    ambient.push(key.clone());
                    AccountAccess::Ambient
                }
                Some(role) => {
                    let role_path = path.key("role");
                    let arn = if role.starts_with("arn:") {
                        match names::role_arn(role) {
                            Ok(parsed) => {
                                self.arn_in_partition(&role_path, role, "account role");
                                if parsed.account != id && !a.id.was_number {
                                    self.err(
                                        role_path,
                                        format!(
                                            "role ARN is in account {}, not in this account ({id})",
                                            parsed.account
                                        ),
                                    );
                                }
                                role.clone()
                            }
                            Err(e) => {
                                self.err(role_path, e);
                                role.clone()
                            }
                        }
                    } else {
                        self.check(&role_path, names::iam_role(role));
                        format!("arn:{}:iam::{id}:role/{role}", self.partition)
                    };
                    if let Some(x) = &a.external_id {
                        let ok = (2..=1224).contains(&x.len())
                            && x.chars()
                                .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c));
                        if !ok {
                            self.err(
                                path.key("external_id"),
                                "external id must be 2 to 1224 characters of letters, digits and `+=,.@:/-_`",
                            );
                        }
                    }
                    AccountAccess::AssumeRole {
                        role_arn: arn,
                        external_id: a.external_id.clone(),
                    }
                }
            };
            out.insert(
                key.clone(),
                Account {
                    key: key.clone(),
                    id,
                    access,
                },
            );
        }
        if ambient.len() > 1 {
            self.err_help(
                p(&["accounts", &ambient[1]]),
                format!(
                    "accounts {} all use the ambient credentials, which belong to one account only",
                    ambient
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "give every account but one a `role` to assume",
            );
        }
        out
    }

    fn buckets(&mut self) -> BTreeMap<Key, Bucket> {
        let mut out = BTreeMap::new();
        let mut names_seen: BTreeMap<String, String> = BTreeMap::new();
        for (key, b) in &self.raw.buckets {
            let path = p(&["buckets", key]);
            self.key(&path, key);
            let account = self.account(&path.key("account"), &b.account);
            let region = self.region(&path.key("region"), b.region.as_ref());
            let name = match (&b.name, &account) {
                (Some(n), _) => {
                    self.check(&path.key("name"), names::s3_bucket(n));
                    n.clone()
                }
                (None, Some(acct)) => {
                    let id = self.raw.accounts[acct].id.text.clone();
                    names::fit(&[&self.raw.name, key, &id], names::S3_BUCKET_MAX)
                }
                (None, None) => String::new(),
            };
            if !name.is_empty() {
                if let Some(other) = names_seen.insert(name.clone(), key.clone()) {
                    self.err(
                        path.key("name"),
                        format!("bucket name `{name}` is also used by `buckets.{other}`; S3 names are global"),
                    );
                }
            }
            let mut grants = Vec::new();
            for (i, g) in b.grants.iter().enumerate() {
                let gp = path.key("grants").index(i);
                let roles = &self.raw.roles;
                if let Some(role) = self.reference(roles, "roles", "role", &gp.key("role"), &g.role)
                {
                    if let Some(prefix) = &g.prefix {
                        if prefix.starts_with('/') || prefix.contains('*') {
                            self.err_help(
                                gp.key("prefix"),
                                format!("grant prefix `{prefix}` must not start with `/` or contain `*`"),
                                "write the key prefix as S3 shows it, for example `dev/`",
                            );
                        }
                    }
                    grants.push(Grant {
                        role,
                        access: g.access,
                        prefix: g.prefix.clone(),
                    });
                }
            }
            let tags = self.tags(&path.key("tags"), &b.tags);
            if let (Some(account), Some(region)) = (account, region) {
                out.insert(
                    key.clone(),
                    Bucket {
                        key: key.clone(),
                        account,
                        region,
                        name,
                        versioning: b.versioning.unwrap_or(false),
                        grants,
                        protect: b.lifecycle == Some(Lifecycle::Protect),
                        force_destroy: b.force_destroy,
                        adopt: b.adopt,
                        tags,
                        origin: path,
                    },
                );
            }
        }
        out
    }

    fn buses(&mut self) -> BTreeMap<Key, Bus> {
        let mut out = BTreeMap::new();
        for (key, b) in &self.raw.buses {
            let path = p(&["buses", key]);
            self.key(&path, key);
            let account = self.account(&path.key("account"), &b.account);
            let region = self.region(&path.key("region"), b.region.as_ref());
            let name = match &b.name {
                Some(n) => {
                    self.check(&path.key("name"), names::event_bus(n));
                    n.clone()
                }
                None => names::fit(&[&self.raw.name, key], names::BUS_MAX),
            };
            let mut accept_from = Vec::new();
            for (i, a) in b.accept_from.iter().enumerate() {
                let ap = path.key("accept_from").index(i);
                if let Some(a) = self.account(&ap, a) {
                    if accept_from.contains(&a) {
                        self.err(ap, format!("account `{a}` is listed twice"));
                    } else {
                        accept_from.push(a);
                    }
                }
            }
            let tags = self.tags(&path.key("tags"), &b.tags);
            if let (Some(account), Some(region)) = (account, region) {
                out.insert(
                    key.clone(),
                    Bus {
                        key: key.clone(),
                        account,
                        region,
                        name,
                        accept_from,
                        adopt: b.adopt,
                        tags,
                        origin: path,
                    },
                );
            }
        }
        out
    }

    fn roles(&mut self, pipelines: &BTreeMap<Key, Pipeline>) -> BTreeMap<Key, Role> {
        let mut out = BTreeMap::new();
        for (key, r) in &self.raw.roles {
            let path = p(&["roles", key]);
            self.key(&path, key);
            let account = self.account(&path.key("account"), &r.account);
            let name = match &r.name {
                Some(n) => {
                    self.check(&path.key("name"), names::iam_role(n));
                    n.clone()
                }
                None => names::fit(&[&self.raw.name, key], names::IAM_ROLE_MAX),
            };
            if r.trust.is_empty() {
                self.err_help(
                    path.key("trust"),
                    "role trusts no one: nothing could ever assume it",
                    "add a trust entry such as `- { build: pipeline.Stage.action }` or `- { service: lambda.amazonaws.com }`",
                );
            }
            let mut trust = Vec::new();
            for (i, t) in r.trust.iter().enumerate() {
                let tp = path.key("trust").index(i);
                if let Some(t) = self.trust(&tp, key, t, pipelines) {
                    trust.push(t);
                }
            }
            let mut statements = Vec::new();
            for (i, s) in r.statements.iter().enumerate() {
                let sp = path.key("statements").index(i);
                if s.actions.is_empty() {
                    self.err(sp.key("actions"), "statement has no actions");
                }
                for (j, a) in s.actions.iter().enumerate() {
                    let ok = a == "*"
                        || a.split_once(':').is_some_and(|(svc, act)| {
                            !svc.is_empty()
                                && !act.is_empty()
                                && svc.chars().all(|c| {
                                    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
                                })
                        });
                    if !ok {
                        self.err_help(
                            sp.key("actions").index(j),
                            format!("`{a}` is not an IAM action"),
                            "write actions as `service:Action`, for example `s3:GetObject`",
                        );
                    }
                }
                if s.resources.is_empty() {
                    self.err_help(
                        sp.key("resources"),
                        "statement has no resources",
                        "list ARNs, or `\"*\"`",
                    );
                }
                for (j, r) in s.resources.iter().enumerate() {
                    self.arn_in_partition(&sp.key("resources").index(j), r, "resource");
                }
                if let Some(sid) = &s.sid {
                    if sid.is_empty() || !sid.chars().all(|c| c.is_ascii_alphanumeric()) {
                        self.err(
                            sp.key("sid"),
                            format!("sid `{sid}` must be letters and digits only (IAM rule)"),
                        );
                    }
                }
                statements.push(Statement {
                    sid: s.sid.clone(),
                    allow: s.effect == Effect::Allow,
                    actions: s.actions.clone(),
                    resources: s.resources.clone(),
                    condition: s.condition.clone(),
                });
            }
            for (i, m) in r.managed_policies.iter().enumerate() {
                let mp = path.key("managed_policies").index(i);
                if self.check(&mp, names::managed_policy_arn(m)) {
                    self.arn_in_partition(&mp, m, "managed policy");
                }
            }
            let tags = self.tags(&path.key("tags"), &r.tags);
            if let Some(account) = account {
                out.insert(
                    key.clone(),
                    Role {
                        key: key.clone(),
                        account,
                        name,
                        trust,
                        statements,
                        managed_policies: r.managed_policies.clone(),
                        adopt: r.adopt,
                        tags,
                        origin: path,
                    },
                );
            }
        }
        out
    }

    fn trust(
        &mut self,
        path: &YamlPath,
        role_key: &str,
        t: &RawTrust,
        pipelines: &BTreeMap<Key, Pipeline>,
    ) -> Option<Trust> {
        let set: Vec<&str> = [
            ("build", t.build.is_some()),
            ("pipeline", t.pipeline.is_some()),
            ("role", t.role.is_some()),
            ("account", t.account.is_some()),
            ("service", t.service.is_some()),
            ("arn", t.arn.is_some()),
        ]
        .iter()
        .filter(|(_, on)| *on)
        .map(|(k, _)| *k)
        .collect();
        if set.len() != 1 {
            self.err_help(
                path.clone(),
                format!(
                    "a trust entry names exactly one principal; this one has {}",
                    if set.is_empty() {
                        "none".to_string()
                    } else {
                        set.join(", ")
                    }
                ),
                "use one of `build`, `pipeline`, `role`, `account`, `service`, `arn` per entry",
            );
            return None;
        }
        if let Some(b) = &t.build {
            let bp = path.key("build");
            let (pipeline, rest) = b.split_once('.').unwrap_or((b.as_str(), ""));
            let pkey = self.reference(
                &{ self.raw }.pipelines,
                "pipelines",
                "pipeline",
                &bp,
                pipeline,
            )?;
            let pl = pipelines.get(&pkey)?;
            let found = pl.stages.iter().find_map(|s| {
                let action = rest.strip_prefix(&s.name)?.strip_prefix('.')?;
                let a = s.actions.iter().find(|a| a.name == action)?;
                Some((s.name.clone(), a))
            });
            let Some((stage, action)) = found else {
                let builds: Vec<String> = pl
                    .stages
                    .iter()
                    .flat_map(|s| {
                        let pkey = &pkey;
                        s.actions
                            .iter()
                            .filter(|a| matches!(a.kind, ActionKind::Build { .. }))
                            .map(move |a| format!("{}.{}.{}", pkey, s.name, a.name))
                    })
                    .collect();
                self.err_help(
                    bp,
                    format!("no action `{rest}` in pipeline `{pipeline}`: write `pipeline.Stage.action`"),
                    suggest(b, builds.iter().map(String::as_str)),
                );
                return None;
            };
            let ActionKind::Build { service_role, .. } = &action.kind else {
                self.err(
                    bp,
                    format!("`{b}` is not a build action; only builds assume roles this way"),
                );
                return None;
            };
            let Some(service_role) = service_role else {
                self.err_help(
                    bp,
                    format!("build `{b}` has no `service_role`, so tether cannot name it in the trust policy"),
                    format!("add `service_role: <ARN of the CodeBuild project's role>` to {}", action.origin.key("build")),
                );
                return None;
            };
            return Some(Trust::Build {
                pipeline: pkey,
                stage,
                action: action.name.clone(),
                service_role: service_role.clone(),
            });
        }
        if let Some(pl) = &t.pipeline {
            return self
                .reference(
                    &self.raw.pipelines,
                    "pipelines",
                    "pipeline",
                    &path.key("pipeline"),
                    pl,
                )
                .map(Trust::Pipeline);
        }
        if let Some(r) = &t.role {
            if r == role_key {
                self.err(path.key("role"), "a role cannot trust itself");
                return None;
            }
            return self
                .reference(&self.raw.roles, "roles", "role", &path.key("role"), r)
                .map(Trust::Role);
        }
        if let Some(a) = &t.account {
            return self.account(&path.key("account"), a).map(Trust::Account);
        }
        if let Some(s) = &t.service {
            let ok = (s.ends_with(".amazonaws.com") || s.ends_with(".amazonaws.com.cn"))
                && s.split('.').next().is_some_and(|x| !x.is_empty());
            if !ok {
                self.err_help(
                    path.key("service"),
                    format!("`{s}` is not an AWS service principal"),
                    "service principals look like `codebuild.amazonaws.com`",
                );
                return None;
            }
            return Some(Trust::Service(s.clone()));
        }
        let arn = t.arn.as_ref()?;
        if self.check(&path.key("arn"), names::principal_arn(arn)) {
            self.arn_in_partition(&path.key("arn"), arn, "trusted principal");
            Some(Trust::Arn(arn.clone()))
        } else {
            None
        }
    }

    fn pipelines(&mut self) -> BTreeMap<Key, Pipeline> {
        let mut out = BTreeMap::new();
        for (key, pl) in &self.raw.pipelines {
            let path = p(&["pipelines", key]);
            self.key(&path, key);
            let account = self.account(&path.key("account"), &pl.account);
            let region = self.region(&path.key("region"), pl.region.as_ref());
            let name = match &pl.name {
                Some(n) => {
                    self.check(&path.key("name"), names::codepipeline(n, "pipeline name"));
                    n.clone()
                }
                None => names::fit(&[&self.raw.name, key], names::PIPELINE_MAX),
            };
            if pl.variables.len() > MAX_VARIABLES {
                self.err(
                    path.key("variables"),
                    format!(
                        "{} variables; CodePipeline allows at most {MAX_VARIABLES}",
                        pl.variables.len()
                    ),
                );
            }
            for v in pl.variables.keys() {
                self.check(
                    &path.key("variables").key(v.clone()),
                    names::pipeline_variable(v),
                );
            }
            let tags = self.tags(&path.key("tags"), &pl.tags);
            let Some(account) = account else { continue };
            // With a bad region, the stages are still checked (against a stand-in
            // region) so their problems are reported in the same run.
            let checked_region = region
                .clone()
                .or_else(|| self.default_region.clone())
                .or_else(|| Region::parse("us-east-1"));
            let Some(checked_region) = checked_region else {
                continue;
            };
            let stages = self.stages(&path, pl, &account, &checked_region);
            let Some(region) = region else { continue };
            out.insert(
                key.clone(),
                Pipeline {
                    key: key.clone(),
                    account,
                    region,
                    name,
                    variables: pl.variables.clone(),
                    stages,
                    tags,
                    origin: path,
                },
            );
        }
        out
    }

    fn stages(
        &mut self,
        path: &YamlPath,
        pl: &RawPipeline,
        account: &Key,
        region: &Region,
    ) -> Vec<Stage> {
        let mut stages: Vec<Stage> = Vec::new();
        // Outputs of earlier actions, by the `Stage.action` name inputs use.
        let mut outputs: Vec<(String, String)> = Vec::new();
        let first_has_source = pl
            .stages
            .first()
            .is_some_and(|s| s.actions.iter().any(|a| a.source.is_some()));
        if let Some(src) = &pl.source {
            let sp = path.key("source");
            if first_has_source {
                self.err_help(
                    sp.clone(),
                    "the pipeline has both `source` and a first stage of source actions",
                    "keep one: `source` is shorthand for a first stage `Source` with one action",
                );
            }
            if pl.stages.iter().any(|s| s.name == "Source") {
                self.err_help(
                    sp.clone(),
                    "`source` creates a stage named `Source`, and another stage has that name",
                    "rename the other stage",
                );
            }
            if let Some(source) = self.source(&sp, src, account, region) {
                let output = artifact_name("Source", "source");
                outputs.push(("Source.source".into(), output.clone()));
                stages.push(Stage {
                    name: "Source".into(),
                    actions: vec![Action {
                        name: "source".into(),
                        run_order: None,
                        input: None,
                        output: Some(output),
                        kind: ActionKind::Source(source),
                        origin: sp,
                    }],
                });
            }
        } else if !first_has_source {
            self.err_help(
                path.key("stages"),
                "the pipeline has no source",
                "add `source:` (s3, codecommit or connection) or a first stage of source actions",
            );
        }
        let has_work = pl
            .stages
            .iter()
            .any(|s| s.actions.iter().any(|a| a.source.is_none()));
        if !has_work {
            self.err_help(
                path.key("stages"),
                "the pipeline has no stage after its source",
                "CodePipeline needs at least two stages: add a stage with a build, deploy, approval or invoke action",
            );
        }
        let mut stage_names: BTreeSet<&str> = BTreeSet::new();
        for (si, st) in pl.stages.iter().enumerate() {
            let stp = path.key("stages").index(si);
            self.check(
                &stp.key("name"),
                names::codepipeline(&st.name, "stage name"),
            );
            if !stage_names.insert(&st.name) {
                self.err(
                    stp.key("name"),
                    format!("stage name `{}` is used twice in this pipeline", st.name),
                );
            }
            if st.actions.is_empty() {
                self.err(
                    stp.key("actions"),
                    format!("stage `{}` has no actions", st.name),
                );
            }
            if st.actions.len() > MAX_ACTIONS_PER_STAGE {
                self.err(
                    stp.key("actions"),
                    format!(
                        "stage `{}` has {} actions; CodePipeline allows at most {MAX_ACTIONS_PER_STAGE} per stage",
                        st.name,
                        st.actions.len()
                    ),
                );
            }
            let mut action_names: BTreeSet<&str> = BTreeSet::new();
            let mut actions = Vec::new();
            let mut stage_outputs = Vec::new();
            for (ai, a) in st.actions.iter().enumerate() {
                let ap = stp.key("actions").index(ai);
                self.check(&ap.key("name"), names::codepipeline(&a.name, "action name"));
                if !action_names.insert(&a.name) {
                    self.err(
                        ap.key("name"),
                        format!(
                            "action name `{}` is used twice in stage `{}`",
                            a.name, st.name
                        ),
                    );
                }
                if let Some(action) = self.action(
                    &ap,
                    st,
                    si,
                    a,
                    account,
                    region,
                    &outputs,
                    pl.source.is_some(),
                ) {
                    if let Some(o) = &action.output {
                        stage_outputs.push((format!("{}.{}", st.name, a.name), o.clone()));
                    }
                    actions.push(action);
                }
            }
            // A change set becomes `<name>-create` and `<name>-execute` actions.
            for (ai, a) in st.actions.iter().enumerate() {
                if a.cloudformation.as_ref().is_some_and(|c| c.change_set) {
                    for suffix in ["create", "execute"] {
                        let derived = format!("{}-{suffix}", a.name);
                        if action_names.contains(derived.as_str()) {
                            self.err_help(
                                stp.key("actions").index(ai).key("name"),
                                format!("the change set of `{}` becomes an action `{derived}`, and another action has that name", a.name),
                                "rename one of the actions",
                            );
                        }
                    }
                }
            }
            outputs.extend(stage_outputs);
            stages.push(Stage {
                name: st.name.clone(),
                actions,
            });
        }
        stages
    }

    #[allow(clippy::too_many_arguments)]
    fn action(
        &mut self,
        path: &YamlPath,
        stage: &RawStage,
        stage_index: usize,
        a: &RawAction,
        account: &Key,
        region: &Region,
        outputs: &[(String, String)],
        shorthand_source: bool,
    ) -> Option<Action> {
        let kinds: Vec<&str> = [
            ("source", a.source.is_some()),
            ("build", a.build.is_some()),
            ("cloudformation", a.cloudformation.is_some()),
            ("commands", a.commands.is_some()),
            ("approval", a.approval.is_some()),
            ("invoke", a.invoke.is_some()),
        ]
        .iter()
        .filter(|(_, on)| *on)
        .map(|(k, _)| *k)
        .collect();
        if kinds.len() != 1 {
            self.err_help(
                path.clone(),
                format!(
                    "action `{}` must have exactly one kind; it has {}",
                    a.name,
                    if kinds.is_empty() {
                        "none".to_string()
                    } else {
                        kinds.join(", ")
                    }
                ),
                "add one of `source`, `build`, `cloudformation`, `commands`, `approval`, `invoke`",
            );
            return None;
        }
        if let Some(ro) = a.run_order {
            if !(1..=999).contains(&ro) {
                self.err(
                    path.key("run_order"),
                    format!("run_order {ro} is outside 1 to 999"),
                );
            }
        }
        let is_source = a.source.is_some();
        let first_stage = stage_index == 0 && !shorthand_source;
        if is_source && !first_stage {
            self.err_help(
                path.key("source"),
                format!(
                    "source action `{}` is in stage `{}`, but source actions belong only to the first stage",
                    a.name, stage.name
                ),
                "move it into the first stage (or use the pipeline's `source` key)",
            );
        }
        if !is_source
            && stage_index == 0
            && !shorthand_source
            && stage.actions.iter().any(|x| x.source.is_some())
        {
            self.err(
                path.clone(),
                format!(
                    "the source stage `{}` may hold only source actions; `{}` is not one",
                    stage.name, a.name
                ),
            );
        }
        let default_input = outputs.first().map(|(_, o)| o.clone());
        let input = match &a.input {
            Some(i) => {
                if is_source || a.approval.is_some() {
                    self.err(
                        path.key("input"),
                        "source and approval actions take no input",
                    );
                    None
                } else if let Some((_, o)) = outputs.iter().find(|(n, _)| n == i) {
                    Some(o.clone())
                } else {
                    self.err_help(
                        path.key("input"),
                        format!("`{i}` is not the output of an earlier action"),
                        suggest(i, outputs.iter().map(|(n, _)| n.as_str())),
                    );
                    None
                }
            }
            None => default_input,
        };
        let kind = if let Some(s) = &a.source {
            ActionKind::Source(self.source(&path.key("source"), s, account, region)?)
        } else if let Some(b) = &a.build {
            let bp = path.key("build");
            self.check(&bp.key("project"), names::codebuild_project(&b.project));
            let r = self.region_or(&bp.key("region"), b.region.as_ref(), region)?;
            if let Some(sr) = &b.service_role {
                match names::role_arn(sr) {
                    Ok(_) => self.arn_in_partition(&bp.key("service_role"), sr, "service role"),
                    Err(e) => self.err(bp.key("service_role"), e),
                }
            }
            for k in b.env.keys() {
                if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    self.err(
                        bp.key("env").key(k.clone()),
                        format!("environment variable name `{k}` must be letters, digits and `_`"),
                    );
                }
            }
            ActionKind::Build {
                project: b.project.clone(),
                region: r,
                service_role: b.service_role.clone(),
                env: b.env.clone(),
            }
        } else if let Some(c) = &a.cloudformation {
            let cp = path.key("cloudformation");
            // An unknown account or region is reported; the other fields are still checked.
            let target = match &c.account {
                Some(acc) => self.account(&cp.key("account"), acc),
                None => Some(account.clone()),
            };
            let r = self.region_or(&cp.key("region"), c.region.as_ref(), region);
            self.check(&cp.key("stack"), names::stack(&c.stack));
            if c.template.is_empty() {
                self.err(cp.key("template"), "template path is empty");
            }
            for (i, cap) in c.capabilities.iter().enumerate() {
                if !CAPABILITIES.contains(&cap.as_str()) {
                    self.err_help(
                        cp.key("capabilities").index(i),
                        format!("unknown capability `{cap}`"),
                        suggest(cap, CAPABILITIES.iter().copied()),
                    );
                }
            }
            let (target, r) = (target?, r?);
            let execution = self.execution(
                &cp,
                &target,
                c.execution_role.as_ref(),
                &c.execution_policies,
                true,
            )?;
            ActionKind::CloudFormation {
                account: target,
                region: r,
                stack: c.stack.clone(),
                template: c.template.clone(),
                parameters: c.parameters.clone(),
                capabilities: c.capabilities.clone(),
                change_set: c.change_set,
                execution: execution?,
            }
        } else if let Some(c) = &a.commands {
            let cp = path.key("commands");
            // An unknown account or region is reported; the other fields are still checked.
            let target = match &c.account {
                Some(acc) => self.account(&cp.key("account"), acc),
                None => Some(account.clone()),
            };
            let r = self.region_or(&cp.key("region"), c.region.as_ref(), region);
            if c.commands.is_empty() {
                self.err(
                    cp.key("commands"),
                    "a commands action needs at least one command",
                );
            }
            if c.commands.len() > 50 {
                self.err(
                    cp.key("commands"),
                    "CodePipeline allows at most 50 commands per action",
                );
            }
            for (i, s) in c.stacks.iter().enumerate() {
                self.check(&cp.key("stacks").index(i), names::stack(s));
            }
            let (target, r) = (target?, r?);
            let execution = if c.stacks.is_empty() {
                if c.execution_role.is_some() || !c.execution_policies.is_empty() {
                    self.err_help(
                        cp.clone(),
                        "an execution role is only used to deploy `stacks`, and this action lists none",
                        "add `stacks: [<stack>]` or remove `execution_role`/`execution_policies`",
                    );
                }
                None
            } else {
                self.execution(
                    &cp,
                    &target,
                    c.execution_role.as_ref(),
                    &c.execution_policies,
                    true,
                )?
            };
            ActionKind::Commands {
                account: target,
                region: r,
                commands: c.commands.clone(),
                stacks: c.stacks.clone(),
                execution,
            }
        } else if let Some(ap) = &a.approval {
            let aprp = path.key("approval");
            if let Some(topic) = &ap.notify {
                let ok = names::arn(topic)
                    .is_some_and(|x| x.service == "sns" && names::account_id(x.account).is_ok());
                if ok {
                    self.arn_in_partition(&aprp.key("notify"), topic, "SNS topic");
                } else {
                    self.err(
                        aprp.key("notify"),
                        format!("`{topic}` is not an SNS topic ARN"),
                    );
                }
            }
            if let Some(u) = &ap.url {
                if !u.starts_with("https://") && !u.starts_with("http://") {
                    self.err(aprp.key("url"), format!("`{u}` is not a URL"));
                }
            }
            if ap.message.as_ref().is_some_and(|m| m.chars().count() > 512) {
                self.err(
                    aprp.key("message"),
                    "approval message is longer than 512 characters",
                );
            }
            ActionKind::Approval {
                notify: ap.notify.clone(),
                message: ap.message.clone(),
                url: ap.url.clone(),
            }
        } else {
            let inv = a.invoke.as_ref()?;
            let ip = path.key("invoke");
            self.check(&ip.key("function"), names::lambda_function(&inv.function));
            let target = match &inv.account {
                Some(acc) => self.account(&ip.key("account"), acc)?,
                None => account.clone(),
            };
            let r = self.region_or(&ip.key("region"), inv.region.as_ref(), region)?;
            ActionKind::Invoke {
                function: inv.function.clone(),
                account: target,
                region: r,
                parameters: inv.parameters.clone(),
            }
        };
        let output = match &kind {
            ActionKind::Source(_) => Some(artifact_name(&stage.name, &a.name)),
            ActionKind::Build { .. } if a.build.as_ref().is_some_and(|b| b.output) => {
                Some(artifact_name(&stage.name, &a.name))
            }
            _ => None,
        };
        let input = match &kind {
            ActionKind::Source(_) | ActionKind::Approval { .. } => None,
            ActionKind::Invoke { .. } if a.input.is_none() => None,
            _ => input,
        };
        Some(Action {
            name: a.name.clone(),
            run_order: a.run_order,
            input,
            output,
            kind,
            origin: path.clone(),
        })
    }

    /// The execution role of a CloudFormation deployment: exactly one of a named role or
    /// policies for a derived one. `Some(None)` means a problem was reported.
    fn execution(
        &mut self,
        path: &YamlPath,
        target: &Key,
        role: Option<&String>,
        policies: &[String],
        required: bool,
    ) -> Option<Option<Execution>> {
        for (i, m) in policies.iter().enumerate() {
            let mp = path.key("execution_policies").index(i);
            if self.check(&mp, names::managed_policy_arn(m)) {
                self.arn_in_partition(&mp, m, "managed policy");
            }
        }
        match (role, policies.is_empty()) {
            (Some(_), false) => {
                self.err_help(
                    path.clone(),
                    "both `execution_role` and `execution_policies` are set",
                    "name an existing role with `execution_role`, or let tether derive one from `execution_policies`",
                );
                Some(None)
            }
            (Some(r), true) => {
                let rp = path.key("execution_role");
                if r.starts_with("arn:") {
                    match names::role_arn(r) {
                        Ok(parsed) => {
                            self.arn_in_partition(&rp, r, "execution role");
                            let id = &self.raw.accounts[target].id.text;
                            if parsed.account != id {
                                self.err(
                                    rp,
                                    format!("execution role is in account {}, but the stack is deployed in `{target}` ({id})", parsed.account),
                                );
                                return Some(None);
                            }
                            Some(Some(Execution::Existing(RoleRef::Arn(r.clone()))))
                        }
                        Err(e) => {
                            self.err(rp, e);
                            Some(None)
                        }
                    }
                } else {
                    let roles = &self.raw.roles;
                    let key = self.reference(roles, "roles", "role", &rp, r);
                    let Some(key) = key else { return Some(None) };
                    if self.raw.roles[&key].account != *target {
                        self.err(
                            rp,
                            format!("role `{key}` is in account `{}`, but the stack is deployed in `{target}`", self.raw.roles[&key].account),
                        );
                        return Some(None);
                    }
                    Some(Some(Execution::Existing(RoleRef::Topology(key))))
                }
            }
            (None, true) if required => {
                self.err_help(
                    path.clone(),
                    "CloudFormation needs an execution role and none is given",
                    "add `execution_policies: [<managed policy ARN>]` for a derived role, or `execution_role: <role>`",
                );
                Some(None)
            }
            (None, true) => Some(None),
            (None, false) => Some(Some(Execution::Derived {
                policies: policies.to_vec(),
            })),
        }
    }

    fn source(
        &mut self,
        path: &YamlPath,
        s: &RawSource,
        account: &Key,
        region: &Region,
    ) -> Option<Source> {
        let set: Vec<&str> = [
            ("s3", s.s3.is_some()),
            ("codecommit", s.codecommit.is_some()),
            ("connection", s.connection.is_some()),
        ]
        .iter()
        .filter(|(_, on)| *on)
        .map(|(k, _)| *k)
        .collect();
        if set.len() != 1 {
            self.err_help(
                path.clone(),
                format!(
                    "a source has exactly one kind; this one has {}",
                    if set.is_empty() {
                        "none".to_string()
                    } else {
                        set.join(", ")
                    }
                ),
                "use one of `s3`, `codecommit`, `connection`",
            );
            return None;
        }
        if let Some(s3) = &s.s3 {
            let sp = path.key("s3");
            let bucket = self.reference(
                &{ self.raw }.buckets,
                "buckets",
                "bucket",
                &sp.key("bucket"),
                &s3.bucket,
            )?;
            if s3.key.is_empty() || s3.key.starts_with('/') {
                self.err(
                    sp.key("key"),
                    "the source object key must be non-empty and not start with `/`",
                );
            }
            return Some(Source::S3 {
                bucket,
                key: s3.key.clone(),
            });
        }
        if let Some(cc) = &s.codecommit {
            let cp = path.key("codecommit");
            let acct = match &cc.account {
                Some(a) => self.account(&cp.key("account"), a)?,
                None => account.clone(),
            };
            let r = self.region_or(&cp.key("region"), cc.region.as_ref(), region)?;
            if r != *region {
                self.err(
                    cp.key("region"),
                    format!("a CodeCommit source must be in the pipeline's region ({region})"),
                );
            }
            self.check(
                &cp.key("repository"),
                names::codecommit_repository(&cc.repository),
            );
            if cc.branch.is_empty() {
                self.err(cp.key("branch"), "branch is empty");
            }
            return Some(Source::CodeCommit {
                account: acct,
                region: r,
                repository: cc.repository.clone(),
                branch: cc.branch.clone(),
            });
        }
        let c = s.connection.as_ref()?;
        let cp = path.key("connection");
        let ok = names::arn(&c.arn).is_some_and(|a| {
            matches!(a.service, "codestar-connections" | "codeconnections")
                && a.resource.starts_with("connection/")
                && names::account_id(a.account).is_ok()
        });
        if ok {
            self.arn_in_partition(&cp.key("arn"), &c.arn, "connection");
        } else {
            self.err_help(
                cp.key("arn"),
                format!("`{}` is not a connection ARN", c.arn),
                "copy the ARN of the connection from the console: arn:aws:codeconnections:<region>:<account>:connection/<id>",
            );
        }
        if !c.repository.contains('/') {
            self.err_help(
                cp.key("repository"),
                format!("repository `{}` must be `owner/name`", c.repository),
                "for example `acme/app`",
            );
        }
        if c.branch.is_empty() {
            self.err(cp.key("branch"), "branch is empty");
        }
        Some(Source::Connection {
            arn: c.arn.clone(),
            repository: c.repository.clone(),
            branch: c.branch.clone(),
        })
    }

    /// S3 sources need versioned buckets in the pipeline's region.
    fn source_buckets(
        &mut self,
        buckets: &BTreeMap<Key, Bucket>,
        pipelines: &BTreeMap<Key, Pipeline>,
    ) {
        for pl in pipelines.values() {
            for st in &pl.stages {
                for a in &st.actions {
                    let ActionKind::Source(Source::S3 { bucket, .. }) = &a.kind else {
                        continue;
                    };
                    let Some(b) = buckets.get(bucket) else {
                        continue;
                    };
                    // The shorthand `source:` is its own origin; stage actions hold one.
                    let shorthand =
                        a.origin.0.last() == Some(&crate::diag::Seg::Key("source".into()));
                    let src = if shorthand {
                        a.origin.clone()
                    } else {
                        a.origin.key("source")
                    };
                    let sp = src.key("s3").key("bucket");
                    if b.region != pl.region {
                        self.err(
                            sp.clone(),
                            format!(
                                "bucket `{bucket}` is in {}, but CodePipeline reads S3 sources only in the pipeline's region ({})",
                                b.region, pl.region
                            ),
                        );
                    }
                    if self.raw.buckets.get(bucket).and_then(|r| r.versioning) == Some(false) {
                        self.err_help(
                            b.origin.key("versioning"),
                            format!("bucket `{bucket}` is a pipeline source, and S3 sources must be versioned"),
                            "remove `versioning: false`: source buckets are versioned automatically",
                        );
                    }
                }
            }
        }
    }

    fn triggers(
        &mut self,
        buckets: &BTreeMap<Key, Bucket>,
        buses: &BTreeMap<Key, Bus>,
        pipelines: &BTreeMap<Key, Pipeline>,
    ) -> BTreeMap<Key, Trigger> {
        let mut out = BTreeMap::new();
        for (key, t) in &self.raw.triggers {
            let path = p(&["triggers", key]);
            self.key(&path, key);
            let bucket = if self.raw.buckets.contains_key(&t.bucket) {
                Some(t.bucket.clone())
            } else {
                if !self
                    .broken
                    .contains(&("buckets".to_string(), t.bucket.clone()))
                {
                    self.err_help(
                        path.key("bucket"),
                        format!("trigger bucket `{}` is not managed by this topology, so tether cannot turn on its EventBridge notifications", t.bucket),
                        format!(
                            "declare it under `buckets` (with `adopt: true` if it already exists){}",
                            crate::diag::closest(&t.bucket, self.raw.buckets.keys().map(String::as_str))
                                .map(|c| format!("; or did you mean `{c}`?"))
                                .unwrap_or_default()
                        ),
                    );
                }
                None
            };
            for (field, v) in [("prefix", &t.prefix), ("suffix", &t.suffix)] {
                if let Some(v) = v {
                    if v.is_empty() || v.len() > 1024 {
                        self.err(
                            path.key(field),
                            format!("{field} must be 1 to 1024 characters"),
                        );
                    }
                }
            }
            if t.prefix.as_ref().is_some_and(|x| x.starts_with('/')) {
                self.err_help(
                    path.key("prefix"),
                    "S3 keys do not start with `/`",
                    "write the prefix as S3 shows it, for example `releases/`",
                );
            }
            if t.start.is_empty() {
                self.err_help(
                    path.key("start"),
                    "the trigger starts no pipeline",
                    "list pipelines under `start`",
                );
            }
            let mut start: Vec<Key> = Vec::new();
            for (i, s) in t.start.iter().enumerate() {
                let sp = path.key("start").index(i);
                if let Some(k) =
                    self.reference(&{ self.raw }.pipelines, "pipelines", "pipeline", &sp, s)
                {
                    if start.contains(&k) {
                        self.err(sp, format!("pipeline `{k}` is listed twice"));
                    } else {
                        start.push(k);
                    }
                }
            }
            let places: BTreeSet<(Key, Region)> = start
                .iter()
                .filter_map(|s| pipelines.get(s))
                .map(|p| (p.account.clone(), p.region.clone()))
                .collect();
            if places.len() > 1 {
                self.err_help(
                    path.key("start"),
                    format!(
                        "the pipelines of one trigger must share an account and region; these are in {}",
                        places.iter().map(|(a, r)| format!("{a}/{r}")).collect::<Vec<_>>().join(", ")
                    ),
                    "split the trigger in one per account and region",
                );
            }
            let via = match &t.via {
                None => None,
                Some(v) => self.reference(&{ self.raw }.buses, "buses", "bus", &path.key("via"), v),
            };
            if let (Some(v), Some((acct, region))) = (
                via.as_ref().and_then(|v| buses.get(v)),
                places.iter().next(),
            ) {
                if places.len() == 1 && (v.account != *acct || v.region != *region) {
                    self.err_help(
                        path.key("via"),
                        format!(
                            "bus `{}` is in {}/{}, but its rule must start pipelines in {acct}/{region}",
                            v.key, v.account, v.region
                        ),
                        "EventBridge starts pipelines only in the bus's own account and region",
                    );
                }
                if let Some(b) = bucket.as_ref().and_then(|b| buckets.get(b)) {
                    if b.account != v.account && !v.accept_from.contains(&b.account) {
                        self.err_help(
                            path.key("via"),
                            format!("bus `{}` does not accept events from account `{}`, where bucket `{}` is", v.key, b.account, b.key),
                            format!("add `{}` to `buses.{}.accept_from`", b.account, v.key),
                        );
                    }
                }
            }
            if let Some(bucket) = bucket {
                if t.start.len() == start.len() && places.len() == 1 {
                    out.insert(
                        key.clone(),
                        Trigger {
                            key: key.clone(),
                            bucket,
                            prefix: t.prefix.clone(),
                            suffix: t.suffix.clone(),
                            via,
                            start,
                            enabled: t.enabled,
                            origin: path,
                        },
                    );
                }
            }
        }
        out
    }
}

/// CodePipeline artifact names allow letters, digits, `_` and `-`.
fn artifact_name(stage: &str, action: &str) -> String {
    let raw = format!("{stage}-{action}");
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    names::fit(&[&clean], 100)
}

#[cfg(test)]
mod tests {
    use crate::loader::load_bytes;

    fn problems(text: &str) -> Vec<String> {
        let loaded = load_bytes(text.as_bytes(), "t.yaml").unwrap();
        match super::validate(&loaded) {
            Ok(_) => Vec::new(),
            Err(p) => p
                .iter()
                .map(|d| format!("{}: {}", d.path, d.message))
                .collect(),
        }
    }

    const BASE: &str = "version: 1\nname: t\ndefaults: { region: us-east-1 }\naccounts:\n  a: { id: \"111111111111\" }\n";

    #[test]
    fn a_minimal_topology_is_valid() {
        assert!(problems(BASE).is_empty());
    }

    #[test]
    fn references_to_broken_entries_are_not_reported_twice() {
        // `b` fails to parse; the trigger naming it must not add "unknown bucket".
        let text = format!(
            "{BASE}buckets:\n  b: {{ account: [a] }}\ntriggers:\n  t: {{ bucket: b, start: [] }}\n"
        );
        let p = problems(&text);
        assert!(
            p.iter()
                .any(|m| m.starts_with("buckets.b.account: invalid type")),
            "{p:?}"
        );
        assert!(!p.iter().any(|m| m.contains("not managed")), "{p:?}");
    }

    #[test]
    fn topologies_in_other_partitions_validate_with_their_own_arns() {
        for (region, partition) in [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")] {
            let text = format!(
                "version: 1\nname: t\ndefaults: {{ region: {region} }}\naccounts:\n  a: {{ id: \"111111111111\" }}\n  b: {{ id: \"222222222222\", role: Deploy }}\nroles:\n  r: {{ account: b, trust: [{{ arn: \"arn:{partition}:iam::111111111111:root\" }}], managed_policies: [\"arn:{partition}:iam::aws:policy/ReadOnlyAccess\"] }}\n"
            );
            let loaded = load_bytes(text.as_bytes(), "t.yaml").unwrap();
            let t = super::validate(&loaded).unwrap_or_else(|p| panic!("{region}: {p:?}"));
            // A role given by name is assumed by the ARN of the topology's partition.
            let crate::model::AccountAccess::AssumeRole { role_arn, .. } = &t.accounts["b"].access
            else {
                panic!("b assumes a role")
            };
            assert_eq!(
                role_arn,
                &format!("arn:{partition}:iam::222222222222:role/Deploy")
            );
            // The same ARNs in an `aws` topology name nothing AWS would find.
            let p = problems(&text.replace(region, "us-east-1"));
            assert_eq!(p.len(), 2, "{p:?}");
            assert!(
                p.iter().all(|m| m.contains(&format!(
                    "is in partition `{partition}`, but the topology is in `aws`"
                ))),
                "{p:?}"
            );
        }
    }

    #[test]
    fn mixed_partitions_are_one_error_per_foreign_region_and_no_arn_guesses() {
        let text = format!(
            "{BASE}buckets:\n  b: {{ account: a, region: cn-north-1 }}\nroles:\n  r: {{ account: a, trust: [{{ account: a }}], managed_policies: [\"arn:aws-cn:iam::aws:policy/ReadOnlyAccess\"] }}\n"
        );
        let p = problems(&text);
        assert_eq!(
            p,
            vec!["buckets.b.region: region `cn-north-1` is in partition `aws-cn`, but the topology is in `aws`, the partition of `defaults.region` (us-east-1)"]
        );
    }

    #[test]
    fn change_set_names_must_not_clash() {
        let text = format!(
            "{BASE}pipelines:\n  p:\n    account: a\n    source: {{ codecommit: {{ repository: r, branch: main }} }}\n    stages:\n      - name: D\n        actions:\n          - {{ name: x, cloudformation: {{ stack: s, template: t.yaml, change_set: true, execution_policies: [\"arn:aws:iam::aws:policy/P\"] }} }}\n          - {{ name: x-execute, approval: {{}} }}\n"
        );
        let p = problems(&text);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("becomes an action `x-execute`"), "{p:?}");
    }
}
