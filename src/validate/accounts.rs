//! `accounts`: unique ids, and how each account is reached (the ambient credentials or
//! an assumed role, with its external id).

use super::{p, Cx};
use crate::model::*;
use crate::names;
use std::collections::BTreeMap;

impl Cx<'_> {
    pub(super) fn accounts(&mut self) -> BTreeMap<Key, Account> {
        let mut out = BTreeMap::new();
        let mut by_id: BTreeMap<String, String> = BTreeMap::new();
        let mut ambient: Vec<String> = Vec::new();
        for (key, a) in &self.raw.accounts {
            let path = p(&["accounts", key]);
            self.key(&path, key);
            let id = a.id.text.clone();
            let id_path = path.key("id");
            if a.id.was_number {
                let lost = if id.len() < 12 {
                    " (YAML read it as a number and dropped its leading zeros)"
                } else {
                    ""
                };
                self.err_help(
                    id_path.clone(),
                    format!("account id is a bare number{lost}; account ids are strings"),
                    format!("quote it: id: \"{:0>12}\"", id),
                );
            } else if let Err(e) = names::account_id(&id) {
                self.err_help(id_path.clone(), e, "account ids have exactly 12 digits");
            } else if let Some(other) = by_id.insert(id.clone(), key.clone()) {
                self.err(
                    id_path.clone(),
                    format!("account id {id} is already used by `accounts.{other}`"),
                );
            }
            let access = match &a.role {
                None => {
                    if a.external_id.is_some() {
                        self.err_help(
                            path.key("external_id"),
                            "`external_id` without `role`: the external id is only sent when assuming a role",
                            "add `role: <name or ARN>` or remove `external_id`",
                        );
                    }
                    ambient.push(key.clone());
                    AccountAccess::Ambient
                }
                Some(role) => {
                    let role_path = path.key("role");
                    let arn = if role.starts_with("arn:") {
                        match names::role_arn(role) {
                            Ok(parsed) => {
                                self.arn_in_partition(&role_path, role, "account role");
                                if parsed.account != id && !a.id.was_number {
                                    self.err(
                                        role_path,
                                        format!(
                                            "role ARN is in account {}, not in this account ({id})",
                                            parsed.account
                                        ),
                                    );
                                }
                                role.clone()
                            }
                            Err(e) => {
                                self.err(role_path, e);
                                role.clone()
                            }
                        }
                    } else {
                        self.check(&role_path, names::iam_role(role));
                        format!("arn:{}:iam::{id}:role/{role}", self.partition)
                    };
                    if let Some(x) = &a.external_id {
                        let ok = (2..=1224).contains(&x.len())
                            && x.chars()
                                .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c));
                        if !ok {
                            self.err(
                                path.key("external_id"),
                                "external id must be 2 to 1224 characters of letters, digits and `+=,.@:/-_`",
                            );
                        }
                    }
                    AccountAccess::AssumeRole {
                        role_arn: arn,
                        external_id: a.external_id.clone(),
                    }
                }
            };
            out.insert(
                key.clone(),
                Account {
                    key: key.clone(),
                    id,
                    access,
                },
            );
        }
        if ambient.len() > 1 {
            self.err_help(
                p(&["accounts", &ambient[1]]),
                format!(
                    "accounts {} all use the ambient credentials, which belong to one account only",
                    ambient
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "give every account but one a `role` to assume",
            );
        }
        out
    }
}
