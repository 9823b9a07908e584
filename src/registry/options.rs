//! Typed request options (`metav1.ListOptions`, `DeleteOptions`…) parsed from the query string
//! and body, with upstream's validation messages.

use crate::api::selector::{FieldSelector, LabelSelector};
use crate::error::{ApiError, ApiResult};
use crate::request::Query;
use crate::util::json::JsonExt;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RvMatch {
    Unset,
    NotOlderThan,
    Exact,
}

#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub label_selector: LabelSelector,
    pub field_selector: FieldSelector,
    pub resource_version: Option<String>,
    pub rv_match: Option<RvMatch>,
    pub limit: usize,
    pub continue_token: Option<String>,
    pub timeout_seconds: Option<u64>,
    pub allow_bookmarks: bool,
    pub send_initial_events: Option<bool>,
    pub watch: bool,
}

fn parse_int<T: std::str::FromStr>(name: &str, v: &str) -> ApiResult<T> {
    v.parse::<T>()
        .map_err(|_| ApiError::bad_request(format!("strconv.ParseInt: parsing \"{v}\": invalid syntax for {name}")))
}

impl ListOptions {
    pub fn from_query(q: &Query, watch_path: bool) -> ApiResult<ListOptions> {
        let label_selector =
            LabelSelector::parse(q.get("labelSelector").unwrap_or("")).map_err(ApiError::bad_request)?;
        let field_selector =
            FieldSelector::parse(q.get("fieldSelector").unwrap_or("")).map_err(ApiError::bad_request)?;
        let resource_version = q.get("resourceVersion").filter(|s| !s.is_empty()).map(str::to_string);
        let rv_match = match q.get("resourceVersionMatch").unwrap_or("") {
            "" => None,
            "NotOlderThan" => Some(RvMatch::NotOlderThan),
            "Exact" => Some(RvMatch::Exact),
            other => {
                return Err(invalid_list_options(&format!(
                "resourceVersionMatch: Unsupported value: \"{other}\": supported values: \"Exact\", \"NotOlderThan\""
            )))
            }
        };
        let limit = match q.get("limit").filter(|s| !s.is_empty()) {
            Some(v) => parse_int::<i64>("limit", v)?.max(0) as usize,
            None => 0,
        };
        let continue_token = q.get("continue").filter(|s| !s.is_empty()).map(str::to_string);
        let timeout_seconds = match q.get("timeoutSeconds").filter(|s| !s.is_empty()) {
            Some(v) => Some(parse_int::<i64>("timeoutSeconds", v)?.max(0) as u64),
            None => None,
        };
        let send_initial_events = match q.get("sendInitialEvents") {
            None | Some("") => None,
            Some(_) => Some(q.flag("sendInitialEvents")?),
        };
        let opts = ListOptions {
            label_selector,
            field_selector,
            resource_version,
            rv_match,
            limit,
            continue_token,
            timeout_seconds,
            allow_bookmarks: q.flag("allowWatchBookmarks")?,
            send_initial_events,
            watch: watch_path || q.flag("watch")?,
        };
        opts.validate()?;
        Ok(opts)
    }

    /// Upstream's `ValidateListOptions` (1.33, WatchList served: `sendInitialEvents` is a
    /// watch option that needs `resourceVersionMatch=NotOlderThan`).
    fn validate(&self) -> ApiResult<()> {
        let mut errs: Vec<String> = Vec::new();
        let m = self.rv_match;
        if self.watch {
            if self.send_initial_events.is_some() && m != Some(RvMatch::NotOlderThan) {
                errs.push("resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan".into());
            }
            if let Some(m) = m {
                if self.send_initial_events.is_none() {
                    errs.push("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided".into());
                }
                if m != RvMatch::NotOlderThan {
                    errs.push(
                        "resourceVersionMatch: Unsupported value: \"Exact\": supported values: \"NotOlderThan\"".into(),
                    );
                }
                if self.continue_token.is_some() {
                    errs.push(
                        "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided"
                            .into(),
                    );
                }
            }
        } else {
            if let Some(m) = m {
                if self.resource_version.is_none() {
                    errs.push("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided".into());
                }
                if self.continue_token.is_some() {
                    errs.push(
                        "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided"
                            .into(),
                    );
                }
                if m == RvMatch::Exact && self.resource_version.as_deref() == Some("0") {
                    errs.push("resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"".into());
                }
            }
            if self.send_initial_events.is_some() {
                errs.push("sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list".into());
            }
        }
        match errs.len() {
            0 => Ok(()),
            1 => Err(invalid_list_options(&errs[0])),
            _ => Err(invalid_list_options(&format!("[{}]", errs.join(", ")))),
        }
    }

    pub fn parsed_rv(&self) -> ApiResult<Option<i64>> {
        match &self.resource_version {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid resource version: strconv.ParseUint: parsing \"{v}\": invalid syntax"
                ))
            }),
        }
    }
}

fn invalid_list_options(detail: &str) -> ApiError {
    ApiError::new(
        422,
        "Invalid",
        format!("ListOptions.meta.k8s.io \"\" is invalid: {detail}"),
    )
    .with_details(serde_json::json!({"group": "meta.k8s.io", "kind": "ListOptions"}))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Orphan,
    Background,
    Foreground,
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub propagation: Option<Propagation>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
    /// The deprecated `orphanDependents` as sent (upstream answers 202 for a pending delete
    /// only when it is explicitly false).
    pub orphan_dependents: Option<bool>,
}

impl DeleteOptions {
    /// From the body (a `DeleteOptions` object, may be empty) and query parameters.
    pub fn parse(q: &Query, body: Option<&Value>) -> ApiResult<DeleteOptions> {
        let mut o = DeleteOptions::default();
        // dryRun: the body's list, replaced by the query's when it has one (upstream decodes
        // the query into the same options), then validated.
        let mut dry_run: Vec<String> = q.all("dryRun").into_iter().map(str::to_string).collect();
        if let Some(b) = body {
            o.grace_period_seconds = b.get("gracePeriodSeconds").and_then(Value::as_i64);
            if let Some(p) = b.get("propagationPolicy").and_then(Value::as_str) {
                o.propagation = Some(parse_propagation(p)?);
            }
            o.orphan_dependents = b.get("orphanDependents").and_then(Value::as_bool);
            if let (None, Some(orphan)) = (o.propagation, o.orphan_dependents) {
                o.propagation = Some(if orphan {
                    Propagation::Orphan
                } else {
                    Propagation::Background
                });
            }
            o.precondition_uid = b.opt_str_at("/preconditions/uid").map(str::to_string);
            o.precondition_rv = b.opt_str_at("/preconditions/resourceVersion").map(str::to_string);
            if let (true, Some(dr)) = (dry_run.is_empty(), b.get("dryRun").and_then(Value::as_array)) {
                dry_run = dr.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect();
            }
        }
        if let Some(e) = crate::request::dry_run_error(&dry_run) {
            return Err(ApiError::invalid("DeleteOptions", "meta.k8s.io", "", &[e]));
        }
        o.dry_run = !dry_run.is_empty();
        if let Some(g) = q.get("gracePeriodSeconds").filter(|s| !s.is_empty()) {
            o.grace_period_seconds = Some(parse_int("gracePeriodSeconds", g)?);
        }
        if let Some(p) = q.get("propagationPolicy").filter(|s| !s.is_empty()) {
            o.propagation = Some(parse_propagation(p)?);
        }
        if let Some(g) = o.grace_period_seconds {
            if g < 0 {
                o.grace_period_seconds = Some(1);
            }
        }
        Ok(o)
    }
}

fn parse_propagation(p: &str) -> ApiResult<Propagation> {
    match p {
        "Orphan" => Ok(Propagation::Orphan),
        "Background" => Ok(Propagation::Background),
        "Foreground" => Ok(Propagation::Foreground),
        other => Err(ApiError::new(
            422,
            "Invalid",
            format!("DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding_and_list_validation() {
        let q = Query::parse("labelSelector=app%3Dweb&limit=5&resourceVersion=10&resourceVersionMatch=Exact");
        assert_eq!(q.get("labelSelector"), Some("app=web"));
        let o = ListOptions::from_query(&q, false).unwrap();
        assert_eq!(o.limit, 5);
        assert_eq!(o.rv_match, Some(RvMatch::Exact));
        let bad = ListOptions::from_query(&Query::parse("resourceVersionMatch=Exact"), false).unwrap_err();
        assert_eq!(bad.code, 422);
        assert!(bad
            .message
            .contains("resourceVersionMatch is forbidden unless resourceVersion is provided"));
        let zero = ListOptions::from_query(&Query::parse("resourceVersion=0&resourceVersionMatch=Exact"), false);
        assert_eq!(zero.unwrap_err().code, 422);
    }

    /// WatchList's options, with upstream 1.33's messages (checked against kube-apiserver with
    /// `--feature-gates=WatchList=true`).
    #[test]
    fn watch_list_options_validate_like_upstream() {
        let msg = |q: &str, watch: bool| {
            ListOptions::from_query(&Query::parse(q), watch)
                .err()
                .map(|e| e.message)
                .unwrap_or_default()
        };
        let ok = "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true";
        assert_eq!(msg(ok, true), "");
        assert_eq!(msg(&format!("{ok}&resourceVersion=5"), true), "");
        assert_eq!(
            msg("sendInitialEvents=true", true),
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
        );
        assert_eq!(
            msg("resourceVersionMatch=NotOlderThan&resourceVersion=1", true),
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"
        );
        assert_eq!(
            msg("sendInitialEvents=true&resourceVersionMatch=Exact&resourceVersion=1", true),
            "ListOptions.meta.k8s.io \"\" is invalid: [resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan, resourceVersionMatch: Unsupported value: \"Exact\": supported values: \"NotOlderThan\"]"
        );
        assert_eq!(
            msg("sendInitialEvents=true", false),
            "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"
        );
    }

    #[test]
    fn delete_options_from_body_and_query() {
        let body = serde_json::json!({"propagationPolicy": "Foreground", "preconditions": {"uid": "u1"}});
        let o = DeleteOptions::parse(&Query::parse("gracePeriodSeconds=0"), Some(&body)).unwrap();
        assert_eq!(o.propagation, Some(Propagation::Foreground));
        assert_eq!(o.grace_period_seconds, Some(0));
        assert_eq!(o.precondition_uid.as_deref(), Some("u1"));
        assert!(DeleteOptions::parse(&Query::parse("dryRun=Some"), None).is_err());
    }
}
