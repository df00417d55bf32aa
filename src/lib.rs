//! provledger: an append-only provenance ledger.
pub mod checkpoint;
pub mod envelope;
pub mod merkle;
pub mod note;
pub mod store;

pub mod proto {
    tonic::include_proto!("provledger.v1");
}
