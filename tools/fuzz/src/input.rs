//! Reading structured values off the front of fuzzer bytes. Running out of bytes gives zeros,
//! so every input means something and short inputs stay cheap.

use provledger::merkle::Hash;

/// The unread rest of a fuzz input.
pub struct Input<'a> {
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { rest: data }
    }

    /// The next `n` bytes (fewer at the end).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = tail;
        head
    }

    pub fn u8(&mut self) -> u8 {
        self.bytes(1).first().copied().unwrap_or(0)
    }

    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        let head = self.bytes(8);
        b[..head.len()].copy_from_slice(head);
        u64::from_be_bytes(b)
    }

    pub fn hash(&mut self) -> Hash {
        let mut h = [0u8; 32];
        let head = self.bytes(32);
        h[..head.len()].copy_from_slice(head);
        h
    }

    /// Whole 32-byte hashes from the rest, at most `max`.
    pub fn hashes(&mut self, max: usize) -> Vec<Hash> {
        let n = (self.rest.len() / 32).min(max);
        (0..n).map(|_| self.hash()).collect()
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.rest.len())
    }
}
