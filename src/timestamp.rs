//! Protobuf timestamps: the one `Timestamp` type every message uses (with the protobuf JSON
//! mapping: an RFC 3339 string in UTC), and conversions from and to system time.

pub use pbjson_types::Timestamp;
use std::time::SystemTime;

/// A timestamp for a point in system time (times before the epoch are negative seconds).
pub fn from_system_time(t: SystemTime) -> Timestamp {
    let t = prost_types::Timestamp::from(t);
    Timestamp {
        seconds: t.seconds,
        nanos: t.nanos,
    }
}

/// The current time.
pub fn now() -> Timestamp {
    from_system_time(SystemTime::now())
}

/// Parses an RFC 3339 date-time as the protobuf JSON mapping writes it; `None` if it is not one.
pub fn parse(value: &str) -> Option<Timestamp> {
    let t: prost_types::Timestamp = value.parse().ok()?;
    Some(Timestamp {
        seconds: t.seconds,
        nanos: t.nanos,
    })
}

/// The RFC 3339 form (UTC, `Z`), as the protobuf JSON mapping writes it.
pub fn to_rfc3339(t: &Timestamp) -> String {
    prost_types::Timestamp {
        seconds: t.seconds,
        nanos: t.nanos,
    }
    .to_string()
}

/// The pair `(seconds, nanos)`, which orders timestamps.
pub fn key(t: &Timestamp) -> (i64, i32) {
    (t.seconds, t.nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip() {
        let t = parse("2024-05-01T12:34:56.5+02:00").unwrap();
        assert_eq!((t.seconds, t.nanos), (1_714_559_696, 500_000_000));
        assert_eq!(to_rfc3339(&t), "2024-05-01T10:34:56.500Z");
        assert_eq!(parse(&to_rfc3339(&t)), Some(t));
        assert_eq!(parse("yesterday"), None);
    }

    #[test]
    fn json_form_is_rfc3339() {
        let t = parse("2024-05-01T10:34:56Z").unwrap();
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2024-05-01T10:34:56+00:00\""
        );
    }
}
