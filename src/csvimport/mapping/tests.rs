use super::*;
use crate::csvimport::reader::RowReader;
use crate::proto::Action;

const TENANT: &str = "00D5g000004ABCD";
const LEAD15: &str = "00Q5g00000Syn01";

fn options() -> ImportOptions {
    ImportOptions {
        tenant: TENANT.into(),
        object_type: "Lead".into(),
        environment: "sandbox".into(),
        model: None,
        attributes: vec!["LeadSource".into()],
    }
    .normalised()
    .unwrap()
}

/// The columns of the test exports, in file order.
const COLUMNS: [&str; 9] = [
    "ID",
    "FIRSTNAME",
    "IS_SYNTHETIC",
    "__SYNTHETIC_SOURCE",
    "__GENERATION_TIMESTAMP",
    "__PROVENANCE_HASH",
    "AI_MODEL",
    "AI_MODEL_VERSION",
    "LEADSOURCE",
];

struct Row<'a>([&'a str; 9]);

fn synthetic() -> Row<'static> {
    Row([
        LEAD15,
        "Ada, \"the first\"",
        "TRUE",
        "synth-gen.acme",
        "2024-05-01T12:34:56.000Z",
        "0a0B",
        "lead-synth",
        "3.0.0",
        "'=HYPERLINK(\"x\")",
    ])
}

fn real() -> Row<'static> {
    Row(["00Q5g00000WebF1", "Grace", "no", "", "", "", "", "", "Web"])
}

impl Row<'_> {
    fn with(mut self, column: &str, value: &'static str) -> Self {
        let i = COLUMNS.iter().position(|c| *c == column).unwrap();
        self.0[i] = value;
        self
    }
}

fn quoted(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("\"{}\"", v.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(",")
}

/// Maps `rows` (written as a Data Loader export after a header row) with `options`.
fn map(rows: &[Row<'_>], options: &ImportOptions) -> Vec<Result<ProvenanceEvent, RowError>> {
    let mut text = quoted(&COLUMNS);
    for row in rows {
        text.push_str("\r\n");
        text.push_str(&quoted(&row.0));
    }
    text.push_str("\r\n");
    let mut reader = RowReader::new(text.as_bytes(), options).unwrap();
    let mut out = Vec::new();
    while let Some(record) = reader.next_row().unwrap() {
        let record = record.clone();
        out.push(row_to_event(reader.header(), &record, options));
    }
    out
}

fn one(row: Row<'_>) -> Result<ProvenanceEvent, RowError> {
    map(&[row], &options()).remove(0)
}

#[test]
fn a_synthetic_row_is_a_generated_event() {
    let e = one(synthetic()).unwrap();
    let subject = e.subject.clone().unwrap();
    assert_eq!(subject.system, "salesforce");
    assert_eq!(subject.tenant, "00D5g000004ABCDEA4");
    assert_eq!(subject.object_type, "Lead");
    assert_eq!(subject.record_id, "00Q5g00000Syn01EAB");
    assert_eq!(e.action(), Action::Generated);
    assert_eq!(e.origin(), Origin::Synthetic);
    assert_eq!(e.digital_source_type, TRAINED_ALGORITHMIC_DATA);
    assert_eq!(
        e.generator,
        Some(Generator {
            source: "synth-gen.acme".into(),
            model: "lead-synth".into(),
            model_version: "3.0.0".into(),
            run_id: String::new(),
        })
    );
    assert_eq!(e.environment, "sandbox");
    assert_eq!(e.content_hash, vec![0x0a, 0x0b]);
    let at = e.occurred_at.unwrap();
    assert_eq!((at.seconds, at.nanos), (1_714_566_896, 0));
    // The guard is stripped; the record's content (FIRSTNAME) is not sent.
    assert_eq!(e.attributes.len(), 1);
    assert_eq!(e.attributes["LeadSource"], "=HYPERLINK(\"x\")");
    assert!(e.parents.is_empty());
    assert_eq!(e.external_id, external_id(&e));
    assert!(
        e.external_id.starts_with("csv:Lead:00Q5g00000Syn01EAB:"),
        "{}",
        e.external_id
    );
    assert_eq!(
        e.external_id.len(),
        "csv:Lead:00Q5g00000Syn01EAB:".len() + 16
    );
    rules::check_fields(&e, &EventLimits::default()).unwrap();
}

#[test]
fn a_real_row_is_a_captured_event() {
    let e = one(real()).unwrap();
    assert_eq!(e.action(), Action::Captured);
    assert_eq!(e.origin(), Origin::Real);
    assert_eq!(e.digital_source_type, DIGITAL_CAPTURE);
    assert_eq!(e.generator, None);
    assert!(e.content_hash.is_empty());
    assert_eq!(e.occurred_at, None);
    assert_eq!(e.attributes["LeadSource"], "Web");
}

#[test]
fn flags_accept_the_usual_spellings_only() {
    for (value, synthetic) in [
        ("true", true),
        ("TRUE", true),
        ("Yes", true),
        ("1", true),
        (" false ", false),
        ("No", false),
        ("0", false),
    ] {
        assert_eq!(parse_flag(value), Ok(synthetic), "{value:?}");
    }
    for value in ["maybe", "", "2", "y", "t"] {
        assert!(parse_flag(value).is_err(), "{value:?}");
    }
}

#[test]
fn errors_name_the_physical_line_and_the_column() {
    let rows = [
        synthetic().with("FIRSTNAME", "two\nlines"),
        synthetic().with("IS_SYNTHETIC", "maybe"),
    ];
    let out = map(&rows, &options());
    assert!(out[0].is_ok());
    let e = out[1].clone().unwrap_err();
    // Header line 1, the first row on lines 2-3, so the second row starts on line 4.
    assert_eq!(e.line, Some(4));
    assert_eq!(e.column.as_deref(), Some("IS_SYNTHETIC"));
    assert_eq!(
        e.to_string(),
        "line 4: column IS_SYNTHETIC: \"maybe\" is not true, false, 1, 0, yes or no"
    );
}

#[test]
fn bad_values_are_refused_naming_their_column() {
    let long_hash: &'static str = "ab".repeat(65).leak();
    let long_attribute: &'static str = "x".repeat(1025).leak();
    for (row, column, problem) in [
        (synthetic().with("ID", ""), "ID", "required"),
        (synthetic().with("ID", "00Q5g"), "ID", "15 or 18 characters"),
        (
            synthetic().with("ID", "00Q5g00000Syn01AAB"),
            "ID",
            "case-safe suffix",
        ),
        (
            synthetic().with("__PROVENANCE_HASH", "0xab"),
            "__PROVENANCE_HASH",
            "'x' at position 2 is not a hex digit",
        ),
        (
            synthetic().with("__PROVENANCE_HASH", "abc"),
            "__PROVENANCE_HASH",
            "odd number",
        ),
        (
            synthetic().with("__PROVENANCE_HASH", long_hash),
            "__PROVENANCE_HASH",
            "65 bytes is over the limit of 64",
        ),
        (
            synthetic().with("__GENERATION_TIMESTAMP", "2024-05-01"),
            "__GENERATION_TIMESTAMP",
            "not an RFC 3339 date-time",
        ),
        (
            synthetic().with("__GENERATION_TIMESTAMP", "2024-05-01T12:34:56"),
            "__GENERATION_TIMESTAMP",
            "not an RFC 3339 date-time",
        ),
        (
            synthetic().with("__GENERATION_TIMESTAMP", "2024-13-01T12:34:56Z"),
            "__GENERATION_TIMESTAMP",
            "not an RFC 3339 date-time",
        ),
        (
            synthetic().with("__SYNTHETIC_SOURCE", " "),
            "__SYNTHETIC_SOURCE",
            "required for a synthetic row",
        ),
        (
            synthetic().with("AI_MODEL_VERSION", ""),
            "AI_MODEL_VERSION",
            "required for a synthetic row",
        ),
        (synthetic().with("AI_MODEL", ""), "AI_MODEL", "pass --model"),
        (
            real().with("__SYNTHETIC_SOURCE", "synth-gen.acme"),
            "__SYNTHETIC_SOURCE",
            "says the record is not synthetic",
        ),
        (
            real().with("AI_MODEL_VERSION", "3.0.0"),
            "AI_MODEL_VERSION",
            "says the record is not synthetic",
        ),
        (
            real().with("LEADSOURCE", long_attribute),
            "LEADSOURCE",
            "1025 bytes is over the attribute limit",
        ),
    ] {
        let e = one(row).unwrap_err();
        assert_eq!(e.column.as_deref(), Some(column), "{e}");
        assert!(e.reason.contains(problem), "{e}");
        assert_eq!(e.line, Some(2));
    }
}

#[test]
fn timestamps_in_rfc_3339_forms_are_accepted() {
    for (value, seconds, nanos) in [
        ("2024-05-01T12:34:56Z", 1_714_566_896, 0),
        ("2024-05-01t12:34:56.5z", 1_714_566_896, 500_000_000),
        ("2024-05-01 14:34:56.000000001+02:00", 1_714_566_896, 1),
        ("2024-05-01T10:04:56-02:30", 1_714_566_896, 0),
    ] {
        let t = parse_rfc3339(value).unwrap();
        assert_eq!((t.seconds, t.nanos), (seconds, nanos), "{value}");
    }
    for value in [
        "2024-05-01T12:34Z",
        "2024-05-01T12:34:56.Z",
        "2024-05-01T12:34:56+0200",
        "2024-02-30T12:34:56Z",
        "2024-05-01T12:34:56Z ",
        "１２３４-05-01T12:34:56Z",
    ] {
        assert!(parse_rfc3339(value).is_err(), "{value}");
    }
}

#[test]
fn the_model_comes_from_the_column_or_the_option() {
    let mut with_option = options();
    with_option.model = Some("lead-synth-cli".into());
    let out = map(
        &[synthetic(), synthetic().with("AI_MODEL", "")],
        &with_option,
    );
    assert_eq!(
        out[0].clone().unwrap().generator.unwrap().model,
        "lead-synth"
    );
    assert_eq!(
        out[1].clone().unwrap().generator.unwrap().model,
        "lead-synth-cli"
    );
}

#[test]
fn external_ids_are_stable_and_follow_the_provenance() {
    let a = one(synthetic()).unwrap();
    // The 18-character form of the same id is the same record, hence the same event.
    let b = one(synthetic().with("ID", "00Q5g00000Syn01EAB")).unwrap();
    assert_eq!(a.external_id, b.external_id);
    // Record content is not provenance.
    let c = one(synthetic().with("FIRSTNAME", "someone else")).unwrap();
    assert_eq!(a.external_id, c.external_id);
    let mut seen = std::collections::HashSet::new();
    seen.insert(a.external_id.clone());
    for changed in [
        one(synthetic().with("__PROVENANCE_HASH", "0a0c")).unwrap(),
        one(synthetic().with("__GENERATION_TIMESTAMP", "2024-05-01T12:34:57Z")).unwrap(),
        one(synthetic().with("AI_MODEL_VERSION", "3.0.1")).unwrap(),
        one(synthetic().with("__SYNTHETIC_SOURCE", "other")).unwrap(),
        one(synthetic().with("LEADSOURCE", "Web")).unwrap(),
        one(synthetic()
            .with("IS_SYNTHETIC", "false")
            .with("__SYNTHETIC_SOURCE", "")
            .with("AI_MODEL_VERSION", ""))
        .unwrap(),
    ] {
        assert!(seen.insert(changed.external_id.clone()), "{changed:?}");
    }
    let mut production = options();
    production.environment = "production".into();
    let d = map(&[synthetic()], &production).remove(0).unwrap();
    assert!(seen.insert(d.external_id));
}

#[test]
fn a_short_row_is_an_error_not_a_panic() {
    let options = options();
    let header = Header::new(&StringRecord::from(COLUMNS.to_vec()), &options.attributes).unwrap();
    let row = StringRecord::from(vec![LEAD15, "x", "true"]);
    let e = row_to_event(&header, &row, &options).unwrap_err();
    assert_eq!(e.line, None);
    assert_eq!(e.column.as_deref(), Some("__SYNTHETIC_SOURCE"));
    assert!(
        e.reason.contains("the row has 3 values, the header 9"),
        "{e}"
    );
}

#[test]
fn options_are_checked_and_normalised() {
    let bad = |f: fn(&mut ImportOptions)| {
        let mut o = options();
        f(&mut o);
        o.normalised().unwrap_err().option
    };
    assert_eq!(bad(|o| o.tenant = "00D".into()), "--tenant");
    assert_eq!(bad(|o| o.object_type = "Le:ad".into()), "--object");
    assert_eq!(bad(|o| o.object_type = " ".into()), "--object");
    assert_eq!(bad(|o| o.environment = "".into()), "--environment");
    assert_eq!(
        bad(|o| o.attributes = vec!["A".into(), "a".into()]),
        "--attribute"
    );
    let o = ImportOptions {
        object_type: " Invoice__c ".into(),
        model: Some("  ".into()),
        ..options()
    }
    .normalised()
    .unwrap();
    assert_eq!(o.object_type, "Invoice__c");
    assert_eq!(o.model, None);
}
