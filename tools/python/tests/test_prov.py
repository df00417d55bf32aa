"""The W3C PROV package installs and round-trips a PROV-JSON document built by hand."""

import json

from prov.model import ProvDocument

DOC = {
    "prefix": {
        "pl": "https://provledger.example/ns#",
        "sf": "https://salesforce.example/00D000000000001/",
    },
    "entity": {
        "sf:Lead/00Q000000000001": {
            "prov:type": {"$": "pl:Record", "type": "prov:QUALIFIED_NAME"},
            "pl:origin": "SYNTHETIC",
        }
    },
    "activity": {"pl:run-7": {"prov:startTime": "2023-11-14T22:13:20+00:00"}},
    "agent": {"pl:synth-gen.pyclient": {"prov:type": {"$": "prov:SoftwareAgent", "type": "prov:QUALIFIED_NAME"}}},
    "wasGeneratedBy": {"_:g1": {"prov:entity": "sf:Lead/00Q000000000001", "prov:activity": "pl:run-7"}},
    "wasAssociatedWith": {"_:a1": {"prov:activity": "pl:run-7", "prov:agent": "pl:synth-gen.pyclient"}},
}


def test_prov_json_round_trip():
    doc = ProvDocument.deserialize(content=json.dumps(DOC), format="json")
    records = doc.get_records()
    assert len(records) == 5
    kinds = sorted(type(r).__name__ for r in records)
    assert kinds == ["ProvActivity", "ProvAgent", "ProvAssociation", "ProvEntity", "ProvGeneration"]
    lead = doc.get_record("sf:Lead/00Q000000000001")[0]
    assert dict((str(k), str(v)) for k, v in lead.attributes)["pl:origin"] == "SYNTHETIC"

    again = ProvDocument.deserialize(content=doc.serialize(format="json"), format="json")
    assert again == doc
    assert json.loads(again.serialize(format="json"))["entity"].keys() == DOC["entity"].keys()
