//! `roles`: names, trust entries (one principal each, builds resolved to their
//! pipeline action), statements and managed policies.

use super::{p, Cx};
use crate::diag::{suggest, YamlPath};
use crate::model::*;
use crate::names;
use crate::raw::*;
use std::collections::BTreeMap;

impl Cx<'_> {
    pub(super) fn roles(&mut self, pipelines: &BTreeMap<Key, Pipeline>) -> BTreeMap<Key, Role> {
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
        let principals = [
            ("build", t.build.is_some()),
            ("pipeline", t.pipeline.is_some()),
            ("role", t.role.is_some()),
            ("account", t.account.is_some()),
            ("service", t.service.is_some()),
            ("arn", t.arn.is_some()),
        ];
        if !self.exactly_one(
            path,
            &principals,
            |found| format!("a trust entry names exactly one principal; this one has {found}"),
            "use one of `build`, `pipeline`, `role`, `account`, `service`, `arn` per entry",
        ) {
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
}
