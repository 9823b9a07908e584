//! Kubernetes' format library: `format.dns1123Label()` … `format.datetime()`,
//! `format.named(name)` and `<format>.validate(s)` (optional list of upstream's messages).

use super::ext::Ext;
use super::stdlib::string_list;
use super::{nso, str_arg};
use crate::cel::decls::Registry;
use crate::cel::value::Value;
use crate::util::names;
use std::sync::Arc;

/// Upstream `MaxFormatSize`.
pub const MAX_FORMAT_SIZE: u64 = 64;

#[derive(Debug)]
pub struct NamedFormat {
    pub key: &'static str,
    pub name: &'static str,
    pub validate: fn(&str) -> Vec<String>,
    pub max_regex_size: u64,
}

/// Upstream `maskTrailingDash`: prefixes (generateName) may end with a dash.
fn mask_trailing_dash(s: &str) -> String {
    if s.len() > 1 && s.ends_with('-') {
        format!("{}a", &s[..s.len() - 1])
    } else {
        s.to_string()
    }
}

fn single(ok: bool, msg: &str) -> Vec<String> {
    if ok {
        Vec::new()
    } else {
        vec![msg.to_string()]
    }
}

fn is_date(s: &str) -> bool {
    s.len() == 10 && crate::cel::time::Timestamp::parse_date(s).is_ok() && {
        let b = s.as_bytes();
        let (m, d) = ((b[5] - b'0') * 10 + (b[6] - b'0'), (b[8] - b'0') * 10 + (b[9] - b'0'));
        (1..=12).contains(&m) && (1..=31).contains(&d)
    }
}

/// kube-openapi `IsDateTime`.
fn is_datetime(s: &str) -> bool {
    if s.len() < 4 {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    let parts: Vec<&str> = lower.split('t').collect();
    if parts.len() < 2 || !is_date(parts[0]) {
        return false;
    }
    let re = super::k8s::regex(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$");
    let Ok(re) = re else { return false };
    let Some(c) = re.captures(parts[1]) else { return false };
    let n = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<u32>().ok()).unwrap_or(99);
    n(1) <= 23 && n(2) <= 59 && n(3) <= 59
}

pub static FORMATS: &[NamedFormat] = &[
    NamedFormat {
        key: "dns1123Label",
        name: "DNS1123Label",
        validate: names::is_dns1123_label,
        max_regex_size: 30,
    },
    NamedFormat {
        key: "dns1123Subdomain",
        name: "DNS1123Subdomain",
        validate: names::is_dns1123_subdomain,
        max_regex_size: 60,
    },
    NamedFormat {
        key: "dns1035Label",
        name: "DNS1035Label",
        validate: names::is_dns1035_label,
        max_regex_size: 30,
    },
    NamedFormat {
        key: "qualifiedName",
        name: "QualifiedName",
        validate: names::is_qualified_name,
        max_regex_size: 60,
    },
    NamedFormat {
        key: "dns1123LabelPrefix",
        name: "DNS1123LabelPrefix",
        validate: |s| names::is_dns1123_label(&mask_trailing_dash(s)),
        max_regex_size: 30,
    },
    NamedFormat {
        key: "dns1123SubdomainPrefix",
        name: "DNS1123SubdomainPrefix",
        validate: |s| names::is_dns1123_subdomain(&mask_trailing_dash(s)),
        max_regex_size: 60,
    },
    NamedFormat {
        key: "dns1035LabelPrefix",
        name: "DNS1035LabelPrefix",
        validate: |s| names::is_dns1035_label(&mask_trailing_dash(s)),
        max_regex_size: 30,
    },
    NamedFormat {
        key: "labelValue",
        name: "LabelValue",
        validate: names::is_valid_label_value,
        max_regex_size: 40,
    },
    NamedFormat {
        key: "uri",
        name: "URI",
        validate: |s| match super::url::parse_request_uri(s) {
            Ok(_) => Vec::new(),
            Err(e) => vec![e],
        },
        max_regex_size: 1103,
    },
    NamedFormat {
        key: "uuid",
        name: "uuid",
        validate: |s| {
            let ok = super::k8s::regex("(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
                .is_ok_and(|r| r.is_match(s));
            single(ok, "does not match the UUID format")
        },
        max_regex_size: 70,
    },
    NamedFormat {
        key: "byte",
        name: "byte",
        validate: |s| {
            use base64::Engine;
            single(
                base64::engine::general_purpose::STANDARD.decode(s).is_ok(),
                "invalid base64",
            )
        },
        max_regex_size: 84,
    },
    NamedFormat {
        key: "date",
        name: "date",
        validate: |s| single(is_date(s), "invalid date"),
        max_regex_size: 71,
    },
    NamedFormat {
        key: "datetime",
        name: "datetime",
        validate: |s| single(is_datetime(s), "invalid datetime"),
        max_regex_size: 71,
    },
];

fn fmt_val<'a>(i: usize) -> Result<Value<'a>, String> {
    Ok(Value::Ext(Arc::new(Ext::Format(&FORMATS[i]))))
}

/// The longest regex of a format value (for the cost of `validate`).
pub fn max_regex_size(v: &Value<'_>) -> u64 {
    match v {
        Value::Ext(e) => match &**e {
            Ext::Format(f) => f.max_regex_size,
            _ => 1,
        },
        _ => 1,
    }
}

pub fn register(r: &mut Registry) {
    macro_rules! constant {
        ($($i:literal => $name:literal),*) => {
            $( r.global(concat!("format.", $name), concat!("format.", $name), " -> kubernetes.NamedFormat", |_| fmt_val($i)); )*
        };
    }
    constant!(0 => "dns1123Label", 1 => "dns1123Subdomain", 2 => "dns1035Label", 3 => "qualifiedName",
        4 => "dns1123LabelPrefix", 5 => "dns1123SubdomainPrefix", 6 => "dns1035LabelPrefix", 7 => "labelValue",
        8 => "uri", 9 => "uuid", 10 => "byte", 11 => "date", 12 => "datetime");
    r.member(
        "validate",
        "format-validate",
        "kubernetes.NamedFormat, string -> optional_type(list(string))",
        |a| {
            let Some(Value::Ext(e)) = a.first() else { return nso() };
            let Ext::Format(f) = &**e else { return nso() };
            let msgs = (f.validate)(str_arg(&a, 1)?);
            Ok(Value::Optional(if msgs.is_empty() {
                None
            } else {
                Some(Box::new(string_list(msgs)))
            }))
        },
    );
    r.global(
        "format.named",
        "format-named",
        "string -> optional_type(kubernetes.NamedFormat)",
        |a| {
            let n = str_arg(&a, 0)?;
            Ok(Value::Optional(
                FORMATS
                    .iter()
                    .position(|f| f.key == n)
                    .map(|i| Box::new(Value::Ext(Arc::new(Ext::Format(&FORMATS[i]))))),
            ))
        },
    );
}
