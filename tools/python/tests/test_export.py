"""provledger's own exports, read by code we did not write: the PROV-JSON export of a generator's
blast radius, loaded with the W3C `prov` package and round-tripped; and the evidence bundle's
checkpoint and entries checked with this client's own verifier."""

import base64
import json

from prov.model import ProvDocument, ProvEntity

from provledger_client import merkle
from provledger_client.note import open_checkpoint

from conftest import cli
from test_server import append_verified, generated_event, signed

SOURCE = "synth-gen.pyclient"


def _export(log, generator, tmp_path, fmt: str):
    # Three Leads of our own, so the export is not empty whatever ran before.
    for i in (9101, 9102, 9103):
        append_verified(log, signed(generator, generated_event(i)))
    out = tmp_path / f"radius.{fmt}"
    cli(
        "export", "blast-radius", "--generator", SOURCE,
        "--server", log.url, "--log-key", log.vkey,
        "--format", fmt, "--out", str(out),
    )
    return out


def test_prov_json_export_round_trips_through_the_prov_package(log, generator, tmp_path):
    path = _export(log, generator, tmp_path, "prov-json")
    text = path.read_text()
    doc = ProvDocument.deserialize(content=text, format="json")
    entities = list(doc.get_records(ProvEntity))
    assert len(entities) >= 3
    labels = {str(v) for e in entities for k, v in e.attributes if str(k) == "prov:label"}
    assert "salesforce/00D000000000001EAA/Lead/00Q000000009101EAA".lower() in {
        label.lower() for label in labels
    }, labels
    # Every generation names an entity and an activity the document defines.
    kinds = {type(r).__name__ for r in doc.get_records()}
    assert {"ProvEntity", "ProvActivity", "ProvAgent", "ProvGeneration", "ProvAttribution"} <= kinds
    again = ProvDocument.deserialize(content=doc.serialize(format="json"), format="json")
    assert again == doc
    assert json.loads(again.serialize(format="json"))["entity"].keys() == json.loads(text)["entity"].keys()


def test_evidence_bundle_entries_verify_with_this_client(log, generator, tmp_path):
    path = _export(log, generator, tmp_path, "bundle")
    bundle = json.loads(path.read_text())
    assert bundle["format"] == "provledger-evidence/v1"
    cp = open_checkpoint(bundle["checkpoint"], log.log_key)
    assert len(bundle["entries"]) >= 4  # three Leads at least, and the genesis entry
    for entry in bundle["entries"]:
        leaf = base64.b64decode(entry["leaf"])
        proof = [base64.b64decode(h) for h in entry["proof"]]
        merkle.verify_inclusion(int(entry["index"]), cp.size, merkle.leaf_hash(leaf), proof, cp.root)
    records = bundle["claim"]["blastRadius"]["answer"]["records"]
    assert int(bundle["claim"]["blastRadius"]["answer"]["total"]) == len(records)
    cli("verify-bundle", str(path), "--log-key", log.vkey)
