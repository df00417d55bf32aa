//! The lineage routes: a record's history, trace and descendants (the record named by path
//! segments), descendants of a generator or a key, and contamination alerts. Each calls the
//! `LineageService` method of [`crate::api::LineageApi`].

use super::errors::ApiError;
use super::params::{QueryParams, record_from_path};
use super::{HttpState, json_answer};
use crate::proto::lineage_service_server::LineageService;
use crate::proto::{
    DescendantsRequest, HistoryRequest, ListAlertsRequest, TraceRequest, descendants_request,
};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use tonic::Request;

/// The record path segments: system, tenant, object type, record id.
type RecordPath = Path<(String, String, String, String)>;

fn record_of(path: Result<RecordPath, PathRejection>) -> Result<crate::proto::RecordRef, ApiError> {
    let Path((system, tenant, object_type, record_id)) =
        path.map_err(|e| ApiError::invalid_argument(format!("record: {}", e.body_text())))?;
    Ok(record_from_path([system, tenant, object_type, record_id]))
}

pub(super) async fn history(
    State(state): State<HttpState>,
    path: Result<RecordPath, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let record = record_of(path)?;
    let q = QueryParams::parse(query.as_deref(), &["as_of", "with_proofs", "min_tree_size"])?;
    let request = HistoryRequest {
        record: Some(record),
        as_of: q.number("as_of")?,
        with_proofs: q.flag("with_proofs")?,
        min_tree_size: q.number("min_tree_size")?,
    };
    let answer = LineageService::history(&state.lineage, Request::new(request)).await?;
    json_answer(answer.get_ref())
}

pub(super) async fn trace(
    State(state): State<HttpState>,
    path: Result<RecordPath, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let record = record_of(path)?;
    let q = QueryParams::parse(
        query.as_deref(),
        &["max_depth", "as_of", "with_proofs", "min_tree_size"],
    )?;
    let request = TraceRequest {
        record: Some(record),
        max_depth: q.number("max_depth")?,
        as_of: q.number("as_of")?,
        with_proofs: q.flag("with_proofs")?,
        min_tree_size: q.number("min_tree_size")?,
    };
    let answer = LineageService::trace(&state.lineage, Request::new(request)).await?;
    json_answer(answer.get_ref())
}

/// The query parameters every descendants route takes.
const DESCENDANTS_PARAMS: [&str; 8] = [
    "environments",
    "since",
    "until",
    "max_depth",
    "page_size",
    "page_token",
    "as_of",
    "min_tree_size",
];

/// A descendants request from `from` and the shared query parameters.
fn descendants_request(
    from: Option<descendants_request::From>,
    q: &QueryParams,
) -> Result<DescendantsRequest, ApiError> {
    Ok(DescendantsRequest {
        from,
        environments: q.all("environments"),
        since: q.timestamp("since")?,
        until: q.timestamp("until")?,
        max_depth: q.number("max_depth")?,
        page_size: q.number("page_size")?,
        page_token: q.text("page_token")?.unwrap_or_default().to_string(),
        as_of: q.number("as_of")?,
        min_tree_size: q.number("min_tree_size")?,
    })
}

async fn run_descendants(
    state: &HttpState,
    request: DescendantsRequest,
) -> Result<Response, ApiError> {
    let answer = LineageService::descendants(&state.lineage, Request::new(request)).await?;
    json_answer(answer.get_ref())
}

pub(super) async fn record_descendants(
    State(state): State<HttpState>,
    path: Result<RecordPath, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let record = record_of(path)?;
    let q = QueryParams::parse(query.as_deref(), &DESCENDANTS_PARAMS)?;
    let from = descendants_request::From::Record(record);
    run_descendants(&state, descendants_request(Some(from), &q)?).await
}

pub(super) async fn descendants(
    State(state): State<HttpState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut allowed = DESCENDANTS_PARAMS.to_vec();
    allowed.extend(["generator_source", "key_id"]);
    let q = QueryParams::parse(query.as_deref(), &allowed)?;
    let from = match (q.text("generator_source")?, q.text("key_id")?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_argument(
                "from: give generator_source or key_id, not both",
            ));
        }
        (Some(source), None) => Some(descendants_request::From::GeneratorSource(
            source.to_string(),
        )),
        (None, Some(key)) => Some(descendants_request::From::KeyId(key.to_string())),
        // The service names what is missing.
        (None, None) => None,
    };
    run_descendants(&state, descendants_request(from, &q)?).await
}

pub(super) async fn alerts(
    State(state): State<HttpState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let q = QueryParams::parse(query.as_deref(), &["from_id", "page_size", "min_tree_size"])?;
    let request = ListAlertsRequest {
        from_id: q.number("from_id")?,
        page_size: q.number("page_size")?,
        min_tree_size: q.number("min_tree_size")?,
    };
    let answer = LineageService::list_alerts(&state.lineage, Request::new(request)).await?;
    json_answer(answer.get_ref())
}
