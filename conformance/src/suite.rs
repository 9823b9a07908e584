//! Case registry, focus/skip selection, the parallel runner and the report writers.

use crate::client::{Ctx, Env, Kubectl};
use anyhow::Result;
use regex::Regex;
use serde_json::json;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub type CaseFn = Arc<dyn Fn(Ctx) -> Pin<Box<dyn Future<Output = Result<()>> + Send>> + Send + Sync>;

/// What a case needs besides an API server.
#[derive(Clone, Debug, PartialEq)]
pub enum Needs {
    ApiServer,
    /// A Ready node (running pods).
    #[allow(dead_code)]
    Kubelet,
    ControllerManager,
    /// Capstan-specific behaviour: only run when /version says capstan.
    Capstan,
    /// Never run by default (e.g. [Slow]); the reason is reported.
    Disabled(&'static str),
}

#[derive(Clone)]
pub struct Case {
    pub name: String,
    pub needs: Needs,
    pub timeout: Duration,
    pub kubectl: Option<Kubectl>,
    pub func: CaseFn,
}

/// Register an API-server-only case.
pub fn case<F, Fut>(name: &str, f: F) -> Case
where
    F: Fn(Ctx) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    Case {
        name: name.to_string(),
        needs: Needs::ApiServer,
        timeout: Duration::from_secs(120),
        kubectl: None,
        func: Arc::new(move |c| Box::pin(f(c))),
    }
}

impl Case {
    pub fn needs(mut self, n: Needs) -> Self {
        self.needs = n;
        self
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    Passed,
    Failed(String),
    Skipped(String),
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub name: String,
    pub status: Status,
    pub duration: Duration,
}

/// Focus/skip selection, like ginkgo's: a case runs when it matches focus (if any) and not skip (if any).
pub struct Filter {
    pub focus: Option<Regex>,
    pub skip: Option<Regex>,
}

impl Filter {
    pub fn new(focus: Option<&str>, skip: Option<&str>) -> Result<Self> {
        let compile = |s: Option<&str>| -> Result<Option<Regex>> {
            Ok(match s {
                Some(p) if !p.is_empty() => Some(Regex::new(p)?),
                _ => None,
            })
        };
        Ok(Filter {
            focus: compile(focus)?,
            skip: compile(skip)?,
        })
    }

    pub fn selects(&self, name: &str) -> bool {
        self.focus.as_ref().is_none_or(|r| r.is_match(name)) && !self.skip.as_ref().is_some_and(|r| r.is_match(name))
    }
}

/// Why a case cannot run on this server, if it cannot.
pub fn skip_reason(needs: &Needs, env: &Env) -> Option<String> {
    match needs {
        Needs::ApiServer => None,
        Needs::Kubelet if !env.has_kubelet => Some("needs a kubelet (no Ready node)".into()),
        Needs::ControllerManager if !env.has_controller_manager => Some("needs kube-controller-manager".into()),
        Needs::Capstan if !env.is_capstan => Some("[Capstan] server is not Capstan".into()),
        Needs::Disabled(r) => Some((*r).to_string()),
        _ => None,
    }
}

fn ns_name(i: usize) -> String {
    let suffix: u32 = rand::random::<u32>() % 100_000;
    format!("capstan-cf-{i}-{suffix:05}")
}

async fn run_one(env: Arc<Env>, case: Case, idx: usize) -> Outcome {
    let start = Instant::now();
    let ns = ns_name(idx);
    let ctx = Ctx {
        env,
        ns: ns.clone(),
        kubectl: case.kubectl.clone(),
    };
    let body = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": ns, "labels": {"e2e-framework": "capstan-conformance"}}});
    let status = match ctx.post("/api/v1/namespaces", &body).await {
        Ok(r) if r.status == 201 => {
            let f = case.func.clone();
            let fut = tokio::spawn(f(ctx.clone()));
            let abort = fut.abort_handle();
            let st = match tokio::time::timeout(case.timeout, fut).await {
                Err(_) => {
                    abort.abort();
                    Status::Failed(format!("timed out after {:?}", case.timeout))
                }
                Ok(Err(join)) => Status::Failed(format!("case panicked: {join}")),
                Ok(Ok(Err(e))) => Status::Failed(format!("{e:#}")),
                Ok(Ok(Ok(()))) => Status::Passed,
            };
            let _ = ctx.delete(&format!("/api/v1/namespaces/{ns}")).await;
            st
        }
        Ok(r) => Status::Failed(format!("creating namespace {ns}: HTTP {}: {}", r.status, r.text())),
        Err(e) => Status::Failed(format!("creating namespace {ns}: {e:#}")),
    };
    Outcome {
        name: case.name,
        status,
        duration: start.elapsed(),
    }
}

/// Run the selected cases with at most `parallel` at once; results are in registration order.
pub async fn run(env: Arc<Env>, cases: Vec<Case>, parallel: usize) -> Vec<Outcome> {
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let mut handles = Vec::new();
    for (i, case) in cases.into_iter().enumerate() {
        if let Some(reason) = skip_reason(&case.needs, &env) {
            let o = Outcome {
                name: case.name,
                status: Status::Skipped(reason),
                duration: Duration::ZERO,
            };
            handles.push(tokio::spawn(async move { o }));
            continue;
        }
        let env = env.clone();
        let sem = sem.clone();
        handles.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await;
            let o = run_one(env, case, i).await;
            let tag = match &o.status {
                Status::Passed => "PASS",
                Status::Failed(_) => "FAIL",
                Status::Skipped(_) => "SKIP",
            };
            eprintln!("[{tag}] {:.1}s {}", o.duration.as_secs_f64(), o.name);
            o
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        match h.await {
            Ok(o) => out.push(o),
            Err(e) => out.push(Outcome {
                name: "runner".into(),
                status: Status::Failed(format!("runner task failed: {e}")),
                duration: Duration::ZERO,
            }),
        }
    }
    out
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // XML 1.0 forbids most control characters.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => o.push('?'),
            c => o.push(c),
        }
    }
    o
}

/// JUnit XML in the shape sonobuoy/e2e.test produce (`junit_01.xml`).
pub fn junit_xml(suite: &str, outcomes: &[Outcome], total: Duration) -> String {
    let failures = outcomes
        .iter()
        .filter(|o| matches!(o.status, Status::Failed(_)))
        .count();
    let skipped = outcomes
        .iter()
        .filter(|o| matches!(o.status, Status::Skipped(_)))
        .count();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites tests=\"{}\" disabled=\"{skipped}\" errors=\"0\" failures=\"{failures}\" time=\"{:.3}\">",
        outcomes.len(),
        total.as_secs_f64()
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{}\" skipped=\"{skipped}\" errors=\"0\" failures=\"{failures}\" time=\"{:.3}\">",
        xml_escape(suite),
        outcomes.len(),
        total.as_secs_f64()
    );
    for o in outcomes {
        let head = format!(
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
            xml_escape(&o.name),
            xml_escape(suite),
            o.duration.as_secs_f64()
        );
        match &o.status {
            Status::Passed => {
                let _ = writeln!(x, "{head}></testcase>");
            }
            Status::Skipped(r) => {
                let _ = writeln!(
                    x,
                    "{head}>\n      <skipped message=\"{}\"></skipped>\n    </testcase>",
                    xml_escape(r)
                );
            }
            Status::Failed(m) => {
                let first = m.lines().next().unwrap_or("");
                let _ = writeln!(
                    x,
                    "{head}>\n      <failure message=\"{}\" type=\"failed\">{}</failure>\n    </testcase>",
                    xml_escape(first),
                    xml_escape(m)
                );
            }
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// Human summary table for stdout.
pub fn summary(outcomes: &[Outcome], total: Duration) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{:<6} {:>7}  CASE", "RESULT", "TIME");
    for o in outcomes {
        let (tag, extra) = match &o.status {
            Status::Passed => ("PASS", String::new()),
            Status::Failed(m) => (
                "FAIL",
                format!("\n               {}", m.replace('\n', "\n               ")),
            ),
            Status::Skipped(r) => ("SKIP", format!("  ({r})")),
        };
        let _ = writeln!(s, "{tag:<6} {:>6.1}s  {}{extra}", o.duration.as_secs_f64(), o.name);
    }
    let count = |f: fn(&Status) -> bool| outcomes.iter().filter(|o| f(&o.status)).count();
    let _ = writeln!(
        s,
        "\n{} cases in {:.1}s\nconformance: {} passed, {} failed, {} skipped",
        outcomes.len(),
        total.as_secs_f64(),
        count(|s| *s == Status::Passed),
        count(|s| matches!(s, Status::Failed(_))),
        count(|s| matches!(s, Status::Skipped(_))),
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(name: &str, status: Status) -> Outcome {
        Outcome {
            name: name.into(),
            status,
            duration: Duration::from_millis(1500),
        }
    }

    #[test]
    fn junit_counts_escapes_and_marks_failures_and_skips() {
        let outs = vec![
            o("[sig-api-machinery] a <b> & \"c\"", Status::Passed),
            o("fails", Status::Failed("expected 404\nsecond line".into())),
            o("skips", Status::Skipped("needs a kubelet (no Ready node)".into())),
        ];
        let x = junit_xml("capstan-conformance", &outs, Duration::from_secs(3));
        assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites tests=\"3\""));
        assert!(x.contains("failures=\"1\""), "{x}");
        assert!(x.contains("skipped=\"1\""), "{x}");
        assert!(
            x.contains("name=\"[sig-api-machinery] a &lt;b&gt; &amp; &quot;c&quot;\""),
            "{x}"
        );
        assert!(x.contains("time=\"1.500\""), "{x}");
        assert!(
            x.contains("<failure message=\"expected 404\" type=\"failed\">expected 404\nsecond line</failure>"),
            "{x}"
        );
        assert!(
            x.contains("<skipped message=\"needs a kubelet (no Ready node)\"></skipped>"),
            "{x}"
        );
        assert!(x.ends_with("</testsuite>\n</testsuites>\n"));
        assert_eq!(xml_escape("a\u{1}b"), "a?b");
    }

    #[test]
    fn focus_and_skip_select_like_ginkgo() {
        let all = Filter::new(None, Some("")).unwrap();
        assert!(all.selects("anything"));
        let f = Filter::new(Some(r"\[sig-api-machinery\] Watchers"), Some("concurrent")).unwrap();
        assert!(
            f.selects("[sig-api-machinery] Watchers should be able to start watching from a specific resource version")
        );
        assert!(!f.selects("[sig-api-machinery] Watchers should receive events on concurrent watches in same order"));
        assert!(!f.selects("[sig-cli] Kubectl client"));
        let skip_only = Filter::new(None, Some(r"kubectl 1\.2[78]")).unwrap();
        assert!(!skip_only.selects("[sig-cli] Kubectl client [kubectl 1.27] create"));
        assert!(skip_only.selects("[sig-cli] Kubectl client [kubectl 1.33] create"));
        assert!(Filter::new(Some("("), None).is_err());
    }
}
