use super::*;
use crate::proto::{Generator, Parent};

fn lead(id: &str) -> RecordRef {
    RecordRef {
        system: "salesforce".into(),
        tenant: String::new(),
        object_type: "Lead".into(),
        record_id: id.into(),
    }
}

fn generated() -> ProvenanceEvent {
    ProvenanceEvent {
        subject: Some(lead("00Q000000000001")),
        action: Action::Generated as i32,
        origin: Origin::Synthetic as i32,
        environment: "sandbox".into(),
        generator: Some(Generator {
            source: "gen".into(),
            model: "m".into(),
            model_version: "1".into(),
            run_id: String::new(),
        }),
        digital_source_type: TRAINED_ALGORITHMIC_DATA.into(),
        ..Default::default()
    }
}

fn parent(id: &str) -> Parent {
    Parent {
        record: Some(lead(id)),
        leaf_index: None,
    }
}

fn problems(event: &ProvenanceEvent) -> Vec<String> {
    check_fields(event, &EventLimits::default())
        .err()
        .unwrap_or_default()
}

#[test]
fn a_complete_generated_event_passes_and_is_normalised() {
    let checked = check_fields(&generated(), &EventLimits::default()).unwrap();
    assert_eq!(checked.subject.record_id, "00Q000000000001EAA");
}

#[test]
fn generated_names_every_missing_field_at_once() {
    let mut e = generated();
    e.generator = None;
    e.origin = Origin::Real as i32;
    e.digital_source_type = DIGITAL_CAPTURE.into();
    e.environment = String::new();
    let p = problems(&e);
    for field in [
        "event.payload.generator.source",
        "event.payload.generator.model",
        "event.payload.generator.model_version",
        "event.payload.origin",
        "event.payload.digital_source_type",
        "event.payload.environment",
    ] {
        assert!(p.iter().any(|m| m.starts_with(field)), "{field} in {p:?}");
    }
}

#[test]
fn action_rules() {
    let mut captured = generated();
    captured.action = Action::Captured as i32;
    captured.generator = None;
    captured.origin = Origin::Real as i32;
    captured.digital_source_type = DIGITAL_CAPTURE.into();
    assert!(problems(&captured).is_empty(), "{:?}", problems(&captured));
    captured.parents.push(parent("00Q000000000002"));
    assert!(problems(&captured)[0].starts_with("event.payload.parents"));

    let mut derived = generated();
    derived.action = Action::Derived as i32;
    derived.origin = Origin::Unspecified as i32;
    derived.digital_source_type = String::new();
    assert!(problems(&derived)[0].contains("at least one parent"));
    derived.parents.push(parent("00Q000000000002"));
    assert!(problems(&derived).is_empty(), "{:?}", problems(&derived));
    derived.origin = Origin::Synthetic as i32;
    assert!(problems(&derived)[0].contains("computed from lineage"));

    let mut synced = derived.clone();
    synced.origin = 0;
    synced.action = Action::Synced as i32;
    synced.parents.push(parent("00Q000000000003"));
    assert!(problems(&synced)[0].contains("exactly one parent"));

    let mut quarantined = derived.clone();
    quarantined.origin = 0;
    quarantined.parents.clear();
    quarantined.action = Action::Quarantined as i32;
    assert!(problems(&quarantined)[0].starts_with("event.payload.reason"));
    quarantined.reason = "synthetic row in production".into();
    assert!(problems(&quarantined).is_empty());

    let mut attested = quarantined.clone();
    attested.action = Action::Attested as i32;
    attested.reason = String::new();
    assert!(problems(&attested)[0].contains("ATTESTED needs"));
    attested.origin = Origin::Real as i32;
    assert!(problems(&attested).is_empty());
}

#[test]
fn bad_records_and_values_name_their_field() {
    let mut e = generated();
    e.action = Action::Derived as i32;
    e.origin = 0;
    e.digital_source_type = "http://example.com/madeUp".into();
    e.parents = vec![
        parent("00Q000000000002"),
        Parent {
            record: Some(lead("short")),
            leaf_index: None,
        },
        Parent::default(),
    ];
    let p = problems(&e);
    assert!(
        p.iter()
            .any(|m| m.starts_with("event.payload.parents[1].record.record_id"))
    );
    assert!(
        p.iter()
            .any(|m| m == "event.payload.parents[2].record: required")
    );
    assert!(
        p.iter()
            .any(|m| m.starts_with("event.payload.digital_source_type"))
    );
    let mut e = generated();
    e.action = 99;
    e.origin = 42;
    let p = problems(&e);
    assert!(
        p.iter()
            .any(|m| m == "event.payload.action: unknown value 99")
    );
    assert!(
        p.iter()
            .any(|m| m == "event.payload.origin: unknown value 42")
    );
}

#[test]
fn limits_are_enforced() {
    let limits = EventLimits::default();
    let mut e = generated();
    e.content_hash = vec![0; limits.max_content_hash_bytes + 1];
    e.attributes
        .insert("k".into(), "v".repeat(limits.max_attribute_bytes + 1));
    let p = problems(&e);
    assert!(
        p.iter()
            .any(|m| m.starts_with("event.payload.content_hash"))
    );
    assert!(
        p.iter()
            .any(|m| m.starts_with("event.payload.attributes[\"k\"]"))
    );
    let mut e = generated();
    e.action = Action::Derived as i32;
    e.origin = 0;
    e.parents = (0..=limits.max_parents)
        .map(|_| parent("00Q000000000002"))
        .collect();
    assert!(problems(&e)[0].contains("over the limit"));
}

fn registration(role: Role, origins: &[Origin], envs: &[&str]) -> KeyRegistration {
    KeyRegistration {
        role: role as i32,
        allowed_origins: origins.iter().map(|o| *o as i32).collect(),
        allowed_environments: envs.iter().map(|e| e.to_string()).collect(),
        ..Default::default()
    }
}

#[test]
fn key_scopes() {
    let gen_key = registration(Role::Generator, &[], &["sandbox"]);
    assert!(check_scope(&generated(), "g", &gen_key).is_ok());
    let mut prod = generated();
    prod.environment = "production".into();
    let denied = check_scope(&prod, "g", &gen_key).unwrap_err();
    assert!(denied.starts_with("event.payload.environment"), "{denied}");

    let mut real = generated();
    real.action = Action::Attested as i32;
    real.origin = Origin::Real as i32;
    assert!(
        check_scope(&real, "g", &gen_key)
            .unwrap_err()
            .contains("may not sign ATTESTED")
    );
    let reviewer = registration(Role::Reviewer, &[], &[]);
    assert!(check_scope(&real, "r", &reviewer).is_ok());
    let mut captured = real.clone();
    captured.action = Action::Captured as i32;
    assert!(check_scope(&captured, "r", &reviewer).is_err());
    let sync = registration(Role::SyncJob, &[Origin::Real], &[]);
    assert!(check_scope(&captured, "s", &sync).is_ok());
    assert!(
        check_scope(&generated(), "s", &sync)
            .unwrap_err()
            .contains("may not sign GENERATED")
    );
    let synthetic_only = registration(Role::SyncJob, &[Origin::Synthetic], &[]);
    assert!(
        check_scope(&captured, "s", &synthetic_only)
            .unwrap_err()
            .starts_with("event.payload.origin")
    );
    let admin = registration(Role::Admin, &[], &[]);
    assert!(check_scope(&generated(), "a", &admin).is_err());
}
