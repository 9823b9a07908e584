//! Upstream's APF configuration producer (`pkg/registry/flowcontrol/ensurer` and
//! `rest/storage_flowcontrol.go`): on start, and every minute after, the mandatory and suggested
//! FlowSchemas and PriorityLevelConfigurations are created when missing and kept current.
//!
//! - Mandatory objects (`exempt`, `catch-all`) always get the bootstrap spec back.
//! - Suggested objects are updated only while `apf.kubernetes.io/autoupdate-spec` says `true`
//!   (or, without a valid annotation, while `metadata.generation` is 1 — nobody changed them);
//!   the annotation is then set to what was decided. An operator who sets it to `false` keeps
//!   their edits.
//! - Objects that carry `autoupdate-spec: true` but are no longer part of the bootstrap set are
//!   deleted.

use crate::api::strategy::flowcontrol::{bootstrap, spec_equal, AUTO_UPDATE_ANNOTATION, EXEMPT};
use crate::api::ResourceDef;
use crate::registry::options::{DeleteOptions, ListOptions};
use crate::registry::store::Part;
use crate::registry::Registry;
use crate::util::json::JsonExt;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

/// The field manager of the producer's writes.
const MANAGER: &str = "api-priority-and-fairness-config-producer-v1";
const GROUP: &str = "flowcontrol.apiserver.k8s.io";

fn annotation(v: &Value) -> Option<&str> {
    v.pointer("/metadata/annotations")
        .and_then(|a| a.get(AUTO_UPDATE_ANNOTATION))
        .and_then(Value::as_str)
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The revised object when `current` must change (upstream's `ReviseIfNeeded`).
pub fn revise(current: &Value, boot: &Value, mandatory: bool) -> Option<Value> {
    let auto = mandatory
        || match annotation(current).and_then(parse_bool) {
            Some(b) => b,
            None => current.pointer("/metadata/generation").and_then(Value::as_i64) == Some(1),
        };
    let update_annotation = annotation(current).and_then(parse_bool) != Some(auto);
    let mut boot_spec = boot.get("spec").cloned().unwrap_or(Value::Null);
    // The exempt level's shares and lending are the operator's to tune (upstream's
    // `plcSpecEqualish`): compared and kept as they are.
    if boot.get("kind").and_then(Value::as_str) == Some("PriorityLevelConfiguration")
        && boot.pointer("/metadata/name").and_then(Value::as_str) == Some(EXEMPT)
    {
        if let Some(theirs) = current.pointer("/spec/exempt").filter(|e| e.is_object()) {
            for k in ["nominalConcurrencyShares", "lendablePercent"] {
                if let Some(v) = theirs.get(k) {
                    boot_spec["exempt"][k] = v.clone();
                }
            }
        }
    }
    let spec_changed = auto && !spec_equal(&boot_spec, current.get("spec").unwrap_or(&Value::Null));
    if !update_annotation && !spec_changed {
        return None;
    }
    let mut revised = current.clone();
    if spec_changed {
        revised["spec"] = boot_spec;
    }
    if update_annotation {
        if !revised.pointer("/metadata/annotations").is_some_and(Value::is_object) {
            revised["metadata"]["annotations"] = json!({});
        }
        revised["metadata"]["annotations"][AUTO_UPDATE_ANNOTATION] = json!(auto.to_string());
    }
    Some(revised)
}

/// Create `boot` if missing, else revise it.
async fn ensure_one(reg: &Registry, def: &ResourceDef, boot: &Value, mandatory: bool) -> Result<(), String> {
    let name = boot.str_at("/metadata/name");
    match reg.get(def, None, name, Some(0)).await {
        Err(e) if e.code == 404 => {
            let mut obj = boot.clone();
            obj["metadata"]["annotations"] = json!({AUTO_UPDATE_ANNOTATION: "true"});
            match reg.create(def, None, obj, false).await {
                Ok(_) => {
                    tracing::debug!(kind = def.kind, name, "created the APF bootstrap object");
                    Ok(())
                }
                // Created concurrently (another server): looked at again on the next round.
                Err(e) if e.code == 409 => Ok(()),
                Err(e) => Err(format!("cannot create {} {name}: {}", def.kind, e.message)),
            }
        }
        Err(e) => Err(format!("cannot read {} {name}: {}", def.kind, e.message)),
        Ok(current) => {
            let Some(revised) = revise(&current.value(), boot, mandatory) else {
                return Ok(());
            };
            match reg
                .update(def, None, name, revised, Part::Main, false, Some(MANAGER))
                .await
            {
                Ok(_) => {
                    tracing::info!(kind = def.kind, name, "updated the APF bootstrap object");
                    Ok(())
                }
                Err(e) if e.code == 409 || e.code == 404 => Ok(()),
                Err(e) => Err(format!("cannot update {} {name}: {}", def.kind, e.message)),
            }
        }
    }
}

/// Delete objects marked for auto-update that the bootstrap set no longer has.
async fn remove_unwanted(reg: &Registry, def: &ResourceDef, wanted: &[Value]) -> Result<(), String> {
    let names: HashSet<&str> = wanted
        .iter()
        .filter_map(|o| o.pointer("/metadata/name").and_then(Value::as_str))
        .collect();
    let list = reg
        .list(def, None, &ListOptions::default())
        .await
        .map_err(|e| format!("cannot list {}: {}", def.plural, e.message))?;
    for o in &list.items {
        let name = o.name();
        if names.contains(name) || annotation(&o.value()).and_then(parse_bool) != Some(true) {
            continue;
        }
        match reg.delete(def, None, name, &DeleteOptions::default()).await {
            Ok(_) => tracing::info!(
                kind = def.kind,
                name,
                "deleted an APF object no longer in the bootstrap set"
            ),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(format!("cannot delete {} {name}: {}", def.kind, e.message)),
        }
    }
    Ok(())
}

/// One round: suggested, then mandatory objects, then the ones to remove.
pub async fn ensure(reg: &Registry) -> Result<(), String> {
    let find = |plural: &str| {
        reg.find(GROUP, "v1", plural)
            .ok_or_else(|| format!("resource table lacks {plural}"))
    };
    let (fs, pl) = (find("flowschemas")?, find("prioritylevelconfigurations")?);
    let b = bootstrap();
    for o in &b.suggested_priority_levels {
        ensure_one(reg, pl, o, false).await?;
    }
    for o in &b.suggested_flow_schemas {
        ensure_one(reg, fs, o, false).await?;
    }
    for o in &b.mandatory_priority_levels {
        ensure_one(reg, pl, o, true).await?;
    }
    for o in &b.mandatory_flow_schemas {
        ensure_one(reg, fs, o, true).await?;
    }
    let all_fs: Vec<Value> = b
        .mandatory_flow_schemas
        .iter()
        .chain(&b.suggested_flow_schemas)
        .cloned()
        .collect();
    let all_pl: Vec<Value> = b
        .mandatory_priority_levels
        .iter()
        .chain(&b.suggested_priority_levels)
        .cloned()
        .collect();
    remove_unwanted(reg, fs, &all_fs).await?;
    remove_unwanted(reg, pl, &all_pl).await
}

/// Run the producer: retry every second until a round succeeds (then `done` is called), and
/// keep reconciling every minute after.
pub fn spawn(reg: Registry, done: impl FnOnce() + Send + 'static) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Tests hold the producer back (debug builds only) to see its start-up hook fail.
        crate::util::fault::wait_while("apf-producer-hold").await;
        loop {
            match ensure(&reg).await {
                Ok(()) => break,
                Err(e) => tracing::warn!(error = %e, "APF bootstrap ensurer ran into an error; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        done();
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            if let Err(e) = ensure(&reg).await {
                tracing::warn!(error = %e, "APF bootstrap ensurer ran into an error; retrying later");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot() -> Value {
        bootstrap().suggested_priority_levels[0].clone()
    }

    #[test]
    fn the_exempt_levels_tuning_is_kept() {
        let b = bootstrap()
            .mandatory("PriorityLevelConfiguration", EXEMPT)
            .unwrap()
            .clone();
        let mut current = b.clone();
        current["metadata"]["annotations"] = json!({AUTO_UPDATE_ANNOTATION: "true"});
        current["spec"]["exempt"]["nominalConcurrencyShares"] = json!(10);
        assert_eq!(revise(&current, &b, true), None);
        current["spec"]["type"] = json!("Limited");
        let r = revise(&current, &b, true).unwrap();
        assert_eq!(r["spec"]["type"], "Exempt");
        assert_eq!(r["spec"]["exempt"]["nominalConcurrencyShares"], 10);
    }

    #[test]
    fn suggested_objects_follow_the_annotation() {
        let b = boot();
        let mut current = b.clone();
        current["metadata"]["annotations"] = json!({AUTO_UPDATE_ANNOTATION: "true"});
        current["metadata"]["generation"] = json!(3);
        assert_eq!(revise(&current, &b, false), None, "up to date");
        current["spec"]["limited"]["nominalConcurrencyShares"] = json!(1);
        let r = revise(&current, &b, false).expect("auto-updated back");
        assert_eq!(r["spec"], b["spec"]);
        // The operator opted out: edits stay, nothing is written.
        current["metadata"]["annotations"][AUTO_UPDATE_ANNOTATION] = json!("false");
        assert_eq!(revise(&current, &b, false), None);
        // Mandatory objects are stomped regardless, and the annotation says so.
        let r = revise(&current, &b, true).unwrap();
        assert_eq!(r["spec"], b["spec"]);
        assert_eq!(r["metadata"]["annotations"][AUTO_UPDATE_ANNOTATION], "true");
        // No annotation: generation 1 means untouched (updated, annotated true); else kept
        // and annotated false.
        let mut plain = b.clone();
        plain["metadata"]["generation"] = json!(2);
        plain["spec"]["limited"]["nominalConcurrencyShares"] = json!(7);
        let r = revise(&plain, &b, false).unwrap();
        assert_eq!(r["spec"]["limited"]["nominalConcurrencyShares"], 7);
        assert_eq!(r["metadata"]["annotations"][AUTO_UPDATE_ANNOTATION], "false");
        plain["metadata"]["generation"] = json!(1);
        let r = revise(&plain, &b, false).unwrap();
        assert_eq!(r["spec"], b["spec"]);
        assert_eq!(r["metadata"]["annotations"][AUTO_UPDATE_ANNOTATION], "true");
    }
}
