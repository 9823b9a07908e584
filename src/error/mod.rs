//! One error type for the whole API path; it renders as a Kubernetes `Status` object.

pub mod field;

use field::FieldError;
use serde_json::{json, Value};

/// A Kubernetes API error: code, reason and message exactly as upstream's
/// `k8s.io/apimachinery/pkg/api/errors` constructors produce them.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// Extra response headers (e.g. `Retry-After`).
    pub retry_after: Option<u64>,
    /// The Status's ListMeta `continue` (a fresh token for an expired one).
    pub continue_token: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// `<resource>[.<group>]`, the qualified resource name upstream uses in messages.
/// The words that mark upstream's failed storage precondition (a UID that is not the stored one's).
const UID_PRECONDITION_FAILED: &str = "Precondition failed";

pub fn qualified(resource: &str, group: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

fn details(group: &str, kind: &str, name: &str) -> Value {
    let mut d = serde_json::Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        d.insert("group".into(), json!(group));
    }
    if !kind.is_empty() {
        d.insert("kind".into(), json!(kind));
    }
    Value::Object(d)
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
            continue_token: None,
        }
    }

    pub fn with_continue(mut self, token: String) -> Self {
        self.continue_token = Some(token);
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn not_found(resource: &str, group: &str, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(resource, group)),
        )
        .with_details(details(group, resource, name))
    }

    pub fn already_exists(resource: &str, group: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(resource, group)),
        )
        .with_details(details(group, resource, name))
    }

    pub fn conflict(resource: &str, group: &str, name: &str, err: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {err}",
                qualified(resource, group)
            ),
        )
        .with_details(details(group, resource, name))
    }

    /// Whether this is an optimistic-concurrency conflict (a write that lost a race), which an
    /// unconditional write retries on a fresh read. A failed UID precondition is not one: a
    /// fresh read has the same (other or no) object.
    pub fn is_conflict(&self) -> bool {
        self.code == 409 && self.reason == "Conflict" && !self.message.contains(UID_PRECONDITION_FAILED)
    }

    /// Whether the object to create already exists (409 AlreadyExists).
    pub fn is_already_exists(&self) -> bool {
        self.code == 409 && self.reason == "AlreadyExists"
    }

    /// A PUT whose object names a UID the stored object (at `key`; none: `stored_uid` empty)
    /// does not have: upstream's storage precondition error, word for word (its
    /// `ResourceVersion` is always 0 there).
    pub fn uid_precondition_failed(
        resource: &str,
        group: &str,
        name: &str,
        key: &str,
        uid: &str,
        stored_uid: &str,
    ) -> Self {
        Self::conflict(
            resource,
            group,
            name,
            &format!(
                "StorageError: invalid object, Code: 4, Key: {key}, ResourceVersion: 0, AdditionalErrorMsg: \
                 {UID_PRECONDITION_FAILED}: UID in precondition: {uid}, UID in object meta: {stored_uid}"
            ),
        )
    }

    /// The optimistic-concurrency failure (stale resourceVersion).
    pub fn stale(resource: &str, group: &str, name: &str) -> Self {
        Self::conflict(
            resource,
            group,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422 Invalid with one cause per field error; `details.kind` is the Kind here.
    pub fn invalid(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> Self {
        // The message lists each text once (`ErrorList.ToAggregate`); the causes keep all.
        let mut texts: Vec<String> = Vec::with_capacity(errors.len());
        for e in errors {
            let t = e.to_string();
            if !texts.contains(&t) {
                texts.push(t);
            }
        }
        let joined = if texts.len() == 1 {
            texts.remove(0)
        } else {
            format!("[{}]", texts.join(", "))
        };
        let mut d = details(group, kind, name);
        d["causes"] = Value::Array(errors.iter().map(FieldError::cause).collect());
        Self::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {joined}", qualified(kind, group)),
        )
        .with_details(d)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// A body the decoder rejects: 400 `<Kind> in version "<v>" cannot be handled as a <Kind>: <why>`.
    pub fn cannot_handle(kind: &str, version: &str, why: &str) -> Self {
        Self::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {why}"
        ))
    }

    pub fn forbidden(resource: &str, group: &str, name: &str, why: &str) -> Self {
        let q = qualified(resource, group);
        let msg = if name.is_empty() {
            format!("{q} is forbidden: {why}")
        } else {
            format!("{q} \"{name}\" is forbidden: {why}")
        };
        Self::new(403, "Forbidden", msg).with_details(details(group, resource, name))
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Gone", message)
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(500, "InternalError", format!("Internal error occurred: {message}"))
            .with_details(json!({"causes": [{"message": message.to_string()}]}))
    }

    pub fn method_not_allowed(verb: &str, resource: &str, group: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!(
                "{verb} is not supported on resources of kind \"{}\"",
                qualified(resource, group)
            ),
        )
    }

    pub fn not_acceptable(accepted: &[&str]) -> Self {
        Self::new(
            406,
            "NotAcceptable",
            format!("only the following media types are accepted: {}", accepted.join(", ")),
        )
    }

    pub fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> Self {
        let _ = content_type;
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
    }

    pub fn too_large() -> Self {
        Self::new(413, "RequestEntityTooLarge", "the request is too large")
    }

    pub fn not_implemented(what: &str) -> Self {
        Self::new(
            501,
            "NotImplemented",
            format!("{what} is not implemented yet in this server"),
        )
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(504, "Timeout", message)
    }

    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut e = Self::new(429, "TooManyRequests", "Too many requests, please try again later.")
            .with_details(json!({"retryAfterSeconds": retry_after}));
        e.retry_after = Some(retry_after);
        e
    }

    /// The `Status` object clients parse.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if self.reason.is_empty() {
            // Upstream leaves `reason` out for errors without one (StatusReasonUnknown).
            if let Some(o) = s.as_object_mut() {
                o.remove("reason");
            }
        }
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        if let Some(c) = &self.continue_token {
            s["metadata"] = json!({"continue": c});
        }
        s
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_matches_upstream_wording() {
        let e = ApiError::not_found("deployments", "apps", "web");
        let s = e.to_status();
        assert_eq!(s["message"], "deployments.apps \"web\" not found");
        assert_eq!(s["details"]["group"], "apps");
        assert_eq!(s["details"]["kind"], "deployments");
        assert_eq!(s["code"], 404);
        let core = ApiError::not_found("pods", "", "p").to_status();
        assert!(core["details"].get("group").is_none());
        assert_eq!(core["message"], "pods \"p\" not found");
    }
}
