//! OpenAPI v2/v3 from the built-in schemas, driven by real kubectl: `kubectl explain` on nested
//! fields (v3 documents, and the v2 protobuf path kubectl 1.27 can be forced onto), and
//! server-side field validation of `kubectl create` (Strict by default, `--validate=warn`).

mod common;

use common::{TestServer, KUBECTL_VERSIONS};

#[test]
fn explain_nested_fields() {
    let s = TestServer::start();
    for v in KUBECTL_VERSIONS {
        let out = s.kubectl_ok(v, &["explain", "pods.spec.containers.livenessProbe"]);
        assert!(out.contains("KIND:") && out.contains("Pod"), "kubectl {v}:\n{out}");
        assert!(out.contains("livenessProbe"), "kubectl {v}:\n{out}");
        assert!(
            out.contains("<Probe>") || out.contains("<Object>"),
            "kubectl {v}:\n{out}"
        );
        assert!(
            out.contains("Periodic probe of container liveness."),
            "kubectl {v}:\n{out}"
        );
        assert!(
            out.contains("httpGet") && out.contains("initialDelaySeconds"),
            "kubectl {v}:\n{out}"
        );

        let out = s.kubectl_ok(v, &["explain", "deployment.spec.strategy"]);
        assert!(
            out.contains("GROUP:") || out.contains("VERSION:"),
            "kubectl {v}:\n{out}"
        );
        assert!(out.contains("apps"), "kubectl {v}:\n{out}");
        assert!(
            out.contains("rollingUpdate") && out.contains("The deployment strategy to use"),
            "kubectl {v}:\n{out}"
        );

        let out = s.kubectl_ok(v, &["explain", "services.spec.ports.targetPort"]);
        assert!(out.contains("IntOrString"), "kubectl {v}:\n{out}");
    }
    // kubectl 1.27's v2 renderer reads the gnostic protobuf document.
    let out = s.kubectl_ok(
        "1.27",
        &[
            "explain",
            "pods.spec.containers.livenessProbe",
            "--output=plaintext-openapiv2",
        ],
    );
    assert!(out.contains("RESOURCE: livenessProbe <Object>"), "{out}");
    assert!(out.contains("Periodic probe of container liveness."), "{out}");
    assert!(out.contains("httpGet\t<Object>"), "{out}");
    let out = s.kubectl_ok(
        "1.27",
        &["explain", "deployment.spec.strategy", "--output=plaintext-openapiv2"],
    );
    assert!(out.contains("rollingUpdate\t<Object>"), "{out}");
}

const BAD_CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: NAME\ndata:\n  a: b\nspec:\n  foo: 1\n";

#[test]
fn create_with_unknown_field() {
    let s = TestServer::start();
    for v in KUBECTL_VERSIONS {
        let name = format!("cm-{}", v.replace('.', "-"));
        let f = s.write_file(&format!("{name}.yaml"), &BAD_CM.replace("NAME", &name));
        let f = f.to_str().expect("path");
        let err = s.kubectl_err(v, &["create", "-f", f]);
        assert!(err.contains("unknown field \"spec\""), "kubectl {v}: {err}");
        assert!(err.contains("strict decoding error"), "kubectl {v}: {err}");

        let dep = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d-{n}\nspec:\n  foo: 1\n  selector:\n    matchLabels: {{app: x}}\n  template:\n    metadata:\n      labels: {{app: x}}\n    spec:\n      containers:\n      - name: c\n        image: nginx\n        bogus: true\n",
            n = name
        );
        let f = s.write_file(&format!("d-{name}.yaml"), &dep);
        let f = f.to_str().expect("path");
        let err = s.kubectl_err(v, &["create", "-f", f]);
        assert!(err.contains("unknown field \"spec.foo\""), "kubectl {v}: {err}");
        assert!(
            err.contains("unknown field \"spec.template.spec.containers[0].bogus\""),
            "kubectl {v}: {err}"
        );

        let out = s.kubectl(v, &["create", "-f", f, "--validate=warn"]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "kubectl {v}: {stderr}");
        assert!(
            stderr.contains("Warning: unknown field \"spec.foo\""),
            "kubectl {v}: {stderr}"
        );
        let got = s.kubectl_ok(v, &["get", "deployment", &format!("d-{name}"), "-o", "json"]);
        assert!(
            !got.contains("bogus") && !got.contains("\"foo\""),
            "unknown fields are pruned: {got}"
        );
    }
}
