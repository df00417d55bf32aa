//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys, the
//! convention of Go's `golang.org/x/mod/sumdb/note`.
//!
//! Owns: key names and key IDs, the verifier-key (`vkey`) and private-key string
//! encodings, signing a text into a note, and opening (parsing + verifying) a note
//! against a set of trusted verifiers.
//!
//! Invariants:
//! - A note is valid UTF-8 (a `&str`), at most [`MAX_NOTE_SIZE`] bytes, without ASCII control
//!   characters below U+0020 other than `\n`. Its text is everything up to and
//!   including the first `\n` of the *last* `"\n\n"`; the rest is 1..=[`MAX_SIGNATURES`]
//!   lines `— <name> <base64(key ID BE u32 || signature)>\n`.
//! - Signatures by unknown `(name, key ID)` pairs are ignored (but must be well formed);
//!   every signature by a known key is checked with `verify_strict`, and one that fails
//!   rejects the whole note; at least one known key must have signed.
//! - A [`NoteVerifier`]'s or [`NoteSigner`]'s key ID always matches its name and key;
//!   [`NoteSigner`] never prints its seed through `Debug`.
//!
//! Leaves out: signature types other than Ed25519 (0x01) — cosignatures (0x04) and
//! others are only ever "unknown" here; adding signatures to an existing note; zeroizing
//! copies of the seed made when parsing or printing a private key string.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand_core::OsRng;
use sha2::{Digest, Sha256};

/// Largest note accepted by [`open`] or produced by [`NoteSigner::sign`], in bytes.
pub const MAX_NOTE_SIZE: usize = 1 << 20;
/// Most signature lines accepted in one note.
pub const MAX_SIGNATURES: usize = 100;
/// Signature type byte for Ed25519 in key IDs and key encodings.
pub const ALG_ED25519: u8 = 0x01;
const SIG_PREFIX: &str = "\u{2014} ";
const PRIVATE_PREFIX: &str = "PRIVATE+KEY+";

/// What is wrong with a note, a key string or a key name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("note is {0} bytes, over the {max}-byte limit", max = MAX_NOTE_SIZE)]
    TooLarge(usize),
    #[error("control character {byte:#04x} at byte {offset}")]
    ControlCharacter { offset: usize, byte: u8 },
    #[error("note text is empty or does not end with a newline")]
    MissingFinalNewline,
    #[error("no blank line separates the text from the signatures")]
    MissingSeparator,
    #[error("the signature block is empty")]
    EmptySignatureBlock,
    #[error("the signature block does not end with a newline")]
    UnterminatedSignatureBlock,
    #[error("more than {max} signature lines", max = MAX_SIGNATURES)]
    TooManySignatures,
    #[error("malformed signature on line {line} of the note: {reason}")]
    MalformedSignatureLine { line: usize, reason: &'static str },
    #[error("signature by known key {0} does not verify")]
    BadSignature(SignerId),
    #[error("several different known keys are named {0}")]
    AmbiguousVerifier(SignerId),
    #[error("no signature by a known key")]
    NoKnownSignature,
    #[error("invalid key name {0:?}: must be non-empty, without spaces, '+' or controls")]
    InvalidKeyName(String),
    #[error("malformed verifier key: {0}")]
    MalformedVkey(String),
    #[error("malformed private key: {0}")]
    MalformedPrivateKey(String),
    #[error("unsupported signature type {0:#04x} (only Ed25519 0x01)")]
    UnsupportedAlgorithm(u8),
    #[error("key ID {claimed:08x} does not match {computed:08x} computed from name and key")]
    KeyIdMismatch { claimed: u32, computed: u32 },
}

/// A key's identity in signature lines: name and key ID. Displays as `name+hex8`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignerId {
    pub name: String,
    pub key_id: u32,
}

impl fmt::Display for SignerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{:08x}", self.name, self.key_id)
    }
}

/// Checks a key name: non-empty, no Unicode whitespace, no `+`, no ASCII control.
pub fn validate_key_name(name: &str) -> Result<(), NoteError> {
    let bad = |c: char| c.is_whitespace() || c == '+' || c.is_ascii_control();
    if name.is_empty() || name.chars().any(bad) {
        return Err(NoteError::InvalidKeyName(name.to_owned()));
    }
    Ok(())
}

/// Key ID: first 4 bytes, big-endian, of SHA-256(name || 0x0A || 0x01 || public key).
pub fn key_id(name: &str, key: &VerifyingKey) -> u32 {
    let d = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n', ALG_ED25519])
        .chain_update(key.as_bytes())
        .finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn signer_id(name: &str, key: &VerifyingKey) -> Result<SignerId, NoteError> {
    validate_key_name(name)?;
    let key_id = key_id(name, key);
    Ok(SignerId {
        name: name.to_owned(),
        key_id,
    })
}

/// Parses `<name>+<hex8 key ID>+<base64(0x01 || 32 bytes)>`; the base64 may contain
/// `+`, the name and ID cannot. `malformed` gets reasons that never echo the key bytes.
type KeyParts<'a> = (&'a str, u32, [u8; 32]);
fn parse_key_string(
    s: &str,
    malformed: fn(String) -> NoteError,
) -> Result<KeyParts<'_>, NoteError> {
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(hex), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed("expected <name>+<key ID>+<base64 key>".into()));
    };
    validate_key_name(name)?;
    let hex_ok = hex.len() == 8 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let claimed = u32::from_str_radix(hex, 16)
        .ok()
        .filter(|_| hex_ok)
        .ok_or_else(|| malformed("key ID is not 8 lowercase hex digits".into()))?;
    let raw = B64
        .decode(b64)
        .map_err(|_| malformed("key is not valid base64".into()))?;
    let (&alg, key) = raw
        .split_first()
        .ok_or_else(|| malformed("key is empty".into()))?;
    if alg != ALG_ED25519 {
        return Err(NoteError::UnsupportedAlgorithm(alg));
    }
    let len = key.len();
    let key = <[u8; 32]>::try_from(key)
        .map_err(|_| malformed(format!("key is {len} bytes, expected 32")))?;
    Ok((name, claimed, key))
}

fn key_string(id: &SignerId, key: &[u8; 32]) -> String {
    let mut raw = [ALG_ED25519; 33];
    raw[1..].copy_from_slice(key);
    format!("{id}+{}", B64.encode(raw))
}

fn check_key_id(claimed: u32, id: &SignerId) -> Result<(), NoteError> {
    match id.key_id {
        computed if computed != claimed => Err(NoteError::KeyIdMismatch { claimed, computed }),
        _ => Ok(()),
    }
}

/// A trusted public key: name, key ID and Ed25519 verifying key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    id: SignerId,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Builds a verifier, computing its key ID; rejects bad names and small-order keys.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        if key.is_weak() {
            return Err(NoteError::MalformedVkey(
                "public key has small order".into(),
            ));
        }
        Ok(Self {
            id: signer_id(name, &key)?,
            key,
        })
    }

    /// Parses `<name>+<8 lowercase hex key ID>+<base64(0x01 || 32-byte key)>`.
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        let (name, claimed, raw) = parse_key_string(vkey, NoteError::MalformedVkey)?;
        let key = VerifyingKey::from_bytes(&raw)
            .map_err(|_| NoteError::MalformedVkey("not a valid Ed25519 point".into()))?;
        let v = Self::new(name, key)?;
        check_key_id(claimed, &v.id)?;
        Ok(v)
    }

    /// The `vkey` string form, as parsed by [`NoteVerifier::from_vkey`].
    pub fn to_vkey(&self) -> String {
        key_string(&self.id, self.key.as_bytes())
    }

    pub fn id(&self) -> &SignerId {
        &self.id
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }
}

/// A named Ed25519 signing key. Its `Debug` shows only the name and key ID.
#[derive(Clone)]
pub struct NoteSigner {
    id: SignerId,
    key: SigningKey,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteSigner({})", self.id)
    }
}

impl NoteSigner {
    /// A fresh key from the operating system's RNG.
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        Self::from_seed(name, &SigningKey::generate(&mut OsRng).to_bytes())
    }

    /// A key from a 32-byte Ed25519 seed (the RFC 8032 private key).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        let key = SigningKey::from_bytes(seed);
        Ok(Self {
            id: signer_id(name, &key.verifying_key())?,
            key,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex8 key ID>+<base64(0x01 || 32-byte seed)>`.
    /// Error messages never contain the seed.
    pub fn from_private_key_str(s: &str) -> Result<Self, NoteError> {
        let rest = s.strip_prefix(PRIVATE_PREFIX).ok_or_else(|| {
            NoteError::MalformedPrivateKey("does not start with PRIVATE+KEY+".into())
        })?;
        let (name, claimed, seed) = parse_key_string(rest, NoteError::MalformedPrivateKey)?;
        let signer = Self::from_seed(name, &seed)?;
        check_key_id(claimed, &signer.id)?;
        Ok(signer)
    }

    /// The `PRIVATE+KEY+...` string. It is a secret: store and pass it as one.
    pub fn to_private_key_string(&self) -> String {
        format!(
            "{PRIVATE_PREFIX}{}",
            key_string(&self.id, self.key.as_bytes())
        )
    }

    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            id: self.id.clone(),
            key: self.key.verifying_key(),
        }
    }

    pub fn id(&self) -> &SignerId {
        &self.id
    }

    /// Signs `text` and returns the whole note: text, blank line, one signature line.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        if !text.ends_with('\n') {
            return Err(NoteError::MissingFinalNewline);
        }
        check_controls(text)?;
        let mut raw = self.id.key_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.key.sign(text.as_bytes()).to_bytes());
        let note = format!("{text}\n{SIG_PREFIX}{} {}\n", self.id.name, B64.encode(raw));
        if note.len() > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge(note.len()));
        }
        Ok(note)
    }

    /// Signs arbitrary bytes with this key (Ed25519). Used for envelopes, not notes.
    pub fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

fn check_controls(s: &str) -> Result<(), NoteError> {
    match s.bytes().enumerate().find(|&(_, b)| b < 0x20 && b != b'\n') {
        Some((offset, byte)) => Err(NoteError::ControlCharacter { offset, byte }),
        None => Ok(()),
    }
}

/// A note whose signatures checked out: its text (with its final `\n`) and the known
/// keys whose signatures verified, each once, in order of first appearance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedNote {
    pub text: String,
    pub signers: Vec<SignerId>,
}

impl OpenedNote {
    pub fn is_signed_by(&self, v: &NoteVerifier) -> bool {
        self.signers.contains(&v.id)
    }
}

/// Splits `— <name> <base64>`; the decoded signature has at least 5 bytes.
fn parse_sig_line(line: &str) -> Result<(SignerId, Vec<u8>), &'static str> {
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or("does not start with an em dash and space")?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or("no space between name and signature")?;
    validate_key_name(name).map_err(|_| "invalid key name")?;
    let raw = B64
        .decode(b64)
        .map_err(|_| "signature is not valid base64")?;
    match raw.split_first_chunk::<4>() {
        Some((id, sig)) if !sig.is_empty() => {
            let key_id = u32::from_be_bytes(*id);
            Ok((
                SignerId {
                    name: name.to_owned(),
                    key_id,
                },
                sig.to_vec(),
            ))
        }
        _ => Err("signature shorter than 5 bytes"),
    }
}

/// Parses `note` and verifies it against `verifiers` (see the module invariants).
pub fn open(note: &str, verifiers: &[NoteVerifier]) -> Result<OpenedNote, NoteError> {
    if note.len() > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge(note.len()));
    }
    check_controls(note)?;
    let split = note.rfind("\n\n").ok_or(NoteError::MissingSeparator)?;
    let (text, block) = (&note[..split + 1], &note[split + 2..]);
    if block.is_empty() {
        return Err(NoteError::EmptySignatureBlock);
    }
    let block = block
        .strip_suffix('\n')
        .ok_or(NoteError::UnterminatedSignatureBlock)?;
    let lines: Vec<&str> = block.split('\n').collect();
    if lines.len() > MAX_SIGNATURES {
        return Err(NoteError::TooManySignatures);
    }
    // 1-based note line number of the first signature line: text lines + blank line + 1.
    let first_line = text.matches('\n').count() + 2;
    let mut signers: Vec<SignerId> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let malformed = |reason| NoteError::MalformedSignatureLine {
            line: first_line + i,
            reason,
        };
        let (id, sig) = parse_sig_line(line).map_err(malformed)?;
        let mut known = verifiers.iter().filter(|v| v.id == id);
        let Some(v) = known.next() else { continue };
        if known.any(|other| other.key != v.key) {
            return Err(NoteError::AmbiguousVerifier(id));
        }
        let sig = <[u8; 64]>::try_from(sig.as_slice()).map(|b| Signature::from_bytes(&b));
        if !sig.is_ok_and(|sig| v.key.verify_strict(text.as_bytes(), &sig).is_ok()) {
            return Err(NoteError::BadSignature(id));
        }
        if !signers.contains(&id) {
            signers.push(id);
        }
    }
    if signers.is_empty() {
        return Err(NoteError::NoKnownSignature);
    }
    Ok(OpenedNote {
        text: text.to_owned(),
        signers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use NoteError as E;

    const EX_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const EX_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    /// Seed 0x00..=0x1f, name "provledger.test/log", text "hello\n"; cross-checked
    /// with Python `cryptography`'s Ed25519 (RFC 8032 signatures are deterministic).
    const FIXED_NOTE: &str = "hello\n\n\u{2014} provledger.test/log zdbtrbCB8qZ4IxEGL9BaMuh6upuVa6ngpVI4rJA32UgutelhwQq7kVTch1z0fFcvy569zJn9RWfo5C2apY591ftvWQY=\n";
    const FIXED_VKEY: &str =
        "provledger.test/log+cdd6edad+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";

    fn published(key: &str) -> String {
        let json = include_str!("../tests/vectors/rfc6962-sha256.json");
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        v["published"][key].as_str().unwrap().to_owned()
    }

    fn verifier(vkey: &str) -> NoteVerifier {
        NoteVerifier::from_vkey(vkey).unwrap()
    }

    /// `EX_NOTE` with `from` replaced by `to`, opened with the example key: its error.
    fn ex_err(from: &str, to: &str) -> NoteError {
        open(&EX_NOTE.replace(from, to), &[verifier(EX_VKEY)]).unwrap_err()
    }

    /// The reason a note's line 3 (its only signature line) is malformed.
    fn line3(note: &str) -> &'static str {
        match open(note, &[]) {
            Err(E::MalformedSignatureLine { line: 3, reason }) => reason,
            other => panic!("{note:?}: {other:?}"),
        }
    }

    fn vkey_err(vkey: &str) -> NoteError {
        NoteVerifier::from_vkey(vkey).unwrap_err()
    }

    fn fixed_signer() -> NoteSigner {
        let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
        NoteSigner::from_seed("provledger.test/log", &seed).unwrap()
    }

    /// Re-encodes the last signature line of `note` after applying `f` to its raw bytes.
    fn tamper_sig(note: &str, f: impl FnOnce(&mut Vec<u8>)) -> String {
        let (head, b64) = note.trim_end().rsplit_once(' ').unwrap();
        let mut raw = B64.decode(b64).unwrap();
        f(&mut raw);
        format!("{head} {}\n", B64.encode(raw))
    }

    #[test]
    fn published_notes_verify() {
        assert_eq!(published("c2sp_note_example"), EX_NOTE);
        assert_eq!(published("c2sp_note_example_vkey"), EX_VKEY);
        let v = verifier(EX_VKEY);
        assert_eq!(v.id().to_string(), "example.com/foo+530d903a");
        assert_eq!(v.to_vkey(), EX_VKEY);
        let opened = open(EX_NOTE, std::slice::from_ref(&v)).unwrap();
        assert_eq!(opened.text, "This is an example message.\n");
        assert_eq!(opened.signers, [v.id().clone()]);

        let v = verifier(&published("tessera_testdata_vkey"));
        assert_eq!(v.to_vkey(), published("tessera_testdata_vkey"));
        let opened = open(&published("tessera_testdata_checkpoint"), &[v]).unwrap();
        assert!(opened.text.starts_with("example.com/log/testdata\n15\n"));
        assert_eq!(opened.signers[0].name, "example.com/log/testdata");
    }

    #[test]
    fn tampering_is_rejected() {
        let bad = E::BadSignature(verifier(EX_VKEY).id().clone());
        assert_eq!(ex_err("an example", "an exbmple"), bad);
        let ex_tampered = |f: fn(&mut Vec<u8>)| ex_err(EX_NOTE, &tamper_sig(EX_NOTE, f));
        assert_eq!(ex_tampered(|r| r[10] ^= 1), bad);
        assert_eq!(ex_tampered(|r| r.truncate(67)), bad);
        // A changed key ID makes the signature an unknown one, hence ignored.
        assert_eq!(ex_tampered(|r| r[0] ^= 1), E::NoKnownSignature);
    }

    #[test]
    fn unknown_signers_are_ignored_but_bad_known_ones_reject() {
        let known = fixed_signer();
        let other = NoteSigner::generate("other.example/k").unwrap();
        let text = "multi\n";
        let other_line = other.sign(text).unwrap().split_off(text.len() + 1);
        let only_other = open(&other.sign(text).unwrap(), &[known.verifier()]);
        assert_eq!(only_other, Err(E::NoKnownSignature));
        let both = format!("{}{other_line}", known.sign(text).unwrap());
        let opened = open(&both, &[known.verifier()]).unwrap();
        assert_eq!(opened.signers, [known.id().clone()]);
        // Both known: both verify, each listed once even if a line repeats.
        let twice = format!("{both}{other_line}");
        let opened = open(&twice, &[other.verifier(), known.verifier()]).unwrap();
        assert_eq!(opened.signers, [known.id().clone(), other.id().clone()]);
        // A good known signature does not excuse a bad known one.
        let bad_line = tamper_sig(&known.sign(text).unwrap(), |r| r[20] ^= 0x80);
        let mixed = format!("{both}{}", &bad_line[text.len() + 1..]);
        let err = open(&mixed, &[known.verifier()]);
        assert_eq!(err, Err(E::BadSignature(known.id().clone())));
        // Same name, different key: ignored, as the key IDs differ.
        let impostor = NoteSigner::generate(&known.id().name).unwrap();
        let err = open(&impostor.sign(text).unwrap(), &[known.verifier()]);
        assert_eq!(err, Err(E::NoKnownSignature));
    }

    #[test]
    fn malformed_notes_are_rejected() {
        let (text, sig) = EX_NOTE.split_once("\n\n").unwrap();
        let control = |offset, byte| E::ControlCharacter { offset, byte };
        assert_eq!(ex_err("This is", "This\tis"), control(4, b'\t'));
        assert_eq!(ex_err("\n", "\r\n"), control(text.len(), b'\r'));
        assert_eq!(ex_err("QM=\n", "QM="), E::UnterminatedSignatureBlock);
        assert_eq!(ex_err("\n\n", "\n"), E::MissingSeparator);
        assert_eq!(ex_err(sig, ""), E::EmptySignatureBlock);
        assert_eq!(ex_err("QM=\n", "QM=\n\n"), E::EmptySignatureBlock);
        let many = sig.repeat(MAX_SIGNATURES + 1);
        assert_eq!(ex_err(sig, &many), E::TooManySignatures);
        let huge = "x".repeat(MAX_NOTE_SIZE);
        assert_eq!(
            ex_err("This", &huge),
            E::TooLarge(huge.len() + EX_NOTE.len() - 4)
        );

        assert!(line3(&EX_NOTE.replace('—', "-")).contains("em dash"));
        assert!(line3(&EX_NOTE.replace("foo ", "foo")).contains("no space"));
        assert!(line3(&EX_NOTE.replace("foo ", "foo+x ")).contains("key name"));
        assert!(line3(&EX_NOTE.replace("QM=", "QM")).contains("base64"));
        assert!(line3(&EX_NOTE.replace("QM=", "Q!=")).contains("base64"));
        assert!(line3("a\n\n\u{2014} x AAAAAA==\n").contains("shorter than 5"));
    }

    #[test]
    fn sign_validates_text_and_round_trips() {
        let s = NoteSigner::generate("provledger.test/round").unwrap();
        assert_eq!(s.sign(""), Err(E::MissingFinalNewline));
        assert_eq!(s.sign("hello"), Err(E::MissingFinalNewline));
        let esc = E::ControlCharacter {
            offset: 1,
            byte: 0x1b,
        };
        assert_eq!(s.sign("a\x1bb\n"), Err(esc));
        let huge = "x\n".repeat(MAX_NOTE_SIZE / 2);
        assert!(matches!(s.sign(&huge), Err(E::TooLarge(_))));
        let texts = [
            "hello\n",
            "\n",
            "a\n\nb\n",
            "blank\n\n",
            "ünï — ok\n",
            "\x7f\n",
        ];
        for text in texts {
            let opened = open(&s.sign(text).unwrap(), &[s.verifier()]).unwrap();
            assert_eq!(opened.text, text);
            assert!(opened.is_signed_by(&s.verifier()));
        }
    }

    #[test]
    fn fixed_vector_is_pinned() {
        let s = fixed_signer();
        assert_eq!(s.sign("hello\n").unwrap(), FIXED_NOTE);
        assert_eq!(s.sign("hello\n").unwrap(), FIXED_NOTE, "deterministic");
        assert_eq!(s.verifier().to_vkey(), FIXED_VKEY);
        let opened = open(FIXED_NOTE, &[verifier(FIXED_VKEY)]).unwrap();
        assert_eq!(opened.text, "hello\n");
    }

    #[test]
    fn vkey_parsing_checks_everything() {
        let (name_id, b64) = EX_VKEY.rsplit_once('+').unwrap(); // no '+' in this base64
        let mut raw = B64.decode(b64).unwrap();
        let wrong_id = EX_VKEY.replace("530d903a", "530d903b");
        let mismatch = E::KeyIdMismatch {
            claimed: 0x530d903b,
            computed: 0x530d903a,
        };
        assert_eq!(vkey_err(&wrong_id), mismatch);
        let spaced = E::InvalidKeyName("example.com/f o".into());
        assert_eq!(vkey_err(&EX_VKEY.replace("foo", "f o")), spaced);
        let upper = EX_VKEY.replace("530d903a", "530D903A");
        let short = format!("{name_id}+{}", B64.encode(&raw[..32]));
        let bad_b64 = format!("{name_id}+!!");
        for bad in [&upper, "a+b", &format!("{EX_VKEY}+x"), &bad_b64, &short] {
            assert!(matches!(vkey_err(bad), E::MalformedVkey(_)), "{bad}");
        }
        raw[0] = 0x04;
        let alg4 = format!("{name_id}+{}", B64.encode(&raw));
        assert_eq!(vkey_err(&alg4), E::UnsupportedAlgorithm(4));
    }

    #[test]
    fn key_names() {
        for ok in ["a", "example.com/log", "ünï/cødé", "x=y"] {
            assert_eq!(validate_key_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "a b", "a+b", "a\tb", "a\u{a0}b", "a\u{2003}b", "\u{1}"] {
            assert!(validate_key_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn private_key_round_trip_and_secrecy() {
        let s = NoteSigner::generate("provledger.test/priv").unwrap();
        let sk = s.to_private_key_string();
        assert!(sk.starts_with(&format!("PRIVATE+KEY+{}+", s.id())));
        let parsed = NoteSigner::from_private_key_str(&sk).unwrap();
        assert_eq!(parsed.verifier().to_vkey(), s.verifier().to_vkey());
        assert_eq!(verifier(&s.verifier().to_vkey()), s.verifier());
        assert_eq!(format!("{parsed:?}"), format!("NoteSigner({})", s.id()));
        let priv_err = |s: &str| NoteSigner::from_private_key_str(s).unwrap_err();
        let no_prefix = sk.replace("+KEY+", "+");
        assert!(matches!(priv_err(&no_prefix), E::MalformedPrivateKey(_)));
        let flipped = format!("{}+{:08x}", s.id().name, !s.id().key_id);
        let wrong_id = sk.replacen(&s.id().to_string(), &flipped, 1);
        assert!(matches!(priv_err(&wrong_id), E::KeyIdMismatch { .. }));
        let seed_b64 = sk.splitn(5, '+').nth(4).unwrap();
        let err = priv_err(&format!("{sk}A")).to_string();
        assert!(!err.contains(seed_b64), "{err}");
    }
}
