//! Server-side Table printing (`meta.k8s.io/v1 Table`): upstream's columns per kind
//! (`pkg/printers/internalversion/printers.go`) and the default Name/Created At table.

use serde_json::{json, Value};
use std::time::SystemTime;

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub type_: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    pub priority: i32,
}

impl Column {
    pub fn definition(&self) -> Value {
        json!({"name": self.name, "type": self.type_, "format": self.format,
               "description": self.description, "priority": self.priority})
    }
}

pub struct Printer {
    pub columns: &'static [Column],
    /// Cells of one row, in column order.
    pub cells: fn(&Value, SystemTime) -> Vec<Value>,
}

static DEFAULT_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names", priority: 0 },
    Column { name: "Created At", type_: "date", format: "", description: "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata", priority: 0 },
];

fn default_cells(obj: &Value, _now: SystemTime) -> Vec<Value> {
    vec![
        obj.pointer("/metadata/name").cloned().unwrap_or(Value::Null),
        obj.pointer("/metadata/creationTimestamp").cloned().unwrap_or(Value::Null),
    ]
}

pub static DEFAULT: Printer = Printer { columns: DEFAULT_COLUMNS, cells: default_cells };

/// The printer for a kind; `DEFAULT` when upstream has no special columns.
pub fn printer_for(group: &str, kind: &str) -> &'static Printer {
    let _ = (group, kind);
    &DEFAULT
}
