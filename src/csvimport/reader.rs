//! CSV syntax of Data Loader exports: the `csv` reader's configuration, the physical line of
//! every row, the errors of malformed input, and the formula-injection guard.
//!
//! Data Loader writes a header row (API names in upper case), quotes every value, escapes a
//! quote inside a value as `""`, and keeps line breaks inside quoted values. Spreadsheet-safe
//! exports put a `'` before a value that starts with `=`, `+`, `-` or `@`, so that a spreadsheet
//! does not run it as a formula; [`unguard`] removes that `'` and nothing else. Rows are handed
//! out raw ([`RowReader::next_row`]); the mapping applies [`unguard`] to each value it reads.
//!
//! Empty lines between rows are skipped (the `csv` crate's behaviour); a UTF-8 byte order mark
//! before the header is ignored.
//!
//! Line numbers are physical: the line of the row's first character, counting every line break
//! of the input, including those inside quoted values and of empty lines. A line break is
//! `\n`, `\r\n` or a lone `\r`, the three the `csv` reader ends a record at, so rows of a file
//! with old Mac line ends (`\r` only) get lines of their own too. The `csv` crate's
//! record position is where its reader stood when it started on the record, which is before
//! the `\n` of a CRLF row end and before any empty lines; [`RowReader`] keeps the bytes from
//! there to the row's start and corrects each record's position.

use super::header::{Header, HeaderError};
use super::mapping::{ImportOptions, RowError, row_to_event};
use crate::proto::ProvenanceEvent;
use csv::{ReaderBuilder, StringRecord};
use std::io::Read;

/// Characters a spreadsheet treats as the start of a formula.
const FORMULA_STARTS: [char; 4] = ['=', '+', '-', '@'];

/// `value` without the `'` that guards a value starting with `=`, `+`, `-` or `@` against
/// formula injection. Any other value, including one that starts with `'` followed by anything
/// else, is returned unchanged.
pub fn unguard(value: &str) -> &str {
    match value.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => value,
    }
}

/// `value` as a guarded export writes it: with a `'` in front when it starts with `=`, `+`,
/// `-` or `@`. The inverse of [`unguard`] except for values that themselves start with `'`
/// followed by one of those characters, which the guard cannot tell apart.
pub fn guard(value: &str) -> String {
    if value.starts_with(FORMULA_STARTS) {
        format!("'{value}")
    } else {
        value.to_string()
    }
}

/// Why an import stopped before or while reading rows.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The header row lacks a column the mapping needs, or names one twice.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// A row is well-formed CSV but its values cannot become an event.
    #[error(transparent)]
    Row(#[from] RowError),
    /// The input is not well-formed CSV at this line.
    #[error("line {line}: {reason}")]
    Csv { line: u64, reason: String },
    /// The input could not be read.
    #[error("reading the input: {0}")]
    Io(#[source] std::io::Error),
}

impl ImportError {
    /// The physical line (1 = the header) the error is about, when it is about one.
    pub fn line(&self) -> Option<u64> {
        match self {
            ImportError::Header(_) => Some(1),
            ImportError::Row(e) => e.line,
            ImportError::Csv { line, .. } => Some(*line),
            ImportError::Io(_) => None,
        }
    }
}

/// The input, keeping the bytes the `csv` reader has taken but not yet finished with, so a row's
/// physical line can be found.
struct Tracked<R> {
    inner: R,
    /// Input offset of `kept[0]`.
    base: u64,
    /// Line breaks before `base`.
    base_lines: u64,
    /// The byte before `base` is a `\r`, so a `\n` at `base` completes a `\r\n` already counted.
    base_after_cr: bool,
    kept: Vec<u8>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        self.kept.extend_from_slice(&out[..n]);
        Ok(n)
    }
}

/// Line breaks in `bytes`: every `\r`, and every `\n` not right after a `\r` (so `\r\n` is
/// one). `after_cr`: the byte before `bytes` is a `\r`.
fn line_breaks(bytes: &[u8], after_cr: bool) -> u64 {
    let mut previous_cr = after_cr;
    let mut breaks = 0;
    for &b in bytes {
        if b == b'\r' || (b == b'\n' && !previous_cr) {
            breaks += 1;
        }
        previous_cr = b == b'\r';
    }
    breaks
}

impl<R> Tracked<R> {
    /// The physical line and offset of the first byte at or after `from` that does not end a
    /// line: where a record read from `from` starts.
    fn record_start(&self, from: u64) -> (u64, u64) {
        let start = usize::try_from(from.saturating_sub(self.base))
            .unwrap_or(usize::MAX)
            .min(self.kept.len());
        let skipped = self.kept[start..]
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        let first = start + skipped;
        (
            1 + self.base_lines + line_breaks(&self.kept[..first], self.base_after_cr),
            self.base + first as u64,
        )
    }

    /// Drops the bytes before `offset`.
    fn forget_before(&mut self, offset: u64) {
        let n = usize::try_from(offset.saturating_sub(self.base))
            .unwrap_or(usize::MAX)
            .min(self.kept.len());
        self.base_lines += line_breaks(&self.kept[..n], self.base_after_cr);
        if let Some(&last) = self.kept[..n].last() {
            self.base_after_cr = last == b'\r';
        }
        self.kept.drain(..n);
        self.base += n as u64;
    }
}

/// Reads a Data Loader export row by row, after resolving its header against the mapping.
pub struct RowReader<R> {
    inner: csv::Reader<Tracked<R>>,
    header: Header,
    record: StringRecord,
    rows_read: u64,
}

impl<R: Read> RowReader<R> {
    /// Reads and checks the header row: every column the mapping needs must be there.
    pub fn new(input: R, options: &ImportOptions) -> Result<Self, ImportError> {
        let mut inner = ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(Tracked {
                inner: input,
                base: 0,
                base_lines: 0,
                base_after_cr: false,
                kept: Vec::new(),
            });
        let names = match inner.headers() {
            Ok(names) => names.clone(),
            Err(e) => return Err(csv_error(e, inner.get_ref(), None)),
        };
        let end = inner.position().byte();
        inner.get_mut().forget_before(end);
        let header = Header::new(&names, &options.attributes)?;
        Ok(RowReader {
            inner,
            header,
            record: StringRecord::new(),
            rows_read: 0,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Reads the next record into `self.record`, with its physical line; false at the end.
    fn read(&mut self) -> Result<bool, ImportError> {
        match self.inner.read_record(&mut self.record) {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => return Err(csv_error(e, self.inner.get_ref(), Some(&self.header))),
        }
        self.rows_read += 1;
        let end = self.inner.position().byte();
        let tracked = self.inner.get_mut();
        if let Some(mut position) = self.record.position().cloned() {
            let (line, byte) = tracked.record_start(position.byte());
            position.set_line(line).set_byte(byte);
            self.record.set_position(Some(position));
        }
        tracked.forget_before(end);
        Ok(true)
    }

    /// The next row, raw (values still guarded), positioned at its physical line; `None` at
    /// the end.
    pub fn next_row(&mut self) -> Result<Option<&StringRecord>, ImportError> {
        Ok(self.read()?.then_some(&self.record))
    }

    /// The next row's physical line and event; `None` at the end. The row is validated in
    /// full ([`row_to_event`]) before it is returned.
    pub fn next_event(
        &mut self,
        options: &ImportOptions,
    ) -> Result<Option<(u64, ProvenanceEvent)>, ImportError> {
        if !self.read()? {
            return Ok(None);
        }
        let line = self.record.position().map_or(0, |p| p.line());
        let event = row_to_event(&self.header, &self.record, options)?;
        Ok(Some((line, event)))
    }

    /// Bytes of input consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.inner.position().byte()
    }

    /// Rows read so far (well-formed CSV, whether or not they map to an event).
    pub fn rows_read(&self) -> u64 {
        self.rows_read
    }
}

fn csv_error<R>(e: csv::Error, input: &Tracked<R>, header: Option<&Header>) -> ImportError {
    let line = e.position().map_or(1, |p| input.record_start(p.byte()).0);
    let reason = match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => {
            let column = header
                .and_then(|h| h.name(err.field()))
                .map(|name| format!("column {name}: "))
                .unwrap_or_default();
            format!("{column}not valid UTF-8 (export the file as UTF-8)")
        }
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!(
            "the row has {len} value{}, the header has {expected_len} columns",
            if *len == 1 { "" } else { "s" }
        ),
        _ => e.to_string(),
    };
    match e.into_kind() {
        csv::ErrorKind::Io(io) => ImportError::Io(io),
        _ => ImportError::Csv { line, reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csvimport::header::REQUIRED;

    #[test]
    fn the_guard_is_stripped_only_before_formula_characters() {
        for (raw, value) in [
            ("'=SUM(A1:A9)", "=SUM(A1:A9)"),
            ("'+1 555 0100", "+1 555 0100"),
            ("'-3", "-3"),
            ("'@handle", "@handle"),
            ("'quoted'", "'quoted'"),
            ("'", "'"),
            ("''=x", "''=x"),
            ("=raw", "=raw"),
            ("plain", "plain"),
            ("", ""),
            (" '=x", " '=x"),
        ] {
            assert_eq!(unguard(raw), value, "{raw:?}");
        }
        for value in ["=1+1", "+x", "-", "@", "a=b", "", "'plain"] {
            assert_eq!(unguard(&guard(value)), value, "{value:?}");
        }
    }

    fn header_line() -> String {
        let mut names: Vec<String> = REQUIRED.iter().map(|c| format!("\"{c}\"")).collect();
        names.push("\"NOTES\"".into());
        names.join(",")
    }

    #[test]
    fn rows_carry_their_physical_line() {
        let text = format!(
            "{}\r\n\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"one\ntwo\nthree\"\r\n\r\n\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"say \"\"hi\"\", then, go\"\r\n",
            header_line()
        );
        let mut rows = RowReader::new(text.as_bytes(), &ImportOptions::default()).unwrap();
        let first = rows.next_row().unwrap().unwrap();
        assert_eq!(first.position().unwrap().line(), 2);
        assert_eq!(&first[6], "one\ntwo\nthree");
        let second = rows.next_row().unwrap().unwrap();
        // Lines 2-4 hold the first row, line 5 is empty.
        assert_eq!(second.position().unwrap().line(), 6);
        assert_eq!(&second[6], "say \"hi\", then, go");
        assert!(rows.next_row().unwrap().is_none());
        assert_eq!(rows.bytes_read(), text.len() as u64);
    }

    #[test]
    fn malformed_rows_name_their_line() {
        let text = format!(
            "{}\n\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\"\n\"a\",\"b\"\n",
            header_line()
        );
        let mut rows = RowReader::new(text.as_bytes(), &ImportOptions::default()).unwrap();
        rows.next_row().unwrap().unwrap();
        let e = rows.next_row().unwrap_err();
        assert_eq!(e.line(), Some(3));
        assert_eq!(
            e.to_string(),
            "line 3: the row has 2 values, the header has 7 columns"
        );

        let mut bytes =
            format!("{}\n\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"", header_line()).into_bytes();
        bytes.extend_from_slice(b"\xff\"\n");
        let mut rows = RowReader::new(bytes.as_slice(), &ImportOptions::default()).unwrap();
        let e = rows.next_row().unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: column NOTES: not valid UTF-8 (export the file as UTF-8)"
        );
    }

    /// Found by fuzzing (tools/fuzz/regressions/csv_import): after a header ended by a lone
    /// `\r`, the row was reported on line 1, the header's line.
    #[test]
    fn a_lone_carriage_return_ends_a_line() {
        let row = "\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\"";
        let text = format!("{}\r{row}\r\r\n{row}\r\n\"x\ny\",\"b\"\r", header_line());
        let mut rows = RowReader::new(text.as_bytes(), &ImportOptions::default()).unwrap();
        let first = rows.next_row().unwrap().unwrap();
        assert_eq!(first.position().unwrap().line(), 2);
        // Line 3 is empty (`\r\r\n`: a lone `\r`, then one `\r\n`).
        let second = rows.next_row().unwrap().unwrap();
        assert_eq!(second.position().unwrap().line(), 4);
        let e = rows.next_row().unwrap_err();
        assert_eq!(e.line(), Some(5));
        assert_eq!(line_breaks(b"a\rb\r\nc\nd\r", false), 4);
        assert_eq!(line_breaks(b"\nx", true), 0);
    }

    #[test]
    fn a_byte_order_mark_before_the_header_is_ignored() {
        let text = format!("\u{feff}{}\n", header_line());
        let rows = RowReader::new(text.as_bytes(), &ImportOptions::default()).unwrap();
        assert_eq!(rows.header().name(0), Some("ID"));
    }

    use proptest::strategy::Strategy;

    proptest::proptest! {
        /// Whatever a field holds (quotes, commas, line breaks, any Unicode), a Data Loader
        /// style export (every value quoted, `""` escapes, CRLF or LF rows) reads back as the
        /// same values, each row at its physical line, and guarded values unguard to the
        /// original.
        #[test]
        fn any_field_survives_a_round_trip(
            rows in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::string::string_regex("(\\PC|[\",\r\n'=+@-])*")
                        .unwrap()
                        // A value that starts with ' and a formula character is the one the
                        // guard cannot tell from a guarded value (see `guard`).
                        .prop_map(|v| if unguard(&v) != v { format!("x{v}") } else { v }),
                    7,
                ),
                0..8,
            ),
            crlf in proptest::bool::ANY,
        ) {
            let terminator = if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') };
            let mut writer = csv::WriterBuilder::new()
                .quote_style(csv::QuoteStyle::Always)
                .terminator(terminator)
                .from_writer(Vec::new());
            let mut names: Vec<&str> = REQUIRED.to_vec();
            names.push("NOTES");
            writer.write_record(&names).unwrap();
            let mut lines = Vec::new();
            for row in &rows {
                writer.flush().unwrap();
                let before = writer.get_ref();
                lines.push(1 + line_breaks(before, false));
                writer.write_record(row.iter().map(|v| guard(v))).unwrap();
            }
            let bytes = writer.into_inner().unwrap();
            let mut reader = RowReader::new(bytes.as_slice(), &ImportOptions::default()).unwrap();
            for (row, line) in rows.iter().zip(&lines) {
                let record = reader.next_row().unwrap().unwrap();
                proptest::prop_assert_eq!(record.position().unwrap().line(), *line);
                let values: Vec<&str> = record.iter().map(unguard).collect();
                proptest::prop_assert_eq!(&values, row);
            }
            proptest::prop_assert!(reader.next_row().unwrap().is_none());
        }
    }
}
