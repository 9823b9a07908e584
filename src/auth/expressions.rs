//! The one place authentication and authorization evaluate CEL (AuthenticationConfiguration
//! claim rules and mappings, AuthorizationConfiguration match conditions): compile once, then
//! evaluate against JSON variables (`claims`, `user`, `request`). A small adapter over the `cel`
//! crate so that a fuller Kubernetes CEL environment in `crate::cel` can replace its insides.

use crate::cel::{Activation, Env, Type, PER_CALL_LIMIT};
use serde_json::Value;
use std::sync::Arc;

/// A compiled expression and its source (for messages).
#[derive(Clone)]
pub struct Expr {
    pub source: String,
    program: Arc<crate::cel::Program>,
}

impl Expr {
    /// Compile against the variables `vars` (each dynamically typed, as upstream declares
    /// `claims`, `user` and `request` for these configs).
    pub fn compile(vars: &[&str], source: &str) -> Result<Expr, String> {
        let env = vars.iter().fold(Env::new(), |env, v| env.var(v, Type::Dyn));
        let program = env.compile(source).map_err(|e| format!("compilation failed: {e}"))?;
        Ok(Expr {
            source: source.to_string(),
            program: Arc::new(program),
        })
    }

    /// Compile against typed variables, as upstream's authentication compiler: `claims` is a
    /// `map(string, dyn)`, `user` a `kubernetes.UserInfo`. With `want`, the checked output
    /// type must be it (upstream's `must evaluate to bool`); the error is the field detail.
    pub fn compile_typed(vars: &[(&str, Type)], source: &str, want: Option<Type>) -> Result<Expr, String> {
        let env = vars.iter().fold(Env::new(), |env, (v, t)| env.var(v, t.clone()));
        let program = env.compile(source).map_err(|e| format!("compilation failed: {e}"))?;
        if let Some(t) = want {
            if program.output.to_string() != t.to_string() {
                return Err(format!("must evaluate to {t}"));
            }
        }
        Ok(Expr {
            source: source.to_string(),
            program: Arc::new(program),
        })
    }

    /// Whether the expression selects `var.field` (upstream's check that `claims.email` is
    /// paired with `claims.email_verified`).
    pub fn selects(&self, var: &str, field: &str) -> bool {
        self.program.selects(var, field)
    }

    /// Evaluate with `vars` bound; the result as JSON.
    pub fn eval(&self, vars: &[(&str, &Value)]) -> Result<Value, String> {
        let act = vars.iter().fold(Activation::new(), |act, (name, v)| {
            act.with(name, crate::cel::Value::json(v, None))
        });
        let (out, _cost) = self.program.eval(&act, Some(PER_CALL_LIMIT));
        Ok(out.map_err(|e| e.to_string())?.to_json())
    }

    /// Evaluate to a bool (anything else is an error naming the type).
    pub fn eval_bool(&self, vars: &[(&str, &Value)]) -> Result<bool, String> {
        match self.eval(vars)? {
            Value::Bool(b) => Ok(b),
            other => Err(format!("expression {:?} must return bool, got {other}", self.source)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compiles_and_evaluates_against_json() {
        let e = Expr::compile(
            &["request"],
            "has(request.resourceAttributes) && request.user != 'root'",
        )
        .expect("compiles");
        let req = json!({"user": "jane", "resourceAttributes": {"verb": "get"}});
        assert_eq!(e.eval_bool(&[("request", &req)]), Ok(true));
        let s = Expr::compile(&["claims"], "claims.sub + ':' + claims.groups[0]").expect("compiles");
        let claims = json!({"sub": "a", "groups": ["g"]});
        assert_eq!(s.eval(&[("claims", &claims)]), Ok(json!("a:g")));
        assert!(s.eval_bool(&[("claims", &claims)]).is_err());
        assert!(Expr::compile(&["claims"], "claims.(").is_err());
    }
}
