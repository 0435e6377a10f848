//! The dependency graph of desired resources: ordering, cycle detection, rendering.
//!
//! An edge runs from a dependency to the resource that needs it, so a topological order
//! is a valid creation order (and its reverse a valid deletion order).

use crate::diag::Diagnostic;
use crate::diag::YamlPath;
use crate::expand::Expansion;
use crate::resource::{Address, Resource};
use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

/// Resources in a dependency graph.
pub struct Graph<'a> {
    pub graph: DiGraph<&'a Resource, ()>,
    index: HashMap<&'a Address, NodeIndex>,
}

impl<'a> Graph<'a> {
    /// Builds the graph. A dependency on an address that is not part of the expansion
    /// is a bug in expansion, reported as a diagnostic rather than a panic.
    pub fn build(expansion: &'a Expansion) -> Result<Self, Vec<Diagnostic>> {
        let mut graph = DiGraph::new();
        let mut index = HashMap::new();
        for r in &expansion.resources {
            index.insert(&r.address, graph.add_node(r));
        }
        let mut problems = Vec::new();
        for r in &expansion.resources {
            for d in &r.depends_on {
                match index.get(d) {
                    Some(&from) => {
                        graph.add_edge(from, index[&r.address], ());
                    }
                    None => problems.push(Diagnostic::new(
                        YamlPath::root(),
                        format!(
                            "internal error: `{}` depends on `{d}`, which is not derived",
                            r.address
                        ),
                    )),
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Graph { graph, index })
    }

    /// Resources in creation order: every resource after all it depends on, ties broken
    /// by address so the order is deterministic.
    pub fn order(&self) -> Result<Vec<&'a Resource>, Vec<Diagnostic>> {
        if let Err(cycle) = toposort(&self.graph, None) {
            return Err(vec![self.cycle_error(cycle.node_id())]);
        }
        // Kahn's algorithm over a sorted ready set, for a stable order.
        let mut indegree: HashMap<NodeIndex, usize> = self
            .graph
            .node_indices()
            .map(|n| {
                (
                    n,
                    self.graph.neighbors_directed(n, petgraph::Incoming).count(),
                )
            })
            .collect();
        let mut ready: BTreeMap<&str, NodeIndex> = indegree
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(n, _)| (self.graph[*n].address.as_str(), *n))
            .collect();
        let mut out = Vec::with_capacity(self.graph.node_count());
        while let Some((_, n)) = ready.pop_first() {
            out.push(self.graph[n]);
            for m in self.graph.neighbors_directed(n, petgraph::Outgoing) {
                let d = indegree.get_mut(&m).expect("every node has a degree");
                *d -= 1;
                if *d == 0 {
                    ready.insert(self.graph[m].address.as_str(), m);
                }
            }
        }
        Ok(out)
    }

    fn cycle_error(&self, start: NodeIndex) -> Diagnostic {
        // The strongly connected component holding `start` contains a cycle through it;
        // walk it to name the path.
        let scc: BTreeSet<NodeIndex> = tarjan_scc(&self.graph)
            .into_iter()
            .find(|c| c.contains(&start))
            .unwrap_or_default()
            .into_iter()
            .collect();
        let mut path = vec![start];
        let mut seen = BTreeSet::from([start]);
        let mut here = start;
        loop {
            let next = self
                .graph
                .neighbors_directed(here, petgraph::Outgoing)
                .filter(|n| scc.contains(n))
                .min_by_key(|n| self.graph[*n].address.as_str());
            match next {
                Some(n) if n == start || seen.contains(&n) => {
                    path.push(n);
                    break;
                }
                Some(n) => {
                    seen.insert(n);
                    path.push(n);
                    here = n;
                }
                None => break,
            }
        }
        let names: Vec<String> = path
            .iter()
            .map(|n| self.graph[*n].address.to_string())
            .collect();
        let origins: BTreeSet<&str> = path
            .iter()
            .map(|n| self.graph[*n].origin.as_str())
            .collect();
        let first_origin = self.graph[start].origin.clone();
        Diagnostic::new(
            path_from_origin(&first_origin),
            format!("dependency cycle: {}", names.join(" -> ")),
        )
        .help(format!(
            "each of these must exist before the next; break the loop in one of: {}",
            origins.into_iter().collect::<Vec<_>>().join(", ")
        ))
    }

    pub fn node(&self, address: &Address) -> Option<&'a Resource> {
        self.index.get(address).map(|n| self.graph[*n])
    }

    /// Graphviz DOT, one cluster per account and region.
    pub fn dot(&self) -> String {
        let mut out = String::from(
            "digraph tether {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
        );
        for (i, (place, nodes)) in self.clusters().iter().enumerate() {
            let _ = writeln!(out, "  subgraph cluster_{i} {{\n    label=\"{place}\";");
            for r in nodes {
                let _ = writeln!(out, "    \"{}\" [label=\"{}\"];", r.address, label(r));
            }
            out.push_str("  }\n");
        }
        for e in self.sorted_edges() {
            let _ = writeln!(out, "  \"{}\" -> \"{}\";", e.0, e.1);
        }
        out.push_str("}\n");
        out
    }

    /// Mermaid flowchart (renders in pull requests), one subgraph per account and region.
    pub fn mermaid(&self) -> String {
        let ids: HashMap<&str, String> = self
            .graph
            .node_weights()
            .map(|r| r.address.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .enumerate()
            .map(|(i, a)| (a, format!("n{i}")))
            .collect();
        let mut out = String::from("flowchart LR\n");
        for (i, (place, nodes)) in self.clusters().iter().enumerate() {
            let _ = writeln!(out, "  subgraph s{i}[\"{place}\"]");
            for r in nodes {
                let _ = writeln!(
                    out,
                    "    {}[\"{}\"]",
                    ids[r.address.as_str()],
                    label(r).replace('"', "'")
                );
            }
            out.push_str("  end\n");
        }
        for (from, to) in self.sorted_edges() {
            let _ = writeln!(out, "  {} --> {}", ids[from.as_str()], ids[to.as_str()]);
        }
        out
    }

    fn clusters(&self) -> BTreeMap<String, Vec<&'a Resource>> {
        let mut clusters: BTreeMap<String, Vec<&Resource>> = BTreeMap::new();
        for r in self.graph.node_weights() {
            clusters
                .entry(format!("{} ({}) / {}", r.account, r.account_id, r.region))
                .or_default()
                .push(r);
        }
        for v in clusters.values_mut() {
            v.sort_by(|a, b| a.address.cmp(&b.address));
        }
        clusters
    }

    fn sorted_edges(&self) -> BTreeSet<(&'a Address, &'a Address)> {
        self.graph
            .edge_indices()
            .filter_map(|e| self.graph.edge_endpoints(e))
            .map(|(a, b)| (&self.graph[a].address, &self.graph[b].address))
            .collect()
    }
}

fn label(r: &Resource) -> String {
    let addr = r.address.as_str();
    // Drop the account/region prefix: the cluster shows it.
    addr.splitn(3, '/').nth(2).unwrap_or(addr).to_string()
}

/// Parses a rendered YAML path back (`pipelines.app-main.stages[0]`) to locate it.
pub fn path_from_origin(origin: &str) -> YamlPath {
    let mut p = YamlPath::root();
    for part in origin.split('.') {
        let (key, rest) = part.split_once('[').unwrap_or((part, ""));
        if !key.is_empty() {
            p = p.key(key);
        }
        for idx in rest.split('[') {
            if let Ok(i) = idx.trim_end_matches(']').parse::<usize>() {
                p = p.index(i);
            }
        }
    }
    p
}
