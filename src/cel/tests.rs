//! Expressions and their results, errors and costs as upstream (cel-go v0.23 with
//! Kubernetes' libraries at 1.33) reports them.

use super::*;
use serde_json::json;

fn env() -> Env {
    Env::new()
        .var("object", Type::Dyn)
        .var("request", request_type())
        .var("namespaceObject", namespace_type())
}

/// Evaluate `expr` against `obj` as `object`; the value as a display string or `error: …`.
fn run(expr: &str, obj: serde_json::Value) -> String {
    let p = match env().compile(expr) {
        Ok(p) => p,
        Err(e) => return format!("compile: {e}"),
    };
    let act = Activation::new().with("object", Value::json(&obj, None));
    match p.eval(&act, Some(PER_CALL_LIMIT)).0 {
        Ok(v) => value::display(&v),
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn basics() {
    let o = json!({"spec": {"replicas": 3, "name": "web", "tags": ["a", "b"]}, "metadata": {"labels": {"app": "x"}}});
    for (e, want) in [
        ("object.spec.replicas * 2 + 1", "7"),
        ("object.spec.name + '-1'", "web-1"),
        ("object.spec.tags.all(t, t.size() == 1)", "true"),
        ("object.spec.tags.exists(t, t == 'b')", "true"),
        ("object.spec.tags.map(t, t + t)", "[\"aa\",\"bb\"]"),
        ("object.spec.tags.filter(t, t != 'a')", "[\"b\"]"),
        ("has(object.spec.name)", "true"),
        ("has(object.spec.missing)", "false"),
        ("object.spec.missing", "error: no such key: missing"),
        ("'app' in object.metadata.labels", "true"),
        ("object.?spec.?nope.orValue(5)", "5"),
        ("[1, 2, 3].sum()", "6"),
        ("dyn(1) == 1.0", "true"),
        ("1 / 0", "error: division by zero"),
        ("string(1.5)", "1.5"),
        ("duration('1h') > duration('30m')", "true"),
        ("timestamp('2023-01-01T00:00:00Z').getFullYear()", "2023"),
        ("'a,b'.split(',')", "[\"a\",\"b\"]"),
        ("quantity('1Gi').isGreaterThan(quantity('1G'))", "true"),
        ("ip('10.0.0.1').family()", "4"),
        ("cidr('10.0.0.0/8').containsIP('10.1.2.3')", "true"),
        ("url('https://example.com:8080/x').getPort()", "8080"),
        ("'abc'.matches('^a')", "true"),
        ("sets.contains([1, 2, 3], [2])", "true"),
        ("format.dns1123Label().validate('Bad_Name').hasValue()", "true"),
        ("{'a': 1}.transformMap(k, v, v + 1)", "{\"a\":2}"),
        ("[1, 2].all(i, v, v > i)", "true"),
        // cel-go v0.23's attribute qualification: null (an unset oldObject or
        // namespaceObject) and scalars have no keys; has() on them is false.
        ("object.spec.replicas.x", "error: no such key: x"),
        ("has(object.spec.replicas.x)", "false"),
        ("object.spec.tags.x", "error: unsupported index type 'string' in list"),
    ] {
        assert_eq!(run(e, o.clone()), want, "{e}");
    }
    assert_eq!(run("object.metadata", json!(null)), "error: no such key: metadata");
    assert_eq!(run("has(object.metadata)", json!(null)), "false");
    // A library object type has no fields the checker can resolve (upstream's typeChecking
    // of `authorizer.requestResource` where only `authorizer` is declared).
    let e = env().var("authorizer", policy::authorizer_type());
    let err = e.compile("authorizer.requestResource").err().map(|e| e.to_string());
    assert!(
        err.as_deref()
            .is_some_and(|e| e.contains("unexpected failed resolution of 'kubernetes.authorization.Authorizer'")),
        "{err:?}"
    );
}

#[test]
fn compile_errors_read_like_cel_go() {
    assert_eq!(
        run("object.spec + 1 == request.nope", json!({})),
        "compile: ERROR: <input>:1:27: undefined field 'nope'\n | object.spec + 1 == request.nope\n | ..........................^"
    );
    assert_eq!(
        run("1 + 'a'", json!({})),
        "compile: ERROR: <input>:1:3: found no matching overload for '_+_' applied to '(int, string)'\n | 1 + 'a'\n | ..^"
    );
    assert_eq!(
        run("foo", json!({})),
        "compile: ERROR: <input>:1:1: undeclared reference to 'foo' (in container '')\n | foo\n | ^"
    );
    assert!(run("[1, 'a']", json!({})).contains("expected type 'int' but found 'string'"));
    // semver is a 1.33 library: known to stored expressions only.
    assert!(env().mode(Mode::New).compile("semver('1.2.3').major() == 1").is_err());
    assert!(env().compile("semver('1.2.3').major() == 1").is_ok());
}

#[test]
fn runtime_cost_limit_cancels() {
    let p = env()
        .compile("[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, a + b + c > 0)))")
        .unwrap();
    let act = Activation::new();
    let (r, cost) = p.eval(&act, Some(100));
    assert_eq!(r.unwrap_err().msg, COST_LIMIT_EXCEEDED);
    assert!(cost > 100);
    let (r, _) = p.eval(&act, None);
    assert!(matches!(r, Ok(Value::Bool(true))));
}

/// One upstream vector: what cel-go with Kubernetes' 1.33 libraries says of an expression.
#[derive(serde::Deserialize)]
struct Vector {
    expr: String,
    #[serde(default)]
    compile_error: Option<String>,
    #[serde(default)]
    r#type: Option<String>,
    #[serde(default)]
    cost_min: u64,
    #[serde(default)]
    cost_max: u64,
    #[serde(default)]
    result: Option<serde_json::Value>,
    #[serde(default)]
    eval_error: Option<String>,
    #[serde(default)]
    actual_cost: u64,
}

fn canonical(v: &Value<'_>) -> serde_json::Value {
    match v {
        Value::Optional(o) => match o {
            Some(x) => json!({"optional": canonical(x)}),
            None => json!({"optional": "none"}),
        },
        Value::List(l) => serde_json::Value::Array(l.iter().map(|x| canonical(&x)).collect()),
        Value::Map(m) => serde_json::Value::Object(
            m.entries()
                .iter()
                .map(|(k, x)| {
                    let ks = match canonical(k) {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (ks, canonical(x))
                })
                .collect(),
        ),
        Value::Ext(e) => json!(e.to_string()),
        Value::Type(t) => json!(t.to_string()),
        other => other.to_json(),
    }
}

/// Compare against vectors produced by upstream (`CEL_VECTORS=path`); prints every mismatch.
#[test]
#[ignore]
fn upstream_vectors_from_env() {
    let Ok(path) = std::env::var("CEL_VECTORS") else { return };
    let text = std::fs::read_to_string(path).unwrap();
    let (mut ok, mut total) = (0, 0);
    for line in text.lines() {
        let v: Vector = serde_json::from_str(line).unwrap();
        total += 1;
        let got = compare(&v);
        match got {
            None => ok += 1,
            Some(why) => println!("MISMATCH {:?}\n   {why}", v.expr),
        }
    }
    println!("{ok}/{total} match");
}

/// None when our answer matches the vector, else what differs.
fn compare(v: &Vector) -> Option<String> {
    let env = env();
    let p = match env.compile(&v.expr) {
        Err(e) => {
            let ours = e.to_string();
            return match &v.compile_error {
                Some(want) if *want == ours => None,
                Some(want) => Some(format!("compile error differs:\n   want {want:?}\n   got  {ours:?}")),
                None => Some(format!("we fail to compile: {ours:?}")),
            };
        }
        Ok(p) => p,
    };
    if let Some(want) = &v.compile_error {
        return Some(format!("upstream fails to compile: {want:?}"));
    }
    let mut diffs = Vec::new();
    if v.r#type.as_deref() != Some(&p.output.to_string()) {
        diffs.push(format!("type want {:?} got {}", v.r#type, p.output));
    }
    let est = p.estimate(&cost::Roots::new());
    if (est.min, est.max) != (v.cost_min, v.cost_max) {
        diffs.push(format!(
            "estimate want {}..{} got {}..{}",
            v.cost_min, v.cost_max, est.min, est.max
        ));
    }
    let act = Activation::new()
        .with("object", Value::Null)
        .with("oldObject", Value::Null);
    let (r, cost) = p.eval(&act, Some(PER_CALL_LIMIT));
    match (&r, &v.eval_error, &v.result) {
        (Ok(val), None, Some(want)) => {
            if canonical(val) != *want {
                diffs.push(format!("result want {want} got {}", canonical(val)));
            }
        }
        (Err(e), Some(want), _) => {
            if e.msg != *want {
                diffs.push(format!("error want {want:?} got {:?}", e.msg));
            }
        }
        (Ok(val), Some(want), _) => diffs.push(format!("want error {want:?} got {}", canonical(val))),
        (Err(e), None, _) => diffs.push(format!("want value {:?} got error {:?}", v.result, e.msg)),
        (Ok(val), None, None) => diffs.push(format!("want null got {}", canonical(val))),
    }
    if cost != v.actual_cost {
        diffs.push(format!("actual cost want {} got {cost}", v.actual_cost));
    }
    (!diffs.is_empty()).then(|| diffs.join("; "))
}
