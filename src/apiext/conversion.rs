//! Webhook conversion (`spec.conversion.strategy: Webhook`): objects move between a CRD's
//! versions through a ConversionReview v1 POSTed over HTTPS to the CRD's `clientConfig` (a
//! URL, or a Service resolved to a ready endpoint), trusting only its `caBundle`. Lists are
//! converted in one review; objects already in the desired version are not sent (as upstream).
//!
//! Writes convert in the store (async); reads convert where the encoder serves objects. The
//! encoder is synchronous, so reads block the worker in place (multi-threaded runtime only).

use super::CustomVersion;
use crate::api::ResourceDef;
use crate::error::{ApiError, ApiResult};
use crate::registry::Registry;
use crate::storage::cache::CachedObject;
use crate::util::json::JsonExt;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Upstream's default (and maximum) webhook timeout.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A CRD's conversion webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// `spec.conversion.webhook.clientConfig`.
    pub client_config: Value,
}

impl Webhook {
    /// The webhook of a CRD whose strategy is `Webhook`.
    pub fn of(crd: &Value) -> Option<Arc<Webhook>> {
        let conv = crd.pointer("/spec/conversion")?;
        if conv.get("strategy").and_then(Value::as_str) != Some("Webhook") {
            return None;
        }
        let cc = conv.pointer("/webhook/clientConfig")?.clone();
        Some(Arc::new(Webhook { client_config: cc }))
    }
}

fn api_version(v: &Value) -> &str {
    v.str_of("apiVersion")
}

/// `group/version, Kind=kind` as Go prints a GroupVersionKind.
fn gvk(v: &Value) -> String {
    format!("{}, Kind={}", api_version(v), v.str_of("kind"))
}

/// Convert `objs` to `desired` (`group/version`). One review for every object not already
/// there; errors are upstream's 500s.
pub async fn convert(reg: &Registry, wh: &Webhook, mut objs: Vec<Value>, desired: &str) -> ApiResult<Vec<Value>> {
    let todo: Vec<usize> = (0..objs.len()).filter(|&i| api_version(&objs[i]) != desired).collect();
    let Some(&first) = todo.first() else { return Ok(objs) };
    let what = gvk(&objs[first]);
    let uid = uuid::Uuid::new_v4().to_string();
    let review = json!({
        "kind": "ConversionReview",
        "apiVersion": "apiextensions.k8s.io/v1",
        "request": {"uid": uid, "desiredAPIVersion": desired,
            "objects": todo.iter().map(|&i| objs[i].clone()).collect::<Vec<_>>()},
    });
    let fail = |e: String| ApiError::internal(format!("conversion webhook for {what} failed: {e}"));
    let resp = call(reg, wh, review).await.map_err(fail)?;
    let converted = converted_objects(&uid, &resp).map_err(fail)?;
    if converted.len() != todo.len() {
        return Err(ApiError::internal(format!(
            "conversion webhook for {what} returned {} objects, expected {}",
            converted.len(),
            todo.len()
        )));
    }
    for (i, c) in todo.into_iter().zip(converted) {
        if api_version(&c) != desired {
            return Err(ApiError::internal(format!(
                "conversion webhook for {what} returned invalid converted object: apiVersion {:?} instead of {desired:?}",
                api_version(&c)
            )));
        }
        objs[i] = c;
    }
    Ok(objs)
}

/// Upstream's checks of a v1 ConversionReview response.
fn converted_objects(uid: &str, resp: &Value) -> Result<Vec<Value>, String> {
    let got = format!("{}, Kind={}", resp.str_of("apiVersion"), resp.str_of("kind"));
    if got != "apiextensions.k8s.io/v1, Kind=ConversionReview" {
        return Err(format!(
            "expected webhook response of apiextensions.k8s.io/v1, Kind=ConversionReview, got {got}"
        ));
    }
    let r = resp
        .get("response")
        .filter(|r| r.is_object())
        .ok_or("no response provided")?;
    let ruid = r.str_of("uid");
    if ruid != uid {
        return Err(format!("expected response.uid={uid:?}, got {ruid:?}"));
    }
    let status = r.str_at("/result/status");
    if status != "Success" {
        let msg = r.str_at("/result/message");
        if !msg.is_empty() {
            return Err(msg.to_string());
        }
        return Err(format!("response.result.status was '{status}', not 'Success'"));
    }
    Ok(r.get("convertedObjects")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

/// POST the review to the webhook; the response body as JSON.
async fn call(reg: &Registry, wh: &Webhook, review: Value) -> Result<Value, String> {
    let cc = &wh.client_config;
    let t = crate::outbound::webhook::target(reg, cc).await?;
    let url = format!("https://{}{}", t.server_name, t.path);
    let body = serde_json::to_vec(&review).map_err(|e| e.to_string())?;
    let ca = cc.str_of("caBundle");
    let post = crate::outbound::webhook::post_json(&t, ca, body, TIMEOUT);
    let (status, bytes) = tokio::time::timeout(TIMEOUT, post)
        .await
        .map_err(|_| format!("Post \"{url}\": context deadline exceeded"))?
        .map_err(|e| format!("Post \"{url}\": {e}"))?;
    if !(200..300).contains(&status) {
        return Err(format!("the server responded with status code {status}"));
    }
    serde_json::from_slice::<Value>(&bytes).map_err(|e| format!("failed to decode response: {e}"))
}

/// Run a conversion from synchronous code (the encoder) on the current multi-threaded runtime.
fn block_on<T>(f: impl std::future::Future<Output = ApiResult<T>>) -> ApiResult<T> {
    let h = tokio::runtime::Handle::try_current().map_err(ApiError::internal)?;
    if h.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
        return Err(ApiError::internal("conversion webhook needs a multi-threaded runtime"));
    }
    tokio::task::block_in_place(|| h.block_on(f))
}

/// Storage → served objects for a webhook-converted version (storage-version defaults first,
/// as upstream decodes before converting). None: nothing to convert.
fn served_values(
    reg: &Registry,
    cv: &CustomVersion,
    def: &ResourceDef,
    stored: &[&Value],
) -> ApiResult<Option<Vec<Value>>> {
    let Some(wh) = cv.conversion.clone() else {
        return Ok(None);
    };
    let want = def.api_version();
    if stored.iter().all(|v| api_version(v) == want) {
        return Ok(None);
    }
    let objs: Vec<Value> = stored.iter().map(|v| super::storage_defaulted(cv, v)).collect();
    block_on(convert(reg, &wh, objs, &want)).map(Some)
}

/// Objects for the encoder, all converted in one review (None: serve them as they are), or
/// the webhook's 500.
pub fn served_objects(
    reg: &Registry,
    cv: &CustomVersion,
    def: &ResourceDef,
    objs: &[&CachedObject],
) -> ApiResult<Option<Vec<Arc<CachedObject>>>> {
    let decoded: Vec<Value> = objs.iter().map(|o| o.value()).collect();
    let values: Vec<&Value> = decoded.iter().collect();
    Ok(served_values(reg, cv, def, &values)?.map(|converted| {
        objs.iter()
            .zip(converted)
            .map(|(o, v)| CachedObject::from_value(&o.key, v, o.revision))
            .collect()
    }))
}

/// Synchronous single-object conversion for the generic read hook; errors are logged and the
/// object left as stored (the encoder entry points convert first and report errors).
pub fn served_value_lossy(reg: &Registry, cv: &CustomVersion, def: &ResourceDef, stored: &Value) -> Option<Value> {
    match served_values(reg, cv, def, &[stored]) {
        Ok(v) => v.and_then(|mut v| v.pop()),
        Err(e) => {
            tracing::warn!(error = %e.message, "conversion webhook failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_checks_follow_upstream() {
        let ok = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "response": {"uid": "u", "result": {"status": "Success"}, "convertedObjects": [{"a": 1}]}});
        assert_eq!(converted_objects("u", &ok).unwrap(), vec![json!({"a": 1})]);
        assert_eq!(
            converted_objects("x", &ok).unwrap_err(),
            "expected response.uid=\"x\", got \"u\""
        );
        let failed = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "response": {"uid": "u", "result": {"status": "Failure", "message": "nope"}}});
        assert_eq!(converted_objects("u", &failed).unwrap_err(), "nope");
        assert_eq!(
            converted_objects("u", &json!({"kind": "Foo"})).unwrap_err(),
            "expected webhook response of apiextensions.k8s.io/v1, Kind=ConversionReview, got , Kind=Foo"
        );
    }
}
