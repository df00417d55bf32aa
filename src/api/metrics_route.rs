//! `GET /metrics`: the ledger's metrics in the OpenMetrics text format, served over HTTP/1.1
//! on the gRPC port (mounted next to the gRPC services by [`super::serve`]).
//!
//! Rendering reads the store and `/proc`, so it runs on the blocking pool; a failure answers
//! 500 with the reason and is logged, never taking the server down.

use crate::ledger::Ledger;
use crate::metrics::CONTENT_TYPE;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

/// The path the metrics are served at.
pub const METRICS_PATH: &str = "/metrics";

/// A router answering `GET /metrics` for `ledger`.
pub fn metrics_router(ledger: Arc<Ledger>) -> axum::Router {
    axum::Router::new().route(
        METRICS_PATH,
        get(move || {
            let ledger = ledger.clone();
            async move { scrape(ledger).await }
        }),
    )
}

async fn scrape(ledger: Arc<Ledger>) -> Response {
    let rendered = tokio::task::spawn_blocking(move || ledger.render_metrics()).await;
    match rendered {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Ok(Err(e)) => failed(e.to_string()),
        Err(e) => failed(format!("rendering metrics: {e}")),
    }
}

fn failed(reason: String) -> Response {
    tracing::error!(error = %reason, "metrics scrape failed");
    (StatusCode::INTERNAL_SERVER_ERROR, reason).into_response()
}
