//! `buses`: account and region, name, the accounts whose events a bus accepts.

use super::{p, Cx};
use crate::model::*;
use crate::names;
use std::collections::BTreeMap;

impl Cx<'_> {
    pub(super) fn buses(&mut self) -> BTreeMap<Key, Bus> {
        let mut out = BTreeMap::new();
        for (key, b) in &self.raw.buses {
            let path = p(&["buses", key]);
            self.key(&path, key);
            let account = self.account(&path.key("account"), &b.account);
            let region = self.region(&path.key("region"), b.region.as_ref());
            let name = match &b.name {
                Some(n) => {
                    self.check(&path.key("name"), names::event_bus(n));
                    n.clone()
                }
                None => names::fit(&[&self.raw.name, key], names::BUS_MAX),
            };
            let mut accept_from = Vec::new();
            for (i, a) in b.accept_from.iter().enumerate() {
                let ap = path.key("accept_from").index(i);
                if let Some(a) = self.account(&ap, a) {
                    if accept_from.contains(&a) {
                        self.err(ap, format!("account `{a}` is listed twice"));
                    } else {
                        accept_from.push(a);
                    }
                }
            }
            let tags = self.tags(&path.key("tags"), &b.tags);
            if let (Some(account), Some(region)) = (account, region) {
                out.insert(
                    key.clone(),
                    Bus {
                        key: key.clone(),
                        account,
                        region,
                        name,
                        accept_from,
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
