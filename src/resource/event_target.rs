//! EventBridge target: where a rule sends its events (a bus or a pipeline), the role it
//! sends them as, what it sends (the event, or an input transformer's rendering of it),
//! how long EventBridge retries, and where what it fails to deliver goes. Reading (with
//! its rule) and writing: `aws::resource::event_target`.

use super::Kind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TargetSpec {
    pub rule: String,
    pub bus: String,
    pub id: String,
    /// Where events go: an event bus or a pipeline ARN.
    pub arn: String,
    pub role_arn: String,
    /// How long and how often EventBridge retries a failed delivery. Every derived
    /// target has one; `None` only as read from a target that has none.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub retry_policy: Option<RetryPolicy>,
    /// The SQS queue (ARN) that receives the events EventBridge could not deliver
    /// (`DeadLetterConfig`); `None`: they are dropped.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub dead_letter_arn: Option<String>,
    /// What the target receives instead of the event; absent: the event itself.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub input_transformer: Option<InputTransformer>,
}

/// EventBridge's `RetryPolicy` of a target (EventBridge API reference, RetryPolicy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RetryPolicy {
    /// `MaximumRetryAttempts`: 0 to 185.
    pub maximum_retry_attempts: u32,
    /// `MaximumEventAgeInSeconds`: 60 to 86400.
    pub maximum_event_age_seconds: u32,
}

/// EventBridge's `InputTransformer` (EventBridge API reference, `InputTransformer`):
/// variables taken from the event by JSON path, and the template they fill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InputTransformer {
    /// `InputPathsMap`: variable → JSON path into the event.
    pub input_paths: BTreeMap<String, String>,
    /// `InputTemplate`. A template that is a JSON object or array is held as that value,
    /// so it is compared by meaning (EventBridge keeps the text as it was written, and
    /// another tool may space or order it otherwise); any other template (text with
    /// placeholders, or JSON with a placeholder outside quotes) is held as its text, a
    /// JSON string.
    pub input_template: Value,
}

impl InputTransformer {
    /// The template as read from AWS: see [`InputTransformer::input_template`].
    pub fn template_value(text: &str) -> Value {
        match serde_json::from_str::<Value>(text) {
            Ok(v @ (Value::Object(_) | Value::Array(_))) => v,
            _ => Value::String(text.to_string()),
        }
    }

    /// The template as written to AWS: a value's compact JSON, or the text itself.
    pub fn template_text(&self) -> String {
        match &self.input_template {
            Value::String(text) => text.clone(),
            v => v.to_string(),
        }
    }
}

impl Kind for TargetSpec {
    const KIND: &'static str = "event_target";
    // First: a target names its rule, where it sends, and its dead-letter queue.
    const DELETION_RANK: u8 = 0;

    fn display_name(&self) -> String {
        format!("{}/{}", self.rule, self.id)
    }
    /// Nothing names a target.
    fn identifiers(&self) -> Vec<String> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_templates_are_values_and_other_templates_their_text() {
        let spaced = "{ \"a\" : [ \"<v>\" ],\n  \"b\": 1 }";
        let v = InputTransformer::template_value(spaced);
        assert_eq!(v, serde_json::json!({"b": 1, "a": ["<v>"]}));
        let t = InputTransformer {
            input_paths: BTreeMap::new(),
            input_template: v,
        };
        assert_eq!(t.template_text(), r#"{"a":["<v>"],"b":1}"#);
        // Text, a JSON string literal and JSON with a bare placeholder stay as written:
        // reading them as values would change what is written back.
        for text in ["<v> is in state <s>", "\"<v>\"", "{\"a\": <v>}", "12"] {
            let v = InputTransformer::template_value(text);
            assert_eq!(v, Value::String(text.into()), "{text}");
            let t = InputTransformer {
                input_paths: BTreeMap::new(),
                input_template: v,
            };
            assert_eq!(t.template_text(), text);
        }
    }
}
