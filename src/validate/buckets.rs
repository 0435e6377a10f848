//! `buckets`: account and region, S3 names (global, so unique), grants to roles.

use super::{p, Cx};
use crate::model::*;
use crate::names;
use crate::raw::*;
use std::collections::BTreeMap;

impl Cx<'_> {
    pub(super) fn buckets(&mut self) -> BTreeMap<Key, Bucket> {
        let mut out = BTreeMap::new();
        let mut names_seen: BTreeMap<String, String> = BTreeMap::new();
        for (key, b) in &self.raw.buckets {
            let path = p(&["buckets", key]);
            self.key(&path, key);
            let account = self.account(&path.key("account"), &b.account);
            let region = self.region(&path.key("region"), b.region.as_ref());
            let name = match (&b.name, &account) {
                (Some(n), _) => {
                    self.check(&path.key("name"), names::s3_bucket(n));
                    n.clone()
                }
                (None, Some(acct)) => {
                    let id = self.raw.accounts[acct].id.text.clone();
                    names::fit(&[&self.raw.name, key, &id], names::S3_BUCKET_MAX)
                }
                (None, None) => String::new(),
            };
            if !name.is_empty() {
                if let Some(other) = names_seen.insert(name.clone(), key.clone()) {
                    self.err(
                        path.key("name"),
                        format!("bucket name `{name}` is also used by `buckets.{other}`; S3 names are global"),
                    );
                }
            }
            let mut grants = Vec::new();
            for (i, g) in b.grants.iter().enumerate() {
                let gp = path.key("grants").index(i);
                let roles = &self.raw.roles;
                if let Some(role) = self.reference(roles, "roles", "role", &gp.key("role"), &g.role)
                {
                    if let Some(prefix) = &g.prefix {
                        if prefix.starts_with('/') || prefix.contains('*') {
                            self.err_help(
                                gp.key("prefix"),
                                format!("grant prefix `{prefix}` must not start with `/` or contain `*`"),
                                "write the key prefix as S3 shows it, for example `dev/`",
                            );
                        }
                    }
                    grants.push(Grant {
                        role,
                        access: g.access,
                        prefix: g.prefix.clone(),
                    });
                }
            }
            let tags = self.tags(&path.key("tags"), &b.tags);
            if let (Some(account), Some(region)) = (account, region) {
                out.insert(
                    key.clone(),
                    Bucket {
                        key: key.clone(),
                        account,
                        region,
                        name,
                        versioning: b.versioning.unwrap_or(false),
                        grants,
                        protect: b.lifecycle == Some(Lifecycle::Protect),
                        force_destroy: b.force_destroy,
                        adopt: b.adopt,
                        tags,
                        origin: path,
                    },
                );
            }
        }
        out
    }
}
