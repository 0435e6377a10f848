//! `triggers`: the managed bucket whose events start pipelines, key filters, the
//! pipelines started (one account and region) and the bus that carries the events.

use super::{p, Cx};
use crate::model::*;
use crate::region::Region;
use std::collections::{BTreeMap, BTreeSet};

impl Cx<'_> {
    pub(super) fn triggers(
        &mut self,
        buckets: &BTreeMap<Key, Bucket>,
        buses: &BTreeMap<Key, Bus>,
        pipelines: &BTreeMap<Key, Pipeline>,
    ) -> BTreeMap<Key, Trigger> {
        let mut out = BTreeMap::new();
        for (key, t) in &self.raw.triggers {
            let path = p(&["triggers", key]);
            self.key(&path, key);
            let bucket = if self.raw.buckets.contains_key(&t.bucket) {
                Some(t.bucket.clone())
            } else {
                if !self
                    .broken
                    .contains(&("buckets".to_string(), t.bucket.clone()))
                {
                    self.err_help(
                        path.key("bucket"),
                        format!("trigger bucket `{}` is not managed by this topology, so tether cannot turn on its EventBridge notifications", t.bucket),
                        format!(
                            "declare it under `buckets` (with `adopt: true` if it already exists){}",
                            crate::diag::closest(&t.bucket, self.raw.buckets.keys().map(String::as_str))
                                .map(|c| format!("; or did you mean `{c}`?"))
                                .unwrap_or_default()
                        ),
                    );
                }
                None
            };
            for (field, v) in [("prefix", &t.prefix), ("suffix", &t.suffix)] {
                if let Some(v) = v {
                    if v.is_empty() || v.len() > 1024 {
                        self.err(
                            path.key(field),
                            format!("{field} must be 1 to 1024 characters"),
                        );
                    }
                }
            }
            if t.prefix.as_ref().is_some_and(|x| x.starts_with('/')) {
                self.err_help(
                    path.key("prefix"),
                    "S3 keys do not start with `/`",
                    "write the prefix as S3 shows it, for example `releases/`",
                );
            }
            if t.start.is_empty() {
                self.err_help(
                    path.key("start"),
                    "the trigger starts no pipeline",
                    "list pipelines under `start`",
                );
            }
            let mut start: Vec<Key> = Vec::new();
            for (i, s) in t.start.iter().enumerate() {
                let sp = path.key("start").index(i);
                if let Some(k) =
                    self.reference(&{ self.raw }.pipelines, "pipelines", "pipeline", &sp, s)
                {
                    if start.contains(&k) {
                        self.err(sp, format!("pipeline `{k}` is listed twice"));
                    } else {
                        start.push(k);
                    }
                }
            }
            let places: BTreeSet<(Key, Region)> = start
                .iter()
                .filter_map(|s| pipelines.get(s))
                .map(|p| (p.account.clone(), p.region.clone()))
                .collect();
            if places.len() > 1 {
                self.err_help(
                    path.key("start"),
                    format!(
                        "the pipelines of one trigger must share an account and region; these are in {}",
                        places.iter().map(|(a, r)| format!("{a}/{r}")).collect::<Vec<_>>().join(", ")
                    ),
                    "split the trigger in one per account and region",
                );
            }
            let via = match &t.via {
                None => None,
                Some(v) => self.reference(&{ self.raw }.buses, "buses", "bus", &path.key("via"), v),
            };
            if let (Some(v), Some((acct, region))) = (
                via.as_ref().and_then(|v| buses.get(v)),
                places.iter().next(),
            ) {
                if places.len() == 1 && (v.account != *acct || v.region != *region) {
                    self.err_help(
                        path.key("via"),
                        format!(
                            "bus `{}` is in {}/{}, but its rule must start pipelines in {acct}/{region}",
                            v.key, v.account, v.region
                        ),
                        "EventBridge starts pipelines only in the bus's own account and region",
                    );
                }
                if let Some(b) = bucket.as_ref().and_then(|b| buckets.get(b)) {
                    if b.account != v.account && !v.accept_from.contains(&b.account) {
                        self.err_help(
                            path.key("via"),
                            format!("bus `{}` does not accept events from account `{}`, where bucket `{}` is", v.key, b.account, b.key),
                            format!("add `{}` to `buses.{}.accept_from`", b.account, v.key),
                        );
                    }
                }
            }
            if let Some(bucket) = bucket {
                if t.start.len() == start.len() && places.len() == 1 {
                    out.insert(
                        key.clone(),
                        Trigger {
                            key: key.clone(),
                            bucket,
                            prefix: t.prefix.clone(),
                            suffix: t.suffix.clone(),
                            via,
                            start,
                            enabled: t.enabled,
                            dead_letter: t
                                .dead_letter
                                .or(self.raw.defaults.dead_letter)
                                .unwrap_or(true),
                            origin: path,
                        },
                    );
                }
            }
        }
        out
    }
}
