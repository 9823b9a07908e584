//! Where a Service's traffic goes: the ready `(ip, port)` pairs for one of its ports, read from
//! EndpointSlices or an Endpoints object. Webhooks, the aggregator and the services proxy all
//! resolve Services this way.

use crate::util::json::JsonExt;
use serde_json::Value;

/// The `port` of the entry named `port_name` in a slice's or subset's `ports`.
fn named_port(ports: Option<&Value>, port_name: &str) -> Option<u16> {
    ports?
        .as_array()?
        .iter()
        .find(|p| p.str_of("name") == port_name)?
        .get("port")?
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
}

/// Ready endpoints of Service `service` serving `port_name`, from EndpointSlices (those labelled
/// `kubernetes.io/service-name=<service>`; an endpoint without `ready: false` counts as ready).
pub fn from_slices<'a>(
    slices: impl IntoIterator<Item = &'a Value>,
    service: &str,
    port_name: &str,
) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    for s in slices {
        if s.opt_str_at("/metadata/labels/kubernetes.io~1service-name") != Some(service) {
            continue;
        }
        let Some(port) = named_port(s.get("ports"), port_name) else {
            continue;
        };
        for ep in s.get("endpoints").and_then(Value::as_array).into_iter().flatten() {
            if ep.bool_at("/conditions/ready") == Some(false) {
                continue;
            }
            for ip in ep.get("addresses").and_then(Value::as_array).into_iter().flatten() {
                if let Some(ip) = ip.as_str() {
                    out.push((ip.to_string(), port));
                }
            }
        }
    }
    out
}

/// The ready addresses of an Endpoints object's subsets serving `port_name`: the address
/// object (for callers that check its `targetRef`), its IP and the port.
pub fn from_endpoints<'a>(endpoints: &'a Value, port_name: &str) -> Vec<(&'a Value, String, u16)> {
    let mut out = Vec::new();
    for ss in endpoints.get("subsets").and_then(Value::as_array).into_iter().flatten() {
        let Some(port) = named_port(ss.get("ports"), port_name) else {
            continue;
        };
        for a in ss.get("addresses").and_then(Value::as_array).into_iter().flatten() {
            if let Some(ip) = a.get("ip").and_then(Value::as_str) {
                out.push((a, ip.to_string(), port));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slices_and_endpoints() {
        let slices = [
            json!({"metadata": {"labels": {"kubernetes.io/service-name": "web"}},
                   "ports": [{"name": "http", "port": 8080}],
                   "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"], "conditions": {"ready": false}}]}),
            json!({"metadata": {"labels": {"kubernetes.io/service-name": "other"}},
                   "ports": [{"name": "http", "port": 9}], "endpoints": [{"addresses": ["10.0.0.9"]}]}),
        ];
        assert_eq!(
            from_slices(&slices, "web", "http"),
            vec![("10.0.0.1".to_string(), 8080)]
        );
        assert!(from_slices(&slices, "web", "https").is_empty());
        let eps = json!({"subsets": [{"addresses": [{"ip": "10.1.0.1"}], "notReadyAddresses": [{"ip": "10.1.0.2"}],
                                      "ports": [{"port": 443}]}]});
        let got: Vec<(String, u16)> = from_endpoints(&eps, "").into_iter().map(|(_, ip, p)| (ip, p)).collect();
        assert_eq!(got, vec![("10.1.0.1".to_string(), 443)]);
    }
}
