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
        out.push_str(&self.summary());
        out
    }

    /// The last lines of the text report: the count, and from [`SUMMARY_FROM`] errors on,
    /// a count per kind of error (most frequent first), so that a reader who sees only
    /// the end of a long report knows what all of it is about.
    pub fn summary(&self) -> String {
        let n = self.errors.len();
        let plural = if n == 1 { "" } else { "s" };
        if n < SUMMARY_FROM {
            return format!("{}: {n} error{plural}\n", self.file);
        }
        // Kinds in order of first appearance, each with its count and slot values.
        let mut kinds: Vec<Kind> = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = Default::default();
        for d in &self.errors {
            let (key, slots) = template(&d.message);
            match index.get(&key) {
                Some(&i) => {
                    let k = &mut kinds[i];
                    k.count += 1;
                    for (common, value) in k.slots.iter_mut().zip(slots) {
                        if common.as_deref() != Some(value.as_str()) {
                            *common = None;
                        }
                    }
                }
                None => {
                    index.insert(key.clone(), kinds.len());
                    kinds.push(Kind {
                        key,
                        count: 1,
                        slots: slots.into_iter().map(Some).collect(),
                    });
                }
            }
        }
        // Stable: equal counts keep the order of first appearance in the file.
        kinds.sort_by_key(|k| std::cmp::Reverse(k.count));
        let width = kinds[0].count.to_string().len();
        let mut out = format!(
            "{}: {n} error{plural} of {} kind{}\n",
            self.file,
            kinds.len(),
            if kinds.len() == 1 { "" } else { "s" }
        );
        for k in kinds.iter().take(SUMMARY_KINDS) {
            out.push_str(&format!("  {:>width$} × {}\n", k.count, k.render()));
        }
        if kinds.len() > SUMMARY_KINDS {
            let rest = &kinds[SUMMARY_KINDS..];
            out.push_str(&format!(
                "  {:>width$} × ({} other kinds)\n",
                rest.iter().map(|k| k.count).sum::<usize>(),
                rest.len()
            ));
        }
        out
    }
}

/// From this many errors on, the text report ends with a count per kind of error. An
/// error takes two or three lines, so eight fill a 24-line terminal: from there on the
/// first errors scroll away, and the end of the report is what a reader sees (and what
/// CI logs show folded). Fewer errors are all on one screen, where a breakdown would
/// only repeat them; their last line stays `file: N errors`.
pub const SUMMARY_FROM: usize = 8;

/// Kinds listed one per line in the summary; the rarer ones are counted together, so
/// the summary itself stays on one screen.
const SUMMARY_KINDS: usize = 10;

/// Stands for a slot in a template key; never in a message.
const SLOT: char = '\u{0}';

/// A kind of error in the summary: a message template, its count, and the value each
/// slot has in every error of the kind (`None` when they differ).
struct Kind {
    key: String,
    count: usize,
    slots: Vec<Option<String>>,
}

impl Kind {
    /// The template with the values all its errors share, and `…` where they differ:
    /// `unknown key `nmae` in `…``.
    fn render(&self) -> String {
        let mut slots = self.slots.iter();
        self.key
            .chars()
            .map(|c| match c {
                SLOT => slots
                    .next()
                    .and_then(|s| s.clone())
                    .unwrap_or_else(|| "…".to_string()),
                c => c.to_string(),
            })
            .collect()
    }
}

/// The template of a message and the values of its slots. Messages quote what varies
/// (names, keys, values) in backticks, serde quotes values in double quotes, and
/// numbers (counts, account ids, offsets) stand alone; those are the slots. Grouping by
/// template keeps one kind per kind of mistake however many entries make it, while
/// digits inside words (`S3`, `eu-west-1`, `UTF-8`) stay literal.
fn template(message: &str) -> (String, Vec<String>) {
    let chars: Vec<char> = message.chars().collect();
    let word = |c: char| c.is_alphanumeric() || c == '-' || c == '_';
    let mut key = String::new();
    let mut slots = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '`' || c == '"' {
            if let Some(len) = chars[i + 1..].iter().position(|x| *x == c) {
                slots.push(chars[i + 1..i + 1 + len].iter().collect());
                key.extend([c, SLOT, c]);
                i += len + 2;
                continue;
            }
        }
        let starts_number =
            c.is_ascii_digit() && (i == 0 || !(word(chars[i - 1]) || chars[i - 1] == '.'));
        if starts_number {
            let len = chars[i..].iter().take_while(|x| x.is_ascii_digit()).count();
            if chars.get(i + len).is_none_or(|x| !word(*x)) {
                slots.push(chars[i..i + len].iter().collect());
                key.push(SLOT);
                i += len;
                continue;
            }
        }
        key.push(if c == SLOT { ' ' } else { c });
        i += 1;
    }
    (key, slots)
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
    fn templates_keep_the_words_and_slot_what_varies() {
        let (k1, s1) = template("unknown key `nmae` in `pipelines.p1`");
        let (k2, _) = template("unknown key `acount` in `buckets.b`");
        assert_eq!(k1, k2);
        assert_eq!(s1, vec!["nmae", "pipelines.p1"]);
        let (k, s) = template("account id 111111111111 is already used by `accounts.a`");
        assert_eq!(s, vec!["111111111111", "accounts.a"]);
        assert!(k.starts_with("account id \u{0} is"), "{k:?}");
        // Digits inside words are part of the words.
        let (k, s) = template("bucket is in eu-west-1, but S3 needs UTF-8 at 16 MiB");
        assert_eq!(s, vec!["16"]);
        assert!(k.contains("eu-west-1") && k.contains("S3") && k.contains("UTF-8"));
        let (_, s) = template(r#"invalid type: string "x", expected a list"#);
        assert_eq!(s, vec!["x"]);
        // An unmatched quote is a character like any other.
        assert_eq!(template("a ` b").0, "a ` b");
    }

    fn many(messages: &[(&str, usize)]) -> Diagnostics {
        let mut d = Diagnostics::new("t.yaml");
        for (m, n) in messages {
            for i in 0..*n {
                d.error(YamlPath::keys(&["pipelines", &format!("p{i}")]), *m);
            }
        }
        d
    }

    #[test]
    fn few_errors_end_with_a_count_only() {
        let d = many(&[("unknown key `nmae` in `x`", SUMMARY_FROM - 1)]);
        assert!(d
            .render()
            .ends_with("\n    at pipelines.p6\nt.yaml: 7 errors\n"));
        assert_eq!(many(&[("x", 1)]).summary(), "t.yaml: 1 error\n");
    }

    #[test]
    fn many_errors_end_with_a_count_per_kind() {
        let d = many(&[
            ("missing field `account`", 10),
            ("unknown key `nmae` in `pipelines.p`", 20),
        ]);
        let mut d2 = d.clone();
        d2.error(YamlPath::root(), "unknown key `versoin` in the top level");
        assert_eq!(
            d2.summary(),
            "t.yaml: 31 errors of 3 kinds\n  20 × unknown key `nmae` in `pipelines.p`\n  10 × missing field `account`\n   1 × unknown key `versoin` in the top level\n"
        );
        // Values that differ within a kind become `…`.
        let mut d3 = d.clone();
        d3.error(YamlPath::root(), "unknown key `nmae` in `buckets.b`");
        assert!(
            d3.summary().contains("  21 × unknown key `nmae` in `…`\n"),
            "{}",
            d3.summary()
        );
        // Past ten kinds, the rarest are counted together.
        let msgs: Vec<String> = (0..13)
            .map(|i| format!("problem {}", "x".repeat(i + 1)))
            .collect();
        let spec: Vec<(&str, usize)> = msgs.iter().map(|m| (m.as_str(), 1)).collect();
        let s = many(&spec).summary();
        assert_eq!(s.lines().count(), 1 + 10 + 1, "{s}");
        assert!(s.ends_with("  3 × (3 other kinds)\n"), "{s}");
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
