//! A webhook authorizer's `matchConditions` (AuthorizationConfiguration): CEL expressions over
//! `request` (the SubjectAccessReviewSpec, v1). All true: the webhook is asked; any false: no
//! opinion without a call; an evaluation error: the failure policy applies.

use crate::auth::expressions::Expr;
use serde_json::Value;

pub struct MatchConditions(Vec<Expr>);

impl MatchConditions {
    /// Compile every expression; errors name the entry as upstream's validation does.
    pub fn compile(field: &str, exprs: &[String]) -> Result<MatchConditions, String> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, e) in exprs.iter().enumerate() {
            let path = format!("{field}[{i}].expression");
            if e.trim().is_empty() {
                return Err(format!("{path}: Required value"));
            }
            if !seen.insert(e.as_str()) {
                return Err(format!("{path}: Duplicate value: {e:?}"));
            }
            out.push(Expr::compile(&["request"], e).map_err(|m| format!("{path}: Invalid value: {e:?}: {m}"))?);
        }
        Ok(MatchConditions(out))
    }

    pub fn matches(&self, request: &Value) -> Result<bool, String> {
        for e in &self.0 {
            if !e.eval_bool(&[("request", request)])? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn all_must_hold() {
        let c = MatchConditions::compile(
            "authorizers[0].webhook.matchConditions",
            &[
                "has(request.resourceAttributes)".into(),
                "request.user != 'admin'".into(),
            ],
        )
        .expect("compiles");
        assert_eq!(c.matches(&json!({"user": "jane", "resourceAttributes": {}})), Ok(true));
        assert_eq!(
            c.matches(&json!({"user": "admin", "resourceAttributes": {}})),
            Ok(false)
        );
        assert_eq!(
            c.matches(&json!({"user": "jane", "nonResourceAttributes": {}})),
            Ok(false)
        );
        let dup = MatchConditions::compile("m", &["true".into(), "true".into()]);
        assert_eq!(dup.err().as_deref(), Some("m[1].expression: Duplicate value: \"true\""));
    }
}
