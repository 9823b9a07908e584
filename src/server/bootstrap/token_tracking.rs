//! Upstream's legacy-token-tracking controller: the ConfigMap
//! `kube-system/kube-apiserver-legacy-service-account-token-tracking` holds `since`, the UTC date
//! from which this control plane records uses of legacy ServiceAccount token Secrets;
//! kube-controller-manager's legacy-token cleaner reads it. Deleted, it comes back (at most once
//! per 30 minutes after this server created it, upstream's rate limit); a `since` that is not a
//! date is rewritten.

use crate::api::selector::FieldSelector;
use crate::api::ResourceDef;
use crate::registry::options::ListOptions;
use crate::registry::store::{Part, Registry, WatchOut};
use crate::util::json::JsonExt;
use serde_json::json;
use std::time::{Duration, Instant};

pub const NAME: &str = "kube-apiserver-legacy-service-account-token-tracking";
const NAMESPACE: &str = "kube-system";
const RECREATE_EVERY: Duration = Duration::from_secs(30 * 60);

/// Ensure the ConfigMap now, then follow it for as long as the server runs.
pub async fn run(reg: Registry) {
    let Some(def) = crate::api::builtin_row("", "configmaps") else {
        return;
    };
    let mut created: Option<Instant> = None;
    loop {
        sync(&reg, def, &mut created).await;
        let opts = ListOptions {
            field_selector: FieldSelector::parse(&format!("metadata.name={NAME}")).unwrap_or_default(),
            ..ListOptions::default()
        };
        match reg.watch(def, Some(NAMESPACE), opts, Duration::from_secs(300)).await {
            Ok(mut events) => {
                while let Some(ev) = events.recv().await {
                    match ev {
                        WatchOut::Event(..) => sync(&reg, def, &mut created).await,
                        WatchOut::Error(_) => break,
                        WatchOut::Bookmark(..) => {}
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "legacy token tracking: cannot watch its ConfigMap; retrying");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

async fn sync(reg: &Registry, def: &'static ResourceDef, created: &mut Option<Instant>) {
    match reg.get(def, Some(NAMESPACE), NAME, None).await {
        Ok(current) => {
            let mut cm = current.value();
            if !is_date(cm.str_at("/data/since")) {
                if !cm["data"].is_object() {
                    cm["data"] = json!({});
                }
                cm["data"]["since"] = json!(today());
                // Not found or changed meanwhile: the watch brings the next round.
                if let Err(e) = reg
                    .update(def, Some(NAMESPACE), NAME, cm, Part::Main, false, None)
                    .await
                {
                    if e.code != 404 && e.code != 409 {
                        tracing::warn!(error = %e, "legacy token tracking: cannot fix its ConfigMap");
                    }
                }
            }
        }
        Err(e) if e.code == 404 => {
            if let Some(t) = created {
                tokio::time::sleep(RECREATE_EVERY.saturating_sub(t.elapsed())).await;
            }
            let cm = json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": NAME, "namespace": NAMESPACE},
                "data": {"since": today()},
            });
            match super::create_as_apiserver(reg, def, Some(NAMESPACE), cm).await {
                Ok(()) => *created = Some(Instant::now()),
                Err(e) if e.code == 409 => {}
                Err(e) => tracing::warn!(error = %e, "legacy token tracking: cannot create its ConfigMap"),
            }
        }
        Err(e) => tracing::warn!(error = %e, "legacy token tracking: cannot read its ConfigMap"),
    }
}

/// Today in UTC as Go's `2006-01-02`.
fn today() -> String {
    let (y, m, d, ..) = crate::util::time::civil_from_unix(crate::util::time::unix_now() as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Go's `time.Parse("2006-01-02", s)` accepts it (the shared RFC 3339 parser checks the
/// calendar, leap days included).
fn is_date(s: &str) -> bool {
    s.len() == 10 && crate::util::time::parse_rfc3339(&format!("{s}T00:00:00Z")).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_as_go_parses_them() {
        assert!(is_date(&today()));
        assert!(is_date("2024-02-29"));
        for bad in [
            "",
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "24-01-01x",
            "2024/01/01",
            "2024-01-00",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
    }
}
