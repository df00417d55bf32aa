//! Importing Salesforce Data Loader exports (CSV) as signed provenance events.
//!
//! Each row of an export becomes one [`ProvenanceEvent`](crate::proto::ProvenanceEvent) about
//! the record in its `ID` column, signed as a DSSE envelope, ready to append. The parts:
//!
//! - [`reader`]: CSV syntax (quoting, line breaks in values, physical line numbers, the `'`
//!   formula guard) and the import's error type;
//! - [`header`]: which column holds what, matched case-insensitively; missing columns fail the
//!   import at the header;
//! - [`mapping`]: one row → one event ([`row_to_event`], pure), and the deterministic
//!   `external_id` that makes a rerun idempotent; its module documentation gives the mapping;
//! - [`signers`]: the import's keys, checked against the log's registry, and which key signs
//!   each row.
//!
//! [`Importer`] reads, validates and signs row by row, so a caller that sends each row only
//! after it is returned never sends part of a bad row or anything after it. Sending is the
//! caller's business (the `provledger import-csv` command streams to a server); this module does
//! no network I/O.

pub mod header;
pub mod mapping;
pub mod reader;
pub mod signers;

pub use header::{Header, HeaderError};
pub use mapping::{ImportOptions, OptionsError, RowError, external_id, row_to_event};
pub use reader::{ImportError, RowReader, guard, unguard};
pub use signers::{KeyError, Signers};

use crate::proto::SignedEvent;
use std::io::Read;

/// One row, validated and signed.
#[derive(Debug, Clone)]
pub struct SignedRow {
    /// The row's physical line in the input (the header is line 1).
    pub line: u64,
    pub envelope: SignedEvent,
}

/// Reads, validates and signs the rows of one export, in order.
pub struct Importer<R> {
    rows: RowReader<R>,
    options: ImportOptions,
    signers: Signers,
}

impl<R: Read> Importer<R> {
    pub fn new(rows: RowReader<R>, options: ImportOptions, signers: Signers) -> Self {
        Importer {
            rows,
            options,
            signers,
        }
    }

    /// The next row signed, `None` after the last; an error for a row that cannot be imported
    /// (nothing of that row is returned).
    pub fn next_signed(&mut self) -> Result<Option<SignedRow>, ImportError> {
        let Some((line, event)) = self.rows.next_event(&self.options)? else {
            return Ok(None);
        };
        let envelope = self.signers.sign(&event).map_err(|reason| RowError {
            line: Some(line),
            column: None,
            reason: format!(
                "no --key may sign this row's {} event: {reason}",
                event.action().as_str_name()
            ),
        })?;
        Ok(Some(SignedRow { line, envelope }))
    }

    /// Rows read so far, including a bad one (but not one that is not well-formed CSV).
    pub fn rows_read(&self) -> u64 {
        self.rows.rows_read()
    }

    /// Bytes of input consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.rows.bytes_read()
    }
}
