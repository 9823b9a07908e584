//! `--scenario node-pods`: what every kubelet does at scale. `--objects` pods spread over
//! `--nodes` nodes, then LISTs of one node's pods by `fieldSelector=spec.nodeName=<node>` across
//! all namespaces (as a kubelet's reflector asks), checked for exactly that node's pods.

use super::{name_of, status_message, Ctx, Stats};
use serde_json::{json, Value};
use std::sync::Arc;

fn node_of(i: usize, nodes: usize) -> String {
    format!("load-node-{:04}", i % nodes.max(1))
}

fn pods_path(ctx: &Ctx) -> String {
    format!("/api/v1/namespaces/{}/pods", ctx.ns)
}

fn pod_body(i: usize, nodes: usize) -> Vec<u8> {
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name_of(i), "labels": {"app": "capstan-load"}},
        "spec": {
            "nodeName": node_of(i, nodes),
            "automountServiceAccountToken": false,
            "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}],
        },
    });
    serde_json::to_vec(&pod).unwrap_or_default()
}

/// Create the pods (those that exist already are kept), then time the per-node lists.
pub async fn run(ctx: &Arc<Ctx>, pods: usize, nodes: usize, repeats: usize) -> Vec<Stats> {
    let nodes = nodes.clamp(1, pods.max(1));
    let c1 = ctx.clone();
    let mut create = ctx
        .phase(
            "create pod (setup, bound to a node)",
            0..pods,
            ctx.concurrency,
            Arc::new(move |i| ("POST", pods_path(&c1), Some(pod_body(i, nodes)))),
            Arc::new(|_, r, _| match r.status {
                201 | 409 => Ok(()),
                _ => Err(status_message(r)),
            }),
        )
        .await;
    create.note = format!("{pods} pods on {nodes} nodes");
    let per_node = move |k: usize| pods / nodes + usize::from(k < pods % nodes);
    let mut list = ctx
        .phase(
            &format!("list pods of one node (fieldSelector=spec.nodeName, {pods} pods)"),
            0..nodes * repeats.max(1),
            ctx.concurrency,
            Arc::new(move |i| {
                let node = node_of(i % nodes, nodes);
                (
                    "GET",
                    format!("/api/v1/pods?fieldSelector=spec.nodeName%3D{node}"),
                    None,
                )
            }),
            Arc::new(move |i, r, _| {
                if r.status != 200 {
                    return Err(status_message(r));
                }
                let v: Value = serde_json::from_slice(&r.body).map_err(|e| format!("bad list JSON: {e}"))?;
                let got = v.get("items").and_then(Value::as_array).map_or(0, Vec::len);
                let want = per_node(i % nodes);
                if got != want {
                    return Err(format!("node list returned {got} pods, expected {want}"));
                }
                Ok(())
            }),
        )
        .await;
    list.note = format!("{} pods per node", pods / nodes);
    vec![create, list]
}
