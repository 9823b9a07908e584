//! CertificateSubjectRestriction: no CSR for the `kubernetes.io/kube-apiserver-client` signer
//! may ask for the `system:masters` group (Organization).
//! (CertificateApproval/CertificateSigning need the authorizer's `approve`/`sign` checks on
//! signers; they are accepted names without effect here.)

use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::ApiResult;
use base64::Engine;
use serde_json::Value;
use x509_parser::prelude::FromDer;

pub struct CertificateSubjectRestriction;

const SIGNER: &str = "kubernetes.io/kube-apiserver-client";

/// The Organization values of a PEM-encoded CSR (None if it does not parse).
pub fn csr_organizations(pem: &[u8]) -> Option<Vec<String>> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem).ok()?;
    let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(&pem.contents).ok()?;
    Some(
        csr.certification_request_info
            .subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(str::to_string))
            .collect(),
    )
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
        if csr.pointer("/spec/signerName").and_then(Value::as_str) != Some(SIGNER) {
            return Ok(());
        }
        let raw = csr.pointer("/spec/request").and_then(Value::as_str).unwrap_or("");
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
