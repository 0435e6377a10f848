//! A `build` action: an existing CodeBuild project, its region, service role and
//! environment.

use super::super::Cx;
use crate::diag::YamlPath;
use crate::model::*;
use crate::names;
use crate::raw::*;
use crate::region::Region;

impl Cx<'_> {
    pub(super) fn build(
        &mut self,
        bp: &YamlPath,
        b: &RawBuild,
        region: &Region,
    ) -> Option<ActionKind> {
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
        Some(ActionKind::Build {
            project: b.project.clone(),
            region: r,
            service_role: b.service_role.clone(),
            env: b.env.clone(),
        })
    }
}
