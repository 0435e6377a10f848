//! A CodeCommit branch as the source (CodePipeline's `CodeCommit` source action), and
//! the events that start the pipeline when the branch changes.
//!
//! The pipeline does not poll (`PollForSourceChanges: false`): polling is the legacy
//! mode, which AWS turns off for pipelines inactive for 30 days (CodePipeline API
//! reference, `PipelineMetadata.pollingDisabledAt`), and with a repository in another
//! account it cannot work at all, since the action names the repository only, while the
//! event carries its ARN (CDK refuses polling there for that reason:
//! `CodeCommitSourceAction`). Instead a rule on the repository account's default bus
//! matches the branch's state changes, as "CodeCommit source actions and EventBridge"
//! (https://docs.aws.amazon.com/codepipeline/latest/userguide/triggering.html) writes
//! the pattern, and starts the pipeline through the trigger machinery of
//! `expand/mod.rs`: directly when the pipeline is in the repository's account and
//! region, otherwise forwarded to the topology's receiving bus in the pipeline's account
//! and started by a rule there.

use super::Declared;
use crate::diag::YamlPath;
use crate::expand::{cfg, Ex, RuleAt};
use crate::model::Key;
use crate::names;
use crate::region::Region;
use crate::resource::{ActionSpec, Address};
use std::collections::{BTreeMap, BTreeSet};

/// A branch a pipeline's CodeCommit source reads: the pipeline is started on its
/// changes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(in crate::expand) struct Watch {
    pub account: Key,
    pub region: Region,
    pub repository: String,
    pub branch: String,
    pub pipeline: Key,
    /// The source action, where the rules it asks for come from.
    pub origin: YamlPath,
}

/// The action's declaration; the branch it reads is recorded for `watch_commits`.
pub(super) fn declare(ex: &mut Ex, watch: Watch, base: ActionSpec) -> Declared {
    let (account, repository, branch) = (
        watch.account.clone(),
        watch.repository.clone(),
        watch.branch.clone(),
    );
    ex.watches.insert(watch);
    Declared {
        spec: ActionSpec {
            category: "Source".into(),
            provider: "CodeCommit".into(),
            configuration: cfg(&[
                ("RepositoryName", &repository),
                ("BranchName", &branch),
                // With a rule detecting changes, the action must not poll as well, "to
                // avoid duplicate pipeline executions" (CodeCommit source action
                // reference, PollForSourceChanges).
                ("PollForSourceChanges", "false"),
                ("OutputArtifactFormat", "CODE_ZIP"),
            ]),
            ..base
        },
        account,
    }
}

/// The ARN of a repository, as the CodeCommit event's `resources` carries it.
fn repository_arn(ex: &Ex, account: &Key, region: &Region, repository: &str) -> String {
    format!(
        "arn:{}:codecommit:{region}:{}:{repository}",
        region.partition(),
        ex.id(account)
    )
}

/// The pattern of a change to `branches` of a repository: "CodeCommit source actions
/// and EventBridge" (CodePipeline user guide): source `aws.codecommit`, detail-type
/// `CodeCommit Repository State Change`, the repository's ARN in `resources`, and in
/// `detail` the events `referenceCreated` and `referenceUpdated` (a deleted branch has
/// nothing to build), `referenceType` `branch` and the branch names (the event's fields:
/// "Monitoring CodeCommit events in Amazon EventBridge and Amazon CloudWatch Events").
/// The same pattern serves on the receiving bus: an event forwarded to another account
/// keeps its content, `account` and `resources` included ("Sending and receiving events
/// between AWS accounts in Amazon EventBridge" has rules there match on the sender's
/// `account`; CodePipeline finds a repository in another account by the ARN the event
/// carries).
pub(in crate::expand) fn pattern(
    repository_arn: &str,
    branches: &BTreeSet<String>,
) -> serde_json::Value {
    serde_json::json!({
        "source": ["aws.codecommit"],
        "detail-type": ["CodeCommit Repository State Change"],
        "resources": [repository_arn],
        "detail": {
            "event": ["referenceCreated", "referenceUpdated"],
            "referenceType": ["branch"],
            "referenceName": branches,
        },
    })
}

/// The branches a rule matches, and the first source action that asks for it.
type Asked = (BTreeSet<String>, YamlPath);

impl Ex<'_> {
    /// The rules that start pipelines on changes to the branches their CodeCommit
    /// sources read, once every pipeline is expanded:
    ///
    /// - per pipeline and repository, a rule `<name>-<account>-<repository>-starts-<pipeline>`
    ///   matching the branches the pipeline reads there, with the pipeline as its only
    ///   target, through a role of the same name (which may start exactly that
    ///   pipeline). It is on the default bus when the repository is
    ///   in the pipeline's account and region (one rule, nothing forwarded), otherwise on
    ///   the topology's receiving bus there, whose policy admits the repository's
    ///   account;
    /// - per repository and pipeline account (when they differ), one rule
    ///   `<name>-<repository>-commits-to-<account>` on the repository account's default
    ///   bus matching every branch the pipelines there read, forwarding through a role
    ///   of the same name (which may put events on exactly the receiving bus). One
    ///   forward per receiving bus: two would deliver each change twice, and each
    ///   pipeline's rule would start it twice.
    ///
    /// One role per rule, as for triggers: each is trusted by its one rule, so its trust
    /// policy stays one statement however many repositories and pipelines there are
    /// (a trust policy is limited in size: "IAM and AWS STS quotas").
    pub(in crate::expand) fn watch_commits(&mut self) {
        let watches = std::mem::take(&mut self.watches);
        // (pipeline, repository account, region, repository) → branches, and the first
        // source action that asks for the rule.
        let mut starts: BTreeMap<(Key, Key, Region, String), Asked> = BTreeMap::new();
        // (repository account, region, repository, pipeline account, pipeline region) →
        // branches, and the first source action that asks for the rule.
        let mut forwards: BTreeMap<(Key, Region, String, Key, Region), Asked> = BTreeMap::new();
        for w in watches {
            let pl = &self.t.pipelines[&w.pipeline];
            if w.account != pl.account || w.region != pl.region {
                forwards
                    .entry((
                        w.account.clone(),
                        w.region.clone(),
                        w.repository.clone(),
                        pl.account.clone(),
                        pl.region.clone(),
                    ))
                    .or_insert_with(|| (BTreeSet::new(), w.origin.clone()))
                    .0
                    .insert(w.branch.clone());
            }
            starts
                .entry((w.pipeline, w.account, w.region, w.repository))
                .or_insert_with(|| (BTreeSet::new(), w.origin))
                .0
                .insert(w.branch);
        }
        for ((pipeline, account, region, repository), (branches, origin)) in starts {
            let t = self.t;
            let pl = &t.pipelines[&pipeline];
            let pattern = pattern(
                &repository_arn(self, &account, &region, &repository),
                &branches,
            );
            let (bus, bus_address) = if account == pl.account && region == pl.region {
                ("default".to_string(), None)
            } else {
                let (name, address) =
                    self.receiving_bus(&pl.account, &pl.region, &account, &origin);
                (name, Some(address))
            };
            let role = self.role_name(&[&account, &repository, "starts", &pipeline]);
            self.start_pipelines(
                &RuleAt {
                    account: &pl.account,
                    region: &pl.region,
                    bus: &bus,
                    bus_address,
                    name: names::fit(
                        &[&t.name, &account, &repository, "starts", &pipeline],
                        names::RULE_MAX,
                    ),
                    pattern: &pattern,
                    state: "ENABLED",
                    purpose: format!("changes to {repository} start pipeline {pipeline}"),
                    dead_letter: t.dead_letter,
                    origin: &origin,
                },
                &role,
                std::slice::from_ref(&pipeline),
                // The pipeline's source reads the branch's head when it starts; the event
                // is not passed on.
                |_| None,
            );
        }
        for ((account, region, repository, to, to_region), (branches, origin)) in forwards {
            let t = self.t;
            let pattern = pattern(
                &repository_arn(self, &account, &region, &repository),
                &branches,
            );
            let (bus, bus_address) = self.receiving_bus(&to, &to_region, &account, &origin);
            let role = self.role_name(&[&repository, "commits-to", &to]);
            self.forward_to_bus(
                &RuleAt {
                    account: &account,
                    region: &region,
                    bus: "default",
                    bus_address: None,
                    name: names::fit(&[&t.name, &repository, "commits-to", &to], names::RULE_MAX),
                    pattern: &pattern,
                    state: "ENABLED",
                    purpose: format!("changes to {repository} forwarded to {to}"),
                    dead_letter: t.dead_letter,
                    origin: &origin,
                },
                &role,
                (&to, &to_region, &bus),
                Some(bus_address),
            );
        }
    }
}

pub(super) fn grant(
    ex: &mut Ex,
    reader: &Address,
    account: &Key,
    region: &Region,
    repository: &str,
) {
    let repo = repository_arn(ex, account, region, repository);
    ex.allow(
        reader,
        "SourceRepositories",
        [
            "codecommit:CancelUploadArchive",
            "codecommit:GetBranch",
            "codecommit:GetCommit",
            "codecommit:GetRepository",
            "codecommit:GetUploadArchiveStatus",
            "codecommit:UploadArchive",
        ],
        [repo],
    );
}

#[cfg(test)]
mod tests {
    use crate::expand::actions::testing::*;
    use crate::expand::Expansion;
    use crate::names;
    use crate::resource::{Resource, RuleSpec, TargetSpec};
    use serde_json::json;

    const REPO: &str = "arn:aws:codecommit:us-east-1:222222222222:app";
    const BUS: &str = "arn:aws:events:us-east-1:111111111111:event-bus/t-triggers";
    const PIPELINE: &str = "arn:aws:codepipeline:us-east-1:111111111111:t-main";

    /// A topology with pipelines in `tools` named by `sources` (key → source YAML).
    fn topology(pipelines: &[(&str, &str)]) -> String {
        let mut s = format!("{HEAD}pipelines:\n");
        for (key, source) in pipelines {
            s.push_str(&format!(
                "  {key}:\n    account: tools\n    source: {source}\n    stages:\n      - {{ name: Build, actions: [{{ name: build, build: {{ project: app-build }} }}] }}\n"
            ));
        }
        s
    }

    fn rules(e: &Expansion) -> Vec<(&Resource, &RuleSpec)> {
        e.resources
            .iter()
            .filter_map(|r| r.rule().map(|x| (r, x)))
            .collect()
    }

    fn targets<'a>(e: &'a Expansion, rule: &str) -> Vec<&'a TargetSpec> {
        e.resources
            .iter()
            .filter_map(Resource::target)
            .filter(|t| t.rule == rule)
            .collect()
    }

    fn commit_pattern(branches: &[&str]) -> serde_json::Value {
        json!({
            "source": ["aws.codecommit"],
            "detail-type": ["CodeCommit Repository State Change"],
            "resources": [REPO],
            "detail": {
                "event": ["referenceCreated", "referenceUpdated"],
                "referenceType": ["branch"],
                "referenceName": branches,
            },
        })
    }

    /// The trust of a role that EventBridge assumes for one rule.
    fn events_trust(rule_arn: &str, account: &str) -> serde_json::Value {
        json!([{
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "ArnEquals": {"aws:SourceArn": rule_arn},
                "StringEquals": {"aws:SourceAccount": account},
            },
        }])
    }

    fn trust(e: &Expansion, role_name: &str) -> serde_json::Value {
        serde_json::to_value(&role(e, role_name).trust_policy.statement).unwrap()
    }

    /// Flow 3: the repository in `app`, the pipeline in `tools`. The action does not
    /// poll; a rule in `app` matches the branch and forwards to the receiving bus in
    /// `tools` (whose policy admits `app`) through a role that may only put events
    /// there; a rule on that bus starts exactly the pipeline through a role limited to
    /// it.
    #[test]
    fn a_repository_in_another_account_starts_the_pipeline_through_its_account_bus() {
        let e = expand(&topology(&[(
            "main",
            "{ codecommit: { account: app, repository: app, branch: main } }",
        )]));
        let source = action(pipeline(&e, "t-main"), "source");
        assert_eq!(source.configuration["PollForSourceChanges"], "false");

        let rules = rules(&e);
        assert_eq!(rules.len(), 2, "forward and start: {rules:?}");
        let fwd = e
            .get("app/us-east-1/event_rule.default/t-app-commits-to-tools")
            .and_then(Resource::rule)
            .expect("the forward rule on app's default bus");
        assert_eq!(fwd.event_pattern, commit_pattern(&["main"]));
        assert_eq!(fwd.state, "ENABLED");
        let fwd_targets = targets(&e, "t-app-commits-to-tools");
        assert_eq!(fwd_targets.len(), 1);
        assert_eq!(fwd_targets[0].arn, BUS);
        assert_eq!(
            fwd_targets[0].role_arn,
            "arn:aws:iam::222222222222:role/tether/t/t-app-commits-to-tools"
        );
        assert_eq!(
            identity(&e, "t-app-commits-to-tools"),
            vec![
                json!({"Sid": "PutEvents", "Effect": "Allow", "Action": "events:PutEvents", "Resource": BUS})
            ]
        );
        assert_eq!(
            trust(&e, "t-app-commits-to-tools"),
            events_trust(&fwd.arn, "222222222222")
        );

        let bus = e
            .get("tools/us-east-1/event_bus.t-triggers")
            .and_then(Resource::bus)
            .expect("the receiving bus");
        assert_eq!(
            serde_json::to_value(&bus.policy_statements).unwrap(),
            json!([{
                "Sid": "tether_t_AcceptFrom-222222222222",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
                "Action": "events:PutEvents",
                "Resource": BUS,
            }])
        );

        let start = e
            .get("tools/us-east-1/event_rule.t-triggers/t-app-app-starts-main")
            .and_then(Resource::rule)
            .expect("the start rule on the receiving bus");
        assert_eq!(start.event_pattern, commit_pattern(&["main"]));
        assert_eq!(
            start.arn,
            "arn:aws:events:us-east-1:111111111111:rule/t-triggers/t-app-app-starts-main"
        );
        let start_targets = targets(&e, "t-app-app-starts-main");
        assert_eq!(start_targets.len(), 1);
        assert_eq!(start_targets[0].arn, PIPELINE);
        assert_eq!(
            start_targets[0].role_arn,
            "arn:aws:iam::111111111111:role/tether/t/t-app-app-starts-main"
        );
        assert_eq!(
            identity(&e, "t-app-app-starts-main"),
            vec![
                json!({"Sid": "StartPipelines", "Effect": "Allow", "Action": "codepipeline:StartPipelineExecution", "Resource": PIPELINE})
            ]
        );
        assert_eq!(
            trust(&e, "t-app-app-starts-main"),
            events_trust(&start.arn, "111111111111")
        );
    }

    /// The repository in the pipeline's account and region: one rule on the default
    /// bus, nothing forwarded, no bus.
    #[test]
    fn a_repository_in_the_pipelines_account_is_one_rule() {
        let e = expand(&topology(&[(
            "main",
            "{ codecommit: { repository: app, branch: main } }",
        )]));
        let rules = rules(&e);
        assert_eq!(rules.len(), 1, "{rules:?}");
        let (r, rule) = rules[0];
        assert_eq!(
            r.address.as_str(),
            "tools/us-east-1/event_rule.default/t-tools-app-starts-main"
        );
        assert_eq!(
            rule.event_pattern["resources"],
            json!(["arn:aws:codecommit:us-east-1:111111111111:app"])
        );
        assert_eq!(targets(&e, &rule.name).len(), 1);
        assert!(e.resources.iter().all(|r| r.bus().is_none()), "no bus");
        assert_eq!(
            action(pipeline(&e, "t-main"), "source").configuration["PollForSourceChanges"],
            "false"
        );
    }

    /// CodeCommit rules dead-letter by `defaults.dead_letter` (they have no setting of
    /// their own): on by default, each rule's targets name the queue of its account and
    /// region, whose policy admits exactly that rule; off, no queue and no
    /// `DeadLetterConfig`. Either way every target retries explicitly, and the start
    /// target sends the event as it is.
    #[test]
    fn codecommit_rules_retry_and_dead_letter_by_the_topology_default() {
        use crate::expand::RETRY_POLICY;
        let cc = "{ codecommit: { account: app, repository: app, branch: main } }";
        let on = expand(&topology(&[("main", cc)]));
        let off = expand(&topology(&[("main", cc)]).replace(
            "defaults: { region: us-east-1 }",
            "defaults: { region: us-east-1, dead_letter: false }",
        ));
        let places = [
            ("t-app-commits-to-tools", "222222222222", "default"),
            ("t-app-app-starts-main", "111111111111", "t-triggers"),
        ];
        for (rule, id, bus) in places {
            let queue = format!("arn:aws:sqs:us-east-1:{id}:t-dead-letter");
            let rule_arn = match bus {
                "default" => format!("arn:aws:events:us-east-1:{id}:rule/{rule}"),
                b => format!("arn:aws:events:us-east-1:{id}:rule/{b}/{rule}"),
            };
            let t = targets(&on, rule);
            assert_eq!(t.len(), 1, "{rule}");
            assert_eq!(t[0].retry_policy, Some(RETRY_POLICY), "{rule}");
            assert_eq!(
                t[0].dead_letter_arn.as_deref(),
                Some(queue.as_str()),
                "{rule}"
            );
            assert_eq!(t[0].input_transformer, None, "{rule}");
            let q = on
                .resources
                .iter()
                .find_map(|r| r.queue().filter(|q| q.arn == queue))
                .unwrap_or_else(|| panic!("no queue {queue}"));
            let policy = serde_json::to_value(&q.policy_statements).unwrap();
            assert_eq!(
                policy[0]["Condition"]["ArnEquals"]["aws:SourceArn"],
                json!(rule_arn),
                "{rule}"
            );
            let t = targets(&off, rule);
            assert_eq!(t.len(), 1, "{rule}");
            assert_eq!(t[0].retry_policy, Some(RETRY_POLICY), "{rule}");
            assert_eq!(t[0].dead_letter_arn, None, "{rule}");
        }
        assert!(off.resources.iter().all(|r| r.queue().is_none()));
    }

    /// Two pipelines on one branch: one forward (two would deliver every change twice,
    /// and each start rule would then start its pipeline twice), a start rule each.
    #[test]
    fn pipelines_sharing_a_branch_share_its_forward_rule() {
        let cc = "{ codecommit: { account: app, repository: app, branch: main } }";
        let e = expand(&topology(&[("main", cc), ("other", cc)]));
        let forwards: Vec<_> = rules(&e)
            .into_iter()
            .filter(|(r, _)| r.account == "app")
            .collect();
        assert_eq!(forwards.len(), 1, "{forwards:?}");
        assert_eq!(forwards[0].1.event_pattern, commit_pattern(&["main"]));
        for p in ["main", "other"] {
            let rule = format!("t-app-app-starts-{p}");
            let t = targets(&e, &rule);
            assert_eq!(t.len(), 1, "{rule}");
            assert_eq!(
                t[0].arn,
                format!("arn:aws:codepipeline:us-east-1:111111111111:t-{p}")
            );
            assert_eq!(
                sid(&e, &format!("t-app-app-starts-{p}"), "StartPipelines").unwrap()["Resource"],
                json!(format!("arn:aws:codepipeline:us-east-1:111111111111:t-{p}"))
            );
        }
    }

    /// One pipeline reading two branches of one repository and a second repository: a
    /// rule per repository (either branch starts it once), each with its own role, and a
    /// forward per repository.
    #[test]
    fn a_pipeline_with_several_codecommit_sources_has_a_rule_per_repository() {
        let yaml = format!(
            r#"{HEAD}pipelines:
  main:
    account: tools
    stages:
      - name: Source
        actions:
          - {{ name: a, source: {{ codecommit: {{ account: app, repository: app, branch: main }} }} }}
          - {{ name: b, source: {{ codecommit: {{ account: app, repository: app, branch: release }} }} }}
          - {{ name: c, source: {{ codecommit: {{ account: app, repository: lib, branch: main }} }} }}
      - {{ name: Build, actions: [{{ name: build, build: {{ project: app-build }} }}] }}
"#
        );
        let e = expand(&yaml);
        let app = e
            .get("tools/us-east-1/event_rule.t-triggers/t-app-app-starts-main")
            .and_then(Resource::rule)
            .unwrap();
        assert_eq!(app.event_pattern, commit_pattern(&["main", "release"]));
        let lib = e
            .get("tools/us-east-1/event_rule.t-triggers/t-app-lib-starts-main")
            .and_then(Resource::rule)
            .unwrap();
        assert_eq!(
            lib.event_pattern["resources"],
            json!(["arn:aws:codecommit:us-east-1:222222222222:lib"])
        );
        // A role per rule, trusted by that rule only.
        assert_eq!(
            trust(&e, "t-app-app-starts-main"),
            events_trust(&app.arn, "111111111111")
        );
        assert_eq!(
            trust(&e, "t-app-lib-starts-main"),
            events_trust(&lib.arn, "111111111111")
        );
        let forwards: Vec<String> = rules(&e)
            .into_iter()
            .filter(|(r, _)| r.account == "app")
            .map(|(_, x)| x.name.clone())
            .collect();
        assert_eq!(
            forwards,
            ["t-app-commits-to-tools", "t-lib-commits-to-tools"]
        );
        for repo in ["app", "lib"] {
            assert_eq!(
                identity(&e, &format!("t-{repo}-commits-to-tools")),
                vec![
                    json!({"Sid": "PutEvents", "Effect": "Allow", "Action": "events:PutEvents", "Resource": BUS})
                ]
            );
        }
    }

    /// Long repository and pipeline names: every derived rule and role name fits its
    /// service's 64 characters, and two that differ only past the cut stay distinct.
    #[test]
    fn long_names_fit_and_stay_distinct() {
        let repo = "a-very-long-repository-name-that-goes-on-and-on-and-on";
        let e = expand(&topology(&[
            (
                "a-long-pipeline-key-one",
                &format!(
                    "{{ codecommit: {{ account: app, repository: {repo}-x, branch: main }} }}"
                ),
            ),
            (
                "a-long-pipeline-key-two",
                &format!(
                    "{{ codecommit: {{ account: app, repository: {repo}-y, branch: main }} }}"
                ),
            ),
        ]));
        let names: std::collections::BTreeSet<&str> =
            rules(&e).iter().map(|(_, r)| r.name.as_str()).collect();
        assert_eq!(names.len(), 4, "{names:?}");
        assert!(
            names.iter().all(|n| n.len() <= names::RULE_MAX),
            "{names:?}"
        );
        let roles: std::collections::BTreeSet<&str> = e
            .resources
            .iter()
            .filter_map(Resource::role)
            .map(|r| r.name.as_str())
            // Not the pipeline and source roles: the roles of the rules.
            .filter(|n| !n.ends_with("-pipeline") && !n.ends_with("-source"))
            .collect();
        assert_eq!(roles.len(), 4, "{roles:?}");
        assert!(
            roles.iter().all(|n| n.len() <= names::IAM_ROLE_MAX),
            "{roles:?}"
        );
    }
}
