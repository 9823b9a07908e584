//! `docs/admission-reference.md` against the code: every upstream plugin name is listed once,
//! in upstream's order, with upstream's default and its state in Capstan; each name the
//! constructor table builds leads to a plugin module with a real `admit` or `validate`; no name
//! is accepted and ignored.

use capstan::admission::plugins::REFUSED;
use capstan::admission::ORDERED_PLUGINS;
use std::path::Path;

fn read(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// The reference table's rows: (plugin, default, state).
fn reference_rows() -> Vec<(String, String, String)> {
    read("docs/admission-reference.md")
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Plugin") && !l.starts_with("|---"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].to_string(), cells[2].to_string(), cells[3].to_string())
        })
        .collect()
}

/// `"Name" => <expression>` arms of `plugins::build`.
fn build_arms() -> Vec<(String, String)> {
    let src = read("src/admission/plugins/mod.rs");
    let body = src
        .split("pub fn build(")
        .nth(1)
        .and_then(|s| s.split("other => return Err").next())
        .expect("plugins::build and its unknown-name arm");
    body.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix('"')?;
            let (name, expr) = rest.split_once("\" => ")?;
            Some((name.to_string(), expr.trim_end_matches(',').to_string()))
        })
        .collect()
}

#[test]
fn the_reference_lists_every_upstream_plugin_with_its_default_and_state() {
    let rows = reference_rows();
    let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let upstream: Vec<&str> = ORDERED_PLUGINS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names, upstream,
        "the reference lists upstream's names in upstream's order"
    );
    let arms = build_arms();
    for ((name, default, state), (_, on)) in rows.iter().zip(ORDERED_PLUGINS) {
        assert_eq!(default, if *on { "on" } else { "off" }, "{name}: default");
        let arm = arms.iter().find(|(n, _)| n == name).map(|(_, e)| e.as_str());
        let want = if REFUSED.iter().any(|(n, _)| n == name) {
            "refused"
        } else if arm.is_some_and(|e| e.contains("Built::Policy")) {
            "policy hook"
        } else {
            "implemented"
        };
        assert_eq!(state, want, "{name}: state");
        if want != "refused" {
            assert!(arm.is_some(), "{name} has no arm in plugins::build");
        }
    }
}

/// Each built plugin is a module of `src/admission/plugins` whose type has `admit` or
/// `validate`; only AlwaysAdmit may admit everything (that is its upstream behaviour).
#[test]
fn every_built_name_runs_real_code() {
    let arms = build_arms();
    assert!(arms.len() >= ORDERED_PLUGINS.len() - REFUSED.len(), "{arms:?}");
    for (name, expr) in &arms {
        assert!(
            ORDERED_PLUGINS.iter().any(|(n, _)| n == name),
            "plugins::build accepts {name}, which upstream does not know"
        );
        let Some(path) = expr.strip_prefix("Box::new(") else {
            // Webhooks and policies: dispatched by the chain itself.
            assert!(expr.starts_with("return Ok(Built::"), "{name}: {expr}");
            continue;
        };
        let module = path.split("::").next().unwrap_or_default();
        let ty = path.split("::").nth(1).unwrap_or_default();
        let ty = ty.split(['(', ')', ' ']).next().unwrap_or_default();
        let src = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("src/admission/plugins/{module}.rs")),
        )
        .unwrap_or_else(|e| panic!("{name}: module {module}: {e}"));
        let plugin_impl = format!("impl Plugin for {ty}");
        let body = src
            .split(&plugin_impl)
            .nth(1)
            .unwrap_or_else(|| panic!("{name}: no `{plugin_impl}` in {module}.rs"));
        let body = body.split("\nimpl ").next().unwrap_or(body);
        assert!(
            body.contains("fn admit") || body.contains("fn validate") || name == "AlwaysAdmit",
            "{name}: {ty} neither admits nor validates"
        );
        assert!(
            body.contains(&format!("\"{name}\"")),
            "{name}: {ty} does not report its name"
        );
    }
}
