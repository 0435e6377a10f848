//! Every example validates, and its full expansion is a reviewed snapshot: any change
//! to what tether would create shows up as a diff of `tests/data/expand/*.yaml`.

use crate::{expect_file, root};
use std::path::PathBuf;

pub fn examples() -> Vec<PathBuf> {
    let mut files = vec![root().join("topology.example.yaml")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs/examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    docs.sort();
    assert!(
        docs.len() >= 4,
        "one example per flow is expected in docs/examples"
    );
    files.extend(docs);
    files
}

#[test]
fn every_example_validates() {
    for file in examples() {
        if let Err(d) = tether::check_file(&file) {
            panic!("{} does not validate:\n{d}", file.display());
        }
    }
}

#[test]
fn expansions_match_their_snapshots() {
    for file in examples() {
        let checked = tether::check_file(&file).unwrap();
        let text = serde_yaml::to_string(&checked.expansion).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        expect_file(&root().join("tests/data/expand").join(name), &text);
    }
}

#[test]
fn expansion_is_deterministic() {
    for file in examples() {
        let a = serde_yaml::to_string(&tether::check_file(&file).unwrap().expansion).unwrap();
        let b = serde_yaml::to_string(&tether::check_file(&file).unwrap().expansion).unwrap();
        assert_eq!(a, b, "{}", file.display());
    }
}

#[test]
fn graphs_render_for_every_example() {
    for file in examples() {
        let checked = tether::check_file(&file).unwrap();
        let graph = tether::graph::Graph::build(&checked.expansion).unwrap();
        let dot = graph.dot();
        let mermaid = graph.mermaid();
        assert!(dot.starts_with("digraph tether {") && dot.trim_end().ends_with('}'));
        assert!(mermaid.starts_with("flowchart LR\n"));
        // Every dependency is an edge in both renderings.
        let edges: usize = checked
            .expansion
            .resources
            .iter()
            .map(|r| r.depends_on.len())
            .sum();
        assert_eq!(dot.matches(" -> ").count(), edges, "{}", file.display());
        assert_eq!(
            mermaid.matches(" --> ").count(),
            edges,
            "{}",
            file.display()
        );
    }
}

#[test]
fn the_readme_tour_is_valid_and_says_what_it_derives() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let tour = &readme[start..end];
    let checked =
        tether::check_bytes(tour.as_bytes(), "README.md").unwrap_or_else(|d| panic!("{d}"));
    let lines = tour.trim().lines().count();
    let resources = checked.expansion.resources.len();
    assert!(
        readme.contains(&format!(
            "From these {lines} lines tether derives {resources} resources"
        )),
        "README must say: From these {lines} lines tether derives {resources} resources"
    );
}
