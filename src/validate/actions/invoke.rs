//! An `invoke` action: a Lambda function, its account and region.

use super::super::Cx;
use crate::diag::YamlPath;
use crate::model::*;
use crate::names;
use crate::raw::*;
use crate::region::Region;

impl Cx<'_> {
    pub(super) fn invoke(
        &mut self,
        ip: &YamlPath,
        inv: &RawInvoke,
        account: &Key,
        region: &Region,
    ) -> Option<ActionKind> {
        self.check(&ip.key("function"), names::lambda_function(&inv.function));
        let (target, r) = self.target(
            ip,
            inv.account.as_ref(),
            inv.region.as_ref(),
            account,
            region,
        );
        let (target, r) = (target?, r?);
        Some(ActionKind::Invoke {
            function: inv.function.clone(),
            account: target,
            region: r,
            parameters: inv.parameters.clone(),
        })
    }
}
