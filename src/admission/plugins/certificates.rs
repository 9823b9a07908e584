//! The certificates.k8s.io plugins:
//! - CertificateApproval: approving/denying (`csr/approval`) needs `approve` on the signer;
//! - CertificateSigning: setting `status.certificate` (`csr/status`) needs `sign` on it;
//! - CertificateSubjectRestriction: no CSR for the `kubernetes.io/kube-apiserver-client`
//!   signer may ask for the `system:masters` group (Organization).
//!
//! Signer permissions are the `signers` resource of certificates.k8s.io named `<signerName>`
//! or `<domain>/*` (upstream's `IsAuthorizedForSignerName`).

use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::ApiResult;
use crate::util::json::JsonExt;
use base64::Engine;
use serde_json::Value;
use x509_parser::prelude::FromDer;

pub struct CertificateSubjectRestriction;
pub struct CertificateApproval;
pub struct CertificateSigning;

/// May the request's user `verb` (approve/sign) requests for `signer`: on the exact name, or
/// on the wildcard of its domain.
pub fn authorized_for_signer(ctx: &crate::admission::Context, verb: &str, signer: &str) -> bool {
    let domain = signer.split('/').next().unwrap_or("");
    ctx.authorized(verb, "certificates.k8s.io", "signers", signer)
        || ctx.authorized(verb, "certificates.k8s.io", "signers", &format!("{domain}/*"))
}

fn is_csr(a: &Attributes) -> bool {
    a.def.group == "certificates.k8s.io" && a.def.kind == "CertificateSigningRequest"
}

#[async_trait::async_trait]
impl Plugin for CertificateApproval {
    fn name(&self) -> &'static str {
        "CertificateApproval"
    }
    async fn validate(&self, a: &Attributes, env: &Env<'_>) -> ApiResult<()> {
        if !is_csr(a) || a.operation != Operation::Update || a.subresource != "approval" {
            return Ok(());
        }
        let signer = a
            .object
            .as_ref()
            .and_then(|o| o.pointer("/spec/signerName"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if !authorized_for_signer(env.ctx, "approve", signer) {
            return Err(a.forbidden(&format!(
                "user not permitted to approve requests with signerName {signer:?}"
            )));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Plugin for CertificateSigning {
    fn name(&self) -> &'static str {
        "CertificateSigning"
    }
    async fn validate(&self, a: &Attributes, env: &Env<'_>) -> ApiResult<()> {
        if !is_csr(a) || a.operation != Operation::Update || a.subresource != "status" {
            return Ok(());
        }
        let cert = |o: Option<&Value>| o.and_then(|o| o.pointer("/status/certificate")).cloned();
        // Only a change of the issued certificate is signing.
        if cert(a.object.as_ref()) == cert(a.old.as_ref()) {
            return Ok(());
        }
        let signer = a
            .old
            .as_ref()
            .and_then(|o| o.pointer("/spec/signerName"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if !authorized_for_signer(env.ctx, "sign", signer) {
            return Err(a.forbidden(&format!(
                "user not permitted to sign requests with signerName {signer:?}"
            )));
        }
        Ok(())
    }
}

const SIGNER: &str = "kubernetes.io/kube-apiserver-client";

/// The subject of a PEM-encoded CSR: (common name, organizations); Err as upstream's
/// `ParseCSR` words it.
pub fn csr_subject(pem: &[u8]) -> Result<(String, Vec<String>), String> {
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(pem) else {
        return Err("PEM block type must be CERTIFICATE REQUEST".into());
    };
    if pem.label != "CERTIFICATE REQUEST" {
        return Err("PEM block type must be CERTIFICATE REQUEST".into());
    }
    let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(&pem.contents)
        .map_err(|e| format!("x509: malformed certificate request: {e}"))?;
    let subject = &csr.certification_request_info.subject;
    let cn = subject
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
        .unwrap_or("")
        .to_string();
    let orgs = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Ok((cn, orgs))
}

/// The Organization values of a PEM-encoded CSR (None if it does not parse).
pub fn csr_organizations(pem: &[u8]) -> Option<Vec<String>> {
    csr_subject(pem).ok().map(|(_, orgs)| orgs)
}

#[async_trait::async_trait]
impl Plugin for CertificateSubjectRestriction {
    fn name(&self) -> &'static str {
        "CertificateSubjectRestriction"
    }
    async fn validate(&self, a: &Attributes, _env: &Env<'_>) -> ApiResult<()> {
        if a.def.group != "certificates.k8s.io"
            || a.def.kind != "CertificateSigningRequest"
            || a.operation != Operation::Create
        {
            return Ok(());
        }
        let Some(csr) = a.object.as_ref() else { return Ok(()) };
        if csr.opt_str_at("/spec/signerName") != Some(SIGNER) {
            return Ok(());
        }
        let raw = csr.str_at("/spec/request");
        let Ok(pem) = base64::engine::general_purpose::STANDARD.decode(raw) else {
            return Ok(());
        };
        if csr_organizations(&pem).is_some_and(|orgs| orgs.iter().any(|o| o == "system:masters")) {
            return Err(a.forbidden(&format!(
                "use of {SIGNER} signer with system:masters group is not allowed"
            )));
        }
        Ok(())
    }
}
