//! tether: a declarative reconciler for cross-account, cross-region AWS delivery plumbing.
//!
//! The pure core runs in this order: [`loader`] (bytes → raw types), [`validate`]
//! (raw → [`model`]), [`expand`] (model → desired resources) and [`graph`] (ordering).
//! [`check`] runs all of them and returns located diagnostics on failure.

pub mod diag;
pub mod eval;
pub mod expand;
pub mod external;
pub mod flows;
pub mod graph;
pub mod loader;
pub mod marker;
pub mod model;
pub mod names;
pub mod plan;
pub mod raw;
pub mod reconcile;
pub mod region;
pub mod resource;
pub mod state;
pub mod validate;

use diag::Diagnostics;
use expand::Expansion;
use loader::Loaded;
use model::Topology;

/// A topology that passed every offline check, with its expansion.
#[derive(Debug)]
pub struct Checked {
    pub source: Source,
    pub topology: Topology,
    pub expansion: Expansion,
}

/// Where a checked topology came from: enough to locate later problems in the file.
///
/// The raw types and the node tree are dropped once validated (the model holds what is
/// needed; at 2,000 pipelines they are tens of MiB): problems found later re-parse the
/// text, which happens only on that error path.
#[derive(Debug)]
pub struct Source {
    pub file: String,
    pub sha256: String,
    pub text: String,
}

impl Source {
    pub fn diagnostics(&self, problems: Vec<diag::Diagnostic>) -> Diagnostics {
        let doc = loader::node::parse(&self.text).ok().flatten();
        let mut d = Diagnostics::new(&self.file);
        d.errors = problems;
        d.locate(|p, at_key| {
            let doc = doc.as_ref()?;
            at_key
                .then(|| doc.locate_key(p))
                .flatten()
                .or_else(|| Some(doc.locate(p)))
        });
        d
    }
}

/// Validates, expands and orders a loaded topology; every problem comes back located.
pub fn check(loaded: Loaded) -> Result<Checked, Diagnostics> {
    let topology = match validate::validate(&loaded) {
        Ok(t) => t,
        Err(problems) => return Err(loaded.diagnostics(problems)),
    };
    // Free the node tree and raw types now, before expansion allocates its own.
    let Loaded {
        file,
        sha256,
        text,
        doc,
        raw,
        broken,
        problems,
    } = loaded;
    drop((doc, raw, broken, problems));
    let source = Source { file, sha256, text };
    let loaded = &source;
    let expansion = match expand::expand(&topology) {
        Ok(e) => e,
        Err(problems) => return Err(loaded.diagnostics(problems)),
    };
    let graph = graph::Graph::build(&expansion).map_err(|p| loaded.diagnostics(p))?;
    graph.order().map_err(|p| loaded.diagnostics(p))?;
    drop(graph);
    Ok(Checked {
        source,
        topology,
        expansion,
    })
}

/// Fixtures shared by the unit tests of several modules.
#[cfg(test)]
pub(crate) mod fixtures {
    /// The expansion of `docs/examples/flow1-upload-trigger.yaml`.
    pub fn flow1() -> crate::expand::Expansion {
        let text = include_str!("../docs/examples/flow1-upload-trigger.yaml");
        crate::check_bytes(text.as_bytes(), "flow1.yaml")
            .expect("flow 1 is valid")
            .expansion
    }
}

/// Loads and checks a topology file.
pub fn check_file(path: &std::path::Path) -> Result<Checked, Diagnostics> {
    check(loader::load_file(path)?)
}

/// Loads and checks a topology from bytes (`file` names it in diagnostics).
pub fn check_bytes(bytes: &[u8], file: &str) -> Result<Checked, Diagnostics> {
    check(loader::load_bytes(bytes, file)?)
}
pub mod apply;
pub mod aws;
