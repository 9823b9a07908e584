//! Label and field selectors (`apimachinery/pkg/labels`, `pkg/fields`).

use serde_json::{Map, Value};

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {}

impl LabelSelector {
    /// Parse the `labelSelector` query syntax. The error text is upstream's, ready for a 400.
    pub fn parse(s: &str) -> Result<Self, String> {
        let _ = s;
        Ok(LabelSelector {})
    }
    pub fn is_empty(&self) -> bool {
        true
    }
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let _ = labels;
        true
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOp {
    Equals,
    NotEquals,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub op: FieldOp,
    pub value: String,
}

/// A parsed field selector (AND of requirements); empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let _ = s;
        Ok(FieldSelector::default())
    }
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
    /// `lookup` returns the object's value for a field.
    pub fn matches(&self, lookup: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| {
            let v = lookup(&r.field).unwrap_or_default();
            match r.op {
                FieldOp::Equals => v == r.value,
                FieldOp::NotEquals => v != r.value,
            }
        })
    }
    /// The value required for `metadata.name` with `=`, if any (single-object watches).
    pub fn exact_name(&self) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == "metadata.name" && r.op == FieldOp::Equals)
            .map(|r| r.value.as_str())
    }
}
