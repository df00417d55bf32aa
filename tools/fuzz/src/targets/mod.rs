//! One module per fuzz target; each owns the decoding path it drives and the properties it
//! asserts (see each module's documentation).

pub mod checkpoint_note;
pub mod csv_import;
pub mod envelope;
pub mod event_payload;
pub mod hash_index;
pub mod journal;
pub mod key_action;
pub mod leaf_chunk;
pub mod leaf_offsets;
pub mod lineage_answer;
pub mod lineage_records;
pub mod proofs;
