//! The OpenAPI 3.1 document of the HTTP API (`openapi.json` beside this file), served at
//! `GET /v1/openapi.json`.
//!
//! Invariant: the document describes exactly [`super::ROUTES`]: every route has a path item
//! with its method and `operationId`, and the document has no other operation. The unit test
//! below checks both directions; `tests/http_api.rs` validates real answers of every documented
//! operation against the documented schemas.

use super::params::QueryParams;
use axum::extract::RawQuery;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The document's text, exactly as served.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

pub(super) async fn document(RawQuery(query): RawQuery) -> Response {
    if let Err(e) = QueryParams::parse(query.as_deref(), &[]) {
        return e.into_response();
    }
    let mut response = OPENAPI_JSON.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Every `(method, path, operationId)` the document declares, methods in lower case.
pub fn documented_operations(
    document: &serde_json::Value,
) -> Vec<(String, String, Option<String>)> {
    let mut found = Vec::new();
    let Some(paths) = document.get("paths").and_then(|p| p.as_object()) else {
        return found;
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, operation) in item {
            if matches!(
                method.as_str(),
                "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace"
            ) {
                let id = operation
                    .get("operationId")
                    .and_then(|id| id.as_str())
                    .map(str::to_string);
                found.push((method.clone(), path.clone(), id));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::super::ROUTES;
    use super::*;

    #[test]
    fn the_document_describes_exactly_the_routes() {
        let document: serde_json::Value = serde_json::from_str(OPENAPI_JSON).unwrap();
        assert_eq!(document["openapi"].as_str().map(|v| &v[..4]), Some("3.1."));
        let documented = documented_operations(&document);
        for route in ROUTES {
            let method = route.method.openapi_name();
            let entry = documented
                .iter()
                .find(|(m, p, _)| m == method && p == route.path);
            assert_eq!(
                entry.and_then(|(_, _, id)| id.as_deref()),
                Some(route.operation.id()),
                "{method} {} is not documented with operationId {}",
                route.path,
                route.operation.id()
            );
        }
        for (method, path, _) in &documented {
            assert!(
                ROUTES
                    .iter()
                    .any(|r| r.method.openapi_name() == method && r.path == path),
                "{method} {path} is documented but not routed"
            );
        }
        assert_eq!(documented.len(), ROUTES.len());
    }
}
