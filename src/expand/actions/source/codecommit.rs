//! A CodeCommit branch as the source (CodePipeline's `CodeCommit` source action).

use super::Declared;
use crate::expand::cfg;
use crate::expand::Ex;
use crate::model::Key;
use crate::region::Region;
use crate::resource::{ActionSpec, Address};

pub(super) fn declare(account: &Key, repository: &str, branch: &str, base: ActionSpec) -> Declared {
    Declared {
        spec: ActionSpec {
            category: "Source".into(),
            provider: "CodeCommit".into(),
            configuration: cfg(&[
                ("RepositoryName", repository),
                ("BranchName", branch),
                ("PollForSourceChanges", "true"),
                ("OutputArtifactFormat", "CODE_ZIP"),
            ]),
            ..base
        },
        account: account.clone(),
    }
}

pub(super) fn grant(
    ex: &mut Ex,
    reader: &Address,
    account: &Key,
    region: &Region,
    repository: &str,
) {
    let repo = format!(
        "arn:{}:codecommit:{region}:{}:{repository}",
        region.partition(),
        ex.id(account)
    );
    ex.allow(
        reader,
        "SourceRepositories",
        [
            "codecommit:CancelUploadArchive",
            "codecommit:GetBranch",
            "codecommit:GetCommit",
            "codecommit:GetRepository",
            "codecommit:GetUploadArchiveStatus",
            "codecommit:UploadArchive",
        ],
        [repo],
    );
}
