//! Content negotiation: which encoding a client accepts, and what a request body is.

use crate::error::ApiError;

/// The media types a response may be rendered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Json,
    Yaml,
    /// `meta.k8s.io` Table (v1 or v1beta1).
    Table(&'static str),
    /// `meta.k8s.io` PartialObjectMetadata(List).
    PartialMetadata(&'static str),
    /// Aggregated discovery `apidiscovery.k8s.io/v2` (v2beta1 is no longer served in 1.33:
    /// `AggregatedDiscoveryRemoveBetaType`).
    Discovery(&'static str),
    /// `application/vnd.kubernetes.protobuf` (built-in kinds; watches `;stream=watch`).
    Protobuf,
    /// `meta.k8s.io` PartialObjectMetadata(List) in protobuf (any kind, custom resources too).
    ProtobufPartialMetadata(&'static str),
}

impl Output {
    pub fn is_protobuf(self) -> bool {
        matches!(self, Output::Protobuf | Output::ProtobufPartialMetadata(_))
    }

    pub fn content_type(self) -> String {
        match self {
            Output::Json | Output::Table(_) | Output::PartialMetadata(_) => "application/json".into(),
            Output::Protobuf | Output::ProtobufPartialMetadata(_) => crate::protobuf::MEDIA_TYPE.into(),
            Output::Yaml => "application/yaml".into(),
            Output::Discovery(v) => {
                format!("application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList")
            }
        }
    }
}

#[derive(Debug, Default)]
struct MediaRange {
    ty: String,
    params: Vec<(String, String)>,
}

impl MediaRange {
    fn param(&self, k: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
}

fn parse_accept(accept: &str) -> Vec<MediaRange> {
    accept
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|part| {
            let mut it = part.split(';');
            let ty = it.next().unwrap_or("").trim().to_ascii_lowercase();
            let params = it
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
                .collect();
            MediaRange { ty, params }
        })
        .collect()
}

/// What the client may receive on a given endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Object reads (get/list/watch): Table and PartialObjectMetadata allowed.
    Read,
    /// Discovery roots `/api` and `/apis`: aggregated discovery allowed.
    DiscoveryRoot,
    /// Everything else.
    Plain,
}

const ACCEPTED: &[&str] = &["application/json", "application/yaml"];

/// Pick the first acceptable media range, as upstream's negotiation does. `protobuf`: the
/// target kind has a protobuf form (built-in kinds; custom resources have none, but their
/// PartialObjectMetadata has).
pub fn negotiate(accept: Option<&str>, endpoint: Endpoint, protobuf: bool) -> Result<Output, ApiError> {
    let accept = accept.unwrap_or("").trim();
    if accept.is_empty() {
        return Ok(Output::Json);
    }
    for m in parse_accept(accept) {
        let as_ = m.param("as");
        let g = m.param("g");
        let v = m.param("v");
        // `;stream=watch` only names the watch framing of the same encoding.
        if m.param("stream").is_some_and(|s| s != "watch") {
            continue;
        }
        match m.ty.as_str() {
            "application/vnd.kubernetes.protobuf" => match (as_, g) {
                (None, _) if protobuf => return Ok(Output::Protobuf),
                (Some("PartialObjectMetadata") | Some("PartialObjectMetadataList"), Some("meta.k8s.io"))
                    if endpoint == Endpoint::Read =>
                {
                    match v {
                        Some("v1") => return Ok(Output::ProtobufPartialMetadata("v1")),
                        Some("v1beta1") => return Ok(Output::ProtobufPartialMetadata("v1beta1")),
                        _ => continue,
                    }
                }
                // Table has no protobuf form (upstream serves it as JSON only).
                _ => continue,
            },
            "application/json" | "application/*" | "*/*" => match (as_, g) {
                (None, _) => return Ok(Output::Json),
                (Some("Table"), Some("meta.k8s.io")) if endpoint == Endpoint::Read => match v {
                    Some("v1") => return Ok(Output::Table("v1")),
                    Some("v1beta1") => return Ok(Output::Table("v1beta1")),
                    _ => continue,
                },
                (Some("PartialObjectMetadata") | Some("PartialObjectMetadataList"), Some("meta.k8s.io"))
                    if endpoint == Endpoint::Read =>
                {
                    match v {
                        Some("v1") => return Ok(Output::PartialMetadata("v1")),
                        Some("v1beta1") => return Ok(Output::PartialMetadata("v1beta1")),
                        _ => continue,
                    }
                }
                (Some("APIGroupDiscoveryList"), Some("apidiscovery.k8s.io")) if endpoint == Endpoint::DiscoveryRoot => {
                    match v {
                        Some("v2") => return Ok(Output::Discovery("v2")),
                        _ => continue,
                    }
                }
                _ => continue,
            },
            "application/yaml" if as_.is_none() => return Ok(Output::Yaml),
            _ => continue,
        }
    }
    match (endpoint, protobuf) {
        (Endpoint::Read, true) => Err(ApiError::not_acceptable(&[
            "application/json",
            "application/yaml",
            "application/vnd.kubernetes.protobuf",
            "application/json;as=Table;v=v1;g=meta.k8s.io",
            "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io",
        ])),
        (Endpoint::Read, false) => Err(ApiError::not_acceptable(&[
            "application/json",
            "application/yaml",
            "application/json;as=Table;v=v1;g=meta.k8s.io",
            "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io",
        ])),
        (_, true) => Err(ApiError::not_acceptable(&[
            "application/json",
            "application/yaml",
            "application/vnd.kubernetes.protobuf",
        ])),
        _ => Err(ApiError::not_acceptable(ACCEPTED)),
    }
}

/// How a request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyType {
    Json,
    Yaml,
    JsonPatch,
    MergePatch,
    StrategicMergePatch,
    ApplyPatch,
    /// `application/vnd.kubernetes.protobuf` (kubectl 1.32+ typed clients).
    Protobuf,
}

pub fn body_type(content_type: Option<&str>) -> Result<BodyType, String> {
    let ct = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match ct.as_str() {
        "" | "application/json" | "*/*" => Ok(BodyType::Json),
        "application/yaml" | "application/x-yaml" | "text/yaml" => Ok(BodyType::Yaml),
        "application/json-patch+json" => Ok(BodyType::JsonPatch),
        "application/merge-patch+json" => Ok(BodyType::MergePatch),
        "application/strategic-merge-patch+json" => Ok(BodyType::StrategicMergePatch),
        "application/apply-patch+yaml" => Ok(BodyType::ApplyPatch),
        "application/vnd.kubernetes.protobuf" => Ok(BodyType::Protobuf),
        other => Err(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_accept_headers() {
        let get = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(negotiate(Some(get), Endpoint::Read, true).unwrap(), Output::Table("v1"));
        assert_eq!(negotiate(Some(get), Endpoint::Plain, true).unwrap(), Output::Json);
        let disco = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(
            negotiate(Some(disco), Endpoint::DiscoveryRoot, false).unwrap(),
            Output::Discovery("v2")
        );
        // kubectl 1.27 asks for v2beta1 first: a 1.33 server answers the legacy document.
        let old = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(
            negotiate(Some(old), Endpoint::DiscoveryRoot, false).unwrap(),
            Output::Json
        );
        let only_beta = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
        assert_eq!(
            negotiate(Some(only_beta), Endpoint::DiscoveryRoot, false)
                .unwrap_err()
                .code,
            406
        );
        // Built-in kinds: protobuf alone or first; custom resources fall back to JSON, or 406
        // when nothing else is acceptable.
        let pb = "application/vnd.kubernetes.protobuf";
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf, */*"), Endpoint::Read, true).unwrap(),
            Output::Protobuf
        );
        assert_eq!(negotiate(Some(pb), Endpoint::Read, true).unwrap(), Output::Protobuf);
        assert_eq!(negotiate(Some(pb), Endpoint::Plain, true).unwrap(), Output::Protobuf);
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf, */*"), Endpoint::Read, false).unwrap(),
            Output::Json
        );
        assert_eq!(
            negotiate(
                Some("application/vnd.kubernetes.protobuf,application/json"),
                Endpoint::Read,
                false
            )
            .unwrap(),
            Output::Json
        );
        assert_eq!(negotiate(Some(pb), Endpoint::Read, false).unwrap_err().code, 406);
        assert_eq!(
            negotiate(
                Some("application/vnd.kubernetes.protobuf;stream=watch"),
                Endpoint::Read,
                true
            )
            .unwrap(),
            Output::Protobuf
        );
        assert_eq!(
            negotiate(
                Some("application/json, application/vnd.kubernetes.protobuf"),
                Endpoint::Read,
                true
            )
            .unwrap(),
            Output::Json
        );
        // client-go's metadata client: PartialObjectMetadata in protobuf, for any kind.
        let meta = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
        assert_eq!(
            negotiate(Some(meta), Endpoint::Read, false).unwrap(),
            Output::ProtobufPartialMetadata("v1")
        );
        // Table stays JSON.
        let table = "application/vnd.kubernetes.protobuf;as=Table;g=meta.k8s.io;v=v1,application/json;as=Table;g=meta.k8s.io;v=v1";
        assert_eq!(
            negotiate(Some(table), Endpoint::Read, true).unwrap(),
            Output::Table("v1")
        );
        assert_eq!(
            negotiate(Some("application/json;as=Foo;g=meta.k8s.io;v=v1"), Endpoint::Read, true)
                .unwrap_err()
                .code,
            406
        );
    }
}
