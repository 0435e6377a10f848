//! One stage action: exactly one kind (source, build, cloudformation, commands, approval,
//! invoke), where it may stand, its input and its output artifact. What each kind says
//! is checked in the module of that kind; sources (shared with a pipeline's `source`
//! shorthand) and execution roles (shared by `cloudformation` and `commands`) in
//! `pipelines.rs`. Adding a kind is one module here and one line in `action`.

mod approval;
mod build;
mod cloudformation;
mod commands;
mod invoke;

use super::Cx;
use crate::diag::{suggest, YamlPath};
use crate::model::*;
use crate::names;
use crate::raw::*;
use crate::region::Region;

impl Cx<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn action(
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
        let kinds = [
            ("source", a.source.is_some()),
            ("build", a.build.is_some()),
            ("cloudformation", a.cloudformation.is_some()),
            ("commands", a.commands.is_some()),
            ("approval", a.approval.is_some()),
            ("invoke", a.invoke.is_some()),
        ];
        if !self.exactly_one(
            path,
            &kinds,
            |found| {
                format!(
                    "action `{}` must have exactly one kind; it has {found}",
                    a.name
                )
            },
            "add one of `source`, `build`, `cloudformation`, `commands`, `approval`, `invoke`",
        ) {
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
            self.build(&path.key("build"), b, region)?
        } else if let Some(c) = &a.cloudformation {
            self.cloudformation(&path.key("cloudformation"), c, account, region)?
        } else if let Some(c) = &a.commands {
            self.commands(&path.key("commands"), c, account, region)?
        } else if let Some(ap) = &a.approval {
            self.approval(&path.key("approval"), ap)
        } else {
            self.invoke(&path.key("invoke"), a.invoke.as_ref()?, account, region)?
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
}

impl Cx<'_> {
    /// The account and region an action names, each the pipeline's when omitted; an
    /// unknown one is reported (and `None`), so that the other fields are still checked.
    pub(super) fn target(
        &mut self,
        path: &YamlPath,
        account: Option<&String>,
        region: Option<&String>,
        pipeline_account: &Key,
        pipeline_region: &Region,
    ) -> (Option<Key>, Option<Region>) {
        let target = match account {
            Some(acc) => self.account(&path.key("account"), acc),
            None => Some(pipeline_account.clone()),
        };
        (
            target,
            self.region_or(&path.key("region"), region, pipeline_region),
        )
    }
}

/// CodePipeline artifact names allow letters, digits, `_` and `-`.
pub(super) fn artifact_name(stage: &str, action: &str) -> String {
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
