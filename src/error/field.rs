//! Field errors, shaped like `k8s.io/apimachinery/pkg/util/validation/field`.
//!
//! `to_string()` gives upstream's `path: Body` text; `cause()` gives the `details.causes[]`
//! entry of a 422 `Invalid` Status.

use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    NotFound,
    Required,
    Duplicate,
    Invalid,
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    Internal,
    TypeInvalid,
}

impl ErrorType {
    /// The `causes[].reason` string.
    pub fn reason(self) -> &'static str {
        match self {
            ErrorType::NotFound => "FieldValueNotFound",
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::Internal => "InternalError",
            ErrorType::TypeInvalid => "FieldValueTypeInvalid",
        }
    }

    /// The human text upstream prints for the type.
    pub fn text(self) -> &'static str {
        match self {
            ErrorType::NotFound => "Not found",
            ErrorType::Required => "Required value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Invalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::Internal => "Internal error",
            ErrorType::TypeInvalid => "Invalid value",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub kind: ErrorType,
    /// Dotted path with indices/keys, e.g. `spec.containers[0].image`, `metadata.labels`.
    pub field: String,
    /// The offending value, printed for Invalid/NotSupported/Duplicate/NotFound/TypeInvalid.
    pub value: Option<Value>,
    pub detail: String,
}

/// Go's `%#v`-like rendering upstream uses for bad values: strings quoted, numbers bare.
pub fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

impl FieldError {
    fn make(kind: ErrorType, field: impl Into<String>, value: Option<Value>, detail: impl Into<String>) -> Self {
        FieldError {
            kind,
            field: field.into(),
            value,
            detail: detail.into(),
        }
    }
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::make(ErrorType::Required, field, None, detail)
    }
    pub fn invalid(field: impl Into<String>, value: impl Into<Value>, detail: impl Into<String>) -> Self {
        Self::make(ErrorType::Invalid, field, Some(value.into()), detail)
    }
    /// `Invalid value` with the value already rendered as upstream prints it (`%#v` of a Go
    /// slice: `[]string{"*", "apps"}`); an empty detail adds nothing, as upstream's `ErrorBody`.
    pub fn invalid_raw(field: impl Into<String>, rendered: &str, detail: &str) -> Self {
        let detail = if detail.is_empty() {
            rendered.to_string()
        } else {
            format!("{rendered}: {detail}")
        };
        Self::make(ErrorType::Invalid, field, None, detail)
    }
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::make(ErrorType::Forbidden, field, None, detail)
    }
    pub fn duplicate(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::make(ErrorType::Duplicate, field, Some(value.into()), "")
    }
    pub fn not_found(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::make(ErrorType::NotFound, field, Some(value.into()), "")
    }
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        Self::make(
            ErrorType::TooLong,
            field,
            None,
            format!("may not be more than {max} bytes"),
        )
    }
    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> Self {
        Self::make(
            ErrorType::TooMany,
            field,
            None,
            format!("{actual}: must have at most {max} items"),
        )
    }
    pub fn type_invalid(field: impl Into<String>, value: impl Into<Value>, detail: impl Into<String>) -> Self {
        Self::make(ErrorType::TypeInvalid, field, Some(value.into()), detail)
    }
    /// `Unsupported value: "x": supported values: "a", "b"`.
    pub fn not_supported(field: impl Into<String>, value: impl Into<Value>, supported: &[&str]) -> Self {
        let list = supported
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let detail = if supported.is_empty() {
            String::new()
        } else {
            format!("supported values: {list}")
        };
        Self::make(ErrorType::NotSupported, field, Some(value.into()), detail)
    }
    /// [`FieldError::not_supported`] with the value already rendered as upstream prints it
    /// (`[]string{"x"}`).
    pub fn not_supported_raw(field: impl Into<String>, rendered: &str, supported: &[&str]) -> Self {
        let mut e = Self::not_supported(field, Value::Null, supported);
        e.value = None;
        e.detail = format!("{rendered}: {}", e.detail);
        e
    }
    pub fn internal(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::make(ErrorType::Internal, field, None, detail)
    }

    /// The message without the field path (upstream's `ErrorBody`).
    pub fn body(&self) -> String {
        let mut s = self.kind.text().to_string();
        match self.kind {
            ErrorType::Required | ErrorType::Forbidden | ErrorType::TooLong | ErrorType::Internal => {}
            ErrorType::TooMany => {}
            _ => {
                if let Some(v) = &self.value {
                    s.push_str(": ");
                    s.push_str(&render_value(v));
                }
            }
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }

    pub fn cause(&self) -> Value {
        json!({"reason": self.kind.reason(), "message": self.body(), "field": self.field})
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// Collected errors for one object.
pub type FieldErrors = Vec<FieldError>;

/// The path of field `key` under `path` (`spec` + `replicas` → `spec.replicas`; an empty
/// `path` is the root, so the key alone).
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_paths() {
        assert_eq!(join("", "spec"), "spec");
        assert_eq!(join("spec", "replicas"), "spec.replicas");
    }

    #[test]
    fn renders_like_upstream() {
        let e = FieldError::invalid(
            "metadata.name",
            "Foo",
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters",
        );
        assert_eq!(
            e.to_string(),
            "metadata.name: Invalid value: \"Foo\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters"
        );
        assert_eq!(
            FieldError::required("spec.containers[0].image", "").to_string(),
            "spec.containers[0].image: Required value"
        );
        let ns = FieldError::not_supported("spec.restartPolicy", "Sometimes", &["Always", "OnFailure", "Never"]);
        assert_eq!(
            ns.body(),
            "Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""
        );
        assert_eq!(ns.cause()["reason"], "FieldValueNotSupported");
    }
}
