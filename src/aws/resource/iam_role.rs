//! IAM roles: read from one paginated `GetAccountAuthorizationDetails` per account (every
//! role with its policies and tags), created with their path and tags, updated part by
//! part, deleted after their policies. The spec: `crate::resource::iam_role`.

use super::{Provider, ReadScope};
use crate::aws::read::{broken, policy, tag_map, ReadCx};
use crate::aws::write::{changed, gone, json, retag, sdk, tags_changed, Put, Writer};
use crate::aws::{iam_tags, AwsError};
use crate::resource::{Address, Kind, RoleSpec, Spec};
use crate::state::{Observed, Owner};
use std::collections::{BTreeMap, BTreeSet};

impl Provider for RoleSpec {
    const READ: ReadScope = ReadScope::Account;

    /// Every role of the account: one listing serves every role, desired or not. A role
    /// under tether's path is tether's even without tags.
    async fn read(cx: &ReadCx) -> Result<Vec<Observed>, AwsError> {
        let path = format!("/tether/{}/", cx.scope.topology);
        let mut out = Vec::new();
        let _p = cx.permit().await;
        let mut pages = cx
            .clients()
            .iam
            .get_account_authorization_details()
            .filter(aws_sdk_iam::types::EntityType::Role)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                AwsError::from_sdk(format!("accounts.{}: listing IAM roles", cx.account), e)
            })?;
            for r in page.role_detail_list() {
                let name = r.role_name().unwrap_or_default().to_string();
                let tags = tag_map(r.tags(), |t| (t.key(), t.value()));
                let role_path = r.path().unwrap_or("/").to_string();
                let mut owner = cx.scope.owner(&tags);
                if role_path == path && owner == Owner::Nobody {
                    owner = Owner::This;
                }
                let address = Address::new(&cx.account, "global", <Self as Kind>::KIND, &name);
                let context = address.to_string();
                let trust = policy(r.assume_role_policy_document().unwrap_or("{}"), &context)?;
                let broken_principals = broken(&trust);
                let inline = r
                    .role_policy_list()
                    .iter()
                    .map(|p| {
                        Ok((
                            p.policy_name().unwrap_or_default().to_string(),
                            policy(p.policy_document().unwrap_or("{}"), &context)?,
                        ))
                    })
                    .collect::<Result<BTreeMap<_, _>, AwsError>>()?;
                let spec = Spec::IamRole(RoleSpec {
                    arn: r.arn().unwrap_or_default().to_string(),
                    name,
                    path: role_path,
                    trust_policy: trust,
                    inline_policies: inline,
                    managed_policies: r
                        .attached_managed_policies()
                        .iter()
                        .filter_map(|p| p.policy_arn().map(String::from))
                        .collect(),
                    adopt: false,
                });
                let mut o = cx.observed_in("global", address, spec, tags, owner);
                o.broken_principals = broken_principals;
                out.push(o);
            }
        }
        Ok(out)
    }

    async fn put(x: &Self, p: Put<'_>) -> Result<(), AwsError> {
        let (w, r, change, create) = (p.w, p.r, p.change, p.create);
        let iam = &w.clients.iam;
        let a = &r.address;
        let tags = iam_tags(&r.tags);
        let fields = changed(change);
        let (all, live_inline, live_managed) = if create {
            let made = iam
                .create_role()
                .role_name(&x.name)
                .path(&x.path)
                .assume_role_policy_document(json(&x.trust_policy))
                .set_tags(Some(tags.clone()))
                .send()
                .await;
            match made {
                Ok(_) => (false, BTreeSet::new(), BTreeSet::new()),
                Err(e) => {
                    let e = AwsError::from_sdk(format!("{a}: creating the role"), e);
                    if e.code() != Some("EntityAlreadyExists") {
                        return Err(e);
                    }
                    // Left by an interrupted apply: bring every part in line.
                    (true, BTreeSet::new(), BTreeSet::new())
                }
            }
        } else {
            let before = change.before.as_ref().and_then(|o| match &o.spec {
                Spec::IamRole(b) => Some(b),
                _ => None,
            });
            (
                false,
                before
                    .map(|b| b.inline_policies.keys().cloned().collect())
                    .unwrap_or_default(),
                before
                    .map(|b| b.managed_policies.clone())
                    .unwrap_or_default(),
            )
        };
        if all || fields.contains("trust_policy") {
            iam.update_assume_role_policy()
                .role_name(&x.name)
                .policy_document(json(&x.trust_policy))
                .send()
                .await
                .map_err(sdk(a, "writing the trust policy"))?;
        }
        for (name, doc) in &x.inline_policies {
            if create || all || fields.contains(format!("inline_policies.{name}").as_str()) {
                iam.put_role_policy()
                    .role_name(&x.name)
                    .policy_name(name)
                    .policy_document(json(doc))
                    .send()
                    .await
                    .map_err(sdk(a, "writing an inline policy"))?;
            }
        }
        let live_inline: BTreeSet<String> = if all {
            iam.list_role_policies()
                .role_name(&x.name)
                .send()
                .await
                .map_err(sdk(a, "listing inline policies"))?
                .policy_names()
                .iter()
                .cloned()
                .collect()
        } else {
            live_inline
        };
        for name in live_inline
            .iter()
            .filter(|n| !x.inline_policies.contains_key(*n))
        {
            iam.delete_role_policy()
                .role_name(&x.name)
                .policy_name(name)
                .send()
                .await
                .map_err(sdk(a, "deleting an inline policy"))?;
        }
        if create || all || fields.contains("managed_policies") {
            let live: BTreeSet<String> = if all {
                iam.list_attached_role_policies()
                    .role_name(&x.name)
                    .send()
                    .await
                    .map_err(sdk(a, "listing attached policies"))?
                    .attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn().map(String::from))
                    .collect()
            } else {
                live_managed
            };
            for arn in x.managed_policies.difference(&live) {
                iam.attach_role_policy()
                    .role_name(&x.name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(sdk(a, "attaching a managed policy"))?;
            }
            for arn in live.difference(&x.managed_policies) {
                iam.detach_role_policy()
                    .role_name(&x.name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(sdk(a, "detaching a managed policy"))?;
            }
        }
        // A create wrote its tags with the role (unless the role was already there).
        if all || (!create && tags_changed(change)) {
            let untag = |keys| async {
                let req = iam.untag_role().role_name(&x.name).set_tag_keys(Some(keys));
                req.send().await.map(drop).map_err(sdk(a, "removing tags"))
            };
            let req = iam.tag_role().role_name(&x.name).set_tags(Some(tags));
            let tag = async { req.send().await.map(drop).map_err(sdk(a, "writing tags")) };
            retag(change, r, untag, tag).await?;
        }
        Ok(())
    }

    /// Inline policies are deleted and managed ones detached first: IAM refuses to delete
    /// a role that still has them (IAM API reference, DeleteRole).
    async fn delete(w: &Writer<'_>, o: &Observed, x: &Self) -> Result<(), AwsError> {
        let a = &o.address;
        let iam = &w.clients.iam;
        let names = iam
            .list_role_policies()
            .role_name(&x.name)
            .send()
            .await
            .map_err(sdk(a, "listing inline policies"))?;
        for n in names.policy_names() {
            gone(
                iam.delete_role_policy()
                    .role_name(&x.name)
                    .policy_name(n)
                    .send()
                    .await
                    .map_err(sdk(a, "deleting an inline policy")),
                &["NoSuchEntity"],
            )?;
        }
        let attached = iam
            .list_attached_role_policies()
            .role_name(&x.name)
            .send()
            .await
            .map_err(sdk(a, "listing attached policies"))?;
        for p in attached.attached_policies() {
            gone(
                iam.detach_role_policy()
                    .role_name(&x.name)
                    .set_policy_arn(p.policy_arn().map(String::from))
                    .send()
                    .await
                    .map_err(sdk(a, "detaching a managed policy")),
                &["NoSuchEntity"],
            )?;
        }
        gone(
            iam.delete_role()
                .role_name(&x.name)
                .send()
                .await
                .map_err(sdk(a, "deleting the role")),
            &["NoSuchEntity"],
        )?;
        Ok(())
    }
}
