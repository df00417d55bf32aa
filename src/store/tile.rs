//! Hash tiles: the unit in which tree nodes are stored.
//!
//! Levels are grouped in strata of [`TILE_HEIGHT`] levels. Tile `(stratum s, index t)` holds the
//! nodes of levels `8s .. 8s+7` that lie above base-level nodes `t·256 .. t·256+255` of level
//! `8s`: 256 + 128 + … + 2 = 510 slots. Nodes complete left to right, so a tile whose base level
//! holds `w` nodes holds exactly `w >> j` nodes at its level `j`; that is the only partial state a
//! tile can be in, and decoding checks it.
//!
//! Encoding: `width: u16 BE` then, for `j` in 0..8, the `width >> j` hashes of level `j`, in order.
//! A full tile is 2 + 510·32 = 16,322 bytes.

use crate::merkle::{Hash, NodeId};

/// Levels per tile.
pub const TILE_HEIGHT: u8 = 8;
/// Base-level nodes per tile.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// Where a node lives: its tile and its place inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// Levels `8·stratum .. 8·stratum + 7`.
    pub stratum: u8,
    /// Tile position within the stratum.
    pub index: u64,
}

/// The tile holding `node`, the level inside the tile and the slot on that level.
pub fn locate(node: NodeId) -> (TileId, u8, u64) {
    let stratum = node.level / TILE_HEIGHT;
    let j = node.level % TILE_HEIGHT;
    let per_tile = TILE_WIDTH >> j;
    (
        TileId {
            stratum,
            index: node.index / per_tile,
        },
        j,
        node.index % per_tile,
    )
}

/// A tile's hashes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tile {
    levels: [Vec<Hash>; TILE_HEIGHT as usize],
}

/// Why stored tile bytes could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("tile encoding is malformed: {0}")]
pub struct TileDecodeError(&'static str);

impl Tile {
    /// The number of base-level nodes.
    pub fn width(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// The hash at `level` (inside the tile) and `slot`, if that node is complete.
    pub fn get(&self, level: u8, slot: u64) -> Option<&Hash> {
        let row = self.levels.get(level as usize)?;
        row.get(usize::try_from(slot).ok()?)
    }

    /// Records a newly completed node. Nodes of one level arrive left to right; a node arriving
    /// out of order is a bug in the caller.
    pub fn set(&mut self, level: u8, slot: u64, hash: Hash) {
        let row = &mut self.levels[level as usize];
        debug_assert_eq!(row.len() as u64, slot, "tile nodes must arrive in order");
        row.push(hash);
    }

    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        let width = self.levels[0].len();
        let count: usize = self.levels.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(2 + 32 * count);
        out.extend_from_slice(&(width as u16).to_be_bytes());
        for row in &self.levels {
            for h in row {
                out.extend_from_slice(h);
            }
        }
        out
    }

    /// Parses the stored form, checking that its shape is one a tile can have.
    pub fn decode(bytes: &[u8]) -> Result<Tile, TileDecodeError> {
        let (head, mut rest) = bytes
            .split_first_chunk::<2>()
            .ok_or(TileDecodeError("shorter than its header"))?;
        let width = u16::from_be_bytes(*head) as usize;
        if width as u64 > TILE_WIDTH {
            return Err(TileDecodeError("width above 256"));
        }
        let mut tile = Tile::default();
        for (j, row) in tile.levels.iter_mut().enumerate() {
            let n = width >> j;
            if rest.len() < n * 32 {
                return Err(TileDecodeError("shorter than its width says"));
            }
            let (level, tail) = rest.split_at(n * 32);
            row.extend(level.chunks_exact(32).map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            }));
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(TileDecodeError("longer than its width says"));
        }
        Ok(tile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_maps_levels_into_strata() {
        assert_eq!(
            locate(NodeId::leaf(300)),
            (
                TileId {
                    stratum: 0,
                    index: 1
                },
                0,
                44
            )
        );
        assert_eq!(
            locate(NodeId { level: 7, index: 5 }),
            (
                TileId {
                    stratum: 0,
                    index: 2
                },
                7,
                1
            )
        );
        assert_eq!(
            locate(NodeId {
                level: 8,
                index: 513
            }),
            (
                TileId {
                    stratum: 1,
                    index: 2
                },
                0,
                1
            )
        );
    }

    #[test]
    fn encode_decode_round_trip_at_every_width() {
        let mut tile = Tile::default();
        for w in 0..TILE_WIDTH {
            let bytes = tile.encode();
            assert_eq!(Tile::decode(&bytes).unwrap(), tile);
            // Complete the next base node and every node above it that it completes.
            let mut slot = w;
            tile.set(0, slot, [w as u8; 32]);
            let mut level = 0;
            while slot % 2 == 1 && level + 1 < TILE_HEIGHT {
                slot /= 2;
                level += 1;
                tile.set(level, slot, [level; 32]);
            }
        }
        let full = tile.encode();
        assert_eq!(full.len(), 2 + 510 * 32);
        assert_eq!(Tile::decode(&full).unwrap(), tile);
    }

    #[test]
    fn decode_rejects_bad_shapes() {
        assert!(Tile::decode(&[]).is_err());
        assert!(Tile::decode(&[1, 1]).is_err());
        let mut one = vec![0, 1];
        one.extend([7u8; 32]);
        assert!(Tile::decode(&one).is_ok());
        one.push(0);
        assert!(Tile::decode(&one).is_err());
        assert!(Tile::decode(&[0, 2, 0]).is_err());
    }
}

/// Reads one node straight from a tile's stored form, without decoding the rest: `Ok(None)` if
/// the tile does not hold that node yet.
pub fn read_slot(bytes: &[u8], level: u8, slot: u64) -> Result<Option<Hash>, TileDecodeError> {
    let (head, body) = bytes
        .split_first_chunk::<2>()
        .ok_or(TileDecodeError("shorter than its header"))?;
    let width = u16::from_be_bytes(*head) as u64;
    if width > TILE_WIDTH {
        return Err(TileDecodeError("width above 256"));
    }
    if slot >= width >> level {
        return Ok(None);
    }
    let before: u64 = (0..level).map(|q| width >> q).sum();
    let at = ((before + slot) * 32) as usize;
    let hash = body
        .get(at..at + 32)
        .ok_or(TileDecodeError("shorter than its width says"))?;
    let mut h = [0u8; 32];
    h.copy_from_slice(hash);
    Ok(Some(h))
}

#[cfg(test)]
mod read_slot_tests {
    use super::*;

    #[test]
    fn read_slot_agrees_with_decode() {
        let mut tile = Tile::default();
        for w in 0..37u64 {
            let mut slot = w;
            tile.set(0, slot, [w as u8; 32]);
            let mut level = 0;
            while slot % 2 == 1 && level + 1 < TILE_HEIGHT {
                slot /= 2;
                level += 1;
                tile.set(level, slot, [100 + level + slot as u8; 32]);
            }
        }
        let bytes = tile.encode();
        for level in 0..TILE_HEIGHT {
            for slot in 0..40 {
                assert_eq!(
                    read_slot(&bytes, level, slot).unwrap(),
                    tile.get(level, slot).copied()
                );
            }
        }
        assert!(read_slot(&bytes[..40], 0, 5).is_err());
    }
}
