//! C2SP tlog-checkpoint bodies (<https://c2sp.org/tlog-checkpoint>): the note text
//! `<origin>\n<tree size>\n<base64 root hash>\n[<extension line>\n...]`, and signing or
//! opening it as a signed note through [`crate::note`].
//!
//! Owns: the exact body syntax. Invariants enforced by [`Checkpoint::parse_body`] and
//! [`Checkpoint::validate`]: the origin is non-empty without control characters (Unicode Cc, so DEL too); the size
//! is canonical decimal (no sign, no leading zero except `0`) and fits a `u64`; the root is
//! canonical padded standard base64 of exactly 32 bytes; extension lines are non-empty and
//! free of ASCII control characters, and are kept verbatim (without their `\n`) in order.
//! `parse_body(&c.to_body()) == Ok(c)` for every valid `c`.
//!
//! Leaves out: which hash function made the root, and whether the origin matches what a
//! caller expects or the signer's key name (callers check `origin`); consistency between
//! checkpoints; cosignatures.

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};

use crate::note::{self, NoteError, NoteSigner, NoteVerifier, SignerId};

/// A log's signed tree head: origin, tree size and root hash, plus opaque extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: [u8; 32],
    /// Lines after the root, each without its trailing `\n`. Usually empty.
    pub extensions: Vec<String>,
}

/// What is wrong with a checkpoint body or its signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error("checkpoint body does not end with a newline")]
    MissingFinalNewline,
    #[error("checkpoint body has {0} line(s); origin, size and root are required")]
    MissingLines(usize),
    #[error("invalid origin: {0}")]
    InvalidOrigin(&'static str),
    #[error("invalid tree size {value:?}: {reason}")]
    InvalidSize { value: String, reason: &'static str },
    #[error("invalid root hash: {0}")]
    InvalidRoot(String),
    #[error("invalid extension line {line}: {reason}")]
    InvalidExtension { line: usize, reason: &'static str },
    #[error("checkpoint note is not signed by {0}")]
    NotSignedBy(SignerId),
}

fn check_origin(origin: &str) -> Result<(), CheckpointError> {
    if origin.is_empty() {
        return Err(CheckpointError::InvalidOrigin("empty"));
    }
    if origin.chars().any(char::is_control) {
        return Err(CheckpointError::InvalidOrigin(
            "contains a control character",
        ));
    }
    Ok(())
}

/// `line` is the 1-based line number in the body (4 for the first extension).
fn check_extension(line: usize, ext: &str) -> Result<(), CheckpointError> {
    let reason = if ext.is_empty() {
        "empty"
    } else if ext.bytes().any(|b| b < 0x20) {
        "contains a control character"
    } else {
        return Ok(());
    };
    Err(CheckpointError::InvalidExtension { line, reason })
}

fn parse_size(value: &str) -> Result<u64, CheckpointError> {
    let reason = if value.is_empty() {
        "empty"
    } else if !value.bytes().all(|b| b.is_ascii_digit()) {
        "not an unsigned decimal number"
    } else if value.len() > 1 && value.starts_with('0') {
        "leading zero"
    } else {
        match value.parse() {
            Ok(size) => return Ok(size),
            Err(_) => "does not fit in 64 bits",
        }
    };
    Err(CheckpointError::InvalidSize {
        value: value.to_owned(),
        reason,
    })
}

fn parse_root(b64: &str) -> Result<[u8; 32], CheckpointError> {
    let raw = B64
        .decode(b64)
        .map_err(|e| CheckpointError::InvalidRoot(format!("not canonical base64: {e}")))?;
    let len = raw.len();
    <[u8; 32]>::try_from(raw)
        .map_err(|_| CheckpointError::InvalidRoot(format!("{len} bytes, expected 32")))
}

impl Checkpoint {
    /// The note text. Only meaningful for a checkpoint that passes [`Checkpoint::validate`].
    pub fn to_body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for ext in &self.extensions {
            body.push_str(ext);
            body.push('\n');
        }
        body
    }

    /// Checks that [`Checkpoint::to_body`] yields a body that parses back to `self`.
    pub fn validate(&self) -> Result<(), CheckpointError> {
        check_origin(&self.origin)?;
        for (i, ext) in self.extensions.iter().enumerate() {
            check_extension(i + 4, ext)?;
        }
        Ok(())
    }

    /// Parses a checkpoint body (the text of an already verified note).
    pub fn parse_body(body: &str) -> Result<Checkpoint, CheckpointError> {
        let body = body
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingFinalNewline)?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(CheckpointError::MissingLines(lines.len()));
        };
        check_origin(origin)?;
        let checkpoint = Checkpoint {
            origin: origin.to_string(),
            size: parse_size(size)?,
            root: parse_root(root)?,
            extensions: extensions.iter().map(|e| e.to_string()).collect(),
        };
        checkpoint.validate()?;
        Ok(checkpoint)
    }

    /// Validates and signs the body; returns the whole signed note.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, CheckpointError> {
        self.validate()?;
        Ok(signer.sign(&self.to_body())?)
    }
}

/// Opens `note`, requiring a valid signature by `verifier` (other signatures are ignored,
/// as in [`note::open`]), then parses its text as a checkpoint body.
pub fn open_checkpoint(note: &str, verifier: &NoteVerifier) -> Result<Checkpoint, CheckpointError> {
    let opened = note::open(note, std::slice::from_ref(verifier))?;
    if !opened.is_signed_by(verifier) {
        return Err(CheckpointError::NotSignedBy(verifier.id().clone()));
    }
    Checkpoint::parse_body(&opened.text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckpointError as E;
    use proptest::prelude::*;

    const ROOT: &str = "rKbDipCvhuX1GZ7g5BBe8sA6BbJ7ja/1nk427v383cs=";

    fn vectors() -> serde_json::Value {
        serde_json::from_str(include_str!("../tests/vectors/rfc6962-sha256.json")).unwrap()
    }

    fn sample() -> Checkpoint {
        Checkpoint {
            origin: "provledger.test/log".into(),
            size: 42,
            root: [7; 32],
            extensions: vec![],
        }
    }

    fn size_err(value: &str, reason: &'static str) -> E {
        E::InvalidSize {
            value: value.into(),
            reason,
        }
    }

    #[test]
    fn tessera_checkpoint_opens_and_parses() {
        let v = vectors();
        let vkey =
            NoteVerifier::from_vkey(v["published"]["tessera_testdata_vkey"].as_str().unwrap());
        let note = v["published"]["tessera_testdata_checkpoint"]
            .as_str()
            .unwrap();
        let cp = open_checkpoint(note, &vkey.unwrap()).unwrap();
        let root15 = B64.decode(v["roots"]["15"].as_str().unwrap()).unwrap();
        assert_eq!(
            (cp.origin.as_str(), cp.size),
            ("example.com/log/testdata", 15)
        );
        assert_eq!(cp.root.as_slice(), root15.as_slice());
        assert!(cp.extensions.is_empty());
        assert_eq!(
            format!("{}\n", cp.to_body()),
            note.split("\u{2014}").next().unwrap()
        );
    }

    #[test]
    fn sign_then_open_round_trips() {
        let signer = NoteSigner::generate("provledger.test/log").unwrap();
        let mut cp = sample();
        cp.extensions = vec!["ext one".into(), "ext: two".into()];
        let note = cp.sign(&signer).unwrap();
        assert!(note.starts_with(&cp.to_body()));
        assert_eq!(open_checkpoint(&note, &signer.verifier()), Ok(cp));
        let empty = Checkpoint {
            size: 0,
            ..sample()
        };
        let note = empty.sign(&signer).unwrap();
        assert_eq!(open_checkpoint(&note, &signer.verifier()), Ok(empty));
    }

    #[test]
    fn wrong_signer_key_is_rejected() {
        let signer = NoteSigner::generate("provledger.test/log").unwrap();
        let note = sample().sign(&signer).unwrap();
        let same_name = NoteSigner::generate("provledger.test/log").unwrap();
        let other_name = NoteSigner::generate("provledger.test/other").unwrap();
        for wrong in [same_name.verifier(), other_name.verifier()] {
            let err = open_checkpoint(&note, &wrong);
            assert_eq!(err, Err(E::Note(NoteError::NoKnownSignature)));
        }
        let tampered = note.replacen("\n42\n", "\n43\n", 1);
        let err = open_checkpoint(&tampered, &signer.verifier());
        assert!(matches!(err, Err(E::Note(NoteError::BadSignature(_)))));
    }

    #[test]
    fn bad_sizes_are_rejected() {
        let cases = [
            ("015", "leading zero"),
            ("00", "leading zero"),
            ("-1", "not an unsigned decimal number"),
            ("+1", "not an unsigned decimal number"),
            ("1a", "not an unsigned decimal number"),
            (" 1", "not an unsigned decimal number"),
            ("", "empty"),
            ("18446744073709551616", "does not fit in 64 bits"),
        ];
        for (size, reason) in cases {
            let body = format!("o\n{size}\n{ROOT}\n");
            assert_eq!(Checkpoint::parse_body(&body), Err(size_err(size, reason)));
        }
        let max = Checkpoint::parse_body(&format!("o\n{}\n{ROOT}\n", u64::MAX));
        assert_eq!(max.map(|c| c.size), Ok(u64::MAX));
    }

    #[test]
    fn bad_bodies_are_rejected() {
        let root31 = B64.encode([1u8; 31]);
        let root33 = B64.encode([1u8; 33]);
        let bad_root = |body: String| match Checkpoint::parse_body(&body) {
            Err(E::InvalidRoot(reason)) => reason,
            other => panic!("{body:?}: {other:?}"),
        };
        assert_eq!(
            bad_root(format!("o\n1\n{root31}\n")),
            "31 bytes, expected 32"
        );
        assert_eq!(
            bad_root(format!("o\n1\n{root33}\n")),
            "33 bytes, expected 32"
        );
        assert!(bad_root(format!("o\n1\n{}\n", ROOT.trim_end_matches('='))).contains("base64"));
        assert!(bad_root(format!("o\n1\n{}\n", ROOT.replace("cs=", "ct="))).contains("base64"));
        let ext = |line, reason| E::InvalidExtension { line, reason };
        let cases = [
            (String::new(), E::MissingFinalNewline),
            (format!("o\n1\n{ROOT}"), E::MissingFinalNewline),
            ("o\n".into(), E::MissingLines(1)),
            ("o\n1\n".into(), E::MissingLines(2)),
            (format!("\n1\n{ROOT}\n"), E::InvalidOrigin("empty")),
            (
                format!("a\tb\n1\n{ROOT}\n"),
                E::InvalidOrigin("contains a control character"),
            ),
            (format!("o\n1\n{ROOT}\n\n"), ext(4, "empty")),
            (format!("o\n1\n{ROOT}\nx\n\n"), ext(5, "empty")),
            (
                format!("o\n1\n{ROOT}\nx\ty\n"),
                ext(4, "contains a control character"),
            ),
        ];
        for (body, err) in cases {
            assert_eq!(Checkpoint::parse_body(&body), Err(err), "{body:?}");
        }
    }

    #[test]
    fn invalid_checkpoints_are_not_signed() {
        let signer = NoteSigner::generate("provledger.test/log").unwrap();
        let newline_origin = Checkpoint {
            origin: "a\nb".into(),
            ..sample()
        };
        let err = E::InvalidOrigin("contains a control character");
        assert_eq!(newline_origin.sign(&signer), Err(err));
        let bad_ext = Checkpoint {
            extensions: vec!["a\nb".into()],
            ..sample()
        };
        let err = E::InvalidExtension {
            line: 4,
            reason: "contains a control character",
        };
        assert_eq!(bad_ext.sign(&signer), Err(err));
    }

    proptest! {
        #[test]
        fn body_round_trips(
            origin in "[ -~]{1,64}",
            size in any::<u64>(),
            root in any::<[u8; 32]>(),
            extensions in prop::collection::vec("[ -~]{1,32}", 0..3),
        ) {
            let cp = Checkpoint { origin, size, root, extensions };
            prop_assert_eq!(Checkpoint::parse_body(&cp.to_body()), Ok(cp));
        }
    }
}
