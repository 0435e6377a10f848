//! Policy documents compared by meaning, not by text.
//!
//! AWS hands policies back re-serialised: URL-encoded (IAM), with lists collapsed to
//! scalars, account IDs expanded to `:root` ARNs (EventBridge), statements and values
//! in any order. [`canonical`] maps every spelling of one policy to one JSON value, so
//! an unchanged topology plans no changes against what tether itself wrote.

use serde_json::{Map, Value};

/// The version IAM assumes when a document names none.
const DEFAULT_VERSION: &str = "2008-10-17";

/// Keys whose values are sets of strings, written as a scalar or a list.
const SET_KEYS: &[&str] = &["Action", "NotAction", "Resource", "NotResource"];

/// Decodes `%XX` escapes (IAM returns policy documents URL-encoded). `+` is left alone:
/// IAM encodes spaces as `%20`, and `+` is meaningful in ARNs.
pub fn url_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

/// Parses a policy document as AWS returns it (possibly URL-encoded).
pub fn parse(text: &str) -> Result<Value, serde_json::Error> {
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(e) => {
            let decoded = url_decode(text);
            if decoded == text {
                Err(e)
            } else {
                serde_json::from_str(&decoded)
            }
        }
    }
}

/// The canonical form of a whole policy document (a role's trust or inline policy).
///
/// Statement ids are left out: a `Sid` labels a statement and changes nothing it allows
/// ("an optional identifier … you can use as a description": IAM User Guide, "IAM JSON
/// policy elements: Sid"), and people write a role's documents with other Sids or none. (In shared policies the
/// Sid marks tether's statements; [`canonical_statements`] keeps it.)
pub fn canonical(doc: &Value) -> Value {
    let mut out = Map::new();
    let version = doc
        .get("Version")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_VERSION);
    out.insert("Version".into(), Value::String(version.into()));
    if let Some(id) = doc.get("Id") {
        out.insert("Id".into(), id.clone());
    }
    let statements = match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().map(unlabelled).collect(),
        Some(s @ Value::Object(_)) => vec![unlabelled(s)],
        _ => Vec::new(),
    };
    out.insert("Statement".into(), Value::Array(sorted(statements)));
    Value::Object(out)
}

/// A statement of a whole document: canonical, without its `Sid`.
fn unlabelled(s: &Value) -> Value {
    let mut s = canonical_statement(s);
    if let Value::Object(m) = &mut s {
        m.remove("Sid");
    }
    s
}

/// The canonical form of a list of statements (the managed part of a shared policy).
pub fn canonical_statements(statements: &[Value]) -> Value {
    Value::Array(sorted(statements.iter().map(canonical_statement).collect()))
}

/// Whether two policy documents mean the same.
pub fn same(a: &Value, b: &Value) -> bool {
    canonical(a) == canonical(b)
}

fn sorted(mut statements: Vec<Value>) -> Vec<Value> {
    statements.sort_by_cached_key(|s| s.to_string());
    statements.dedup();
    statements
}

/// One statement: set-valued keys become sorted lists, principals are expanded, action
/// names lower-cased (IAM matches them case-insensitively), condition keys likewise.
pub fn canonical_statement(s: &Value) -> Value {
    let Some(obj) = s.as_object() else {
        return s.clone();
    };
    let mut out = Map::new();
    for (k, v) in obj {
        let v = match k.as_str() {
            "Action" | "NotAction" => set(v, |a| a.to_ascii_lowercase()),
            _ if SET_KEYS.contains(&k.as_str()) => set(v, str::to_string),
            "Principal" | "NotPrincipal" => principal(v),
            "Condition" => condition(v),
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Value::Bool(b) => vec![b.to_string()],
        Value::Number(n) => vec![n.to_string()],
        other => vec![other.to_string()],
    }
}

fn set(v: &Value, f: impl Fn(&str) -> String) -> Value {
    let mut items: Vec<String> = strings(v).iter().map(|s| f(s)).collect();
    items.sort();
    items.dedup();
    Value::Array(items.into_iter().map(Value::String).collect())
}

fn principal(v: &Value) -> Value {
    match v {
        // `"*"` and `{"AWS": "*"}` grant the same.
        Value::String(s) if s == "*" => serde_json::json!({"AWS": ["*"]}),
        Value::Object(m) => {
            let mut out = Map::new();
            for (kind, values) in m {
                let canon = if kind == "AWS" {
                    set(values, account_root)
                } else {
                    set(values, str::to_string)
                };
                out.insert(kind.clone(), canon);
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// An account ID as a principal means its root: `123456789012` ≡ `arn:aws:iam::123456789012:root`.
fn account_root(p: &str) -> String {
    if p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()) {
        format!("arn:aws:iam::{p}:root")
    } else {
        p.to_string()
    }
}

fn condition(v: &Value) -> Value {
    let Some(ops) = v.as_object() else {
        return v.clone();
    };
    let mut out = Map::new();
    for (op, keys) in ops {
        let mut inner = Map::new();
        if let Some(keys) = keys.as_object() {
            for (k, vals) in keys {
                inner.insert(k.to_ascii_lowercase(), set(vals, str::to_string));
            }
        }
        out.insert(op.clone(), Value::Object(inner));
    }
    Value::Object(out)
}

// ----- Display ---------------------------------------------------------------------
//
// Comparing is done on canonical forms; showing is not. A reviewer reads documents as
// AWS holds them: original case and shape, keys in the order AWS writes them.

/// The order AWS writes the keys of policy documents and statements in; other keys
/// follow in alphabetical order.
const AWS_KEY_ORDER: &[&str] = &[
    "Version",
    "Id",
    "Statement",
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

fn key_rank(k: &str) -> (usize, &str) {
    let rank = AWS_KEY_ORDER
        .iter()
        .position(|x| *x == k)
        .unwrap_or(AWS_KEY_ORDER.len());
    (rank, k)
}

/// A JSON value as a reviewer reads it: values exactly as given (no case folding, no
/// reordering of lists), object keys in AWS's order, indented by two spaces like
/// `serde_json::to_string_pretty`, with a small object of scalars on one line.
pub fn display_pretty(v: &Value) -> String {
    let mut out = String::new();
    write_value(v, Some(0), &mut out);
    out
}

/// [`display_pretty`] on one line, with a space after `:` and `,`.
pub fn display_compact(v: &Value) -> String {
    let mut out = String::new();
    write_value(v, None, &mut out);
    out
}

fn write_value(v: &Value, indent: Option<usize>, out: &mut String) {
    let newline = |out: &mut String, level: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(level));
    };
    match v {
        Value::Array(a) if a.is_empty() => out.push_str("[]"),
        Value::Object(m) if m.is_empty() => out.push_str("{}"),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(if indent.is_some() { "," } else { ", " });
                }
                if let Some(level) = indent {
                    newline(out, level + 1);
                }
                write_value(x, indent.map(|l| l + 1), out);
            }
            if let Some(level) = indent {
                newline(out, level);
            }
            out.push(']');
        }
        // A small object of scalars (a principal, a condition's keys) reads best on one
        // line; lists stay one item a line, so that a diff names the item that changed.
        Value::Object(m)
            if indent.is_some_and(|level| {
                m.values().all(|x| !x.is_object() && !x.is_array())
                    && level * 2 + display_compact(v).len() <= 80
            }) =>
        {
            write_value(v, None, out)
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by_key(|k| key_rank(k));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(if indent.is_some() { "," } else { ", " });
                }
                if let Some(level) = indent {
                    newline(out, level + 1);
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                write_value(&m[k], indent.map(|l| l + 1), out);
            }
            if let Some(level) = indent {
                newline(out, level);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The statements of a shared policy in a stable order for display: by `Sid` (tether's
/// statements all carry one), otherwise as given.
pub fn display_statements(statements: &[Value]) -> Value {
    let mut s = statements.to_vec();
    s.sort_by(|a, b| {
        let sid = |v: &Value| v.get("Sid").and_then(Value::as_str).map(str::to_string);
        sid(a).cmp(&sid(b))
    });
    Value::Array(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spellings_of_one_policy_are_the_same() {
        let ours = json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "A", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::111111111111:root", "arn:aws:iam::222222222222:role/x"]},
                 "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "arn:aws:s3:::b/*"},
                {"Sid": "B", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": ["arn:aws:s3:::b"],
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
            ]
        });
        let theirs = json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "B", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": ["S3:*"], "Resource": "arn:aws:s3:::b",
                 "Condition": {"Bool": {"aws:securetransport": ["false"]}}},
                {"Sid": "A", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::222222222222:role/x", "111111111111"]},
                 "Action": ["s3:GetObject", "s3:PutObject", "s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"]}
            ]
        });
        assert!(same(&ours, &theirs));
    }

    #[test]
    fn differences_in_meaning_are_not_hidden() {
        let a = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]});
        let b = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/x/*"}]});
        let c = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]});
        assert!(!same(&a, &b));
        assert!(!same(&a, &c));
        // Resource ARNs are case-sensitive; only action names are not.
        let d = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::B/*"}]});
        assert!(!same(&a, &d));
    }

    #[test]
    fn url_encoded_documents_parse() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22sts%3AAssumeRole%22%2C%22Principal%22%3A%7B%22Service%22%3A%22codepipeline.amazonaws.com%22%7D%7D%5D%7D";
        let v = parse(encoded).unwrap();
        assert_eq!(v["Statement"][0]["Action"], "sts:AssumeRole");
        assert_eq!(url_decode("a%20b+c"), "a b+c");
        assert_eq!(url_decode("100%"), "100%");
    }

    #[test]
    fn statement_ids_do_not_change_a_whole_document() {
        // tether labels the statements of a role's documents; people often do not.
        let ours = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "PutEvents", "Effect": "Allow", "Action": "events:PutEvents", "Resource": "arn:aws:events:us-east-1:111111111111:event-bus/b"},
            {"Sid": "TrustedRoles", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::222222222222:role/r"}
        ]});
        let theirs = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["sts:AssumeRole"], "Resource": "arn:aws:iam::222222222222:role/r"},
            {"Sid": "Other", "Effect": "Allow", "Action": "events:PutEvents", "Resource": "arn:aws:events:us-east-1:111111111111:event-bus/b"}
        ]});
        assert!(same(&ours, &theirs));
        // Without labels, a difference in meaning still shows.
        let more = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession"], "Resource": "arn:aws:iam::222222222222:role/r"},
            {"Effect": "Allow", "Action": "events:PutEvents", "Resource": "arn:aws:events:us-east-1:111111111111:event-bus/b"}
        ]});
        assert!(!same(&ours, &more));
        // In a shared policy the Sid marks tether's statements, and stays compared.
        let a = [
            json!({"Sid": "tether_x_A", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
        ];
        let b = [
            json!({"Sid": "tether_x_B", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
        ];
        assert_ne!(canonical_statements(&a), canonical_statements(&b));
    }

    #[test]
    fn a_missing_version_is_the_old_default() {
        let a = json!({"Statement": []});
        let b = json!({"Version": "2008-10-17", "Statement": []});
        assert!(same(&a, &b));
        assert!(!same(
            &a,
            &json!({"Version": "2012-10-17", "Statement": []})
        ));
    }

    #[test]
    fn documents_are_displayed_as_aws_holds_them() {
        let doc = json!({"Statement": [{"Condition": {"StringEquals": {"aws:SourceAccount": "111111111111"}},
            "Action": "sts:AssumeRole", "Effect": "Allow", "Sid": "Trust",
            "Principal": {"Service": "events.amazonaws.com"}}], "Version": "2012-10-17"});
        let shown = display_pretty(&doc);
        assert_eq!(
            shown,
            r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "Trust",
      "Effect": "Allow",
      "Principal": {"Service": "events.amazonaws.com"},
      "Action": "sts:AssumeRole",
      "Condition": {
        "StringEquals": {"aws:SourceAccount": "111111111111"}
      }
    }
  ]
}"#
        );
        // The same value as serde_json's pretty form.
        let reparsed: Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(reparsed, doc);
        assert_eq!(
            display_compact(&json!({"b": [1, "x"], "a": {}})),
            r#"{"a": {}, "b": [1, "x"]}"#
        );
    }
}
