//! sig-auth: ServiceAccount tokens and reviews, SubjectAccessReviews checked against what an
//! impersonated client is actually allowed to do.

use crate::client::{check, check_eq, Ctx};
use crate::suite::{case, Case};
use anyhow::Result;
use http::Method;
use serde_json::{json, Value};

const AUTH: &str = "[sig-auth]";

pub fn cases() -> Vec<Case> {
    let n = |s: &str| format!("{AUTH} {s}");
    vec![
        case(
            &n("SubjectReview should support SubjectReview API operations [Conformance]"),
            subject_review,
        ),
        case(
            &n("ServiceAccounts should create a serviceAccountToken and ensure a successful TokenReview [Conformance]"),
            token_review,
        ),
        case(
            &n("ServiceAccounts should run through the lifecycle of a ServiceAccount [Conformance]"),
            sa_lifecycle,
        ),
        case(
            &n("SelfSubjectReview should support SelfSubjectReview API operations"),
            self_subject_review,
        ),
        case(
            &n("ServiceAccountIssuerDiscovery should serve the OpenID configuration and JWKS"),
            oidc_discovery,
        ),
    ]
}

async fn create_sa(c: &Ctx, name: &str) -> Result<Value> {
    let path = format!("/api/v1/namespaces/{}/serviceaccounts", c.ns);
    c.create(
        &path,
        &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}),
    )
    .await
}

/// Upstream test/e2e/auth/subjectreviews.go: the review's `allowed` must match whether the
/// impersonated ServiceAccount can really list configmaps, for SAR and LocalSAR alike.
async fn subject_review(c: Ctx) -> Result<()> {
    let sa = create_sa(&c, "e2e").await?;
    let user = format!("system:serviceaccount:{}:e2e", c.ns);
    let groups = [
        "system:authenticated",
        "system:serviceaccounts",
        &format!("system:serviceaccounts:{}", c.ns),
    ]
    .map(str::to_string);
    let uid = sa["metadata"]["uid"].as_str().unwrap_or("").to_string();
    let spec = json!({
        "resourceAttributes": {"verb": "list", "resource": "configmaps", "namespace": c.ns, "version": "v1"},
        "user": user, "groups": groups, "uid": uid,
    });
    let sar = c
        .post(
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            &json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}),
        )
        .await?
        .expect(201)?;
    let expected = sar["status"]["allowed"].as_bool().unwrap_or(false);
    let mut headers: Vec<(&str, &str)> = vec![("Impersonate-User", &user), ("Impersonate-Uid", &uid)];
    headers.extend(groups.iter().map(|g| ("Impersonate-Group", g.as_str())));
    let r = c.req(Method::GET, &c.cms(), &headers, Vec::new()).await?;
    let actually = match r.status {
        200 => true,
        403 => false,
        s => anyhow::bail!("impersonated list: unexpected HTTP {s}: {}", r.text()),
    };
    check(actually == expected, || {
        format!(
            "SubjectAccessReview allowed: {expected}, request allowed: {actually}: {}",
            r.text()
        )
    })?;
    let mut lspec = spec.clone();
    lspec["user"] = json!("e2e");
    let lsar = c
        .post(
            &format!(
                "/apis/authorization.k8s.io/v1/namespaces/{}/localsubjectaccessreviews",
                c.ns
            ),
            &json!({"apiVersion": "authorization.k8s.io/v1", "kind": "LocalSubjectAccessReview",
                    "metadata": {"namespace": c.ns}, "spec": lspec}),
        )
        .await?
        .expect(201)?;
    let local = lsar["status"]["allowed"].as_bool().unwrap_or(false);
    check(local == actually, || {
        format!("LocalSubjectAccessReview allowed: {local}, request allowed: {actually}")
    })
}

/// Upstream test/e2e/auth/service_accounts.go: an empty TokenRequest yields a token that a
/// TokenReview authenticates without error.
async fn token_review(c: Ctx) -> Result<()> {
    create_sa(&c, "e2e-sa-token").await?;
    let tr = c
        .post(
            &format!("/api/v1/namespaces/{}/serviceaccounts/e2e-sa-token/token", c.ns),
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}),
        )
        .await?
        .expect(201)?;
    let token = tr["status"]["token"].as_str().unwrap_or("").to_string();
    check(!token.is_empty(), || format!("no token: {tr}"))?;
    check(tr["status"]["expirationTimestamp"].is_string(), || format!("{tr}"))?;
    let review = c
        .post(
            "/apis/authentication.k8s.io/v1/tokenreviews",
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}),
        )
        .await?
        .expect(201)?;
    check_eq(&review["status"]["authenticated"], true, "status.authenticated")?;
    check(review["status"].get("error").is_none_or(|e| e == ""), || {
        format!("error: {review}")
    })?;
    check_eq(
        &review["status"]["user"]["username"],
        format!("system:serviceaccount:{}:e2e-sa-token", c.ns),
        "status.user.username",
    )
}

/// Upstream test/e2e/auth/service_accounts.go "lifecycle": create with a label, find it by
/// label, patch automountServiceAccountToken, delete.
async fn sa_lifecycle(c: Ctx) -> Result<()> {
    let path = format!("/api/v1/namespaces/{}/serviceaccounts", c.ns);
    c.create(
        &path,
        &json!({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "e2e-sa-lc", "labels": {"e2e-sa": "patching"}}}),
    )
    .await?;
    let list = c
        .get(&format!("{path}?labelSelector=e2e-sa%3Dpatching"))
        .await?
        .expect(200)?;
    check_eq(&list["items"][0]["metadata"]["name"], "e2e-sa-lc", "listed by label")?;
    let patched = c
        .patch(
            &format!("{path}/e2e-sa-lc"),
            "application/strategic-merge-patch+json",
            &json!({"automountServiceAccountToken": true, "metadata": {"labels": {"e2e-sa": "patched"}}}),
        )
        .await?
        .expect(200)?;
    check_eq(
        &patched["automountServiceAccountToken"],
        true,
        "automountServiceAccountToken",
    )?;
    check_eq(&patched["metadata"]["labels"]["e2e-sa"], "patched", "label")?;
    c.delete(&format!("{path}/e2e-sa-lc")).await?.expect(200)?;
    c.get(&format!("{path}/e2e-sa-lc"))
        .await?
        .expect_status(404, "NotFound")?;
    Ok(())
}

async fn self_subject_review(c: Ctx) -> Result<()> {
    let r = c
        .post(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
        )
        .await?
        .expect(201)?;
    check_eq(&r["kind"], "SelfSubjectReview", "kind")?;
    let info = &r["status"]["userInfo"];
    check(info["username"].as_str().is_some_and(|u| !u.is_empty()), || {
        format!("{r}")
    })?;
    check(
        info["groups"]
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g == "system:authenticated")),
        || format!("groups lack system:authenticated: {r}"),
    )
}

async fn oidc_discovery(c: Ctx) -> Result<()> {
    let conf = c.get("/.well-known/openid-configuration").await?.expect(200)?;
    let issuer = conf["issuer"].as_str().unwrap_or("");
    check(!issuer.is_empty(), || format!("no issuer: {conf}"))?;
    check(
        conf["jwks_uri"]
            .as_str()
            .is_some_and(|u| u.ends_with("/openid/v1/jwks")),
        || format!("jwks_uri: {conf}"),
    )?;
    check_eq(
        &conf["response_types_supported"],
        json!(["id_token"]),
        "response_types_supported",
    )?;
    check_eq(
        &conf["subject_types_supported"],
        json!(["public"]),
        "subject_types_supported",
    )?;
    // Served as `application/jwk-set+json` only: an Accept of JSON alone is 406, as upstream.
    c.get("/openid/v1/jwks").await?.expect(406)?;
    let jwks = c
        .get_accept("/openid/v1/jwks", "application/jwk-set+json")
        .await?
        .expect(200)?;
    let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
    check(!keys.is_empty(), || format!("no keys: {jwks}"))?;
    for k in keys {
        check(k["kid"].is_string() && k["use"] == "sig", || format!("key: {k}"))?;
    }
    Ok(())
}
