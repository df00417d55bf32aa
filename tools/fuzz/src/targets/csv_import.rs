//! The Data Loader CSV importer over arbitrary bytes: header resolution, the CSV reader with
//! physical line numbers, the row mapping and the signing key choice (`csvimport::Importer`
//! with the fixture generator and sync-job keys), then the server's admission of every signed
//! row. The first input byte picks the options (an `--attribute` column, a `--model`, the
//! environment); the rest is the file.
//!
//! Properties: nothing panics; every error but an I/O one names a line between 1 and the
//! number of lines in the input (`\n`, `\r\n` and a lone `\r` each end one), and its message starts with `line N: `; rows come out in
//! increasing line order after the header; each row's event meets the log's field rules, is
//! about a normalised Salesforce record, and carries the `external_id` computed from its other
//! fields; and each signed row is admitted by the server's admission as it stands (a row that
//! passes the importer is refused by the log only for reasons outside the file).

use crate::fixtures;
use provledger::csvimport::{
    ImportError, ImportOptions, Importer, RowReader, Signers, external_id, guard, unguard,
};
use provledger::ledger::{AdmissionLimits, Payload, admit};
use provledger::provenance::record::normalise;
use provledger::provenance::rules::{EventLimits, check_fields};
use std::sync::OnceLock;

/// Rows read from one input at most (a row costs a signature and a verification).
const MAX_ROWS: usize = 64;

fn signers() -> &'static Signers {
    static SIGNERS: OnceLock<Signers> = OnceLock::new();
    SIGNERS.get_or_init(|| {
        let keys = [fixtures::GENERATOR, fixtures::SYNC]
            .iter()
            .filter_map(|n| fixtures::signer(n).cloned())
            .collect();
        Signers::new(keys, &fixtures::key_records()).expect("fixture keys are registered")
    })
}

fn options(flags: u8) -> ImportOptions {
    ImportOptions {
        tenant: fixtures::TENANT.into(),
        object_type: "Lead".into(),
        environment: if flags & 4 == 0 {
            "sandbox"
        } else {
            "production"
        }
        .into(),
        model: (flags & 2 != 0).then(|| "lead-synth".to_string()),
        attributes: if flags & 1 != 0 {
            vec!["LeadSource".into()]
        } else {
            Vec::new()
        },
    }
    .normalised()
    .expect("fixture options are valid")
}

pub fn run(data: &[u8]) {
    let Some((&flags, file)) = data.split_first() else {
        return;
    };
    let lines = 1 + line_breaks(file);
    let options = options(flags);
    let check_error = |e: &ImportError| {
        if let ImportError::Io(_) = e {
            return;
        }
        let line = e.line().expect("a CSV, header or row error names its line");
        assert!((1..=lines).contains(&line), "line {line} of {lines}: {e}");
        assert!(e.to_string().starts_with(&format!("line {line}: ")), "{e}");
    };
    let rows = match RowReader::new(file, &options) {
        Ok(rows) => rows,
        Err(e) => return check_error(&e),
    };
    let mut importer = Importer::new(rows, options.clone(), signers().clone());
    let mut last_line = 1;
    for _ in 0..MAX_ROWS {
        let row = match importer.next_signed() {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(e) => return check_error(&e),
        };
        assert!(
            row.line > last_line && row.line <= lines,
            "row at line {}",
            row.line
        );
        last_line = row.line;
        let admitted = admit(
            Some(row.envelope),
            fixtures::registry(),
            &AdmissionLimits::default(),
        );
        let event = match admitted.map(|a| a.payload) {
            Ok(Payload::Event(e)) => e.event,
            Ok(Payload::Key(_)) => panic!("a row became a key action"),
            Err(e) => panic!(
                "line {}: the importer signed a row the log refuses: {e}",
                row.line
            ),
        };
        assert!(check_fields(&event, &EventLimits::default()).is_ok());
        let subject = event.subject.clone().expect("a subject");
        assert_eq!(normalise(&subject).as_ref(), Ok(&subject));
        assert_eq!(event.external_id, external_id(&event));
        for value in event.attributes.values() {
            if !value.starts_with('\'') {
                assert_eq!(unguard(&guard(value)), value.as_str());
            }
        }
    }
}

/// `\n`, `\r\n` and a lone `\r` each end a line (where the `csv` reader ends a record).
fn line_breaks(file: &[u8]) -> u64 {
    let crs = file.iter().filter(|b| **b == b'\r').count();
    let lfs_alone = file
        .iter()
        .enumerate()
        .filter(|&(i, b)| *b == b'\n' && (i == 0 || file[i - 1] != b'\r'))
        .count();
    (crs + lfs_alone) as u64
}
