//! Reading fields of a JSON object by JSON pointer (`/spec/nodeName`) or by key, with the
//! defaults the code wants everywhere: `""` for a missing string, an empty slice for a missing array.
//!
//! ```
//! use capstan::util::json::JsonExt;
//! let pod = serde_json::json!({"spec": {"nodeName": "n1", "containers": [{"name": "c"}]}});
//! assert_eq!(pod.str_at("/spec/nodeName"), "n1");
//! assert_eq!(pod.str_at("/spec/missing"), "");
//! assert_eq!(pod.arr_at("/spec/containers").len(), 1);
//! ```

use serde_json::{Map, Value};

/// Typed reads at a JSON pointer, or of one field by its key. A value of another type reads as
/// absent. For a `Value` and for an object's `Map` (whose pointers start at its fields).
pub trait JsonExt {
    /// The value at `ptr`.
    fn at(&self, ptr: &str) -> Option<&Value>;
    /// The value of field `key` (one key, not a pointer: it may hold `/`).
    fn field(&self, key: &str) -> Option<&Value>;

    /// The string at `ptr`; `""` when absent or not a string.
    fn str_at(&self, ptr: &str) -> &str {
        self.opt_str_at(ptr).unwrap_or("")
    }

    /// The string at `ptr`; None when absent or not a string.
    fn opt_str_at(&self, ptr: &str) -> Option<&str> {
        self.at(ptr).and_then(Value::as_str)
    }

    /// The integer at `ptr`.
    fn i64_at(&self, ptr: &str) -> Option<i64> {
        self.at(ptr).and_then(Value::as_i64)
    }

    /// The boolean at `ptr`.
    fn bool_at(&self, ptr: &str) -> Option<bool> {
        self.at(ptr).and_then(Value::as_bool)
    }

    /// The array at `ptr`; empty when absent or not an array.
    fn arr_at(&self, ptr: &str) -> &[Value] {
        self.at(ptr).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The object at `ptr`.
    fn obj_at(&self, ptr: &str) -> Option<&Map<String, Value>> {
        self.at(ptr).and_then(Value::as_object)
    }

    /// The value at `ptr` as text: a string as it is, `""` for absent or null, anything else
    /// as its JSON text (`3`, `true`).
    fn text_at(&self, ptr: &str) -> String {
        match self.at(ptr) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    }

    /// The strings of the array at `ptr` (other items skipped).
    fn strings_at(&self, ptr: &str) -> Vec<String> {
        self.arr_at(ptr)
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    }

    /// The `name` of each object in the array at `ptr` (containers, ports, volumes…; items
    /// without one skipped).
    fn names_at(&self, ptr: &str) -> Vec<String> {
        self.arr_at(ptr)
            .iter()
            .filter_map(|item| item.opt_str_at("/name"))
            .map(str::to_string)
            .collect()
    }

    /// The string in field `key`; `""` when absent or not a string.
    fn str_of(&self, key: &str) -> &str {
        self.field(key).and_then(Value::as_str).unwrap_or("")
    }

    /// The array in field `key`; empty when absent or not an array.
    fn arr_of(&self, key: &str) -> &[Value] {
        self.field(key)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

impl JsonExt for Value {
    fn at(&self, ptr: &str) -> Option<&Value> {
        self.pointer(ptr)
    }

    fn field(&self, key: &str) -> Option<&Value> {
        self.get(key)
    }
}

impl JsonExt for Map<String, Value> {
    /// `ptr` from the object's fields (`/a/b` is field `a`'s `/b`); the empty pointer, the
    /// object itself, is not a `Value` and reads as absent.
    fn at(&self, ptr: &str) -> Option<&Value> {
        let rest = ptr.strip_prefix('/')?;
        let (first, rest) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
        let key = first.replace("~1", "/").replace("~0", "~");
        self.get(&key)?.pointer(rest)
    }

    fn field(&self, key: &str) -> Option<&Value> {
        self.get(key)
    }
}

/// The JSON type name Go's `encoding/json` reports in `cannot unmarshal <type> into …`.
pub fn go_json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_with_defaults() {
        let v = json!({"a": {"s": "x", "n": 3, "b": true, "l": ["p", 1, "q"], "o": {}, "z": null}});
        assert_eq!(v.str_at("/a/s"), "x");
        assert_eq!(v.str_at("/a/n"), "");
        assert_eq!(v.opt_str_at("/a/missing"), None);
        assert_eq!(v.i64_at("/a/n"), Some(3));
        assert_eq!(v.bool_at("/a/b"), Some(true));
        assert_eq!(v.arr_at("/a/l").len(), 3);
        assert!(v.arr_at("/a/s").is_empty());
        assert!(v.obj_at("/a/o").is_some_and(Map::is_empty));
        assert_eq!(v.text_at("/a/n"), "3");
        assert_eq!(v.text_at("/a/z"), "");
        assert_eq!(v.text_at("/a/s"), "x");
        assert_eq!(v.strings_at("/a/l"), vec!["p", "q"]);
        let pod = json!({"spec": {"containers": [{"name": "a"}, {"image": "x"}, {"name": "b"}]}});
        assert_eq!(pod.names_at("/spec/containers"), vec!["a", "b"]);
        let m = json!({"a/b": "slash", "n": 1, "l": [1]});
        assert_eq!(m.str_of("a/b"), "slash");
        assert_eq!(m.str_of("n"), "");
        assert_eq!(m.arr_of("l").len(), 1);
        assert!(m.arr_of("a/b").is_empty());
        let map = json!({"a": {"b/c": "x", "n": 1}, "s": "y"})
            .as_object()
            .cloned()
            .unwrap();
        assert_eq!(map.str_of("s"), "y");
        assert_eq!(map.str_at("/a/b~1c"), "x");
        assert_eq!(map.i64_at("/a/n"), Some(1));
        assert!(map.at("").is_none());
        assert_eq!(map.str_at("/s"), "y");
    }
}
