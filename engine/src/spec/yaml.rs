//! YAML to a node tree that remembers where every key and value came from.
//!
//! serde-based YAML crates drop positions once a value is built, but semantic errors (a split
//! that does not sum to 100, a reference to an unknown service) must point at the right line. So
//! the spec is parsed from yaml-rust2's event stream into [`Node`]s carrying byte spans, then
//! converted to `serde_json::Value` for typed decoding; the node tree is kept to map a value path
//! back to its span when a diagnostic needs one.
//!
//! Every parse enforces two limits (docs/spec.md#limits), so a hostile file cannot overflow the
//! stack or use up memory: lists and maps nest at most [`MAX_DEPTH`] levels, and anchors and
//! aliases copy at most [`MAX_COPIED_VALUES`] values and [`MAX_COPIED_BYTES`] of text (or as
//! many as the file is long, when that is more). The event stream is read in a loop rather than
//! with yaml-rust2's recursive `Parser::load`, and the tree is built with an explicit stack, so
//! nothing here recurses on the input's depth.

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

pub use crate::source::Span;

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in source order; keys are always strings (the spec has no complex keys).
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

/// How deep lists and maps may nest. Every tree strata builds from a spec (the JSON document,
/// the span tree, overlays, resource attributes, state, saved plans) is at most this deep, so
/// the functions that walk them recursively stay far from the end of the stack, and state and
/// plan files stay below serde_json's recursion limit (128) when strata reads them back.
pub const MAX_DEPTH: usize = 100;

/// How many values (scalars, lists and maps, keys included) anchors and aliases may copy in one
/// document, unless the file is longer than this in bytes (then: its length).
pub const MAX_COPIED_VALUES: usize = 100_000;

/// How much text (keys and scalars) anchors and aliases may copy in one document, unless the
/// file is longer (then: its length).
pub const MAX_COPIED_BYTES: usize = 16 << 20;

/// Which limit a document exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Lists and maps nested deeper than [`MAX_DEPTH`].
    Depth,
    /// Anchors and aliases copying more than [`MAX_COPIED_VALUES`] values or
    /// [`MAX_COPIED_BYTES`] of text.
    Aliases,
}

/// A YAML syntax problem, or a structural one the spec does not accept.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub message: String,
    pub span: Span,
    /// A problem with one node (a duplicate key, an unknown alias) rather than the syntax:
    /// parsing can continue and report more.
    pub recoverable: bool,
    /// Set when parsing stopped at one of the limits rather than at a syntax error.
    pub limit: Option<Limit>,
}

impl Node {
    /// The node at a path of map keys and sequence indexes.
    pub fn get_path(&self, path: &[String]) -> Option<&Node> {
        let mut cur = self;
        for seg in path {
            cur = cur.child(seg)?;
        }
        Some(cur)
    }

    fn child(&self, seg: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|(k, _)| k.name == seg).map(|(_, v)| v),
            NodeKind::Seq(items) => items.get(seg.parse::<usize>().ok()?),
            _ => None,
        }
    }

    /// The span of the key that introduces the node at `path`, if it is a map entry.
    pub fn key_span(&self, path: &[String]) -> Option<Span> {
        let (last, parent) = path.split_last()?;
        match &self.get_path(parent)?.kind {
            NodeKind::Map(entries) => entries.iter().find(|(k, _)| &k.name == last).map(|(k, _)| k.span),
            _ => None,
        }
    }

    /// Converts to JSON. Key order is preserved (serde_json's `preserve_order`).
    pub fn to_value(&self) -> Value {
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::Number((*i).into()),
            NodeKind::Float(f) => Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
            NodeKind::Str(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            NodeKind::Map(entries) => {
                let mut m = Map::with_capacity(entries.len());
                for (k, v) in entries {
                    m.insert(k.name.clone(), v.to_value());
                }
                Value::Object(m)
            }
        }
    }
}

/// Parses one YAML document into the span tree. An empty document is an empty map.
///
/// Returns the tree and every recoverable problem found (duplicate keys, ...); a syntax error
/// stops parsing and is returned alone.
pub fn parse(source: &str) -> Result<(Node, Vec<YamlError>), YamlError> {
    let (root, errors) = parse_into::<Node>(source)?;
    let root = match root {
        None => Node { kind: NodeKind::Map(Vec::new()), span: Span::default() },
        Some(Node { kind: NodeKind::Null, span }) => Node { kind: NodeKind::Map(Vec::new()), span },
        Some(n) => n,
    };
    Ok((root, errors))
}

/// Parses one YAML document straight into JSON, with the same problems [`parse`] reports and
/// without building the span tree: loading needs positions only when it has something to
/// report, and at 100k resources the tree is as big as the document. Key order is preserved.
pub fn parse_value(source: &str) -> Result<(Value, Vec<YamlError>), YamlError> {
    let (root, errors) = parse_into::<Value>(source)?;
    let root = match root {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v) => v,
    };
    Ok((root, errors))
}

fn parse_into<T: Tree>(source: &str) -> Result<(Option<T>, Vec<YamlError>), YamlError> {
    let lines = LineIndex::new(source);
    let mut builder: Builder<'_, T> = Builder {
        lines: &lines,
        stack: Vec::new(),
        root: None,
        anchors: Vec::new(),
        errors: Vec::new(),
        fatal: None,
        copied: Cost::default(),
        max_copied_values: MAX_COPIED_VALUES.max(source.len()),
        max_copied_bytes: MAX_COPIED_BYTES.max(source.len()),
    };
    // The first document only, as `Parser::load(.., false)` would read it, but in a loop: `load`
    // recurses once per nesting level and overflows the stack on a deep enough file.
    let mut parser = Parser::new_from_str(source);
    loop {
        let (ev, mark) = match parser.next_token() {
            Ok(next) => next,
            Err(e) => {
                let offset = lines.offset(e.marker());
                // The scanner's own limit on flow nesting (`[[[...`, 255 levels): the same problem
                // as ours, reported the same way.
                let limit = (e.info() == "recursion limit exceeded").then_some(Limit::Depth);
                return Err(YamlError {
                    message: if limit.is_some() { depth_message() } else { e.info().to_string() },
                    span: Span { offset, len: usize::from(offset < source.len()) },
                    recoverable: false,
                    limit,
                });
            }
        };
        let last = matches!(ev, Event::DocumentEnd | Event::StreamEnd);
        builder.on_event(ev, mark);
        if let Some(e) = builder.fatal.take() {
            return Err(e);
        }
        if last {
            break;
        }
    }
    Ok((builder.root, builder.errors))
}

/// `100000` as `100,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn depth_message() -> String {
    format!("lists and maps are nested more than {MAX_DEPTH} levels deep here")
}

/// What a finished node holds: values (itself, and every key and value under it), text bytes
/// (keys and scalars), and depth (levels of lists and maps, 0 for a scalar). An alias copies
/// its anchor's cost.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    values: usize,
    bytes: usize,
    depth: usize,
}

impl Cost {
    fn add(&mut self, child: Cost) {
        self.values = self.values.saturating_add(child.values);
        self.bytes = self.bytes.saturating_add(child.bytes);
        self.depth = self.depth.max(child.depth + 1);
    }
}

/// What the event builder produces: the span tree ([`Node`]) or plain JSON ([`Value`]). Both
/// come out of the same builder, so the two always agree on structure (a path that finds a
/// value in the JSON finds its span in the tree).
trait Tree: Clone + Sized {
    fn scalar(kind: NodeKind, span: Span) -> Self;
    fn seq(items: Vec<Self>, span: Span) -> Self;
    fn map(entries: Vec<(Key, Self)>, span: Span) -> Self;
    /// The node an alias copies, placed at the alias.
    fn at_alias(self, span: Span) -> Self;
    /// The text of a scalar used as a map key; `None` for a sequence or map.
    fn into_key_name(self) -> Option<String>;
}

impl Tree for Node {
    fn scalar(kind: NodeKind, span: Span) -> Self {
        Node { kind, span }
    }
    fn seq(items: Vec<Self>, span: Span) -> Self {
        Node { kind: NodeKind::Seq(items), span }
    }
    fn map(entries: Vec<(Key, Self)>, span: Span) -> Self {
        Node { kind: NodeKind::Map(entries), span }
    }
    fn at_alias(mut self, span: Span) -> Self {
        self.span = span;
        self
    }
    fn into_key_name(self) -> Option<String> {
        scalar_key_name(self.kind)
    }
}

impl Tree for Value {
    fn scalar(kind: NodeKind, _: Span) -> Self {
        match kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(b),
            NodeKind::Int(i) => Value::Number(i.into()),
            NodeKind::Float(f) => Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null),
            NodeKind::Str(s) => Value::String(s),
            NodeKind::Seq(_) | NodeKind::Map(_) => unreachable!("scalars only"),
        }
    }
    fn seq(items: Vec<Self>, _: Span) -> Self {
        Value::Array(items)
    }
    fn map(entries: Vec<(Key, Self)>, _: Span) -> Self {
        let mut m = Map::with_capacity(entries.len());
        for (k, v) in entries {
            m.insert(k.name, v);
        }
        Value::Object(m)
    }
    fn at_alias(self, _: Span) -> Self {
        self
    }
    fn into_key_name(self) -> Option<String> {
        match self {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(match n.as_i64() {
                Some(i) => i.to_string(),
                None => n.as_f64().map_or_else(|| n.to_string(), |f| f.to_string()),
            }),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null => Some("null".to_string()),
            Value::Array(_) | Value::Object(_) => None,
        }
    }
}

fn scalar_key_name(kind: NodeKind) -> Option<String> {
    match kind {
        NodeKind::Str(s) => Some(s),
        NodeKind::Int(i) => Some(i.to_string()),
        NodeKind::Bool(b) => Some(b.to_string()),
        NodeKind::Float(f) => Some(f.to_string()),
        NodeKind::Null => Some("null".to_string()),
        NodeKind::Seq(_) | NodeKind::Map(_) => None,
    }
}

/// Maps yaml-rust2 markers (line, column in characters) to byte offsets, so spans are right in
/// files with non-ASCII text.
struct LineIndex<'a> {
    source: &'a str,
    starts: Vec<usize>,
    /// The last marker converted (line, column, byte offset): events come in source order, so
    /// the next one is found by walking on from there rather than from the start of its line
    /// (which made a file of one long line quadratic).
    last: std::cell::Cell<(usize, usize, usize)>,
}

impl<'a> LineIndex<'a> {
    fn new(source: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { source, starts, last: std::cell::Cell::new((0, 0, 0)) }
    }

    /// The end of the line holding `offset` (its `\n`, or the end of the text).
    fn line_end(&self, offset: usize) -> usize {
        let next = self.starts.partition_point(|&s| s <= offset);
        self.starts.get(next).map_or(self.source.len(), |&s| s - 1)
    }

    fn offset(&self, m: &Marker) -> usize {
        let line = m.line().saturating_sub(1).min(self.starts.len() - 1);
        let (last_line, last_col, last_byte) = self.last.get();
        let (from_col, from) =
            if last_line == line && last_col <= m.col() { (last_col, last_byte) } else { (0, self.starts[line]) };
        let text = &self.source[from..];
        // Columns count characters; walk them to find the byte offset.
        let byte = text.char_indices().nth(m.col() - from_col).map_or(text.len(), |(i, _)| i);
        let offset = (from + byte).min(self.source.len());
        self.last.set((line, m.col(), offset));
        offset
    }
}

enum Frame<T> {
    Seq {
        start: usize,
        anchor: usize,
        items: Vec<T>,
        cost: Cost,
    },
    /// `pending_key`: the key just read, waiting for its value (its span, for diagnostics).
    Map {
        start: usize,
        anchor: usize,
        entries: Vec<(Key, T)>,
        pending_key: Option<(T, Span)>,
        cost: Cost,
    },
}

struct Builder<'a, T> {
    lines: &'a LineIndex<'a>,
    stack: Vec<Frame<T>>,
    root: Option<T>,
    /// Anchored nodes, with their cost, for the aliases that copy them.
    anchors: Vec<(usize, T, Cost)>,
    errors: Vec<YamlError>,
    /// A limit was exceeded: parsing stops with this error.
    fatal: Option<YamlError>,
    /// What anchors and aliases have copied so far.
    copied: Cost,
    max_copied_values: usize,
    max_copied_bytes: usize,
}

impl<T: Tree> Builder<'_, T> {
    /// Accounts for a copy of a node costing `cost` (an anchor keeps one, an alias makes one);
    /// false, with `fatal` set, when that goes over the limit.
    fn copy_allowed(&mut self, cost: Cost, span: Span) -> bool {
        self.copied.values = self.copied.values.saturating_add(cost.values);
        self.copied.bytes = self.copied.bytes.saturating_add(cost.bytes);
        if self.copied.values <= self.max_copied_values && self.copied.bytes <= self.max_copied_bytes {
            return true;
        }
        self.fatal = Some(YamlError {
            message: format!(
                "anchors and aliases copy more than {} values or {} MiB of text by this point",
                thousands(self.max_copied_values),
                thousands(self.max_copied_bytes >> 20)
            ),
            span,
            recoverable: false,
            limit: Some(Limit::Aliases),
        });
        false
    }

    fn push_node(&mut self, node: T, span: Span, anchor: usize, cost: Cost) {
        if anchor > 0 {
            if !self.copy_allowed(cost, span) {
                return;
            }
            self.anchors.push((anchor, node.clone(), cost));
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, cost: parent, .. }) => {
                parent.add(cost);
                items.push(node);
            }
            Some(Frame::Map { entries, pending_key, cost: parent, .. }) => match pending_key.take() {
                None => *pending_key = Some((node, span)),
                Some((key, key_span)) => {
                    let Some(name) = key.into_key_name() else {
                        self.errors.push(YamlError {
                            message: "a map key must be a plain string".into(),
                            span: key_span,
                            recoverable: true,
                            limit: None,
                        });
                        return;
                    };
                    if entries.iter().any(|(k, _)| k.name == name) {
                        self.errors.push(YamlError {
                            message: format!("the key `{name}` appears twice in the same map"),
                            span: key_span,
                            recoverable: true,
                            limit: None,
                        });
                        return;
                    }
                    // The key counts as one value (plus its text) next to the value.
                    parent.add(cost);
                    parent.add(Cost { values: 1, bytes: name.len(), depth: 0 });
                    entries.push((Key { name, span: key_span }, node));
                }
            },
        }
    }

    /// Opens a list or map; false, with `fatal` set, when it is one level too deep.
    fn depth_allowed(&mut self, offset: usize) -> bool {
        if self.stack.len() < MAX_DEPTH {
            return true;
        }
        self.fatal = Some(YamlError {
            message: depth_message(),
            span: Span { offset, len: usize::from(offset < self.lines.source.len()) },
            recoverable: false,
            limit: Some(Limit::Depth),
        });
        false
    }
}

impl<T: Tree> MarkedEventReceiver for Builder<'_, T> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let offset = self.lines.offset(&mark);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let line_end = self.lines.line_end(offset);
                let span = Span { offset, len: scalar_len(self.lines.source, offset, line_end, &text, style) };
                let cost = Cost { values: 1, bytes: text.len(), depth: 0 };
                let kind = resolve_scalar(text, style, tag.as_ref());
                self.push_node(T::scalar(kind, span), span, anchor, cost);
            }
            Event::SequenceStart(anchor, _) => {
                if self.depth_allowed(offset) {
                    let cost = Cost { values: 1, bytes: 0, depth: 1 };
                    self.stack.push(Frame::Seq { start: offset, anchor, items: Vec::new(), cost })
                }
            }
            Event::MappingStart(anchor, _) => {
                if self.depth_allowed(offset) {
                    let cost = Cost { values: 1, bytes: 0, depth: 1 };
                    self.stack.push(Frame::Map { start: offset, anchor, entries: Vec::new(), pending_key: None, cost })
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return;
                };
                // Exact capacity: the tree lives as long as the loaded spec, and growth slack
                // (a 2-entry map holds room for 4) adds up with 100k resources.
                let (items, entries, start, anchor, cost) = match frame {
                    Frame::Seq { start, anchor, mut items, cost } => {
                        items.shrink_to_fit();
                        (Some(items), None, start, anchor, cost)
                    }
                    Frame::Map { start, anchor, mut entries, cost, .. } => {
                        entries.shrink_to_fit();
                        // A block mapping's start event is marked after its first key (at the
                        // `:`); the map really starts at that key.
                        let start = entries.first().map_or(start, |(k, _)| k.span.offset.min(start));
                        (None, Some(entries), start, anchor, cost)
                    }
                };
                let span = Span { offset: start, len: offset.saturating_sub(start).max(1) };
                let node = match (items, entries) {
                    (Some(items), _) => T::seq(items, span),
                    (None, entries) => T::map(entries.unwrap_or_default(), span),
                };
                self.push_node(node, span, anchor, cost);
            }
            Event::Alias(id) => {
                let span = Span { offset, len: 1 };
                let Some(i) = self.anchors.iter().rposition(|(a, _, _)| *a == id) else {
                    self.errors.push(YamlError {
                        message: "this alias refers to an anchor that is not defined".into(),
                        span,
                        recoverable: true,
                        limit: None,
                    });
                    return;
                };
                let cost = self.anchors[i].2;
                // Check before copying: the copy is what would use up the memory.
                if self.stack.len() + cost.depth > MAX_DEPTH {
                    self.fatal = Some(YamlError {
                        message: depth_message(),
                        span,
                        recoverable: false,
                        limit: Some(Limit::Depth),
                    });
                    return;
                }
                if self.copy_allowed(cost, span) {
                    let n = self.anchors[i].1.clone();
                    self.push_node(n.at_alias(span), span, 0, cost);
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart | Event::DocumentEnd => {}
        }
    }
}

/// Length of a scalar in the source: exact for plain scalars, the quoted text plus quotes for
/// quoted ones, the first line for block scalars (labels only need to point at the start).
fn scalar_len(source: &str, offset: usize, line_end: usize, text: &str, style: TScalarStyle) -> usize {
    let offset = offset.min(source.len());
    // From the index, not by scanning: a scan to the end of the line for every scalar made a
    // file of one long line quadratic.
    let rest = &source[offset..line_end.max(offset)];
    let line_len = rest.len();
    let len = match style {
        TScalarStyle::Plain => text.len(),
        TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
            let quote = if style == TScalarStyle::SingleQuoted { '\'' } else { '"' };
            rest.char_indices().skip(1).find(|&(_, c)| c == quote).map_or(line_len, |(i, _)| i + 1)
        }
        _ => line_len,
    };
    len.clamp(1, line_len.max(1))
}

/// YAML 1.2 core schema resolution of plain scalars; quoted scalars are always strings.
fn resolve_scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> NodeKind {
    if let Some(tag) = tag
        && tag.suffix == "str"
    {
        return NodeKind::Str(text);
    }
    if style != TScalarStyle::Plain {
        return NodeKind::Str(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return NodeKind::Null,
        "true" | "True" | "TRUE" => return NodeKind::Bool(true),
        "false" | "False" | "FALSE" => return NodeKind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" => return NodeKind::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return NodeKind::Float(f64::NEG_INFINITY),
        _ => {}
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return NodeKind::Int(i);
    }
    if let Some(oct) = text.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return NodeKind::Int(i);
    }
    let looks_numeric = text.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'-' || b == b'+' || b == b'.');
    if looks_numeric {
        if let Ok(i) = text.parse::<i64>() {
            return NodeKind::Int(i);
        }
        let is_float_syntax = text.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
        if is_float_syntax && let Ok(f) = text.parse::<f64>() {
            return NodeKind::Float(f);
        }
    }
    NodeKind::Str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn block_maps_start_at_their_first_key() {
        let src = "a:\n  - name: x\n    v: 1\n";
        let (root, _) = parse(src).unwrap();
        let item = root.get_path(&p(&["a", "0"])).unwrap();
        assert_eq!(&src[item.span.offset..item.span.offset + 4], "name");
        assert_eq!(root.span.offset, 0);
    }

    #[test]
    fn keeps_spans_of_keys_and_values() {
        let src = "project: apex\nservices:\n  api: { port: 8080 }\n";
        let (root, errs) = parse(src).unwrap();
        assert!(errs.is_empty());
        let port = root.get_path(&p(&["services", "api", "port"])).unwrap();
        assert_eq!(&src[port.span.offset..port.span.offset + port.span.len], "8080");
        let key = root.key_span(&p(&["services", "api"])).unwrap();
        assert_eq!(&src[key.offset..key.offset + key.len], "api");
    }

    #[test]
    fn spans_are_bytes_even_after_non_ascii() {
        let src = "a: \"é日本\"\nb: value\n";
        let (root, _) = parse(src).unwrap();
        let b = root.get_path(&p(&["b"])).unwrap();
        assert_eq!(&src[b.span.offset..b.span.offset + b.span.len], "value");
        let a = root.get_path(&p(&["a"])).unwrap();
        assert_eq!(&src[a.span.offset..a.span.offset + a.span.len], "\"é日本\"");
    }

    #[test]
    fn resolves_core_schema_scalars() {
        let (root, _) = parse("a: 1\nb: 1.5\nc: true\nd: ~\ne: '1'\nf: 10%\ng: 0x10\n").unwrap();
        assert_eq!(
            root.to_value(),
            serde_json::json!({"a": 1, "b": 1.5, "c": true, "d": null, "e": "1", "f": "10%", "g": 16})
        );
    }

    #[test]
    fn duplicate_keys_are_reported() {
        let (_, errs) = parse("a: 1\na: 2\n").unwrap();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].message.contains("appears twice"));
        assert_eq!(errs[0].span.offset, 5);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(!err.recoverable);
        assert!(err.span.offset > 0);
    }

    #[test]
    fn anchors_and_aliases() {
        let (root, _) = parse("base: &b { x: 1 }\nother: *b\n").unwrap();
        assert_eq!(root.to_value()["other"], serde_json::json!({"x": 1}));
    }

    #[test]
    fn parse_value_builds_the_same_document_as_the_tree() {
        let docs = [
            "",
            "~\n",
            "a: 1\nb: [x, 'y', 2.5, true, ~]\nc: { d: { e: -3 } }\n1: one\n1.5: f\ntrue: t\n",
            "base: &b { x: 1, l: [1, 2] }\nother: *b\nlist: [*b, *b]\n",
            "a: 1\na: 2\nb: [{ c: 1, c: 2 }]\n",
            "s: |\n  multi\n  line\nq: \"é日本\"\n",
        ];
        for d in docs {
            let (tree, tree_errs) = parse(d).unwrap();
            let (value, value_errs) = parse_value(d).unwrap();
            assert_eq!(value, tree.to_value(), "{d:?}");
            assert_eq!(value_errs, tree_errs, "{d:?}");
        }
        assert_eq!(parse_value("a: [1, 2\n").unwrap_err(), parse("a: [1, 2\n").unwrap_err());
    }

    /// Both builders, which must agree.
    fn both(src: &str) -> Result<(), YamlError> {
        let tree = parse(src).map(|_| ());
        assert_eq!(tree, parse_value(src).map(|_| ()), "parse and parse_value disagree");
        tree
    }

    #[test]
    fn nesting_past_the_limit_is_an_error_not_a_stack_overflow() {
        let n = 20_000;
        for src in [
            format!("a: {}{}\n", "[".repeat(n), "]".repeat(n)),
            format!("a: {}1{}\n", "{a: ".repeat(n), "}".repeat(n)),
            format!("a:\n  {}x\n", "- ".repeat(n)),
            format!("a:\n  {}{}\n", "- ".repeat(n / 2), "[".repeat(n / 2)),
        ] {
            let e = both(&src).unwrap_err();
            assert_eq!(e.limit, Some(Limit::Depth), "{}", e.message);
            assert!(!e.recoverable);
            assert!(e.span.offset < 4 * MAX_DEPTH + 10, "{:?}", e.span);
        }
        // Exactly MAX_DEPTH levels (the top level counts) are fine; one more is not.
        let at = |d: usize| format!("{}{}", "[".repeat(d), "]".repeat(d));
        assert_eq!(both(&at(MAX_DEPTH)), Ok(()));
        assert_eq!(both(&at(MAX_DEPTH + 1)).unwrap_err().limit, Some(Limit::Depth));
    }

    #[test]
    fn an_alias_cannot_carry_a_value_past_the_depth_limit() {
        let half = MAX_DEPTH / 2 + 1;
        let src = format!(
            "a: &deep {}{}\nb: {}*deep{}\n",
            "[".repeat(half),
            "]".repeat(half),
            "[".repeat(half),
            "]".repeat(half)
        );
        let e = both(&src).unwrap_err();
        assert_eq!(e.limit, Some(Limit::Depth));
        assert_eq!(&src[e.span.offset..e.span.offset + 1], "*");
    }

    #[test]
    fn alias_bombs_stop_at_the_copy_limit() {
        // Billion laughs: 9^9 copies of `lol` from 350 bytes.
        let mut src = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for (prev, name) in "abcdefgh".chars().zip("bcdefghi".chars()) {
            src.push_str(&format!("{name}: &{name} [{}]\n", vec![format!("*{prev}"); 9].join(", ")));
        }
        let e = both(&src).unwrap_err();
        assert_eq!(e.limit, Some(Limit::Aliases), "{}", e.message);
        // At the alias, or the anchored list, whose copy goes over.
        assert!(matches!(&src[e.span.offset..e.span.offset + 1], "*" | "["), "{:?}", e.span);
        // Few values, much text: a 1 MB string copied 100 times.
        let src = format!("a: &a \"{}\"\nb: [{}]\n", "x".repeat(1 << 20), vec!["*a"; 100].join(", "));
        assert_eq!(both(&src).unwrap_err().limit, Some(Limit::Aliases));
        // Anchors copy too: nested anchors would keep one copy of the inner value per level.
        let src =
            format!("a: {}[{}]{}\n", "&x [".repeat(90), vec!["abcdefghijklmnop"; 20_000].join(", "), "]".repeat(90));
        assert_eq!(both(&src).unwrap_err().limit, Some(Limit::Aliases));
    }

    #[test]
    fn ordinary_anchors_and_aliases_are_well_within_the_limits() {
        let mut src = String::from("defaults: &d { labels: { team: web, tier: front }, replicas: 2 }\nitems:\n");
        for i in 0..5_000 {
            src.push_str(&format!("  - {{ name: n{i}, settings: *d }}\n"));
        }
        let (v, errs) = parse_value(&src).unwrap();
        assert!(errs.is_empty());
        assert_eq!(v["items"][4_999]["settings"]["labels"]["team"], "web");
    }

    #[test]
    fn a_long_line_is_linear_to_parse() {
        // 200,000 entries on one line: converting each event's column to a byte offset used to
        // walk the line from its start.
        let src = format!("a: [{}]\n", vec!["é1"; 200_000].join(", "));
        let started = std::time::Instant::now();
        let (v, _) = parse_value(&src).unwrap();
        assert_eq!(v["a"].as_array().unwrap().len(), 200_000);
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
    }

    #[test]
    fn empty_document_is_empty_map() {
        let (root, _) = parse("").unwrap();
        assert_eq!(root.to_value(), serde_json::json!({}));
    }
}
