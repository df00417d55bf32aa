//! The provenance model: what a record is ([`record`]: normalised refs and index keys), the
//! rules an event must meet before it is written ([`rules`]), and how a record's effective
//! origin follows from its lineage ([`origin`]). No I/O: the ledger applies the rules, the
//! lineage indexer applies the origin arithmetic.

pub mod origin;
pub mod record;
pub mod rules;
