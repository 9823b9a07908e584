//! `/healthz`, `/livez`, `/readyz`: per-check subpaths, `?verbose`, `?exclude=`, readable
//! anonymously, in upstream's text format.

use super::App;
use crate::codec::encode::bytes_response;
use crate::request::Query;
use bytes::Bytes;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use warp::reply::Response;

fn checks(app: &App, root: &str) -> Vec<&'static str> {
    let mut all = base_checks(root).to_vec();
    // Encryption's KMS check follows etcd's, on /healthz and /readyz only (as upstream).
    if root != "/livez" && app.encryption.as_ref().is_some_and(|e| e.has_health_check()) {
        let after = if root == "/readyz" { "etcd-readiness" } else { "etcd" };
        let at = all.iter().position(|c| *c == after).map_or(all.len(), |i| i + 1);
        all.insert(at, "kms-providers");
    }
    all
}

fn base_checks(root: &str) -> &'static [&'static str] {
    match root {
        "/readyz" => &[
            "ping",
            "log",
            "etcd",
            "etcd-readiness",
            "informer-sync",
            "poststarthook/start-capstan-bootstrap",
            "shutdown",
        ],
        _ => &["ping", "log", "etcd", "poststarthook/start-capstan-bootstrap"],
    }
}

async fn check_ok(app: &App, root: &str, name: &str) -> bool {
    check(app, root, name).await.is_ok()
}

/// One check; the error says why (the single-check endpoint reports it).
async fn check(app: &App, root: &str, check: &str) -> Result<(), String> {
    let ok = match check {
        "kms-providers" => {
            return match &app.encryption {
                Some(e) => e.check().await,
                None => Ok(()),
            }
        }
        "etcd" | "etcd-readiness" => match &app.etcd {
            Some(etcd) => etcd.check_health().await.is_ok(),
            None => true,
        },
        "informer-sync" => app.registry.caches.revision() >= 0,
        "poststarthook/start-capstan-bootstrap" => app.ready.load(Ordering::Acquire),
        "shutdown" => !(root == "/readyz" && app.shutting_down.load(Ordering::Acquire)),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{check} check failed"))
    }
}

pub async fn respond(app: &Arc<App>, root: &str, check: Option<&str>, query: &Query) -> Response {
    let name = root.trim_start_matches('/');
    let all = checks(app, root);
    if let Some(c) = check {
        if !all.contains(&c) {
            return bytes_response(404, "text/plain; charset=utf-8", Bytes::from("404 page not found\n"));
        }
        return match self::check(app, root, c).await {
            Ok(()) => bytes_response(200, "text/plain; charset=utf-8", Bytes::from("ok")),
            Err(e) => bytes_response(
                500,
                "text/plain; charset=utf-8",
                Bytes::from(format!("internal server error: {e}\n")),
            ),
        };
    }
    let excluded = query.all("exclude");
    let mut report = String::new();
    let mut failed = false;
    for c in &all {
        if excluded.contains(c) {
            report.push_str(&format!("[+]{c} excluded: ok\n"));
            continue;
        }
        if check_ok(app, root, c).await {
            report.push_str(&format!("[+]{c} ok\n"));
        } else {
            failed = true;
            report.push_str(&format!("[-]{c} failed: reason withheld\n"));
        }
    }
    let verbose = query.get("verbose").is_some();
    if failed {
        report.push_str(&format!("{name} check failed\n"));
        return bytes_response(500, "text/plain; charset=utf-8", Bytes::from(report));
    }
    if verbose {
        report.push_str(&format!("{name} check passed\n"));
        return bytes_response(200, "text/plain; charset=utf-8", Bytes::from(report));
    }
    bytes_response(200, "text/plain; charset=utf-8", Bytes::from("ok"))
}
