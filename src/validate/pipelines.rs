//! `pipelines`: names and variables, stages and their names, sources (the `source`
//! shorthand or source actions), CloudFormation execution roles, and what S3 sources
//! ask of their buckets. The actions themselves are in `actions.rs`.

use super::actions::artifact_name;
use super::{p, Cx};
use crate::diag::YamlPath;
use crate::model::*;
use crate::names;
use crate::raw::*;
use crate::region::Region;
use std::collections::{BTreeMap, BTreeSet};

/// The most actions CodePipeline accepts in one stage.
pub const MAX_ACTIONS_PER_STAGE: usize = 50;
/// The most pipeline-level variables CodePipeline accepts.
pub const MAX_VARIABLES: usize = 50;

impl Cx<'_> {
    pub(super) fn pipelines(&mut self) -> BTreeMap<Key, Pipeline> {
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

    /// The execution role of a CloudFormation deployment: exactly one of a named role or
    /// policies for a derived one. `Some(None)` means a problem was reported.
    pub(super) fn execution(
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

    pub(super) fn source(
        &mut self,
        path: &YamlPath,
        s: &RawSource,
        account: &Key,
        region: &Region,
    ) -> Option<Source> {
        let kinds = [
            ("s3", s.s3.is_some()),
            ("codecommit", s.codecommit.is_some()),
            ("connection", s.connection.is_some()),
        ];
        if !self.exactly_one(
            path,
            &kinds,
            |found| format!("a source has exactly one kind; this one has {found}"),
            "use one of `s3`, `codecommit`, `connection`",
        ) {
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
            // "You cannot create cross-region actions for the following action types:
            // Source actions" (CodePipeline user guide, "Add a cross-Region action in
            // CodePipeline"); the events that start the pipeline follow the same rule.
            if r != *region {
                self.err_help(
                    cp.key("region"),
                    format!("repository region {r} is not the pipeline's ({region}): CodePipeline has no cross-Region source actions"),
                    format!("put the pipeline in {r}, or mirror the repository into {region}"),
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
    pub(super) fn source_buckets(
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
}

#[cfg(test)]
mod tests {
    use crate::validate::tests::{problems, BASE};

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
