//! Reading HTTP requests into proto requests: query parameters (named as the proto request's
//! fields), the record named by path segments, leaf hashes in hex or base64, and JSON bodies.
//!
//! Invariants: a parameter that is absent takes the proto field's default (so the shared
//! service implementation applies its own checks to it, exactly as over gRPC); a parameter that
//! is present but does not parse, is given twice, or is not one the route takes is refused as
//! INVALID_ARGUMENT naming it; a body is read up to the configured limit and no further.

use super::errors::ApiError;
use crate::json::JsonError;
use crate::json::dsse::decode_base64;
use crate::proto::RecordRef;
use axum::body::Body;
use percent_encoding::percent_decode_str;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::str::FromStr;

/// The query parameters of one request, checked against the names the route takes.
#[derive(Debug, Default)]
pub struct QueryParams {
    values: BTreeMap<String, Vec<String>>,
}

impl QueryParams {
    /// Parses `raw` (the URI's query, undecoded); names outside `allowed` are refused.
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Self, ApiError> {
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode_component(name, "query parameter name")?;
            if !allowed.contains(&name.as_str()) {
                let expected = if allowed.is_empty() {
                    "this route takes none".to_string()
                } else {
                    format!("this route takes {}", allowed.join(", "))
                };
                return Err(ApiError::invalid_argument(format!(
                    "{name}: unknown query parameter; {expected}"
                )));
            }
            let value = decode_component(value, &name)?;
            values.entry(name).or_default().push(value);
        }
        Ok(QueryParams { values })
    }

    /// The single value of `name`, if given.
    pub fn text(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.values.get(name).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(Some(one)),
            Some(_) => Err(ApiError::invalid_argument(format!(
                "{name}: given more than once"
            ))),
        }
    }

    /// Every value of a repeated parameter (`name=a&name=b`), in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }

    /// A decimal unsigned integer; 0 when absent.
    pub fn number<T: FromStr + Default>(&self, name: &str) -> Result<T, ApiError> {
        match self.text(name)? {
            None => Ok(T::default()),
            Some(text) => text.parse().map_err(|_| {
                ApiError::invalid_argument(format!(
                    "{name}: {text:?} is not an unsigned decimal integer in range"
                ))
            }),
        }
    }

    /// `true`/`false` (or `1`/`0`); false when absent.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.text(name)? {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(other) => Err(ApiError::invalid_argument(format!(
                "{name}: {other:?} is not true or false"
            ))),
        }
    }

    /// A timestamp in RFC 3339, as the protobuf JSON mapping writes it.
    pub fn timestamp(&self, name: &str) -> Result<Option<pbjson_types::Timestamp>, ApiError> {
        self.text(name)?
            .map(|text| {
                serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|e| {
                    ApiError::invalid_argument(format!(
                        "{name}: {text:?} is not an RFC 3339 timestamp: {e}"
                    ))
                })
            })
            .transpose()
    }

    /// Bytes given as hex (64 digits: a 32-byte hash) or base64 (standard or URL-safe, padded
    /// or not); empty when absent.
    pub fn hash_bytes(&self, name: &str) -> Result<Vec<u8>, ApiError> {
        let Some(text) = self.text(name)? else {
            return Ok(Vec::new());
        };
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(decode_hex(text));
        }
        decode_base64(text)
            .map_err(|e| ApiError::invalid_argument(format!("{name}: not 64 hex digits, and {e}")))
    }
}

fn decode_component(raw: &str, what: &str) -> Result<String, ApiError> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| ApiError::invalid_argument(format!("{what}: not UTF-8 once decoded")))
}

/// Hex digits (already checked) to bytes.
fn decode_hex(text: &str) -> Vec<u8> {
    let digit = |b: u8| match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| digit(pair[0]) << 4 | digit(pair[1]))
        .collect()
}

/// The path segment that stands for an empty tenant (a path segment cannot be empty).
pub const EMPTY_TENANT: &str = "-";

/// The record named by the path segments `{system}/{tenant}/{object_type}/{record_id}`, each
/// already percent-decoded; a tenant of [`EMPTY_TENANT`] is an empty tenant.
pub fn record_from_path(segments: [String; 4]) -> RecordRef {
    let [system, tenant, object_type, record_id] = segments;
    RecordRef {
        system,
        tenant: if tenant == EMPTY_TENANT {
            String::new()
        } else {
            tenant
        },
        object_type,
        record_id,
    }
}

/// Reads a request body, refusing one over `limit` bytes.
pub async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    use http_body_util::{BodyExt, LengthLimitError, Limited};
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(ApiError::body_too_large(limit)),
        Err(e) => Err(ApiError::invalid_argument(format!(
            "body: could not be read: {e}"
        ))),
    }
}

/// Decodes a JSON body into `T`; errors name the field's path (`signatures[0].sig`), or
/// `body` when the text is not JSON at all.
pub fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid_argument(format!("body: not valid JSON: {e}")))?;
    json_value(value, "")
}

/// Decodes a JSON value into `T`; `prefix` (e.g. `envelopes[3].`) goes before field paths.
pub fn json_value<T: DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, ApiError> {
    if !value.is_object() {
        let at = if prefix.is_empty() {
            "body".to_string()
        } else {
            prefix.trim_end_matches('.').to_string()
        };
        return Err(ApiError::invalid_argument(format!(
            "{at}: expected a JSON object"
        )));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            if prefix.is_empty() {
                "body".to_string()
            } else {
                prefix.trim_end_matches('.').to_string()
            }
        } else {
            format!("{prefix}{path}")
        };
        ApiError::invalid_argument(format!("{field}: {}", e.into_inner()))
    })
}

/// A JSON-form error (from [`crate::json`]) as an API error, its field under `prefix`.
pub fn json_error(e: JsonError, prefix: &str) -> ApiError {
    match e {
        JsonError::Field { field, message, .. } => {
            ApiError::invalid_argument(format!("{prefix}{field}: {message}"))
        }
        JsonError::Syntax { message, .. } => {
            ApiError::invalid_argument(format!("{}: {message}", prefix_or_body(prefix)))
        }
        JsonError::Io(e) => ApiError::internal(format!("reading the body: {e}")),
    }
}

fn prefix_or_body(prefix: &str) -> &str {
    if prefix.is_empty() {
        "body"
    } else {
        prefix.trim_end_matches('.')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_decode_and_unknown_ones_are_named() {
        let q =
            QueryParams::parse(Some("size=5&page_token=a%2Fb+c"), &["size", "page_token"]).unwrap();
        assert_eq!(q.number::<u64>("size").unwrap(), 5);
        assert_eq!(q.text("page_token").unwrap(), Some("a/b c"));
        let e = QueryParams::parse(Some("sise=5"), &["size"]).unwrap_err();
        assert!(
            e.message.starts_with("sise: unknown query parameter"),
            "{e}"
        );
        let q = QueryParams::parse(Some("size=-1&size2=1&size2=2"), &["size", "size2"]).unwrap();
        let e = q.number::<u64>("size").unwrap_err();
        assert!(e.message.starts_with("size: \"-1\""), "{e}");
        let e = q.number::<u64>("size2").unwrap_err();
        assert_eq!(e.message, "size2: given more than once");
    }

    #[test]
    fn hashes_are_hex_or_base64() {
        let hash = [0xabu8; 32];
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        let q = QueryParams::parse(Some(&format!("h={hex}")), &["h"]).unwrap();
        assert_eq!(q.hash_bytes("h").unwrap(), hash);
        let q = QueryParams::parse(Some(&format!("h={}", hex.to_uppercase())), &["h"]).unwrap();
        assert_eq!(q.hash_bytes("h").unwrap(), hash);
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash);
        let q = QueryParams::parse(Some(&format!("h={b64}")), &["h"]).unwrap();
        assert_eq!(q.hash_bytes("h").unwrap(), hash);
        let q = QueryParams::parse(Some("h=%21%21"), &["h"]).unwrap();
        assert!(
            q.hash_bytes("h")
                .unwrap_err()
                .message
                .starts_with("h: not 64 hex digits, and not base64")
        );
    }

    #[test]
    fn body_errors_name_the_field() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Outer {
            inner: Vec<Inner>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Inner {
            n: u32,
        }
        let e = json_body::<Outer>(br#"{"inner": [{"n": 1}, {"n": "x"}]}"#).unwrap_err();
        assert!(e.message.starts_with("inner[1].n: invalid type"), "{e}");
        let e = json_body::<Outer>(b"{").unwrap_err();
        assert!(e.message.starts_with("body: not valid JSON"), "{e}");
        let e = json_body::<Outer>(b"[]").unwrap_err();
        assert_eq!(e.message, "body: expected a JSON object");
    }
}
