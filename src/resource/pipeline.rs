//! CodePipeline pipeline: the declaration tether derives, and how it is compared.
//! Reading and writing (the SDK declaration): `aws::resource::pipeline`.

use super::Kind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PipelineSpec {
    pub name: String,
    pub arn: String,
    pub role_arn: String,
    /// Always `V2`.
    pub pipeline_type: String,
    pub execution_mode: String,
    /// One artifact store per region the pipeline acts in.
    pub artifact_stores: BTreeMap<String, ArtifactStore>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub variables: Vec<PipelineVariable>,
    pub stages: Vec<StageSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ArtifactStore {
    pub bucket: String,
    /// ARN of the KMS key alias.
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PipelineVariable {
    pub name: String,
    pub default_value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StageSpec {
    pub name: String,
    pub actions: Vec<ActionSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ActionSpec {
    pub name: String,
    pub category: String,
    pub owner: String,
    pub provider: String,
    pub version: String,
    pub run_order: u32,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub configuration: BTreeMap<String, String>,
    /// Shell commands of a V2 `Commands` action.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub commands: Vec<String>,
    /// Plain-text environment variables of a `Commands` action, by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub environment_variables: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub input_artifacts: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub output_artifacts: Vec<String>,
    /// Role CodePipeline assumes for this action (cross-account actions).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub role_arn: Option<String>,
    /// Set when the action runs outside the pipeline's region.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub region: Option<String>,
}

impl PipelineSpec {
    /// The one artifact store of a pipeline whose actions all run in its own region:
    /// such a pipeline declares `artifactStore`, and only a pipeline with cross-Region
    /// actions declares `artifactStores`, one per region. The API reference says which
    /// form a cross-Region pipeline must use and that a declaration holds one or the
    /// other (PipelineDeclaration, `artifactStore` and `artifactStores`: "You must
    /// include either artifactStore or artifactStores in your pipeline, but you cannot
    /// use both. If you create a cross-region action in your pipeline, you must use
    /// artifactStores."), and nowhere that a one-element `artifactStores` is accepted.
    /// `artifact_stores` always holds the pipeline's region, so one entry is that one.
    pub fn artifact_store(&self) -> Option<&ArtifactStore> {
        match self.artifact_stores.len() {
            1 => self.artifact_stores.values().next(),
            _ => None,
        }
    }
}

impl Kind for PipelineSpec {
    const KIND: &'static str = "pipeline";
    const DELETION_RANK: u8 = 2;

    fn display_name(&self) -> String {
        self.name.clone()
    }
    fn identifiers(&self) -> Vec<String> {
        vec![self.arn.clone()]
    }
}
