//! provledger: an append-only provenance ledger.
pub mod api;
pub mod bundle;
pub mod checkpoint;
pub mod client;
pub mod config;
pub mod csvimport;
pub mod datadir;
pub mod envelope;
pub mod fault;
pub mod hashindex;
pub mod json;
pub mod keyfile;
pub mod ledger;
pub mod lineage;
pub mod merkle;
pub mod metrics;
pub mod noatime;
pub mod note;
pub mod provenance;
pub mod registry;
pub mod replay;
pub mod store;
pub mod threads;
pub mod timestamp;
pub mod watermark;

pub mod proto {
    tonic::include_proto!("provledger.v1");
    include!(concat!(env!("OUT_DIR"), "/provledger.v1.serde.rs"));
}
