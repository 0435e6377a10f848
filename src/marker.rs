//! The ownership marker: how tether finds what it owns in regions the topology no longer
//! names, and how two topologies that share a name are kept apart — without a state file.
//!
//! In each account, apply keeps one small IAM customer-managed policy,
//! `/tether/<name>/tether-<name>-marker`, that grants nothing (it is never attached; its
//! one statement denies deleting the marker itself). Its tags are the record:
//! `tether:region:<region>` for every region tether has written to in that account,
//! `tether:account:<key>` = id for every account of the topology, and `tether:claim`
//! naming the file (repository and path) that claims the topology name there.
//!
//! `plan` reads the marker of every account (one `iam:GetPolicy` each) before anything
//! else, searches the regions it lists as well as those the topology names, refuses to
//! go on when another file claims the name, and warns about accounts the topology lost.
//! The plan carries, per account, the marker observed and the one the topology implies;
//! apply adds regions before its first step (so a crash never leaves resources in a
//! region the marker does not list) and removes the regions the topology dropped only
//! after every step in that account succeeded (so a failed deletion is found again).
//!
//! AWS facts this rests on (IAM API reference and User Guide): a managed policy's name
//! is unique in its account whatever its path (CreatePolicy, `PolicyName`), so the name
//! carries the topology name; a customer-managed policy takes tags (CreatePolicy `Tags`,
//! TagPolicy, UntagPolicy) and GetPolicy returns them (the `Policy` data type); a tag
//! value is at most 256 characters of `[\p{L}\p{Z}\p{N}_.:/=+\-@]` (the `Tag` data type);
//! an IAM resource holds at most 50 tags ("IAM and AWS STS quotas"), so a marker records
//! at most [`MAX_RECORDED`] regions and accounts together.
//!
//! Everything here is pure: naming, the tag encoding, and the decisions.

use crate::expand::Expansion;
use crate::model::Topology;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub const TAG_REGION: &str = "tether:region:";
pub const TAG_ACCOUNT: &str = "tether:account:";
pub const TAG_CLAIM: &str = "tether:claim";

/// IAM allows 50 tags on a resource; two are the topology and the claim.
pub const MAX_RECORDED: usize = 48;

/// What a marker records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Marker {
    /// Regions tether has written to in the account.
    pub regions: BTreeSet<String>,
    /// Account key → id: the accounts of the topology.
    pub accounts: BTreeMap<String, String>,
    /// Who claims the topology name: repository and path of the topology file.
    pub claim: String,
}

/// One account's marker in a plan: as observed, and as the topology implies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MarkerChange {
    /// Account key.
    pub account: String,
    pub account_id: String,
    /// The marker's ARN.
    pub arn: String,
    /// Absent when the account has no marker yet.
    pub before: Option<Marker>,
    pub after: Marker,
}

impl MarkerChange {
    /// What apply writes before its first step: everything recorded before, plus what
    /// the topology adds, so that the record never misses a region during the run.
    pub fn grown(&self) -> Marker {
        let mut m = self.after.clone();
        if let Some(b) = &self.before {
            m.regions.extend(b.regions.iter().cloned());
            for (k, v) in &b.accounts {
                m.accounts.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        m
    }

    /// Whether apply must write before its first step.
    pub fn needs_growth(&self) -> bool {
        self.before.as_ref() != Some(&self.grown())
    }

    /// Whether apply must remove what the topology dropped after its last step.
    pub fn needs_pruning(&self) -> bool {
        self.grown() != self.after
    }
}

pub fn policy_name(topology: &str) -> String {
    format!("tether-{topology}-marker")
}

pub fn path(topology: &str) -> String {
    format!("/tether/{topology}/")
}

pub fn arn(account_id: &str, topology: &str) -> String {
    format!(
        "arn:aws:iam::{account_id}:policy{}{}",
        path(topology),
        policy_name(topology)
    )
}

/// The marker's policy document: one statement that, were the policy ever attached,
/// would only keep the marker from being deleted.
pub fn document(account_id: &str, topology: &str) -> String {
    serde_json::json!({
        "Version": crate::expand::policy::VERSION,
        "Statement": [{
            "Sid": "TetherOwnershipMarker",
            "Effect": "Deny",
            "Action": "iam:DeletePolicy",
            "Resource": arn(account_id, topology),
        }]
    })
    .to_string()
}

/// The marker's tags (ownership tags included).
pub fn tags(topology: &str, m: &Marker) -> BTreeMap<String, String> {
    let mut t = BTreeMap::new();
    t.insert(
        crate::expand::TAG_TOPOLOGY.to_string(),
        topology.to_string(),
    );
    t.insert(TAG_CLAIM.to_string(), m.claim.clone());
    for r in &m.regions {
        t.insert(format!("{TAG_REGION}{r}"), "written".to_string());
    }
    for (k, id) in &m.accounts {
        t.insert(format!("{TAG_ACCOUNT}{k}"), id.clone());
    }
    t
}

/// Reads a marker back from its tags.
pub fn from_tags(tags: &BTreeMap<String, String>) -> Marker {
    Marker {
        regions: tags
            .keys()
            .filter_map(|k| k.strip_prefix(TAG_REGION))
            .map(String::from)
            .collect(),
        accounts: tags
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(TAG_ACCOUNT)
                    .map(|k| (k.to_string(), v.clone()))
            })
            .collect(),
        claim: tags.get(TAG_CLAIM).cloned().unwrap_or_default(),
    }
}

/// IAM tag values allow letters, digits, spaces and `_.:/=+-@`, up to 256 characters: a
/// claim is made to fit (other characters become `_`; a long one keeps a hash suffix).
pub fn tag_value(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " _.:/=+-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    crate::names::fit(&[&clean], 256)
}

/// A git remote as a repository name, the same whichever way it was cloned and without
/// credentials: `https://user:token@github.com/org/repo.git` and
/// `git@github.com:org/repo.git` are both `github.com/org/repo`.
pub fn repository(url: &str) -> String {
    let mut u = url.trim();
    if let Some(i) = u.find("://") {
        u = &u[i + 3..];
    }
    if let Some(i) = u.rfind('@') {
        u = &u[i + 1..];
    }
    let mut out = u.replacen(':', "/", usize::from(!url.contains("://")));
    // `host:port/path` after a scheme keeps its port; scp-like `host:path` becomes a path.
    while out.ends_with('/') {
        out.pop();
    }
    out.strip_suffix(".git").map(String::from).unwrap_or(out)
}

/// The marker the topology implies in `account`: the regions of its resources there and
/// every account of the topology.
pub fn desired(topology: &Topology, expansion: &Expansion, account: &str, claim: &str) -> Marker {
    Marker {
        regions: expansion
            .resources
            .iter()
            .filter(|r| r.account == account && r.region != "global")
            .map(|r| r.region.clone())
            .collect(),
        accounts: topology
            .accounts
            .iter()
            .map(|(k, a)| (k.clone(), a.id.clone()))
            .collect(),
        claim: tag_value(claim),
    }
}

/// Markers that another file claims: the plan must not go on (it would plan to delete
/// the other topology's resources as leftovers of this one).
pub fn foreign_claims(topology: &str, changes: &[MarkerChange]) -> Vec<String> {
    changes
        .iter()
        .filter_map(|c| {
            let b = c.before.as_ref()?;
            (!b.claim.is_empty() && b.claim != c.after.claim).then(|| {
                format!(
                    "accounts.{}: the topology name `{topology}` is claimed in account {} by {}, and this file is {}; two topologies with one name would delete each other's resources: rename one of them (`name:`), or, if this file took the other's place, set TETHER_CLAIM to the recorded claim or retag the marker {}",
                    c.account, c.account_id, b.claim, c.after.claim, c.arn
                )
            })
        })
        .collect()
}

/// Markers that would need more tags than IAM allows: the plan stops, naming the account.
pub fn too_large(changes: &[MarkerChange]) -> Vec<String> {
    changes
        .iter()
        .filter_map(|c| {
            let g = c.grown();
            let n = g.regions.len() + g.accounts.len();
            (n > MAX_RECORDED).then(|| {
                format!(
                    "accounts.{}: tether's ownership marker would record {n} regions and accounts; IAM allows {MAX_RECORDED} (50 tags per policy): split the topology",
                    c.account
                )
            })
        })
        .collect()
}

/// Warnings for accounts a marker records that the topology no longer has: tether cannot
/// reach them, so what it made there stays.
pub fn lost_accounts(topology: &str, changes: &[MarkerChange]) -> Vec<String> {
    let mut lost: BTreeMap<(String, String), String> = BTreeMap::new();
    for c in changes {
        let Some(b) = &c.before else { continue };
        for (k, id) in &b.accounts {
            if !c.after.accounts.contains_key(k) && !c.after.accounts.values().any(|v| v == id) {
                lost.entry((k.clone(), id.clone()))
                    .or_insert_with(|| c.account.clone());
            }
        }
    }
    lost.into_iter()
        .map(|((k, id), seen)| {
            format!(
                "account `{k}` ({id}) was part of topology `{topology}` (recorded in the marker of account `{seen}`) and is no longer in it: tether cannot reach it any more, so what it made there stays; put the account back and remove its entries to delete them, or delete the resources tagged tether:topology={topology} there by hand"
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(regions: &[&str], accounts: &[(&str, &str)], claim: &str) -> Marker {
        Marker {
            regions: regions.iter().map(|s| s.to_string()).collect(),
            accounts: accounts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            claim: claim.into(),
        }
    }

    fn change(before: Option<Marker>, after: Marker) -> MarkerChange {
        MarkerChange {
            account: "tools".into(),
            account_id: "111111111111".into(),
            arn: arn("111111111111", "acme"),
            before,
            after,
        }
    }

    #[test]
    fn tags_round_trip() {
        let m = marker(
            &["eu-west-1", "us-east-1"],
            &[("tools", "111111111111")],
            "repo:t.yaml",
        );
        let t = tags("acme", &m);
        assert_eq!(t["tether:topology"], "acme");
        assert_eq!(t["tether:region:eu-west-1"], "written");
        assert_eq!(from_tags(&t), m);
        assert_eq!(
            arn("111111111111", "acme"),
            "arn:aws:iam::111111111111:policy/tether/acme/tether-acme-marker"
        );
    }

    #[test]
    fn regions_grow_before_the_run_and_are_pruned_after_it() {
        let before = marker(&["eu-central-1", "us-east-1"], &[("tools", "1")], "c");
        let after = marker(&["ap-southeast-2", "us-east-1"], &[("tools", "1")], "c");
        let c = change(Some(before), after.clone());
        assert_eq!(
            c.grown().regions.into_iter().collect::<Vec<_>>(),
            ["ap-southeast-2", "eu-central-1", "us-east-1"]
        );
        assert!(c.needs_growth() && c.needs_pruning());
        let same = change(Some(after.clone()), after.clone());
        assert!(!same.needs_growth() && !same.needs_pruning());
        let new = change(None, after);
        assert!(new.needs_growth() && !new.needs_pruning());
    }

    #[test]
    fn another_claim_is_refused_and_lost_accounts_are_named() {
        let before = marker(
            &["us-east-1"],
            &[("tools", "1"), ("dev", "3")],
            "github.com/a/infra:topology.yaml",
        );
        let after = marker(
            &["us-east-1"],
            &[("tools", "1")],
            "github.com/b/platform:acme.yaml",
        );
        let c = [change(Some(before.clone()), after.clone())];
        let e = foreign_claims("acme", &c);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].contains("github.com/a/infra:topology.yaml")
                && e[0].contains("github.com/b/platform:acme.yaml"),
            "{}",
            e[0]
        );
        let w = lost_accounts("acme", &c);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].starts_with("account `dev` (3) was part of topology `acme`"),
            "{}",
            w[0]
        );
        // The same claim: no error.
        let ours = Marker {
            claim: before.claim.clone(),
            ..after
        };
        assert!(foreign_claims("acme", &[change(Some(before), ours)]).is_empty());
    }

    #[test]
    fn a_repository_is_named_the_same_however_it_was_cloned() {
        for url in [
            "https://github.com/org/repo.git",
            "https://x-access-token:ghs_secret@github.com/org/repo.git",
            "git@github.com:org/repo.git",
            "ssh://git@github.com/org/repo",
            "github.com/org/repo/",
        ] {
            assert_eq!(repository(url), "github.com/org/repo", "{url}");
        }
        assert!(!repository("https://user:secret@example.com/r.git").contains("secret"));
    }

    #[test]
    fn a_marker_never_needs_more_tags_than_iam_allows() {
        let regions: Vec<String> = (0..30).map(|i| format!("r-{i}")).collect();
        let accounts: Vec<(String, String)> = (0..19)
            .map(|i| (format!("a{i}"), format!("{i:012}")))
            .collect();
        let r: Vec<&str> = regions.iter().map(String::as_str).collect();
        let a: Vec<(&str, &str)> = accounts
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let big = change(None, marker(&r, &a, "c"));
        assert_eq!(tags("acme", &big.after).len(), 51);
        assert_eq!(too_large(&[big]).len(), 1);
        let fits = change(None, marker(&r, &a[..18], "c"));
        assert_eq!(tags("acme", &fits.after).len(), 50);
        assert!(too_large(&[fits]).is_empty());
    }

    #[test]
    fn claims_fit_in_a_tag_value() {
        assert_eq!(
            tag_value("git@github.com:org/repo.git:a b.yaml"),
            "git@github.com:org/repo.git:a b.yaml"
        );
        assert_eq!(tag_value("C:\\work\\t~1.yaml"), "C:_work_t_1.yaml");
        assert_eq!(tag_value(&"x".repeat(300)).len(), 256);
    }
}
