//! A compact binary encoding of [`Schemas`]: `build.rs` encodes the built-in schemas, the server
//! decodes them on first use. Descriptions are not in the structure: they go to one separate
//! text that [`Doc::Builtin`] spans point into, so decoding never touches them.
//!
//! Layout: numbers are LEB128 varints, strings a length and UTF-8 bytes, enums an index into
//! the tables below. `defs` (name, length, node)… — the length lets the server decode each
//! definition only when first used — then `kinds` (group, version, kind, definition)….
//! A node: type, description span, fields (name, ref)…, required…, additional?, items?, list
//! type, map keys…, patch strategy, merge key?, map type, preserve-unknown, format, field docs
//! (name, span)…, copy-of?. A ref: 0 and a definition name, or 1 and an inline node.
//! Plain std only: `build.rs` compiles this file too.

use super::{Doc, ListType, MapType, Node, PatchStrategy, Schemas, Ty, TypeRef};
use std::collections::HashMap;

const TYS: [Ty; 8] = [
    Ty::Object,
    Ty::Array,
    Ty::String,
    Ty::Integer,
    Ty::Number,
    Ty::Boolean,
    Ty::IntOrString,
    Ty::Any,
];
const LIST_TYPES: [ListType; 3] = [ListType::Atomic, ListType::Set, ListType::Map];
const PATCH_STRATEGIES: [PatchStrategy; 5] = [
    PatchStrategy::None,
    PatchStrategy::Merge,
    PatchStrategy::Replace,
    PatchStrategy::MergeRetainKeys,
    PatchStrategy::RetainKeys,
];
const MAP_TYPES: [MapType; 2] = [MapType::Granular, MapType::Atomic];

/// The structure and the concatenated descriptions. Output is deterministic (sorted).
#[allow(dead_code)] // used by build.rs and the tests
pub(super) fn encode(s: &Schemas) -> (Vec<u8>, String) {
    let mut w = Writer::default();
    let mut names: Vec<_> = s.names().collect();
    names.sort();
    w.len(names.len());
    for name in names {
        w.str(name);
        let whole = std::mem::take(&mut w.out);
        w.node(s.def(name).expect("listed"));
        let node = std::mem::replace(&mut w.out, whole);
        w.len(node.len());
        w.out.extend_from_slice(&node);
    }
    let mut kinds: Vec<_> = s.kinds.iter().collect();
    kinds.sort();
    w.len(kinds.len());
    for ((g, v, k), def) in kinds {
        for x in [g, v, k, def] {
            w.str(x);
        }
    }
    (w.out, w.docs)
}

/// The schemas `bytes` encodes, each definition still encoded; `None` if `bytes` is not a valid
/// encoding (a definition's own encoding is checked by [`decode_node`] when first used).
#[allow(dead_code)] // build.rs only encodes
pub(super) fn decode(bytes: &'static [u8]) -> Option<Schemas> {
    let mut r = Reader { b: bytes, at: 0 };
    let mut s = Schemas::default();
    for _ in 0..r.len()? {
        let name = r.str()?;
        let len = r.len()?;
        let encoded = bytes.get(r.at..r.at.checked_add(len)?)?;
        r.at += len;
        s.insert_encoded(name, encoded);
    }
    let n = r.len()?;
    s.kinds.reserve(n);
    for _ in 0..n {
        let (g, v, k, def) = (r.str()?, r.str()?, r.str()?, r.str()?);
        s.kinds.insert((g, v, k), def);
    }
    (r.at == r.b.len()).then_some(s)
}

/// One definition's node.
#[allow(dead_code)]
pub(super) fn decode_node(bytes: &[u8]) -> Option<Node> {
    let mut r = Reader { b: bytes, at: 0 };
    let node = r.node()?;
    (r.at == r.b.len()).then_some(node)
}

fn index_of<T: PartialEq>(table: &[T], v: &T) -> u8 {
    table.iter().position(|t| t == v).unwrap_or(0) as u8
}

#[derive(Default)]
struct Writer {
    out: Vec<u8>,
    docs: String,
    /// Each distinct description is stored once.
    doc_spans: HashMap<String, (usize, usize)>,
}

#[allow(dead_code)]
impl Writer {
    fn len(&mut self, mut n: usize) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                self.out.push(byte);
                return;
            }
            self.out.push(byte | 0x80);
        }
    }
    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.out.extend_from_slice(s.as_bytes());
    }
    fn flag(&mut self, b: bool) {
        self.out.push(u8::from(b));
    }
    fn doc(&mut self, d: &Doc) {
        let text = d.as_str();
        let (at, len) = match self.doc_spans.get(text) {
            Some(span) => *span,
            None => {
                let span = (self.docs.len(), text.len());
                self.docs.push_str(text);
                self.doc_spans.insert(text.to_string(), span);
                span
            }
        };
        self.len(at);
        self.len(len);
    }
    fn strs(&mut self, v: &[String]) {
        self.len(v.len());
        for s in v {
            self.str(s);
        }
    }
    fn opt_str(&mut self, s: &Option<String>) {
        self.flag(s.is_some());
        if let Some(s) = s {
            self.str(s);
        }
    }
    fn opt_ref(&mut self, r: &Option<Box<TypeRef>>) {
        self.flag(r.is_some());
        if let Some(r) = r {
            self.typeref(r);
        }
    }
    fn typeref(&mut self, r: &TypeRef) {
        match r {
            TypeRef::Named(name) => {
                self.out.push(0);
                self.str(name);
            }
            TypeRef::Inline(n) => {
                self.out.push(1);
                self.node(n);
            }
        }
    }
    fn node(&mut self, n: &Node) {
        self.out.push(index_of(&TYS, &n.ty));
        self.doc(&n.description);
        self.len(n.fields.len());
        for (name, r) in &n.fields {
            self.str(name);
            self.typeref(r);
        }
        self.strs(&n.required);
        self.opt_ref(&n.additional);
        self.opt_ref(&n.items);
        self.out.push(index_of(&LIST_TYPES, &n.list_type));
        self.strs(&n.map_keys);
        self.out.push(index_of(&PATCH_STRATEGIES, &n.patch_strategy));
        self.opt_str(&n.merge_key);
        self.out.push(index_of(&MAP_TYPES, &n.map_type));
        self.flag(n.preserve_unknown);
        self.str(&n.format);
        self.len(n.field_docs.len());
        for (name, d) in &n.field_docs {
            self.str(name);
            self.doc(d);
        }
        self.opt_str(&n.copy_of);
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

#[allow(dead_code)]
impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.b.get(self.at)?;
        self.at += 1;
        Some(b)
    }
    fn len(&mut self) -> Option<usize> {
        let mut n = 0usize;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }
    fn str(&mut self) -> Option<String> {
        let n = self.len()?;
        let bytes = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        String::from_utf8(bytes.to_vec()).ok()
    }
    fn flag(&mut self) -> Option<bool> {
        Some(self.byte()? != 0)
    }
    fn pick<T: Copy>(&mut self, table: &[T]) -> Option<T> {
        table.get(usize::from(self.byte()?)).copied()
    }
    fn doc(&mut self) -> Option<Doc> {
        let (at, len) = (self.len()?, self.len()?);
        Some(if len == 0 {
            Doc::Empty
        } else {
            Doc::Builtin(u32::try_from(at).ok()?, u32::try_from(len).ok()?)
        })
    }
    fn strs(&mut self) -> Option<Vec<String>> {
        (0..self.len()?).map(|_| self.str()).collect()
    }
    fn opt_str(&mut self) -> Option<Option<String>> {
        Some(if self.flag()? { Some(self.str()?) } else { None })
    }
    fn opt_ref(&mut self) -> Option<Option<Box<TypeRef>>> {
        Some(if self.flag()? {
            Some(Box::new(self.typeref()?))
        } else {
            None
        })
    }
    fn typeref(&mut self) -> Option<TypeRef> {
        match self.byte()? {
            0 => Some(TypeRef::Named(self.str()?)),
            1 => Some(TypeRef::Inline(Box::new(self.node()?))),
            _ => None,
        }
    }
    fn node(&mut self) -> Option<Node> {
        let mut n = Node {
            ty: self.pick(&TYS)?,
            description: self.doc()?,
            ..Node::default()
        };
        for _ in 0..self.len()? {
            let name = self.str()?;
            n.fields.insert(name, self.typeref()?);
        }
        n.required = self.strs()?;
        n.additional = self.opt_ref()?;
        n.items = self.opt_ref()?;
        n.list_type = self.pick(&LIST_TYPES)?;
        n.map_keys = self.strs()?;
        n.patch_strategy = self.pick(&PATCH_STRATEGIES)?;
        n.merge_key = self.opt_str()?;
        n.map_type = self.pick(&MAP_TYPES)?;
        n.preserve_unknown = self.flag()?;
        n.format = self.str()?;
        for _ in 0..self.len()? {
            let name = self.str()?;
            n.field_docs.insert(name, self.doc()?);
        }
        n.copy_of = self.opt_str()?;
        Some(n)
    }
}
