//! `GET /openapi.json`: the gateway's HTTP API as an OpenAPI 3.1 document (committed beside the
//! crate as `openapi.json`; a test keeps it and the routers in step).

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

/// The document, as committed.
pub const DOCUMENT: &str = include_str!("../openapi.json");

/// Serves [`DOCUMENT`].
pub async fn serve() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use cowork_cloud::api::openapi::{documented_operations, routed_operations};

    /// Every file that registers gateway routes.
    const ROUTERS: [&str; 3] =
        [include_str!("ingress/mod.rs"), include_str!("operator/mod.rs"), include_str!("operator/console/mod.rs")];

    #[test]
    fn every_route_is_in_the_document_and_every_documented_operation_is_routed() {
        let routed = routed_operations(&ROUTERS);
        assert!(routed.len() >= 25, "the routers were read: {routed:?}");
        let documented = documented_operations(super::DOCUMENT);
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        assert!(undocumented.is_empty(), "routes missing from gateway/openapi.json: {undocumented:?}");
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(unrouted.is_empty(), "documented but not routed: {unrouted:?}");
    }
}
