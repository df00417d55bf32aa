//! Compiles `proto/provledger/v1/*.proto` with protox (a pure-Rust protobuf compiler), so building
//! provledger needs no system `protoc`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/provledger/v1/log.proto",
        "proto/provledger/v1/event.proto",
        "proto/provledger/v1/keys.proto",
        "proto/provledger/v1/lineage.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("provledger_descriptor.bin");
    std::fs::write(
        &descriptor_path,
        prost::Message::encode_to_vec(&descriptors),
    )?;
    let descriptor_bytes = prost::Message::encode_to_vec(&descriptors);
    tonic_prost_build::configure()
        .file_descriptor_set_path(&descriptor_path)
        .skip_protoc_run()
        // Well-known types with the protobuf JSON mapping, so every message has one.
        .extern_path(".google.protobuf.Timestamp", "::pbjson_types::Timestamp")
        .compile_fds(descriptors)?;
    // serde implementations following the protobuf JSON mapping (lowerCamelCase names, enums
    // by name, 64-bit integers as strings, bytes as base64), for the JSON forms of events,
    // envelopes and answers.
    pbjson_build::Builder::new()
        .register_descriptors(&descriptor_bytes)?
        .build(&[".provledger"])?;
    Ok(())
}
