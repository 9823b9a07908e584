//! Build facts for `/version` and `capstan --version`, as upstream stamps them with ldflags:
//! the git commit and tree state of the checkout (`clean`/`dirty`), and the build date in UTC
//! (`SOURCE_DATE_EPOCH` when set, for reproducible builds). Outside a git checkout (a source
//! tarball, a vendored copy) commit and tree state are empty, as upstream's unset ldflags
//! leave them; the build never fails for want of git.
//!
//! It also generates the built-in kinds' schemas from k8s-openapi (see `src/api/schema.rs`), so
//! the server neither contains k8s-openapi's schema code nor builds the schemas at startup.

use std::process::Command;

#[path = "src/api/schema/codec.rs"]
mod codec;
#[path = "src/api/schema/convert.rs"]
mod convert;
#[path = "src/api/schema/generate.rs"]
mod generate;
#[path = "src/api/schema/model.rs"]
#[allow(dead_code)]
mod model;
use model::*;

/// What `model::Doc::Builtin` spans index at run time; nothing is encoded yet here.
fn builtin_docs() -> &'static str {
    ""
}

/// Writes the built-in schemas (structure, and descriptions) for `src/api/schema.rs`.
fn generate_schemas() {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let schemas = generate::build();
    let (structure, docs) = codec::encode(&schemas);
    std::fs::write(out.join("builtin-schemas.bin"), structure).expect("writing builtin-schemas.bin");
    std::fs::write(out.join("builtin-docs.txt"), docs).expect("writing builtin-docs.txt");
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Days since 1970-01-01 → (year, month, day).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn rfc3339(secs: i64) -> String {
    let (y, mo, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

fn main() {
    generate_schemas();
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_default();
    let tree_state = match (
        commit.is_empty(),
        git(&["status", "--porcelain", "--untracked-files=no"]),
    ) {
        (true, _) | (_, None) => "",
        (false, Some(changes)) if changes.is_empty() => "clean",
        (false, Some(_)) => "dirty",
    };
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
    println!("cargo:rustc-env=CAPSTAN_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=CAPSTAN_GIT_TREE_STATE={tree_state}");
    println!("cargo:rustc-env=CAPSTAN_BUILD_DATE={}", rfc3339(epoch));
    // Rerun when the sources or the checked-out commit change (not on every build: the crate
    // would recompile each time).
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    for path in ["HEAD", "packed-refs"] {
        if let Some(p) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]).and_then(|r| git(&["rev-parse", "--git-path", &r])) {
        println!("cargo:rerun-if-changed={r}");
    }
}
