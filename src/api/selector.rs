//! Label and field selectors, as upstream parses and matches them
//! (`apimachinery/pkg/labels/selector.go`, `pkg/fields/selector.go`).
//!
//! Error texts are upstream's exactly, ready to be sent as a 400 `BadRequest` message.
//!
//! ```
//! use capstan::api::selector::{FieldSelector, LabelSelector};
//! let l = LabelSelector::parse("app=web,tier notin (db)").unwrap();
//! let labels = serde_json::json!({"app": "web"});
//! assert!(l.matches(labels.as_object()));
//! let f = FieldSelector::parse("metadata.name=a\\,b").unwrap();
//! assert_eq!(f.exact_name(), Some("a,b"));
//! ```

use crate::util::go_quote;
use crate::util::json::JsonExt;
use serde_json::{Map, Value};
use std::fmt;

// ---------------------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------------------

/// A label selector operator (`apimachinery/pkg/selection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelOp {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One requirement: `key op values`. Values are sorted and de-duplicated, as upstream's parser
/// leaves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRequirement {
    pub key: String,
    pub op: LabelOp,
    pub values: Vec<String>,
}

/// A parsed label selector (AND of requirements, sorted by key); empty matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    pub requirements: Vec<LabelRequirement>,
}

impl LabelRequirement {
    /// Upstream's `Requirement.Matches`: `!=` and `notin` match when the key is absent.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let value = labels.and_then(|m| m.get(&self.key)).map(label_text);
        self.matches_value(value.as_deref())
    }

    /// [`LabelRequirement::matches`] given the label's value (None: the object lacks it).
    pub fn matches_value(&self, value: Option<&str>) -> bool {
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.op {
            LabelOp::In | LabelOp::Equals | LabelOp::DoubleEquals => value.is_some_and(has),
            LabelOp::NotIn | LabelOp::NotEquals => value.is_none_or(|v| !has(v)),
            LabelOp::Exists => value.is_some(),
            LabelOp::DoesNotExist => value.is_none(),
            LabelOp::GreaterThan | LabelOp::LessThan => {
                let Some(Ok(have)) = value.map(|v| v.parse::<i64>()) else {
                    return false;
                };
                let [want] = self.values.as_slice() else {
                    return false;
                };
                let Ok(want) = want.parse::<i64>() else {
                    return false;
                };
                if self.op == LabelOp::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

fn label_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl fmt::Display for LabelRequirement {
    /// Upstream's `Requirement.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.op == LabelOp::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.op {
            LabelOp::Equals => "=",
            LabelOp::DoubleEquals => "==",
            LabelOp::NotEquals => "!=",
            LabelOp::In => " in ",
            LabelOp::NotIn => " notin ",
            LabelOp::GreaterThan => ">",
            LabelOp::LessThan => "<",
            LabelOp::Exists | LabelOp::DoesNotExist => return Ok(()),
        };
        f.write_str(op)?;
        let set = matches!(self.op, LabelOp::In | LabelOp::NotIn);
        if set {
            f.write_str("(")?;
        }
        let mut vals = self.values.clone();
        vals.sort();
        f.write_str(&vals.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Display for LabelSelector {
    /// Upstream's `Selector.String()`: requirements joined by `,`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.requirements.iter().map(|r| r.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

impl LabelSelector {
    /// Parse the `labelSelector` query syntax (upstream `labels.Parse`). The error text is
    /// upstream's, ready for a 400.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut p = Parser {
            items: lex_all(s),
            pos: 0,
        };
        let mut requirements = p.parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements })
    }
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
    /// [`LabelSelector::matches`] reading each label through `label` (None: absent).
    pub fn matches_with<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.requirements.iter().all(|r| r.matches_value(label(&r.key)))
    }
    /// Upstream `RequiresExactMatch`: the single value required for `key` by `=`, `==` or a
    /// one-value `in`.
    pub fn exact_match(&self, key: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == key)?;
        match (r.op, r.values.as_slice()) {
            (LabelOp::Equals | LabelOp::DoubleEquals | LabelOp::In, [v]) => Some(v.as_str()),
            _ => None,
        }
    }
}

/// Upstream `metav1.LabelSelectorAsSelector(sel).String()` for a `LabelSelector` JSON object
/// (`matchLabels` + `matchExpressions`). `None`/`null` (upstream's "Nothing") and an empty
/// selector ("Everything") both print as `""`. The error is upstream's conversion error.
pub fn label_selector_string(sel: Option<&Value>) -> Result<String, String> {
    Ok(label_selector_from_json(sel)?
        .map(|s| s.to_string())
        .unwrap_or_default())
}

/// Upstream `metav1.FormatLabelSelector`: like [`label_selector_string`] but `"<none>"` when
/// empty and `"<error>"` when the selector is invalid.
pub fn format_label_selector(sel: Option<&Value>) -> String {
    match label_selector_string(sel) {
        Ok(s) if s.is_empty() => "<none>".to_string(),
        Ok(s) => s,
        Err(_) => "<error>".to_string(),
    }
}

/// Upstream `labels.FormatLabels`: a plain `map[string]string` as sorted `k=v,…`, `"<none>"`
/// when empty.
pub fn format_labels(map: Option<&Value>) -> String {
    let mut pairs: Vec<(String, String)> = map
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), label_text(v))).collect())
        .unwrap_or_default();
    pairs.sort();
    let s: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s.join(",")
    }
}

/// `metav1.LabelSelectorAsSelector`: `Ok(None)` for a missing/null selector (matches nothing),
/// an empty selector for `{}` (matches everything).
pub fn label_selector_from_json(sel: Option<&Value>) -> Result<Option<LabelSelector>, String> {
    let Some(sel) = sel.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let mut reqs = Vec::new();
    if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in ml {
            reqs.push(new_requirement(k, LabelOp::Equals, vec![label_text(v)], Path::Root)?);
        }
    }
    if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = e.str_of("key");
            let op_s = e.str_of("operator");
            let op = match op_s {
                "In" => LabelOp::In,
                "NotIn" => LabelOp::NotIn,
                "Exists" => LabelOp::Exists,
                "DoesNotExist" => LabelOp::DoesNotExist,
                other => return Err(format!("{} is not a valid label selector operator", go_quote(other))),
            };
            let vals: Vec<String> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(label_text).collect())
                .unwrap_or_default();
            reqs.push(new_requirement(key, op, vals, Path::Root)?);
        }
    }
    reqs.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(Some(LabelSelector { requirements: reqs }))
}

/// Does the `metav1.LabelSelector` object `sel` select `labels`? Upstream
/// `LabelSelectorAsSelector(sel).Matches(labels)`: a missing or null selector selects nothing,
/// `{}` selects everything, and a selector that does not convert (an unknown operator, an
/// invalid key or value) selects nothing.
pub fn selects(sel: Option<&Value>, labels: Option<&Map<String, Value>>) -> bool {
    matches!(label_selector_from_json(sel), Ok(Some(s)) if s.matches(labels))
}

/// A `LabelSelector` object with no requirements (`{}`, or null): upstream's
/// `len(MatchLabels)+len(MatchExpressions) == 0`.
pub fn selector_is_empty(sel: &Value) -> bool {
    let no_labels = sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(Map::is_empty);
    let no_exprs = sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    no_labels && no_exprs
}

impl LabelSelector {
    /// Upstream `labels.SelectorFromSet` for a plain `map[string]string` selector (a
    /// ReplicationController's, a Service's): one `key=value` requirement a pair, not validated.
    pub fn from_set(set: &Map<String, Value>) -> LabelSelector {
        let mut requirements: Vec<LabelRequirement> = set
            .iter()
            .map(|(k, v)| LabelRequirement {
                key: k.clone(),
                op: LabelOp::Equals,
                values: vec![label_text(v)],
            })
            .collect();
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        LabelSelector { requirements }
    }
}

// --- lexer (upstream `Lexer`, byte based) ---------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Error,
    End,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn keyword(s: &[u8]) -> Option<Tok> {
    Some(match s {
        b")" => Tok::ClosedPar,
        b"," => Tok::Comma,
        b"!" => Tok::DoesNotExist,
        b"==" => Tok::DoubleEquals,
        b"=" => Tok::Equals,
        b">" => Tok::GreaterThan,
        b"in" => Tok::In,
        b"<" => Tok::LessThan,
        b"!=" => Tok::NotEquals,
        b"notin" => Tok::NotIn,
        b"(" => Tok::OpenPar,
        _ => return None,
    })
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    /// Go's `read`: 0 at the end (without advancing).
    fn read(&mut self) -> u8 {
        match self.s.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => 0,
        }
    }
    fn unread(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }
    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }
    fn lex(&mut self) -> (Tok, String) {
        let mut ch = self.read();
        while is_ws(ch) {
            ch = self.read();
        }
        if ch == 0 {
            return (Tok::End, String::new());
        }
        self.unread();
        if is_special(ch) {
            self.scan_special()
        } else {
            self.scan_id()
        }
    }
    fn scan_id(&mut self) -> (Tok, String) {
        let start = self.pos;
        let mut end = start;
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if is_special(ch) || is_ws(ch) {
                self.unread();
                break;
            }
            end = self.pos;
        }
        let lit = &self.s[start..end];
        match keyword(lit) {
            Some(t) => (t, Self::text(lit)),
            None => (Tok::Identifier, Self::text(lit)),
        }
    }
    fn scan_special(&mut self) -> (Tok, String) {
        let start = self.pos;
        let mut last: Option<(Tok, usize)> = None;
        let mut end = start;
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if !is_special(ch) {
                self.unread();
                break;
            }
            end = self.pos;
            match keyword(&self.s[start..end]) {
                Some(t) => last = Some((t, end)),
                None if last.is_some() => {
                    self.unread();
                    break;
                }
                None => {}
            }
        }
        match last {
            Some((t, e)) => (t, Self::text(&self.s[start..e])),
            None => (
                Tok::Error,
                format!("error expected: keyword found '{}'", Self::text(&self.s[start..end])),
            ),
        }
    }
}

fn lex_all(s: &str) -> Vec<(Tok, String)> {
    let mut l = Lexer {
        s: s.as_bytes(),
        pos: 0,
    };
    let mut items = Vec::new();
    loop {
        let (t, lit) = l.lex();
        items.push((t, lit));
        if t == Tok::End {
            return items;
        }
    }
}

// --- parser (upstream `Parser`) -------------------------------------------------------------

struct Parser {
    items: Vec<(Tok, String)>,
    pos: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    KeyAndOperator,
    Values,
}

impl Parser {
    fn at(&self, i: usize, ctx: Ctx) -> (Tok, String) {
        let (t, lit) = self
            .items
            .get(i)
            .or(self.items.last())
            .cloned()
            .unwrap_or((Tok::End, String::new()));
        let t = if ctx == Ctx::Values && matches!(t, Tok::In | Tok::NotIn) {
            Tok::Identifier
        } else {
            t
        };
        (t, lit)
    }
    fn lookahead(&self, ctx: Ctx) -> (Tok, String) {
        self.at(self.pos, ctx)
    }
    fn consume(&mut self, ctx: Ctx) -> (Tok, String) {
        let r = self.at(self.pos, ctx);
        if self.pos < self.items.len() {
            self.pos += 1;
        }
        r
    }

    fn parse(&mut self) -> Result<Vec<LabelRequirement>, String> {
        let mut reqs = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Ctx::Values);
            match tok {
                Tok::Identifier | Tok::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    reqs.push(r);
                    let (t, l) = self.consume(Ctx::Values);
                    match t {
                        Tok::End => return Ok(reqs),
                        Tok::Comma => {
                            let (t2, l2) = self.lookahead(Ctx::Values);
                            if t2 != Tok::Identifier && t2 != Tok::DoesNotExist {
                                return Err(format!("found '{l2}', expected: identifier after ','"));
                            }
                        }
                        _ => return Err(format!("found '{l}', expected: ',' or 'end of string'")),
                    }
                }
                Tok::End => return Ok(reqs),
                _ => return Err(format!("found '{lit}', expected: !, identifier, or 'end of string'")),
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<LabelRequirement, String> {
        let (key, op) = self.parse_key_and_infer_operator()?;
        if let Some(op) = op {
            return new_requirement(&key, op, Vec::new(), Path::Root);
        }
        let op = self.parse_operator()?;
        let values = match op {
            LabelOp::In | LabelOp::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        new_requirement(&key, op, values, Path::Root)
    }

    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<LabelOp>), String> {
        let mut op = None;
        let (mut tok, mut lit) = self.consume(Ctx::Values);
        if tok == Tok::DoesNotExist {
            op = Some(LabelOp::DoesNotExist);
            (tok, lit) = self.consume(Ctx::Values);
        }
        if tok != Tok::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        validate_label_key(&lit, &Path::Nil)?;
        let (t, _) = self.lookahead(Ctx::Values);
        if (t == Tok::End || t == Tok::Comma) && op.is_none() {
            op = Some(LabelOp::Exists);
        }
        Ok((lit, op))
    }

    fn parse_operator(&mut self) -> Result<LabelOp, String> {
        let (tok, lit) = self.consume(Ctx::KeyAndOperator);
        Ok(match tok {
            Tok::In => LabelOp::In,
            Tok::Equals => LabelOp::Equals,
            Tok::DoubleEquals => LabelOp::DoubleEquals,
            Tok::GreaterThan => LabelOp::GreaterThan,
            Tok::LessThan => LabelOp::LessThan,
            Tok::NotIn => LabelOp::NotIn,
            Tok::NotEquals => LabelOp::NotEquals,
            _ => return Err(format!("found '{lit}', expected: in, notin, =, ==, !=, gt, lt")),
        })
    }

    fn parse_values(&mut self) -> Result<Vec<String>, String> {
        let (tok, lit) = self.consume(Ctx::Values);
        if tok != Tok::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.lookahead(Ctx::Values);
        match tok {
            Tok::Identifier | Tok::Comma => {
                let s = self.parse_identifiers_list()?;
                let (t, _) = self.consume(Ctx::Values);
                if t != Tok::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(s)
            }
            Tok::ClosedPar => {
                self.consume(Ctx::Values);
                Ok(vec![String::new()])
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, String> {
        let mut s: Vec<String> = Vec::new();
        let insert = |s: &mut Vec<String>, v: String| {
            if !s.contains(&v) {
                s.push(v);
            }
        };
        loop {
            let (tok, lit) = self.consume(Ctx::Values);
            match tok {
                Tok::Identifier => {
                    insert(&mut s, lit);
                    let (t2, l2) = self.lookahead(Ctx::Values);
                    match t2 {
                        Tok::Comma => continue,
                        Tok::ClosedPar => break,
                        _ => return Err(format!("found '{l2}', expected: ',' or ')'")),
                    }
                }
                Tok::Comma => {
                    if s.is_empty() {
                        insert(&mut s, String::new());
                    }
                    let (t2, _) = self.lookahead(Ctx::Values);
                    if t2 == Tok::ClosedPar {
                        insert(&mut s, String::new());
                        break;
                    }
                    if t2 == Tok::Comma {
                        self.consume(Ctx::Values);
                        insert(&mut s, String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
        s.sort();
        Ok(s)
    }

    fn parse_exact_value(&mut self) -> Result<Vec<String>, String> {
        let (tok, _) = self.lookahead(Ctx::Values);
        if tok == Tok::End || tok == Tok::Comma {
            return Ok(vec![String::new()]);
        }
        let (tok, lit) = self.consume(Ctx::Values);
        if tok == Tok::Identifier {
            return Ok(vec![lit]);
        }
        Err(format!("found '{lit}', expected: identifier"))
    }
}

// --- validation (upstream `NewRequirement`, `IsQualifiedName`, `IsValidLabelValue`) ----------

/// A field path for error messages: `Nil` prints `<nil>` like upstream's nil `*field.Path`.
enum Path {
    Nil,
    Root,
}

impl Path {
    fn child(&self, name: &str) -> String {
        name.to_string()
    }
}

fn invalid(field: &str, value: &str, detail: &str) -> String {
    format!("{field}: Invalid value: {}: {detail}", go_quote(value))
}

// Key and value rules are upstream's `IsQualifiedName`/`IsValidLabelValue`, shared with
// object validation.
pub use crate::api::validation::{is_qualified_name, is_valid_label_value};

fn validate_label_key(k: &str, path: &Path) -> Result<(), String> {
    let errs = is_qualified_name(k);
    if errs.is_empty() {
        return Ok(());
    }
    let field = match path {
        Path::Nil => "<nil>".to_string(),
        Path::Root => "key".to_string(),
    };
    Err(invalid(&field, k, &errs.join("; ")))
}

/// Upstream `labels.NewRequirement` (with a nil path); errors aggregated like
/// `ErrorList.ToAggregate()`.
fn new_requirement(key: &str, op: LabelOp, vals: Vec<String>, path: Path) -> Result<LabelRequirement, String> {
    let mut errs: Vec<String> = Vec::new();
    if let Err(e) = validate_label_key(key, &path) {
        errs.push(e);
    }
    let vp = path.child("values");
    let list = |v: &[String]| {
        format!(
            "[]string{{{}}}",
            v.iter().map(|s| go_quote(s)).collect::<Vec<_>>().join(", ")
        )
    };
    match op {
        LabelOp::In | LabelOp::NotIn if vals.is_empty() => errs.push(format!(
            "{vp}: Invalid value: {}: for 'in', 'notin' operators, values set can't be empty",
            list(&vals)
        )),
        LabelOp::Equals | LabelOp::DoubleEquals | LabelOp::NotEquals if vals.len() != 1 => errs.push(format!(
            "{vp}: Invalid value: {}: exact-match compatibility requires one single value",
            list(&vals)
        )),
        LabelOp::Exists | LabelOp::DoesNotExist if !vals.is_empty() => errs.push(format!(
            "{vp}: Invalid value: {}: values set must be empty for exists and does not exist",
            list(&vals)
        )),
        LabelOp::GreaterThan | LabelOp::LessThan => {
            if vals.len() != 1 {
                errs.push(format!(
                    "{vp}: Invalid value: {}: for 'Gt', 'Lt' operators, exactly one value is required",
                    list(&vals)
                ));
            }
            for (i, v) in vals.iter().enumerate() {
                if v.parse::<i64>().is_err() {
                    errs.push(invalid(
                        &format!("{vp}[{i}]"),
                        v,
                        "for 'Gt', 'Lt' operators, the value must be an integer",
                    ));
                }
            }
        }
        _ => {}
    }
    for (i, v) in vals.iter().enumerate() {
        let e = is_valid_label_value(v);
        if !e.is_empty() {
            errs.push(invalid(&format!("{vp}[{i}][{key}]"), v, &e.join("; ")));
        }
    }
    let mut dedup: Vec<String> = Vec::new();
    for e in errs {
        if !dedup.contains(&e) {
            dedup.push(e);
        }
    }
    match dedup.len() {
        0 => Ok(LabelRequirement {
            key: key.to_string(),
            op,
            values: vals,
        }),
        1 => Err(dedup.remove(0)),
        _ => Err(format!("[{}]", dedup.join(", "))),
    }
}

// ---------------------------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOp {
    Equals,
    NotEquals,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub op: FieldOp,
    pub value: String,
}

/// A parsed field selector (AND of requirements, in upstream's sorted-term order); empty
/// matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub requirements: Vec<FieldRequirement>,
}

impl fmt::Display for FieldSelector {
    /// Upstream `Selector.String()` (values printed unescaped, as upstream does).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| match r.op {
                FieldOp::Equals => format!("{}={}", r.field, r.value),
                FieldOp::NotEquals => format!("{}!={}", r.field, r.value),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Upstream `splitTerms`: split on `,` not preceded by a backslash (the backslash is kept).
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Upstream `splitTerm`: the first `!=`, `==` or `=` splits the term.
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, fop) in [
            ("!=", FieldOp::NotEquals),
            ("==", FieldOp::Equals),
            ("=", FieldOp::Equals),
        ] {
            if let Some(rhs) = rest.strip_prefix(op) {
                return Some((&term[..i], fop, rhs));
            }
        }
    }
    None
}

/// Upstream `fields.UnescapeValue`.
pub fn unescape_field_value(s: &str) -> Result<String, String> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                other => return Err(format!("invalid field selector: invalid escape sequence: \\{other}")),
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            // Go prints the rune with %v: its code point number.
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                ))
            }
            c => out.push(c),
        }
    }
    if in_slash {
        return Err("invalid field selector: invalid escape sequence: \\".to_string());
    }
    Ok(out)
}

/// Upstream `fields.EscapeValue`.
pub fn escape_field_value(s: &str) -> String {
    s.replace('\\', "\\\\").replace(',', "\\,").replace('=', "\\=")
}

impl FieldSelector {
    /// Parse the `fieldSelector` query syntax (upstream `fields.ParseSelector`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut parts = split_terms(s);
        parts.sort();
        let mut requirements = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((lhs, op, rhs)) = split_term(part) else {
                return Err(format!("invalid selector: '{s}'; can't understand '{part}'"));
            };
            let value = unescape_field_value(rhs)?;
            requirements.push(FieldRequirement {
                field: lhs.to_string(),
                op,
                value,
            });
        }
        Ok(FieldSelector { requirements })
    }
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
    /// `lookup` returns the object's value for a field; a field the object lacks matches as `""`
    /// (upstream `fields.Set.Get`).
    pub fn matches(&self, lookup: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| {
            let v = lookup(&r.field).unwrap_or_default();
            match r.op {
                FieldOp::Equals => v == r.value,
                FieldOp::NotEquals => v != r.value,
            }
        })
    }
    /// The value required for `metadata.name` with `=`, if any (single-object watches).
    pub fn exact_name(&self) -> Option<&str> {
        self.exact_match("metadata.name")
    }
    /// Upstream `RequiresExactMatch`: the first `=`/`==` term on `field`.
    pub fn exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.op == FieldOp::Equals)
            .map(|r| r.value.as_str())
    }
    /// Upstream `Selector.Transform` with the scheme's field-label conversion: each term's
    /// field is mapped (renamed) or rejected; the first error (in term order) is returned.
    pub fn transform(&self, convert: impl Fn(&str) -> Result<String, String>) -> Result<FieldSelector, String> {
        let mut out = Vec::with_capacity(self.requirements.len());
        for r in &self.requirements {
            let field = convert(&r.field)?;
            out.push(FieldRequirement {
                field,
                op: r.op,
                value: r.value.clone(),
            });
        }
        Ok(FieldSelector { requirements: out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn json_selector_semantics() {
        let l = labels(json!({"a": "1", "b": "2"}));
        let l = Some(&l);
        assert!(!selects(None, l), "a missing selector selects nothing");
        assert!(!selects(Some(&Value::Null), l), "a null selector selects nothing");
        assert!(selects(Some(&json!({})), l), "{{}} selects everything");
        assert!(selects(Some(&json!({"matchLabels": {"a": "1"}})), l));
        assert!(!selects(Some(&json!({"matchLabels": {"a": "2"}})), l));
        let expr = |op: &str, vals: Value| json!({"matchExpressions": [{"key": "b", "operator": op, "values": vals}]});
        assert!(selects(Some(&expr("In", json!(["2", "3"]))), l));
        assert!(!selects(Some(&expr("NotIn", json!(["2"]))), l));
        assert!(selects(Some(&expr("Exists", json!([]))), l));
        assert!(!selects(Some(&expr("DoesNotExist", json!([]))), l));
        assert!(selects(Some(&expr("NotIn", json!(["2"]))), None));
        assert!(
            !selects(Some(&expr("Foo", json!([]))), l),
            "an unknown operator selects nothing"
        );
        let sel = json!({"matchLabels": {"app": "x"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]});
        assert!(selects(Some(&sel), Some(&labels(json!({"app": "x", "tier": "web"})))));
        assert!(!selects(Some(&sel), Some(&labels(json!({"app": "x", "tier": "db"})))));
        assert!(!selects(Some(&sel), Some(&labels(json!({"app": "y"})))));
        assert!(selector_is_empty(&json!({})));
        assert!(selector_is_empty(&json!({"matchLabels": {}})));
        assert!(!selector_is_empty(&sel));
        let set = LabelSelector::from_set(&labels(json!({"b": "2", "a": "1"})));
        assert_eq!(set.to_string(), "a=1,b=2");
        assert!(set.matches(l));
    }

    #[test]
    fn parses_all_operators() {
        let s = LabelSelector::parse("x in (foo,,baz),y,z notin ()").unwrap();
        assert_eq!(s.to_string(), "x in (,baz,foo),y,z notin ()");
        let s = LabelSelector::parse("a=b,c==d,e!=f,!g,h>1,i<2").unwrap();
        assert_eq!(s.to_string(), "a=b,c==d,e!=f,!g,h>1,i<2");
        let s = LabelSelector::parse("  app = web , tier in ( a , b )  ").unwrap();
        assert_eq!(s.to_string(), "app=web,tier in (a,b)");
        assert!(LabelSelector::parse("").unwrap().is_empty());
        assert!(LabelSelector::parse("  ").unwrap().is_empty());
        // `in` used as a value
        let s = LabelSelector::parse("x in (in,notin)").unwrap();
        assert_eq!(s.requirements[0].values, vec!["in", "notin"]);
        // exact with empty value
        let s = LabelSelector::parse("x=,y").unwrap();
        assert_eq!(s.requirements[0].values, vec![""]);
    }

    #[test]
    fn matching_semantics() {
        let l = labels(json!({"app": "web", "n": "5"}));
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(Some(&l));
        assert!(m("app=web"));
        assert!(!m("app!=web"));
        assert!(m("missing!=x"));
        assert!(m("missing notin (a)"));
        assert!(!m("missing in (a)"));
        assert!(m("app in (db,web)"));
        assert!(m("app"));
        assert!(!m("!app"));
        assert!(m("!missing"));
        assert!(m("n>4"));
        assert!(!m("n>5"));
        assert!(m("n<6"));
        assert!(!m("app>1"));
        assert!(LabelSelector::parse("x!=y").unwrap().matches(None));
        assert!(!LabelSelector::parse("x").unwrap().matches(None));
    }

    #[test]
    fn syntax_errors_are_upstreams() {
        assert_eq!(
            LabelSelector::parse("a b").unwrap_err(),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            LabelSelector::parse("a=b c").unwrap_err(),
            "found 'c', expected: ',' or 'end of string'"
        );
        assert_eq!(
            LabelSelector::parse("x=a,").unwrap_err(),
            "found '', expected: identifier after ','"
        );
        assert_eq!(
            LabelSelector::parse(",x").unwrap_err(),
            "found ',', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            LabelSelector::parse("x in a").unwrap_err(),
            "unable to parse requirement: found 'a' expected: '('"
        );
        assert_eq!(
            LabelSelector::parse("x in (a").unwrap_err(),
            "unable to parse requirement: found '', expected: ',' or ')'"
        );
        assert_eq!(
            LabelSelector::parse("x (").unwrap_err(),
            "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            LabelSelector::parse("!=a").unwrap_err(),
            "found '!=', expected: !, identifier, or 'end of string'"
        );
    }

    #[test]
    fn validation_errors_are_upstreams() {
        assert_eq!(
            LabelSelector::parse("app=a@b").unwrap_err(),
            "unable to parse requirement: values[0][app]: Invalid value: \"a@b\": a valid label must be an empty \
             string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an \
             alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is \
             '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        );
        assert_eq!(
            LabelSelector::parse("-app=x").unwrap_err(),
            "unable to parse requirement: <nil>: Invalid value: \"-app\": name part must consist of alphanumeric \
             characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  \
             or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
        assert_eq!(
            LabelSelector::parse("x>abc").unwrap_err(),
            "unable to parse requirement: values[0]: Invalid value: \"abc\": for 'Gt', 'Lt' operators, the value \
             must be an integer"
        );
        assert_eq!(
            LabelSelector::parse("Example.com/app=x").unwrap_err(),
            "unable to parse requirement: <nil>: Invalid value: \"Example.com/app\": prefix part a lowercase RFC \
             1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end \
             with an alphanumeric character (e.g. 'example.com', regex used for validation is \
             '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        );
        assert!(LabelSelector::parse("example.com/app=x,app.kubernetes.io/name in (a)").is_ok());
        let long = "a".repeat(64);
        assert_eq!(
            LabelSelector::parse(&format!("k={long}")).unwrap_err(),
            format!(
                "unable to parse requirement: values[0][k]: Invalid value: \"{long}\": must be no more than 63 \
                 characters"
            )
        );
    }

    #[test]
    fn selector_from_json() {
        let sel = json!({"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [
            {"key": "c", "operator": "In", "values": ["y", "x"]}, {"key": "d", "operator": "DoesNotExist"}]});
        assert_eq!(label_selector_string(Some(&sel)).unwrap(), "a=1,b=2,c in (x,y),!d");
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
        assert_eq!(format_label_selector(None), "<none>");
        assert_eq!(label_selector_string(Some(&json!({}))).unwrap(), "");
        let bad = json!({"matchExpressions": [{"key": "a", "operator": "Foo"}]});
        assert_eq!(
            label_selector_string(Some(&bad)).unwrap_err(),
            "\"Foo\" is not a valid label selector operator"
        );
        assert_eq!(format_label_selector(Some(&bad)), "<error>");
        assert_eq!(format_labels(Some(&json!({"z": "1", "a": "2"}))), "a=2,z=1");
        assert_eq!(format_labels(Some(&json!({}))), "<none>");
    }

    #[test]
    fn field_selector_parse_and_match() {
        let f = FieldSelector::parse("status.phase!=Running,spec.nodeName==n1,metadata.name=a").unwrap();
        // terms are sorted like upstream
        assert_eq!(f.to_string(), "metadata.name=a,spec.nodeName=n1,status.phase!=Running");
        assert_eq!(f.exact_name(), Some("a"));
        let obj = |k: &str| match k {
            "metadata.name" => Some("a".to_string()),
            "spec.nodeName" => Some("n1".to_string()),
            _ => None,
        };
        assert!(f.matches(obj));
        assert!(FieldSelector::parse("").unwrap().is_empty());
        assert!(FieldSelector::parse(",,").unwrap().is_empty());
        let esc = FieldSelector::parse("metadata.name=a\\,b\\=c\\\\d").unwrap();
        assert_eq!(esc.requirements[0].value, "a,b=c\\d");
        assert_eq!(escape_field_value("a,b=c\\d"), "a\\,b\\=c\\\\d");
    }

    #[test]
    fn field_selector_errors_are_upstreams() {
        assert_eq!(
            FieldSelector::parse("foo").unwrap_err(),
            "invalid selector: 'foo'; can't understand 'foo'"
        );
        assert_eq!(
            FieldSelector::parse("a=b,foo").unwrap_err(),
            "invalid selector: 'a=b,foo'; can't understand 'foo'"
        );
        assert_eq!(
            FieldSelector::parse("a=b=c").unwrap_err(),
            "invalid field selector: unescaped character in value: 61"
        );
        assert_eq!(
            FieldSelector::parse("a=b\\x").unwrap_err(),
            "invalid field selector: invalid escape sequence: \\x"
        );
        assert_eq!(
            FieldSelector::parse("a=b\\").unwrap_err(),
            "invalid field selector: invalid escape sequence: \\"
        );
        let t = FieldSelector::parse("spec.host=n1,metadata.name=x")
            .unwrap()
            .transform(|l| match l {
                "spec.host" => Ok("spec.nodeName".to_string()),
                "metadata.name" => Ok(l.to_string()),
                _ => Err(format!("field label not supported: {l}")),
            });
        assert_eq!(t.unwrap().to_string(), "metadata.name=x,spec.nodeName=n1");
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\x01\"");
    }
}
