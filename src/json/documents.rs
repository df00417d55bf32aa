//! Reading JSON documents from a stream: one per line (NDJSON), several pretty-printed ones one
//! after another, or arrays of them; each with the line it starts on, for error messages.
//!
//! Lines are read one at a time and a document is parsed as soon as it is complete, so input of
//! any length streams in bounded memory (one document at a time).

use super::{DsseEnvelope, JsonError};
use crate::proto::{ProvenanceEvent, SignedEvent};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::VecDeque;
use std::io::BufRead;

/// One JSON document and the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub line: u64,
    pub value: Value,
}

/// What a document holds: an event still to be signed, or an envelope already signed.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Event(Box<ProvenanceEvent>),
    Envelope(SignedEvent),
}

impl Document {
    /// An object with `payloadType` is a DSSE envelope; any other object is an event in the
    /// protobuf JSON mapping.
    pub fn item(self) -> Result<Item, JsonError> {
        if self.value.get("payloadType").is_some() {
            let dsse: DsseEnvelope = decode(self.line, self.value)?;
            return Ok(Item::Envelope(dsse.to_signed(self.line)?));
        }
        Ok(Item::Event(Box::new(decode(self.line, self.value)?)))
    }
}

/// Decodes a document into `T`; an error names the line and the path of the field at fault.
pub fn decode<T: DeserializeOwned>(line: u64, value: Value) -> Result<T, JsonError> {
    if !value.is_object() {
        return Err(JsonError::Syntax {
            line,
            message: format!("expected a JSON object, got {}", kind(&value)),
        });
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        JsonError::Field {
            line,
            field: if path == "." {
                "(document)".into()
            } else {
                path
            },
            message: e.into_inner().to_string(),
        }
    })
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The documents of a stream, in order.
pub struct Documents<R> {
    input: R,
    /// Lines read so far.
    line: u64,
    /// Elements of an array document not yet returned.
    pending: VecDeque<Document>,
    bytes_read: u64,
    documents: u64,
}

impl<R: BufRead> Documents<R> {
    pub fn new(input: R) -> Self {
        Documents {
            input,
            line: 0,
            pending: VecDeque::new(),
            bytes_read: 0,
            documents: 0,
        }
    }

    /// Bytes consumed so far (for progress).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Documents returned so far.
    pub fn documents_read(&self) -> u64 {
        self.documents
    }

    /// The next document, `None` at the end of the input.
    pub fn next_document(&mut self) -> Result<Option<Document>, JsonError> {
        if let Some(doc) = self.pending.pop_front() {
            self.documents += 1;
            return Ok(Some(doc));
        }
        let mut text = String::new();
        let mut start = 0;
        loop {
            let mut line = String::new();
            let n = self.input.read_line(&mut line)?;
            self.bytes_read += n as u64;
            if n == 0 {
                if text.trim().is_empty() {
                    return Ok(None);
                }
                return Err(JsonError::Syntax {
                    line: start,
                    message: "the input ends inside this document".into(),
                });
            }
            self.line += 1;
            if text.trim().is_empty() {
                if line.trim().is_empty() {
                    continue;
                }
                text.clear();
                start = self.line;
            }
            text.push_str(&line);
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Array(items)) => {
                    self.pending.extend(
                        items
                            .into_iter()
                            .map(|value| Document { line: start, value }),
                    );
                    return self.next_document();
                }
                Ok(value) => {
                    self.documents += 1;
                    return Ok(Some(Document { line: start, value }));
                }
                Err(e) if e.is_eof() => continue,
                Err(e) => {
                    return Err(JsonError::Syntax {
                        line: start + e.line() as u64 - 1,
                        message: e.to_string(),
                    });
                }
            }
        }
    }
}

impl<R: BufRead> Iterator for Documents<R> {
    type Item = Result<Document, JsonError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_document().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<Result<Document, String>> {
        Documents::new(text.as_bytes())
            .map(|d| d.map_err(|e| e.to_string()))
            .collect()
    }

    fn lines(text: &str) -> Vec<u64> {
        read(text).into_iter().map(|d| d.unwrap().line).collect()
    }

    #[test]
    fn ndjson_pretty_and_arrays() {
        assert_eq!(lines("{\"a\":1}\n\n{\"a\":2}\n"), [1, 3]);
        assert_eq!(lines("{\n  \"a\": 1\n}\n{\n  \"a\": 2\n}"), [1, 4]);
        assert_eq!(lines("[{\"a\":1},\n {\"a\":2}]\n{\"a\":3}\n"), [1, 1, 3]);
        assert_eq!(lines(""), Vec::<u64>::new());
        assert_eq!(lines("\n  \n"), Vec::<u64>::new());
    }

    #[test]
    fn syntax_errors_name_their_line() {
        let docs = read("{\"a\":1}\n{\"a\":}\n{\"a\":3}\n");
        assert!(docs[0].is_ok());
        let e = docs[1].as_ref().unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        let docs = read("{\"a\":1}\n{\n\"a\": 2,\n");
        let e = docs[1].as_ref().unwrap_err();
        assert!(e.starts_with("line 2: the input ends inside"), "{e}");
    }

    #[test]
    fn items_are_events_or_envelopes_and_errors_name_fields() {
        let event = r#"{"subject": {"system": "salesforce", "objectType": "Lead"},
                        "action": "GENERATED", "environment": "sandbox"}"#;
        let doc = Documents::new(event.as_bytes()).next().unwrap().unwrap();
        match doc.item().unwrap() {
            Item::Event(e) => {
                assert_eq!(e.action(), crate::proto::Action::Generated);
                assert_eq!(e.subject.unwrap().object_type, "Lead");
            }
            other => panic!("{other:?}"),
        }
        let bad = "\n{\"subject\": {\"recordId\": 5}}";
        let doc = Documents::new(bad.as_bytes()).next().unwrap().unwrap();
        let e = doc.item().unwrap_err().to_string();
        assert!(
            e.starts_with("line 2: subject.recordId: invalid type"),
            "{e}"
        );
        let bad = "{\"action\": \"MADE_UP\"}";
        let doc = Documents::new(bad.as_bytes()).next().unwrap().unwrap();
        let e = doc.item().unwrap_err().to_string();
        assert!(e.starts_with("line 1: action:"), "{e}");
        let doc = Documents::new("5".as_bytes()).next().unwrap().unwrap();
        let e = doc.item().unwrap_err().to_string();
        assert_eq!(e, "line 1: expected a JSON object, got a number");
        let env = r#"{"payloadType": "x", "payload": "", "signatures": []}"#;
        let doc = Documents::new(env.as_bytes()).next().unwrap().unwrap();
        let e = doc.item().unwrap_err().to_string();
        assert!(e.contains("signatures: exactly one"), "{e}");
    }
}
