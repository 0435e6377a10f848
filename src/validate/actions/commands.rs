//! A `commands` action: shell commands, and the stacks they may deploy with an
//! execution role.

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
