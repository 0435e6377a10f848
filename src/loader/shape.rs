//! Checks a node tree against the JSON Schema generated from the raw types and converts
//! it to a `serde_yaml::Value`.
//!
//! serde stops at the first unknown key; this walk finds every one of them, with the
//! closest valid key, and drops them from the value so that the per-entry serde pass
//! afterwards reports only type errors. Using the generated schema keeps the two in
//! step: a key the types accept is a key the walk accepts.

use super::node::{Node, NodeKind};
use crate::diag::{suggest, Diagnostic, YamlPath};
use serde_json::Value as Json;
use serde_yaml::Value;

pub fn shape(
    node: &Node,
    schema: &Json,
    root: &Json,
    path: &YamlPath,
    out: &mut Vec<Diagnostic>,
) -> Value {
    let schema = resolve(schema, root);
    match &node.kind {
        NodeKind::Scalar { value, plain } => scalar(value, *plain),
        NodeKind::Seq(items) => {
            let item_schema = object_branch(schema, root, "array").and_then(|s| s.get("items"));
            Value::Sequence(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| match item_schema {
                        Some(s) => shape(item, s, root, &path.index(i), out),
                        None => plain(item),
                    })
                    .collect(),
            )
        }
        NodeKind::Map(entries) => {
            let schema = object_branch(schema, root, "object");
            let props = schema
                .and_then(|s| s.get("properties"))
                .and_then(Json::as_object);
            let additional = schema.and_then(|s| s.get("additionalProperties"));
            let closed = matches!(additional, Some(Json::Bool(false)));
            let mut map = serde_yaml::Mapping::new();
            for (key, key_pos, value) in entries {
                let child = path.key(key.clone());
                let sub = props
                    .and_then(|p| p.get(key))
                    .or(additional.filter(|a| a.is_object()));
                let v = match sub {
                    Some(s) => shape(value, s, root, &child, out),
                    None if closed => {
                        let names: Vec<&str> = props
                            .map(|p| p.keys().map(String::as_str).collect())
                            .unwrap_or_default();
                        let mut d = Diagnostic::new(
                            child,
                            format!("unknown key `{key}` in {}", describe(path)),
                        )
                        .help(suggest(key, names.iter().copied()));
                        d.pos = Some(*key_pos);
                        out.push(d);
                        continue;
                    }
                    None => plain(value),
                };
                map.insert(Value::String(key.clone()), v);
            }
            Value::Mapping(map)
        }
    }
}

fn describe(path: &YamlPath) -> String {
    if path.0.is_empty() {
        "the top level".to_string()
    } else {
        format!("`{path}`")
    }
}

/// Follows `$ref` to the definition it names.
fn resolve<'a>(mut schema: &'a Json, root: &'a Json) -> &'a Json {
    for _ in 0..16 {
        let Some(r) = schema.get("$ref").and_then(Json::as_str) else {
            break;
        };
        let Some(name) = r.strip_prefix("#/$defs/") else {
            break;
        };
        match root.get("$defs").and_then(|d| d.get(name)) {
            Some(s) => schema = s,
            None => break,
        }
    }
    schema
}

/// The schema itself, or for `Option<T>` (`anyOf: [T, null]`) the branch that fits a
/// node of `kind`.
fn object_branch<'a>(schema: &'a Json, root: &'a Json, kind: &str) -> Option<&'a Json> {
    if schema.get("properties").is_some()
        || schema.get("items").is_some()
        || schema.get("additionalProperties").is_some()
    {
        return Some(schema);
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(branches) = schema.get(key).and_then(Json::as_array) {
            for b in branches {
                let b = resolve(b, root);
                let ty = b.get("type");
                let fits = match ty {
                    Some(Json::String(t)) => t == kind,
                    Some(Json::Array(ts)) => ts.iter().any(|t| t == kind),
                    _ => b.get("properties").is_some() || b.get("items").is_some(),
                };
                if fits {
                    return object_branch(b, root, kind).or(Some(b));
                }
            }
        }
    }
    None
}

/// Converts without checks (for parts the schema leaves open, such as tag maps).
fn plain(node: &Node) -> Value {
    match &node.kind {
        NodeKind::Scalar { value, plain } => scalar(value, *plain),
        NodeKind::Seq(items) => Value::Sequence(items.iter().map(plain).collect()),
        NodeKind::Map(entries) => Value::Mapping(
            entries
                .iter()
                .map(|(k, _, v)| (Value::String(k.clone()), plain(v)))
                .collect(),
        ),
    }
}

/// YAML 1.2 core schema resolution of a scalar: only plain scalars can be null, booleans
/// or numbers; anything quoted is a string.
fn scalar(value: &str, plain: bool) -> Value {
    if !plain {
        return Value::String(value.to_string());
    }
    match value {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = value.parse::<u64>() {
            return Value::Number(n.into());
        }
        if let Ok(n) = value.parse::<i64>() {
            return Value::Number(n.into());
        }
    }
    let looks_float = digits.bytes().any(|b| b.is_ascii_digit())
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if looks_float {
        if let Ok(f) = value.parse::<f64>() {
            return Value::Number(f.into());
        }
    }
    Value::String(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_follow_the_core_schema() {
        assert_eq!(
            scalar("111111111111", true),
            Value::Number(111111111111u64.into())
        );
        assert_eq!(
            scalar("111111111111", false),
            Value::String("111111111111".into())
        );
        assert_eq!(scalar("true", true), Value::Bool(true));
        assert_eq!(scalar("yes", true), Value::String("yes".into()));
        assert_eq!(scalar("", true), Value::Null);
        assert_eq!(scalar("us-east-1", true), Value::String("us-east-1".into()));
        assert_eq!(scalar("1.5", true), Value::Number(1.5f64.into()));
        assert_eq!(scalar("-", true), Value::String("-".into()));
    }
}
