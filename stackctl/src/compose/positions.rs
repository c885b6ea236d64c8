//! Where each key of a Compose file was written: a map from key paths
//! (`services.api.ports[0]`) to line numbers, read from the YAML event stream,
//! so every error can name the line even after merge keys were applied.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A path to a key or list item, such as `services.api.ports[0]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct KeyPath(pub Vec<Segment>);

impl KeyPath {
    pub fn root() -> Self {
        KeyPath(Vec::new())
    }

    /// This path extended by a mapping key.
    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.into()));
        KeyPath(segments)
    }

    /// This path extended by a list index.
    pub fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        KeyPath(segments)
    }

    /// The service this path is under, if it is under `services.NAME`.
    pub fn service(&self) -> Option<&str> {
        match self.0.as_slice() {
            [Segment::Key(top), Segment::Key(name), ..] if top == "services" => Some(name),
            _ => None,
        }
    }

    /// The path with the last segment removed.
    pub fn parent(&self) -> Option<Self> {
        let (_, parent) = self.0.split_last()?;
        Some(KeyPath(parent.to_vec()))
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// The line of every key and list item in one YAML document.
#[derive(Debug, Default)]
pub struct Positions {
    lines: HashMap<KeyPath, usize>,
}

impl Positions {
    /// Indexes a document. A document that does not parse yields an empty
    /// index; the YAML parser proper reports the syntax error.
    pub fn index(text: &str) -> Self {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut builder, false).is_err() {
            return Positions::default();
        }
        Positions {
            lines: builder.lines,
        }
    }

    /// The line of `path`, or of its nearest ancestor that was written out
    /// (a key that came in through a merge key has no line of its own).
    pub fn line_of(&self, path: &KeyPath) -> Option<usize> {
        let mut current = Some(path.clone());
        while let Some(p) = current {
            if let Some(line) = self.lines.get(&p) {
                return Some(*line);
            }
            current = p.parent();
        }
        None
    }
}

enum Frame {
    Mapping {
        path: KeyPath,
        /// The key whose value comes next; `None` while a key is expected.
        pending_key: Option<String>,
    },
    Sequence {
        path: KeyPath,
        next_index: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    lines: HashMap<KeyPath, usize>,
}

impl Builder {
    /// Called for every node that starts: returns the path of the node when it
    /// is a value (and records the line), or `None` when it is a mapping key.
    fn node_starts(&mut self, scalar: Option<&str>, line: usize) -> Option<KeyPath> {
        match self.stack.last_mut() {
            None => Some(KeyPath::root()),
            Some(Frame::Sequence { path, next_index }) => {
                let item = path.index(*next_index);
                *next_index += 1;
                self.lines.insert(item.clone(), line);
                // A name in a list (`depends_on: [db]`) is also found as the key it
                // becomes in the long form (`depends_on.db`).
                if let Some(name) = scalar {
                    self.lines.entry(path.key(name)).or_insert(line);
                }
                Some(item)
            }
            Some(Frame::Mapping { path, pending_key }) => match pending_key.take() {
                Some(key) => Some(path.key(key)),
                None => {
                    // A key: remember it and where it was written. Complex
                    // (non-scalar) keys do not occur in Compose files.
                    let key = scalar.unwrap_or_default().to_owned();
                    self.lines.insert(path.key(key.clone()), line);
                    *pending_key = Some(key);
                    None
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let line = mark.line();
        match event {
            Event::Scalar(value, ..) => {
                self.node_starts(Some(&value), line);
            }
            Event::Alias(_) => {
                self.node_starts(None, line);
            }
            Event::MappingStart(..) => {
                let path = self.node_starts(None, line).unwrap_or_default();
                self.stack.push(Frame::Mapping {
                    path,
                    pending_key: None,
                });
            }
            Event::SequenceStart(..) => {
                let path = self.node_starts(None, line).unwrap_or_default();
                self.stack.push(Frame::Sequence {
                    path,
                    next_index: 0,
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_items_are_found_on_their_lines() {
        let text = "services:\n  api:\n    image: x\n    ports:\n      - \"80:80\"\n      - 443\n";
        let positions = Positions::index(text);
        let api = KeyPath::root().key("services").key("api");
        assert_eq!(positions.line_of(&api), Some(2));
        assert_eq!(positions.line_of(&api.key("image")), Some(3));
        assert_eq!(positions.line_of(&api.key("ports").index(1)), Some(6));
        assert_eq!(
            positions.line_of(&api.key("ports").key("443")),
            Some(6),
            "list names are keys too"
        );
    }

    #[test]
    fn a_merged_key_falls_back_to_its_nearest_written_ancestor() {
        let text =
            "x-base: &base\n  read_only: true\nservices:\n  db:\n    <<: *base\n    image: y\n";
        let positions = Positions::index(text);
        let merged = KeyPath::root().key("services").key("db").key("read_only");
        assert_eq!(positions.line_of(&merged), Some(4));
    }

    #[test]
    fn paths_display_like_compose_keys() {
        let path = KeyPath::root()
            .key("services")
            .key("api")
            .key("ports")
            .index(0);
        assert_eq!(path.to_string(), "services.api.ports[0]");
        assert_eq!(path.service(), Some("api"));
    }
}
