//! A repository behind a CodeConnections connection as the source (CodePipeline's
//! `CodeStarSourceConnection` source action). The connection lives in the pipeline's
//! account, so the pipeline role reads it.

use super::{Declared, Pipe};
use crate::expand::cfg;
use crate::expand::Ex;
use crate::resource::ActionSpec;

pub(super) fn declare(
    ex: &mut Ex,
    p: &Pipe,
    arn: &str,
    repository: &str,
    branch: &str,
    base: ActionSpec,
) -> Declared {
    ex.allow(
        &p.role,
        "UseConnections",
        [
            "codeconnections:UseConnection",
            "codestar-connections:UseConnection",
        ],
        [arn.to_string()],
    );
    Declared {
        spec: ActionSpec {
            category: "Source".into(),
            provider: "CodeStarSourceConnection".into(),
            configuration: cfg(&[
                ("ConnectionArn", arn),
                ("FullRepositoryId", repository),
                ("BranchName", branch),
                ("OutputArtifactFormat", "CODE_ZIP"),
                ("DetectChanges", "true"),
            ]),
            ..base
        },
        account: p.pl.account.clone(),
    }
}
