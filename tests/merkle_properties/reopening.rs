//! Reopening (property 6): a frontier rebuilt from stored nodes continues exactly like one that
//! never stopped, and a continuous frontier creates every complete node once, bottom-up.

use super::*;

/// The hashes of all complete nodes, `levels[l][i]` for node `(l, i)`, built by pairing the level
/// below: independent of `Frontier`, which `MemoryTree` itself uses.
fn complete_levels<H: TreeHasher>(leaves: &[Hash]) -> Vec<Vec<Hash>> {
    let mut levels = vec![leaves.to_vec()];
    while levels.last().unwrap().len() >= 2 {
        let next = levels
            .last()
            .unwrap()
            .chunks_exact(2)
            .map(|pair| H::hash_children(&pair[0], &pair[1]))
            .collect();
        levels.push(next);
    }
    levels
}

fn check_reopen<H: TreeHasher>(seed: u64, n: usize, at: Index) {
    let leaves = leaf_hashes::<H>(seed, n);
    let m = at.index(n + 1);

    // One frontier over all leaves, remembering which push created which node.
    let mut continuous = Frontier::<H>::new();
    let mut created: Vec<(usize, NodeId, Hash)> = Vec::new();
    for (j, h) in leaves.iter().enumerate() {
        continuous.push(*h, |id, hash| created.push((j, id, *hash)));
    }

    // Pushing leaf j creates node (l, j >> l) for l = 0 ..= trailing ones of j, bottom-up: every
    // complete node exactly once, with its hash.
    let levels = complete_levels::<H>(&leaves);
    let expected: Vec<(usize, NodeId, Hash)> = (0..n)
        .flat_map(|j| {
            let levels = &levels;
            (0..=j.trailing_ones()).map(move |l| {
                let index = j >> l;
                let id = NodeId {
                    level: l as u8,
                    index: index as u64,
                };
                (j, id, levels[l as usize][index])
            })
        })
        .collect();
    assert_eq!(created, expected, "nodes created by {n} pushes");
    assert_eq!(continuous.root(), mth::<H>(&leaves));

    // Store only the first m leaves, reopen from the frontier's nodes, push the rest.
    let stored = MemoryTree::from_leaf_hashes::<H>(&leaves[..m]);
    let ids = Frontier::<H>::node_ids(m as u64);
    let hashes = stored.read_hashes(&ids).unwrap();
    let mut reopened = Frontier::<H>::from_hashes(m as u64, &hashes).unwrap();
    assert_eq!(reopened.size(), m as u64);
    assert_eq!(reopened.root(), mth::<H>(&leaves[..m]));
    let mut created_after = Vec::new();
    for (j, h) in leaves.iter().enumerate().skip(m) {
        reopened.push(*h, |id, hash| created_after.push((j, id, *hash)));
    }
    let continuous_after: Vec<_> = created.into_iter().filter(|&(j, _, _)| j >= m).collect();
    assert_eq!(created_after, continuous_after, "reopened at {m} of {n}");
    assert_eq!(reopened.root(), continuous.root());
    assert_eq!(reopened.size(), continuous.size());

    // The wrong number of hashes is refused.
    let mut extra = hashes.clone();
    extra.push([0; 32]);
    assert!(Frontier::<H>::from_hashes(m as u64, &extra).is_none());
    if !hashes.is_empty() {
        assert!(Frontier::<H>::from_hashes(m as u64, &hashes[1..]).is_none());
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn reopened_frontier_continues_identically_blake3(
        seed in any::<u64>(), n in tree_size(), at in any::<Index>()
    ) {
        check_reopen::<Blake3>(seed, n, at);
    }

    #[test]
    fn reopened_frontier_continues_identically_sha256(
        seed in any::<u64>(), n in tree_size(), at in any::<Index>()
    ) {
        check_reopen::<Sha256>(seed, n, at);
    }
}
