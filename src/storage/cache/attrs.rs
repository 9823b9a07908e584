//! What lists, watches and the encoders read of a cached object without decoding it: its
//! apiVersion and kind, its labels and the values of its kind's selectable fields, taken once
//! when the object enters the cache and packed into one small allocation. The decoded tree is
//! not kept (it is ~10× the size of the object's JSON); the few readers that need it decode.

use crate::util::json::JsonExt;
use serde_json::Value;

/// The fields a kind's field selectors read besides `metadata.name`/`metadata.namespace` (which
/// come from the key), how to read them from the object, and the one the cache indexes.
#[derive(Debug, Clone, Copy)]
pub struct Selectable {
    pub fields: &'static [&'static str],
    /// A field's value in the object (None: the object has none; it matches as `""`).
    pub read: fn(&Value, &str) -> Option<String>,
    /// The field the cache indexes (one of `fields`).
    pub indexed: Option<&'static str>,
}

impl Selectable {
    /// Whether objects extracted with `self` answer for `other` too (one storage segment has
    /// one reader, so the field names decide; function addresses are not compared, as they
    /// may differ between codegen units).
    pub fn same(&self, other: &Selectable) -> bool {
        self.fields == other.fields && self.indexed == other.indexed
    }
}

/// Strings packed as (u32 little-endian length, bytes): apiVersion, kind, then each label's key
/// and value, then one value per extracted field (absent ones as `""`, which they match as).
#[derive(Clone, Default)]
pub struct Attrs {
    buf: Box<[u8]>,
    labels: u32,
    /// The fields whose values follow the labels (empty: none were extracted).
    fields: &'static [&'static str],
}

impl std::fmt::Debug for Attrs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attrs")
            .field("api_version", &self.api_version())
            .field("kind", &self.kind())
            .field("labels", &self.labels().collect::<Vec<_>>())
            .field("fields", &self.fields)
            .finish()
    }
}

fn push(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// A label's value as text (stored labels are strings; anything else is printed, as the
/// selector matching on the tree did).
fn label_text(v: &Value) -> std::borrow::Cow<'_, str> {
    match v {
        Value::String(s) => s.as_str().into(),
        other => other.to_string().into(),
    }
}

impl Attrs {
    /// Read from the decoded object; `selectable` names the field values to keep.
    pub fn of(obj: &Value, selectable: Option<&Selectable>) -> Attrs {
        let mut buf = Vec::new();
        push(&mut buf, obj.str_of("apiVersion"));
        push(&mut buf, obj.str_of("kind"));
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
        for (k, v) in labels.into_iter().flatten() {
            push(&mut buf, k);
            push(&mut buf, &label_text(v));
        }
        let fields = selectable.map_or(&[][..], |s| s.fields);
        for f in fields {
            let read = selectable.map(|s| s.read);
            push(&mut buf, &read.and_then(|r| r(obj, f)).unwrap_or_default());
        }
        Attrs {
            buf: buf.into_boxed_slice(),
            labels: labels.map_or(0, |m| m.len() as u32),
            fields,
        }
    }

    fn strings(&self) -> impl Iterator<Item = &str> {
        let mut rest = &self.buf[..];
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = (u32::from_le_bytes(*len) as usize).min(tail.len());
            let (s, tail) = tail.split_at(len);
            rest = tail;
            Some(std::str::from_utf8(s).unwrap_or_default())
        })
    }

    pub fn api_version(&self) -> &str {
        self.strings().next().unwrap_or_default()
    }

    pub fn kind(&self) -> &str {
        self.strings().nth(1).unwrap_or_default()
    }

    /// The labels, in key order.
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut it = self.strings().skip(2);
        (0..self.labels).map_while(move |_| Some((it.next()?, it.next()?)))
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// A selectable field's value (`""` when the object has none); None when the field was not
    /// extracted (the caller decodes the object).
    pub fn field(&self, field: &str) -> Option<&str> {
        let i = self.fields.iter().position(|f| *f == field)?;
        self.strings().nth(2 + 2 * self.labels as usize + i)
    }

    /// The extracted fields' names.
    pub fn fields(&self) -> &'static [&'static str] {
        self.fields
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: &Value, f: &str) -> Option<String> {
        match f {
            "spec.nodeName" => v.pointer("/spec/nodeName").and_then(Value::as_str).map(str::to_string),
            "status.phase" => v.pointer("/status/phase").and_then(Value::as_str).map(str::to_string),
            _ => None,
        }
    }

    #[test]
    fn reads_back_what_it_packed() {
        let sel = Selectable {
            fields: &["spec.nodeName", "status.phase"],
            read,
            indexed: Some("spec.nodeName"),
        };
        let v = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"app": "web", "tier": "", "n": 5}},
            "spec": {"nodeName": "node-1"}});
        let a = Attrs::of(&v, Some(&sel));
        assert_eq!((a.api_version(), a.kind()), ("v1", "Pod"));
        assert_eq!(
            a.labels().collect::<Vec<_>>(),
            [("app", "web"), ("n", "5"), ("tier", "")]
        );
        assert_eq!((a.label("tier"), a.label("nope")), (Some(""), None));
        assert_eq!(a.field("spec.nodeName"), Some("node-1"));
        assert_eq!(a.field("status.phase"), Some(""), "absent: matches as \"\"");
        assert_eq!(a.field("spec.restartPolicy"), None, "not extracted");

        let bare = Attrs::of(&json!({"metadata": {"name": "x"}}), None);
        assert_eq!((bare.api_version(), bare.labels().count()), ("", 0));
        assert_eq!(bare.field("spec.nodeName"), None);
        assert_eq!(bare.heap_bytes(), 8, "two empty strings");
    }
}
