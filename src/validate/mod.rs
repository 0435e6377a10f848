//! Validation: raw topology → [`model::Topology`], or every problem found.
//!
//! One pass over the raw types resolves every reference and checks every name,
//! collecting all problems with their YAML paths. References to entries that already
//! failed to parse are not reported again (one mistake, one message).
//!
//! This file holds [`validate`], the context and the helpers every section shares
//! (references, regions, tags); each topology section is checked in a file of its own,
//! and the partition in `partition.rs`.

mod accounts;
mod actions;
mod buckets;
mod buses;
mod partition;
mod pipelines;
mod roles;
mod triggers;

use crate::diag::{suggest, Diagnostic, YamlPath};
use crate::loader::Loaded;
use crate::model::*;
use crate::names;
use crate::raw::*;
use crate::region::Region;
use std::collections::{BTreeMap, BTreeSet};

pub use pipelines::{MAX_ACTIONS_PER_STAGE, MAX_VARIABLES};

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

    /// Entries that must name exactly one of several keys (an action's kind, a source's,
    /// a trust entry's principal): true when one is set; otherwise reports what was found
    /// (`none`, or the keys set) through `message`, with `help`.
    fn exactly_one(
        &mut self,
        path: &YamlPath,
        keys: &[(&str, bool)],
        message: impl FnOnce(&str) -> String,
        help: &str,
    ) -> bool {
        let set: Vec<&str> = keys.iter().filter(|(_, on)| *on).map(|(k, _)| *k).collect();
        if set.len() == 1 {
            return true;
        }
        let found = if set.is_empty() {
            "none".to_string()
        } else {
            set.join(", ")
        };
        self.err_help(path.clone(), message(&found), help);
        false
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
            dead_letter: raw.defaults.dead_letter.unwrap_or(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::loader::load_bytes;

    pub(super) fn problems(text: &str) -> Vec<String> {
        let loaded = load_bytes(text.as_bytes(), "t.yaml").unwrap();
        match super::validate(&loaded) {
            Ok(_) => Vec::new(),
            Err(p) => p
                .iter()
                .map(|d| format!("{}: {}", d.path, d.message))
                .collect(),
        }
    }

    pub(super) const BASE: &str = "version: 1\nname: t\ndefaults: { region: us-east-1 }\naccounts:\n  a: { id: \"111111111111\" }\n";

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
}
