"""A pure-Python client for provledger, written from the README's "Verification" section.

Modules:

- ``merkle``: the RFC 6962/9162 tree over BLAKE3 (or any hash), proofs and their verification;
- ``ed25519``: Ed25519 verification as strict as ed25519-dalek's ``verify_strict``;
- ``note``: C2SP signed notes: key IDs, vkeys, private keys, signing and opening notes, and
  tlog-checkpoint bodies;
- ``envelope``: the DSSE pre-authentication encoding, signing and verifying envelopes;
- ``receipt``: checking what ``Append`` answers (needs the generated protobuf stubs).
"""
