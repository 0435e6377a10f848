//! Does an EventBridge event pattern match an event?
//!
//! Following the EventBridge User Guide, "Event patterns" and "Content filtering in event
//! patterns": every field the pattern names must be in the event; a field's pattern is
//! a list of values, any of which may match (for an event field that is a list, any of
//! its elements); a nested object matches the event's object at that field. Matched
//! value forms: exact strings, numbers, booleans and null; `{"prefix": …}`,
//! `{"suffix": …}`, `{"anything-but": …}` (a value or a list of values) and
//! `{"exists": true|false}`. Any other filter (numeric ranges, IP addresses, wildcards,
//! `$or`, …) answers "cannot tell", so a flow never rests on a guess.

use serde_json::Value;

/// `Ok(true)` matches, `Ok(false)` does not, `Err` when the pattern uses a filter
/// this matcher does not evaluate (the string says which).
pub fn matches(pattern: &Value, event: &Value) -> Result<bool, String> {
    let Value::Object(fields) = pattern else {
        return Err("the event pattern is not an object".into());
    };
    let mut unknown = None;
    for (name, p) in fields {
        if name.starts_with('$') {
            return Err(format!("the pattern uses `{name}`, which is not evaluated"));
        }
        let value = event.get(name);
        let one = match p {
            Value::Object(_) => match value {
                Some(v @ Value::Object(_)) => matches(p, v),
                _ => Ok(false),
            },
            Value::Array(alternatives) => field(alternatives, value),
            other => Err(format!("`{name}: {other}` is not a list of values")),
        };
        match one {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => unknown = unknown.or(Some(e)),
        }
    }
    match unknown {
        Some(e) => Err(e),
        None => Ok(true),
    }
}

/// One field: any alternative matches any of the event's values.
fn field(alternatives: &[Value], value: Option<&Value>) -> Result<bool, String> {
    let values: Vec<&Value> = match value {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(v) => vec![v],
    };
    let mut unknown = None;
    for alt in alternatives {
        let r = match alt {
            Value::Object(filter) => filter_matches(filter, value.is_some(), &values),
            exact => Ok(values.contains(&exact)),
        };
        match r {
            Ok(true) => return Ok(true),
            Ok(false) => {}
            Err(e) => unknown = unknown.or(Some(e)),
        }
    }
    match unknown {
        Some(e) => Err(e),
        None => Ok(false),
    }
}

fn filter_matches(
    filter: &serde_json::Map<String, Value>,
    present: bool,
    values: &[&Value],
) -> Result<bool, String> {
    if filter.len() != 1 {
        return Err("a content filter with several operators is not evaluated".into());
    }
    let (op, arg) = filter.iter().next().expect("one entry");
    let strings = || values.iter().filter_map(|v| v.as_str());
    match (op.as_str(), arg) {
        ("prefix", Value::String(p)) => Ok(strings().any(|s| s.starts_with(p.as_str()))),
        ("suffix", Value::String(p)) => Ok(strings().any(|s| s.ends_with(p.as_str()))),
        ("exists", Value::Bool(b)) => Ok(present == *b),
        ("anything-but", Value::Array(list)) if list.iter().all(|v| !v.is_object()) => {
            Ok(present && values.iter().any(|v| !list.contains(v)))
        }
        ("anything-but", v) if !v.is_object() && !v.is_array() => {
            Ok(present && values.iter().any(|x| *x != v))
        }
        _ => Err(format!("the content filter `{op}` is not evaluated")),
    }
}

/// An exact string → the positions of the rules that require it.
type Filed<'a> = rustc_hash::FxHashMap<&'a str, Vec<usize>>;

/// The rules of one bus, indexed so that an event is matched against only the rules
/// it may match.
///
/// Each rule is filed under one field its pattern requires to be one of a list of exact
/// strings (the deepest such field, `detail.bucket.name` for an S3 trigger): an event
/// whose value there is none of them cannot match it, as [`matches`] answers a definite
/// no for that field whatever the others say. A rule with no such field, or whose
/// pattern holds a `$` operator anywhere, is a candidate for every event.
#[derive(Debug, Default)]
pub struct Index<'a> {
    /// A field path → the exact string → the positions of the rules filed under it.
    by_field: Vec<(Vec<&'a str>, Filed<'a>)>,
    /// Rules that are candidates for every event.
    rest: Vec<usize>,
}

impl<'a> Index<'a> {
    /// Files the patterns, in order: candidates are answered by position.
    pub fn new<'p>(patterns: impl IntoIterator<Item = &'p Value>) -> Index<'a>
    where
        'p: 'a,
    {
        let mut ix = Index::default();
        for (i, p) in patterns.into_iter().enumerate() {
            let mut best: Option<(Vec<&str>, &Vec<Value>)> = None;
            if !has_operator(p) {
                exact_fields(p, &mut Vec::new(), &mut |path, alts| {
                    let deeper = best.as_ref().is_none_or(|(b, _)| path.len() > b.len());
                    if deeper {
                        best = Some((path.to_vec(), alts));
                    }
                });
            }
            let Some((path, alts)) = best else {
                ix.rest.push(i);
                continue;
            };
            let slot = match ix.by_field.iter().position(|(f, _)| *f == path) {
                Some(s) => s,
                None => {
                    ix.by_field.push((path, Default::default()));
                    ix.by_field.len() - 1
                }
            };
            for a in alts.iter().filter_map(Value::as_str) {
                let rules = ix.by_field[slot].1.entry(a).or_default();
                if rules.last() != Some(&i) {
                    rules.push(i);
                }
            }
        }
        ix
    }

    /// The positions of the rules `event` may match, in order.
    pub fn candidates(&self, event: &Value) -> Vec<usize> {
        let mut out = self.rest.clone();
        for (path, values) in &self.by_field {
            let mut v = Some(event);
            for name in path {
                v = v.and_then(|x| x.get(name));
            }
            let found: Vec<&str> = match v {
                Some(Value::String(s)) => vec![s.as_str()],
                Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            for s in found {
                out.extend(values.get(s).into_iter().flatten());
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Whether a pattern holds a `$` operator (`$or`) at any depth.
fn has_operator(p: &Value) -> bool {
    match p {
        Value::Object(fields) => fields
            .iter()
            .any(|(k, v)| k.starts_with('$') || has_operator(v)),
        Value::Array(items) => items.iter().any(has_operator),
        _ => false,
    }
}

/// Calls `f` with each field the pattern requires to be one of a non-empty list of
/// exact strings.
fn exact_fields<'p>(
    p: &'p Value,
    path: &mut Vec<&'p str>,
    f: &mut impl FnMut(&[&'p str], &'p Vec<Value>),
) {
    let Value::Object(fields) = p else { return };
    for (name, v) in fields {
        path.push(name);
        match v {
            Value::Object(_) => exact_fields(v, path, f),
            Value::Array(alts) if !alts.is_empty() && alts.iter().all(Value::is_string) => {
                f(path, alts)
            }
            _ => {}
        }
        path.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn upload(key: &str) -> Value {
        json!({"source": "aws.s3", "detail-type": "Object Created",
               "detail": {"bucket": {"name": "b"}, "object": {"key": key}}})
    }

    #[test]
    fn patterns_from_the_user_guide() {
        let p = json!({"source": ["aws.s3"], "detail-type": ["Object Created"],
                       "detail": {"bucket": {"name": ["b"]}, "object": {"key": [{"prefix": "releases/"}]}}});
        assert_eq!(matches(&p, &upload("releases/app.zip")), Ok(true));
        assert_eq!(matches(&p, &upload("other/app.zip")), Ok(false));
        let s = json!({"detail": {"object": {"key": [{"suffix": ".zip"}]}}});
        assert_eq!(matches(&s, &upload("x.zip")), Ok(true));
        assert_eq!(matches(&s, &upload("x.tar")), Ok(false));
        let missing = json!({"detail": {"version": ["1"]}});
        assert_eq!(matches(&missing, &upload("x")), Ok(false));
        let exists = json!({"detail": {"version": [{"exists": false}]}});
        assert_eq!(matches(&exists, &upload("x")), Ok(true));
        let but = json!({"source": [{"anything-but": ["aws.ec2"]}]});
        assert_eq!(matches(&but, &upload("x")), Ok(true));
        let numeric = json!({"detail": {"size": [{"numeric": [">", 0]}]}});
        assert!(matches(&numeric, &upload("x")).is_err());
        // An unknown filter does not matter when another field already fails.
        let mixed = json!({"source": ["aws.ec2"], "detail": {"size": [{"numeric": [">", 0]}]}});
        assert_eq!(matches(&mixed, &upload("x")), Ok(false));
    }

    /// The index answers, for every event, a superset of the rules that match it.
    #[test]
    fn the_index_keeps_every_rule_that_may_match() {
        let patterns = [
            json!({"source": ["aws.s3"], "detail": {"bucket": {"name": ["a"]}, "object": {"key": [{"prefix": "r/"}]}}}),
            json!({"source": ["aws.s3"], "detail": {"bucket": {"name": ["b", "c"]}}}),
            json!({"source": ["aws.s3"]}),
            json!({"detail": {"bucket": {"name": [{"prefix": "a"}]}}}),
            json!({"$or": [{"source": ["aws.s3"]}], "detail": {"bucket": {"name": ["z"]}}}),
            json!({"resources": ["arn:aws:s3:::a"]}),
        ];
        let ix = Index::new(&patterns);
        let with_resources = |bucket: &str, key: &str| {
            let mut e = upload(key);
            e["detail"]["bucket"]["name"] = json!(bucket);
            e["resources"] = json!([format!("arn:aws:s3:::{bucket}")]);
            e
        };
        for (bucket, key) in [
            ("a", "r/x"),
            ("a", "s/x"),
            ("b", "r/x"),
            ("c", "x"),
            ("z", "x"),
        ] {
            let e = with_resources(bucket, key);
            let c = ix.candidates(&e);
            for (i, p) in patterns.iter().enumerate() {
                if matches(p, &e) != Ok(false) {
                    assert!(c.contains(&i), "{bucket}/{key}: rule {i} dropped");
                }
            }
        }
        // Exact fields cut: bucket `b` does not bring the rules of `a`.
        let c = ix.candidates(&with_resources("b", "r/x"));
        assert_eq!(c, vec![1, 2, 3, 4]);
    }
}
