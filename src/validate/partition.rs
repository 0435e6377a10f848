//! The topology's partition: settled from the regions the file writes, after which
//! every ARN the user wrote is checked against it.

use super::{p, Cx};
use crate::diag::YamlPath;
use crate::names;
use crate::region::Region;
use std::collections::{BTreeMap, BTreeSet};

impl Cx<'_> {
    /// Settles the topology's partition from the regions it writes, reporting regions in
    /// another one; returns whether the regions mix partitions.
    ///
    /// An account exists in one partition only, credentials and roles never cross
    /// partitions, and the expansion derives IAM ARNs (global, so of no region) from the
    /// partition of `defaults.region`: so one topology is one partition. It is the
    /// partition of `defaults.region`, else the one most written regions are in, else
    /// (no region at all) `aws`, where tether connects without a region (us-east-1).
    pub(super) fn partition(&mut self) -> bool {
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
    pub(super) fn arn_partitions(&mut self) {
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
}

#[cfg(test)]
mod tests {
    use crate::loader::load_bytes;
    use crate::validate::tests::{problems, BASE};
    use crate::validate::validate;

    #[test]
    fn topologies_in_other_partitions_validate_with_their_own_arns() {
        for (region, partition) in [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")] {
            let text = format!(
                "version: 1\nname: t\ndefaults: {{ region: {region} }}\naccounts:\n  a: {{ id: \"111111111111\" }}\n  b: {{ id: \"222222222222\", role: Deploy }}\nroles:\n  r: {{ account: b, trust: [{{ arn: \"arn:{partition}:iam::111111111111:root\" }}], managed_policies: [\"arn:{partition}:iam::aws:policy/ReadOnlyAccess\"] }}\n"
            );
            let loaded = load_bytes(text.as_bytes(), "t.yaml").unwrap();
            let t = validate(&loaded).unwrap_or_else(|p| panic!("{region}: {p:?}"));
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
}
