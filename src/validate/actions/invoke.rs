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
        let target = match &inv.account {
            Some(acc) => self.account(&ip.key("account"), acc)?,
            None => account.clone(),
        };
        let r = self.region_or(&ip.key("region"), inv.region.as_ref(), region)?;
        Some(ActionKind::Invoke {
            function: inv.function.clone(),
            account: target,
            region: r,
            parameters: inv.parameters.clone(),
        })
    }
}
