//! Diagnostics: problems found in a topology, each with where it is and how to fix it.
//!
//! Every stage before expansion collects *all* of its problems into a [`Diagnostics`]
//! value instead of stopping at the first, so a user fixes a file in one pass.

use serde::Serialize;
use std::fmt;

/// One step of a YAML path: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path into the YAML document, rendered as `pipelines.app-main.stages[2].actions[0]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct YamlPath(pub Vec<Seg>);

impl YamlPath {
    pub fn root() -> Self {
        YamlPath(Vec::new())
    }

    /// A path made of plain keys, for example `YamlPath::keys(&["accounts", "app", "id"])`.
    pub fn keys(keys: &[&str]) -> Self {
        YamlPath(keys.iter().map(|k| Seg::Key((*k).to_string())).collect())
    }

    pub fn key(&self, k: impl Into<String>) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.into()));
        p
    }

    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
}

impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

impl Serialize for YamlPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A 1-based line and column in the topology file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// One problem: what is wrong, where, and (when we know) how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub message: String,
    pub path: YamlPath,
    /// Filled in by [`Diagnostics::locate`] from the loaded document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pos: Option<Pos>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The problem is the key at the end of `path`, not its value.
    #[serde(skip)]
    pub at_key: bool,
}

impl Diagnostic {
    pub fn new(path: YamlPath, message: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            path,
            pos: None,
            help: None,
            at_key: false,
        }
    }

    /// Points the diagnostic at the key that ends its path rather than at the value.
    pub fn at_key(mut self) -> Self {
        self.at_key = true;
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// An ordered collection of problems found in one file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Diagnostics {
    pub file: String,
    pub errors: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new(file: impl Into<String>) -> Self {
        Diagnostics {
            file: file.into(),
            errors: Vec::new(),
        }
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.errors.push(d);
    }

    pub fn error(&mut self, path: YamlPath, message: impl Into<String>) {
        self.push(Diagnostic::new(path, message));
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Fills in positions with `locate` and sorts problems by where they are in the file,
    /// so the report reads top to bottom.
    pub fn locate(&mut self, locate: impl Fn(&YamlPath, bool) -> Option<Pos>) {
        for d in &mut self.errors {
            if d.pos.is_none() {
                d.pos = locate(&d.path, d.at_key);
            }
        }
        self.errors
            .sort_by(|a, b| (a.pos, &a.path, &a.message).cmp(&(b.pos, &b.path, &b.message)));
        self.errors.dedup();
    }

    /// Renders as `file:line:col: error: message (at path)` lines, the form editors and CI
    /// annotate, with an indented `help:` line when there is one.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.errors {
            let (line, col) = d.pos.map(|p| (p.line, p.column)).unwrap_or((1, 1));
            out.push_str(&format!(
                "{}:{}:{}: error: {}\n    at {}\n",
                self.file, line, col, d.message, d.path
            ));
            if let Some(h) = &d.help {
                out.push_str(&format!("    help: {h}\n"));
            }
        }
        let n = self.errors.len();
        out.push_str(&format!(
            "{}: {} error{}\n",
            self.file,
            n,
            if n == 1 { "" } else { "s" }
        ));
        out
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for Diagnostics {}

/// The closest of `candidates` to `word`, when it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// A `help:` text suggesting the closest candidate, or listing them when none is close.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str> + Clone) -> String {
    match closest(word, candidates.clone()) {
        Some(c) => format!("did you mean `{c}`?"),
        None => {
            let all: Vec<&str> = candidates.into_iter().collect();
            if all.is_empty() {
                "none are defined".to_string()
            } else {
                format!("expected one of: {}", all.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_like_the_docs() {
        let p = YamlPath::keys(&["pipelines", "app-main", "stages"])
            .index(2)
            .key("actions")
            .index(0)
            .key("cloudformation");
        assert_eq!(
            p.to_string(),
            "pipelines.app-main.stages[2].actions[0].cloudformation"
        );
    }

    #[test]
    fn suggestions_pick_the_nearest_word() {
        assert_eq!(
            closest("acounts", ["accounts", "buckets", "roles"]),
            Some("accounts")
        );
        assert_eq!(closest("zzz", ["accounts", "buckets"]), None);
        assert_eq!(suggest("zzz", ["a1", "b2"]), "expected one of: a1, b2");
    }
}
