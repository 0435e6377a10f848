//! A `commands` action: shell commands, and the stacks they may deploy with an
//! execution role. CodePipeline runs a Commands action only in the pipeline's account
//! and region, as the pipeline role ("Commands action reference", Considerations: not
//! supported for cross-account or cross-Region actions); `account` names the account
//! the commands act in, through a role tether derives there for the `stacks`.

use super::super::Cx;
use crate::diag::YamlPath;
use crate::model::*;
use crate::names;
use crate::raw::*;
use crate::region::Region;

impl Cx<'_> {
    pub(super) fn commands(
        &mut self,
        cp: &YamlPath,
        c: &RawCommands,
        account: &Key,
        region: &Region,
    ) -> Option<ActionKind> {
        let (target, r) = self.target(cp, c.account.as_ref(), c.region.as_ref(), account, region);
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
        // ActionDeclaration `commands`: 1 to 1000 characters each, no multi-line format.
        for (i, command) in c.commands.iter().enumerate() {
            let at = cp.key("commands").index(i);
            if command.contains('\n') || command.contains('\r') {
                self.err_help(
                    at,
                    "a command spans several lines; CodePipeline runs single-line commands only",
                    "make each line a command of its own, or join the lines with `&&`",
                );
            } else if command.trim().is_empty() || command.chars().count() > 1000 {
                self.err_help(
                    at,
                    format!(
                        "a command is {} characters long; CodePipeline takes 1 to 1000",
                        command.chars().count()
                    ),
                    "put long scripts in a file of the input artifact and run that file",
                );
            }
        }
        for (i, s) in c.stacks.iter().enumerate() {
            self.check(&cp.key("stacks").index(i), names::stack(s));
        }
        let (target, r) = (target?, r?);
        if r != *region {
            self.err_help(
                cp.key("region"),
                format!(
                    "a Commands action runs in the pipeline's region ({region}); CodePipeline supports no cross-Region Commands action"
                ),
                format!(
                    "remove `region`; to deploy a stack in {r}, use a `cloudformation` action with `region: {r}`"
                ),
            );
        }
        if target != *account && c.stacks.is_empty() {
            self.err_help(
                cp.key("account"),
                format!(
                    "the commands would act in `{target}` through a role that may only deploy `stacks`, and none is listed"
                ),
                format!(
                    "add `stacks: [<stack>]` with an execution role (the commands get the role's ARN as ${ROLE_VAR}), or remove `account` to run as the pipeline role in its own account",
                    ROLE_VAR = crate::expand::COMMANDS_ROLE_VAR
                ),
            );
        }
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
                cp,
                &target,
                c.execution_role.as_ref(),
                &c.execution_policies,
                true,
            )?
        };
        Some(ActionKind::Commands {
            account: target,
            region: r,
            commands: c.commands.clone(),
            stacks: c.stacks.clone(),
            execution,
        })
    }
}
