//! A build: an existing CodeBuild project started by the pipeline role (CodePipeline's
//! `CodeBuild` build action).

use super::Pipe;
use crate::expand::Ex;
use crate::model::{Action, ActionKind};
use crate::resource::ActionSpec;

pub(super) fn declare(ex: &mut Ex, p: &mut Pipe, act: &Action, base: ActionSpec) -> ActionSpec {
    let ActionKind::Build {
        project,
        region,
        service_role,
        env,
    } = &act.kind
    else {
        unreachable!("dispatched on the kind")
    };
    let pid = ex.id(&p.pl.account);
    let project_arn = format!(
        "arn:{}:codebuild:{region}:{pid}:project/{project}",
        region.partition()
    );
    ex.allow(
        &p.role,
        "StartBuilds",
        ["codebuild:BatchGetBuilds", "codebuild:StartBuild"],
        [project_arn],
    );
    if let Some(sr) = service_role {
        // The project's role is external: admitted to the store's bucket and key
        // policies, never modified.
        let store = ex.store(&p.pl.account, region, &act.origin);
        store.readers.insert(sr.clone());
        if act.output.is_some() {
            store.writers.insert(sr.clone());
        }
    }
    // Pipeline variables reach builds as environment variables.
    let mut vars: Vec<serde_json::Value> = p
        .pl
        .variables
        .keys()
        .map(|k| {
            serde_json::json!({"name": k, "type": "PLAINTEXT", "value": format!("#{{variables.{k}}}")})
        })
        .collect();
    vars.extend(
        env.iter()
            .map(|(k, v)| serde_json::json!({"name": k, "type": "PLAINTEXT", "value": v})),
    );
    let mut spec = ActionSpec {
        category: "Build".into(),
        provider: "CodeBuild".into(),
        region: p.elsewhere(region),
        ..base
    };
    spec.configuration
        .insert("ProjectName".into(), project.clone());
    if !vars.is_empty() {
        spec.configuration.insert(
            "EnvironmentVariables".into(),
            serde_json::Value::Array(vars).to_string(),
        );
    }
    spec
}
