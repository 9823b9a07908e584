//! Watchers (test/e2e/apimachinery/watch.go).

use crate::client::{check, check_eq, cm, rv, Ctx, Watch};
use crate::suite::{case, Case};
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::time::Duration;

pub fn cases() -> Vec<Case> {
    let n = |s: &str| format!("[sig-api-machinery] Watchers {s}");
    vec![
        case(&n("should observe add, update, and delete watch notifications on configmaps [Conformance]"), add_update_delete),
        case(&n("should be able to start watching from a specific resource version [Conformance]"), from_rv),
        case(
            &n("should be able to restart watching from the last resource version observed by the previous watch [Conformance]"),
            restart,
        ),
        case(
            &n("should observe an object deletion if it stops meeting the requirements of the selector [Conformance]"),
            selector_dropout,
        ),
        case(&n("should receive events on concurrent watches in same order [Conformance]"), concurrent),
    ]
}

const LABEL: &str = "watch-this-configmap";

/// List RV of the namespace's configmaps, to start watches without synthetic ADDED events.
async fn list_rv(c: &Ctx) -> Result<String> {
    let l = c.get(&c.cms()).await?.expect(200)?;
    Ok(l["metadata"]["resourceVersion"].as_str().unwrap_or("").to_string())
}

async fn watch_sel(c: &Ctx, selector: &str, from: &str) -> Result<Watch> {
    let sel = selector.replace(' ', "%20").replace('=', "%3D").replace(',', "%2C");
    c.watch(&format!(
        "{}?labelSelector={sel}&resourceVersion={from}&timeoutSeconds=120",
        c.cms()
    ))
    .await
}

async fn set_data(c: &Ctx, name: &str, key: &str, val: &str) -> Result<Value> {
    c.patch(
        &format!("{}/{name}", c.cms()),
        "application/merge-patch+json",
        &json!({"data": {key: val}}),
    )
    .await?
    .expect(200)
}

async fn add_update_delete(c: Ctx) -> Result<()> {
    let (a, b) = ("multiple-watchers-a", "multiple-watchers-b");
    let from = list_rv(&c).await?;
    let mut wa = watch_sel(&c, &format!("{LABEL}={a}"), &from).await?;
    let mut wb = watch_sel(&c, &format!("{LABEL}={b}"), &from).await?;
    let mut wab = watch_sel(&c, &format!("{LABEL} in ({a},{b})"), &from).await?;

    c.create(
        &c.cms(),
        &cm("e2e-watch-test-configmap-a", json!({LABEL: a}), json!({})),
    )
    .await?;
    for w in [&mut wa, &mut wab] {
        w.expect("ADDED", "e2e-watch-test-configmap-a").await?;
    }
    set_data(&c, "e2e-watch-test-configmap-a", "mutation", "1").await?;
    for w in [&mut wa, &mut wab] {
        let o = w.expect("MODIFIED", "e2e-watch-test-configmap-a").await?;
        check_eq(&o["data"]["mutation"], "1", "mutation")?;
    }
    set_data(&c, "e2e-watch-test-configmap-a", "mutation", "2").await?;
    for w in [&mut wa, &mut wab] {
        let o = w.expect("MODIFIED", "e2e-watch-test-configmap-a").await?;
        check_eq(&o["data"]["mutation"], "2", "mutation")?;
    }
    c.delete(&format!("{}/e2e-watch-test-configmap-a", c.cms()))
        .await?
        .expect(200)?;
    for w in [&mut wa, &mut wab] {
        w.expect("DELETED", "e2e-watch-test-configmap-a").await?;
    }
    c.create(
        &c.cms(),
        &cm("e2e-watch-test-configmap-b", json!({LABEL: b}), json!({})),
    )
    .await?;
    for w in [&mut wb, &mut wab] {
        w.expect("ADDED", "e2e-watch-test-configmap-b").await?;
    }
    c.delete(&format!("{}/e2e-watch-test-configmap-b", c.cms()))
        .await?
        .expect(200)?;
    for w in [&mut wb, &mut wab] {
        w.expect("DELETED", "e2e-watch-test-configmap-b").await?;
    }
    // Watch A never saw B, watch B never saw A.
    wa.expect_quiet(Duration::from_millis(500)).await?;
    wb.expect_quiet(Duration::from_millis(200)).await
}

async fn from_rv(c: Ctx) -> Result<()> {
    let name = "e2e-watch-test-resource-version";
    c.create(&c.cms(), &cm(name, json!({LABEL: "from-resource-version"}), json!({})))
        .await?;
    let first = set_data(&c, name, "mutation", "1").await?;
    set_data(&c, name, "mutation", "2").await?;
    c.delete(&format!("{}/{name}", c.cms())).await?.expect(200)?;
    let mut w = watch_sel(&c, &format!("{LABEL}=from-resource-version"), &rv(&first)).await?;
    let o = w.expect("MODIFIED", name).await?;
    check_eq(&o["data"]["mutation"], "2", "first event after the given RV")?;
    w.expect("DELETED", name).await?;
    Ok(())
}

async fn restart(c: Ctx) -> Result<()> {
    let name = "e2e-watch-test-watch-closed";
    let sel = format!("{LABEL}=watch-closed-and-restarted");
    let mut w = watch_sel(&c, &sel, &list_rv(&c).await?).await?;
    c.create(
        &c.cms(),
        &cm(name, json!({LABEL: "watch-closed-and-restarted"}), json!({})),
    )
    .await?;
    set_data(&c, name, "mutation", "1").await?;
    w.expect("ADDED", name).await?;
    let last = w.expect("MODIFIED", name).await?;
    drop(w);
    set_data(&c, name, "mutation", "2").await?;
    c.delete(&format!("{}/{name}", c.cms())).await?.expect(200)?;
    let mut w2 = watch_sel(&c, &sel, &rv(&last)).await?;
    let o = w2.expect("MODIFIED", name).await?;
    check_eq(&o["data"]["mutation"], "2", "mutation after restart")?;
    w2.expect("DELETED", name).await?;
    Ok(())
}

async fn selector_dropout(c: Ctx) -> Result<()> {
    let name = "e2e-watch-test-label-changed";
    let sel = format!("{LABEL}=label-changed-and-restored");
    let mut w = watch_sel(&c, &sel, &list_rv(&c).await?).await?;
    let path = format!("{}/{name}", c.cms());
    c.create(
        &c.cms(),
        &cm(name, json!({LABEL: "label-changed-and-restored"}), json!({})),
    )
    .await?;
    w.expect("ADDED", name).await?;
    set_data(&c, name, "mutation", "1").await?;
    w.expect("MODIFIED", name).await?;
    let relabel = |v: &str| json!({"metadata": {"labels": {LABEL: v}}});
    c.patch(&path, "application/merge-patch+json", &relabel("wrong-value"))
        .await?
        .expect(200)?;
    let o = w.expect("DELETED", name).await?;
    // Upstream (cacher and etcd3 watchers) sends the previous object content with the event's RV.
    check_eq(
        &o["metadata"]["labels"][LABEL],
        "label-changed-and-restored",
        "DELETED carries the last matching state",
    )?;
    set_data(&c, name, "mutation", "2").await?;
    w.expect_quiet(Duration::from_secs(1)).await?;
    c.patch(
        &path,
        "application/merge-patch+json",
        &relabel("label-changed-and-restored"),
    )
    .await?
    .expect(200)?;
    let o = w.expect("ADDED", name).await?;
    check_eq(
        &o["data"]["mutation"],
        "2",
        "ADDED after restore carries the current data",
    )?;
    set_data(&c, name, "mutation", "3").await?;
    w.expect("MODIFIED", name).await?;
    c.delete(&path).await?.expect(200)?;
    w.expect("DELETED", name).await?;
    Ok(())
}

async fn concurrent(c: Ctx) -> Result<()> {
    const EVENTS: usize = 40;
    const WATCHERS: usize = 5;
    let sel = format!("{LABEL}=concurrent");
    let mut w0 = watch_sel(&c, &sel, &list_rv(&c).await?).await?;
    let producer = {
        let c = c.clone();
        tokio::spawn(async move {
            let mut live: Vec<String> = Vec::new();
            for i in 0..EVENTS {
                let op = rand::random::<u32>() % 3;
                if live.is_empty() || op == 0 {
                    let name = format!("cm-{i}");
                    c.create(&c.cms(), &cm(&name, json!({LABEL: "concurrent"}), json!({})))
                        .await?;
                    live.push(name);
                } else if op == 1 {
                    let name = &live[rand::random::<u32>() as usize % live.len()];
                    set_data(&c, name, "mutation", &i.to_string()).await?;
                } else {
                    let name = live.remove(rand::random::<u32>() as usize % live.len());
                    c.delete(&format!("{}/{name}", c.cms())).await?.expect(200)?;
                }
            }
            anyhow::Ok(())
        })
    };
    // Start a new watcher from each of the first events' RVs while the producer is running.
    let mut seen: Vec<(String, String, String)> = Vec::new();
    let mut others: Vec<(usize, Watch)> = Vec::new();
    while seen.len() < EVENTS {
        let (t, o) = w0.next(Duration::from_secs(30)).await?;
        seen.push((t, o["metadata"]["name"].as_str().unwrap_or("").to_string(), rv(&o)));
        if others.len() < WATCHERS {
            others.push((seen.len(), watch_sel(&c, &sel, &rv(&o)).await?));
        }
    }
    match producer.await {
        Ok(r) => r?,
        Err(e) => bail!("producer: {e}"),
    }
    for (start, mut w) in others {
        for (i, want) in seen.iter().enumerate().skip(start) {
            let (t, o) = w.next(Duration::from_secs(30)).await?;
            let got = (t, o["metadata"]["name"].as_str().unwrap_or("").to_string(), rv(&o));
            check(got == *want, || {
                format!("watcher from event {start}: event {i} is {got:?}, first watcher saw {want:?}")
            })?;
        }
    }
    Ok(())
}
