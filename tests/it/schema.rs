//! The committed JSON Schema must be what the raw types generate, and the examples
//! must point editors at it.

use crate::{expect_file, root};

#[test]
fn committed_schema_matches_the_types() {
    let schema = tether::loader::schema();
    let text = serde_json::to_string_pretty(schema).unwrap() + "\n";
    expect_file(&root().join("schemas/topology.schema.json"), &text);
}

#[test]
fn the_example_points_editors_at_the_schema() {
    let text = std::fs::read_to_string(root().join("topology.example.yaml")).unwrap();
    assert!(
        text.starts_with("# yaml-language-server: $schema=./schemas/topology.schema.json\n"),
        "topology.example.yaml must start with the yaml-language-server schema comment"
    );
}

#[test]
fn the_schema_is_strict_about_unknown_keys() {
    let schema = tether::loader::schema();
    assert_eq!(schema["additionalProperties"], serde_json::json!(false));
    let defs = schema["$defs"].as_object().unwrap();
    for name in [
        "RawBucket",
        "RawPipeline",
        "RawAction",
        "RawTrigger",
        "RawCloudFormation",
    ] {
        assert_eq!(
            defs[name]["additionalProperties"],
            serde_json::json!(false),
            "{name} must refuse unknown keys"
        );
    }
}

#[test]
fn committed_plan_schema_matches_the_types() {
    let text = serde_json::to_string_pretty(&tether::plan::schema()).unwrap() + "\n";
    expect_file(&root().join("schemas/plan.schema.json"), &text);
}
