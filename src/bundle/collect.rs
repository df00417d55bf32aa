//! Building a bundle from a server through the [`VerifiedClient`]: every answer and entry is
//! verified as it arrives, the signers' key registration chains are gathered back to the genesis
//! entry, and the finished bundle is verified once more, offline, before it is returned.

use super::{Bundle, BundleEntry, Claim, FORMAT};
use crate::client::trust::Trusted;
use crate::client::{ClientError, VerifiedClient};
use crate::proto::{DescendantsRequest, LogLeaf, RecordRef, TraceRequest, descendants_request};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};

/// The checkpoint a bundle is proven against: the latest (`as_of` 0) or the one the log
/// published at exactly `as_of`; either is checked against the trusted state first.
async fn pin(client: &mut VerifiedClient, as_of: u64) -> Result<Trusted, ClientError> {
    if as_of == 0 {
        Ok(client.checkpoint().await?.0)
    } else {
        client.checkpoint_at(as_of).await
    }
}

/// A bundle proving the trace of `record` (its whole ancestry up to `max_depth`, 0 = the
/// server's limit) as of a published checkpoint (`as_of` 0 = the latest).
pub async fn trace(
    client: &mut VerifiedClient,
    record: RecordRef,
    max_depth: u32,
    as_of: u64,
) -> Result<Bundle, ClientError> {
    let trusted = pin(client, as_of).await?;
    let size = trusted.checkpoint.size;
    let mut answer = client
        .trace(TraceRequest {
            record: Some(record),
            max_depth,
            as_of: size,
            with_proofs: true,
            min_tree_size: size,
        })
        .await?;
    answer.checkpoint = None;
    let mut entries = BTreeMap::new();
    for node in &mut answer.nodes {
        for e in &mut node.events {
            // Proven again against the pinned checkpoint, which the answer's may be newer than.
            e.proof = None;
            e.leaf.clear();
            let entry = client.entry_in(e.index, &trusted).await?;
            entries.insert(e.index, bundle_entry(&entry));
        }
    }
    finish(client, &trusted, entries, Claim::Trace { answer }).await
}

/// A bundle proving the blast radius from `from` as of a published checkpoint (`as_of` 0 = the
/// latest): every page, and the entry that brought each record in.
pub async fn blast_radius(
    client: &mut VerifiedClient,
    from: descendants_request::From,
    as_of: u64,
) -> Result<Bundle, ClientError> {
    let trusted = pin(client, as_of).await?;
    let size = trusted.checkpoint.size;
    let request = DescendantsRequest {
        from: Some(from),
        as_of: size,
        ..Default::default()
    };
    let ask = DescendantsRequest {
        min_tree_size: size,
        ..request.clone()
    };
    let mut answer = client
        .lineage()
        .descendants(ask.clone())
        .await?
        .into_inner();
    while !answer.next_page_token.is_empty() {
        let mut next = ask.clone();
        next.page_token = std::mem::take(&mut answer.next_page_token);
        let page = client.lineage().descendants(next).await?.into_inner();
        answer.records.extend(page.records);
        answer.next_page_token = page.next_page_token;
    }
    let mut entries = BTreeMap::new();
    for d in &answer.records {
        if let std::collections::btree_map::Entry::Vacant(slot) = entries.entry(d.index) {
            let entry = client.entry_in(d.index, &trusted).await?;
            slot.insert(bundle_entry(&entry));
        }
    }
    finish(
        client,
        &trusted,
        entries,
        Claim::BlastRadius {
            request: Box::new(request),
            answer,
        },
    )
    .await
}

fn bundle_entry(e: &crate::client::verified::VerifiedEntry) -> BundleEntry {
    BundleEntry {
        index: e.index,
        leaf: STANDARD.encode(&e.leaf),
        proof: e.proof.iter().map(|h| STANDARD.encode(h)).collect(),
    }
}

fn signer_of(leaf: &[u8]) -> Result<String, ClientError> {
    LogLeaf::decode(leaf)
        .ok()
        .and_then(|l| l.envelope)
        .map(|e| e.key_id)
        .ok_or_else(|| ClientError::Invalid("a verified leaf does not decode".into()))
}

/// Adds the key entries that chain every signer back to the genesis entry, then verifies the
/// bundle offline.
async fn finish(
    client: &mut VerifiedClient,
    trusted: &Trusted,
    mut entries: BTreeMap<u64, BundleEntry>,
    claim: Claim,
) -> Result<Bundle, ClientError> {
    let keys = client.list_keys().await?;
    let by_name: BTreeMap<String, (u64, Option<u64>)> = keys
        .keys
        .iter()
        .filter_map(|k| {
            let vkey = &k.registration.as_ref()?.vkey;
            let name = crate::note::NoteVerifier::from_vkey(vkey)
                .ok()?
                .id()
                .name
                .clone();
            Some((name, (k.registered_at, k.revoked.then_some(k.revoked_at))))
        })
        .collect();
    let mut signers: BTreeSet<String> = BTreeSet::new();
    for e in entries.values() {
        let leaf = crate::json::dsse::decode_base64(&e.leaf).map_err(ClientError::Invalid)?;
        signers.insert(signer_of(&leaf)?);
    }
    let mut done: BTreeSet<String> = BTreeSet::new();
    while let Some(name) = signers.pop_first() {
        if !done.insert(name.clone()) {
            continue;
        }
        let &(registered, revoked) = by_name.get(&name).ok_or_else(|| {
            ClientError::Invalid(format!("the server's key list lacks signer {name:?}"))
        })?;
        for index in std::iter::once(registered).chain(revoked) {
            if index >= trusted.checkpoint.size || entries.contains_key(&index) {
                continue;
            }
            let entry = client.entry_in(index, trusted).await?;
            signers.insert(signer_of(&entry.leaf)?);
            entries.insert(index, bundle_entry(&entry));
        }
    }
    let bundle = Bundle {
        format: FORMAT.to_string(),
        checkpoint: trusted.note.clone(),
        entries: entries.into_values().collect(),
        claim,
    };
    super::verify(&bundle, client.state().log_key())
        .map_err(|e| ClientError::Invalid(format!("the collected bundle does not verify: {e}")))?;
    Ok(bundle)
}
