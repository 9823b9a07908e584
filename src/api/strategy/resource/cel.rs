//! Device selector CEL expressions (`dynamic-resource-allocation/cel`): compiled against the
//! `device` variable (`kubernetes.DRADevice`: driver, attributes, capacity), must evaluate to
//! bool, and their estimated cost must stay within `CELSelectorExpressionMaxCost`.

use crate::cel::cost::Roots;
use crate::cel::schema::{DeclField, DeclType};
use crate::cel::types::{self, Type};
use crate::cel::{Env, Mode};
use crate::error::field::FieldError;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// `resource.CELSelectorExpressionMaxLength`.
pub const EXPRESSION_MAX_LENGTH: usize = 10 * 1024;
/// `resource.CELSelectorExpressionMaxCost`.
pub const EXPRESSION_MAX_COST: u64 = 1_000_000;
/// `ResourceSliceMaxAttributesAndCapacitiesPerDevice`: the bound of each attribute map.
const MAX_ATTRIBUTES: i64 = 32;

/// The declaration of `device`, with upstream's size bounds (they drive the cost estimate).
fn device() -> &'static Arc<DeclType> {
    static DEVICE: OnceLock<Arc<DeclType>> = OnceLock::new();
    DEVICE.get_or_init(|| {
        let string = |max: i64| Arc::new(DeclType::scalar(Type::String, 2, max));
        let map = |elem: Arc<DeclType>| Arc::new(DeclType::map(elem, MAX_ATTRIBUTES));
        let attribute = Arc::new(DeclType::scalar(Type::Dyn, 1, 0));
        let quantity = Arc::new(DeclType::scalar(types::named("kubernetes.Quantity"), 1, 0));
        let field = |name: &str, ty: Arc<DeclType>| {
            (
                name.to_string(),
                DeclField {
                    ty,
                    required: true,
                    json_name: name.to_string(),
                },
            )
        };
        let fields: BTreeMap<String, DeclField> = [
            // DriverNameMaxLength; the map keys are bounded by the domain/ID lengths.
            field("driver", string(63)),
            field("attributes", map(map(attribute))),
            field("capacity", map(map(quantity))),
        ]
        .into_iter()
        .collect();
        Arc::new(DeclType::object("kubernetes.DRADevice", fields, 2))
    })
}

/// Compile `expr` at `path` (`….cel.expression`) as upstream's `validateCELSelector`: `stored`
/// expressions are checked against every library the server knows.
pub fn validate(expr: &str, path: &str, stored: bool) -> Option<FieldError> {
    if expr.len() > EXPRESSION_MAX_LENGTH {
        return Some(FieldError::too_long(path, EXPRESSION_MAX_LENGTH));
    }
    let mode = if stored { Mode::Stored } else { Mode::New };
    let env = Env::new().var("device", device().cel_type()).mode(mode).bindings();
    let program = match env.compile_cached(expr) {
        Ok(p) => p,
        Err(e) => return Some(FieldError::invalid(path, expr, format!("compilation failed: {e}"))),
    };
    if !matches!(program.output, Type::Bool | Type::Dyn) {
        return Some(FieldError::invalid(
            path,
            expr,
            format!("must evaluate to bool or the unknown type, not {}", program.output),
        ));
    }
    let mut roots = Roots::new();
    roots.insert("device".into(), device().clone());
    if program.estimate(&roots).max > EXPRESSION_MAX_COST {
        return Some(FieldError::forbidden(path, "too complex, exceeds cost limit"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_compile_type_check_and_cost() {
        assert!(validate(r#"device.driver == "gpu.example.com""#, "p", false).is_none());
        assert!(validate(
            r#"device.attributes["gpu.example.com"].model == "a100" && device.capacity["gpu.example.com"].memory.compareTo(quantity("1Gi")) >= 0"#,
            "p",
            false
        )
        .is_none());
        // cel-go's bindings extension, as upstream's DRA environment has it.
        assert!(validate(
            r#"cel.bind(dra, device.attributes["dra.example.com"], dra.model == "a" && dra.count > 1)"#,
            "p",
            false
        )
        .is_none());
        let e = validate("device.driver", "p", false).unwrap();
        assert_eq!(e.detail, "must evaluate to bool or the unknown type, not string");
        let e = validate("device.nosuch == 1", "p", false).unwrap();
        assert!(
            e.detail
                .starts_with("compilation failed: ERROR: <input>:1:7: undefined field 'nosuch'"),
            "{}",
            e.detail
        );
        let e = validate(&"x".repeat(EXPRESSION_MAX_LENGTH + 1), "p", false).unwrap();
        assert_eq!(e.body(), "Too long: may not be more than 10240 bytes");
    }
}
