//! What a client checks of server answers, offline (`client::verify_events`,
//! `verify_receipt`, `verify_checkpoint`): a `HistoryResponse`, `TraceResponse` or
//! `AppendResponse` decoded from the input (the first byte picks which), verified with the
//! fixture log key.
//!
//! Properties: an answer that verifies has a checkpoint note signed by the log key whose size
//! and root are the message's; every event it carries is below that size, its leaf decodes to a
//! `LogLeaf` whose envelope's payload is exactly the event shown, signed by the key shown; a
//! receipt that verifies is for an index below the checkpoint's size. Refusals never panic.

use crate::fixtures;
use prost::Message;
use provledger::client::{verify_events, verify_receipt};
use provledger::proto::{
    AppendResponse, Checkpoint, HistoryResponse, LogLeaf, ProvenanceEvent, RecordEvent,
    TraceResponse,
};

pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            if let Ok(answer) = HistoryResponse::decode(rest) {
                check_events(&answer.events, answer.checkpoint.as_ref());
            }
        }
        1 => {
            if let Ok(answer) = TraceResponse::decode(rest) {
                let events: Vec<RecordEvent> =
                    answer.nodes.into_iter().flat_map(|n| n.events).collect();
                check_events(&events, answer.checkpoint.as_ref());
            }
        }
        _ => {
            if let Ok(receipt) = AppendResponse::decode(rest) {
                check_receipt(&receipt);
            }
        }
    }
}

fn check_events(events: &[RecordEvent], checkpoint: Option<&Checkpoint>) {
    let Ok(verified) = verify_events(events, checkpoint, &fixtures::log_verifier()) else {
        return;
    };
    let shown = checkpoint.expect("verified with a checkpoint");
    assert_eq!(
        (verified.size, verified.root.as_slice()),
        (shown.size, shown.root_hash.as_slice())
    );
    for e in events {
        assert!(
            e.index < verified.size,
            "event {} beyond size {}",
            e.index,
            verified.size
        );
        let leaf = LogLeaf::decode(e.leaf.as_slice()).expect("a verified leaf decodes");
        let envelope = leaf.envelope.unwrap_or_default();
        assert_eq!(envelope.key_id, e.key_id);
        let signed = ProvenanceEvent::decode(envelope.payload.as_slice()).expect("decodes");
        assert_eq!(Some(&signed), e.event.as_ref());
    }
}

fn check_receipt(receipt: &AppendResponse) {
    let Ok(verified) = verify_receipt(receipt, &fixtures::log_verifier()) else {
        return;
    };
    assert!(receipt.index < verified.size);
    assert_eq!(receipt.leaf_hash.len(), 32);
    let shown = receipt
        .checkpoint
        .as_ref()
        .expect("verified with a checkpoint");
    assert_eq!(
        (verified.size, verified.root.as_slice()),
        (shown.size, shown.root_hash.as_slice())
    );
}
