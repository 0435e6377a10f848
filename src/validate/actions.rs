//! One stage action: exactly one kind (source, build, cloudformation, commands, approval,
//! invoke), where it may stand, its input and its output artifact.

use super::Cx;
use crate::diag::{suggest, YamlPath};
use crate::model::*;
use crate::names;
use crate::raw::*;
use crate::region::Region;

const CAPABILITIES: &[&str] = &[
    "CAPABILITY_IAM",
    "CAPABILITY_NAMED_IAM",
    "CAPABILITY_AUTO_EXPAND",
];

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
