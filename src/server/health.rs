//! `/healthz`, `/livez`, `/readyz` as upstream serves them (`pkg/server/healthz`): named checks
//! that really check, per-check subpaths (`/readyz/etcd`), `?verbose`, `?exclude=<check>`, the
//! failure text (`[-]<check> failed: reason withheld`, the reason only in the log and on the
//! check's own path), readable anonymously.
//!
//! The checks, in upstream's order:
//! - `ping`; `log` (logging is not blocked: no log write has been stuck for 2 minutes);
//! - `etcd` (every endpoint) and `etcd-readiness` (`/readyz` only): the storage answers a read
//!   within its deadline and, on the embedded store, the writer thread is not stuck;
//! - `informer-sync` (`/readyz`): every informer has finished its first list;
//! - `poststarthook/<name>`: each start-up task has finished once;
//! - `shutdown` (`/readyz`): fails as soon as shutdown begins.
//!
//! More checks plug in with [`Health::add`] (e.g. `kms-providers` when encryption uses KMS).

use crate::codec::encode::bytes_response;
use crate::request::Query;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use warp::reply::Response;

/// A check: Ok, or what is wrong.
pub type Probe = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Which endpoints run a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `/healthz`, `/livez` and `/readyz` (upstream's `AddHealthChecks`).
    All,
    /// `/readyz` only (`AddReadyzChecks`).
    Ready,
    /// `/healthz` and `/readyz`, not `/livez` (upstream's KMS check).
    NotLive,
}

struct Check {
    name: String,
    scope: Scope,
    probe: Probe,
    /// On `/livez`, the check passes until then (`--livez-grace-period` for start-up hooks).
    live_after: Option<std::time::Instant>,
}

/// The server's health checks.
#[derive(Default)]
pub struct Health {
    checks: RwLock<Vec<Check>>,
    /// `--livez-grace-period`: how long after a start-up hook is registered `/livez` assumes it
    /// will finish (upstream's `AddBootSequenceHealthChecks`); `/readyz` never does.
    livez_grace: std::time::Duration,
}

/// A start-up task's `poststarthook/<name>` check: failing until [`Hook::done`].
#[derive(Clone)]
pub struct Hook(Arc<AtomicBool>);

impl Hook {
    pub fn done(&self) {
        self.0.store(true, Ordering::Release);
    }
}

impl Health {
    /// Checks whose start-up hooks `/livez` assumes healthy for `grace` after registration.
    pub fn with_livez_grace(grace: std::time::Duration) -> Health {
        Health {
            livez_grace: grace,
            ..Default::default()
        }
    }

    /// Add a check (after the ones already there).
    pub fn add(&self, name: &str, scope: Scope, probe: Probe) {
        self.push(name, scope, probe, None);
    }

    fn push(&self, name: &str, scope: Scope, probe: Probe, live_after: Option<std::time::Instant>) {
        self.checks.write().unwrap_or_else(|e| e.into_inner()).push(Check {
            name: name.to_string(),
            scope,
            probe,
            live_after,
        });
    }

    /// Add `poststarthook/<name>`, failing with "not finished" until the hook is done.
    pub fn hook(&self, name: &str) -> Hook {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let grace = (!self.livez_grace.is_zero()).then(|| std::time::Instant::now() + self.livez_grace);
        self.push(
            &format!("poststarthook/{name}"),
            Scope::All,
            Arc::new(move || {
                let finished = f.load(Ordering::Acquire);
                Box::pin(async move {
                    if finished {
                        Ok(())
                    } else {
                        Err("not finished".into())
                    }
                })
            }),
            grace,
        );
        Hook(flag)
    }

    /// The checks of `root` (`/healthz`, `/livez`, `/readyz`): name and probe.
    fn of(&self, root: &str) -> Vec<(String, Probe)> {
        let now = std::time::Instant::now();
        let passing: Probe = Arc::new(|| Box::pin(async { Ok(()) }));
        self.checks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|c| match c.scope {
                Scope::All => true,
                Scope::Ready => root == "/readyz",
                Scope::NotLive => root != "/livez",
            })
            .map(|c| match c.live_after {
                Some(t) if root == "/livez" && now < t => (c.name.clone(), passing.clone()),
                _ => (c.name.clone(), c.probe.clone()),
            })
            .collect()
    }
}

fn text(code: u16, body: String) -> Response {
    let mut r = bytes_response(code, "text/plain; charset=utf-8", Bytes::from(body));
    r.headers_mut().insert(
        http::header::HeaderName::from_static("x-content-type-options"),
        http::HeaderValue::from_static("nosniff"),
    );
    r
}

/// Serve `root` or one of its checks.
pub async fn respond(health: &Health, root: &str, check: Option<&str>, query: &Query) -> Response {
    let name = root.trim_start_matches('/');
    let all = health.of(root);
    if let Some(c) = check {
        let Some((_, probe)) = all.iter().find(|(n, _)| n == c) else {
            return text(404, "404 page not found\n".into());
        };
        return match probe().await {
            Ok(()) => text(200, "ok".into()),
            Err(e) => text(500, format!("internal server error: {e}\n")),
        };
    }
    let mut excluded: Vec<&str> = query.all("exclude");
    let mut report = String::new();
    let mut failed = Vec::new();
    for (c, probe) in &all {
        if let Some(i) = excluded.iter().position(|e| e == c) {
            excluded.remove(i);
            report.push_str(&format!("[+]{c} excluded: ok\n"));
            continue;
        }
        match probe().await {
            Ok(()) => report.push_str(&format!("[+]{c} ok\n")),
            Err(e) => {
                report.push_str(&format!("[-]{c} failed: reason withheld\n"));
                failed.push(format!("[-]{c} failed: {e}"));
            }
        }
    }
    excluded.sort();
    excluded.dedup();
    if !excluded.is_empty() {
        let names: Vec<String> = excluded.iter().map(|e| crate::util::go_quote(e)).collect();
        report.push_str(&format!(
            "warn: some health checks cannot be excluded: no matches for {}\n",
            names.join(",")
        ));
    }
    if !failed.is_empty() {
        tracing::info!(endpoint = name, failures = %failed.join("; "), "health check failed");
        report.push_str(&format!("{name} check failed\n"));
        return text(500, report);
    }
    if query.get("verbose").is_some() {
        report.push_str(&format!("{name} check passed\n"));
        return text(200, report);
    }
    text(200, "ok".into())
}

/// A probe from an async closure.
pub fn probe<F, Fut>(f: F) -> Probe
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    Arc::new(move || Box::pin(f()))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(r: Response) -> (u16, String) {
        let code = r.status().as_u16();
        let b = http_body_util::BodyExt::collect(r.into_body())
            .await
            .unwrap()
            .to_bytes();
        (code, String::from_utf8_lossy(&b).into_owned())
    }

    fn fixed(result: Result<(), &'static str>) -> Probe {
        probe(move || async move { result.map_err(str::to_string) })
    }

    #[tokio::test]
    async fn verbose_exclude_and_failures_read_like_upstream() {
        let h = Health::default();
        h.add("ping", Scope::All, fixed(Ok(())));
        h.add("etcd", Scope::All, fixed(Err("etcd is down")));
        let hook = h.hook("start-thing");
        h.add("shutdown", Scope::Ready, fixed(Ok(())));
        let q = |s: &str| Query::parse(s);
        let (code, b) = body(respond(&h, "/livez", None, &q("verbose")).await).await;
        assert_eq!(code, 500);
        assert_eq!(
            b,
            "[+]ping ok\n[-]etcd failed: reason withheld\n[-]poststarthook/start-thing failed: reason withheld\nlivez check failed\n"
        );
        hook.done();
        let (code, b) = body(respond(&h, "/readyz", None, &q("verbose&exclude=etcd&exclude=nope")).await).await;
        assert_eq!(code, 200, "{b}");
        assert_eq!(
            b,
            "[+]ping ok\n[+]etcd excluded: ok\n[+]poststarthook/start-thing ok\n[+]shutdown ok\nwarn: some health checks cannot be excluded: no matches for \"nope\"\nreadyz check passed\n"
        );
        let (code, b) = body(respond(&h, "/readyz", None, &q("exclude=etcd")).await).await;
        assert_eq!((code, b.as_str()), (200, "ok"));
        let (code, b) = body(respond(&h, "/livez", Some("etcd"), &q("")).await).await;
        assert_eq!((code, b.as_str()), (500, "internal server error: etcd is down\n"));
        let (code, _) = body(respond(&h, "/livez", Some("shutdown"), &q("")).await).await;
        assert_eq!(code, 404, "shutdown is a readyz check only");
    }

    /// `--livez-grace-period`: an unfinished start-up hook passes `/livez` during the grace
    /// period (the generic `etcd` check does not), and fails `/readyz` all along.
    #[tokio::test]
    async fn livez_grace_covers_start_up_hooks_only() {
        let h = Health::with_livez_grace(std::time::Duration::from_secs(3600));
        h.add("etcd", Scope::All, fixed(Err("etcd is down")));
        let _hook = h.hook("start-thing");
        let q = |s: &str| Query::parse(s);
        let (code, b) = body(respond(&h, "/livez", None, &q("verbose")).await).await;
        assert_eq!(code, 500);
        assert!(b.contains("[+]poststarthook/start-thing ok"), "{b}");
        assert!(b.contains("[-]etcd failed"), "{b}");
        let (code, _) = body(respond(&h, "/livez", None, &q("exclude=etcd")).await).await;
        assert_eq!(code, 200);
        let (code, _) = body(respond(&h, "/readyz", None, &q("exclude=etcd")).await).await;
        assert_eq!(code, 500, "readyz has no grace period");
        // Without a grace period the hook fails /livez until done.
        let h = Health::default();
        let _hook = h.hook("start-thing");
        let (code, _) = body(respond(&h, "/livez", None, &q("")).await).await;
        assert_eq!(code, 500);
    }
}
