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
}
