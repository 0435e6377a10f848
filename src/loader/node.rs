//! A YAML document as a tree of nodes that remember where they are in the file.
//!
//! serde_yaml forgets positions once a value is built, and validation must point at a
//! line and column for every problem, so the loader first builds this tree from
//! yaml-rust2's marked events. The builder is iterative and bounded (depth, node count)
//! so hostile input cannot overflow the stack or expand an alias bomb.

use crate::diag::{Pos, Seg, YamlPath};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deeper nesting than this is refused: no topology needs it, and it bounds recursion later.
pub const MAX_DEPTH: usize = 64;
/// Nodes after alias expansion; bounds memory on alias bombs. A generated topology of
/// 2,000 pipelines has about 150,000 nodes.
pub const MAX_NODES: usize = 4_000_000;

#[derive(Debug, Clone)]
pub struct Node {
    pub pos: Pos,
    pub kind: NodeKind,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    /// A scalar and whether it was written plain (unquoted), which decides whether
    /// `123` is a number or a string.
    Scalar {
        value: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Entries in file order; keys are scalars (their position kept for diagnostics).
    Map(Vec<(String, Pos, Node)>),
}

/// Why a file could not be read as one YAML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

fn pos(m: &Marker) -> Pos {
    // yaml-rust2 counts lines from 1 and columns from 0.
    Pos {
        line: m.line(),
        column: m.col() + 1,
    }
}

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<(String, Pos, Node)>,
        pending_key: Option<(String, Pos)>,
    },
}

/// Parses `text` into one document tree. An empty document (or one holding only
/// comments) gives `Ok(None)`.
pub fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut documents = 0usize;
    let mut nodes = 0usize;

    loop {
        let (event, marker) = parser.next_token().map_err(|e| SyntaxError {
            pos: pos(e.marker()),
            message: e.info().to_string(),
        })?;
        let here = pos(&marker);
        let finished: Option<(Node, usize)> = match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => None,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(SyntaxError {
                        pos: here,
                        message: "the file holds more than one YAML document; a topology is a single document".into(),
                    });
                }
                None
            }
            Event::Scalar(value, style, anchor, tag) => {
                if let Some(tag) = tag {
                    return Err(SyntaxError {
                        pos: here,
                        message: format!(
                            "YAML tags are not supported (found `{}{}`); write the plain value",
                            tag.handle, tag.suffix
                        ),
                    });
                }
                Some((
                    Node {
                        pos: here,
                        kind: NodeKind::Scalar {
                            value,
                            plain: style == TScalarStyle::Plain,
                        },
                    },
                    anchor,
                ))
            }
            Event::SequenceStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(too_deep(here));
                }
                stack.push(Frame::Seq {
                    pos: here,
                    anchor,
                    items: Vec::new(),
                });
                None
            }
            Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(too_deep(here));
                }
                stack.push(Frame::Map {
                    pos: here,
                    anchor,
                    entries: Vec::new(),
                    pending_key: None,
                });
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq { pos, anchor, items }) => Some((
                    Node {
                        pos,
                        kind: NodeKind::Seq(items),
                    },
                    anchor,
                )),
                _ => unreachable!("the YAML parser balances sequence events"),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    pos,
                    anchor,
                    entries,
                    ..
                }) => Some((
                    Node {
                        pos,
                        kind: NodeKind::Map(entries),
                    },
                    anchor,
                )),
                _ => unreachable!("the YAML parser balances mapping events"),
            },
            Event::Alias(id) => {
                let Some(target) = anchors.get(&id) else {
                    return Err(SyntaxError {
                        pos: here,
                        message: "alias refers to an unknown anchor".into(),
                    });
                };
                nodes += count(target);
                if nodes > MAX_NODES {
                    return Err(too_big(here));
                }
                let mut copy = target.clone();
                copy.pos = here;
                Some((copy, 0))
            }
        };

        let Some((node, anchor)) = finished else {
            continue;
        };
        nodes += 1;
        if nodes > MAX_NODES {
            return Err(too_big(here));
        }
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => match node.kind {
                    NodeKind::Scalar { value, .. } => *pending_key = Some((value, node.pos)),
                    _ => {
                        return Err(SyntaxError {
                            pos: node.pos,
                            message: "mapping keys must be plain scalars".into(),
                        })
                    }
                },
                Some((key, key_pos)) => {
                    if entries.iter().any(|(k, _, _)| *k == key) {
                        return Err(SyntaxError {
                            pos: key_pos,
                            message: format!("duplicate key `{key}` in the same mapping"),
                        });
                    }
                    entries.push((key, key_pos, node));
                }
            },
        }
    }
    Ok(root)
}

fn too_deep(pos: Pos) -> SyntaxError {
    SyntaxError {
        pos,
        message: format!("nesting deeper than {MAX_DEPTH} levels; a topology is never this deep"),
    }
}

fn too_big(pos: Pos) -> SyntaxError {
    SyntaxError {
        pos,
        message: format!(
            "the document expands to more than {MAX_NODES} nodes (are aliases repeating a large anchor?)"
        ),
    }
}

fn count(node: &Node) -> usize {
    // Iterative: an anchored subtree may be as deep as MAX_DEPTH, never deeper.
    let mut n = 0;
    let mut todo = vec![node];
    while let Some(x) = todo.pop() {
        n += 1;
        match &x.kind {
            NodeKind::Scalar { .. } => {}
            NodeKind::Seq(items) => todo.extend(items),
            NodeKind::Map(entries) => todo.extend(entries.iter().map(|(_, _, v)| v)),
        }
    }
    n
}

impl Node {
    /// The position of what `path` names: the value for a full match, otherwise the
    /// deepest node on the way (a missing key is reported where its mapping is).
    pub fn locate(&self, path: &YamlPath) -> Pos {
        let mut here = self;
        for seg in &path.0 {
            let next = match (seg, &here.kind) {
                (Seg::Key(k), NodeKind::Map(entries)) => entries
                    .iter()
                    .find(|(key, _, _)| key == k)
                    .map(|(_, _, v)| v),
                (Seg::Index(i), NodeKind::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => here = n,
                None => break,
            }
        }
        here.pos
    }

    /// The position of the key itself at the end of `path`, when it exists.
    pub fn locate_key(&self, path: &YamlPath) -> Option<Pos> {
        let (last, parent) = path.0.split_last()?;
        let parent_path = YamlPath(parent.to_vec());
        let mut here = self;
        for seg in &parent_path.0 {
            here = match (seg, &here.kind) {
                (Seg::Key(k), NodeKind::Map(entries)) => {
                    &entries.iter().find(|(key, _, _)| key == k)?.2
                }
                (Seg::Index(i), NodeKind::Seq(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        match (last, &here.kind) {
            (Seg::Key(k), NodeKind::Map(entries)) => entries
                .iter()
                .find(|(key, _, _)| key == k)
                .map(|(_, p, _)| *p),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let doc = parse("a:\n  b: [1, 2]\n").unwrap().unwrap();
        assert_eq!(
            doc.locate(&YamlPath::keys(&["a", "b"]).index(1)),
            Pos {
                line: 2,
                column: 10
            }
        );
        assert_eq!(
            doc.locate_key(&YamlPath::keys(&["a", "b"])),
            Some(Pos { line: 2, column: 3 })
        );
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 3, column: 1 });
        assert!(e.message.contains("duplicate key `a`"), "{}", e.message);
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        // yaml-rust2 refuses very deep input itself; our own limit catches the rest.
        let e = parse(&"[".repeat(100_000)).unwrap_err();
        assert!(e.message.contains("recursion limit"), "{}", e.message);
        let e = parse(&format!("{}1{}", "[".repeat(70), "]".repeat(70))).unwrap_err();
        assert!(
            e.message.contains("nesting deeper than 64"),
            "{}",
            e.message
        );
    }

    #[test]
    fn alias_bombs_are_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("expands to more than"), "{}", e.message);
    }

    #[test]
    fn empty_documents_are_none() {
        assert!(parse("").unwrap().is_none());
        assert!(parse("# only a comment\n").unwrap().is_none());
    }

    #[test]
    fn several_documents_are_refused() {
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
    }
}
