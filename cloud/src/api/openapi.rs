//! `GET /openapi.json`: the cloud's HTTP API as an OpenAPI 3.1 document (committed beside the
//! crate as `openapi.json`), and the check both binaries use to keep a document and the
//! routers in step: the operations the router source registers against those documented.

use std::collections::BTreeSet;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

/// The document, as committed.
pub const DOCUMENT: &str = include_str!("../../openapi.json");

/// Serves [`DOCUMENT`].
pub async fn serve() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT)
}

/// One operation: the method in upper case and the path template as axum writes it.
pub type Operation = (String, String);

/// The operations `.route("path", get(..).post(..))` calls in router `sources` register (axum
/// cannot list its routes, so the source that declares them is read).
pub fn routed_operations(sources: &[&str]) -> BTreeSet<Operation> {
    let route = regex::Regex::new(r#"\.route\(\s*"([^"]+)",\s*((?:[\w:]+\([\w:]+\)\s*\.?\s*)+)"#).ok();
    let method = regex::Regex::new(r"(?:^|[.:])\s*(get|post|put|patch|delete)\(").ok();
    let (Some(route), Some(method)) = (route, method) else { return BTreeSet::new() };
    let mut operations = BTreeSet::new();
    for source in sources {
        for found in route.captures_iter(source) {
            for verb in method.captures_iter(&found[2]) {
                operations.insert((verb[1].to_uppercase(), found[1].to_owned()));
            }
        }
    }
    operations
}

/// The operations an OpenAPI document lists.
pub fn documented_operations(document: &str) -> BTreeSet<Operation> {
    let value: serde_json::Value = serde_json::from_str(document).unwrap_or_default();
    let mut operations = BTreeSet::new();
    for (path, item) in value["paths"].as_object().into_iter().flatten() {
        for verb in ["get", "post", "put", "patch", "delete"] {
            if item.get(verb).is_some() {
                operations.insert((verb.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_read_with_every_method_they_chain() {
        let source = r#"
            .route("/a", get(a::list).post(a::create))
            .route("/a/{id}", axum::routing::delete(a::revoke))
            .route("/b", patch(b))
        "#;
        let expected: BTreeSet<Operation> = [("GET", "/a"), ("POST", "/a"), ("DELETE", "/a/{id}"), ("PATCH", "/b")]
            .into_iter()
            .map(|(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
        assert_eq!(routed_operations(&[source]), expected);
    }

    #[test]
    fn every_route_is_in_the_document_and_every_documented_operation_is_routed() {
        let routed = routed_operations(&[include_str!("mod.rs")]);
        assert!(routed.len() >= 30, "the router was read: {routed:?}");
        let documented = documented_operations(DOCUMENT);
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        assert!(undocumented.is_empty(), "routes missing from cloud/openapi.json: {undocumented:?}");
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(unrouted.is_empty(), "documented but not routed: {unrouted:?}");
    }
}
