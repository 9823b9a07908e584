//! The one place authentication and authorization evaluate CEL (AuthenticationConfiguration
//! claim rules and mappings, AuthorizationConfiguration match conditions): compile once, then
//! evaluate against JSON variables (`claims`, `user`, `request`). A small adapter over the `cel`
//! crate so that a fuller Kubernetes CEL environment in `crate::cel` can replace its insides.

use serde_json::Value;
use std::sync::Arc;

/// A compiled expression and its source (for messages).
#[derive(Clone)]
pub struct Expr {
    pub source: String,
    program: Arc<cel::Program>,
}

impl Expr {
    pub fn compile(source: &str) -> Result<Expr, String> {
        crate::cel::compile(source).map_err(|e| format!("compilation failed: {e}"))?;
        let program = cel::Program::compile(source).map_err(|e| format!("compilation failed: {e}"))?;
        Ok(Expr {
            source: source.to_string(),
            program: Arc::new(program),
        })
    }

    /// Evaluate with `vars` bound; the result as JSON.
    pub fn eval(&self, vars: &[(&str, &Value)]) -> Result<Value, String> {
        let mut ctx = cel::Context::default();
        for (name, v) in vars {
            let v = cel::to_value(v).map_err(|e| e.to_string())?;
            ctx.add_variable_from_value(*name, v);
        }
        let out = self.program.execute(&ctx).map_err(|e| e.to_string())?;
        out.json().map_err(|e| e.to_string())
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
        let e = Expr::compile("has(request.resourceAttributes) && request.user != 'root'").expect("compiles");
        let req = json!({"user": "jane", "resourceAttributes": {"verb": "get"}});
        assert_eq!(e.eval_bool(&[("request", &req)]), Ok(true));
        let s = Expr::compile("claims.sub + ':' + claims.groups[0]").expect("compiles");
        let claims = json!({"sub": "a", "groups": ["g"]});
        assert_eq!(s.eval(&[("claims", &claims)]), Ok(json!("a:g")));
        assert!(s.eval_bool(&[("claims", &claims)]).is_err());
        assert!(Expr::compile("claims.(").is_err());
    }
}
