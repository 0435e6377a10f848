//! A `cloudformation` action: the target account and region, the stack, its template,
//! capabilities and execution role.

use super::super::Cx;
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
    pub(super) fn cloudformation(
        &mut self,
        cp: &YamlPath,
        c: &RawCloudFormation,
        account: &Key,
        region: &Region,
    ) -> Option<ActionKind> {
        let (target, r) = self.target(cp, c.account.as_ref(), c.region.as_ref(), account, region);
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
            cp,
            &target,
            c.execution_role.as_ref(),
            &c.execution_policies,
            true,
        )?;
        Some(ActionKind::CloudFormation {
            account: target,
            region: r,
            stack: c.stack.clone(),
            template: c.template.clone(),
            parameters: c.parameters.clone(),
            capabilities: c.capabilities.clone(),
            change_set: c.change_set,
            execution: execution?,
        })
    }
}
