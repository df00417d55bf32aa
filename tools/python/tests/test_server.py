"""Against a real `provledger serve`: sign events in Python, append them, and verify every answer
offline with nothing but the log's vkey and the code in provledger_client."""

import base64
import itertools

import blake3
import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from provledger.v1 import event_pb2, keys_pb2, log_pb2

from provledger_client import envelope, merkle, receipt
from provledger_client.note import NoteError, Signer, Verifier, b64encode, open_checkpoint

from conftest import ORIGIN, cli, value_after

TRAINED_ALGORITHMIC_DATA = "http://c2pa.org/digitalsourcetype/trainedAlgorithmicData"
DIGITAL_CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
CONTENT_KEY = bytes(range(32))  # the producer's key for content hashes
_ids = itertools.count(1)


def lead(i: int) -> event_pb2.RecordRef:
    return event_pb2.RecordRef(
        system="salesforce", tenant="00D000000000001", object_type="Lead", record_id=f"00Q{i:012d}"
    )


def generated_event(i: int, environment: str = "sandbox", origin=event_pb2.SYNTHETIC) -> event_pb2.ProvenanceEvent:
    return event_pb2.ProvenanceEvent(
        subject=lead(i),
        action=event_pb2.GENERATED,
        origin=origin,
        environment=environment,
        content_hash=blake3.blake3(f"synthetic lead {i}".encode(), key=CONTENT_KEY).digest(),
        occurred_at=Timestamp(seconds=1_700_000_000 + i),
        attributes={"__provenance_hash": f"run-7/{i}"},
        generator=event_pb2.Generator(
            source="synth-gen.pyclient", model="lead-gen", model_version="3.1", run_id="run-7"
        ),
        digital_source_type=TRAINED_ALGORITHMIC_DATA,
    )


def signed(signer: Signer, event, payload_type=envelope.EVENT_PAYLOAD_TYPE) -> log_pb2.SignedEvent:
    return receipt.to_signed_event(envelope.sign(signer, payload_type, event.SerializeToString()))


def append(log, sent: log_pb2.SignedEvent) -> log_pb2.AppendResponse:
    return log.stub.Append(log_pb2.AppendRequest(event=sent), timeout=30)


def leaf_at(log, index: int) -> bytes:
    entries = log.stub.GetEntries(log_pb2.GetEntriesRequest(start=index, count=1), timeout=30).entries
    assert [e.index for e in entries] == [index]
    return entries[0].leaf


def append_verified(log, sent):
    """Appends and verifies the receipt; returns (response, verified checkpoint)."""
    r = append(log, sent)
    cp = receipt.verify_append(r, sent, leaf_at(log, r.index), log.log_key)
    return r, cp


def latest(log) -> log_pb2.Checkpoint:
    return log.stub.GetCheckpoint(log_pb2.GetCheckpointRequest(size=0), timeout=30)


def refused(log, sent) -> grpc.StatusCode:
    """Appends what must be refused; checks nothing was written; returns the status code."""
    before = receipt.verify_checkpoint(latest(log), log.log_key).size
    with pytest.raises(grpc.RpcError) as e:
        append(log, sent)
    after = receipt.verify_checkpoint(latest(log), log.log_key).size
    assert after == before, "a refused append changed the log"
    return e.value.code()


def flip(b: bytes, bit: int = 0) -> bytes:
    out = bytearray(b)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def test_log_key_is_the_one_init_printed(log):
    printed = value_after(log.init_out, "log vkey:")
    assert log.vkey == printed
    assert log.log_key.name == ORIGIN
    assert log.log_key.vkey() == log.vkey


def test_append_generated_event_and_verify_receipt(log, generator):
    sent = signed(generator, generated_event(next(_ids)))
    r, cp = append_verified(log, sent)
    assert not r.duplicate
    assert cp.origin == ORIGIN and cp.size == r.index + 1 >= 3
    print(f"appended at index {r.index}; inclusion proof of {len(r.proof.hashes)} hashes "
          f"verified against the signed checkpoint of size {cp.size}")

    # The README: resubmitting identical signed bytes returns the original index, duplicate.
    again = append(log, sent)
    assert (again.index, again.duplicate, again.leaf_hash) == (r.index, True, r.leaf_hash)
    receipt.verify_append(again, sent, leaf_at(log, again.index), log.log_key)

    # The leaf is a LogLeaf wrapping the envelope; its payload is the event as signed.
    logged = log_pb2.LogLeaf.FromString(leaf_at(log, r.index))
    assert logged.envelope.payload == sent.payload
    assert logged.logged_at.seconds > 1_600_000_000
    envelope.verify(logged.envelope, generator.verifier)


def test_receipt_tampering_is_detected(log, generator):
    sent = signed(generator, generated_event(next(_ids)))
    r = append(log, sent)
    leaf = leaf_at(log, r.index)
    cp = receipt.verify_append(r, sent, leaf, log.log_key)
    assert len(r.proof.hashes) >= 2, "the log is too small for a meaningful proof"

    for i in range(len(r.proof.hashes)):
        for bit in (0, 131, 255):
            bad = log_pb2.AppendResponse()
            bad.CopyFrom(r)
            bad.proof.hashes[i] = flip(r.proof.hashes[i], bit)
            with pytest.raises(receipt.ReceiptError, match="inclusion proof"):
                receipt.verify_append(bad, sent, leaf, log.log_key)

    lh = merkle.leaf_hash(leaf)
    for bit in (0, 77, 255):
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(r.index, cp.size, lh, list(r.proof.hashes), flip(cp.root, bit))
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(r.index, cp.size, flip(lh, 3), list(r.proof.hashes), cp.root)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(r.index ^ 1, cp.size, lh, list(r.proof.hashes), cp.root)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(r.index, cp.size, lh, list(r.proof.hashes)[:-1], cp.root)

    # The checkpoint message's root differs from the signed note's.
    bad = log_pb2.AppendResponse()
    bad.CopyFrom(r)
    bad.checkpoint.root_hash = flip(r.checkpoint.root_hash, 9)
    with pytest.raises(receipt.ReceiptError, match="differ"):
        receipt.verify_append(bad, sent, leaf, log.log_key)

    # A flipped bit in the note's signature, its root or its size; another key; a leaf not sent.
    note = r.checkpoint.note
    text, sig_line = note.split("\n\n")
    name, sig_b64 = sig_line.rstrip("\n").rsplit(" ", 1)
    raw = base64.b64decode(sig_b64)
    for bit in (40, 300, 543):  # past the 4-byte key ID: R, S
        tampered = f"{text}\n\n{name} {b64encode(flip(raw, bit))}\n"
        with pytest.raises(NoteError, match="does not verify"):
            open_checkpoint(tampered, log.log_key)
    lines = text.split("\n")
    other_root = b64encode(flip(cp.root, 200))
    for forged in ([lines[0], str(cp.size + 1), lines[2]], [lines[0], lines[1], other_root]):
        with pytest.raises(NoteError, match="does not verify"):
            open_checkpoint("\n".join(forged) + "\n\n" + sig_line, log.log_key)
    impostor = Signer.generate(log.log_key.name)
    with pytest.raises(NoteError, match="no signature by a known key"):
        open_checkpoint(note, impostor.verifier)
    with pytest.raises(NoteError, match="no signature by a known key"):
        open_checkpoint(impostor.sign_note(text + "\n"), log.log_key)
    other = signed(generator, generated_event(next(_ids)))
    with pytest.raises(receipt.ReceiptError, match="envelope"):
        receipt.verify_append(r, other, leaf, log.log_key)


def test_consistency_between_two_checkpoints(log, generator):
    _, first = append_verified(log, signed(generator, generated_event(next(_ids))))
    second = first
    for _ in range(5):
        _, second = append_verified(log, signed(generator, generated_event(next(_ids))))
    assert second.size == first.size + 5

    # The log stores every checkpoint it publishes: the first is still served as signed.
    stored = log.stub.GetCheckpoint(log_pb2.GetCheckpointRequest(size=first.size), timeout=30)
    assert receipt.verify_checkpoint(stored, log.log_key) == first

    proof = log.stub.GetConsistencyProof(
        log_pb2.GetConsistencyProofRequest(first_size=first.size, second_size=second.size), timeout=30
    )
    receipt.verify_consistency(proof, first, second)
    print(f"consistency proof {first.size} -> {second.size} ({len(proof.hashes)} hashes) verified")

    for i in range(len(proof.hashes)):
        bad = list(proof.hashes)
        bad[i] = flip(bad[i], 100)
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(first.size, second.size, first.root, second.root, bad)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(first.size, second.size, flip(first.root, 1), second.root, list(proof.hashes))
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(first.size, second.size, first.root, flip(second.root, 1), list(proof.hashes))
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(first.size - 1, second.size, first.root, second.root, list(proof.hashes))

    # The empty tree is a prefix of every tree and a size of its own: empty proofs.
    for a, b in [(0, second.size), (second.size, second.size), (first.size, first.size)]:
        p = log.stub.GetConsistencyProof(log_pb2.GetConsistencyProofRequest(first_size=a, second_size=b), timeout=30)
        assert (p.first_size, p.second_size, list(p.hashes)) == (a, b, [])
    merkle.verify_consistency(0, second.size, merkle.empty_root(), second.root, [])
    # second_size 0 asks for the latest size; the answer says which.
    p = log.stub.GetConsistencyProof(log_pb2.GetConsistencyProofRequest(first_size=first.size), timeout=30)
    assert p.second_size == second.size
    receipt.verify_consistency(p, first, second)

    # Every stored checkpoint from size 1 on is consistent with the latest.
    for size in range(1, second.size + 1):
        cp = receipt.verify_checkpoint(
            log.stub.GetCheckpoint(log_pb2.GetCheckpointRequest(size=size), timeout=30), log.log_key
        )
        p = log.stub.GetConsistencyProof(
            log_pb2.GetConsistencyProofRequest(first_size=size, second_size=second.size), timeout=30
        )
        receipt.verify_consistency(p, cp, second)

    # Proofs beyond the log and backwards proofs are refused with the documented codes.
    with pytest.raises(grpc.RpcError) as e:
        log.stub.GetConsistencyProof(
            log_pb2.GetConsistencyProofRequest(first_size=second.size, second_size=first.size), timeout=30
        )
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as e:
        log.stub.GetInclusionProof(
            log_pb2.GetInclusionProofRequest(leaf_index=0, tree_size=second.size + 1000), timeout=30
        )
    assert e.value.code() == grpc.StatusCode.OUT_OF_RANGE


def test_whole_log_recomputed_and_every_entry_checked_offline(log, generator):
    append_verified(log, signed(generator, generated_event(next(_ids))))
    cp = receipt.verify_checkpoint(latest(log), log.log_key)
    entries = log.stub.GetEntries(log_pb2.GetEntriesRequest(start=0, count=cp.size), timeout=30).entries
    assert [e.index for e in entries] == list(range(cp.size))
    leaves = [e.leaf for e in entries]
    assert merkle.root(leaves) == cp.root, "the Python tree over GetEntries differs from the signed root"

    # The key registry, replayed from the log itself: entry 0 registers the first admin key,
    # signed by itself; every other entry is signed by a key registered before it.
    keys = {}
    for index, leaf in enumerate(leaves):
        env = log_pb2.LogLeaf.FromString(leaf).envelope
        if index == 0:
            action = keys_pb2.KeyAction.FromString(env.payload)
            keys[env.key_id] = Verifier.from_vkey(action.register.vkey)
        envelope.verify(env, keys[env.key_id])
        if env.payload_type == envelope.KEY_PAYLOAD_TYPE:
            action = keys_pb2.KeyAction.FromString(env.payload)
            if action.WhichOneof("action") == "register":
                v = Verifier.from_vkey(action.register.vkey)
                keys[v.name] = v
        else:
            assert env.payload_type == envelope.EVENT_PAYLOAD_TYPE
            event_pb2.ProvenanceEvent.FromString(env.payload)
        lh = merkle.leaf_hash(leaf)
        proof = log.stub.GetInclusionProof(
            log_pb2.GetInclusionProofRequest(leaf_index=index, tree_size=cp.size), timeout=30
        )
        receipt.verify_inclusion(proof, lh, cp)
        by_hash = log.stub.GetInclusionProof(
            log_pb2.GetInclusionProofRequest(leaf_hash=lh, tree_size=cp.size), timeout=30
        )
        assert by_hash.leaf_index == index
        receipt.verify_inclusion(by_hash, lh, cp)
    assert generator.name in keys
    listed = log.stub.ListKeys(log_pb2.ListKeysRequest(), timeout=30)
    assert {Verifier.from_vkey(k.registration.vkey) for k in listed.keys} == set(keys.values())
    print(f"recomputed the root of all {cp.size} leaves and verified every entry's signature and proof")


def test_bad_signatures_and_bad_events_are_refused(log, generator):
    good = signed(generator, generated_event(next(_ids)))

    bad_sig = log_pb2.SignedEvent()
    bad_sig.CopyFrom(good)
    bad_sig.signature = flip(good.signature, 77)
    assert refused(log, bad_sig) == grpc.StatusCode.UNAUTHENTICATED  # README "Appending"

    bad_payload = log_pb2.SignedEvent()
    bad_payload.CopyFrom(good)
    bad_payload.payload = good.payload + b"\x00"
    assert refused(log, bad_payload) == grpc.StatusCode.UNAUTHENTICATED

    wrong_type = log_pb2.SignedEvent()
    wrong_type.CopyFrom(good)
    wrong_type.payload_type = envelope.KEY_PAYLOAD_TYPE  # signed as an event, not a key action
    assert refused(log, wrong_type) == grpc.StatusCode.UNAUTHENTICATED

    short_sig = log_pb2.SignedEvent()
    short_sig.CopyFrom(good)
    short_sig.signature = good.signature[:63]
    assert refused(log, short_sig) == grpc.StatusCode.INVALID_ARGUMENT

    unknown = Signer.generate("unregistered.pyclient/v1")
    assert refused(log, signed(unknown, generated_event(next(_ids)))) == grpc.StatusCode.UNAUTHENTICATED

    # Correctly signed but breaking the rules.
    no_model = generated_event(next(_ids))
    no_model.generator.model = ""
    assert refused(log, signed(generator, no_model)) == grpc.StatusCode.INVALID_ARGUMENT
    garbage = receipt.to_signed_event(envelope.sign(generator, envelope.EVENT_PAYLOAD_TYPE, b"\xff\xff\xff"))
    assert refused(log, garbage) == grpc.StatusCode.INVALID_ARGUMENT
    # GENERATED must declare SYNTHETIC: a field rule.
    real = generated_event(next(_ids), origin=event_pb2.REAL)
    real.digital_source_type = DIGITAL_CAPTURE
    assert refused(log, signed(generator, real)) == grpc.StatusCode.INVALID_ARGUMENT
    # Key scopes: a generator key cannot capture real records (a sync_job's action) nor write
    # outside its environments (sandbox, staging).
    captured = event_pb2.ProvenanceEvent(
        subject=lead(next(_ids)),
        action=event_pb2.CAPTURED,
        origin=event_pb2.REAL,
        environment="sandbox",
        digital_source_type=DIGITAL_CAPTURE,
    )
    assert refused(log, signed(generator, captured)) == grpc.StatusCode.PERMISSION_DENIED
    production = generated_event(next(_ids), environment="production")
    assert refused(log, signed(generator, production)) == grpc.StatusCode.PERMISSION_DENIED

    # And the good one still goes in.
    append_verified(log, good)


def test_keygen_key_file_and_python_signed_key_registration(log, tmp_path):
    """The private key format both ways: Python reads `provledger keygen`'s file and
    `init`'s admin.key, registers the key with a KeyAction it signs itself, then signs with it."""
    key_file = tmp_path / "capture.key"
    printed = cli("keygen", "--name", "capture-job.pyclient/v1", "--out", str(key_file)).stdout.strip()
    job = Signer.from_private_key(key_file.read_text())
    assert job.verifier.vkey() == printed
    assert Signer.from_private_key(job.private_key()).verifier == job.verifier

    admin = Signer.from_private_key(log.admin_key.read_text())
    action = keys_pb2.KeyAction(
        register=keys_pb2.KeyRegistration(
            vkey=job.verifier.vkey(),
            role=keys_pb2.SYNC_JOB,
            allowed_origins=[event_pb2.REAL],
            description="capture job, registered by the Python client",
        )
    )
    r, _ = append_verified(log, signed(admin, action, envelope.KEY_PAYLOAD_TYPE))
    listed = log.stub.ListKeys(log_pb2.ListKeysRequest(), timeout=30).keys
    record = next(k for k in listed if k.registration.vkey == printed)
    assert record.registered_at == r.index and record.registration.role == keys_pb2.SYNC_JOB

    captured = event_pb2.ProvenanceEvent(
        subject=event_pb2.RecordRef(
            system="salesforce", tenant="00D000000000001", object_type="Contact", record_id="003D000000QUPjR"
        ),
        action=event_pb2.CAPTURED,
        origin=event_pb2.REAL,
        environment="production",
        content_hash=blake3.blake3(b"a real contact", key=CONTENT_KEY).digest(),
        digital_source_type=DIGITAL_CAPTURE,
        external_id="0001/1",
    )
    r, cp = append_verified(log, signed(job, captured))
    print(f"keygen's key, registered by a Python-signed KeyAction, appended CAPTURED at {r.index}")
