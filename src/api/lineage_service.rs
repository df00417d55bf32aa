//! `provledger.v1.LineageService` over the ledger's [`Lineage`]: resolves the tree size a query
//! answers at (waiting for the indexer when asked to), runs the query off the async runtime,
//! and streams alerts.

use super::status::lineage_status;
use crate::ledger::Ledger;
use crate::lineage::query::request_record;
use crate::lineage::{DescendantsFrom, DescendantsQuery, Lineage, LineageError};
use crate::metrics::LineageQuery;
use crate::proto::lineage_service_server::LineageService;
use crate::proto::{
    ContaminationAlert, DescendantsRequest, DescendantsResponse, HistoryRequest, HistoryResponse,
    ListAlertsRequest, ListAlertsResponse, TraceRequest, TraceResponse, WatchAlertsRequest,
    descendants_request,
};
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// Alerts read from storage per step when a watcher catches up.
const REPLAY_PAGE: u32 = 1000;

/// The gRPC lineage service.
#[derive(Debug, Clone)]
pub struct LineageApi {
    lineage: Arc<Lineage>,
    ledger: Arc<Ledger>,
}

impl LineageApi {
    pub fn new(ledger: Arc<Ledger>) -> Self {
        LineageApi {
            lineage: ledger.lineage().clone(),
            ledger,
        }
    }

    /// The tree size to answer at: `as_of` (0 = the latest indexed size), once the indexes
    /// reach both it and `min_tree_size`.
    async fn resolve(&self, as_of: u64, min_tree_size: u64) -> Result<u64, Status> {
        let size = self.ledger.store().size();
        if as_of > size {
            return Err(Status::invalid_argument(format!(
                "as_of: {as_of} is beyond the log's size {size}"
            )));
        }
        let wanted = as_of.max(min_tree_size);
        let indexed = if wanted > self.lineage.indexed() || !self.lineage.is_open() {
            self.lineage
                .wait_for(wanted)
                .await
                .map_err(lineage_status)?
        } else {
            self.lineage.indexed()
        };
        Ok(if as_of == 0 { indexed } else { as_of })
    }

    /// Runs a query on the blocking pool.
    async fn run<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Lineage) -> Result<T, LineageError> + Send + 'static,
    ) -> Result<T, Status> {
        let lineage = self.lineage.clone();
        tokio::task::spawn_blocking(move || query(&lineage))
            .await
            .map_err(|e| Status::internal(format!("lineage query failed: {e}")))?
            .map_err(lineage_status)
    }
}

type AlertStream = Pin<Box<dyn Stream<Item = Result<ContaminationAlert, Status>> + Send>>;

#[tonic::async_trait]
impl LineageService for LineageApi {
    async fn history(
        &self,
        request: Request<HistoryRequest>,
    ) -> Result<Response<HistoryResponse>, Status> {
        let timer = self.ledger.metrics().lineage_timer(LineageQuery::History);
        let r = request.into_inner();
        let record = request_record(r.record.as_ref()).map_err(lineage_status)?;
        let as_of = self.resolve(r.as_of, r.min_tree_size).await?;
        let with_proofs = r.with_proofs;
        let answer = self
            .run(move |l| l.history_at(&record, as_of, with_proofs))
            .await?;
        timer.ok();
        Ok(Response::new(answer))
    }

    async fn trace(
        &self,
        request: Request<TraceRequest>,
    ) -> Result<Response<TraceResponse>, Status> {
        let timer = self.ledger.metrics().lineage_timer(LineageQuery::Trace);
        let r = request.into_inner();
        let record = request_record(r.record.as_ref()).map_err(lineage_status)?;
        let as_of = self.resolve(r.as_of, r.min_tree_size).await?;
        let (depth, with_proofs) = (r.max_depth, r.with_proofs);
        let answer = self
            .run(move |l| l.trace_at(&record, depth, as_of, with_proofs))
            .await?;
        timer.ok();
        Ok(Response::new(answer))
    }

    async fn descendants(
        &self,
        request: Request<DescendantsRequest>,
    ) -> Result<Response<DescendantsResponse>, Status> {
        let timer = self
            .ledger
            .metrics()
            .lineage_timer(LineageQuery::Descendants);
        let r = request.into_inner();
        let from = match r.from {
            Some(descendants_request::From::Record(record)) => {
                DescendantsFrom::Record(request_record(Some(&record)).map_err(lineage_status)?)
            }
            Some(descendants_request::From::GeneratorSource(s)) if !s.trim().is_empty() => {
                DescendantsFrom::GeneratorSource(s)
            }
            Some(descendants_request::From::KeyId(k)) if !k.trim().is_empty() => {
                DescendantsFrom::KeyId(k)
            }
            _ => {
                return Err(Status::invalid_argument(
                    "from: one of record, generator_source or key_id is required",
                ));
            }
        };
        let as_of = self.resolve(r.as_of, r.min_tree_size).await?;
        let query = DescendantsQuery {
            from,
            environments: r.environments,
            since: r.since,
            until: r.until,
            max_depth: r.max_depth,
            page_size: r.page_size,
            page_token: r.page_token,
        };
        let answer = self.run(move |l| l.descendants_at(&query, as_of)).await?;
        timer.ok();
        Ok(Response::new(answer))
    }

    async fn list_alerts(
        &self,
        request: Request<ListAlertsRequest>,
    ) -> Result<Response<ListAlertsResponse>, Status> {
        let timer = self.ledger.metrics().lineage_timer(LineageQuery::Alerts);
        let r = request.into_inner();
        let tree_size = self.resolve(0, r.min_tree_size).await?;
        let (from, page) = (r.from_id.max(1), r.page_size);
        let alerts = self.run(move |l| l.alerts_from(from, page)).await?;
        let next_id = alerts.last().map_or(from, |a| a.id + 1);
        timer.ok();
        Ok(Response::new(ListAlertsResponse {
            tree_size,
            alerts,
            next_id,
        }))
    }

    type WatchAlertsStream = AlertStream;

    async fn watch_alerts(
        &self,
        request: Request<WatchAlertsRequest>,
    ) -> Result<Response<Self::WatchAlertsStream>, Status> {
        let mut next = request.into_inner().from_id.max(1);
        // Subscribe before replaying, so no alert falls between the two.
        let mut live = self.lineage.subscribe();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let api = self.clone();
        tokio::spawn(async move {
            loop {
                let from = next;
                let stored = match api.run(move |l| l.alerts_from(from, REPLAY_PAGE)).await {
                    Ok(stored) => stored,
                    Err(status) => {
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                };
                let caught_up = stored.len() < REPLAY_PAGE as usize;
                for alert in stored {
                    next = alert.id + 1;
                    if tx.send(Ok(alert)).await.is_err() {
                        return;
                    }
                }
                if !caught_up {
                    continue;
                }
                loop {
                    let received = tokio::select! {
                        received = live.recv() => received,
                        // The client went away: stop now rather than at the next alert.
                        () = tx.closed() => return,
                    };
                    match received {
                        Ok(alert) if alert.id < next => continue,
                        Ok(alert) if alert.id == next => {
                            next += 1;
                            if tx.send(Ok(alert)).await.is_err() {
                                return;
                            }
                        }
                        // A gap (or a lagging receiver): read the missed alerts from storage.
                        Ok(_) | Err(RecvError::Lagged(_)) => break,
                        Err(RecvError::Closed) => return,
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}
