//! `provledger.v1.LogService` over a [`Ledger`]: proto in, proto out, nothing else.

use super::status::{append_status, store_status};
use crate::ledger::{Ledger, Receipt};
use crate::metrics::ProofQuery;
use crate::proto::log_service_server::LogService;
use crate::proto::{
    AppendRequest, AppendResponse, Checkpoint, ConsistencyProof, Entry, GetCheckpointRequest,
    GetConsistencyProofRequest, GetEntriesRequest, GetEntriesResponse, GetInclusionProofRequest,
    InclusionProof, ListKeysRequest, ListKeysResponse,
};
use futures::stream::{FuturesOrdered, Stream, StreamExt};
use std::pin::Pin;
use std::sync::Arc;
use tonic::{Request, Response, Status, Streaming};

/// Most entries one GetEntries answers.
pub const MAX_ENTRIES_PER_REQUEST: u64 = 1000;

/// The gRPC log service.
#[derive(Debug, Clone)]
pub struct LogApi {
    ledger: Arc<Ledger>,
    limits: StreamLimits,
}

/// Bounds on one AppendStream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Most appends one stream may carry; 0 = unlimited. The next one ends the stream with
    /// RESOURCE_EXHAUSTED (everything before it is answered).
    pub max_appends: u64,
    /// Appends of one stream in flight at once: a stream reads no further request until the
    /// oldest is answered, so a client that stops reading answers stops only itself.
    pub window: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            max_appends: 0,
            window: 256,
        }
    }
}

impl LogApi {
    pub fn new(ledger: Arc<Ledger>) -> Self {
        Self::with_limits(ledger, StreamLimits::default())
    }

    pub fn with_limits(ledger: Arc<Ledger>, limits: StreamLimits) -> Self {
        LogApi { ledger, limits }
    }
}

fn response(receipt: Receipt) -> AppendResponse {
    let s = receipt.sequenced;
    AppendResponse {
        index: s.index,
        leaf_hash: s.leaf_hash.to_vec(),
        duplicate: s.duplicate,
        checkpoint: Some(s.checkpoint.to_proto()),
        proof: Some(InclusionProof {
            leaf_index: s.index,
            tree_size: s.checkpoint.checkpoint.size,
            hashes: receipt.proof.iter().map(|h| h.to_vec()).collect(),
        }),
    }
}

type AppendStreamOut = Pin<Box<dyn Stream<Item = Result<AppendResponse, Status>> + Send>>;

#[tonic::async_trait]
impl LogService for LogApi {
    async fn append(
        &self,
        request: Request<AppendRequest>,
    ) -> Result<Response<AppendResponse>, Status> {
        let receipt = self
            .ledger
            .append(request.into_inner().event)
            .await
            .map_err(append_status)?;
        Ok(Response::new(response(receipt)))
    }

    type AppendStreamStream = AppendStreamOut;

    async fn append_stream(
        &self,
        request: Request<Streaming<AppendRequest>>,
    ) -> Result<Response<Self::AppendStreamStream>, Status> {
        let mut inbound = request.into_inner();
        let ledger = self.ledger.clone();
        let max = match self.limits.max_appends {
            0 => u64::MAX,
            n => n,
        };
        let window = self.limits.window.max(1);
        // Requests are admitted and queued as they arrive, and answered in order; a bounded
        // window keeps one stream from holding more than its share of the queue.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<AppendResponse, Status>>(window);
        tokio::spawn(async move {
            let mut pending = FuturesOrdered::new();
            let mut seen = 0u64;
            loop {
                tokio::select! {
                    biased;
                    Some(done) = pending.next(), if !pending.is_empty() => {
                        if tx.send(done).await.is_err() {
                            return;
                        }
                    }
                    next = inbound.next(), if pending.len() < window => match next {
                        None => break,
                        Some(Err(status)) => {
                            let _ = tx.send(Err(status)).await;
                            return;
                        }
                        Some(Ok(req)) => {
                            seen += 1;
                            if seen > max {
                                let _ = tx
                                    .send(Err(Status::resource_exhausted(format!(
                                        "stream: more than {max} appends on one stream"
                                    ))))
                                    .await;
                                return;
                            }
                            let ledger = ledger.clone();
                            pending.push_back(async move {
                                ledger
                                    .append(req.event)
                                    .await
                                    .map(response)
                                    .map_err(append_status)
                            });
                        }
                    },
                }
            }
            while let Some(done) = pending.next().await {
                if tx.send(done).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn get_checkpoint(
        &self,
        request: Request<GetCheckpointRequest>,
    ) -> Result<Response<Checkpoint>, Status> {
        let timer = self.ledger.metrics().proof_timer(ProofQuery::Checkpoint);
        let size = request.into_inner().size;
        let store = self.ledger.store();
        let signed = if size == 0 {
            (*store.latest()).clone()
        } else {
            store.checkpoint_at(size).map_err(store_status)?
        };
        timer.ok();
        Ok(Response::new(signed.to_proto()))
    }

    async fn get_entries(
        &self,
        request: Request<GetEntriesRequest>,
    ) -> Result<Response<GetEntriesResponse>, Status> {
        let timer = self.ledger.metrics().proof_timer(ProofQuery::Entries);
        let GetEntriesRequest { start, count } = request.into_inner();
        if count == 0 {
            return Err(Status::invalid_argument("count: must be at least 1"));
        }
        let count = count.min(MAX_ENTRIES_PER_REQUEST);
        let leaves = self
            .ledger
            .store()
            .leaves(start, count)
            .map_err(store_status)?;
        let entries = leaves
            .into_iter()
            .zip(start..)
            .map(|(leaf, index)| Entry { index, leaf })
            .collect();
        timer.ok();
        Ok(Response::new(GetEntriesResponse { entries }))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<GetInclusionProofRequest>,
    ) -> Result<Response<InclusionProof>, Status> {
        let timer = self.ledger.metrics().proof_timer(ProofQuery::Inclusion);
        let req = request.into_inner();
        let store = self.ledger.store();
        let tree_size = if req.tree_size == 0 {
            store.size()
        } else {
            req.tree_size
        };
        let leaf_index = if req.leaf_hash.is_empty() {
            req.leaf_index
        } else {
            let hash: [u8; 32] = req.leaf_hash.as_slice().try_into().map_err(|_| {
                Status::invalid_argument(format!(
                    "leaf_hash: must be 32 bytes, got {}",
                    req.leaf_hash.len()
                ))
            })?;
            self.ledger
                .index_of_leaf(&hash)
                .map_err(store_status)?
                .ok_or_else(|| Status::not_found("leaf_hash: no entry has this leaf hash"))?
        };
        let hashes = store
            .inclusion_proof(leaf_index, tree_size)
            .map_err(store_status)?;
        timer.ok();
        Ok(Response::new(InclusionProof {
            leaf_index,
            tree_size,
            hashes: hashes.iter().map(|h| h.to_vec()).collect(),
        }))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<GetConsistencyProofRequest>,
    ) -> Result<Response<ConsistencyProof>, Status> {
        let timer = self.ledger.metrics().proof_timer(ProofQuery::Consistency);
        let req = request.into_inner();
        let store = self.ledger.store();
        let second = if req.second_size == 0 {
            store.size()
        } else {
            req.second_size
        };
        if req.first_size > second {
            return Err(Status::invalid_argument(format!(
                "first_size: {} is larger than second_size {second}",
                req.first_size
            )));
        }
        let hashes = store
            .consistency_proof(req.first_size, second)
            .map_err(store_status)?;
        timer.ok();
        Ok(Response::new(ConsistencyProof {
            first_size: req.first_size,
            second_size: second,
            hashes: hashes.iter().map(|h| h.to_vec()).collect(),
        }))
    }

    async fn list_keys(
        &self,
        _request: Request<ListKeysRequest>,
    ) -> Result<Response<ListKeysResponse>, Status> {
        let tree_size = self.ledger.store().size();
        let keys = self
            .ledger
            .registry()
            .keys()
            .map(|k| k.record.clone())
            .collect();
        Ok(Response::new(ListKeysResponse { keys, tree_size }))
    }
}
