pub mod proto {
    tonic::include_proto!("provledger.v1");
}
