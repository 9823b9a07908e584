//! Allocation errors, rendered as upstream's allocators and `field.Invalid` render them.

use super::range::Range;
use crate::error::field::FieldError;
use crate::error::ApiError;
use serde_json::json;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AllocError {
    Full,
    Allocated,
    NotInRange,
}

pub(super) fn ip_error_text(e: &AllocError, ip: IpAddr, range: &Range) -> String {
    match e {
        AllocError::Full => "range is full".into(),
        AllocError::Allocated => "provided IP is already allocated".into(),
        AllocError::NotInRange => format!(
            "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
            range.spec
        ),
    }
}

pub(super) fn port_error_text(e: &AllocError, range: &Range) -> String {
    match e {
        AllocError::Full => "range is full".into(),
        AllocError::Allocated => "provided port is already allocated".into(),
        AllocError::NotInRange => format!(
            "provided port is not in the valid range. The range of valid ports is {}",
            range.spec
        ),
    }
}

/// Go's `%#v` of a `[]string`.
pub(super) fn go_string_slice(items: &[String]) -> String {
    let inner: Vec<String> = items
        .iter()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .collect();
    format!("[]string{{{}}}", inner.join(", "))
}

/// A 422 Invalid for one field whose value is already rendered the Go way.
pub(super) fn invalid_raw(name: &str, field: &str, rendered: &str, detail: &str) -> ApiError {
    let body = format!("Invalid value: {rendered}: {detail}");
    ApiError::new(
        422,
        "Invalid",
        format!("Service \"{name}\" is invalid: {field}: {body}"),
    )
    .with_details(json!({
        "name": name,
        "kind": "Service",
        "causes": [{"reason": "FieldValueInvalid", "message": body, "field": field}],
    }))
}

pub(super) fn invalid(name: &str, errs: &[FieldError]) -> ApiError {
    ApiError::invalid("Service", "", name, errs)
}

/// A requested node port refused: upstream's `spec.ports[i].nodePort` field error.
pub(super) fn node_port_invalid(name: &str, i: usize, np: i64, e: &AllocError, range: &Range) -> ApiError {
    invalid(
        name,
        &[FieldError::invalid(
            format!("spec.ports[{i}].nodePort"),
            np,
            port_error_text(e, range),
        )],
    )
}
