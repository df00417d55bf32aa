//! The log routes: appending DSSE JSON envelopes (one, or a batch), the checkpoint (JSON or the
//! raw signed note), entries, proofs and the key registry. Each calls the `LogService` method of
//! [`crate::api::LogApi`].
//!
//! Batches: `POST /v1/events:batch` takes `{"envelopes": [<DSSE envelope>, …]}` (at most
//! [`MAX_BATCH_ENVELOPES`]) and answers `{"results": [{"response": <AppendResponse>} |
//! {"error": {"code", "message"}}, …]}`, one result per envelope in the same order. Envelopes
//! are admitted and queued in order, as over `AppendStream`; a refused envelope is answered with
//! its error in its place and does not stop the others.

use super::errors::{ApiError, ErrorBody};
use super::params::{QueryParams, json_body, json_error, json_value, read_body};
use super::{HttpState, json_answer};
use crate::json::DsseEnvelope;
use crate::proto::log_service_server::LogService;
use crate::proto::{
    AppendRequest, AppendResponse, GetCheckpointRequest, GetConsistencyProofRequest,
    GetEntriesRequest, GetInclusionProofRequest, ListKeysRequest,
};
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use tonic::Request;

/// Most envelopes one batch may carry.
pub const MAX_BATCH_ENVELOPES: usize = 1000;

/// The body of `POST /v1/events:batch`. Envelopes are kept as JSON so that a malformed one is
/// answered in its place instead of refusing the whole batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub envelopes: Vec<serde_json::Value>,
}

/// The answer to a batch: one item per envelope, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchResponse {
    pub results: Vec<BatchItem>,
}

/// One envelope's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BatchItem {
    Response(AppendResponse),
    Error(ErrorBody),
}

/// The signed envelope a DSSE JSON body holds; field errors are prefixed with `prefix`.
fn envelope_request(value: serde_json::Value, prefix: &str) -> Result<AppendRequest, ApiError> {
    let dsse: DsseEnvelope = json_value(value, prefix)?;
    let event = dsse.to_signed(1).map_err(|e| json_error(e, prefix))?;
    Ok(AppendRequest { event: Some(event) })
}

pub(super) async fn append(
    State(state): State<HttpState>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    QueryParams::parse(query.as_deref(), &[])?;
    let bytes = read_body(body, state.max_body_bytes).await?;
    let request = envelope_request(json_body(&bytes)?, "")?;
    let answer = LogService::append(&state.log, Request::new(request)).await?;
    json_answer(answer.get_ref())
}

type PendingItem = Pin<Box<dyn Future<Output = BatchItem> + Send>>;

pub(super) async fn append_batch(
    State(state): State<HttpState>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    QueryParams::parse(query.as_deref(), &[])?;
    let bytes = read_body(body, state.max_body_bytes).await?;
    let batch: BatchRequest = json_body(&bytes)?;
    match batch.envelopes.len() {
        0 => {
            return Err(ApiError::invalid_argument(
                "envelopes: at least one is needed",
            ));
        }
        n if n > MAX_BATCH_ENVELOPES => {
            return Err(ApiError::invalid_argument(format!(
                "envelopes: at most {MAX_BATCH_ENVELOPES} per batch, got {n}"
            )));
        }
        _ => {}
    }
    // Each future is polled in order: the first poll admits and queues its envelope, so the
    // log sequences them in the order given.
    let mut pending: FuturesOrdered<PendingItem> = FuturesOrdered::new();
    for (i, value) in batch.envelopes.into_iter().enumerate() {
        let item: PendingItem = match envelope_request(value, &format!("envelopes[{i}].")) {
            Err(e) => Box::pin(std::future::ready(BatchItem::Error(e.body()))),
            Ok(request) => {
                let log = state.log.clone();
                Box::pin(async move {
                    match LogService::append(&log, Request::new(request)).await {
                        Ok(answer) => BatchItem::Response(answer.into_inner()),
                        Err(status) => BatchItem::Error(ApiError::from(status).body()),
                    }
                })
            }
        };
        pending.push_back(item);
    }
    let results = pending.collect().await;
    json_answer(&BatchResponse { results })
}

fn checkpoint_request(query: Option<&str>) -> Result<GetCheckpointRequest, ApiError> {
    let q = QueryParams::parse(query, &["size"])?;
    Ok(GetCheckpointRequest {
        size: q.number("size")?,
    })
}

/// Whether the client asked for the signed note rather than JSON: `Accept` names `text/plain`
/// and not `application/json`.
fn wants_note(headers: &HeaderMap) -> bool {
    let accept: String = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    accept.contains("text/plain") && !accept.contains("application/json")
}

fn note_answer(note: String) -> Response {
    let mut response = note.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

pub(super) async fn checkpoint(
    State(state): State<HttpState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let request = checkpoint_request(query.as_deref())?;
    let answer = LogService::get_checkpoint(&state.log, Request::new(request))
        .await?
        .into_inner();
    if wants_note(&headers) {
        return Ok(note_answer(answer.note));
    }
    json_answer(&answer)
}

pub(super) async fn checkpoint_note(
    State(state): State<HttpState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let request = checkpoint_request(query.as_deref())?;
    let answer = LogService::get_checkpoint(&state.log, Request::new(request)).await?;
    Ok(note_answer(answer.into_inner().note))
}

pub(super) async fn entries(
    State(state): State<HttpState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let q = QueryParams::parse(query.as_deref(), &["start", "count"])?;
    let request = GetEntriesRequest {
        start: q.number("start")?,
        count: q.number("count")?,
    };
    let answer = LogService::get_entries(&state.log, Request::new(request)).await?;
    json_answer(answer.get_ref())
}

pub(super) async fn inclusion_proof(
    State(state): State<HttpState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let q = QueryParams::parse(query.as_deref(), &["leaf_index", "tree_size", "leaf_hash"])?;
    let request = GetInclusionProofRequest {
        leaf_index: q.number("leaf_index")?,
        tree_size: q.number("tree_size")?,
        leaf_hash: q.hash_bytes("leaf_hash")?,
    };
    let answer = LogService::get_inclusion_proof(&state.log, Request::new(request)).await?;
    json_answer(answer.get_ref())
}

pub(super) async fn consistency_proof(
    State(state): State<HttpState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let q = QueryParams::parse(query.as_deref(), &["first_size", "second_size"])?;
    let request = GetConsistencyProofRequest {
        first_size: q.number("first_size")?,
        second_size: q.number("second_size")?,
    };
    let answer = LogService::get_consistency_proof(&state.log, Request::new(request)).await?;
    json_answer(answer.get_ref())
}

pub(super) async fn keys(
    State(state): State<HttpState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    QueryParams::parse(query.as_deref(), &[])?;
    let answer = LogService::list_keys(&state.log, Request::new(ListKeysRequest {})).await?;
    json_answer(answer.get_ref())
}
