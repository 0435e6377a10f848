//! CodePipeline pipelines: wanted ones by name, and (discovery) the place's other
//! pipelines owned by tag; written as a whole declaration (`CreatePipeline`, else
//! `UpdatePipeline`), which this module maps to and from the spec. The spec:
//! `crate::resource::pipeline`.

use super::{Provider, ReadScope};
use crate::aws::read::{is_not_found, tag_map, ReadCx};
use crate::aws::write::{
    changed, gone, retag, sdk, tag_list, tags_changed, unexpected, Put, Writer,
};
use crate::aws::AwsError;
use crate::resource::*;
use crate::state::{Observed, Owner};
use std::collections::BTreeMap;

impl Provider for PipelineSpec {
    const READ: ReadScope = ReadScope::Region;

    async fn read(cx: &ReadCx) -> Result<Vec<Observed>, AwsError> {
        let c = cx.clients();
        let mut names: Vec<(String, bool)> = cx
            .wanted
            .iter()
            .filter_map(|r| r.pipeline().map(|p| (p.name.clone(), true)))
            .collect();
        // Discovery: pipelines of this place that are not desired, owned by tag.
        {
            let _p = cx.permit().await;
            let mut pages = c.pipeline.list_pipelines().into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| {
                    AwsError::from_sdk(format!("{}: listing pipelines", cx.context()), e)
                })?;
                for p in page.pipelines() {
                    let Some(name) = p.name() else { continue };
                    let address = Address::new(&cx.account, &cx.region, PipelineSpec::KIND, name);
                    if !cx.desired.contains_key(&address) {
                        names.push((name.to_string(), false));
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (name, is_desired) in names {
            let _p = cx.permit().await;
            let address = Address::new(&cx.account, &cx.region, PipelineSpec::KIND, &name);
            let arn = format!("arn:aws:codepipeline:{}:{}:{name}", cx.region, cx.id);
            let tags = match c
                .pipeline
                .list_tags_for_resource()
                .resource_arn(&arn)
                .send()
                .await
            {
                Ok(t) => tag_map(t.tags(), |t| (t.key(), t.value())),
                Err(e) => {
                    let e = AwsError::from_sdk(format!("{address}: reading tags"), e);
                    if is_not_found(
                        &e,
                        &["ResourceNotFoundException", "PipelineNotFoundException"],
                    ) {
                        continue;
                    }
                    return Err(e);
                }
            };
            let owner = cx.scope.owner(&tags);
            if !is_desired && owner != Owner::This {
                continue;
            }
            let got = match c.pipeline.get_pipeline().name(&name).send().await {
                Ok(p) => p,
                Err(e) => {
                    let e = AwsError::from_sdk(format!("{address}: reading the pipeline"), e);
                    if is_not_found(&e, &["PipelineNotFoundException"]) {
                        continue;
                    }
                    return Err(e);
                }
            };
            let Some(decl) = got.pipeline() else { continue };
            let spec = Spec::Pipeline(pipeline_spec(decl, &arn, &cx.region));
            out.push(cx.observed(address, spec, tags, owner));
        }
        Ok(out)
    }

    async fn put(x: &Self, p: Put<'_>) -> Result<(), AwsError> {
        let (w, r, change, create) = (p.w, p.r, p.change, p.create);
        let cp = &w.clients.pipeline;
        let a = &r.address;
        let declaration = declaration(x).map_err(|e| unexpected(a, e))?;
        let tags = tag_list(&r.tags, |k, v| {
            aws_sdk_codepipeline::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
        });
        let fields = changed(change);
        let update = !create && fields.iter().any(|f| !f.starts_with("tags."));
        if create {
            match cp
                .create_pipeline()
                .pipeline(declaration.clone())
                .set_tags(Some(tags.clone()))
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) => {
                    let e = AwsError::from_sdk(format!("{a}: creating the pipeline"), e);
                    if e.code() != Some("PipelineNameInUseException") {
                        return Err(e);
                    }
                }
            }
        }
        if create || update {
            cp.update_pipeline()
                .pipeline(declaration)
                .send()
                .await
                .map_err(sdk(a, "updating the pipeline"))?;
        }
        if create || tags_changed(change) {
            let untag = |keys| async {
                let req = cp
                    .untag_resource()
                    .resource_arn(&x.arn)
                    .set_tag_keys(Some(keys));
                req.send().await.map(drop).map_err(sdk(a, "removing tags"))
            };
            let req = cp.tag_resource().resource_arn(&x.arn).set_tags(Some(tags));
            let tag = async { req.send().await.map(drop).map_err(sdk(a, "writing tags")) };
            retag(change, r, untag, tag).await?;
        }
        Ok(())
    }

    async fn delete(w: &Writer<'_>, o: &Observed, x: &Self) -> Result<(), AwsError> {
        let a = &o.address;
        gone(
            w.clients
                .pipeline
                .delete_pipeline()
                .name(&x.name)
                .send()
                .await
                .map_err(sdk(a, "deleting the pipeline")),
            &["PipelineNotFoundException"],
        )?;
        Ok(())
    }
}

/// The spec of a live pipeline declaration.
fn pipeline_spec(
    d: &aws_sdk_codepipeline::types::PipelineDeclaration,
    arn: &str,
    region: &str,
) -> PipelineSpec {
    let mut stores = BTreeMap::new();
    let store = |s: &aws_sdk_codepipeline::types::ArtifactStore| ArtifactStore {
        bucket: s.location().to_string(),
        key: s
            .encryption_key()
            .map(|k| k.id().to_string())
            .unwrap_or_default(),
    };
    if let Some(m) = d.artifact_stores() {
        for (r, s) in m {
            stores.insert(r.clone(), store(s));
        }
    } else if let Some(s) = d.artifact_store() {
        stores.insert(region.to_string(), store(s));
    }
    PipelineSpec {
        name: d.name().to_string(),
        arn: arn.to_string(),
        role_arn: d.role_arn().to_string(),
        pipeline_type: d
            .pipeline_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_else(|| "V1".into()),
        execution_mode: d
            .execution_mode()
            .map(|t| t.as_str().to_string())
            .unwrap_or_else(|| "SUPERSEDED".into()),
        artifact_stores: stores,
        variables: d
            .variables()
            .iter()
            .map(|v| PipelineVariable {
                name: v.name().to_string(),
                default_value: v.default_value().unwrap_or_default().to_string(),
            })
            .collect(),
        stages: d
            .stages()
            .iter()
            .map(|s| StageSpec {
                name: s.name().to_string(),
                actions: s
                    .actions()
                    .iter()
                    .map(|a| {
                        let t = a.action_type_id();
                        ActionSpec {
                            name: a.name().to_string(),
                            category: t
                                .map(|t| t.category().as_str().to_string())
                                .unwrap_or_default(),
                            owner: t
                                .map(|t| t.owner().as_str().to_string())
                                .unwrap_or_default(),
                            provider: t.map(|t| t.provider().to_string()).unwrap_or_default(),
                            version: t.map(|t| t.version().to_string()).unwrap_or_default(),
                            run_order: a.run_order().unwrap_or(1) as u32,
                            configuration: a
                                .configuration()
                                .map(|c| c.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                                .unwrap_or_default(),
                            commands: a.commands().to_vec(),
                            environment_variables: a
                                .environment_variables()
                                .iter()
                                .map(|v| (v.name().to_string(), v.value().to_string()))
                                .collect(),
                            input_artifacts: a
                                .input_artifacts()
                                .iter()
                                .map(|i| i.name().to_string())
                                .collect(),
                            output_artifacts: a
                                .output_artifacts()
                                .iter()
                                .map(|o| o.name().to_string())
                                .collect(),
                            role_arn: a.role_arn().map(String::from),
                            region: a.region().filter(|r| *r != region).map(String::from),
                        }
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The CodePipeline declaration of a pipeline spec.
fn declaration(
    x: &PipelineSpec,
) -> Result<aws_sdk_codepipeline::types::PipelineDeclaration, String> {
    use aws_sdk_codepipeline::types::*;
    let e = |e: aws_smithy_types::error::operation::BuildError| e.to_string();
    let mut d = PipelineDeclaration::builder()
        .name(&x.name)
        .role_arn(&x.role_arn)
        .pipeline_type(PipelineType::from(x.pipeline_type.as_str()))
        .execution_mode(ExecutionMode::from(x.execution_mode.as_str()));
    let store = |s: &crate::resource::ArtifactStore| {
        ArtifactStore::builder()
            .r#type(ArtifactStoreType::S3)
            .location(&s.bucket)
            .encryption_key(
                EncryptionKey::builder()
                    .id(&s.key)
                    .r#type(EncryptionKeyType::Kms)
                    .build()
                    .map_err(e)?,
            )
            .build()
            .map_err(e)
    };
    // One region: `artifactStore`. A declaration holds `artifactStore` or
    // `artifactStores`, never both, and cross-Region pipelines use `artifactStores`
    // (CodePipeline API reference, PipelineDeclaration); nothing documents a one-element
    // `artifactStores`.
    match x.artifact_store() {
        Some(s) => d = d.artifact_store(store(s)?),
        None => {
            for (region, s) in &x.artifact_stores {
                d = d.artifact_stores(region, store(s)?);
            }
        }
    }
    for v in &x.variables {
        d = d.variables(
            PipelineVariableDeclaration::builder()
                .name(&v.name)
                .default_value(&v.default_value)
                .build()
                .map_err(e)?,
        );
    }
    for st in &x.stages {
        let mut stage = StageDeclaration::builder().name(&st.name);
        for act in &st.actions {
            let mut b = ActionDeclaration::builder()
                .name(&act.name)
                .action_type_id(
                    ActionTypeId::builder()
                        .category(ActionCategory::from(act.category.as_str()))
                        .owner(ActionOwner::from(act.owner.as_str()))
                        .provider(&act.provider)
                        .version(&act.version)
                        .build()
                        .map_err(e)?,
                )
                .run_order(act.run_order as i32)
                .set_configuration(Some(act.configuration.clone().into_iter().collect()))
                .set_role_arn(act.role_arn.clone())
                .set_region(act.region.clone());
            if !act.commands.is_empty() {
                b = b.set_commands(Some(act.commands.clone()));
            }
            for (name, value) in &act.environment_variables {
                b = b.environment_variables(
                    EnvironmentVariable::builder()
                        .name(name)
                        .value(value)
                        .r#type(EnvironmentVariableType::Plaintext)
                        .build()
                        .map_err(e)?,
                );
            }
            for i in &act.input_artifacts {
                b = b.input_artifacts(InputArtifact::builder().name(i).build().map_err(e)?);
            }
            for o in &act.output_artifacts {
                b = b.output_artifacts(OutputArtifact::builder().name(o).build().map_err(e)?);
            }
            stage = stage.actions(b.build().map_err(e)?);
        }
        d = d.stages(stage.build().map_err(e)?);
    }
    d.build().map_err(e)
}
