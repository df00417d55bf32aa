//! Checkpoint notes: the signed-note parser (`note::open`), checkpoint bodies
//! (`Checkpoint::parse_body`), opening a checkpoint note with the log key (`open_checkpoint`),
//! and verifier-key strings (`NoteVerifier::from_vkey`), over UTF-8 input.
//!
//! Properties: a note that opens is its text, a blank line and its signature lines, and when it
//! holds only the log key's signature it is exactly what signing its text gives (it re-serialises
//! to the same bytes); a checkpoint note that opens gives a checkpoint whose body is the note's
//! text; a body that parses re-serialises to the same bytes, and signed by the log key it opens
//! to the same checkpoint, while a body that does not parse never opens as a checkpoint even
//! when signed; a vkey that parses prints back to the same string.

use crate::fixtures;
use provledger::checkpoint::{Checkpoint, open_checkpoint};
use provledger::note::{self, NoteVerifier};

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let log = fixtures::log_signer();
    let verifier = log.verifier();
    let others: Vec<NoteVerifier> = fixtures::signers().iter().map(|s| s.verifier()).collect();
    let mut verifiers = others.clone();
    verifiers.push(verifier.clone());
    if let Ok(opened) = note::open(text, &verifiers) {
        let signatures = text
            .strip_prefix(opened.text.as_str())
            .and_then(|rest| rest.strip_prefix('\n'))
            .expect("an opened note starts with its text and a blank line");
        assert!(opened.text.ends_with('\n') && signatures.ends_with('\n'));
        assert!(!opened.signers.is_empty());
        if signatures.matches('\n').count() == 1 && opened.is_signed_by(&verifier) {
            assert_eq!(
                log.sign(&opened.text).as_deref(),
                Ok(text),
                "does not re-serialise"
            );
        }
    }
    if let Ok(cp) = open_checkpoint(text, &verifier) {
        assert!(text.starts_with(&format!("{}\n", cp.to_body())));
        let opened = note::open(text, std::slice::from_ref(&verifier)).expect("it opened");
        assert_eq!(cp.to_body(), opened.text);
    }
    match Checkpoint::parse_body(text) {
        Ok(cp) => {
            assert_eq!(cp.to_body(), text, "body does not re-serialise");
            assert_eq!(cp.validate(), Ok(()));
            let signed = cp.sign(log).expect("a parsed body signs");
            assert_eq!(open_checkpoint(&signed, &verifier), Ok(cp));
        }
        Err(_) => {
            if let Ok(signed) = log.sign(text) {
                assert!(open_checkpoint(&signed, &verifier).is_err());
            }
        }
    }
    for line in text.lines() {
        if let Ok(v) = NoteVerifier::from_vkey(line) {
            assert_eq!(v.to_vkey(), line, "vkey does not print back");
        }
    }
}
