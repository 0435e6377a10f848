//! `triggers`: the managed bucket whose events start pipelines, key filters, the
//! pipelines started (one account and region) and the bus that carries the events; and,
//! when those pipelines read their source from the trigger's bucket, the one object the
//! trigger hands them (see [`Cx::trigger_object`]).

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
            let object = bucket.as_ref().and_then(|b| {
                self.trigger_object(&path, t, b, &start, pipelines, places.len() <= 1)
            });
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
                            object,
                            origin: path,
                        },
                    );
                }
            }
        }
        out
    }

    /// The object the trigger hands to the pipelines it starts, when they read their
    /// source from its bucket.
    ///
    /// A pipeline's S3 source reads one fixed key at whatever version is newest
    /// ("Amazon S3 source action reference"), so a rule that matches a prefix would
    /// start it on uploads of other keys (re-running the old object), and two close
    /// uploads would both build the newer one. So the rule matches exactly the source
    /// key, and the target passes the version that fired it (`StartPipelineExecution`
    /// `sourceRevisions`, `S3_OBJECT_VERSION_ID`). That holds only if the trigger hands
    /// over one object, and each pipeline reads it in one action:
    ///
    /// - a source key the trigger's `prefix` and `suffix` cannot match is refused: the
    ///   user said which uploads count, and the pipeline reads another object;
    /// - of a pipeline's S3 sources on the bucket, the filter must match exactly one (it
    ///   names the action whose revision the event sets; another trigger can hand over
    ///   the other key);
    /// - all started pipelines must read the same key, and none may read elsewhere: one
    ///   trigger is one rule, and one rule has one pattern. An upload of key A must
    ///   never start a pipeline with A's version for key B, nor may a pipeline that only
    ///   waits for a signal silently lose its prefix match. The user splits the trigger
    ///   instead, which keeps one named rule chain (and one `enabled` switch) per
    ///   object rather than a chain per key under one entry.
    ///
    /// `whole`: the trigger's pipelines share a place; otherwise it is refused already,
    /// and only what each pipeline reads is checked.
    fn trigger_object(
        &mut self,
        path: &crate::diag::YamlPath,
        t: &crate::raw::RawTrigger,
        bucket: &Key,
        start: &[Key],
        pipelines: &BTreeMap<Key, Pipeline>,
        whole: bool,
    ) -> Option<TriggerObject> {
        let (prefix, suffix) = (t.prefix.as_deref(), t.suffix.as_deref());
        let mut bound: Vec<(&Key, String, String)> = Vec::new();
        let mut signals: Vec<&Key> = Vec::new();
        let mut refused = start.len() != t.start.len();
        for (i, k) in start.iter().enumerate() {
            let Some(pl) = pipelines.get(k) else {
                refused = true;
                continue;
            };
            let sources: Vec<(&str, &str)> = pl
                .stages
                .iter()
                .flat_map(|s| &s.actions)
                .filter_map(|a| match &a.kind {
                    ActionKind::Source(Source::S3 { bucket: b, key }) if b == bucket => {
                        Some((a.name.as_str(), key.as_str()))
                    }
                    _ => None,
                })
                .collect();
            if sources.is_empty() {
                signals.push(k);
                continue;
            }
            let matching: Vec<&(&str, &str)> = sources
                .iter()
                .filter(|(_, key)| filter_matches(prefix, suffix, key))
                .collect();
            match matching.as_slice() {
                [(action, key)] => bound.push((k, action.to_string(), key.to_string())),
                [] => {
                    refused = true;
                    self.unmatched_source(path, t, bucket, k, &sources);
                }
                many => {
                    refused = true;
                    self.err_help(
                        path.key("start").index(i),
                        format!(
                            "the trigger's filter matches {} source keys of pipeline `{k}` in bucket `{bucket}` ({}): an upload of one would start it with that version for the other",
                            many.len(),
                            quoted(many.iter().map(|(_, key)| *key))
                        ),
                        "narrow `prefix` or `suffix` to one source key, and start the pipeline from one trigger per key",
                    );
                }
            }
        }
        if refused || bound.is_empty() || !whole {
            return None;
        }
        let keys: BTreeSet<&str> = bound.iter().map(|(_, _, key)| key.as_str()).collect();
        if keys.len() > 1 {
            self.err_help(
                path.key("start"),
                format!(
                    "the pipelines this trigger starts read different objects of bucket `{bucket}` ({}), but one trigger matches one object and passes its version",
                    bound
                        .iter()
                        .map(|(p, _, key)| format!("`{p}` reads `{key}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "split the trigger: one per source key, each starting the pipelines that read it",
            );
            return None;
        }
        if !signals.is_empty() {
            let (p, _, key) = &bound[0];
            self.err_help(
                path.key("start"),
                format!(
                    "{} no object of bucket `{bucket}`, so {} only signalled, by every upload the filter matches, while `{p}` reads `{key}` and is started by exactly that object, with its version",
                    match signals.as_slice() {
                        [one] => format!("pipeline `{one}` reads"),
                        many => format!("pipelines {} read", quoted(many.iter().map(|k| k.as_str()))),
                    },
                    if signals.len() == 1 { "it is" } else { "they are" },
                ),
                format!(
                    "start {} from a trigger of its own",
                    quoted(signals.iter().map(|k| k.as_str()))
                ),
            );
            return None;
        }
        let key = keys.into_iter().next().expect("one key").to_string();
        Some(TriggerObject {
            key,
            actions: bound.into_iter().map(|(p, a, _)| (p.clone(), a)).collect(),
        })
    }

    /// A started pipeline reads objects of the trigger's bucket that its filter cannot
    /// match: said at the filter that excludes them, with the filter that would match.
    fn unmatched_source(
        &mut self,
        path: &crate::diag::YamlPath,
        t: &crate::raw::RawTrigger,
        bucket: &Key,
        pipeline: &Key,
        sources: &[(&str, &str)],
    ) {
        let (prefix, suffix) = (t.prefix.as_deref(), t.suffix.as_deref());
        // Every source key fails the filter; the first one decides the hint.
        let key = sources[0].1;
        let name = &key[key.rfind('/').map_or(0, |i| i + 1)..];
        let (field, filter, hint) = match (prefix, suffix) {
            (Some(p), _) if !key.starts_with(p) => (
                "prefix",
                format!("prefix `{p}`"),
                match key.rfind('/') {
                    Some(i) => format!("set `prefix` to `{}` (or remove it)", &key[..=i]),
                    None => "remove `prefix`".to_string(),
                },
            ),
            (_, Some(s)) if !key.ends_with(s) => (
                "suffix",
                format!("suffix `{s}`"),
                match name.rfind('.') {
                    Some(i) => format!("set `suffix` to `{}` (or remove it)", &name[i..]),
                    None => "remove `suffix`".to_string(),
                },
            ),
            // Each passes alone, but `prefix*suffix` needs both, one after the other.
            (p, s) => (
                "suffix",
                format!(
                    "prefix `{}` and suffix `{}` together",
                    p.unwrap_or_default(),
                    s.unwrap_or_default()
                ),
                "remove `suffix`".to_string(),
            ),
        };
        let reads = match sources {
            [(_, key)] => format!("reads `{key}`"),
            many => format!("reads {}", quoted(many.iter().map(|(_, k)| *k))),
        };
        self.err_help(
            path.key(field),
            format!(
                "pipeline `{pipeline}` {reads} of bucket `{bucket}`, which {filter} cannot match: its uploads would never start the pipeline, and other uploads would start it on the old object"
            ),
            format!("{hint}, or change the pipeline's source key"),
        );
    }
}

/// Whether an object key passes a trigger's filter as the rule pattern tests it: a
/// prefix, a suffix, or both as one wildcard `prefix*suffix`, whose `*` matches any
/// run of characters, the empty one too ("Wildcard matching", EventBridge user guide,
/// "Content filtering in Amazon EventBridge event patterns").
pub(super) fn filter_matches(prefix: Option<&str>, suffix: Option<&str>, key: &str) -> bool {
    let (p, s) = (prefix.unwrap_or_default(), suffix.unwrap_or_default());
    key.starts_with(p) && key.ends_with(s) && key.len() >= p.len() + s.len()
}

fn quoted<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items
        .map(|x| format!("`{x}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::filter_matches;
    use crate::model::TriggerObject;

    /// A bucket `up` in `a`, pipelines `p` and `q` reading `p_key` and `q_key` of it (an
    /// empty key: a CodeCommit source instead), and `trigger` (a flow mapping).
    fn topology(p_key: &str, q_key: &str, trigger: &str) -> String {
        let source = |key: &str| {
            if key.is_empty() {
                "{ codecommit: { repository: r, branch: main } }".to_string()
            } else {
                format!("{{ s3: {{ bucket: up, key: {key} }} }}")
            }
        };
        format!(
            r#"version: 1
name: t
defaults: {{ region: us-east-1 }}
accounts:
  a: {{ id: "111111111111" }}
buckets:
  up: {{ account: a }}
pipelines:
  p:
    account: a
    source: {}
    stages:
      - {{ name: B, actions: [{{ name: b, build: {{ project: xx }} }}] }}
  q:
    account: a
    source: {}
    stages:
      - {{ name: B, actions: [{{ name: b, build: {{ project: xx }} }}] }}
triggers:
  t: {trigger}
"#,
            source(p_key),
            source(q_key)
        )
    }

    /// `(path, line, column, message, help)` of every diagnostic.
    fn diagnostics(text: &str) -> Vec<(String, usize, usize, String, String)> {
        match crate::check_bytes(text.as_bytes(), "t.yaml") {
            Ok(_) => Vec::new(),
            Err(d) => d
                .errors
                .iter()
                .map(|d| {
                    let pos = d.pos.as_ref().expect("located");
                    (
                        d.path.to_string(),
                        pos.line,
                        pos.column,
                        d.message.clone(),
                        d.help.clone().unwrap_or_default(),
                    )
                })
                .collect(),
        }
    }

    fn object(text: &str) -> Option<TriggerObject> {
        let loaded = crate::loader::load_bytes(text.as_bytes(), "t.yaml").unwrap();
        let t = crate::validate::validate(&loaded).unwrap_or_else(|d| panic!("{d:?}"));
        t.triggers["t"].object.clone()
    }

    #[test]
    fn a_source_key_outside_the_prefix_is_refused_at_the_prefix_with_a_fix() {
        let text = topology(
            "releases/app.zip",
            "",
            "{ bucket: up, prefix: builds/, start: [p] }",
        );
        let d = diagnostics(&text);
        assert_eq!(d.len(), 1, "{d:?}");
        let (path, line, column, message, help) = &d[0];
        assert_eq!(path, "triggers.t.prefix");
        // `  t: { bucket: up, prefix: builds/, …`: the value of `prefix`.
        let want_line = text.lines().position(|l| l.starts_with("  t:")).unwrap() + 1;
        assert_eq!((*line, *column), (want_line, 28));
        assert_eq!(
            message,
            "pipeline `p` reads `releases/app.zip` of bucket `up`, which prefix `builds/` cannot match: its uploads would never start the pipeline, and other uploads would start it on the old object"
        );
        assert_eq!(
            help,
            "set `prefix` to `releases/` (or remove it), or change the pipeline's source key"
        );
    }

    #[test]
    fn a_source_key_outside_the_suffix_is_refused_at_the_suffix() {
        let d = diagnostics(&topology(
            "releases/app.zip",
            "",
            "{ bucket: up, prefix: releases/, suffix: .tar, start: [p] }",
        ));
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].0, "triggers.t.suffix");
        assert!(d[0].3.contains("which suffix `.tar` cannot match"), "{d:?}");
        assert_eq!(
            d[0].4,
            "set `suffix` to `.zip` (or remove it), or change the pipeline's source key"
        );
        // Each passes alone, but `ab*b` needs three characters.
        let d = diagnostics(&topology(
            "ab",
            "",
            "{ bucket: up, prefix: ab, suffix: b, start: [p] }",
        ));
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].3
                .contains("which prefix `ab` and suffix `b` together cannot match"),
            "{d:?}"
        );
    }

    #[test]
    fn a_matching_source_binds_the_trigger_to_its_key_and_action() {
        let o = object(&topology(
            "releases/app.zip",
            "releases/app.zip",
            "{ bucket: up, prefix: releases/, suffix: .zip, start: [p, q] }",
        ))
        .expect("bound");
        assert_eq!(o.key, "releases/app.zip");
        assert_eq!(
            o.actions.into_iter().collect::<Vec<_>>(),
            [("p".into(), "source".into()), ("q".into(), "source".into())]
        );
        // Without a filter too: the rule then matches exactly the source key.
        assert!(object(&topology("x.zip", "", "{ bucket: up, start: [p] }")).is_some());
    }

    #[test]
    fn a_trigger_whose_pipelines_read_elsewhere_is_only_a_signal() {
        let text = topology("", "", "{ bucket: up, prefix: base/, start: [p, q] }");
        assert!(object(&text).is_none());
    }

    #[test]
    fn pipelines_reading_different_keys_split_the_trigger() {
        let d = diagnostics(&topology(
            "releases/a.zip",
            "releases/b.zip",
            "{ bucket: up, prefix: releases/, start: [p, q] }",
        ));
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].0, "triggers.t.start");
        assert_eq!(
            d[0].3,
            "the pipelines this trigger starts read different objects of bucket `up` (`p` reads `releases/a.zip`, `q` reads `releases/b.zip`), but one trigger matches one object and passes its version"
        );
        assert_eq!(
            d[0].4,
            "split the trigger: one per source key, each starting the pipelines that read it"
        );
    }

    #[test]
    fn a_signalled_pipeline_does_not_share_a_trigger_with_one_that_reads_the_object() {
        let d = diagnostics(&topology(
            "releases/a.zip",
            "",
            "{ bucket: up, prefix: releases/, start: [p, q] }",
        ));
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].0, "triggers.t.start");
        assert!(
            d[0].3
                .starts_with("pipeline `q` reads no object of bucket `up`"),
            "{d:?}"
        );
        assert_eq!(d[0].4, "start `q` from a trigger of its own");
    }

    #[test]
    fn of_several_sources_on_the_bucket_the_filter_picks_exactly_one() {
        let with_two = |trigger: &str| {
            topology("a/x.zip", "", trigger).replace(
                "    source: { s3: { bucket: up, key: a/x.zip } }\n    stages:\n",
                "    stages:\n      - name: Source\n        actions:\n          - { name: one, source: { s3: { bucket: up, key: a/x.zip } } }\n          - { name: two, source: { s3: { bucket: up, key: b/y.zip } } }\n",
            )
        };
        let o = object(&with_two("{ bucket: up, prefix: b/, start: [p] }")).expect("bound");
        assert_eq!(
            (o.key.as_str(), o.actions["p"].as_str()),
            ("b/y.zip", "two")
        );
        let d = diagnostics(&with_two("{ bucket: up, suffix: .zip, start: [p] }"));
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].0, "triggers.t.start[0]");
        assert!(
            d[0].3.starts_with(
                "the trigger's filter matches 2 source keys of pipeline `p` in bucket `up` (`a/x.zip`, `b/y.zip`)"
            ),
            "{d:?}"
        );
        let d = diagnostics(&with_two("{ bucket: up, prefix: c/, start: [p] }"));
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].3
                .starts_with("pipeline `p` reads `a/x.zip`, `b/y.zip` of bucket `up`"),
            "{d:?}"
        );
    }

    #[test]
    fn the_filter_matches_as_the_rule_pattern_does() {
        assert!(filter_matches(None, None, "k"));
        assert!(filter_matches(Some("r/"), None, "r/a.zip"));
        assert!(!filter_matches(Some("r/"), None, "x/a.zip"));
        assert!(filter_matches(None, Some(".zip"), "r/a.zip"));
        assert!(filter_matches(Some("r/"), Some(".zip"), "r/.zip"));
        assert!(!filter_matches(Some("r/a"), Some("a.zip"), "r/a.zip"));
    }
}
