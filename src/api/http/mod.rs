//! The HTTP/JSON API: the same operations as the gRPC services, for producers that speak only
//! HTTP/1.1 (Apex callouts, webhooks, curl). Served on the gRPC port by the same server
//! ([`super::serve`] mounts [`router`] and accepts HTTP/1.1).
//!
//! Invariants:
//! - Every operation is the gRPC service's own: handlers build the proto request, call the
//!   `LogService`/`LineageService` method on [`LogApi`]/[`LineageApi`] and encode its answer in
//!   the protobuf JSON mapping, so both APIs run the same checks and limits and cannot drift.
//! - The routes are declared once, in [`ROUTES`]; the router is built from that table and the
//!   OpenAPI document ([`openapi`]) is checked against it by tests.
//! - Every refusal, including unknown routes and unparsable input, is a JSON [`ApiError`].

pub mod errors;
mod lineage_routes;
mod log_routes;
pub mod openapi;
pub mod params;

pub use errors::{ApiError, ErrorBody, code_from_name, code_name, http_status};
pub use log_routes::{BatchItem, BatchRequest, BatchResponse, MAX_BATCH_ENVELOPES};
pub use params::EMPTY_TENANT;

use super::{LineageApi, LogApi};
use crate::ledger::Ledger;
use axum::Router;
use axum::extract::Request;
use axum::http::{Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use std::sync::Arc;

/// What every handler shares: the gRPC service implementations and the body size limit.
#[derive(Debug, Clone)]
pub struct HttpState {
    log: LogApi,
    lineage: LineageApi,
    /// Largest request body accepted, in bytes (the gRPC message limit).
    max_body_bytes: usize,
}

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
}

impl HttpMethod {
    /// Lower case, as OpenAPI path items name operations.
    pub fn openapi_name(self) -> &'static str {
        match self {
            HttpMethod::Get => "get",
            HttpMethod::Post => "post",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            HttpMethod::Get => MethodFilter::GET,
            HttpMethod::Post => MethodFilter::POST,
        }
    }
}

/// One operation of the API; its OpenAPI `operationId` is [`Operation::id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Append,
    AppendBatch,
    GetCheckpoint,
    GetCheckpointNote,
    GetEntries,
    GetInclusionProof,
    GetConsistencyProof,
    ListKeys,
    History,
    Trace,
    RecordDescendants,
    Descendants,
    ListAlerts,
    OpenApi,
}

impl Operation {
    pub fn id(self) -> &'static str {
        match self {
            Operation::Append => "append",
            Operation::AppendBatch => "appendBatch",
            Operation::GetCheckpoint => "getCheckpoint",
            Operation::GetCheckpointNote => "getCheckpointNote",
            Operation::GetEntries => "getEntries",
            Operation::GetInclusionProof => "getInclusionProof",
            Operation::GetConsistencyProof => "getConsistencyProof",
            Operation::ListKeys => "listKeys",
            Operation::History => "history",
            Operation::Trace => "trace",
            Operation::RecordDescendants => "recordDescendants",
            Operation::Descendants => "descendants",
            Operation::ListAlerts => "listAlerts",
            Operation::OpenApi => "openApi",
        }
    }

    fn handler(self, method: HttpMethod) -> MethodRouter<HttpState> {
        let f = method.filter();
        match self {
            Operation::Append => on(f, log_routes::append),
            Operation::AppendBatch => on(f, log_routes::append_batch),
            Operation::GetCheckpoint => on(f, log_routes::checkpoint),
            Operation::GetCheckpointNote => on(f, log_routes::checkpoint_note),
            Operation::GetEntries => on(f, log_routes::entries),
            Operation::GetInclusionProof => on(f, log_routes::inclusion_proof),
            Operation::GetConsistencyProof => on(f, log_routes::consistency_proof),
            Operation::ListKeys => on(f, log_routes::keys),
            Operation::History => on(f, lineage_routes::history),
            Operation::Trace => on(f, lineage_routes::trace),
            Operation::RecordDescendants => on(f, lineage_routes::record_descendants),
            Operation::Descendants => on(f, lineage_routes::descendants),
            Operation::ListAlerts => on(f, lineage_routes::alerts),
            Operation::OpenApi => on(f, openapi::document),
        }
    }
}

/// One route: method, path (axum and OpenAPI share the `{param}` syntax) and operation.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: HttpMethod,
    pub path: &'static str,
    pub operation: Operation,
}

const fn route(method: HttpMethod, path: &'static str, operation: Operation) -> Route {
    Route {
        method,
        path,
        operation,
    }
}

/// The path prefix of a record: `{system}/{tenant}/{object_type}/{record_id}`, each one path
/// segment (percent-encode `/` and other reserved characters; an empty tenant is `-`).
macro_rules! record_path {
    ($tail:literal) => {
        concat!(
            "/v1/records/{system}/{tenant}/{object_type}/{record_id}/",
            $tail
        )
    };
}

/// Every route of the HTTP API.
pub const ROUTES: &[Route] = {
    use HttpMethod::{Get, Post};
    &[
        route(Post, "/v1/events", Operation::Append),
        route(Post, "/v1/events:batch", Operation::AppendBatch),
        route(Get, "/v1/checkpoint", Operation::GetCheckpoint),
        route(Get, "/v1/checkpoint/note", Operation::GetCheckpointNote),
        route(Get, "/v1/entries", Operation::GetEntries),
        route(Get, "/v1/proofs/inclusion", Operation::GetInclusionProof),
        route(
            Get,
            "/v1/proofs/consistency",
            Operation::GetConsistencyProof,
        ),
        route(Get, "/v1/keys", Operation::ListKeys),
        route(Get, record_path!("history"), Operation::History),
        route(Get, record_path!("trace"), Operation::Trace),
        route(
            Get,
            record_path!("descendants"),
            Operation::RecordDescendants,
        ),
        route(Get, "/v1/descendants", Operation::Descendants),
        route(Get, "/v1/alerts", Operation::ListAlerts),
        route(Get, "/v1/openapi.json", Operation::OpenApi),
    ]
};

/// The HTTP API's routes over `ledger`, refusing bodies over `max_body_bytes`. Requests that
/// match no route get a JSON NOT_FOUND, except gRPC requests (content type `application/grpc`),
/// which get gRPC's own UNIMPLEMENTED so gRPC clients see the usual status.
pub fn router(ledger: Arc<Ledger>, max_body_bytes: usize) -> Router {
    let state = HttpState {
        log: LogApi::new(ledger.clone()),
        lineage: LineageApi::new(ledger),
        max_body_bytes,
    };
    let mut router = Router::new();
    for r in ROUTES {
        router = router.route(r.path, r.operation.handler(r.method));
    }
    router
        .method_not_allowed_fallback(wrong_method)
        .fallback(no_route)
        .with_state(state)
}

async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}

async fn no_route(request: Request) -> Response {
    let is_grpc = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if is_grpc {
        let (parts, ()) = tonic::Status::unimplemented("")
            .into_http::<()>()
            .into_parts();
        return Response::from_parts(parts, axum::body::Body::empty());
    }
    ApiError::not_found(format!(
        "path: no route {} {}",
        request.method(),
        request.uri().path()
    ))
    .into_response()
}

/// A proto answer in the protobuf JSON mapping.
fn json_answer<T: serde::Serialize>(answer: &T) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(answer)
        .map_err(|e| ApiError::internal(format!("answer could not be encoded as JSON: {e}")))?;
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
